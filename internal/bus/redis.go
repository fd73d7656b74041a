package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/enkisys/chorus/internal/chorus"
)

// Defaults of the Redis bus.
const (
	// HealthCheckIntervalDefault is how long the pub/sub connection may stay
	// silent before the bus pings Redis; a ping still unanswered one interval
	// later forces a reconnect (a half-open TCP connection is otherwise only
	// noticed by the kernel many minutes later).
	HealthCheckIntervalDefault = 15 * time.Second
	// commandTimeout bounds SUBSCRIBE/UNSUBSCRIBE/PING writes.
	commandTimeout = 5 * time.Second
)

// Redis is a Bus over Redis pub/sub, for roles split across processes.
//
// It holds ONE pub/sub connection per process. Topics are reference-counted:
// the channel (prefix + topic) is subscribed when its first local handler
// arrives and unsubscribed when the last one leaves. One goroutine receives
// from the connection and calls the handlers, in the order Redis delivers
// (publish order per publisher).
//
// Subscribe returns once Redis has confirmed the subscription, so an event
// published after it returns is delivered. When the connection drops,
// go-redis reconnects and subscribes again to every channel; the bus sees
// the confirmation of a channel that was already confirmed and delivers
// Event{Type: chorus.EventResync} to that channel's handlers, after which
// events flow again: subscribers catch up from the database.
type Redis struct {
	client *redis.Client
	prefix string
	logger *slog.Logger
	ps     *redis.PubSub

	mu     sync.Mutex
	topics map[string]*redisTopic // by channel name
	// expect counts, per channel, the SUBSCRIBE commands sent whose
	// confirmation has not been received yet. A confirmation that nobody
	// expects is go-redis subscribing again after a reconnect.
	expect map[string]int
	closed bool

	done     chan struct{} // closed by Close
	loopDone chan struct{} // closed when the receive loop returns
	received atomic.Uint64 // items read by the receive loop (health check)
	interval time.Duration

	pubq    chan *publishReq // Publish → publisher
	pubDone chan struct{}    // closed when the publisher returns
	// pubCtx bounds the publisher's round trips; Close cancels it, so a
	// Redis that does not answer cannot hold Close up.
	pubCtx    context.Context
	pubCancel context.CancelFunc
	reqPool   sync.Pool
	batches   atomic.Uint64 // pipelines of more than one event (tests)
}

var _ chorus.Bus = (*Redis)(nil)

type redisTopic struct {
	channel   string
	handlers  []*redisSub // copy-on-write: never mutated once set
	confirmed bool
	ready     chan struct{} // closed on confirmation
}

type redisSub struct {
	b       *Redis
	t       *redisTopic
	h       chorus.Handler
	removed bool // guarded by b.mu
}

// NewRedis returns a bus over client's Redis; channel names are prefix +
// topic. It starts the receive loop at once; Close stops it. The client
// remains the caller's to close.
func NewRedis(client *redis.Client, prefix string, logger *slog.Logger) *Redis {
	return newRedis(client, prefix, logger, HealthCheckIntervalDefault)
}

func newRedis(client *redis.Client, prefix string, logger *slog.Logger, interval time.Duration) *Redis {
	b := &Redis{
		client:   client,
		prefix:   prefix,
		logger:   logger,
		ps:       client.Subscribe(context.Background()), // connects lazily
		topics:   make(map[string]*redisTopic),
		expect:   make(map[string]int),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		interval: interval,
	}
	b.pubq = make(chan *publishReq, maxPublishBatch)
	b.pubDone = make(chan struct{})
	b.pubCtx, b.pubCancel = context.WithCancel(context.Background())
	b.reqPool.New = func() any { return &publishReq{payload: make([]byte, 0, 512), done: make(chan error, 1)} }
	go b.publisher()
	go b.receive()
	go b.healthCheck()
	return b
}

// Publish sends ev to every subscriber of topic, in every process. It
// returns once Redis has taken the event (or refused it). Concurrent calls
// share round trips: one goroutine sends every event waiting at that moment
// as one pipeline, in the order the calls queued, so a busy process writes
// to Redis once per batch instead of once per event.
func (b *Redis) Publish(ctx context.Context, topic string, ev chorus.Event) error {
	select {
	case <-b.done:
		return ErrClosed
	default:
	}
	r := b.reqPool.Get().(*publishReq)
	r.channel = b.prefix + topic
	r.payload = appendEvent(r.payload[:0], ev)
	select {
	case b.pubq <- r:
	case <-ctx.Done():
		b.reqPool.Put(r)
		return fmt.Errorf("bus: publish event: %w", ctx.Err())
	case <-b.done:
		return ErrClosed
	}
	var err error
	select {
	case err = <-r.done:
	case <-b.pubDone:
		// Closed: the publisher answered r before it returned, or never saw it.
		select {
		case err = <-r.done:
		default:
			return ErrClosed
		}
	case <-ctx.Done():
		// The publisher may still hold r: leave it to the collector.
		return fmt.Errorf("bus: publish event: %w", ctx.Err())
	}
	if cap(r.payload) <= 64<<10 {
		b.reqPool.Put(r)
	}
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return err
		}
		return fmt.Errorf("bus: publish event: %w", err)
	}
	return nil
}

