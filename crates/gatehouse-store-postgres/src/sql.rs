//! Small helpers shared by the aggregate modules: column decoding and dynamic filters.

use gatehouse_store::SecretHash;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql};

use crate::error::{DbResult, corrupt, other};

/// Column `idx` of `row`; a value of the wrong type or nullness makes the row `Corrupt`.
pub(crate) fn col<'a, T: FromSql<'a>>(row: &'a Row, idx: usize) -> DbResult<T> {
    row.try_get(idx).map_err(|e| {
        let name = row.columns().get(idx).map_or("?", |c| c.name());
        corrupt(format!("column {name}: {e}"))
    })
}

/// Decodes a TEXT JSON column; a document that does not parse makes the row `Corrupt`.
pub(crate) fn json_col<T: DeserializeOwned>(row: &Row, idx: usize) -> DbResult<T> {
    let text: &str = col(row, idx)?;
    serde_json::from_str(text).map_err(|e| {
        let name = row.columns().get(idx).map_or("?", |c| c.name());
        corrupt(format!("column {name}: {e}"))
    })
}

/// Encodes a value as a TEXT JSON column.
pub(crate) fn to_json<T: Serialize>(value: &T) -> DbResult<String> {
    serde_json::to_string(value).map_err(|e| other(format!("cannot encode JSON: {e}")))
}

/// Decodes a `SecretHash` column.
pub(crate) fn hash_col(row: &Row, idx: usize) -> DbResult<SecretHash> {
    Ok(SecretHash::from_stored(col(row, idx)?))
}

/// Decodes an optional `SecretHash` column.
pub(crate) fn opt_hash_col(row: &Row, idx: usize) -> DbResult<Option<SecretHash>> {
    Ok(col::<Option<String>>(row, idx)?.map(SecretHash::from_stored))
}

/// Decodes a TEXT column through a parser of its storage spelling.
pub(crate) fn parsed_col<T>(
    row: &Row,
    idx: usize,
    parse: impl FnOnce(&str) -> Option<T>,
) -> DbResult<T> {
    let text: &str = col(row, idx)?;
    parse(text).ok_or_else(|| corrupt(format!("unexpected value {text:?}")))
}

/// Decodes every row with `decode`.
pub(crate) fn rows<T>(rows: &[Row], decode: impl Fn(&Row) -> DbResult<T>) -> DbResult<Vec<T>> {
    rows.iter().map(decode).collect()
}

/// A parameter of a [`Filter`].
type Arg = Box<dyn ToSql + Sync + Send>;

/// A `WHERE` clause built from optional filters, with its arguments in order (`$1`, `$2`…).
pub(crate) struct Filter {
    clause: String,
    args: Vec<Arg>,
}

impl Filter {
    /// Starts with a mandatory `column = value`.
    pub(crate) fn new(column: &str, value: &str) -> Self {
        Self {
            clause: format!("WHERE {column} = $1"),
            args: vec![Box::new(value.to_owned())],
        }
    }

    /// Adds `AND column = value` when a value is given.
    pub(crate) fn eq(self, column: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => self.push(column, "=", Box::new(v.to_owned())),
            None => self,
        }
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

    fn compare(self, column: &str, op: &str, value: Option<i64>) -> Self {
        match value {
            Some(v) => self.push(column, op, Box::new(v)),
            None => self,
        }
    }

    fn push(mut self, column: &str, op: &str, arg: Arg) -> Self {
        self.args.push(arg);
        let n = self.args.len();
        self.clause.push_str(&format!(" AND {column} {op} ${n}"));
        self
    }

    /// Adds one more argument not named in the clause (a `LIMIT`); returns its placeholder.
    pub(crate) fn arg(&mut self, arg: i64) -> String {
        self.args.push(Box::new(arg));
        format!("${}", self.args.len())
    }

    /// The clause, starting with `WHERE`.
    pub(crate) fn clause(&self) -> &str {
        &self.clause
    }

    /// The arguments, in placeholder order.
    pub(crate) fn args(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.args
            .iter()
            .map(|a| a.as_ref() as &(dyn ToSql + Sync))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_numbers_placeholders_in_order_of_the_given_filters() {
        let mut f = Filter::new("env_id", "a")
            .eq("client_id", None)
            .eq("outcome", Some("failure"))
            .ge("at_ms", Some(5))
            .lt("at_ms", None)
            .gt("id", Some(9));
        let limit = f.arg(100);
        assert_eq!(
            f.clause(),
            "WHERE env_id = $1 AND outcome = $2 AND at_ms >= $3 AND id > $4"
        );
        assert_eq!(limit, "$5");
        assert_eq!(f.args().len(), 5);
    }
}
