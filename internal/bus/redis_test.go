package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
)

// namedClient returns a client of the test Redis whose connections carry a
// unique CLIENT SETNAME, so a test can find its own pub/sub connection.
func namedClient(t *testing.T) (*redis.Client, string) {
	t.Helper()
	opt, err := redis.ParseURL(chorustest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	opt.ClientName = "chorustest-bus-" + chorustest.RandomSuffix(6)
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c, opt.ClientName
}

// killPubSub kills the pub/sub connection(s) named name, as a network failure
// or a Redis restart would, and returns how many it killed.
func killPubSub(t *testing.T, admin *redis.Client, name string) int {
	t.Helper()
	ctx := context.Background()
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatalf("client list: %v", err)
	}
	killed := 0
	for line := range strings.SplitSeq(strings.TrimSpace(list), "\n") {
		fields := map[string]string{}
		for f := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(f, "=")
			fields[k] = v
		}
		if fields["name"] != name || fields["sub"] == "0" {
			continue
		}
		if err := admin.Do(ctx, "CLIENT", "KILL", "ID", fields["id"]).Err(); err != nil {
			t.Fatalf("client kill: %v", err)
		}
		killed++
	}
	return killed
}

// awaitResync waits for EventResync, skipping the events before it.
func awaitResync(t *testing.T, r *recorder) {
	t.Helper()
	for {
		if ev := r.next(t); ev.Type == chorus.EventResync {
			if ev.ConversationID != "" || ev.Data != nil {
				t.Fatalf("resync carries data: %+v", ev)
			}
			return
		}
	}
}

func TestRedisCrossInstance(t *testing.T) {
	t.Parallel()
	client, prefix := chorustest.Redis(t)
	other, _ := namedClient(t)
	a := NewRedis(client, prefix, chorustest.Logger(t))
	b := NewRedis(other, prefix, chorustest.Logger(t))
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })

	ra, rb := newRecorder(), newRecorder()
	mustSubscribe(t, a, "t.a.conv.x", ra.handle)
	sb := mustSubscribe(t, b, "t.a.conv.x", rb.handle)
	mustPublish(t, a, "t.a.conv.x", msg(1))
	mustPublish(t, b, "t.a.conv.x", msg(2))
	for _, r := range []*recorder{ra, rb} {
		if got := r.next(t); got.Seq != 1 {
			t.Fatalf("got seq %d, want 1", got.Seq)
		}
		if got := r.next(t); got.Seq != 2 {
			t.Fatalf("got seq %d, want 2", got.Seq)
		}
	}
	// A different prefix is a different bus: nothing crosses.
	c := NewRedis(other, prefix+"other:", chorustest.Logger(t))
	t.Cleanup(func() { _ = c.Close() })
	rc := newRecorder()
	mustSubscribe(t, c, "t.a.conv.x", rc.handle)
	sb.Unsubscribe()
	mustPublish(t, a, "t.a.conv.x", msg(3))
	mustPublish(t, c, "t.a.conv.x", msg(4))
	if got := ra.next(t); got.Seq != 3 {
		t.Fatalf("got seq %d, want 3", got.Seq)
	}
	if got := rc.next(t); got.Seq != 4 {
		t.Fatalf("other prefix got seq %d, want 4", got.Seq)
	}
	ra.none(t)
	rb.none(t)
}

