-- name: AgentEnsure :exec
-- Creates the agent, or updates name, email and roles of an existing one when
-- the given values are non-empty and differ.
INSERT INTO agents (tenant_id, id, name, email, roles, capacity)
VALUES (@tenant_id, @id, @name, @email, @roles::text[], @capacity)
ON CONFLICT (tenant_id, id) DO UPDATE SET
    name       = CASE WHEN EXCLUDED.name <> '' THEN EXCLUDED.name ELSE agents.name END,
    email      = CASE WHEN EXCLUDED.email <> '' THEN EXCLUDED.email ELSE agents.email END,
    roles      = CASE WHEN cardinality(EXCLUDED.roles) > 0 THEN EXCLUDED.roles ELSE agents.roles END,
    updated_at = now()
WHERE (EXCLUDED.name <> '' AND EXCLUDED.name <> agents.name)
   OR (EXCLUDED.email <> '' AND EXCLUDED.email <> agents.email)
   OR (cardinality(EXCLUDED.roles) > 0 AND EXCLUDED.roles <> agents.roles);

-- name: AgentCreate :exec
INSERT INTO agents (tenant_id, id, name, email, roles, status, capacity, password_hash)
VALUES (@tenant_id, @id, @name, @email, @roles::text[], @status, @capacity, @password_hash);

-- name: AgentGet :one
SELECT a.tenant_id, a.id, a.name, a.email, a.roles, a.status, a.capacity, a.created_at,
    (SELECT count(*) FROM live_chat_sessions s
     WHERE s.tenant_id = a.tenant_id AND s.assignee_id = a.id AND s.status = 'active')::int AS active_conversations
FROM agents a
WHERE a.tenant_id = @tenant_id AND a.id = @id;

-- name: AgentList :many
SELECT a.tenant_id, a.id, a.name, a.email, a.roles, a.status, a.capacity, a.created_at,
    (SELECT count(*) FROM live_chat_sessions s
     WHERE s.tenant_id = a.tenant_id AND s.assignee_id = a.id AND s.status = 'active')::int AS active_conversations
FROM agents a
WHERE a.tenant_id = @tenant_id
ORDER BY a.name, a.id;

-- name: AgentCredentials :one
SELECT a.tenant_id, a.id, a.name, a.email, a.roles, a.status, a.capacity, a.created_at, a.password_hash,
    (SELECT count(*) FROM live_chat_sessions s
     WHERE s.tenant_id = a.tenant_id AND s.assignee_id = a.id AND s.status = 'active')::int AS active_conversations
FROM agents a
WHERE a.tenant_id = @tenant_id AND a.email <> '' AND lower(a.email) = lower(@email);

-- name: AgentSetStatus :execrows
-- Sets the availability and appends to the history in one statement.
WITH upd AS (
    UPDATE agents a SET status = @status, updated_at = now()
    WHERE a.tenant_id = @tenant_id AND a.id = @id
    RETURNING a.tenant_id, a.id, a.status
)
INSERT INTO agent_availability (tenant_id, agent_id, status)
SELECT upd.tenant_id, upd.id, upd.status FROM upd;

-- name: AgentSetPassword :execrows
UPDATE agents SET password_hash = @password_hash, updated_at = now()
WHERE tenant_id = @tenant_id AND id = @id;

-- name: AgentAvailabilityList :many
SELECT status, changed_at FROM agent_availability
WHERE tenant_id = @tenant_id AND agent_id = @agent_id
ORDER BY id;
