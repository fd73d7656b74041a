package logging_test

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/enkisys/chorus/internal/logging"
)

var (
	leftEmail = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	leftJWT   = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.`)
	// The first access_token= in the output must be followed by the marker.
	leftAccessToken = regexp.MustCompile(`(?i)access_token=`)
)

// FuzzRedact: Redact never panics, keeps valid UTF-8 valid, and leaves no
// e-mail address, JWT or secret query value behind, whatever surrounds them.
func FuzzRedact(f *testing.F) {
	f.Add(sensitiveText)
	f.Add(survivorText)
	f.Add("a@b.co")
	f.Add("x" + jwtTok + "@example.com")
	f.Add("Bearer\tabc?access_token=1&password=2")
	f.Add("+1 (415) 555-2671 ext. 12")
	f.Fuzz(func(t *testing.T, s string) {
		out := logging.Redact(s)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Fatalf("Redact(%q) = %q: invalid UTF-8", s, out)
		}
		if m := leftEmail.FindString(out); m != "" {
			t.Fatalf("Redact(%q) left e-mail %q in %q", s, m, out)
		}
		if m := leftJWT.FindString(out); m != "" {
			t.Fatalf("Redact(%q) left JWT %q in %q", s, m, out)
		}
		if l := leftAccessToken.FindStringIndex(out); l != nil && !strings.HasPrefix(out[l[1]:], logging.Redacted) {
			t.Fatalf("Redact(%q) left an access_token value in %q", s, out)
		}
	})
}
