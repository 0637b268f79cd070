//! [`EnvironmentStore`](crate::EnvironmentStore): environments and the generation counter.

use super::prelude::*;

/// Created environments are found by id and listed; unknown ids are `None`.
pub async fn create_environment_then_get_and_list_return_it(store: Arc<dyn Store>) {
    let a = environment(ENV_A, T0);
    store.create_environment(&a).await.unwrap();
    assert_eq!(store.get_environment(ENV_A).await.unwrap(), Some(a.clone()));
    assert_eq!(store.get_environment("unknown").await.unwrap(), None);
    assert_eq!(store.list_environments().await.unwrap(), vec![a]);
}

/// A second environment with the same id is a `Conflict` and changes nothing.
pub async fn create_environment_with_taken_id_conflicts(store: Arc<dyn Store>) {
    let a = environment(ENV_A, T0);
    store.create_environment(&a).await.unwrap();
    let again = EnvironmentRecord {
        issuer: "https://other.example".into(),
        ..environment(ENV_A, T0 + 5)
    };
    assert_conflict(
        store.create_environment(&again).await,
        "duplicate environment id",
    );
    assert_eq!(store.get_environment(ENV_A).await.unwrap(), Some(a));
}

/// Listing orders by creation time, then id.
pub async fn list_environments_orders_by_creation_then_id(store: Arc<dyn Store>) {
    for (id, at) in [("c", T0), ("b", T0 + 1), ("a", T0 + 1), ("0", T0 + 2)] {
        store
            .create_environment(&environment(id, at))
            .await
            .unwrap();
    }
    let ids: Vec<_> = store
        .list_environments()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(ids, ["c", "a", "b", "0"]);
}

/// Update replaces issuer, profile and settings, keeps the creation time, and reports
/// whether the environment existed.
pub async fn update_environment_replaces_issuer_profile_and_settings_only(store: Arc<dyn Store>) {
    store
        .create_environment(&environment(ENV_A, T0))
        .await
        .unwrap();
    let settings = EnvSettings {
        code_ttl: 30,
        refresh_grace: 0,
        ..EnvSettings::default()
    };
    let changed = EnvironmentRecord {
        id: ENV_A.into(),
        issuer: "https://auth.example/a".into(),
        profile: Profile::Development,
        settings,
        created_at: T0 + 99,
    };
    assert!(store.update_environment(&changed).await.unwrap());
    let expected = EnvironmentRecord {
        created_at: T0,
        ..changed.clone()
    };
    assert_eq!(store.get_environment(ENV_A).await.unwrap(), Some(expected));
    let unknown = EnvironmentRecord {
        id: "unknown".into(),
        ..changed
    };
    assert!(!store.update_environment(&unknown).await.unwrap());
    assert_eq!(store.get_environment("unknown").await.unwrap(), None);
}

/// Creating and updating an environment each increase the generation.
pub async fn generation_increases_after_environment_changes(store: Arc<dyn Store>) {
    let g0 = store.generation().await.unwrap();
    store
        .create_environment(&environment(ENV_A, T0))
        .await
        .unwrap();
    let g1 = store.generation().await.unwrap();
    assert!(g1 > g0, "create_environment: {g0} -> {g1}");
    let changed = EnvironmentRecord {
        issuer: "https://auth.example".into(),
        ..environment(ENV_A, T0)
    };
    assert!(store.update_environment(&changed).await.unwrap());
    let g2 = store.generation().await.unwrap();
    assert!(g2 > g1, "update_environment: {g1} -> {g2}");
}

/// Inserting and retiring a signing key each increase the generation.
pub async fn generation_increases_after_key_changes(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let g0 = store.generation().await.unwrap();
    store
        .insert_key(&signing_key(ENV_A, "k1", T0))
        .await
        .unwrap();
    let g1 = store.generation().await.unwrap();
    assert!(g1 > g0, "insert_key: {g0} -> {g1}");
    assert!(
        store
            .retire_key(ENV_A, "k1", T0 + 10, T0 + 20)
            .await
            .unwrap()
    );
    let g2 = store.generation().await.unwrap();
    assert!(g2 > g1, "retire_key: {g1} -> {g2}");
}

