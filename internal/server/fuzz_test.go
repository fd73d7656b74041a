package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/enkisys/chorus/internal/chorus"
)

// FuzzDecode sends a body through the body limit and Decode, as every POST
// and PUT handler does. Invariants: no panic; a refusal is a *chorus.Error
// with invalid_request or too_large (too_large only past the limit) and a
// message free of internals; an accepted body is valid UTF-8 and one JSON
// object (or null).
func FuzzDecode(f *testing.F) {
	const limit = 1024
	for _, s := range []string{
		`{"client_msg_id":"c1","body":"Hi"}`,
		`{"seq":42}`,
		`{"widget_key":"wk_abc","name":"Vera","email":"vera@example.com","metadata":{"page":"/pricing"}}`,
		`{"type":"web_widget","name":"Site","allowed_origins":["https://shop.example"]}`,
		`{"email":"a@example.com","password":"correct horse","tenant_id":"demo"}`,
		`{"agent_id":"agent-2"}`, `{"status":"online"}`, `{}`, `null`, `[]`, `"x"`, `1`, ``,
		`{"client_msg_id":5}`, `{"seq":"1"}`, `{"roles":{}}`, `{"metadata":[]}`,
		`{"a":1}{"b":2}`, `{"a":1} x`, `{"a":`, "{\"body\":\"\xff\"}", "\ufeff{}",
		strings.Repeat("[", 3000), `{"body":"` + strings.Repeat("x", limit) + `"}`,
	} {
		f.Add([]byte(s), "application/json")
	}
	f.Add([]byte(`{"body":"x"}`), "text/plain")
	f.Add([]byte(`{"body":"x"}`), "")
	f.Fuzz(func(t *testing.T, body []byte, contentType string) {
		r := httptest.NewRequest("POST", "/api/v1/x", bytes.NewReader(body))
		r.Header.Set("Content-Type", contentType)
		r.Body = http.MaxBytesReader(httptest.NewRecorder(), r.Body, limit)
		var v struct {
			ClientMsgID string            `json:"client_msg_id"`
			Body        string            `json:"body"`
			Seq         int64             `json:"seq"`
			Roles       []string          `json:"roles"`
			Metadata    map[string]string `json:"metadata"`
			Capacity    *int              `json:"capacity"`
		}
		err := Decode(r, &v)
		if err != nil {
			var ce *chorus.Error
			if !errors.As(err, &ce) || (ce.Code != chorus.EINVALID && ce.Code != chorus.ETOOLARGE) {
				t.Fatalf("Decode(%q) = %#v, want *chorus.Error invalid_request or too_large", body, err)
			}
			if ce.Code == chorus.ETOOLARGE && len(body) <= limit {
				t.Fatalf("too_large for %d bytes", len(body))
			}
			if ce.Message == "" || strings.Contains(ce.Message, ".go:") || strings.Contains(ce.Message, "goroutine") {
				t.Fatalf("message %q", ce.Message)
			}
			if StatusOf(err) != http.StatusBadRequest && StatusOf(err) != http.StatusRequestEntityTooLarge {
				t.Fatalf("status %d", StatusOf(err))
			}
			return
		}
		if len(body) > limit {
			t.Fatalf("accepted %d bytes over a %d limit", len(body), limit)
		}
		if !utf8.Valid(body) || !json.Valid(body) {
			t.Fatalf("accepted %q", body)
		}
		trimmed := bytes.TrimSpace(body)
		if !bytes.HasPrefix(trimmed, []byte("{")) && string(trimmed) != "null" {
			t.Fatalf("accepted a non-object %q", body)
		}
		ct := strings.ToLower(contentType)
		if ct != "" && !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("accepted Content-Type %q", contentType)
		}
	})
}
