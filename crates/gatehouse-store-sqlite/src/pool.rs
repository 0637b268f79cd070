//! Connections: one writer behind an async mutex, and a small pool of readers.
//!
//! rusqlite is blocking, so every piece of work runs on `tokio::task::spawn_blocking` with a
//! connection moved into the blocking task and handed back when it is done. No std mutex is
//! ever held across an `.await`: the writer is a `tokio::sync::Mutex` whose owned guard
//! travels into the blocking task, and the reader pool is a semaphore (awaited) plus a
//! std-mutex-protected stack that is only touched for a push or a pop.
//!
//! Every write runs in a `BEGIN IMMEDIATE` transaction, which takes SQLite's write lock at
//! the start: within this process the writer mutex already serialises writes, and across
//! processes (server and CLI on the same file) the lock does, waiting up to the busy timeout.
//! A transaction that started as a read and later tried to write could fail with
//! `SQLITE_BUSY_SNAPSHOT` under WAL; IMMEDIATE never does.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use gatehouse_store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::{Mutex as AsyncMutex, Semaphore};

use crate::error::{DbResult, is_busy, map_sqlite};
use crate::migrate;

/// How long a connection waits for another connection's (or process's) lock.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many read queries run at once.
const READERS: usize = 4;

/// The connections to one database file.
pub(crate) struct Pool {
    path: PathBuf,
    writer: Arc<AsyncMutex<Connection>>,
    readers: Arc<Semaphore>,
    idle: Arc<Mutex<Vec<Connection>>>,
}

impl Pool {
    /// Opens (creating if needed) the database, sets WAL mode and migrates it.
    pub(crate) fn open(path: &Path) -> StoreResult<Self> {
        let mut writer = connect(path).map_err(map_sqlite)?;
        enable_wal(&writer, path)?;
        migrate::run(&mut writer)?;
        Ok(Self {
            path: path.to_owned(),
            writer: Arc::new(AsyncMutex::new(writer)),
            readers: Arc::new(Semaphore::new(READERS)),
            idle: Arc::new(Mutex::new(Vec::new())),
        })
    }

    /// Runs `f` in an IMMEDIATE transaction on the writer connection; commits if it returns
    /// `Ok`, rolls back otherwise.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Transaction<'_>) -> DbResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let mut conn = self.writer.clone().lock_owned().await;
        blocking(move || {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
    }

    /// Runs `f` on a reader connection (opened on demand, at most [`READERS`] at once).
    pub(crate) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> DbResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .readers
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Other(e.into()))?;
        let idle = self.idle.clone();
        let path = self.path.clone();
        blocking(move || {
            let pooled = idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
            let conn = match pooled {
                Some(conn) => conn,
                None => open_reader(&path)?,
            };
            let out = f(&conn);
            idle.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(conn);
            drop(permit);
            out
        })
        .await
    }
}

/// Runs blocking database work off the async threads.
async fn blocking<T, F>(f: F) -> StoreResult<T>
where
    F: FnOnce() -> DbResult<T> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result.map_err(StoreError::from),
        Err(join) => Err(StoreError::Other(Box::new(join))),
    }
}

/// Switches the file to WAL (a no-op once it is). Changing the journal mode needs an
/// exclusive lock, and SQLite returns `SQLITE_BUSY` for it without calling the busy handler
/// when another connection is using the file (several processes opening a new database at
/// once), so this retries until the busy timeout.
fn enable_wal(conn: &Connection, path: &Path) -> StoreResult<()> {
    let deadline = Instant::now() + BUSY_TIMEOUT;
    loop {
        match conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)) {
            Ok(mode) if mode.eq_ignore_ascii_case("wal") => return Ok(()),
            Ok(mode) => {
                let msg = format!(
                    "{} cannot use WAL journal mode (got {mode})",
                    path.display()
                );
                return Err(StoreError::Other(msg.into()));
            }
            Err(e) if is_busy(&e) && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(map_sqlite(e)),
        }
    }
}

/// Opens a connection with the per-connection settings every connection needs.
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// A reader: an ordinary connection that refuses writes, so a bug cannot write outside the
/// writer's IMMEDIATE transactions.
fn open_reader(path: &Path) -> DbResult<Connection> {
    let conn = connect(path)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

/// Per-connection settings as a connection reports them, for tests.
#[cfg(test)]
pub(crate) fn settings(conn: &Connection) -> DbResult<(String, i64, i64, i64)> {
    let get = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
    Ok((
        mode,
        get("synchronous")?,
        get("foreign_keys")?,
        get("busy_timeout")?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_path(name: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("gatehouse-pool-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("gatehouse.db")
    }

    #[tokio::test]
    async fn writer_and_readers_use_wal_normal_sync_foreign_keys_and_busy_timeout() {
        let path = temp_path("settings");
        let pool = Pool::open(&path).unwrap();
        let expected = ("wal".to_owned(), 1, 1, 5000);
        assert_eq!(pool.write(|tx| settings(tx)).await.unwrap(), expected);
        assert_eq!(pool.read(settings).await.unwrap(), expected);
        drop(pool);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn readers_refuse_writes() {
        let path = temp_path("query-only");
        let pool = Pool::open(&path).unwrap();
        let result = pool.read(|c| Ok(c.execute("DELETE FROM meta", [])?)).await;
        assert!(result.is_err());
        drop(pool);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn a_failed_write_rolls_back() {
        let path = temp_path("rollback");
        let pool = Pool::open(&path).unwrap();
        let result: StoreResult<()> = pool
            .write(|tx| {
                tx.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')", [])?;
                Err(crate::error::other("boom"))
            })
            .await;
        assert!(result.is_err());
        let n: i64 = pool
            .read(|c| Ok(c.query_row("SELECT count(*) FROM meta", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(n, 0);
        drop(pool);
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[test]
    fn open_error_is_unavailable() {
        let err = Pool::open(Path::new("/nonexistent-gatehouse-dir/x/gatehouse.db"))
            .err()
            .unwrap();
        assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    }

    #[test]
    fn pool_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Pool>();
    }
}
