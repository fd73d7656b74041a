package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/logging"
)

const (
	jwtTok    = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZ2VudC0xIiwidGVuYW50X2lkIjoiYWNtZSJ9.Xk2tbnS7cm1TQtUq4ngWbQ5Dy8GNqAJr1rzpEFsKpZ0"
	jwtSig    = "Xk2tbnS7cm1TQtUq4ngWbQ5Dy8GNqAJr1rzpEFsKpZ0"
	jwtBody   = "eyJzdWIiOiJhZ2VudC0xIiwidGVuYW50X2lkIjoiYWNtZSJ9"
	email     = "ada.lovelace@example.com"
	wsURL     = "https://chorus.example/ws/v1/agent?access_token=QSTOKEN0123456789&tenant_id=acme"
	dbURL     = "postgres://chorus:pgpass123@db.internal:5432/chorus"
	opaqueTok = "opaqueS3cr3tT0k3nValue"
)

// secrets must never appear in any output.
var secrets = []string{
	jwtSig, jwtBody, "ada.lovelace", "example.com", "QSTOKEN0123456789", "pgpass123", opaqueTok,
	"hunter2hunter2", "5552671", "555-2671", "555.2671", "555 2671", "7946 0958", "4155552671",
	"KEYVAL", // every value under a sensitive key starts with KEYVAL
}

// survivors are ordinary values that must come through unchanged.
var survivors = []string{
	"123e4567-e89b-12d3-a456-426614174000",
	"12345678-1234-5678-1234-567812345678",
	"2024-01-15T10:30:00.123456789Z",
	"2024-01-15 10:30:00",
	"1h2m3.5s",
	"/api/v1/conversations/conv-123/messages",
	"192.168.100.200",
	"10.0.0.1:5432",
	"agent-1",
	"acme",
	"1700000000",
	"v1.25.0",
	"gateway.chorus.svc.cluster.local",
	"tenant_id=acme",
	"seq 1234567890",
	"+1 request",
}

// sensitiveText mixes every kind of secret into one string.
var sensitiveText = strings.Join([]string{
	"token " + jwtTok,
	"Authorization: Bearer " + opaqueTok,
	"mail " + email,
	"call +14155552671 or +1 415 555 2671 or (415) 555-2671 or 415-555-2671 or 415.555.2671 or +44 20 7946 0958 or 020 7946 0958",
	"url " + wsURL,
	"form password=hunter2hunter2&x=1",
	`json {"password":"hunter2hunter2","id":"agent-1"}`,
	"dsn " + dbURL,
}, "; ")

var survivorText = strings.Join(survivors, " | ")

type valuer struct{}

func (valuer) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("email", "KEYVAL-valuer"),
		slog.String("note", "from "+email),
		slog.String("id", "agent-1"),
	)
}

type stringer struct{}

func (stringer) String() string { return "stringer " + jwtTok + " agent-1" }

type contact struct {
	ID       string            `json:"id"`
	Email    string            `json:"email"`
	Phone    string            `json:"phone"`
	Note     string            `json:"note"`
	Metadata map[string]string `json:"metadata"`
}

