package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
	"github.com/enkisys/chorus/internal/postgres"
)

// TestOutboxDrainOneAtATime: two processes (two pools on one database)
// drain the outbox. While one drains, the other is handed nothing; when a
// drainer dies mid-drain its rows come back; draining together, every event
// is handed out and deleted exactly once, in order.
func TestOutboxDrainOneAtATime(t *testing.T) {
	a, url := openStoreURL(t)
	b, err := postgres.Open(context.Background(), url, chorustest.Logger(t))
	must(t, err)
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	f := setup(t, a, chorus.StatusQueued, nil) // one conversation.created row
	for i := range 50 {
		_, _, err := a.MessageCreate(ctx, f.tenant, f.msg(string(rune('a'+i%26))+string(rune('a'+i/26))))
		must(t, err)
	}

	// A holds the drain; B gets nothing until A is done.
	inA, releaseA := make(chan struct{}), make(chan struct{})
	var aErr error
	var aN int
	var wg sync.WaitGroup
	wg.Go(func() {
		aN, aErr = a.OutboxDrain(ctx, 10, func(evs []chorus.OutboxEvent) []int64 {
			close(inA)
			<-releaseA
			return []int64{evs[0].ID}
		})
	})
	<-inA
	n, err := b.OutboxDrain(ctx, 10, func([]chorus.OutboxEvent) []int64 {
		t.Error("B was handed rows while A drained")
		return nil
	})
	if err != nil || n != 0 {
		t.Errorf("B during A's drain = %d, %v; want 0", n, err)
	}
	close(releaseA)
	wg.Wait()
	if aErr != nil || aN != 10 {
		t.Fatalf("A's drain = %d, %v", aN, aErr)
	}

	// A drainer that dies mid-drain (its context ends before the deletion
	// commits) deletes nothing: the rows are handed out again.
	dying, kill := context.WithCancel(ctx)
	var first int64
	_, err = b.OutboxDrain(dying, 10, func(evs []chorus.OutboxEvent) []int64 {
		first = evs[0].ID
		kill()
		return []int64{evs[0].ID, evs[1].ID}
	})
	if err == nil {
		t.Error("a drain whose context ended mid-way reported success")
	}
	var again int64
	_, err = a.OutboxDrain(ctx, 1, func(evs []chorus.OutboxEvent) []int64 { again = evs[0].ID; return nil })
	must(t, err)
	if again != first {
		t.Errorf("after a dead drain the oldest row is %d, want %d again", again, first)
	}

	// Both drain to the end, concurrently: each row handed out once, in order.
	var mu sync.Mutex
	seen := map[int64]int{}
	var order []int64
	drain := func(db *postgres.DB) {
		deadline := time.Now().Add(20 * time.Second)
		for time.Now().Before(deadline) {
			n, err := db.OutboxDrain(ctx, 7, func(evs []chorus.OutboxEvent) []int64 {
				mu.Lock()
				defer mu.Unlock()
				ids := make([]int64, len(evs))
				for i, e := range evs {
					seen[e.ID]++
					order = append(order, e.ID)
					ids[i] = e.ID
				}
				return ids
			})
			if err != nil {
				t.Errorf("drain: %v", err)
				return
			}
			if left, _ := db.OutboxFetch(ctx, 1); n == 0 && len(left) == 0 {
				return
			}
		}
	}
	wg.Go(func() { drain(a) })
	wg.Go(func() { drain(b) })
	wg.Wait()
	if len(seen) != 50 { // 51 rows, one deleted by A's first drain
		t.Errorf("%d distinct rows handed out, want 50", len(seen))
	}
	for id, k := range seen {
		if k != 1 {
			t.Errorf("row %d handed out %d times", id, k)
		}
	}
	for i := 1; i < len(order); i++ {
		if order[i] <= order[i-1] {
			t.Fatalf("rows out of order: %d after %d", order[i], order[i-1])
		}
	}
}
