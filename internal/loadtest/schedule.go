package loadtest

import (
	"context"
	"time"
)

// Schedule is an open-loop send plan: slot i is due at Start + i/Rate,
// whatever happened to earlier slots.
type Schedule struct {
	Start time.Time
	Rate  float64 // slots per second, > 0
	N     int64   // number of slots
}

// At returns the scheduled time of slot i.
func (s Schedule) At(i int64) time.Time {
	return s.Start.Add(time.Duration(float64(i) * 1e9 / s.Rate))
}

// SlotsFor returns how many slots rate/s fills in d.
func SlotsFor(rate float64, d time.Duration) int64 {
	return int64(rate * d.Seconds())
}

// Run calls emit for every slot in order, each no earlier than its scheduled
// time. emit may block (for instance on a full queue); the slots after it keep
// their scheduled times and are emitted late, in a burst, so the delay shows up
// in latency measured from the scheduled time. Run returns when all slots were
// emitted or ctx is done, with the number of slots emitted.
func (s Schedule) Run(ctx context.Context, emit func(i int64, at time.Time)) int64 {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var i int64
	for i < s.N {
		at := s.At(i)
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return i
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return i
		}
		// Emit every slot that is due now, not one per wakeup: timers are
		// coarser than the interval at high rates.
		now := time.Now()
		for i < s.N && !s.At(i).After(now) {
			emit(i, s.At(i))
			i++
		}
	}
	return i
}
