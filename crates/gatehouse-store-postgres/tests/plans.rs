//! Query plans on a new database. A connection caches a generic plan for each prepared
//! statement after a few executions; on a new database (tables empty, never analysed) the
//! planner costs every index that matches a prefix of the conditions the same, so a lookup
//! by key could be planned on an index range instead of the key, and keep that plan while
//! the table grows (see migration 4).

mod common;

use common::TestDb;
use gatehouse_store_postgres::PostgresStore;
use tokio_postgres::{NoTls, SimpleQueryMessage};

/// The plan PostgreSQL picks for `sql` as a generic plan (parameters unknown), as text.
async fn generic_plan(client: &tokio_postgres::Client, types: &str, sql: &str) -> String {
    client
        .batch_execute(&format!(
            "DEALLOCATE ALL; SET plan_cache_mode = force_generic_plan; PREPARE s({types}) AS {sql}"
        ))
        .await
        .unwrap();
    let args = vec!["NULL"; types.split(',').count()].join(", ");
    let rows = client
        .simple_query(&format!("EXPLAIN EXECUTE s({args})"))
        .await
        .unwrap();
    rows.iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => r.get(0).map(str::to_owned),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn grant_lookups_by_id_use_the_primary_key_on_a_new_database() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    // Connecting migrates the database.
    let _store = PostgresStore::connect(db.url(), 1).await.unwrap();
    let (client, connection) = tokio_postgres::connect(db.url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    // The statements of `get_grant`, the refresh token's joins and the rotation's family lock.
    let lookups = [
        (
            "text, text",
            "SELECT id, scope, revoked_at FROM grants WHERE env_id = $1 AND id = $2",
        ),
        (
            "text, text",
            "SELECT t.hash, COALESCE(t.revoked_at, g.revoked_at)
             FROM refresh_tokens t LEFT JOIN grants g ON g.id = t.grant_id
             WHERE t.hash = $1 AND t.env_id = $2",
        ),
        (
            "text, text",
            "SELECT t.hash, g.id, g.env_id,
                    EXISTS (SELECT 1 FROM users u
                            WHERE u.id = g.user_id AND u.env_id = g.env_id AND NOT u.disabled)
             FROM refresh_tokens t JOIN grants g ON g.id = t.grant_id
             WHERE t.hash = $1 AND t.env_id = $2",
        ),
        (
            "text, text",
            "SELECT revoked_at IS NOT NULL FROM grants
             WHERE env_id = $2
               AND id = (SELECT grant_id FROM refresh_tokens WHERE hash = $1 AND env_id = $2)
             FOR UPDATE",
        ),
        (
            "text, text, bigint, text",
            "UPDATE grants SET revoked_at = COALESCE(revoked_at, $3), revoked_reason = $4
             WHERE env_id = $1 AND id = $2",
        ),
    ];
    for (types, sql) in lookups {
        let plan = generic_plan(&client, types, sql).await;
        assert!(
            plan.contains("grants_pkey")
                && !plan.contains("grants_by_consent")
                && !plan.contains("Seq Scan"),
            "{sql}\nplanned as:\n{plan}"
        );
        if sql.contains("users u") {
            assert!(plan.contains("users_pkey"), "{sql}\nplanned as:\n{plan}");
        }
    }
    // Revoking a consent still finds its grants through the index.
    let plan = generic_plan(
        &client,
        "text, text, text, text",
        "SELECT id FROM grants
         WHERE env_id = $1 AND user_id = $2 AND client_id = $3 AND resource_id = $4
           AND revoked_at IS NULL",
    )
    .await;
    assert!(plan.contains("grants_by_consent"), "{plan}");
}
