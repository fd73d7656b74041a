package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

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
