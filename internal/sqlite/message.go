package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

// MessageListMax bounds one MessageList page.
const MessageListMax = 1000

// MessageCreate persists m in one transaction: an existing (conversation,
// client_msg_id) returns the stored message and created=false, whatever the
// conversation's state; otherwise last_seq is bumped and the message and an
// outbox row message.created are inserted. The write lock serializes
// concurrent calls, so the idempotency check and the insert cannot race.
func (db *DB) MessageCreate(ctx context.Context, tenantID string, m chorus.NewMessage) (chorus.Message, bool, error) {
	msg := chorus.Message{
		ID:             m.ID,
		TenantID:       tenantID,
		ConversationID: m.ConversationID,
		SenderType:     m.SenderType,
		SenderID:       m.SenderID,
		Body:           m.Body,
		ClientMsgID:    m.ClientMsgID,
		CreatedAt:      fromMicros(micros(m.CreatedAt)),
	}
	created := false
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		var status string
		var assignee sql.NullString
		var seq, createdAt, delivered, read sql.NullInt64
		var id, senderType, senderID, body sql.NullString
		err := tx.StmtContext(ctx, db.st.msgLookup).QueryRowContext(ctx, m.ClientMsgID, tenantID, m.ConversationID).
			Scan(&status, &assignee, &seq, &id, &senderType, &senderID, &body, &createdAt, &delivered, &read)
		if errors.Is(err, sql.ErrNoRows) {
			return chorus.Errorf(chorus.ENOTFOUND, "Conversation not found.")
		}
		if err != nil {
			return err
		}
		if seq.Valid { // idempotent retry
			msg = chorus.Message{
				ID: id.String, TenantID: tenantID, ConversationID: m.ConversationID, Seq: seq.Int64,
				SenderType: senderType.String, SenderID: senderID.String, Body: body.String, ClientMsgID: m.ClientMsgID,
				CreatedAt: fromMicros(createdAt.Int64), DeliveredAt: fromNullMicros(delivered), ReadAt: fromNullMicros(read),
			}
			return nil
		}
		if status == chorus.StatusClosed {
			return chorus.Errorf(chorus.ECONFLICT, "The conversation is closed.")
		}
		if m.SenderMustBeAssignee && (!assignee.Valid || assignee.String != m.SenderID) {
			return chorus.Errorf(chorus.EFORBIDDEN, "Only the assigned agent may write in this conversation.")
		}
		if err := tx.StmtContext(ctx, db.st.convBump).QueryRowContext(ctx, tenantID, m.ConversationID).Scan(&msg.Seq); err != nil {
			return err
		}
		if _, err := tx.StmtContext(ctx, db.st.msgInsert).ExecContext(ctx, tenantID, m.ConversationID, msg.Seq, m.ID,
			m.SenderType, m.SenderID, m.Body, m.ClientMsgID, micros(msg.CreatedAt)); err != nil {
			return err
		}
		created = true
		return db.addOutbox(ctx, tx, tenantID, chorus.OutboxMessageCreated, msg)
	})
	if err != nil {
		return chorus.Message{}, false, errorf(err, "create", "message")
	}
	return msg, created, nil
}

func scanMessage(row scanner) (chorus.Message, error) {
	var m chorus.Message
	var created int64
	var delivered, read sql.NullInt64
	if err := row.Scan(&m.TenantID, &m.ConversationID, &m.Seq, &m.ID, &m.SenderType, &m.SenderID, &m.Body,
		&m.ClientMsgID, &created, &delivered, &read); err != nil {
		return chorus.Message{}, err
	}
	m.CreatedAt = fromMicros(created)
	m.DeliveredAt, m.ReadAt = fromNullMicros(delivered), fromNullMicros(read)
	return m, nil
}

// MessageList returns the messages with seq > afterSeq ordered by seq, at
// most limit. Another tenant's conversation yields an empty list.
func (db *DB) MessageList(ctx context.Context, tenantID, conversationID string, afterSeq int64, limit int) ([]chorus.Message, error) {
	if limit <= 0 {
		limit = ConversationPageDefault
	}
	limit = min(limit, MessageListMax)
	rows, err := db.st.msgList.QueryContext(ctx, tenantID, conversationID, afterSeq, limit)
	if err != nil {
		return nil, errorf(err, "list", "messages")
	}
	defer rows.Close()
	out := make([]chorus.Message, 0, min(limit, 64))
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, errorf(err, "list", "messages")
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, errorf(err, "list", "messages")
	}
	return out, nil
}

