package postgres_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
	"github.com/enkisys/chorus/internal/postgres"
)

// openStore opens a migrated store on a fresh database, closed with the test.
func openStore(t testing.TB) *postgres.DB {
	t.Helper()
	db, _ := openStoreURL(t)
	return db
}

// openStoreURL is openStore that also returns the database URL.
func openStoreURL(t testing.TB) (*postgres.DB, string) {
	t.Helper()
	url := chorustest.PostgresURL(t)
	db, err := postgres.Open(context.Background(), url, chorustest.Logger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, url
}

// admin connects to url as the connecting user (the superuser the tests run
// as, who bypasses row-level security), closed with the test.
func admin(t testing.TB, url string) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// tenantRow reads one row through the store's pool, as the application
// role, in a transaction scoped to tenant.
func tenantRow(t *testing.T, db *postgres.DB, tenant, sql string, args []any, dest ...any) {
	t.Helper()
	must(t, db.WithTenantTx(context.Background(), tenant, func(tx pgx.Tx) error {
		return tx.QueryRow(context.Background(), sql, args...).Scan(dest...)
	}))
}

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 678901000, time.UTC)

func ptr[T any](v T) *T { return &v }

// fixture is a tenant with a channel, a contact and one conversation.
type fixture struct {
	db     *postgres.DB
	tenant string
	conv   chorus.Conversation
}

var seq struct {
	sync.Mutex
	n int
}

func newID(prefix string) string {
	seq.Lock()
	defer seq.Unlock()
	seq.n++
	return fmt.Sprintf("%s-%d", prefix, seq.n)
}

func setup(t *testing.T, db *postgres.DB, status string, assignee *string) fixture {
	t.Helper()
	ctx := context.Background()
	f := fixture{db: db, tenant: newID("tenant")}
	_, err := db.TenantEnsure(ctx, f.tenant, "T")
	must(t, err)
	ch, err := db.ChannelCreate(ctx, f.tenant, chorus.Channel{ID: newID("ch"), Type: chorus.ChannelWebWidget, Name: "W", WidgetKey: newID("wk"), CreatedAt: t0})
	must(t, err)
	co, err := db.ContactCreate(ctx, f.tenant, chorus.Contact{ID: newID("co"), CreatedAt: t0})
	must(t, err)
	f.conv, err = db.ConversationCreate(ctx, f.tenant, chorus.Conversation{
		ID: newID("conv"), ChannelID: ch.ID, ContactID: co.ID, Status: status, AssigneeID: assignee,
		CreatedAt: t0, UpdatedAt: t0, QueuedAt: ptr(t0),
	})
	must(t, err)
	return f
}

func (f fixture) msg(clientMsgID string) chorus.NewMessage {
	return chorus.NewMessage{ID: newID("m"), ConversationID: f.conv.ID, SenderType: chorus.SenderVisitor,
		SenderID: f.conv.ContactID, Body: "hi " + clientMsgID, ClientMsgID: clientMsgID, CreatedAt: t0}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantSQLState fails unless err carries the PostgreSQL error code.
func wantSQLState(t *testing.T, err error, code string) {
	t.Helper()
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != code {
		t.Fatalf("error %v, want SQLSTATE %s", err, code)
	}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := chorus.ErrorCode(err); got != code {
		t.Fatalf("error %v: code %q, want %q", err, got, code)
	}
}

// TestOpenConcurrentMigratesOnce starts two processes' worth of Open against
// one empty database at the same time: both succeed and the schema is
// applied exactly once (the advisory lock serialises goose).
func TestOpenConcurrentMigratesOnce(t *testing.T) {
	url := chorustest.PostgresURL(t)
	ctx := context.Background()
	const n = 2
	dbs := make([]*postgres.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			dbs[i], errs[i] = postgres.Open(ctx, url, chorustest.Logger(t))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Open %d: %v", i, err)
		}
		t.Cleanup(func() { _ = dbs[i].Close() })
	}
	for version := 1; version <= 2; version++ {
		var applied int
		must(t, admin(t, url).QueryRow(ctx, "SELECT count(*) FROM goose_db_version WHERE version_id = $1 AND is_applied", version).Scan(&applied))
		if applied != 1 {
			t.Errorf("migration %d recorded %d times, want 1", version, applied)
		}
	}
	// Both pools work against the migrated schema.
	for i, db := range dbs {
		if _, err := db.TenantEnsure(ctx, fmt.Sprintf("t%d", i), "x"); err != nil {
			t.Errorf("TenantEnsure through pool %d: %v", i, err)
		}
	}
}

func TestMigrateAndStatus(t *testing.T) {
	url := chorustest.PostgresURL(t)
	ctx := context.Background()
	log := chorustest.Logger(t)
	st, err := postgres.MigrateStatus(ctx, url, log)
	must(t, err)
	if len(st) == 0 || st[0].Version != 1 || st[0].Applied {
		t.Fatalf("status before migrate = %+v, want version 1 pending", st)
	}
	must(t, postgres.Migrate(ctx, url, log))
	must(t, postgres.Migrate(ctx, url, log)) // nothing pending: no error
	st, err = postgres.MigrateStatus(ctx, url, log)
	must(t, err)
	for _, s := range st {
		if !s.Applied || s.AppliedAt.IsZero() {
			t.Errorf("after migrate: %+v not applied", s)
		}
	}
}

func TestOpenErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := postgres.Open(ctx, "postgres://%zz", chorustest.Logger(t)); err == nil {
		t.Error("Open with a malformed URL succeeded")
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := postgres.Open(cctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", chorustest.Logger(t)); err == nil {
		t.Error("Open against a closed port succeeded")
	}
	if err := postgres.Migrate(ctx, "postgres://%zz", chorustest.Logger(t)); err == nil {
		t.Error("Migrate with a malformed URL succeeded")
	}
	if _, err := postgres.MigrateStatus(ctx, "postgres://%zz", chorustest.Logger(t)); err == nil {
		t.Error("MigrateStatus with a malformed URL succeeded")
	}
}

func TestPingStatsClose(t *testing.T) {
	db := openStore(t)
	must(t, db.Ping(context.Background()))
	if db.Stats().MaxConns() <= 0 {
		t.Errorf("Stats().MaxConns() = %d", db.Stats().MaxConns())
	}
	must(t, db.Close())
	if err := db.Ping(context.Background()); err == nil {
		t.Error("Ping after Close succeeded")
	}
}

func TestWithTx(t *testing.T) {
	db := openStore(t)
	ctx := context.Background()
	boom := errors.New("boom")
	err := db.WithTenantTx(ctx, "rolled", func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO tenants (id, name) VALUES ('rolled', 'x')"); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("WithTenantTx error = %v, want boom", err)
	}
	_, err = db.TenantGet(ctx, "rolled")
	wantCode(t, err, chorus.ENOTFOUND)
	must(t, db.WithTenantTx(ctx, "kept", func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO tenants (id, name) VALUES ('kept', 'x')")
		return err
	}))
	_, err = db.TenantGet(ctx, "kept")
	must(t, err)
	// Without a tenant, the same insert is refused.
	err = db.WithTx(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "INSERT INTO tenants (id, name) VALUES ('none', 'x')")
		return err
	})
	wantSQLState(t, err, "42501")
}

// lastSeq reads last_seq and the message count, which must agree (no gaps).
func lastSeq(t *testing.T, f fixture) (last int64, count int64) {
	t.Helper()
	tenantRow(t, f.db, f.tenant, "SELECT last_seq FROM live_chat_sessions WHERE id = $1", []any{f.conv.ID}, &last)
	tenantRow(t, f.db, f.tenant, "SELECT count(*) FROM messages WHERE conversation_id = $1", []any{f.conv.ID}, &count)
	return last, count
}

