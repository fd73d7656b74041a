package auth_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/auth"
	"github.com/enkisys/chorus/internal/chorus"
	"github.com/golang-jwt/jwt/v5"
)

// FuzzVerify feeds arbitrary strings to Verify. Invariants: it never panics;
// every refusal is the generic EUNAUTHORIZED error; and an accepted token
// carries an HS256 signature made with the secret over its own header and
// payload, and a principal that passes the domain validation.
func FuzzVerify(f *testing.F) {
	v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: testSecret}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	agent, _, _ := auth.Issue(testSecret, auth.Claims{Subject: "agent-1", TenantID: "acme", Roles: []string{"agent", "admin"}, Name: "Ada", Email: "ada@example.com"}, time.Hour)
	visitor, _, _ := auth.Issue(testSecret, auth.Claims{Subject: "contact-1", TenantID: "acme", Roles: []string{"visitor"}, ConversationID: "conv-1"}, time.Hour)
	f.Add(agent)
	f.Add(visitor)
	f.Add(sign(f, jwt.SigningMethodHS256, testSecret, "kid-1", claims(set("nbf", time.Now().Unix()), set("aud", []string{"a", "b"}))))
	f.Add(sign(f, jwt.SigningMethodHS256, []byte("wrong-secret"), "", claims()))
	f.Add(sign(f, jwt.SigningMethodHS256, testSecret, "", claims(set("roles", []any{"agent", 1, nil}))))
	f.Add(sign(f, jwt.SigningMethodHS256, testSecret, "", claims(set("exp", 1e300))))
	f.Add(unsigned(`{"alg":"none"}`, claims(), ""))
	f.Add(unsigned(`{"alg":"HS256","crit":["x"]}`, claims(), "AAAA"))
	f.Add("eyJhbGciOiJIUzI1NiJ9.e30.")
	f.Add("..")
	f.Add("")

	f.Fuzz(func(t *testing.T, token string) {
		p, err := v.Verify(token)
		if err != nil {
			if chorus.ErrorCode(err) != chorus.EUNAUTHORIZED || chorus.ErrorMessage(err) != "Invalid or expired token." {
				t.Fatalf("refusal is not the generic error: %v", err)
			}
			if p.TenantID != "" || p.Subject != "" || p.Roles != nil {
				t.Fatalf("refusal returned a principal: %+v", p)
			}
			return
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 {
			t.Fatalf("accepted a token with %d segments", len(parts))
		}
		sig, err := base64.RawURLEncoding.DecodeString(parts[2])
		if err != nil {
			t.Fatalf("accepted a token whose signature does not decode: %v", err)
		}
		mac := hmac.New(sha256.New, testSecret)
		mac.Write([]byte(parts[0] + "." + parts[1]))
		if !hmac.Equal(sig, mac.Sum(nil)) {
			t.Fatalf("accepted a token not signed with the secret: %q", token)
		}
		if !chorus.ValidTenantID(p.TenantID) || !chorus.ValidID(p.Subject) || len(p.Roles) == 0 {
			t.Fatalf("accepted an invalid principal: %+v", p)
		}
		if p.IsVisitor() && p.ConversationID == "" {
			t.Fatalf("accepted a visitor without conversation: %+v", p)
		}
	})
}
