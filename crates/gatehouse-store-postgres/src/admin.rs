//! Administrators, their dashboard sessions and the admin API keys (server-wide: no
//! `env_id`).

use async_trait::async_trait;
use gatehouse_store::{
    AdminKeyRecord, AdminSessionRecord, AdminStore, AdminUserRecord, SecretHash, StoreResult,
    Timestamp,
};
use tokio_postgres::Row;

use crate::PostgresStore;
use crate::error::DbResult;
use crate::pool::Params;
use crate::sql::{col, hash_col, rows};

const KEY_COLUMNS: &str = "id, name, env_id, hash, created_at, last_used_at, revoked_at";

const USER_COLUMNS: &str = "id, email, password_hash, created_at, disabled";

const SESSION_COLUMNS: &str = "hash, admin_id, created_at, expires_at";

fn key_row(row: &Row) -> DbResult<AdminKeyRecord> {
    Ok(AdminKeyRecord {
        id: col(row, 0)?,
        name: col(row, 1)?,
        env_id: col(row, 2)?,
        hash: hash_col(row, 3)?,
        created_at: col(row, 4)?,
        last_used_at: col(row, 5)?,
        revoked_at: col(row, 6)?,
    })
}

fn user_row(row: &Row) -> DbResult<AdminUserRecord> {
    Ok(AdminUserRecord {
        id: col(row, 0)?,
        email: col(row, 1)?,
        password_hash: col(row, 2)?,
        created_at: col(row, 3)?,
        disabled: col(row, 4)?,
    })
}

fn session_row(row: &Row) -> DbResult<AdminSessionRecord> {
    Ok(AdminSessionRecord {
        hash: hash_col(row, 0)?,
        admin_id: col(row, 1)?,
        created_at: col(row, 2)?,
        expires_at: col(row, 3)?,
    })
}

impl PostgresStore {
    /// One administrator where `column` (`id` or `email`) equals `key`.
    async fn admin_user_where(
        &self,
        column: &'static str,
        key: &str,
    ) -> StoreResult<Option<AdminUserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM admin_users WHERE {column} = $1");
        let row = self.pool.get().await?.query_opt(&sql, &[&key]).await?;
        Ok(row.as_ref().map(user_row).transpose()?)
    }

    /// Runs one write statement; returns how many rows it changed.
    async fn admin_execute(&self, sql: &str, args: &Params<'_>) -> StoreResult<u64> {
        Ok(self.pool.get().await?.execute(sql, args).await?)
    }
}

#[async_trait]
impl AdminStore for PostgresStore {
    async fn create_admin_key(&self, k: &AdminKeyRecord) -> StoreResult<()> {
        let sql =
            format!("INSERT INTO admin_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)");
        let hash = k.hash.as_str();
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            &k.id,
            &k.name,
            &k.env_id,
            &hash,
            &k.created_at,
            &k.last_used_at,
            &k.revoked_at,
        ];
        self.admin_execute(&sql, &args).await?;
        Ok(())
    }

    async fn find_admin_key(&self, hash: &SecretHash) -> StoreResult<Option<AdminKeyRecord>> {
        let sql =
            format!("SELECT {KEY_COLUMNS} FROM admin_keys WHERE hash = $1 AND revoked_at IS NULL");
        let hash = hash.as_str();
        let row = self.pool.get().await?.query_opt(&sql, &[&hash]).await?;
        Ok(row.as_ref().map(key_row).transpose()?)
    }

    async fn list_admin_keys(&self) -> StoreResult<Vec<AdminKeyRecord>> {
        let sql = format!("SELECT {KEY_COLUMNS} FROM admin_keys ORDER BY created_at, id");
        let found = self.pool.get().await?.query(&sql, &[]).await?;
        Ok(rows(&found, key_row)?)
    }

    /// `COALESCE` keeps the first revocation time; the row counts as changed either way.
    async fn revoke_admin_key(&self, id: &str, now: Timestamp) -> StoreResult<bool> {
        let sql = "UPDATE admin_keys SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1";
        Ok(self.admin_execute(sql, &[&id, &now]).await? > 0)
    }

    async fn touch_admin_key(&self, id: &str, now: Timestamp) -> StoreResult<bool> {
        let sql = "UPDATE admin_keys SET last_used_at = $2 WHERE id = $1";
        Ok(self.admin_execute(sql, &[&id, &now]).await? > 0)
    }

    async fn create_admin_user(&self, u: &AdminUserRecord) -> StoreResult<()> {
        let sql = format!("INSERT INTO admin_users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
            &u.id,
            &u.email,
            &u.password_hash,
            &u.created_at,
            &u.disabled,
        ];
        self.admin_execute(&sql, &args).await?;
        Ok(())
    }

    async fn get_admin_user(&self, id: &str) -> StoreResult<Option<AdminUserRecord>> {
        self.admin_user_where("id", id).await
    }

    async fn get_admin_user_by_email(&self, email: &str) -> StoreResult<Option<AdminUserRecord>> {
        self.admin_user_where("email", email).await
    }

    async fn list_admin_users(&self) -> StoreResult<Vec<AdminUserRecord>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM admin_users ORDER BY email");
        let found = self.pool.get().await?.query(&sql, &[]).await?;
        Ok(rows(&found, user_row)?)
    }

    async fn update_admin_user(&self, u: &AdminUserRecord) -> StoreResult<bool> {
        let sql = "UPDATE admin_users SET password_hash = $2, disabled = $3 WHERE id = $1";
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&u.id, &u.password_hash, &u.disabled];
        Ok(self.admin_execute(sql, &args).await? > 0)
    }

    async fn create_admin_session(&self, s: &AdminSessionRecord) -> StoreResult<()> {
        let sql = format!("INSERT INTO admin_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4)");
        let hash = s.hash.as_str();
        let args: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&hash, &s.admin_id, &s.created_at, &s.expires_at];
        self.admin_execute(&sql, &args).await?;
        Ok(())
    }

    async fn get_admin_session(
        &self,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<AdminSessionRecord>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM admin_sessions WHERE hash = $1 AND expires_at > $2"
        );
        let hash = hash.as_str();
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&hash, &now])
            .await?;
        Ok(row.as_ref().map(session_row).transpose()?)
    }

    async fn delete_admin_session(&self, hash: &SecretHash) -> StoreResult<bool> {
        let sql = "DELETE FROM admin_sessions WHERE hash = $1";
        Ok(self.admin_execute(sql, &[&hash.as_str()]).await? > 0)
    }

    async fn delete_admin_sessions_of(&self, admin_id: &str) -> StoreResult<u64> {
        let sql = "DELETE FROM admin_sessions WHERE admin_id = $1";
        self.admin_execute(sql, &[&admin_id]).await
    }
}
