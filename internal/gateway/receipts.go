package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/enkisys/chorus/internal/chat"
	"github.com/enkisys/chorus/internal/chorus"
)

// receiptBatcher coalesces delivery receipts: a socket notes the highest seq
// it wrote for each conversation, and every flush interval one receipt per
// (conversation, reader) is recorded.
type receiptBatcher struct {
	svc    *chat.Service
	every  time.Duration
	logger *slog.Logger

	mu      sync.Mutex
	pending map[receiptKey]int64
}

type receiptKey struct {
	tenant, conv string
	actor        chorus.Actor
}

func newReceiptBatcher(svc *chat.Service, every time.Duration, logger *slog.Logger) *receiptBatcher {
	return &receiptBatcher{svc: svc, every: every, logger: logger, pending: map[receiptKey]int64{}}
}

func (b *receiptBatcher) note(tenant, conv string, actor chorus.Actor, seq int64) {
	k := receiptKey{tenant, conv, actor}
	b.mu.Lock()
	if seq > b.pending[k] {
		b.pending[k] = seq
	}
	b.mu.Unlock()
}

func (b *receiptBatcher) run(stop <-chan struct{}) {
	t := time.NewTicker(b.every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			b.flush()
			return
		case <-t.C:
			b.flush()
		}
	}
}

func (b *receiptBatcher) flush() {
	b.mu.Lock()
	if len(b.pending) == 0 {
		b.mu.Unlock()
		return
	}
	batch := b.pending
	b.pending = make(map[receiptKey]int64, len(batch))
	b.mu.Unlock()
	// Record them concurrently so the store can commit them together
	// (SQLite group commit, several PostgreSQL connections).
	sem := make(chan struct{}, receiptWorkers)
	var wg sync.WaitGroup
	for k, seq := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := b.svc.MarkDelivered(ctx, k.tenant, k.conv, k.actor, seq); err != nil && chorus.ErrorCode(err) != chorus.ENOTFOUND {
				b.logger.Warn("delivery receipt failed", "conversation_id", k.conv, "err", err)
			}
		}()
	}
	wg.Wait()
}

// receiptWorkers bounds the receipts recorded at once: a few, so that a
// flush never floods the store's single writer ahead of messages (with
// SQLite, queued receipts would otherwise delay the messages behind them).
const receiptWorkers = 2
