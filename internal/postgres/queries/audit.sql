-- name: AuditAppend :exec
INSERT INTO audit_log (tenant_id, actor_type, actor_id, action, target_type, target_id, details, created_at)
VALUES (@tenant_id, @actor_type, @actor_id, @action, @target_type, @target_id, @details, @created_at);

-- name: AuditList :many
SELECT * FROM audit_log
WHERE tenant_id = @tenant_id AND (@before_id::bigint = 0 OR id < @before_id::bigint)
ORDER BY id DESC
LIMIT @row_limit;
