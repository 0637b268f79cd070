//! Consents and grants.

use async_trait::async_trait;
use gatehouse_store::{
    AuthCodeRecord, ConsentRecord, GrantRecord, GrantStore, StoreResult, Timestamp,
};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params, params_from_iter};

use crate::SqliteStore;
use crate::error::{DbResult, other};
use crate::sql::{Filter, cached_exec, cached_row};
use crate::tokens::insert_code;

const CONSENT_COLUMNS: &str =
    "env_id, user_id, client_id, resource_id, scope, granted_at, updated_at";

pub(crate) const GRANT_COLUMNS: &str = "id, env_id, client_id, user_id, resource_id, scope, auth_time, correlation_id, created_at, revoked_at, \
     revoked_reason";

/// How many columns [`GRANT_COLUMNS`] lists.
pub(crate) const GRANT_COLUMN_COUNT: usize = 11;

fn consent_row(row: &Row<'_>) -> rusqlite::Result<ConsentRecord> {
    Ok(ConsentRecord {
        env_id: row.get(0)?,
        user_id: row.get(1)?,
        client_id: row.get(2)?,
        resource_id: row.get(3)?,
        scope: row.get(4)?,
        granted_at: row.get(5)?,
        updated_at: row.get(6)?,
    })
}

fn grant_row(row: &Row<'_>) -> rusqlite::Result<GrantRecord> {
    grant_row_at(row, 0)
}

/// A grant from the [`GRANT_COLUMNS`] that start at column `at` of the row.
pub(crate) fn grant_row_at(row: &Row<'_>, at: usize) -> rusqlite::Result<GrantRecord> {
    Ok(GrantRecord {
        id: row.get(at)?,
        env_id: row.get(at + 1)?,
        client_id: row.get(at + 2)?,
        user_id: row.get(at + 3)?,
        resource_id: row.get(at + 4)?,
        scope: row.get(at + 5)?,
        auth_time: row.get(at + 6)?,
        correlation_id: row.get(at + 7)?,
        created_at: row.get(at + 8)?,
        revoked_at: row.get(at + 9)?,
        revoked_reason: row.get(at + 10)?,
    })
}

