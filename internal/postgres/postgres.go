// Package postgres is the PostgreSQL adapter of chorus.Store, on a pgx v5
// pool. Queries are written in queries/*.sql and compiled by sqlc into
// internal/dbsqlc (generated, committed, unimportable outside this package);
// errors are translated once, in translate. Migrations (migrations.Postgres)
// are applied by Open under a PostgreSQL advisory lock.
package postgres

//go:generate sh -c "CGO_ENABLED=0 go run github.com/sqlc-dev/sqlc/cmd/sqlc@v1.31.1 generate"

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/postgres/internal/dbsqlc"
)

// DB is a chorus.Store on a PostgreSQL connection pool. Statements are
// prepared and cached per connection by pgx (the default exec mode), which
// the MessageCreate hot path relies on.
type DB struct {
	pool   *pgxpool.Pool
	q      *dbsqlc.Queries
	logger *slog.Logger
}

var _ chorus.Store = (*DB)(nil)

// PoolMaxConnsDefault is the pool size unless the URL sets pool_max_conns.
// Five processes of a split deployment at this size stay under PostgreSQL's
// default max_connections (100).
const PoolMaxConnsDefault = 16

// Open connects to url (a postgres:// URL or DSN; pool_max_conns and the
// other pgxpool parameters are honoured), applies the pending migrations as
// the connecting user under an advisory lock, so that processes starting
// together against an empty database apply the schema once, then opens the
// pool whose connections run as AppRole (see rls.go) and pings it. The
// connecting user must be allowed to SET ROLE AppRole: a superuser, or the
// user that applied migration 0002 (which makes it a member).
func Open(ctx context.Context, url string, logger *slog.Logger) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: parse url: %w", err)
	}
	if err := migrateConn(ctx, cfg.ConnConfig, logger); err != nil {
		return nil, err
	}
	cfg.AfterConnect = afterConnect
	if !strings.Contains(url, "pool_max_conns") {
		// pgxpool's default (max(4, CPUs)) starves a chat server: every
		// message is a commit that waits for the WAL flush, so throughput
		// needs concurrency, not CPU. PostgreSQL groups those flushes.
		cfg.MaxConns = PoolMaxConnsDefault
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: ping: %w", err)
	}
	return &DB{pool: pool, q: dbsqlc.New(), logger: logger}, nil
}

// Pool returns the underlying pool (for metrics and tests). Its connections
// run as AppRole with no tenant set: tenant tables look empty through it
// outside WithTenantTx.
func (db *DB) Pool() *pgxpool.Pool { return db.pool }

// Stats returns a snapshot of the pool's statistics.
func (db *DB) Stats() *pgxpool.Stat { return db.pool.Stat() }

// Ping checks the database is reachable.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close releases the connections.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// WithTx runs fn in a transaction: it commits when fn returns nil and rolls
// back otherwise (fn's error is returned as is). No tenant is set, so
// row-level security hides every tenant row from fn: use WithTenantTx.
func (db *DB) WithTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: commit: %w", err)
	}
	return nil
}

// SQLSTATE codes translated to chorus error codes.
const (
	sqlstateUniqueViolation     = "23505" // ECONFLICT
	sqlstateForeignKeyViolation = "23503" // ENOTFOUND: a referenced row is missing
)

// translate turns a database error into the store's contract, once, at the
// boundary: no rows is ENOTFOUND, a uniqueness violation ECONFLICT, a foreign
// key violation (the tenant, channel, contact… referred to does not exist)
// ENOTFOUND, anything else is wrapped as "postgres: <verb> <noun>: %w". An error that already is a
// *chorus.Error passes through.
func translate(err error, verb, noun string) error {
	if err == nil {
		return nil
	}
	var ce *chorus.Error
	if errors.As(err, &ce) {
		return err
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return chorus.Errorf(chorus.ENOTFOUND, "%s not found.", noun)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case sqlstateUniqueViolation:
			return chorus.Errorf(chorus.ECONFLICT, "%s already exists.", noun)
		case sqlstateForeignKeyViolation:
			return chorus.Errorf(chorus.ENOTFOUND, "%s: a referenced object was not found.", noun)
		}
	}
	wrapped := fmt.Errorf("postgres: %s %s: %w", verb, noun, err)
	if unavailable(err) {
		// Retryable: the client is told to try again (503 / "unavailable"),
		// and the log keeps the cause.
		return errors.Join(errUnavailable, wrapped)
	}
	return wrapped
}

var errUnavailable = chorus.Errorf(chorus.EUNAVAILABLE, "The database is unavailable; retry shortly.")

// unavailable reports whether err means the database could not be reached
// or went away (as opposed to a query that failed).
func unavailable(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 08: connection exception; 57P01-57P03: shutdown, cannot connect now.
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" || pgErr.Code == "57P03"
	}
	var connErr *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connErr) || errors.As(err, &netErr) || pgconn.Timeout(err) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, puddle.ErrClosedPool) // shutting down
}

// isDeadlock reports whether PostgreSQL chose err's transaction as the
// victim of a deadlock (SQLSTATE 40P01); it was rolled back and may be retried.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

func isUniqueViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == sqlstateUniqueViolation
}

// limitOr returns limit, or def when limit is 0 or less.
func limitOr(limit, def int) int32 {
	if limit <= 0 {
		return int32(def)
	}
	return int32(min(limit, 1<<30))
}

// orEmpty replaces a nil slice with an empty one (pgx encodes nil as NULL and
// the array columns are NOT NULL).
func orEmpty(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
