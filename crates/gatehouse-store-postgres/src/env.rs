//! Environments and the configuration generation counter.

use async_trait::async_trait;
use gatehouse_store::{EnvironmentRecord, EnvironmentStore, Profile, StoreResult};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::PostgresStore;
use crate::error::DbResult;
use crate::sql::{col, json_col, parsed_col, rows, to_json};

const COLUMNS: &str = "id, issuer, profile, settings, created_at";

fn env_row(row: &Row) -> DbResult<EnvironmentRecord> {
    Ok(EnvironmentRecord {
        id: col(row, 0)?,
        issuer: col(row, 1)?,
        profile: parsed_col(row, 2, Profile::parse)?,
        settings: json_col(row, 3)?,
        created_at: col(row, 4)?,
    })
}

#[async_trait]
impl EnvironmentStore for PostgresStore {
    async fn create_environment(&self, env: &EnvironmentRecord) -> StoreResult<()> {
        let settings = to_json(&env.settings)?;
        let sql = format!("INSERT INTO environments ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
        let profile = env.profile.as_str();
        let args: [&(dyn ToSql + Sync); 5] =
            [&env.id, &env.issuer, &profile, &settings, &env.created_at];
        self.pool.get().await?.execute(&sql, &args).await?;
        Ok(())
    }

    async fn get_environment(&self, id: &str) -> StoreResult<Option<EnvironmentRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM environments WHERE id = $1");
        let row = self.pool.get().await?.query_opt(&sql, &[&id]).await?;
        Ok(row.as_ref().map(env_row).transpose()?)
    }

    async fn list_environments(&self) -> StoreResult<Vec<EnvironmentRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM environments ORDER BY created_at, id");
        let found = self.pool.get().await?.query(&sql, &[]).await?;
        Ok(rows(&found, env_row)?)
    }

    async fn update_environment(&self, env: &EnvironmentRecord) -> StoreResult<bool> {
        let settings = to_json(&env.settings)?;
        let profile = env.profile.as_str();
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE environments SET issuer = $2, profile = $3, settings = $4 WHERE id = $1",
                &[&env.id, &env.issuer, &profile, &settings],
            )
            .await?;
        Ok(n > 0)
    }

    async fn generation(&self) -> StoreResult<i64> {
        let sql = "SELECT value FROM config_generation WHERE id = 1";
        let row = self.pool.get().await?.query_one(sql, &[]).await?;
        Ok(col(&row, 0)?)
    }
}
