-- +goose Up
-- Row-level security, the second line of tenant defence: the queries filter
-- on tenant_id, and the database also refuses to show or accept another
-- tenant's rows even when a query forgets to.
--
-- The adapter runs every statement as chorus_app (SET ROLE on each pooled
-- connection), a NOLOGIN role that is neither superuser nor table owner, so
-- that the policies apply to it (superusers and, without FORCE, owners bypass
-- them). The tenant is set per transaction with
-- set_config('chorus.tenant_id', <tenant>, true). Migrations keep running as
-- the connecting user, who owns the tables.
--
-- Roles are cluster-wide and several databases (tests, deployments) may
-- migrate at the same time: create the role only when missing and tolerate a
-- concurrent creation.

-- +goose StatementBegin
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'chorus_app') THEN
        CREATE ROLE chorus_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- created by a concurrent migration of another database
END
$$;
-- +goose StatementEnd

-- The connecting user must be allowed to SET ROLE chorus_app: a superuser
-- always is; anyone else is made a member.
-- +goose StatementBegin
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'chorus_app', 'MEMBER') THEN
        EXECUTE format('GRANT chorus_app TO %I', current_user);
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL; -- granted by a concurrent migration
END
$$;
-- +goose StatementEnd

GRANT USAGE ON SCHEMA public TO chorus_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    tenants, agents, agent_availability, teams, channels, contacts, contact_identities,
    live_chat_sessions, messages, receipts, outbox, audit_log
    TO chorus_app;
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO chorus_app;
-- Tables that later migrations create are reachable by the app role too;
-- TestRowLevelSecurityOnEveryTenantTable fails until they get a policy.
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO chorus_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO chorus_app;

-- One policy per tenant table: rows of the transaction's tenant only, for
-- reading and writing. NULLIF: once a session has set chorus.tenant_id, the
-- setting reads '' (not NULL) outside the transaction that set it, and '' must
-- match no row.
ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
ALTER TABLE tenants FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON tenants
    USING (id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (id = NULLIF(current_setting('chorus.tenant_id', true), ''));

ALTER TABLE agents ENABLE ROW LEVEL SECURITY;
ALTER TABLE agents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agents
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));

ALTER TABLE agent_availability ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_availability FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON agent_availability
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));

ALTER TABLE teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE teams FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON teams
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));

ALTER TABLE channels ENABLE ROW LEVEL SECURITY;
ALTER TABLE channels FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON channels
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));
-- The one lookup across tenants, by public widget key (the widget does not
-- know its tenant yet): a transaction that sets chorus.widget_key may read the
-- channel holding that key, and only that one; it writes nothing.
CREATE POLICY widget_key_lookup ON channels FOR SELECT
    USING (widget_key = NULLIF(current_setting('chorus.widget_key', true), ''));

ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contacts
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));

ALTER TABLE contact_identities ENABLE ROW LEVEL SECURITY;
ALTER TABLE contact_identities FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON contact_identities
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));

ALTER TABLE live_chat_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE live_chat_sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON live_chat_sessions
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));

ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON messages
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));

ALTER TABLE receipts ENABLE ROW LEVEL SECURITY;
ALTER TABLE receipts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON receipts
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));

ALTER TABLE outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON outbox
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));
-- The notify worker drains every tenant's outbox: a transaction that sets
-- chorus.scope = 'outbox' may read and delete outbox rows (and nothing else:
-- no insert or update, no other table).
CREATE POLICY outbox_drain_read ON outbox FOR SELECT
    USING (current_setting('chorus.scope', true) = 'outbox');
CREATE POLICY outbox_drain_delete ON outbox FOR DELETE
    USING (current_setting('chorus.scope', true) = 'outbox');

ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON audit_log
    USING (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('chorus.tenant_id', true), ''));

-- +goose Down
-- The role is shared by every database of the cluster: it is left in place.
DROP POLICY outbox_drain_delete ON outbox;
DROP POLICY outbox_drain_read ON outbox;
DROP POLICY widget_key_lookup ON channels;
DROP POLICY tenant_isolation ON audit_log;
DROP POLICY tenant_isolation ON outbox;
DROP POLICY tenant_isolation ON receipts;
DROP POLICY tenant_isolation ON messages;
DROP POLICY tenant_isolation ON live_chat_sessions;
DROP POLICY tenant_isolation ON contact_identities;
DROP POLICY tenant_isolation ON contacts;
DROP POLICY tenant_isolation ON channels;
DROP POLICY tenant_isolation ON teams;
DROP POLICY tenant_isolation ON agent_availability;
DROP POLICY tenant_isolation ON agents;
DROP POLICY tenant_isolation ON tenants;
ALTER TABLE tenants NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE agents NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE agent_availability NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE teams NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE channels NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE contacts NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE contact_identities NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE live_chat_sessions NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE messages NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE receipts NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE outbox NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log NO FORCE ROW LEVEL SECURITY, DISABLE ROW LEVEL SECURITY;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT ON SEQUENCES FROM chorus_app;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM chorus_app;
REVOKE USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public FROM chorus_app;
REVOKE SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public FROM chorus_app;
REVOKE USAGE ON SCHEMA public FROM chorus_app;
