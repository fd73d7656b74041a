package postgres

import (
	"context"
	"encoding/json"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/enkisys/chorus/internal/chorus"
	"github.com/enkisys/chorus/internal/postgres/internal/dbsqlc"
)

// OutboxFetch returns up to limit of the oldest outbox rows of all tenants.
// Payloads are the JSON of the changed object (chorus.Message or
// chorus.Conversation field names). The transaction sets chorus.scope =
// 'outbox' instead of a tenant: row-level security then admits every
// tenant's outbox rows (and no other table's) for reading and deleting.
func (db *DB) OutboxFetch(ctx context.Context, limit int) ([]chorus.OutboxEvent, error) {
	rows, err := db.q.OutboxFetch(ctx, db.outbox(), limitOr(limit, 100))
	if err != nil {
		return nil, translate(err, "fetch", "outbox")
	}
	return toOutboxEvents(rows), nil
}

func toOutboxEvents(rows []*dbsqlc.Outbox) []chorus.OutboxEvent {
	out := make([]chorus.OutboxEvent, 0, len(rows))
	for _, r := range rows {
		out = append(out, chorus.OutboxEvent{
			ID: r.ID, TenantID: r.TenantID, Kind: r.Kind, Payload: json.RawMessage(r.Payload), CreatedAt: r.CreatedAt,
		})
	}
	return out
}

// outboxDrainLock is the advisory lock key of OutboxDrain ("chorus.outbox").
const outboxDrainLock int64 = 0x63686f7275730b01

// OutboxDrain runs one drain in a transaction that holds a transaction-level
// advisory lock: a second notify process (or a second worker) finds it
// taken and returns at once, so rows go out in order and once while the
// drainer lives. The lock, the fetched rows and the deletion end with the
// transaction: when the drainer dies, PostgreSQL rolls back and releases
// both, and the next drain hands the same rows out again.
func (db *DB) OutboxDrain(ctx context.Context, limit int, fn func([]chorus.OutboxEvent) []int64) (int, error) {
	n := 0
	err := db.WithTx(ctx, func(tx pgx.Tx) error {
		var locked bool
		err := tx.QueryRow(ctx, "SELECT pg_try_advisory_xact_lock($1), set_config($2, $3, true) IS NOT NULL",
			outboxDrainLock, settingScope, scopeOutbox).Scan(&locked, new(bool))
		if err != nil || !locked {
			return err
		}
		rows, err := db.q.OutboxFetch(ctx, tx, limitOr(limit, 100))
		if err != nil {
			return err
		}
		evs := toOutboxEvents(rows)
		n = len(evs)
		if n == 0 {
			return nil
		}
		if done := fn(evs); len(done) > 0 {
			return db.q.OutboxDelete(ctx, tx, done)
		}
		return nil
	})
	if err != nil {
		return 0, translate(err, "drain", "outbox")
	}
	return n, nil
}

// OutboxDelete removes processed rows, of any tenant (see OutboxFetch).
func (db *DB) OutboxDelete(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	return translate(db.q.OutboxDelete(ctx, db.outbox(), ids), "delete", "outbox rows")
}

// AuditAppend appends an entry to the audit log.
func (db *DB) AuditAppend(ctx context.Context, tenantID string, e chorus.AuditEntry) error {
	var details []byte
	if len(e.Details) > 0 {
		details = e.Details
	}
	at := e.CreatedAt
	if at.IsZero() {
		at = time.Now()
	}
	err := db.q.AuditAppend(ctx, db.tenant(tenantID), dbsqlc.AuditAppendParams{
		TenantID:   tenantID,
		ActorType:  e.Actor.Type,
		ActorID:    e.Actor.ID,
		Action:     e.Action,
		TargetType: e.TargetType,
		TargetID:   e.TargetID,
		Details:    details,
		CreatedAt:  at,
	})
	return translate(err, "append", "audit entry")
}

// AuditList returns entries newest first with id < beforeID (0: from the
// newest).
func (db *DB) AuditList(ctx context.Context, tenantID string, beforeID int64, limit int) ([]chorus.AuditEntry, error) {
	rows, err := db.q.AuditList(ctx, db.tenant(tenantID), dbsqlc.AuditListParams{TenantID: tenantID, BeforeID: beforeID, RowLimit: limitOr(limit, 50)})
	if err != nil {
		return nil, translate(err, "list", "audit entries")
	}
	out := make([]chorus.AuditEntry, 0, len(rows))
	for _, r := range rows {
		e := chorus.AuditEntry{
			ID: r.ID, TenantID: r.TenantID, Actor: chorus.Actor{Type: r.ActorType, ID: r.ActorID},
			Action: r.Action, TargetType: r.TargetType, TargetID: r.TargetID, CreatedAt: r.CreatedAt,
		}
		if len(r.Details) > 0 {
			e.Details = json.RawMessage(r.Details)
		}
		out = append(out, e)
	}
	return out, nil
}
