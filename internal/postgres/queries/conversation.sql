-- name: ConversationCreate :one
-- Inserts the conversation and its conversation.created outbox row in one statement.
WITH ins AS (
    INSERT INTO live_chat_sessions (tenant_id, id, channel_id, contact_id, team_id, status, assignee_id,
        last_seq, created_at, queued_at, assigned_at, closed_at, updated_at)
    VALUES (@tenant_id, @id, @channel_id, @contact_id, sqlc.narg(team_id), @status, sqlc.narg(assignee_id),
        @last_seq, @created_at, sqlc.narg(queued_at), sqlc.narg(assigned_at), sqlc.narg(closed_at), @updated_at)
    RETURNING *
), ob AS (
    INSERT INTO outbox (tenant_id, kind, payload)
    SELECT ins.tenant_id, 'conversation.created',
        jsonb_build_object('event', 'conversation.created', 'conversation', to_jsonb(ins)) FROM ins
)
SELECT * FROM ins;

-- name: ConversationGet :one
SELECT * FROM live_chat_sessions WHERE tenant_id = @tenant_id AND id = @id;

-- name: ConversationList :many
SELECT * FROM live_chat_sessions
WHERE tenant_id = @tenant_id
  AND (@status::text = '' OR status = @status::text)
  AND (@assignee_id::text = '' OR assignee_id = @assignee_id::text)
  AND (@visible_to::text = '' OR assignee_id = @visible_to::text OR status = 'queued')
  AND (@contact_id::text = '' OR contact_id = @contact_id::text)
  AND (NOT @has_cursor::bool OR (created_at, id) < (@cursor_at::timestamptz, @cursor_id::text))
ORDER BY created_at DESC, id DESC
LIMIT @row_limit;

-- name: ConversationTransition :one
-- Compare-and-set on status (and optionally the assignee), with its outbox
-- row (kind @event, a ConversationChange payload: the state before, the
-- actor, the conversation after), in one statement. No row: not found, the
-- check failed, or the row changed since this statement's snapshot (the
-- "before" state must be the one replaced): ConversationGet tells which, and
-- the caller retries the last case.
WITH old AS (
    SELECT o.status, o.assignee_id, o.team_id FROM live_chat_sessions o
    WHERE o.tenant_id = @tenant_id AND o.id = @id
), upd AS (
    UPDATE live_chat_sessions s SET
        status      = @to_status::text,
        assignee_id = sqlc.narg(assignee_id)::text,
        team_id     = sqlc.narg(team_id)::text,
        assigned_at = CASE WHEN @to_status::text = 'active' AND s.assignee_id IS DISTINCT FROM sqlc.narg(assignee_id)::text
                           THEN @at::timestamptz ELSE s.assigned_at END,
        queued_at   = CASE WHEN @to_status::text = 'queued' THEN @at::timestamptz ELSE s.queued_at END,
        closed_at   = CASE WHEN @to_status::text = 'closed' THEN @at::timestamptz ELSE s.closed_at END,
        updated_at  = @at::timestamptz
    FROM old
    WHERE s.tenant_id = @tenant_id AND s.id = @id
      AND s.status = ANY(@from_statuses::text[])
      AND (@only_assignee::text = '' OR s.assignee_id = @only_assignee::text)
      AND s.status = old.status AND s.assignee_id IS NOT DISTINCT FROM old.assignee_id
      AND s.team_id IS NOT DISTINCT FROM old.team_id
    RETURNING s.*
), ob AS (
    INSERT INTO outbox (tenant_id, kind, payload)
    SELECT upd.tenant_id, @event::text, jsonb_build_object(
        'event', @event::text,
        'actor', sqlc.narg(actor)::jsonb,
        'from_status', old.status,
        'from_assignee_id', old.assignee_id,
        'from_team_id', old.team_id,
        'conversation', to_jsonb(upd))
    FROM upd, old
)
SELECT * FROM upd;

-- name: ConversationQueueList :many
SELECT * FROM live_chat_sessions
WHERE tenant_id = @tenant_id AND status = 'queued'
ORDER BY queued_at, id
LIMIT @row_limit;

-- name: ConversationQueuePosition :one
-- The 1-based place of the conversation in its tenant's queue, in
-- ConversationQueueList's order; 0 when it is not queued; no row when it
-- does not exist.
SELECT (CASE WHEN c.status = 'queued' THEN (
    SELECT count(*) FROM live_chat_sessions q
    WHERE q.tenant_id = c.tenant_id AND q.status = 'queued' AND (q.queued_at, q.id) <= (c.queued_at, c.id)
) ELSE 0 END)::bigint AS position
FROM live_chat_sessions c
WHERE c.tenant_id = @tenant_id AND c.id = @id;

-- name: ConversationOpenByContact :one
SELECT * FROM live_chat_sessions
WHERE tenant_id = @tenant_id AND contact_id = @contact_id AND status <> 'closed'
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: ConversationSendCheck :one
-- Read on MessageCreate's failure path only, to tell why no message was stored.
SELECT status, assignee_id, last_seq FROM live_chat_sessions
WHERE tenant_id = @tenant_id AND id = @id;
