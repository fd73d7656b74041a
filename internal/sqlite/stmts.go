package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// Column lists shared by the queries and the scan functions.
const (
	convCols = `tenant_id, id, channel_id, contact_id, team_id, status, assignee_id, last_seq,
		created_at, queued_at, assigned_at, closed_at, updated_at`
	msgCols = `tenant_id, conversation_id, seq, id, sender_type, sender_id, body, client_msg_id,
		created_at, delivered_at, read_at`
)

// stmts are the prepared statements of the hot paths, prepared once at Open
// and reused: the write ones on the write connection, the read ones on the
// read pool.
type stmts struct {
	// MessageCreate.
	msgLookup *sql.Stmt
	convBump  *sql.Stmt
	msgInsert *sql.Stmt
	outboxAdd *sql.Stmt
	// MessageMarkReceipt.
	rcptGet       *sql.Stmt
	rcptUpsert    *sql.Stmt
	rcptDelivered *sql.Stmt
	rcptRead      *sql.Stmt
	// Reads.
	convGet *sql.Stmt
	msgList *sql.Stmt
	// Transaction control on the write connection.
	begin, commit, rollback, savepoint, rollbackTo, release *sql.Stmt

	all []*sql.Stmt
}

// preparer is a *sql.DB or a *sql.Conn.
type preparer interface {
	PrepareContext(ctx context.Context, query string) (*sql.Stmt, error)
}

// prepare prepares the write statements on w, the write connection, and
// the read ones on r, the read pool.
func (s *stmts) prepare(ctx context.Context, w *sql.Conn, r *sql.DB) error {
	list := []struct {
		dst   **sql.Stmt
		db    preparer
		query string
	}{
		{&s.begin, w, `BEGIN IMMEDIATE`},
		{&s.commit, w, `COMMIT`},
		{&s.rollback, w, `ROLLBACK`},
		{&s.savepoint, w, `SAVEPOINT w`},
		{&s.rollbackTo, w, `ROLLBACK TO w`},
		{&s.release, w, `RELEASE w`},
		{&s.msgLookup, w, `SELECT c.status, c.assignee_id,
			m.seq, m.id, m.sender_type, m.sender_id, m.body, m.created_at, m.delivered_at, m.read_at
			FROM live_chat_sessions c
			LEFT JOIN messages m ON m.conversation_id = c.id AND m.client_msg_id = ?
			WHERE c.tenant_id = ? AND c.id = ?`},
		{&s.convBump, w, `UPDATE live_chat_sessions SET last_seq = last_seq + 1
			WHERE tenant_id = ? AND id = ? RETURNING last_seq`},
		{&s.msgInsert, w, `INSERT INTO messages (` + msgCols + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)`},
		{&s.outboxAdd, w, `INSERT INTO outbox (tenant_id, kind, payload, created_at) VALUES (?, ?, ?, ?)`},
		{&s.rcptGet, w, `SELECT s.last_seq, coalesce(r.delivered_seq, 0), coalesce(r.read_seq, 0)
			FROM live_chat_sessions s
			LEFT JOIN receipts r ON r.conversation_id = s.id AND r.actor_type = ? AND r.actor_id = ?
			WHERE s.tenant_id = ? AND s.id = ?`},
		{&s.rcptUpsert, w, `INSERT INTO receipts
			(tenant_id, conversation_id, actor_type, actor_id, delivered_seq, read_seq, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (conversation_id, actor_type, actor_id) DO UPDATE SET
			delivered_seq = excluded.delivered_seq, read_seq = excluded.read_seq, updated_at = excluded.updated_at`},
		{&s.rcptDelivered, w, `UPDATE messages SET delivered_at = ?
			WHERE conversation_id = ? AND seq > ? AND seq <= ? AND sender_type <> ? AND delivered_at IS NULL`},
		{&s.rcptRead, w, `UPDATE messages SET read_at = ?
			WHERE conversation_id = ? AND seq > ? AND seq <= ? AND sender_type <> ? AND read_at IS NULL`},
		{&s.convGet, r, `SELECT ` + convCols + ` FROM live_chat_sessions WHERE tenant_id = ? AND id = ?`},
		{&s.msgList, r, `SELECT ` + msgCols + ` FROM messages
			WHERE tenant_id = ? AND conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?`},
	}
	for _, q := range list {
		st, err := q.db.PrepareContext(ctx, q.query)
		if err != nil {
			s.close()
			return fmt.Errorf("sqlite: prepare statement: %w", err)
		}
		*q.dst = st
		s.all = append(s.all, st)
	}
	return nil
}

// exec runs a transaction-control statement on the write connection.
func (s *stmts) exec(st *sql.Stmt) error {
	_, err := st.ExecContext(context.Background())
	return err
}

func (s *stmts) close() {
	for _, st := range s.all {
		_ = st.Close()
	}
	s.all = nil
}
