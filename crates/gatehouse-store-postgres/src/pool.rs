//! Connections: a fixed-size pool of tokio-postgres clients, each with its own cache of
//! prepared statements.
//!
//! A semaphore bounds how many connections are in use; idle connections wait on a stack
//! (a std mutex touched only for a push or a pop, never across an `.await`). Connections
//! are opened on demand, so an idle node holds one connection, and a connection found
//! closed (the server restarted, a network blip) is dropped at checkout and replaced.
//!
//! A store method checks a connection out ([`Pool::get`]) and runs its statements on it in
//! autocommit (each statement its own transaction), or hands a [`Transactional`] piece of
//! work to [`Pool::transaction`], which runs it between `BEGIN` and `COMMIT` (READ
//! COMMITTED) and runs it again, up to three attempts, after a deadlock or a serialization
//! failure. A lost connection is never retried: the work may have been applied.
//!
//! Prepared statements are cached per connection by SQL text. When the schema changes
//! under a cached statement (another node migrated), PostgreSQL refuses it; the connection
//! then forgets its statements, and the statement is prepared and run again (in autocommit;
//! inside a transaction, the whole transaction is retried).
//!
//! Every connection waits at most 5 s for a lock another session holds (`lock_timeout`,
//! unless the URL's `options` set it), as SQLite's busy timeout does, so a stuck session
//! makes requests fail as unavailable instead of hanging them.
//!
//! **Round trips.** A transaction's `BEGIN` is not sent on its own: it goes out in front of
//! the transaction's first prepared statement, in the same write, and a [`Conn::pipeline`] of two
//! statements that do not depend on each other's results goes out in one write too. The
//! server still runs them one after the other, in order, exactly as if each had been
//! awaited; only the waiting between them is saved (a refresh rotation went from six round
//! trips to three). Should the `BEGIN` itself fail (only a broken connection makes it), the
//! statement behind it fails with the same broken connection.
//!
//! A request cancelled in the middle of a transaction (its future dropped) leaves the
//! connection inside that transaction: the connection is then closed rather than returned
//! to the pool, so the server rolls the transaction back and releases its locks at once.

use std::collections::HashMap;
use std::future::Future;
use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use gatehouse_store::{StoreError, StoreResult};
use tokio::sync::{Semaphore, SemaphorePermit};
use tokio_postgres::config::SslMode;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Config, NoTls, Row, Statement};

use crate::error::{DbError, DbResult, Retry};
use crate::migrate;

/// How long a caller waits for a free connection before the store reports
/// [`StoreError::Unavailable`].
pub(crate) const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);

/// Connect timeout when the URL sets none (`connect_timeout=…`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long a statement waits for a row or table lock held by another session before it
/// fails ([`StoreError::Unavailable`]), unless the URL's `options` set `lock_timeout`: the
/// SQLite backend's busy timeout. Migrations and gc, which may wait longer, lift it.
const LOCK_TIMEOUT: &str = "SET lock_timeout = '5s'";

/// Attempts of one transaction (the first and two retries).
const MAX_ATTEMPTS: u32 = 3;

/// Most prepared statements kept per connection; the audit log's filter combinations are
/// the only open-ended set, and the cache simply starts over when full.
const MAX_STATEMENTS: usize = 256;

/// Parameters of a statement.
pub(crate) type Params<'a> = [&'a (dyn ToSql + Sync)];

/// Work that must run in one transaction. `run` may be called again (after a deadlock),
/// so it must not consume anything.
pub(crate) trait Transactional: Sync {
    /// What the work returns.
    type Output: Send;
    /// Runs the statements of the transaction on `tx`.
    fn run(&self, tx: &mut Conn) -> impl Future<Output = DbResult<Self::Output>> + Send;
}

/// A connection and the statements prepared on it.
pub(crate) struct Conn {
    client: Client,
    statements: Statements,
    /// Set from `BEGIN` to the end of the transaction; still set if the work was
    /// cancelled, and then the connection is closed instead of reused.
    in_transaction: bool,
    /// A transaction has started whose `BEGIN` has not been sent yet: it goes out with
    /// the first statement.
    begin_pending: bool,
}

