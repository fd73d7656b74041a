package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/enkisys/chorus/internal/chorus"
)

var (
	errNotFound = chorus.Errorf(chorus.ENOTFOUND, "Not found.")
	errStarting = chorus.Errorf(chorus.EUNAVAILABLE, "The server is starting; try again in a moment.")
)

// StatusOf returns the HTTP status for err.
func StatusOf(err error) int { return chorus.HTTPStatus(err) }

// WriteError writes PROTOCOL.md's error body for err. Internal errors are
// logged (once, here) and shown as a generic sentence.
func WriteError(w http.ResponseWriter, r *http.Request, err error) {
	code := chorus.ErrorCode(err)
	status := StatusOf(err)
	if code == chorus.EINTERNAL || status >= 500 {
		if l := LoggerFrom(r.Context()); l != nil {
			l.ErrorContext(r.Context(), "request failed", "err", err)
		}
	}
	var ce *chorus.Error
	if errors.As(err, &ce) && ce.RetryAfterSeconds > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(ce.RetryAfterSeconds))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="chorus"`) // RFC 6750
	}
	writeJSONError(w, status, code, chorus.ErrorMessage(err))
}

func writeJSONError(w http.ResponseWriter, status int, code, msg string) {
	WriteJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// WriteJSON writes v as JSON with status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if v != nil {
		_ = json.NewEncoder(w).Encode(v)
	}
}

// Decode reads a JSON object body into v: 413 when over the body limit, 400
// naming the problem for malformed JSON, a non-object or trailing data.
func Decode(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") {
		return chorus.Errorf(chorus.EINVALID, "Content-Type must be application/json.")
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if !utf8.Valid(raw) {
		return chorus.Errorf(chorus.EINVALID, "Request body must be valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return decodeError(err)
		}
		return chorus.Errorf(chorus.EINVALID, "Request body must hold a single JSON object.")
	}
	return nil
}

func decodeError(err error) error {
	var maxErr *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &maxErr):
		return chorus.Errorf(chorus.ETOOLARGE, "Request body is larger than %d bytes.", maxErr.Limit)
	case errors.Is(err, io.EOF):
		return chorus.Errorf(chorus.EINVALID, "Request body is empty; a JSON object is required.")
	case errors.As(err, &syn):
		return chorus.Errorf(chorus.EINVALID, "Malformed JSON at byte %d.", syn.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return chorus.Errorf(chorus.EINVALID, "%s: must be %s.", typ.Field, jsonKind(typ.Type.Kind().String()))
		}
		return chorus.Errorf(chorus.EINVALID, "Request body must be a JSON object.")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return chorus.Errorf(chorus.EINVALID, "Malformed JSON: unexpected end of input.")
	default:
		return chorus.Errorf(chorus.EINVALID, "Malformed JSON.")
	}
}

func jsonKind(k string) string {
	switch k {
	case "string":
		return "a string"
	case "int", "int64", "int32", "uint", "uint64", "float64":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return "of another type"
}

type loggerKey struct{}

// LoggerFrom returns the request-scoped logger (with request_id and, once
// known, tenant_id), or nil.
func LoggerFrom(ctx interface{ Value(any) any }) *slog.Logger {
	l, _ := ctx.Value(loggerKey{}).(*slog.Logger)
	return l
}
