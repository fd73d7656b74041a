package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/postgres/internal/dbsqlc"
)

// MessageCreate persists m with one prepared statement (see
// queries/message.sql): idempotency check, last_seq bump, message and outbox
// inserts, sent in one batch behind the tenant's set_config (one round trip,
// see scope). Only the failure paths cost a second round trip: a unique
// violation (a concurrent call with the same client_msg_id won) reads the
// stored message; no row reads the conversation to tell ENOTFOUND, ECONFLICT
// (closed) and EFORBIDDEN (not the assignee) apart.
func (db *DB) MessageCreate(ctx context.Context, tenantID string, m chorus.NewMessage) (chorus.Message, bool, error) {
	p := dbsqlc.MessageCreateParams{
		TenantID:             tenantID,
		ConversationID:       m.ConversationID,
		ClientMsgID:          m.ClientMsgID,
		SenderMustBeAssignee: m.SenderMustBeAssignee,
		SenderID:             m.SenderID,
		ID:                   m.ID,
		SenderType:           m.SenderType,
		Body:                 m.Body,
		CreatedAt:            m.CreatedAt,
	}
	for attempt := 0; ; attempt++ {
		r, err := db.q.MessageCreate(ctx, db.tenant(tenantID), p)
		switch {
		case err == nil:
			return toMessage(&dbsqlc.Message{
				TenantID: r.TenantID, ConversationID: r.ConversationID, Seq: r.Seq, ID: r.ID,
				SenderType: r.SenderType, SenderID: r.SenderID, Body: r.Body, ClientMsgID: r.ClientMsgID,
				CreatedAt: r.CreatedAt, DeliveredAt: r.DeliveredAt, ReadAt: r.ReadAt,
			}), r.Created, nil
		case isUniqueViolation(err):
			stored, gerr := db.q.MessageGetByClientMsgID(ctx, db.tenant(tenantID), dbsqlc.MessageGetByClientMsgIDParams{
				TenantID: tenantID, ConversationID: m.ConversationID, ClientMsgID: m.ClientMsgID,
			})
			if errors.Is(gerr, pgx.ErrNoRows) {
				// The violation was not the client_msg_id: a reused message id.
				return chorus.Message{}, false, translate(err, "create", "message")
			}
			if gerr != nil {
				return chorus.Message{}, false, translate(gerr, "get", "message")
			}
			return toMessage(stored), false, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return chorus.Message{}, false, translate(err, "create", "message")
		}
		c, err := db.q.ConversationSendCheck(ctx, db.tenant(tenantID), dbsqlc.ConversationSendCheckParams{TenantID: tenantID, ID: m.ConversationID})
		if err != nil {
			return chorus.Message{}, false, translate(err, "get", "conversation")
		}
		if c.Status == chorus.StatusClosed {
			return chorus.Message{}, false, chorus.Errorf(chorus.ECONFLICT, "conversation is closed.")
		}
		if m.SenderMustBeAssignee && (c.AssigneeID == nil || *c.AssigneeID != m.SenderID) {
			return chorus.Message{}, false, chorus.Errorf(chorus.EFORBIDDEN, "conversation is not assigned to you.")
		}
		if attempt > 0 {
			return chorus.Message{}, false, fmt.Errorf("postgres: create message: conversation %s changed twice during the call", m.ConversationID)
		}
		// The conversation changed between the two reads (reopened or
		// reassigned): try once more.
	}
}

// MessageList returns messages with seq > afterSeq ordered by seq.
func (db *DB) MessageList(ctx context.Context, tenantID, conversationID string, afterSeq int64, limit int) ([]chorus.Message, error) {
	rows, err := db.q.MessageList(ctx, db.tenant(tenantID), dbsqlc.MessageListParams{
		TenantID: tenantID, ConversationID: conversationID, AfterSeq: afterSeq, RowLimit: limitOr(limit, 50),
	})
	if err != nil {
		return nil, translate(err, "list", "messages")
	}
	out := make([]chorus.Message, 0, len(rows))
	for _, r := range rows {
		out = append(out, toMessage(r))
	}
	return out, nil
}

// MessageMarkReceipt raises the reader's delivered (or read) watermark to seq
// (clamped to last_seq) and stamps the other side's messages up to seq, in
// one statement. It returns the watermark of kind and whether it moved.
func (db *DB) MessageMarkReceipt(ctx context.Context, tenantID, conversationID string, reader chorus.Actor, kind string, seq int64, at time.Time) (int64, bool, error) {
	if kind != chorus.ReceiptDelivered && kind != chorus.ReceiptRead {
		return 0, false, chorus.Errorf(chorus.EINVALID, "kind: must be delivered or read.")
	}
	res, err := db.markReceipts(ctx, tenantID, kind, []chorus.DeliveryMark{{TenantID: tenantID, ConversationID: conversationID, Reader: reader, Seq: seq}}, at)
	if err != nil {
		return 0, false, err
	}
	return res[0].Watermark, res[0].Moved, res[0].Err
}

