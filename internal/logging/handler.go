// Package logging builds the process's slog handler: JSON or text, with
// redaction, so that no token and no personal data reaches a log. Attributes
// whose key is sensitive (token, authorization, password, secret, body,
// email, phone, cookie, ...) are replaced with [REDACTED], at any depth of
// groups; every string value, the message, error texts and LogValuer results
// are scrubbed of JWTs, Bearer tokens, secret query parameters, e-mail
// addresses and phone numbers.
package logging

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"reflect"
)

// NewHandler returns a redacting handler writing to w at level and above, as
// JSON ("json", and anything but "text") or as slog text ("text").
func NewHandler(w io.Writer, level slog.Level, format string) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return Wrap(h)
}

// Wrap returns a handler that redacts every record before passing it to h.
func Wrap(h slog.Handler) slog.Handler {
	if r, ok := h.(*Handler); ok {
		return r
	}
	return &Handler{inner: h}
}

// Handler is a redacting slog.Handler; see the package documentation.
type Handler struct {
	inner slog.Handler
	// all is set under a group whose name is sensitive: every attribute
	// below it is redacted.
	all bool
}

var _ slog.Handler = (*Handler)(nil)

// Enabled reports whether the wrapped handler handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.inner.Enabled(ctx, level)
}

// Handle redacts r's message and attributes and passes it on.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	nr := slog.NewRecord(r.Time, r.Level, Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		nr.AddAttrs(redactAttr(a, h.all))
		return true
	})
	return h.inner.Handle(ctx, nr)
}

// WithAttrs redacts attrs once, when they are attached.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	out := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		out[i] = redactAttr(a, h.all)
	}
	return &Handler{inner: h.inner.WithAttrs(out), all: h.all}
}

// WithGroup opens a group; a sensitive group name redacts all it holds.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{inner: h.inner.WithGroup(name), all: h.all || SensitiveKey(name)}
}

func redactAttr(a slog.Attr, all bool) slog.Attr {
	if all || SensitiveKey(a.Key) {
		if a.Value.Kind() == slog.KindGroup && a.Key == "" {
			// An inline group has no key of its own: redact its members.
			return slog.Attr{Key: a.Key, Value: redactValue(a.Value, true)}
		}
		return slog.String(a.Key, Redacted)
	}
	return slog.Attr{Key: a.Key, Value: redactValue(a.Value, false)}
}

func redactValue(v slog.Value, all bool) slog.Value {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.StringValue(Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		out := make([]slog.Attr, len(g))
		for i, a := range g {
			out[i] = redactAttr(a, all)
		}
		return slog.GroupValue(out...)
	case slog.KindAny:
		return redactAny(v.Any())
	default:
		return v
	}
}

// redactAny renders values slog would print through fmt or encoding/json:
// errors, URLs, byte slices and Stringers become scrubbed strings;
// structs, maps and slices are turned into their JSON form with sensitive
// keys redacted and strings scrubbed.
func redactAny(x any) slog.Value {
	switch t := x.(type) {
	case nil:
		return slog.AnyValue(nil)
	case error:
		return slog.StringValue(Redact(t.Error()))
	case *url.URL:
		return slog.StringValue(RedactURL(t))
	case url.URL:
		return slog.StringValue(RedactURL(&t))
	case []byte:
		return slog.StringValue(Redact(string(t)))
	case json.RawMessage:
		return redactJSONBytes(t)
	case fmt.Stringer:
		return slog.StringValue(Redact(t.String()))
	}
	rv := reflect.ValueOf(x)
	switch rv.Kind() {
	case reflect.String:
		return slog.StringValue(Redact(rv.String()))
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return slog.AnyValue(x)
	}
	b, err := json.Marshal(x)
	if err != nil {
		return slog.StringValue(Redact(fmt.Sprintf("%+v", x)))
	}
	return redactJSONBytes(b)
}

func redactJSONBytes(b []byte) slog.Value {
	var generic any
	if err := json.Unmarshal(b, &generic); err != nil {
		return slog.StringValue(Redact(string(b)))
	}
	return slog.AnyValue(redactJSON(generic))
}

func redactJSON(x any) any {
	switch t := x.(type) {
	case string:
		return Redact(t)
	case map[string]any:
		for k, v := range t {
			if SensitiveKey(k) {
				t[k] = Redacted
			} else {
				t[k] = redactJSON(v)
			}
		}
		return t
	case []any:
		for i, v := range t {
			t[i] = redactJSON(v)
		}
		return t
	default:
		return x
	}
}
