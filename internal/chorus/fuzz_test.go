package chorus_test

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/enkisys/chorus/internal/chorus"
)

// FuzzNormalizeBody checks the body rules of PROTOCOL.md as invariants: an
// accepted body is valid UTF-8, trimmed, 1..MaxBodyChars code points, holds no
// control character but newline and tab, and normalizing it again changes
// nothing; a refused body is a *chorus.Error with invalid_request or too_large.
func FuzzNormalizeBody(f *testing.F) {
	for _, s := range []string{
		"Hi", "  hello\n", "a\tb\nc", "", "   ", "\x00", "a\x07b", "\xff\xfe", "é",
		"\u0085x\u0085", "x\u0085y", "\u00a0nbsp\u00a0", "\u2028line\u2029", "\r\n", "a\rb",
		`'); DROP TABLE messages; --`, "<script>alert(1)</script>", "\U0001F600",
		strings.Repeat("é", chorus.MaxBodyChars), strings.Repeat("é", chorus.MaxBodyChars+1),
		" " + strings.Repeat("x", chorus.MaxBodyChars) + " ", "\x7f", "\u200b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out, err := chorus.NormalizeBody(in)
		if err != nil {
			var ce *chorus.Error
			if !errors.As(err, &ce) || (ce.Code != chorus.EINVALID && ce.Code != chorus.ETOOLARGE) {
				t.Fatalf("NormalizeBody(%q) error %v: want *chorus.Error invalid_request or too_large", in, err)
			}
			if out != "" {
				t.Fatalf("NormalizeBody(%q) returned %q with an error", in, out)
			}
			if ce.Code == chorus.ETOOLARGE && utf8.RuneCountInString(strings.TrimSpace(in)) <= chorus.MaxBodyChars {
				t.Fatalf("too_large for %d code points", utf8.RuneCountInString(strings.TrimSpace(in)))
			}
			return
		}
		if !utf8.ValidString(out) {
			t.Fatalf("result %q is not valid UTF-8", out)
		}
		if out != strings.TrimSpace(out) {
			t.Fatalf("result %q is not trimmed", out)
		}
		if n := utf8.RuneCountInString(out); n < 1 || n > chorus.MaxBodyChars {
			t.Fatalf("result has %d code points", n)
		}
		for _, r := range out {
			if r != '\n' && r != '\t' && unicode.IsControl(r) {
				t.Fatalf("result %q holds control character %U", out, r)
			}
		}
		if !strings.Contains(in, out) {
			t.Fatalf("result %q is not a substring of the input %q (only trimming is allowed)", out, in)
		}
		again, err := chorus.NormalizeBody(out)
		if err != nil || again != out {
			t.Fatalf("not idempotent: %q → %q, %v", out, again, err)
		}
	})
}

// FuzzValidClientMsgID: an accepted id is 1..MaxClientMsgIDLen printable
// ASCII bytes (no space, so it is safe in logs and SQL parameters alike); a
// refused one is invalid_request.
func FuzzValidClientMsgID(f *testing.F) {
	for _, s := range []string{
		"c1", "", " ", "a b", "evil'--", "x' OR '1'='1", "\x00", "é", "\xff",
		strings.Repeat("x", chorus.MaxClientMsgIDLen), strings.Repeat("x", chorus.MaxClientMsgIDLen+1),
		"550e8400-e29b-41d4-a716-446655440000", "~!@#$%^&*()_+", "\x7f",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := chorus.ValidClientMsgID(id)
		valid := id != "" && len(id) <= chorus.MaxClientMsgIDLen
		for i := 0; i < len(id); i++ {
			if id[i] <= ' ' || id[i] > '~' {
				valid = false
			}
		}
		if valid != (err == nil) {
			t.Fatalf("ValidClientMsgID(%q) = %v, want valid=%v", id, err, valid)
		}
		if err != nil {
			if chorus.ErrorCode(err) != chorus.EINVALID {
				t.Fatalf("ValidClientMsgID(%q) code %q", id, chorus.ErrorCode(err))
			}
			return
		}
		if !utf8.ValidString(id) || strings.TrimSpace(id) != id {
			t.Fatalf("accepted %q", id)
		}
	})
}
