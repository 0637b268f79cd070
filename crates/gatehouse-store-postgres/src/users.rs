//! End users.

use async_trait::async_trait;
use gatehouse_store::{StoreResult, UserRecord, UserStore};
use tokio_postgres::Row;

use crate::PostgresStore;
use crate::error::DbResult;
use crate::sql::{col, rows};

const COLUMNS: &str = "id, env_id, email, name, password_hash, disabled, created_at";

fn user_row(row: &Row) -> DbResult<UserRecord> {
    Ok(UserRecord {
        id: col(row, 0)?,
        env_id: col(row, 1)?,
        email: col(row, 2)?,
        name: col(row, 3)?,
        password_hash: col(row, 4)?,
        disabled: col(row, 5)?,
        created_at: col(row, 6)?,
    })
}

impl PostgresStore {
    /// The user of the environment whose `column` (`id` or `email`) is `key`.
    async fn user_where(
        &self,
        column: &'static str,
        env_id: &str,
        key: &str,
    ) -> StoreResult<Option<UserRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE env_id = $1 AND {column} = $2");
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&env_id, &key])
            .await?;
        Ok(row.as_ref().map(user_row).transpose()?)
    }
}

#[async_trait]
impl UserStore for PostgresStore {
    async fn create_user(&self, u: &UserRecord) -> StoreResult<()> {
        let sql = format!("INSERT INTO users ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        self.pool
            .get()
            .await?
            .execute(
                &sql,
                &[
                    &u.id,
                    &u.env_id,
                    &u.email,
                    &u.name,
                    &u.password_hash,
                    &u.disabled,
                    &u.created_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn get_user(&self, env_id: &str, id: &str) -> StoreResult<Option<UserRecord>> {
        self.user_where("id", env_id, id).await
    }

    async fn get_user_by_email(
        &self,
        env_id: &str,
        email: &str,
    ) -> StoreResult<Option<UserRecord>> {
        self.user_where("email", env_id, email).await
    }

    async fn list_users(&self, env_id: &str) -> StoreResult<Vec<UserRecord>> {
        let sql = format!("SELECT {COLUMNS} FROM users WHERE env_id = $1 ORDER BY email");
        let found = self.pool.get().await?.query(&sql, &[&env_id]).await?;
        Ok(rows(&found, user_row)?)
    }

    async fn update_user(&self, u: &UserRecord) -> StoreResult<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE users SET name = $3, password_hash = $4, disabled = $5
                 WHERE env_id = $1 AND id = $2",
                &[&u.env_id, &u.id, &u.name, &u.password_hash, &u.disabled],
            )
            .await?;
        Ok(n > 0)
    }
}
