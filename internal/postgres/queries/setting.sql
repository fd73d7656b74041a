-- name: SettingGet :one
SELECT value FROM tenant_settings WHERE tenant_id = @tenant_id AND name = @name;

-- name: SettingPut :exec
INSERT INTO tenant_settings (tenant_id, name, value, updated_at)
VALUES (@tenant_id, @name, @value::jsonb, now())
ON CONFLICT (tenant_id, name) DO UPDATE SET value = EXCLUDED.value, updated_at = EXCLUDED.updated_at;