// MessageMarkReceipt raises reader's delivered (and, for kind read, read)
// watermark to seq, clamped to the conversation's last_seq, and stamps
// delivered_at / read_at on the other side's messages that the watermark
// newly covers and that lack it. It returns the watermark of kind and
// whether it moved.
func (db *DB) MessageMarkReceipt(ctx context.Context, tenantID, conversationID string, reader chorus.Actor, kind string, seq int64, at time.Time) (int64, bool, error) {
	if kind != chorus.ReceiptDelivered && kind != chorus.ReceiptRead {
		return 0, false, fmt.Errorf("sqlite: mark receipt: %w",
			chorus.Errorf(chorus.EINVALID, "kind: must be delivered or read."))
	}
	var wm int64
	var moved bool
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		var err error
		wm, moved, err = db.markReceiptTx(ctx, tx, tenantID, conversationID, reader, kind, seq, at)
		return err
	})
	if err != nil {
		return 0, false, errorf(err, "mark receipt on", "conversation")
	}
	return wm, moved, nil
}

// MessageMarkDelivered records many delivery receipts in one write.
func (db *DB) MessageMarkDelivered(ctx context.Context, marks []chorus.DeliveryMark, at time.Time) ([]chorus.DeliveryResult, error) {
	out := make([]chorus.DeliveryResult, len(marks))
	if len(marks) == 0 {
		return out, nil
	}
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		for i, m := range marks {
			wm, moved, err := db.markReceiptTx(ctx, tx, m.TenantID, m.ConversationID, m.Reader, chorus.ReceiptDelivered, m.Seq, at)
			if errors.Is(err, sql.ErrNoRows) {
				// Nothing was written for it: the others still apply.
				out[i] = chorus.DeliveryResult{Err: chorus.Errorf(chorus.ENOTFOUND, "Conversation not found.")}
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
		return nil, errorf(err, "mark deliveries on", "conversations")
	}
	return out, nil
}

// markReceiptTx raises one reader's watermark inside tx. An unknown
// conversation is sql.ErrNoRows, before anything is written.
func (db *DB) markReceiptTx(ctx context.Context, tx wtx, tenantID, conversationID string, reader chorus.Actor, kind string, seq int64, at time.Time) (wm int64, moved bool, err error) {
	// The conversation's last_seq and the reader's watermarks (0 before
	// the first receipt), in one read.
	var last, oldDelivered, oldRead int64
	err = tx.StmtContext(ctx, db.st.rcptGet).QueryRowContext(ctx, reader.Type, reader.ID, tenantID, conversationID).
		Scan(&last, &oldDelivered, &oldRead)
	if err != nil {
		return 0, false, err
	}
	seq = max(min(seq, last), 0)
	newDelivered, newRead := max(oldDelivered, seq), oldRead
	if kind == chorus.ReceiptRead {
		newRead = max(oldRead, seq)
		wm, moved = newRead, newRead != oldRead
	} else {
		wm, moved = newDelivered, newDelivered != oldDelivered
	}
	if newDelivered == oldDelivered && newRead == oldRead {
		return wm, moved, nil
	}
	atUS := micros(at)
	if _, err := tx.StmtContext(ctx, db.st.rcptUpsert).ExecContext(ctx, tenantID, conversationID, reader.Type, reader.ID,
		newDelivered, newRead, atUS); err != nil {
		return 0, false, err
	}
	if newDelivered > oldDelivered {
		if _, err := tx.StmtContext(ctx, db.st.rcptDelivered).ExecContext(ctx, atUS, conversationID,
			oldDelivered, newDelivered, reader.Type); err != nil {
			return 0, false, err
		}
	}
	if newRead > oldRead {
		if _, err := tx.StmtContext(ctx, db.st.rcptRead).ExecContext(ctx, atUS, conversationID,
			oldRead, newRead, reader.Type); err != nil {
			return 0, false, err
		}
	}
	return wm, moved, nil
}