func TestRedisOneConnectionRefCountedChannels(t *testing.T) {
	t.Parallel()
	client, name := namedClient(t)
	admin, prefix := chorustest.Redis(t)
	b := NewRedis(client, prefix, chorustest.Logger(t))
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	numsub := func(topic string) int64 {
		t.Helper()
		n, err := admin.PubSubNumSub(ctx, prefix+topic).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n[prefix+topic]
	}
	var subs []chorus.Subscription
	for _, topic := range []string{"t.a.conv.1", "t.a.conv.1", "t.a.conv.2", "t.a.agents"} {
		subs = append(subs, mustSubscribe(t, b, topic, func(chorus.Event) {}))
	}
	if got := numsub("t.a.conv.1"); got != 1 {
		t.Fatalf("two local handlers: %d Redis subscribers, want 1", got)
	}
	list, err := admin.ClientList(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	conns := strings.Count(list, "name="+name+" ")
	if conns != 1 {
		t.Fatalf("%d pub/sub connections, want 1:\n%s", conns, list)
	}
	subs[0].Unsubscribe()
	mustPublish(t, b, "t.a.conv.2", msg(0)) // the UNSUBSCRIBE went out before this
	if got := numsub("t.a.conv.1"); got != 1 {
		t.Fatalf("one handler left: %d Redis subscribers, want 1", got)
	}
	subs[1].Unsubscribe()
	// UNSUBSCRIBE is written before Unsubscribe returns; wait for Redis to
	// process it.
	deadline := time.Now().Add(waitTimeout)
	for numsub("t.a.conv.1") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("channel still subscribed after its last handler left")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if got := numsub("t.a.conv.2"); got != 1 {
		t.Fatalf("other channel: %d subscribers, want 1", got)
	}
}

func TestRedisResyncAfterConnectionKilled(t *testing.T) {
	t.Parallel()
	client, name := namedClient(t)
	admin, prefix := chorustest.Redis(t)
	b := NewRedis(client, prefix, chorustest.Logger(t))
	t.Cleanup(func() { _ = b.Close() })

	r1, r2, r3 := newRecorder(), newRecorder(), newRecorder()
	mustSubscribe(t, b, "t.a.conv.x", r1.handle)
	mustSubscribe(t, b, "t.a.conv.x", r2.handle)
	mustSubscribe(t, b, "t.a.conv.y", r3.handle)
	mustPublish(t, b, "t.a.conv.x", msg(1))
	r1.next(t)
	r2.next(t)

	for round := range 2 {
		if n := killPubSub(t, admin, name); n != 1 {
			t.Fatalf("round %d: killed %d pub/sub connections, want 1", round, n)
		}
		for _, r := range []*recorder{r1, r2, r3} {
			awaitResync(t, r)
		}
		// Events flow again after the resync.
		mustPublish(t, b, "t.a.conv.x", msg(2))
		mustPublish(t, b, "t.a.conv.y", msg(3))
		if got := r1.next(t); got.Seq != 2 || got.Type != chorus.EventMessage {
			t.Fatalf("round %d: after resync got %+v", round, got)
		}
		r2.next(t)
		if got := r3.next(t); got.Seq != 3 {
			t.Fatalf("round %d: after resync got %+v", round, got)
		}
		// And new subscriptions work on the new connection.
		r4 := newRecorder()
		s := mustSubscribe(t, b, "t.a.conv.z", r4.handle)
		mustPublish(t, b, "t.a.conv.z", msg(4))
		if got := r4.next(t); got.Seq != 4 {
			t.Fatalf("round %d: new subscription got %+v", round, got)
		}
		s.Unsubscribe()
		r1.none(t)
	}
}

func TestRedisForcedReconnectResyncs(t *testing.T) {
	t.Parallel()
	b := newTestRedis(t)
	r := newRecorder()
	mustSubscribe(t, b, "t.a.conv.x", r.handle)
	b.forceReconnect()
	awaitResync(t, r)
	mustPublish(t, b, "t.a.conv.x", msg(1))
	if got := r.next(t); got.Seq != 1 {
		t.Fatalf("got %+v", got)
	}
}

func TestRedisHealthCheckPings(t *testing.T) {
	t.Parallel()
	client, prefix := chorustest.Redis(t)
	b := newRedis(client, prefix, chorustest.Logger(t), 20*time.Millisecond)
	t.Cleanup(func() { _ = b.Close() })
	r := newRecorder()
	mustSubscribe(t, b, "t.a.conv.x", r.handle)
	// An idle connection is pinged: the pongs show up as received items.
	before := b.received.Load()
	deadline := time.Now().Add(waitTimeout)
	for b.received.Load() < before+3 {
		if time.Now().After(deadline) {
			t.Fatal("no pong received on an idle connection")
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.none(t) // pongs are not events, and a healthy connection is not resynced
	mustPublish(t, b, "t.a.conv.x", msg(1))
	if got := r.next(t); got.Seq != 1 {
		t.Fatalf("got %+v", got)
	}
}

func TestRedisBadPayloadAndPanickingHandler(t *testing.T) {
	t.Parallel()
	client, prefix := chorustest.Redis(t)
	b := NewRedis(client, prefix, chorustest.Logger(t))
	t.Cleanup(func() { _ = b.Close() })
	r := newRecorder()
	panicked := make(chan struct{}, 1)
	mustSubscribe(t, b, "t.a.conv.x", func(ev chorus.Event) {
		if ev.Seq == 1 {
			panicked <- struct{}{}
			panic("handler bug")
		}
	})
	mustSubscribe(t, b, "t.a.conv.x", r.handle)
	ctx := context.Background()
	for _, garbage := range []string{"", "\x07junk", "\x01\xff"} {
		if err := client.Publish(ctx, prefix+"t.a.conv.x", garbage).Err(); err != nil {
			t.Fatal(err)
		}
	}
	mustPublish(t, b, "t.a.conv.x", msg(1))
	mustPublish(t, b, "t.a.conv.x", msg(2))
	<-panicked
	if got := r.next(t); got.Seq != 1 {
		t.Fatalf("got %+v, want seq 1 (garbage must be dropped)", got)
	}
	if got := r.next(t); got.Seq != 2 {
		t.Fatalf("got %+v, want seq 2 after a handler panicked", got)
	}
}

func TestRedisSubscribeContext(t *testing.T) {
	t.Parallel()
	b := newTestRedis(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Subscribe(ctx, "t.a.conv.x", func(chorus.Event) {}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: got %v", err)
	}

	// A topic whose confirmation is pending: the context ends first, and the
	// handler is removed again.
	b.mu.Lock()
	pending := &redisTopic{channel: b.prefix + "t.a.conv.pending", ready: make(chan struct{})}
	b.topics[pending.channel] = pending
	b.mu.Unlock()
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := b.Subscribe(ctx, "t.a.conv.pending", func(chorus.Event) {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("pending confirmation: got %v", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if n := len(pending.handlers); n != 0 {
		t.Fatalf("%d handlers left after a failed Subscribe", n)
	}
}

func TestRedisCloseWakesPendingSubscribe(t *testing.T) {
	t.Parallel()
	b := newTestRedis(t)
	b.mu.Lock()
	pending := &redisTopic{channel: b.prefix + "t.a.conv.pending", ready: make(chan struct{})}
	b.topics[pending.channel] = pending
	b.mu.Unlock()
	errc := make(chan error, 1)
	go func() {
		_, err := b.Subscribe(context.Background(), "t.a.conv.pending", func(chorus.Event) {})
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("got %v, want ErrClosed", err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Close did not wake a pending Subscribe")
	}
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	b := NewRedis(client, "x:", chorustest.Logger(t))
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	if err := b.Publish(ctx, "t.a.conv.x", msg(1)); err == nil || !strings.HasPrefix(err.Error(), "bus: publish event:") {
		t.Fatalf("publish: got %v", err)
	}
	if _, err := b.Subscribe(ctx, "t.a.conv.x", func(chorus.Event) {}); err == nil {
		t.Fatal("subscribe to an unreachable Redis succeeded")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.topics) != 0 {
		t.Fatalf("failed subscribe left topics: %v", b.topics)
	}
}

// TestRedisPublishBatches: concurrent Publish calls share pipelines, and
// each publisher's events still arrive complete and in its order.
func TestRedisPublishBatches(t *testing.T) {
	t.Parallel()
	client, prefix := chorustest.Redis(t)
	b := NewRedis(client, prefix, chorustest.Logger(t))
	t.Cleanup(func() { _ = b.Close() })
	const publishers, each = 32, 50
	recs := make([]*recorder, publishers)
	for i := range recs {
		recs[i] = newRecorder()
		mustSubscribe(t, b, fmt.Sprintf("t.a.conv.%d", i), recs[i].handle)
	}
	var wg sync.WaitGroup
	for i := range publishers {
		wg.Go(func() {
			for n := range each {
				if err := b.Publish(context.Background(), fmt.Sprintf("t.a.conv.%d", i), msg(int64(n+1))); err != nil {
					t.Errorf("publish: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, r := range recs {
		for n := range each {
			if got := r.next(t); got.Seq != int64(n+1) {
				t.Fatalf("publisher %d: event %d has seq %d", i, n+1, got.Seq)
			}
		}
	}
	if b.batches.Load() == 0 {
		t.Errorf("%d concurrent publishers never shared a pipeline", publishers)
	}
	// After Close, Publish fails at once.
	_ = b.Close()
	if err := b.Publish(context.Background(), "t.a.conv.0", msg(1)); !errors.Is(err, ErrClosed) {
		t.Errorf("publish after close: %v", err)
	}
}
