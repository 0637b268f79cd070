//! [`GrantStore`](crate::GrantStore): consents and grants.

use super::prelude::*;

/// Creates a grant of `user`, `client`, `resource` in environment A with one refresh token
/// (clear value `rt {id}`), and returns it.
async fn grant_with_token(
    store: &dyn Store,
    id: &str,
    user: &str,
    client: &str,
    resource: &str,
) -> GrantRecord {
    let g = GrantRecord {
        user_id: user.into(),
        client_id: client.into(),
        resource_id: resource.into(),
        ..grant(ENV_A, id)
    };
    store.create_grant(&g).await.unwrap();
    store
        .create_refresh(&refresh(&g, &format!("rt {id}"), T0))
        .await
        .unwrap();
    g
}

/// Creates a second user `u2`, client `c2` and resource `r2` in environment A.
async fn more_parties(store: &dyn Store) {
    store
        .create_user(&user(ENV_A, "u2", "bob@example.com"))
        .await
        .unwrap();
    store
        .create_client(&client(ENV_A, "c2", T0), &[])
        .await
        .unwrap();
    store
        .create_resource(&resource(ENV_A, "r2", "https://two.example/", T0))
        .await
        .unwrap();
}

async fn token_revoked_at(store: &dyn Store, grant_id: &str) -> Option<Timestamp> {
    let t = store
        .get_refresh(ENV_A, &hash(&format!("rt {grant_id}")))
        .await
        .unwrap();
    t.expect("refresh token exists").revoked_at
}

/// Upserting an existing consent replaces scope and `updated_at` and keeps `granted_at`.
pub async fn upsert_consent_replaces_scope_and_keeps_granted_at(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let (u, c, r) = (user_id(ENV_A), client_id(ENV_A), resource_id(ENV_A));
    let first = consent(ENV_A, &u, &c, &r, "read", T0);
    store.upsert_consent(&first).await.unwrap();
    assert_eq!(
        store.get_consent(ENV_A, &u, &c, &r).await.unwrap(),
        Some(first.clone())
    );
    let second = consent(ENV_A, &u, &c, &r, "read write", T0 + 50);
    store.upsert_consent(&second).await.unwrap();
    let expected = ConsentRecord {
        granted_at: T0,
        ..second
    };
    assert_eq!(
        store.get_consent(ENV_A, &u, &c, &r).await.unwrap(),
        Some(expected)
    );
    assert_eq!(store.get_consent(ENV_B, &u, &c, &r).await.unwrap(), None);
    assert_eq!(
        store.get_consent(ENV_A, &u, &c, "other").await.unwrap(),
        None
    );
}

/// Consents filtered by user, by client, by both or neither, ordered by `granted_at`.
pub async fn list_consents_filters_by_user_and_client_ordered_by_granted_at(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    more_parties(store.as_ref()).await;
    let (u1, c1, r) = (user_id(ENV_A), client_id(ENV_A), resource_id(ENV_A));
    let rows = [
        (&*u1, &*c1, T0 + 3),
        (&*u1, "c2", T0 + 1),
        ("u2", &*c1, T0 + 2),
        ("u2", "c2", T0 + 4),
    ];
    for (u, c, at) in rows {
        store
            .upsert_consent(&consent(ENV_A, u, c, &r, "read", at))
            .await
            .unwrap();
    }
    let b = consent(
        ENV_B,
        &user_id(ENV_B),
        &client_id(ENV_B),
        &resource_id(ENV_B),
        "read",
        T0,
    );
    store.upsert_consent(&b).await.unwrap();
    let list = async |u: Option<&str>, c: Option<&str>| {
        let found = store.list_consents(ENV_A, u, c).await.unwrap();
        found
            .into_iter()
            .map(|x| (x.user_id, x.client_id))
            .collect::<Vec<_>>()
    };
    let pairs = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(u, c)| (u.to_string(), c.to_string()))
            .collect::<Vec<_>>()
    };
    let all = pairs(&[(&u1, "c2"), ("u2", &c1), (&u1, &c1), ("u2", "c2")]);
    assert_eq!(list(None, None).await, all);
    assert_eq!(
        list(Some(&u1), None).await,
        pairs(&[(&u1, "c2"), (&u1, &c1)])
    );
    assert_eq!(
        list(None, Some(&c1)).await,
        pairs(&[("u2", &c1), (&u1, &c1)])
    );
    assert_eq!(list(Some("u2"), Some("c2")).await, pairs(&[("u2", "c2")]));
    assert_eq!(list(Some("nobody"), None).await, pairs(&[]));
}

