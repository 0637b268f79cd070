//! Calls that break a precondition of the contract fail loudly and change nothing (SQLite
//! behaviour beyond the shared suite, which only covers the contract itself).

mod common;

use common::TempDir;
use gatehouse_store::conformance::fixtures::*;
use gatehouse_store::{AdminKeyRecord, AdminStore, ClientRecord, ClientStore, Store, StoreError};
use gatehouse_store_sqlite::SqliteStore;

fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(&dir.db()).unwrap()
}

#[tokio::test]
async fn create_client_with_a_secret_of_another_client_fails_and_stores_nothing() {
    let dir = TempDir::new();
    let store = open(&dir);
    environments(&store).await;
    let c: ClientRecord = client(ENV_A, "c1", T0);
    let foreign = client_secret(ENV_A, "c2", "s", None);
    let result = store.create_client(&c, &[foreign]).await;
    assert!(matches!(result, Err(StoreError::Other(_))), "{result:?}");
    assert_eq!(store.get_client(ENV_A, "c1").await.unwrap(), None);
    store.ping().await.unwrap();
}

#[tokio::test]
async fn create_admin_key_limited_to_an_unknown_environment_fails_and_stores_nothing() {
    let dir = TempDir::new();
    let store = open(&dir);
    let k = AdminKeyRecord {
        env_id: Some("nowhere".into()),
        ..admin_key("adk-1", "key 1", T0)
    };
    let result = store.create_admin_key(&k).await;
    assert!(matches!(result, Err(StoreError::Other(_))), "{result:?}");
    assert_eq!(store.list_admin_keys().await.unwrap(), vec![]);
}
