package gateway

import (
	"context"
	"sync"

	"github.com/enkisys/chorus/internal/chorus"
)

// hub keeps one bus subscription per topic for all local connections
// (ref-counted), and fans each event out to them.
type hub struct {
	bus     chorus.Bus
	observe func(chorus.Event) // called once per event received, for metrics
	mu      sync.Mutex
	topics  map[string]*topicEntry
}

type topicEntry struct {
	h     *hub
	mu    sync.RWMutex
	conns map[*conn]struct{}
	ready chan struct{} // closed once the bus subscription is active (or failed)
	err   error
	sub   chorus.Subscription
}

func newHub(bus chorus.Bus) *hub {
	return &hub{bus: bus, topics: map[string]*topicEntry{}}
}

// subscribe adds c to topic and returns once the bus subscription is active.
func (h *hub) subscribe(ctx context.Context, topic string, c *conn) error {
	h.mu.Lock()
	e, ok := h.topics[topic]
	if !ok {
		e = &topicEntry{h: h, conns: map[*conn]struct{}{}, ready: make(chan struct{})}
		h.topics[topic] = e
	}
	e.mu.Lock()
	e.conns[c] = struct{}{}
	e.mu.Unlock()
	h.mu.Unlock()
	if !ok {
		sub, err := h.bus.Subscribe(ctx, topic, e.dispatch)
		e.sub, e.err = sub, err
		close(e.ready)
	}
	select {
	case <-e.ready:
	case <-ctx.Done():
		h.unsubscribe(topic, c)
		return ctx.Err()
	}
	if e.err != nil {
		h.unsubscribe(topic, c)
		return e.err
	}
	return nil
}

// unsubscribe removes c from topic; the last one out ends the bus subscription.
func (h *hub) unsubscribe(topic string, c *conn) {
	h.mu.Lock()
	e, ok := h.topics[topic]
	if !ok {
		h.mu.Unlock()
		return
	}
	e.mu.Lock()
	delete(e.conns, c)
	empty := len(e.conns) == 0
	e.mu.Unlock()
	if !empty {
		h.mu.Unlock()
		return
	}
	delete(h.topics, topic)
	h.mu.Unlock()
	go func() {
		<-e.ready
		if e.sub != nil {
			e.sub.Unsubscribe()
		}
	}()
}

func (e *topicEntry) dispatch(ev chorus.Event) {
	if e.h.observe != nil {
		e.h.observe(ev)
	}
	e.mu.RLock()
	defer e.mu.RUnlock()
	for c := range e.conns {
		c.onEvent(ev)
	}
}

// topicCount is the number of topics with local subscribers.
func (h *hub) topicCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.topics)
}
