//! Mapping rusqlite failures onto [`StoreError`].

use gatehouse_store::StoreError;
use rusqlite::ErrorCode;
use rusqlite::ffi;

/// The error of the closures run on a connection: a database error, or a store error
/// raised by our own code (a JSON document that will not encode, a broken precondition).
/// Both convert with `?`; the pool turns the result into a [`StoreError`].
#[derive(Debug)]
pub(crate) enum DbError {
    /// From SQLite.
    Sql(rusqlite::Error),
    /// From our code.
    Store(StoreError),
}

/// Result of work done on a connection.
pub(crate) type DbResult<T> = Result<T, DbError>;

impl From<rusqlite::Error> for DbError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sql(e)
    }
}

impl From<StoreError> for DbError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<DbError> for StoreError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Sql(e) => map_sqlite(e),
            DbError::Store(e) => e,
        }
    }
}

/// UNIQUE and PRIMARY KEY violations are `Conflict`; busy, locked or unopenable databases
/// are `Unavailable` (retryable); undecodable columns are `Corrupt`; the rest is `Other`.
pub(crate) fn map_sqlite(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, msg) => match f.code {
            ErrorCode::ConstraintViolation if is_key_violation(f.extended_code) => {
                StoreError::Conflict(msg.clone().unwrap_or_else(|| f.to_string()))
            }
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::CannotOpen => {
                StoreError::Unavailable(Box::new(e))
            }
            _ => StoreError::Other(Box::new(e)),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::IntegralValueOutOfRange(..) => StoreError::Corrupt(e.to_string()),
        _ => StoreError::Other(Box::new(e)),
    }
}

/// Whether SQLite reported the database busy or locked.
pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

fn is_key_violation(extended_code: i32) -> bool {
    extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
        || extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
}

/// A failure of our own code, such as a JSON document that would not encode.
pub(crate) fn other(msg: impl Into<String>) -> DbError {
    DbError::Store(StoreError::Other(msg.into().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(ffi::Error::new(code), Some("detail".into()))
    }

    #[test]
    fn key_violations_are_conflicts() {
        for code in [
            ffi::SQLITE_CONSTRAINT_UNIQUE,
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY,
        ] {
            assert!(matches!(map_sqlite(failure(code)), StoreError::Conflict(m) if m == "detail"));
        }
    }

    #[test]
    fn other_constraint_violations_are_not_conflicts() {
        let e = map_sqlite(failure(ffi::SQLITE_CONSTRAINT_FOREIGNKEY));
        assert!(matches!(e, StoreError::Other(_)), "{e:?}");
    }

    #[test]
    fn busy_and_locked_are_unavailable() {
        for code in [
            ffi::SQLITE_BUSY,
            ffi::SQLITE_LOCKED,
            ffi::SQLITE_BUSY_SNAPSHOT,
        ] {
            assert!(matches!(
                map_sqlite(failure(code)),
                StoreError::Unavailable(_)
            ));
        }
    }

    #[test]
    fn undecodable_columns_are_corrupt() {
        let e = rusqlite::Error::FromSqlConversionFailure(
            0,
            rusqlite::types::Type::Text,
            "bad json".into(),
        );
        assert!(matches!(map_sqlite(e), StoreError::Corrupt(_)));
    }
}
