-- name: OutboxFetch :many
-- The notify worker drains every tenant: the one read not scoped to a tenant.
SELECT * FROM outbox ORDER BY id LIMIT @row_limit;

-- name: OutboxDelete :exec
DELETE FROM outbox WHERE id = ANY(@ids::bigint[]);
