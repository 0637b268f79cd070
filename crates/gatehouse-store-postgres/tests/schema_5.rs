//! Schema 5: a family's revocation is written on its grant only, and refresh tokens are not
//! indexed by grant. Tokens revoked by an earlier version (on their own row) stay revoked.

mod common;

use common::TestDb;
use gatehouse_store::conformance::fixtures::*;
use gatehouse_store::{GrantStore, Rotation, TokenStore};
use gatehouse_store_postgres::PostgresStore;
use tokio_postgres::NoTls;

/// A token's own `revoked_at`, read past the store (as the row holds it).
async fn own_revoked_at(raw: &tokio_postgres::Client, clear: &str) -> Option<i64> {
    raw.query_one(
        "SELECT revoked_at FROM refresh_tokens WHERE hash = $1",
        &[&hash(clear).as_str()],
    )
    .await
    .unwrap()
    .get(0)
}

#[tokio::test]
async fn a_family_revocation_marks_the_grant_and_earlier_token_revocations_still_count() {
    if !common::postgres_available() {
        return;
    }
    let db = TestDb::create().await;
    let store = PostgresStore::connect(db.url(), 2).await.unwrap();
    let g = seed_grant(&store, "g1").await;
    for t in ["r1", "r2"] {
        store.create_refresh(&refresh(&g, t, T0)).await.unwrap();
    }
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

    // Before schema 5 a revocation wrote each token's row: such a token reads as revoked and
    // cannot be rotated, while its grant is not revoked.
    raw.execute(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE hash = $2",
        &[&(T0 + 3), &hash("r1").as_str()],
    )
    .await
    .unwrap();
    let r1 = store
        .get_refresh(ENV_A, &hash("r1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r1.revoked_at, Some(T0 + 3));
    let found = store
        .get_refresh_with_grant(ENV_A, &hash("r1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.token.revoked_at, found.grant.revoked_at),
        (Some(T0 + 3), None)
    );
    let r3 = refresh(&g, "r3", T0 + 4);
    let rotation = store
        .rotate_refresh(
            ENV_A,
            &hash("r1"),
            &successor(&r3),
            b"sealed r3",
            30,
            T0 + 4,
            open_gate(),
        )
        .await
        .unwrap();
    assert_eq!(rotation.outcome, Rotation::Revoked);

    // Revoking the grant now writes the grant only; every token reads as revoked, an earlier
    // token revocation keeping its own time.
    assert!(
        store
            .revoke_grant(ENV_A, "g1", "revoked_by_client", T0 + 5)
            .await
            .unwrap()
    );
    assert_eq!(own_revoked_at(&raw, "r2").await, None);
    for (t, at) in [("r1", T0 + 3), ("r2", T0 + 5)] {
        let token = store.get_refresh(ENV_A, &hash(t)).await.unwrap().unwrap();
        assert_eq!(token.revoked_at, Some(at), "{t}");
    }
}