// publishReq is one queued Publish: the channel, the encoded event, and
// where the publisher reports the outcome.
type publishReq struct {
	channel string
	payload []byte
	done    chan error // buffered: the publisher never blocks on it
}

// maxPublishBatch bounds the events sent in one pipeline.
const maxPublishBatch = 256

// publisher is the one goroutine that writes Publish calls to Redis: it
// takes the first waiting request, every other one already queued (up to
// maxPublishBatch), sends them in one round trip and answers each. After
// Close it answers what is still queued with ErrClosed.
func (b *Redis) publisher() {
	defer close(b.pubDone)
	batch := make([]*publishReq, 0, maxPublishBatch)
	for {
		select {
		case r := <-b.pubq:
			batch = append(batch, r)
		case <-b.done:
			for {
				select {
				case r := <-b.pubq:
					r.done <- ErrClosed
				default:
					return
				}
			}
		}
	fill:
		for len(batch) < maxPublishBatch {
			select {
			case r := <-b.pubq:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		b.send(batch)
		clear(batch)
		batch = batch[:0]
	}
}

// send writes batch to Redis, one PUBLISH per request, and answers each.
func (b *Redis) send(batch []*publishReq) {
	ctx, cancel := context.WithTimeout(b.pubCtx, commandTimeout)
	defer cancel()
	if len(batch) == 1 {
		batch[0].done <- b.client.Publish(ctx, batch[0].channel, batch[0].payload).Err()
		return
	}
	cmds, err := b.client.Pipelined(ctx, func(p redis.Pipeliner) error {
		for _, r := range batch {
			p.Publish(ctx, r.channel, r.payload)
		}
		return nil
	})
	b.batches.Add(1)
	for i, r := range batch {
		if i < len(cmds) {
			r.done <- cmds[i].Err()
		} else {
			r.done <- err
		}
	}
}

// Subscribe registers h for topic and returns once Redis has confirmed the
// channel subscription (at once when another local handler already holds
// it). If ctx ends first, the handler is removed and ctx's error returned.
func (b *Redis) Subscribe(ctx context.Context, topic string, h chorus.Handler) (chorus.Subscription, error) {
	if h == nil {
		return nil, chorus.Errorf(chorus.EINVALID, "bus: subscribe: nil handler")
	}
	channel := b.prefix + topic

	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil, ErrClosed
	}
	t := b.topics[channel]
	if t == nil {
		t = &redisTopic{channel: channel, ready: make(chan struct{})}
		// The command goes out under b.mu so that SUBSCRIBE and UNSUBSCRIBE
		// of one channel reach Redis in the order of our bookkeeping, and the
		// receive loop cannot see the confirmation before expect counts it.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commandTimeout)
		err := b.ps.Subscribe(cctx, channel)
		cancel()
		if err != nil {
			// go-redis remembers the channel even when the write failed: drop
			// it, or a reconnect would subscribe a channel nobody wants.
			b.unsubscribeLocked(channel)
			b.mu.Unlock()
			return nil, fmt.Errorf("bus: subscribe %s: %w", topic, err)
		}
		b.expect[channel]++
		b.topics[channel] = t
	}
	s := &redisSub{b: b, t: t, h: h}
	hs := make([]*redisSub, len(t.handlers), len(t.handlers)+1)
	copy(hs, t.handlers)
	t.handlers = append(hs, s)
	ready := t.ready
	b.mu.Unlock()

	select {
	case <-ready:
		return s, nil
	case <-ctx.Done():
		s.Unsubscribe()
		return nil, fmt.Errorf("bus: subscribe %s: %w", topic, ctx.Err())
	case <-b.done:
		return nil, ErrClosed
	}
}

// unsubscribeLocked sends UNSUBSCRIBE for channel; b.mu is held.
func (b *Redis) unsubscribeLocked(channel string) {
	ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
	defer cancel()
	if err := b.ps.Unsubscribe(ctx, channel); err != nil && !b.closed {
		// go-redis has forgotten the channel already: a reconnect will not
		// subscribe it again, and a stray message finds no topic.
		b.logger.Warn("bus unsubscribe failed", "channel", channel, "error", err)
	}
}

// Unsubscribe stops delivery to the handler; the channel is unsubscribed
// when its last local handler leaves. It is safe to call twice.
func (s *redisSub) Unsubscribe() {
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.removed {
		return
	}
	s.removed = true
	t := s.t
	hs := make([]*redisSub, 0, len(t.handlers))
	for _, o := range t.handlers {
		if o != s {
			hs = append(hs, o)
		}
	}
	t.handlers = hs
	if len(hs) > 0 || b.topics[t.channel] != t {
		return
	}
	delete(b.topics, t.channel)
	if !b.closed {
		b.unsubscribeLocked(t.channel)
	}
}

// Close stops the receive loop and closes the pub/sub connection. Later
// Publish and Subscribe calls return ErrClosed. It is safe to call twice.
func (b *Redis) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.loopDone
		return nil
	}
	b.closed = true
	close(b.done)
	b.pubCancel()
	clear(b.topics)
	b.mu.Unlock()
	err := b.ps.Close()
	<-b.loopDone
	<-b.pubDone
	if err != nil {
		return fmt.Errorf("bus: close pubsub: %w", err)
	}
	return nil
}

