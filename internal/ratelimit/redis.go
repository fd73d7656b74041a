package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/enkisys/chorus/internal/chorus"
)

// Redis is a RateLimiter over Redis (GCRA, github.com/go-redis/redis_rate),
// so that a limit holds across the nodes of a split deployment: every
// limiter with the same prefix on the same Redis shares each key's state.
//
// redis_rate stores a key under "rate:" + prefix + key, with an expiry of
// the time the bucket takes to refill.
type Redis struct {
	lim    *redis_rate.Limiter
	prefix string
}

var _ chorus.RateLimiter = (*Redis)(nil)

// NewRedis returns a limiter over client; keys are prefixed with prefix.
func NewRedis(client *redis.Client, prefix string) *Redis {
	return &Redis{lim: redis_rate.NewLimiter(client), prefix: prefix}
}

// Allow takes one token from key's bucket. When refused it returns false and
// how long until a token is available.
func (r *Redis) Allow(ctx context.Context, key string, l chorus.Limit) (bool, time.Duration, error) {
	if err := validate(l); err != nil {
		return false, 0, err
	}
	res, err := r.lim.Allow(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Rate, Burst: l.Burst, Period: l.Per})
	if err != nil {
		return false, 0, fmt.Errorf("ratelimit: allow: %w", err)
	}
	if res.Allowed > 0 {
		return true, 0, nil
	}
	return false, max(res.RetryAfter, time.Millisecond), nil
}
