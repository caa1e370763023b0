-- Verdicts the alerts part has applied (issue 9, the Kafka path). `alert-triggers` is delivered at least
-- once: a replayed trigger (same resident, type and event id, or the same timer deadline) or clear must not
-- raise a second alert or close a newer one. alerts/triggers.py is the one writer; it claims the key in the
-- same transaction as the alert change and prunes keys older than 8 days (longer than the topic keeps
-- messages: a brand-new consumer group reads from the oldest kept one).

CREATE TABLE alert_trigger_keys (
    resident_id     text NOT NULL,
    type            text NOT NULL,
    ref             text NOT NULL,          -- 'e:<event id>', 't:<at>' (timers, outreach) or 'c:<at>' (clears)
    seen_at         timestamptz NOT NULL,
    alert_id        bigint,                 -- the alert it raised, attached to or closed (NULL: no change)
    change          text,                   -- the AlertChangeKind it produced, republished on a replay
    PRIMARY KEY (resident_id, type, ref)
);
CREATE INDEX alert_trigger_keys_seen_idx ON alert_trigger_keys (seen_at);
