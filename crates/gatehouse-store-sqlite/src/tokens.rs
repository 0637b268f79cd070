//! Authorization codes, refresh tokens (rotation with a grace window and reuse detection)
//! and revoked access-token ids.

use std::sync::LazyLock;

use async_trait::async_trait;
use gatehouse_store::{
    AuthCodeRecord, Consumed, Redemption, RefreshGate, RefreshTokenRecord, RefreshWithGrant,
    Rotation, RotationReport, SecretHash, StoreResult, Successor, Timestamp, TokenStore,
};
use rusqlite::{OptionalExtension, Row, Transaction, params};

use crate::SqliteStore;
use crate::error::DbResult;
use crate::grants::{GRANT_COLUMN_COUNT, GRANT_COLUMNS, grant_by_id, grant_row_at, revoke_family};
use crate::sql::{cached_exec, cached_row, hash_col, opt_hash_col};
use crate::users::user_by;

const CODE_COLUMNS: &str = "hash, env_id, grant_id, client_id, user_id, redirect_uri, code_challenge, \
     resource_id, scope, nonce, auth_time, created_at, expires_at, consumed_at";

const REFRESH_COLUMNS: &str = "hash, env_id, grant_id, client_id, scope, created_at, expires_at, \
     rotated_at, successor_hash, revoked_at";

/// How many columns [`REFRESH_COLUMNS`] names.
const REFRESH_COLUMN_COUNT: usize = 10;

/// Revocation reason of a family revoked because a rotated refresh token came back.
const REUSE_REASON: &str = "refresh_token_reuse";

fn code_row(row: &Row<'_>) -> rusqlite::Result<AuthCodeRecord> {
    Ok(AuthCodeRecord {
        hash: hash_col(row, 0)?,
        env_id: row.get(1)?,
        grant_id: row.get(2)?,
        client_id: row.get(3)?,
        user_id: row.get(4)?,
        redirect_uri: row.get(5)?,
        code_challenge: row.get(6)?,
        resource_id: row.get(7)?,
        scope: row.get(8)?,
        nonce: row.get(9)?,
        auth_time: row.get(10)?,
        created_at: row.get(11)?,
        expires_at: row.get(12)?,
        consumed_at: row.get(13)?,
    })
}

fn refresh_row(row: &Row<'_>) -> rusqlite::Result<RefreshTokenRecord> {
    Ok(RefreshTokenRecord {
        hash: hash_col(row, 0)?,
        env_id: row.get(1)?,
        grant_id: row.get(2)?,
        client_id: row.get(3)?,
        scope: row.get(4)?,
        created_at: row.get(5)?,
        expires_at: row.get(6)?,
        rotated_at: row.get(7)?,
        successor_hash: opt_hash_col(row, 8)?,
        revoked_at: row.get(9)?,
    })
}

/// A token and its grant: [`REFRESH_COLUMNS`] (`t.`) then [`GRANT_COLUMNS`] (`g.`), then
/// whether the user is active.
static REFRESH_WITH_GRANT: LazyLock<String> = LazyLock::new(|| refresh_with_grant(""));

/// [`REFRESH_WITH_GRANT`] and the sealed successor, for rotation.
static PRESENTED: LazyLock<String> = LazyLock::new(|| refresh_with_grant(", t.sealed_successor"));

/// [`REFRESH_COLUMNS`] of `t`, joined to its grant `g`: a token's revocation is its own (set
/// by versions before schema 5) or its grant's, since revoking a family marks only the grant.
fn token_columns() -> impl Iterator<Item = String> {
    REFRESH_COLUMNS.split(", ").map(|c| match c {
        "revoked_at" => "COALESCE(t.revoked_at, g.revoked_at)".to_owned(),
        c => format!("t.{c}"),
    })
}

