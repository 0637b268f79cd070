//! Consents and grants.
//!
//! Whatever changes a grant's family locks the grant row first and its refresh tokens
//! second (see `tokens.rs` for rotation), so revocations and rotations of one family are
//! serialised across nodes and cannot deadlock with each other. The tokens are revoked by
//! a statement that starts after the grant lock is held, so it sees (and revokes) a
//! successor that a rotation committed just before.

use async_trait::async_trait;
use gatehouse_store::{
    AuthCodeRecord, ConsentRecord, GrantRecord, GrantStore, StoreError, StoreResult, Timestamp,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::PostgresStore;
use crate::error::DbResult;
use crate::pool::{Conn, Transactional};
use crate::sql::{Filter, col, rows};
use crate::tokens::{CodeRow, insert_code_sql};

const CONSENT_COLUMNS: &str =
    "env_id, user_id, client_id, resource_id, scope, granted_at, updated_at";

pub(crate) const GRANT_COLUMNS: &str = "id, env_id, client_id, user_id, resource_id, scope, auth_time, \
     correlation_id, created_at, revoked_at, revoked_reason";

/// How many columns [`GRANT_COLUMNS`] lists.
pub(crate) const GRANT_COLUMN_COUNT: usize = 11;

/// Revocation reason of the grants of a revoked consent.
const CONSENT_REVOKED: &str = "consent_revoked";

fn consent_row(row: &Row) -> DbResult<ConsentRecord> {
    Ok(ConsentRecord {
        env_id: col(row, 0)?,
        user_id: col(row, 1)?,
        client_id: col(row, 2)?,
        resource_id: col(row, 3)?,
        scope: col(row, 4)?,
        granted_at: col(row, 5)?,
        updated_at: col(row, 6)?,
    })
}

fn grant_row(row: &Row) -> DbResult<GrantRecord> {
    grant_row_at(row, 0)
}

/// A grant from the [`GRANT_COLUMNS`] that start at column `at` of the row.
pub(crate) fn grant_row_at(row: &Row, at: usize) -> DbResult<GrantRecord> {
    Ok(GrantRecord {
        id: col(row, at)?,
        env_id: col(row, at + 1)?,
        client_id: col(row, at + 2)?,
        user_id: col(row, at + 3)?,
        resource_id: col(row, at + 4)?,
        scope: col(row, at + 5)?,
        auth_time: col(row, at + 6)?,
        correlation_id: col(row, at + 7)?,
        created_at: col(row, at + 8)?,
        revoked_at: col(row, at + 9)?,
        revoked_reason: col(row, at + 10)?,
    })
}

async fn insert_grant(c: &mut Conn, g: &GrantRecord) -> DbResult<()> {
    c.execute(&insert_grant_sql(), &grant_params(g)).await?;
    Ok(())
}

fn insert_grant_sql() -> String {
    format!(
        "INSERT INTO grants ({GRANT_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )
}

/// The parameters of [`insert_grant_sql`].
fn grant_params(g: &GrantRecord) -> [&(dyn ToSql + Sync); GRANT_COLUMN_COUNT] {
    [
        &g.id,
        &g.env_id,
        &g.client_id,
        &g.user_id,
        &g.resource_id,
        &g.scope,
        &g.auth_time,
        &g.correlation_id,
        &g.created_at,
        &g.revoked_at,
        &g.revoked_reason,
    ]
}

/// [`GrantStore::create_grant_with_code`] as a transaction.
struct GrantWithCode<'a> {
    grant: &'a GrantRecord,
    code: &'a AuthCodeRecord,
}

impl Transactional for GrantWithCode<'_> {
    type Output = ();

    /// Both inserts go out together, behind the `BEGIN` (one round trip, then `COMMIT`).
    async fn run(&self, tx: &mut Conn) -> DbResult<()> {
        let (grant_sql, code_sql) = (insert_grant_sql(), insert_code_sql());
        let code = CodeRow::new(self.code);
        tx.pipeline(
            (&grant_sql, &grant_params(self.grant)),
            (&code_sql, &code.params()),
        )
        .await?;
        Ok(())
    }
}

/// Revokes a grant, keeping an earlier revocation's time and reason. Its refresh tokens are
/// revoked with it: every read of a token joins the grant and takes the grant's revocation
/// as the token's, so no token row is written (and none is looked up by grant). Returns
/// whether the grant exists. Part of the caller's transaction; the `UPDATE` of the grant
/// takes (or, in rotation, re-takes) the family lock.
pub(crate) async fn revoke_family(
    tx: &mut Conn,
    env_id: &str,
    id: &str,
    reason: &str,
    now: Timestamp,
) -> DbResult<bool> {
    let found = tx
        .execute(
            "UPDATE grants SET revoked_at = COALESCE(revoked_at, $3),
                 revoked_reason = CASE WHEN revoked_at IS NULL THEN $4 ELSE revoked_reason END
             WHERE env_id = $1 AND id = $2",
            &[&env_id, &id, &now, &reason],
        )
        .await?;
    Ok(found > 0)
}

