//! The Gatehouse storage port.
//!
//! Everything the server persists goes through [`Store`], split into one sub-trait per
//! aggregate. Each method's documentation is its contract; [`conformance::run_all`] (feature
//! `conformance`) proves the contract for a backend, and every backend runs it unchanged.
//!
//! General rules, true of every method:
//! - "Not found" is `Ok(None)` (or `false`), never an error.
//! - Records are scoped by environment: a lookup with the wrong `env_id` finds nothing.
//! - Secrets are looked up by [`SecretHash`]; clear values never reach the store.
//! - Timestamps are passed in (`now`); a backend never reads the clock for protocol decisions.
//!   "Expired at `now`" means `expires_at <= now`.
//! - Creating a record whose key exists is [`StoreError::Conflict`].
//! - Errors are for the unexpected: a duplicate key is [`StoreError::Conflict`]; a database
//!   that cannot be reached is [`StoreError::Unavailable`]; anything else is
//!   [`StoreError::Corrupt`] or [`StoreError::Other`].

pub mod records;

#[cfg(feature = "conformance")]
pub mod conformance;

use async_trait::async_trait;
pub use gatehouse_oauth::secret::SecretHash;
pub use records::*;

/// A boxed error source.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A record with the same key already exists.
    #[error("already exists: {0}")]
    Conflict(String),
    /// The database could not be reached or is busy beyond the timeout; retryable.
    #[error("storage unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// Stored data could not be decoded.
    #[error("stored data is invalid: {0}")]
    Corrupt(String),
    /// Any other failure.
    #[error("storage error: {0}")]
    Other(#[source] BoxError),
}

/// Result alias.
pub type StoreResult<T> = Result<T, StoreError>;

/// The outcome of redeeming an authorization code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Consumed {
    /// This call redeemed it. The caller still checks expiry and bindings.
    First(AuthCodeRecord),
    /// It had been redeemed before (RFC 6749 §4.1.2: the caller then revokes the grant).
    Replayed(AuthCodeRecord),
    /// No such code in this environment.
    Missing,
}

/// An authorization code redeemed ([`Store::redeem_code`]), with what its exchange checks
/// next, read in the same step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redemption {
    /// What [`TokenStore::consume_code`] answers.
    pub consumed: Consumed,
    /// The code's grant (for a first or replayed redemption).
    pub grant: Option<GrantRecord>,
    /// The code's user (for a first redemption only).
    pub user: Option<UserRecord>,
}

/// The outcome of presenting a refresh token for rotation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was live; it is now rotated and the successor stored.
    Rotated,
    /// The presented token was rotated less than `grace` seconds ago and its successor is
    /// still live (unrotated, unrevoked): a parallel refresh. Nothing changed; the sealed
    /// successor given at that rotation is returned so the caller can hand out the same one.
    Grace {
        /// Bytes passed as `sealed_successor` when the token was rotated.
        sealed_successor: Vec<u8>,
    },
    /// The presented token had been rotated and is not in its grace window (or its successor
    /// moved on): token reuse. The whole grant (family) is now revoked (RFC 9700 §4.14.2).
    Reused {
        /// The revoked grant.
        grant_id: String,
    },
    /// The token or its grant is revoked; nothing changed.
    Revoked,
    /// No such token in this environment.
    Missing,
    /// The caller's [`RefreshGate`] refused the token (wrong client, expired, user disabled…);
    /// nothing changed.
    Declined,
}

/// The caller's rules for using a refresh token (its client, its expiry, its user, the
/// request's scope and resource), which [`TokenStore::rotate_refresh`] applies inside its
/// transaction to the token, its grant and its user as they are at that moment: `false`
/// declines the rotation and nothing changes. Called at most once per attempt; a backend
/// that retries a transaction calls it again on what it reads again.
pub type RefreshGate = Box<dyn Fn(&RefreshWithGrant) -> bool + Send + Sync>;

