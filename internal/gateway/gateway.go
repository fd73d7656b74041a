// Package gateway is the WebSocket role: it authenticates upgrades, keeps
// the sockets, subscribes them to the bus through a local hub, replays from
// the database on resume and on any gap, and persists what clients send
// through the chat service. Delivery to a socket is in seq order without gaps
// or duplicates; the bus is only the fast path.
package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/enkisys/chorus/internal/chat"
	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/server"
)

// Defaults.
const (
	MaxMessageBytes          = 16 << 10
	SendBufferDefault        = 256
	PingIntervalDefault      = 25 * time.Second
	WriteTimeoutDefault      = 10 * time.Second
	MessagesPerSecondDefault = 10
	FramesPerSecondDefault   = 50
	// ReceiptFlushDefault: delivery receipts are coalesced for this long.
	// Short, so each flush is a small write: at 2,000 msg/s a 100 ms window
	// made bursts of ~200 receipts that delayed the messages behind them on
	// SQLite's single writer (P99 11.6 → 6.9 ms, P99.9 21.6 → 15.2 ms at 10 ms).
	ReceiptFlushDefault = 10 * time.Millisecond
)

// Config of the gateway.
type Config struct {
	SendBuffer        int
	PingInterval      time.Duration
	WriteTimeout      time.Duration
	MessagesPerSecond int // per connection; burst is twice that
	FramesPerSecond   int // all frames per connection; burst twice that
	SocketsPerVisitor int // 0: unlimited
	SocketsPerIP      int // 0: unlimited
	// AllowedOrigins lets browser agent sockets come from other origins than
	// the server's own (the configured CORS origins).
	AllowedOrigins []string
	ReceiptFlush   time.Duration
}

// Authenticator checks an upgrade request's token and tenant.
type Authenticator interface {
	Authenticate(r *http.Request) (chorus.Principal, error)
}

// Gateway is the gateway role.
type Gateway struct {
	cfg      Config
	chat     *chat.Service
	store    chorus.Store
	authn    Authenticator
	logger   *slog.Logger
	metrics  *metrics
	hub      *hub
	upgrader websocket.Upgrader
	receipts *receiptBatcher

	draining atomic.Bool
	nextSlot atomic.Uint64
	mu       sync.Mutex
	conns    map[*conn]struct{}
	perKey   map[string]int
	wg       sync.WaitGroup
	stop     chan struct{}
	stopOnce sync.Once
}

type metrics struct {
	connections       *prometheus.GaugeVec
	framesIn          prometheus.Counter
	framesOut         prometheus.Counter
	slowConsumers     prometheus.Counter
	duplicatesDropped prometheus.Counter
	gaps              prometheus.Counter
	gapReads          prometheus.Counter
	replayed          prometheus.Counter
	refused           *prometheus.CounterVec
	busLag            prometheus.Histogram
	deliveryLatency   prometheus.Histogram
}

var latencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		connections:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "chorus_ws_connections", Help: "Open WebSocket connections by kind."}, []string{"kind"}),
		framesIn:          prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_ws_frames_in_total", Help: "Frames received from clients."}),
		framesOut:         prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_ws_frames_out_total", Help: "Frames written to clients."}),
		slowConsumers:     prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_ws_slow_consumer_disconnects_total", Help: "Connections closed because their send buffer filled."}),
		duplicatesDropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_ws_duplicates_dropped_total", Help: "Message events dropped as already delivered (by seq)."}),
		gaps:              prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_ws_gaps_total", Help: "Sequence gaps seen on a socket's live stream (out-of-order or lost bus events)."}),
		gapReads:          prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_ws_gap_reads_total", Help: "Gaps not filled from the bus within the wait, read from the database."}),
		replayed:          prometheus.NewCounter(prometheus.CounterOpts{Name: "chorus_ws_replayed_messages_total", Help: "Messages replayed from the database (resume, gaps, resync)."}),
		refused:           prometheus.NewCounterVec(prometheus.CounterOpts{Name: "chorus_ws_upgrades_refused_total", Help: "Refused WebSocket upgrades by reason."}, []string{"reason"}),
		busLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chorus_bus_lag_seconds", Help: "Time from publish to receipt by this gateway (the bus).",
			Buckets: latencyBuckets,
		}),
		deliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chorus_ws_delivery_seconds", Help: "Time from a message's publish (after commit) to its write on a receiver's socket.",
			Buckets: latencyBuckets,
		}),
	}
	if reg != nil {
		reg.MustRegister(m.connections, m.framesIn, m.framesOut, m.slowConsumers, m.duplicatesDropped, m.gaps, m.gapReads, m.replayed, m.refused, m.busLag, m.deliveryLatency)
	}
	return m
}

