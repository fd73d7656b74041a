package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/chorustest"
)

// TestUnreachableIsUnavailable: a database that went away gives a retryable
// "unavailable" error, never a generic internal one.
func TestUnreachableIsUnavailable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, err := Open(ctx, chorustest.PostgresURL(t), chorustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	_, err = db.TenantGet(ctx, "t1")
	if chorus.ErrorCode(err) != chorus.EUNAVAILABLE || chorus.ErrorMessage(err) == "" {
		t.Fatalf("closed pool: %v (code %s)", err, chorus.ErrorCode(err))
	}
	// The client sees "unavailable"; the log keeps the cause.
	if !strings.Contains(err.Error(), "get tenant") {
		t.Errorf("cause lost: %v", err)
	}
	for _, e := range []error{io.EOF, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, &pgconn.PgError{Code: "57P01"}} {
		if !unavailable(e) {
			t.Errorf("%v not seen as unavailable", e)
		}
	}
	if unavailable(&pgconn.PgError{Code: "23505"}) || unavailable(errors.New("syntax")) {
		t.Error("a query error seen as unavailable")
	}
}
