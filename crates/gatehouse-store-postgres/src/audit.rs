//! The authentication log and initial access tokens.

use async_trait::async_trait;
use gatehouse_store::{
    AuditEvent, AuditQuery, AuditStore, InitialAccessTokenRecord, SecretHash, StoreResult,
    Timestamp,
};
use tokio_postgres::Row;

use crate::PostgresStore;
use crate::error::DbResult;
use crate::pool::{Conn, Transactional};
use crate::sql::{Filter, col, hash_col, json_col, rows, to_json};

const EVENT_COLUMNS: &str = "id, env_id, at_ms, correlation_id, event, outcome, error, \
     error_detail, client_id, resource, user_id, ip, data";

/// The outcome of a failed step, as the log spells it.
const FAILURE: &str = "failure";

/// Events returned when the query sets no limit.
const DEFAULT_LIMIT: u32 = 100;

/// Events deleted per statement by `purge_events`.
pub(crate) const PURGE_BATCH: i64 = 5000;

/// Key of the advisory lock that serialises appends ("ghaudit" in ASCII).
const APPEND_LOCK: i64 = 0x0067_6861_7564_6974;

fn event_row(row: &Row) -> DbResult<AuditEvent> {
    Ok(AuditEvent {
        id: col(row, 0)?,
        env_id: col(row, 1)?,
        at_ms: col(row, 2)?,
        correlation_id: col(row, 3)?,
        event: col(row, 4)?,
        outcome: col(row, 5)?,
        error: col(row, 6)?,
        error_detail: col(row, 7)?,
        client_id: col(row, 8)?,
        resource: col(row, 9)?,
        user_id: col(row, 10)?,
        ip: col(row, 11)?,
        data: json_col(row, 12)?,
    })
}

fn iat_row(row: &Row) -> DbResult<InitialAccessTokenRecord> {
    Ok(InitialAccessTokenRecord {
        hash: hash_col(row, 0)?,
        env_id: col(row, 1)?,
        description: col(row, 2)?,
        created_at: col(row, 3)?,
        expires_at: col(row, 4)?,
    })
}

/// PostgreSQL text cannot hold NUL; a log event quotes what clients sent, so a NUL becomes
/// U+FFFD rather than failing the whole batch. (JSON `data` escapes it as `\u0000`.)
fn text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn opt_text(s: Option<&String>) -> Option<String> {
    s.map(|s| text(s))
}

/// A batch of events as one column array per field, for `unnest`.
#[derive(Default)]
struct Columns {
    env_id: Vec<String>,
    at_ms: Vec<i64>,
    correlation_id: Vec<String>,
    event: Vec<String>,
    outcome: Vec<String>,
    error: Vec<Option<String>>,
    error_detail: Vec<Option<String>>,
    client_id: Vec<Option<String>>,
    resource: Vec<Option<String>>,
    user_id: Vec<Option<String>>,
    ip: Vec<Option<String>>,
    data: Vec<String>,
}

impl Columns {
    fn of(events: &[AuditEvent]) -> DbResult<Self> {
        let mut c = Self::default();
        for e in events {
            c.env_id.push(text(&e.env_id));
            c.at_ms.push(e.at_ms);
            c.correlation_id.push(text(&e.correlation_id));
            c.event.push(text(&e.event));
            c.outcome.push(text(&e.outcome));
            c.error.push(opt_text(e.error.as_ref()));
            c.error_detail.push(opt_text(e.error_detail.as_ref()));
            c.client_id.push(opt_text(e.client_id.as_ref()));
            c.resource.push(opt_text(e.resource.as_ref()));
            c.user_id.push(opt_text(e.user_id.as_ref()));
            c.ip.push(opt_text(e.ip.as_ref()));
            c.data.push(to_json(&e.data)?);
        }
        Ok(c)
    }
}

impl Transactional for Columns {
    type Output = ();

