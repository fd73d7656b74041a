package auth_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/auth"
	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
	"github.com/golang-jwt/jwt/v5"
)

var (
	testSecret = []byte("0123456789abcdef0123456789abcdef")
	octSecret  = []byte("a-symmetric-key-published-in-jwks")
)

// keys are generated once per test binary (RSA generation is slow).
var keys = sync.OnceValue(func() (k struct {
	rsa1, rsa2, rsa3 *rsa.PrivateKey
	ec1, ec2         *ecdsa.PrivateKey
	ec384            *ecdsa.PrivateKey
}) {
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	var err error
	k.rsa1, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa2, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.rsa3, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	k.ec1, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.ec2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	k.ec384, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	must(err)
	return k
})

// jwk is one entry of a served JWK Set.
type jwk map[string]string

func rsaJWK(kid string, k *rsa.PrivateKey) jwk {
	return jwk{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(k.N.Bytes()), "e": b64(big.NewInt(int64(k.E)).Bytes()),
	}
}

func ecJWK(kid string, k *ecdsa.PrivateKey) jwk {
	pub, err := k.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		panic(err)
	}
	n := (len(pub) - 1) / 2
	crv := map[int]string{32: "P-256", 48: "P-384"}[n]
	alg := map[int]string{32: "ES256", 48: "ES384"}[n]
	return jwk{"kty": "EC", "kid": kid, "alg": alg, "use": "sig", "crv": crv, "x": b64(pub[1 : 1+n]), "y": b64(pub[1+n:])}
}

func noAlg(j jwk) jwk { delete(j, "alg"); return j }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwksServer serves a JWK Set that tests can replace, counting fetches.
type jwksServer struct {
	*httptest.Server
	mu   sync.Mutex
	keys []jwk
	hits atomic.Int64
}

func newJWKSServer(t *testing.T, keys ...jwk) *jwksServer {
	t.Helper()
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, _ := json.Marshal(map[string]any{"keys": s.keys})
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...jwk) {
	s.mu.Lock()
	s.keys = keys
	s.mu.Unlock()
}

// sign signs claims with method and key, adding kid to the header when set.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	return s
}

// claims returns valid agent claims, modified by fns.
func claims(fns ...func(jwt.MapClaims)) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{
		"sub":       "agent-1",
		"tenant_id": "acme",
		"roles":     []string{"agent"},
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"name":      "Ada",
		"email":     "ada@example.com",
	}
	for _, fn := range fns {
		fn(c)
	}
	return c
}

func set(k string, v any) func(jwt.MapClaims) { return func(c jwt.MapClaims) { c[k] = v } }
func del(k string) func(jwt.MapClaims)        { return func(c jwt.MapClaims) { delete(c, k) } }

// unsigned builds header.payload.sig from raw JSON, for tokens no library
// would produce.
func unsigned(header string, c jwt.MapClaims, sig string) string {
	p, _ := json.Marshal(c)
	return b64([]byte(header)) + "." + b64(p) + "." + sig
}