// New returns the gateway.
func New(cfg Config, svc *chat.Service, authn Authenticator, reg prometheus.Registerer, logger *slog.Logger) *Gateway {
	if cfg.SendBuffer <= 0 {
		cfg.SendBuffer = SendBufferDefault
	}
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = PingIntervalDefault
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = WriteTimeoutDefault
	}
	if cfg.MessagesPerSecond <= 0 {
		cfg.MessagesPerSecond = MessagesPerSecondDefault
	}
	if cfg.FramesPerSecond <= 0 {
		// Room for every allowed message plus typing, reads and pings.
		cfg.FramesPerSecond = max(FramesPerSecondDefault, 2*cfg.MessagesPerSecond+20)
	}
	if cfg.ReceiptFlush <= 0 {
		cfg.ReceiptFlush = ReceiptFlushDefault
	}
	g := &Gateway{
		cfg: cfg, chat: svc, store: svc.Store(), authn: authn, logger: logger,
		metrics: newMetrics(reg), hub: newHub(svc.Bus()),
		conns: map[*conn]struct{}{}, perKey: map[string]int{}, stop: make(chan struct{}),
	}
	g.upgrader = websocket.Upgrader{
		ReadBufferSize:   1024,
		WriteBufferSize:  4096,
		WriteBufferPool:  &sync.Pool{},
		HandshakeTimeout: 10 * time.Second,
		// Origins are checked before the upgrade, per token kind.
		CheckOrigin: func(*http.Request) bool { return true },
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			server.WriteError(w, r, chorus.Errorf(chorus.EINVALID, "WebSocket upgrade required."))
		},
	}
	g.hub.observe = func(ev chorus.Event) {
		if ev.PublishedAt > 0 {
			g.metrics.busLag.Observe(float64(time.Now().UnixNano()-ev.PublishedAt) / 1e9)
		}
	}
	g.receipts = newReceiptBatcher(svc, cfg.ReceiptFlush, logger)
	if reg != nil {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "chorus_ws_bus_topics", Help: "Bus topics with local subscribers (one bus subscription each).",
		}, func() float64 { return float64(g.hub.topicCount()) }))
	}
	return g
}

// Routes mounts the WebSocket endpoints on the root router.
func (g *Gateway) Routes(r chi.Router) {
	r.Get("/ws/v1/conversations/{id}", g.serveConversation)
	r.Get("/ws/v1/agent", g.serveAgent)
}

// Start runs the keep-alive and receipt loops.
func (g *Gateway) Start(ctx context.Context) error {
	g.wg.Add(2)
	go func() { defer g.wg.Done(); g.pingLoop() }()
	go func() { defer g.wg.Done(); g.receipts.run(g.stop) }()
	return nil
}

// Drain stops accepting upgrades (readiness has gone 503 already).
func (g *Gateway) Drain() { g.draining.Store(true) }

// Stop refuses new upgrades, sends every socket a going-away close frame so
// clients reconnect elsewhere, and waits for them to end.
func (g *Gateway) Stop(ctx context.Context) error {
	g.draining.Store(true)
	g.mu.Lock()
	all := make([]*conn, 0, len(g.conns))
	for c := range g.conns {
		all = append(all, c)
	}
	g.mu.Unlock()
	for _, c := range all {
		c.closeWith(websocket.CloseGoingAway, "server shutting down; reconnect with after_seq")
	}
	g.stopOnce.Do(func() { close(g.stop) })
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Connections is the number of open sockets.
func (g *Gateway) Connections() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

func (g *Gateway) refuse(w http.ResponseWriter, r *http.Request, reason string, err error) {
	g.metrics.refused.WithLabelValues(reason).Inc()
	server.WriteError(w, r, err)
}

// admit does what every upgrade needs first: refuse while draining, and
// authenticate. It answers refusals itself.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request) (chorus.Principal, bool) {
	if g.draining.Load() {
		g.refuse(w, r, "draining", chorus.Errorf(chorus.EUNAVAILABLE, "Server is shutting down; reconnect."))
		return chorus.Principal{}, false
	}
	p, err := g.authn.Authenticate(r)
	if err != nil {
		g.refuse(w, r, "auth", err)
		return chorus.Principal{}, false
	}
	server.AnnotateTenant(r.Context(), p.TenantID)
	return p, true
}

// start subscribes an upgraded socket (setup returns its hello frame), then
// writes hello, runs afterHello (may be nil) and hands the socket to its own
// read goroutine. A failed setup closes it with "try again later".
func (g *Gateway) start(c *conn, release func(), setup func(ctx context.Context) ([]byte, error), afterHello func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	hello, err := setup(ctx)
	cancel()
	if err != nil {
		g.logger.Warn("subscribe failed", "conn_id", c.id, "err", err)
		c.closeWith(websocket.CloseTryAgainLater, "temporarily unavailable; reconnect")
		release()
		return
	}
	c.sendHello(hello)
	if afterHello != nil {
		afterHello()
	}
	go c.serve(release)
}

