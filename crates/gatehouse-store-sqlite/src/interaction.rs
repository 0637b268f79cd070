//! Browser sessions and pending authorizations.

use async_trait::async_trait;
use gatehouse_store::{
    InteractionStore, PendingAuthorizationRecord, SecretHash, SessionRecord, StoreResult, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::SqliteStore;
use crate::error::DbResult;
use crate::sql::{cached_exec, cached_row, hash_col};

const SESSION_COLUMNS: &str = "hash, env_id, user_id, auth_time, expires_at";

const PENDING_COLUMNS: &str = "hash, env_id, client_id, redirect_uri, resource_id, scope, state, \
     nonce, code_challenge, prompt, max_age, browser_hash, correlation_id, user_id, auth_time, created_at, \
     expires_at";

fn session_row(row: &Row<'_>) -> rusqlite::Result<SessionRecord> {
    Ok(SessionRecord {
        hash: hash_col(row, 0)?,
        env_id: row.get(1)?,
        user_id: row.get(2)?,
        auth_time: row.get(3)?,
        expires_at: row.get(4)?,
    })
}

fn pending_row(row: &Row<'_>) -> rusqlite::Result<PendingAuthorizationRecord> {
    Ok(PendingAuthorizationRecord {
        hash: hash_col(row, 0)?,
        env_id: row.get(1)?,
        client_id: row.get(2)?,
        redirect_uri: row.get(3)?,
        resource_id: row.get(4)?,
        scope: row.get(5)?,
        state: row.get(6)?,
        nonce: row.get(7)?,
        code_challenge: row.get(8)?,
        prompt: row.get(9)?,
        max_age: row.get(10)?,
        browser_hash: hash_col(row, 11)?,
        correlation_id: row.get(12)?,
        user_id: row.get(13)?,
        auth_time: row.get(14)?,
        created_at: row.get(15)?,
        expires_at: row.get(16)?,
    })
}

/// A session that has not expired at `now`, on a reader's connection.
pub(crate) fn session_by_hash(
    conn: &Connection,
    env_id: &str,
    hash: &str,
    now: Timestamp,
) -> DbResult<Option<SessionRecord>> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions
         WHERE hash = ?1 AND env_id = ?2 AND expires_at > ?3"
    );
    Ok(cached_row(conn, &sql, params![hash, env_id, now], session_row).optional()?)
}

#[async_trait]
impl InteractionStore for SqliteStore {
    async fn create_session(&self, s: &SessionRecord) -> StoreResult<()> {
        let s = s.clone();
        self.pool
            .write(move |tx| {
                cached_exec(
                    tx,
                    &format!(
                        "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"
                    ),
                    params![
                        s.hash.as_str(),
                        s.env_id,
                        s.user_id,
                        s.auth_time,
                        s.expires_at
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn get_session(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<SessionRecord>> {
        let (env_id, hash) = (env_id.to_owned(), hash.clone());
        self.pool
            .read(move |conn| session_by_hash(conn, &env_id, hash.as_str(), now))
            .await
    }

    async fn delete_session(&self, env_id: &str, hash: &SecretHash) -> StoreResult<bool> {
        let (env_id, hash) = (env_id.to_owned(), hash.clone());
        self.pool
            .write(move |tx| {
                let n = cached_exec(
                    tx,
                    "DELETE FROM sessions WHERE hash = ?1 AND env_id = ?2",
                    params![hash.as_str(), env_id],
                )?;
                Ok(n > 0)
            })
            .await
    }

    async fn create_pending(&self, p: &PendingAuthorizationRecord) -> StoreResult<()> {
        let p = p.clone();
        self.pool
            .write(move |tx| {
                cached_exec(tx,
                    &format!(
                        "INSERT INTO pending_authorizations ({PENDING_COLUMNS})
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)"
                    ),
                    params![
                        p.hash.as_str(),
                        p.env_id,
                        p.client_id,
                        p.redirect_uri,
                        p.resource_id,
                        p.scope,
                        p.state,
                        p.nonce,
                        p.code_challenge,
                        p.prompt,
                        p.max_age,
                        p.browser_hash.as_str(),
                        p.correlation_id,
                        p.user_id,
                        p.auth_time,
                        p.created_at,
                        p.expires_at
                    ],
                )?;
                Ok(())
            })
            .await
    }

    async fn get_pending(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<PendingAuthorizationRecord>> {
        let (env_id, hash) = (env_id.to_owned(), hash.clone());
        self.pool
            .read(move |conn| {
                let sql = format!(
                    "SELECT {PENDING_COLUMNS} FROM pending_authorizations
                     WHERE hash = ?1 AND env_id = ?2 AND expires_at > ?3"
                );
                Ok(
                    cached_row(conn, &sql, params![hash.as_str(), env_id, now], pending_row)
                        .optional()?,
                )
            })
            .await
    }

    async fn list_sessions(
        &self,
        env_id: &str,
        user_id: &str,
        now: Timestamp,
    ) -> StoreResult<Vec<SessionRecord>> {
        let (env_id, user_id) = (env_id.to_owned(), user_id.to_owned());
        self.pool
            .read(move |conn| {
                let sql = format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions
                     WHERE env_id = ?1 AND user_id = ?2 AND expires_at > ?3
                     ORDER BY auth_time DESC, hash"
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params![env_id, user_id, now], session_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn delete_user_sessions(&self, env_id: &str, user_id: &str) -> StoreResult<u64> {
        let (env_id, user_id) = (env_id.to_owned(), user_id.to_owned());
        self.pool
            .write(move |tx| {
                let n = cached_exec(
                    tx,
                    "DELETE FROM sessions WHERE env_id = ?1 AND user_id = ?2",
                    [&env_id, &user_id],
                )?;
                Ok(n as u64)
            })
            .await
    }

    async fn set_pending_user(
        &self,
        env_id: &str,
        hash: &SecretHash,
        user_id: &str,
        auth_time: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (env_id, hash, user_id) = (env_id.to_owned(), hash.clone(), user_id.to_owned());
        self.pool
            .write(move |tx| {
                let n = cached_exec(
                    tx,
                    "UPDATE pending_authorizations SET user_id = ?3, auth_time = ?4
                     WHERE hash = ?1 AND env_id = ?2 AND expires_at > ?5",
                    params![hash.as_str(), env_id, user_id, auth_time, now],
                )?;
                Ok(n > 0)
            })
            .await
    }

    /// One `DELETE … RETURNING` statement: the row goes to whichever caller deletes it.
    async fn take_pending(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<PendingAuthorizationRecord>> {
        let (env_id, hash) = (env_id.to_owned(), hash.clone());
        self.pool
            .write(move |tx| {
                let sql = format!(
                    "DELETE FROM pending_authorizations
                     WHERE hash = ?1 AND env_id = ?2 AND expires_at > ?3
                     RETURNING {PENDING_COLUMNS}"
                );
                Ok(
                    cached_row(tx, &sql, params![hash.as_str(), env_id, now], pending_row)
                        .optional()?,
                )
            })
            .await
    }
}
