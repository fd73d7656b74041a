package gateway

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/enkisys/chorus/internal/chat"
	"github.com/enkisys/chorus/internal/chorus"
)

// item is one frame waiting to be written. A nil frame is a ping.
type item struct {
	frame []byte
	// For message frames: the conversation and seq, and whether it counts as
	// delivered to this socket's actor (sent by the other side).
	conv      string
	seq       int64
	deliver   bool
	published int64 // the event's PublishedAt, for the delivery-latency metric
}

// convState tracks one conversation on one socket: the highest seq written
// (or skipped as the socket's own echo), and the catch-up state.
type convState struct {
	lastSeq    int64
	catchingUp bool           // live message events are held in pending
	waiting    bool           // … for a bus straggler (a gap), before reading the database
	waitGen    int            // invalidates a stale gap timer
	pending    []chorus.Event // live message events held during catch-up
	overflow   bool           // pending was full: catch up again
	lastTyping time.Time
	typingOn   bool
}

const maxPending = 512

// gapWait is how long a gap in the live stream waits for the missing
// message before the database is read: with several publishers (split
// deployments, concurrent senders) events often arrive a moment out of order.
const gapWait = 20 * time.Millisecond

// conn is one WebSocket. Idle connections hold one goroutine (the reader);
// a writer goroutine exists only while frames wait to be written.
type conn struct {
	g        *Gateway
	ws       *websocket.Conn
	id       string
	p        chorus.Principal
	actorKey string
	agent    bool          // the multiplexed /ws/v1/agent stream
	pingSlot int           // which tick of the ping loop pings this socket
	limiter  *rate.Limiter // message.send frames
	frames   *rate.Limiter // all frames
	// Flood accounting (read goroutine only).
	floodSince time.Time
	floodCount int

	mu       sync.Mutex
	queue    []item
	writing  bool
	closed   bool
	helloed  bool
	preHello []item
	convs    map[string]*convState
	lastConv []byte // the last conversation frame written (agent stream)
}

// onEvent is called by the bus; it never blocks.
func (c *conn) onEvent(ev chorus.Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return
	}
	switch ev.Type {
	case chorus.EventMessage:
		cs := c.convs[ev.ConversationID]
		if cs == nil {
			return
		}
		if cs.catchingUp {
			if len(cs.pending) < maxPending {
				cs.pending = append(cs.pending, ev)
			} else {
				cs.overflow = true
			}
			if cs.waiting {
				c.drainStragglersLocked(ev.ConversationID, cs)
			}
			return
		}
		c.deliverMessageLocked(ev.ConversationID, cs, ev)
	case chorus.EventTyping, chorus.EventReceipt:
		if ev.Origin == c.actorKey {
			return
		}
		if _, ok := c.convs[ev.ConversationID]; !ok {
			return
		}
		c.enqueueLocked(item{frame: ev.Data})
	case chorus.EventConversation:
		if c.agent {
			// The agent stream hears a followed conversation's change on
			// both the agents topic and the conversation's: write it once.
			if bytes.Equal(ev.Data, c.lastConv) {
				return
			}
			c.lastConv = ev.Data
			go c.syncAgentConversation(ev.Data)
		}
		c.enqueueLocked(item{frame: ev.Data})
	case chorus.EventQueue, chorus.EventPresence, chorus.EventNotification:
		c.enqueueLocked(item{frame: ev.Data})
	case chorus.EventResync:
		for id, cs := range c.convs {
			if !cs.catchingUp || cs.waiting {
				cs.catchingUp, cs.waiting = true, false
				cs.waitGen++
				go c.catchUp(id)
			}
		}
	}
}

// deliverMessageLocked writes a live message in order: a duplicate is
// dropped, the next seq is written, a gap starts a catch-up from the database.
func (c *conn) deliverMessageLocked(convID string, cs *convState, ev chorus.Event) {
	switch {
	case ev.Seq <= cs.lastSeq:
		c.g.metrics.duplicatesDropped.Inc()
	case ev.Seq == cs.lastSeq+1:
		cs.lastSeq = ev.Seq
		actor, connID, _ := strings.Cut(ev.Origin, "|")
		if connID == c.id && connID != "" {
			return // our own message: the sender got message.ack
		}
		c.enqueueLocked(item{frame: ev.Data, conv: convID, seq: ev.Seq, deliver: !strings.HasPrefix(actor, c.p.ActorType()+":"), published: ev.PublishedAt})
	default:
		// A gap: hold the event and give the missing ones a moment to
		// arrive from the bus; read the database only if they do not.
		c.g.metrics.gaps.Inc()
		cs.catchingUp, cs.waiting = true, true
		cs.waitGen++
		cs.pending = append(cs.pending[:0], ev)
		gen := cs.waitGen
		time.AfterFunc(gapWait, func() { c.gapTimeout(convID, gen) })
	}
}

