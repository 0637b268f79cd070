//! [`ResourceStore`](crate::ResourceStore): MCP servers.

use super::prelude::*;

const URI: &str = "https://mcp.example/";

/// A created resource is found in its environment only and every field round-trips.
pub async fn create_resource_then_get_and_list_scoped_by_environment(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let r = ResourceRecord {
        refresh_without_offline_access: false,
        ..resource(ENV_A, "r1", URI, T0)
    };
    store.create_resource(&r).await.unwrap();
    assert_eq!(
        store.get_resource(ENV_A, "r1").await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(store.list_resources(ENV_A).await.unwrap(), vec![r]);
    assert_eq!(store.get_resource(ENV_B, "r1").await.unwrap(), None);
    assert_eq!(store.get_resource(ENV_A, "unknown").await.unwrap(), None);
    assert_eq!(store.list_resources(ENV_B).await.unwrap(), vec![]);
}

/// Two resources of one environment cannot share a URI.
pub async fn create_resource_with_taken_uri_in_same_environment_conflicts(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_resource(&resource(ENV_A, "r1", URI, T0))
        .await
        .unwrap();
    assert_conflict(
        store.create_resource(&resource(ENV_A, "r2", URI, T0)).await,
        "duplicate uri",
    );
    assert_eq!(store.get_resource(ENV_A, "r2").await.unwrap(), None);
}

/// The same URI may be registered in two environments.
pub async fn create_resource_with_same_uri_in_another_environment_succeeds(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_resource(&resource(ENV_A, "r1", URI, T0))
        .await
        .unwrap();
    let rb = resource(ENV_B, "r2", URI, T0);
    store.create_resource(&rb).await.unwrap();
    assert_eq!(store.list_resources(ENV_B).await.unwrap(), vec![rb]);
}

/// A second resource with a taken id is a `Conflict`.
pub async fn create_resource_with_taken_id_conflicts(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_resource(&resource(ENV_A, "r1", URI, T0))
        .await
        .unwrap();
    let again = resource(ENV_A, "r1", "https://other.example/", T0);
    assert_conflict(store.create_resource(&again).await, "duplicate resource id");
}

/// Listing orders by creation time, then id.
pub async fn list_resources_orders_by_creation_then_id(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    for (id, at) in [("r3", T0), ("r2", T0 + 1), ("r1", T0 + 1)] {
        store
            .create_resource(&resource(ENV_A, id, &format!("https://{id}.example/"), at))
            .await
            .unwrap();
    }
    let ids: Vec<_> = store
        .list_resources(ENV_A)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(ids, ["r3", "r1", "r2"]);
}

/// Update replaces name, uri, scopes, ttl and policy, keeps the creation time, and reports
/// existence (a resource of another environment does not exist for it).
pub async fn update_resource_replaces_fields_but_not_creation_time(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_resource(&resource(ENV_A, "r1", URI, T0))
        .await
        .unwrap();
    let changed = ResourceRecord {
        name: "Files".into(),
        uri: "https://files.example/mcp".into(),
        scopes: vec![ScopeDef {
            name: "files:read".into(),
            description: "Read files".into(),
        }],
        access_token_ttl: 60,
        refresh_without_offline_access: false,
        created_at: T0 + 50,
        ..resource(ENV_A, "r1", URI, T0)
    };
    assert!(store.update_resource(&changed).await.unwrap());
    let expected = ResourceRecord {
        created_at: T0,
        ..changed.clone()
    };
    assert_eq!(
        store.get_resource(ENV_A, "r1").await.unwrap(),
        Some(expected.clone())
    );
    let elsewhere = ResourceRecord {
        env_id: ENV_B.into(),
        name: "Hijack".into(),
        ..changed.clone()
    };
    assert!(!store.update_resource(&elsewhere).await.unwrap());
    let unknown = ResourceRecord {
        id: "unknown".into(),
        ..changed
    };
    assert!(!store.update_resource(&unknown).await.unwrap());
    assert_eq!(
        store.get_resource(ENV_A, "r1").await.unwrap(),
        Some(expected)
    );
}

/// Moving a resource onto another resource's URI is a `Conflict`.
pub async fn update_resource_to_a_taken_uri_conflicts(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_resource(&resource(ENV_A, "r1", URI, T0))
        .await
        .unwrap();
    let r2 = resource(ENV_A, "r2", "https://two.example/", T0);
    store.create_resource(&r2).await.unwrap();
    let onto = ResourceRecord {
        uri: URI.into(),
        ..r2.clone()
    };
    assert_conflict(store.update_resource(&onto).await, "update onto taken uri");
    assert_eq!(store.get_resource(ENV_A, "r2").await.unwrap(), Some(r2));
}

/// Delete removes the resource of its environment and reports existence.
pub async fn delete_resource_removes_only_that_resource_in_its_environment(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_resource(&resource(ENV_A, "r1", URI, T0))
        .await
        .unwrap();
    let r2 = resource(ENV_A, "r2", "https://two.example/", T0 + 1);
    store.create_resource(&r2).await.unwrap();
    assert!(
        !store.delete_resource(ENV_B, "r1").await.unwrap(),
        "other environment"
    );
    assert!(store.delete_resource(ENV_A, "r1").await.unwrap());
    assert!(
        !store.delete_resource(ENV_A, "r1").await.unwrap(),
        "already deleted"
    );
    assert_eq!(store.get_resource(ENV_A, "r1").await.unwrap(), None);
    assert_eq!(store.list_resources(ENV_A).await.unwrap(), vec![r2]);
}
