package chorus

import (
	"strings"
	"unicode/utf8"
)

// MaxBodyChars is the longest message body, in Unicode code points, after trimming.
const MaxBodyChars = 4000

// MaxClientMsgIDLen bounds client_msg_id.
const MaxClientMsgIDLen = 128

// NormalizeBody trims b and checks the body rules of PROTOCOL.md: valid UTF-8,
// 1..MaxBodyChars code points, no control characters but newline and tab.
func NormalizeBody(b string) (string, error) {
	if !utf8.ValidString(b) {
		return "", Errorf(EINVALID, "body: must be valid UTF-8.")
	}
	b = strings.TrimSpace(b)
	if b == "" {
		return "", Errorf(EINVALID, "body: must not be empty.")
	}
	n := 0
	for _, r := range b {
		n++
		if r == '\n' || r == '\t' {
			continue
		}
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "", Errorf(EINVALID, "body: control characters other than newline and tab are not allowed.")
		}
	}
	if n > MaxBodyChars {
		return "", Errorf(ETOOLARGE, "body: at most %d characters.", MaxBodyChars)
	}
	return b, nil
}

// ValidClientMsgID checks a client_msg_id: 1..128 printable ASCII characters.
func ValidClientMsgID(id string) error {
	if id == "" {
		return Errorf(EINVALID, "client_msg_id: required.")
	}
	if len(id) > MaxClientMsgIDLen {
		return Errorf(EINVALID, "client_msg_id: at most %d characters.", MaxClientMsgIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return Errorf(EINVALID, "client_msg_id: printable ASCII only.")
		}
	}
	return nil
}

// ValidTenantID checks a tenant id: 1..64 of [A-Za-z0-9_-] (tenant ids come
// from the host platform and end up in bus topics and key prefixes, where a
// dot would be ambiguous).
func ValidTenantID(id string) bool { return validIdent(id, 64) && !strings.Contains(id, ".") }

// ValidID checks an object or subject id: 1..128 of [A-Za-z0-9_.:@-].
func ValidID(id string) bool { return validIdent(id, 128) }

func validIdent(id string, max int) bool {
	if id == "" || len(id) > max {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '_' || c == '.':
		case (c == ':' || c == '@') && max > 64:
		default:
			return false
		}
	}
	return true
}