/// A token alone (its grant's revocation included): [`REFRESH_COLUMNS`].
static REFRESH: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {} FROM refresh_tokens t
         LEFT JOIN grants g ON g.id = t.grant_id AND g.env_id = t.env_id
         WHERE t.hash = ?1 AND t.env_id = ?2",
        token_columns().collect::<Vec<_>>().join(", ")
    )
});

fn refresh_with_grant(extra: &str) -> String {
    let grant = GRANT_COLUMNS.split(", ").map(|c| format!("g.{c}"));
    let columns: Vec<String> = token_columns().chain(grant).collect();
    format!(
        "SELECT {},
                EXISTS (SELECT 1 FROM users u
                        WHERE u.id = g.user_id AND u.env_id = g.env_id AND u.disabled = 0){extra}
         FROM refresh_tokens t
         JOIN grants g ON g.id = t.grant_id AND g.env_id = t.env_id
         WHERE t.hash = ?1 AND t.env_id = ?2",
        columns.join(", ")
    )
}

/// A row of [`REFRESH_WITH_GRANT`] (or [`PRESENTED`]).
fn refresh_with_grant_row(r: &Row<'_>) -> rusqlite::Result<RefreshWithGrant> {
    Ok(RefreshWithGrant {
        token: refresh_row(r)?,
        grant: grant_row_at(r, REFRESH_COLUMN_COUNT)?,
        user_active: r.get(REFRESH_COLUMN_COUNT + GRANT_COLUMN_COUNT)?,
    })
}

/// Adds a code in the caller's transaction.
pub(crate) fn insert_code(tx: &Transaction<'_>, c: &AuthCodeRecord) -> DbResult<()> {
    cached_exec(
        tx,
        &format!(
            "INSERT INTO auth_codes ({CODE_COLUMNS})
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
        ),
        params![
            c.hash.as_str(),
            c.env_id,
            c.grant_id,
            c.client_id,
            c.user_id,
            c.redirect_uri,
            c.code_challenge,
            c.resource_id,
            c.scope,
            c.nonce,
            c.auth_time,
            c.created_at,
            c.expires_at,
            c.consumed_at
        ],
    )?;
    Ok(())
}

/// Marks the code consumed if nobody has (one conditional `UPDATE … RETURNING`), else
/// reads it as it is. Both in the caller's IMMEDIATE transaction.
fn consume_code_tx(
    tx: &Transaction<'_>,
    env_id: &str,
    hash: &str,
    now: Timestamp,
) -> DbResult<Consumed> {
    let first = format!(
        "UPDATE auth_codes SET consumed_at = ?3
         WHERE hash = ?1 AND env_id = ?2 AND consumed_at IS NULL
         RETURNING {CODE_COLUMNS}"
    );
    if let Some(code) = cached_row(tx, &first, params![hash, env_id, now], code_row).optional()? {
        return Ok(Consumed::First(code));
    }
    let again = format!("SELECT {CODE_COLUMNS} FROM auth_codes WHERE hash = ?1 AND env_id = ?2");
    Ok(
        match cached_row(tx, &again, [hash, env_id], code_row).optional()? {
            Some(code) => Consumed::Replayed(code),
            None => Consumed::Missing,
        },
    )
}

/// [`gatehouse_store::Store::redeem_code`] in the caller's transaction: the code consumed,
/// then its grant and (first redemption only) its user, as this transaction sees them.
pub(crate) fn redeem_code_tx(
    tx: &Transaction<'_>,
    env_id: &str,
    hash: &str,
    now: Timestamp,
) -> DbResult<Redemption> {
    let consumed = consume_code_tx(tx, env_id, hash, now)?;
    let (grant, user) = match &consumed {
        Consumed::First(code) => (
            grant_by_id(tx, env_id, &code.grant_id)?,
            user_by(tx, "id", env_id, &code.user_id)?,
        ),
        Consumed::Replayed(code) => (grant_by_id(tx, env_id, &code.grant_id)?, None),
        Consumed::Missing => (None, None),
    };
    Ok(Redemption {
        consumed,
        grant,
        user,
    })
}

