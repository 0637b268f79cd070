//! Clients and their secrets.

use async_trait::async_trait;
use gatehouse_store::{
    ClientKind, ClientRecord, ClientSecretRecord, ClientStore, SecretHash, StoreError, StoreResult,
    Timestamp,
};
use tokio_postgres::Row;

use crate::PostgresStore;
use crate::error::{DbResult, other};
use crate::pool::{Conn, Transactional};
use crate::sql::{col, hash_col, json_col, parsed_col, rows, to_json};

const COLUMNS: &str =
    "env_id, client_id, kind, metadata, created_at, disabled, last_used_at, registrations";

const SECRET_COLUMNS: &str = "env_id, client_id, hash, created_at, expires_at";

fn client_row(row: &Row) -> DbResult<ClientRecord> {
    Ok(ClientRecord {
        env_id: col(row, 0)?,
        client_id: col(row, 1)?,
        kind: parsed_col(row, 2, ClientKind::parse)?,
        metadata: json_col(row, 3)?,
        created_at: col(row, 4)?,
        disabled: col(row, 5)?,
        last_used_at: col(row, 6)?,
        registrations: col(row, 7)?,
    })
}

fn secret_row(row: &Row) -> DbResult<ClientSecretRecord> {
    Ok(ClientSecretRecord {
        env_id: col(row, 0)?,
        client_id: col(row, 1)?,
        hash: hash_col(row, 2)?,
        created_at: col(row, 3)?,
        expires_at: col(row, 4)?,
    })
}

fn another_environment(client_id: &str) -> StoreError {
    other(format!(
        "client {client_id:?} belongs to another environment"
    ))
    .into()
}

/// A client and its initial secrets, in one transaction.
struct CreateClient<'a> {
    client: &'a ClientRecord,
    metadata: String,
    secrets: &'a [ClientSecretRecord],
}

