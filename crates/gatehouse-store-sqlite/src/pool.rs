//! Connections: long-lived database threads fed by queues.
//!
//! rusqlite is blocking, so database work never runs on the async threads. One writer
//! thread owns the writer connection, and [`READERS`] reader threads each own a `query_only`
//! connection (opened on first use) and share one queue. A store method queues a closure
//! and awaits a oneshot reply; the queues' std mutexes are held only for a push or a pop,
//! never across an `.await`. A database thread drains its queue before it sleeps, and a
//! push wakes a thread only if one is asleep, so under load a call costs no thread
//! wake-up on the database side. (Each call used to go through `spawn_blocking`, which woke
//! a blocking-pool thread per call: a third of the server's CPU went to parking and waking
//! those threads.) A caller that stops waiting (its request was cancelled) does not
//! withdraw its work: it runs, and its reply is dropped.
//!
//! **Writes.** Every write runs in a `BEGIN IMMEDIATE` transaction, which takes SQLite's
//! write lock at the start: within this process the writer thread already serialises
//! writes, and across processes (server and CLI on the same file) the lock does, waiting up
//! to the busy timeout. A transaction that started as a read and later tried to write could
//! fail with `SQLITE_BUSY_SNAPSHOT` under WAL; IMMEDIATE never does.
//!
//! **Group commit.** When several writes are queued, the writer runs up to [`GROUP`] of them
//! in one IMMEDIATE transaction, in queue order. Replies are sent only after the `COMMIT`,
//! so no caller can see a write of the group before all of it is durable, and the result is
//! the same as running the writes one after the other. Writes rarely fail, so a group takes
//! no savepoints (each one copied every page a write touched into SQLite's statement
//! journal: 6% of the writer's time under refresh load). When a write fails (or panics)
//! instead, the transaction is rolled back: the writes before it run again as a group (on
//! the same state, to the same effect), the failing one runs alone and gets its own error,
//! and the ones after it go on. If the transaction as a whole fails (an I/O error or a full
//! disk makes SQLite roll everything back, or the `COMMIT` fails), nothing of it was
//! committed and no reply was sent: every write of the group then runs again alone, in its
//! own transaction, and its caller gets that result, exactly as if there had been no group.
//! That is why a write closure is `Fn`: it may run twice, the first time to no effect.
//! If the write lock cannot be had (another process holds it beyond the busy timeout), the
//! first write of the queue gets that error, as it would alone, and the others try again.
//!
//! **Checkpoints.** The writer connection does not checkpoint (its `wal_autocheckpoint` is
//! off): a checkpointer thread with its own connection copies the WAL back into the
//! database file (`PRAGMA wal_checkpoint(PASSIVE)`, which waits for no lock) at most every
//! [`CHECKPOINT_INTERVAL`] while writes come in, and sleeps while none do. Copying and
//! `fsync`ing the pages was a fifth of the writer thread's time, and every write waited
//! behind it. The WAL file starts over from its beginning only when a write transaction
//! begins on a fully copied WAL, which a checkpoint taken elsewhere, while the writer keeps
//! appending, never leaves behind: so when a checkpoint finds the WAL longer than
//! [`WAL_RESTART_PAGES`], the writer copies the last few pages itself before its next
//! transaction (as its automatic checkpoint used to, but only what the checkpointer has not
//! copied yet), and the WAL then restarts. SQLite's last connection to close checkpoints
//! whatever is left.
//!
//! **Panics.** A closure that panics is answered with [`StoreError::Other`] (its
//! transaction or savepoint rolled back), and the thread goes on serving. Should the
//! pool's own code panic, the thread drops its connection (which rolls back whatever was
//! open), answers the jobs in hand with an error, reopens the connection and goes on.
//!
//! **Shutdown.** Dropping the pool closes the queues; the threads finish what is queued,
//! close their connections and end, and the drop waits for them, so when it returns the
//! database file is closed.

use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use gatehouse_store::{StoreError, StoreResult};
use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use crate::error::{DbResult, is_busy, map_sqlite};
use crate::migrate;
use crate::queue::Queue;

