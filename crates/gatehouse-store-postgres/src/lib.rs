//! PostgreSQL backend of the Gatehouse storage port ([`gatehouse_store::Store`]), so that
//! several stateless Gatehouse nodes can serve from one database.
//!
//! # Design
//!
//! - **One database, several nodes.** Every node (and the CLI admin commands) connects to
//!   the same database; everything the server persists lives there, and the conformance
//!   suite (`gatehouse_store::conformance`) holds across nodes as it does across tasks.
//! - **Connections** (`pool.rs`). tokio-postgres clients in a small pool of our own: at most
//!   `pool_size` connections, opened on demand; each keeps the statements it prepared, so a
//!   query is parsed and planned once per connection. A caller waits up to 5 s for a free
//!   connection, and a statement up to 5 s for a lock another session holds (as SQLite's
//!   busy timeout), before [`gatehouse_store::StoreError::Unavailable`]. **No TLS**:
//!   connections use `NoTls`, so the database must be reached over a trusted network or a
//!   Unix socket (`sslmode=require` is refused at start-up rather than silently
//!   downgraded).
//! - **Atomicity.** Plain reads and single-statement writes run in autocommit; everything
//!   else in one READ COMMITTED transaction. The single-use operations are one conditional
//!   statement each: `consume_code` is `UPDATE … WHERE consumed_at IS NULL RETURNING`
//!   (a racing caller blocks on the row lock, then finds it consumed and reads the winner's
//!   time in a second statement, with a fresh snapshot); `take_pending` is
//!   `DELETE … RETURNING`; `claim_assertion_jti` is one `INSERT … ON CONFLICT DO UPDATE …
//!   WHERE expired`; `record_registration` one upsert. Everything that changes a grant's
//!   family — `rotate_refresh`, `revoke_grant`, `revoke_consent` — first locks the grant row
//!   (`FOR UPDATE`, or the `UPDATE` of it), then its tokens, always in that order: rotations
//!   and revocations of one family are serialised across nodes, each sees the previous one's
//!   effect, and they cannot deadlock with each other. A deadlock with anything else
//!   (gc, say) or a serialization failure is retried (up to three attempts).
//! - **Change detection** ([`gatehouse_store::EnvironmentStore::generation`]). Row-level
//!   triggers on `environments`, `signing_keys`, `resources`, `clients` (not its last use or
//!   registration count) and `client_secrets` bump a one-row counter in the same transaction
//!   as the change, as in SQLite, so every node sees another's changes by polling one
//!   integer.
//! - **Authentication log.** Appends take a transaction-level advisory lock, so event ids
//!   (an identity column) increase in commit order across nodes, as `after_id` tailing
//!   needs; a batch is one `INSERT … SELECT FROM unnest(…)`. PostgreSQL text cannot hold NUL
//!   characters: in log events (which quote what clients sent) they are replaced by U+FFFD
//!   rather than failing the whole batch.
//! - **Schema** (`migrate.rs`). Embedded SQL migrations (`migrations/NNNN_*.sql`, numbered
//!   like SQLite's) applied in order in one transaction under an advisory lock, tracked in
//!   `gatehouse_schema_migrations`; several nodes starting together migrate once, and a
//!   database newer than the build is refused. Tables go to the first schema of the
//!   connection's `search_path` (`options=-csearch_path=…` in the URL selects another).
//! - **Encoding.** As in SQLite: times as BIGINT seconds (audit `at_ms` in milliseconds),
//!   secrets as their [`gatehouse_store::SecretHash`] string, JSON documents as TEXT; booleans
//!   are BOOLEAN and sealed values BYTEA. Sorted text columns are `COLLATE "C"`, so lists
//!   come back in SQLite's (bytewise) order whatever the database's collation. A document
//!   that no longer decodes is [`gatehouse_store::StoreError::Corrupt`]; a UNIQUE or PRIMARY
//!   KEY violation is [`gatehouse_store::StoreError::Conflict`].
//! - **Integrity.** The same foreign keys as SQLite: every record's `env_id` references
//!   `environments` (except the audit log; an admin API key's is optional), and client
//!   secrets go with their client. A call that breaks a precondition of the contract (a
//!   secret of another client in `create_client`, a record of an unknown environment)
//!   fails with
//!   [`gatehouse_store::StoreError::Other`] and changes nothing.
//!
//! The contract of every method is on the trait; the shared conformance suite runs against
//! this backend in `tests/conformance.rs`, on a fresh database per case.

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
mod resources;
mod sql;
mod tokens;
mod users;

use std::sync::Arc;

use gatehouse_store::StoreResult;

use crate::pool::Pool;

/// A Gatehouse store in one PostgreSQL database. Cheap to clone (clones share the pool);
/// open one per process.
#[derive(Clone)]
pub struct PostgresStore {
    pool: Arc<Pool>,
}

impl PostgresStore {
    /// The connection pool size used when none is configured.
    pub const DEFAULT_POOL_SIZE: usize = 8;

    /// The schema version this build migrates databases to (the same numbering as the
    /// SQLite backend).
    pub const SCHEMA_VERSION: i64 = migrate::SCHEMA_VERSION;

    /// Connects to the database at `url` (`postgres://user:password@host:port/dbname?…`,
    /// or the `key=value` form libpq accepts), with at most `pool_size` connections, and
    /// applies pending migrations.
    ///
    /// Must be called within a tokio runtime, which then drives the connections.
    pub async fn connect(url: &str, pool_size: usize) -> StoreResult<Self> {
        Ok(Self {
            pool: Arc::new(Pool::connect(url, pool_size).await?),
        })
    }

    /// The schema version of the database (the number of migrations applied).
    pub async fn schema_version(&self) -> StoreResult<i64> {
        Ok(migrate::version(&mut *self.pool.get().await?).await?)
    }

    /// The most connections this store opens.
    pub fn pool_size(&self) -> usize {
        self.pool.size()
    }

    /// Where the store is, as `user@host:port/dbname`, for logs (never the password).
    pub fn target(&self) -> String {
        self.pool.target()
    }
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.pool.target())
            .field("pool_size", &self.pool.size())
            .finish_non_exhaustive()
    }
}
