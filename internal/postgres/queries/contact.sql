-- name: ContactCreate :one
INSERT INTO contacts (tenant_id, id, name, email, metadata, created_at)
VALUES (@tenant_id, @id, @name, @email, @metadata, @created_at)
RETURNING *;

-- name: ContactGet :one
SELECT * FROM contacts WHERE tenant_id = @tenant_id AND id = @id;

-- name: ContactIdentitySet :execrows
-- Records the identity; setting it again for the same contact is a no-op that
-- still reports a row, while an identity held by another contact reports none.
INSERT INTO contact_identities (tenant_id, contact_id, channel_id, kind, value)
VALUES (@tenant_id, @contact_id, @channel_id, @kind, @value)
ON CONFLICT (tenant_id, channel_id, kind, value) DO UPDATE SET contact_id = EXCLUDED.contact_id
WHERE contact_identities.contact_id = EXCLUDED.contact_id;

-- name: ContactByIdentity :one
SELECT c.* FROM contacts c
JOIN contact_identities i ON i.tenant_id = c.tenant_id AND i.contact_id = c.id
WHERE i.tenant_id = @tenant_id AND i.channel_id = @channel_id AND i.kind = @kind AND i.value = @value;