/// How long a connection waits for another connection's (or process's) lock.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Reader threads (and connections): read queries that run at once. Two cores are the
/// usual machine; a third reader keeps a slow listing from holding up lookups.
const READERS: usize = 3;

/// Most queued writes committed in one transaction.
const GROUP: usize = 32;

/// Page cache of the writer connection, KiB (`cache_size` takes negative values as KiB).
/// The writer's cache survives its own commits, so it keeps the hot B-tree pages (indexes
/// of codes, tokens and the log) across writes.
const WRITER_CACHE_KIB: i64 = 16_000;

/// Prepared statements kept per connection.
const STATEMENT_CACHE: usize = 128;

/// Page cache of each reader connection, KiB. A reader's cache is emptied whenever another
/// connection has committed, so under steady writes it mostly holds WAL pages.
const READER_CACHE_KIB: i64 = 8_000;

/// Page cache of the checkpointer's connection, KiB: a checkpoint copies WAL frames to the
/// database file without going through it.
const CHECKPOINTER_CACHE_KIB: i64 = 1_000;

/// Bytes of the database file each connection maps into memory: none. A 256 MiB map saved
/// a `pread` per page, but every page it touched counted in the server's resident memory
/// (348 MB peak at 1,000 connections after the benchmark's scenarios, against a 150 MB
/// budget); read through the OS page cache, the same pages cost the process nothing.
const MMAP_SIZE: i64 = 0;

/// Shortest time between two checkpoints while writes come in.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(50);

/// WAL length (pages) beyond which the writer helps the WAL start over: 64 MiB at 4 KiB
/// pages, four blocks of the WAL index. Each time, the writer copies what the checkpointer
/// has not and waits for three `fsync`s (3–5 ms on the benchmark's VMs), while every write
/// waits for it. At SQLite's default automatic checkpoint threshold (1,000 pages) that was
/// every 50 ms under refresh load, 8% of the writer's time; at 4,096 pages every 55–130 ms
/// (a stall of 4% of the time, all 16 clients waiting in it); at 16,384 a quarter as often,
/// for 3–5% more rotations/s (bench/analysis.md). The WAL file keeps its longest length.
const WAL_RESTART_PAGES: i64 = 16_384;

