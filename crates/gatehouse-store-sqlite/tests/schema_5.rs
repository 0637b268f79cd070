//! Schema 5: a family's revocation is written on its grant only, and refresh tokens are not
//! indexed by grant. Tokens revoked by an earlier version (on their own row) stay revoked.

mod common;

use common::TempDir;
use gatehouse_store::conformance::fixtures::hash;
use gatehouse_store::conformance::refresh::a_token_revoked_on_its_own_row_stays_revoked;
use gatehouse_store_sqlite::SqliteStore;
use rusqlite::params;

#[tokio::test]
async fn a_family_revocation_marks_the_grant_and_earlier_token_revocations_still_count() {
    let dir = TempDir::new();
    let store = SqliteStore::open(&dir.db()).unwrap();
    let raw = rusqlite::Connection::open(dir.db()).unwrap();
    let indexed: i64 = raw
        .query_row(
            "SELECT count(*) FROM sqlite_schema WHERE name = 'refresh_tokens_by_grant'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(indexed, 0, "refresh tokens are not indexed by grant");
    a_token_revoked_on_its_own_row_stays_revoked(
        &store,
        async |clear, at| {
            raw.execute(
                "UPDATE refresh_tokens SET revoked_at = ?1 WHERE hash = ?2",
                params![at, hash(clear).as_str()],
            )
            .unwrap();
        },
        async |clear| {
            raw.query_row(
                "SELECT revoked_at FROM refresh_tokens WHERE hash = ?1",
                [hash(clear).as_str()],
                |r| r.get(0),
            )
            .unwrap()
        },
    )
    .await;
}
