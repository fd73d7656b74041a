package auth_test

import (
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/auth"
	"github.com/enkisys/chorus/internal/chorus"
)

func TestIssueRoundTrip(t *testing.T) {
	t.Parallel()
	v := newVerifier(t, auth.Config{Secret: testSecret})
	tests := []struct {
		name string
		c    auth.Claims
		ttl  time.Duration
	}{
		{"Agent", auth.Claims{Subject: "agent-1", TenantID: "acme", Roles: []string{"agent", "admin"}, Name: "Ada", Email: "ada@example.com"}, time.Hour},
		{"Visitor", auth.Claims{Subject: "contact-1", TenantID: "acme", Roles: []string{"visitor"}, ConversationID: "conv-1"}, auth.MaxTTLDefault},
		{"OneSecond", auth.Claims{Subject: "s", TenantID: "t", Roles: []string{"supervisor"}}, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := time.Now() // here: parallel subtests may wait for a slot
			tok, exp, err := auth.Issue(testSecret, tt.c, tt.ttl)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			if d := exp.Sub(before); d < tt.ttl-2*time.Second || d > tt.ttl+2*time.Second {
				t.Fatalf("exp %v is not about now+%v", exp, tt.ttl)
			}
			p, err := v.Verify(tok)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			want := chorus.Principal{TenantID: tt.c.TenantID, Subject: tt.c.Subject, ConversationID: tt.c.ConversationID, Name: tt.c.Name, Email: tt.c.Email}
			if p.TenantID != want.TenantID || p.Subject != want.Subject || p.ConversationID != want.ConversationID ||
				p.Name != want.Name || p.Email != want.Email || len(p.Roles) != len(tt.c.Roles) {
				t.Fatalf("principal %+v, want %+v roles %v", p, want, tt.c.Roles)
			}
			// A token issued with another secret is refused.
			other, _, err := auth.Issue([]byte("some-other-secret-some-other-sec"), tt.c, tt.ttl)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := v.Verify(other); chorus.ErrorCode(err) != chorus.EUNAUTHORIZED {
				t.Fatalf("other secret: %v", err)
			}
		})
	}
}

func TestIssueRefuses(t *testing.T) {
	t.Parallel()
	ok := auth.Claims{Subject: "agent-1", TenantID: "acme", Roles: []string{"agent"}}
	tests := []struct {
		name   string
		secret []byte
		c      auth.Claims
		ttl    time.Duration
	}{
		{"ZeroTTL", testSecret, ok, 0},
		{"NegativeTTL", testSecret, ok, -time.Minute},
		{"TTLOverSixHours", testSecret, ok, 6*time.Hour + time.Second},
		{"EmptySecret", nil, ok, time.Hour},
		{"NoRoles", testSecret, auth.Claims{Subject: "a", TenantID: "acme"}, time.Hour},
		{"BadRole", testSecret, auth.Claims{Subject: "a", TenantID: "acme", Roles: []string{"god"}}, time.Hour},
		{"BadTenant", testSecret, auth.Claims{Subject: "a", TenantID: "a.b", Roles: []string{"agent"}}, time.Hour},
		{"NoSubject", testSecret, auth.Claims{TenantID: "acme", Roles: []string{"agent"}}, time.Hour},
		{"VisitorWithoutConversation", testSecret, auth.Claims{Subject: "c", TenantID: "acme", Roles: []string{"visitor"}}, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tok, _, err := auth.Issue(tt.secret, tt.c, tt.ttl); err == nil {
				t.Fatalf("Issue = %q, want error", tok)
			}
		})
	}
}