/// A write waiting for the writer thread, its result type erased.
trait WriteJob: Send {
    /// Runs the work in `tx` and keeps the result (an error if it panicked). Returns
    /// whether it succeeded.
    fn run(&mut self, tx: &Transaction<'_>) -> bool;
    /// Replaces the kept result with an error (the transaction could not begin or commit).
    fn fail(&mut self, e: StoreError);
    /// Sends the kept result to the caller.
    fn answer(self: Box<Self>);
}

/// A write closure, its reply channel and, once run, its result.
struct Write<T, F> {
    work: F,
    result: Option<StoreResult<T>>,
    reply: oneshot::Sender<StoreResult<T>>,
}

impl<T, F> WriteJob for Write<T, F>
where
    F: Fn(&Transaction<'_>) -> DbResult<T> + Send,
    T: Send,
{
    fn run(&mut self, tx: &Transaction<'_>) -> bool {
        let result = guarded(|| (self.work)(tx));
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn fail(&mut self, e: StoreError) {
        self.result = Some(Err(e));
    }

    fn answer(self: Box<Self>) {
        let result = self.result.unwrap_or_else(|| Err(stopped("writer")));
        // The caller may have stopped waiting; its write is done either way.
        let _ = self.reply.send(result);
    }
}

type WriteQueue = Queue<Box<dyn WriteJob>>;

/// A read for a reader thread: given the thread's connection (or why it could not be
/// opened), runs and sends its own reply.
type ReadJob = Box<dyn FnOnce(Result<&Connection, StoreError>) + Send>;

/// The connections to one database file, each on its own thread.
pub(crate) struct Pool {
    writes: Arc<WriteQueue>,
    reads: Arc<Queue<ReadJob>>,
    checkpoints: Arc<Checkpoints>,
    threads: Vec<JoinHandle<()>>,
}

/// Tells the checkpointer thread that writes have been committed since its last
/// checkpoint. The writer touches it once per group of writes; the checkpointer is woken
/// only when it sleeps for want of writes.
#[derive(Default)]
struct Checkpoints {
    state: Mutex<CheckpointState>,
    wake: Condvar,
}

#[derive(Default)]
struct CheckpointState {
    /// Writes were committed since the last checkpoint began.
    dirty: bool,
    /// The checkpointer waits for writes (and must be woken).
    idle: bool,
    /// The pool is closing: the checkpointer stops.
    closed: bool,
    /// The WAL has grown past its restart length: the writer should checkpoint before its
    /// next transaction, so the WAL can start over.
    restart: bool,
}

impl Checkpoints {
    fn lock(&self) -> std::sync::MutexGuard<'_, CheckpointState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Called by the writer before a group of writes: whether it should checkpoint first.
    fn restart_wanted(&self) -> bool {
        std::mem::take(&mut self.lock().restart)
    }

    /// Called by the checkpointer when the WAL is long.
    fn want_restart(&self) {
        self.lock().restart = true;
    }

    /// Called by the writer after a group of writes.
    fn written(&self) {
        let mut s = self.lock();
        if !s.dirty {
            s.dirty = true;
            if s.idle {
                s.idle = false;
                drop(s);
                self.wake.notify_one();
            }
        }
    }

    /// Waits until a checkpoint is due; false once the pool is closing.
    fn due(&self) -> bool {
        let mut s = self.lock();
        while !s.dirty && !s.closed {
            s.idle = true;
            s = self.wake.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
        s.idle = false;
        s.dirty = false;
        !s.closed
    }

    /// Waits [`CHECKPOINT_INTERVAL`], or less if the pool closes; false once it is closing.
    fn pause(&self) -> bool {
        let s = self.lock();
        let (s, _) = self
            .wake
            .wait_timeout_while(s, CHECKPOINT_INTERVAL, |s| !s.closed)
            .unwrap_or_else(PoisonError::into_inner);
        !s.closed
    }

    fn close(&self) {
        self.lock().closed = true;
        self.wake.notify_all();
    }
}

impl Pool {
    /// Opens (creating if needed) the database, sets WAL mode, migrates it, and starts the
    /// database threads.
    pub(crate) fn open(path: &Path) -> StoreResult<Self> {
        Self::open_with(path, WAL_RESTART_PAGES)
    }

    /// [`Pool::open`], the WAL starting over once longer than `wal_restart_pages`.
    fn open_with(path: &Path, wal_restart_pages: i64) -> StoreResult<Self> {
        let mut writer = connect_writer(path).map_err(map_sqlite)?;
        enable_wal(&writer, path)?;
        migrate::run(&mut writer)?;
        let checkpointer = connect(path, CHECKPOINTER_CACHE_KIB).map_err(map_sqlite)?;
        let mut pool = Self {
            writes: Arc::new(Queue::new()),
            reads: Arc::new(Queue::new()),
            checkpoints: Arc::new(Checkpoints::default()),
            threads: Vec::with_capacity(READERS + 2),
        };
        let (queue, owned) = (pool.writes.clone(), path.to_owned());
        let checkpoints = pool.checkpoints.clone();
        pool.spawn("gatehouse-db-writer".into(), move || {
            writer_thread(&owned, writer, &queue, &checkpoints);
        })?;
        let checkpoints = pool.checkpoints.clone();
        pool.spawn("gatehouse-db-checkpoint".into(), move || {
            checkpoint_thread(&checkpointer, &checkpoints, wal_restart_pages);
        })?;
        for n in 0..READERS {
            let (queue, owned) = (pool.reads.clone(), path.to_owned());
            pool.spawn(format!("gatehouse-db-reader-{n}"), move || {
                reader_thread(&owned, &queue);
            })?;
        }
        Ok(pool)
    }

    fn spawn(&mut self, name: String, body: impl FnOnce() + Send + 'static) -> StoreResult<()> {
        let handle = std::thread::Builder::new()
            .name(name)
            .spawn(body)
            .map_err(|e| StoreError::Other(Box::new(e)))?;
        self.threads.push(handle);
        Ok(())
    }

    /// Runs `f` in an IMMEDIATE transaction on the writer connection (possibly together
    /// with other queued writes, each in its own savepoint); commits if it returns `Ok`,
    /// rolls back otherwise. `f` may be called twice (see the module documentation); only
    /// the last call's effects and result count.
    pub(crate) async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: Fn(&Transaction<'_>) -> DbResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn WriteJob> = Box::new(Write {
            work: f,
            result: None,
            reply,
        });
        if self.writes.push(job).is_err() {
            return Err(stopped("writer"));
        }
        answer.await.unwrap_or_else(|_| Err(stopped("writer")))
    }

    /// Runs `f` on a reader connection.
    pub(crate) async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> DbResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: ReadJob = Box::new(move |conn: Result<&Connection, StoreError>| {
            let result = conn.and_then(|conn| guarded(|| f(conn)));
            let _ = reply.send(result);
        });
        if self.reads.push(job).is_err() {
            return Err(stopped("reader"));
        }
        answer.await.unwrap_or_else(|_| Err(stopped("reader")))
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.writes.close();
        self.reads.close();
        self.checkpoints.close();
        let me = std::thread::current().id();
        for handle in self.threads.drain(..) {
            // Never wait for oneself (the last store dropped by a closure on a database
            // thread, which no store method does).
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}

/// The writer thread: takes what is queued, up to [`GROUP`] writes at a time, until the
/// queue is closed and empty.
fn writer_thread(path: &Path, conn: Connection, queue: &WriteQueue, checkpoints: &Checkpoints) {
    let mut conn = Some(conn);
    let mut jobs = Vec::with_capacity(GROUP);
    while queue.pop_into(GROUP, &mut jobs) {
        if checkpoints.restart_wanted()
            && let Some(c) = &conn
        {
            checkpoint(c);
        }
        let served = catch_unwind(AssertUnwindSafe(|| {
            serve_writes(path, &mut conn, &mut jobs);
        }));
        checkpoints.written();
        if let Err(panic) = served {
            tracing::error!(
                panic = panic_message(&*panic),
                "the database writer failed; reopening its connection"
            );
            // Dropping the connection rolls back whatever it had open; the jobs in hand
            // were not answered, and dropping them tells their callers.
            conn = None;
        }
        jobs.clear();
    }
}

/// Runs a batch of writes on the writer connection (opened again if a failure dropped
/// it) and answers each.
fn serve_writes(path: &Path, slot: &mut Option<Connection>, jobs: &mut Vec<Box<dyn WriteJob>>) {
    let conn = match slot {
        Some(conn) => conn,
        None => match connect_writer(path) {
            Ok(conn) => slot.insert(conn),
            Err(e) => {
                let msg = e.to_string();
                for mut job in jobs.drain(..) {
                    job.fail(StoreError::Unavailable(msg.clone().into()));
                    job.answer();
                }
                return;
            }
        },
    };
    run_writes(conn, jobs);
    for job in jobs.drain(..) {
        job.answer();
    }
}

/// Runs the writes in queue order, grouped in one transaction where possible, leaving each
/// job's result in it.
fn run_writes(conn: &mut Connection, jobs: &mut [Box<dyn WriteJob>]) {
    let mut rest = jobs;
    loop {
        match rest {
            [] => return,
            [job] => return run_alone(conn, job.as_mut()),
            _ => {}
        }
        match run_group(conn, rest) {
            Group::Committed => return,
            Group::Failed => {
                for job in rest.iter_mut() {
                    run_alone(conn, job.as_mut());
                }
                return;
            }
            Group::NotBegun(e) => {
                // What the first write would have got alone; the others try again.
                let (first, others) = std::mem::take(&mut rest).split_at_mut(1);
                first[0].fail(e);
                rest = others;
            }
            Group::WriteFailed(i) => {
                // Rolled back: the writes before the failing one run again (they succeeded
                // on this same state), the failing one alone for its own result.
                let (before, from) = std::mem::take(&mut rest).split_at_mut(i);
                run_writes(conn, before);
                let (failing, after) = from.split_at_mut(1);
                run_alone(conn, failing[0].as_mut());
                rest = after;
            }
        }
    }
}

/// One write in its own IMMEDIATE transaction.
fn run_alone(conn: &mut Connection, job: &mut dyn WriteJob) {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return job.fail(map_sqlite(e)),
    };
    if job.run(&tx)
        && let Err(e) = tx.commit()
    {
        job.fail(map_sqlite(e));
    }
    // Otherwise dropping `tx` rolls it back.
}

/// How a group transaction ended.
enum Group {
    /// Committed: every job holds its result.
    Committed,
    /// Rolled back as a whole: nothing of it is in the database; the jobs must run again.
    Failed,
    /// The write at this index failed, and the transaction was rolled back: nothing of it
    /// is in the database.
    WriteFailed(usize),
    /// `BEGIN IMMEDIATE` failed (the write lock stayed taken): nothing ran.
    NotBegun(StoreError),
}

/// The writes in one IMMEDIATE transaction, committed if every one succeeds.
fn run_group(conn: &mut Connection, jobs: &mut [Box<dyn WriteJob>]) -> Group {
    let tx = match conn.transaction_with_behavior(TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => return Group::NotBegun(map_sqlite(e)),
    };
    for (i, job) in jobs.iter_mut().enumerate() {
        let ok = job.run(&tx);
        if tx.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, full disk, …).
            return Group::Failed;
        }
        if !ok {
            // Dropping `tx` rolls it back.
            return Group::WriteFailed(i);
        }
    }
    match tx.commit() {
        Ok(()) => Group::Committed,
        Err(_) => Group::Failed,
    }
}