func TestHandlerRedacts(t *testing.T) {
	t.Parallel()
	sensitiveErr := fmt.Errorf("auth: verify token %s for %s: %w", jwtTok, email, errors.New("expired"))
	u, _ := url.Parse(wsURL)

	tests := []struct {
		name string
		log  func(l *slog.Logger)
	}{
		{"Message", func(l *slog.Logger) { l.Info(sensitiveText + " || " + survivorText) }},
		{"StringAttr", func(l *slog.Logger) { l.Info("m", "detail", sensitiveText, "ok", survivorText) }},
		{"SensitiveKeys", func(l *slog.Logger) {
			l.Info("m",
				"token", "KEYVAL-1", "access_token", "KEYVAL-2", "Authorization", "KEYVAL-3",
				"password", "KEYVAL-4", "client_secret", "KEYVAL-5", "body", "KEYVAL-6",
				"Email", "KEYVAL-7", "phone", "KEYVAL-8", "cookie", "KEYVAL-9", "JWT", "KEYVAL-10",
				"resume_token", "KEYVAL-11", "accessToken", "KEYVAL-12", "X-Api-Key", "KEYVAL-13",
				"user_email", "KEYVAL-14", "request.body", "KEYVAL-15", "Set-Cookie", "KEYVAL-16",
				"phone_number", "KEYVAL-17", "private_key", "KEYVAL-18",
				slog.Int("password_len", 12), // a number under a sensitive key is still hidden
				"ok", survivorText)
		}},
		{"SensitiveKeyNonString", func(l *slog.Logger) {
			l.Info("m", slog.Any("password", []byte("KEYVAL-bytes")), slog.Any("token", map[string]string{"a": "KEYVAL-map"}))
		}},
		{"Group", func(l *slog.Logger) {
			l.Info("m", slog.Group("req",
				slog.String("authorization", "KEYVAL-g1"),
				slog.String("url", wsURL),
				slog.Group("user", slog.String("email", "KEYVAL-g2"), slog.String("bio", sensitiveText), slog.String("id", survivorText)),
			))
		}},
		{"SensitiveGroupKey", func(l *slog.Logger) {
			l.Info("m", slog.Group("credentials", slog.String("user", "KEYVAL-c1"), slog.String("x", "KEYVAL-c2")), "ok", survivorText)
		}},
		{"InlineGroup", func(l *slog.Logger) {
			l.Info("m", slog.Group("", slog.String("password", "KEYVAL-i1"), slog.String("text", sensitiveText)), "ok", survivorText)
		}},
		{"With", func(l *slog.Logger) {
			l.With("token", "KEYVAL-w1", "detail", sensitiveText, "ok", survivorText).Info("m")
		}},
		{"WithGroupThenWith", func(l *slog.Logger) {
			l.WithGroup("http").With("authorization", "KEYVAL-wg1", "url", wsURL).WithGroup("inner").Info("m", "email", "KEYVAL-wg2", "text", sensitiveText, "ok", survivorText)
		}},
		{"SensitiveWithGroup", func(l *slog.Logger) {
			l.WithGroup("secret").Info("m", "a", "KEYVAL-sg1", "b", "KEYVAL-sg2")
		}},
		{"ErrorValue", func(l *slog.Logger) { l.Error("failed", "error", sensitiveErr, "ok", survivorText) }},
		{"ErrorInMessage", func(l *slog.Logger) { l.Error("failed: " + sensitiveErr.Error()) }},
		{"LogValuer", func(l *slog.Logger) { l.Info("m", "contact", valuer{}, "ok", survivorText) }},
		{"LogValuerInWith", func(l *slog.Logger) { l.With("contact", valuer{}).Info("m") }},
		{"Stringer", func(l *slog.Logger) { l.Info("m", "s", stringer{}) }},
		{"URL", func(l *slog.Logger) { l.Info("m", "url", u, "url_value", *u) }},
		{"Bytes", func(l *slog.Logger) { l.Info("m", "raw", []byte(sensitiveText)) }},
		{"RawJSON", func(l *slog.Logger) {
			l.Info("m", "payload", json.RawMessage(`{"email":"KEYVAL-rj","text":"`+email+`","id":"agent-1"}`))
		}},
		{"Struct", func(l *slog.Logger) {
			l.Info("m", "contact", contact{ID: "agent-1", Email: "KEYVAL-s1", Phone: "KEYVAL-s2", Note: sensitiveText,
				Metadata: map[string]string{"password": "KEYVAL-s3", "page": "/api/v1/conversations/conv-123/messages"}})
		}},
		{"Map", func(l *slog.Logger) {
			l.Info("m", "m", map[string]any{"cookie": "KEYVAL-m1", "list": []any{email, "agent-1", map[string]any{"secret": "KEYVAL-m2"}}})
		}},
		{"StringSlice", func(l *slog.Logger) { l.Info("m", "list", []string{email, jwtTok, "agent-1"}) }},
		{"NamedStringType", func(l *slog.Logger) {
			type addr string
			l.Info("m", "a", addr(email))
		}},
		{"Unmarshalable", func(l *slog.Logger) {
			l.Info("m", "f", map[string]any{"fn": func() {}, "e": email})
		}},
	}
	for _, format := range []string{"json", "text"} {
		for _, tt := range tests {
			t.Run(format+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				var buf bytes.Buffer
				tt.log(slog.New(logging.NewHandler(&buf, slog.LevelDebug, format)))
				out := buf.String()
				if out == "" {
					t.Fatal("nothing logged")
				}
				for _, s := range secrets {
					if strings.Contains(out, s) {
						t.Errorf("secret %q survived in %s", s, out)
					}
				}
				if !strings.Contains(out, logging.Redacted) && !strings.Contains(out, `\u003cREDACTED`) {
					t.Errorf("no [REDACTED] marker in %s", out)
				}
				if strings.Contains(out, "ok=") || strings.Contains(out, `"ok":`) {
					for _, s := range survivors {
						if !strings.Contains(out, s) {
							t.Errorf("ordinary value %q was eaten: %s", s, out)
						}
					}
				}
				if format == "json" && !json.Valid(bytes.TrimSpace(buf.Bytes())) {
					t.Errorf("invalid JSON line: %s", out)
				}
			})
		}
	}
}

