package chat

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/enkisys/chorus/internal/chorus"
)

// LoginRequest is the body of POST /auth/login.
type LoginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	TenantID string `json:"tenant_id"`
}

// LoginResult is its answer.
type LoginResult struct {
	Token     string       `json:"token"`
	ExpiresAt string       `json:"expires_at"`
	Agent     chorus.Agent `json:"agent"`
}

var errBadLogin = chorus.Errorf(chorus.EUNAUTHORIZED, "Invalid e-mail, password or tenant.")

// Login checks a standalone account's password (constant work whether or
// not the account exists) and issues a token.
func (s *Service) Login(ctx context.Context, req LoginRequest, ip string) (LoginResult, error) {
	if err := s.allow(ctx, "login_per_ip", ip, s.cfg.Limits.LoginPerIP); err != nil {
		return LoginResult{}, err
	}
	if req.Email == "" || req.Password == "" || req.TenantID == "" {
		return LoginResult{}, chorus.Errorf(chorus.EINVALID, "email, password and tenant_id: required.")
	}
	if len(req.Email) > 254 || len(req.Password) > 256 || !chorus.ValidTenantID(req.TenantID) {
		s.check("", req.Password)
		return LoginResult{}, errBadLogin
	}
	account := req.TenantID + ":" + strings.ToLower(req.Email)
	if err := s.allow(ctx, "login_per_account", account, s.cfg.Limits.LoginPerAccount); err != nil {
		return LoginResult{}, err
	}
	agent, hash, err := s.store.AgentCredentials(ctx, req.TenantID, req.Email)
	if err != nil && chorus.ErrorCode(err) != chorus.ENOTFOUND {
		return LoginResult{}, err
	}
	if !s.check(hash, req.Password) || err != nil || hash == "" {
		return LoginResult{}, errBadLogin
	}
	token, exp, err := s.issue(TokenClaims{
		Subject: agent.ID, TenantID: agent.TenantID, Roles: agent.Roles, Name: agent.Name, Email: agent.Email,
	}, s.cfg.AgentTokenTTL)
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Token: token, ExpiresAt: exp.UTC().Format(timeFormat), Agent: agent}, nil
}

// Me describes the caller.
type Me struct {
	ID             string        `json:"id"`
	TenantID       string        `json:"tenant_id"`
	Roles          []string      `json:"roles"`
	Type           string        `json:"type"`
	ConversationID string        `json:"conversation_id,omitempty"`
	Agent          *chorus.Agent `json:"agent,omitempty"`
}

// Me returns the caller; for agents with their agent record.
func (s *Service) Me(ctx context.Context, p chorus.Principal) (Me, error) {
	me := Me{ID: p.Subject, TenantID: p.TenantID, Roles: p.Roles, Type: p.ActorType(), ConversationID: p.ConversationID}
	if p.IsAgent() {
		a, err := s.store.AgentGet(ctx, p.TenantID, p.Subject)
		if err != nil {
			return me, err
		}
		me.Agent = &a
	}
	return me, nil
}

// ListAgents returns the tenant's agents (supervisors and admins).
func (s *Service) ListAgents(ctx context.Context, p chorus.Principal) ([]chorus.Agent, error) {
	if !p.IsSupervisor() {
		return nil, chorus.Errorf(chorus.EFORBIDDEN, "Supervisors and admins only.")
	}
	return s.store.AgentList(ctx, p.TenantID)
}

// CreateAgentRequest is the body of POST /agents.
type CreateAgentRequest struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
	Password string   `json:"password"`
	Capacity *int     `json:"capacity"`
}

// CreatedAgent is the answer: the agent, and a generated password when none was given.
type CreatedAgent struct {
	chorus.Agent
	Password string `json:"password,omitempty"`
}

