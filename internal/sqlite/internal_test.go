package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
)

func openInternal(t *testing.T) *DB {
	t.Helper()
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "chorus.db"), chorustest.Logger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// seedConversation creates tenant t, channel, contact and an active conversation c.
func seedConversation(t *testing.T, db *DB) {
	t.Helper()
	ctx := context.Background()
	now := time.Now()
	_, err := db.TenantEnsure(ctx, "t", "T")
	if err == nil {
		_, err = db.ChannelCreate(ctx, "t", chorus.Channel{ID: "ch", Type: chorus.ChannelWebWidget, Name: "w", CreatedAt: now})
	}
	if err == nil {
		_, err = db.ContactCreate(ctx, "t", chorus.Contact{ID: "ct", CreatedAt: now})
	}
	if err == nil {
		_, err = db.ConversationCreate(ctx, "t", chorus.Conversation{ID: "c", ChannelID: "ch", ContactID: "ct",
			Status: chorus.StatusActive, CreatedAt: now, UpdatedAt: now})
	}
	if err != nil {
		t.Fatal(err)
	}
}

func sendN(t *testing.T, db *DB, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		_, _, err := db.MessageCreate(context.Background(), "t", chorus.NewMessage{ID: fmt.Sprintf("m%d", i), ConversationID: "c",
			SenderType: chorus.SenderVisitor, SenderID: "ct", Body: "hello", ClientMsgID: fmt.Sprintf("k%d", i), CreatedAt: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func pragmaInt(t *testing.T, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) int64 {
	t.Helper()
	var v int64
	if err := q.QueryRowContext(context.Background(), "PRAGMA "+name).Scan(&v); err != nil {
		t.Fatalf("PRAGMA %s: %v", name, err)
	}
	return v
}

func TestConnectionSettings(t *testing.T) {
	db := openInternal(t)
	ctx := context.Background()
	var mode string
	if err := db.wc.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q %v, want wal", mode, err)
	}
	for _, c := range []struct {
		q interface {
			QueryRowContext(context.Context, string, ...any) *sql.Row
		}
		name string
		want int64
	}{
		{db.wc, "foreign_keys", 1}, {db.wc, "synchronous", 1}, {db.wc, "wal_autocheckpoint", 0},
		{db.wc, "busy_timeout", BusyTimeoutDefault.Milliseconds()}, {db.wc, "query_only", 0},
		{db.r, "foreign_keys", 1}, {db.r, "query_only", 1}, {db.r, "wal_autocheckpoint", 0},
	} {
		if got := pragmaInt(t, c.q, c.name); got != c.want {
			t.Errorf("%s = %d, want %d", c.name, got, c.want)
		}
	}
	if _, err := db.r.ExecContext(ctx, "INSERT INTO tenants (id, name, created_at) VALUES ('x', 'x', 0)"); err == nil {
		t.Error("the read pool accepted a write")
	}
	if n := db.w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("write connections = %d, want 1", n)
	}
}

// TestOutboxWithoutAutoincrement: outbox rows take plain rowids (migration
// 0002), so a message's insert does not also rewrite sqlite_sequence; ids
// still grow in insertion order.
func TestOutboxWithoutAutoincrement(t *testing.T) {
	db := openInternal(t)
	ctx := context.Background()
	var ddl string
	if err := db.r.QueryRowContext(ctx, "SELECT sql FROM sqlite_schema WHERE name = 'outbox'").Scan(&ddl); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(strings.ToUpper(ddl), "AUTOINCREMENT") {
		t.Errorf("outbox is still AUTOINCREMENT: %s", ddl)
	}
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		for i := range 3 {
			if err := db.addOutbox(ctx, tx, "t1", "test.event", map[string]int{"i": i}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := db.OutboxFetch(ctx, 10)
	if err != nil || len(evs) != 3 {
		t.Fatalf("OutboxFetch = %v, %v", evs, err)
	}
	for i, ev := range evs {
		if want := fmt.Sprintf(`{"i":%d}`, i); string(ev.Payload) != want || (i > 0 && ev.ID <= evs[i-1].ID) {
			t.Errorf("event %d = id %d %s, want %s after id %d", i, ev.ID, ev.Payload, want, evs[max(i-1, 0)].ID)
		}
	}
	var n int
	if err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_sequence WHERE name = 'outbox'").Scan(&n); err != nil || n != 0 {
		t.Errorf("sqlite_sequence holds %d outbox rows (%v)", n, err)
	}
}

// TestCheckpointRestart: with the WAL past the threshold, checkpoint runs
// RESTART under the write lock, so the next write starts the WAL over.
func TestCheckpointRestart(t *testing.T) {
	db := openInternal(t)
	seedConversation(t, db)
	sendN(t, db, 0, 200)
	frames := walFrames(t, db)
	if frames < 200 {
		t.Fatalf("WAL has %d frames after 200 messages, want more (autocheckpoint must be off)", frames)
	}
	db.restartFrames = 100
	if err := db.checkpoint(context.Background()); err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	sendN(t, db, 200, 1)
	if after := walFrames(t, db); after >= 50 {
		t.Errorf("WAL has %d frames after RESTART and one write, want a fresh WAL", after)
	}
	// Below the threshold a checkpoint is passive only and the WAL keeps growing.
	db.restartFrames = 1 << 30
	sendN(t, db, 201, 50)
	before := walFrames(t, db)
	if err := db.checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if after := walFrames(t, db); after < before {
		t.Errorf("passive checkpoint restarted the WAL: %d → %d frames", before, after)
	}
}

// walFrames returns the frames in the WAL (a passive checkpoint reports it).
func walFrames(t *testing.T, db *DB) int {
	t.Helper()
	var busy, log, done int
	if err := db.ckpt.QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &log, &done); err != nil {
		t.Fatal(err)
	}
	return log
}

// TestCheckpointLoop: the background loop moves committed pages from the WAL
// into the database file within about a second.
func TestCheckpointLoop(t *testing.T) {
	db := openInternal(t)
	seedConversation(t, db)
	sendN(t, db, 0, 300)
	size := func() int64 {
		fi, err := os.Stat(db.path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	start := size()
	deadline := time.Now().Add(5 * time.Second)
	for size() <= start {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes after 5 s: the checkpointer did not run", start)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestWriteLockHonoursContext(t *testing.T) {
	db := openInternal(t)
	if err := db.lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := db.TenantEnsure(ctx, "t", "T")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("write while the lock is held: %v, want deadline exceeded", err)
	}
	db.unlock()
	if _, err := db.TenantEnsure(context.Background(), "t", "T"); err != nil {
		t.Errorf("write after unlock: %v", err)
	}
}

// TestCancelDuringTransaction: a caller cancelled after its transaction
// began does not break the write connection: the transaction completes.
func TestCancelDuringTransaction(t *testing.T) {
	db := openInternal(t)
	ctx, cancel := context.WithCancel(context.Background())
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		cancel()
		if _, err := tx.ExecContext(ctx, "INSERT INTO tenants (id, name, created_at) VALUES ('a', 'A', 0)"); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO tenants (id, name, created_at) VALUES ('b', 'B', 0)")
		return err
	})
	if err != nil {
		t.Fatalf("write cancelled mid-transaction: %v", err)
	}
	for _, id := range []string{"a", "b"} {
		if _, err := db.TenantGet(context.Background(), id); err != nil {
			t.Errorf("tenant %s: %v", id, err)
		}
	}
	// A failing transaction rolls back entirely and leaves the connection usable.
	err = db.write(context.Background(), func(ctx context.Context, tx wtx) error {
		if _, err := tx.ExecContext(ctx, "INSERT INTO tenants (id, name, created_at) VALUES ('c', 'C', 0)"); err != nil {
			return err
		}
		return errors.New("boom")
	})
	if err == nil {
		t.Fatal("failing transaction succeeded")
	}
	if _, err := db.TenantGet(context.Background(), "c"); chorus.ErrorCode(err) != chorus.ENOTFOUND {
		t.Errorf("rolled back tenant: %v", err)
	}
	if _, err := db.TenantEnsure(context.Background(), "d", "D"); err != nil {
		t.Errorf("write after rollback: %v", err)
	}
}

// TestWriteSurvivesPanicAndOpenTransaction: a write function that panics
// fails alone (its batch-mates commit, the lock is released), and a
// transaction somehow left open does not block later writes.
func TestWriteSurvivesPanicAndOpenTransaction(t *testing.T) {
	db := openInternal(t)
	ctx := context.Background()
	insert := func(id string) func(context.Context, wtx) error {
		return func(ctx context.Context, tx wtx) error {
			_, err := tx.ExecContext(ctx, "INSERT INTO tenants (id, name, created_at) VALUES (?, ?, 0)", id, id)
			return err
		}
	}
	// One batch of three, the middle one panics after writing.
	reqs := []*writeReq{
		{ctx: ctx, fn: insert("p1"), done: make(chan struct{})},
		{ctx: ctx, fn: func(ctx context.Context, tx wtx) error {
			if err := insert("p2")(ctx, tx); err != nil {
				return err
			}
			panic("bug in a write function")
		}, done: make(chan struct{})},
		{ctx: ctx, fn: insert("p3"), done: make(chan struct{})},
	}
	db.wlock <- struct{}{}
	db.runBatch(reqs)
	<-db.wlock
	if reqs[0].err != nil || reqs[2].err != nil || reqs[1].err == nil || !strings.Contains(reqs[1].err.Error(), "panicked") {
		t.Fatalf("batch errors = %v, %v, %v", reqs[0].err, reqs[1].err, reqs[2].err)
	}
	for id, want := range map[string]bool{"p1": true, "p2": false, "p3": true} {
		_, err := db.TenantGet(ctx, id)
		if got := err == nil; got != want {
			t.Errorf("tenant %s stored = %v, want %v (%v)", id, got, want, err)
		}
	}
	// A lone write that panics.
	if err := db.write(ctx, func(context.Context, wtx) error { panic("again") }); err == nil {
		t.Error("a panicking write succeeded")
	}
	// A transaction left open on the write connection.
	if _, err := db.wc.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.TenantEnsure(ctx, "after", "After"); err != nil {
		t.Errorf("write after a transaction was left open: %v", err)
	}
}

func TestCursor(t *testing.T) {
	c := chorus.Conversation{ID: "conv:1", CreatedAt: time.UnixMicro(1234567)}
	ts, id, err := decodeCursor(encodeCursor(c))
	if err != nil || ts != 1234567 || id != "conv:1" {
		t.Errorf("round trip = %d %q %v", ts, id, err)
	}
	for _, bad := range []string{"!!", "bm9jb2xvbg", "eDpi", "MTI6"} { // invalid base64, "nocolon", "x:b", "12:"
		if _, _, err := decodeCursor(bad); chorus.ErrorCode(err) != chorus.EINVALID {
			t.Errorf("decodeCursor(%q) = %v, want %s", bad, err, chorus.EINVALID)
		}
	}
}
