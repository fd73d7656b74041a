package loadtest

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/gorilla/websocket"
)

// fakeServer speaks just enough of PROTOCOL.md for the tool's own tests:
// channels, widget sessions, accept, message listing and conversation sockets
// with hello, acks, fan-out, idempotent client_msg_id and after_seq replay.
// It verifies agent tokens as the real server would (HS256, tenant, roles,
// lifetime) and can inject faults.
type fakeServer struct {
	t      *testing.T
	secret []byte
	tenant string
	srv    *httptest.Server

	mu        sync.Mutex
	convs     map[string]*fakeConv
	sends     int
	remoteIPs map[string]int
	limit429  int // answer this many session requests with 429 first

	// Faults, each every Nth accepted send (0: off).
	dropEvery     int  // commit, then close the sender's socket without an ack
	loseEvery     int  // commit and ack, but never deliver to the other party
	dupFrameEvery int  // deliver the message twice
	newSeqOnRetry bool // store a repeated client_msg_id again (an idempotency bug)
	refuseEvery   int  // answer with an error frame instead of storing

	// writeTimeout > 0: a fan-out write that takes longer closes that socket
	// (a slow consumer), counted by side in slowClosed.
	writeTimeout time.Duration
	slowClosed   map[string]int
}

type fakeConv struct {
	id       string
	assignee string
	msgs     []map[string]any
	byCmid   map[string]int
	socks    map[*websocket.Conn]string // socket → side
}