impl Transactional for CreateClient<'_> {
    type Output = ();

    async fn run(&self, tx: &mut Conn) -> DbResult<()> {
        let c = self.client;
        let kind = c.kind.as_str();
        let sql =
            format!("INSERT INTO clients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        tx.execute(
            &sql,
            &[
                &c.env_id,
                &c.client_id,
                &kind,
                &self.metadata,
                &c.created_at,
                &c.disabled,
                &c.last_used_at,
                &c.registrations,
            ],
        )
        .await?;
        let sql =
            format!("INSERT INTO client_secrets ({SECRET_COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
        for s in self.secrets {
            let hash = s.hash.as_str();
            tx.execute(
                &sql,
                &[&s.env_id, &s.client_id, &hash, &s.created_at, &s.expires_at],
            )
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ClientStore for PostgresStore {
    /// The secrets must name the client (checked before anything is written).
    async fn create_client(
        &self,
        c: &ClientRecord,
        secrets: &[ClientSecretRecord],
    ) -> StoreResult<()> {
        if let Some(s) = secrets
            .iter()
            .find(|s| s.env_id != c.env_id || s.client_id != c.client_id)
        {
            return Err(other(format!(
                "a secret of client {:?} names client {:?} of environment {:?}",
                c.client_id, s.client_id, s.env_id
            ))
            .into());
        }
        let work = CreateClient {
            client: c,
            metadata: to_json(&c.metadata)?,
            secrets,
        };
        self.pool.transaction(&work).await
    }

    async fn get_client(&self, env_id: &str, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM clients WHERE env_id = $1 AND client_id = $2");
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&env_id, &client_id])
            .await?;
        Ok(row.as_ref().map(client_row).transpose()?)
    }

    async fn list_clients(&self, env_id: &str) -> StoreResult<Vec<ClientRecord>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM clients WHERE env_id = $1 ORDER BY created_at DESC, seq DESC"
        );
        let found = self.pool.get().await?.query(&sql, &[&env_id]).await?;
        Ok(rows(&found, client_row)?)
    }

    async fn client_secrets(
        &self,
        env_id: &str,
        client_id: &str,
    ) -> StoreResult<Vec<ClientSecretRecord>> {
        let sql = format!(
            "SELECT {SECRET_COLUMNS} FROM client_secrets
             WHERE client_id = $2 AND env_id = $1 ORDER BY created_at, seq"
        );
        let found = self
            .pool
            .get()
            .await?
            .query(&sql, &[&env_id, &client_id])
            .await?;
        Ok(rows(&found, secret_row)?)
    }

    /// One statement: the secret is inserted only if the client exists in the environment.
    async fn add_client_secret(&self, s: &ClientSecretRecord) -> StoreResult<bool> {
        let hash = s.hash.as_str();
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "INSERT INTO client_secrets (env_id, client_id, hash, created_at, expires_at)
                 SELECT $1, $2, $3, $4::BIGINT, $5::BIGINT
                 WHERE EXISTS (SELECT 1 FROM clients WHERE env_id = $1 AND client_id = $2)",
                &[&s.env_id, &s.client_id, &hash, &s.created_at, &s.expires_at],
            )
            .await?;
        Ok(n > 0)
    }

    async fn set_client_disabled(
        &self,
        env_id: &str,
        client_id: &str,
        disabled: bool,
    ) -> StoreResult<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE clients SET disabled = $3 WHERE env_id = $1 AND client_id = $2",
                &[&env_id, &client_id, &disabled],
            )
            .await?;
        Ok(n > 0)
    }

    async fn touch_client(
        &self,
        env_id: &str,
        client_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE clients SET last_used_at = $3 WHERE env_id = $1 AND client_id = $2",
                &[&env_id, &client_id, &now],
            )
            .await?;
        Ok(n > 0)
    }

    /// One upsert, atomic under concurrency: a racing registration waits for the row lock
    /// and then adds its own one.
    async fn record_registration(&self, c: &ClientRecord) -> StoreResult<ClientRecord> {
        let metadata = to_json(&c.metadata)?;
        let kind = c.kind.as_str();
        let sql = format!(
            "INSERT INTO clients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, 1)
             ON CONFLICT (client_id) DO UPDATE
             SET registrations = clients.registrations + 1, metadata = excluded.metadata
             WHERE clients.env_id = excluded.env_id
             RETURNING {COLUMNS}"
        );
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                &sql,
                &[
                    &c.env_id,
                    &c.client_id,
                    &kind,
                    &metadata,
                    &c.created_at,
                    &c.disabled,
                    &c.last_used_at,
                ],
            )
            .await?;
        match row {
            Some(row) => Ok(client_row(&row)?),
            None => Err(another_environment(&c.client_id)),
        }
    }

    async fn save_client_metadata(&self, c: &ClientRecord) -> StoreResult<()> {
        let metadata = to_json(&c.metadata)?;
        let kind = c.kind.as_str();
        let sql = format!(
            "INSERT INTO clients ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (client_id) DO UPDATE SET metadata = excluded.metadata
             WHERE clients.env_id = excluded.env_id"
        );
        let n = self
            .pool
            .get()
            .await?
            .execute(
                &sql,
                &[
                    &c.env_id,
                    &c.client_id,
                    &kind,
                    &metadata,
                    &c.created_at,
                    &c.disabled,
                    &c.last_used_at,
                    &c.registrations,
                ],
            )
            .await?;
        if n == 0 {
            return Err(another_environment(&c.client_id));
        }
        Ok(())
    }

    async fn evict_unused_dynamic_clients(&self, env_id: &str, keep: u64) -> StoreResult<u64> {
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "DELETE FROM clients WHERE seq IN (
                     SELECT seq FROM clients
                     WHERE env_id = $1 AND kind = 'dynamic' AND last_used_at IS NULL
                       AND NOT disabled
                     ORDER BY created_at DESC, seq DESC
                     OFFSET $2)",
                &[&env_id, &keep],
            )
            .await?;
        Ok(n)
    }

    async fn expire_client_secrets(
        &self,
        env_id: &str,
        client_id: &str,
        keep: &SecretHash,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let keep = keep.as_str();
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE client_secrets SET expires_at = $4
                 WHERE env_id = $1 AND client_id = $2 AND hash <> $3
                   AND (expires_at IS NULL OR expires_at > $4)",
                &[&env_id, &client_id, &keep, &at],
            )
            .await?;
        Ok(n)
    }

    async fn delete_client(&self, env_id: &str, client_id: &str) -> StoreResult<bool> {
        // client_secrets rows go with it (ON DELETE CASCADE).
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "DELETE FROM clients WHERE env_id = $1 AND client_id = $2",
                &[&env_id, &client_id],
            )
            .await?;
        Ok(n > 0)
    }
}
