//! Schema 5: a family's revocation is written on its grant only, and refresh tokens are not
//! indexed by grant. Tokens revoked by an earlier version (on their own row) stay revoked.

mod common;

use common::TestDb;
use gatehouse_store::conformance::fixtures::hash;
use gatehouse_store::conformance::refresh::a_token_revoked_on_its_own_row_stays_revoked;
use gatehouse_store_postgres::PostgresStore;
use tokio_postgres::NoTls;

#[tokio::test]
async fn a_family_revocation_marks_the_grant_and_earlier_token_revocations_still_count() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let store = PostgresStore::connect(db.url(), 2).await.unwrap();
    let (raw, connection) = tokio_postgres::connect(db.url(), NoTls).await.unwrap();
    tokio::spawn(connection);
    let indexed: i64 = raw
        .query_one(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'refresh_tokens_by_grant'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(indexed, 0, "refresh tokens are not indexed by grant");
    a_token_revoked_on_its_own_row_stays_revoked(
        &store,
        async |clear, at| {
            raw.execute(
                "UPDATE refresh_tokens SET revoked_at = $1 WHERE hash = $2",
                &[&at, &hash(clear).as_str()],
            )
            .await
            .unwrap();
        },
        async |clear| {
            raw.query_one(
                "SELECT revoked_at FROM refresh_tokens WHERE hash = $1",
                &[&hash(clear).as_str()],
            )
            .await
            .unwrap()
            .get(0)
        },
    )
    .await;
}
