package postgres

import (
	"cmp"
	"context"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/postgres/internal/dbsqlc"
)

// TenantEnsure creates the tenant if it does not exist and returns it.
func (db *DB) TenantEnsure(ctx context.Context, id, name string) (chorus.Tenant, error) {
	if err := db.q.TenantEnsure(ctx, db.tenant(id), dbsqlc.TenantEnsureParams{ID: id, Name: name}); err != nil {
		return chorus.Tenant{}, translate(err, "ensure", "tenant")
	}
	return db.TenantGet(ctx, id)
}

// TenantGet returns the tenant.
func (db *DB) TenantGet(ctx context.Context, id string) (chorus.Tenant, error) {
	t, err := db.q.TenantGet(ctx, db.tenant(id), id)
	if err != nil {
		return chorus.Tenant{}, translate(err, "get", "tenant")
	}
	return chorus.Tenant{ID: t.ID, Name: t.Name, CreatedAt: t.CreatedAt}, nil
}

// AgentEnsure creates the agent if missing, or updates its name, e-mail and
// roles when the given ones are non-empty and differ.
func (db *DB) AgentEnsure(ctx context.Context, tenantID string, a chorus.Agent) (chorus.Agent, error) {
	err := db.q.AgentEnsure(ctx, db.tenant(tenantID), dbsqlc.AgentEnsureParams{
		TenantID: tenantID,
		ID:       a.ID,
		Name:     a.Name,
		Email:    a.Email,
		Roles:    orEmpty(a.Roles),
		Capacity: int32(cmp.Or(a.Capacity, chorus.CapacityDefault)),
	})
	if err != nil {
		return chorus.Agent{}, translate(err, "ensure", "agent")
	}
	return db.AgentGet(ctx, tenantID, a.ID)
}

// AgentCreate creates a standalone account; ECONFLICT when the id or the
// e-mail is taken.
func (db *DB) AgentCreate(ctx context.Context, tenantID string, a chorus.Agent, passwordHash string) (chorus.Agent, error) {
	err := db.q.AgentCreate(ctx, db.tenant(tenantID), dbsqlc.AgentCreateParams{
		TenantID:     tenantID,
		ID:           a.ID,
		Name:         a.Name,
		Email:        a.Email,
		Roles:        orEmpty(a.Roles),
		Status:       cmp.Or(a.Status, chorus.AgentOffline),
		Capacity:     int32(cmp.Or(a.Capacity, chorus.CapacityDefault)),
		PasswordHash: passwordHash,
	})
	if err != nil {
		return chorus.Agent{}, translate(err, "create", "agent")
	}
	return db.AgentGet(ctx, tenantID, a.ID)
}

// AgentGet returns the agent with its active conversations counted.
func (db *DB) AgentGet(ctx context.Context, tenantID, id string) (chorus.Agent, error) {
	r, err := db.q.AgentGet(ctx, db.tenant(tenantID), dbsqlc.AgentGetParams{TenantID: tenantID, ID: id})
	if err != nil {
		return chorus.Agent{}, translate(err, "get", "agent")
	}
	return toAgent(r), nil
}

// AgentList returns the tenant's agents ordered by name, then id.
func (db *DB) AgentList(ctx context.Context, tenantID string) ([]chorus.Agent, error) {
	rows, err := db.q.AgentList(ctx, db.tenant(tenantID), tenantID)
	if err != nil {
		return nil, translate(err, "list", "agents")
	}
	out := make([]chorus.Agent, 0, len(rows))
	for _, r := range rows {
		out = append(out, toAgent((*dbsqlc.AgentGetRow)(r)))
	}
	return out, nil
}

// AgentCredentials returns the agent with this e-mail and its password hash.
func (db *DB) AgentCredentials(ctx context.Context, tenantID, email string) (chorus.Agent, string, error) {
	if email == "" {
		return chorus.Agent{}, "", chorus.Errorf(chorus.ENOTFOUND, "agent not found.")
	}
	r, err := db.q.AgentCredentials(ctx, db.tenant(tenantID), dbsqlc.AgentCredentialsParams{TenantID: tenantID, Email: email})
	if err != nil {
		return chorus.Agent{}, "", translate(err, "get", "agent")
	}
	a := toAgent(&dbsqlc.AgentGetRow{
		TenantID: r.TenantID, ID: r.ID, Name: r.Name, Email: r.Email, Roles: r.Roles, Status: r.Status,
		Capacity: r.Capacity, CreatedAt: r.CreatedAt, ActiveConversations: r.ActiveConversations,
	})
	return a, r.PasswordHash, nil
}

// AgentSetStatus sets the availability and appends to its history in one
// statement.
func (db *DB) AgentSetStatus(ctx context.Context, tenantID, id, status string) (chorus.Agent, error) {
	n, err := db.q.AgentSetStatus(ctx, db.tenant(tenantID), dbsqlc.AgentSetStatusParams{TenantID: tenantID, ID: id, Status: status})
	if err != nil {
		return chorus.Agent{}, translate(err, "set", "agent status")
	}
	if n == 0 {
		return chorus.Agent{}, chorus.Errorf(chorus.ENOTFOUND, "agent not found.")
	}
	return db.AgentGet(ctx, tenantID, id)
}

// AgentSetPassword replaces an agent's password hash.
func (db *DB) AgentSetPassword(ctx context.Context, tenantID, id, passwordHash string) error {
	n, err := db.q.AgentSetPassword(ctx, db.tenant(tenantID), dbsqlc.AgentSetPasswordParams{TenantID: tenantID, ID: id, PasswordHash: passwordHash})
	if err != nil {
		return translate(err, "set", "agent password")
	}
	if n == 0 {
		return chorus.Errorf(chorus.ENOTFOUND, "agent not found.")
	}
	return nil
}

func toAgent(r *dbsqlc.AgentGetRow) chorus.Agent {
	return chorus.Agent{
		ID:                  r.ID,
		TenantID:            r.TenantID,
		Name:                r.Name,
		Email:               r.Email,
		Roles:               orEmpty(r.Roles),
		Status:              r.Status,
		Capacity:            int(r.Capacity),
		ActiveConversations: int(r.ActiveConversations),
		CreatedAt:           r.CreatedAt,
	}
}

// AgentStatusHistory returns the statuses recorded by AgentSetStatus for the
// agent, oldest first (storetest.StatusHistorian).
func (db *DB) AgentStatusHistory(ctx context.Context, tenantID, agentID string) ([]string, error) {
	rows, err := db.q.AgentAvailabilityList(ctx, db.tenant(tenantID), dbsqlc.AgentAvailabilityListParams{TenantID: tenantID, AgentID: agentID})
	if err != nil {
		return nil, translate(err, "list", "agent status history")
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.Status)
	}
	return out, nil
}
