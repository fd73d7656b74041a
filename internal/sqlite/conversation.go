package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/enkisys/chorus/internal/chorus"
)

// Page sizes of ConversationList.
const (
	ConversationPageDefault = 50
	ConversationPageMax     = 200
)

func scanConversation(row scanner) (chorus.Conversation, error) {
	var c chorus.Conversation
	var team, assignee sql.NullString
	var created, updated int64
	var queued, assigned, closed sql.NullInt64
	if err := row.Scan(&c.TenantID, &c.ID, &c.ChannelID, &c.ContactID, &team, &c.Status, &assignee, &c.LastSeq,
		&created, &queued, &assigned, &closed, &updated); err != nil {
		return chorus.Conversation{}, err
	}
	c.TeamID, c.AssigneeID = fromNullString(team), fromNullString(assignee)
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	c.QueuedAt, c.AssignedAt, c.ClosedAt = fromNullMicros(queued), fromNullMicros(assigned), fromNullMicros(closed)
	return c, nil
}

func scanConversations(rows *sql.Rows, err error) ([]chorus.Conversation, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []chorus.Conversation{}
	for rows.Next() {
		c, err := scanConversation(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// normalize rounds the times of c to what the database keeps (UTC microseconds).
func normalize(c chorus.Conversation) chorus.Conversation {
	round := func(t *time.Time) *time.Time {
		if t == nil {
			return nil
		}
		v := fromMicros(micros(*t))
		return &v
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(micros(c.CreatedAt)), fromMicros(micros(c.UpdatedAt))
	c.QueuedAt, c.AssignedAt, c.ClosedAt = round(c.QueuedAt), round(c.AssignedAt), round(c.ClosedAt)
	return c
}

// addOutbox inserts an outbox row with v encoded as its payload.
func (db *DB) addOutbox(ctx context.Context, tx wtx, tenantID, kind string, v any) error {
	payload, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode outbox payload: %w", err)
	}
	_, err = tx.StmtContext(ctx, db.st.outboxAdd).ExecContext(ctx, tenantID, kind, string(payload), micros(now()))
	return err
}

// ConversationCreate stores a new conversation and an outbox row
// conversation.created in one transaction. last_seq starts at 0.
func (db *DB) ConversationCreate(ctx context.Context, tenantID string, c chorus.Conversation) (chorus.Conversation, error) {
	c.TenantID = tenantID
	c.LastSeq = 0
	c = normalize(c)
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO live_chat_sessions (`+convCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)`,
			tenantID, c.ID, c.ChannelID, c.ContactID, nullString(c.TeamID), c.Status, nullString(c.AssigneeID),
			micros(c.CreatedAt), nullMicros(c.QueuedAt), nullMicros(c.AssignedAt), nullMicros(c.ClosedAt),
			micros(c.UpdatedAt)); err != nil {
			return err
		}
		return db.addOutbox(ctx, tx, tenantID, chorus.OutboxConversationCreated,
			chorus.ConversationChange{Event: chorus.OutboxConversationCreated, Conversation: c})
	})
	if err != nil {
		return chorus.Conversation{}, errorf(err, "create", "conversation")
	}
	return c, nil
}

// ConversationGet returns the tenant's conversation.
func (db *DB) ConversationGet(ctx context.Context, tenantID, id string) (chorus.Conversation, error) {
	c, err := scanConversation(db.st.convGet.QueryRowContext(ctx, tenantID, id))
	if err != nil {
		return chorus.Conversation{}, errorf(err, "get", "conversation")
	}
	return c, nil
}

// encodeCursor returns the opaque cursor after the conversation c.
func encodeCursor(c chorus.Conversation) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(micros(c.CreatedAt), 10) + ":" + c.ID))
}

func decodeCursor(s string) (int64, string, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		ts, id, ok := strings.Cut(string(b), ":")
		if ok && id != "" {
			if v, err := strconv.ParseInt(ts, 10, 64); err == nil {
				return v, id, nil
			}
		}
	}
	return 0, "", chorus.Errorf(chorus.EINVALID, "cursor: not a cursor of this list.")
}

// ConversationList returns one page, newest first (created_at DESC, id
// DESC), and the cursor of the next page ("" at the end).
func (db *DB) ConversationList(ctx context.Context, tenantID string, f chorus.ConversationFilter) ([]chorus.Conversation, string, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = ConversationPageDefault
	}
	limit = min(limit, ConversationPageMax)
	var q strings.Builder
	q.WriteString(`SELECT ` + convCols + ` FROM live_chat_sessions WHERE tenant_id = ?`)
	args := []any{tenantID}
	if f.Status != "" {
		q.WriteString(` AND status = ?`)
		args = append(args, f.Status)
	}
	if f.AssigneeID != "" {
		q.WriteString(` AND assignee_id = ?`)
		args = append(args, f.AssigneeID)
	}
	if f.VisibleTo != "" {
		q.WriteString(` AND (assignee_id = ? OR status = 'queued')`)
		args = append(args, f.VisibleTo)
	}
	if f.ContactID != "" {
		q.WriteString(` AND contact_id = ?`)
		args = append(args, f.ContactID)
	}
	if f.Cursor != "" {
		ts, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", fmt.Errorf("sqlite: list conversations: %w", err)
		}
		q.WriteString(` AND (created_at < ? OR (created_at = ? AND id < ?))`)
		args = append(args, ts, ts, id)
	}
	q.WriteString(` ORDER BY created_at DESC, id DESC LIMIT ?`)
	args = append(args, limit+1)
	out, err := scanConversations(db.r.QueryContext(ctx, q.String(), args...))
	if err != nil {
		return nil, "", errorf(err, "list", "conversations")
	}
	next := ""
	if len(out) > limit {
		out = out[:limit]
		next = encodeCursor(out[limit-1])
	}
	return out, next, nil
}

