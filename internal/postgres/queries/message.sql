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

-- name: MessageMarkReceipt :execrows
-- Stamps delivered_at (and read_at when is_read) on the messages up to seq
-- sent by the other side: a visitor receives agent and system messages, an
-- agent receives visitor messages.
UPDATE messages SET
    delivered_at = COALESCE(delivered_at, @at::timestamptz),
    read_at      = CASE WHEN @is_read::bool THEN COALESCE(read_at, @at::timestamptz) ELSE read_at END
WHERE tenant_id = @tenant_id AND conversation_id = @conversation_id AND seq <= @seq
  AND CASE WHEN @reader_type::text = 'visitor' THEN sender_type <> 'visitor' ELSE sender_type = 'visitor' END
  AND (delivered_at IS NULL OR (@is_read::bool AND read_at IS NULL));

-- name: ReceiptRaise :one
-- Raises the reader's watermarks; returns a row only when one moved.
INSERT INTO receipts (tenant_id, conversation_id, actor_type, actor_id, delivered_seq, read_seq, updated_at)
VALUES (@tenant_id, @conversation_id, @actor_type, @actor_id, @delivered_seq, @read_seq, @updated_at)
ON CONFLICT (conversation_id, actor_type, actor_id) DO UPDATE SET
    delivered_seq = greatest(receipts.delivered_seq, EXCLUDED.delivered_seq),
    read_seq      = greatest(receipts.read_seq, EXCLUDED.read_seq),
    updated_at    = EXCLUDED.updated_at
WHERE receipts.tenant_id = EXCLUDED.tenant_id
  AND (EXCLUDED.delivered_seq > receipts.delivered_seq OR EXCLUDED.read_seq > receipts.read_seq)
RETURNING delivered_seq, read_seq;

-- name: ReceiptGet :one
SELECT delivered_seq, read_seq FROM receipts
WHERE tenant_id = @tenant_id AND conversation_id = @conversation_id AND actor_type = @actor_type AND actor_id = @actor_id;
