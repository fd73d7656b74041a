-- +goose Up
-- Per-tenant settings documents (routing, retention, summary, …): one JSON
-- object per name; the module owning a name owns its shape and defaults.
CREATE TABLE tenant_settings (
    tenant_id  text        NOT NULL REFERENCES tenants (id),
    name       text        NOT NULL,
    value      jsonb       NOT NULL CHECK (jsonb_typeof(value) = 'object'),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, name)
);

ALTER TABLE tenant_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenant_settings FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenant_settings
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));

-- +goose Down
DROP TABLE tenant_settings;
