package chorus

import (
	"context"
	"slices"
)

// Roles carried in tokens.
const (
	RoleAdmin      = "admin"
	RoleSupervisor = "supervisor"
	RoleAgent      = "agent"
	RoleVisitor    = "visitor"
)

// ValidRoles lists every role a token may carry.
var ValidRoles = []string{RoleAdmin, RoleSupervisor, RoleAgent, RoleVisitor}

// Principal is the authenticated caller of a request or WebSocket connection.
type Principal struct {
	TenantID string
	// Subject is the token's sub: an agent id, or a visitor's contact id.
	Subject string
	Roles   []string
	// ConversationID is set for visitor tokens: the only conversation they reach.
	ConversationID string
	// Name and Email come from optional token claims (just-in-time provisioning).
	Name  string
	Email string
}

// HasRole reports whether p carries role r.
func (p Principal) HasRole(r string) bool { return slices.Contains(p.Roles, r) }

// IsVisitor reports whether p is a visitor (and nothing more).
func (p Principal) IsVisitor() bool {
	return p.HasRole(RoleVisitor) && !p.IsAgent()
}

// IsAgent reports whether p is an agent, supervisor or admin.
func (p Principal) IsAgent() bool {
	return p.HasRole(RoleAgent) || p.IsSupervisor()
}

// IsSupervisor reports whether p is a supervisor or admin.
func (p Principal) IsSupervisor() bool {
	return p.HasRole(RoleSupervisor) || p.HasRole(RoleAdmin)
}

// IsAdmin reports whether p is an admin.
func (p Principal) IsAdmin() bool { return p.HasRole(RoleAdmin) }

// ActorType is the sender/actor type of p: "visitor" or "agent".
func (p Principal) ActorType() string {
	if p.IsVisitor() {
		return SenderVisitor
	}
	return SenderAgent
}

// Actor returns p as an Actor.
func (p Principal) Actor() Actor { return Actor{Type: p.ActorType(), ID: p.Subject} }

type principalKey struct{}

// NewContextWithPrincipal returns ctx carrying p.
func NewContextWithPrincipal(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFromContext returns the caller. It fails closed: without a
// principal it returns an EUNAUTHORIZED error.
func PrincipalFromContext(ctx context.Context) (Principal, error) {
	p, ok := ctx.Value(principalKey{}).(Principal)
	if !ok || p.TenantID == "" || p.Subject == "" {
		return Principal{}, Errorf(EUNAUTHORIZED, "Authentication required.")
	}
	return p, nil
}