/// Revoking a consent deletes it and revokes (reason `consent_revoked`) every unrevoked
/// grant of that user, client and resource, with their refresh tokens.
pub async fn revoke_consent_revokes_matching_grants_and_their_refresh_tokens(
    store: Arc<dyn Store>,
) {
    seed(store.as_ref()).await;
    let (u, c, r) = (user_id(ENV_A), client_id(ENV_A), resource_id(ENV_A));
    store
        .upsert_consent(&consent(ENV_A, &u, &c, &r, "read", T0))
        .await
        .unwrap();
    grant_with_token(store.as_ref(), "g1", &u, &c, &r).await;
    grant_with_token(store.as_ref(), "g2", &u, &c, &r).await;
    assert!(
        store
            .revoke_consent(ENV_A, &u, &c, &r, T0 + 10)
            .await
            .unwrap()
    );
    assert_eq!(store.get_consent(ENV_A, &u, &c, &r).await.unwrap(), None);
    for id in ["g1", "g2"] {
        let g = store.get_grant(ENV_A, id).await.unwrap().unwrap();
        assert_eq!(g.revoked_at, Some(T0 + 10), "{id}");
        assert_eq!(g.revoked_reason.as_deref(), Some("consent_revoked"), "{id}");
        assert_eq!(
            token_revoked_at(store.as_ref(), id).await,
            Some(T0 + 10),
            "{id}"
        );
    }
}

/// Revoking a consent leaves grants of other users, clients and resources alone, and an
/// already revoked grant keeps its first revocation.
pub async fn revoke_consent_leaves_other_users_clients_and_resources_alone(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let (u, c, r) = (user_id(ENV_A), client_id(ENV_A), resource_id(ENV_A));
    store
        .upsert_consent(&consent(ENV_A, &u, &c, &r, "read", T0))
        .await
        .unwrap();
    more_parties(store.as_ref()).await;
    grant_with_token(store.as_ref(), "other-user", "u2", &c, &r).await;
    grant_with_token(store.as_ref(), "other-client", &u, "c2", &r).await;
    grant_with_token(store.as_ref(), "other-resource", &u, &c, "r2").await;
    grant_with_token(store.as_ref(), "earlier", &u, &c, &r).await;
    assert!(
        store
            .revoke_grant(ENV_A, "earlier", "revoked_by_client", T0 + 5)
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_consent(ENV_A, &u, &c, &r, T0 + 10)
            .await
            .unwrap()
    );
    for id in ["other-user", "other-client", "other-resource"] {
        assert_eq!(
            store
                .get_grant(ENV_A, id)
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            None,
            "{id}"
        );
        assert_eq!(token_revoked_at(store.as_ref(), id).await, None, "{id}");
    }
    let earlier = store.get_grant(ENV_A, "earlier").await.unwrap().unwrap();
    assert_eq!(
        (earlier.revoked_at, earlier.revoked_reason.as_deref()),
        (Some(T0 + 5), Some("revoked_by_client"))
    );
}

/// Revoking a consent that does not exist returns false.
pub async fn revoke_consent_of_missing_consent_returns_false(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let (u, c, r) = (user_id(ENV_A), client_id(ENV_A), resource_id(ENV_A));
    assert!(!store.revoke_consent(ENV_A, &u, &c, &r, T0).await.unwrap());
    store
        .upsert_consent(&consent(ENV_A, &u, &c, &r, "read", T0))
        .await
        .unwrap();
    assert!(
        !store.revoke_consent(ENV_B, &u, &c, &r, T0).await.unwrap(),
        "other environment"
    );
    assert!(
        store
            .get_consent(ENV_A, &u, &c, &r)
            .await
            .unwrap()
            .is_some()
    );
}

/// A created grant is found in its environment only.
pub async fn create_grant_then_get_scoped_by_environment(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let g = grant(ENV_A, "g1");
    store.create_grant(&g).await.unwrap();
    assert_eq!(store.get_grant(ENV_A, "g1").await.unwrap(), Some(g));
    assert_eq!(store.get_grant(ENV_B, "g1").await.unwrap(), None);
    assert_eq!(store.get_grant(ENV_A, "unknown").await.unwrap(), None);
}

