-- +goose Up
-- Chorus schema, PostgreSQL. Every tenant table carries tenant_id and every
-- query filters on it. Keep in step with migrations/sqlite/0001_init.sql.

CREATE TABLE tenants (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agents (
    tenant_id     text NOT NULL REFERENCES tenants (id),
    id            text NOT NULL,
    name          text NOT NULL DEFAULT '',
    email         text NOT NULL DEFAULT '',
    roles         text[] NOT NULL DEFAULT '{}',
    status        text NOT NULL DEFAULT 'offline' CHECK (status IN ('online', 'away', 'offline')),
    capacity      integer NOT NULL DEFAULT 5 CHECK (capacity >= 0),
    password_hash text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX agents_email ON agents (tenant_id, lower(email)) WHERE email <> '';

-- History of availability changes (presence keeps the live state).
CREATE TABLE agent_availability (
    id         bigserial PRIMARY KEY,
    tenant_id  text NOT NULL,
    agent_id   text NOT NULL,
    status     text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES agents (tenant_id, id)
);
CREATE INDEX agent_availability_agent ON agent_availability (tenant_id, agent_id, changed_at);

CREATE TABLE teams (
    tenant_id  text NOT NULL REFERENCES tenants (id),
    id         text NOT NULL,
    name       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE channels (
    tenant_id       text NOT NULL REFERENCES tenants (id),
    id              text NOT NULL,
    type            text NOT NULL,
    name            text NOT NULL,
    widget_key      text UNIQUE,
    allowed_origins text[] NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

CREATE TABLE contacts (
    tenant_id  text NOT NULL REFERENCES tenants (id),
    id         text NOT NULL,
    name       text NOT NULL DEFAULT '',
    email      text NOT NULL DEFAULT '',
    metadata   jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);

-- One identity per channel and kind: a widget resume token hash, an e-mail
-- address, a phone number (later channels).
CREATE TABLE contact_identities (
    tenant_id  text NOT NULL,
    contact_id text NOT NULL,
    channel_id text NOT NULL,
    kind       text NOT NULL,
    value      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, channel_id, kind, value),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id)
);

-- Conversations. The queue is the set of queued rows ordered by queued_at.
CREATE TABLE live_chat_sessions (
    tenant_id   text NOT NULL,
    id          text NOT NULL,
    channel_id  text NOT NULL,
    contact_id  text NOT NULL,
    team_id     text,
    status      text NOT NULL CHECK (status IN ('queued', 'active', 'closed', 'missed')),
    assignee_id text,
    last_seq    bigint NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL,
    queued_at   timestamptz,
    assigned_at timestamptz,
    closed_at   timestamptz,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id),
    UNIQUE (id),
    FOREIGN KEY (tenant_id, channel_id) REFERENCES channels (tenant_id, id),
    FOREIGN KEY (tenant_id, contact_id) REFERENCES contacts (tenant_id, id)
);
CREATE INDEX live_chat_sessions_list ON live_chat_sessions (tenant_id, created_at DESC, id DESC);
CREATE INDEX live_chat_sessions_queue ON live_chat_sessions (tenant_id, queued_at) WHERE status = 'queued';
CREATE INDEX live_chat_sessions_assignee ON live_chat_sessions (tenant_id, assignee_id, status);
CREATE INDEX live_chat_sessions_contact ON live_chat_sessions (tenant_id, contact_id, created_at DESC);

CREATE TABLE messages (
    tenant_id       text NOT NULL,
    conversation_id text NOT NULL,
    seq             bigint NOT NULL,
    id              text NOT NULL UNIQUE,
    sender_type     text NOT NULL CHECK (sender_type IN ('visitor', 'agent', 'system')),
    sender_id       text NOT NULL,
    body            text NOT NULL,
    client_msg_id   text NOT NULL,
    created_at      timestamptz NOT NULL,
    delivered_at    timestamptz,
    read_at         timestamptz,
    PRIMARY KEY (conversation_id, seq),
    UNIQUE (conversation_id, client_msg_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES live_chat_sessions (tenant_id, id)
);

-- Per-participant delivery and read watermarks.
CREATE TABLE receipts (
    tenant_id       text NOT NULL,
    conversation_id text NOT NULL,
    actor_type      text NOT NULL,
    actor_id        text NOT NULL,
    delivered_seq   bigint NOT NULL DEFAULT 0,
    read_seq        bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (conversation_id, actor_type, actor_id),
    FOREIGN KEY (tenant_id, conversation_id) REFERENCES live_chat_sessions (tenant_id, id)
);

-- Transactional outbox: written in the same transaction as each change, drained by notify.
CREATE TABLE outbox (
    id         bigserial PRIMARY KEY,
    tenant_id  text NOT NULL,
    kind       text NOT NULL,
    payload    jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only audit log of admin and supervisor actions.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    tenant_id   text NOT NULL,
    actor_type  text NOT NULL,
    actor_id    text NOT NULL,
    action      text NOT NULL,
    target_type text NOT NULL DEFAULT '',
    target_id   text NOT NULL DEFAULT '',
    details     jsonb,
    created_at  timestamptz NOT NULL DEFAULT now()
);
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