/// [`GrantStore::revoke_grant`] as a transaction.
struct RevokeGrant<'a> {
    env_id: &'a str,
    id: &'a str,
    reason: &'a str,
    now: Timestamp,
}

impl Transactional for RevokeGrant<'_> {
    type Output = bool;

    async fn run(&self, tx: &mut Conn) -> DbResult<bool> {
        revoke_family(tx, self.env_id, self.id, self.reason, self.now).await
    }
}

/// [`GrantStore::revoke_consent`] as a transaction: deletes the consent, then revokes the
/// unrevoked grants of the same user, client and resource (locking them), and so their
/// refresh tokens.
struct RevokeConsent<'a> {
    key: [&'a str; 4],
    now: Timestamp,
}

impl Transactional for RevokeConsent<'_> {
    type Output = bool;

    async fn run(&self, tx: &mut Conn) -> DbResult<bool> {
        let [env_id, user_id, client_id, resource_id] = self.key;
        let parties: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&env_id, &user_id, &client_id, &resource_id];
        let existed = tx
            .execute(
                "DELETE FROM consents
                 WHERE env_id = $1 AND user_id = $2 AND client_id = $3 AND resource_id = $4",
                &parties,
            )
            .await?
            > 0;
        // The grants' refresh tokens are revoked with them (see `revoke_family`).
        tx.execute(
            "UPDATE grants SET revoked_at = $5, revoked_reason = $6
             WHERE env_id = $1 AND user_id = $2 AND client_id = $3 AND resource_id = $4
               AND revoked_at IS NULL",
            &[
                &env_id,
                &user_id,
                &client_id,
                &resource_id,
                &self.now,
                &CONSENT_REVOKED,
            ],
        )
        .await?;
        Ok(existed)
    }
}

#[async_trait]
impl GrantStore for PostgresStore {
    async fn get_consent(
        &self,
        env_id: &str,
        user_id: &str,
        client_id: &str,
        resource_id: &str,
    ) -> StoreResult<Option<ConsentRecord>> {
        let sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM consents
             WHERE env_id = $1 AND user_id = $2 AND client_id = $3 AND resource_id = $4"
        );
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&env_id, &user_id, &client_id, &resource_id])
            .await?;
        Ok(row.as_ref().map(consent_row).transpose()?)
    }

    async fn upsert_consent(&self, c: &ConsentRecord) -> StoreResult<()> {
        let sql = format!(
            "INSERT INTO consents ({CONSENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (env_id, user_id, client_id, resource_id)
             DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at"
        );
        self.pool
            .get()
            .await?
            .execute(
                &sql,
                &[
                    &c.env_id,
                    &c.user_id,
                    &c.client_id,
                    &c.resource_id,
                    &c.scope,
                    &c.granted_at,
                    &c.updated_at,
                ],
            )
            .await?;
        Ok(())
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
        let sql = format!(
            "SELECT {CONSENT_COLUMNS} FROM consents {} ORDER BY granted_at, seq",
            filter.clause()
        );
        let found = self.pool.get().await?.query(&sql, &filter.args()).await?;
        Ok(rows(&found, consent_row)?)
    }

    async fn revoke_consent(
        &self,
        env_id: &str,
        user_id: &str,
        client_id: &str,
        resource_id: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let work = RevokeConsent {
            key: [env_id, user_id, client_id, resource_id],
            now,
        };
        self.pool.transaction(&work).await
    }

    async fn create_grant(&self, g: &GrantRecord) -> StoreResult<()> {
        insert_grant(&mut *self.pool.get().await?, g).await?;
        Ok(())
    }

    async fn create_grant_with_code(&self, g: &GrantRecord, c: &AuthCodeRecord) -> StoreResult<()> {
        if c.grant_id != g.id || c.env_id != g.env_id {
            return Err(StoreError::Other(
                format!(
                    "the code of grant {:?} of environment {:?} names grant {:?} of environment {:?}",
                    g.id, g.env_id, c.grant_id, c.env_id
                )
                .into(),
            ));
        }
        let work = GrantWithCode { grant: g, code: c };
        self.pool.transaction(&work).await
    }

    async fn get_grant(&self, env_id: &str, id: &str) -> StoreResult<Option<GrantRecord>> {
        let sql = format!("SELECT {GRANT_COLUMNS} FROM grants WHERE env_id = $1 AND id = $2");
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&sql, &[&env_id, &id])
            .await?;
        Ok(row.as_ref().map(grant_row).transpose()?)
    }

    async fn revoke_grant(
        &self,
        env_id: &str,
        id: &str,
        reason: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let work = RevokeGrant {
            env_id,
            id,
            reason,
            now,
        };
        self.pool.transaction(&work).await
    }
}
