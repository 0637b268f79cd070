//! End users.

use async_trait::async_trait;
use gatehouse_store::{StoreResult, UserRecord, UserStore};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::SqliteStore;
use crate::error::DbResult;
use crate::sql::{cached_exec, cached_row};

const COLUMNS: &str = "id, env_id, email, name, password_hash, disabled, created_at";

fn user_row(row: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: row.get(0)?,
        env_id: row.get(1)?,
        email: row.get(2)?,
        name: row.get(3)?,
        password_hash: row.get(4)?,
        disabled: row.get(5)?,
        created_at: row.get(6)?,
    })
}

impl SqliteStore {
    async fn user_where(
        &self,
        clause: &'static str,
        env_id: &str,
        key: &str,
    ) -> StoreResult<Option<UserRecord>> {
        let (env_id, key) = (env_id.to_owned(), key.to_owned());
        self.pool
            .read(move |conn| user_by(conn, clause, &env_id, &key))
            .await
    }
}

/// A user by `clause` (`id` or `email`), on a reader's connection or in the caller's
/// transaction.
pub(crate) fn user_by(
    conn: &Connection,
    clause: &'static str,
    env_id: &str,
    key: &str,
) -> DbResult<Option<UserRecord>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE env_id = ?1 AND {clause} = ?2");
    Ok(cached_row(conn, &sql, [env_id, key], user_row).optional()?)
}

#[async_trait]
impl UserStore for SqliteStore {
    async fn create_user(&self, u: &UserRecord) -> StoreResult<()> {
        let u = u.clone();
        self.pool
            .write(move |tx| {
                cached_exec(
                    tx,
                    &format!("INSERT INTO users ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
                    params![
                        u.id,
                        u.env_id,
                        u.email,
                        u.name,
                        u.password_hash,
                        u.disabled,
                        u.created_at
                    ],
                )?;
                Ok(())
            })
            .await
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
        let env_id = env_id.to_owned();
        self.pool
            .read(move |conn| {
                let sql = format!("SELECT {COLUMNS} FROM users WHERE env_id = ?1 ORDER BY email");
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map([env_id], user_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn update_user(&self, u: &UserRecord) -> StoreResult<bool> {
        let u = u.clone();
        self.pool
            .write(move |tx| {
                let n = cached_exec(
                    tx,
                    "UPDATE users SET name = ?3, password_hash = ?4, disabled = ?5
                     WHERE env_id = ?1 AND id = ?2",
                    params![u.env_id, u.id, u.name, u.password_hash, u.disabled],
                )?;
                Ok(n > 0)
            })
            .await
    }
}
