// Package ratelimit implements chorus.RateLimiter: Memory, token buckets in
// this process, and Redis, a GCRA limiter shared by every node.
package ratelimit

import (
	"context"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/enkisys/chorus/internal/chorus"
)

// Defaults of the in-process limiter.
const (
	// MaxKeysDefault caps the buckets held at once, so that an attacker
	// spraying keys (addresses, widget sessions) cannot grow memory without
	// bound.
	MaxKeysDefault = 100_000
	// SweepIntervalDefault is how often idle buckets are dropped.
	SweepIntervalDefault = time.Minute
)

// Memory is a RateLimiter with one token bucket (golang.org/x/time/rate) per
// key, in this process: a limit holds per node only.
//
// Memory stays bounded without a goroutine. A bucket that has refilled to
// its burst is the same as no bucket at all, so dropping it loses nothing:
// such idle buckets are swept out at most every SweepIntervalDefault, from
// Allow. When the map still reaches MaxKeysDefault (many keys, all in use),
// arbitrary buckets are dropped down to 90% of the cap; those keys start
// again with a full burst, the price of bounded memory under attack.
type Memory struct {
	mu        sync.Mutex
	buckets   map[string]*bucket
	maxKeys   int
	sweepIval time.Duration
	nextSweep time.Time
	now       func() time.Time
}

type bucket struct {
	lim   *rate.Limiter
	limit chorus.Limit
}

var _ chorus.RateLimiter = (*Memory)(nil)

// NewMemory returns an in-process limiter with the default bounds.
func NewMemory() *Memory {
	return &Memory{
		buckets:   make(map[string]*bucket),
		maxKeys:   MaxKeysDefault,
		sweepIval: SweepIntervalDefault,
		now:       time.Now,
	}
}

// Allow takes one token from key's bucket. When refused it returns false and
// how long until a token is available. A key's bucket follows the latest l
// passed for it.
func (m *Memory) Allow(_ context.Context, key string, l chorus.Limit) (bool, time.Duration, error) {
	if err := validate(l); err != nil {
		return false, 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.After(m.nextSweep) {
		m.sweep(now)
	}
	b := m.buckets[key]
	switch {
	case b == nil:
		if len(m.buckets) >= m.maxKeys {
			m.shrink(now)
		}
		b = &bucket{lim: rate.NewLimiter(perSecond(l), l.Burst), limit: l}
		m.buckets[key] = b
	case b.limit != l:
		b.lim.SetLimitAt(now, perSecond(l))
		b.lim.SetBurstAt(now, l.Burst)
		b.limit = l
	}
	if b.lim.AllowN(now, 1) {
		return true, 0, nil
	}
	missing := 1 - b.lim.TokensAt(now)
	wait := time.Duration(math.Ceil(missing / float64(b.lim.Limit()) * float64(time.Second)))
	return false, max(wait, time.Nanosecond), nil
}

// sweep drops every bucket that has refilled to its burst.
func (m *Memory) sweep(now time.Time) {
	for k, b := range m.buckets {
		if b.lim.TokensAt(now) >= float64(b.limit.Burst) {
			delete(m.buckets, k)
		}
	}
	m.nextSweep = now.Add(m.sweepIval)
}

// shrink makes room at the cap: a sweep first, then arbitrary buckets down
// to 90% of the cap, so that the next shrink is far away (amortised O(1)).
func (m *Memory) shrink(now time.Time) {
	m.sweep(now)
	low := m.maxKeys * 9 / 10
	for k := range m.buckets {
		if len(m.buckets) <= low {
			break
		}
		delete(m.buckets, k)
	}
}

func perSecond(l chorus.Limit) rate.Limit {
	return rate.Limit(float64(l.Rate) / l.Per.Seconds())
}

// validate rejects a limit that cannot describe a bucket.
func validate(l chorus.Limit) error {
	if l.Rate <= 0 || l.Per <= 0 || l.Burst <= 0 {
		return chorus.Errorf(chorus.EINVALID, "ratelimit: invalid limit: rate %d per %s, burst %d", l.Rate, l.Per, l.Burst)
	}
	return nil
}