/// The statements prepared on one connection, by SQL text.
#[derive(Default)]
struct Statements(HashMap<String, Statement>);

impl Statements {
    /// The statement prepared for `sql`, preparing it once.
    async fn prepared(&mut self, client: &Client, sql: &str) -> DbResult<Statement> {
        if let Some(s) = self.0.get(sql) {
            return Ok(s.clone());
        }
        let statement = client.prepare(sql).await?;
        if self.0.len() >= MAX_STATEMENTS {
            self.0.clear();
        }
        self.0.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }

    /// Runs `call` with the statement prepared for `sql`, behind a `BEGIN` sent in the same
    /// write if `begin` (the transaction's pending `BEGIN`; its error comes first). If the
    /// statement went stale, the cache is emptied and, outside a transaction, the statement
    /// prepared and run once more: the server refused it before doing anything.
    async fn run<T, F, Fut>(
        &mut self,
        client: &Client,
        (in_transaction, begin): (bool, bool),
        sql: &str,
        call: F,
    ) -> DbResult<T>
    where
        F: Fn(Statement) -> Fut,
        Fut: Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let statement = self.prepared(client, sql).await?;
        let result = if begin {
            // `join!` polls in order: BEGIN's messages are queued before the statement's.
            let (begun, result) = tokio::join!(client.batch_execute("BEGIN"), call(statement));
            begun.and(result)
        } else {
            call(statement).await
        };
        let e = match result {
            Ok(value) => return Ok(value),
            Err(e) => DbError::from(e),
        };
        if e.retry() != Retry::Reprepare {
            return Err(e);
        }
        self.0.clear();
        if in_transaction {
            return Err(e);
        }
        let statement = self.prepared(client, sql).await?;
        Ok(call(statement).await?)
    }
}

impl Conn {
    /// Whether a transaction is open, and whether its `BEGIN` is still to be sent (in front
    /// of the statement about to run, which takes it over).
    fn mode(&mut self) -> (bool, bool) {
        (self.in_transaction, std::mem::take(&mut self.begin_pending))
    }

    /// Sends the pending `BEGIN` of the transaction, if any, on its own (before SQL text
    /// run without preparation).
    async fn begin_if_pending(&mut self) -> DbResult<()> {
        if std::mem::take(&mut self.begin_pending) {
            self.client.batch_execute("BEGIN").await?;
        }
        Ok(())
    }

