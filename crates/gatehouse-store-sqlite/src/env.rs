//! Environments and the configuration generation counter.

use async_trait::async_trait;
use gatehouse_store::{EnvironmentRecord, EnvironmentStore, Profile, StoreResult};
use rusqlite::{OptionalExtension, Row, params};

use crate::SqliteStore;
use crate::sql::{json_col, parsed_col, to_json};

const COLUMNS: &str = "id, issuer, profile, settings, created_at";

fn env_row(row: &Row<'_>) -> rusqlite::Result<EnvironmentRecord> {
    Ok(EnvironmentRecord {
        id: row.get(0)?,
        issuer: row.get(1)?,
        profile: parsed_col(row, 2, Profile::parse)?,
        settings: json_col(row, 3)?,
        created_at: row.get(4)?,
    })
}

#[async_trait]
impl EnvironmentStore for SqliteStore {
    async fn create_environment(&self, env: &EnvironmentRecord) -> StoreResult<()> {
        let env = env.clone();
        self.pool
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO environments (id, issuer, profile, settings, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        env.id,
                        env.issuer,
                        env.profile.as_str(),
                        to_json(&env.settings)?,
                        env.created_at
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn get_environment(&self, id: &str) -> StoreResult<Option<EnvironmentRecord>> {
        let id = id.to_owned();
        self.pool
            .read(move |conn| {
                let sql = format!("SELECT {COLUMNS} FROM environments WHERE id = ?1");
                Ok(conn.query_row(&sql, [id], env_row).optional()?)
            })
            .await
    }

    async fn list_environments(&self) -> StoreResult<Vec<EnvironmentRecord>> {
        self.pool
            .read(|conn| {
                let sql = format!("SELECT {COLUMNS} FROM environments ORDER BY created_at, id");
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map([], env_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn update_environment(&self, env: &EnvironmentRecord) -> StoreResult<bool> {
        let env = env.clone();
        self.pool
            .write(move |tx| {
                let n = tx.execute(
                    "UPDATE environments SET issuer = ?2, profile = ?3, settings = ?4 WHERE id = ?1",
                    params![env.id, env.issuer, env.profile.as_str(), to_json(&env.settings)?],
                )?;
                Ok(n > 0)
            })
            .await
    }

    async fn generation(&self) -> StoreResult<i64> {
        self.pool
            .read(|conn| {
                let sql = "SELECT value FROM config_generation WHERE id = 1";
                Ok(conn.query_row(sql, [], |r| r.get(0))?)
            })
            .await
    }
}
