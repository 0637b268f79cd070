//! Server-wide values, garbage collection and the health check: the [`Store`] methods.

use async_trait::async_trait;
use gatehouse_store::{GcReport, Store, StoreResult, Timestamp};

use crate::PostgresStore;
use crate::error::DbResult;
use crate::pool::{Conn, Transactional};
use crate::sql::col;

/// Sealed successors are kept this long after a rotation: the longest grace allowed.
const SEALED_SUCCESSOR_KEPT: i64 = 60;

/// Key of the advisory lock that makes collections from several nodes take turns
/// ("ghgc" in ASCII): the second finds nothing left instead of deadlocking with the first.
const GC_LOCK: i64 = 0x6768_6763;

/// [`Store::gc`] as a transaction.
struct Gc {
    now: Timestamp,
}

impl Gc {
    async fn delete(&self, tx: &mut Conn, sql: &str) -> DbResult<u64> {
        tx.execute(sql, &[&self.now]).await
    }
}

impl Transactional for Gc {
    type Output = GcReport;

    /// Deletes every expired row and wipes old sealed successors.
    async fn run(&self, tx: &mut Conn) -> DbResult<GcReport> {
        // Another node's collection of a large backlog may take longer than the lock timeout.
        tx.batch("SET LOCAL lock_timeout = 0").await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&GC_LOCK])
            .await?;
        let report = GcReport {
            codes: self
                .delete(tx, "DELETE FROM auth_codes WHERE expires_at <= $1")
                .await?,
            pending: self
                .delete(
                    tx,
                    "DELETE FROM pending_authorizations WHERE expires_at <= $1",
                )
                .await?,
            sessions: self
                .delete(tx, "DELETE FROM sessions WHERE expires_at <= $1")
                .await?,
            refresh_tokens: self
                .delete(tx, "DELETE FROM refresh_tokens WHERE expires_at <= $1")
                .await?,
            revoked_jtis: self
                .delete(tx, "DELETE FROM revoked_jtis WHERE expires_at <= $1")
                .await?,
            keys: self
                .delete(
                    tx,
                    "DELETE FROM signing_keys WHERE removed_at IS NOT NULL AND removed_at <= $1",
                )
                .await?,
            assertion_jtis: self
                .delete(tx, "DELETE FROM assertion_jtis WHERE expires_at <= $1")
                .await?,
            admin_sessions: self
                .delete(tx, "DELETE FROM admin_sessions WHERE expires_at <= $1")
                .await?,
        };
        tx.execute(
            "UPDATE refresh_tokens SET sealed_successor = NULL
             WHERE sealed_successor IS NOT NULL AND rotated_at < $1",
            &[&(self.now - SEALED_SUCCESSOR_KEPT)],
        )
        .await?;
        Ok(report)
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn get_meta(&self, key: &str) -> StoreResult<Option<String>> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt("SELECT value FROM meta WHERE key = $1", &[&key])
            .await?;
        Ok(row.as_ref().map(|r| col(r, 0)).transpose()?)
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO meta (key, value) VALUES ($1, $2)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&key, &value],
            )
            .await?;
        Ok(())
    }

    async fn gc(&self, now: Timestamp) -> StoreResult<GcReport> {
        self.pool.transaction(&Gc { now }).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.pool.get().await?.query_one("SELECT 1", &[]).await?;
        Ok(())
    }
}