// drainStragglersLocked writes the held events that now follow lastSeq
// without a hole; when none is left held, the socket is live again.
func (c *conn) drainStragglersLocked(convID string, cs *convState) {
	if cs.overflow {
		return // too many held: the timer reads the database
	}
	slices.SortFunc(cs.pending, func(a, b chorus.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	i := 0
	for ; i < len(cs.pending); i++ {
		ev := cs.pending[i]
		if ev.Seq <= cs.lastSeq {
			continue
		}
		if ev.Seq != cs.lastSeq+1 {
			break
		}
		c.deliverMessageLocked(convID, cs, ev)
	}
	cs.pending = append(cs.pending[:0], cs.pending[i:]...)
	if len(cs.pending) == 0 {
		cs.catchingUp, cs.waiting = false, false
		cs.waitGen++
	}
}

// gapTimeout reads the database when a gap was not filled from the bus.
func (c *conn) gapTimeout(convID string, gen int) {
	c.mu.Lock()
	cs := c.convs[convID]
	if c.closed || cs == nil || !cs.waiting || cs.waitGen != gen {
		c.mu.Unlock()
		return
	}
	cs.waiting = false
	c.mu.Unlock()
	c.g.metrics.gapReads.Inc()
	c.catchUp(convID)
}

// catchUp replays the conversation from the database after lastSeq, then
// the live events held meanwhile, until no gap remains. It never overfills
// the send queue (a replay is not a slow consumer): it waits for the writer,
// and live events it has no room for are read again from the database.
func (c *conn) catchUp(convID string) {
	page := max(1, min(catchUpPage, c.g.cfg.SendBuffer/2))
	failures := 0
	for {
		c.mu.Lock()
		cs := c.convs[convID]
		if c.closed || cs == nil {
			c.mu.Unlock()
			return
		}
		after := cs.lastSeq
		c.mu.Unlock()

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		msgs, err := c.g.store.MessageList(ctx, c.p.TenantID, convID, after, page)
		cancel()
		if err != nil {
			c.g.logger.Warn("catch-up read failed", "conn_id", c.id, "conversation_id", convID, "err", err)
			if failures++; failures > 5 {
				c.closeWith(websocket.CloseTryAgainLater, "temporarily unable to replay; reconnect with after_seq")
				return
			}
			time.Sleep(time.Duration(failures) * 100 * time.Millisecond)
			continue
		}
		c.mu.Lock()
		for len(c.queue)+len(msgs) > c.g.cfg.SendBuffer && !c.closed {
			c.mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			c.mu.Lock()
		}
		cs = c.convs[convID]
		if c.closed || cs == nil {
			c.mu.Unlock()
			return
		}
		for i := range msgs {
			m := &msgs[i]
			if m.Seq != cs.lastSeq+1 {
				continue
			}
			cs.lastSeq = m.Seq
			c.g.metrics.replayed.Inc()
			c.enqueueLocked(item{frame: chat.MessageFrame(m), conv: convID, seq: m.Seq, deliver: m.SenderType != c.p.ActorType()})
		}
		if len(msgs) == page {
			c.mu.Unlock()
			continue // more in the database
		}
		// Caught up with the database: write the live events held meanwhile.
		slices.SortFunc(cs.pending, func(a, b chorus.Event) int { return cmp.Compare(a.Seq, b.Seq) })
		room := c.g.cfg.SendBuffer - len(c.queue)
		gap, full := false, false
		for _, ev := range cs.pending {
			if ev.Seq <= cs.lastSeq {
				continue
			}
			if ev.Seq != cs.lastSeq+1 {
				gap = true
				break
			}
			if room <= 0 {
				full = true
				break
			}
			room--
			cs.lastSeq = ev.Seq
			actor, connID, _ := strings.Cut(ev.Origin, "|")
			if connID != "" && connID == c.id {
				continue
			}
			c.enqueueLocked(item{frame: ev.Data, conv: convID, seq: ev.Seq, deliver: !strings.HasPrefix(actor, c.p.ActorType()+":"), published: ev.PublishedAt})
		}
		if full || cs.overflow || (gap && len(msgs) > 0) {
			// Read the rest from the database.
			cs.pending, cs.overflow = cs.pending[:0], false
			c.mu.Unlock()
			continue
		}
		if gap {
			// The database had nothing past lastSeq although a later event
			// arrived: retry briefly, then go live (the next event re-checks).
			if failures++; failures <= 5 {
				c.mu.Unlock()
				time.Sleep(time.Duration(failures) * 20 * time.Millisecond)
				continue
			}
			c.g.logger.Warn("catch-up gap persists", "conn_id", c.id, "conversation_id", convID, "last_seq", cs.lastSeq)
		}
		cs.pending, cs.overflow, cs.catchingUp = nil, false, false
		c.mu.Unlock()
		return
	}
}

const catchUpPage = 200

// enqueueLocked queues a frame; a full queue disconnects a slow consumer
// (it resumes with after_seq), so that it never stalls anyone else.
func (c *conn) enqueueLocked(it item) {
	if c.closed {
		return
	}
	if !c.helloed {
		c.preHello = append(c.preHello, it)
		return
	}
	if len(c.queue) >= c.g.cfg.SendBuffer {
		c.g.metrics.slowConsumers.Inc()
		c.closed = true
		go c.terminate(websocket.ClosePolicyViolation, "slow consumer: reconnect with after_seq")
		return
	}
	c.queue = append(c.queue, it)
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

func (c *conn) enqueue(it item) {
	c.mu.Lock()
	c.enqueueLocked(it)
	c.mu.Unlock()
}

// sendHello writes the first frame, then whatever arrived before it.
func (c *conn) sendHello(frame []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.helloed = true
	pre := c.preHello
	c.preHello = nil
	c.enqueueLocked(item{frame: frame})
	for _, it := range pre {
		c.enqueueLocked(it)
	}
}

// writeLoop drains the queue, then exits (so idle sockets hold no writer).
func (c *conn) writeLoop() {
	var batch []item
	for {
		c.mu.Lock()
		if len(c.queue) == 0 || c.closed {
			c.writing = false
			c.queue = nil
			c.mu.Unlock()
			return
		}
		batch, c.queue = c.queue, batch[:0]
		c.mu.Unlock()
		for i := range batch {
			it := &batch[i]
			_ = c.ws.SetWriteDeadline(time.Now().Add(c.g.cfg.WriteTimeout))
			var err error
			if it.frame == nil {
				err = c.ws.WriteMessage(websocket.PingMessage, nil)
			} else {
				err = c.ws.WriteMessage(websocket.TextMessage, it.frame)
				c.g.metrics.framesOut.Inc()
			}
			if err != nil {
				c.mu.Lock()
				c.writing = false
				c.closed = true
				c.mu.Unlock()
				_ = c.ws.Close()
				return
			}
			if it.deliver {
				c.g.receipts.note(c.p.TenantID, it.conv, c.p.Actor(), it.seq)
			}
			if it.published > 0 {
				c.g.metrics.deliveryLatency.Observe(float64(time.Now().UnixNano()-it.published) / 1e9)
			}
			it.frame = nil
		}
		clear(batch)
	}
}

// terminate sends a close frame with a reason and closes the socket.
func (c *conn) terminate(code int, reason string) {
	_ = c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
	_ = c.ws.Close()
}

// closeWith marks the connection closed and terminates it.
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	already := c.closed
	c.closed = true
	c.mu.Unlock()
	if !already {
		c.terminate(code, reason)
	}
}

// clientFrame is any client → server frame.
type clientFrame struct {
	Type           string  `json:"type"`
	ConversationID string  `json:"conversation_id"`
	ClientMsgID    string  `json:"client_msg_id"`
	Body           *string `json:"body"`
	Active         *bool   `json:"active"`
	Seq            *int64  `json:"seq"`
}

type errorFrame struct {
	Type        string `json:"type"`
	Code        string `json:"code"`
	Message     string `json:"message"`
	ClientMsgID string `json:"client_msg_id,omitempty"`
}

type ackFrame struct {
	Type        string          `json:"type"`
	ClientMsgID string          `json:"client_msg_id"`
	Message     *chorus.Message `json:"message"`
}

var pongFrame = []byte(`{"type":"pong"}`)

func (c *conn) sendError(err error, clientMsgID string) {
	code := chorus.ErrorCode(err)
	if code == chorus.EINTERNAL {
		c.g.logger.Error("socket frame failed", "conn_id", c.id, "err", err)
	}
	b, _ := json.Marshal(errorFrame{Type: "error", Code: code, Message: chorus.ErrorMessage(err), ClientMsgID: clientMsgID})
	c.enqueue(item{frame: b})
}

// DecodeFrame parses and checks one client frame: the type is known and the
// fields it needs are present and well-formed.
func DecodeFrame(data []byte) (clientFrame, error) {
	var f clientFrame
	if !utf8.Valid(data) {
		return f, chorus.Errorf(chorus.EINVALID, "Frames must be valid UTF-8.")
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, chorus.Errorf(chorus.EINVALID, "Malformed JSON frame.")
	}
	switch f.Type {
	case "message.send":
		if f.Body == nil {
			return f, chorus.Errorf(chorus.EINVALID, "body: required.")
		}
		if err := chorus.ValidClientMsgID(f.ClientMsgID); err != nil {
			return f, err
		}
	case "typing":
		if f.Active == nil {
			return f, chorus.Errorf(chorus.EINVALID, "active: required (true or false).")
		}
	case "read":
		if f.Seq == nil || *f.Seq < 1 {
			return f, chorus.Errorf(chorus.EINVALID, "seq: required, >= 1.")
		}
	case "ping":
	case "":
		return f, chorus.Errorf(chorus.EINVALID, "type: required.")
	default:
		return f, chorus.Errorf(chorus.EINVALID, "type: unknown frame type.")
	}
	if f.ConversationID != "" && !chorus.ValidID(f.ConversationID) {
		return f, chorus.Errorf(chorus.EINVALID, "conversation_id: not a valid id.")
	}
	return f, nil
}

// handle processes one client frame.
func (c *conn) handle(data []byte) {
	f, err := DecodeFrame(data)
	if !c.frames.Allow() {
		c.g.chat.CountLimited("frames_per_connection")
		if err == nil && f.Type == "message.send" {
			// A refused send is always answered, so the client can retry it.
			c.sendError(&chorus.Error{Code: chorus.ERATELIMITED, Message: "Too many frames; slow down."}, f.ClientMsgID)
			return
		}
		// Other frames: one error frame a second at most (a flood is not
		// answered by a flood); a sustained flood ends the connection.
		now := time.Now()
		if now.Sub(c.floodSince) >= time.Second {
			if c.floodCount > 10*c.g.cfg.FramesPerSecond {
				c.closeWith(websocket.ClosePolicyViolation, "too many frames")
				return
			}
			c.floodSince, c.floodCount = now, 0
			c.sendError(&chorus.Error{Code: chorus.ERATELIMITED, Message: "Too many frames; slow down."}, "")
		}
		c.floodCount++
		return
	}
	if err != nil {
		c.sendError(err, f.ClientMsgID)
		return
	}
	convID := f.ConversationID
	if !c.agent {
		own := c.ownConversation()
		if convID != "" && convID != own {
			c.sendError(chorus.Errorf(chorus.EINVALID, "conversation_id: this socket is for another conversation."), f.ClientMsgID)
			return
		}
		convID = own
	} else if convID == "" && f.Type != "ping" {
		c.sendError(chorus.Errorf(chorus.EINVALID, "conversation_id: required on the agent stream."), f.ClientMsgID)
		return
	}
	switch f.Type {
	case "ping":
		c.enqueue(item{frame: pongFrame})
	case "message.send":
		if !c.limiter.Allow() {
			c.g.chat.CountLimited("messages_per_connection")
			c.sendError(&chorus.Error{Code: chorus.ERATELIMITED, Message: "Too many messages; slow down."}, f.ClientMsgID)
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		m, _, err := c.g.chat.SendMessage(ctx, c.p, convID, f.ClientMsgID, *f.Body, c.id)
		cancel()
		if err != nil {
			c.sendError(err, f.ClientMsgID)
			return
		}
		b, _ := json.Marshal(ackFrame{Type: "message.ack", ClientMsgID: f.ClientMsgID, Message: &m})
		c.enqueue(item{frame: b})
	case "typing":
		if !c.typingAllowed(convID, *f.Active) {
			return
		}
		if c.agent && !c.subscribed(convID) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			_, err := c.g.chat.Authorize(ctx, c.p, convID, true)
			cancel()
			if err != nil {
				c.sendError(err, "")
				return
			}
		}
		c.g.chat.Typing(context.Background(), c.p, convID, *f.Active)
	case "read":
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.g.chat.MarkRead(ctx, c.p, convID, *f.Seq)
		cancel()
		if err != nil {
			c.sendError(err, "")
		}
	}
}

func (c *conn) ownConversation() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.convs {
		return id
	}
	return ""
}

func (c *conn) subscribed(convID string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.convs[convID]
	return ok
}

// typingAllowed throttles typing frames: a change of state always passes,
// a repeat of "active" at most once a second.
func (c *conn) typingAllowed(convID string, active bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.convs[convID]
	if cs == nil {
		// A supervisor typing in a conversation it does not follow.
		return c.frames.Allow()
	}
	now := time.Now()
	if active == cs.typingOn && now.Sub(cs.lastTyping) < time.Second {
		return false
	}
	cs.typingOn, cs.lastTyping = active, now
	return true
}

// follow subscribes the socket to a conversation, replaying after afterSeq.
func (c *conn) follow(ctx context.Context, convID string, afterSeq int64) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("gateway: connection closed")
	}
	if _, ok := c.convs[convID]; ok {
		c.mu.Unlock()
		return nil
	}
	c.convs[convID] = &convState{lastSeq: afterSeq, catchingUp: true}
	c.mu.Unlock()
	if err := c.g.hub.subscribe(ctx, chorus.ConversationTopic(c.p.TenantID, convID), c); err != nil {
		c.mu.Lock()
		delete(c.convs, convID)
		c.mu.Unlock()
		return err
	}
	go c.catchUp(convID)
	return nil
}

