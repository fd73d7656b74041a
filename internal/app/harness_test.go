package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/enkisys/chorus/internal/auth"
	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
)

// env is a running Chorus (all roles, in this process) on one storage engine.
type env struct {
	t      testing.TB
	app    *App
	base   string
	ws     string
	secret []byte
	tenant string
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// engines runs f once per storage engine: the embedded default and the
// production pair (PostgreSQL + Redis).
func engines(t *testing.T, f func(t *testing.T, e *env)) {
	t.Helper()
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			f(t, startEnv(t, engine, nil))
		})
	}
}

// testLimits keeps the abuse limits out of the way of functional tests.
var testLimits = []string{
	"--limits.widget-sessions-per-ip=100000", "--limits.widget-sessions-per-key=100000",
	"--limits.login-per-ip=1000", "--limits.login-per-account=1000",
	"--limits.messages-per-conn-second=100000", "--limits.messages-per-visitor-minute=1000000",
	"--limits.api-per-tenant-second=100000",
}

func startEnv(t testing.TB, engine string, extra []string) *env {
	t.Helper()
	args := []string{"--http-addr=127.0.0.1:0", "--data-dir=" + t.TempDir(), "--log-level=debug", "--demo=false",
		"--shutdown-timeout=5s", "--gateway.ping-interval=2s"}
	args = append(args, testLimits...)
	secret := "test-secret-" + chorustest.RandomSuffix(16)
	if engine == "postgres" {
		args = append(args, "--database-url="+chorustest.PostgresURL(t), "--redis-url="+chorustest.RedisURL(t),
			"--redis-prefix="+chorustest.Prefix(t), "--jwt-secret="+secret)
	}
	args = append(args, extra...)
	cfg, err := LoadConfig(args, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a, err := New(cfg, NewLogger(logs, cfg), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		cancel()
		t.Fatalf("chorus did not start: %v\n%s", err, logs.String())
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatal("chorus did not start within 60s")
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("chorus stopped with: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Error("chorus did not stop within 20s")
		}
	})
	e := &env{t: t, app: a, base: "http://" + a.Addr(), ws: "ws://" + a.Addr(), secret: a.jwtSecret,
		tenant: "t" + chorustest.RandomSuffix(5), logs: logs}
	return e
}

// token issues a token of the env's tenant.
func (e *env) token(sub string, roles ...string) string {
	return e.tokenFor(e.tenant, sub, "", roles...)
}

func (e *env) tokenFor(tenant, sub, conv string, roles ...string) string {
	e.t.Helper()
	tok, _, err := auth.Issue(e.secret, auth.Claims{Subject: sub, TenantID: tenant, Roles: roles, ConversationID: conv, Name: "User " + sub}, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

func (r resp) code() string {
	var b struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	_ = json.Unmarshal(r.body, &b)
	return b.Error.Code
}

// call does one REST call; tenant "" uses the env's tenant, "-" sends none.
func (e *env) call(method, path, token string, body any, headers ...string) resp {
	e.t.Helper()
	return e.callTenant(method, path, token, e.tenant, body, headers...)
}

func (e *env) callTenant(method, path, token, tenant string, body any, headers ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if tenant != "-" {
		req.Header.Set("X-Tenant-ID", tenant)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

func (e *env) must(r resp, status int) resp {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// setupTenant creates, as the tenant's admin, a widget channel, and returns
// the admin token and the widget key.
func (e *env) setupTenant() (admin string, widgetKey string) {
	e.t.Helper()
	admin = e.token("admin-1", chorus.RoleAdmin)
	var ch chorus.Channel
	e.must(e.call("POST", "/api/v1/channels", admin, map[string]any{
		"type": "web_widget", "name": "Site", "allowed_origins": []string{"https://shop.example"},
	}), 201).json(e.t, &ch)
	return admin, ch.WidgetKey
}

type session struct {
	Token        string              `json:"token"`
	TenantID     string              `json:"tenant_id"`
	Conversation chorus.Conversation `json:"conversation"`
	Contact      chorus.Contact      `json:"contact"`
	ResumeToken  string              `json:"resume_token"`
	Resumed      bool                `json:"resumed"`
}

func (e *env) visitor(widgetKey string) session {
	e.t.Helper()
	var s session
	e.must(e.callTenant("POST", "/api/v1/widget/sessions", "", "-", map[string]any{"widget_key": widgetKey, "name": "Vera"},
		"Origin", "https://shop.example"), 201).json(e.t, &s)
	return s
}

// wsConn is a test WebSocket client that collects frames.
type wsConn struct {
	t      testing.TB
	c      *websocket.Conn
	frames chan map[string]any
	closed chan error
	wmu    sync.Mutex
}

func (e *env) dial(path, token string, headers ...string) (*wsConn, *http.Response, error) {
	e.t.Helper()
	return e.dialTenant(path, token, e.tenant, headers...)
}

func (e *env) mustDialTenant(path, token, tenant string) *wsConn {
	e.t.Helper()
	w, res, err := e.dialTenant(path, token, tenant)
	if err != nil {
		e.t.Fatalf("dial %s: %v (%v)", path, err, res)
	}
	w.next("hello")
	return w
}

func (e *env) dialTenant(path, token, tenant string, headers ...string) (*wsConn, *http.Response, error) {
	e.t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
		h.Set("X-Tenant-ID", tenant)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		h.Set(headers[i], headers[i+1])
	}
	c, res, err := websocket.DefaultDialer.Dial(e.ws+path, h)
	if err != nil {
		return nil, res, err
	}
	w := &wsConn{t: e.t, c: c, frames: make(chan map[string]any, 10000), closed: make(chan error, 1)}
	go func() {
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				w.closed <- err
				close(w.frames)
				return
			}
			var f map[string]any
			if err := json.Unmarshal(data, &f); err != nil {
				w.closed <- fmt.Errorf("bad frame %q: %w", data, err)
				close(w.frames)
				return
			}
			w.frames <- f
		}
	}()
	e.t.Cleanup(func() { _ = c.Close() })
	return w, res, nil
}

func (e *env) mustDial(path, token string, headers ...string) *wsConn {
	e.t.Helper()
	w, res, err := e.dial(path, token, headers...)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		e.t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	w.next("hello")
	return w
}

func (w *wsConn) send(v any) {
	w.t.Helper()
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if err := w.c.WriteJSON(v); err != nil {
		w.t.Fatalf("write: %v", err)
	}
}

// next returns the next frame of type typ, skipping others (pings, presence…).
func (w *wsConn) next(typ string) map[string]any {
	w.t.Helper()
	return w.nextWhere(typ, nil)
}

func (w *wsConn) nextWhere(typ string, pred func(map[string]any) bool) map[string]any {
	w.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-w.frames:
			if !ok {
				w.t.Fatalf("socket closed while waiting for %q: %v", typ, <-w.closed)
			}
			if f["type"] == typ && (pred == nil || pred(f)) {
				return f
			}
		case <-deadline:
			w.t.Fatalf("no %q frame within 10s", typ)
		}
	}
}

// none asserts that no frame of type typ arrives within d.
func (w *wsConn) none(typ string, d time.Duration) {
	w.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case f, ok := <-w.frames:
			if !ok {
				return
			}
			if f["type"] == typ {
				w.t.Fatalf("unexpected %q frame: %v", typ, f)
			}
		case <-deadline:
			return
		}
	}
}

func msgOf(f map[string]any) map[string]any {
	m, _ := f["message"].(map[string]any)
	return m
}

func num(v any) int64 {
	f, _ := v.(float64)
	return int64(f)
}
