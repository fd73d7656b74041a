package ratelimit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
)

func allow(t *testing.T, rl chorus.RateLimiter, key string, l chorus.Limit) (bool, time.Duration) {
	t.Helper()
	ok, retry, err := rl.Allow(context.Background(), key, l)
	if err != nil {
		t.Fatalf("allow %s: %v", key, err)
	}
	if ok && retry != 0 {
		t.Fatalf("allowed with retry-after %s", retry)
	}
	return ok, retry
}

// exhaust takes burst tokens, which must all be granted, then checks the
// next call is refused and returns its retry-after.
func exhaust(t *testing.T, rl chorus.RateLimiter, key string, l chorus.Limit) time.Duration {
	t.Helper()
	for i := range l.Burst {
		if ok, _ := allow(t, rl, key, l); !ok {
			t.Fatalf("%s: call %d of a burst of %d refused", key, i+1, l.Burst)
		}
	}
	ok, retry := allow(t, rl, key, l)
	if ok {
		t.Fatalf("%s: call %d allowed beyond a burst of %d", key, l.Burst+1, l.Burst)
	}
	return retry
}

// testLimiter is the conformance suite every chorus.RateLimiter passes.
func testLimiter(t *testing.T, newLimiter func(t *testing.T) chorus.RateLimiter) {
	t.Run("BurstThenRefusedWithRetryAfter", func(t *testing.T) {
		t.Parallel()
		rl := newLimiter(t)
		l := chorus.Limit{Rate: 5, Per: time.Minute, Burst: 3}
		retry := exhaust(t, rl, "k", l)
		// One token every 12 s; the wait is positive and at most that.
		if retry <= 0 || retry > 12*time.Second {
			t.Fatalf("retry-after %s, want in (0, 12s]", retry)
		}
		if retry < 11*time.Second {
			t.Fatalf("retry-after %s, want about 12s", retry)
		}
		ok, retry2 := allow(t, rl, "k", l)
		if ok || retry2 <= 0 || retry2 > retry {
			t.Fatalf("second refusal: ok=%v retry-after %s (first %s)", ok, retry2, retry)
		}
	})

	t.Run("RefillAfterPeriod", func(t *testing.T) {
		t.Parallel()
		rl := newLimiter(t)
		l := chorus.Limit{Rate: 1, Per: 150 * time.Millisecond, Burst: 2}
		retry := exhaust(t, rl, "k", l)
		if retry <= 0 || retry > l.Per {
			t.Fatalf("retry-after %s, want in (0, %s]", retry, l.Per)
		}
		time.Sleep(retry + 20*time.Millisecond)
		if ok, _ := allow(t, rl, "k", l); !ok {
			t.Fatal("refused after waiting the retry-after")
		}
		if ok, _ := allow(t, rl, "k", l); ok {
			t.Fatal("one period refilled more than one token")
		}
		// A full refill gives the whole burst again.
		time.Sleep(time.Duration(l.Burst)*l.Per + 20*time.Millisecond)
		exhaust(t, rl, "k", l)
	})

	t.Run("KeysAreIndependent", func(t *testing.T) {
		t.Parallel()
		rl := newLimiter(t)
		l := chorus.Limit{Rate: 1, Per: time.Hour, Burst: 2}
		exhaust(t, rl, "ip:10.0.0.1", l)
		exhaust(t, rl, "ip:10.0.0.2", l)
		if ok, _ := allow(t, rl, "ip:10.0.0.1", l); ok {
			t.Fatal("exhausted key allowed again")
		}
	})

	t.Run("DifferentLimitsPerKeyName", func(t *testing.T) {
		t.Parallel()
		rl := newLimiter(t)
		sessions := chorus.Limit{Rate: 1, Per: time.Hour, Burst: 1}
		messages := chorus.Limit{Rate: 10, Per: time.Second, Burst: 5}
		exhaust(t, rl, "session:1.2.3.4", sessions)
		retry := exhaust(t, rl, "msg:user-1", messages)
		if retry > 100*time.Millisecond {
			t.Fatalf("message limit retry-after %s, want <= 100ms", retry)
		}
		_, retry = allow(t, rl, "session:1.2.3.4", sessions)
		if retry < 59*time.Minute {
			t.Fatalf("session limit retry-after %s, want about 1h", retry)
		}
	})

	t.Run("ConcurrentCallersShareTheBurst", func(t *testing.T) {
		t.Parallel()
		rl := newLimiter(t)
		l := chorus.Limit{Rate: 1, Per: time.Hour, Burst: 20}
		results := make(chan bool, 60)
		for range 6 {
			go func() {
				for range 10 {
					ok, _, err := rl.Allow(context.Background(), "shared", l)
					if err != nil {
						t.Error(err)
					}
					results <- ok
				}
			}()
		}
		granted := 0
		for range 60 {
			if <-results {
				granted++
			}
		}
		if granted != l.Burst {
			t.Fatalf("granted %d of 60 concurrent calls, want exactly %d", granted, l.Burst)
		}
	})

	t.Run("InvalidLimit", func(t *testing.T) {
		t.Parallel()
		rl := newLimiter(t)
		for _, l := range []chorus.Limit{
			{},
			{Rate: 0, Per: time.Second, Burst: 1},
			{Rate: 1, Per: 0, Burst: 1},
			{Rate: 1, Per: time.Second, Burst: 0},
			{Rate: -1, Per: time.Second, Burst: 1},
		} {
			ok, _, err := rl.Allow(context.Background(), "k", l)
			if ok || chorus.ErrorCode(err) != chorus.EINVALID {
				t.Fatalf("%+v: ok=%v err=%v, want %s", l, ok, err, chorus.EINVALID)
			}
		}
	})
}

