//! Signing keys.

use async_trait::async_trait;
use gatehouse_store::{KeyStore, SigningKeyRecord, StoreResult, Timestamp};
use rusqlite::{Row, params};

use crate::SqliteStore;

fn key_row(row: &Row<'_>) -> rusqlite::Result<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: row.get(0)?,
        env_id: row.get(1)?,
        alg: row.get(2)?,
        sealed_private_key: row.get(3)?,
        public_jwk: row.get(4)?,
        created_at: row.get(5)?,
        activates_at: row.get(6)?,
        retired_at: row.get(7)?,
        removed_at: row.get(8)?,
    })
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &SigningKeyRecord) -> StoreResult<()> {
        let k = key.clone();
        self.pool
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO signing_keys (kid, env_id, alg, sealed_private_key, public_jwk,
                         created_at, activates_at, retired_at, removed_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        k.kid,
                        k.env_id,
                        k.alg,
                        k.sealed_private_key,
                        k.public_jwk,
                        k.created_at,
                        k.activates_at,
                        k.retired_at,
                        k.removed_at
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn list_keys(&self, env_id: &str, now: Timestamp) -> StoreResult<Vec<SigningKeyRecord>> {
        let env_id = env_id.to_owned();
        self.pool
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT kid, env_id, alg, sealed_private_key, public_jwk, created_at,
                            activates_at, retired_at, removed_at
                     FROM signing_keys
                     WHERE env_id = ?1 AND (removed_at IS NULL OR removed_at > ?2)
                     ORDER BY activates_at, kid",
                )?;
                let rows = stmt.query_map(params![env_id, now], key_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn retire_key(
        &self,
        env_id: &str,
        kid: &str,
        retired_at: Timestamp,
        removed_at: Timestamp,
    ) -> StoreResult<bool> {
        let (env_id, kid) = (env_id.to_owned(), kid.to_owned());
        self.pool
            .write(move |tx| {
                let n = tx.execute(
                    "UPDATE signing_keys SET retired_at = ?3, removed_at = ?4
                     WHERE env_id = ?1 AND kid = ?2",
                    params![env_id, kid, retired_at, removed_at],
                )?;
                Ok(n > 0)
            })
            .await
    }
}