func newVerifier(t *testing.T, cfg auth.Config) *auth.Verifier {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	v, err := auth.NewVerifier(ctx, cfg, chorustest.Logger(t))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func assertUnauthorized(t *testing.T, err error) {
	t.Helper()
	var ce *chorus.Error
	if !errors.As(err, &ce) || ce.Code != chorus.EUNAUTHORIZED {
		t.Fatalf("err = %v, want EUNAUTHORIZED *chorus.Error", err)
	}
	if ce.Message != "Invalid or expired token." {
		t.Fatalf("message %q is not the generic one", ce.Message)
	}
}

func TestVerifyValid(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, rsaJWK("r1", k.rsa1), ecJWK("e1", k.ec1))
	v := newVerifier(t, auth.Config{Secret: testSecret, JWKSURL: srv.URL})

	tests := []struct {
		name  string
		token string
		want  chorus.Principal
	}{
		{"HS256", sign(t, jwt.SigningMethodHS256, testSecret, "", claims()),
			chorus.Principal{TenantID: "acme", Subject: "agent-1", Roles: []string{"agent"}, Name: "Ada", Email: "ada@example.com"}},
		{"RS256", sign(t, jwt.SigningMethodRS256, k.rsa1, "r1", claims(set("roles", []string{"admin", "agent"}))),
			chorus.Principal{TenantID: "acme", Subject: "agent-1", Roles: []string{"admin", "agent"}, Name: "Ada", Email: "ada@example.com"}},
		{"ES256", sign(t, jwt.SigningMethodES256, k.ec1, "e1", claims(del("name"), del("email"))),
			chorus.Principal{TenantID: "acme", Subject: "agent-1", Roles: []string{"agent"}}},
		{"RS256WithoutKID", sign(t, jwt.SigningMethodRS256, k.rsa1, "", claims()),
			chorus.Principal{TenantID: "acme", Subject: "agent-1", Roles: []string{"agent"}, Name: "Ada", Email: "ada@example.com"}},
		{"Visitor", sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("sub", "contact-9"), set("roles", []string{"visitor"}), set("conversation_id", "conv-1"), del("name"), del("email"))),
			chorus.Principal{TenantID: "acme", Subject: "contact-9", Roles: []string{"visitor"}, ConversationID: "conv-1"}},
		{"SixHoursExactly", sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("exp", time.Now().Add(6*time.Hour).Unix()), del("name"), del("email"))),
			chorus.Principal{TenantID: "acme", Subject: "agent-1", Roles: []string{"agent"}}},
		{"ExpiredWithinLeeway", sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("iat", time.Now().Add(-time.Hour).Unix()), set("exp", time.Now().Add(-10*time.Second).Unix()), del("name"), del("email"))),
			chorus.Principal{TenantID: "acme", Subject: "agent-1", Roles: []string{"agent"}}},
		{"NBFPast", sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("nbf", time.Now().Add(-time.Minute).Unix()), del("name"), del("email"))),
			chorus.Principal{TenantID: "acme", Subject: "agent-1", Roles: []string{"agent"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := v.Verify(tt.token)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got.TenantID != tt.want.TenantID || got.Subject != tt.want.Subject || got.ConversationID != tt.want.ConversationID ||
				got.Name != tt.want.Name || got.Email != tt.want.Email || strings.Join(got.Roles, ",") != strings.Join(tt.want.Roles, ",") {
				t.Fatalf("principal = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestVerifyAttacks is the attack table: every token here must be refused
// with the generic EUNAUTHORIZED error.
func TestVerifyAttacks(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, rsaJWK("r1", k.rsa1), ecJWK("e1", k.ec1), ecJWK("p384", k.ec384),
		jwk{"kty": "oct", "kid": "sym", "alg": "HS256", "k": b64(octSecret)},
		noAlg(rsaJWK("r1-noalg", k.rsa1)), noAlg(ecJWK("e1-noalg", k.ec1)), noAlg(ecJWK("p384-noalg", k.ec384)))
	v := newVerifier(t, auth.Config{Secret: testSecret, JWKSURL: srv.URL, JWKSUnknownKIDInterval: time.Hour})
	strict := newVerifier(t, auth.Config{Secret: testSecret, Issuer: "https://orchestra.example", Audience: "chorus"})

	now := time.Now()
	rsaPubDER, _ := x509.MarshalPKIXPublicKey(&k.rsa1.PublicKey)
	rsaPubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPubDER})
	valid := sign(t, jwt.SigningMethodHS256, testSecret, "", claims())
	parts := strings.Split(valid, ".")
	tamperedPayload := parts[0] + "." + b64(mustJSON(claims(set("tenant_id", "other")))) + "." + parts[2]
	sig := []byte(parts[2])
	sig[3] ^= 0x01
	tamperedSig := parts[0] + "." + parts[1] + "." + string(sig)

	tests := []struct {
		name  string
		v     *auth.Verifier
		token string
	}{
		{"Empty", v, ""},
		{"Garbage", v, "not-a-token"},
		{"TooLong", v, strings.Repeat("a", auth.MaxTokenBytes+1)},
		{"AlgNone", v, unsigned(`{"alg":"none","typ":"JWT"}`, claims(), "")},
		{"AlgNoneCapitalised", v, unsigned(`{"alg":"None","typ":"JWT"}`, claims(), "")},
		{"AlgNoneLibrary", v, sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, "", claims())},
		{"HSWithRSAPublicKeyPEM", v, sign(t, jwt.SigningMethodHS256, rsaPubPEM, "r1", claims())},
		{"HSWithRSAPublicKeyDER", v, sign(t, jwt.SigningMethodHS256, rsaPubDER, "r1", claims())},
		{"HSWithJWKSOctKey", v, sign(t, jwt.SigningMethodHS256, octSecret, "sym", claims())},
		{"RS256NamingOctKid", v, unsigned(`{"alg":"RS256","kid":"sym"}`, claims(), b64([]byte("sig")))},
		{"RS256NamingECKeyWithoutAlg", v, sign(t, jwt.SigningMethodRS256, k.rsa1, "e1-noalg", claims())},
		{"ES256NamingRSAKeyWithoutAlg", v, sign(t, jwt.SigningMethodES256, k.ec1, "r1-noalg", claims())},
		{"ES256NamingP384KeyWithoutAlg", v, unsigned(`{"alg":"ES256","kid":"p384-noalg"}`, claims(), b64(make([]byte, 64)))},
		{"ES256WithoutKidUnknownKey", v, sign(t, jwt.SigningMethodES256, k.ec2, "", claims())},
		{"ExpBeforeIatWithinLeeway", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("iat", now.Add(20*time.Second).Unix()), set("exp", now.Add(10*time.Second).Unix())))},
		{"HS384", v, sign(t, jwt.SigningMethodHS384, testSecret, "", claims())},
		{"HS512", v, sign(t, jwt.SigningMethodHS512, testSecret, "", claims())},
		{"RS512", v, sign(t, jwt.SigningMethodRS512, k.rsa1, "r1", claims())},
		{"PS256", v, sign(t, jwt.SigningMethodPS256, k.rsa1, "r1", claims())},
		{"ES384ServedKey", v, sign(t, jwt.SigningMethodES384, k.ec384, "p384", claims())},
		{"RS256SignedWithECKid", v, sign(t, jwt.SigningMethodRS256, k.rsa1, "e1", claims())},
		{"ES256WithRSAKid", v, sign(t, jwt.SigningMethodES256, k.ec1, "r1", claims())},
		{"RS256UnknownKey", v, sign(t, jwt.SigningMethodRS256, k.rsa2, "r1", claims())},
		{"RS256UnknownKid", v, sign(t, jwt.SigningMethodRS256, k.rsa2, "nope", claims())},
		{"RS256NoJWKSConfigured", strict, sign(t, jwt.SigningMethodRS256, k.rsa1, "r1", claims(set("iss", "https://orchestra.example"), set("aud", "chorus")))},
		{"TamperedPayload", v, tamperedPayload},
		{"TamperedSignature", v, tamperedSig},
		{"WrongSecret", v, sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-32"), "", claims())},
		{"Expired", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("iat", now.Add(-2*time.Hour).Unix()), set("exp", now.Add(-time.Hour).Unix())))},
		{"NoExp", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(del("exp")))},
		{"NoIat", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(del("iat")))},
		{"ExpStringType", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("exp", "tomorrow")))},
		{"LifetimeOverSixHours", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("exp", now.Add(6*time.Hour+time.Minute).Unix())))},
		{"LifetimeOverSixHoursBackdatedIat", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("iat", now.Add(-7*time.Hour).Unix())))},
		{"ExpBeforeIat", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("iat", now.Add(2*time.Hour).Unix())))},
		{"IatInFuture", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("iat", now.Add(10*time.Minute).Unix()), set("exp", now.Add(time.Hour).Unix())))},
		{"NBFInFuture", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("nbf", now.Add(10*time.Minute).Unix())))},
		{"NoIssuerWhenConfigured", strict, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("aud", "chorus")))},
		{"WrongIssuer", strict, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("iss", "https://evil.example"), set("aud", "chorus")))},
		{"WrongAudience", strict, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("iss", "https://orchestra.example"), set("aud", "other")))},
		{"NoRoles", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(del("roles")))},
		{"EmptyRoles", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("roles", []string{})))},
		{"UnknownRole", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("roles", []string{"root"})))},
		{"UnknownRoleBesideValid", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("roles", []string{"agent", "superuser"})))},
		{"RolesAsString", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("roles", "admin")))},
		{"RoleCaseVariant", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("roles", []string{"Admin"})))},
		{"VisitorWithoutConversation", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("roles", []string{"visitor"})))},
		{"VisitorBadConversation", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("roles", []string{"visitor"}), set("conversation_id", "c/../1")))},
		{"TenantWithDot", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("tenant_id", "acme.other")))},
		{"TenantWithStar", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("tenant_id", "*")))},
		{"TenantWithSpace", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("tenant_id", "acme other")))},
		{"TenantEmpty", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("tenant_id", "")))},
		{"TenantMissing", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(del("tenant_id")))},
		{"TenantTooLong", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("tenant_id", strings.Repeat("a", 65))))},
		{"TenantNumber", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("tenant_id", 42)))},
		{"SubMissing", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(del("sub")))},
		{"SubBadChars", v, sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("sub", "agent 1\n")))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := tt.v.Verify(tt.token)
			assertUnauthorized(t, err)
			if p.TenantID != "" || p.Subject != "" {
				t.Fatalf("refused token still returned principal %+v", p)
			}
		})
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// TestVerifyLogsReasonAtDebugOnly checks that the refusal reason is logged at
// debug level and not at all above it.
func TestVerifyLogsReasonAtDebugOnly(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		level   slog.Level
		wantLog bool
	}{{slog.LevelDebug, true}, {slog.LevelInfo, false}} {
		var buf bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level}))
		v, err := auth.NewVerifier(context.Background(), auth.Config{Secret: testSecret}, logger)
		if err != nil {
			t.Fatal(err)
		}
		_, err = v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, "", claims(del("exp"))))
		assertUnauthorized(t, err)
		if got := strings.Contains(buf.String(), "token refused") && strings.Contains(buf.String(), "exp"); got != tt.wantLog {
			t.Fatalf("level %v: logged reason = %v, want %v; log: %q", tt.level, got, tt.wantLog, buf.String())
		}
	}
}

