//! Authorization codes, refresh tokens (rotation with a grace window and reuse detection)
//! and revoked access-token ids.

use std::sync::LazyLock;

use async_trait::async_trait;
use gatehouse_store::{
    AuthCodeRecord, Consumed, RefreshGate, RefreshTokenRecord, RefreshWithGrant, Rotation,
    RotationReport, SecretHash, StoreResult, Successor, Timestamp, TokenStore,
};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use crate::PostgresStore;
use crate::error::DbResult;
use crate::grants::{GRANT_COLUMN_COUNT, GRANT_COLUMNS, grant_row_at, revoke_family};
use crate::pool::{Conn, Params, Transactional};
use crate::sql::{col, hash_col, opt_hash_col};

const CODE_COLUMNS: &str = "hash, env_id, grant_id, client_id, user_id, redirect_uri, \
     code_challenge, resource_id, scope, nonce, auth_time, created_at, expires_at, consumed_at";

const REFRESH_COLUMNS: &str = "hash, env_id, grant_id, client_id, scope, created_at, expires_at, \
     rotated_at, successor_hash, revoked_at";

/// How many columns [`REFRESH_COLUMNS`] names.
const REFRESH_COLUMN_COUNT: usize = 10;

/// Revocation reason of a family revoked because a rotated refresh token came back.
const REUSE_REASON: &str = "refresh_token_reuse";

fn code_row(row: &Row) -> DbResult<AuthCodeRecord> {
    Ok(AuthCodeRecord {
        hash: hash_col(row, 0)?,
        env_id: col(row, 1)?,
        grant_id: col(row, 2)?,
        client_id: col(row, 3)?,
        user_id: col(row, 4)?,
        redirect_uri: col(row, 5)?,
        code_challenge: col(row, 6)?,
        resource_id: col(row, 7)?,
        scope: col(row, 8)?,
        nonce: col(row, 9)?,
        auth_time: col(row, 10)?,
        created_at: col(row, 11)?,
        expires_at: col(row, 12)?,
        consumed_at: col(row, 13)?,
    })
}

fn refresh_row(row: &Row) -> DbResult<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        hash: hash_col(row, 0)?,
        env_id: col(row, 1)?,
        grant_id: col(row, 2)?,
        client_id: col(row, 3)?,
        scope: col(row, 4)?,
        created_at: col(row, 5)?,
        expires_at: col(row, 6)?,
        rotated_at: col(row, 7)?,
        successor_hash: opt_hash_col(row, 8)?,
        revoked_at: col(row, 9)?,
    })
}

/// A token and its grant: [`REFRESH_COLUMNS`] (`t.`) then [`GRANT_COLUMNS`] (`g.`).
/// The grant is joined by id alone (ids are unique across environments) and its
/// environment compared by the caller: with `g.env_id = t.env_id` in the join, the
/// condition `env_id = $2` reached the grant too, and a generic plan cached on a new
/// database scanned the environment's grants instead of probing the primary key.
static REFRESH_WITH_GRANT: LazyLock<String> = LazyLock::new(|| refresh_with_grant("", ""));

/// [`REFRESH_WITH_GRANT`] and the sealed successor, the token locked, for rotation.
static PRESENTED: LazyLock<String> =
    LazyLock::new(|| refresh_with_grant(", t.sealed_successor", " FOR UPDATE OF t"));

/// [`REFRESH_COLUMNS`] of `t`, joined to its grant `g`: a token's revocation is its own (set
/// by versions before schema 5) or its grant's, since revoking a family marks only the grant.
fn token_columns() -> impl Iterator<Item = String> {
    REFRESH_COLUMNS.split(", ").map(|c| match c {
        "revoked_at" => "COALESCE(t.revoked_at, g.revoked_at)".to_owned(),
        c => format!("t.{c}"),
    })
}

/// A token alone (its grant's revocation included): [`REFRESH_COLUMNS`]. The grant is joined
/// by id alone, as in [`REFRESH_WITH_GRANT`].
static REFRESH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM refresh_tokens t
         LEFT JOIN grants g ON g.id = t.grant_id
         WHERE t.hash = $1 AND t.env_id = $2",
        token_columns().collect::<Vec<_>>().join(", ")
    )
});

