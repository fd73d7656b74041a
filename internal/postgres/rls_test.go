package postgres_test

import (
	"context"
	"errors"
	neturl "net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
	"github.com/enkisys/chorus/internal/postgres"
)

// tenantTables are the tables row-level security must cover. The catalogue
// test below also fails for any other table of the schema without it.
var tenantTables = []string{
	"tenants", "agents", "agent_availability", "teams", "channels", "contacts", "contact_identities",
	"live_chat_sessions", "messages", "receipts", "outbox", "audit_log", "tenant_settings",
}

// twoTenants fills two tenants with an agent (and its status history), a
// team, a channel, a contact with an identity, a conversation, messages,
// receipts, outbox rows and an audit entry each.
func twoTenants(t *testing.T, db *postgres.DB) (a, b fixture) {
	t.Helper()
	ctx := context.Background()
	a = setup(t, db, chorus.StatusActive, ptr("agent-1"))
	b = setup(t, db, chorus.StatusActive, ptr("agent-1"))
	for _, f := range []fixture{a, b} {
		_, err := db.AgentCreate(ctx, f.tenant, chorus.Agent{ID: "agent-1", Name: "Ann", Email: "ann@example.com"}, "hash")
		must(t, err)
		_, err = db.AgentSetStatus(ctx, f.tenant, "agent-1", chorus.AgentOnline)
		must(t, err)
		must(t, db.WithTenantTx(ctx, f.tenant, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO teams (tenant_id, id, name) VALUES ($1, 'team-1', 'Support')", f.tenant)
			return err
		}))
		must(t, db.ContactIdentitySet(ctx, f.tenant, f.conv.ContactID, f.conv.ChannelID, "email", "v@example.com"))
		for _, id := range []string{"c1", "c2"} {
			_, _, err := db.MessageCreate(ctx, f.tenant, f.msg(id))
			must(t, err)
		}
		_, _, err = db.MessageMarkReceipt(ctx, f.tenant, f.conv.ID, chorus.Actor{Type: chorus.SenderAgent, ID: "agent-1"}, chorus.ReceiptRead, 2, t0)
		must(t, err)
		must(t, db.AuditAppend(ctx, f.tenant, chorus.AuditEntry{Actor: chorus.Actor{Type: chorus.SenderAgent, ID: "agent-1"}, Action: "test"}))
		must(t, db.SettingPut(ctx, f.tenant, "routing", []byte(`{"strategy":"least_busy"}`)))
	}
	return a, b
}

