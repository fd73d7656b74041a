package bus

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
)

const waitTimeout = 10 * time.Second

// recorder is a non-blocking handler that keeps what it receives.
type recorder struct {
	ch chan chorus.Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan chorus.Event, 10000)} }

func (r *recorder) handle(ev chorus.Event) {
	select {
	case r.ch <- ev:
	default:
		panic("recorder full")
	}
}

// next waits for the next event.
func (r *recorder) next(t *testing.T) chorus.Event {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(waitTimeout):
		t.Fatal("no event received")
		return chorus.Event{}
	}
}

// none asserts nothing has been received.
func (r *recorder) none(t *testing.T) {
	t.Helper()
	select {
	case ev := <-r.ch:
		t.Fatalf("unexpected event %+v", ev)
	default:
	}
}

func mustSubscribe(t *testing.T, b chorus.Bus, topic string, h chorus.Handler) chorus.Subscription {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	s, err := b.Subscribe(ctx, topic, h)
	if err != nil {
		t.Fatalf("subscribe %s: %v", topic, err)
	}
	return s
}

func mustPublish(t *testing.T, b chorus.Bus, topic string, ev chorus.Event) {
	t.Helper()
	if err := b.Publish(context.Background(), topic, ev); err != nil {
		t.Fatalf("publish %s: %v", topic, err)
	}
}

func equalEvent(a, b chorus.Event) bool {
	return a.Type == b.Type && a.ConversationID == b.ConversationID && a.Seq == b.Seq &&
		a.Origin == b.Origin && bytes.Equal(a.Data, b.Data)
}

func msg(seq int64) chorus.Event {
	return chorus.Event{Type: chorus.EventMessage, ConversationID: "c1", Seq: seq,
		Data: fmt.Appendf(nil, `{"type":"message","seq":%d}`, seq)}
}