/// Creating, updating and deleting a resource each increase the generation.
pub async fn generation_increases_after_resource_changes(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let r = resource(ENV_A, "r1", "https://mcp.example/", T0);
    let g0 = store.generation().await.unwrap();
    store.create_resource(&r).await.unwrap();
    let g1 = store.generation().await.unwrap();
    assert!(g1 > g0, "create_resource: {g0} -> {g1}");
    let renamed = ResourceRecord {
        name: "Renamed".into(),
        ..r
    };
    assert!(store.update_resource(&renamed).await.unwrap());
    let g2 = store.generation().await.unwrap();
    assert!(g2 > g1, "update_resource: {g1} -> {g2}");
    assert!(store.delete_resource(ENV_A, "r1").await.unwrap());
    let g3 = store.generation().await.unwrap();
    assert!(g3 > g2, "delete_resource: {g2} -> {g3}");
}

/// Every client change that authentication reads increases the generation: creating a
/// client, adding, expiring or removing a secret, disabling, new metadata, deleting (and
/// evicting). Recording a use, and an identical re-registration (only the count changes),
/// leave it alone, so a server may cache clients and their secret hashes.
pub async fn generation_increases_after_client_changes_but_not_after_a_use(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let s = store.as_ref();
    let mut last = s.generation().await.unwrap();
    let mut moved = async |what: &str| {
        let now = s.generation().await.unwrap();
        assert!(now > last, "{what}: {last} -> {now}");
        last = now;
    };
    let c = client(ENV_A, "c1", T0);
    s.create_client(&c, &[client_secret(ENV_A, "c1", "s1", None)])
        .await
        .unwrap();
    moved("create_client").await;
    assert!(
        s.add_client_secret(&client_secret(ENV_A, "c1", "s2", None))
            .await
            .unwrap()
    );
    moved("add_client_secret").await;
    assert_eq!(
        s.expire_client_secrets(ENV_A, "c1", &hash("s2"), T0 + 60)
            .await
            .unwrap(),
        1
    );
    moved("expire_client_secrets").await;
    assert!(s.set_client_disabled(ENV_A, "c1", true).await.unwrap());
    moved("set_client_disabled").await;
    let mut renamed = c.clone();
    renamed.metadata.client_name = Some("renamed".into());
    s.save_client_metadata(&renamed).await.unwrap();
    moved("save_client_metadata with new metadata").await;
    let dcr = client(ENV_A, "dcr_1", T0);
    s.record_registration(&dcr).await.unwrap();
    moved("record_registration of a new client").await;

    let unchanged = s.generation().await.unwrap();
    assert!(s.touch_client(ENV_A, "c1", T0 + 5).await.unwrap());
    assert!(s.touch_client(ENV_A, "dcr_1", T0 + 5).await.unwrap());
    assert_eq!(s.record_registration(&dcr).await.unwrap().registrations, 2);
    assert_eq!(
        s.generation().await.unwrap(),
        unchanged,
        "touch_client and an identical re-registration leave the generation alone"
    );

    assert!(s.delete_client(ENV_A, "c1").await.unwrap());
    let deleted = s.generation().await.unwrap();
    assert!(
        deleted > unchanged,
        "delete_client: {unchanged} -> {deleted}"
    );
    // dcr_1 was used; two never-used ones, of which eviction keeps the newest.
    for (id, at) in [("dcr_2", T0 + 1), ("dcr_3", T0 + 2)] {
        s.record_registration(&client(ENV_A, id, at)).await.unwrap();
    }
    let registered = s.generation().await.unwrap();
    assert_eq!(s.evict_unused_dynamic_clients(ENV_A, 1).await.unwrap(), 1);
    let evicted = s.generation().await.unwrap();
    assert!(
        evicted > registered,
        "evict_unused_dynamic_clients: {registered} -> {evicted}"
    );
}