/// The checkpointer thread: a passive checkpoint whenever writes were committed since the
/// last one, at most every [`CHECKPOINT_INTERVAL`], until the pool closes; past
/// `restart_pages`, it asks the writer to let the WAL start over.
fn checkpoint_thread(conn: &Connection, checkpoints: &Checkpoints, restart_pages: i64) {
    while checkpoints.due() {
        if checkpoint(conn).is_some_and(|wal_pages| wal_pages > restart_pages) {
            checkpoints.want_restart();
        }
        if !checkpoints.pause() {
            break;
        }
    }
}

/// A passive checkpoint (it waits for no lock: pages a reader still needs are left for the
/// next one). Returns the WAL's length in pages, `None` if it failed (logged).
fn checkpoint(conn: &Connection) -> Option<i64> {
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(1)) {
        Ok(pages) => Some(pages),
        Err(e) => {
            tracing::warn!(error = %e, "WAL checkpoint failed; the next one tries again");
            None
        }
    }
}

/// A reader thread: runs read jobs on its connection until the queue is closed and empty.
fn reader_thread(path: &Path, queue: &Queue<ReadJob>) {
    let mut conn: Option<Connection> = None;
    while let Some(job) = queue.pop() {
        let ran = catch_unwind(AssertUnwindSafe(|| {
            if conn.is_none() {
                match open_reader(path) {
                    Ok(c) => conn = Some(c),
                    Err(e) => return job(Err(StoreError::from(e))),
                }
            }
            if let Some(c) = &conn {
                job(Ok(c));
            }
        }));
        if let Err(panic) = ran {
            tracing::error!(
                panic = panic_message(&*panic),
                "a database reader failed; reopening its connection"
            );
            conn = None;
        }
    }
}

