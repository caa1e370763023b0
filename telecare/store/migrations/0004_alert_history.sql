-- Alert history (what happened to an alert, for the operator who takes over), escalation rounds,
-- and the index behind "resolved in the last 24 h / 7 days".

-- Written by the owners of each kind: the alert store (raised, attached, acknowledged, note, resolved,
-- condition_cleared) and the escalator (its steps). Append-only. No phone numbers in `detail`.
CREATE TABLE alert_history (
    id              bigserial PRIMARY KEY,
    alert_id        bigint NOT NULL REFERENCES alerts(id),
    at              timestamptz NOT NULL,
    kind            text NOT NULL CHECK (kind IN ('raised', 'attached', 'acknowledged', 'note', 'resolved',
                                                  'condition_cleared', 'second_tier', 'key_holder_called',
                                                  'key_holder_result', 'exhausted', 'repeated')),
    actor           text NOT NULL,           -- an operator's name, 'system' or 'escalation'
    text            text NOT NULL,
    detail          jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX alert_history_alert_idx ON alert_history (alert_id, at, id);

-- Which pass through the key-holders this is: an exhausted escalation starts again until acknowledged.
ALTER TABLE escalations ADD COLUMN round integer NOT NULL DEFAULT 1;

CREATE INDEX alerts_resolved_idx ON alerts (resolved_at DESC) WHERE status = 'resolved';
