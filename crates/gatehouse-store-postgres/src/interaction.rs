//! Browser sessions and pending authorizations.

use async_trait::async_trait;
use gatehouse_store::{
    InteractionStore, PendingAuthorizationRecord, SecretHash, SessionRecord, StoreResult, Timestamp,
};
use tokio_postgres::Row;

use crate::PostgresStore;
use crate::error::DbResult;
use crate::sql::{col, hash_col, rows};

const SESSION_COLUMNS: &str = "hash, env_id, user_id, auth_time, expires_at";

const PENDING_COLUMNS: &str = "hash, env_id, client_id, redirect_uri, resource_id, scope, state, \
     nonce, code_challenge, prompt, max_age, browser_hash, correlation_id, user_id, auth_time, \
     created_at, expires_at";

fn session_row(row: &Row) -> DbResult<SessionRecord> {
    Ok(SessionRecord {
        hash: hash_col(row, 0)?,
        env_id: col(row, 1)?,
        user_id: col(row, 2)?,
        auth_time: col(row, 3)?,
        expires_at: col(row, 4)?,
    })
}

fn pending_row(row: &Row) -> DbResult<PendingAuthorizationRecord> {
    Ok(PendingAuthorizationRecord {
        hash: hash_col(row, 0)?,
        env_id: col(row, 1)?,
        client_id: col(row, 2)?,
        redirect_uri: col(row, 3)?,
        resource_id: col(row, 4)?,
        scope: col(row, 5)?,
        state: col(row, 6)?,
        nonce: col(row, 7)?,
        code_challenge: col(row, 8)?,
        prompt: col(row, 9)?,
        max_age: col(row, 10)?,
        browser_hash: hash_col(row, 11)?,
        correlation_id: col(row, 12)?,
        user_id: col(row, 13)?,
        auth_time: col(row, 14)?,
        created_at: col(row, 15)?,
        expires_at: col(row, 16)?,
    })
}

#[async_trait]
impl InteractionStore for PostgresStore {
    async fn create_session(&self, s: &SessionRecord) -> StoreResult<()> {
        let sql = format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)");
        let hash = s.hash.as_str();
        self.pool
            .get()
            .await?
            .execute(
                &sql,
                &[&hash, &s.env_id, &s.user_id, &s.auth_time, &s.expires_at],
            )
            .await?;
        Ok(())
    }

    async fn get_session(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions
             WHERE hash = $1 AND env_id = $2 AND expires_at > $3"
        );
        let hash = hash.as_str();
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&hash, &env_id, &now])
            .await?;
        Ok(row.as_ref().map(session_row).transpose()?)
    }

    async fn delete_session(&self, env_id: &str, hash: &SecretHash) -> StoreResult<bool> {
        let hash = hash.as_str();
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "DELETE FROM sessions WHERE hash = $1 AND env_id = $2",
                &[&hash, &env_id],
            )
            .await?;
        Ok(n > 0)
    }

    async fn create_pending(&self, p: &PendingAuthorizationRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO pending_authorizations ({PENDING_COLUMNS})
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
        );
        let (hash, browser_hash) = (p.hash.as_str(), p.browser_hash.as_str());
        self.pool
            .get()
            .await?
            .execute(
                &sql,
                &[
                    &hash,
                    &p.env_id,
                    &p.client_id,
                    &p.redirect_uri,
                    &p.resource_id,
                    &p.scope,
                    &p.state,
                    &p.nonce,
                    &p.code_challenge,
                    &p.prompt,
                    &p.max_age,
                    &browser_hash,
                    &p.correlation_id,
                    &p.user_id,
                    &p.auth_time,
                    &p.created_at,
                    &p.expires_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn get_pending(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<PendingAuthorizationRecord>> {
        let sql = format!(
            "SELECT {PENDING_COLUMNS} FROM pending_authorizations
             WHERE hash = $1 AND env_id = $2 AND expires_at > $3"
        );
        let hash = hash.as_str();
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&hash, &env_id, &now])
            .await?;
        Ok(row.as_ref().map(pending_row).transpose()?)
    }

    async fn list_sessions(
        &self,
        env_id: &str,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionRecord>> {
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions
             WHERE env_id = $1 AND user_id = $2 AND expires_at > $3
             ORDER BY auth_time DESC, hash"
        );
        let found = self
            .pool
            .get()
            .await?
            .query(&sql, &[&env_id, &user_id, &now])
            .await?;
        Ok(rows(&found, session_row)?)
    }

    async fn delete_user_sessions(&self, env_id: &str, user_id: &str) -> StoreResult<u64> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "DELETE FROM sessions WHERE env_id = $1 AND user_id = $2",
                &[&env_id, &user_id],
            )
            .await?;
        Ok(n)
    }

    async fn set_pending_user(
        &self,
        env_id: &str,
        hash: &SecretHash,
        user_id: &str,
        auth_time: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let hash = hash.as_str();
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "UPDATE pending_authorizations SET user_id = $3, auth_time = $4
                 WHERE hash = $1 AND env_id = $2 AND expires_at > $5",
                &[&hash, &env_id, &user_id, &auth_time, &now],
            )
            .await?;
        Ok(n > 0)
    }

    /// One `DELETE … RETURNING` statement: the row goes to whichever caller deletes it; a
    /// racing caller waits for the row lock and then finds the row gone.
    async fn take_pending(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<PendingAuthorizationRecord>> {
        let sql = format!(
            "DELETE FROM pending_authorizations
             WHERE hash = $1 AND env_id = $2 AND expires_at > $3
             RETURNING {PENDING_COLUMNS}"
        );
        let hash = hash.as_str();
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&hash, &env_id, &now])
            .await?;
        Ok(row.as_ref().map(pending_row).transpose()?)
    }
}
