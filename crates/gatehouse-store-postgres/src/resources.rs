//! MCP servers (protected resources).

use async_trait::async_trait;
use gatehouse_store::{ResourceRecord, ResourceStore, StoreResult};
use tokio_postgres::Row;

use crate::PostgresStore;
use crate::error::DbResult;
use crate::sql::{col, json_col, rows, to_json};

const COLUMNS: &str =
    "id, env_id, name, uri, scopes, access_token_ttl, refresh_without_offline_access, created_at";

fn resource_row(row: &Row) -> DbResult<ResourceRecord> {
    Ok(ResourceRecord {
        id: col(row, 0)?,
        env_id: col(row, 1)?,
        name: col(row, 2)?,
        uri: col(row, 3)?,
        scopes: json_col(row, 4)?,
        access_token_ttl: col(row, 5)?,
        refresh_without_offline_access: col(row, 6)?,
        created_at: col(row, 7)?,
    })
}

#[async_trait]
impl ResourceStore for PostgresStore {
    async fn create_resource(&self, r: &ResourceRecord) -> StoreResult<()> {
        let scopes = to_json(&r.scopes)?;
        let sql =
            format!("INSERT INTO resources ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)");
        self.pool
            .get()
            .await?
            .execute(
                &sql,
                &[
                    &r.id,
                    &r.env_id,
                    &r.name,
                    &r.uri,
                    &scopes,
                    &r.access_token_ttl,
                    &r.refresh_without_offline_access,
                    &r.created_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn get_resource(&self, env_id: &str, id: &str) -> StoreResult<Option<ResourceRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM resources WHERE env_id = $1 AND id = $2");
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&env_id, &id])
            .await?;
        Ok(row.as_ref().map(resource_row).transpose()?)
    }

    async fn list_resources(&self, env_id: &str) -> StoreResult<Vec<ResourceRecord>> {
        let sql =
            format!("SELECT {COLUMNS} FROM resources WHERE env_id = $1 ORDER BY created_at, id");
        let found = self.pool.get().await?.query(&sql, &[&env_id]).await?;
        Ok(rows(&found, resource_row)?)
    }

    async fn update_resource(&self, r: &ResourceRecord) -> StoreResult<bool> {
        let scopes = to_json(&r.scopes)?;
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE resources SET name = $3, uri = $4, scopes = $5, access_token_ttl = $6,
                     refresh_without_offline_access = $7
                 WHERE env_id = $1 AND id = $2",
                &[
                    &r.env_id,
                    &r.id,
                    &r.name,
                    &r.uri,
                    &scopes,
                    &r.access_token_ttl,
                    &r.refresh_without_offline_access,
                ],
            )
            .await?;
        Ok(n > 0)
    }

    async fn delete_resource(&self, env_id: &str, id: &str) -> StoreResult<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "DELETE FROM resources WHERE env_id = $1 AND id = $2",
                &[&env_id, &id],
            )
            .await?;
        Ok(n > 0)
    }
}
