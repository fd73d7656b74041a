package loadtest

import (
	"log/slog"
	"testing"
	"time"
)

// BenchmarkHandleMessage measures the tool's own cost to account one
// delivered message frame (decode, slot lookup, latency sample), which bounds
// the rate one load process can measure.
func BenchmarkHandleMessage(b *testing.B) {
	r := &runner{cfg: Config{BodySize: 64}, logger: slog.New(slog.DiscardHandler), runID: "r1", prefix: "lt-r1-", errCodes: map[string]int64{}}
	cv := &conv{id: "A"}
	socks := []*sock{{run: r, cv: cv, side: sideVisitor}, {run: r, cv: cv, side: sideAgent}}
	n := int64(b.N)*2 + 2
	p := &plan{socks: socks, recs: make([]record, n), sched: Schedule{Start: time.Now(), Rate: 1e6, N: n}}
	r.plan.Store(p)
	frames := make([][]byte, b.N)
	for k := range frames {
		i := int64(2 * k) // sent by the visitor, received by the agent
		frames[k] = []byte(`{"type":"message","message":{"id":"m","conversation_id":"A","seq":` + itoa(int64(k+1)) +
			`,"sender_type":"visitor","sender_id":"v1","body":"` + r.prefix + itoa(i) + ` xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx","client_msg_id":"` +
			r.prefix + itoa(i) + `","created_at":"2025-01-01T00:00:00Z","delivered_at":null,"read_at":null}}`)
	}
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for k := range b.N {
		r.handle(socks[1], frames[k], now)
	}
	b.StopTimer()
	if r.delivered.Load() != int64(b.N) {
		b.Fatalf("delivered %d of %d", r.delivered.Load(), b.N)
	}
}