fn refresh_with_grant(extra: &str, lock: &str) -> String {
    let grant = GRANT_COLUMNS.split(", ").map(|c| format!("g.{c}"));
    let columns: Vec<String> = token_columns().chain(grant).collect();
    format!(
        "SELECT {},
                EXISTS (SELECT 1 FROM users u
                        WHERE u.id = g.user_id AND u.env_id = g.env_id AND NOT u.disabled){extra}
         FROM refresh_tokens t
         JOIN grants g ON g.id = t.grant_id
         WHERE t.hash = $1 AND t.env_id = $2{lock}",
        columns.join(", ")
    )
}

/// A row of [`REFRESH_WITH_GRANT`] (or [`PRESENTED`]); `None` if the grant is of another
/// environment (compared here, not in the join: see [`REFRESH_WITH_GRANT`]).
fn refresh_with_grant_row(row: &Row, env_id: &str) -> DbResult<Option<RefreshWithGrant>> {
    let grant = grant_row_at(row, REFRESH_COLUMN_COUNT)?;
    if grant.env_id != env_id {
        return Ok(None);
    }
    Ok(Some(RefreshWithGrant {
        token: refresh_row(row)?,
        grant,
        user_active: col(row, REFRESH_COLUMN_COUNT + GRANT_COLUMN_COUNT)?,
    }))
}

/// Adds a code on its own.
async fn insert_code(c: &mut Conn, code: &AuthCodeRecord) -> DbResult<()> {
    let row = CodeRow::new(code);
    c.execute(&insert_code_sql(), &row.params()).await?;
    Ok(())
}

pub(crate) fn insert_code_sql() -> String {
    format!(
        "INSERT INTO auth_codes ({CODE_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
    )
}

/// A code as the parameters of [`insert_code_sql`].
pub(crate) struct CodeRow<'a> {
    code: &'a AuthCodeRecord,
    hash: &'a str,
}

impl<'a> CodeRow<'a> {
    pub(crate) fn new(code: &'a AuthCodeRecord) -> Self {
        Self {
            code,
            hash: code.hash.as_str(),
        }
    }

    pub(crate) fn params(&self) -> [&(dyn ToSql + Sync); 14] {
        let code = self.code;
        [
            &self.hash,
            &code.env_id,
            &code.grant_id,
            &code.client_id,
            &code.user_id,
            &code.redirect_uri,
            &code.code_challenge,
            &code.resource_id,
            &code.scope,
            &code.nonce,
            &code.auth_time,
            &code.created_at,
            &code.expires_at,
            &code.consumed_at,
        ]
    }
}

async fn insert_refresh(c: &mut Conn, t: &RefreshTokenRecord) -> DbResult<()> {
    let row = RefreshRow::new(t);
    c.execute(&insert_refresh_sql(), &row.params()).await?;
    Ok(())
}

fn insert_refresh_sql() -> String {
    format!(
        "INSERT INTO refresh_tokens ({REFRESH_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
}

/// A refresh token as the parameters of [`insert_refresh_sql`].
struct RefreshRow<'a> {
    t: &'a RefreshTokenRecord,
    hash: &'a str,
    successor: Option<&'a str>,
}

impl<'a> RefreshRow<'a> {
    fn new(t: &'a RefreshTokenRecord) -> Self {
        Self {
            t,
            hash: t.hash.as_str(),
            successor: t.successor_hash.as_ref().map(SecretHash::as_str),
        }
    }

    fn params(&self) -> [&(dyn ToSql + Sync); REFRESH_COLUMN_COUNT] {
        let t = self.t;
        [
            &self.hash,
            &t.env_id,
            &t.grant_id,
            &t.client_id,
            &t.scope,
            &t.created_at,
            &t.expires_at,
            &t.rotated_at,
            &self.successor,
            &t.revoked_at,
        ]
    }
}

/// [`TokenStore::rotate_refresh`] as a transaction.
struct Rotate<'a> {
    env_id: &'a str,
    presented: &'a str,
    successor: &'a Successor,
    sealed_successor: &'a [u8],
    grace: i64,
    now: Timestamp,
    gate: &'a RefreshGate,
}