func (g *Gateway) serveConversation(w http.ResponseWriter, r *http.Request) {
	p, ok := g.admit(w, r)
	if !ok {
		return
	}
	var afterSeq int64 = -1
	if v := r.URL.Query().Get("after_seq"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			g.refuse(w, r, "invalid", chorus.Errorf(chorus.EINVALID, "after_seq: must be an integer >= 0."))
			return
		}
		afterSeq = n
	}
	conv, err := g.chat.Authorize(r.Context(), p, chi.URLParam(r, "id"), false)
	if err != nil {
		g.refuse(w, r, "forbidden", err)
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !chat.SameOrigin(r, origin) {
		if p.IsVisitor() {
			ch, err := g.store.ChannelGet(r.Context(), p.TenantID, conv.ChannelID)
			if err != nil || !chat.OriginAllowed(ch.AllowedOrigins, origin) {
				g.refuse(w, r, "origin", chorus.Errorf(chorus.EFORBIDDEN, "This website is not allowed to open this conversation."))
				return
			}
		} else if !g.agentOriginAllowed(r, origin) {
			g.refuse(w, r, "origin", chorus.Errorf(chorus.EFORBIDDEN, "Origin not allowed."))
			return
		}
	}
	c, release, err := g.open(w, r, p, false)
	if err != nil {
		return
	}
	c.mu.Lock()
	c.convs[conv.ID] = &convState{lastSeq: max(afterSeq, 0), catchingUp: true}
	c.mu.Unlock()
	g.start(c, release, func(ctx context.Context) ([]byte, error) {
		if err := g.hub.subscribe(ctx, chorus.ConversationTopic(p.TenantID, conv.ID), c); err != nil {
			return nil, err
		}
		// Read after subscribing: no event between the two is missed.
		cur, err := g.store.ConversationGet(ctx, p.TenantID, conv.ID)
		if err != nil {
			return nil, err
		}
		if afterSeq < 0 {
			// No replay asked: start from the conversation's current end.
			c.mu.Lock()
			c.convs[conv.ID].lastSeq = cur.LastSeq
			c.mu.Unlock()
		}
		return json.Marshal(map[string]any{"type": "hello", "conversation_id": cur.ID, "last_seq": cur.LastSeq, "conversation": cur})
	}, func() { go c.catchUp(conv.ID) })
}

func (g *Gateway) serveAgent(w http.ResponseWriter, r *http.Request) {
	p, ok := g.admit(w, r)
	if !ok {
		return
	}
	if !p.IsAgent() {
		g.refuse(w, r, "forbidden", chorus.Errorf(chorus.EFORBIDDEN, "Agents only."))
		return
	}
	if origin := r.Header.Get("Origin"); origin != "" && !g.agentOriginAllowed(r, origin) {
		g.refuse(w, r, "origin", chorus.Errorf(chorus.EFORBIDDEN, "Origin not allowed."))
		return
	}
	if err := g.chat.Provision(r.Context(), p); err != nil {
		g.refuse(w, r, "provision", err)
		return
	}
	c, release, err := g.open(w, r, p, true)
	if err != nil {
		return
	}
	g.start(c, release, func(ctx context.Context) ([]byte, error) {
		if err := g.hub.subscribe(ctx, chorus.AgentsTopic(p.TenantID), c); err != nil {
			return nil, err
		}
		if err := g.hub.subscribe(ctx, chorus.AgentTopic(p.TenantID, p.Subject), c); err != nil {
			return nil, err
		}
		if err := g.followAssigned(ctx, c); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"type": "hello", "agent_id": p.Subject})
	}, nil)
}

// followAssigned follows the agent's active conversations.
func (g *Gateway) followAssigned(ctx context.Context, c *conn) error {
	cursor := ""
	for page := 0; page < 10; page++ {
		items, next, err := g.store.ConversationList(ctx, c.p.TenantID, chorus.ConversationFilter{
			Status: chorus.StatusActive, AssigneeID: c.p.Subject, Limit: 200, Cursor: cursor,
		})
		if err != nil {
			return err
		}
		for _, conv := range items {
			if err := c.follow(ctx, conv.ID, conv.LastSeq); err != nil {
				return err
			}
		}
		if next == "" {
			return nil
		}
		cursor = next
	}
	return nil
}

func (g *Gateway) agentOriginAllowed(r *http.Request, origin string) bool {
	return chat.SameOrigin(r, origin) || slices.Contains(g.cfg.AllowedOrigins, origin)
}

