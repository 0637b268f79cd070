//! The [`Store`] methods: server-wide values, garbage collection, the health check, and the
//! lookups that span aggregates on a hot path, each one trip to a database thread.

use async_trait::async_trait;
use gatehouse_store::{
    ConsentRecord, GcReport, Redemption, SecretHash, SessionRecord, Store, StoreResult, Timestamp,
};
use rusqlite::{OptionalExtension, Transaction};

use crate::SqliteStore;
use crate::error::DbResult;
use crate::grants::consent_by_key;
use crate::interaction::session_by_hash;

/// Sealed successors are kept this long after a rotation: the longest grace allowed.
const SEALED_SUCCESSOR_KEPT: i64 = 60;

/// Deletes every expired row and wipes old sealed successors, in one transaction.
fn gc_tx(tx: &Transaction<'_>, now: Timestamp) -> DbResult<GcReport> {
    let delete = |sql: &str| -> DbResult<u64> { Ok(tx.execute(sql, [now])? as u64) };
    let report = GcReport {
        codes: delete("DELETE FROM auth_codes WHERE expires_at <= ?1")?,
        pending: delete("DELETE FROM pending_authorizations WHERE expires_at <= ?1")?,
        sessions: delete("DELETE FROM sessions WHERE expires_at <= ?1")?,
        refresh_tokens: delete("DELETE FROM refresh_tokens WHERE expires_at <= ?1")?,
        revoked_jtis: delete("DELETE FROM revoked_jtis WHERE expires_at <= ?1")?,
        keys: delete("DELETE FROM signing_keys WHERE removed_at IS NOT NULL AND removed_at <= ?1")?,
        assertion_jtis: delete("DELETE FROM assertion_jtis WHERE expires_at <= ?1")?,
        admin_sessions: delete("DELETE FROM admin_sessions WHERE expires_at <= ?1")?,
    };
    tx.execute(
        "UPDATE refresh_tokens SET sealed_successor = NULL
         WHERE sealed_successor IS NOT NULL AND rotated_at < ?1",
        [now - SEALED_SUCCESSOR_KEPT],
    )?;
    Ok(report)
}

#[async_trait]
impl Store for SqliteStore {
    async fn get_meta(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.pool
            .read(move |conn| {
                let sql = "SELECT value FROM meta WHERE key = ?1";
                Ok(conn.query_row(sql, [key], |r| r.get(0)).optional()?)
            })
            .await
    }

    async fn set_meta(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.pool
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [&key, &value],
                )?;
                Ok(())
            })
            .await
    }

    /// One read job: the session, then its user's consent.
    async fn get_session_with_consent(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
        client_id: &str,
        resource_id: &str,
    ) -> StoreResult<Option<(SessionRecord, Option<ConsentRecord>)>> {
        let (env_id, hash) = (env_id.to_owned(), hash.clone());
        let (client_id, resource_id) = (client_id.to_owned(), resource_id.to_owned());
        self.pool
            .read(move |conn| {
                let Some(session) = session_by_hash(conn, &env_id, hash.as_str(), now)? else {
                    return Ok(None);
                };
                let key = [env_id, session.user_id.clone(), client_id, resource_id];
                let consent = consent_by_key(conn, &key)?;
                Ok(Some((session, consent)))
            })
            .await
    }

    /// One write job: the code consumed and its grant and user read in that transaction.
    async fn redeem_code(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Redemption> {
        let (env_id, hash) = (env_id.to_owned(), hash.clone());
        self.pool
            .write(move |tx| crate::tokens::redeem_code_tx(tx, &env_id, hash.as_str(), now))
            .await
    }

    async fn gc(&self, now: Timestamp) -> StoreResult<GcReport> {
        self.pool.write(move |tx| gc_tx(tx, now)).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.pool
            .read(|conn| Ok(conn.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }
}
