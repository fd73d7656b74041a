package app

import (
	"fmt"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

// BenchmarkHotPath measures the message path end to end through the real
// server: a visitor's message.send over a WebSocket → validate → persist
// (sequence, insert, outbox) → publish on the bus → written to the agent's
// socket, on each engine. Conversations run in parallel (one per goroutine).
//
//	go test -run '^$' -bench HotPath -benchtime 20000x ./internal/app/
func BenchmarkHotPath(b *testing.B) {
	for _, engine := range []string{"sqlite", "postgres"} {
		b.Run(engine, func(b *testing.B) { benchHotPath(b, engine) })
	}
}

func benchHotPath(b *testing.B, engine string) {
	e := startEnv(b, engine, nil)
	_, key := e.setupTenant()
	agentTok := e.token("agent-1", chorus.RoleAgent)
	type pair struct{ visitor, agent *wsConn }
	const conversations = 64
	pairs := make(chan pair, conversations)
	for i := 0; i < conversations; i++ {
		s := e.visitor(key)
		e.must(e.call("POST", "/api/v1/conversations/"+s.Conversation.ID+"/accept", agentTok, nil), 200)
		pairs <- pair{
			visitor: e.mustDial("/ws/v1/conversations/"+s.Conversation.ID, s.Token),
			agent:   e.mustDial("/ws/v1/conversations/"+s.Conversation.ID, agentTok),
		}
	}
	var mu sync.Mutex
	var lat []time.Duration
	var seq atomic.Int64
	b.ResetTimer()
	// RunParallel starts GOMAXPROCS×p goroutines; each owns one conversation.
	b.SetParallelism(max(1, conversations/runtime.GOMAXPROCS(0)))
	b.RunParallel(func(pb *testing.PB) {
		p := <-pairs
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			id := fmt.Sprintf("b-%d", seq.Add(1))
			t0 := time.Now()
			p.visitor.send(map[string]any{"type": "message.send", "client_msg_id": id, "body": "benchmark message"})
			p.agent.nextWhere("message", func(f map[string]any) bool { return msgOf(f)["client_msg_id"] == id })
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	b.StopTimer()
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	}
}