// open checks the per-visitor and per-IP socket limits, upgrades, and
// registers the connection. release undoes it.
func (g *Gateway) open(w http.ResponseWriter, r *http.Request, p chorus.Principal, agent bool) (*conn, func(), error) {
	ip := chat.ClientIP(r)
	keys := []string{}
	g.mu.Lock()
	if p.IsVisitor() && g.cfg.SocketsPerVisitor > 0 {
		k := "v:" + p.TenantID + ":" + p.Subject
		if g.perKey[k] >= g.cfg.SocketsPerVisitor {
			g.mu.Unlock()
			g.chat.CountLimited("sockets_per_visitor")
			g.refuse(w, r, "limit", &chorus.Error{Code: chorus.ERATELIMITED, Message: "Too many open sockets for this visitor.", RetryAfterSeconds: 5})
			return nil, nil, errRefused
		}
		keys = append(keys, k)
	}
	if g.cfg.SocketsPerIP > 0 {
		k := "ip:" + ip
		if g.perKey[k] >= g.cfg.SocketsPerIP {
			g.mu.Unlock()
			g.chat.CountLimited("sockets_per_ip")
			g.refuse(w, r, "limit", &chorus.Error{Code: chorus.ERATELIMITED, Message: "Too many open sockets from this address.", RetryAfterSeconds: 5})
			return nil, nil, errRefused
		}
		keys = append(keys, k)
	}
	for _, k := range keys {
		g.perKey[k]++
	}
	g.mu.Unlock()
	unkey := func() {
		g.mu.Lock()
		for _, k := range keys {
			if g.perKey[k]--; g.perKey[k] <= 0 {
				delete(g.perKey, k)
			}
		}
		g.mu.Unlock()
	}
	ws, err := g.upgrader.Upgrade(w, r, nil)
	if err != nil {
		unkey()
		return nil, nil, err
	}
	ws.SetReadLimit(MaxMessageBytes)
	c := &conn{
		g: g, ws: ws, id: uuid.NewString(), p: p, actorKey: p.ActorType() + ":" + p.Subject, agent: agent,
		limiter: rate.NewLimiter(rate.Limit(g.cfg.MessagesPerSecond), 2*g.cfg.MessagesPerSecond),
		frames:  rate.NewLimiter(rate.Limit(g.cfg.FramesPerSecond), 2*g.cfg.FramesPerSecond),
		convs:   map[string]*convState{},
	}
	c.pingSlot = int(g.nextSlot.Add(1) % pingSlots)
	kind := "conversation"
	if agent {
		kind = "agent"
	}
	g.mu.Lock()
	g.conns[c] = struct{}{}
	g.mu.Unlock()
	g.metrics.connections.WithLabelValues(kind).Inc()
	return c, func() {
		c.release()
		_ = ws.Close()
		g.mu.Lock()
		delete(g.conns, c)
		g.mu.Unlock()
		unkey()
		g.metrics.connections.WithLabelValues(kind).Dec()
	}, nil
}

var errRefused = chorus.Errorf(chorus.ERATELIMITED, "refused")

// serve runs the read loop on its own goroutine, so that the HTTP handler
// returns and its request state (about 10 KiB) is released, then cleans up.
func (c *conn) serve(release func()) {
	defer release()
	c.readLoop()
}

// readLoop reads frames until the socket ends.
func (c *conn) readLoop() {
	wait := c.g.cfg.PingInterval * 5 / 2
	_ = c.ws.SetReadDeadline(time.Now().Add(wait))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(wait))
	})
	for {
		mt, data, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		_ = c.ws.SetReadDeadline(time.Now().Add(wait))
		c.g.metrics.framesIn.Inc()
		if mt != websocket.TextMessage {
			c.sendError(chorus.Errorf(chorus.EINVALID, "Only text frames are accepted."), "")
			continue
		}
		c.handle(data)
	}
}

// pingSlots spreads keep-alive pings over the interval: pinging every
// socket at once made a burst of thousands of writes (a 70–95 ms stall at
// 5,000 sockets) once per interval.
const pingSlots = 50

// pingLoop queues a ping on every socket once per interval, a slice of the
// sockets at a time.
func (g *Gateway) pingLoop() {
	t := time.NewTicker(max(g.cfg.PingInterval/pingSlots, time.Millisecond))
	defer t.Stop()
	var all []*conn
	for tick := 0; ; tick = (tick + 1) % pingSlots {
		select {
		case <-g.stop:
			return
		case <-t.C:
		}
		all = all[:0]
		g.mu.Lock()
		for c := range g.conns {
			if c.pingSlot == tick {
				all = append(all, c)
			}
		}
		g.mu.Unlock()
		for _, c := range all {
			c.mu.Lock()
			if c.helloed {
				c.enqueueLocked(item{})
			}
			c.mu.Unlock()
		}
	}
}