/// The parts of a refresh token's successor that are its own. The rest (environment,
/// grant, client, scope) is the presented token's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Successor {
    /// Hash of the new token.
    pub hash: SecretHash,
    /// Issue time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
}

impl Successor {
    /// The successor's record, as it is stored, for a token presented as `presented`.
    pub fn record_after(&self, presented: &RefreshTokenRecord) -> RefreshTokenRecord {
        RefreshTokenRecord {
            hash: self.hash.clone(),
            env_id: presented.env_id.clone(),
            grant_id: presented.grant_id.clone(),
            client_id: presented.client_id.clone(),
            scope: presented.scope.clone(),
            created_at: self.created_at,
            expires_at: self.expires_at,
            rotated_at: None,
            successor_hash: None,
            revoked_at: None,
        }
    }
}

/// What [`TokenStore::rotate_refresh`] found and did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RotationReport {
    /// The presented token with its grant and user, as the rotation's transaction read them
    /// (before any change it made); `None` when [`Rotation::Missing`].
    pub presented: Option<RefreshWithGrant>,
    /// What happened.
    pub outcome: Rotation,
}

/// Environments.
#[async_trait]
pub trait EnvironmentStore: Send + Sync {
    /// Creates an environment. `Conflict` if the id exists.
    async fn create_environment(&self, env: &EnvironmentRecord) -> StoreResult<()>;
    /// One environment.
    async fn get_environment(&self, id: &str) -> StoreResult<Option<EnvironmentRecord>>;
    /// All environments, ordered by creation time then id.
    async fn list_environments(&self) -> StoreResult<Vec<EnvironmentRecord>>;
    /// Replaces issuer, profile and settings. Returns whether it existed.
    async fn update_environment(&self, env: &EnvironmentRecord) -> StoreResult<bool>;
    /// A number that increases whenever any process changes an environment, a signing key, a
    /// resource, a client or a client secret, so servers can cache those and notice changes
    /// made by the CLI. For clients, what authentication reads counts: creating or deleting
    /// one (eviction included), and changing its kind, metadata or disabled flag; recording a
    /// use ([`ClientStore::touch_client`]) does not, nor does a registration that only adds
    /// to the count ([`ClientStore::record_registration`] with the same metadata). Any change
    /// to a client's secrets counts.
    async fn generation(&self) -> StoreResult<i64>;
}

/// Signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Adds a key. `Conflict` if the kid exists.
    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<()>;
    /// Keys of an environment with `removed_at` unset or in the future of `now`, ordered by
    /// `activates_at` then `kid`.
    async fn list_keys(&self, env_id: &str, now: Timestamp) -> StoreResult<Vec<SigningKeyRecord>>;
    /// Sets `retired_at` and `removed_at` of a key. Returns whether it existed.
    async fn retire_key(
        &self,
        env_id: &str,
        kid: &str,
        retired_at: Timestamp,
        removed_at: Timestamp,
    ) -> StoreResult<bool>;
}

/// MCP servers (resources).
#[async_trait]
pub trait ResourceStore: Send + Sync {
    /// Adds a resource. `Conflict` if the id exists or another resource of the environment
    /// has the same `uri`.
    async fn create_resource(&self, r: &ResourceRecord) -> StoreResult<()>;
    /// One resource.
    async fn get_resource(&self, env_id: &str, id: &str) -> StoreResult<Option<ResourceRecord>>;
    /// The environment's resources ordered by creation time then id.
    async fn list_resources(&self, env_id: &str) -> StoreResult<Vec<ResourceRecord>>;
    /// Replaces name, uri, scopes, ttl and policy. Returns whether it existed.
    async fn update_resource(&self, r: &ResourceRecord) -> StoreResult<bool>;
    /// Deletes a resource. Returns whether it existed.
    async fn delete_resource(&self, env_id: &str, id: &str) -> StoreResult<bool>;
}

