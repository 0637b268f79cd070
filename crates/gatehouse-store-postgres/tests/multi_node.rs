//! Several `PostgresStore`s on one database, as several Gatehouse nodes (and the CLI) are:
//! each sees the others' writes, generation changes propagate, single-use operations keep
//! exactly one winner across nodes, and nodes starting together migrate a new database once.

mod common;

use std::sync::Arc;

use common::TestDb;
use gatehouse_store::conformance::fixtures::*;
use gatehouse_store::{AdminStore, Consumed, EnvironmentStore, Rotation, Store, StoreError};
use gatehouse_store_postgres::PostgresStore;

/// Two nodes on one fresh database, each with its own pool.
async fn two_nodes(db: &TestDb) -> (Arc<dyn Store>, Arc<dyn Store>) {
    let a = PostgresStore::connect(db.url(), 4).await.unwrap();
    let b = PostgresStore::connect(db.url(), 4).await.unwrap();
    (Arc::new(a), Arc::new(b))
}

/// Task `i` of a race uses node `i % 2`.
fn node(i: usize, a: &Arc<dyn Store>, b: &Arc<dyn Store>) -> Arc<dyn Store> {
    if i.is_multiple_of(2) {
        a.clone()
    } else {
        b.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_see_each_others_writes() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let (a, b) = two_nodes(&db).await;
    b.create_environment(&environment(ENV_A, T0)).await.unwrap();
    assert!(a.get_environment(ENV_A).await.unwrap().is_some());
    a.create_user(&user(ENV_A, "u1", "alice@example.com"))
        .await
        .unwrap();
    assert_eq!(b.list_users(ENV_A).await.unwrap().len(), 1);
    b.set_meta("public_url", "https://auth.example")
        .await
        .unwrap();
    assert_eq!(
        a.get_meta("public_url").await.unwrap().as_deref(),
        Some("https://auth.example")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generation_seen_by_one_node_increases_after_the_other_changes_configuration() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let (server, cli) = two_nodes(&db).await;
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
async fn consume_code_exactly_one_winner_across_two_nodes() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let (a, b) = two_nodes(&db).await;
    let g = seed_grant(a.as_ref(), "g1").await;
    a.create_code(&code(&g, "code", T0 + 60)).await.unwrap();
    let results = race(16, |i| {
        let store = node(i, &a, &b);
        async move {
            store
                .consume_code(ENV_A, &hash("code"), T0 + 1 + i as i64)
                .await
                .unwrap()
        }
    })
    .await;
    let winner: Vec<_> = results
        .iter()
        .filter_map(|r| match r {
            Consumed::First(c) => Some(c.consumed_at),
            _ => None,
        })
        .collect();
    assert_eq!(winner.len(), 1, "{results:?}");
    for r in &results {
        match r {
            Consumed::First(_) => {}
            Consumed::Replayed(c) => assert_eq!(c.consumed_at, winner[0], "winner's time"),
            Consumed::Missing => panic!("a racing node got Missing: {results:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotate_refresh_exactly_one_rotation_across_two_nodes() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let (a, b) = two_nodes(&db).await;
    let g = seed_grant(a.as_ref(), "g1").await;
    a.create_refresh(&refresh(&g, "r1", T0)).await.unwrap();
    let results = race(16, |i| {
        let store = node(i, &a, &b);
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
    let winners: Vec<_> = (0..16)
        .filter(|&i| results[i] == Rotation::Rotated)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    let grace = Rotation::Grace {
        sealed_successor: format!("sealed s{}", winners[0]).into_bytes(),
    };
    for (i, r) in results.iter().enumerate() {
        if i != winners[0] {
            assert_eq!(r, &grace, "task {i} on node {}", i % 2);
        }
    }
}

/// Presenting a token after its grace window from one node while the other rotates its
/// successor: whatever the order, the family ends up revoked with no live token left, and
/// nothing fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reuse_on_one_node_racing_rotation_on_the_other_leaves_no_live_token() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let (a, b) = two_nodes(&db).await;
    let g = seed_grant(a.as_ref(), "g1").await;
    a.create_refresh(&refresh(&g, "r1", T0)).await.unwrap();
    let r2 = refresh(&g, "r2", T0 + 1);
    let rotated = a
        .rotate_refresh(
            ENV_A,
            &hash("r1"),
            &successor(&r2),
            b"sealed r2",
            30,
            T0 + 1,
            open_gate(),
        )
        .await
        .unwrap()
        .outcome;
    assert_eq!(rotated, Rotation::Rotated);
    let at = T0 + 100;
    let results = race(2, |i| {
        let store = node(i, &a, &b);
        // Node a replays r1 (reuse); node b rotates r2 (legitimate).
        let presented = if i == 0 { "r1" } else { "r2" };
        let next = refresh(&g, &format!("next {i}"), at);
        async move {
            store
                .rotate_refresh(
                    ENV_A,
                    &hash(presented),
                    &successor(&next),
                    b"sealed",
                    30,
                    at,
                    open_gate(),
                )
                .await
                .unwrap()
                .outcome
        }
    })
    .await;
    assert_eq!(
        results[0],
        Rotation::Reused {
            grant_id: "g1".into()
        }
    );
    assert!(
        matches!(results[1], Rotation::Rotated | Rotation::Revoked),
        "{results:?}"
    );
    for clear in ["r1", "r2", "next 1"] {
        if let Some(t) = a.get_refresh(ENV_A, &hash(clear)).await.unwrap() {
            assert_eq!(t.revoked_at, Some(at), "{clear} is revoked");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn take_pending_exactly_one_winner_across_two_nodes() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let (a, b) = two_nodes(&db).await;
    seed(a.as_ref()).await;
    a.create_pending(&pending(ENV_A, "req", T0 + 600))
        .await
        .unwrap();
    let results = race(16, |i| {
        let store = node(i, &a, &b);
        async move {
            store
                .take_pending(ENV_A, &hash("req"), T0 + 1)
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(results.iter().flatten().count(), 1);
}

/// Eight nodes starting at once on a new database: every one connects, the schema is
/// migrated once (one row per migration), and all agree on the version.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn nodes_starting_together_migrate_a_new_database_once() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let url = db.url().to_owned();
    let stores = race(8, |_| {
        let url = url.clone();
        async move { PostgresStore::connect(&url, 2).await }
    })
    .await;
    for store in &stores {
        let store = store.as_ref().expect("every node starts");
        assert_eq!(
            store.schema_version().await.unwrap(),
            PostgresStore::SCHEMA_VERSION
        );
    }
    let (client, _conn) = raw_client(&url).await;
    let applied: i64 = client
        .query_one("SELECT count(*) FROM gatehouse_schema_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, PostgresStore::SCHEMA_VERSION);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_keeps_data_and_does_not_migrate_again() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let first = PostgresStore::connect(db.url(), 2).await.unwrap();
    first
        .create_environment(&environment(ENV_A, T0))
        .await
        .unwrap();
    drop(first);
    let again = PostgresStore::connect(db.url(), 2).await.unwrap();
    assert_eq!(
        again.schema_version().await.unwrap(),
        PostgresStore::SCHEMA_VERSION
    );
    assert_eq!(again.list_environments().await.unwrap().len(), 1);
}

/// A database an earlier release migrated to version 1 keeps its rows and gains the
/// version-2 tables.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_database_upgrades_keeping_its_data() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let (client, _conn) = raw_client(db.url()).await;
    client
        .batch_execute(include_str!("../migrations/0001_init.sql"))
        .await
        .unwrap();
    client
        .batch_execute(
            "CREATE TABLE gatehouse_schema_migrations (version BIGINT PRIMARY KEY,
                 name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
             INSERT INTO gatehouse_schema_migrations (version, name) VALUES (1, '0001_init');
             INSERT INTO meta (key, value) VALUES ('public_url', 'x');",
        )
        .await
        .unwrap();
    let store = PostgresStore::connect(db.url(), 2).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        PostgresStore::SCHEMA_VERSION
    );
    assert_eq!(
        store.get_meta("public_url").await.unwrap().as_deref(),
        Some("x")
    );
    store
        .create_admin_user(&admin_user("adm-1", "root@example.com"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_of_a_newer_schema_is_refused() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    PostgresStore::connect(db.url(), 1).await.unwrap();
    let (client, _conn) = raw_client(db.url()).await;
    client
        .execute(
            "INSERT INTO gatehouse_schema_migrations (version, name) VALUES ($1, 'future')",
            &[&(PostgresStore::SCHEMA_VERSION + 1)],
        )
        .await
        .unwrap();
    let err = PostgresStore::connect(db.url(), 1).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::Other(e) if e.to_string().contains("newer than this build")),
        "{err:?}"
    );
}

/// A plain connection to `url`, its driver running until the returned handle is dropped.
async fn raw_client(url: &str) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, driver)
}