// testBus is the conformance suite every chorus.Bus passes.
func testBus(t *testing.T, newBus func(t *testing.T) chorus.Bus) {
	t.Run("PublishReachesSubscriber", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		r := newRecorder()
		mustSubscribe(t, b, "t.a.conv.x", r.handle)
		want := chorus.Event{Type: chorus.EventTyping, ConversationID: "x", Seq: -3, Origin: "conn-7",
			Data: []byte(`{"type":"typing","user":"é"}`)}
		mustPublish(t, b, "t.a.conv.x", want)
		if got := r.next(t); !equalEvent(got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	})

	t.Run("PublishWithoutSubscribers", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		mustPublish(t, b, "t.a.conv.nobody", msg(1))
	})

	t.Run("OrderPerPublisher", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		r := newRecorder()
		mustSubscribe(t, b, "t.a.conv.x", r.handle)
		const n = 300
		for i := range int64(n) {
			mustPublish(t, b, "t.a.conv.x", msg(i))
		}
		for i := range int64(n) {
			if got := r.next(t); got.Seq != i || !bytes.Equal(got.Data, msg(i).Data) {
				t.Fatalf("event %d: got seq %d data %s", i, got.Seq, got.Data)
			}
		}
	})

	t.Run("ManySubscribers", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		rs := make([]*recorder, 8)
		subs := make([]chorus.Subscription, len(rs))
		for i := range rs {
			rs[i] = newRecorder()
			subs[i] = mustSubscribe(t, b, "t.a.conv.x", rs[i].handle)
		}
		mustPublish(t, b, "t.a.conv.x", msg(1))
		for _, r := range rs {
			if got := r.next(t); got.Seq != 1 {
				t.Fatalf("got seq %d", got.Seq)
			}
		}
		// Half leave; the others still receive, once each.
		for i := 0; i < len(rs); i += 2 {
			subs[i].Unsubscribe()
		}
		mustPublish(t, b, "t.a.conv.x", msg(2))
		mustPublish(t, b, "t.a.conv.y", msg(99)) // other topic, as a barrier below
		for i := 1; i < len(rs); i += 2 {
			if got := rs[i].next(t); got.Seq != 2 {
				t.Fatalf("subscriber %d: got seq %d", i, got.Seq)
			}
		}
		w := newRecorder()
		mustSubscribe(t, b, "t.a.conv.x", w.handle)
		mustPublish(t, b, "t.a.conv.x", msg(3))
		w.next(t)
		for i, r := range rs {
			if i%2 == 0 {
				r.none(t)
				continue
			}
			if got := r.next(t); got.Seq != 3 {
				t.Fatalf("subscriber %d: got seq %d, want 3", i, got.Seq)
			}
			r.none(t)
		}
	})

	t.Run("UnsubscribeStopsDeliveryAndIsIdempotent", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		r := newRecorder()
		s := mustSubscribe(t, b, "t.a.conv.x", r.handle)
		mustPublish(t, b, "t.a.conv.x", msg(1))
		r.next(t)
		s.Unsubscribe()
		s.Unsubscribe()
		mustPublish(t, b, "t.a.conv.x", msg(2))
		// A new subscriber on the same topic is a barrier: it receives the
		// next event, so by then the old one would have received it too.
		w := newRecorder()
		s2 := mustSubscribe(t, b, "t.a.conv.x", w.handle)
		mustPublish(t, b, "t.a.conv.x", msg(3))
		if got := w.next(t); got.Seq != 3 {
			t.Fatalf("witness got seq %d, want 3", got.Seq)
		}
		r.none(t)
		s2.Unsubscribe()
		s.Unsubscribe()
		s2.Unsubscribe()
	})

	t.Run("TopicsAreTenantIsolated", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		ra, rb := newRecorder(), newRecorder()
		mustSubscribe(t, b, chorus.ConversationTopic("a", "x"), ra.handle)
		mustSubscribe(t, b, chorus.ConversationTopic("b", "x"), rb.handle)
		mustPublish(t, b, "t.a.conv.x", msg(1))
		mustPublish(t, b, "t.b.conv.x", msg(2))
		if got := ra.next(t); got.Seq != 1 {
			t.Fatalf("tenant a got seq %d", got.Seq)
		}
		if got := rb.next(t); got.Seq != 2 {
			t.Fatalf("tenant b got seq %d, want 2 (a's event leaked?)", got.Seq)
		}
		mustPublish(t, b, "t.a.conv.x", msg(3))
		if got := ra.next(t); got.Seq != 3 {
			t.Fatalf("tenant a got seq %d", got.Seq)
		}
		ra.none(t)
		rb.none(t)
	})

	t.Run("SubscribeThenPublishNeverLoses", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		r := newRecorder()
		for i := range 1000 {
			topic := fmt.Sprintf("t.a.conv.fresh-%d", i)
			s := mustSubscribe(t, b, topic, r.handle)
			mustPublish(t, b, topic, msg(int64(i)))
			select {
			case ev := <-r.ch:
				if ev.Seq != int64(i) {
					t.Fatalf("iteration %d: got seq %d", i, ev.Seq)
				}
			case <-time.After(waitTimeout):
				t.Fatalf("iteration %d: event published after Subscribe returned was lost", i)
			}
			s.Unsubscribe()
		}
	})

	t.Run("ConcurrentPublishSubscribe", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		const publishers, perPublisher = 4, 200
		// A stable subscriber checks every publisher's order.
		var mu sync.Mutex
		lastSeq := make(map[string]int64)
		var orderErr error
		got := make(chan struct{}, publishers*perPublisher)
		mustSubscribe(t, b, "t.a.conv.hot", func(ev chorus.Event) {
			mu.Lock()
			if prev, ok := lastSeq[ev.Origin]; ok && ev.Seq != prev+1 && orderErr == nil {
				orderErr = fmt.Errorf("publisher %s: seq %d after %d", ev.Origin, ev.Seq, prev)
			}
			lastSeq[ev.Origin] = ev.Seq
			mu.Unlock()
			got <- struct{}{}
		})
		ctx, cancel := context.WithCancel(context.Background())
		var churn sync.WaitGroup
		for g := range 4 {
			churn.Go(func() {
				for i := 0; ctx.Err() == nil; i++ {
					topic := "t.a.conv.hot"
					if i%2 == 1 {
						topic = fmt.Sprintf("t.a.conv.churn-%d-%d", g, i%5)
					}
					s, err := b.Subscribe(ctx, topic, func(chorus.Event) {})
					if err != nil {
						if ctx.Err() != nil {
							return
						}
						t.Errorf("subscribe: %v", err)
						return
					}
					s.Unsubscribe()
				}
			})
		}
		var pubs sync.WaitGroup
		for p := range publishers {
			pubs.Go(func() {
				origin := fmt.Sprintf("p%d", p)
				for i := range int64(perPublisher) {
					ev := msg(i)
					ev.Origin = origin
					if err := b.Publish(context.Background(), "t.a.conv.hot", ev); err != nil {
						t.Errorf("publish: %v", err)
						return
					}
				}
			})
		}
		pubs.Wait()
		for i := range publishers * perPublisher {
			select {
			case <-got:
			case <-time.After(waitTimeout):
				t.Fatalf("received %d of %d events", i, publishers*perPublisher)
			}
		}
		cancel()
		churn.Wait()
		mu.Lock()
		defer mu.Unlock()
		if orderErr != nil {
			t.Fatal(orderErr)
		}
		for p := range publishers {
			if s := lastSeq[fmt.Sprintf("p%d", p)]; s != perPublisher-1 {
				t.Fatalf("publisher %d: last seq %d", p, s)
			}
		}
	})

	t.Run("NilHandler", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		_, err := b.Subscribe(context.Background(), "t.a.conv.x", nil)
		if chorus.ErrorCode(err) != chorus.EINVALID {
			t.Fatalf("got %v, want %s", err, chorus.EINVALID)
		}
	})

	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		b := newBus(t)
		r := newRecorder()
		s := mustSubscribe(t, b, "t.a.conv.x", r.handle)
		if err := b.Close(); err != nil {
			t.Fatalf("close: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
		if err := b.Publish(context.Background(), "t.a.conv.x", msg(1)); !errors.Is(err, ErrClosed) {
			t.Fatalf("publish after close: %v, want ErrClosed", err)
		}
		if _, err := b.Subscribe(context.Background(), "t.a.conv.x", r.handle); !errors.Is(err, ErrClosed) {
			t.Fatalf("subscribe after close: %v, want ErrClosed", err)
		}
		s.Unsubscribe() // after Close: harmless
		r.none(t)
	})
}

func TestMemory(t *testing.T) {
	t.Parallel()
	testBus(t, func(t *testing.T) chorus.Bus {
		b := NewMemory()
		t.Cleanup(func() { _ = b.Close() })
		return b
	})
}

func TestRedis(t *testing.T) {
	t.Parallel()
	testBus(t, func(t *testing.T) chorus.Bus { return newTestRedis(t) })
}

func newTestRedis(t *testing.T) *Redis {
	t.Helper()
	client, prefix := chorustest.Redis(t)
	b := NewRedis(client, prefix, chorustest.Logger(t))
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestMemoryUnsubscribedDuringPublish(t *testing.T) {
	t.Parallel()
	b := NewMemory()
	var second chorus.Subscription
	calls := 0
	mustSubscribe(t, b, "t.a.conv.x", func(chorus.Event) { second.Unsubscribe() })
	second = mustSubscribe(t, b, "t.a.conv.x", func(chorus.Event) { calls++ })
	mustPublish(t, b, "t.a.conv.x", msg(1))
	if calls != 0 {
		t.Fatalf("handler unsubscribed earlier in the same Publish was called %d times", calls)
	}
}