func TestNewVerifierErrors(t *testing.T) {
	t.Parallel()
	logger := chorustest.Logger(t)
	if _, err := auth.NewVerifier(context.Background(), auth.Config{}, logger); err == nil {
		t.Fatal("no secret and no JWKS URL: want error")
	}
	if _, err := auth.NewVerifier(context.Background(), auth.Config{Secret: testSecret}, nil); err == nil {
		t.Fatal("nil logger: want error")
	}
	if _, err := auth.NewVerifier(context.Background(), auth.Config{Secret: testSecret, MaxTTL: -time.Second}, logger); err == nil {
		t.Fatal("negative MaxTTL: want error")
	}
	var buf bytes.Buffer
	if _, err := auth.NewVerifier(context.Background(), auth.Config{Secret: []byte("short")}, slog.New(slog.NewTextHandler(&buf, nil))); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "shorter than recommended") || strings.Contains(buf.String(), "short\"") {
		t.Fatalf("short secret: want a warning without the secret, got %q", buf.String())
	}
}

func TestVerifyMaxTTL(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: testSecret, MaxTTL: time.Hour})
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, "", claims())); err != nil {
		t.Fatalf("1h token with MaxTTL 1h: %v", err)
	}
	_, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("exp", time.Now().Add(2*time.Hour).Unix()))))
	assertUnauthorized(t, err)

	// A MaxTTL above the protocol's 6 h is clamped to 6 h.
	loose := newVerifier(t, auth.Config{Secret: testSecret, MaxTTL: 48 * time.Hour})
	_, err = loose.Verify(sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("exp", time.Now().Add(7*time.Hour).Unix()))))
	assertUnauthorized(t, err)
}

