package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"

	"github.com/enkisys/chorus/internal/bus"
	"github.com/enkisys/chorus/internal/chat"
	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
	"github.com/enkisys/chorus/internal/sqlite"
)

// fixedAuth authenticates every upgrade as one principal.
type fixedAuth struct{ p chorus.Principal }

func (a fixedAuth) Authenticate(*http.Request) (chorus.Principal, error) { return a.p, nil }

type orderBundle struct {
	store  *sqlite.DB
	bus    *bus.Memory
	gw     *Gateway
	ws     *websocket.Conn
	convID string
}

// setupOrder runs a gateway on SQLite and the in-process bus with one
// visitor socket on a conversation that already holds n messages, which the
// test then publishes itself, in any order.
func setupOrder(t *testing.T, n int) *orderBundle {
	t.Helper()
	return setupOrderWith(t, n, Config{})
}

func setupOrderWith(t *testing.T, n int, cfg Config) *orderBundle {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"), chorustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now().UTC()
	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(db.TenantEnsure(ctx, "t1", "T1"))
	must(db.ChannelCreate(ctx, "t1", chorus.Channel{ID: "ch", TenantID: "t1", Type: chorus.ChannelWebWidget, Name: "w", WidgetKey: "k", CreatedAt: now}))
	must(db.ContactCreate(ctx, "t1", chorus.Contact{ID: "ct", TenantID: "t1", CreatedAt: now}))
	must(db.ConversationCreate(ctx, "t1", chorus.Conversation{ID: "cv", TenantID: "t1", ChannelID: "ch", ContactID: "ct",
		Status: chorus.StatusQueued, CreatedAt: now, QueuedAt: &now, UpdatedAt: now}))
	b := bus.NewMemory()
	svc := chat.NewService(chat.Config{}, chat.Deps{Store: db, Bus: b}, chorustest.Logger(t))
	gw := New(cfg, svc, fixedAuth{chorus.Principal{TenantID: "t1", Subject: "ct", Roles: []string{chorus.RoleVisitor}, ConversationID: "cv"}},
		nil, chorustest.Logger(t))
	if err := gw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r := chi.NewRouter()
	gw.Routes(r)
	srv := httptest.NewServer(r)
	t.Cleanup(func() {
		_ = gw.Stop(context.Background())
		srv.Close()
	})
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/v1/conversations/cv", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	if f := readFrame(t, ws); f["type"] != "hello" {
		t.Fatalf("first frame %v", f)
	}
	waitLive(t, gw)
	// Store the messages without publishing them (the store, not the service).
	for i := 1; i <= n; i++ {
		_, _, err := db.MessageCreate(ctx, "t1", chorus.NewMessage{ID: fmt.Sprint("m", i), ConversationID: "cv", SenderType: chorus.SenderAgent,
			SenderID: "a1", Body: fmt.Sprint("message ", i), ClientMsgID: fmt.Sprint("c", i), CreatedAt: now})
		must(nil, err)
	}
	return &orderBundle{store: db, bus: b, gw: gw, ws: ws, convID: "cv"}
}

// waitLive waits until every socket finished its initial catch-up.
func waitLive(t *testing.T, gw *Gateway) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		live := true
		gw.mu.Lock()
		for c := range gw.conns {
			c.mu.Lock()
			for _, cs := range c.convs {
				live = live && !cs.catchingUp
			}
			c.mu.Unlock()
		}
		gw.mu.Unlock()
		if live {
			return
		}
	}
	t.Fatal("initial catch-up did not finish")
}

func readFrame(t *testing.T, ws *websocket.Conn) map[string]any {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func (b *orderBundle) publish(t *testing.T, seqs ...int64) {
	t.Helper()
	for _, seq := range seqs {
		msgs, err := b.store.MessageList(context.Background(), "t1", b.convID, seq-1, 1)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("message %d: %v %v", seq, msgs, err)
		}
		ev := chorus.Event{Type: chorus.EventMessage, ConversationID: b.convID, Seq: seq, Origin: "agent:a1|", Data: chat.MessageFrame(&msgs[0])}
		if err := b.bus.Publish(context.Background(), chorus.ConversationTopic("t1", b.convID), ev); err != nil {
			t.Fatal(err)
		}
	}
}