    /// Takes the append lock, so that ids (drawn from the identity sequence at insert time)
    /// increase in commit order across nodes, then inserts the batch in order.
    async fn run(&self, tx: &mut Conn) -> DbResult<()> {
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&APPEND_LOCK])
            .await?;
        tx.execute(
            "INSERT INTO audit_events (env_id, at_ms, correlation_id, event, outcome, error,
                 error_detail, client_id, resource, user_id, ip, data)
             SELECT env_id, at_ms, correlation_id, event, outcome, error, error_detail,
                    client_id, resource, user_id, ip, data
             FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::text[], $10::text[],
                         $11::text[], $12::text[])
                  WITH ORDINALITY AS e (env_id, at_ms, correlation_id, event, outcome, error,
                      error_detail, client_id, resource, user_id, ip, data, n)
             ORDER BY n",
            &[
                &self.env_id,
                &self.at_ms,
                &self.correlation_id,
                &self.event,
                &self.outcome,
                &self.error,
                &self.error_detail,
                &self.client_id,
                &self.resource,
                &self.user_id,
                &self.ip,
                &self.data,
            ],
        )
        .await?;
        Ok(())
    }
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

#[async_trait]
impl AuditStore for PostgresStore {
    async fn append_events(&self, events: &[AuditEvent]) -> StoreResult<()> {
        if events.is_empty() {
            return Ok(());
        }
        self.pool.transaction(&Columns::of(events)?).await
    }

    /// "Newest first" is by id (append order, which appends keep equal to commit order),
    /// which may differ from `at_ms` order when events come in late (gateway reports).
    async fn list_events(&self, q: &AuditQuery) -> StoreResult<Vec<AuditEvent>> {
        let mut filter = event_filter(q);
        let limit = filter.arg(i64::from(q.limit.unwrap_or(DEFAULT_LIMIT)));
        let order = if q.oldest_first { "ASC" } else { "DESC" };
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM audit_events {} ORDER BY id {order} LIMIT {limit}",
            filter.clause()
        );
        let found = self.pool.get().await?.query(&sql, &filter.args()).await?;
        Ok(rows(&found, event_row)?)
    }

    /// In batches of [`PURGE_BATCH`] events, one statement (and transaction) each, so that
    /// purging a large log never holds many row locks for long. Not atomic: if a batch
    /// fails, the earlier ones stay deleted and calling again finishes the job.
    async fn purge_events(&self, env_id: &str, before_ms: i64) -> StoreResult<u64> {
        let mut total = 0;
        loop {
            let deleted = self
                .pool
                .get()
                .await?
                .execute(
                    "DELETE FROM audit_events WHERE id IN (
                         SELECT id FROM audit_events WHERE env_id = $1 AND at_ms < $2 LIMIT $3)",
                    &[&env_id, &before_ms, &PURGE_BATCH],
                )
                .await?;
            total += deleted;
            if deleted < PURGE_BATCH as u64 {
                return Ok(total);
            }
        }
    }

    async fn create_initial_access_token(&self, t: &InitialAccessTokenRecord) -> StoreResult<()> {
        let hash = t.hash.as_str();
        self.pool
            .get()
            .await?
            .execute(
                "INSERT INTO initial_access_tokens
                     (hash, env_id, description, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &hash,
                    &t.env_id,
                    &t.description,
                    &t.created_at,
                    &t.expires_at,
                ],
            )
            .await?;
        Ok(())
    }

    async fn find_initial_access_token(
        &self,
        env_id: &str,
        hash: &SecretHash,
        now: Timestamp,
    ) -> StoreResult<Option<InitialAccessTokenRecord>> {
        let hash = hash.as_str();
        let row = self
            .pool
            .get()
            .await?
            .query_opt(
                "SELECT hash, env_id, description, created_at, expires_at
                 FROM initial_access_tokens
                 WHERE hash = $1 AND env_id = $2 AND (expires_at IS NULL OR expires_at > $3)",
                &[&hash, &env_id, &now],
            )
            .await?;
        Ok(row.as_ref().map(iat_row).transpose()?)
    }
}