// pgState is err's SQLSTATE, or "" when it carries none.
func pgState(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// tenantColumn is the column holding a table's tenant.
func tenantColumn(table string) string {
	if table == "tenants" {
		return "id"
	}
	return "tenant_id"
}

// TestRowLevelSecurityHidesOtherTenants runs deliberately unfiltered queries
// through the store's pool, as the application role: with tenant A set for
// the transaction they see A's rows only, with no tenant set they see none.
func TestRowLevelSecurityHidesOtherTenants(t *testing.T) {
	db, url := openStoreURL(t)
	ctx := context.Background()
	a, b := twoTenants(t, db)

	// The superuser sees both tenants: the rows exist.
	for _, table := range tenantTables {
		var n int
		must(t, admin(t, url).QueryRow(ctx, "SELECT count(DISTINCT "+tenantColumn(table)+") FROM "+table+
			" WHERE "+tenantColumn(table)+" = ANY($1)", []string{a.tenant, b.tenant}).Scan(&n))
		if n != 2 {
			t.Fatalf("%s holds rows of %d of the two tenants, want 2 (fixture incomplete)", table, n)
		}
	}

	for _, table := range tenantTables {
		t.Run(table, func(t *testing.T) {
			// No WHERE clause at all.
			unfiltered := "SELECT " + tenantColumn(table) + " FROM " + table
			var seen []string
			must(t, db.WithTenantTx(ctx, a.tenant, func(tx pgx.Tx) error {
				rows, err := tx.Query(ctx, unfiltered)
				if err != nil {
					return err
				}
				seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
				return err
			}))
			if len(seen) == 0 {
				t.Fatalf("tenant %s sees no rows of its own in %s", a.tenant, table)
			}
			for _, tenant := range seen {
				if tenant != a.tenant {
					t.Fatalf("tenant %s sees a row of tenant %s in %s", a.tenant, tenant, table)
				}
			}

			// No tenant set: in a transaction, and on a bare pooled connection.
			var n int
			must(t, db.WithTx(ctx, func(tx pgx.Tx) error {
				return tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n)
			}))
			if n != 0 {
				t.Errorf("with no tenant set, %d rows of %s are visible, want 0", n, table)
			}
			must(t, db.Pool().QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
			if n != 0 {
				t.Errorf("on a bare pooled connection, %d rows of %s are visible, want 0", n, table)
			}
		})
	}
}

// TestRowLevelSecurityRefusesWritesForOtherTenants: with tenant A set, a row
// for tenant B cannot be inserted, and B's rows can be neither updated nor
// deleted (the statements match nothing), even by statements that do not
// filter on the tenant.
func TestRowLevelSecurityRefusesWritesForOtherTenants(t *testing.T) {
	db, url := openStoreURL(t)
	ctx := context.Background()
	a, b := twoTenants(t, db)

	inserts := map[string]string{
		"tenants":            "INSERT INTO tenants (id, name) VALUES ($1, 'x') ON CONFLICT DO NOTHING",
		"agents":             "INSERT INTO agents (tenant_id, id) VALUES ($1, 'intruder')",
		"agent_availability": "INSERT INTO agent_availability (tenant_id, agent_id, status) VALUES ($1, 'agent-1', 'online')",
		"teams":              "INSERT INTO teams (tenant_id, id, name) VALUES ($1, 'intruder', 'x')",
		"channels":           "INSERT INTO channels (tenant_id, id, type, name) VALUES ($1, 'intruder', 'web_widget', 'x')",
		"contacts":           "INSERT INTO contacts (tenant_id, id) VALUES ($1, 'intruder')",
		"contact_identities": "INSERT INTO contact_identities (tenant_id, contact_id, channel_id, kind, value) SELECT $1, contact_id, channel_id, 'phone', '1' FROM contact_identities",
		"live_chat_sessions": "INSERT INTO live_chat_sessions (tenant_id, id, channel_id, contact_id, status, created_at, updated_at) VALUES ($1, $1 || '-intruder', 'x', 'x', 'queued', now(), now())",
		"messages":           "INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_type, sender_id, body, client_msg_id, created_at) VALUES ($1, 'x', 1, $1 || '-intruder', 'agent', 'a', 'b', 'c', now())",
		"receipts":           "INSERT INTO receipts (tenant_id, conversation_id, actor_type, actor_id, updated_at) VALUES ($1, 'x', 'agent', 'a', now())",
		"outbox":             "INSERT INTO outbox (tenant_id, kind, payload) VALUES ($1, 'x', '{}')",
		"audit_log":          "INSERT INTO audit_log (tenant_id, actor_type, actor_id, action) VALUES ($1, 'agent', 'a', 'x')",
		"tenant_settings":    "INSERT INTO tenant_settings (tenant_id, name, value) VALUES ($1, 'intruder', '{}')",
	}
	for _, table := range tenantTables {
		t.Run(table, func(t *testing.T) {
			insert, ok := inserts[table]
			if !ok {
				t.Fatalf("no insert for %s", table)
			}
			// The same statement for A's own tenant passes the policy (it
			// may then fail a foreign key: anything but 42501 will do).
			err := db.WithTenantTx(ctx, a.tenant, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, insert, b.tenant)
				return err
			})
			wantSQLState(t, err, "42501") // new row violates row-level security policy
			err = db.WithTenantTx(ctx, a.tenant, func(tx pgx.Tx) error {
				_, err := tx.Exec(ctx, insert, a.tenant)
				return err
			})
			if pgState(err) == "42501" {
				t.Fatalf("inserting a row of its own tenant: %v", err)
			}

			col := tenantColumn(table)
			var updated, deleted int64
			must(t, db.WithTenantTx(ctx, a.tenant, func(tx pgx.Tx) error {
				tag, err := tx.Exec(ctx, "UPDATE "+table+" SET "+col+" = "+col+" WHERE "+col+" = $1", b.tenant)
				if err != nil {
					return err
				}
				updated = tag.RowsAffected()
				tag, err = tx.Exec(ctx, "DELETE FROM "+table+" WHERE "+col+" = $1", b.tenant)
				if err != nil {
					return err
				}
				deleted = tag.RowsAffected()
				return nil
			}))
			if updated != 0 || deleted != 0 {
				t.Errorf("tenant %s updated %d and deleted %d rows of tenant %s in %s, want 0", a.tenant, updated, deleted, b.tenant, table)
			}
		})
	}

	// Tenant B's rows are all still there.
	for _, table := range tenantTables {
		var n int
		must(t, admin(t, url).QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE "+tenantColumn(table)+" = $1", b.tenant).Scan(&n))
		if n == 0 {
			t.Errorf("tenant %s has no rows left in %s", b.tenant, table)
		}
	}
}