fn insert_refresh(tx: &Transaction<'_>, t: &RefreshTokenRecord) -> DbResult<()> {
    cached_exec(
        tx,
        &format!(
            "INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ),
        params![
            t.hash.as_str(),
            t.env_id,
            t.grant_id,
            t.client_id,
            t.scope,
            t.created_at,
            t.expires_at,
            t.rotated_at,
            t.successor_hash.as_ref().map(SecretHash::as_str),
            t.revoked_at
        ],
    )?;
    Ok(())
}

/// The presented token, its grant and user, and the sealed successor it was rotated to.
fn presented(
    tx: &Transaction<'_>,
    env_id: &str,
    hash: &str,
) -> DbResult<Option<(RefreshWithGrant, Option<Vec<u8>>)>> {
    let row = cached_row(tx, &PRESENTED, [hash, env_id], |r| {
        Ok((
            refresh_with_grant_row(r)?,
            r.get(REFRESH_COLUMN_COUNT + GRANT_COLUMN_COUNT + 1)?,
        ))
    });
    Ok(row.optional()?)
}

/// Whether a token exists, unrotated and not revoked by itself (the caller has checked its
/// grant, which it shares with the presented token).
fn is_live(tx: &Transaction<'_>, env_id: &str, hash: &str) -> DbResult<bool> {
    let sql = "SELECT 1 FROM refresh_tokens
               WHERE hash = ?1 AND env_id = ?2 AND rotated_at IS NULL AND revoked_at IS NULL";
    Ok(cached_row(tx, sql, [hash, env_id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Rotation arguments, moved into the blocking task.
struct RotateArgs {
    env_id: String,
    presented: SecretHash,
    successor: Successor,
    sealed_successor: Vec<u8>,
    grace: i64,
    now: Timestamp,
    gate: RefreshGate,
}

/// The whole decision of [`Rotation`], inside one IMMEDIATE transaction, so that concurrent
/// presenters (tasks or processes) are ordered and each sees the previous one's effect.
fn rotate_tx(tx: &Transaction<'_>, a: &RotateArgs) -> DbResult<RotationReport> {
    let Some((found, sealed)) = presented(tx, &a.env_id, a.presented.as_str())? else {
        return Ok(RotationReport {
            presented: None,
            outcome: Rotation::Missing,
        });
    };
    let outcome = decide(tx, a, &found, sealed)?;
    Ok(RotationReport {
        presented: Some(found),
        outcome,
    })
}

fn decide(
    tx: &Transaction<'_>,
    a: &RotateArgs,
    found: &RefreshWithGrant,
    sealed: Option<Vec<u8>>,
) -> DbResult<Rotation> {
    if !(a.gate)(found) {
        return Ok(Rotation::Declined);
    }
    let token = &found.token;
    if token.revoked_at.is_some() || found.grant.revoked_at.is_some() {
        return Ok(Rotation::Revoked);
    }
    let Some(rotated_at) = token.rotated_at else {
        rotate_live(tx, a, token)?;
        return Ok(Rotation::Rotated);
    };
    let in_grace = a.now - rotated_at < a.grace;
    if let (true, Some(sealed), Some(next)) = (in_grace, sealed, &token.successor_hash)
        && is_live(tx, &a.env_id, next.as_str())?
    {
        return Ok(Rotation::Grace {
            sealed_successor: sealed,
        });
    }
    revoke_family(tx, &a.env_id, &token.grant_id, REUSE_REASON, a.now)?;
    Ok(Rotation::Reused {
        grant_id: token.grant_id.clone(),
    })
}

/// Rotates a live token: marks it rotated, keeps the sealed successor, stores the successor.
fn rotate_live(tx: &Transaction<'_>, a: &RotateArgs, token: &RefreshTokenRecord) -> DbResult<()> {
    cached_exec(
        tx,
        "UPDATE refresh_tokens SET rotated_at = ?3, successor_hash = ?4, sealed_successor = ?5
         WHERE hash = ?1 AND env_id = ?2",
        params![
            a.presented.as_str(),
            a.env_id,
            a.now,
            a.successor.hash.as_str(),
            a.sealed_successor
        ],
    )?;
    insert_refresh(tx, &a.successor.record_after(token))
}

#[async_trait]
impl TokenStore for SqliteStore {
    async fn create_code(&self, c: &AuthCodeRecord) -> StoreResult<()> {
        let c = c.clone();
        self.pool.write(move |tx| insert_code(tx, &c)).await
    }

    async fn consume_code(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Consumed> {
        let (env_id, hash) = (env_id.to_owned(), hash.clone());
        self.pool
            .write(move |tx| consume_code_tx(tx, &env_id, hash.as_str(), now))
            .await
    }

    async fn create_refresh(&self, t: &RefreshTokenRecord) -> StoreResult<()> {
        let t = t.clone();
        self.pool.write(move |tx| insert_refresh(tx, &t)).await
    }

    async fn get_refresh(
        &self,
        env_id: &str,
        hash: &SecretHash,
    ) -> StoreResult<Option<RefreshTokenRecord>> {
        let (env_id, hash) = (env_id.to_owned(), hash.clone());
        self.pool
            .read(move |conn| {
                Ok(cached_row(conn, &REFRESH, [hash.as_str(), &env_id], refresh_row).optional()?)
            })
            .await
    }

    async fn get_refresh_with_grant(
        &self,
        env_id: &str,
        hash: &SecretHash,
    ) -> StoreResult<Option<RefreshWithGrant>> {
        let (env_id, hash) = (env_id.to_owned(), hash.clone());
        self.pool
            .read(move |conn| {
                let found = cached_row(
                    conn,
                    &REFRESH_WITH_GRANT,
                    [hash.as_str(), &env_id],
                    refresh_with_grant_row,
                )
                .optional()?;
                Ok(found)
            })
            .await
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
        let args = RotateArgs {
            env_id: env_id.to_owned(),
            presented: presented.clone(),
            successor: successor.clone(),
            sealed_successor: sealed_successor.to_vec(),
            grace,
            now,
            gate,
        };
        self.pool.write(move |tx| rotate_tx(tx, &args)).await
    }

    async fn revoke_jti(&self, env_id: &str, jti: &str, expires_at: Timestamp) -> StoreResult<()> {
        let (env_id, jti) = (env_id.to_owned(), jti.to_owned());
        self.pool
            .write(move |tx| {
                cached_exec(tx,
                    "INSERT INTO revoked_jtis (env_id, jti, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (env_id, jti) DO UPDATE SET expires_at = max(expires_at, excluded.expires_at)",
                    params![env_id, jti, expires_at],
                )?;
                Ok(())
            })
            .await
    }

    async fn is_jti_revoked(&self, env_id: &str, jti: &str) -> StoreResult<bool> {
        let (env_id, jti) = (env_id.to_owned(), jti.to_owned());
        self.pool
            .read(move |conn| {
                let sql = "SELECT 1 FROM revoked_jtis WHERE env_id = ?1 AND jti = ?2";
                Ok(cached_row(conn, sql, [env_id, jti], |_| Ok(()))
                    .optional()?
                    .is_some())
            })
            .await
    }

    async fn claim_assertion_jti(
        &self,
        env_id: &str,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<bool> {
        let (env_id, jti) = (env_id.to_owned(), jti.to_owned());
        self.pool
            .write(move |tx| {
                // An expired entry may be reused; a live one means replay.
                cached_exec(tx,
                    "DELETE FROM assertion_jtis WHERE env_id = ?1 AND jti = ?2 AND expires_at <= ?3",
                    params![env_id, jti, now],
                )?;
                let n = cached_exec(tx,
                    "INSERT INTO assertion_jtis (env_id, jti, expires_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT (env_id, jti) DO NOTHING",
                    params![env_id, jti, expires_at],
                )?;
                Ok(n == 1)
            })
            .await
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