    /// Two statements sent in one write, behind the transaction's pending `BEGIN` if there
    /// is one: one round trip instead of up to three. The server runs them in order, as if
    /// awaited one by one; use it only when the second statement's parameters do not
    /// depend on the first's result. Returns the rows of each.
    pub(crate) async fn pipeline(
        &mut self,
        (a, a_params): (&str, &Params<'_>),
        (b, b_params): (&str, &Params<'_>),
    ) -> DbResult<(Vec<Row>, Vec<Row>)> {
        let sa = self.statements.prepared(&self.client, a).await?;
        let sb = self.statements.prepared(&self.client, b).await?;
        let begin = std::mem::take(&mut self.begin_pending);
        let client = &self.client;
        // `join!` polls its futures in order, and each sends its messages on its first poll:
        // BEGIN, then `a`, then `b`, in one write to the connection. All three are awaited,
        // and the first error in statement order is the one reported: when `a` fails, `b`
        // fails too (the transaction is aborted), and `a`'s error is the cause.
        let (begun, ra, rb) = tokio::join!(
            async {
                if begin {
                    client.batch_execute("BEGIN").await?;
                }
                Ok::<_, tokio_postgres::Error>(())
            },
            client.query(&sa, a_params),
            client.query(&sb, b_params),
        );
        let e = match (begun, ra, rb) {
            (Ok(()), Ok(ra), Ok(rb)) => return Ok((ra, rb)),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => DbError::from(e),
        };
        if e.retry() == Retry::Reprepare {
            self.statements.0.clear();
        }
        Err(e)
    }

    /// Rows of a query.
    pub(crate) async fn query(&mut self, sql: &str, params: &Params<'_>) -> DbResult<Vec<Row>> {
        let mode = self.mode();
        let client = &self.client;
        self.statements
            .run(client, mode, sql, |s| async move {
                client.query(&s, params).await
            })
            .await
    }

    /// The row of a query that returns at most one.
    pub(crate) async fn query_opt(
        &mut self,
        sql: &str,
        params: &Params<'_>,
    ) -> DbResult<Option<Row>> {
        let mode = self.mode();
        let client = &self.client;
        self.statements
            .run(client, mode, sql, |s| async move {
                client.query_opt(&s, params).await
            })
            .await
    }

    /// The row of a query that returns exactly one.
    pub(crate) async fn query_one(&mut self, sql: &str, params: &Params<'_>) -> DbResult<Row> {
        let mode = self.mode();
        let client = &self.client;
        self.statements
            .run(client, mode, sql, |s| async move {
                client.query_one(&s, params).await
            })
            .await
    }

    /// Runs a statement; returns how many rows it changed.
    pub(crate) async fn execute(&mut self, sql: &str, params: &Params<'_>) -> DbResult<u64> {
        let mode = self.mode();
        let client = &self.client;
        self.statements
            .run(client, mode, sql, |s| async move {
                client.execute(&s, params).await
            })
            .await
    }

    /// Runs SQL text without parameters or preparation (DDL, transaction control).
    pub(crate) async fn batch(&mut self, sql: &str) -> DbResult<()> {
        self.begin_if_pending().await?;
        Ok(self.client.batch_execute(sql).await?)
    }

    /// Runs `work` in a transaction: commits if it returns `Ok`, rolls back otherwise.
    pub(crate) async fn transaction<W: Transactional>(&mut self, work: &W) -> DbResult<W::Output> {
        self.in_transaction = true;
        self.begin_pending = true;
        let outcome = work.run(self).await;
        if std::mem::take(&mut self.begin_pending) {
            // The work ran no statement: there is no transaction to end.
            self.in_transaction = false;
            return outcome;
        }
        match outcome {
            Ok(value) => {
                let committed = self.batch("COMMIT").await;
                // A failed COMMIT ends the transaction too (PostgreSQL rolls it back).
                self.in_transaction = false;
                committed.map(|()| value)
            }
            Err(e) => {
                if self.batch("ROLLBACK").await.is_ok() {
                    self.in_transaction = false;
                }
                Err(e)
            }
        }
    }

    /// Whether the connection can be reused.
    fn is_reusable(&self) -> bool {
        !self.in_transaction && !self.client.is_closed()
    }
}

/// The connections to one database.
pub(crate) struct Pool {
    config: Config,
    /// Whether new connections get [`LOCK_TIMEOUT`] (the URL sets no `lock_timeout`).
    set_lock_timeout: bool,
    size: usize,
    permits: Semaphore,
    idle: Mutex<Vec<Conn>>,
}

impl Pool {
    /// Parses the URL, opens a first connection (so a wrong URL fails at start-up) and
    /// migrates the database.
    pub(crate) async fn connect(url: &str, size: usize) -> StoreResult<Self> {
        let mut config: Config = url.parse().map_err(|e| {
            StoreError::Other(format!("invalid PostgreSQL connection URL: {e}").into())
        })?;
        if matches!(config.get_ssl_mode(), SslMode::Require) {
            let msg = "sslmode=require: this build connects without TLS; use a trusted \
                       network, a Unix socket or a TLS tunnel, with sslmode=disable or prefer";
            return Err(StoreError::Other(msg.into()));
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("gatehouse");
        }
        let set_lock_timeout = !config
            .get_options()
            .is_some_and(|o| o.contains("lock_timeout"));
        let size = size.max(1);
        let pool = Self {
            config,
            set_lock_timeout,
            size,
            permits: Semaphore::new(size),
            idle: Mutex::new(Vec::new()),
        };
        let mut first = pool.open().await?;
        migrate::run(&mut first).await?;
        pool.push_idle(first);
        Ok(pool)
    }

    /// The most connections this pool opens.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// `user@host:port/dbname`, for logs (never the password).
    pub(crate) fn target(&self) -> String {
        format!(
            "{}@{}/{}",
            self.config.get_user().unwrap_or("(default user)"),
            describe_hosts(&self.config),
            self.config.get_dbname().unwrap_or("(default database)")
        )
    }

    /// Runs `work` in one transaction, again after a deadlock or serialization failure.
    pub(crate) async fn transaction<W: Transactional>(&self, work: &W) -> StoreResult<W::Output> {
        let mut attempt = 1;
        loop {
            let mut conn = self.get().await?;
            let e = match conn.transaction(work).await {
                Ok(value) => return Ok(value),
                Err(e) => e,
            };
            if e.retry() == Retry::No || attempt >= MAX_ATTEMPTS {
                return Err(e.into());
            }
            tracing::debug!(attempt, error = ?e, "retrying a database transaction");
            drop(conn);
            tokio::time::sleep(Duration::from_millis(5 * u64::from(attempt))).await;
            attempt += 1;
        }
    }

    /// A connection for one piece of work: an idle one, or a new one when none is idle.
    pub(crate) async fn get(&self) -> StoreResult<Pooled<'_>> {
        let permit = match tokio::time::timeout(ACQUIRE_TIMEOUT, self.permits.acquire()).await {
            Ok(Ok(permit)) => permit,
            Ok(Err(closed)) => return Err(StoreError::Other(Box::new(closed))),
            Err(_) => {
                let msg = format!(
                    "all {} database connections stayed busy for {ACQUIRE_TIMEOUT:?}",
                    self.size
                );
                return Err(StoreError::Unavailable(msg.into()));
            }
        };
        let conn = match self.pop_idle() {
            Some(conn) => conn,
            None => self.open().await?,
        };
        Ok(Pooled {
            conn: Some(conn),
            pool: self,
            _permit: permit,
        })
    }

    /// An idle connection that is still open, if any.
    fn pop_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        while let Some(conn) = idle.pop() {
            if conn.is_reusable() {
                return Some(conn);
            }
        }
        None
    }

