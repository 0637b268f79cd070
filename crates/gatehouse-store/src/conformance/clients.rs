//! [`ClientStore`](crate::ClientStore): clients and their secrets.

use super::prelude::*;

/// A client and its initial secrets are stored together; every field round-trips.
pub async fn create_client_stores_it_with_its_secrets(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let c = ClientRecord {
        kind: ClientKind::Static,
        last_used_at: Some(T0 - 5),
        ..client(ENV_A, "c1", T0)
    };
    let secrets = [
        client_secret(ENV_A, "c1", "s1", None),
        client_secret(ENV_A, "c1", "s2", Some(T0 + 60)),
    ];
    store.create_client(&c, &secrets).await.unwrap();
    assert_eq!(
        store.get_client(ENV_A, "c1").await.unwrap(),
        Some(c.clone())
    );
    let mut stored = store.client_secrets(ENV_A, "c1").await.unwrap();
    stored.sort_by(|a, b| a.hash.cmp(&b.hash));
    let mut expected = secrets.to_vec();
    expected.sort_by(|a, b| a.hash.cmp(&b.hash));
    assert_eq!(stored, expected);
    assert_eq!(store.list_clients(ENV_A).await.unwrap(), vec![c]);
}

/// Client ids are unique across environments.
pub async fn create_client_with_taken_id_conflicts_even_in_another_environment(
    store: Arc<dyn Store>,
) {
    environments(store.as_ref()).await;
    store
        .create_client(&client(ENV_A, "c1", T0), &[])
        .await
        .unwrap();
    assert_conflict(
        store.create_client(&client(ENV_A, "c1", T0 + 1), &[]).await,
        "same env",
    );
    assert_conflict(
        store.create_client(&client(ENV_B, "c1", T0 + 1), &[]).await,
        "other env",
    );
    assert_eq!(store.get_client(ENV_B, "c1").await.unwrap(), None);
}

/// `create_client` is atomic: when a secret cannot be stored (here the same secret twice),
/// neither the client nor any secret is.
pub async fn create_client_stores_nothing_when_a_secret_fails(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let s = client_secret(ENV_A, "c1", "s1", None);
    let result = store
        .create_client(&client(ENV_A, "c1", T0), &[s.clone(), s])
        .await;
    assert!(result.is_err(), "duplicate secret accepted: {result:?}");
    assert_eq!(store.get_client(ENV_A, "c1").await.unwrap(), None);
    assert_eq!(store.client_secrets(ENV_A, "c1").await.unwrap(), vec![]);
    store
        .create_client(&client(ENV_A, "c1", T0), &[])
        .await
        .expect("the id is still free");
}

/// Clients of the environment, newest first.
pub async fn list_clients_newest_first_within_environment(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    for (id, at) in [("old", T0), ("newest", T0 + 20), ("middle", T0 + 10)] {
        store
            .create_client(&client(ENV_A, id, at), &[])
            .await
            .unwrap();
    }
    store
        .create_client(&client(ENV_B, "b", T0 + 30), &[])
        .await
        .unwrap();
    let ids: Vec<_> = store
        .list_clients(ENV_A)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    assert_eq!(ids, ["newest", "middle", "old"]);
}

/// A secret is added to an existing client; for an unknown client it is refused.
pub async fn add_client_secret_adds_to_an_existing_client_only(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let s1 = client_secret(ENV_A, "c1", "s1", None);
    store
        .create_client(&client(ENV_A, "c1", T0), std::slice::from_ref(&s1))
        .await
        .unwrap();
    let s2 = ClientSecretRecord {
        created_at: T0 + 5,
        ..client_secret(ENV_A, "c1", "s2", Some(T0 + 100))
    };
    assert!(store.add_client_secret(&s2).await.unwrap());
    let mut stored = store.client_secrets(ENV_A, "c1").await.unwrap();
    stored.sort_by_key(|s| s.created_at);
    assert_eq!(stored, vec![s1, s2]);
    assert!(
        !store
            .add_client_secret(&client_secret(ENV_A, "unknown", "s3", None))
            .await
            .unwrap()
    );
    assert_eq!(
        store.client_secrets(ENV_A, "unknown").await.unwrap(),
        vec![]
    );
}

