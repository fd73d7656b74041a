package notify_test

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
	"github.com/enkisys/chorus/internal/notify"
	"github.com/enkisys/chorus/internal/sqlite"
)

// seed writes n messages (n+1 outbox rows with the conversation) and
// returns the store.
func seed(t *testing.T, n int) chorus.Store {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "c.db"), chorustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	now := time.Now().UTC()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	_, err = db.TenantEnsure(ctx, "t1", "T1")
	must(err)
	_, err = db.ChannelCreate(ctx, "t1", chorus.Channel{ID: "ch", TenantID: "t1", Type: chorus.ChannelWebWidget, Name: "w", WidgetKey: "k", CreatedAt: now})
	must(err)
	_, err = db.ContactCreate(ctx, "t1", chorus.Contact{ID: "ct", TenantID: "t1", CreatedAt: now})
	must(err)
	_, err = db.ConversationCreate(ctx, "t1", chorus.Conversation{ID: "cv", TenantID: "t1", ChannelID: "ch", ContactID: "ct",
		Status: chorus.StatusQueued, CreatedAt: now, QueuedAt: &now, UpdatedAt: now})
	must(err)
	for i := 0; i < n; i++ {
		_, _, err := db.MessageCreate(ctx, "t1", chorus.NewMessage{ID: "m" + string(rune('a'+i)), ConversationID: "cv",
			SenderType: chorus.SenderVisitor, SenderID: "ct", Body: "hi", ClientMsgID: "c" + string(rune('a'+i)), CreatedAt: now})
		must(err)
	}
	return db
}

func TestDrainHandsEveryEventOnceInOrder(t *testing.T) {
	t.Parallel()
	db := seed(t, 5)
	var mu sync.Mutex
	var kinds []string
	reg := prometheus.NewRegistry()
	w := notify.New(db, reg, chorustest.Logger(t), func(_ context.Context, ev chorus.OutboxEvent) error {
		mu.Lock()
		defer mu.Unlock()
		kinds = append(kinds, ev.Kind)
		return nil
	})
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		left, err := db.OutboxFetch(context.Background(), 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox not drained: %d left", len(left))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []string{chorus.OutboxConversationCreated, "message.created", "message.created", "message.created", "message.created", "message.created"}
	if len(kinds) != len(want) {
		t.Fatalf("handled %v", kinds)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Fatalf("handled %v, want %v", kinds, want)
		}
	}
	var m dto.Metric
	if err := w.ProcessedMetric().WithLabelValues("message.created").Write(&m); err != nil || m.GetCounter().GetValue() != 5 {
		t.Errorf("processed metric = %v (%v)", m.GetCounter().GetValue(), err)
	}
}

func TestHandlerErrorKeepsEventsForRetry(t *testing.T) {
	t.Parallel()
	db := seed(t, 3)
	calls := 0
	w := notify.New(db, nil, chorustest.Logger(t), func(_ context.Context, ev chorus.OutboxEvent) error {
		calls++
		if ev.Kind == "message.created" {
			return errors.New("webhook down")
		}
		return nil
	})
	n, err := w.Drain(context.Background())
	if err != nil || n != 4 {
		t.Fatalf("drain: %d %v", n, err)
	}
	left, err := db.OutboxFetch(context.Background(), 10)
	if err != nil {
		t.Fatal(err)
	}
	// The conversation event went through; the first message failed and
	// stopped the batch, so all three messages stay, in order.
	if len(left) != 3 || left[0].Kind != "message.created" || calls != 2 {
		t.Fatalf("left %d (%v), calls %d", len(left), left, calls)
	}
	if err := w.Stop(context.Background()); err != nil {
		t.Fatal("stop without start:", err)
	}
}