/// Revoking a grant revokes every one of its refresh tokens, rotated or not, and no other.
pub async fn revoke_grant_revokes_all_its_refresh_tokens(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    store.create_refresh(&refresh(&g, "r1", T0)).await.unwrap();
    let r2 = refresh(&g, "r2", T0 + 1);
    assert_eq!(
        store
            .rotate_refresh(
                ENV_A,
                &hash("r1"),
                &successor(&r2),
                b"sealed r2",
                30,
                T0 + 1,
                open_gate()
            )
            .await
            .unwrap()
            .outcome,
        Rotation::Rotated
    );
    let other = grant(ENV_A, "g2");
    store.create_grant(&other).await.unwrap();
    store
        .create_refresh(&refresh(&other, "x1", T0))
        .await
        .unwrap();
    assert!(
        store
            .revoke_grant(ENV_A, "g1", "revoked_by_client", T0 + 5)
            .await
            .unwrap()
    );
    let g1 = store.get_grant(ENV_A, "g1").await.unwrap().unwrap();
    assert_eq!(
        (g1.revoked_at, g1.revoked_reason.as_deref()),
        (Some(T0 + 5), Some("revoked_by_client"))
    );
    for t in ["r1", "r2"] {
        assert_eq!(
            store
                .get_refresh(ENV_A, &hash(t))
                .await
                .unwrap()
                .unwrap()
                .revoked_at,
            Some(T0 + 5),
            "{t}"
        );
    }
    assert_eq!(
        store
            .get_refresh(ENV_A, &hash("x1"))
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
    assert_eq!(
        store
            .get_grant(ENV_A, "g2")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
}

/// Revoking a revoked grant keeps the first time and reason.
pub async fn revoke_grant_twice_keeps_first_time_and_reason(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    store.create_refresh(&refresh(&g, "r1", T0)).await.unwrap();
    assert!(
        store
            .revoke_grant(ENV_A, "g1", "code_replay", T0 + 5)
            .await
            .unwrap()
    );
    assert!(
        store
            .revoke_grant(ENV_A, "g1", "revoked_by_client", T0 + 9)
            .await
            .unwrap()
    );
    let g1 = store.get_grant(ENV_A, "g1").await.unwrap().unwrap();
    assert_eq!(
        (g1.revoked_at, g1.revoked_reason.as_deref()),
        (Some(T0 + 5), Some("code_replay"))
    );
    assert_eq!(
        store
            .get_refresh(ENV_A, &hash("r1"))
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(T0 + 5)
    );
}

/// Revoking an unknown grant, or a grant through another environment, is false and
/// changes nothing.
pub async fn revoke_grant_unknown_or_in_another_environment_returns_false(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    store.create_refresh(&refresh(&g, "r1", T0)).await.unwrap();
    assert!(
        !store
            .revoke_grant(ENV_A, "unknown", "revoked_by_client", T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_grant(ENV_B, "g1", "revoked_by_client", T0)
            .await
            .unwrap()
    );
    assert_eq!(store.get_grant(ENV_A, "g1").await.unwrap(), Some(g));
    assert_eq!(
        store
            .get_refresh(ENV_A, &hash("r1"))
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
}

/// A grant created with its code is stored with it: both found, the code redeemable.
pub async fn create_grant_with_code_stores_both(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let g = grant(ENV_A, "g1");
    let c = code(&g, "code", T0 + 60);
    store.create_grant_with_code(&g, &c).await.unwrap();
    assert_eq!(store.get_grant(ENV_A, "g1").await.unwrap(), Some(g));
    assert_eq!(store.get_grant(ENV_B, "g1").await.unwrap(), None);
    let consumed = store
        .consume_code(ENV_A, &hash("code"), T0 + 1)
        .await
        .unwrap();
    let expected = AuthCodeRecord {
        consumed_at: Some(T0 + 1),
        ..c
    };
    assert_eq!(consumed, Consumed::First(expected));
}

/// A taken grant id or a taken code hash is a `Conflict`, and then neither record is
/// stored.
pub async fn create_grant_with_code_stores_neither_when_a_key_is_taken(store: Arc<dyn Store>) {
    let g1 = seed_grant(store.as_ref(), "g1").await;
    store
        .create_code(&code(&g1, "taken", T0 + 60))
        .await
        .unwrap();

    let g1_again = GrantRecord {
        scope: "read write".into(),
        ..grant(ENV_A, "g1")
    };
    assert_conflict(
        store
            .create_grant_with_code(&g1_again, &code(&g1_again, "fresh", T0 + 60))
            .await,
        "taken grant id",
    );
    assert_eq!(
        store.consume_code(ENV_A, &hash("fresh"), T0).await.unwrap(),
        Consumed::Missing,
        "the code of a refused grant is not stored"
    );
    assert_eq!(store.get_grant(ENV_A, "g1").await.unwrap(), Some(g1));

    let g2 = grant(ENV_A, "g2");
    assert_conflict(
        store
            .create_grant_with_code(&g2, &code(&g2, "taken", T0 + 60))
            .await,
        "taken code hash",
    );
    assert_eq!(
        store.get_grant(ENV_A, "g2").await.unwrap(),
        None,
        "the grant of a refused code is not stored"
    );
}

/// A code that names another grant (or environment) is refused, and nothing is stored.
pub async fn create_grant_with_code_of_another_grant_fails_and_stores_nothing(
    store: Arc<dyn Store>,
) {
    seed(store.as_ref()).await;
    let g = grant(ENV_A, "g1");
    let other_grant = code(&grant(ENV_A, "g2"), "c1", T0 + 60);
    let other_env = code(&grant(ENV_B, "g1"), "c2", T0 + 60);
    for (c, what) in [
        (other_grant, "another grant"),
        (other_env, "another environment"),
    ] {
        let result = store.create_grant_with_code(&g, &c).await;
        assert!(result.is_err(), "a code of {what}: {result:?}");
        assert_eq!(store.get_grant(ENV_A, "g1").await.unwrap(), None, "{what}");
        assert_eq!(
            store.consume_code(&c.env_id, &c.hash, T0).await.unwrap(),
            Consumed::Missing,
            "{what}"
        );
    }
}