    /// Keeps a connection for later, unless it closed or was left inside a transaction
    /// (then dropping it closes it, and the server rolls the transaction back).
    fn push_idle(&self, conn: Conn) {
        if conn.is_reusable() {
            self.idle
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
        }
    }

    /// Opens a connection; its protocol driver runs as a task until the client is dropped
    /// or the server goes away.
    async fn open(&self) -> StoreResult<Conn> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| {
            let host = describe_hosts(&self.config);
            StoreError::Unavailable(format!("cannot connect to PostgreSQL at {host}: {e}").into())
        })?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "PostgreSQL connection closed");
            }
        });
        if self.set_lock_timeout {
            client
                .batch_execute(LOCK_TIMEOUT)
                .await
                .map_err(crate::error::map_pg)?;
        }
        Ok(Conn {
            client,
            statements: Statements::default(),
            in_transaction: false,
            begin_pending: false,
        })
    }
}

/// The hosts and ports of a configuration, for error messages (never the password).
fn describe_hosts(config: &Config) -> String {
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                tokio_postgres::config::Host::Tcp(name) => name.clone(),
                #[cfg(unix)]
                tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
            };
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            format!("{host}:{port}")
        })
        .collect();
    if hosts.is_empty() {
        "the default host".to_owned()
    } else {
        hosts.join(", ")
    }
}

/// A checked-out connection; back to the idle stack when dropped (unless it closed).
pub(crate) struct Pooled<'a> {
    conn: Option<Conn>,
    pool: &'a Pool,
    _permit: SemaphorePermit<'a>,
}

impl Deref for Pooled<'_> {
    type Target = Conn;

    fn deref(&self) -> &Conn {
        self.conn
            .as_ref()
            .expect("a pooled connection until dropped")
    }
}

impl DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Conn {
        self.conn
            .as_mut()
            .expect("a pooled connection until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.pool.push_idle(conn);
        }
    }
}
