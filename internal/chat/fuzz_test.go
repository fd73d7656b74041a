package chat

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/enkisys/chorus/internal/chorus"
)

// FuzzWidgetSessionRequest decodes a public POST /widget/sessions body and
// validates it as CreateWidgetSession does. Invariants: no panic; a refusal
// is invalid_request; an accepted request has a trimmed name of at most
// maxNameChars code points of text, a valid e-mail or none, bounded
// metadata of text, a bounded resume token, and validating it again changes
// nothing.
func FuzzWidgetSessionRequest(f *testing.F) {
	for _, s := range []string{
		`{"widget_key":"wk_abc","name":"Vera"}`,
		`{"widget_key":"wk_abc","name":"  Vera  ","email":"vera@example.com","metadata":{"page":"/pricing","plan":"pro"}}`,
		`{"widget_key":"wk_abc","resume_token":"r_0123456789abcdef"}`,
		`{"widget_key":"wk_abc","name":"Robert'); DROP TABLE contacts; --"}`,
		`{"widget_key":"wk_abc","name":"<img src=x onerror=alert(1)>"}`,
		`{"widget_key":"wk_abc","email":"\"x'or'1'='1\"@example.com"}`,
		`{"widget_key":"wk_abc","email":"Vera <vera@example.com>"}`,
		`{"widget_key":"wk_abc","email":" vera@example.com "}`,
		`{"widget_key":"wk_abc","name":"a\u0007b"}`,
		`{"widget_key":"wk_abc","name":"\u0085Vera\u0085"}`,
		`{"widget_key":"wk_abc","metadata":{"":"x"}}`,
		`{"widget_key":"wk_abc","metadata":{"k":"\u0000"}}`,
		`{"widget_key":"wk_abc","metadata":{"k\ud800":"v"}}`,
		`{"widget_key":"wk_abc","name":"` + strings.Repeat("é", maxNameChars+1) + `"}`,
		`{"widget_key":"wk_abc","resume_token":"` + strings.Repeat("r", 129) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var req WidgetSessionRequest
		if json.Unmarshal(body, &req) != nil {
			return
		}
		err := validateVisitor(&req)
		if err != nil {
			if chorus.ErrorCode(err) != chorus.EINVALID {
				t.Fatalf("validateVisitor(%s) = %v, want invalid_request", body, err)
			}
			return
		}
		if req.Name != strings.TrimSpace(req.Name) || !utf8.ValidString(req.Name) ||
			utf8.RuneCountInString(req.Name) > maxNameChars || hasControl(req.Name) {
			t.Fatalf("accepted name %q", req.Name)
		}
		if req.Email != "" && (ValidEmail(req.Email) != nil || req.Email != strings.TrimSpace(req.Email) || len(req.Email) > 254) {
			t.Fatalf("accepted email %q", req.Email)
		}
		if len(req.ResumeToken) > 128 || len(req.Metadata) > maxMetadataKeys {
			t.Fatalf("accepted resume token of %d bytes, %d metadata keys", len(req.ResumeToken), len(req.Metadata))
		}
		for k, v := range req.Metadata {
			if k == "" || len(k) > maxMetadataKey || len(v) > maxMetadataValue ||
				!utf8.ValidString(k) || !utf8.ValidString(v) || hasControl(k) || hasControl(v) {
				t.Fatalf("accepted metadata %q: %q", k, v)
			}
		}
		again := req
		if err := validateVisitor(&again); err != nil || again.Name != req.Name || again.Email != req.Email {
			t.Fatalf("not idempotent: %+v → %+v, %v", req, again, err)
		}
	})
}

// FuzzNormalizeOrigins: allowed_origins of a channel are "*" or a lower-case
// scheme://host[:port] with no path, query, fragment or user info; each
// accepted origin allows itself, normalizing again changes nothing, and a
// refusal is invalid_request.
func FuzzNormalizeOrigins(f *testing.F) {
	for _, s := range []string{
		"https://shop.example", "HTTPS://Shop.Example:8443/", "*", "http://localhost:5173",
		"javascript:alert(1)", "https://user:pw@shop.example", "https://shop.example/path",
		"https://shop.example?x=1", "https://shop.example#frag", "https://shop.example/?",
		"https://[::1]:8080", "//shop.example", "https://", "file:///etc/passwd",
		"https://shop.example' OR '1'='1", "https://shop.example%2F.evil", "https://xn--bcher-kva.example",
		"https://bücher.example", "https://a.example\x00.b", "",
	} {
		f.Add(s, "https://shop.example")
	}
	f.Fuzz(func(t *testing.T, in, origin string) {
		out, err := normalizeOrigins([]string{in})
		if err != nil {
			if chorus.ErrorCode(err) != chorus.EINVALID {
				t.Fatalf("normalizeOrigins(%q) = %v", in, err)
			}
			if m := chorus.ErrorMessage(err); !strings.HasPrefix(m, "allowed_origins:") {
				t.Fatalf("error message %q does not name the field", m)
			}
			return
		}
		if len(out) != 1 {
			t.Fatalf("normalizeOrigins(%q) = %q", in, out)
		}
		o := out[0]
		if o != "*" {
			if o != strings.ToLower(o) || !(strings.HasPrefix(o, "http://") || strings.HasPrefix(o, "https://")) {
				t.Fatalf("normalized %q to %q", in, o)
			}
			rest := o[strings.Index(o, "://")+3:]
			if rest == "" || strings.ContainsAny(rest, "/?#@") {
				t.Fatalf("normalized %q to %q: not a bare origin", in, o)
			}
		}
		if !OriginAllowed(out, o) {
			t.Fatalf("%q does not allow itself", o)
		}
		again, err := normalizeOrigins(out)
		if err != nil || !slices.Equal(again, out) {
			t.Fatalf("not idempotent: %q → %q → %q, %v", in, out, again, err)
		}
		// Only "*" or an equal origin (case-insensitively, trailing slash
		// aside) is allowed.
		if OriginAllowed(out, origin) && o != "*" &&
			strings.TrimRight(strings.ToLower(origin), "/") != o {
			t.Fatalf("%q allows %q", o, origin)
		}
	})
}