// TestRowLevelSecurityOnEveryTable reads the catalogue: the application role
// is neither superuser nor BYPASSRLS and owns no table; every table of the
// schema but goose's own has row-level security enabled and forced, a
// tenant_isolation policy on its tenant column for every command, and is
// listed in tenantTables. A table added later without all that fails here.
func TestRowLevelSecurityOnEveryTable(t *testing.T) {
	db, url := openStoreURL(t)
	ctx := context.Background()
	conn := admin(t, url)

	var super, bypass bool
	must(t, conn.QueryRow(ctx, "SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = $1", postgres.AppRole).Scan(&super, &bypass))
	if super || bypass {
		t.Errorf("%s: superuser %v, bypassrls %v, want neither", postgres.AppRole, super, bypass)
	}
	var currentUser string
	must(t, db.Pool().QueryRow(ctx, "SELECT current_user").Scan(&currentUser))
	if currentUser != postgres.AppRole {
		t.Errorf("pooled connections run as %q, want %q", currentUser, postgres.AppRole)
	}

	rows, err := conn.Query(ctx, `
		SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner) = $1
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'goose_db_version'
		ORDER BY c.relname`, postgres.AppRole)
	must(t, err)
	type table struct {
		name                 string
		enabled, forced, own bool
	}
	tables, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (table, error) {
		var tb table
		err := r.Scan(&tb.name, &tb.enabled, &tb.forced, &tb.own)
		return tb, err
	})
	must(t, err)
	if len(tables) < len(tenantTables) {
		t.Fatalf("schema has %d tables, want at least %d", len(tables), len(tenantTables))
	}
	for _, tb := range tables {
		if !slices.Contains(tenantTables, tb.name) {
			t.Errorf("table %s is not covered by the row-level security tests: add it to tenantTables (with a policy)", tb.name)
		}
		if !tb.enabled || !tb.forced {
			t.Errorf("table %s: row level security enabled %v, forced %v, want both", tb.name, tb.enabled, tb.forced)
		}
		if tb.own {
			t.Errorf("table %s is owned by %s, which would bypass its policies", tb.name, postgres.AppRole)
		}
		var qual, check string
		err := conn.QueryRow(ctx, `SELECT qual, with_check FROM pg_policies
			WHERE schemaname = 'public' AND tablename = $1 AND policyname = 'tenant_isolation'
			  AND cmd = 'ALL' AND permissive = 'PERMISSIVE'`, tb.name).Scan(&qual, &check)
		if err != nil {
			t.Errorf("table %s: no tenant_isolation policy for all commands: %v", tb.name, err)
			continue
		}
		want := "(" + tenantColumn(tb.name) + " = NULLIF(current_setting('chorus.tenant_id'::text, true), ''::text))"
		if qual != want || check != want {
			t.Errorf("table %s: tenant_isolation using %s with check %s, want %s", tb.name, qual, check, want)
		}
	}

	// The only other policies are the two narrow cross-tenant paths.
	rows, err = conn.Query(ctx, `SELECT tablename || '.' || policyname || ' ' || cmd FROM pg_policies
		WHERE schemaname = 'public' AND policyname <> 'tenant_isolation' ORDER BY 1`)
	must(t, err)
	others, err := pgx.CollectRows(rows, pgx.RowTo[string])
	must(t, err)
	want := []string{"channels.widget_key_lookup SELECT", "outbox.outbox_drain_delete DELETE", "outbox.outbox_drain_read SELECT"}
	if !slices.Equal(others, want) {
		t.Errorf("other policies = %q, want %q", others, want)
	}
}