/// Runs database work, turning a panic into [`StoreError::Other`].
fn guarded<T>(work: impl FnOnce() -> DbResult<T>) -> StoreResult<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(result) => result.map_err(StoreError::from),
        Err(panic) => {
            let msg = format!("database work panicked: {}", panic_message(&*panic));
            Err(StoreError::Other(msg.into()))
        }
    }
}

fn panic_message(panic: &(dyn Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// The error of a call whose database thread is gone (the store is closing, or the
/// thread failed while holding the call).
fn stopped(which: &str) -> StoreError {
    StoreError::Other(format!("the database {which} stopped before answering").into())
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
///
/// `synchronous=NORMAL` in WAL mode: a commit writes the WAL without waiting for it to
/// reach the disk (the WAL is synced at checkpoints). A power cut or OS crash may lose the
/// last transactions committed before it, never corrupts the database, and an application
/// crash loses nothing. `temp_store=MEMORY`: sorts and temporary indexes never touch the
/// disk.
fn connect(path: &Path, cache_kib: i64) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_CREATE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "cache_size", -cache_kib)?;
    // Hot statements go through `prepare_cached` (`sql::cached_row`); the default 16 would
    // evict some of them on the writer, which runs every kind of write.
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "mmap_size", MMAP_SIZE)?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(conn)
}

