-- Gatehouse schema for PostgreSQL, version 1: the tables of the SQLite backend's version 1.
-- Times are BIGINT seconds since the epoch (audit_events.at_ms: milliseconds); booleans are
-- BOOLEAN; secrets are stored only as SecretHash strings; JSON documents are TEXT (as in
-- SQLite, so a document reads back exactly as written); sealed values are BYTEA.
-- Text columns that the store sorts by are COLLATE "C" (bytewise, as SQLite compares), so
-- listings are in the same order whatever the database's default collation.
-- SQLite's rowid tie-breaks (insertion order) are `seq` identity columns here.

-- One row whose value increases whenever environments, signing keys or resources change
-- (triggers below), so every node notices what another node or the CLI changed.
CREATE TABLE config_generation (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO config_generation (id, value) VALUES (1, 1);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE environments (
    id         TEXT COLLATE "C" PRIMARY KEY,
    issuer     TEXT NOT NULL,
    profile    TEXT NOT NULL,
    settings   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX environments_by_creation ON environments (created_at, id);

CREATE TABLE signing_keys (
    kid                TEXT COLLATE "C" PRIMARY KEY,
    env_id             TEXT NOT NULL REFERENCES environments (id),
    alg                TEXT NOT NULL,
    sealed_private_key BYTEA NOT NULL,
    public_jwk         TEXT NOT NULL,
    created_at         BIGINT NOT NULL,
    activates_at       BIGINT NOT NULL,
    retired_at         BIGINT,
    removed_at         BIGINT
);
CREATE INDEX signing_keys_by_env ON signing_keys (env_id, activates_at, kid);
CREATE INDEX signing_keys_by_removal ON signing_keys (removed_at) WHERE removed_at IS NOT NULL;

CREATE TABLE resources (
    id                             TEXT COLLATE "C" PRIMARY KEY,
    env_id                         TEXT NOT NULL REFERENCES environments (id),
    name                           TEXT NOT NULL,
    uri                            TEXT NOT NULL,
    scopes                         TEXT NOT NULL,
    access_token_ttl               BIGINT NOT NULL,
    refresh_without_offline_access BOOLEAN NOT NULL,
    created_at                     BIGINT NOT NULL,
    UNIQUE (env_id, uri)
);
CREATE INDEX resources_by_env ON resources (env_id, created_at, id);

CREATE TABLE clients (
    client_id     TEXT PRIMARY KEY,
    env_id        TEXT NOT NULL REFERENCES environments (id),
    kind          TEXT NOT NULL,
    metadata      TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    disabled      BOOLEAN NOT NULL,
    last_used_at  BIGINT,
    registrations BIGINT NOT NULL DEFAULT 1,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY
);
CREATE INDEX clients_by_env ON clients (env_id, created_at, seq);
CREATE INDEX clients_unused ON clients (env_id, kind, created_at, seq)
    WHERE last_used_at IS NULL AND NOT disabled;

CREATE TABLE client_secrets (
    client_id  TEXT NOT NULL REFERENCES clients (client_id) ON DELETE CASCADE,
    hash       TEXT NOT NULL,
    env_id     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT,
    seq        BIGINT GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (client_id, hash)
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    env_id        TEXT NOT NULL REFERENCES environments (id),
    email         TEXT COLLATE "C" NOT NULL,
    name          TEXT,
    password_hash TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (env_id, email)
);

CREATE TABLE sessions (
    hash       TEXT COLLATE "C" PRIMARY KEY,
    env_id     TEXT NOT NULL REFERENCES environments (id),
    user_id    TEXT NOT NULL,
    auth_time  BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
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
    max_age        BIGINT,
    browser_hash   TEXT NOT NULL,
    correlation_id TEXT NOT NULL,
    user_id        TEXT,
    auth_time      BIGINT,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL
);
CREATE INDEX pending_authorizations_by_expiry ON pending_authorizations (expires_at);

CREATE TABLE consents (
    env_id      TEXT NOT NULL REFERENCES environments (id),
    user_id     TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    scope       TEXT NOT NULL,
    granted_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    seq         BIGINT GENERATED ALWAYS AS IDENTITY,
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
    auth_time      BIGINT NOT NULL,
    correlation_id TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    revoked_at     BIGINT,
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
    auth_time      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    consumed_at    BIGINT
);
CREATE INDEX auth_codes_by_expiry ON auth_codes (expires_at);

CREATE TABLE refresh_tokens (
    hash             TEXT PRIMARY KEY,
    env_id           TEXT NOT NULL REFERENCES environments (id),
    grant_id         TEXT NOT NULL,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    expires_at       BIGINT NOT NULL,
    rotated_at       BIGINT,
    successor_hash   TEXT,
    sealed_successor BYTEA,
    revoked_at       BIGINT
);
CREATE INDEX refresh_tokens_by_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_by_expiry ON refresh_tokens (expires_at);
CREATE INDEX refresh_tokens_sealed_by_rotation ON refresh_tokens (rotated_at)
    WHERE sealed_successor IS NOT NULL;

CREATE TABLE revoked_jtis (
    env_id     TEXT NOT NULL REFERENCES environments (id),
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, jti)
);
CREATE INDEX revoked_jtis_by_expiry ON revoked_jtis (expires_at);

-- Client assertion jtis already used (RFC 7523 §3 replay prevention), kept until they expire.
CREATE TABLE assertion_jtis (
    env_id     TEXT NOT NULL REFERENCES environments (id),
    jti        TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, jti)
);
CREATE INDEX assertion_jtis_by_expiry ON assertion_jtis (expires_at);

-- Ids come from a sequence: they only ever increase, even after the newest rows are
-- deleted. Appends are serialised (advisory lock, see audit.rs), so ids also increase in
-- commit order and a reader tailing by id never skips an event committed late.
-- No foreign key: the log must accept any event, and outlives what it mentions.
CREATE TABLE audit_events (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    env_id         TEXT NOT NULL,
    at_ms          BIGINT NOT NULL,
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
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT
);

-- Generation triggers: every row changed in the cached configuration bumps the counter, in
-- the same transaction as the change, whichever node makes it. Row-level, like SQLite's,
-- so a statement that changes nothing (gc finding no key to remove) bumps nothing.
CREATE FUNCTION gatehouse_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE config_generation SET value = value + 1 WHERE id = 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER environments_bump_generation
    AFTER INSERT OR UPDATE OR DELETE ON environments
    FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_generation();
CREATE TRIGGER signing_keys_bump_generation
    AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_generation();
CREATE TRIGGER resources_bump_generation
    AFTER INSERT OR UPDATE OR DELETE ON resources
    FOR EACH ROW EXECUTE FUNCTION gatehouse_bump_generation();