// receive is the one goroutine reading the pub/sub connection.
func (b *Redis) receive() {
	defer close(b.loopDone)
	failures := 0
	for {
		msg, err := b.ps.Receive(context.Background())
		if err != nil {
			select {
			case <-b.done:
				return
			default:
			}
			// go-redis has dropped the connection; the next Receive dials
			// again and resubscribes every channel.
			failures++
			if failures == 1 {
				b.logger.Warn("bus connection lost, reconnecting", "error", err)
			}
			backoff := min(time.Duration(failures)*100*time.Millisecond, 2*time.Second)
			select {
			case <-b.done:
				return
			case <-time.After(backoff):
			}
			continue
		}
		if failures > 0 {
			b.logger.Info("bus connection restored", "failures", failures)
			failures = 0
		}
		b.received.Add(1)
		switch m := msg.(type) {
		case *redis.Message:
			b.dispatch(m)
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				b.confirmed(m.Channel)
			}
		}
	}
}

// confirmed handles Redis's confirmation of a SUBSCRIBE for channel.
func (b *Redis) confirmed(channel string) {
	b.mu.Lock()
	if n := b.expect[channel]; n > 0 {
		// Ours. With several SUBSCRIBEs in flight (unsubscribed and
		// subscribed again meanwhile), the topic is live at the last one.
		if n == 1 {
			delete(b.expect, channel)
		} else {
			b.expect[channel] = n - 1
		}
		t := b.topics[channel]
		if n == 1 && t != nil && !t.confirmed {
			t.confirmed = true
			close(t.ready)
		}
		b.mu.Unlock()
		return
	}
	// Nobody asked: go-redis subscribed again after a reconnect. Events
	// published while the connection was down are lost.
	t := b.topics[channel]
	if t == nil {
		b.mu.Unlock()
		return
	}
	if !t.confirmed {
		// Our own SUBSCRIBE was lost with the old connection; this one
		// stands for it.
		t.confirmed = true
		close(t.ready)
		b.mu.Unlock()
		return
	}
	hs := t.handlers
	b.mu.Unlock()
	b.logger.Info("bus resubscribed, resyncing", "channel", channel)
	b.call(hs, chorus.Event{Type: chorus.EventResync})
}

func (b *Redis) dispatch(m *redis.Message) {
	b.mu.Lock()
	t := b.topics[m.Channel]
	var hs []*redisSub
	if t != nil {
		hs = t.handlers
	}
	b.mu.Unlock()
	if len(hs) == 0 {
		return
	}
	ev, err := decodeEvent(m.Payload)
	if err != nil {
		b.logger.Warn("bus event dropped", "channel", m.Channel, "error", err)
		return
	}
	b.call(hs, ev)
}

// call runs the handlers; a panicking handler is logged, not fatal to the
// receive loop.
func (b *Redis) call(hs []*redisSub, ev chorus.Event) {
	for _, s := range hs {
		b.callOne(s.h, ev)
	}
}

func (b *Redis) callOne(h chorus.Handler, ev chorus.Event) {
	defer func() {
		if r := recover(); r != nil {
			b.logger.Error("bus handler panicked", "event_type", ev.Type, "panic", fmt.Sprint(r))
		}
	}()
	h(ev)
}

// healthCheck pings Redis when the connection has been silent for an
// interval, and forces a reconnect when the ping is still unanswered one
// interval later.
func (b *Redis) healthCheck() {
	ticker := time.NewTicker(b.interval)
	defer ticker.Stop()
	last := b.received.Load()
	pinged := false
	for {
		select {
		case <-b.done:
			return
		case <-ticker.C:
		}
		if n := b.received.Load(); n != last {
			last, pinged = n, false
			continue
		}
		if pinged {
			b.logger.Warn("bus ping unanswered, reconnecting")
			b.forceReconnect()
			pinged = false
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), commandTimeout)
		pinged = b.ps.Ping(ctx) == nil
		cancel()
	}
}

// forceReconnect makes go-redis drop the pub/sub connection: a write whose
// deadline has passed fails with a timeout, which go-redis treats as a bad
// connection (it closes it, dials again and resubscribes).
func (b *Redis) forceReconnect() {
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	err := b.ps.Ping(ctx)
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		b.logger.Debug("bus forced reconnect", "error", err)
	}
}
