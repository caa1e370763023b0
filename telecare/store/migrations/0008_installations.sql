-- Installations and commissioning (issue 8, "Installers"). devices/installations.py writes gateway_sites and
-- device_installs (what the installer typed: serials, the address where the gateway is, the rooms, each
-- sensor's room); devices/commissioning.py writes commissioning_sessions and commissioning_results (a
-- session per visit; on finish, one row per device saying whether its test event arrived). Rows go with
-- their device (GDPR erasure deletes a resident's devices).

CREATE TABLE gateway_sites (
    gateway_id      text PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    serial          text NOT NULL,
    address         text NOT NULL DEFAULT '',
    rooms           jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(rooms) = 'array'),
    registered_by   text NOT NULL,
    registered_at   timestamptz NOT NULL
);

CREATE TABLE device_installs (
    device_id       text PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    serial          text NOT NULL,
    room            text NOT NULL DEFAULT '',
    installed_by    text NOT NULL,
    installed_at    timestamptz NOT NULL
);

CREATE TABLE commissioning_sessions (
    id              bigserial PRIMARY KEY,
    gateway_id      text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    started_by      text NOT NULL,
    started_at      timestamptz NOT NULL,
    finished_by     text,
    finished_at     timestamptz,
    test_alert_id   bigint,
    CHECK ((finished_at IS NULL) = (finished_by IS NULL))
);
CREATE INDEX commissioning_sessions_gateway_idx ON commissioning_sessions (gateway_id, started_at DESC);
-- At most one open session per gateway: a second start returns the open one.
CREATE UNIQUE INDEX commissioning_sessions_open_idx ON commissioning_sessions (gateway_id) WHERE finished_at IS NULL;

CREATE TABLE commissioning_results (
    session_id      bigint NOT NULL REFERENCES commissioning_sessions(id) ON DELETE CASCADE,
    device_id       text NOT NULL REFERENCES devices(id) ON DELETE CASCADE,
    device_type     text NOT NULL,
    reported_at     timestamptz,          -- NULL: the device never reported during the session
    PRIMARY KEY (session_id, device_id)
);
CREATE INDEX commissioning_results_device_idx ON commissioning_results (device_id) WHERE reported_at IS NOT NULL;
-- The commissioning screen and the fleet read a gateway's rejected messages since a session started.
CREATE INDEX dead_letters_gateway_idx ON dead_letters (gateway_id, received_at);
