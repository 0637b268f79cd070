//! Embedded schema migrations, tracked in `gatehouse_schema_migrations`.
//!
//! Migration `n` (1-based) brings the schema from version `n - 1` to `n`, the same
//! numbering as the SQLite backend. They run in one transaction that first takes a
//! transaction-level advisory lock, so several nodes starting together on a new database
//! migrate it once: the first applies the migrations, the others wait for its commit and
//! then find nothing to do. PostgreSQL DDL is transactional, so a migration that fails
//! leaves the database as it was.

use crate::error::{DbResult, other};
use crate::pool::{Conn, Transactional};

/// The migrations, in order. Append only: never edit one that has shipped.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/0001_init.sql")),
    ("0002_admin", include_str!("../migrations/0002_admin.sql")),
    (
        "0003_audit_indexes_client_generation",
        include_str!("../migrations/0003_audit_indexes_client_generation.sql"),
    ),
    (
        "0004_grants_by_consent",
        include_str!("../migrations/0004_grants_by_consent.sql"),
    ),
    (
        "0005_refresh_tokens_unindexed_by_grant",
        include_str!("../migrations/0005_refresh_tokens_unindexed_by_grant.sql"),
    ),
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Key of the advisory lock held while migrating ("gatehous" in ASCII). Advisory locks are
/// per database, so only Gatehouse nodes on the same database wait for each other.
const MIGRATION_LOCK: i64 = 0x6761_7465_686f_7573;

/// The version table; created by the first migration run, outside the numbered migrations.
const VERSION_TABLE: &str = "CREATE TABLE IF NOT EXISTS gatehouse_schema_migrations (
    version    BIGINT PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)";

/// Applies the migrations the database has not seen yet. Idempotent, and safe to run from
/// several nodes at once.
pub(crate) async fn run(conn: &mut Conn) -> DbResult<()> {
    conn.transaction(&Migrate).await
}

/// The migration transaction.
struct Migrate;

impl Transactional for Migrate {
    type Output = ();

    async fn run(&self, tx: &mut Conn) -> DbResult<()> {
        // Waiting for another node's migration may take longer than the lock timeout.
        tx.batch("SET LOCAL lock_timeout = 0").await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await?;
        tx.batch(VERSION_TABLE).await?;
        let current = version(tx).await?;
        if current > SCHEMA_VERSION {
            return Err(other(format!(
                "the database schema is version {current}, newer than this build \
                 ({SCHEMA_VERSION}); upgrade Gatehouse"
            )));
        }
        for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            tx.batch(sql).await?;
            let version = index as i64 + 1;
            tx.execute(
                "INSERT INTO gatehouse_schema_migrations (version, name) VALUES ($1, $2)",
                &[&version, name],
            )
            .await?;
            tracing::info!(migration = name, "applied database migration");
        }
        Ok(())
    }
}

/// The schema version recorded in the database.
pub(crate) async fn version(conn: &mut Conn) -> DbResult<i64> {
    let row = conn
        .query_one(
            "SELECT COALESCE(max(version), 0)::BIGINT FROM gatehouse_schema_migrations",
            &[],
        )
        .await?;
    Ok(row.try_get(0)?)
}
