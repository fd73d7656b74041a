package storetest

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/enkisys/chorus/internal/chorus"
)

// BenchConversations is how many conversations BenchMessageCreate spreads
// its messages over.
const BenchConversations = 1000

// BenchMessageCreate measures MessageCreate, the hot path of the message
// flow: one tenant, one channel, one contact, BenchConversations active
// conversations, and b.RunParallel goroutines sending messages to them
// round-robin, each with a fresh id and client_msg_id. s must be fresh and
// migrated; the caller closes it.
func BenchMessageCreate(b *testing.B, s chorus.Store) {
	ctx := context.Background()
	tenant := "bench-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := s.TenantEnsure(ctx, tenant, "Bench"); err != nil {
		b.Fatalf("TenantEnsure: %v", err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	ch, err := s.ChannelCreate(ctx, tenant, chorus.Channel{ID: "chan-" + tenant, Type: chorus.ChannelWebWidget,
		Name: "Bench", WidgetKey: "wk-" + tenant, CreatedAt: now})
	if err != nil {
		b.Fatalf("ChannelCreate: %v", err)
	}
	ct, err := s.ContactCreate(ctx, tenant, chorus.Contact{ID: "contact-" + tenant, Name: "Bench", CreatedAt: now})
	if err != nil {
		b.Fatalf("ContactCreate: %v", err)
	}
	convs := make([]string, BenchConversations)
	for i := range convs {
		c, err := s.ConversationCreate(ctx, tenant, chorus.Conversation{ID: uuid.Must(uuid.NewV7()).String(),
			ChannelID: ch.ID, ContactID: ct.ID, Status: chorus.StatusActive, AssigneeID: ptr("agent-1"),
			CreatedAt: now, QueuedAt: &now, AssignedAt: &now, UpdatedAt: now})
		if err != nil {
			b.Fatalf("ConversationCreate: %v", err)
		}
		convs[i] = c.ID
	}
	var next atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		mine := make([]time.Duration, 0, 1024)
		defer func() {
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
		for pb.Next() {
			n := next.Add(1)
			start := time.Now()
			_, created, err := s.MessageCreate(ctx, tenant, chorus.NewMessage{
				ID:             uuid.Must(uuid.NewV7()).String(),
				ConversationID: convs[n%BenchConversations],
				SenderType:     chorus.SenderVisitor,
				SenderID:       ct.ID,
				Body:           "Hello, I have a question about my order.",
				ClientMsgID:    fmt.Sprintf("b%d", n),
				CreatedAt:      time.Now(),
			})
			mine = append(mine, time.Since(start))
			if err != nil || !created {
				b.Errorf("MessageCreate: created=%v err=%v", created, err)
				return
			}
		}
	})
	b.StopTimer()
	if len(lat) > 0 {
		slices.Sort(lat)
		p := func(q float64) float64 { return float64(lat[int(q*float64(len(lat)-1))].Microseconds()) }
		// Latency under saturation (closed loop, every goroutine sending
		// back to back), not the open-loop P99 of COMPONENTS.md.
		b.ReportMetric(p(0.50), "p50-µs")
		b.ReportMetric(p(0.99), "p99-µs")
	}
}
