//! Administrators, their dashboard sessions and the admin API keys (server-wide: no
//! `env_id`).

use async_trait::async_trait;
use gatehouse_store::{
    AdminKeyRecord, AdminSessionRecord, AdminStore, AdminUserRecord, SecretHash, StoreResult,
    Timestamp,
};
use rusqlite::{OptionalExtension, Row, params};

use crate::SqliteStore;
use crate::sql::hash_col;

const KEY_COLUMNS: &str = "id, name, env_id, hash, created_at, last_used_at, revoked_at";

const USER_COLUMNS: &str = "id, email, password_hash, created_at, disabled";

const SESSION_COLUMNS: &str = "hash, admin_id, created_at, expires_at";

fn key_row(row: &Row<'_>) -> rusqlite::Result<AdminKeyRecord> {
    Ok(AdminKeyRecord {
        id: row.get(0)?,
        name: row.get(1)?,
        env_id: row.get(2)?,
        hash: hash_col(row, 3)?,
        created_at: row.get(4)?,
        last_used_at: row.get(5)?,
        revoked_at: row.get(6)?,
    })
}

fn user_row(row: &Row<'_>) -> rusqlite::Result<AdminUserRecord> {
    Ok(AdminUserRecord {
        id: row.get(0)?,
        email: row.get(1)?,
        password_hash: row.get(2)?,
        created_at: row.get(3)?,
        disabled: row.get(4)?,
    })
}

fn session_row(row: &Row<'_>) -> rusqlite::Result<AdminSessionRecord> {
    Ok(AdminSessionRecord {
        hash: hash_col(row, 0)?,
        admin_id: row.get(1)?,
        created_at: row.get(2)?,
        expires_at: row.get(3)?,
    })
}

impl SqliteStore {
    /// One administrator where `column` (`id` or `email`) equals `key`.
    async fn admin_user_where(
        &self,
        column: &'static str,
        key: &str,
    ) -> StoreResult<Option<AdminUserRecord>> {
        let key = key.to_owned();
        self.pool
            .read(move |conn| {
                let sql = format!("SELECT {USER_COLUMNS} FROM admin_users WHERE {column} = ?1");
                Ok(conn.query_row(&sql, [key], user_row).optional()?)
            })
            .await
    }

    /// Runs one write statement with `args`; returns how many rows it changed.
    async fn admin_execute<P>(&self, sql: &'static str, args: P) -> StoreResult<u64>
    where
        P: rusqlite::Params + Clone + Send + 'static,
    {
        self.pool
            .write(move |tx| Ok(tx.execute(sql, args.clone())? as u64))
            .await
    }
}

#[async_trait]
impl AdminStore for SqliteStore {
    async fn create_admin_key(&self, k: &AdminKeyRecord) -> StoreResult<()> {
        let k = k.clone();
        self.pool
            .write(move |tx| {
                tx.execute(
                    &format!(
                        "INSERT INTO admin_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                    ),
                    params![
                        k.id,
                        k.name,
                        k.env_id,
                        k.hash.as_str(),
                        k.created_at,
                        k.last_used_at,
                        k.revoked_at
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn find_admin_key(&self, hash: &SecretHash) -> StoreResult<Option<AdminKeyRecord>> {
        let hash = hash.clone();
        self.pool
            .read(move |conn| {
                let sql = format!(
                    "SELECT {KEY_COLUMNS} FROM admin_keys WHERE hash = ?1 AND revoked_at IS NULL"
                );
                Ok(conn.query_row(&sql, [hash.as_str()], key_row).optional()?)
            })
            .await
    }

    async fn list_admin_keys(&self) -> StoreResult<Vec<AdminKeyRecord>> {
        self.pool
            .read(move |conn| {
                let sql = format!("SELECT {KEY_COLUMNS} FROM admin_keys ORDER BY created_at, id");
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map([], key_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// `COALESCE` keeps the first revocation time; the row counts as changed either way.
    async fn revoke_admin_key(&self, id: &str, now: Timestamp) -> StoreResult<bool> {
        let sql = "UPDATE admin_keys SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1";
        Ok(self.admin_execute(sql, (id.to_owned(), now)).await? > 0)
    }

    async fn touch_admin_key(&self, id: &str, now: Timestamp) -> StoreResult<bool> {
        let sql = "UPDATE admin_keys SET last_used_at = ?2 WHERE id = ?1";
        Ok(self.admin_execute(sql, (id.to_owned(), now)).await? > 0)
    }

    async fn create_admin_user(&self, u: &AdminUserRecord) -> StoreResult<()> {
        let u = u.clone();
        self.pool
            .write(move |tx| {
                tx.execute(
                    &format!(
                        "INSERT INTO admin_users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"
                    ),
                    params![u.id, u.email, u.password_hash, u.created_at, u.disabled],
                )?;
                Ok(())
            })
            .await
    }

    async fn get_admin_user(&self, id: &str) -> StoreResult<Option<AdminUserRecord>> {
        self.admin_user_where("id", id).await
    }

    async fn get_admin_user_by_email(&self, email: &str) -> StoreResult<Option<AdminUserRecord>> {
        self.admin_user_where("email", email).await
    }

    async fn list_admin_users(&self) -> StoreResult<Vec<AdminUserRecord>> {
        self.pool
            .read(move |conn| {
                let sql = format!("SELECT {USER_COLUMNS} FROM admin_users ORDER BY email");
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map([], user_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn update_admin_user(&self, u: &AdminUserRecord) -> StoreResult<bool> {
        let sql = "UPDATE admin_users SET password_hash = ?2, disabled = ?3 WHERE id = ?1";
        let args = (u.id.clone(), u.password_hash.clone(), u.disabled);
        Ok(self.admin_execute(sql, args).await? > 0)
    }

    async fn create_admin_session(&self, s: &AdminSessionRecord) -> StoreResult<()> {
        let s = s.clone();
        self.pool
            .write(move |tx| {
                tx.execute(
                    &format!(
                        "INSERT INTO admin_sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4)"
                    ),
                    params![s.hash.as_str(), s.admin_id, s.created_at, s.expires_at],
                )?;
                Ok(())
            })
            .await
    }

    async fn get_admin_session(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<AdminSessionRecord>> {
        let hash = hash.clone();
        self.pool
            .read(move |conn| {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM admin_sessions WHERE hash = ?1 AND expires_at > ?2"
                );
                Ok(conn
                    .query_row(&sql, params![hash.as_str(), now], session_row)
                    .optional()?)
            })
            .await
    }

    async fn delete_admin_session(&self, hash: &SecretHash) -> StoreResult<bool> {
        let sql = "DELETE FROM admin_sessions WHERE hash = ?1";
        Ok(self.admin_execute(sql, [hash.as_str().to_owned()]).await? > 0)
    }

    async fn delete_admin_sessions_of(&self, admin_id: &str) -> StoreResult<u64> {
        let sql = "DELETE FROM admin_sessions WHERE admin_id = ?1";
        self.admin_execute(sql, [admin_id.to_owned()]).await
    }
}