// ConversationTransition applies t atomically (compare-and-set on status
// and assignee) and writes an outbox row conversation.updated.
func (db *DB) ConversationTransition(ctx context.Context, tenantID, id string, t chorus.Transition) (chorus.Conversation, error) {
	switch t.To {
	case chorus.StatusQueued, chorus.StatusActive, chorus.StatusClosed, chorus.StatusMissed:
	default:
		return chorus.Conversation{}, fmt.Errorf("sqlite: transition conversation: %w",
			chorus.Errorf(chorus.EINVALID, "status: unknown status %q.", t.To))
	}
	var c chorus.Conversation
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		var err error
		c, err = scanConversation(tx.QueryRowContext(ctx, `SELECT `+convCols+` FROM live_chat_sessions
			WHERE tenant_id = ? AND id = ?`, tenantID, id))
		if err != nil {
			return err
		}
		if !slices.Contains(t.From, c.Status) {
			return chorus.Errorf(chorus.ECONFLICT, "The conversation is %s.", c.Status)
		}
		if t.OnlyAssignee != "" && (c.AssigneeID == nil || *c.AssigneeID != t.OnlyAssignee) {
			return chorus.Errorf(chorus.ECONFLICT, "The conversation is assigned to someone else.")
		}
		change := chorus.ConversationChange{Event: cmp.Or(t.Event, chorus.OutboxConversationUpdated), Actor: t.Actor,
			FromStatus: c.Status, FromAssigneeID: c.AssigneeID, FromTeamID: c.TeamID}
		at := fromMicros(micros(t.At))
		if t.To == chorus.StatusActive && !sameString(c.AssigneeID, t.AssigneeID) {
			c.AssignedAt = &at
		}
		if t.To == chorus.StatusQueued {
			c.QueuedAt = &at
		}
		if t.To == chorus.StatusClosed {
			c.ClosedAt = &at
		}
		c.Status, c.AssigneeID, c.TeamID, c.UpdatedAt = t.To, copyString(t.AssigneeID), copyString(t.TeamID), at
		if _, err := tx.ExecContext(ctx, `UPDATE live_chat_sessions SET status = ?, assignee_id = ?, team_id = ?,
			queued_at = ?, assigned_at = ?, closed_at = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			c.Status, nullString(c.AssigneeID), nullString(c.TeamID), nullMicros(c.QueuedAt), nullMicros(c.AssignedAt),
			nullMicros(c.ClosedAt), micros(c.UpdatedAt), tenantID, id); err != nil {
			return err
		}
		change.Conversation = c
		return db.addOutbox(ctx, tx, tenantID, change.Event, change)
	})
	if err != nil {
		return chorus.Conversation{}, errorf(err, "transition", "conversation")
	}
	return c, nil
}

func sameString(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func copyString(p *string) *string {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

// QueueList returns queued conversations, oldest queued_at first, at most limit.
func (db *DB) QueueList(ctx context.Context, tenantID string, limit int) ([]chorus.Conversation, error) {
	if limit <= 0 {
		limit = ConversationPageDefault
	}
	out, err := scanConversations(db.r.QueryContext(ctx, `SELECT `+convCols+` FROM live_chat_sessions
		WHERE tenant_id = ? AND status = 'queued' ORDER BY queued_at, id LIMIT ?`, tenantID, limit))
	if err != nil {
		return nil, errorf(err, "list", "queue")
	}
	return out, nil
}

// QueuePosition counts the queued conversations up to and including this
// one in QueueList's order (a range of the queue index).
func (db *DB) QueuePosition(ctx context.Context, tenantID, conversationID string) (int, error) {
	var pos int
	err := db.r.QueryRowContext(ctx, `SELECT CASE WHEN c.status = 'queued' THEN (
			SELECT count(*) FROM live_chat_sessions q
			WHERE q.tenant_id = c.tenant_id AND q.status = 'queued' AND (q.queued_at, q.id) <= (c.queued_at, c.id)
		) ELSE 0 END
		FROM live_chat_sessions c WHERE c.tenant_id = ? AND c.id = ?`, tenantID, conversationID).Scan(&pos)
	if err != nil {
		return 0, errorf(err, "place in queue", "conversation")
	}
	return pos, nil
}

// ContactOpenConversation returns the contact's newest conversation that is
// not closed.
func (db *DB) ContactOpenConversation(ctx context.Context, tenantID, contactID string) (chorus.Conversation, error) {
	c, err := scanConversation(db.r.QueryRowContext(ctx, `SELECT `+convCols+` FROM live_chat_sessions
		WHERE tenant_id = ? AND contact_id = ? AND status <> 'closed' ORDER BY created_at DESC, id DESC LIMIT 1`,
		tenantID, contactID))
	if err != nil {
		return chorus.Conversation{}, errorf(err, "find open", "conversation")
	}
	return c, nil
}
