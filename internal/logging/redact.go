package logging

import (
	"net/url"
	"regexp"
	"strings"
)

// Redacted replaces every sensitive value.
const Redacted = "[REDACTED]"

// sensitiveWords are key words (after lower-casing and splitting on _ - . and
// spaces) that make an attribute sensitive wherever they appear in its key:
// "password", "user_email", "x-api-key", "request.body".
var sensitiveWords = map[string]bool{
	"token": true, "password": true, "passwd": true, "pwd": true, "passphrase": true,
	"secret": true, "authorization": true, "cookie": true, "cookies": true,
	"jwt": true, "email": true, "phone": true, "body": true,
	"credential": true, "credentials": true, "apikey": true, "otp": true, "pin": true,
	"ssn": true, "signature": true, "sig": true,
}

// sensitiveSuffixes catch camelCase and run-together keys, compared with
// separators removed: "accessToken", "userEmail", "X-Api-Key", "privateKey".
var sensitiveSuffixes = []string{
	"token", "password", "passwd", "secret", "cookie", "jwt", "email", "phone",
	"apikey", "privatekey", "authorization", "credentials", "phonenumber",
}

// SensitiveKey reports whether an attribute or query parameter named key
// holds a value that must never be logged (case-insensitive).
func SensitiveKey(key string) bool {
	// Lower-case and drop separators into a stack buffer (keys are short),
	// checking each separator-delimited word on the way.
	var buf [64]byte
	compact := buf[:0]
	wordStart := 0
	for i := 0; i <= len(key); i++ {
		if i == len(key) || isKeySep(key[i]) {
			if w := compact[wordStart:]; len(w) > 0 && sensitiveWords[string(w)] {
				return true
			}
			wordStart = len(compact)
			continue
		}
		c := key[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		compact = append(compact, c)
	}
	for _, s := range sensitiveSuffixes {
		if len(compact) >= len(s) && string(compact[len(compact)-len(s):]) == s {
			return true
		}
	}
	return false
}

func isKeySep(c byte) bool { return c == '_' || c == '-' || c == '.' || c == ' ' }

var (
	// JWTs (and JWS/JWE compact forms): a base64url JSON header ("eyJ"),
	// or three long base64url segments.
	reJWT = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*)?|[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}`)
	// "Bearer <token>" in any case.
	reBearer = regexp.MustCompile(`(?i)\b(bearer)\s+[A-Za-z0-9\-._~+/]+=*`)
	// key=value for secret-bearing keys (anything ending in token,
	// password, secret, api_key, ...), in URLs, form bodies and messages.
	reKeyValue = regexp.MustCompile(`(?i)([A-Za-z0-9_-]*(?:token|password|passwd|pwd|secret|api_?key|jwt|signature|sig))=([^&\s"'#;,]*)`)
	// "key":"value" for the same keys inside JSON text.
	reJSONKeyValue = regexp.MustCompile(`(?i)"([A-Za-z0-9_-]*(?:token|password|passwd|secret|api_?key|jwt|authorization|email|phone))"\s*:\s*"(?:[^"\\]|\\.)*"`)
	// user:password@ in URLs.
	reUserinfo = regexp.MustCompile(`(://[^/:@\s]*):[^@/\s]+@`)
	reEmail    = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}`)
	// Phone numbers: international (+ and 7-15 digits, optionally grouped),
	// North American (415) 555-2671 / 415-555-2671 / 415.555.2671, and
	// national trunk-prefixed 020 7946 0958. Candidates are then checked
	// for boundaries (phoneBoundaryOK) so UUIDs, timestamps, IPs and paths
	// survive.
	rePhone = regexp.MustCompile(`\+\d{1,3}(?:[ .-]?\(\d{1,4}\))?(?:[ .-]?\d{1,5}){1,5}|\(\d{3}\)[ .-]?\d{3}[ .-]\d{4}|\b\d{3}[ .-]\d{3}[ .-]\d{4}\b|\b0\d{2,4}[ .-]\d{3,4}[ .-]\d{3,4}\b`)
)

// Redact scrubs s of JWT-looking strings, Bearer tokens, secret key=value
// pairs (access_token=, password=, ... in URLs or text), URL passwords,
// e-mail addresses and phone numbers. Ordinary ids, UUIDs, timestamps,
// durations, paths and IP addresses are left alone. It is cheap on strings
// that hold none of them: each pattern runs only when a byte it needs is
// present.
func Redact(s string) string {
	if len(s) < 6 { // the shortest e-mail, a@b.cd, has 6 bytes
		return s
	}
	var hasDot2, hasEq, hasAt, hasQuoteColon, hasScheme, hasBearer, phone bool
	digits, dots := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
			if !phone && (i == 0 || !isDigit(s[i-1])) {
				phone = phoneStart(s, i)
			}
		case c == '.':
			dots++
		case c == '=':
			hasEq = true
		case c == '@':
			hasAt = true
		case c == ':':
			if i > 0 && s[i-1] == '"' {
				hasQuoteColon = true
			}
			if i+2 < len(s) && s[i+1] == '/' && s[i+2] == '/' {
				hasScheme = true
			}
		case c == 'r' || c == 'R':
			if !hasBearer && i >= 5 && strings.EqualFold(s[i-5:i+1], "bearer") {
				hasBearer = true
			}
		}
	}
	hasDot2 = dots >= 2
	if hasDot2 {
		s = reJWT.ReplaceAllLiteralString(s, Redacted)
	}
	if hasBearer {
		s = reBearer.ReplaceAllString(s, "${1} "+Redacted)
	}
	if hasEq {
		s = reKeyValue.ReplaceAllString(s, "${1}="+Redacted)
	}
	if hasQuoteColon {
		s = reJSONKeyValue.ReplaceAllString(s, `"${1}":"`+Redacted+`"`)
	}
	if hasScheme && hasAt {
		s = reUserinfo.ReplaceAllString(s, "${1}:"+Redacted+"@")
	}
	if hasAt {
		s = reEmail.ReplaceAllLiteralString(s, Redacted)
	}
	if phone && digits >= 7 {
		s = redactPhones(s)
	}
	return s
}

func redactPhones(s string) string {
	locs := rePhone.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		start, end := l[0], l[1]
		if !phoneBoundaryOK(s, start, end) {
			continue
		}
		n := 0
		for i := start; i < end; i++ {
			if s[i] >= '0' && s[i] <= '9' {
				n++
			}
		}
		if n < 7 || n > 15 {
			continue
		}
		b.WriteString(s[last:start])
		b.WriteString(Redacted)
		last = end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// phoneBoundaryOK rejects candidates glued to identifiers: a neighbouring
// letter, digit, '_', '-', ':', '/' or a '.' followed/preceded by a digit
// means the digits are part of a UUID, timestamp, version, IP or path.
func phoneBoundaryOK(s string, start, end int) bool {
	if start > 0 {
		c := s[start-1]
		if isWordByte(c) || c == '-' || c == ':' || c == '/' || c == '+' {
			return false
		}
		if c == '.' && start > 1 && isDigit(s[start-2]) {
			return false
		}
	}
	if end < len(s) {
		c := s[end]
		if isWordByte(c) || c == '-' || c == ':' || c == '/' {
			return false
		}
		if c == '.' && end+1 < len(s) && isDigit(s[end+1]) {
			return false
		}
	}
	return true
}

// phoneStart reports whether the digit run starting at s[i] could begin a
// phone number: a "+" or "(" right before it, or a run of at least two
// digits not glued to an identifier and followed by a separator and a
// digit. It keeps the phone pattern off UUIDs and most ids.
func phoneStart(s string, i int) bool {
	if i > 0 && (s[i-1] == '+' || s[i-1] == '(') {
		return true
	}
	if i > 0 {
		c := s[i-1]
		if isWordByte(c) || c == '-' || c == ':' || c == '/' || c == '.' {
			return false
		}
	}
	j := i
	for j < len(s) && isDigit(s[j]) {
		j++
	}
	if j-i < 2 || j+1 >= len(s) {
		return false
	}
	return (s[j] == ' ' || s[j] == '.' || s[j] == '-') && isDigit(s[j+1])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isWordByte(c byte) bool {
	return isDigit(c) || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// RedactURL renders u for a request log: the values of sensitive query
// parameters (access_token, token, password, email, ...) become [REDACTED],
// a password in the userinfo is dropped, and the rest is scrubbed like any
// logged string. It returns "" for nil.
func RedactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		if _, ok := c.User.Password(); ok {
			c.User = url.UserPassword(c.User.Username(), "REDACTED")
		}
	}
	if c.RawQuery != "" {
		pairs := strings.Split(c.RawQuery, "&")
		for i, p := range pairs {
			k, v, hasValue := strings.Cut(p, "=")
			key, err := url.QueryUnescape(k)
			if err != nil {
				key = k
			}
			if !hasValue {
				continue
			}
			if SensitiveKey(key) || reKeyValue.MatchString(key+"=x") {
				pairs[i] = k + "=" + Redacted
				continue
			}
			val, err := url.QueryUnescape(v)
			if err != nil {
				val = v
			}
			if r := Redact(val); r != val {
				pairs[i] = k + "=" + Redacted
			}
		}
		c.RawQuery = strings.Join(pairs, "&")
	}
	if c.Fragment != "" {
		c.Fragment = Redact(c.Fragment)
		c.RawFragment = ""
	}
	return Redact(c.String())
}
