-- Audit: who (principal name + kind), which resident(s), from where, and whether access was allowed;
-- append-only in the database. dashboards/audit.py stays the table's one writer.

ALTER TABLE audit_log
    ADD COLUMN actor_kind  text NOT NULL DEFAULT 'legacy'
        CHECK (actor_kind IN ('session', 'token', 'system', 'anonymous', 'legacy')),
    ADD COLUMN residents   text[] NOT NULL DEFAULT '{}',   -- every resident whose data the action touched
    ADD COLUMN client_addr text NOT NULL DEFAULT '',
    ADD COLUMN user_agent  text NOT NULL DEFAULT '',
    ADD COLUMN outcome     text NOT NULL DEFAULT 'allowed' CHECK (outcome IN ('allowed', 'denied'));

-- Rows written before this migration named one resident in `subject`.
UPDATE audit_log SET residents = ARRAY[subject] WHERE subject <> '';

CREATE INDEX audit_log_residents_idx ON audit_log USING gin (residents);
CREATE INDEX audit_log_actor_idx ON audit_log (actor, at DESC);
CREATE INDEX audit_log_at_idx ON audit_log (at DESC);

-- Append-only: no UPDATE, no TRUNCATE, and DELETE only for the retention job, which must say so in its
-- own transaction:  SET LOCAL telecare.audit_retention = 'on';  DELETE FROM audit_log WHERE at < ...;
-- (the GDPR retention helper is that job; nothing else may set the flag).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND coalesce(current_setting('telecare.audit_retention', true), '') = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
