-- Identity: users with roles and care teams, server-side sessions, API tokens, failed-login records.
-- identity/ is the one writer of these tables. Secrets (session ids, CSRF and API tokens) are stored
-- only as SHA-256 digests; passwords only as argon2id hashes.

CREATE TABLE users (
    name            text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    display_name    text NOT NULL DEFAULT '',
    password_hash   text,                    -- NULL: no password login (e.g. an identity provider's user)
    disabled        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

CREATE TABLE user_roles (
    user_name       text NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    role            text NOT NULL CHECK (role IN ('operator','care_team','coordinator','installer','admin','auditor')),
    PRIMARY KEY (user_name, role)
);

CREATE TABLE user_teams (
    user_name       text NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    team            text NOT NULL CHECK (length(team) BETWEEN 1 AND 120),
    PRIMARY KEY (user_name, team)
);

CREATE TABLE sessions (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_hash     bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    csrf_hash       bytea NOT NULL CHECK (length(csrf_hash) = 32),
    user_name       text NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL,
    last_seen_at    timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL      -- absolute: created_at + TELECARE_SESSION_MAX_S
);
CREATE INDEX sessions_user ON sessions (user_name);
CREATE INDEX sessions_expiry ON sessions (expires_at);

CREATE TABLE api_tokens (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    secret_hash     bytea NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    user_name       text NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    name            text NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    role            text NOT NULL CHECK (role IN ('operator','care_team','coordinator','installer','admin','auditor')),
    created_at      timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    last_used_at    timestamptz,
    revoked_at      timestamptz
);
CREATE INDEX api_tokens_user ON api_tokens (user_name);

-- Only failures; keys (a user name as typed, a remote address) are stored as digests.
CREATE TABLE login_attempts (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_kind        text NOT NULL CHECK (key_kind IN ('user','address')),
    key_hash        bytea NOT NULL,
    at              timestamptz NOT NULL
);
CREATE INDEX login_attempts_key ON login_attempts (key_kind, key_hash, at);
CREATE INDEX login_attempts_at ON login_attempts (at);
