//! The authentication log and initial access tokens.

use std::ops::Range;
use std::sync::LazyLock;

use async_trait::async_trait;
use gatehouse_store::{
    AuditEvent, AuditQuery, AuditStore, InitialAccessTokenRecord, SecretHash, StoreError,
    StoreResult, Timestamp,
};
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{OptionalExtension, Row, Transaction, params, params_from_iter};

use crate::SqliteStore;
use crate::error::{DbResult, other};
use crate::sql::{Filter, hash_col, json_col};

const EVENT_COLUMNS: &str = "id, env_id, at_ms, correlation_id, event, outcome, error, error_detail, \
     client_id, resource, user_id, ip, data";

/// The outcome of a failed step, as the log spells it.
const FAILURE: &str = "failure";

/// Events returned when the query sets no limit.
const DEFAULT_LIMIT: u32 = 100;

/// Events deleted per transaction by `purge_events`.
pub(crate) const PURGE_BATCH: u64 = 5000;

fn event_row(row: &Row<'_>) -> rusqlite::Result<AuditEvent> {
    Ok(AuditEvent {
        id: row.get(0)?,
        env_id: row.get(1)?,
        at_ms: row.get(2)?,
        correlation_id: row.get(3)?,
        event: row.get(4)?,
        outcome: row.get(5)?,
        error: row.get(6)?,
        error_detail: row.get(7)?,
        client_id: row.get(8)?,
        resource: row.get(9)?,
        user_id: row.get(10)?,
        ip: row.get(11)?,
        data: json_col(row, 12)?,
    })
}

fn iat_row(row: &Row<'_>) -> rusqlite::Result<InitialAccessTokenRecord> {
    Ok(InitialAccessTokenRecord {
        hash: hash_col(row, 0)?,
        env_id: row.get(1)?,
        description: row.get(2)?,
        created_at: row.get(3)?,
        expires_at: row.get(4)?,
    })
}

/// A batch of events made ready for the writer thread by the caller: every text column,
/// the JSON `data` included, in one buffer. The writer thread is the store's one serial
/// resource; this way it neither encodes JSON nor frees a batch's many small strings (it
/// used to get a deep copy of the events: 8.9% of its time went to JSON and 5% to freeing
/// the copy under client-credentials load).
pub(crate) struct EventBatch {
    text: Vec<u8>,
    rows: Vec<FlatEvent>,
}

/// One event of an [`EventBatch`]: its time, and where each text column lies in the buffer
/// (`None`: NULL), in the order of [`append_tx`]'s `INSERT` (`env_id` … `ip`, then `data`).
struct FlatEvent {
    at_ms: i64,
    text: [Option<Range<usize>>; 11],
}

impl EventBatch {
    pub(crate) fn new(events: &[AuditEvent]) -> DbResult<Self> {
        let mut text = Vec::with_capacity(events.len() * 320);
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            let mut put = |s: Option<&str>| {
                s.map(|s| {
                    let start = text.len();
                    text.extend_from_slice(s.as_bytes());
                    start..text.len()
                })
            };
            let mut cols = [
                put(Some(&e.env_id)),
                put(Some(&e.correlation_id)),
                put(Some(&e.event)),
                put(Some(&e.outcome)),
                put(e.error.as_deref()),
                put(e.error_detail.as_deref()),
                put(e.client_id.as_deref()),
                put(e.resource.as_deref()),
                put(e.user_id.as_deref()),
                put(e.ip.as_deref()),
                None,
            ];
            let start = text.len();
            serde_json::to_writer(&mut text, &e.data)
                .map_err(|err| other(format!("cannot encode JSON: {err}")))?;
            cols[10] = Some(start..text.len());
            rows.push(FlatEvent {
                at_ms: e.at_ms,
                text: cols,
            });
        }
        Ok(Self { text, rows })
    }
}

/// Rows per `INSERT` statement of [`append_tx`], largest first: a batch goes in as few
/// statements as these sizes allow (125 events: 3 × 32, 3 × 8, 5 × 1). Each statement
/// execution has a fixed cost (cursors opened and closed on the table and its indexes, and,
/// for the AUTOINCREMENT id, `sqlite_sequence` read at the start and written at the end),
/// which a statement of 32 rows pays once. Three sizes keep three statements cached.
const INSERT_ROWS: [usize; 3] = [32, 8, 1];

/// Columns bound per row by [`append_tx`].
const INSERT_COLUMNS: usize = 12;

