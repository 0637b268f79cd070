//! MCP servers (protected resources).

use async_trait::async_trait;
use gatehouse_store::{ResourceRecord, ResourceStore, StoreResult};
use rusqlite::{OptionalExtension, Row, params};

use crate::SqliteStore;
use crate::sql::{json_col, to_json};

const COLUMNS: &str =
    "id, env_id, name, uri, scopes, access_token_ttl, refresh_without_offline_access, created_at";

fn resource_row(row: &Row<'_>) -> rusqlite::Result<ResourceRecord> {
    Ok(ResourceRecord {
        id: row.get(0)?,
        env_id: row.get(1)?,
        name: row.get(2)?,
        uri: row.get(3)?,
        scopes: json_col(row, 4)?,
        access_token_ttl: row.get(5)?,
        refresh_without_offline_access: row.get(6)?,
        created_at: row.get(7)?,
    })
}

#[async_trait]
impl ResourceStore for SqliteStore {
    async fn create_resource(&self, r: &ResourceRecord) -> StoreResult<()> {
        let r = r.clone();
        self.pool
            .write(move |tx| {
                tx.execute(
                    &format!(
                        "INSERT INTO resources ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    ),
                    params![
                        r.id,
                        r.env_id,
                        r.name,
                        r.uri,
                        to_json(&r.scopes)?,
                        r.access_token_ttl,
                        r.refresh_without_offline_access,
                        r.created_at
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn get_resource(&self, env_id: &str, id: &str) -> StoreResult<Option<ResourceRecord>> {
        let (env_id, id) = (env_id.to_owned(), id.to_owned());
        self.pool
            .read(move |conn| {
                let sql = format!("SELECT {COLUMNS} FROM resources WHERE env_id = ?1 AND id = ?2");
                Ok(conn
                    .query_row(&sql, [env_id, id], resource_row)
                    .optional()?)
            })
            .await
    }

    async fn list_resources(&self, env_id: &str) -> StoreResult<Vec<ResourceRecord>> {
        let env_id = env_id.to_owned();
        self.pool
            .read(move |conn| {
                let sql = format!(
                    "SELECT {COLUMNS} FROM resources WHERE env_id = ?1 ORDER BY created_at, id"
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map([env_id], resource_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn update_resource(&self, r: &ResourceRecord) -> StoreResult<bool> {
        let r = r.clone();
        self.pool
            .write(move |tx| {
                let n = tx.execute(
                    "UPDATE resources SET name = ?3, uri = ?4, scopes = ?5, access_token_ttl = ?6,
                         refresh_without_offline_access = ?7
                     WHERE env_id = ?1 AND id = ?2",
                    params![
                        r.env_id,
                        r.id,
                        r.name,
                        r.uri,
                        to_json(&r.scopes)?,
                        r.access_token_ttl,
                        r.refresh_without_offline_access
                    ],
                )?;
                Ok(n > 0)
            })
            .await
    }

    async fn delete_resource(&self, env_id: &str, id: &str) -> StoreResult<bool> {
        let (env_id, id) = (env_id.to_owned(), id.to_owned());
        self.pool
            .write(move |tx| {
                let n = tx.execute(
                    "DELETE FROM resources WHERE env_id = ?1 AND id = ?2",
                    [&env_id, &id],
                )?;
                Ok(n > 0)
            })
            .await
    }
}