func TestVerifyIssuerAudience(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: testSecret, Issuer: "https://orchestra.example", Audience: "chorus"})
	for _, aud := range []any{"chorus", []string{"other", "chorus"}} {
		tok := sign(t, jwt.SigningMethodHS256, testSecret, "", claims(set("iss", "https://orchestra.example"), set("aud", aud)))
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("aud %v: %v", aud, err)
		}
	}
}

// TestJWKSRotation: a key that appears in the JWK Set after start-up is
// picked up on the first token that names it; removed keys stop working at
// the next refresh.
func TestJWKSRotation(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, rsaJWK("r1", k.rsa1), ecJWK("e1", k.ec1))
	v := newVerifier(t, auth.Config{JWKSURL: srv.URL, JWKSUnknownKIDInterval: time.Millisecond})
	if srv.hits.Load() != 1 {
		t.Fatalf("initial fetches = %d, want 1", srv.hits.Load())
	}

	for _, tok := range []string{
		sign(t, jwt.SigningMethodRS256, k.rsa1, "r1", claims()),
		sign(t, jwt.SigningMethodES256, k.ec1, "e1", claims()),
	} {
		if _, err := v.Verify(tok); err != nil {
			t.Fatalf("cached key: %v", err)
		}
	}
	if srv.hits.Load() != 1 {
		t.Fatalf("known kids refetched the set: %d fetches", srv.hits.Load())
	}

	// Unknown kid before rotation: refused.
	r2 := sign(t, jwt.SigningMethodRS256, k.rsa2, "r2", claims())
	e2 := sign(t, jwt.SigningMethodES256, k.ec2, "e2", claims())
	_, err := v.Verify(r2)
	assertUnauthorized(t, err)

	// HS256 is disabled without a secret, even signed with an empty key.
	_, err = v.Verify(sign(t, jwt.SigningMethodHS256, []byte("x"), "", claims()))
	assertUnauthorized(t, err)

	// Rotation: r2 and e2 appear, r1 and e1 go.
	srv.set(rsaJWK("r2", k.rsa2), ecJWK("e2", k.ec2))
	time.Sleep(5 * time.Millisecond) // let the 1 ms unknown-kid limiter refill
	if _, err := v.Verify(r2); err != nil {
		t.Fatalf("rotated RSA key: %v", err)
	}
	time.Sleep(5 * time.Millisecond)
	if _, err := v.Verify(e2); err != nil {
		t.Fatalf("rotated EC key: %v", err)
	}
	// The refresh replaced the set: the retired key no longer verifies.
	_, err = v.Verify(sign(t, jwt.SigningMethodRS256, k.rsa1, "r1", claims()))
	assertUnauthorized(t, err)
}

