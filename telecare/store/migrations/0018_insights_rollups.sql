-- Insights (issue 8): rollups of the events table for the resident page's plots, and the job's watermark.
-- Written only by insights/rollups.py. Heartbeats are left out of the hourly rollup (they would put a row in
-- every hour of every resident); they count in the per-device daily rollup (last seen, battery).

-- One row per resident, UTC hour and event type. `offsets`: seconds into the hour of each event, for the types
-- whose exact time matters to a plot (bed exits/returns: time out of bed; door openings: the night window),
-- in time order, at most 500 an hour.
CREATE TABLE event_rollup_hourly (
    resident_id     text NOT NULL,
    hour            timestamptz NOT NULL,
    event_type      text NOT NULL,
    count           integer NOT NULL CHECK (count > 0),
    first_ts        timestamptz NOT NULL,
    last_ts         timestamptz NOT NULL,
    offsets         integer[],
    PRIMARY KEY (resident_id, hour, event_type)
);

-- One row per device and UTC day it reported anything (heartbeats included).
CREATE TABLE device_rollup_daily (
    resident_id     text NOT NULL,
    device_id       text NOT NULL,
    day             date NOT NULL,
    events          integer NOT NULL,
    last_seen       timestamptz,          -- newest event other than gateway_offline (the broker's will)
    battery         smallint,             -- the day's last reported level
    min_battery     smallint,
    PRIMARY KEY (resident_id, day, device_id)
);
CREATE INDEX device_rollup_daily_device_idx ON device_rollup_daily (device_id, day DESC);

-- How far the rollup job has read the events table, by received_at: every event received after this is
-- rolled up by recomputing its whole (resident, hour) and (device, day) from the events table, so an event
-- arriving late for an hour already rolled up corrects that hour, and re-running a window changes nothing.
CREATE TABLE rollup_progress (
    name                text PRIMARY KEY,
    processed_through   timestamptz NOT NULL,
    updated_at          timestamptz NOT NULL
);

-- TimescaleDB (code-reviewed; not available in CI): where the events table is a hypertable and the licence
-- has continuous aggregates (not the Apache-only build), the hourly rollup is a continuous aggregate with
-- the same columns; Timescale's invalidation log re-materialises hours that receive late events. Anything
-- refused here leaves the plain path (the table above, fed by the job) in use.
DO $insights_ts$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        RETURN;
    END IF;
    IF current_setting('timescaledb.license', true) = 'apache' THEN
        RAISE NOTICE 'TimescaleDB Apache-only build: no continuous aggregates; insights use the rollup table';
        RETURN;
    END IF;
    BEGIN
        IF NOT EXISTS (SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = 'events') THEN
            RETURN;
        END IF;
        -- WITH NO DATA: allowed inside the migration's transaction; the policy fills it.
        EXECUTE $cagg$
            CREATE MATERIALIZED VIEW event_rollup_hourly_ts
            WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
            SELECT resident_id,
                   time_bucket(interval '1 hour', ts) AS hour,
                   type AS event_type,
                   count(*)::integer AS count,
                   min(ts) AS first_ts,
                   max(ts) AS last_ts,
                   (array_agg(floor(extract(epoch FROM ts - time_bucket(interval '1 hour', ts)))::integer ORDER BY ts)
                        FILTER (WHERE type IN ('bed_exit', 'bed_return', 'door_open')))[1:500] AS offsets
            FROM events
            WHERE type <> 'heartbeat'
            GROUP BY resident_id, time_bucket(interval '1 hour', ts), type
            WITH NO DATA
        $cagg$;
        EXECUTE 'CREATE INDEX event_rollup_hourly_ts_idx ON event_rollup_hourly_ts (resident_id, hour)';
        PERFORM add_continuous_aggregate_policy('event_rollup_hourly_ts', start_offset => interval '400 days',
                                                end_offset => interval '1 hour', schedule_interval => interval '5 minutes');
    EXCEPTION WHEN OTHERS THEN
        RAISE WARNING 'TimescaleDB continuous aggregate not created (% %); insights use the rollup table',
            SQLSTATE, SQLERRM;
    END;
END
$insights_ts$;