func TestMemory(t *testing.T) {
	t.Parallel()
	testLimiter(t, func(t *testing.T) chorus.RateLimiter { return NewMemory() })
}

func TestRedis(t *testing.T) {
	t.Parallel()
	testLimiter(t, func(t *testing.T) chorus.RateLimiter {
		client, prefix := redisWithCleanup(t)
		return NewRedis(client, prefix)
	})
}

// redisWithCleanup is chorustest.Redis that also deletes redis_rate's keys,
// which it stores under "rate:" + prefix, outside the test's prefix.
func redisWithCleanup(t testing.TB) (*redis.Client, string) {
	client, prefix := chorustest.Redis(t)
	t.Cleanup(func() {
		ctx := context.Background()
		iter := client.Scan(ctx, 0, "rate:"+prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			client.Del(ctx, iter.Val())
		}
	})
	return client, prefix
}

func TestRedisInstancesShareTheBucket(t *testing.T) {
	t.Parallel()
	client, prefix := redisWithCleanup(t)
	opt, err := redis.ParseURL(chorustest.RedisURL(t))
	if err != nil {
		t.Fatal(err)
	}
	other := redis.NewClient(opt)
	t.Cleanup(func() { _ = other.Close() })
	a, b := NewRedis(client, prefix), NewRedis(other, prefix)
	l := chorus.Limit{Rate: 1, Per: time.Hour, Burst: 4}
	for i := range l.Burst {
		rl := chorus.RateLimiter(a)
		if i%2 == 1 {
			rl = b
		}
		if ok, _ := allow(t, rl, "k", l); !ok {
			t.Fatalf("call %d refused", i+1)
		}
	}
	for _, rl := range []chorus.RateLimiter{a, b} {
		if ok, retry := allow(t, rl, "k", l); ok || retry <= 0 {
			t.Fatalf("node allowed beyond the shared burst (ok=%v retry=%s)", ok, retry)
		}
	}
	// Another prefix is another set of buckets.
	c := NewRedis(other, prefix+"other:")
	if ok, _ := allow(t, c, "k", l); !ok {
		t.Fatal("a different prefix shares the bucket")
	}
}

func TestRedisUnreachable(t *testing.T) {
	t.Parallel()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: 200 * time.Millisecond})
	t.Cleanup(func() { _ = client.Close() })
	ok, _, err := NewRedis(client, "x:").Allow(context.Background(), "k", chorus.Limit{Rate: 1, Per: time.Second, Burst: 1})
	if ok || err == nil || chorus.ErrorCode(err) != chorus.EINTERNAL {
		t.Fatalf("ok=%v err=%v, want an internal error", ok, err)
	}
}

