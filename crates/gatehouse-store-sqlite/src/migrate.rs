//! Embedded schema migrations, tracked with `PRAGMA user_version`.
//!
//! Migration `n` (1-based) brings the schema from version `n - 1` to `n`. They run in one
//! IMMEDIATE transaction on open, so two processes opening a new database at the same time
//! do not both apply them: the second waits for the first and then finds nothing to do.

use rusqlite::{Connection, TransactionBehavior};

use crate::error::{DbResult, other};

/// The migrations, in order. Append only: never edit one that has shipped.
const MIGRATIONS: &[(&str, &str)] = &[
    ("0001_init", include_str!("../migrations/0001_init.sql")),
    ("0002_admin", include_str!("../migrations/0002_admin.sql")),
    (
        "0003_audit_indexes_client_generation",
        include_str!("../migrations/0003_audit_indexes_client_generation.sql"),
    ),
    (
        "0004_grants_by_consent",
        include_str!("../migrations/0004_grants_by_consent.sql"),
    ),
    (
        "0005_refresh_tokens_unindexed_by_grant",
        include_str!("../migrations/0005_refresh_tokens_unindexed_by_grant.sql"),
    ),
];

/// The schema version this build writes.
pub(crate) const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Applies the migrations the database has not seen yet. Idempotent.
pub(crate) fn run(conn: &mut Connection) -> DbResult<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let current: i64 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(other(format!(
            "the database schema is version {current}, newer than this build ({SCHEMA_VERSION}); \
             upgrade Gatehouse"
        )));
    }
    for (index, (name, sql)) in MIGRATIONS.iter().enumerate().skip(current as usize) {
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", index as i64 + 1)?;
        tracing::info!(migration = name, "applied database migration");
    }
    tx.commit()?;
    Ok(())
}

/// The schema version recorded in the database.
pub(crate) fn version(conn: &Connection) -> DbResult<i64> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_apply_once_and_rerun_is_a_no_op() {
        let mut conn = Connection::open_in_memory().unwrap();
        run(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        run(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
    }

    /// A data directory of an earlier release keeps its rows and gains the new tables.
    #[test]
    fn a_version_1_database_upgrades_keeping_its_data() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(MIGRATIONS[0].1).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('public_url', 'x')",
            [],
        )
        .unwrap();
        run(&mut conn).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        let kept: String = conn
            .query_row("SELECT value FROM meta WHERE key = 'public_url'", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(kept, "x");
        conn.execute(
            "INSERT INTO admin_users (id, email, password_hash, created_at, disabled)
             VALUES ('adm-1', 'root@example.com', 'h', 0, 0)",
            [],
        )
        .unwrap();
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(run(&mut conn).is_err());
    }
}
