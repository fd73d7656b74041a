package chorus

import (
	"context"
	"time"
)

// The three interfaces below are the seams the next capabilities plug into
// (ROADMAP.md: presence and routing, the notification worker, the summary
// engine). Nothing implements them yet; each will get an in-process adapter
// for the embedded default and a networked one for split deployments, chosen
// once in app like Store, Bus and RateLimiter, and one conformance suite run
// against both. They are kept small on purpose: the issue that implements one
// may reshape it.

// AgentPresence is one agent's live state as routing sees it.
type AgentPresence struct {
	TenantID string
	AgentID  string
	// Status is the availability the agent chose (AgentOnline, AgentAway,
	// AgentOffline), kept apart from whether a connection is alive.
	Status string
	// Connections counts the agent's live sockets (all processes).
	Connections int
	// LastSeen is the last heartbeat of any of them.
	LastSeen time.Time
}

// PresenceState holds the live part of presence: which agents have a live
// connection, across processes, with expiry so that a crashed process does
// not leave its agents online. Adapters: in-process, and Redis with TTLs.
type PresenceState interface {
	// Heartbeat records that connID of the agent is alive for ttl.
	Heartbeat(ctx context.Context, tenantID, agentID, connID string, ttl time.Duration) error
	// Drop forgets connID at once (the socket closed).
	Drop(ctx context.Context, tenantID, agentID, connID string) error
	// Agents returns the tenant's agents that have a live connection.
	Agents(ctx context.Context, tenantID string) ([]AgentPresence, error)
}

// Job is one unit of background work: a webhook delivery, an e-mail, an
// in-app notification, a summary.
type Job struct {
	// Kind routes the job to its handler ("webhook.deliver", "email.send").
	Kind     string
	TenantID string
	// Key makes Enqueue idempotent: a job whose Kind and Key are already
	// queued is not queued twice. Empty: no de-duplication.
	Key string
	// Payload is the handler's input, JSON.
	Payload []byte
	// RunAt delays the job (zero: at once), e.g. an e-mail sent only if a
	// message is still unseen a few minutes later.
	RunAt time.Time
}

// JobRule turns one domain event (an outbox row) into the background jobs it
// calls for, usually none. Each module that reacts to events exports its
// rules; the outbox relay (notify role) applies every module's rules,
// whichever roles its own process runs, and deletes the event only once its
// jobs are enqueued. Rules are pure: no I/O.
type JobRule func(ev OutboxEvent) []Job

// JobHandler runs one job. An error runs it again later, with backoff, up to
// the queue's attempt limit.
type JobHandler func(ctx context.Context, j Job) error

// JobQueue is a durable queue of background jobs, delivered at least once
// (handlers must be idempotent). Adapters: a durable in-process queue on the
// embedded database, and asynq on Redis.
type JobQueue interface {
	Enqueue(ctx context.Context, j Job) error
	// Handle registers the handler of kind, before Run.
	Handle(kind string, h JobHandler)
	// Run works jobs until ctx ends.
	Run(ctx context.Context) error
}

// VectorMatch is one result of a similarity search.
type VectorMatch struct {
	ID    string
	Score float64 // higher is more similar
}

// VectorStore keeps one embedding per document (a conversation's summary),
// per tenant, and finds the nearest. Adapters: embedded, and ChromaDB.
type VectorStore interface {
	Upsert(ctx context.Context, tenantID, id string, embedding []float32, metadata map[string]string) error
	Delete(ctx context.Context, tenantID, id string) error
	// Nearest returns up to k documents of the tenant closest to embedding.
	Nearest(ctx context.Context, tenantID string, embedding []float32, k int) ([]VectorMatch, error)
}