func TestMessageCreate(t *testing.T) {
	db, url := openStoreURL(t)
	ctx := context.Background()

	t.Run("SeqAndOutbox", func(t *testing.T) {
		f := setup(t, db, chorus.StatusQueued, nil)
		for i := 1; i <= 3; i++ {
			m, created, err := db.MessageCreate(ctx, f.tenant, f.msg(fmt.Sprint("c", i)))
			must(t, err)
			if !created || m.Seq != int64(i) || m.TenantID != f.tenant || !m.CreatedAt.Equal(t0) {
				t.Fatalf("message %d = %+v created=%v", i, m, created)
			}
		}
		var payload []byte
		tenantRow(t, db, f.tenant, "SELECT payload FROM outbox WHERE tenant_id = $1 AND kind = 'message.created' ORDER BY id DESC LIMIT 1", []any{f.tenant}, &payload)
		var got chorus.Message
		must(t, json.Unmarshal(payload, &got))
		if got.Seq != 3 || got.ConversationID != f.conv.ID || got.ClientMsgID != "c3" || !got.CreatedAt.Equal(t0) {
			t.Errorf("outbox payload = %s", payload)
		}
	})

	t.Run("IdempotentEvenWhenClosed", func(t *testing.T) {
		f := setup(t, db, chorus.StatusQueued, nil)
		first, _, err := db.MessageCreate(ctx, f.tenant, f.msg("same"))
		must(t, err)
		_, err = db.ConversationTransition(ctx, f.tenant, f.conv.ID, chorus.Transition{From: []string{chorus.StatusQueued}, To: chorus.StatusClosed, At: t0})
		must(t, err)
		again, created, err := db.MessageCreate(ctx, f.tenant, f.msg("same"))
		must(t, err)
		if created || again.ID != first.ID || again.Seq != 1 {
			t.Errorf("retry = %+v created=%v, want the first message", again, created)
		}
		_, _, err = db.MessageCreate(ctx, f.tenant, f.msg("new"))
		wantCode(t, err, chorus.ECONFLICT)
		if last, n := lastSeq(t, f); last != 1 || n != 1 {
			t.Errorf("last_seq %d, %d messages, want 1, 1", last, n)
		}
	})

	t.Run("NotFoundAndOtherTenant", func(t *testing.T) {
		f := setup(t, db, chorus.StatusQueued, nil)
		g := setup(t, db, chorus.StatusQueued, nil)
		m := f.msg("x")
		m.ConversationID = "nope"
		_, _, err := db.MessageCreate(ctx, f.tenant, m)
		wantCode(t, err, chorus.ENOTFOUND)
		_, _, err = db.MessageCreate(ctx, g.tenant, f.msg("x"))
		wantCode(t, err, chorus.ENOTFOUND)
	})

	t.Run("SenderMustBeAssignee", func(t *testing.T) {
		f := setup(t, db, chorus.StatusActive, ptr("agent-1"))
		m := f.msg("a")
		m.SenderType, m.SenderID, m.SenderMustBeAssignee = chorus.SenderAgent, "agent-2", true
		_, _, err := db.MessageCreate(ctx, f.tenant, m)
		wantCode(t, err, chorus.EFORBIDDEN)
		m.SenderID = "agent-1"
		got, created, err := db.MessageCreate(ctx, f.tenant, m)
		must(t, err)
		if !created || got.Seq != 1 {
			t.Errorf("assignee's message = %+v created=%v", got, created)
		}
		q := setup(t, db, chorus.StatusQueued, nil) // no assignee at all
		m = q.msg("b")
		m.SenderType, m.SenderID, m.SenderMustBeAssignee = chorus.SenderAgent, "agent-1", true
		_, _, err = db.MessageCreate(ctx, q.tenant, m)
		wantCode(t, err, chorus.EFORBIDDEN)
	})

	t.Run("ReusedMessageIDConflicts", func(t *testing.T) {
		f := setup(t, db, chorus.StatusQueued, nil)
		a := f.msg("one")
		_, _, err := db.MessageCreate(ctx, f.tenant, a)
		must(t, err)
		b := f.msg("two")
		b.ID = a.ID
		_, _, err = db.MessageCreate(ctx, f.tenant, b)
		wantCode(t, err, chorus.ECONFLICT)
		if last, n := lastSeq(t, f); last != 1 || n != 1 {
			t.Errorf("after a failed insert: last_seq %d, %d messages, want 1, 1 (bump rolled back)", last, n)
		}
	})

	// Two retries with the same client_msg_id both pass the idempotency check
	// while the conversation row is locked; when it is released one inserts
	// and the other hits the unique index, rolls its bump back and returns
	// the stored message.
	t.Run("RacingRetries", func(t *testing.T) {
		f := setup(t, db, chorus.StatusQueued, nil)
		tx, err := db.Pool().Begin(ctx)
		must(t, err)
		defer func() { _ = tx.Rollback(ctx) }()
		var locked int
		must(t, tx.QueryRow(ctx, "SELECT set_config('chorus.tenant_id', $1, true)", f.tenant).Scan(new(string)))
		must(t, tx.QueryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM live_chat_sessions WHERE id = $1 FOR UPDATE) l", f.conv.ID).Scan(&locked))
		if locked != 1 {
			t.Fatalf("locked %d conversations, want 1", locked)
		}
		watch := admin(t, url)
		type result struct {
			m       chorus.Message
			created bool
			err     error
		}
		results := make(chan result, 2)
		for range 2 {
			go func() {
				m, c, err := db.MessageCreate(ctx, f.tenant, f.msg("race"))
				results <- result{m, c, err}
			}()
		}
		// Wait until both statements are blocked on the row lock.
		deadline := time.Now().Add(10 * time.Second)
		for {
			var waiting int
			must(t, watch.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()").Scan(&waiting))
			if waiting == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d statements waiting on the lock, want 2", waiting)
			}
			time.Sleep(10 * time.Millisecond)
		}
		must(t, tx.Rollback(ctx))
		a, b := <-results, <-results
		must(t, a.err)
		must(t, b.err)
		if a.created == b.created || a.m.ID != b.m.ID || a.m.Seq != 1 {
			t.Errorf("racing retries = %+v / %+v, want one created message seen twice", a, b)
		}
		if last, n := lastSeq(t, f); last != 1 || n != 1 {
			t.Errorf("last_seq %d, %d messages, want 1, 1 (no gap)", last, n)
		}
	})

	t.Run("ConcurrentDistinctNoGaps", func(t *testing.T) {
		f := setup(t, db, chorus.StatusQueued, nil)
		const n = 40
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			wg.Go(func() {
				_, _, err := db.MessageCreate(ctx, f.tenant, f.msg(fmt.Sprint("p", i)))
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			must(t, err)
		}
		msgs, err := db.MessageList(ctx, f.tenant, f.conv.ID, 0, 100)
		must(t, err)
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Fatalf("message %d has seq %d", i, m.Seq)
			}
		}
		if last, cnt := lastSeq(t, f); last != n || cnt != n {
			t.Errorf("last_seq %d, %d messages, want %d", last, cnt, n)
		}
	})
}
