-- name: TenantEnsure :exec
INSERT INTO tenants (id, name) VALUES (@id, @name)
ON CONFLICT (id) DO NOTHING;

-- name: TenantGet :one
SELECT * FROM tenants WHERE id = @id;
