-- GDPR: what an erasure kept and why, and the retention job's two maintenance paths (event partitions,
-- audit rows). gdpr/ is the one writer of erasure_log.

CREATE TABLE erasure_log (
    id              bigserial PRIMARY KEY,
    resident_id     text NOT NULL,           -- the (pseudonymised) resident the kept row belongs to
    table_name      text NOT NULL,
    row_id          text NOT NULL,
    kept_reason     text NOT NULL,           -- why the row outlives the erasure (legal retention, ...)
    erased_at       timestamptz NOT NULL,
    UNIQUE (table_name, row_id)
);
CREATE INDEX erasure_log_resident_idx ON erasure_log (resident_id);

-- Drops whole monthly event partitions that end before `horizon` (plain PostgreSQL only; a no-op on a
-- hypertable, where the retention policy or drop_chunks does it). Returns the dropped partitions' names.
CREATE FUNCTION telecare_drop_event_partitions(horizon timestamptz)
RETURNS SETOF text LANGUAGE plpgsql AS $fn$
DECLARE
    part record;
BEGIN
    FOR part IN
        SELECT c.relname AS name, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname = 'events' AND c.relname ~ '^events_[0-9]{4}_[0-9]{2}$'
        ORDER BY c.relname
    LOOP
        -- events_YYYY_MM holds [first of month, first of next month): drop only when all of it is past.
        IF (to_date(substr(part.name, 8), 'YYYY_MM') + interval '1 month') AT TIME ZONE 'UTC' <= horizon THEN
            EXECUTE format('ALTER TABLE events DETACH PARTITION %I', part.name);
            EXECUTE format('DROP TABLE %I', part.name);
            RETURN NEXT part.name;
        END IF;
    END LOOP;
    -- Old rows that landed in the default partition (before their month existed) go row by row.
    IF to_regclass('events_default') IS NOT NULL THEN
        DELETE FROM events_default WHERE ts < horizon;
    END IF;
END
$fn$;

-- The audit log is append-only for the application. Retention is its one exception, and it goes through
-- this function only: SECURITY DEFINER runs it as its owner (the migrating role), so the application role
-- needs EXECUTE here but never DELETE on audit_log; it cannot shorten the horizon below a year nor move
-- "now" into the future, so it cannot use this to wipe recent rows.
CREATE FUNCTION telecare_purge_audit(keep_days integer, as_of timestamptz DEFAULT now())
RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $fn$
DECLARE
    gone bigint;
BEGIN
    IF keep_days < 365 THEN
        RAISE EXCEPTION 'audit retention below 365 days refused (%)', keep_days USING ERRCODE = 'check_violation';
    END IF;
    PERFORM set_config('telecare.audit_retention', 'on', true);  -- lets an append-only trigger tell this path apart
    DELETE FROM audit_log WHERE at < least(as_of, now()) - make_interval(days => keep_days);
    GET DIAGNOSTICS gone = ROW_COUNT;
    RETURN gone;
END
$fn$;
REVOKE ALL ON FUNCTION telecare_purge_audit(integer, timestamptz) FROM PUBLIC;