func newFakeServer(t *testing.T, secret, tenant string) *fakeServer {
	f := &fakeServer{t: t, secret: []byte(secret), tenant: tenant, convs: map[string]*fakeConv{}, remoteIPs: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/v1/channels", f.channels)
	mux.HandleFunc("POST /api/v1/widget/sessions", f.sessions)
	mux.HandleFunc("POST /api/v1/conversations/{id}/accept", f.accept)
	mux.HandleFunc("GET /api/v1/conversations/{id}", f.getConv)
	mux.HandleFunc("GET /api/v1/conversations/{id}/messages", f.messages)
	mux.HandleFunc("GET /ws/v1/conversations/{id}", f.socket)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, code string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": code}})
}

// agent verifies an agent token; it returns the sub or "".
func (f *fakeServer) agent(r *http.Request) (string, int) {
	if r.Header.Get("X-Tenant-ID") != f.tenant {
		return "", http.StatusForbidden
	}
	raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	var c struct {
		jwt.RegisteredClaims
		TenantID string   `json:"tenant_id"`
		Roles    []string `json:"roles"`
	}
	tok, err := jwt.ParseWithClaims(raw, &c, func(*jwt.Token) (any, error) { return f.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil || !tok.Valid || c.IssuedAt == nil || c.ExpiresAt.Sub(c.IssuedAt.Time) > MaxTokenTTL {
		return "", http.StatusUnauthorized
	}
	if c.TenantID != f.tenant || (!slices.Contains(c.Roles, "agent") && !slices.Contains(c.Roles, "admin")) {
		return "", http.StatusForbidden
	}
	return c.Subject, 0
}

func (f *fakeServer) channels(w http.ResponseWriter, r *http.Request) {
	if _, st := f.agent(r); st != 0 {
		writeErr(w, st, "forbidden")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"id": "ch1", "type": "web_widget", "widget_key": "wk-test"})
}

func (f *fakeServer) sessions(w http.ResponseWriter, r *http.Request) {
	var in struct {
		WidgetKey string `json:"widget_key"`
	}
	_ = json.NewDecoder(r.Body).Decode(&in)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.limit429 > 0 {
		f.limit429--
		w.Header().Set("Retry-After", "0")
		writeErr(w, http.StatusTooManyRequests, "rate_limited")
		return
	}
	if in.WidgetKey != "wk-test" {
		writeErr(w, http.StatusNotFound, "not_found")
		return
	}
	id := fmt.Sprintf("c%d", len(f.convs)+1)
	f.convs[id] = &fakeConv{id: id, byCmid: map[string]int{}, socks: map[*websocket.Conn]string{}}
	writeJSON(w, http.StatusCreated, map[string]any{
		"token": "visitor:" + id, "tenant_id": f.tenant,
		"conversation": map[string]any{"id": id, "status": "queued", "last_seq": 0},
		"contact":      map[string]any{"id": "v" + id},
	})
}

func (f *fakeServer) convJSON(c *fakeConv) map[string]any {
	status, assignee := "queued", any(nil)
	if c.assignee != "" {
		status, assignee = "active", c.assignee
	}
	return map[string]any{"id": c.id, "status": status, "assignee_id": assignee, "last_seq": len(c.msgs)}
}

func (f *fakeServer) accept(w http.ResponseWriter, r *http.Request) {
	sub, st := f.agent(r)
	if st != 0 {
		writeErr(w, st, "unauthorized")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.convs[r.PathValue("id")]
	switch {
	case c == nil:
		writeErr(w, http.StatusNotFound, "not_found")
	case c.assignee != "":
		writeErr(w, http.StatusConflict, "conflict")
	default:
		c.assignee = sub
		writeJSON(w, http.StatusOK, f.convJSON(c))
	}
}

func (f *fakeServer) getConv(w http.ResponseWriter, r *http.Request) {
	if _, st := f.agent(r); st != 0 {
		writeErr(w, st, "unauthorized")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if c := f.convs[r.PathValue("id")]; c != nil {
		writeJSON(w, http.StatusOK, f.convJSON(c))
		return
	}
	writeErr(w, http.StatusNotFound, "not_found")
}

func (f *fakeServer) messages(w http.ResponseWriter, r *http.Request) {
	if _, st := f.agent(r); st != 0 {
		writeErr(w, st, "unauthorized")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.convs[r.PathValue("id")]
	if c == nil {
		writeErr(w, http.StatusNotFound, "not_found")
		return
	}
	items := c.msgs[max(0, len(c.msgs)-20):]
	writeJSON(w, http.StatusOK, map[string]any{"items": items})
}

var upgrader = websocket.Upgrader{}

func (f *fakeServer) socket(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	side := "agent"
	if tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); tok == "visitor:"+id {
		side = "visitor"
	} else if sub, st := f.agent(r); st != 0 {
		writeErr(w, st, "unauthorized")
		return
	} else {
		f.mu.Lock()
		c := f.convs[id]
		ok := c != nil && c.assignee == sub
		f.mu.Unlock()
		if !ok {
			writeErr(w, http.StatusNotFound, "not_found")
			return
		}
	}
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer ws.Close()
	f.mu.Lock()
	c := f.convs[id]
	f.remoteIPs[host]++
	_ = ws.WriteJSON(map[string]any{"type": "hello", "conversation_id": id, "last_seq": len(c.msgs)})
	if a := r.URL.Query().Get("after_seq"); a != "" {
		after, _ := strconv.Atoi(a)
		for _, m := range c.msgs[min(after, len(c.msgs)):] {
			_ = ws.WriteJSON(map[string]any{"type": "message", "message": m})
		}
	}
	c.socks[ws] = side
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(c.socks, ws)
		f.mu.Unlock()
	}()
	for {
		var in struct {
			Type        string `json:"type"`
			ClientMsgID string `json:"client_msg_id"`
			Body        string `json:"body"`
		}
		if err := ws.ReadJSON(&in); err != nil {
			return
		}
		if in.Type == "message.send" {
			f.send(c, ws, side, in.ClientMsgID, in.Body)
		}
	}
}

// send stores and fans out one message; the caller's socket is ws.
func (f *fakeServer) send(c *fakeConv, ws *websocket.Conn, side, cmid, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if idx, ok := c.byCmid[cmid]; ok && !f.newSeqOnRetry {
		_ = ws.WriteJSON(map[string]any{"type": "message.ack", "client_msg_id": cmid, "message": c.msgs[idx]})
		return
	}
	f.sends++
	every := func(n int) bool { return n > 0 && f.sends%n == 0 }
	if every(f.refuseEvery) {
		_ = ws.WriteJSON(map[string]any{"type": "error", "code": "rate_limited", "message": "slow down", "client_msg_id": cmid})
		return
	}
	m := map[string]any{"seq": len(c.msgs) + 1, "sender_type": side, "sender_id": side + c.id, "body": body,
		"client_msg_id": cmid, "conversation_id": c.id}
	c.byCmid[cmid] = len(c.msgs)
	c.msgs = append(c.msgs, m)
	drop, lose, dup := every(f.dropEvery), every(f.loseEvery), every(f.dupFrameEvery)
	for o, oside := range c.socks {
		if f.writeTimeout > 0 {
			_ = o.SetWriteDeadline(time.Now().Add(f.writeTimeout)) // deadlines are sticky: one per fan-out
		}
		if o == ws {
			if drop {
				o.Close()
				continue
			}
			_ = o.WriteJSON(map[string]any{"type": "message.ack", "client_msg_id": cmid, "message": m})
		}
		if lose && oside != side {
			continue
		}
		if err := o.WriteJSON(map[string]any{"type": "message", "message": m}); err != nil && f.writeTimeout > 0 {
			if f.slowClosed == nil {
				f.slowClosed = map[string]int{}
			}
			f.slowClosed[oside]++
			delete(c.socks, o)
			o.Close()
			continue
		}
		if dup && oside != side {
			_ = o.WriteJSON(map[string]any{"type": "message", "message": m})
		}
	}
}

func (f *fakeServer) distinctIPs() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.remoteIPs)
}

// fakeGateway serves the fake's sockets on a second listener, as a second
// gateway process would, and can be killed (listener and sockets closed).
type fakeGateway struct {
	srv   *httptest.Server
	mu    sync.Mutex
	conns []net.Conn
	dials int
}

// sndBuf > 0 sets the send buffer of each accepted connection.
func (f *fakeServer) addGateway(t *testing.T, sndBuf int) *fakeGateway {
	g := &fakeGateway{}
	g.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.mu.Lock()
		g.dials++
		g.mu.Unlock()
		f.srv.Config.Handler.ServeHTTP(w, r)
	}))
	g.srv.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			if tc, ok := c.(*net.TCPConn); ok && sndBuf > 0 {
				_ = tc.SetWriteBuffer(sndBuf)
			}
			g.mu.Lock()
			g.conns = append(g.conns, c)
			g.mu.Unlock()
		}
	}
	g.srv.Start()
	t.Cleanup(g.srv.Close)
	return g
}

// kill stops accepting and drops every connection, like kill -9.
func (g *fakeGateway) kill() {
	_ = g.srv.Listener.Close()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, c := range g.conns {
		_ = c.Close()
	}
}

func (g *fakeGateway) dialCount() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.dials
}

func (f *fakeServer) sendCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sends
}
