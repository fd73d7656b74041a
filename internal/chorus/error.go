package chorus

import (
	"errors"
	"fmt"
	"net/http"
)

// Error codes. They are the wire codes of PROTOCOL.md; HTTPStatus maps them
// to HTTP statuses, the gateway sends them in error frames.
const (
	EINVALID      = "invalid_request"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ENOTFOUND     = "not_found"
	ECONFLICT     = "conflict"
	ETOOLARGE     = "too_large"
	ERATELIMITED  = "rate_limited"
	EUNAVAILABLE  = "unavailable"
	EINTERNAL     = "internal"
)

// statuses maps each code to its HTTP status (PROTOCOL.md, "Errors").
var statuses = map[string]int{
	EINVALID:      http.StatusBadRequest,
	EUNAUTHORIZED: http.StatusUnauthorized,
	EFORBIDDEN:    http.StatusForbidden,
	ENOTFOUND:     http.StatusNotFound,
	ECONFLICT:     http.StatusConflict,
	ETOOLARGE:     http.StatusRequestEntityTooLarge,
	ERATELIMITED:  http.StatusTooManyRequests,
	EUNAVAILABLE:  http.StatusServiceUnavailable,
	EINTERNAL:     http.StatusInternalServerError,
}

// HTTPStatus returns the HTTP status of err's code: 500 for internal errors
// and for codes it does not know.
func HTTPStatus(err error) int {
	if s, ok := statuses[ErrorCode(err)]; ok {
		return s
	}
	return http.StatusInternalServerError
}

// Error is an application error whose Message is safe to show to users.
type Error struct {
	Code    string
	Message string
	// RetryAfterSeconds is set on rate_limited errors.
	RetryAfterSeconds int
}

func (e *Error) Error() string { return "chorus: " + e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or EINTERNAL
// for any other non-nil error, or "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of err: the *Error message, or a
// generic sentence for internal errors (internals are never shown).
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "An internal error occurred."
}
