//! Connection handling: errors that say what is wrong, and a request cancelled inside a
//! transaction (its future dropped) that leaves no lock behind and commits nothing.

mod common;

use std::time::Duration;

use common::TestDb;
use gatehouse_store::conformance::fixtures::*;
use gatehouse_store::{GrantStore, Rotation, StoreError, TokenStore};
use gatehouse_store_postgres::PostgresStore;

#[tokio::test]
async fn an_unreachable_server_is_unavailable_and_the_message_names_it() {
    let err = PostgresStore::connect("postgres://postgres@127.0.0.1:1/x?connect_timeout=2", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Unavailable(_)), "{err:?}");
    assert!(err.to_string().contains("127.0.0.1:1"), "{err}");
}

#[tokio::test]
async fn a_malformed_url_or_required_tls_is_refused_without_echoing_the_password() {
    let err = PostgresStore::connect("postgres://u:s3cret@h:notaport/db", 1)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Other(_)), "{err:?}");
    assert!(!err.to_string().contains("s3cret"), "{err}");
    let err = PostgresStore::connect("postgres://u@localhost/db?sslmode=require", 1)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("TLS"), "{err}");
}

/// The description used in logs names user, host and database, never the password.
#[tokio::test]
async fn the_store_describes_where_it_is_without_the_password() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    // Trust authentication ignores the password; the URL still carries it.
    let url = db.url().replacen("://postgres@", "://postgres:hunter2@", 1);
    let store = PostgresStore::connect(&url, 1).await.unwrap();
    let target = store.target();
    assert!(target.ends_with(&format!("/{}", db.name())), "{target}");
    assert!(!target.contains("hunter2"), "{target}");
    assert!(!format!("{store:?}").contains("hunter2"));
}

/// A rotation is cancelled after it has written (marked the presented token rotated) and
/// while it waits to insert its successor, whose key another session is inserting too. The
/// cancelled attempt's connection must not be reused inside that transaction (or the next
/// work would commit the abandoned writes): it is closed, the server rolls it back, and the
/// next rotation, on a one-connection pool, rotates the token as if nothing had happened.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_cancelled_after_writing_commits_nothing_and_the_pool_recovers() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let store = PostgresStore::connect(db.url(), 1).await.unwrap();
    let g = seed_grant(&store, "g1").await;
    store.create_refresh(&refresh(&g, "r1", T0)).await.unwrap();
    let (holder, _driver) = raw_client(db.url()).await;
    holder.batch_execute("BEGIN").await.unwrap();
    holder
        .execute(
            "INSERT INTO refresh_tokens (hash, env_id, grant_id, client_id, scope, created_at,
                 expires_at) VALUES ($1, 'env-a', 'g1', 'c', 'read', 0, 0)",
            &[&hash("r2").as_str()],
        )
        .await
        .unwrap();
    let waiting = {
        let store = store.clone();
        let r2 = refresh(&g, "r2", T0 + 1);
        tokio::spawn(async move {
            store
                .rotate_refresh(
                    ENV_A,
                    &hash("r1"),
                    &successor(&r2),
                    b"s",
                    30,
                    T0 + 1,
                    open_gate(),
                )
                .await
        })
    };
    wait_until_a_session_waits_for_a_lock(&holder).await;
    waiting.abort();
    assert!(waiting.await.unwrap_err().is_cancelled());
    holder.batch_execute("ROLLBACK").await.unwrap();
    let r3 = refresh(&g, "r3", T0 + 2);
    let outcome = store
        .rotate_refresh(
            ENV_A,
            &hash("r1"),
            &successor(&r3),
            b"s",
            30,
            T0 + 2,
            open_gate(),
        )
        .await
        .unwrap()
        .outcome;
    assert_eq!(
        outcome,
        Rotation::Rotated,
        "the abandoned rotation left no trace"
    );
    assert_eq!(store.get_refresh(ENV_A, &hash("r2")).await.unwrap(), None);
    let r1 = store
        .get_refresh(ENV_A, &hash("r1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r1.successor_hash, Some(hash("r3")));
    let idle_in_transaction: i64 = holder
        .query_one(
            "SELECT count(*) FROM pg_stat_activity
             WHERE datname = current_database() AND state LIKE 'idle in transaction%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(idle_in_transaction, 0);
}

/// A write that waits for a lock another session holds gives up after the lock timeout:
/// 5 s by default (SQLite's busy timeout), or what the URL's `options` say.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_blocked_by_a_held_lock_is_unavailable_after_the_lock_timeout() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let store = PostgresStore::connect(db.url(), 1).await.unwrap();
    seed_grant(&store, "g1").await;
    let (holder, _driver) = raw_client(db.url()).await;
    holder
        .batch_execute("BEGIN; SELECT 1 FROM grants WHERE id = 'g1' FOR UPDATE")
        .await
        .unwrap();
    let custom = format!("{}&options=-c%20lock_timeout%3D200ms", db.url());
    let impatient = PostgresStore::connect(&custom, 1).await.unwrap();
    for (store, within) in [(&impatient, 0.2..4.0), (&store, 4.5..30.0)] {
        let started = std::time::Instant::now();
        let result = store
            .revoke_grant(ENV_A, "g1", "revoked_by_client", T0)
            .await;
        let waited = started.elapsed().as_secs_f64();
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        assert!(
            within.contains(&waited),
            "waited {waited:.1} s, expected {within:?}"
        );
    }
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert!(
        store
            .revoke_grant(ENV_A, "g1", "revoked_by_client", T0)
            .await
            .unwrap()
    );
}

/// Polls `pg_locks` (bounded) until some session of this database waits for a lock.
async fn wait_until_a_session_waits_for_a_lock(client: &tokio_postgres::Client) {
    for _ in 0..500 {
        let waiting: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                 WHERE NOT l.granted AND a.datname = current_database()",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the rotation never waited for the family lock");
}

async fn raw_client(url: &str) -> (tokio_postgres::Client, tokio::task::JoinHandle<()>) {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    (client, driver)
}
