package chorus

import (
	"context"
	"time"
)

// Store is the persistence of Chorus. Two adapters implement it: sqlite (the
// embedded default) and postgres; internal/storetest is the conformance suite
// both must pass. Every method that touches tenant data takes the tenant id
// explicitly and filters on it: another tenant's row is ENOTFOUND, never
// visible. Not found is always an *Error with ENOTFOUND, never (nil, nil) or a
// zero value; a uniqueness violation is ECONFLICT.
type Store interface {
	TenantStore
	AgentStore
	ChannelStore
	ContactStore
	ConversationStore
	MessageStore
	OutboxStore
	AuditStore
	SettingStore

	// Ping checks the database is reachable (readiness).
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// TenantStore keeps tenants.
type TenantStore interface {
	// TenantEnsure creates the tenant if it does not exist (just-in-time
	// provisioning) and returns it; an existing tenant is returned unchanged.
	TenantEnsure(ctx context.Context, id, name string) (Tenant, error)
	TenantGet(ctx context.Context, id string) (Tenant, error)
}

// AgentStore keeps agents (users with the agent, supervisor or admin role).
type AgentStore interface {
	// AgentEnsure creates the agent if missing (status offline, capacity
	// CapacityDefault when a.Capacity is 0); for an existing agent it updates
	// name, email and roles when the given ones are non-empty and differ.
	AgentEnsure(ctx context.Context, tenantID string, a Agent) (Agent, error)
	// AgentCreate creates a standalone account. ECONFLICT when the id or the
	// e-mail (case-insensitive, per tenant) is taken. passwordHash may be "".
	AgentCreate(ctx context.Context, tenantID string, a Agent, passwordHash string) (Agent, error)
	// AgentGet returns the agent with ActiveConversations counted.
	AgentGet(ctx context.Context, tenantID, id string) (Agent, error)
	// AgentList returns the tenant's agents ordered by name, then id.
	AgentList(ctx context.Context, tenantID string) ([]Agent, error)
	// AgentCredentials returns the agent with this e-mail (case-insensitive)
	// and its password hash ("" when it has none).
	AgentCredentials(ctx context.Context, tenantID, email string) (Agent, string, error)
	// AgentSetStatus sets the availability and appends a row to the
	// agent_availability history in the same transaction.
	AgentSetStatus(ctx context.Context, tenantID, id, status string) (Agent, error)
	// AgentSetPassword replaces an agent's password hash.
	AgentSetPassword(ctx context.Context, tenantID, id, passwordHash string) error
}

// ChannelStore keeps channels.
type ChannelStore interface {
	// ChannelCreate stores c; ID, WidgetKey and CreatedAt are set by the
	// caller (the store does not invent ids).
	ChannelCreate(ctx context.Context, tenantID string, c Channel) (Channel, error)
	ChannelGet(ctx context.Context, tenantID, id string) (Channel, error)
	ChannelList(ctx context.Context, tenantID string) ([]Channel, error)
	// ChannelByWidgetKey finds a channel by its public widget key, across
	// tenants: the one lookup that does not start from a tenant.
	ChannelByWidgetKey(ctx context.Context, widgetKey string) (Channel, error)
}

// ContactStore keeps contacts and their per-channel identities.
type ContactStore interface {
	ContactCreate(ctx context.Context, tenantID string, c Contact) (Contact, error)
	ContactGet(ctx context.Context, tenantID, id string) (Contact, error)
	// ContactIdentitySet records that contact has identity value (for example
	// the SHA-256 of a widget resume token) on channel; unique per
	// (tenant, channel, kind, value).
	ContactIdentitySet(ctx context.Context, tenantID, contactID, channelID, kind, value string) error
	// ContactByIdentity finds the contact holding that identity on channel.
	ContactByIdentity(ctx context.Context, tenantID, channelID, kind, value string) (Contact, error)
}

// Identity kinds of contacts.
const (
	IdentityResumeToken = "resume_token_sha256"
	IdentityEmail       = "email"
)

// ConversationFilter selects conversations for ConversationList.
type ConversationFilter struct {
	// Status, when set, keeps only that status.
	Status string
	// AssigneeID, when set, keeps only conversations assigned to that agent.
	AssigneeID string
	// VisibleTo, when set, keeps only conversations assigned to that agent or
	// queued (what an agent may see).
	VisibleTo string
	// ContactID, when set, keeps only that contact's conversations.
	ContactID string
	// Limit is the page size (1..200).
	Limit int
	// Cursor is the opaque next_cursor of the previous page ("" for the first).
	// Pages are ordered newest first (created_at DESC, id DESC).
	Cursor string
}

// Transition is a compare-and-set on a conversation's state.
type Transition struct {
	// From lists the statuses the change is allowed from; any other current
	// status is ECONFLICT and nothing changes.
	From []string
	// OnlyAssignee, when set, requires the current assignee to be this id
	// (ECONFLICT otherwise).
	OnlyAssignee string
	// To is the new status.
	To string
	// AssigneeID is the new assignee (nil: none). TeamID likewise.
	AssigneeID *string
	TeamID     *string
	// At is the time of the change: it sets assigned_at when To is active and
	// the assignee changes, queued_at when To is queued, closed_at when To is
	// closed, and updated_at always.
	At time.Time
	// Event is the domain event the change records in the outbox (one of
	// the OutboxConversation* kinds); empty means OutboxConversationUpdated.
	Event string
	// Actor is who made the change; nil means Chorus itself (the router, a
	// timeout). It is recorded in the outbox payload (ConversationChange).
	Actor *Actor
}

// ConversationStore keeps conversations (live_chat_sessions).
type ConversationStore interface {
	// ConversationCreate stores a new conversation (the caller sets ID,
	// status, timestamps) and an outbox row conversation.created (a
	// ConversationChange payload) in one transaction.
	ConversationCreate(ctx context.Context, tenantID string, c Conversation) (Conversation, error)
	ConversationGet(ctx context.Context, tenantID, id string) (Conversation, error)
	// ConversationList returns one page and the cursor of the next ("" at
	// the end).
	ConversationList(ctx context.Context, tenantID string, f ConversationFilter) ([]Conversation, string, error)
	// ConversationTransition applies t atomically and writes an outbox row
	// of kind t.Event (conversation.updated when empty) with a
	// ConversationChange payload in the same transaction. ENOTFOUND when the
	// conversation does not exist in the tenant, ECONFLICT when its status
	// is not in t.From or the assignee check fails.
	ConversationTransition(ctx context.Context, tenantID, id string, t Transition) (Conversation, error)
	// QueueList returns queued conversations, oldest queued_at first, at
	// most limit.
	QueueList(ctx context.Context, tenantID string, limit int) ([]Conversation, error)
	// QueuePosition returns the 1-based place of the conversation in its
	// tenant's queue, in QueueList's order, however long the queue; 0 when
	// it is not queued; ENOTFOUND when it does not exist in the tenant.
	QueuePosition(ctx context.Context, tenantID, conversationID string) (int, error)
	// ContactOpenConversation returns the contact's newest conversation
	// that is not closed, or ENOTFOUND.
	ContactOpenConversation(ctx context.Context, tenantID, contactID string) (Conversation, error)
}

// NewMessage is the input of MessageCreate.
type NewMessage struct {
	ID             string // set by the caller (UUIDv7)
	ConversationID string
	SenderType     string
	SenderID       string
	Body           string
	ClientMsgID    string
	CreatedAt      time.Time
	// SenderMustBeAssignee, when set, requires the conversation's assignee to
	// equal SenderID (agents who are not supervisors): EFORBIDDEN otherwise.
	SenderMustBeAssignee bool
}

// MessageStore keeps messages and receipts.
type MessageStore interface {
	// MessageCreate persists m in one transaction: if (conversation,
	// client_msg_id) exists it returns that stored message and created=false
	// (even when the conversation has since closed: idempotency first);
	// otherwise it bumps the conversation's last_seq, inserts the message with
	// that seq and an outbox row message.created, and returns created=true.
	// ENOTFOUND when the conversation is not in the tenant; ECONFLICT when it
	// is closed. Two concurrent calls with the same client_msg_id yield one
	// message; the loser gets the winner's message with created=false and no
	// seq is consumed.
	MessageCreate(ctx context.Context, tenantID string, m NewMessage) (Message, bool, error)
	// MessageList returns messages with seq > afterSeq ordered by seq, at most
	// limit.
	MessageList(ctx context.Context, tenantID, conversationID string, afterSeq int64, limit int) ([]Message, error)
	// MessageMarkReceipt records that reader (a visitor or an agent) has
	// received (kind delivered) or read (kind read) the conversation up to
	// seq: it raises the reader's watermark (never lowers it; read implies
	// delivered) and sets delivered_at / read_at on the messages up to seq
	// sent by the other side that lack it. It returns the new watermark and
	// whether it moved. seq above the conversation's last_seq is clamped.
	MessageMarkReceipt(ctx context.Context, tenantID, conversationID string, reader Actor, kind string, seq int64, at time.Time) (int64, bool, error)
	// MessageMarkDelivered records many delivery receipts at once (the
	// gateway coalesces them), in as few transactions as the engine allows:
	// each mark behaves as MessageMarkReceipt with kind delivered. Results
	// come in the order of marks; a mark whose conversation is not in its
	// tenant gets an ENOTFOUND Err and changes nothing, the others apply. The
	// error is for failures of the whole call.
	MessageMarkDelivered(ctx context.Context, marks []DeliveryMark, at time.Time) ([]DeliveryResult, error)
}

// DeliveryMark is one delivery receipt: Reader received the conversation up to Seq.
type DeliveryMark struct {
	TenantID       string
	ConversationID string
	Reader         Actor
	Seq            int64
}

// DeliveryResult is the outcome of one DeliveryMark.
type DeliveryResult struct {
	Watermark int64
	Moved     bool
	Err       error
}

// OutboxStore is read by the notify worker.
type OutboxStore interface {
	// OutboxFetch returns up to limit of the oldest outbox rows, all tenants.
	OutboxFetch(ctx context.Context, limit int) ([]OutboxEvent, error)
	// OutboxDelete removes processed rows.
	OutboxDelete(ctx context.Context, ids []int64) error
	// OutboxDrain hands up to limit of the oldest rows, oldest first, to fn
	// and deletes the ids fn returns, as one drain that excludes every
	// other drain of the database, in any process: the rows are handled in
	// order, by one worker at a time. A drain that finds another running
	// hands nothing and returns 0. A worker that dies mid-drain deletes
	// nothing, so its rows are handed out again (at least once).
	OutboxDrain(ctx context.Context, limit int, fn func([]OutboxEvent) (done []int64)) (int, error)
}

// SettingStore keeps per-tenant settings: one JSON object per name
// ("routing", "retention", "summary", …). The module that owns a name owns
// its shape, validation and defaults; the store only keeps the document.
type SettingStore interface {
	// SettingGet returns the tenant's document for name; ENOTFOUND when it
	// was never set (the caller applies its defaults).
	SettingGet(ctx context.Context, tenantID, name string) ([]byte, error)
	// SettingPut replaces the tenant's document for name. value must be a
	// JSON object (EINVALID otherwise).
	SettingPut(ctx context.Context, tenantID, name string, value []byte) error
}

// AuditStore keeps the append-only audit log.
type AuditStore interface {
	AuditAppend(ctx context.Context, tenantID string, e AuditEntry) error
	// AuditList returns entries newest first with id < beforeID (0: from the
	// newest), at most limit.
	AuditList(ctx context.Context, tenantID string, beforeID int64, limit int) ([]AuditEntry, error)
}