// unfollow stops delivery of a conversation.
func (c *conn) unfollow(convID string) {
	c.mu.Lock()
	_, ok := c.convs[convID]
	delete(c.convs, convID)
	c.mu.Unlock()
	if ok {
		c.g.hub.unsubscribe(chorus.ConversationTopic(c.p.TenantID, convID), c)
	}
}

// syncAgentConversation follows or unfollows a conversation on the agent
// stream after a lifecycle event: the agent's own active conversations are
// followed, the others not.
func (c *conn) syncAgentConversation(data []byte) {
	var f struct {
		Conversation chorus.Conversation `json:"conversation"`
	}
	if json.Unmarshal(data, &f) != nil {
		return
	}
	conv := f.Conversation
	mine := conv.Status == chorus.StatusActive && conv.AssigneeID != nil && *conv.AssigneeID == c.p.Subject
	if mine {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := c.follow(ctx, conv.ID, conv.LastSeq); err != nil {
			c.g.logger.Warn("follow conversation failed", "conn_id", c.id, "conversation_id", conv.ID, "err", err)
		}
		return
	}
	c.unfollow(conv.ID)
}

// release unsubscribes everything (after the socket closed).
func (c *conn) release() {
	c.mu.Lock()
	c.closed = true
	ids := make([]string, 0, len(c.convs))
	for id := range c.convs {
		ids = append(ids, id)
	}
	c.convs = map[string]*convState{}
	c.queue = nil
	c.preHello = nil
	c.mu.Unlock()
	for _, id := range ids {
		c.g.hub.unsubscribe(chorus.ConversationTopic(c.p.TenantID, id), c)
	}
	if c.agent {
		c.g.hub.unsubscribe(chorus.AgentsTopic(c.p.TenantID), c)
		c.g.hub.unsubscribe(chorus.AgentTopic(c.p.TenantID, c.p.Subject), c)
	}
}
