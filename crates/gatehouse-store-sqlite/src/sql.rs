//! Small helpers shared by the aggregate modules: column decoding and dynamic filters.

use gatehouse_store::SecretHash;
use rusqlite::types::{Type, Value};
use rusqlite::{Connection, Params, Row};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::{DbResult, other};

/// `query_row` through the connection's statement cache: a statement on a hot path (the
/// token, refresh and authorization queries) is parsed once per connection, not per call.
pub(crate) fn cached_row<T, P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
    f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.prepare_cached(sql)?.query_row(params, f)
}

/// `execute` through the connection's statement cache (see [`cached_row`]).
pub(crate) fn cached_exec<P: Params>(
    conn: &Connection,
    sql: &str,
    params: P,
) -> rusqlite::Result<usize> {
    conn.prepare_cached(sql)?.execute(params)
}

/// Decodes a TEXT JSON column; a document that does not parse makes the row `Corrupt`.
pub(crate) fn json_col<T: DeserializeOwned>(row: &Row<'_>, idx: usize) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, Box::new(e)))
}

/// Encodes a value as a TEXT JSON column.
pub(crate) fn to_json<T: Serialize>(value: &T) -> DbResult<String> {
    serde_json::to_string(value).map_err(|e| other(format!("cannot encode JSON: {e}")))
}

/// Decodes a `SecretHash` column.
pub(crate) fn hash_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<SecretHash> {
    Ok(SecretHash::from_stored(row.get(idx)?))
}

/// Decodes an optional `SecretHash` column.
pub(crate) fn opt_hash_col(row: &Row<'_>, idx: usize) -> rusqlite::Result<Option<SecretHash>> {
    Ok(row
        .get::<_, Option<String>>(idx)?
        .map(SecretHash::from_stored))
}

/// Decodes a TEXT column through a parser of its storage spelling.
pub(crate) fn parsed_col<T>(
    row: &Row<'_>,
    idx: usize,
    parse: impl FnOnce(&str) -> Option<T>,
) -> rusqlite::Result<T> {
    let text: String = row.get(idx)?;
    parse(&text).ok_or_else(|| {
        let msg = format!("unexpected value {text:?}");
        rusqlite::Error::FromSqlConversionFailure(idx, Type::Text, msg.into())
    })
}

/// A `WHERE` clause built from optional equality filters, with its arguments in order.
pub(crate) struct Filter {
    clause: String,
    args: Vec<Value>,
}

impl Filter {
    /// Starts with a mandatory `column = value`.
    pub(crate) fn new(column: &str, value: &str) -> Self {
        Self {
            clause: format!("WHERE {column} = ?"),
            args: vec![Value::Text(value.into())],
        }
    }

    /// Adds `AND column = value` when a value is given.
    pub(crate) fn eq(mut self, column: &str, value: Option<&str>) -> Self {
        if let Some(v) = value {
            self.clause.push_str(&format!(" AND {column} = ?"));
            self.args.push(Value::Text(v.into()));
        }
        self
    }

    /// Adds `AND condition`, a fixed SQL condition (no user input), e.g. one that matches
    /// a partial index's `WHERE` exactly, which a placeholder would not.
    pub(crate) fn and(mut self, condition: &'static str) -> Self {
        self.clause.push_str(" AND ");
        self.clause.push_str(condition);
        self
    }

    /// Adds `AND column > value` when a value is given.
    pub(crate) fn gt(self, column: &str, value: Option<i64>) -> Self {
        self.compare(column, ">", value)
    }

    /// Adds `AND column >= value` when a value is given.
    pub(crate) fn ge(self, column: &str, value: Option<i64>) -> Self {
        self.compare(column, ">=", value)
    }

    /// Adds `AND column < value` when a value is given.
    pub(crate) fn lt(self, column: &str, value: Option<i64>) -> Self {
        self.compare(column, "<", value)
    }

    fn compare(mut self, column: &str, op: &str, value: Option<i64>) -> Self {
        if let Some(v) = value {
            self.clause.push_str(&format!(" AND {column} {op} ?"));
            self.args.push(Value::Integer(v));
        }
        self
    }

    /// The clause, starting with `WHERE`.
    pub(crate) fn clause(&self) -> &str {
        &self.clause
    }

    /// The arguments, for `params_from_iter`.
    pub(crate) fn args(&self) -> &[Value] {
        &self.args
    }
}
