// Package chat is the chat role: conversations, messages, receipts, the
// queue and assignment, widget sessions and agents, over REST (/api/v1). Its
// Service is also the library the gateway calls to persist what arrives on a
// socket, so a message takes the same path whichever transport carries it:
// validate, authorize, one transaction (sequence, insert, outbox), then
// publish on the bus.
package chat

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/enkisys/chorus/internal/chorus"
)

// Defaults.
const (
	VisitorTokenTTLDefault = 4 * time.Hour
	AgentTokenTTLDefault   = 6 * time.Hour
)

// Limits are the abuse limits the chat role enforces (0 disables one).
type Limits struct {
	WidgetSessionsPerIP  chorus.Limit
	WidgetSessionsPerKey chorus.Limit
	LoginPerIP           chorus.Limit
	LoginPerAccount      chorus.Limit
	MessagesPerVisitor   chorus.Limit
	APIPerTenant         chorus.Limit
}

// Config of the chat role.
type Config struct {
	Limits Limits
	// VisitorTokenTTL and AgentTokenTTL bound issued tokens (max 6 h).
	VisitorTokenTTL time.Duration
	AgentTokenTTL   time.Duration
}

// TokenIssuer signs a token (auth.Issue).
type TokenIssuer func(c TokenClaims, ttl time.Duration) (string, time.Time, error)

// TokenClaims are the claims of a token Chorus issues.
type TokenClaims struct {
	Subject, TenantID, ConversationID, Name, Email string
	Roles                                          []string
}

// PasswordChecker verifies a password against a stored hash, burning the
// same time when the hash is empty (unknown account).
type PasswordChecker func(hash, password string) bool

// PasswordHasher hashes a new password.
type PasswordHasher func(password string) (string, error)

// Service implements the chat operations. It is safe for concurrent use.
type Service struct {
	cfg     Config
	store   chorus.Store
	bus     chorus.Bus
	limiter chorus.RateLimiter
	issue   TokenIssuer
	check   PasswordChecker
	hash    PasswordHasher
	logger  *slog.Logger
	metrics *metrics
	now     func() time.Time

	provisioned sync.Map // key: tenant|sub|name|email|roles → struct{}
}

type metrics struct {
	messages   *prometheus.CounterVec
	duplicates prometheus.Counter
	busErrors  prometheus.Counter
	persist    prometheus.Histogram
	limited    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_messages_total", Help: "Messages accepted, by sender type and transport.",
		}, []string{"sender_type"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_message_retries_total", Help: "Sends answered with the stored message (repeated client_msg_id).",
		}),
		busErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "chorus_bus_publish_errors_total", Help: "Bus publishes that failed (subscribers catch up from the database).",
		}),
		persist: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "chorus_message_persist_seconds", Help: "Time to persist one message (sequence, insert, outbox).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25},
		}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "chorus_rate_limited_total", Help: "Requests or frames refused by a rate limit, by limit.",
		}, []string{"limit"}),
	}
	if reg != nil {
		reg.MustRegister(m.messages, m.duplicates, m.busErrors, m.persist, m.limited)
	}
	return m
}

// Deps are what the Service needs.
type Deps struct {
	Store    chorus.Store
	Bus      chorus.Bus
	Limiter  chorus.RateLimiter
	Issue    TokenIssuer
	Check    PasswordChecker
	Hash     PasswordHasher
	Registry prometheus.Registerer
}

// NewService returns the chat service.
func NewService(cfg Config, d Deps, logger *slog.Logger) *Service {
	if cfg.VisitorTokenTTL == 0 {
		cfg.VisitorTokenTTL = VisitorTokenTTLDefault
	}
	if cfg.AgentTokenTTL == 0 {
		cfg.AgentTokenTTL = AgentTokenTTLDefault
	}
	return &Service{
		cfg: cfg, store: d.Store, bus: d.Bus, limiter: d.Limiter,
		issue: d.Issue, check: d.Check, hash: d.Hash,
		logger: logger, metrics: newMetrics(d.Registry), now: time.Now,
	}
}

// Store returns the store (the gateway replays history from it).
func (s *Service) Store() chorus.Store { return s.store }

// Bus returns the bus.
func (s *Service) Bus() chorus.Bus { return s.bus }

// CountLimited records a refusal by a rate limit (for the gateway too).
func (s *Service) CountLimited(limit string) { s.metrics.limited.WithLabelValues(limit).Inc() }

// allow applies a rate limit; a zero limit allows everything. A limiter
// failure lets the request through (fail open) and is logged.
func (s *Service) allow(ctx context.Context, name, key string, l chorus.Limit) error {
	if l.Rate <= 0 || s.limiter == nil {
		return nil
	}
	ok, retry, err := s.limiter.Allow(ctx, name+":"+key, l)
	if err != nil {
		s.logger.WarnContext(ctx, "rate limiter unavailable", "limit", name, "err", err)
		return nil
	}
	if ok {
		return nil
	}
	s.CountLimited(name)
	secs := int(retry.Seconds() + 0.999)
	if secs < 1 {
		secs = 1
	}
	return &chorus.Error{Code: chorus.ERATELIMITED, Message: "Too many requests; retry later.", RetryAfterSeconds: secs}
}

func newID() string { return uuid.Must(uuid.NewV7()).String() }

func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Provision creates, the first time they are seen, the tenant and the agent
// of a valid token (just-in-time provisioning from the host platform's
// claims). Visitor tokens are issued by Chorus itself and need nothing.
func (s *Service) Provision(ctx context.Context, p chorus.Principal) error {
	if !p.IsAgent() {
		return nil
	}
	roles, _ := json.Marshal(p.Roles)
	key := p.TenantID + "|" + p.Subject + "|" + p.Name + "|" + p.Email + "|" + string(roles)
	if _, ok := s.provisioned.Load(key); ok {
		return nil
	}
	if _, err := s.store.TenantEnsure(ctx, p.TenantID, p.TenantID); err != nil {
		return err
	}
	var agentRoles []string
	for _, r := range p.Roles {
		if r != chorus.RoleVisitor {
			agentRoles = append(agentRoles, r)
		}
	}
	if _, err := s.store.AgentEnsure(ctx, p.TenantID, chorus.Agent{
		ID: p.Subject, TenantID: p.TenantID, Name: p.Name, Email: p.Email, Roles: agentRoles,
	}); err != nil {
		return err
	}
	s.provisioned.Store(key, struct{}{})
	return nil
}

// audit appends an audit entry for admin and supervisor actions; a failure
// is logged, never shown to the caller after the action succeeded.
func (s *Service) audit(ctx context.Context, p chorus.Principal, action, targetType, targetID string, details any) {
	var raw json.RawMessage
	if details != nil {
		raw, _ = json.Marshal(details)
	}
	err := s.store.AuditAppend(ctx, p.TenantID, chorus.AuditEntry{
		TenantID: p.TenantID, Actor: p.Actor(), Action: action, TargetType: targetType, TargetID: targetID,
		Details: raw, CreatedAt: s.now().UTC(),
	})
	if err != nil {
		s.logger.ErrorContext(ctx, "audit append failed", "action", action, "err", err)
	}
}
