-- Gatehouse schema, version 2: administrators, their dashboard sessions and the admin API
-- keys (server-wide; a key may be limited to one environment), and the lookup paths of a
-- user's sessions and of the new authentication-log filters and retention.
-- Same encodings as version 1: INTEGER seconds, INTEGER 0/1, SecretHash strings.

CREATE TABLE admin_keys (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    env_id       TEXT REFERENCES environments (id),
    hash         TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE UNIQUE INDEX admin_keys_by_hash ON admin_keys (hash);
CREATE INDEX admin_keys_by_creation ON admin_keys (created_at, id);

-- Email is lower-cased by the caller; the unique index also serves the list order.
CREATE TABLE admin_users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    disabled      INTEGER NOT NULL
);
CREATE UNIQUE INDEX admin_users_by_email ON admin_users (email);

-- Names its administrator without a foreign key, like sessions name their user.
CREATE TABLE admin_sessions (
    hash       TEXT PRIMARY KEY,
    admin_id   TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
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