/// Clients and their secrets.
#[async_trait]
pub trait ClientStore: Send + Sync {
    /// Adds a client with its initial secrets, atomically. `Conflict` if the client_id exists.
    async fn create_client(
        &self,
        c: &ClientRecord,
        secrets: &[ClientSecretRecord],
    ) -> StoreResult<()>;
    /// One client of an environment (disabled ones included).
    async fn get_client(&self, env_id: &str, client_id: &str) -> StoreResult<Option<ClientRecord>>;
    /// Clients of an environment, newest first.
    async fn list_clients(&self, env_id: &str) -> StoreResult<Vec<ClientRecord>>;
    /// The client's secrets (expired ones included; the caller checks expiry).
    async fn client_secrets(
        &self,
        env_id: &str,
        client_id: &str,
    ) -> StoreResult<Vec<ClientSecretRecord>>;
    /// Adds a secret to an existing client. Returns false if the client does not exist.
    async fn add_client_secret(&self, s: &ClientSecretRecord) -> StoreResult<bool>;
    /// Enables or disables a client. Returns whether it existed.
    async fn set_client_disabled(
        &self,
        env_id: &str,
        client_id: &str,
        disabled: bool,
    ) -> StoreResult<bool>;
    /// Records a successful use. Returns whether it existed.
    async fn touch_client(
        &self,
        env_id: &str,
        client_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Counts one more registration of a logical client, atomically: creates the row (with
    /// `registrations = 1`) or adds one to its count and replaces its metadata, keeping
    /// `created_at`, `disabled` and `last_used_at`. Returns the row after the change.
    async fn record_registration(&self, c: &ClientRecord) -> StoreResult<ClientRecord>;
    /// Creates the row or replaces only its metadata (keeping `created_at`, `disabled`,
    /// `last_used_at` and `registrations`), e.g. a fetched CIMD document.
    async fn save_client_metadata(&self, c: &ClientRecord) -> StoreResult<()>;
    /// Deletes the oldest dynamic clients that were never used and are not disabled, so that
    /// at most `keep` such clients remain in the environment. Returns how many were deleted.
    async fn evict_unused_dynamic_clients(&self, env_id: &str, keep: u64) -> StoreResult<u64>;
    /// Makes every secret of the client other than `keep` expire at `at` (unless it already
    /// expires earlier). Returns how many were changed.
    async fn expire_client_secrets(
        &self,
        env_id: &str,
        client_id: &str,
        keep: &SecretHash,
        at: Timestamp,
    ) -> StoreResult<u64>;
    /// Deletes a client and its secrets. Its grants and tokens stay until they expire, but
    /// stop working: nothing can authenticate as the client any more. Returns whether it
    /// existed.
    async fn delete_client(&self, env_id: &str, client_id: &str) -> StoreResult<bool>;
}

/// End users.
#[async_trait]
pub trait UserStore: Send + Sync {
    /// Adds a user. `Conflict` if the id exists or the email (lower-cased by the caller) is
    /// taken in the environment.
    async fn create_user(&self, u: &UserRecord) -> StoreResult<()>;
    /// By id.
    async fn get_user(&self, env_id: &str, id: &str) -> StoreResult<Option<UserRecord>>;
    /// By exact (lower-case) email.
    async fn get_user_by_email(&self, env_id: &str, email: &str)
    -> StoreResult<Option<UserRecord>>;
    /// Users of an environment ordered by email.
    async fn list_users(&self, env_id: &str) -> StoreResult<Vec<UserRecord>>;
    /// Replaces name, password hash and disabled flag. Returns whether it existed.
    async fn update_user(&self, u: &UserRecord) -> StoreResult<bool>;
}

/// Browser sessions and pending authorizations.
#[async_trait]
pub trait InteractionStore: Send + Sync {
    /// Adds a session.
    async fn create_session(&self, s: &SessionRecord) -> StoreResult<()>;
    /// A session that has not expired at `now`.
    async fn get_session(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>>;
    /// Deletes a session. Returns whether it existed.
    async fn delete_session(&self, env_id: &str, hash: &SecretHash) -> StoreResult<bool>;
    /// Adds a pending authorization.
    async fn create_pending(&self, p: &PendingAuthorizationRecord) -> StoreResult<()>;
    /// A pending authorization that has not expired at `now`.
    async fn get_pending(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<PendingAuthorizationRecord>>;
    /// A user's unexpired sessions, newest `auth_time` first (ties by hash).
    async fn list_sessions(
        &self,
        env_id: &str,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionRecord>>;
    /// Deletes every session of a user, expired or not. Returns how many.
    async fn delete_user_sessions(&self, env_id: &str, user_id: &str) -> StoreResult<u64>;
    /// Records who logged in for a pending authorization. Returns false if it is gone or expired.
    async fn set_pending_user(
        &self,
        env_id: &str,
        hash: &SecretHash,
        user_id: &str,
        auth_time: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Removes and returns a pending authorization that has not expired, atomically: of any
    /// number of concurrent callers exactly one gets `Some`.
    async fn take_pending(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<PendingAuthorizationRecord>>;
}

/// Consents and grants.
#[async_trait]
pub trait GrantStore: Send + Sync {
    /// The consent of a user for a client and resource.
    async fn get_consent(
        &self,
        env_id: &str,
        user_id: &str,
        client_id: &str,
        resource_id: &str,
    ) -> StoreResult<Option<ConsentRecord>>;
    /// Creates the consent, or replaces its scope and `updated_at` (keeping `granted_at`).
    async fn upsert_consent(&self, c: &ConsentRecord) -> StoreResult<()>;
    /// Consents of a user, or of a client (`None` = any), ordered by `granted_at`.
    async fn list_consents(
        &self,
        env_id: &str,
        user_id: Option<&str>,
        client_id: Option<&str>,
    ) -> StoreResult<Vec<ConsentRecord>>;
    /// Deletes a consent and revokes (reason `consent_revoked`) every unrevoked grant of the
    /// same user, client and resource, with their refresh tokens, whether or not the consent
    /// existed. Returns whether it existed.
    async fn revoke_consent(
        &self,
        env_id: &str,
        user_id: &str,
        client_id: &str,
        resource_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
    /// Adds a grant.
    async fn create_grant(&self, g: &GrantRecord) -> StoreResult<()>;
    /// Adds a grant and its authorization code, atomically: both are stored or neither
    /// (one transaction instead of [`GrantStore::create_grant`] then
    /// [`TokenStore::create_code`]). The code must belong to the grant (the same `env_id`,
    /// `grant_id` equal to the grant's `id`), else [`StoreError::Other`]; `Conflict` if the
    /// grant id or the code hash exists. In every failure, nothing is stored.
    async fn create_grant_with_code(&self, g: &GrantRecord, c: &AuthCodeRecord) -> StoreResult<()>;
    /// One grant.
    async fn get_grant(&self, env_id: &str, id: &str) -> StoreResult<Option<GrantRecord>>;
    /// Revokes a grant and all its refresh tokens, atomically. Revoking a revoked grant keeps
    /// the first time and reason. Returns whether it existed.
    async fn revoke_grant(
        &self,
        env_id: &str,
        id: &str,
        reason: &str,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

/// Authorization codes, refresh tokens and revoked access tokens.
#[async_trait]
pub trait TokenStore: Send + Sync {
    /// Adds a code.
    async fn create_code(&self, c: &AuthCodeRecord) -> StoreResult<()>;
    /// Marks the code consumed at `now` and returns it, atomically: of any number of
    /// concurrent callers exactly one gets [`Consumed::First`]; the others and all later
    /// callers get [`Consumed::Replayed`] (with `consumed_at` set). Expiry is not checked
    /// here (an expired code is consumed like any other, so it cannot be retried).
    async fn consume_code(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Consumed>;
    /// Adds a refresh token (the first of a family).
    async fn create_refresh(&self, t: &RefreshTokenRecord) -> StoreResult<()>;
    /// A refresh token by hash, whatever its state.
    async fn get_refresh(
        &self,
        env_id: &str,
        hash: &SecretHash,
    ) -> StoreResult<Option<RefreshTokenRecord>>;
    /// A refresh token by hash, whatever its state, together with its grant and whether the
    /// grant's user is active, read in one query (one consistent snapshot). `None` if the
    /// environment has no such token, or its grant is missing.
    async fn get_refresh_with_grant(
        &self,
        env_id: &str,
        hash: &SecretHash,
    ) -> StoreResult<Option<RefreshWithGrant>>;
    /// Reads `presented` with its grant and user (as [`TokenStore::get_refresh_with_grant`]
    /// does), asks `gate` whether it may be used, and if so rotates it to `successor`, all
    /// in one transaction, as [`Rotation`] describes: a token whose grant is missing is
    /// [`Rotation::Missing`] (the gate is not asked), one the gate refuses is
    /// [`Rotation::Declined`]; after that a token counts as revoked if it or its grant is
    /// revoked. Expiry is the gate's to check. `sealed_successor` is kept with the rotated
    /// token for the grace window only (see [`Store::gc`]).
    #[allow(clippy::too_many_arguments)]
    async fn rotate_refresh(
        &self,
        env_id: &str,
        presented: &SecretHash,
        successor: &Successor,
        sealed_successor: &[u8],
        grace: i64,
        now: Timestamp,
        gate: RefreshGate,
    ) -> StoreResult<RotationReport>;
    /// Records that the access token `jti` is revoked until `expires_at`.
    async fn revoke_jti(&self, env_id: &str, jti: &str, expires_at: Timestamp) -> StoreResult<()>;
    /// Whether the access token `jti` is revoked.
    async fn is_jti_revoked(&self, env_id: &str, jti: &str) -> StoreResult<bool>;
    /// Records the first use of a client assertion `jti` (RFC 7523 §3: replay prevention),
    /// atomically: returns true for the first caller, false if the jti was already used and
    /// has not expired at `now`.
    async fn claim_assertion_jti(
        &self,
        env_id: &str,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool>;
}

/// Authentication log and registration gating.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends events in one transaction, in order; ids increase.
    async fn append_events(&self, events: &[AuditEvent]) -> StoreResult<()>;
    /// Events matching every filter of the query, newest (highest id, i.e. last appended)
    /// first, or oldest first, at most `limit` of them.
    async fn list_events(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>>;
    /// Deletes an environment's events with `at_ms < before_ms` (retention), possibly in
    /// several transactions (not atomic). Returns how many.
    async fn purge_events(&self, env_id: &str, before_ms: i64) -> StoreResult<u64>;
    /// Adds an initial access token.
    async fn create_initial_access_token(&self, t: &InitialAccessTokenRecord) -> StoreResult<()>;
    /// An initial access token that has not expired at `now`.
    async fn find_initial_access_token(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<InitialAccessTokenRecord>>;
}

/// Administrators, their sessions and the admin API keys: server-wide, not scoped by
/// environment. A key may be limited to one environment (`AdminKeyRecord::env_id`); the caller
/// enforces that, and `find_admin_key` ignores it.
#[async_trait]
pub trait AdminStore: Send + Sync {
    /// Adds an API key. `Conflict` if the id or hash exists.
    async fn create_admin_key(&self, k: &AdminKeyRecord) -> StoreResult<()>;
    /// An unrevoked key by hash.
    async fn find_admin_key(&self, hash: &SecretHash) -> StoreResult<Option<AdminKeyRecord>>;
    /// Every key (revoked ones included), by `created_at` then `id`.
    async fn list_admin_keys(&self) -> StoreResult<Vec<AdminKeyRecord>>;
    /// Revokes a key, keeping the first revocation time. Returns whether it existed.
    async fn revoke_admin_key(&self, id: &str, now: Timestamp) -> StoreResult<bool>;
    /// Records a use. Returns whether it existed.
    async fn touch_admin_key(&self, id: &str, now: Timestamp) -> StoreResult<bool>;
    /// Adds an administrator. `Conflict` if the id or the (lower-case) email exists.
    async fn create_admin_user(&self, u: &AdminUserRecord) -> StoreResult<()>;
    /// By id.
    async fn get_admin_user(&self, id: &str) -> StoreResult<Option<AdminUserRecord>>;
    /// By exact (lower-case) email.
    async fn get_admin_user_by_email(&self, email: &str) -> StoreResult<Option<AdminUserRecord>>;
    /// Every administrator, ordered by email.
    async fn list_admin_users(&self) -> StoreResult<Vec<AdminUserRecord>>;
    /// Replaces password hash and disabled flag. Returns whether it existed.
    async fn update_admin_user(&self, u: &AdminUserRecord) -> StoreResult<bool>;
    /// Adds a dashboard session. `Conflict` if the hash exists.
    async fn create_admin_session(&self, s: &AdminSessionRecord) -> StoreResult<()>;
    /// An unexpired session.
    async fn get_admin_session(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<AdminSessionRecord>>;
    /// Deletes one session. Returns whether it existed.
    async fn delete_admin_session(&self, hash: &SecretHash) -> StoreResult<bool>;
    /// Deletes every session of an administrator, expired or not. Returns how many.
    async fn delete_admin_sessions_of(&self, admin_id: &str) -> StoreResult<u64>;
}

/// Everything the server persists.
#[async_trait]
pub trait Store:
    EnvironmentStore
    + KeyStore
    + ResourceStore
    + ClientStore
    + UserStore
    + InteractionStore
    + GrantStore
    + TokenStore
    + AuditStore
    + AdminStore
{
    /// A server-wide value (`public_url`, …).
    async fn get_meta(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets a server-wide value.
    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()>;
    /// Deletes what has expired at `now`: codes, pending authorizations, sessions, admin
    /// sessions, refresh tokens, revoked-jti and assertion-jti entries, and keys past
    /// `removed_at`; and wipes sealed successors of refresh tokens rotated more than 60 s
    /// before `now` (the longest grace allowed).
    async fn gc(&self, now: Timestamp) -> StoreResult<GcReport>;
    /// Checks the database answers.
    async fn ping(&self) -> StoreResult<()>;

    /// [`InteractionStore::get_session`] and, when the session is found, its user's consent
    /// for `client_id` and `resource_id` ([`GrantStore::get_consent`]): what an
    /// authorization with a signed-in browser looks up. A backend may read both in one trip
    /// to the database; this default makes the two calls.
    async fn get_session_with_consent(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
        client_id: &str,
        resource_id: &str,
    ) -> StoreResult<Option<(SessionRecord, Option<ConsentRecord>)>> {
        let Some(session) = self.get_session(env_id, hash, now).await? else {
            return Ok(None);
        };
        let consent = self
            .get_consent(env_id, &session.user_id, client_id, resource_id)
            .await?;
        Ok(Some((session, consent)))
    }

    /// [`TokenStore::consume_code`], then the code's grant ([`GrantStore::get_grant`]) for
    /// a first or replayed redemption and its user ([`UserStore::get_user`]) for a first
    /// one. A backend may do it in one trip to the database (the grant and user then read in
    /// the redeeming transaction); this default makes the three calls.
    async fn redeem_code(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Redemption> {
        let consumed = self.consume_code(env_id, hash, now).await?;
        let (grant, user) = match &consumed {
            Consumed::First(code) => (
                self.get_grant(env_id, &code.grant_id).await?,
                self.get_user(env_id, &code.user_id).await?,
            ),
            Consumed::Replayed(code) => (self.get_grant(env_id, &code.grant_id).await?, None),
            Consumed::Missing => (None, None),
        };
        Ok(Redemption {
            consumed,
            grant,
            user,
        })
    }
}
