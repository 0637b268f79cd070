//! SQLite backend of the Gatehouse storage port ([`gatehouse_store::Store`]).
//!
//! # Design
//!
//! - **One file, several processes.** The server and the CLI admin commands open the same
//!   database file at the same time. The file is in WAL mode (readers never block the
//!   writer nor each other), `synchronous=NORMAL` (a power cut may lose the last commits,
//!   never corrupt the file), `foreign_keys=ON`, and every connection waits up to 5 s for a
//!   lock held by another connection or process before reporting
//!   [`gatehouse_store::StoreError::Unavailable`]. Switching a new file to WAL is retried
//!   for those 5 s too, because SQLite does not wait for that lock by itself when several
//!   processes open a new database at once.
//! - **Connections** (`pool.rs`, `queue.rs`). rusqlite is blocking, so work runs on
//!   long-lived threads of the store: one writer thread that owns the writer connection,
//!   and three reader threads, each with a `query_only` connection, sharing one queue. A
//!   store method queues a closure and awaits a oneshot reply (no lock is held across an
//!   `.await`); a thread drains its queue before it sleeps, so under load a call wakes no
//!   thread. Dropping the store ends the threads and closes the file. Pages: a 32 MB cache
//!   for the writer, 16 MB per reader, the file memory-mapped (256 MB), temporary tables in
//!   memory.
//! - **Transactions.** Every write runs in one `BEGIN IMMEDIATE` transaction, which takes the
//!   database write lock up front (writes queued together share one transaction, each in
//!   its own savepoint, with the same outcome for each caller as alone: see `pool.rs`). That makes each trait method that the contract calls
//!   atomic (`create_client` with its secrets, `consume_code`, `take_pending`,
//!   `rotate_refresh`, `revoke_grant`, `revoke_consent`) a critical section both between
//!   tasks of this process and against other processes; the single-use ones are moreover
//!   written as one conditional `UPDATE … RETURNING` / `DELETE … RETURNING` statement.
//!   The one bulk write that can grow without bound, purging the authentication log
//!   ([`gatehouse_store::AuditStore::purge_events`]), deletes in batches of 5000 events, one
//!   transaction each, so it never holds the write lock long enough for another process to
//!   give up waiting.
//! - **Change detection** ([`gatehouse_store::EnvironmentStore::generation`]). Triggers on the
//!   `environments`, `signing_keys`, `resources`, `clients` (not its last use or
//!   registration count) and `client_secrets` tables bump a one-row counter in the same
//!   transaction as the change, so a server caching those sees changes made by the CLI in
//!   another process by polling one integer.
//! - **Schema** (`migrate.rs`). Embedded SQL migrations (`migrations/NNNN_*.sql`) applied in
//!   order in one IMMEDIATE transaction, tracked in `PRAGMA user_version`; reopening is a
//!   no-op and a database newer than the build is refused.
//! - **Encoding.** Secrets as their [`gatehouse_store::SecretHash`] string, JSON documents
//!   (settings, client metadata, scopes, audit data) as TEXT, booleans as INTEGER 0/1,
//!   times as INTEGER seconds (audit `at_ms` in milliseconds). A document that no longer
//!   decodes is [`gatehouse_store::StoreError::Corrupt`]; a UNIQUE or PRIMARY KEY violation is
//!   [`gatehouse_store::StoreError::Conflict`].
//!
//! - **Integrity.** Every record's `env_id` references `environments` (except the audit
//!   log, which accepts any event; an admin API key's is optional); client secrets are
//!   deleted with their client (ON DELETE CASCADE). Grants, consents, codes, tokens and
//!   sessions name clients, users and resources without foreign keys, and admin sessions
//!   name their administrator the same way. A call that breaks a precondition of the
//!   contract (a secret of another client in `create_client`, a record of an unknown
//!   environment) fails with
//!   [`gatehouse_store::StoreError::Other`] and changes nothing.
//!
//! The contract of every method is on the trait; the shared conformance suite
//! (`gatehouse_store::conformance`) runs against this backend in `tests/conformance.rs`.

mod admin;
mod audit;
mod clients;
mod env;
mod error;
mod grants;
mod interaction;
mod keys;
mod maintenance;
mod migrate;
mod pool;
mod queue;
mod resources;
mod sql;
mod tokens;
mod users;

use std::path::Path;
use std::sync::Arc;

use gatehouse_store::StoreResult;

use crate::pool::Pool;

/// A Gatehouse store in one SQLite database file. Cheap to clone (clones share the
/// connections); open one per process.
#[derive(Clone)]
pub struct SqliteStore {
    pool: Arc<Pool>,
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file if needed (its directory must
    /// exist), switching it to WAL mode and applying pending migrations.
    ///
    /// Blocking: call it at start-up, before serving, or from `spawn_blocking`.
    pub fn open(path: &Path) -> StoreResult<Self> {
        Ok(Self {
            pool: Arc::new(Pool::open(path)?),
        })
    }

    /// The schema version of the database (the number of migrations applied).
    pub async fn schema_version(&self) -> StoreResult<i64> {
        self.pool.read(migrate::version).await
    }

    /// The schema version this build migrates databases to.
    pub const SCHEMA_VERSION: i64 = migrate::SCHEMA_VERSION;
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}
