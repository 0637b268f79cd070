//! A fresh PostgreSQL database per test, dropped afterwards (also when the test fails).
//!
//! The server is `GATEHOUSE_TEST_POSTGRES` (a URL without a database name), by default
//! `postgres://postgres@127.0.0.1:5432`: the local PostgreSQL with trust authentication of
//! the development and CI machines. Each test creates `gatehouse_test_<pid>_<n>` through the
//! `postgres` database and drops it `WITH (FORCE)` when its guard is dropped.
//!
//! When the server cannot be reached, tests fail with the reason under `CI=true`, and are
//! skipped (the reason printed) elsewhere: see [`postgres_available`].

#![allow(dead_code)]

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio_postgres::NoTls;

/// The server, as a URL without a database name.
pub(crate) fn server_url() -> String {
    std::env::var("GATEHOUSE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

/// The URL of database `name` on the test server, with `extra` query parameters.
pub(crate) fn database_url(name: &str) -> String {
    format!("{}/{name}?connect_timeout=5", server_url())
}

/// Whether the tests can reach PostgreSQL. Checked once per test binary. Unreachable under
/// `CI=true`: panics with the reason (CI must not pass without running these tests);
/// elsewhere: prints why the tests are skipped and returns false.
pub(crate) fn postgres_available() -> bool {
    static REACHABLE: OnceLock<Result<(), String>> = OnceLock::new();
    let result = REACHABLE.get_or_init(|| on_own_runtime(async { admin_client().await.map(drop) }));
    match result {
        Ok(()) => true,
        Err(reason) if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "PostgreSQL at {} is unreachable under CI=true, so these tests cannot run: {reason}",
            server_url()
        ),
        Err(reason) => {
            eprintln!(
                "skipped: PostgreSQL at {} is unreachable ({reason}); set \
                 GATEHOUSE_TEST_POSTGRES to a server with trust authentication to run it",
                server_url()
            );
            false
        }
    }
}

/// A client of the server's `postgres` database, for creating and dropping databases.
async fn admin_client() -> Result<tokio_postgres::Client, String> {
    let url = database_url("postgres");
    let connect = tokio_postgres::connect(&url, NoTls);
    let (client, connection) = tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Runs `f` to completion on a runtime of its own, on a thread of its own (so it works
/// inside another runtime's async context, as in a guard's `Drop`).
fn on_own_runtime<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a test runtime")
            .block_on(f)
    })
    .join()
    .expect("the helper thread does not panic")
}

/// A database of its own for one test; dropped (best effort) with the guard.
pub(crate) struct TestDb {
    name: String,
    url: String,
}

impl TestDb {
    /// Creates a new, empty database.
    pub(crate) async fn create() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("gatehouse_test_{}_{n}", std::process::id());
        let client = admin_client().await.expect("connect to PostgreSQL");
        // A database of an earlier process with the same pid is in the way: replace it.
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await
            .expect("drop a leftover test database");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a test database");
        let url = database_url(&name);
        Self { name, url }
    }

    /// Its connection URL.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Its name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let dropped = on_own_runtime(async move {
            let client = admin_client().await?;
            client.batch_execute(&sql).await.map_err(|e| e.to_string())
        });
        if let Err(e) = dropped {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}
