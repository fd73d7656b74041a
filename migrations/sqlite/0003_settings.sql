-- +goose Up
-- Per-tenant settings documents (routing, retention, summary, …): one JSON
-- object per name; the module owning a name owns its shape and defaults.
CREATE TABLE tenant_settings (
    tenant_id  TEXT NOT NULL REFERENCES tenants (id),
    name       TEXT NOT NULL,
    value      TEXT NOT NULL CHECK (json_valid(value) AND json_type(value) = 'object'),
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, name)
) STRICT, WITHOUT ROWID;

-- +goose Down
DROP TABLE tenant_settings;