// MessageMarkDelivered records many delivery receipts: one statement per
// tenant (row-level security sets one tenant per transaction).
func (db *DB) MessageMarkDelivered(ctx context.Context, marks []chorus.DeliveryMark, at time.Time) ([]chorus.DeliveryResult, error) {
	out := make([]chorus.DeliveryResult, len(marks))
	byTenant := map[string][]int{}
	var tenants []string
	for i, m := range marks {
		if _, ok := byTenant[m.TenantID]; !ok {
			tenants = append(tenants, m.TenantID)
		}
		byTenant[m.TenantID] = append(byTenant[m.TenantID], i)
	}
	for _, tenant := range tenants {
		idx := byTenant[tenant]
		group := make([]chorus.DeliveryMark, len(idx))
		for j, i := range idx {
			group[j] = marks[i]
		}
		res, err := db.markReceipts(ctx, tenant, chorus.ReceiptDelivered, group, at)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			out[i] = res[j]
		}
	}
	return out, nil
}

// receiptKey names one reader's watermarks in one conversation.
type receiptKey struct{ conversation, actorType, actorID string }

// markReceipts raises the watermarks of kind for marks (all of tenantID) with
// one ReceiptsMark statement. Marks for the same reader and conversation are
// merged first (the statement takes each once). Its transaction commits
// without waiting for the WAL flush: receipts are watermarks that clients
// repeat, so they need not, and then they do not compete with messages, which
// do. A crash may lose the last few receipts, never a message. Concurrent
// calls may deadlock on shared rows (the same reader on two gateways): the
// loser is retried once.
func (db *DB) markReceipts(ctx context.Context, tenantID, kind string, marks []chorus.DeliveryMark, at time.Time) ([]chorus.DeliveryResult, error) {
	p := dbsqlc.ReceiptsMarkParams{TenantID: tenantID, IsRead: kind == chorus.ReceiptRead, At: at}
	pos := make(map[receiptKey]int, len(marks))
	for _, m := range marks {
		k := receiptKey{m.ConversationID, m.Reader.Type, m.Reader.ID}
		if j, ok := pos[k]; ok {
			p.Seqs[j] = max(p.Seqs[j], m.Seq)
			continue
		}
		pos[k] = len(p.Seqs)
		p.ConversationIds = append(p.ConversationIds, k.conversation)
		p.ActorTypes = append(p.ActorTypes, k.actorType)
		p.ActorIds = append(p.ActorIds, k.actorID)
		p.Seqs = append(p.Seqs, m.Seq)
	}
	var rows []*dbsqlc.ReceiptsMarkRow
	var err error
	for attempt := 0; attempt < 2; attempt++ {
		rows, err = db.q.ReceiptsMark(ctx, db.tenantRelaxed(tenantID), p)
		if !isDeadlock(err) {
			break
		}
	}
	if err != nil {
		return nil, translate(err, "mark", "receipts")
	}
	found := make(map[receiptKey]*dbsqlc.ReceiptsMarkRow, len(rows))
	for _, r := range rows {
		found[receiptKey{r.ConversationID, r.ActorType, r.ActorID}] = r
	}
	// Each mark's result is the one the single calls, made in order, would
	// have had: a later mark of the same reader moves only past the earlier.
	out := make([]chorus.DeliveryResult, len(marks))
	running := make(map[receiptKey]int64, len(rows))
	for i, m := range marks {
		k := receiptKey{m.ConversationID, m.Reader.Type, m.Reader.ID}
		r := found[k]
		if r == nil {
			out[i] = chorus.DeliveryResult{Err: chorus.Errorf(chorus.ENOTFOUND, "Conversation not found.")}
			continue
		}
		before, ok := running[k]
		if !ok {
			before = r.OldDelivered
			if p.IsRead {
				before = r.OldRead
			}
		}
		if !r.Raised {
			out[i] = chorus.DeliveryResult{Watermark: before}
			running[k] = before
			continue
		}
		after := max(before, min(m.Seq, r.LastSeq))
		out[i] = chorus.DeliveryResult{Watermark: after, Moved: after > before}
		running[k] = after
	}
	return out, nil
}

func toMessage(r *dbsqlc.Message) chorus.Message {
	return chorus.Message{
		ID:             r.ID,
		TenantID:       r.TenantID,
		ConversationID: r.ConversationID,
		Seq:            r.Seq,
		SenderType:     r.SenderType,
		SenderID:       r.SenderID,
		Body:           r.Body,
		ClientMsgID:    r.ClientMsgID,
		CreatedAt:      r.CreatedAt,
		DeliveredAt:    r.DeliveredAt,
		ReadAt:         r.ReadAt,
	}
}
