// Package sqlite is the embedded default chorus.Store: one SQLite file in the
// data directory, through the pure-Go driver modernc.org/sqlite.
//
// SQLite wants exactly one writer, so DB keeps one write connection (a
// *sql.DB limited to one connection) through which every write transaction
// goes, serialized by the DB's own write lock, plus a separate pool of
// query_only read connections. The database runs in WAL mode with
// synchronous=NORMAL; automatic checkpoints are off (they would run inside a
// commit and set the latency tail) and a background goroutine checkpoints
// every second instead. Times are stored as INTEGER unix microseconds (UTC)
// and lists as JSON text, as in migrations/sqlite.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/enkisys/chorus/internal/chorus"
)

// Tuning of the connections and the checkpointer.
const (
	// ReadConnsDefault is the size of the read pool.
	ReadConnsDefault = 4
	// BusyTimeoutDefault is how long a connection waits for a lock held by
	// another connection (the checkpointer, or another process).
	BusyTimeoutDefault = 5 * time.Second
	// CheckpointIntervalDefault is how often the WAL is checkpointed.
	CheckpointIntervalDefault = time.Second
	// walRestartFrames is the WAL size (in frames, 4 KiB pages) above which
	// the checkpointer takes the write lock and runs a RESTART checkpoint so
	// that the WAL starts over instead of growing without bound.
	walRestartFrames = 4096
)

// DB is a chorus.Store on one SQLite file.
type DB struct {
	path   string
	logger *slog.Logger

	w *sql.DB // the pool holding the one write connection
	// wc is that connection, held from Open to Close: write transactions
	// run on it with prepared BEGIN/COMMIT statements rather than
	// database/sql's Tx, which starts a goroutine per transaction, and with
	// contexts that cannot be cancelled, for which the driver starts no
	// interrupt goroutine per statement either.
	wc   *sql.Conn
	r    *sql.DB // read pool, query_only
	ckpt *sql.DB // the checkpointer's connection

	// restartFrames is the WAL size above which checkpoint runs RESTART.
	restartFrames int

	// wlock is the application's write lock: every write transaction and
	// the RESTART checkpoint hold it. A channel rather than a mutex so that
	// waiting for it honours the context.
	wlock chan struct{}

	st stmts

	// queue holds writes waiting for the next group commit.
	qmu   sync.Mutex
	queue []*writeReq

	// Group commit counters (WriteStats).
	txCount, writeCount atomic.Uint64

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var (
	_ chorus.Store = (*DB)(nil)
	// DB exposes the availability history to the conformance suite.
	_ interface {
		AgentStatusHistory(ctx context.Context, tenantID, agentID string) ([]string, error)
	} = (*DB)(nil)
)

// Open opens (creating it and its directory if needed) the SQLite database at
// path, applies the pending migrations and starts the background
// checkpointer. path is a file path; in-memory databases are not supported
// (the read pool and the write connection must share one file).
func Open(ctx context.Context, path string, logger *slog.Logger) (*DB, error) {
	if path == "" || strings.ContainsAny(path, "?#") || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open: invalid database path %q", path)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create data directory: %w", err)
		}
	}
	if err := migrateUp(ctx, path, logger); err != nil {
		return nil, err
	}
	db := &DB{
		path:          path,
		logger:        logger,
		wlock:         make(chan struct{}, 1),
		restartFrames: walRestartFrames,
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	var err error
	if db.w, err = sql.Open("sqlite", dsn(path, writeDSN)); err != nil {
		return nil, fmt.Errorf("sqlite: open write connection: %w", err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetMaxIdleConns(1)
	db.w.SetConnMaxLifetime(0)
	db.w.SetConnMaxIdleTime(0)
	if db.r, err = sql.Open("sqlite", dsn(path, readDSN)); err != nil {
		db.closeDBs()
		return nil, fmt.Errorf("sqlite: open read pool: %w", err)
	}
	db.r.SetMaxOpenConns(ReadConnsDefault)
	db.r.SetMaxIdleConns(ReadConnsDefault)
	db.r.SetConnMaxIdleTime(0)
	if db.ckpt, err = sql.Open("sqlite", dsn(path, writeDSN)); err != nil {
		db.closeDBs()
		return nil, fmt.Errorf("sqlite: open checkpoint connection: %w", err)
	}
	db.ckpt.SetMaxOpenConns(1)
	db.ckpt.SetMaxIdleConns(1)
	if err := db.w.PingContext(ctx); err != nil {
		db.closeDBs()
		return nil, fmt.Errorf("sqlite: connect: %w", err)
	}
	if db.wc, err = db.w.Conn(ctx); err != nil {
		db.closeDBs()
		return nil, fmt.Errorf("sqlite: connect: %w", err)
	}
	if err := db.st.prepare(ctx, db.wc, db.r); err != nil {
		_ = db.wc.Close()
		db.closeDBs()
		return nil, err
	}
	go db.checkpointLoop(CheckpointIntervalDefault)
	return db, nil
}

type dsnKind int

const (
	writeDSN dsnKind = iota
	readDSN
)

// dsn builds the modernc DSN of path: pragmas run on every new connection.
func dsn(path string, kind dsnKind) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeoutDefault.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "wal_autocheckpoint(0)")
	q.Add("_pragma", "temp_store(MEMORY)")
	switch kind {
	case writeDSN:
		q.Add("_pragma", "cache_size(-16384)")
		q.Set("_txlock", "immediate")
	case readDSN:
		q.Add("_pragma", "query_only(1)")
	}
	return path + "?" + q.Encode()
}

