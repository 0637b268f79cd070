//! Several `SqliteStore`s on one database file, as when the CLI admin commands run while
//! the server is serving: each sees the other's writes, generation changes propagate, and
//! single-use operations keep exactly one winner across them.

mod common;

use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use common::TempDir;
use gatehouse_store::conformance::fixtures::*;
use gatehouse_store::{Consumed, EnvironmentStore, Rotation, Store};
use gatehouse_store_sqlite::SqliteStore;

/// Two stores (two "processes") on one fresh file.
fn two_stores(dir: &TempDir) -> (Arc<dyn Store>, Arc<dyn Store>) {
    let server = SqliteStore::open(&dir.db()).unwrap();
    let cli = SqliteStore::open(&dir.db()).unwrap();
    (Arc::new(server), Arc::new(cli))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_stores_on_one_file_see_each_others_writes() {
    let dir = TempDir::new();
    let (server, cli) = two_stores(&dir);
    cli.create_environment(&environment(ENV_A, T0))
        .await
        .unwrap();
    assert!(server.get_environment(ENV_A).await.unwrap().is_some());
    server
        .create_user(&user(ENV_A, "u1", "alice@example.com"))
        .await
        .unwrap();
    assert_eq!(cli.list_users(ENV_A).await.unwrap().len(), 1);
    cli.set_meta("public_url", "https://auth.example")
        .await
        .unwrap();
    assert_eq!(
        server.get_meta("public_url").await.unwrap().as_deref(),
        Some("https://auth.example")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generation_seen_by_one_store_increases_after_the_other_creates_a_resource() {
    let dir = TempDir::new();
    let (server, cli) = two_stores(&dir);
    cli.create_environment(&environment(ENV_A, T0))
        .await
        .unwrap();
    let before = server.generation().await.unwrap();
    cli.create_resource(&resource(ENV_A, "r1", "https://mcp.example/", T0))
        .await
        .unwrap();
    let after = server.generation().await.unwrap();
    assert!(after > before, "server saw generation {before} -> {after}");
    cli.insert_key(&signing_key(ENV_A, "k1", T0)).await.unwrap();
    assert!(
        server.generation().await.unwrap() > after,
        "key changes too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn consume_code_exactly_one_winner_across_two_stores() {
    let dir = TempDir::new();
    let (server, cli) = two_stores(&dir);
    let g = seed_grant(server.as_ref(), "g1").await;
    server
        .create_code(&code(&g, "code", T0 + 60))
        .await
        .unwrap();
    let results = race(16, |i| {
        let store = if i % 2 == 0 {
            server.clone()
        } else {
            cli.clone()
        };
        async move {
            store
                .consume_code(ENV_A, &hash("code"), T0 + 1)
                .await
                .unwrap()
        }
    })
    .await;
    let firsts = results
        .iter()
        .filter(|r| matches!(r, Consumed::First(_)))
        .count();
    let replays = results
        .iter()
        .filter(|r| matches!(r, Consumed::Replayed(_)))
        .count();
    assert_eq!((firsts, replays), (1, 15), "{results:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotate_refresh_exactly_one_rotation_across_two_stores() {
    let dir = TempDir::new();
    let (server, cli) = two_stores(&dir);
    let g = seed_grant(server.as_ref(), "g1").await;
    server.create_refresh(&refresh(&g, "r1", T0)).await.unwrap();
    let results = race(16, |i| {
        let store = if i % 2 == 0 {
            server.clone()
        } else {
            cli.clone()
        };
        let next = refresh(&g, &format!("s{i}"), T0 + 10);
        async move {
            let sealed = format!("sealed s{i}").into_bytes();
            store
                .rotate_refresh(
                    ENV_A,
                    &hash("r1"),
                    &successor(&next),
                    &sealed,
                    30,
                    T0 + 10,
                    open_gate(),
                )
                .await
                .unwrap()
                .outcome
        }
    })
    .await;
    let rotated = results.iter().filter(|r| **r == Rotation::Rotated).count();
    let grace = results
        .iter()
        .filter(|r| matches!(r, Rotation::Grace { .. }))
        .count();
    assert_eq!((rotated, grace), (1, 15), "{results:?}");
}

#[tokio::test]
async fn reopening_keeps_data_and_does_not_migrate_again() {
    let dir = TempDir::new();
    let first = SqliteStore::open(&dir.db()).unwrap();
    first
        .create_environment(&environment(ENV_A, T0))
        .await
        .unwrap();
    assert_eq!(
        first.schema_version().await.unwrap(),
        SqliteStore::SCHEMA_VERSION
    );
    drop(first);
    let again = SqliteStore::open(&dir.db()).unwrap();
    assert_eq!(
        again.schema_version().await.unwrap(),
        SqliteStore::SCHEMA_VERSION
    );
    assert_eq!(again.list_environments().await.unwrap().len(), 1);
}

#[test]
fn opening_a_new_file_from_two_threads_at_once_migrates_it_once() {
    let dir = TempDir::new();
    let path = dir.db();
    let openers: Vec<_> = (0..4)
        .map(|_| {
            let path = path.clone();
            std::thread::spawn(move || SqliteStore::open(&path).map(|_| ()))
        })
        .collect();
    for opener in openers {
        opener.join().unwrap().expect("every opener succeeds");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_waits_for_another_connections_lock_instead_of_failing() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).unwrap();
    let (locked_tx, locked_rx) = mpsc::channel();
    let path = dir.db();
    // Another "process" holds the write lock for a moment.
    let holder = std::thread::spawn(move || {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .unwrap();
        tx.execute("INSERT INTO meta (key, value) VALUES ('holder', 'x')", [])
            .unwrap();
        locked_tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(200));
        tx.commit().unwrap();
    });
    locked_rx.recv().unwrap();
    store
        .set_meta("writer", "y")
        .await
        .expect("waits for the lock (busy timeout)");
    holder.join().unwrap();
    assert_eq!(
        store.get_meta("holder").await.unwrap().as_deref(),
        Some("x")
    );
}
