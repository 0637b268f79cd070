//! The shared storage conformance suite, run against a fresh PostgreSQL database per case.

mod common;

use common::TestDb;
use gatehouse_store::conformance::Fixture;
use gatehouse_store_postgres::PostgresStore;

/// Connections per store: enough for the racing cases (16 tasks) to contend on the
/// database, not only on the pool.
const POOL: usize = 8;

// `conformance_suite!` calls the factory expression inside each generated test, so the
// `return` below leaves the test early, skipped, when PostgreSQL is unreachable outside CI
// (under CI=true, `postgres_available` fails the test instead).
gatehouse_store::conformance_suite!({
    if !common::postgres_available() {
        return;
    }
    async || {
        let db = TestDb::create().await;
        let store = PostgresStore::connect(db.url(), POOL)
            .await
            .expect("connect to a fresh database");
        Fixture::new(store).keeping(db)
    }
});
