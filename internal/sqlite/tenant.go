package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/enkisys/chorus/internal/chorus"
)

// TenantEnsure creates the tenant if it does not exist and returns it; an
// existing tenant is returned unchanged.
func (db *DB) TenantEnsure(ctx context.Context, id, name string) (chorus.Tenant, error) {
	var t chorus.Tenant
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)
			ON CONFLICT (id) DO NOTHING`, id, name, micros(now())); err != nil {
			return err
		}
		var err error
		t, err = scanTenant(tx.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?`, id))
		return err
	})
	if err != nil {
		return chorus.Tenant{}, errorf(err, "ensure", "tenant")
	}
	return t, nil
}

// TenantGet returns the tenant.
func (db *DB) TenantGet(ctx context.Context, id string) (chorus.Tenant, error) {
	t, err := scanTenant(db.r.QueryRowContext(ctx, `SELECT id, name, created_at FROM tenants WHERE id = ?`, id))
	if err != nil {
		return chorus.Tenant{}, errorf(err, "get", "tenant")
	}
	return t, nil
}

func scanTenant(row *sql.Row) (chorus.Tenant, error) {
	var t chorus.Tenant
	var created int64
	if err := row.Scan(&t.ID, &t.Name, &created); err != nil {
		return chorus.Tenant{}, err
	}
	t.CreatedAt = fromMicros(created)
	return t, nil
}

// queryer is what *sql.DB and *sql.Tx have in common.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

const agentSelect = `SELECT a.tenant_id, a.id, a.name, a.email, a.roles, a.status, a.capacity, a.created_at,
	(SELECT count(*) FROM live_chat_sessions c
	 WHERE c.tenant_id = a.tenant_id AND c.assignee_id = a.id AND c.status = 'active'),
	a.password_hash
	FROM agents a `

type scanner interface{ Scan(dest ...any) error }

// scanAgent scans a row of agentSelect.
func scanAgent(row scanner) (chorus.Agent, string, error) {
	var a chorus.Agent
	var roles, hash string
	var created int64
	if err := row.Scan(&a.TenantID, &a.ID, &a.Name, &a.Email, &roles, &a.Status, &a.Capacity, &created,
		&a.ActiveConversations, &hash); err != nil {
		return chorus.Agent{}, "", err
	}
	var err error
	if a.Roles, err = parseList(roles); err != nil {
		return chorus.Agent{}, "", err
	}
	a.CreatedAt = fromMicros(created)
	return a, hash, nil
}

func getAgent(ctx context.Context, q queryer, tenantID, id string) (chorus.Agent, error) {
	a, _, err := scanAgent(q.QueryRowContext(ctx, agentSelect+`WHERE a.tenant_id = ? AND a.id = ?`, tenantID, id))
	return a, err
}

// AgentEnsure creates the agent if missing (offline, CapacityDefault when
// a.Capacity is 0); for an existing agent it updates name, e-mail and roles
// when the given ones are non-empty and differ.
func (db *DB) AgentEnsure(ctx context.Context, tenantID string, a chorus.Agent) (chorus.Agent, error) {
	var out chorus.Agent
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		cur, err := getAgent(ctx, tx, tenantID, a.ID)
		if errors.Is(err, sql.ErrNoRows) {
			if err := insertAgent(ctx, tx, tenantID, a, ""); err != nil {
				return err
			}
			out, err = getAgent(ctx, tx, tenantID, a.ID)
			return err
		}
		if err != nil {
			return err
		}
		name, email, roles := cur.Name, cur.Email, cur.Roles
		if a.Name != "" {
			name = a.Name
		}
		if a.Email != "" {
			email = a.Email
		}
		if len(a.Roles) > 0 {
			roles = a.Roles
		}
		if name != cur.Name || email != cur.Email || !slices.Equal(roles, cur.Roles) {
			if _, err := tx.ExecContext(ctx, `UPDATE agents SET name = ?, email = ?, roles = ?, updated_at = ?
				WHERE tenant_id = ? AND id = ?`, name, email, jsonList(roles), micros(now()), tenantID, a.ID); err != nil {
				return err
			}
			cur.Name, cur.Email, cur.Roles = name, email, roles
		}
		out = cur
		return nil
	})
	if err != nil {
		return chorus.Agent{}, errorf(err, "ensure", "agent")
	}
	return out, nil
}