/// The `INSERT` of `rows` events; parameters numbered row by row, `?1` … `?12` the first.
fn insert_sql(rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO audit_events (at_ms, env_id, correlation_id, event, outcome, error, \
         error_detail, client_id, resource, user_id, ip, data) VALUES ",
    );
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 1..=INSERT_COLUMNS {
            if c > 1 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("?{}", r * INSERT_COLUMNS + c));
        }
        sql.push(')');
    }
    sql
}

static INSERT_SQL: LazyLock<[String; 3]> = LazyLock::new(|| INSERT_ROWS.map(insert_sql));

/// Inserts the events in order; the id column (AUTOINCREMENT) assigns increasing ids, row
/// by row within a statement as between statements.
fn append_tx(tx: &Transaction<'_>, batch: &EventBatch) -> DbResult<()> {
    let mut rest = &batch.rows[..];
    for (size, sql) in INSERT_ROWS.iter().zip(INSERT_SQL.iter()) {
        if rest.len() < *size {
            continue;
        }
        let mut stmt = tx.prepare_cached(sql)?;
        while rest.len() >= *size {
            let (now, later) = rest.split_at(*size);
            for (r, row) in now.iter().enumerate() {
                let first = r * INSERT_COLUMNS + 1;
                stmt.raw_bind_parameter(first, row.at_ms)?;
                for (i, col) in row.text.iter().enumerate() {
                    // The buffer holds only `&str`s and JSON, so every range is UTF-8 text.
                    let value = match col {
                        Some(r) => ValueRef::Text(&batch.text[r.clone()]),
                        None => ValueRef::Null,
                    };
                    stmt.raw_bind_parameter(first + 1 + i, ToSqlOutput::Borrowed(value))?;
                }
            }
            stmt.raw_execute()?;
            rest = later;
        }
    }
    Ok(())
}

/// The `WHERE` clause of a query: every filter it sets. Failures only is written as the
/// literal condition of the partial index `audit_events_failures`, so the planner can use
/// that index whatever the statement's parameters.
fn event_filter(q: &AuditQuery) -> Filter {
    let filter = Filter::new("env_id", &q.env_id)
        .eq("correlation_id", q.correlation_id.as_deref())
        .eq("client_id", q.client_id.as_deref());
    let filter = match q.outcome.as_deref() {
        Some(FAILURE) => filter.and("outcome = 'failure'"),
        outcome => filter.eq("outcome", outcome),
    };
    filter
        .eq("event", q.event.as_deref())
        .eq("user_id", q.user_id.as_deref())
        .eq("resource", q.resource.as_deref())
        .eq("error", q.error.as_deref())
        .ge("at_ms", q.since_ms)
        .lt("at_ms", q.until_ms)
        .gt("id", q.after_id)
}

/// The statement of [`AuditStore::list_events`] and its arguments.
fn list_sql(q: &AuditQuery) -> (String, Filter) {
    let filter = event_filter(q);
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    let order = if q.oldest_first { "ASC" } else { "DESC" };
    let sql = format!(
        "SELECT {EVENT_COLUMNS} FROM audit_events {} ORDER BY id {order} LIMIT {limit}",
        filter.clause()
    );
    (sql, filter)
}

const PURGE_SQL: &str = "DELETE FROM audit_events WHERE id IN (
     SELECT id FROM audit_events WHERE env_id = ?1 AND at_ms < ?2 LIMIT ?3)";

/// Deletes at most [`PURGE_BATCH`] events of `env_id` older than `before_ms`.
fn purge_batch(tx: &Transaction<'_>, env_id: &str, before_ms: i64) -> DbResult<u64> {
    let n = tx.execute(PURGE_SQL, params![env_id, before_ms, PURGE_BATCH])?;
    Ok(n as u64)
}

#[async_trait]
impl AuditStore for SqliteStore {
    async fn append_events(&self, events: &[AuditEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        let batch = EventBatch::new(events).map_err(StoreError::from)?;
        self.pool.write(move |tx| append_tx(tx, &batch)).await
    }

    /// "Newest first" is by id (append order), which may differ from `at_ms` order when
    /// events come in late (gateway reports); ids are what `after_id` tails by.
    async fn list_events(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let (sql, filter) = list_sql(q);
        self.pool
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(&sql)?;
                let rows = stmt.query_map(params_from_iter(filter.args()), event_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
    }

    /// In batches of [`PURGE_BATCH`] events, one transaction each, so that purging a large
    /// log never holds the write lock for long. Not atomic: if a batch fails, the earlier
    /// ones stay deleted and calling again finishes the job.
    async fn purge_events(&self, env_id: &str, before_ms: i64) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let env_id = env_id.to_owned();
            let deleted = self
                .pool
                .write(move |tx| purge_batch(tx, &env_id, before_ms))
                .await?;
            total += deleted;
            if deleted < PURGE_BATCH {
                return Ok(total);
            }
        }
    }

