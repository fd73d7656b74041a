package secrets

import (
	"errors"
	"strings"
)

// Scheme is the prefix of a reference to an SSM parameter.
const Scheme = "ssm://"

// Limits of SSM parameter names (AWS Systems Manager quotas).
const (
	maxNameLen     = 2048
	maxSelectorLen = 100
)

// ErrMalformedRef is wrapped by the error of a setting whose value starts with
// "ssm:" but is not a well-formed reference.
var ErrMalformedRef = errors.New("malformed ssm reference")

// IsRef reports whether v is meant as an SSM reference: it starts with "ssm:"
// (case-insensitive). Such a value is either a well-formed reference or an
// error; it is never used literally, so a typo such as "ssm:/path" fails at
// start instead of becoming the secret itself.
func IsRef(v string) bool {
	return len(v) >= 4 && strings.EqualFold(v[:4], "ssm:")
}

// ParseRef returns the SSM parameter name that the reference v names, as sent
// to GetParameters. Accepted forms:
//
//	ssm:///path/name       hierarchical name "/path/name" (three slashes)
//	ssm://name             plain name "name" (no slash in it)
//	ssm:///path/name:3     a version or label selector, also on plain names
//
// "ssm://path/name" is rejected: it is ambiguous (a hierarchical name always
// begins with a slash, so it needs three). Names use the SSM characters
// [A-Za-z0-9_.-/], at most 2048 of them, without empty path segments or a
// trailing slash. The scheme is case-insensitive; the name is not.
//
// The error wraps ErrMalformedRef and never quotes v.
func ParseRef(v string) (string, error) {
	if !IsRef(v) || len(v) < len(Scheme) || !strings.EqualFold(v[:len(Scheme)], Scheme) {
		return "", malformed("want ssm:///path/name or ssm://name")
	}
	name := v[len(Scheme):]
	selector := ""
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name, selector = name[:i], name[i+1:]
		if selector == "" {
			return "", malformed("empty version or label after ':'")
		}
		if len(selector) > maxSelectorLen || !validChars(selector, false) {
			return "", malformed("a version or label uses only letters, digits, '_', '.' and '-'")
		}
	}
	switch {
	case name == "" || name == "/":
		return "", malformed("empty parameter name")
	case len(name) > maxNameLen:
		return "", malformed("parameter name longer than 2048 characters")
	case !validChars(name, true):
		return "", malformed("a parameter name uses only letters, digits, '_', '.', '-' and '/'")
	case !strings.HasPrefix(name, "/") && strings.Contains(name, "/"):
		return "", malformed("a hierarchical name needs three slashes: ssm:///path/name")
	case strings.Contains(name, "//"):
		return "", malformed("empty path segment in the parameter name")
	case strings.HasSuffix(name, "/"):
		return "", malformed("parameter name ends with '/'")
	}
	if selector != "" {
		return name + ":" + selector, nil
	}
	return name, nil
}

func malformed(reason string) error {
	return &refError{reason: reason}
}

// refError is a malformed reference; its message is a fixed reason, never the
// value.
type refError struct{ reason string }

func (e *refError) Error() string { return ErrMalformedRef.Error() + ": " + e.reason }
func (e *refError) Unwrap() error { return ErrMalformedRef }

func validChars(s string, slash bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '_' || c == '.' || c == '-':
		case c == '/' && slash:
		default:
			return false
		}
	}
	return true
}