// TestJWKSUnknownKIDRateLimited: unknown kids trigger at most one refresh per
// interval, so a flood of random kids cannot hammer the JWKS endpoint.
func TestJWKSUnknownKIDRateLimited(t *testing.T) {
	t.Parallel()
	k := keys()
	srv := newJWKSServer(t, rsaJWK("r1", k.rsa1))
	v := newVerifier(t, auth.Config{JWKSURL: srv.URL, JWKSUnknownKIDInterval: time.Hour})
	start := srv.hits.Load()
	for i := range 5 {
		_, err := v.Verify(sign(t, jwt.SigningMethodRS256, k.rsa3, "random-"+string(rune('a'+i)), claims()))
		assertUnauthorized(t, err)
	}
	if got := srv.hits.Load() - start; got != 1 {
		t.Fatalf("refreshes for 5 unknown kids = %d, want 1", got)
	}
	// Even a key published meanwhile waits for the next allowed refresh.
	srv.set(rsaJWK("r1", k.rsa1), rsaJWK("r3", k.rsa3))
	_, err := v.Verify(sign(t, jwt.SigningMethodRS256, k.rsa3, "r3", claims()))
	assertUnauthorized(t, err)
}

func TestJWKSBackgroundRefreshAndUnreachable(t *testing.T) {
	t.Parallel()
	k := keys()
	// The endpoint is down at start: the verifier still starts (HS256 works),
	// and JWKS tokens are refused rather than crashing.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	v := newVerifier(t, auth.Config{Secret: testSecret, JWKSURL: down.URL})
	_, err := v.Verify(sign(t, jwt.SigningMethodRS256, k.rsa1, "r1", claims()))
	assertUnauthorized(t, err)
	if _, err := v.Verify(sign(t, jwt.SigningMethodHS256, testSecret, "", claims())); err != nil {
		t.Fatalf("HS256 with JWKS down: %v", err)
	}

	// Background refresh: a key added to the set is used without an
	// unknown-kid refresh (the limiter is spent on the first try above).
	srv := newJWKSServer(t)
	v2 := newVerifier(t, auth.Config{JWKSURL: srv.URL, JWKSRefreshInterval: 20 * time.Millisecond, JWKSUnknownKIDInterval: time.Hour})
	tok := sign(t, jwt.SigningMethodRS256, k.rsa1, "r1", claims())
	_, err = v2.Verify(tok) // spends the unknown-kid refresh
	assertUnauthorized(t, err)
	srv.set(rsaJWK("r1", k.rsa1))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := v2.Verify(tok); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("background refresh never picked up the new key")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
