package chorus

import (
	"context"
	"time"
)

// Event types carried on the bus. All but EventResync are also the "type" of
// the server frame in Event.Data.
const (
	EventMessage      = "message"
	EventReceipt      = "receipt"
	EventTyping       = "typing"
	EventConversation = "conversation"
	EventPresence     = "presence"
	EventQueue        = "queue"
	// EventNotification is an in-app alert for one agent, published on its
	// AgentTopic and written as is to that agent's /ws/v1/agent streams.
	EventNotification = "notification"
	// EventResync is delivered by a Bus to every handler when events may
	// have been lost (a Redis reconnect): subscribers then catch up from the
	// database. It carries no Data.
	EventResync = "bus.resync"
)

// Event is one item on the bus: a server frame, encoded once by the
// publisher and written as is to every socket, plus what receivers need to
// route it without decoding.
type Event struct {
	Type           string
	ConversationID string
	// Seq is the message sequence for EventMessage (gap detection and
	// de-duplication by subscribers); 0 otherwise.
	Seq int64
	// Origin identifies who caused the event, so that its own socket can skip
	// an echo: "<actor type>:<actor id>" (typing, receipts, presence), and
	// for messages "<actor type>:<actor id>|<connection id>" (the connection
	// id is empty when the message came over REST). May be empty.
	Origin string
	// Data is the JSON server frame.
	Data []byte
	// PublishedAt is when the event was published (unix nanoseconds; 0 if
	// unknown), for the bus-lag and delivery-latency metrics.
	PublishedAt int64
}

// Handler receives events. It runs on the bus's delivery goroutine and must
// not block: enqueue and return.
type Handler func(Event)

// Subscription is an active subscription.
type Subscription interface {
	// Unsubscribe stops delivery; it is safe to call twice.
	Unsubscribe()
}

// Bus fans events out to every subscriber of a topic, in every process.
// Delivery is at most once and in publish order per publisher; the database
// is the truth, the bus only the fast path. A subscriber that needs every
// message detects gaps by Seq and on EventResync, and reads the database.
type Bus interface {
	// Publish sends ev to the topic's current subscribers.
	Publish(ctx context.Context, topic string, ev Event) error
	// Subscribe registers h for topic. It returns only once the subscription
	// is active: an event published after it returns reaches h.
	Subscribe(ctx context.Context, topic string, h Handler) (Subscription, error)
	// Close stops delivery and releases resources.
	Close() error
}

// ConversationTopic is the topic of one conversation's events. Topics start
// with the tenant so that no subscription can match another tenant's events.
func ConversationTopic(tenantID, conversationID string) string {
	return "t." + tenantID + ".conv." + conversationID
}

// AgentsTopic is the topic of tenant-wide events for agents: conversation
// lifecycle, queue and presence.
func AgentsTopic(tenantID string) string { return "t." + tenantID + ".agents" }

// AgentTopic is the topic of one agent's own events (notifications); every
// /ws/v1/agent stream of that agent subscribes to it.
func AgentTopic(tenantID, agentID string) string { return "t." + tenantID + ".agent." + agentID }

// Limit is a token-bucket rate: Rate tokens per Per, bursts of Burst.
type Limit struct {
	Rate  int
	Per   time.Duration
	Burst int
}

// RateLimiter counts events per key. Two adapters: in-process, and Redis
// (so that a limit holds across the nodes of a split deployment).
type RateLimiter interface {
	// Allow takes one token from key's bucket. When refused it returns
	// false and how long until a token is available.
	Allow(ctx context.Context, key string, l Limit) (bool, time.Duration, error)
}
