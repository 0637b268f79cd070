//! Retention of the authentication log beyond what the shared suite covers: a purge larger
//! than one batch (SQLite deletes 5000 events per transaction) deletes and counts them all.

mod common;

use common::TempDir;
use gatehouse_store::conformance::fixtures::*;
use gatehouse_store::{AuditEvent, AuditQuery, AuditStore};
use gatehouse_store_sqlite::SqliteStore;

/// `n` events of environment A at `T0 * 1000 + i` ms for `i` in `0..n`.
fn events(n: i64) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| event(ENV_A, i, "c", None, "success", "token"))
        .collect()
}

#[tokio::test]
async fn purge_events_larger_than_a_batch_deletes_and_counts_every_event() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).unwrap();
    environments(&store).await;
    // Exactly two full batches older than the cut-off, then three newer events.
    store.append_events(&events(10_003)).await.unwrap();
    let cut = T0 * 1000 + 10_000;
    assert_eq!(store.purge_events(ENV_A, cut).await.unwrap(), 10_000);
    let left = store
        .list_events(&AuditQuery {
            env_id: ENV_A.into(),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    let at: Vec<_> = left.iter().map(|e| e.at_ms).collect();
    assert_eq!(at, [cut + 2, cut + 1, cut]);
    assert_eq!(store.purge_events(ENV_A, cut).await.unwrap(), 0);
}
