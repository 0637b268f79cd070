//! The shared storage conformance suite, run against a fresh SQLite database per case.

mod common;

use common::TempDir;
use gatehouse_store::conformance::Fixture;
use gatehouse_store_sqlite::SqliteStore;

gatehouse_store::conformance_suite!(async || {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).expect("open a fresh database");
    Fixture::new(store).keeping(dir)
});

/// The same suite through `run_all` (one test, cases in sequence), so that entry point
/// stays usable for backends that prefer it.
#[test]
fn every_case_passes_through_run_all() {
    gatehouse_store::conformance::run_all(async || {
        let dir = TempDir::new();
        Fixture::new(SqliteStore::open(&dir.db()).expect("open a fresh database")).keeping(dir)
    });
}
