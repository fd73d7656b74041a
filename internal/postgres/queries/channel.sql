-- name: ChannelCreate :one
INSERT INTO channels (tenant_id, id, type, name, widget_key, allowed_origins, created_at)
VALUES (@tenant_id, @id, @type, @name, NULLIF(@widget_key::text, ''), @allowed_origins::text[], @created_at)
RETURNING *;

-- name: ChannelGet :one
SELECT * FROM channels WHERE tenant_id = @tenant_id AND id = @id;

-- name: ChannelList :many
SELECT * FROM channels WHERE tenant_id = @tenant_id ORDER BY created_at, id;

-- name: ChannelByWidgetKey :one
-- The one lookup across tenants: the widget key is public and globally unique.
SELECT * FROM channels WHERE widget_key = @widget_key::text;
