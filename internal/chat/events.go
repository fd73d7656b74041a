package chat

import (
	"context"
	"encoding/json"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

// Server frames of PROTOCOL.md, encoded once by the publisher and written as
// is to every socket.

type messageFrame struct {
	Type    string          `json:"type"`
	Message *chorus.Message `json:"message"`
}

type conversationFrame struct {
	Type         string               `json:"type"`
	Conversation *chorus.Conversation `json:"conversation"`
}

type queueFrame struct {
	Type         string               `json:"type"`
	Conversation *chorus.Conversation `json:"conversation"`
	Position     int                  `json:"position"`
}

type receiptFrame struct {
	Type           string       `json:"type"`
	ConversationID string       `json:"conversation_id"`
	Kind           string       `json:"kind"`
	Seq            int64        `json:"seq"`
	Actor          chorus.Actor `json:"actor"`
}

type typingFrame struct {
	Type           string       `json:"type"`
	ConversationID string       `json:"conversation_id"`
	Actor          chorus.Actor `json:"actor"`
	Active         bool         `json:"active"`
}

type presenceAgent struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Name   string `json:"name,omitempty"`
}

type presenceFrame struct {
	Type  string        `json:"type"`
	Agent presenceAgent `json:"agent"`
}

// MessageFrame encodes the `message` frame of m.
func MessageFrame(m *chorus.Message) []byte {
	b, _ := json.Marshal(messageFrame{Type: chorus.EventMessage, Message: m})
	return b
}

// ConversationFrame encodes the `conversation` frame of c.
func ConversationFrame(c *chorus.Conversation) []byte {
	b, _ := json.Marshal(conversationFrame{Type: chorus.EventConversation, Conversation: c})
	return b
}

// publish sends an event and counts (but does not fail on) bus errors: the
// database is the truth and subscribers catch up from it.
func (s *Service) publish(ctx context.Context, topic string, ev chorus.Event) {
	ev.PublishedAt = time.Now().UnixNano()
	if err := s.bus.Publish(ctx, topic, ev); err != nil {
		s.metrics.busErrors.Inc()
		s.logger.WarnContext(ctx, "bus publish failed", "topic_type", ev.Type, "err", err)
	}
}

func (s *Service) publishMessage(ctx context.Context, m *chorus.Message, connID string) {
	s.publish(ctx, chorus.ConversationTopic(m.TenantID, m.ConversationID), chorus.Event{
		Type: chorus.EventMessage, ConversationID: m.ConversationID, Seq: m.Seq,
		Origin: m.SenderType + ":" + m.SenderID + "|" + connID, Data: MessageFrame(m),
	})
}

// publishConversation tells the conversation's sockets and the tenant's
// agents about a change; a queued conversation also gets a queue frame.
func (s *Service) publishConversation(ctx context.Context, c *chorus.Conversation) {
	ev := chorus.Event{Type: chorus.EventConversation, ConversationID: c.ID, Data: ConversationFrame(c)}
	s.publish(ctx, chorus.ConversationTopic(c.TenantID, c.ID), ev)
	s.publish(ctx, chorus.AgentsTopic(c.TenantID), ev)
	if c.Status == chorus.StatusQueued {
		pos := s.queuePosition(ctx, c)
		b, _ := json.Marshal(queueFrame{Type: chorus.EventQueue, Conversation: c, Position: pos})
		s.publish(ctx, chorus.AgentsTopic(c.TenantID), chorus.Event{Type: chorus.EventQueue, ConversationID: c.ID, Data: b})
	}
}

func (s *Service) publishReceipt(ctx context.Context, tenantID, convID string, actor chorus.Actor, kind string, seq int64) {
	b, _ := json.Marshal(receiptFrame{Type: chorus.EventReceipt, ConversationID: convID, Kind: kind, Seq: seq, Actor: actor})
	s.publish(ctx, chorus.ConversationTopic(tenantID, convID), chorus.Event{
		Type: chorus.EventReceipt, ConversationID: convID, Origin: actor.Type + ":" + actor.ID, Data: b,
	})
}

func (s *Service) publishPresence(ctx context.Context, a *chorus.Agent) {
	b, _ := json.Marshal(presenceFrame{Type: chorus.EventPresence, Agent: presenceAgent{ID: a.ID, Status: a.Status, Name: a.Name}})
	s.publish(ctx, chorus.AgentsTopic(a.TenantID), chorus.Event{Type: chorus.EventPresence, Origin: "agent:" + a.ID, Data: b})
}

// queuePosition is the 1-based place of c in its tenant's queue (0 when it
// is beyond the first queueScan entries).
func (s *Service) queuePosition(ctx context.Context, c *chorus.Conversation) int {
	pos, err := s.store.QueuePosition(ctx, c.TenantID, c.ID)
	if err != nil {
		s.logger.WarnContext(ctx, "queue position failed", "err", err)
		return 0
	}
	return pos
}
