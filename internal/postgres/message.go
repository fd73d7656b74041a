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
// one transaction. It returns the watermark of kind and whether it moved.
func (db *DB) MessageMarkReceipt(ctx context.Context, tenantID, conversationID string, reader chorus.Actor, kind string, seq int64, at time.Time) (int64, bool, error) {
	if kind != chorus.ReceiptDelivered && kind != chorus.ReceiptRead {
		return 0, false, chorus.Errorf(chorus.EINVALID, "kind: must be delivered or read.")
	}
	var mark int64
	var moved bool
	err := db.WithTenantTx(ctx, tenantID, func(tx pgx.Tx) error {
		if err := relaxCommit(ctx, tx); err != nil {
			return err
		}
		var err error
		mark, moved, err = db.markReceiptTx(ctx, tx, tenantID, conversationID, reader, kind, seq, at)
		return err
	})
	if err != nil {
		return 0, false, err
	}
	return mark, moved, nil
}

// MessageMarkDelivered records many delivery receipts: one transaction per
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
		err := db.WithTenantTx(ctx, tenant, func(tx pgx.Tx) error {
			if err := relaxCommit(ctx, tx); err != nil {
				return err
			}
			for _, i := range byTenant[tenant] {
				m := marks[i]
				wm, moved, err := db.markReceiptTx(ctx, tx, tenant, m.ConversationID, m.Reader, chorus.ReceiptDelivered, m.Seq, at)
				if chorus.ErrorCode(err) == chorus.ENOTFOUND {
					// Detected by a read before any write: the others apply.
					out[i] = chorus.DeliveryResult{Err: err}
					continue
				}
				if err != nil {
					return err
				}
				out[i] = chorus.DeliveryResult{Watermark: wm, Moved: moved}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// relaxCommit lets a receipt transaction commit without waiting for the WAL
// flush: receipts are watermarks that clients repeat, so they need not, and
// then they do not compete with messages, which do. A crash may lose the
// last few receipts, never a message.
func relaxCommit(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = off"); err != nil {
		return translate(err, "mark", "receipt")
	}
	return nil
}

// markReceiptTx raises one reader's watermark inside tx (tenant already set).
func (db *DB) markReceiptTx(ctx context.Context, tx pgx.Tx, tenantID, conversationID string, reader chorus.Actor, kind string, seq int64, at time.Time) (mark int64, moved bool, err error) {
	isRead := kind == chorus.ReceiptRead
	c, err := db.q.ConversationSendCheck(ctx, tx, dbsqlc.ConversationSendCheckParams{TenantID: tenantID, ID: conversationID})
	if err != nil {
		return 0, false, translate(err, "get", "conversation")
	}
	seq = min(seq, c.LastSeq)
	if seq > 0 {
		p := dbsqlc.ReceiptRaiseParams{
			TenantID: tenantID, ConversationID: conversationID, ActorType: reader.Type, ActorID: reader.ID,
			DeliveredSeq: seq, UpdatedAt: at,
		}
		if isRead {
			p.ReadSeq = seq
		}
		r, err := db.q.ReceiptRaise(ctx, tx, p)
		switch {
		case err == nil:
			mark, moved = r.DeliveredSeq, true
			if isRead {
				mark = r.ReadSeq
			}
			_, err = db.q.MessageMarkReceipt(ctx, tx, dbsqlc.MessageMarkReceiptParams{
				At: at, IsRead: isRead, TenantID: tenantID, ConversationID: conversationID, Seq: seq, ReaderType: reader.Type,
			})
			return mark, moved, translate(err, "mark", "messages")
		case !errors.Is(err, pgx.ErrNoRows):
			return 0, false, translate(err, "raise", "receipt")
		}
	}
	r, err := db.q.ReceiptGet(ctx, tx, dbsqlc.ReceiptGetParams{
		TenantID: tenantID, ConversationID: conversationID, ActorType: reader.Type, ActorID: reader.ID,
	})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, translate(err, "get", "receipt")
	case isRead:
		return r.ReadSeq, false, nil
	default:
		return r.DeliveredSeq, false, nil
	}
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
