//! The authentication log beyond what the shared suite covers: a purge larger than one
//! batch (5000 events per statement) deletes and counts them all; text PostgreSQL cannot
//! store (NUL) does not lose a batch; ids stay in commit order under concurrent appends.

mod common;

use std::sync::Arc;

use common::TestDb;
use gatehouse_store::conformance::fixtures::*;
use gatehouse_store::{AuditEvent, AuditQuery, AuditStore, Store};
use gatehouse_store_postgres::PostgresStore;

/// `n` events of environment A at `T0 * 1000 + i` ms for `i` in `0..n`.
fn events(n: i64) -> Vec<AuditEvent> {
    (0..n)
        .map(|i| event(ENV_A, i, "c", None, "success", "token"))
        .collect()
}

fn all_of(env: &str, limit: u32) -> AuditQuery {
    AuditQuery {
        env_id: env.into(),
        limit: Some(limit),
        ..AuditQuery::default()
    }
}

#[tokio::test]
async fn purge_events_larger_than_a_batch_deletes_and_counts_every_event() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let store = PostgresStore::connect(db.url(), 2).await.unwrap();
    environments(&store).await;
    // Exactly two full batches older than the cut-off, then three newer events.
    store.append_events(&events(10_003)).await.unwrap();
    let cut = T0 * 1000 + 10_000;
    assert_eq!(store.purge_events(ENV_A, cut).await.unwrap(), 10_000);
    let left = store.list_events(&all_of(ENV_A, 100)).await.unwrap();
    let at: Vec<_> = left.iter().map(|e| e.at_ms).collect();
    assert_eq!(at, [cut + 2, cut + 1, cut]);
    assert_eq!(store.purge_events(ENV_A, cut).await.unwrap(), 0);
}

/// A NUL character in a quoted field is replaced, not a reason to drop the batch.
#[tokio::test]
async fn an_event_quoting_a_nul_character_is_stored_with_a_replacement_character() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let store = PostgresStore::connect(db.url(), 2).await.unwrap();
    environments(&store).await;
    let mut e = event(ENV_A, 1, "c\0", Some("client\0"), "failure", "authorize");
    e.error_detail = Some("state \"a\0b\" rejected".into());
    e.data = serde_json::json!({ "state": "a\0b" });
    store.append_events(&[e]).await.unwrap();
    let got = store.list_events(&all_of(ENV_A, 1)).await.unwrap();
    assert_eq!(got[0].correlation_id, "c\u{FFFD}");
    assert_eq!(got[0].client_id.as_deref(), Some("client\u{FFFD}"));
    assert_eq!(
        got[0].error_detail.as_deref(),
        Some("state \"a\u{FFFD}b\" rejected")
    );
    assert_eq!(got[0].data["state"], "a\0b", "JSON keeps it (escaped)");
}

/// Eight writers (four per node) append batches at once; listing oldest first shows each
/// batch contiguous and in order: appends are serialised, ids follow commit order.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_appends_from_two_nodes_keep_each_batch_contiguous_and_ordered() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let a: Arc<dyn Store> = Arc::new(PostgresStore::connect(db.url(), 4).await.unwrap());
    let b: Arc<dyn Store> = Arc::new(PostgresStore::connect(db.url(), 4).await.unwrap());
    environments(a.as_ref()).await;
    race(8, |w| {
        let store = if w.is_multiple_of(2) {
            a.clone()
        } else {
            b.clone()
        };
        let batch: Vec<_> = (0..50)
            .map(|i| {
                event(
                    ENV_A,
                    (w * 1000 + i) as i64,
                    &format!("w{w}"),
                    None,
                    "success",
                    "token",
                )
            })
            .collect();
        async move { store.append_events(&batch).await.unwrap() }
    })
    .await;
    let q = AuditQuery {
        oldest_first: true,
        ..all_of(ENV_A, 1000)
    };
    let listed = a.list_events(&q).await.unwrap();
    assert_eq!(listed.len(), 400);
    for chunk in listed.chunks(50) {
        let n: Vec<i64> = chunk
            .iter()
            .map(|e| e.data["n"].as_i64().unwrap())
            .collect();
        let first = n[0];
        assert_eq!(first % 1000, 0, "a batch starts at its first event");
        assert_eq!(n, (first..first + 50).collect::<Vec<_>>(), "batch in order");
    }
}