// Ping checks the database answers on the read pool and the write connection.
func (db *DB) Ping(ctx context.Context) error {
	var one int
	if err := db.r.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := db.wc.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close stops the checkpointer, checkpoints the WAL a last time and closes
// the connections. It may be called more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.stop)
		<-db.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := db.lock(ctx); err == nil {
			if _, err := db.ckpt.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
				db.logger.Warn("final checkpoint failed", "error", err)
			}
			db.unlock()
		}
		db.st.close()
		_ = db.wc.Close()
		db.closeErr = db.closeDBs()
	})
	return db.closeErr
}

func (db *DB) closeDBs() error {
	var errs []error
	for _, d := range []*sql.DB{db.r, db.w, db.ckpt} {
		if d != nil {
			if err := d.Close(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlite: close: %w", err)
	}
	return nil
}

// lock takes the write lock, or gives up when ctx ends.
func (db *DB) lock(ctx context.Context) error {
	select {
	case db.wlock <- struct{}{}:
		return nil
	default:
	}
	select {
	case db.wlock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (db *DB) unlock() { <-db.wlock }

// maxBatch bounds how many writes share one transaction (group commit).
const maxBatch = 32

// writeReq is one write waiting for a transaction.
type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx wtx) error
	err  error
	done chan struct{}
}

// write runs fn in a write transaction on the write connection and returns
// once it is committed (or failed). Writes that arrive while another
// transaction is running are committed together (group commit): the caller
// that takes the write lock runs every queued write in one transaction,
// each inside its own SAVEPOINT so that one write's failure undoes only its
// own changes. Under light load a batch holds one write and nothing waits;
// under load one commit (one WAL append) serves many writes, which is where
// SQLite spends its time.
//
// Cancellation of ctx is honoured while the write waits; once it is in a
// transaction it runs to commit or rollback regardless, so a cancelled
// caller never leaves the one write connection in a broken transaction.
func (db *DB) write(ctx context.Context, fn func(ctx context.Context, tx wtx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	req := &writeReq{ctx: context.WithoutCancel(ctx), fn: fn, done: make(chan struct{})}
	db.qmu.Lock()
	db.queue = append(db.queue, req)
	db.qmu.Unlock()
	for {
		select {
		case <-req.done:
			return req.err
		case db.wlock <- struct{}{}:
			db.qmu.Lock()
			n := min(len(db.queue), maxBatch)
			batch := make([]*writeReq, n)
			copy(batch, db.queue)
			db.queue = append(db.queue[:0], db.queue[n:]...)
			db.qmu.Unlock()
			if n > 0 {
				db.runBatch(batch)
			}
			<-db.wlock
		case <-ctx.Done():
			db.qmu.Lock()
			for i, r := range db.queue {
				if r == req {
					db.queue = append(db.queue[:i], db.queue[i+1:]...)
					db.qmu.Unlock()
					return ctx.Err()
				}
			}
			db.qmu.Unlock()
			<-req.done // already in a running batch
			return req.err
		}
	}
}

// WriteStats returns how many write transactions have run and how many
// writes they carried: their ratio is the group commit's batch size.
func (db *DB) WriteStats() (transactions, writes uint64) {
	return db.txCount.Load(), db.writeCount.Load()
}

// runBatch runs the writes of batch in one transaction, holding the lock.
func (db *DB) runBatch(batch []*writeReq) {
	db.txCount.Add(1)
	db.writeCount.Add(uint64(len(batch)))
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	st := &db.st
	err := st.exec(st.begin)
	if err != nil {
		// A transaction left open (a failed COMMIT whose ROLLBACK failed
		// too) would refuse every later BEGIN: end it and try once more.
		db.rollback()
		err = st.exec(st.begin)
	}
	if err != nil {
		for _, r := range batch {
			r.err = fmt.Errorf("begin: %w", err)
		}
		return
	}
	tx := wtx{db.wc}
	if len(batch) == 1 {
		r := batch[0]
		if r.err = db.call(r, tx); r.err != nil {
			db.rollback()
			return
		}
		if err := st.exec(st.commit); err != nil {
			r.err = fmt.Errorf("commit: %w", err)
			db.rollback()
		}
		return
	}
	for _, r := range batch {
		if err := st.exec(st.savepoint); err != nil {
			r.err = fmt.Errorf("savepoint: %w", err)
			continue
		}
		if r.err = db.call(r, tx); r.err != nil {
			if err := st.exec(st.rollbackTo); err != nil {
				// The transaction is in an unknown state: undo all of it.
				db.rollback()
				for _, o := range batch {
					if o.err == nil {
						o.err = fmt.Errorf("rollback to savepoint: %w", err)
					}
				}
				return
			}
		}
		if err := st.exec(st.release); err != nil && r.err == nil {
			r.err = fmt.Errorf("release savepoint: %w", err)
		}
	}
	if err := st.exec(st.commit); err != nil {
		for _, r := range batch {
			if r.err == nil {
				r.err = fmt.Errorf("commit: %w", err)
			}
		}
		db.rollback()
	}
}

// call runs r's write function; a panic becomes its error (logged with the
// stack), so that the batch's transaction, the other writes and the write
// lock are not left behind.
func (db *DB) call(r *writeReq, tx wtx) (err error) {
	defer func() {
		if v := recover(); v != nil {
			db.logger.Error("write function panicked", "panic", v, "stack", string(debug.Stack()))
			err = fmt.Errorf("write panicked: %v", v)
		}
	}()
	return r.fn(r.ctx, tx)
}

// rollback ends the open write transaction, if any, undoing it.
func (db *DB) rollback() {
	if err := db.st.exec(db.st.rollback); err != nil && !strings.Contains(err.Error(), "no transaction is active") {
		db.logger.Error("rollback failed", "error", err)
	}
}

// wtx is what a write function runs its statements on: the write
// connection, inside the batch's transaction.
type wtx struct{ c *sql.Conn }

func (t wtx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.c.ExecContext(ctx, query, args...)
}

func (t wtx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return t.c.QueryContext(ctx, query, args...)
}

func (t wtx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return t.c.QueryRowContext(ctx, query, args...)
}

// StmtContext returns s: the write statements are prepared on the write
// connection itself (it mirrors sql.Tx.StmtContext for the callers).
func (t wtx) StmtContext(_ context.Context, s *sql.Stmt) *sql.Stmt { return s }

// checkpointLoop checkpoints the WAL every interval until Close.
func (db *DB) checkpointLoop(interval time.Duration) {
	defer close(db.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
			if err := db.checkpoint(context.Background()); err != nil {
				db.logger.Warn("wal checkpoint failed", "error", err)
			}
		}
	}
}

// checkpoint runs a PASSIVE checkpoint, which never blocks writers; when
// the WAL has grown past walRestartFrames it then runs a RESTART checkpoint
// while holding the write lock, so the next writer starts the WAL over.
func (db *DB) checkpoint(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var busy, logFrames, done int
	if err := db.ckpt.QueryRowContext(ctx, "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	if logFrames < db.restartFrames {
		return nil
	}
	if err := db.lock(ctx); err != nil {
		return fmt.Errorf("sqlite: checkpoint: %w", err)
	}
	defer db.unlock()
	start := time.Now()
	if err := db.ckpt.QueryRowContext(ctx, "PRAGMA wal_checkpoint(RESTART)").Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("sqlite: checkpoint restart: %w", err)
	}
	db.logger.Debug("wal restarted", "frames", logFrames, "busy", busy, "took", time.Since(start))
	return nil
}

// errorf wraps err as "sqlite: <op>: …" after translating it: no rows is
// ENOTFOUND, a uniqueness violation ECONFLICT, a foreign key violation
// ENOTFOUND (the referenced row does not exist in the tenant), a CHECK
// violation EINVALID.
func errorf(err error, op, what string) error {
	var ce *chorus.Error
	switch {
	case errors.As(err, &ce):
	case errors.Is(err, sql.ErrNoRows):
		err = chorus.Errorf(chorus.ENOTFOUND, "%s not found.", capitalize(what))
	default:
		var se *sqlite.Error
		if errors.As(err, &se) {
			switch se.Code() {
			case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
				err = chorus.Errorf(chorus.ECONFLICT, "%s already exists.", capitalize(what))
			case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
				err = chorus.Errorf(chorus.ENOTFOUND, "%s refers to something that does not exist.", capitalize(what))
			case sqlite3.SQLITE_CONSTRAINT_CHECK:
				err = chorus.Errorf(chorus.EINVALID, "%s is not valid.", capitalize(what))
			}
		}
	}
	return fmt.Errorf("sqlite: %s %s: %w", op, what, err)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Time and JSON encoding of columns.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func nullString(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func fromNullString(v sql.NullString) *string {
	if !v.Valid {
		return nil
	}
	s := v.String
	return &s
}

func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

func parseList(s string) ([]string, error) {
	out := []string{}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	return out, nil
}

func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }
