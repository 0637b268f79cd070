-- Gatehouse schema, version 1.
-- Times are INTEGER seconds since the epoch (audit_events.at_ms: milliseconds); booleans
-- are INTEGER 0/1; secrets are stored only as SecretHash strings; JSON documents are TEXT.

-- One row whose value increases whenever environments, signing keys or resources change
-- (triggers below), so a running server notices what the CLI changed in another process.
CREATE TABLE config_generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value INTEGER NOT NULL
);
INSERT INTO config_generation (id, value) VALUES (1, 1);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE environments (
    id         TEXT PRIMARY KEY,
    issuer     TEXT NOT NULL,
    profile    TEXT NOT NULL,
    settings   TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX environments_by_creation ON environments (created_at, id);

CREATE TABLE signing_keys (
    kid                TEXT PRIMARY KEY,
    env_id             TEXT NOT NULL REFERENCES environments (id),
    alg                TEXT NOT NULL,
    sealed_private_key BLOB NOT NULL,
    public_jwk         TEXT NOT NULL,
    created_at         INTEGER NOT NULL,
    activates_at       INTEGER NOT NULL,
    retired_at         INTEGER,
    removed_at         INTEGER
);
CREATE INDEX signing_keys_by_env ON signing_keys (env_id, activates_at, kid);
CREATE INDEX signing_keys_by_removal ON signing_keys (removed_at) WHERE removed_at IS NOT NULL;

CREATE TABLE resources (
    id                             TEXT PRIMARY KEY,
    env_id                         TEXT NOT NULL REFERENCES environments (id),
    name                           TEXT NOT NULL,
    uri                            TEXT NOT NULL,
    scopes                         TEXT NOT NULL,
    access_token_ttl               INTEGER NOT NULL,
    refresh_without_offline_access INTEGER NOT NULL,
    created_at                     INTEGER NOT NULL,
    UNIQUE (env_id, uri)
);
CREATE INDEX resources_by_env ON resources (env_id, created_at, id);

CREATE TABLE clients (
    client_id    TEXT PRIMARY KEY,
    env_id       TEXT NOT NULL REFERENCES environments (id),
    kind         TEXT NOT NULL,
    metadata     TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    disabled     INTEGER NOT NULL,
    last_used_at INTEGER,
    registrations INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX clients_by_env ON clients (env_id, created_at);
CREATE INDEX clients_unused ON clients (env_id, kind, created_at) WHERE last_used_at IS NULL AND disabled = 0;

CREATE TABLE client_secrets (
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    env_id     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER,
    PRIMARY KEY (client_id, hash)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    env_id        TEXT NOT NULL REFERENCES environments (id),
    email         TEXT NOT NULL,
    name          TEXT,
    password_hash TEXT NOT NULL,
    disabled      INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (env_id, email)
);

CREATE TABLE sessions (
    hash       TEXT PRIMARY KEY,
    env_id     TEXT NOT NULL REFERENCES environments (id),
    user_id    TEXT NOT NULL,
    auth_time  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE pending_authorizations (
    hash           TEXT PRIMARY KEY,
    env_id         TEXT NOT NULL REFERENCES environments (id),
    client_id      TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    scope          TEXT NOT NULL,
    state          TEXT,
    nonce          TEXT,
    code_challenge TEXT NOT NULL,
    prompt         TEXT NOT NULL,
    max_age        INTEGER,
    browser_hash   TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    user_id        TEXT,
    auth_time      INTEGER,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL
);
CREATE INDEX pending_authorizations_by_expiry ON pending_authorizations (expires_at);

CREATE TABLE consents (
    env_id      TEXT NOT NULL REFERENCES environments (id),
    user_id     TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    scope       TEXT NOT NULL,
    granted_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (env_id, user_id, client_id, resource_id)
);
CREATE INDEX consents_by_user ON consents (env_id, user_id, granted_at);
CREATE INDEX consents_by_client ON consents (env_id, client_id, granted_at);
CREATE INDEX consents_by_env ON consents (env_id, granted_at);

CREATE TABLE grants (
    id             TEXT PRIMARY KEY,
    env_id         TEXT NOT NULL REFERENCES environments (id),
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    scope          TEXT NOT NULL,
    auth_time      INTEGER NOT NULL,
    correlation_id TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    revoked_at     INTEGER,
    revoked_reason TEXT
);
CREATE INDEX grants_by_consent ON grants (env_id, user_id, client_id, resource_id);

CREATE TABLE auth_codes (
    hash           TEXT PRIMARY KEY,
    env_id         TEXT NOT NULL REFERENCES environments (id),
    grant_id       TEXT NOT NULL,
    client_id      TEXT NOT NULL,
    user_id        TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    resource_id    TEXT NOT NULL,
    scope          TEXT NOT NULL,
    nonce          TEXT,
    auth_time      INTEGER NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    consumed_at    INTEGER
);
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
    hash             TEXT PRIMARY KEY,
    env_id           TEXT NOT NULL REFERENCES environments (id),
    grant_id         TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    rotated_at       INTEGER,
    successor_hash   TEXT,
    sealed_successor BLOB,
    revoked_at       INTEGER
);
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_sealed_by_rotation ON refresh_tokens (rotated_at)
    WHERE sealed_successor IS NOT NULL;

CREATE TABLE revoked_jtis (
    env_id     TEXT NOT NULL REFERENCES environments (id),
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (env_id, jti)
);
CREATE INDEX revoked_jtis_by_expiry ON revoked_jtis (expires_at);

-- Client assertion jtis already used (RFC 7523 §3 replay prevention), kept until they expire.
CREATE TABLE assertion_jtis (
    env_id     TEXT NOT NULL REFERENCES environments (id),
    jti        TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (env_id, jti)
);
CREATE INDEX assertion_jtis_by_expiry ON assertion_jtis (expires_at);

-- AUTOINCREMENT: ids only ever increase, even after the newest rows are deleted.
-- No foreign key: the log must accept any event, and outlives what it mentions.
CREATE TABLE audit_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    env_id         TEXT NOT NULL,
    at_ms          INTEGER NOT NULL,
    correlation_id TEXT NOT NULL,
    event          TEXT NOT NULL,
    outcome        TEXT NOT NULL,
    error          TEXT,
    error_detail   TEXT,
    client_id      TEXT,
    resource       TEXT,
    user_id        TEXT,
    ip             TEXT,
    data           TEXT NOT NULL
);
CREATE INDEX audit_events_by_env ON audit_events (env_id, id);
CREATE INDEX audit_events_by_correlation ON audit_events (env_id, correlation_id, id);
CREATE INDEX audit_events_by_client ON audit_events (env_id, client_id, id);
CREATE INDEX audit_events_by_outcome ON audit_events (env_id, outcome, id);
CREATE INDEX audit_events_by_event ON audit_events (env_id, event, id);

CREATE TABLE initial_access_tokens (
    hash        TEXT PRIMARY KEY,
    env_id      TEXT NOT NULL REFERENCES environments (id),
    description TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER
);

-- Generation triggers: every change to the cached configuration bumps the counter, in the
-- same transaction as the change, whichever process makes it.
CREATE TRIGGER environments_insert_bumps_generation AFTER INSERT ON environments
BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER environments_update_bumps_generation AFTER UPDATE ON environments
BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER environments_delete_bumps_generation AFTER DELETE ON environments
BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER signing_keys_insert_bumps_generation AFTER INSERT ON signing_keys
BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_update_bumps_generation AFTER UPDATE ON signing_keys
BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER signing_keys_delete_bumps_generation AFTER DELETE ON signing_keys
BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END;

CREATE TRIGGER resources_insert_bumps_generation AFTER INSERT ON resources
BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER resources_update_bumps_generation AFTER UPDATE ON resources
BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END;
CREATE TRIGGER resources_delete_bumps_generation AFTER DELETE ON resources
BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END;