/// Disabling and enabling report existence; a disabled client is still found.
pub async fn set_client_disabled_toggles_and_reports_existence(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_client(&client(ENV_A, "c1", T0), &[])
        .await
        .unwrap();
    assert!(store.set_client_disabled(ENV_A, "c1", true).await.unwrap());
    assert!(
        store
            .get_client(ENV_A, "c1")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert_eq!(
        store.list_clients(ENV_A).await.unwrap().len(),
        1,
        "disabled clients are listed"
    );
    assert!(store.set_client_disabled(ENV_A, "c1", false).await.unwrap());
    assert!(
        !store
            .get_client(ENV_A, "c1")
            .await
            .unwrap()
            .unwrap()
            .disabled
    );
    assert!(
        !store
            .set_client_disabled(ENV_A, "unknown", true)
            .await
            .unwrap()
    );
}

/// Touching records the last use and reports existence.
pub async fn touch_client_records_last_use(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_client(&client(ENV_A, "c1", T0), &[])
        .await
        .unwrap();
    assert!(store.touch_client(ENV_A, "c1", T0 + 7).await.unwrap());
    assert_eq!(
        store
            .get_client(ENV_A, "c1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(T0 + 7)
    );
    assert!(store.touch_client(ENV_A, "c1", T0 + 9).await.unwrap());
    assert_eq!(
        store
            .get_client(ENV_A, "c1")
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(T0 + 9)
    );
    assert!(!store.touch_client(ENV_A, "unknown", T0).await.unwrap());
}

/// Deleting removes the client and its secrets: a new client with the same id starts
/// without them.
pub async fn delete_client_removes_client_and_its_secrets(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let secret = client_secret(ENV_A, "c1", "s1", None);
    store
        .create_client(&client(ENV_A, "c1", T0), &[secret])
        .await
        .unwrap();
    store
        .create_client(
            &client(ENV_A, "c2", T0),
            &[client_secret(ENV_A, "c2", "s2", None)],
        )
        .await
        .unwrap();
    assert!(store.delete_client(ENV_A, "c1").await.unwrap());
    assert!(
        !store.delete_client(ENV_A, "c1").await.unwrap(),
        "already deleted"
    );
    assert_eq!(store.get_client(ENV_A, "c1").await.unwrap(), None);
    assert_eq!(store.client_secrets(ENV_A, "c1").await.unwrap(), vec![]);
    assert_eq!(
        store.client_secrets(ENV_A, "c2").await.unwrap().len(),
        1,
        "other client untouched"
    );
    store
        .create_client(&client(ENV_A, "c1", T0 + 1), &[])
        .await
        .unwrap();
    assert_eq!(store.client_secrets(ENV_A, "c1").await.unwrap(), vec![]);
}

/// Every client operation with the wrong environment finds nothing and changes nothing.
pub async fn client_lookups_with_another_environment_find_nothing(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let c = client(ENV_A, "c1", T0);
    store
        .create_client(&c, &[client_secret(ENV_A, "c1", "s1", None)])
        .await
        .unwrap();
    assert_eq!(store.get_client(ENV_B, "c1").await.unwrap(), None);
    assert_eq!(store.list_clients(ENV_B).await.unwrap(), vec![]);
    assert_eq!(store.client_secrets(ENV_B, "c1").await.unwrap(), vec![]);
    assert!(
        !store
            .add_client_secret(&client_secret(ENV_B, "c1", "s2", None))
            .await
            .unwrap()
    );
    assert!(!store.set_client_disabled(ENV_B, "c1", true).await.unwrap());
    assert!(!store.touch_client(ENV_B, "c1", T0 + 1).await.unwrap());
    assert!(!store.delete_client(ENV_B, "c1").await.unwrap());
    assert_eq!(store.get_client(ENV_A, "c1").await.unwrap(), Some(c));
    assert_eq!(store.client_secrets(ENV_A, "c1").await.unwrap().len(), 1);
}

/// Identical registrations share one logical client: the first creates it, later ones add
/// one to its count and replace its metadata, keeping creation time, disabled flag and
/// last use.
pub async fn record_registration_creates_then_counts_and_keeps_mutable_state(
    store: Arc<dyn Store>,
) {
    environments(store.as_ref()).await;
    let first = client(ENV_A, "dcr_1", T0);
    let stored = store.record_registration(&first).await.unwrap();
    assert_eq!(stored, first);
    store
        .set_client_disabled(ENV_A, "dcr_1", true)
        .await
        .unwrap();
    store.touch_client(ENV_A, "dcr_1", T0 + 5).await.unwrap();
    let mut again = client(ENV_A, "dcr_1", T0 + 10);
    again.metadata.client_name = Some("renamed".into());
    let stored = store.record_registration(&again).await.unwrap();
    assert_eq!(stored.registrations, 2);
    assert_eq!(stored.created_at, T0);
    assert!(stored.disabled, "a disabled logical client stays disabled");
    assert_eq!(stored.last_used_at, Some(T0 + 5));
    assert_eq!(stored.metadata.client_name.as_deref(), Some("renamed"));
    assert_eq!(
        store
            .record_registration(&again)
            .await
            .unwrap()
            .registrations,
        3
    );
    assert_eq!(
        store.list_clients(ENV_A).await.unwrap().len(),
        1,
        "one row, not three"
    );
    assert!(
        store
            .record_registration(&client(ENV_B, "dcr_1", T0))
            .await
            .is_err(),
        "ids are global"
    );
}

/// Saving metadata creates the row or replaces only the metadata.
pub async fn save_client_metadata_replaces_only_metadata(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let c = ClientRecord {
        kind: ClientKind::Cimd,
        ..client(ENV_A, "https://app.example/c.json", T0)
    };
    store.save_client_metadata(&c).await.unwrap();
    assert_eq!(
        store.get_client(ENV_A, &c.client_id).await.unwrap(),
        Some(c.clone())
    );
    store
        .set_client_disabled(ENV_A, &c.client_id, true)
        .await
        .unwrap();
    let mut newer = ClientRecord {
        created_at: T0 + 50,
        ..c.clone()
    };
    newer.metadata.client_name = Some("new name".into());
    store.save_client_metadata(&newer).await.unwrap();
    let got = store
        .get_client(ENV_A, &c.client_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.metadata.client_name.as_deref(), Some("new name"));
    assert_eq!(got.created_at, T0);
    assert!(got.disabled);
    assert!(
        store
            .save_client_metadata(&ClientRecord {
                env_id: ENV_B.into(),
                ..c
            })
            .await
            .is_err()
    );
}

/// Eviction deletes the oldest never-used, enabled dynamic clients beyond `keep`, and never
/// a used, disabled, static or other environment's client.
pub async fn evict_unused_dynamic_clients_keeps_newest_and_spares_the_rest(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    for i in 0..5 {
        store
            .record_registration(&client(ENV_A, &format!("unused{i}"), T0 + i))
            .await
            .unwrap();
    }
    store
        .record_registration(&client(ENV_A, "used", T0 - 10))
        .await
        .unwrap();
    store.touch_client(ENV_A, "used", T0).await.unwrap();
    store
        .record_registration(&client(ENV_A, "disabled", T0 - 9))
        .await
        .unwrap();
    store
        .set_client_disabled(ENV_A, "disabled", true)
        .await
        .unwrap();
    store
        .create_client(
            &ClientRecord {
                kind: ClientKind::Static,
                ..client(ENV_A, "static", T0 - 8)
            },
            &[],
        )
        .await
        .unwrap();
    store
        .record_registration(&client(ENV_B, "other-env", T0 - 7))
        .await
        .unwrap();
    assert_eq!(
        store.evict_unused_dynamic_clients(ENV_A, 2).await.unwrap(),
        3
    );
    let mut left: Vec<String> = store
        .list_clients(ENV_A)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.client_id)
        .collect();
    left.sort();
    assert_eq!(
        left,
        vec!["disabled", "static", "unused3", "unused4", "used"]
    );
    assert_eq!(store.list_clients(ENV_B).await.unwrap().len(), 1);
    assert_eq!(
        store.evict_unused_dynamic_clients(ENV_A, 2).await.unwrap(),
        0
    );
}

/// Expiring secrets spares the kept one and never extends an earlier expiry.
pub async fn expire_client_secrets_spares_the_kept_one(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let c = ClientRecord {
        kind: ClientKind::Static,
        ..client(ENV_A, "c1", T0)
    };
    let secrets = [
        client_secret(ENV_A, "c1", "old", None),
        client_secret(ENV_A, "c1", "older", Some(T0 + 10)),
        client_secret(ENV_A, "c1", "new", None),
    ];
    store.create_client(&c, &secrets).await.unwrap();
    assert_eq!(
        store
            .expire_client_secrets(ENV_A, "c1", &hash("new"), T0 + 100)
            .await
            .unwrap(),
        1
    );
    let stored = store.client_secrets(ENV_A, "c1").await.unwrap();
    let expiry = |h: &str| {
        stored
            .iter()
            .find(|s| s.hash == hash(h))
            .unwrap()
            .expires_at
    };
    assert_eq!(expiry("old"), Some(T0 + 100));
    assert_eq!(expiry("older"), Some(T0 + 10));
    assert_eq!(expiry("new"), None);
}
