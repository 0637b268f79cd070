//! Clients and their secrets.

use async_trait::async_trait;
use gatehouse_store::{
    ClientKind, ClientRecord, ClientSecretRecord, ClientStore, SecretHash, StoreResult, Timestamp,
};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::SqliteStore;
use crate::error::{DbResult, other};
use crate::sql::{cached_exec, cached_row, hash_col, json_col, parsed_col, to_json};

const COLUMNS: &str =
    "env_id, client_id, kind, metadata, created_at, disabled, last_used_at, registrations";

fn client_row(row: &Row<'_>) -> rusqlite::Result<ClientRecord> {
    Ok(ClientRecord {
        env_id: row.get(0)?,
        client_id: row.get(1)?,
        kind: parsed_col(row, 2, ClientKind::parse)?,
        metadata: json_col(row, 3)?,
        created_at: row.get(4)?,
        disabled: row.get(5)?,
        last_used_at: row.get(6)?,
        registrations: row.get(7)?,
    })
}

fn secret_row(row: &Row<'_>) -> rusqlite::Result<ClientSecretRecord> {
    Ok(ClientSecretRecord {
        env_id: row.get(0)?,
        client_id: row.get(1)?,
        hash: hash_col(row, 2)?,
        created_at: row.get(3)?,
        expires_at: row.get(4)?,
    })
}

fn insert_secret(tx: &Transaction<'_>, s: &ClientSecretRecord) -> DbResult<()> {
    cached_exec(
        tx,
        "INSERT INTO client_secrets (env_id, client_id, hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            s.env_id,
            s.client_id,
            s.hash.as_str(),
            s.created_at,
            s.expires_at
        ],
    )?;
    Ok(())
}