impl Rotate<'_> {
    /// Locks the family (the grant row of the presented token, if both exist), then the
    /// presented token, and reads both (with the user, and the sealed successor) as
    /// committed by whoever held the family lock before: the two statements go out
    /// together, and the server runs the second only once the first holds its lock.
    async fn lock_and_read(
        &self,
        tx: &mut Conn,
    ) -> DbResult<Option<(RefreshWithGrant, Option<Vec<u8>>)>> {
        let params: &Params<'_> = &[&self.presented, &self.env_id];
        let (_, token) = tx
            .pipeline(
                (
                    "SELECT 1 FROM grants
                     WHERE env_id = $2
                       AND id = (SELECT grant_id FROM refresh_tokens WHERE hash = $1 AND env_id = $2)
                     FOR UPDATE",
                    params,
                ),
                (&PRESENTED, params),
            )
            .await?;
        let Some(r) = token.first() else {
            return Ok(None);
        };
        let Some(found) = refresh_with_grant_row(r, self.env_id)? else {
            return Ok(None);
        };
        let sealed = col(r, REFRESH_COLUMN_COUNT + GRANT_COLUMN_COUNT + 1)?;
        Ok(Some((found, sealed)))
    }

    /// The decision on a token the transaction has read and locked.
    async fn decide(
        &self,
        tx: &mut Conn,
        found: &RefreshWithGrant,
        sealed: Option<Vec<u8>>,
    ) -> DbResult<Rotation> {
        if !(self.gate)(found) {
            return Ok(Rotation::Declined);
        }
        let token = &found.token;
        if token.revoked_at.is_some() || found.grant.revoked_at.is_some() {
            return Ok(Rotation::Revoked);
        }
        let Some(rotated_at) = token.rotated_at else {
            self.rotate_live(tx, token).await?;
            return Ok(Rotation::Rotated);
        };
        let in_grace = self.now - rotated_at < self.grace;
        if let (true, Some(sealed), Some(next)) = (in_grace, sealed, &token.successor_hash)
            && is_live(tx, self.env_id, next.as_str()).await?
        {
            return Ok(Rotation::Grace {
                sealed_successor: sealed,
            });
        }
        revoke_family(tx, self.env_id, &token.grant_id, REUSE_REASON, self.now).await?;
        Ok(Rotation::Reused {
            grant_id: token.grant_id.clone(),
        })
    }

    /// Rotates a live token: marks it rotated, keeps the sealed successor, stores the
    /// successor.
    async fn rotate_live(&self, tx: &mut Conn, token: &RefreshTokenRecord) -> DbResult<()> {
        let successor = self.successor.record_after(token);
        let successor_hash = successor.hash.as_str();
        let insert = insert_refresh_sql();
        let row = RefreshRow::new(&successor);
        // The mark and the successor go out together (one round trip).
        tx.pipeline(
            (
                "UPDATE refresh_tokens SET rotated_at = $3, successor_hash = $4, sealed_successor = $5
                 WHERE hash = $1 AND env_id = $2",
                &[
                    &self.presented,
                    &self.env_id,
                    &self.now,
                    &successor_hash,
                    &self.sealed_successor,
                ],
            ),
            (&insert, &row.params()),
        )
        .await?;
        Ok(())
    }
}

/// Whether a token exists, unrotated and not revoked by itself (the caller has checked its
/// grant, which it shares with the presented token).
async fn is_live(tx: &mut Conn, env_id: &str, hash: &str) -> DbResult<bool> {
    let row = tx
        .query_opt(
            "SELECT 1 FROM refresh_tokens
             WHERE hash = $1 AND env_id = $2 AND rotated_at IS NULL AND revoked_at IS NULL",
            &[&hash, &env_id],
        )
        .await?;
    Ok(row.is_some())
}

impl Transactional for Rotate<'_> {
    type Output = RotationReport;

    /// The whole decision of [`Rotation`] under the family lock, so that concurrent
    /// presenters on any node are ordered and each sees the previous one's effect.
    async fn run(&self, tx: &mut Conn) -> DbResult<RotationReport> {
        let Some((found, sealed)) = self.lock_and_read(tx).await? else {
            return Ok(RotationReport {
                presented: None,
                outcome: Rotation::Missing,
            });
        };
        let outcome = self.decide(tx, &found, sealed).await?;
        Ok(RotationReport {
            presented: Some(found),
            outcome,
        })
    }
}

#[async_trait]
impl TokenStore for PostgresStore {
    async fn create_code(&self, c: &AuthCodeRecord) -> StoreResult<()> {
        insert_code(&mut *self.pool.get().await?, c).await?;
        Ok(())
    }

