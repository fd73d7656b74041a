-- +goose Up
-- Chorus schema, SQLite (the embedded default). Times are INTEGER unix
-- microseconds (UTC); lists are JSON arrays in TEXT. Keep in step with
-- migrations/postgres/0001_init.sql.

CREATE TABLE tenants (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE agents (
    tenant_id     TEXT NOT NULL REFERENCES tenants (id),
    id            TEXT NOT NULL,
    name          TEXT NOT NULL DEFAULT '',
    email         TEXT NOT NULL DEFAULT '',
    roles         TEXT NOT NULL DEFAULT '[]',
    status        TEXT NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'away', 'offline')),
    capacity      INTEGER NOT NULL DEFAULT 5 CHECK (capacity >= 0),
    password_hash TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX agents_email ON agents (tenant_id, lower(email)) WHERE email <> '';

CREATE TABLE agent_availability (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    agent_id   TEXT NOT NULL,
    status     TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
) STRICT;
CREATE INDEX agent_availability_agent ON agent_availability (tenant_id, agent_id, changed_at);

CREATE TABLE teams (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE channels (
    tenant_id       TEXT NOT NULL REFERENCES tenants (id),
    id              TEXT NOT NULL,
    type            TEXT NOT NULL,
    name            TEXT NOT NULL,
    widget_key      TEXT UNIQUE,
    allowed_origins TEXT NOT NULL DEFAULT '[]',
    created_at      INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE contacts (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    id         TEXT NOT NULL,
    name       TEXT NOT NULL DEFAULT '',
    email      TEXT NOT NULL DEFAULT '',
    metadata   TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE contact_identities (
    tenant_id  TEXT NOT NULL,
    contact_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    value      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, channel_id, kind, value),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE live_chat_sessions (
    tenant_id   TEXT NOT NULL,
    id          TEXT NOT NULL,
    channel_id  TEXT NOT NULL,
    contact_id  TEXT NOT NULL,
    team_id     TEXT,
    status      TEXT NOT NULL CHECK (status IN ('queued', 'active', 'closed', 'missed')),
    assignee_id TEXT,
    last_seq    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    queued_at   INTEGER,
    assigned_at INTEGER,
    closed_at   INTEGER,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX live_chat_sessions_list ON live_chat_sessions (tenant_id, created_at DESC, id DESC);
CREATE INDEX live_chat_sessions_queue ON live_chat_sessions (tenant_id, queued_at) WHERE status = 'queued';
CREATE INDEX live_chat_sessions_assignee ON live_chat_sessions (tenant_id, assignee_id, status);
CREATE INDEX live_chat_sessions_contact ON live_chat_sessions (tenant_id, contact_id, created_at DESC);

CREATE TABLE messages (
    tenant_id       TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    seq             INTEGER NOT NULL,
    id              TEXT NOT NULL UNIQUE,
    sender_type     TEXT NOT NULL CHECK (sender_type IN ('visitor', 'agent', 'system')),
    sender_id       TEXT NOT NULL,
    body            TEXT NOT NULL,
    client_msg_id   TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    delivered_at    INTEGER,
    read_at         INTEGER,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, client_msg_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES live_chat_sessions (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE receipts (
    tenant_id       TEXT NOT NULL,
    conversation_id TEXT NOT NULL,
    actor_type      TEXT NOT NULL,
    actor_id        TEXT NOT NULL,
    delivered_seq   INTEGER NOT NULL DEFAULT 0,
    read_seq        INTEGER NOT NULL DEFAULT 0,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, actor_type, actor_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES live_chat_sessions (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE outbox (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    payload    TEXT NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id   TEXT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL DEFAULT '',
    target_id   TEXT NOT NULL DEFAULT '',
    details     TEXT,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX audit_log_tenant ON audit_log (tenant_id, id DESC);

-- +goose Down
DROP TABLE audit_log;
DROP TABLE outbox;
DROP TABLE receipts;
DROP TABLE messages;
DROP TABLE live_chat_sessions;
DROP TABLE contact_identities;
DROP TABLE contacts;
DROP TABLE channels;
DROP TABLE teams;
DROP TABLE agent_availability;
DROP TABLE agents;
DROP TABLE tenants;
