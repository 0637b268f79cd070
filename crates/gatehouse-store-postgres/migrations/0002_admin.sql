-- Gatehouse schema for PostgreSQL, version 2: administrators, their dashboard sessions and
-- the admin API keys (server-wide; a key may be limited to one environment), and the lookup
-- paths of a user's sessions and of the authentication-log filters and retention.
-- Same encodings as version 1: BIGINT seconds, BOOLEAN, SecretHash strings.

CREATE TABLE admin_keys (
    id           TEXT COLLATE "C" PRIMARY KEY,
    name         TEXT NOT NULL,
    env_id       TEXT REFERENCES environments (id),
    hash         TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE UNIQUE INDEX admin_keys_by_hash ON admin_keys (hash);
CREATE INDEX admin_keys_by_creation ON admin_keys (created_at, id);

-- Email is lower-cased by the caller; the unique index also serves the list order.
CREATE TABLE admin_users (
    id            TEXT PRIMARY KEY,
    email         TEXT COLLATE "C" NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    disabled      BOOLEAN NOT NULL
);
CREATE UNIQUE INDEX admin_users_by_email ON admin_users (email);

-- Names its administrator without a foreign key, like sessions name their user.
CREATE TABLE admin_sessions (
    hash       TEXT PRIMARY KEY,
    admin_id   TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX admin_sessions_by_admin ON admin_sessions (admin_id);
CREATE INDEX admin_sessions_by_expiry ON admin_sessions (expires_at);

-- A user's sessions (list newest auth_time first, sign out everywhere).
CREATE INDEX sessions_by_user ON sessions (env_id, user_id, auth_time);

-- Authentication-log filters (time range, user, resource, error) and retention by time.
CREATE INDEX audit_events_by_time ON audit_events (env_id, at_ms, id);
CREATE INDEX audit_events_by_user ON audit_events (env_id, user_id, id);
CREATE INDEX audit_events_by_resource ON audit_events (env_id, resource, id);
CREATE INDEX audit_events_by_error ON audit_events (env_id, error, id);