    /// One conditional `UPDATE … RETURNING` marks the code consumed if nobody has: a racing
    /// caller waits for the row lock, re-checks `consumed_at IS NULL` on the committed row
    /// and updates nothing. Only then, in a second statement with a fresh snapshot, is the
    /// code read as it is, so a replay sees the winner's `consumed_at`.
    async fn consume_code(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Consumed> {
        let hash = hash.as_str();
        let mut c = self.pool.get().await?;
        let first = format!(
            "UPDATE auth_codes SET consumed_at = $3
             WHERE hash = $1 AND env_id = $2 AND consumed_at IS NULL
             RETURNING {CODE_COLUMNS}"
        );
        if let Some(row) = c.query_opt(&first, &[&hash, &env_id, &now]).await? {
            return Ok(Consumed::First(code_row(&row)?));
        }
        let again =
            format!("SELECT {CODE_COLUMNS} FROM auth_codes WHERE hash = $1 AND env_id = $2");
        Ok(match c.query_opt(&again, &[&hash, &env_id]).await? {
            Some(row) => Consumed::Replayed(code_row(&row)?),
            None => Consumed::Missing,
        })
    }

    async fn create_refresh(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
        insert_refresh(&mut *self.pool.get().await?, t).await?;
        Ok(())
    }

    async fn get_refresh(
        &self,
        env_id: &str,
        hash: &SecretHash,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let hash = hash.as_str();
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&REFRESH, &[&hash, &env_id])
            .await?;
        Ok(row.as_ref().map(refresh_row).transpose()?)
    }

    async fn get_refresh_with_grant(
        &self,
        env_id: &str,
        hash: &SecretHash,
    ) -> StoreResult<Option<RefreshWithGrant>> {
        let hash = hash.as_str();
        let row = self
            .pool
            .get()
            .await?
            .query_opt(&REFRESH_WITH_GRANT, &[&hash, &env_id])
            .await?;
        Ok(row
            .as_ref()
            .map(|r| refresh_with_grant_row(r, env_id))
            .transpose()?
            .flatten())
    }

    async fn rotate_refresh(
        &self,
        env_id: &str,
        presented: &SecretHash,
        successor: &Successor,
        sealed_successor: &[u8],
        grace: i64,
        now: Timestamp,
        gate: RefreshGate,
    ) -> StoreResult<RotationReport> {
        let work = Rotate {
            env_id,
            presented: presented.as_str(),
            successor,
            sealed_successor,
            grace,
            now,
            gate: &gate,
        };
        self.pool.transaction(&work).await
    }

    async fn revoke_jti(&self, env_id: &str, jti: &str, expires_at: Timestamp) -> StoreResult<()> {
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO revoked_jtis (env_id, jti, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (env_id, jti)
                 DO UPDATE SET expires_at = GREATEST(revoked_jtis.expires_at, excluded.expires_at)",
                &[&env_id, &jti, &expires_at],
            )
            .await?;
        Ok(())
    }

    async fn is_jti_revoked(&self, env_id: &str, jti: &str) -> StoreResult<bool> {
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT 1 FROM revoked_jtis WHERE env_id = $1 AND jti = $2",
                &[&env_id, &jti],
            )
            .await?;
        Ok(row.is_some())
    }

    /// One upsert: inserts the jti, or takes over an expired entry; a live entry (or a
    /// racing caller's fresh one, re-checked after its row lock) changes nothing.
    async fn claim_assertion_jti(
        &self,
        env_id: &str,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let n = self
            .pool
            .get()
            .await?
            .execute(
                "INSERT INTO assertion_jtis (env_id, jti, expires_at) VALUES ($1, $2, $3)
                 ON CONFLICT (env_id, jti) DO UPDATE SET expires_at = excluded.expires_at
                 WHERE assertion_jtis.expires_at <= $4",
                &[&env_id, &jti, &expires_at, &now],
            )
            .await?;
        Ok(n == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_column_count_matches_the_column_list() {
        assert_eq!(REFRESH_COLUMNS.split(", ").count(), REFRESH_COLUMN_COUNT);
        assert_eq!(GRANT_COLUMNS.split(", ").count(), GRANT_COLUMN_COUNT);
    }
}