// TestCrossTenantPathsAreNarrow: the widget key setting shows the one
// channel holding the key and nothing else, read-only; the outbox scope
// shows and deletes every tenant's outbox rows and nothing else.
func TestCrossTenantPathsAreNarrow(t *testing.T) {
	db := openStore(t)
	ctx := context.Background()
	a, b := twoTenants(t, db)
	chA, err := db.ChannelGet(ctx, a.tenant, a.conv.ChannelID)
	must(t, err)

	// withSetting runs fn in a transaction of the pool with one setting.
	withSetting := func(name, value string, fn func(tx pgx.Tx) error) error {
		return db.WithTx(ctx, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, "SELECT set_config($1, $2, true)", name, value); err != nil {
				return err
			}
			return fn(tx)
		})
	}
	count := func(tx pgx.Tx, table string) int {
		var n int
		must(t, tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
		return n
	}

	t.Run("WidgetKey", func(t *testing.T) {
		got, err := db.ChannelByWidgetKey(ctx, chA.WidgetKey)
		must(t, err)
		if got.ID != chA.ID || got.TenantID != a.tenant {
			t.Fatalf("ChannelByWidgetKey = %+v, want %+v", got, chA)
		}
		must(t, withSetting("chorus.widget_key", chA.WidgetKey, func(tx pgx.Tx) error {
			var ids []string
			rows, err := tx.Query(ctx, "SELECT id FROM channels")
			must(t, err)
			ids, err = pgx.CollectRows(rows, pgx.RowTo[string])
			must(t, err)
			if !slices.Equal(ids, []string{chA.ID}) {
				t.Errorf("with the widget key set, channels %q are visible, want only %s", ids, chA.ID)
			}
			for _, table := range tenantTables {
				if n := count(tx, table); table != "channels" && n != 0 {
					t.Errorf("with the widget key set, %d rows of %s are visible", n, table)
				}
			}
			tag, err := tx.Exec(ctx, "UPDATE channels SET name = 'x'")
			must(t, err)
			if tag.RowsAffected() != 0 {
				t.Errorf("with the widget key set, UPDATE changed %d channels", tag.RowsAffected())
			}
			return nil
		}))
		err = withSetting("chorus.widget_key", chA.WidgetKey, func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO channels (tenant_id, id, type, name, widget_key) VALUES ($1, 'x', 'web_widget', 'x', $2)", a.tenant, chA.WidgetKey+"-2")
			return err
		})
		wantSQLState(t, err, "42501")
		_, err = db.ChannelByWidgetKey(ctx, "no-such-key")
		wantCode(t, err, chorus.ENOTFOUND)
	})

	t.Run("Outbox", func(t *testing.T) {
		must(t, withSetting("chorus.scope", "outbox", func(tx pgx.Tx) error {
			for _, table := range tenantTables {
				if n := count(tx, table); table != "outbox" && n != 0 {
					t.Errorf("in the outbox scope, %d rows of %s are visible", n, table)
				}
			}
			tag, err := tx.Exec(ctx, "UPDATE outbox SET kind = 'x'")
			must(t, err)
			if tag.RowsAffected() != 0 {
				t.Errorf("in the outbox scope, UPDATE changed %d outbox rows", tag.RowsAffected())
			}
			return nil
		}))
		err := withSetting("chorus.scope", "outbox", func(tx pgx.Tx) error {
			_, err := tx.Exec(ctx, "INSERT INTO outbox (tenant_id, kind, payload) VALUES ($1, 'x', '{}')", a.tenant)
			return err
		})
		wantSQLState(t, err, "42501")

		events, err := db.OutboxFetch(ctx, 1000)
		must(t, err)
		tenants := map[string]bool{}
		ids := make([]int64, 0, len(events))
		for _, e := range events {
			tenants[e.TenantID] = true
			ids = append(ids, e.ID)
		}
		if !tenants[a.tenant] || !tenants[b.tenant] {
			t.Fatalf("OutboxFetch saw tenants %v, want both %s and %s", tenants, a.tenant, b.tenant)
		}
		must(t, db.OutboxDelete(ctx, ids))
		events, err = db.OutboxFetch(ctx, 1000)
		must(t, err)
		if len(events) != 0 {
			t.Errorf("after OutboxDelete, %d events left", len(events))
		}
	})
}

