//! Signing keys.

use async_trait::async_trait;
use gatehouse_store::{KeyStore, SigningKeyRecord, StoreResult, Timestamp};
use tokio_postgres::Row;

use crate::PostgresStore;
use crate::error::DbResult;
use crate::sql::{col, rows};

const COLUMNS: &str = "kid, env_id, alg, sealed_private_key, public_jwk, created_at, \
     activates_at, retired_at, removed_at";

fn key_row(row: &Row) -> DbResult<SigningKeyRecord> {
    Ok(SigningKeyRecord {
        kid: col(row, 0)?,
        env_id: col(row, 1)?,
        alg: col(row, 2)?,
        sealed_private_key: col(row, 3)?,
        public_jwk: col(row, 4)?,
        created_at: col(row, 5)?,
        activates_at: col(row, 6)?,
        retired_at: col(row, 7)?,
        removed_at: col(row, 8)?,
    })
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn insert_key(&self, k: &SigningKeyRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO signing_keys ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        self.pool
            .get()
            .await?
            .execute(
                &sql,
                &[
                    &k.kid,
                    &k.env_id,
                    &k.alg,
                    &k.sealed_private_key,
                    &k.public_jwk,
                    &k.created_at,
                    &k.activates_at,
                    &k.retired_at,
                    &k.removed_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn list_keys(&self, env_id: &str, now: Timestamp) -> StoreResult<Vec<SigningKeyRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM signing_keys
             WHERE env_id = $1 AND (removed_at IS NULL OR removed_at > $2)
             ORDER BY activates_at, kid"
        );
        let found = self.pool.get().await?.query(&sql, &[&env_id, &now]).await?;
        Ok(rows(&found, key_row)?)
    }

    async fn retire_key(
        &self,
        env_id: &str,
        kid: &str,
        retired_at: Timestamp,
        removed_at: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE signing_keys SET retired_at = $3, removed_at = $4
                 WHERE env_id = $1 AND kid = $2",
                &[&env_id, &kid, &retired_at, &removed_at],
            )
            .await?;
        Ok(n > 0)
    }
}
