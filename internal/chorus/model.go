package chorus

import (
	"encoding/json"
	"time"
)

// Conversation statuses: queued → active → closed. missed is reserved for the
// queue timeout of the presence/routing work (ROADMAP).
const (
	StatusQueued = "queued"
	StatusActive = "active"
	StatusClosed = "closed"
	StatusMissed = "missed"
)

// Sender and actor types.
const (
	SenderVisitor = "visitor"
	SenderAgent   = "agent"
	SenderSystem  = "system"
)

// Agent availability.
const (
	AgentOnline  = "online"
	AgentAway    = "away"
	AgentOffline = "offline"
)

// Channel types. Only the web widget exists today; the schema keeps a type so
// e-mail, SMS and messaging adapters share the conversation model later.
const (
	ChannelWebWidget = "web_widget"
)

// CapacityDefault is how many active conversations an agent takes by default.
const CapacityDefault = 5

// Tenant is one customer organisation. Its id comes from the host platform's
// tokens (tenant_id claim) or from `chorus tenant create`.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
}

// Agent is a user who answers conversations (agent, supervisor or admin).
// ID is the token's sub.
type Agent struct {
	ID                  string    `json:"id"`
	TenantID            string    `json:"tenant_id"`
	Name                string    `json:"name"`
	Email               string    `json:"email"`
	Roles               []string  `json:"roles"`
	Status              string    `json:"status"`
	Capacity            int       `json:"capacity"`
	ActiveConversations int       `json:"active_conversations"`
	CreatedAt           time.Time `json:"created_at"`
}

// Contact is a visitor or customer. Identities per channel (an e-mail address,
// a phone number, a widget resume token) live in contact_identities.
type Contact struct {
	ID        string            `json:"id"`
	TenantID  string            `json:"tenant_id"`
	Name      string            `json:"name"`
	Email     string            `json:"email"`
	Metadata  map[string]string `json:"metadata,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
}

// Channel is an entry point for conversations, such as a website widget.
type Channel struct {
	ID             string    `json:"id"`
	TenantID       string    `json:"tenant_id"`
	Type           string    `json:"type"`
	Name           string    `json:"name"`
	WidgetKey      string    `json:"widget_key,omitempty"`
	AllowedOrigins []string  `json:"allowed_origins"`
	CreatedAt      time.Time `json:"created_at"`
}

// Conversation is a live chat session (table live_chat_sessions).
type Conversation struct {
	ID         string     `json:"id"`
	TenantID   string     `json:"tenant_id"`
	ChannelID  string     `json:"channel_id"`
	ContactID  string     `json:"contact_id"`
	Status     string     `json:"status"`
	AssigneeID *string    `json:"assignee_id"`
	TeamID     *string    `json:"team_id"`
	LastSeq    int64      `json:"last_seq"`
	CreatedAt  time.Time  `json:"created_at"`
	QueuedAt   *time.Time `json:"queued_at"`
	AssignedAt *time.Time `json:"assigned_at"`
	ClosedAt   *time.Time `json:"closed_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
}

// Message is one chat message. Seq starts at 1 in each conversation and has
// no gaps; it is assigned in the same transaction as the insert.
type Message struct {
	ID             string     `json:"id"`
	TenantID       string     `json:"tenant_id"`
	ConversationID string     `json:"conversation_id"`
	Seq            int64      `json:"seq"`
	SenderType     string     `json:"sender_type"`
	SenderID       string     `json:"sender_id"`
	Body           string     `json:"body"`
	ClientMsgID    string     `json:"client_msg_id"`
	CreatedAt      time.Time  `json:"created_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	ReadAt         *time.Time `json:"read_at"`
}

// Actor identifies who did something: a visitor (contact id) or an agent (sub).
type Actor struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

// Receipt kinds.
const (
	ReceiptDelivered = "delivered"
	ReceiptRead      = "read"
)

// OutboxEvent is a change recorded in the same transaction as the change
// itself, for the notify worker (webhooks, e-mail, summaries).
type OutboxEvent struct {
	ID        int64           `json:"id"`
	TenantID  string          `json:"tenant_id"`
	Kind      string          `json:"kind"`
	Payload   json.RawMessage `json:"payload"`
	CreatedAt time.Time       `json:"created_at"`
}

// Outbox kinds: the domain events. message.created carries the Message;
// every conversation kind carries a ConversationChange (who, what, when, from
// which state: enough to rebuild reports and to drive webhooks, alerts and
// summaries). Webhook event names are these kinds.
const (
	OutboxMessageCreated          = "message.created"
	OutboxConversationCreated     = "conversation.created"
	OutboxConversationAssigned    = "conversation.assigned"    // queued → active: accepted or routed
	OutboxConversationTransferred = "conversation.transferred" // to another agent, or to a team's queue
	OutboxConversationQueued      = "conversation.queued"      // back to the queue (requeued)
	OutboxConversationClosed      = "conversation.closed"
	OutboxConversationMissed      = "conversation.missed"  // nobody took it within the queue timeout
	OutboxConversationUpdated     = "conversation.updated" // any other change (priority, team)
)

// ConversationChange is the outbox payload of a conversation event.
type ConversationChange struct {
	Event string `json:"event"`
	// Actor is who made the change; nil for Chorus itself (router, timeouts).
	Actor *Actor `json:"actor,omitempty"`
	// From* are the state before the change (empty on creation).
	FromStatus     string       `json:"from_status,omitempty"`
	FromAssigneeID *string      `json:"from_assignee_id,omitempty"`
	FromTeamID     *string      `json:"from_team_id,omitempty"`
	Conversation   Conversation `json:"conversation"`
}

// AuditEntry is one append-only record of an admin or supervisor action.
type AuditEntry struct {
	ID         int64           `json:"id"`
	TenantID   string          `json:"tenant_id"`
	Actor      Actor           `json:"actor"`
	Action     string          `json:"action"`
	TargetType string          `json:"target_type"`
	TargetID   string          `json:"target_id"`
	Details    json.RawMessage `json:"details,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
}
