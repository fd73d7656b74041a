package secrets

import (
	"slices"
	"strings"
)

// Redacted replaces a secret value in error messages.
const Redacted = "[redacted]"

// Redact returns err with every non-empty secret replaced by "[redacted]" in
// its message; errors.Is and errors.As still see the original chain through
// Unwrap (so do not print what they return). Use it on any error that may
// quote a setting resolved from SSM, for example a validation error that
// quotes the value (`log-level: "…" is not one of …`). A nil err stays nil and
// an err whose message contains no secret is returned unchanged.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := redactString(err.Error(), secrets)
	if msg == err.Error() {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

func redactString(s string, secrets []string) string {
	// Longest first, so a secret that contains another is replaced whole.
	sorted := slices.Clone(secrets)
	slices.SortFunc(sorted, func(a, b string) int { return len(b) - len(a) })
	for _, v := range sorted {
		if v != "" {
			s = strings.ReplaceAll(s, v, Redacted)
		}
	}
	return s
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
