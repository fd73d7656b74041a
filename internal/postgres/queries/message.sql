-- name: MessageCreate :one
-- The hot path, one statement: idempotency check, last_seq bump (open
-- conversation, and the assignee check when asked), message insert and
-- message.created outbox row. Returns the new message (created = true) or the
-- one already stored under this client_msg_id (created = false); no row means
-- the conversation is missing, closed or not the sender's. The statement is
-- atomic: a failed insert (a racing retry) rolls the bump back.
WITH existing AS (
    SELECT m.* FROM messages m
    WHERE m.tenant_id = @tenant_id AND m.conversation_id = @conversation_id AND m.client_msg_id = @client_msg_id
), bump AS (
    UPDATE live_chat_sessions s SET last_seq = s.last_seq + 1
    WHERE s.tenant_id = @tenant_id AND s.id = @conversation_id
      AND s.status <> 'closed'
      AND (NOT @sender_must_be_assignee::bool OR s.assignee_id = @sender_id::text)
      AND NOT EXISTS (SELECT 1 FROM existing)
    RETURNING s.last_seq
), ins AS (
    INSERT INTO messages (tenant_id, conversation_id, seq, id, sender_type, sender_id, body, client_msg_id, created_at)
    SELECT @tenant_id, @conversation_id, bump.last_seq, @id, @sender_type, @sender_id::text, @body, @client_msg_id, @created_at
    FROM bump
    RETURNING *
), ob AS (
    INSERT INTO outbox (tenant_id, kind, payload)
    SELECT ins.tenant_id, 'message.created', to_jsonb(ins) FROM ins
)
SELECT ins.tenant_id, ins.conversation_id, ins.seq, ins.id, ins.sender_type, ins.sender_id, ins.body,
    ins.client_msg_id, ins.created_at, ins.delivered_at, ins.read_at, true AS created
FROM ins
UNION ALL
SELECT existing.tenant_id, existing.conversation_id, existing.seq, existing.id, existing.sender_type, existing.sender_id, existing.body,
    existing.client_msg_id, existing.created_at, existing.delivered_at, existing.read_at, false AS created
FROM existing;

-- name: MessageGetByClientMsgID :one
SELECT * FROM messages
WHERE tenant_id = @tenant_id AND conversation_id = @conversation_id AND client_msg_id = @client_msg_id;

-- name: MessageList :many
SELECT * FROM messages
WHERE tenant_id = @tenant_id AND conversation_id = @conversation_id AND seq > @after_seq
ORDER BY seq
LIMIT @row_limit;

-- name: ReceiptsMark :many
-- Raises many readers' delivered (or, with is_read, read and delivered)
-- watermarks in one statement, and stamps delivered_at (and read_at) on the
-- messages each raise covers: those sent by the other side (a visitor
-- receives agent and system messages, an agent receives visitor messages)
-- above the reader's previous watermark, since the ones below it were stamped
-- when that watermark was set. Each seq is clamped to the conversation's
-- last_seq. The input must hold each (conversation, actor) once. Returns one
-- row per input whose conversation exists, with its last_seq and the
-- watermarks before and, when one moved, after.
WITH input AS (
    SELECT i.conversation_id, i.actor_type, i.actor_id, least(i.seq, s.last_seq) AS seq, s.last_seq
    FROM (
        SELECT unnest(@conversation_ids::text[]) AS conversation_id, unnest(@actor_types::text[]) AS actor_type,
            unnest(@actor_ids::text[]) AS actor_id, unnest(@seqs::bigint[]) AS seq
    ) i
    JOIN live_chat_sessions s ON s.tenant_id = @tenant_id AND s.id = i.conversation_id
), prior AS (
    SELECT input.conversation_id, input.actor_type, input.actor_id, input.seq, input.last_seq,
        coalesce(r.delivered_seq, 0)::bigint AS old_delivered, coalesce(r.read_seq, 0)::bigint AS old_read
    FROM input
    LEFT JOIN receipts r ON r.tenant_id = @tenant_id AND r.conversation_id = input.conversation_id
        AND r.actor_type = input.actor_type AND r.actor_id = input.actor_id
), raised AS (
    INSERT INTO receipts (tenant_id, conversation_id, actor_type, actor_id, delivered_seq, read_seq, updated_at)
    SELECT @tenant_id, prior.conversation_id, prior.actor_type, prior.actor_id,
        greatest(prior.seq, prior.old_delivered),
        CASE WHEN @is_read::bool THEN greatest(prior.seq, prior.old_read) ELSE prior.old_read END,
        @at::timestamptz
    FROM prior
    WHERE prior.seq > CASE WHEN @is_read::bool THEN prior.old_read ELSE prior.old_delivered END
    ORDER BY prior.conversation_id, prior.actor_type, prior.actor_id
    ON CONFLICT (conversation_id, actor_type, actor_id) DO UPDATE SET
        delivered_seq = greatest(receipts.delivered_seq, EXCLUDED.delivered_seq),
        read_seq      = greatest(receipts.read_seq, EXCLUDED.read_seq),
        updated_at    = EXCLUDED.updated_at
    WHERE receipts.tenant_id = EXCLUDED.tenant_id
      AND (EXCLUDED.delivered_seq > receipts.delivered_seq OR EXCLUDED.read_seq > receipts.read_seq)
    RETURNING receipts.conversation_id, receipts.actor_type, receipts.actor_id, receipts.delivered_seq, receipts.read_seq
), stamped AS (
    UPDATE messages m SET
        delivered_at = COALESCE(m.delivered_at, @at::timestamptz),
        read_at      = CASE WHEN @is_read::bool THEN COALESCE(m.read_at, @at::timestamptz) ELSE m.read_at END
    FROM prior
    JOIN raised ON raised.conversation_id = prior.conversation_id
        AND raised.actor_type = prior.actor_type AND raised.actor_id = prior.actor_id
    WHERE m.tenant_id = @tenant_id AND m.conversation_id = prior.conversation_id
      AND m.seq > CASE WHEN @is_read::bool THEN prior.old_read ELSE prior.old_delivered END
      AND m.seq <= prior.seq
      AND CASE WHEN prior.actor_type = 'visitor' THEN m.sender_type <> 'visitor' ELSE m.sender_type = 'visitor' END
      AND (m.delivered_at IS NULL OR (@is_read::bool AND m.read_at IS NULL))
)
SELECT prior.conversation_id::text AS conversation_id, prior.actor_type::text AS actor_type, prior.actor_id::text AS actor_id, prior.last_seq, prior.old_delivered, prior.old_read,
    coalesce(raised.delivered_seq, 0)::bigint AS new_delivered,
    coalesce(raised.read_seq, 0)::bigint AS new_read,
    (raised.conversation_id IS NOT NULL)::bool AS raised
FROM prior
LEFT JOIN raised ON raised.conversation_id = prior.conversation_id
    AND raised.actor_type = prior.actor_type AND raised.actor_id = prior.actor_id;