/// The writer's connection: no automatic checkpoints (the checkpointer thread does them).
fn connect_writer(path: &Path) -> rusqlite::Result<Connection> {
    let conn = connect(path, WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// A reader: an ordinary connection that refuses writes, so a bug cannot write outside the
/// writer's IMMEDIATE transactions.
fn open_reader(path: &Path) -> DbResult<Connection> {
    let conn = connect(path, READER_CACHE_KIB)?;
    conn.pragma_update(None, "query_only", "ON")?;
    Ok(conn)
}

/// A fresh database path in a directory of its own, for tests.
#[cfg(test)]
pub(crate) fn path_for_tests(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gatehouse-pool-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create a test directory");
    dir.join("gatehouse.db")
}

/// Per-connection settings as a connection reports them, for tests.
#[cfg(test)]
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Settings {
    pub(crate) journal_mode: String,
    pub(crate) synchronous: i64,
    pub(crate) foreign_keys: i64,
    pub(crate) busy_timeout: i64,
    pub(crate) cache_size: i64,
    pub(crate) mmap_size: i64,
    pub(crate) temp_store: i64,
}

#[cfg(test)]
pub(crate) fn settings(conn: &Connection) -> DbResult<Settings> {
    let get = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0));
    Ok(Settings {
        journal_mode: conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?,
        synchronous: get("synchronous")?,
        foreign_keys: get("foreign_keys")?,
        busy_timeout: get("busy_timeout")?,
        cache_size: get("cache_size")?,
        mmap_size: get("mmap_size")?,
        temp_store: get("temp_store")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    fn count(conn: &Connection) -> DbResult<i64> {
        Ok(conn.query_row("SELECT count(*) FROM meta", [], |r| r.get(0))?)
    }

    fn remove(path: &Path) {
        std::fs::remove_dir_all(path.parent().unwrap()).unwrap();
    }

    #[tokio::test]
    async fn writer_and_readers_use_wal_normal_sync_foreign_keys_busy_timeout_and_caches() {
        let path = path_for_tests("settings");
        let pool = Pool::open(&path).unwrap();
        let expected = |cache_kib: i64| Settings {
            journal_mode: "wal".into(),
            synchronous: 1,
            foreign_keys: 1,
            busy_timeout: 5000,
            cache_size: -cache_kib,
            mmap_size: MMAP_SIZE,
            temp_store: 2,
        };
        assert_eq!(
            pool.write(|tx| settings(tx)).await.unwrap(),
            expected(WRITER_CACHE_KIB)
        );
        assert_eq!(
            pool.read(settings).await.unwrap(),
            expected(READER_CACHE_KIB)
        );
        drop(pool);
        remove(&path);
    }

    #[tokio::test]
    async fn readers_refuse_writes() {
        let path = path_for_tests("query-only");
        let pool = Pool::open(&path).unwrap();
        let result = pool.read(|c| Ok(c.execute("DELETE FROM meta", [])?)).await;
        assert!(result.is_err());
        drop(pool);
        remove(&path);
    }

    #[tokio::test]
    async fn a_failed_write_rolls_back() {
        let path = path_for_tests("rollback");
        let pool = Pool::open(&path).unwrap();
        let result: StoreResult<()> = pool
            .write(|tx| {
                tx.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')", [])?;
                Err(crate::error::other("boom"))
            })
            .await;
        assert!(result.is_err());
        assert_eq!(pool.read(count).await.unwrap(), 0);
        drop(pool);
        remove(&path);
    }

    #[tokio::test]
    async fn a_panicking_closure_is_an_error_and_the_threads_keep_serving() {
        let path = path_for_tests("panic");
        let pool = Pool::open(&path).unwrap();
        let write: StoreResult<()> = pool
            .write(|tx| {
                tx.execute("INSERT INTO meta (key, value) VALUES ('k', 'v')", [])?;
                panic!("a bug in a write");
            })
            .await;
        assert!(matches!(write, Err(StoreError::Other(_))), "{write:?}");
        for _ in 0..READERS + 1 {
            let read: StoreResult<()> = pool.read(|_| panic!("a bug in a read")).await;
            assert!(matches!(read, Err(StoreError::Other(_))), "{read:?}");
        }
        pool.write(|tx| Ok(tx.execute("INSERT INTO meta (key, value) VALUES ('k2', 'v')", [])?))
            .await
            .unwrap();
        assert_eq!(
            pool.read(count).await.unwrap(),
            1,
            "the panicked write rolled back"
        );
        drop(pool);
        remove(&path);
    }

    /// Holds the writer thread until `release` is sent, so that the writes queued meanwhile
    /// run as one group.
    fn hold_writer(pool: &Arc<Pool>) -> (mpsc::SyncSender<()>, tokio::task::JoinHandle<()>) {
        let (release, held) = mpsc::sync_channel::<()>(1);
        let (started, is_held) = mpsc::sync_channel::<()>(1);
        let held = std::sync::Mutex::new(held);
        let pool = pool.clone();
        let task = tokio::spawn(async move {
            pool.write(move |_| {
                let _ = started.send(());
                let _ = held.lock().unwrap().recv();
                Ok(())
            })
            .await
            .unwrap();
        });
        is_held.recv().unwrap();
        (release, task)
    }

    fn insert(key: &'static str) -> impl Fn(&Transaction<'_>) -> DbResult<()> + Send + 'static {
        move |tx| {
            tx.execute("INSERT INTO meta (key, value) VALUES (?1, 'v')", [key])?;
            Ok(())
        }
    }

    type TestWrite = Box<dyn Fn(&Transaction<'_>) -> DbResult<()> + Send + Sync>;

    /// Queues `writes` behind a held writer, releases it, and returns their results in order.
    async fn grouped(pool: &Arc<Pool>, writes: Vec<TestWrite>) -> Vec<StoreResult<()>> {
        let (release, holder) = hold_writer(pool);
        let mut tasks = Vec::new();
        for w in writes {
            let pool = pool.clone();
            tasks.push(tokio::spawn(
                async move { pool.write(move |tx| w(tx)).await },
            ));
            // Let this write reach the queue before the next, so they queue in order.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        release.send(()).unwrap();
        holder.await.unwrap();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    async fn keys(pool: &Pool) -> Vec<String> {
        pool.read(|c| {
            let mut stmt = c.prepare("SELECT key FROM meta ORDER BY key")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        })
        .await
        .unwrap()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn in_a_group_a_failing_or_panicking_write_is_rolled_back_alone() {
        let path = path_for_tests("group");
        let pool = Arc::new(Pool::open(&path).unwrap());
        let results = grouped(
            &pool,
            vec![
                Box::new(insert("a")),
                Box::new(|tx: &Transaction<'_>| {
                    insert("b")(tx)?;
                    Err(crate::error::other("boom"))
                }),
                Box::new(insert("a")), // a duplicate key: Conflict
                Box::new(|tx: &Transaction<'_>| {
                    insert("c")(tx)?;
                    panic!("a bug")
                }),
                Box::new(insert("d")),
            ],
        )
        .await;
        assert!(results[0].is_ok(), "{results:?}");
        assert!(
            matches!(results[1], Err(StoreError::Other(_))),
            "{results:?}"
        );
        assert!(
            matches!(results[2], Err(StoreError::Conflict(_))),
            "{results:?}"
        );
        assert!(
            matches!(results[3], Err(StoreError::Other(_))),
            "{results:?}"
        );
        assert!(results[4].is_ok(), "{results:?}");
        assert_eq!(keys(&pool).await, ["a", "d"]);
        drop(pool);
        remove(&path);
    }

    /// A group takes no savepoints: a failing write rolls the transaction back, the writes
    /// before it run again (once more each), the failing one alone, the rest once.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_reruns_only_the_writes_before_it() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let path = path_for_tests("group-rerun");
        let pool = Arc::new(Pool::open(&path).unwrap());
        let runs: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
        let counted = |i: usize, key: &'static str, fails: bool| -> TestWrite {
            let runs = runs.clone();
            Box::new(move |tx: &Transaction<'_>| {
                runs[i].fetch_add(1, Ordering::SeqCst);
                insert(key)(tx)?;
                if fails {
                    return Err(crate::error::other("boom"));
                }
                Ok(())
            })
        };
        let results = grouped(
            &pool,
            vec![
                counted(0, "a", false),
                counted(1, "b", false),
                counted(2, "c", true),
                counted(3, "d", false),
            ],
        )
        .await;
        assert!(results[0].is_ok() && results[1].is_ok() && results[3].is_ok());
        assert!(
            matches!(results[2], Err(StoreError::Other(_))),
            "{results:?}"
        );
        let runs: Vec<usize> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
        assert_eq!(runs, [2, 2, 2, 1]);
        assert_eq!(keys(&pool).await, ["a", "b", "d"]);
        drop(pool);
        remove(&path);
    }

    /// A write that ends the whole transaction (as an I/O error would) makes the group run
    /// again one write at a time: the others commit, and it alone fails.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_group_rolled_back_as_a_whole_runs_again_one_write_at_a_time() {
        let path = path_for_tests("group-fallback");
        let pool = Arc::new(Pool::open(&path).unwrap());
        let runs = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = runs.clone();
        let results = grouped(
            &pool,
            vec![
                Box::new(move |tx: &Transaction<'_>| {
                    counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    insert("a")(tx)
                }),
                Box::new(|tx: &Transaction<'_>| Ok(tx.execute_batch("ROLLBACK")?)),
                Box::new(insert("b")),
            ],
        )
        .await;
        assert!(results[0].is_ok(), "{results:?}");
        assert!(results[1].is_err(), "{results:?}");
        assert!(results[2].is_ok(), "{results:?}");
        assert_eq!(keys(&pool).await, ["a", "b"]);
        assert_eq!(
            runs.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "the first write ran in the group, then again alone"
        );
        drop(pool);
        remove(&path);
    }

    /// Writes queued while the lock is elsewhere all wait for it and commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_concurrent_writes_all_commit() {
        let path = path_for_tests("many");
        let pool = Arc::new(Pool::open(&path).unwrap());
        let tasks: Vec<_> = (0..200)
            .map(|i| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    pool.write(move |tx| {
                        tx.execute(
                            "INSERT INTO meta (key, value) VALUES (?1, 'v')",
                            [format!("k{i}")],
                        )?;
                        Ok(())
                    })
                    .await
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(pool.read(count).await.unwrap(), 200);
        drop(pool);
        remove(&path);
    }

    /// The checkpointer copies the WAL back while writes and reads go on, and the WAL file
    /// starts over instead of growing with everything ever written (96 MB here). The restart
    /// length is 4 MiB here (the default's 64 MiB would take far more writes), so that the
    /// bound leaves room for restarts delayed by readers and a slow disk.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn under_steady_writes_and_reads_the_wal_starts_over() {
        let path = path_for_tests("wal-restart");
        let pool = Arc::new(Pool::open_with(&path, 1024).unwrap());
        let tasks: Vec<_> = (0..8)
            .map(|t| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for i in 0..3000 {
                        pool.write(move |tx| {
                            tx.execute(
                                "INSERT INTO meta (key, value) VALUES (?1, ?2)",
                                rusqlite::params![format!("k{t}-{i}"), "x".repeat(4000)],
                            )?;
                            Ok(())
                        })
                        .await
                        .unwrap();
                        pool.read(count).await.unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        let wal = std::fs::metadata(path.with_extension("db-wal"))
            .unwrap()
            .len();
        assert!(
            wal < 48 << 20,
            "the WAL file grew to {wal} bytes for 96 MB of writes"
        );
        assert_eq!(pool.read(count).await.unwrap(), 24_000);
        drop(pool);
        remove(&path);
    }

    #[tokio::test]
    async fn dropping_the_pool_ends_its_threads_and_closes_the_file() {
        let path = path_for_tests("drop");
        let pool = Pool::open(&path).unwrap();
        pool.write(insert("a")).await.unwrap();
        pool.read(count).await.unwrap();
        drop(pool);
        // The last connection to close checkpoints and removes the WAL file.
        assert!(
            !path.with_extension("db-wal").exists(),
            "WAL file removed on close"
        );
        remove(&path);
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
