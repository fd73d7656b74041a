package postgres

import (
	"cmp"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/postgres/internal/dbsqlc"
)

// ConversationCreate stores c and its conversation.created outbox row in one
// statement.
func (db *DB) ConversationCreate(ctx context.Context, tenantID string, c chorus.Conversation) (chorus.Conversation, error) {
	r, err := db.q.ConversationCreate(ctx, db.tenant(tenantID), dbsqlc.ConversationCreateParams{
		TenantID:   tenantID,
		ID:         c.ID,
		ChannelID:  c.ChannelID,
		ContactID:  c.ContactID,
		TeamID:     c.TeamID,
		Status:     c.Status,
		AssigneeID: c.AssigneeID,
		LastSeq:    c.LastSeq,
		CreatedAt:  c.CreatedAt,
		QueuedAt:   c.QueuedAt,
		AssignedAt: c.AssignedAt,
		ClosedAt:   c.ClosedAt,
		UpdatedAt:  c.UpdatedAt,
	})
	if err != nil {
		return chorus.Conversation{}, translate(err, "create", "conversation")
	}
	return toConversation((*dbsqlc.LiveChatSession)(r)), nil
}

// ConversationGet returns the conversation.
func (db *DB) ConversationGet(ctx context.Context, tenantID, id string) (chorus.Conversation, error) {
	r, err := db.q.ConversationGet(ctx, db.tenant(tenantID), dbsqlc.ConversationGetParams{TenantID: tenantID, ID: id})
	if err != nil {
		return chorus.Conversation{}, translate(err, "get", "conversation")
	}
	return toConversation(r), nil
}

// ConversationList returns one page, newest first, and the next cursor.
func (db *DB) ConversationList(ctx context.Context, tenantID string, f chorus.ConversationFilter) ([]chorus.Conversation, string, error) {
	limit := min(limitOr(f.Limit, 50), 200)
	p := dbsqlc.ConversationListParams{
		TenantID:   tenantID,
		Status:     f.Status,
		AssigneeID: f.AssigneeID,
		VisibleTo:  f.VisibleTo,
		ContactID:  f.ContactID,
		RowLimit:   limit + 1,
	}
	if f.Cursor != "" {
		at, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return nil, "", err
		}
		p.HasCursor, p.CursorAt, p.CursorID = true, at, id
	}
	rows, err := db.q.ConversationList(ctx, db.tenant(tenantID), p)
	if err != nil {
		return nil, "", translate(err, "list", "conversations")
	}
	next := ""
	if len(rows) > int(limit) {
		rows = rows[:limit]
		last := rows[len(rows)-1]
		next = encodeCursor(last.CreatedAt, last.ID)
	}
	out := make([]chorus.Conversation, 0, len(rows))
	for _, r := range rows {
		out = append(out, toConversation(r))
	}
	return out, next, nil
}

// encodeCursor makes the opaque position after (at, id).
func encodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "|" + id))
}

func decodeCursor(s string) (time.Time, string, error) {
	bad := chorus.Errorf(chorus.EINVALID, "cursor: invalid.")
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return time.Time{}, "", bad
	}
	micros, id, ok := strings.Cut(string(b), "|")
	if !ok || id == "" {
		return time.Time{}, "", bad
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return time.Time{}, "", bad
	}
	return time.UnixMicro(n), id, nil
}

// ConversationTransition applies t as one compare-and-set statement that also
// writes its outbox row (kind t.Event, a ConversationChange payload). When it matches nothing, a
// read tells not found from a failed check.
func (db *DB) ConversationTransition(ctx context.Context, tenantID, id string, t chorus.Transition) (chorus.Conversation, error) {
	var actor []byte
	if t.Actor != nil {
		actor, _ = json.Marshal(t.Actor)
	}
	params := dbsqlc.ConversationTransitionParams{
		Event:        cmp.Or(t.Event, chorus.OutboxConversationUpdated),
		Actor:        actor,
		ToStatus:     t.To,
		AssigneeID:   t.AssigneeID,
		TeamID:       t.TeamID,
		At:           t.At,
		TenantID:     tenantID,
		ID:           id,
		FromStatuses: orEmpty(t.From),
		OnlyAssignee: t.OnlyAssignee,
	}
	for attempt := 0; ; attempt++ {
		r, err := db.q.ConversationTransition(ctx, db.tenant(tenantID), params)
		if err == nil {
			return toConversation((*dbsqlc.LiveChatSession)(r)), nil
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return chorus.Conversation{}, translate(err, "update", "conversation")
		}
		cur, err := db.ConversationGet(ctx, tenantID, id)
		if err != nil {
			return chorus.Conversation{}, err
		}
		if !slices.Contains(t.From, cur.Status) {
			return chorus.Conversation{}, chorus.Errorf(chorus.ECONFLICT, "conversation is %s.", cur.Status)
		}
		if t.OnlyAssignee != "" && (cur.AssigneeID == nil || *cur.AssigneeID != t.OnlyAssignee) {
			return chorus.Conversation{}, chorus.Errorf(chorus.ECONFLICT, "conversation is not assigned to you.")
		}
		// The checks hold now: the row changed under the statement (a
		// concurrent transition). Apply the change to the new state.
		if attempt >= 3 {
			return chorus.Conversation{}, chorus.Errorf(chorus.ECONFLICT, "conversation is changing; retry.")
		}
	}
}

// QueueList returns queued conversations, oldest queued first.
func (db *DB) QueueList(ctx context.Context, tenantID string, limit int) ([]chorus.Conversation, error) {
	rows, err := db.q.ConversationQueueList(ctx, db.tenant(tenantID), dbsqlc.ConversationQueueListParams{
		TenantID: tenantID, RowLimit: limitOr(limit, 50),
	})
	if err != nil {
		return nil, translate(err, "list", "queue")
	}
	out := make([]chorus.Conversation, 0, len(rows))
	for _, r := range rows {
		out = append(out, toConversation(r))
	}
	return out, nil
}

// QueuePosition returns the conversation's 1-based place in its tenant's
// queue (0 when it is not queued).
func (db *DB) QueuePosition(ctx context.Context, tenantID, conversationID string) (int, error) {
	pos, err := db.q.ConversationQueuePosition(ctx, db.tenant(tenantID), dbsqlc.ConversationQueuePositionParams{
		TenantID: tenantID, ID: conversationID,
	})
	if err != nil {
		return 0, translate(err, "place in queue", "conversation")
	}
	return int(pos), nil
}

// ContactOpenConversation returns the contact's newest conversation that is
// not closed.
func (db *DB) ContactOpenConversation(ctx context.Context, tenantID, contactID string) (chorus.Conversation, error) {
	r, err := db.q.ConversationOpenByContact(ctx, db.tenant(tenantID), dbsqlc.ConversationOpenByContactParams{
		TenantID: tenantID, ContactID: contactID,
	})
	if err != nil {
		return chorus.Conversation{}, translate(err, "get", "open conversation")
	}
	return toConversation(r), nil
}

func toConversation(r *dbsqlc.LiveChatSession) chorus.Conversation {
	return chorus.Conversation{
		ID:         r.ID,
		TenantID:   r.TenantID,
		ChannelID:  r.ChannelID,
		ContactID:  r.ContactID,
		Status:     r.Status,
		AssigneeID: r.AssigneeID,
		TeamID:     r.TeamID,
		LastSeq:    r.LastSeq,
		CreatedAt:  r.CreatedAt,
		QueuedAt:   r.QueuedAt,
		AssignedAt: r.AssignedAt,
		ClosedAt:   r.ClosedAt,
		UpdatedAt:  r.UpdatedAt,
	}
}