// fakeClock is a settable clock for the Memory limiter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newMemoryAt(maxKeys int) (*Memory, *fakeClock) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	m := NewMemory()
	m.maxKeys = maxKeys
	m.now = clock.now
	return m, clock
}

func TestMemoryRetryAfterIsExact(t *testing.T) {
	t.Parallel()
	m, clock := newMemoryAt(MaxKeysDefault)
	l := chorus.Limit{Rate: 2, Per: time.Second, Burst: 1}
	exhaust(t, m, "k", l)
	clock.advance(100 * time.Millisecond)
	ok, retry := allow(t, m, "k", l)
	if ok || retry != 400*time.Millisecond {
		t.Fatalf("ok=%v retry-after %s, want 400ms", ok, retry)
	}
	clock.advance(retry)
	if ok, _ := allow(t, m, "k", l); !ok {
		t.Fatal("refused at the retry-after")
	}
}

func TestMemoryLimitChangeKeepsState(t *testing.T) {
	t.Parallel()
	m, _ := newMemoryAt(MaxKeysDefault)
	exhaust(t, m, "k", chorus.Limit{Rate: 1, Per: time.Hour, Burst: 2})
	// A new limit for the key applies from now on; the spent tokens stay spent.
	if ok, _ := allow(t, m, "k", chorus.Limit{Rate: 1, Per: time.Hour, Burst: 3}); ok {
		t.Fatal("changing the limit refilled the bucket")
	}
}

func TestMemoryBoundedUnderKeySpraying(t *testing.T) {
	t.Parallel()
	const maxKeys = 100
	m, clock := newMemoryAt(maxKeys)
	l := chorus.Limit{Rate: 1, Per: time.Second, Burst: 3}
	for i := range 10_000 {
		allow(t, m, fmt.Sprintf("spray-%d", i), l)
		if n := len(m.buckets); n > maxKeys {
			t.Fatalf("after %d keys: %d buckets, cap %d", i+1, n, maxKeys)
		}
	}
	// Idle buckets go at the next sweep, whatever the cap.
	clock.advance(SweepIntervalDefault + time.Second)
	allow(t, m, "fresh", l)
	if n := len(m.buckets); n != 1 {
		t.Fatalf("%d buckets after the sweep, want 1", n)
	}
}

func TestMemorySweepKeepsBusyBuckets(t *testing.T) {
	t.Parallel()
	m, clock := newMemoryAt(MaxKeysDefault)
	slow := chorus.Limit{Rate: 1, Per: time.Hour, Burst: 1}
	fast := chorus.Limit{Rate: 10, Per: time.Second, Burst: 10}
	exhaust(t, m, "victim", slow)
	for i := range 50 {
		allow(t, m, fmt.Sprintf("idle-%d", i), fast)
	}
	clock.advance(SweepIntervalDefault + time.Second)
	// The sweep drops the refilled buckets; the spent one must survive it,
	// or a sweep would hand an attacker a fresh burst.
	if ok, _ := allow(t, m, "victim", slow); ok {
		t.Fatal("a sweep reset a bucket that was still spent")
	}
	if n := len(m.buckets); n != 1 {
		t.Fatalf("%d buckets after the sweep, want 1", n)
	}
}

func BenchmarkMemoryAllow(b *testing.B) {
	m := NewMemory()
	l := chorus.Limit{Rate: 1_000_000_000, Per: time.Second, Burst: 1_000_000}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = m.Allow(ctx, "msg:user-1", l)
	}
}

func BenchmarkRedisAllow(b *testing.B) {
	client, prefix := redisWithCleanup(b)
	r := NewRedis(client, prefix)
	l := chorus.Limit{Rate: 1_000_000, Per: time.Second, Burst: 1_000_000}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := r.Allow(ctx, "msg:user-1", l); err != nil {
			b.Fatal(err)
		}
	}
}
