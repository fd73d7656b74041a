package sqlite_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
	"github.com/enkisys/chorus/internal/sqlite"
	"github.com/enkisys/chorus/internal/storetest"
)

// open returns a fresh database in the test's temp directory, closed at the end.
func open(t testing.TB) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "chorus.db"), chorustest.Logger(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) chorus.Store { return open(t) })
}

func BenchmarkMessageCreate(b *testing.B) {
	storetest.BenchMessageCreate(b, open(b))
}

func TestOpenFreshDirAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "nested", "data", "chorus.db")
	logger := chorustest.Logger(t)
	db, err := sqlite.Open(ctx, path, logger)
	if err != nil {
		t.Fatalf("Open in a missing directory: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file not created: %v", err)
	}
	if _, err := db.TenantEnsure(ctx, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	st, err := db.MigrateStatus(ctx)
	if err != nil {
		t.Fatalf("MigrateStatus: %v", err)
	}
	if len(st) == 0 || !strings.HasSuffix(st[0].Path, "0001_init.sql") {
		t.Fatalf("MigrateStatus = %+v, want 0001_init first", st)
	}
	for i, m := range st {
		if m.Version != int64(i+1) || !m.Applied || m.AppliedAt.IsZero() {
			t.Errorf("MigrateStatus[%d] = %+v, want version %d applied", i, m, i+1)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := db.Ping(ctx); err == nil {
		t.Error("Ping after Close succeeded")
	}

	// Reopening applies nothing new and keeps the data.
	db, err = sqlite.Open(ctx, path, logger)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer db.Close()
	tn, err := db.TenantGet(ctx, "acme")
	if err != nil || tn.Name != "Acme" {
		t.Fatalf("TenantGet after reopen = %+v, %v", tn, err)
	}
	st2, err := db.MigrateStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(st2) != len(st) {
		t.Fatalf("MigrateStatus after reopen = %+v, want the same migrations %+v", st2, st)
	}
	for i := range st {
		if st2[i].Version != st[i].Version || !st2[i].AppliedAt.Equal(st[i].AppliedAt) {
			t.Errorf("after reopen, migration %d = %+v, want %+v (applied once)", i, st2[i], st[i])
		}
	}
}

func TestOpenInvalidPath(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte(strings.Repeat("not a database ", 400)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"", ":memory:", "file:x.db", "x.db?mode=ro", filepath.Join(file, "sub", "chorus.db"), file} {
		db, err := sqlite.Open(ctx, p, chorustest.Logger(t))
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestCancelledContext(t *testing.T) {
	db := open(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.TenantEnsure(ctx, "acme", "Acme"); !errors.Is(err, context.Canceled) {
		t.Fatalf("TenantEnsure with a cancelled context: %v, want context.Canceled", err)
	}
	if _, err := db.TenantGet(context.Background(), "acme"); chorus.ErrorCode(err) != chorus.ENOTFOUND {
		t.Fatalf("a cancelled write left a tenant behind: %v", err)
	}
	if _, err := db.TenantEnsure(context.Background(), "acme", "Acme"); err != nil {
		t.Fatalf("write after a cancelled one: %v", err)
	}
}

func TestConstraintErrors(t *testing.T) {
	db := open(t)
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := db.TenantEnsure(ctx, "acme", "Acme"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ChannelCreate(ctx, "acme", chorus.Channel{ID: "ch", Type: chorus.ChannelWebWidget, Name: "w", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ContactCreate(ctx, "acme", chorus.Contact{ID: "ct", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	_, err := db.ConversationCreate(ctx, "acme", chorus.Conversation{ID: "c1", ChannelID: "ch", ContactID: "ct",
		Status: "bogus", CreatedAt: now, UpdatedAt: now})
	if chorus.ErrorCode(err) != chorus.EINVALID {
		t.Errorf("unknown status: %v, want %s", err, chorus.EINVALID)
	}
	if _, err := db.ConversationCreate(ctx, "acme", chorus.Conversation{ID: "c1", ChannelID: "ch", ContactID: "ct",
		Status: chorus.StatusQueued, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	_, _, err = db.MessageCreate(ctx, "acme", chorus.NewMessage{ID: "m1", ConversationID: "c1", SenderType: "robot",
		SenderID: "x", Body: "hi", ClientMsgID: "k1", CreatedAt: now})
	if chorus.ErrorCode(err) != chorus.EINVALID {
		t.Errorf("unknown sender type: %v, want %s", err, chorus.EINVALID)
	}
	_, err = db.ConversationTransition(ctx, "acme", "c1", chorus.Transition{From: []string{chorus.StatusQueued}, To: "bogus", At: now})
	if chorus.ErrorCode(err) != chorus.EINVALID {
		t.Errorf("transition to unknown status: %v, want %s", err, chorus.EINVALID)
	}
	m, _, err := db.MessageCreate(ctx, "acme", chorus.NewMessage{ID: "m1", ConversationID: "c1", SenderType: chorus.SenderVisitor,
		SenderID: "ct", Body: "hi", ClientMsgID: "k1", CreatedAt: now})
	if err != nil || m.Seq != 1 {
		t.Fatalf("MessageCreate after refused ones: %+v %v (a refused message must not consume a seq)", m, err)
	}
	// A second message reusing the id (not the client_msg_id) conflicts.
	_, _, err = db.MessageCreate(ctx, "acme", chorus.NewMessage{ID: "m1", ConversationID: "c1", SenderType: chorus.SenderVisitor,
		SenderID: "ct", Body: "hi", ClientMsgID: "k2", CreatedAt: now})
	if chorus.ErrorCode(err) != chorus.ECONFLICT {
		t.Errorf("duplicate message id: %v, want %s", err, chorus.ECONFLICT)
	}
	if _, err := db.AuditList(ctx, "acme", 0, 0); err != nil {
		t.Errorf("AuditList default limit: %v", err)
	}
}
