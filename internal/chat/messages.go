package chat

import (
	"context"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

// SendMessage validates, authorizes and persists a message, then publishes
// it. A repeated client_msg_id returns the stored message with created=false
// (and publishes nothing new). connID names the sending socket ("" over
// REST) so that it can skip the echo of its own message.
func (s *Service) SendMessage(ctx context.Context, p chorus.Principal, convID, clientMsgID, body, connID string) (chorus.Message, bool, error) {
	if err := chorus.ValidClientMsgID(clientMsgID); err != nil {
		return chorus.Message{}, false, err
	}
	body, err := chorus.NormalizeBody(body)
	if err != nil {
		return chorus.Message{}, false, err
	}
	if !chorus.ValidID(convID) {
		return chorus.Message{}, false, chorus.Errorf(chorus.ENOTFOUND, "Conversation not found.")
	}
	nm := chorus.NewMessage{
		ID: newID(), ConversationID: convID, SenderType: p.ActorType(), SenderID: p.Subject,
		Body: body, ClientMsgID: clientMsgID, CreatedAt: s.now().UTC(),
	}
	switch {
	case p.IsVisitor():
		if p.ConversationID != convID {
			return chorus.Message{}, false, chorus.Errorf(chorus.ENOTFOUND, "Conversation not found.")
		}
		if err := s.allow(ctx, "messages_per_visitor", p.TenantID+":"+p.Subject, s.cfg.Limits.MessagesPerVisitor); err != nil {
			return chorus.Message{}, false, err
		}
	case p.IsSupervisor():
	case p.IsAgent():
		nm.SenderMustBeAssignee = true
	default:
		return chorus.Message{}, false, chorus.Errorf(chorus.EFORBIDDEN, "Not allowed.")
	}
	t0 := time.Now()
	m, created, err := s.store.MessageCreate(ctx, p.TenantID, nm)
	if err != nil {
		return m, false, err
	}
	if !created && (m.SenderID != nm.SenderID || m.SenderType != nm.SenderType) {
		// Idempotency is per conversation: another participant's message
		// with the same client_msg_id is not this sender's retry. Someone
		// who may not write here learns nothing about which ids exist.
		if _, err := s.Authorize(ctx, p, convID, true); err != nil {
			return chorus.Message{}, false, err
		}
		return chorus.Message{}, false, chorus.Errorf(chorus.ECONFLICT, "client_msg_id: already used in this conversation by another sender.")
	}
	if !created {
		s.metrics.duplicates.Inc()
		return m, false, nil
	}
	s.metrics.persist.Observe(time.Since(t0).Seconds())
	s.metrics.messages.WithLabelValues(m.SenderType).Inc()
	s.publishMessage(ctx, &m, connID)
	return m, true, nil
}

// ListMessages returns messages after afterSeq, ordered by seq.
func (s *Service) ListMessages(ctx context.Context, p chorus.Principal, convID string, afterSeq int64, limit int) ([]chorus.Message, error) {
	if afterSeq < 0 {
		return nil, chorus.Errorf(chorus.EINVALID, "after_seq: must be >= 0.")
	}
	if _, err := s.Authorize(ctx, p, convID, false); err != nil {
		return nil, err
	}
	return s.store.MessageList(ctx, p.TenantID, convID, afterSeq, clampLimit(limit, 50))
}

// MarkRead records that p has read the conversation up to seq.
func (s *Service) MarkRead(ctx context.Context, p chorus.Principal, convID string, seq int64) error {
	if seq < 1 {
		return chorus.Errorf(chorus.EINVALID, "seq: must be >= 1.")
	}
	if _, err := s.Authorize(ctx, p, convID, !p.IsSupervisor()); err != nil {
		return err
	}
	return s.markReceipt(ctx, p.TenantID, convID, p.Actor(), chorus.ReceiptRead, seq)
}

// MarkDelivered records, in one store call, that readers received their
// conversations up to the marks' seqs (the gateway calls it with the
// receipts it coalesced after writing messages to sockets; no authorization
// here: each socket was authorized when it opened), and publishes a receipt
// for every watermark that moved. Marks that failed alone are returned.
func (s *Service) MarkDelivered(ctx context.Context, marks []chorus.DeliveryMark) ([]chorus.DeliveryResult, error) {
	res, err := s.store.MessageMarkDelivered(ctx, marks, s.now().UTC())
	if err != nil {
		return nil, err
	}
	for i, r := range res {
		if r.Err == nil && r.Moved {
			m := marks[i]
			s.publishReceipt(ctx, m.TenantID, m.ConversationID, m.Reader, chorus.ReceiptDelivered, r.Watermark)
		}
	}
	return res, nil
}

func (s *Service) markReceipt(ctx context.Context, tenantID, convID string, actor chorus.Actor, kind string, seq int64) error {
	wm, moved, err := s.store.MessageMarkReceipt(ctx, tenantID, convID, actor, kind, seq, s.now().UTC())
	if err != nil {
		return err
	}
	if moved {
		s.publishReceipt(ctx, tenantID, convID, actor, kind, wm)
	}
	return nil
}

// Typing tells the conversation's other sockets that p is (or stopped) typing.
// Nothing is stored. The caller checked p's access when the socket opened.
func (s *Service) Typing(ctx context.Context, p chorus.Principal, convID string, active bool) {
	a := p.Actor()
	b := mustJSON(typingFrame{Type: chorus.EventTyping, ConversationID: convID, Actor: a, Active: active})
	s.publish(ctx, chorus.ConversationTopic(p.TenantID, convID), chorus.Event{
		Type: chorus.EventTyping, ConversationID: convID, Origin: a.Type + ":" + a.ID, Data: b,
	})
}