// nextSeqs reads message frames (skipping others) and returns their seqs.
func (b *orderBundle) nextSeqs(t *testing.T, n int) []int64 {
	t.Helper()
	var out []int64
	for len(out) < n {
		f := readFrame(t, b.ws)
		if f["type"] == "message" {
			out = append(out, int64(f["message"].(map[string]any)["seq"].(float64)))
		}
	}
	return out
}

func counter(t *testing.T, c interface{ Write(*dto.Metric) error }) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// TestOutOfOrderEventsAreReordered: events that arrive a moment out of
// order (several publishers) are written in seq order without reading the
// database; duplicates are dropped.
func TestOutOfOrderEventsAreReordered(t *testing.T) {
	t.Parallel()
	b := setupOrder(t, 4)
	b.publish(t, 2, 1, 1, 4, 3, 2)
	if got := fmt.Sprint(b.nextSeqs(t, 4)); got != "[1 2 3 4]" {
		t.Fatalf("delivered %s", got)
	}
	if g := counter(t, b.gw.metrics.gaps); g != 2 {
		t.Errorf("gaps = %v, want 2", g)
	}
	if r := counter(t, b.gw.metrics.gapReads); r != 0 {
		t.Errorf("the database was read %v times for stragglers", r)
	}
	if d := counter(t, b.gw.metrics.duplicatesDropped); d != 2 {
		t.Errorf("duplicates dropped = %v, want 2", d)
	}
}

// TestLostEventsAreReadFromTheDatabase: a gap the bus never fills is read
// from the database after the wait, in order, once.
func TestLostEventsAreReadFromTheDatabase(t *testing.T) {
	t.Parallel()
	b := setupOrder(t, 5)
	b.publish(t, 1, 4) // 2 and 3 are lost on the bus
	if got := fmt.Sprint(b.nextSeqs(t, 4)); got != "[1 2 3 4]" {
		t.Fatalf("delivered %s", got)
	}
	b.publish(t, 5, 3)
	if got := fmt.Sprint(b.nextSeqs(t, 1)); got != "[5]" {
		t.Fatalf("then %s", got)
	}
	if r := counter(t, b.gw.metrics.gapReads); r != 1 {
		t.Errorf("gap reads = %v, want 1", r)
	}
	// A bus resync (Redis reconnected) replays from the database too.
	ctx := context.Background()
	_, _, err := b.store.MessageCreate(ctx, "t1", chorus.NewMessage{ID: "m6", ConversationID: "cv", SenderType: chorus.SenderAgent,
		SenderID: "a1", Body: "six", ClientMsgID: "c6", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.bus.Publish(ctx, chorus.ConversationTopic("t1", "cv"), chorus.Event{Type: chorus.EventResync}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(b.nextSeqs(t, 1)); got != "[6]" {
		t.Fatalf("after resync %s", got)
	}
}

// TestKeepAlivePingsEverySocket: every socket is pinged about once per
// interval (spread over the interval, not all at once), and a client that
// answers stays connected past the read deadline.
func TestKeepAlivePingsEverySocket(t *testing.T) {
	t.Parallel()
	b := setupOrderWith(t, 0, Config{PingInterval: 200 * time.Millisecond})
	var pings atomic.Int64
	b.ws.SetPingHandler(func(data string) error {
		pings.Add(1)
		return b.ws.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	// Read (which runs the ping handler) for 1.2 s: past the 500 ms read deadline.
	deadline := time.Now().Add(1200 * time.Millisecond)
	_ = b.ws.SetReadDeadline(deadline)
	for {
		if _, _, err := b.ws.ReadMessage(); err != nil {
			if time.Now().Before(deadline.Add(-100 * time.Millisecond)) {
				t.Fatalf("socket ended early: %v", err)
			}
			break
		}
	}
	if n := pings.Load(); n < 4 || n > 8 {
		t.Errorf("%d pings in 1.2 s at a 200 ms interval", n)
	}
	if b.gw.Connections() != 1 {
		t.Errorf("connections = %d", b.gw.Connections())
	}
}