func TestHandlerLevelAndFormat(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l := slog.New(logging.NewHandler(&buf, slog.LevelInfo, "json"))
	l.Debug("hidden")
	if buf.Len() != 0 {
		t.Fatalf("debug record written at info level: %s", buf.String())
	}
	l.Info("shown", "n", 3, "d", time.Second, "b", true)
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["msg"] != "shown" || m["n"] != 3.0 || m["d"] != float64(time.Second) || m["b"] != true {
		t.Fatalf("record = %v", m)
	}

	buf.Reset()
	slog.New(logging.NewHandler(&buf, slog.LevelInfo, "text")).Info("hello", "tenant_id", "acme")
	if !strings.Contains(buf.String(), "msg=hello tenant_id=acme") {
		t.Fatalf("text format: %s", buf.String())
	}

	// Wrap is idempotent.
	h := logging.NewHandler(io.Discard, slog.LevelInfo, "json")
	if logging.Wrap(h) != h {
		t.Fatal("Wrap re-wrapped a redacting handler")
	}
	if !h.Enabled(context.Background(), slog.LevelWarn) || h.Enabled(context.Background(), slog.LevelDebug) {
		t.Fatal("Enabled does not follow the level")
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"short", "short"},
		{"Bearer " + opaqueTok + " end", "Bearer [REDACTED] end"},
		{"bearer " + jwtTok, "bearer [REDACTED]"},
		{"x " + jwtTok + " y", "x [REDACTED] y"},
		{"mail " + email + ".", "mail [REDACTED]."},
		{"call +14155552671 now", "call [REDACTED] now"},
		{"call (415) 555-2671 now", "call [REDACTED] now"},
		{"call 415-555-2671.", "call [REDACTED]."},
		{"uk +44 20 7946 0958", "uk [REDACTED]"},
		{"/ws?access_token=abc.def&tenant_id=acme", "/ws?access_token=[REDACTED]&tenant_id=acme"},
		{"?resume_token=r1&password=p&x=1", "?resume_token=[REDACTED]&password=[REDACTED]&x=1"},
		{`{"access_token":"abc","n":1}`, `{"access_token":"[REDACTED]","n":1}`},
		{dbURL, "postgres://chorus:[REDACTED]@db.internal:5432/chorus"},
		{survivorText, survivorText},
		{"conversation 550e8400-e29b-41d4-a716-446655440000 at 2024-01-15T10:30:00Z took 1.234567s", "conversation 550e8400-e29b-41d4-a716-446655440000 at 2024-01-15T10:30:00Z took 1.234567s"},
		{"ids 415-555-2671-x and x415.555.2671", "ids 415-555-2671-x and x415.555.2671"},
	}
	for _, tt := range tests {
		if got := logging.Redact(tt.in); got != tt.want {
			t.Errorf("Redact(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestSensitiveKey(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"token", "Access_Token", "authorization", "PASSWORD", "secret", "body", "email", "phone",
		"cookie", "jwt", "resume_token", "accessToken", "refreshToken", "x-api-key", "apiKey", "user_email", "jwt_secret",
		"contact.phone", "request_body", "set-cookie", "credentials", "private_key", "signature"} {
		if !logging.SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = false", k)
		}
	}
	for _, k := range []string{"tenant_id", "user_id", "conversation_id", "conn_id", "msg", "error", "path", "status",
		"method", "duration", "request_id", "module", "seq", "tokens", "task_type", "url", "widget_key"} {
		if logging.SensitiveKey(k) {
			t.Errorf("SensitiveKey(%q) = true", k)
		}
	}
}