/// Every query shape of the authentication log can be served by an index, and the
/// selective filters by their own (`EXPLAIN` with sequential scans disabled, after
/// `ANALYZE`, on a log of two environments where a client, a user, failures and a trace
/// are rare). The statements are written as `audit.rs` builds them: `WHERE env_id = $1 AND
/// <filters> ORDER BY id DESC LIMIT n`, failures only as the literal `outcome = 'failure'`.
#[tokio::test]
async fn every_log_query_shape_uses_an_index() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let store = PostgresStore::connect(db.url(), 2).await.unwrap();
    let events: Vec<AuditEvent> = (0..5000)
        .map(|i| {
            let env = if i % 2 == 0 { "dev" } else { "prod" };
            let outcome = if i % 100 == 0 { "failure" } else { "success" };
            let client = if i % 500 == 0 {
                "client-rare".to_owned()
            } else {
                format!("client-{}", i % 7)
            };
            let correlation = format!("corr-{}", i / 3);
            let mut e = event(env, i, &correlation, Some(&client), outcome, "token");
            e.user_id = (i % 250 == 0).then(|| "user-1".into());
            e
        })
        .collect();
    store.append_events(&events).await.unwrap();
    let (client, connection) = tokio_postgres::connect(db.url(), tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute("ANALYZE audit_events; SET enable_seqscan = off")
        .await
        .unwrap();
    let explain = async |sql: String| -> String {
        let rows = client.query(&format!("EXPLAIN {sql}"), &[]).await.unwrap();
        rows.iter()
            .map(|r| r.get::<_, String>(0))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let since = T0 * 1000 + 4000;
    let broad = "audit_events_by_env|audit_events_pkey";
    let cases = [
        ("newest", String::new(), broad),
        ("tail", "AND id > 10".into(), broad),
        (
            "trace",
            "AND correlation_id = 'corr-6'".into(),
            "audit_events_by_correlation",
        ),
        (
            "client",
            "AND client_id = 'client-rare'".into(),
            "audit_events_by_client",
        ),
        (
            "failures",
            "AND outcome = 'failure'".into(),
            "audit_events_failures",
        ),
        (
            "user",
            "AND user_id = 'user-1'".into(),
            "audit_events_by_user",
        ),
        (
            "error",
            "AND error = 'invalid_grant'".into(),
            "audit_events_by_error|audit_events_failures",
        ),
        (
            "time range",
            format!("AND at_ms >= {since} AND at_ms < {}", since + 100),
            "audit_events_by_time",
        ),
        (
            "failures of the last day",
            format!("AND outcome = 'failure' AND at_ms >= {since}"),
            "audit_events_failures|audit_events_by_time",
        ),
        ("successes", "AND outcome = 'success'".into(), broad),
        ("step", "AND event = 'token'".into(), broad),
        (
            "MCP server",
            "AND resource = 'https://mcp.example/'".into(),
            broad,
        ),
    ];
    for (what, filters, index) in cases {
        let text = explain(format!(
            "SELECT * FROM audit_events WHERE env_id = 'dev' {filters} ORDER BY id DESC LIMIT 100"
        ))
        .await;
        assert!(
            index.split('|').any(|i| text.contains(&format!(" {i} "))),
            "{what}: expected {index}:\n{text}"
        );
        assert!(
            !text.contains("Seq Scan"),
            "{what}: sequential scan:\n{text}"
        );
    }
    let purge = explain(format!(
        "SELECT id FROM audit_events WHERE env_id = 'dev' AND at_ms < {} LIMIT 5000",
        T0 * 1000 + 200
    ))
    .await;
    assert!(purge.contains(" audit_events_by_time "), "purge:\n{purge}");
}
