// Package bus implements chorus.Bus: Memory, in-process, for a single-process
// deployment (every role in one binary), and Redis, over Redis pub/sub, for
// roles split across processes.
package bus

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/enkisys/chorus/internal/chorus"
)

// ErrClosed is returned by Publish and Subscribe after Close.
var ErrClosed = errors.New("bus: closed")

// Memory is a process-local Bus. Publish calls the topic's handlers
// synchronously on the publishing goroutine (handlers never block, by
// contract), so delivery is in publish order per publisher. It is only
// correct when every role runs in one process; use Redis for split roles.
//
// Publish is lock-free: the topic → handlers index is a sync.Map whose values
// are immutable slices, replaced (copy-on-write) under a mutex by Subscribe
// and Unsubscribe.
type Memory struct {
	mu     sync.Mutex // serialises writers of topics
	topics sync.Map   // string → []*memorySub (never mutated once stored)
	closed atomic.Bool
}

var _ chorus.Bus = (*Memory)(nil)

// NewMemory returns an empty in-process bus.
func NewMemory() *Memory { return &Memory{} }

type memorySub struct {
	m     *Memory
	topic string
	h     chorus.Handler
	done  atomic.Bool
}

// Publish calls every current handler of topic with ev before it returns.
func (m *Memory) Publish(_ context.Context, topic string, ev chorus.Event) error {
	if m.closed.Load() {
		return ErrClosed
	}
	v, ok := m.topics.Load(topic)
	if !ok {
		return nil
	}
	for _, s := range v.([]*memorySub) {
		if !s.done.Load() {
			s.h(ev)
		}
	}
	return nil
}

// Subscribe registers h for topic; it is active when Subscribe returns.
func (m *Memory) Subscribe(_ context.Context, topic string, h chorus.Handler) (chorus.Subscription, error) {
	if h == nil {
		return nil, chorus.Errorf(chorus.EINVALID, "bus: subscribe: nil handler")
	}
	s := &memorySub{m: m, topic: topic, h: h}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed.Load() {
		return nil, ErrClosed
	}
	var subs []*memorySub
	if v, ok := m.topics.Load(topic); ok {
		subs = v.([]*memorySub)
	}
	next := make([]*memorySub, len(subs), len(subs)+1)
	copy(next, subs)
	m.topics.Store(topic, append(next, s))
	return s, nil
}

// Unsubscribe stops delivery to the handler; it is safe to call twice.
func (s *memorySub) Unsubscribe() {
	if s.done.Swap(true) {
		return
	}
	m := s.m
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.topics.Load(s.topic)
	if !ok {
		return
	}
	subs := v.([]*memorySub)
	next := make([]*memorySub, 0, len(subs))
	for _, o := range subs {
		if o != s {
			next = append(next, o)
		}
	}
	if len(next) == 0 {
		m.topics.Delete(s.topic)
		return
	}
	m.topics.Store(s.topic, next)
}

// Close drops every subscription; later Publish and Subscribe calls return
// ErrClosed. It is safe to call twice.
func (m *Memory) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed.Store(true)
	m.topics.Range(func(k, v any) bool {
		for _, s := range v.([]*memorySub) {
			s.done.Store(true)
		}
		m.topics.Delete(k)
		return true
	})
	return nil
}
