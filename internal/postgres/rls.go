package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/enkisys/chorus/internal/postgres/internal/dbsqlc"
)

// Row-level security (migrations/postgres/0002_rls.sql) is the second line
// of tenant defence: every query filters on tenant_id, and the database also
// hides and refuses other tenants' rows when one forgets to.
//
// The policies apply to AppRole, which every pooled connection switches to
// (SET ROLE, in afterConnect): superusers and table owners bypass row-level
// security, and the connecting user usually is one of them. Each statement
// then runs in a transaction that names its tenant with
// set_config('chorus.tenant_id', tenant, true), which PostgreSQL discards at
// the end of that transaction, so a pooled connection never carries a tenant
// from one call to the next.
//
// Two reads cross tenants by design and get a narrow setting of their own
// instead of a tenant:
//   - ChannelByWidgetKey sets chorus.widget_key: the widget knows its key, not
//     its tenant, and the policy admits only the channel holding that key,
//     for reading only.
//   - OutboxFetch and OutboxDelete set chorus.scope = 'outbox': the notify
//     worker drains every tenant, and the policy admits reading and deleting
//     outbox rows only (no insert or update, no other table).
//
// A setting is a guard against a forgotten filter, not against SQL
// injection: a statement an attacker controls could set any of them.
const (
	// AppRole is the role the adapter's statements run as. The migration
	// creates it (NOLOGIN, no BYPASSRLS) and makes the migrating user a
	// member when it is not a superuser.
	AppRole = "chorus_app"

	settingTenant    = "chorus.tenant_id"
	settingWidgetKey = "chorus.widget_key"
	settingScope     = "chorus.scope"
	scopeOutbox      = "outbox"

	setConfigSQL = "SELECT set_config($1, $2, true)"
	// setConfigRelaxedSQL also lets the transaction commit without waiting
	// for the WAL flush (SET LOCAL synchronous_commit = off).
	setConfigRelaxedSQL = "SELECT set_config($1, $2, true), set_config('synchronous_commit', 'off', true)"
)

// afterConnect switches a new pooled connection to AppRole, so that the
// row-level security policies apply to everything it runs.
func afterConnect(ctx context.Context, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "SET ROLE "+AppRole); err != nil {
		return fmt.Errorf("postgres: set role %s: %w", AppRole, err)
	}
	return nil
}

// scope is a dbsqlc.DBTX that runs each statement in a transaction of its
// own after set_config(name, value, true). Both are sent as one pgx.Batch:
// one network round trip, and one implicit transaction, because pgx ends a
// batch with a single Sync and PostgreSQL runs everything up to a Sync as one
// transaction (TestScopeSettingIsTransactionLocal checks both halves: the
// statement sees the setting, the next use of the connection does not).
// A statement that fails rolls back the implicit transaction and leaves the
// connection idle, usable again.
//
// Each method call is a separate transaction: a caller that needs several
// statements to be atomic uses WithTenantTx. The Row returned by QueryRow
// must be scanned and the Rows returned by Query closed (sqlc's generated
// code always does), or the connection is not returned to the pool.
type scope struct {
	pool  *pgxpool.Pool
	name  string
	value string
	// relaxed commits without waiting for the WAL flush: for writes a crash
	// may lose without harm (receipts, which clients repeat).
	relaxed bool
}

var _ dbsqlc.DBTX = scope{}

// tenant scopes statements to one tenant's rows.
func (db *DB) tenant(tenantID string) scope {
	return scope{pool: db.pool, name: settingTenant, value: tenantID}
}

// tenantRelaxed is tenant for statements whose commit need not wait for the
// WAL flush (see scope.relaxed).
func (db *DB) tenantRelaxed(tenantID string) scope {
	return scope{pool: db.pool, name: settingTenant, value: tenantID, relaxed: true}
}

// outbox scopes statements to the outbox drain: every tenant's outbox rows,
// for reading and deleting only.
func (db *DB) outbox() scope {
	return scope{pool: db.pool, name: settingScope, value: scopeOutbox}
}

// send queues set_config and the statement, sends them, and reads the
// set_config result. On error the batch is already closed.
func (s scope) send(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	b := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, 2)}
	if s.relaxed {
		b.Queue(setConfigRelaxedSQL, s.name, s.value)
	} else {
		b.Queue(setConfigSQL, s.name, s.value)
	}
	b.Queue(sql, args...)
	br := s.pool.SendBatch(ctx, b)
	if _, err := br.Exec(); err != nil {
		_ = br.Close()
		return nil, err
	}
	return br, nil
}

// Exec implements dbsqlc.DBTX.
func (s scope) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br, err := s.send(ctx, sql, args)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// Query implements dbsqlc.DBTX.
func (s scope) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	br, err := s.send(ctx, sql, args)
	if err != nil {
		return nil, err
	}
	rows, err := br.Query()
	if err != nil {
		_ = br.Close()
		return nil, err
	}
	return &scopeRows{Rows: rows, br: br}, nil
}

// QueryRow implements dbsqlc.DBTX.
func (s scope) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	br, err := s.send(ctx, sql, args)
	return scopeRow{br: br, err: err}
}

// scopeRow reads the statement's row and then closes the batch, which
// commits the implicit transaction and releases the connection.
type scopeRow struct {
	br  pgx.BatchResults
	err error
}

func (r scopeRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	err := r.br.QueryRow().Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// scopeRows closes the batch once the rows are read or closed; an error
// closing it (the commit) is reported by Err.
type scopeRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *scopeRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *scopeRows) Close() {
	if r.closed {
		return
	}
	r.closed = true
	r.Rows.Close()
	r.err = r.br.Close()
}

func (r *scopeRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// WithTenantTx runs fn in a transaction scoped to tenantID: row-level
// security shows and accepts that tenant's rows only, whatever fn's
// statements filter on. It commits when fn returns nil and rolls back
// otherwise (fn's error is returned as is).
func (db *DB) WithTenantTx(ctx context.Context, tenantID string, fn func(tx pgx.Tx) error) error {
	return db.WithTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setConfigSQL, settingTenant, tenantID); err != nil {
			return fmt.Errorf("postgres: set tenant: %w", err)
		}
		return fn(tx)
	})
}