func TestRedactURL(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{wsURL, "https://chorus.example/ws/v1/agent?access_token=[REDACTED]&tenant_id=acme"},
		{"/ws/v1/conversations/c1?after_seq=5&access_token=" + jwtTok + "&tenant_id=acme", "/ws/v1/conversations/c1?after_seq=5&access_token=[REDACTED]&tenant_id=acme"},
		{"/api/v1/x?Password=p&email=a%40b.com&q=ada%40example.com&limit=50", "/api/v1/x?Password=[REDACTED]&email=[REDACTED]&q=[REDACTED]&limit=50"},
		{"/api/v1/x?flag&token=", "/api/v1/x?flag&token=[REDACTED]"},
		{"https://user:pw123456@host/p?x=1", "https://user:[REDACTED]@host/p?x=1"},
		{"https://host/cb#access_token=abc&state=1", "https://host/cb#access_token=[REDACTED]&state=1"},
		{"/api/v1/conversations?status=queued&limit=20", "/api/v1/conversations?status=queued&limit=20"},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := logging.RedactURL(u); got != tt.want {
			t.Errorf("RedactURL(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
	if logging.RedactURL(nil) != "" {
		t.Error("RedactURL(nil) != \"\"")
	}
}

func BenchmarkHandler(b *testing.B) {
	ctx := context.Background()
	b.Run("Ordinary", func(b *testing.B) {
		l := slog.New(logging.NewHandler(io.Discard, slog.LevelInfo, "json")).With("module", "gateway")
		b.ReportAllocs()
		for b.Loop() {
			l.InfoContext(ctx, "client connected", "tenant_id", "acme", "conn_id", "123e4567-e89b-12d3-a456-426614174000",
				"conversation_id", "conv-123", "path", "/ws/v1/agent", "duration", 250*time.Millisecond, "status", 101)
		}
	})
	b.Run("Sensitive", func(b *testing.B) {
		l := slog.New(logging.NewHandler(io.Discard, slog.LevelInfo, "json")).With("module", "gateway")
		b.ReportAllocs()
		for b.Loop() {
			l.InfoContext(ctx, "request", "url", wsURL, "authorization", "Bearer "+jwtTok, "note", "from "+email+" +14155552671",
				"tenant_id", "acme")
		}
	})
	b.Run("BaselineJSONHandler", func(b *testing.B) {
		l := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})).With("module", "gateway")
		b.ReportAllocs()
		for b.Loop() {
			l.InfoContext(ctx, "client connected", "tenant_id", "acme", "conn_id", "123e4567-e89b-12d3-a456-426614174000",
				"conversation_id", "conv-123", "path", "/ws/v1/agent", "duration", 250*time.Millisecond, "status", 101)
		}
	})
}
