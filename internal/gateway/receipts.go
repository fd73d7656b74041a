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
	marks := make([]chorus.DeliveryMark, 0, len(batch))
	for k, seq := range batch {
		marks = append(marks, chorus.DeliveryMark{TenantID: k.tenant, ConversationID: k.conv, Reader: k.actor, Seq: seq})
	}
	// Chunks keep each store call short (SQLite has one writer, which
	// messages share).
	for len(marks) > 0 {
		n := min(len(marks), receiptChunk)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		res, err := b.svc.MarkDelivered(ctx, marks[:n])
		cancel()
		if err != nil {
			b.logger.Warn("delivery receipts failed", "count", n, "err", err)
		}
		for i, r := range res {
			if r.Err != nil && chorus.ErrorCode(r.Err) != chorus.ENOTFOUND {
				b.logger.Warn("delivery receipt failed", "conversation_id", marks[i].ConversationID, "err", r.Err)
			}
		}
		marks = marks[n:]
	}
}

// receiptChunk bounds the receipts recorded by one store call.
const receiptChunk = 32
