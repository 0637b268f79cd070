//! Mapping PostgreSQL failures onto [`StoreError`].

use gatehouse_store::StoreError;
use tokio_postgres::error::SqlState;

/// The error of work done on a connection: a database error, or a store error raised by our
/// own code (a JSON document that will not encode, a broken precondition, a column that does
/// not decode). Both convert with `?`; the pool turns the result into a [`StoreError`].
#[derive(Debug)]
pub(crate) enum DbError {
    /// From PostgreSQL or the connection.
    Pg(tokio_postgres::Error),
    /// From our code.
    Store(StoreError),
}

/// Result of work done on a connection.
pub(crate) type DbResult<T> = Result<T, DbError>;

impl From<tokio_postgres::Error> for DbError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::Pg(e)
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
            DbError::Pg(e) => map_pg(e),
            DbError::Store(e) => e,
        }
    }
}

/// What the pool does about a failed attempt.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Not retryable: report it.
    No,
    /// A deadlock or serialization failure: run the work again.
    Again,
    /// A cached prepared statement went stale (the schema changed under it): forget the
    /// connection's statements and run the work again.
    Reprepare,
}

impl DbError {
    /// Whether running the same work again may succeed.
    pub(crate) fn retry(&self) -> Retry {
        let Self::Pg(e) = self else {
            return Retry::No;
        };
        match e.code() {
            Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED => Retry::Again,
            Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE => Retry::Again,
            // "cached plan must not change result type", or a statement the server forgot.
            Some(c) if *c == SqlState::FEATURE_NOT_SUPPORTED => Retry::Reprepare,
            Some(c) if *c == SqlState::INVALID_SQL_STATEMENT_NAME => Retry::Reprepare,
            _ => Retry::No,
        }
    }
}

/// UNIQUE and PRIMARY KEY violations are `Conflict`; a database that cannot be reached, is
/// shutting down, has no free connection, or is too busy (deadlock, lock or statement
/// timeout) is `Unavailable` (retryable); everything else, a foreign key violation
/// included, is `Other`.
pub(crate) fn map_pg(e: tokio_postgres::Error) -> StoreError {
    let Some(code) = e.code() else {
        return if e.is_closed() || io_source(&e) {
            StoreError::Unavailable(Box::new(e))
        } else {
            StoreError::Other(Box::new(e))
        };
    };
    if *code == SqlState::UNIQUE_VIOLATION {
        let detail = e
            .as_db_error()
            .map(|d| d.detail().unwrap_or(d.message()).to_owned())
            .unwrap_or_else(|| e.to_string());
        return StoreError::Conflict(detail);
    }
    if is_unavailable(code) {
        return StoreError::Unavailable(Box::new(e));
    }
    StoreError::Other(Box::new(e))
}

/// SQLSTATEs meaning "not now": connection exceptions (class 08), insufficient resources
/// (class 53, e.g. too many connections), operator intervention (class 57: shutdown,
/// statement timeout), transaction rollbacks (class 40, once retries are exhausted) and
/// lock timeouts.
fn is_unavailable(code: &SqlState) -> bool {
    let class = code.code().get(..2).unwrap_or_default();
    matches!(class, "08" | "53" | "57" | "40") || *code == SqlState::LOCK_NOT_AVAILABLE
}

/// Whether the failure is an I/O error (connection refused, reset, timed out).
fn io_source(e: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    false
}

/// A failure of our own code, such as a JSON document that would not encode.
pub(crate) fn other(msg: impl Into<String>) -> DbError {
    DbError::Store(StoreError::Other(msg.into().into()))
}

/// A stored value that does not decode.
pub(crate) fn corrupt(msg: impl Into<String>) -> DbError {
    DbError::Store(StoreError::Corrupt(msg.into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstate_classes_that_mean_not_now_are_unavailable() {
        for code in [
            SqlState::CONNECTION_FAILURE,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::QUERY_CANCELED,
            SqlState::T_R_DEADLOCK_DETECTED,
            SqlState::LOCK_NOT_AVAILABLE,
        ] {
            assert!(is_unavailable(&code), "{code:?}");
        }
        for code in [
            SqlState::UNIQUE_VIOLATION,
            SqlState::FOREIGN_KEY_VIOLATION,
            SqlState::UNDEFINED_TABLE,
            SqlState::CHARACTER_NOT_IN_REPERTOIRE,
        ] {
            assert!(!is_unavailable(&code), "{code:?}");
        }
    }

    #[test]
    fn our_own_errors_are_not_retried() {
        assert_eq!(other("x").retry(), Retry::No);
        assert_eq!(corrupt("x").retry(), Retry::No);
    }
}