// TestScopeSettingIsTransactionLocal checks the premise of the one-round-trip
// batch: the statement sent after set_config in the same batch sees the
// tenant (the store finds the tenant's rows), and the setting is gone when
// the batch ends, also after a failed statement, on the same connection.
func TestScopeSettingIsTransactionLocal(t *testing.T) {
	u, err := neturl.Parse(chorustest.PostgresURL(t))
	must(t, err)
	q := u.Query()
	q.Set("pool_max_conns", "1")
	u.RawQuery = q.Encode()
	db, err := postgres.Open(context.Background(), u.String(), chorustest.Logger(t))
	must(t, err)
	t.Cleanup(func() { _ = db.Close() })
	ctx := context.Background()
	f := setup(t, db, chorus.StatusQueued, nil)

	leftover := func() string {
		t.Helper()
		var v *string
		must(t, db.Pool().QueryRow(ctx, "SELECT current_setting('chorus.tenant_id', true)").Scan(&v))
		if v == nil {
			return ""
		}
		return *v
	}
	got, err := db.ConversationGet(ctx, f.tenant, f.conv.ID)
	must(t, err)
	if got.ID != f.conv.ID {
		t.Fatalf("ConversationGet = %+v", got)
	}
	if v := leftover(); v != "" {
		t.Errorf("after a call, the connection still carries tenant %q", v)
	}
	// A failing statement (reused conversation id: unique violation).
	_, err = db.ConversationCreate(ctx, f.tenant, f.conv)
	wantCode(t, err, chorus.ECONFLICT)
	if v := leftover(); v != "" {
		t.Errorf("after a failed call, the connection still carries tenant %q", v)
	}
	var status byte
	conn, err := db.Pool().Acquire(ctx)
	must(t, err)
	status = conn.Conn().PgConn().TxStatus()
	conn.Release()
	if status != 'I' {
		t.Errorf("after a failed call, the connection's transaction status is %q, want idle", status)
	}
	// Rows, row and exec paths all still work on the one connection.
	list, _, err := db.ConversationList(ctx, f.tenant, chorus.ConversationFilter{})
	must(t, err)
	if len(list) != 1 {
		t.Errorf("ConversationList = %d conversations, want 1", len(list))
	}
	wantCode(t, db.AgentSetPassword(ctx, f.tenant, "nobody", "x"), chorus.ENOTFOUND)
	// A receipt commits without waiting for the WAL flush, and only it: the
	// connection's next statement waits again.
	_, _, err = db.MessageMarkReceipt(ctx, f.tenant, f.conv.ID, chorus.Actor{Type: chorus.SenderVisitor, ID: "v"}, chorus.ReceiptRead, 1, time.Now())
	must(t, err)
	var sc string
	must(t, db.Pool().QueryRow(ctx, "SHOW synchronous_commit").Scan(&sc))
	if sc != "on" {
		t.Errorf("after a receipt, the connection's synchronous_commit is %q, want on", sc)
	}
}

// TestNonSuperuserOwner deploys the way a managed database is often set up:
// the connecting user is not a superuser but owns the database (and so the
// tables it migrates), with CREATEROLE so that the migration can make it a
// member of the application role. The store works, the pool runs as the
// application role, and FORCE ROW LEVEL SECURITY holds the owner itself to
// the policies when it connects directly.
func TestNonSuperuserOwner(t *testing.T) {
	base := os.Getenv(chorustest.EnvDatabaseURL)
	if base == "" {
		t.Skip("set " + chorustest.EnvDatabaseURL)
	}
	ctx := context.Background()
	owner := "chorus_t_owner_" + chorustest.RandomSuffix(6)
	root := admin(t, base)
	_, err := root.Exec(ctx, "CREATE ROLE "+owner+" LOGIN CREATEROLE")
	must(t, err)
	// Registered before the database exists, so it runs after the database
	// is dropped (cleanups run last first).
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			t.Logf("drop role %s: %v", owner, err)
			return
		}
		defer c.Close(context.Background())
		if _, err := c.Exec(context.Background(), "DROP ROLE IF EXISTS "+owner); err != nil {
			t.Logf("drop role %s: %v", owner, err)
		}
	})
	dbURL := chorustest.PostgresURL(t)
	u, err := neturl.Parse(dbURL)
	must(t, err)
	_, err = root.Exec(ctx, "ALTER DATABASE "+strings.TrimPrefix(u.Path, "/")+" OWNER TO "+owner)
	must(t, err)
	u.User = neturl.User(owner)

	db, err := postgres.Open(ctx, u.String(), chorustest.Logger(t))
	must(t, err)
	t.Cleanup(func() { _ = db.Close() })
	var currentUser string
	must(t, db.Pool().QueryRow(ctx, "SELECT current_user").Scan(&currentUser))
	if currentUser != postgres.AppRole {
		t.Fatalf("pooled connections run as %q, want %q", currentUser, postgres.AppRole)
	}
	a, b := twoTenants(t, db)
	var seen []string
	must(t, db.WithTenantTx(ctx, a.tenant, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, "SELECT DISTINCT tenant_id FROM messages")
		if err != nil {
			return err
		}
		seen, err = pgx.CollectRows(rows, pgx.RowTo[string])
		return err
	}))
	if !slices.Equal(seen, []string{a.tenant}) {
		t.Errorf("tenant %s sees the messages of %q, want only its own (not %s)", a.tenant, seen, b.tenant)
	}

	direct := admin(t, u.String())
	var tableOwner string
	must(t, direct.QueryRow(ctx, "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'messages'").Scan(&tableOwner))
	if tableOwner != owner {
		t.Fatalf("messages is owned by %s, want %s", tableOwner, owner)
	}
	var n int
	must(t, direct.QueryRow(ctx, "SELECT count(*) FROM messages").Scan(&n))
	if n != 0 {
		t.Errorf("the owner, with no tenant set, sees %d messages, want 0 (FORCE ROW LEVEL SECURITY)", n)
	}
}