/// The client and its secrets in one transaction: the secrets must name the client.
fn insert_client(
    tx: &Transaction<'_>,
    c: &ClientRecord,
    secrets: &[ClientSecretRecord],
) -> DbResult<()> {
    if let Some(s) = secrets
        .iter()
        .find(|s| s.env_id != c.env_id || s.client_id != c.client_id)
    {
        return Err(other(format!(
            "a secret of client {:?} names client {:?} of environment {:?}",
            c.client_id, s.client_id, s.env_id
        )));
    }
    cached_exec(
        tx,
        &format!("INSERT INTO clients ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
        params![
            c.env_id,
            c.client_id,
            c.kind.as_str(),
            to_json(&c.metadata)?,
            c.created_at,
            c.disabled,
            c.last_used_at,
            c.registrations
        ],
    )?;
    secrets.iter().try_for_each(|s| insert_secret(tx, s))
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn create_client(
        &self,
        c: &ClientRecord,
        secrets: &[ClientSecretRecord],
    ) -> StoreResult<()> {
        let (c, secrets) = (c.clone(), secrets.to_vec());
        self.pool
            .write(move |tx| insert_client(tx, &c, &secrets))
            .await
    }

    async fn get_client(&self, env_id: &str, client_id: &str) -> StoreResult<Option<ClientRecord>> {
        let (env_id, client_id) = (env_id.to_owned(), client_id.to_owned());
        self.pool
            .read(move |conn| {
                let sql =
                    format!("SELECT {COLUMNS} FROM clients WHERE env_id = ?1 AND client_id = ?2");
                Ok(cached_row(conn, &sql, [&env_id, &client_id], client_row).optional()?)
            })
            .await
    }

    async fn list_clients(&self, env_id: &str) -> StoreResult<Vec<ClientRecord>> {
        let env_id = env_id.to_owned();
        self.pool
            .read(move |conn| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM clients WHERE env_id = ?1 ORDER BY created_at DESC, rowid DESC"
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map([env_id], client_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn client_secrets(
        &self,
        env_id: &str,
        client_id: &str,
    ) -> StoreResult<Vec<ClientSecretRecord>> {
        let (env_id, client_id) = (env_id.to_owned(), client_id.to_owned());
        self.pool
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT env_id, client_id, hash, created_at, expires_at FROM client_secrets
                     WHERE client_id = ?2 AND env_id = ?1 ORDER BY created_at, rowid",
                )?;
                let rows = stmt.query_map([&env_id, &client_id], secret_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn add_client_secret(&self, s: &ClientSecretRecord) -> StoreResult<bool> {
        let s = s.clone();
        self.pool
            .write(move |tx| {
                let exists = cached_row(
                    tx,
                    "SELECT 1 FROM clients WHERE env_id = ?1 AND client_id = ?2",
                    [&s.env_id, &s.client_id],
                    |_| Ok(()),
                )
                .optional()?
                .is_some();
                if exists {
                    insert_secret(tx, &s)?;
                }
                Ok(exists)
            })
            .await
    }

    async fn set_client_disabled(
        &self,
        env_id: &str,
        client_id: &str,
        disabled: bool,
    ) -> StoreResult<bool> {
        let (env_id, client_id) = (env_id.to_owned(), client_id.to_owned());
        self.pool
            .write(move |tx| {
                let n = cached_exec(
                    tx,
                    "UPDATE clients SET disabled = ?3 WHERE env_id = ?1 AND client_id = ?2",
                    params![env_id, client_id, disabled],
                )?;
                Ok(n > 0)
            })
            .await
    }

    async fn touch_client(
        &self,
        env_id: &str,
        client_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (env_id, client_id) = (env_id.to_owned(), client_id.to_owned());
        self.pool
            .write(move |tx| {
                let n = cached_exec(
                    tx,
                    "UPDATE clients SET last_used_at = ?3 WHERE env_id = ?1 AND client_id = ?2",
                    params![env_id, client_id, now],
                )?;
                Ok(n > 0)
            })
            .await
    }

    async fn record_registration(&self, c: &ClientRecord) -> StoreResult<ClientRecord> {
        let c = c.clone();
        self.pool
            .write(move |tx| {
                cached_exec(
                    tx,
                    &format!(
                        "INSERT INTO clients ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 1)
                         ON CONFLICT (client_id) DO UPDATE
                         SET registrations = registrations + 1, metadata = excluded.metadata
                         WHERE clients.env_id = excluded.env_id"
                    ),
                    params![
                        c.env_id,
                        c.client_id,
                        c.kind.as_str(),
                        to_json(&c.metadata)?,
                        c.created_at,
                        c.disabled,
                        c.last_used_at
                    ],
                )?;
                let sql =
                    format!("SELECT {COLUMNS} FROM clients WHERE env_id = ?1 AND client_id = ?2");
                cached_row(tx, &sql, [&c.env_id, &c.client_id], client_row)
                    .optional()?
                    .ok_or_else(|| {
                        other(format!(
                            "client {:?} belongs to another environment",
                            c.client_id
                        ))
                    })
            })
            .await
    }

    async fn save_client_metadata(&self, c: &ClientRecord) -> StoreResult<()> {
        let c = c.clone();
        self.pool
            .write(move |tx| {
                let n = cached_exec(
                    tx,
                    &format!(
                        "INSERT INTO clients ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                         ON CONFLICT (client_id) DO UPDATE SET metadata = excluded.metadata
                         WHERE clients.env_id = excluded.env_id"
                    ),
                    params![
                        c.env_id,
                        c.client_id,
                        c.kind.as_str(),
                        to_json(&c.metadata)?,
                        c.created_at,
                        c.disabled,
                        c.last_used_at,
                        c.registrations
                    ],
                )?;
                if n == 0 {
                    return Err(other(format!(
                        "client {:?} belongs to another environment",
                        c.client_id
                    )));
                }
                Ok(())
            })
            .await
    }

    async fn evict_unused_dynamic_clients(&self, env_id: &str, keep: u64) -> StoreResult<u64> {
        let env_id = env_id.to_owned();
        let keep = i64::try_from(keep).unwrap_or(i64::MAX);
        self.pool
            .write(move |tx| {
                let n = cached_exec(tx,
                    "DELETE FROM clients WHERE rowid IN (
                         SELECT rowid FROM clients
                         WHERE env_id = ?1 AND kind = 'dynamic' AND last_used_at IS NULL AND disabled = 0
                         ORDER BY created_at DESC, rowid DESC
                         LIMIT -1 OFFSET ?2)",
                    params![env_id, keep],
                )?;
                Ok(n as u64)
            })
            .await
    }

    async fn expire_client_secrets(
        &self,
        env_id: &str,
        client_id: &str,
        keep: &SecretHash,
        at: Timestamp,
    ) -> StoreResult<u64> {
        let (env_id, client_id, keep) = (env_id.to_owned(), client_id.to_owned(), keep.clone());
        self.pool
            .write(move |tx| {
                let n = cached_exec(
                    tx,
                    "UPDATE client_secrets SET expires_at = ?4
                     WHERE env_id = ?1 AND client_id = ?2 AND hash <> ?3
                       AND (expires_at IS NULL OR expires_at > ?4)",
                    params![env_id, client_id, keep.as_str(), at],
                )?;
                Ok(n as u64)
            })
            .await
    }

    async fn delete_client(&self, env_id: &str, client_id: &str) -> StoreResult<bool> {
        let (env_id, client_id) = (env_id.to_owned(), client_id.to_owned());
        self.pool
            .write(move |tx| {
                // client_secrets rows go with it (ON DELETE CASCADE).
                let n = cached_exec(
                    tx,
                    "DELETE FROM clients WHERE env_id = ?1 AND client_id = ?2",
                    [&env_id, &client_id],
                )?;
                Ok(n > 0)
            })
            .await
    }
}
