-- How far the rule engine has got through the events table, saved with its state, so that events stored
-- but never evaluated (a crash between the ingest commit and the bus, or with events still queued) are
-- replayed from the table at the next start.
CREATE TABLE rules_progress (
    id                  smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    processed_through   timestamptz NOT NULL,  -- received_at of the newest event evaluated and saved
    recent_ids          jsonb NOT NULL DEFAULT '[]',  -- ids evaluated in the last seconds before it
    updated_at          timestamptz NOT NULL
);
CREATE INDEX events_received_idx ON events (received_at);