func insertAgent(ctx context.Context, tx wtx, tenantID string, a chorus.Agent, passwordHash string) error {
	created := a.CreatedAt
	if created.IsZero() {
		created = now()
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO agents
		(tenant_id, id, name, email, roles, status, capacity, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		tenantID, a.ID, a.Name, a.Email, jsonList(a.Roles), cmp.Or(a.Status, chorus.AgentOffline),
		cmp.Or(a.Capacity, chorus.CapacityDefault), passwordHash, micros(created), micros(now()))
	return err
}

// AgentCreate creates a standalone account. ECONFLICT when the id or the
// e-mail (case-insensitive, per tenant) is taken.
func (db *DB) AgentCreate(ctx context.Context, tenantID string, a chorus.Agent, passwordHash string) (chorus.Agent, error) {
	var out chorus.Agent
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		if err := insertAgent(ctx, tx, tenantID, a, passwordHash); err != nil {
			return err
		}
		var err error
		out, err = getAgent(ctx, tx, tenantID, a.ID)
		return err
	})
	if err != nil {
		return chorus.Agent{}, errorf(err, "create", "agent")
	}
	return out, nil
}

// AgentGet returns the agent with ActiveConversations counted.
func (db *DB) AgentGet(ctx context.Context, tenantID, id string) (chorus.Agent, error) {
	a, err := getAgent(ctx, db.r, tenantID, id)
	if err != nil {
		return chorus.Agent{}, errorf(err, "get", "agent")
	}
	return a, nil
}

// AgentList returns the tenant's agents ordered by name, then id.
func (db *DB) AgentList(ctx context.Context, tenantID string) ([]chorus.Agent, error) {
	rows, err := db.r.QueryContext(ctx, agentSelect+`WHERE a.tenant_id = ? ORDER BY a.name, a.id`, tenantID)
	if err != nil {
		return nil, errorf(err, "list", "agents")
	}
	defer rows.Close()
	out := []chorus.Agent{}
	for rows.Next() {
		a, _, err := scanAgent(rows)
		if err != nil {
			return nil, errorf(err, "list", "agents")
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, errorf(err, "list", "agents")
	}
	return out, nil
}

// AgentCredentials returns the agent with this e-mail (case-insensitive) and
// its password hash.
func (db *DB) AgentCredentials(ctx context.Context, tenantID, email string) (chorus.Agent, string, error) {
	if email == "" {
		return chorus.Agent{}, "", errorf(sql.ErrNoRows, "get", "agent")
	}
	a, hash, err := scanAgent(db.r.QueryRowContext(ctx, agentSelect+`WHERE a.tenant_id = ? AND lower(a.email) = lower(?) AND a.email <> ''`,
		tenantID, email))
	if err != nil {
		return chorus.Agent{}, "", errorf(err, "get", "agent")
	}
	return a, hash, nil
}

// AgentSetStatus sets the availability and appends a row to the
// agent_availability history in the same transaction.
func (db *DB) AgentSetStatus(ctx context.Context, tenantID, id, status string) (chorus.Agent, error) {
	switch status {
	case chorus.AgentOnline, chorus.AgentAway, chorus.AgentOffline:
	default:
		return chorus.Agent{}, fmt.Errorf("sqlite: set agent status: %w",
			chorus.Errorf(chorus.EINVALID, "status: must be online, away or offline."))
	}
	var out chorus.Agent
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		at := micros(now())
		res, err := tx.ExecContext(ctx, `UPDATE agents SET status = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			status, at, tenantID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sql.ErrNoRows
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO agent_availability (tenant_id, agent_id, status, changed_at)
			VALUES (?, ?, ?, ?)`, tenantID, id, status, at); err != nil {
			return err
		}
		out, err = getAgent(ctx, tx, tenantID, id)
		return err
	})
	if err != nil {
		return chorus.Agent{}, errorf(err, "set status of", "agent")
	}
	return out, nil
}

// AgentSetPassword replaces an agent's password hash.
func (db *DB) AgentSetPassword(ctx context.Context, tenantID, id, passwordHash string) error {
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		res, err := tx.ExecContext(ctx, `UPDATE agents SET password_hash = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			passwordHash, micros(now()), tenantID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sql.ErrNoRows
		}
		return nil
	})
	if err != nil {
		return errorf(err, "set password of", "agent")
	}
	return nil
}

// AgentStatusHistory returns the statuses recorded by AgentSetStatus for the
// agent, oldest first (storetest.StatusHistorian).
func (db *DB) AgentStatusHistory(ctx context.Context, tenantID, agentID string) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT status FROM agent_availability
		WHERE tenant_id = ? AND agent_id = ? ORDER BY changed_at, id`, tenantID, agentID)
	if err != nil {
		return nil, errorf(err, "list", "agent availability")
	}
	defer rows.Close()
	out := []string{}
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, errorf(err, "list", "agent availability")
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, errorf(err, "list", "agent availability")
	}
	return out, nil
}
