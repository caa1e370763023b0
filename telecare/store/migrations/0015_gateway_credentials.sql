-- MQTT credentials of each gateway (issue 7, "each gateway only itself"). devices/credentials.py is the
-- one writer. The password itself is never stored: password_hash is mosquitto's own `$7$` form
-- (PBKDF2-SHA512, 101 iterations, 12-byte salt), so `telecare devices mqtt-acl` writes the broker's
-- password file from the database without any plaintext.

CREATE TABLE gateway_credentials (
    gateway_id      text PRIMARY KEY REFERENCES devices(id) ON DELETE CASCADE,
    username        text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    password_hash   text NOT NULL CHECK (password_hash LIKE '$7$%'),
    issued_at       timestamptz NOT NULL
);