fn insert_grant(tx: &Transaction<'_>, g: &GrantRecord) -> DbResult<()> {
    cached_exec(
        tx,
        &format!(
            "INSERT INTO grants ({GRANT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ),
        params![
            g.id,
            g.env_id,
            g.client_id,
            g.user_id,
            g.resource_id,
            g.scope,
            g.auth_time,
            g.correlation_id,
            g.created_at,
            g.revoked_at,
            g.revoked_reason
        ],
    )?;
    Ok(())
}

/// The consent of `[env_id, user_id, client_id, resource_id]`, on a reader's connection.
pub(crate) fn consent_by_key(
    conn: &Connection,
    key: &[String; 4],
) -> DbResult<Option<ConsentRecord>> {
    let sql = format!(
        "SELECT {CONSENT_COLUMNS} FROM consents
         WHERE env_id = ?1 AND user_id = ?2 AND client_id = ?3 AND resource_id = ?4"
    );
    Ok(cached_row(conn, &sql, params_from_iter(key), consent_row).optional()?)
}

/// A grant by id, on a reader's connection or in the caller's transaction.
pub(crate) fn grant_by_id(
    conn: &Connection,
    env_id: &str,
    id: &str,
) -> DbResult<Option<GrantRecord>> {
    let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE env_id = ?1 AND id = ?2");
    Ok(cached_row(conn, &sql, [env_id, id], grant_row).optional()?)
}

/// The grant and its code in the caller's transaction: the code must name the grant.
fn insert_grant_with_code(
    tx: &Transaction<'_>,
    g: &GrantRecord,
    c: &AuthCodeRecord,
) -> DbResult<()> {
    if c.grant_id != g.id || c.env_id != g.env_id {
        return Err(other(format!(
            "the code of grant {:?} of environment {:?} names grant {:?} of environment {:?}",
            g.id, g.env_id, c.grant_id, c.env_id
        )));
    }
    insert_grant(tx, g)?;
    insert_code(tx, c)
}

/// Revokes a grant, keeping an earlier revocation's time and reason. Its refresh tokens are
/// revoked with it: every read of a token joins the grant and takes the grant's revocation
/// as the token's, so no token row is written (and none is looked up by grant). Returns
/// whether the grant exists. Part of the caller's transaction.
pub(crate) fn revoke_family(
    tx: &Transaction<'_>,
    env_id: &str,
    id: &str,
    reason: &str,
    now: Timestamp,
) -> DbResult<bool> {
    let exists = cached_row(
        tx,
        "SELECT 1 FROM grants WHERE env_id = ?1 AND id = ?2",
        [env_id, id],
        |_| Ok(()),
    )
    .optional()?
    .is_some();
    if !exists {
        return Ok(false);
    }
    cached_exec(
        tx,
        "UPDATE grants SET revoked_at = ?3, revoked_reason = ?4
         WHERE env_id = ?1 AND id = ?2 AND revoked_at IS NULL",
        params![env_id, id, now, reason],
    )?;
    Ok(true)
}

/// Deletes the consent, then revokes the unrevoked grants of the same user, client and
/// resource with their refresh tokens, in the caller's transaction.
fn revoke_consent_tx(tx: &Transaction<'_>, key: &[String; 4], now: Timestamp) -> DbResult<bool> {
    let [env_id, user_id, client_id, resource_id] = key;
    let existed = cached_exec(
        tx,
        "DELETE FROM consents WHERE env_id = ?1 AND user_id = ?2 AND client_id = ?3 AND resource_id = ?4",
        [env_id, user_id, client_id, resource_id],
    )? > 0;
    let mut stmt = tx.prepare_cached(
        "SELECT id FROM grants
         WHERE env_id = ?1 AND user_id = ?2 AND client_id = ?3 AND resource_id = ?4
           AND revoked_at IS NULL",
    )?;
    let ids = stmt
        .query_map([env_id, user_id, client_id, resource_id], |r| {
            r.get::<_, String>(0)
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    for id in ids {
        revoke_family(tx, env_id, &id, "consent_revoked", now)?;
    }
    Ok(existed)
}

#[async_trait]
impl GrantStore for SqliteStore {
    async fn get_consent(
        &self,
        env_id: &str,
        user_id: &str,
        client_id: &str,
        resource_id: &str,
    ) -> StoreResult<Option<ConsentRecord>> {
        let key = [env_id, user_id, client_id, resource_id].map(str::to_owned);
        self.pool.read(move |conn| consent_by_key(conn, &key)).await
    }

    async fn upsert_consent(&self, c: &ConsentRecord) -> StoreResult<()> {
        let c = c.clone();
        self.pool
            .write(move |tx| {
                cached_exec(tx,
                    &format!(
                        "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (env_id, user_id, client_id, resource_id)
                         DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at"
                    ),
                    params![c.env_id, c.user_id, c.client_id, c.resource_id, c.scope, c.granted_at, c.updated_at],
                )?;
                Ok(())
            })
            .await
    }

    async fn list_consents(
        &self,
        env_id: &str,
        user_id: Option<&str>,
        client_id: Option<&str>,
    ) -> StoreResult<Vec<ConsentRecord>> {
        let filter = Filter::new("env_id", env_id)
            .eq("user_id", user_id)
            .eq("client_id", client_id);
        self.pool
            .read(move |conn| {
                let sql = format!(
                    "SELECT {CONSENT_COLUMNS} FROM consents {} ORDER BY granted_at, rowid",
                    filter.clause()
                );
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params_from_iter(filter.args()), consent_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    async fn revoke_consent(
        &self,
        env_id: &str,
        user_id: &str,
        client_id: &str,
        resource_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let key = [env_id, user_id, client_id, resource_id].map(str::to_owned);
        self.pool
            .write(move |tx| revoke_consent_tx(tx, &key, now))
            .await
    }

    async fn create_grant(&self, g: &GrantRecord) -> StoreResult<()> {
        let g = g.clone();
        self.pool.write(move |tx| insert_grant(tx, &g)).await
    }

    async fn create_grant_with_code(&self, g: &GrantRecord, c: &AuthCodeRecord) -> StoreResult<()> {
        let (g, c) = (g.clone(), c.clone());
        self.pool
            .write(move |tx| insert_grant_with_code(tx, &g, &c))
            .await
    }

    async fn get_grant(&self, env_id: &str, id: &str) -> StoreResult<Option<GrantRecord>> {
        let (env_id, id) = (env_id.to_owned(), id.to_owned());
        self.pool
            .read(move |conn| grant_by_id(conn, &env_id, &id))
            .await
    }

    async fn revoke_grant(
        &self,
        env_id: &str,
        id: &str,
        reason: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (env_id, id, reason) = (env_id.to_owned(), id.to_owned(), reason.to_owned());
        self.pool
            .write(move |tx| revoke_family(tx, &env_id, &id, &reason, now))
            .await
    }
}
