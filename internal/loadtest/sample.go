package loadtest

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Sample collects durations and answers exact percentiles. It keeps every
// value (8 bytes each), which is fine for up to ~10^7 samples. Safe for
// concurrent use.
type Sample struct {
	mu     sync.Mutex
	vals   []int64
	sorted bool
}

// Add records one duration.
func (s *Sample) Add(d time.Duration) {
	s.mu.Lock()
	s.vals = append(s.vals, int64(d))
	s.sorted = false
	s.mu.Unlock()
}

// Len returns the number of recorded values.
func (s *Sample) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.vals)
}

// Reset drops every value and returns the previous ones as a new Sample
// (used for per-second windows).
func (s *Sample) Reset() *Sample {
	s.mu.Lock()
	old := &Sample{vals: s.vals}
	s.vals = nil
	s.sorted = false
	s.mu.Unlock()
	return old
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100): the
// smallest recorded value such that at least p% of the values are <= it.
// It returns 0 when the sample is empty.
func (s *Sample) Percentile(p float64) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.percentileLocked(p)
}

func (s *Sample) percentileLocked(p float64) time.Duration {
	n := len(s.vals)
	if n == 0 {
		return 0
	}
	if !s.sorted {
		slices.Sort(s.vals)
		s.sorted = true
	}
	// The epsilon keeps float error from pushing an exact rank up by one
	// (99.9% of 1000 is 999.0000000000001 in float64).
	rank := int(math.Ceil(p/100*float64(n) - 1e-9))
	rank = min(max(rank, 1), n)
	return time.Duration(s.vals[rank-1])
}

// Summary is a latency distribution in milliseconds, as reported in JSON.
type Summary struct {
	Count  int     `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P95MS  float64 `json:"p95_ms"`
	P99MS  float64 `json:"p99_ms"`
	P999MS float64 `json:"p99_9_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// Summarize computes the reported percentiles.
func (s *Sample) Summarize() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := Summary{Count: len(s.vals)}
	if out.Count == 0 {
		return out
	}
	var sum float64
	for _, v := range s.vals {
		sum += float64(v)
	}
	out.MeanMS = ms(time.Duration(sum / float64(out.Count)))
	out.P50MS = ms(s.percentileLocked(50))
	out.P90MS = ms(s.percentileLocked(90))
	out.P95MS = ms(s.percentileLocked(95))
	out.P99MS = ms(s.percentileLocked(99))
	out.P999MS = ms(s.percentileLocked(99.9))
	out.MaxMS = ms(s.percentileLocked(100))
	return out
}

func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }
