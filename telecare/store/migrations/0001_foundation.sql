-- Foundation: registry, events (time-partitioned), dead letters, alerts, rule state, audit.

CREATE TABLE residents (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    timezone        text NOT NULL DEFAULT 'Europe/Madrid',
    date_of_birth   date,
    address         text NOT NULL DEFAULT '',
    latitude        double precision,
    longitude       double precision,
    phones          text[] NOT NULL DEFAULT '{}',
    language        text NOT NULL DEFAULT 'ca',
    key_safe_code   text,
    at_home         boolean NOT NULL DEFAULT true,
    risk_flags      text[] NOT NULL DEFAULT '{}',
    contacts        jsonb NOT NULL DEFAULT '[]',
    care_plan       jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Gateways are devices too: their gateway_id is their own id.
CREATE TABLE devices (
    id              text PRIMARY KEY,
    type            text NOT NULL CHECK (type IN ('gateway','pendant','fall_sensor','bed_sensor',
                                                  'medication_dispenser','motion_sensor','door_sensor')),
    gateway_id      text NOT NULL,
    resident_id     text NOT NULL REFERENCES residents(id),
    registered_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (type <> 'gateway' OR gateway_id = id)
);
CREATE INDEX devices_gateway_idx ON devices (gateway_id);
CREATE INDEX devices_resident_idx ON devices (resident_id);

-- (gateway_id, msg_id) seen: makes redelivered MQTT messages duplicates (stored once, processed once).
CREATE TABLE event_keys (
    gateway_id      text NOT NULL,
    msg_id          text NOT NULL,
    received_at     timestamptz NOT NULL,
    PRIMARY KEY (gateway_id, msg_id)
);
CREATE INDEX event_keys_received_idx ON event_keys (received_at);

CREATE TABLE dead_letters (
    id              bigserial PRIMARY KEY,
    received_at     timestamptz NOT NULL,
    topic           text NOT NULL,
    payload         bytea NOT NULL,
    reason          text NOT NULL,
    gateway_id      text,
    device_id       text
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at);

-- Events: a hypertable when TimescaleDB is available, native monthly partitions otherwise.
DO $events$
DECLARE
    -- telecare.timescale: set by telecare.store.migrate.upgrade (off: TELECARE_TIMESCALE=off, or not preloaded).
    has_timescale boolean := EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
        AND coalesce(nullif(current_setting('telecare.timescale', true), ''), 'on') <> 'off';
    event_columns text := $cols$
        id              uuid NOT NULL,
        ts              timestamptz NOT NULL,
        received_at     timestamptz NOT NULL,
        gateway_id      text NOT NULL,
        device_id       text NOT NULL,
        resident_id     text NOT NULL,
        type            text NOT NULL,
        msg_id          text NOT NULL,
        battery         smallint,
        value           jsonb
    $cols$;
BEGIN
    IF has_timescale THEN
        CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXECUTE format('CREATE TABLE events (%s)', event_columns);
        PERFORM create_hypertable('events', 'ts', chunk_time_interval => interval '7 days');
        -- Compression and retention need Timescale's community licence; Apache-only builds refuse.
        BEGIN
            ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_segmentby = 'resident_id');
            PERFORM add_compression_policy('events', interval '30 days');
            PERFORM add_retention_policy('events', interval '730 days');
        EXCEPTION WHEN feature_not_supported OR insufficient_privilege OR undefined_function THEN
            RAISE NOTICE 'TimescaleDB compression/retention unavailable (%); continuing without', SQLERRM;
        END;
    ELSE
        EXECUTE format('CREATE TABLE events (%s) PARTITION BY RANGE (ts)', event_columns);
        CREATE TABLE events_default PARTITION OF events DEFAULT;
    END IF;
END
$events$;
CREATE INDEX events_resident_ts_idx ON events (resident_id, ts DESC);
CREATE INDEX events_device_ts_idx ON events (device_id, ts DESC);

-- Creates the monthly partitions around `around` (no-op on a hypertable). Called at start and daily.
CREATE FUNCTION telecare_ensure_event_partitions(around timestamptz, months_ahead int DEFAULT 2)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    m date;
    part text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid
                   WHERE c.relname = 'events') THEN
        RETURN;
    END IF;
    FOR i IN -1..months_ahead LOOP
        m := (date_trunc('month', around AT TIME ZONE 'UTC') + make_interval(months => i))::date;
        part := 'events_' || to_char(m, 'YYYY_MM');
        IF to_regclass(part) IS NULL THEN
            -- Rows already in the default partition for this month would block the attach: move them.
            EXECUTE format('CREATE TABLE %I (LIKE events INCLUDING DEFAULTS)', part);
            EXECUTE format('WITH moved AS (DELETE FROM events_default WHERE ts >= %L AND ts < %L RETURNING *)
                            INSERT INTO %I SELECT * FROM moved', m, (m + interval '1 month'), part);
            EXECUTE format('ALTER TABLE events ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           part, m::timestamptz, (m + interval '1 month')::timestamptz);
        END IF;
    END LOOP;
END
$fn$;

CREATE TABLE alerts (
    id              bigserial PRIMARY KEY,
    resident_id     text NOT NULL REFERENCES residents(id),
    type            text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('critical','high','medium','technical')),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open','acknowledged','resolved')),
    raised_at       timestamptz NOT NULL,
    first_event_at  timestamptz NOT NULL,
    last_event_at   timestamptz NOT NULL,
    count           integer NOT NULL DEFAULT 1,
    reason          text NOT NULL,
    device_id       text,
    delayed         boolean NOT NULL DEFAULT false,
    acknowledged_at timestamptz,
    acknowledged_by text,
    resolved_at     timestamptz,
    resolved_by     text,
    outcome         text,
    note            text,
    CHECK (status <> 'resolved' OR (resolved_at IS NOT NULL AND outcome IS NOT NULL))
);
-- One active alert per (resident, type), even under bursts and several rules processes.
CREATE UNIQUE INDEX alerts_one_active_idx ON alerts (resident_id, type) WHERE status IN ('open','acknowledged');
CREATE INDEX alerts_status_idx ON alerts (status, raised_at);
CREATE INDEX alerts_resident_idx ON alerts (resident_id, raised_at DESC);

-- The rule engine's persisted per-resident state (timers, last-seen), so restarts neither lose nor double-fire.
CREATE TABLE rule_state (
    resident_id     text PRIMARY KEY,
    state           jsonb NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- Who read or revealed personal data, and who changed what.
CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    action          text NOT NULL,
    subject         text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, at DESC);