    async fn create_initial_access_token(&self, t: &InitialAccessTokenRecord) -> StoreResult<()> {
        let t = t.clone();
        self.pool
            .write(move |tx| {
                tx.execute(
                    "INSERT INTO initial_access_tokens (hash, env_id, description, created_at, expires_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![t.hash.as_str(), t.env_id, t.description, t.created_at, t.expires_at],
                )?;
                Ok(())
            })
            .await
    }

    async fn find_initial_access_token(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<InitialAccessTokenRecord>> {
        let (env_id, hash) = (env_id.to_owned(), hash.clone());
        self.pool
            .read(move |conn| {
                let sql = "SELECT hash, env_id, description, created_at, expires_at
                           FROM initial_access_tokens
                           WHERE hash = ?1 AND env_id = ?2 AND (expires_at IS NULL OR expires_at > ?3)";
                Ok(conn.query_row(sql, params![hash.as_str(), env_id, now], iat_row).optional()?)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::{Pool, path_for_tests};

    /// Batches of every size around the statement sizes go in whole and in order: ids
    /// increase in the order of the events, and every column comes back as it went in
    /// (NULL stays NULL), whatever mix of 32-, 8- and 1-row statements wrote them.
    #[tokio::test]
    async fn batches_of_any_size_keep_their_order_and_columns() {
        let path = path_for_tests("audit-batches");
        let pool = Pool::open(&path).unwrap();
        let sizes = [1_usize, 7, 8, 9, 31, 32, 33, 41, 64, 125];
        let mut sent = Vec::new();
        for (b, n) in sizes.iter().enumerate() {
            let events: Vec<AuditEvent> = (0..*n)
                .map(|i| AuditEvent {
                    id: 0,
                    env_id: "dev".into(),
                    // Not in id order: the log keeps the order it was given.
                    at_ms: 1_000_000 - i as i64,
                    correlation_id: format!("batch-{b}-event-{i}"),
                    event: "token".into(),
                    outcome: if i % 3 == 0 { "failure" } else { "success" }.into(),
                    error: (i % 3 == 0).then(|| "invalid_client".into()),
                    error_detail: (i % 5 == 0).then(|| format!("detail {i}")),
                    client_id: (i % 2 == 0).then(|| format!("client-{i}")),
                    resource: None,
                    user_id: (i % 4 == 0).then(|| "user-1".into()),
                    ip: Some("127.0.0.1".into()),
                    data: serde_json::json!({ "n": i, "batch": b }),
                })
                .collect();
            let batch = EventBatch::new(&events).unwrap();
            pool.write(move |tx| append_tx(tx, &batch)).await.unwrap();
            sent.extend(events);
        }
        let got: Vec<AuditEvent> = pool
            .read(|conn| {
                let mut stmt = conn.prepare(&format!(
                    "SELECT {EVENT_COLUMNS} FROM audit_events ORDER BY id"
                ))?;
                let rows = stmt.query_map([], event_row)?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .await
            .unwrap();
        assert_eq!(got.len(), sent.len());
        for (i, (g, s)) in got.iter().zip(&sent).enumerate() {
            assert_eq!(g.id, i as i64 + 1, "ids follow the events' order");
            let g = AuditEvent { id: 0, ..g.clone() };
            assert_eq!(&g, s, "event {i} round trips");
        }
        drop(pool);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn the_insert_statements_number_their_parameters_row_by_row() {
        assert_eq!(
            insert_sql(2).split("VALUES ").nth(1).unwrap(),
            "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12), \
             (?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24)"
        );
        // SQLite's limit on parameters in one statement (SQLITE_MAX_VARIABLE_NUMBER) is
        // 32,766; the largest statement stays well below it.
        assert!(INSERT_ROWS[0] * INSERT_COLUMNS < 32_766);
    }

    /// The lines of SQLite's plan for `sql` with `args`.
    async fn plan(pool: &Pool, sql: String, args: Vec<rusqlite::types::Value>) -> Vec<String> {
        pool.read(move |conn| {
            let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = stmt.query_map(params_from_iter(args), |r| r.get::<_, String>(3))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
        .unwrap()
    }

    /// Every query of the authentication log searches an index (no scan of the table), and
    /// the selective filters search their own; those that keep the id order need no sort.
    /// As the store runs: without `ANALYZE` statistics, on a log of two environments,
    /// mostly successful token events of a few clients, few with a user.
    #[tokio::test]
    async fn every_log_query_uses_an_index() {
        let path = path_for_tests("audit-plans");
        let pool = Pool::open(&path).unwrap();
        pool.write(|tx| {
            let events: Vec<AuditEvent> = (0..5000)
                .map(|i| AuditEvent {
                    id: 0,
                    env_id: if i % 2 == 0 { "dev" } else { "prod" }.into(),
                    at_ms: 1_000_000 + i,
                    correlation_id: format!("corr-{}", i / 3),
                    event: ["token", "authorize", "consent"][(i % 3) as usize].into(),
                    outcome: if i % 50 == 0 { "failure" } else { "success" }.into(),
                    error: (i % 50 == 0).then(|| "invalid_client".into()),
                    error_detail: None,
                    client_id: Some(format!("client-{}", i % 7)),
                    resource: Some("https://mcp.example/".into()),
                    user_id: (i % 10 == 0).then(|| "user-1".into()),
                    ip: None,
                    data: serde_json::json!({}),
                })
                .collect();
            append_tx(tx, &EventBatch::new(&events)?)?;
            Ok(())
        })
        .await
        .unwrap();
        let base = AuditQuery {
            env_id: "dev".into(),
            limit: Some(100),
            ..AuditQuery::default()
        };
        let s = |v: &str| Some(v.to_owned());
        // (what, query, the index it must search (or one of them), whether the id order
        // may need a sort)
        let cases = [
            ("newest", base.clone(), "audit_events_by_env", false),
            (
                "tail",
                AuditQuery {
                    after_id: Some(10),
                    oldest_first: true,
                    ..base.clone()
                },
                "audit_events_by_env",
                false,
            ),
            (
                "trace",
                AuditQuery {
                    correlation_id: s("corr-5"),
                    oldest_first: true,
                    ..base.clone()
                },
                "audit_events_by_correlation",
                false,
            ),
            (
                "client",
                AuditQuery {
                    client_id: s("client-3"),
                    ..base.clone()
                },
                "audit_events_by_client",
                false,
            ),
            (
                "failures",
                AuditQuery {
                    outcome: s("failure"),
                    ..base.clone()
                },
                "audit_events_failures",
                false,
            ),
            (
                "failures of the last day",
                AuditQuery {
                    outcome: s("failure"),
                    since_ms: Some(1_004_000),
                    limit: Some(1000),
                    ..base.clone()
                },
                "audit_events_failures|audit_events_by_time",
                true,
            ),
            (
                "user",
                AuditQuery {
                    user_id: s("user-1"),
                    ..base.clone()
                },
                "audit_events_by_user",
                false,
            ),
            (
                "error",
                AuditQuery {
                    error: s("invalid_client"),
                    ..base.clone()
                },
                "audit_events_by_error",
                false,
            ),
            (
                "successes",
                AuditQuery {
                    outcome: s("success"),
                    ..base.clone()
                },
                "audit_events_by_env",
                false,
            ),
            (
                "step",
                AuditQuery {
                    event: s("token"),
                    ..base.clone()
                },
                "audit_events_by_env",
                false,
            ),
            (
                "MCP server",
                AuditQuery {
                    resource: s("https://mcp.example/"),
                    ..base.clone()
                },
                "audit_events_by_env",
                false,
            ),
            (
                "time range",
                AuditQuery {
                    since_ms: Some(1_004_000),
                    until_ms: Some(1_004_100),
                    ..base.clone()
                },
                "audit_events_by_time",
                true,
            ),
        ];
        for (what, q, index, may_sort) in cases {
            let (sql, filter) = list_sql(&q);
            let lines = plan(&pool, sql, filter.args().to_vec()).await;
            let text = lines.join(" | ");
            assert!(
                lines
                    .iter()
                    .any(|l| l.starts_with("SEARCH audit_events USING ")
                        && index.split('|').any(|i| l.contains(&format!("INDEX {i} ")))),
                "{what}: expected a search of {index}, got {text}"
            );
            assert!(
                !lines.iter().any(|l| l.starts_with("SCAN audit_events")),
                "{what}: scans the table: {text}"
            );
            assert!(
                may_sort || !text.contains("TEMP B-TREE"),
                "{what}: sorts: {text}"
            );
        }
        let purge = PURGE_SQL.replace("DELETE FROM audit_events WHERE id IN (", "");
        let purge = purge.trim_end_matches(')').to_owned();
        let lines = plan(
            &pool,
            purge,
            vec![
                "dev".to_owned().into(),
                1_002_000_i64.into(),
                5000_i64.into(),
            ],
        )
        .await;
        assert!(
            lines
                .iter()
                .any(|l| l.contains("INDEX audit_events_by_time ")),
            "purge: {lines:?}"
        );
        drop(pool);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }
}
