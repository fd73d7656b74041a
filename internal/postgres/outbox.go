package postgres

import (
	"context"
	"encoding/json"
	"time"

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
	out := make([]chorus.OutboxEvent, 0, len(rows))
	for _, r := range rows {
		out = append(out, chorus.OutboxEvent{
			ID: r.ID, TenantID: r.TenantID, Kind: r.Kind, Payload: json.RawMessage(r.Payload), CreatedAt: r.CreatedAt,
		})
	}
	return out, nil
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
