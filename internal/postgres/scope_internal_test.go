package postgres

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/enkisys/chorus/internal/chorustest"
)

// TestScopeErrors: every path through scope reports the statement's error
// and gives the connection back (the pool has one, and each step needs it).
func TestScopeErrors(t *testing.T) {
	u, err := url.Parse(chorustest.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	db, err := Open(context.Background(), u.String(), chorustest.Logger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	s := db.tenant("t1")
	const bad = "SELECT nope FROM nowhere"

	if _, err := s.Exec(ctx, bad); err == nil {
		t.Error("Exec of a bad statement succeeded")
	}
	if _, err := s.Query(ctx, bad); err == nil {
		t.Error("Query of a bad statement succeeded")
	}
	if err := s.QueryRow(ctx, bad).Scan(new(int)); err == nil {
		t.Error("QueryRow of a bad statement succeeded")
	}
	// A failure while the rows are read (division by zero on the second).
	rows, err := s.Query(ctx, "SELECT 1 / (2 - g) FROM generate_series(1, 3) g")
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	for rows.Next() {
	}
	if rows.Err() == nil {
		t.Error("rows.Err() = nil after a failing row")
	}
	rows.Close()
	rows.Close() // twice is fine

	// A relaxed scope's statement commits without waiting for the WAL flush.
	var sc string
	if err := db.tenantRelaxed("t1").QueryRow(ctx, "SELECT current_setting('synchronous_commit')").Scan(&sc); err != nil || sc != "off" {
		t.Errorf("relaxed scope: synchronous_commit = %q, %v; want off", sc, err)
	}
	if err := s.QueryRow(ctx, "SELECT current_setting('synchronous_commit')").Scan(&sc); err != nil || sc != "on" {
		t.Errorf("tenant scope: synchronous_commit = %q, %v; want on", sc, err)
	}

	// A setting that cannot be set fails before the statement runs.
	bogus := scope{pool: db.pool, name: "not a valid name", value: "x"}
	if _, err := bogus.Exec(ctx, "SELECT 1"); err == nil {
		t.Error("Exec with an invalid setting name succeeded")
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.QueryRow(cancelled, "SELECT 1").Scan(new(int)); !errors.Is(err, context.Canceled) {
		t.Errorf("QueryRow on a cancelled context: %v, want context.Canceled", err)
	}

	// The one connection is still usable.
	var n int
	if err := s.QueryRow(ctx, "SELECT count(*) FROM tenants").Scan(&n); err != nil || n != 0 {
		t.Errorf("after the errors: %d tenants, %v", n, err)
	}
	if err := db.WithTenantTx(cancelled, "t1", func(pgx.Tx) error { return nil }); err == nil {
		t.Error("WithTenantTx on a cancelled context succeeded")
	}
}