// CreateAgent creates a standalone account (admins).
func (s *Service) CreateAgent(ctx context.Context, p chorus.Principal, req CreateAgentRequest) (CreatedAgent, error) {
	if !p.IsAdmin() {
		return CreatedAgent{}, chorus.Errorf(chorus.EFORBIDDEN, "Admins only.")
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || utf8.RuneCountInString(req.Name) > maxNameChars || hasControl(req.Name) || !utf8.ValidString(req.Name) {
		return CreatedAgent{}, chorus.Errorf(chorus.EINVALID, "name: 1 to %d characters of text.", maxNameChars)
	}
	if err := ValidEmail(req.Email); err != nil {
		return CreatedAgent{}, err
	}
	if req.ID == "" {
		req.ID = newID()
	} else if !chorus.ValidID(req.ID) {
		return CreatedAgent{}, chorus.Errorf(chorus.EINVALID, "id: letters, digits and - _ . : @ only, at most 128.")
	}
	if len(req.Roles) == 0 {
		req.Roles = []string{chorus.RoleAgent}
	}
	for _, r := range req.Roles {
		if r == chorus.RoleVisitor || !slices.Contains(chorus.ValidRoles, r) {
			return CreatedAgent{}, chorus.Errorf(chorus.EINVALID, "roles: each one of admin, supervisor, agent.")
		}
	}
	capacity := chorus.CapacityDefault
	if req.Capacity != nil {
		if *req.Capacity < 0 || *req.Capacity > 1000 {
			return CreatedAgent{}, chorus.Errorf(chorus.EINVALID, "capacity: 0 to 1000.")
		}
		capacity = *req.Capacity
	}
	generated := ""
	if req.Password == "" {
		generated = randomToken(12)
		req.Password = generated
	} else if err := validatePassword(req.Password); err != nil {
		return CreatedAgent{}, err
	}
	hash, err := s.hash(req.Password)
	if err != nil {
		return CreatedAgent{}, err
	}
	a, err := s.store.AgentCreate(ctx, p.TenantID, chorus.Agent{
		ID: req.ID, TenantID: p.TenantID, Name: req.Name, Email: req.Email, Roles: req.Roles,
		Status: chorus.AgentOffline, Capacity: capacity, CreatedAt: s.now().UTC(),
	}, hash)
	if err != nil {
		if chorus.ErrorCode(err) == chorus.ECONFLICT {
			return CreatedAgent{}, chorus.Errorf(chorus.ECONFLICT, "An agent with this id or e-mail exists.")
		}
		return CreatedAgent{}, err
	}
	s.audit(ctx, p, "agent.create", "agent", a.ID, map[string]any{"roles": a.Roles})
	return CreatedAgent{Agent: a, Password: generated}, nil
}

func validatePassword(pw string) error {
	if n := utf8.RuneCountInString(pw); n < 8 || n > 256 {
		return chorus.Errorf(chorus.EINVALID, "password: 8 to 256 characters.")
	}
	return nil
}

// SetStatus sets the caller's availability and tells the tenant's agents.
func (s *Service) SetStatus(ctx context.Context, p chorus.Principal, status string) (chorus.Agent, error) {
	if !p.IsAgent() {
		return chorus.Agent{}, chorus.Errorf(chorus.EFORBIDDEN, "Agents only.")
	}
	switch status {
	case chorus.AgentOnline, chorus.AgentAway, chorus.AgentOffline:
	default:
		return chorus.Agent{}, chorus.Errorf(chorus.EINVALID, "status: must be online, away or offline.")
	}
	a, err := s.store.AgentSetStatus(ctx, p.TenantID, p.Subject, status)
	if err != nil {
		return a, err
	}
	s.publishPresence(ctx, &a)
	return a, nil
}

// CreateChannelRequest is the body of POST /channels.
type CreateChannelRequest struct {
	Type           string   `json:"type"`
	Name           string   `json:"name"`
	AllowedOrigins []string `json:"allowed_origins"`
}

// CreateChannel creates a channel (admins); a web_widget gets a widget key.
func (s *Service) CreateChannel(ctx context.Context, p chorus.Principal, req CreateChannelRequest) (chorus.Channel, error) {
	if !p.IsAdmin() {
		return chorus.Channel{}, chorus.Errorf(chorus.EFORBIDDEN, "Admins only.")
	}
	if req.Type != chorus.ChannelWebWidget {
		return chorus.Channel{}, chorus.Errorf(chorus.EINVALID, "type: must be web_widget.")
	}
	req.Name = strings.TrimSpace(req.Name)
	if req.Name == "" || utf8.RuneCountInString(req.Name) > maxNameChars || !utf8.ValidString(req.Name) || hasControl(req.Name) {
		return chorus.Channel{}, chorus.Errorf(chorus.EINVALID, "name: 1 to %d characters of text.", maxNameChars)
	}
	origins, err := normalizeOrigins(req.AllowedOrigins)
	if err != nil {
		return chorus.Channel{}, err
	}
	ch, err := s.store.ChannelCreate(ctx, p.TenantID, chorus.Channel{
		ID: newID(), TenantID: p.TenantID, Type: req.Type, Name: req.Name, WidgetKey: "wk_" + randomToken(18),
		AllowedOrigins: origins, CreatedAt: s.now().UTC(),
	})
	if err != nil {
		return ch, err
	}
	s.audit(ctx, p, "channel.create", "channel", ch.ID, map[string]any{"allowed_origins": origins})
	return ch, nil
}

// ListChannels returns the tenant's channels (admins).
func (s *Service) ListChannels(ctx context.Context, p chorus.Principal) ([]chorus.Channel, error) {
	if !p.IsAdmin() {
		return nil, chorus.Errorf(chorus.EFORBIDDEN, "Admins only.")
	}
	return s.store.ChannelList(ctx, p.TenantID)
}

// AuditLog returns audit entries newest first (admins).
func (s *Service) AuditLog(ctx context.Context, p chorus.Principal, beforeID int64, limit int) ([]chorus.AuditEntry, error) {
	if !p.IsAdmin() {
		return nil, chorus.Errorf(chorus.EFORBIDDEN, "Admins only.")
	}
	return s.store.AuditList(ctx, p.TenantID, beforeID, clampLimit(limit, 50))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
