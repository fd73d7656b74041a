package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"math"

	"github.com/enkisys/chorus/internal/chorus"
)

// OutboxFetch returns up to limit of the oldest outbox rows, all tenants.
func (db *DB) OutboxFetch(ctx context.Context, limit int) ([]chorus.OutboxEvent, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, tenant_id, kind, payload, created_at FROM outbox ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, errorf(err, "fetch", "outbox")
	}
	defer rows.Close()
	out := []chorus.OutboxEvent{}
	for rows.Next() {
		var e chorus.OutboxEvent
		var payload string
		var created int64
		if err := rows.Scan(&e.ID, &e.TenantID, &e.Kind, &payload, &created); err != nil {
			return nil, errorf(err, "fetch", "outbox")
		}
		e.Payload, e.CreatedAt = json.RawMessage(payload), fromMicros(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, errorf(err, "fetch", "outbox")
	}
	return out, nil
}

// OutboxDrain fetches, hands the rows to fn and deletes what fn returns.
// The embedded database has one process, and the notify worker is its only
// drainer, so no lock is needed (fn must not run concurrently with itself).
func (db *DB) OutboxDrain(ctx context.Context, limit int, fn func([]chorus.OutboxEvent) []int64) (int, error) {
	evs, err := db.OutboxFetch(ctx, limit)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	if done := fn(evs); len(done) > 0 {
		if err := db.OutboxDelete(ctx, done); err != nil {
			return len(evs), err
		}
	}
	return len(evs), nil
}

// OutboxDelete removes processed rows; unknown ids are ignored.
func (db *DB) OutboxDelete(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return errorf(err, "delete", "outbox")
	}
	err = db.write(ctx, func(ctx context.Context, tx wtx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM outbox WHERE id IN (SELECT value FROM json_each(?))`, string(list))
		return err
	})
	if err != nil {
		return errorf(err, "delete", "outbox")
	}
	return nil
}

// AuditAppend appends an entry to the tenant's audit log (CreatedAt: now when zero).
func (db *DB) AuditAppend(ctx context.Context, tenantID string, e chorus.AuditEntry) error {
	created := e.CreatedAt
	if created.IsZero() {
		created = now()
	}
	var details any
	if len(e.Details) > 0 {
		details = string(e.Details)
	}
	err := db.write(ctx, func(ctx context.Context, tx wtx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit_log
			(tenant_id, actor_type, actor_id, action, target_type, target_id, details, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, tenantID, e.Actor.Type, e.Actor.ID, e.Action, e.TargetType, e.TargetID,
			details, micros(created))
		return err
	})
	if err != nil {
		return errorf(err, "append", "audit entry")
	}
	return nil
}

// AuditList returns the tenant's entries newest first with id < beforeID
// (0: from the newest), at most limit.
func (db *DB) AuditList(ctx context.Context, tenantID string, beforeID int64, limit int) ([]chorus.AuditEntry, error) {
	if beforeID <= 0 {
		beforeID = math.MaxInt64
	}
	if limit <= 0 {
		limit = ConversationPageDefault
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, tenant_id, actor_type, actor_id, action, target_type, target_id,
		details, created_at FROM audit_log WHERE tenant_id = ? AND id < ? ORDER BY id DESC LIMIT ?`, tenantID, beforeID, limit)
	if err != nil {
		return nil, errorf(err, "list", "audit entries")
	}
	defer rows.Close()
	out := []chorus.AuditEntry{}
	for rows.Next() {
		var e chorus.AuditEntry
		var details sql.NullString
		var created int64
		if err := rows.Scan(&e.ID, &e.TenantID, &e.Actor.Type, &e.Actor.ID, &e.Action, &e.TargetType, &e.TargetID,
			&details, &created); err != nil {
			return nil, errorf(err, "list", "audit entries")
		}
		if details.Valid {
			e.Details = json.RawMessage(details.String)
		}
		e.CreatedAt = fromMicros(created)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, errorf(err, "list", "audit entries")
	}
	return out, nil
}
