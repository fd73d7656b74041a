-- +goose Up
-- The outbox keys rows by plain rowid instead of AUTOINCREMENT: every insert
-- into an AUTOINCREMENT table also rewrites its sqlite_sequence row, one more
-- page in the WAL for each message. A new row still takes max(id) + 1, so
-- ids grow in insertion order while rows wait; an id is reused only after
-- its row was drained and deleted, which the drain (fetch oldest, delete
-- those ids) never depends on.
CREATE TABLE outbox_new (
    id         INTEGER PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
INSERT INTO outbox_new (id, tenant_id, kind, payload, created_at)
    SELECT id, tenant_id, kind, payload, created_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_new RENAME TO outbox;

-- +goose Down
CREATE TABLE outbox_old (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;
INSERT INTO outbox_old (id, tenant_id, kind, payload, created_at)
    SELECT id, tenant_id, kind, payload, created_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_old RENAME TO outbox;
