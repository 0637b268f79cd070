//! [`InteractionStore`](crate::InteractionStore): sessions and pending authorizations.

use super::prelude::*;

/// A session is found before `expires_at`, not at or after it, and not in another
/// environment.
pub async fn session_is_found_until_it_expires(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let s = session(ENV_A, "sid", &user_id(ENV_A), T0 + 100);
    store.create_session(&s).await.unwrap();
    assert_eq!(
        store
            .get_session(ENV_A, &hash("sid"), T0 + 99)
            .await
            .unwrap(),
        Some(s)
    );
    assert_eq!(
        store
            .get_session(ENV_A, &hash("sid"), T0 + 100)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_session(ENV_A, &hash("sid"), T0 + 101)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_session(ENV_B, &hash("sid"), T0).await.unwrap(),
        None
    );
    assert_eq!(
        store.get_session(ENV_A, &hash("other"), T0).await.unwrap(),
        None
    );
}

/// Deleting a session reports whether it existed, in its environment only.
pub async fn delete_session_removes_it_once(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    store
        .create_session(&session(ENV_A, "sid", &user_id(ENV_A), T0 + 100))
        .await
        .unwrap();
    assert!(
        !store.delete_session(ENV_B, &hash("sid")).await.unwrap(),
        "other environment"
    );
    assert!(store.delete_session(ENV_A, &hash("sid")).await.unwrap());
    assert!(
        !store.delete_session(ENV_A, &hash("sid")).await.unwrap(),
        "already deleted"
    );
    assert_eq!(
        store.get_session(ENV_A, &hash("sid"), T0).await.unwrap(),
        None
    );
}

/// A pending authorization is found before `expires_at` only, every field intact.
pub async fn pending_is_found_until_it_expires(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let p = PendingAuthorizationRecord {
        nonce: Some("n1".into()),
        state: None,
        max_age: None,
        ..pending(ENV_A, "req", T0 + 600)
    };
    store.create_pending(&p).await.unwrap();
    assert_eq!(
        store
            .get_pending(ENV_A, &hash("req"), T0 + 599)
            .await
            .unwrap(),
        Some(p)
    );
    assert_eq!(
        store
            .get_pending(ENV_A, &hash("req"), T0 + 600)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_pending(ENV_B, &hash("req"), T0).await.unwrap(),
        None
    );
}

/// `set_pending_user` records the user and their authentication time.
pub async fn set_pending_user_records_who_logged_in(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let p = pending(ENV_A, "req", T0 + 600);
    store.create_pending(&p).await.unwrap();
    assert!(
        store
            .set_pending_user(ENV_A, &hash("req"), &user_id(ENV_A), T0 + 30, T0 + 31)
            .await
            .unwrap()
    );
    let expected = PendingAuthorizationRecord {
        user_id: Some(user_id(ENV_A)),
        auth_time: Some(T0 + 30),
        ..p
    };
    assert_eq!(
        store
            .get_pending(ENV_A, &hash("req"), T0 + 32)
            .await
            .unwrap(),
        Some(expected)
    );
}

/// `set_pending_user` is false, and changes nothing, for an expired, unknown, or
/// other-environment pending authorization.
pub async fn set_pending_user_fails_when_expired_gone_or_in_another_environment(
    store: Arc<dyn Store>,
) {
    seed(store.as_ref()).await;
    let p = pending(ENV_A, "req", T0 + 600);
    store.create_pending(&p).await.unwrap();
    let uid = user_id(ENV_A);
    assert!(
        !store
            .set_pending_user(ENV_A, &hash("req"), &uid, T0, T0 + 600)
            .await
            .unwrap(),
        "expired"
    );
    assert!(
        !store
            .set_pending_user(ENV_B, &hash("req"), &uid, T0, T0)
            .await
            .unwrap(),
        "other env"
    );
    assert!(
        !store
            .set_pending_user(ENV_A, &hash("unknown"), &uid, T0, T0)
            .await
            .unwrap(),
        "unknown"
    );
    assert_eq!(
        store.get_pending(ENV_A, &hash("req"), T0).await.unwrap(),
        Some(p)
    );
    assert!(
        store
            .take_pending(ENV_A, &hash("req"), T0)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        !store
            .set_pending_user(ENV_A, &hash("req"), &uid, T0, T0)
            .await
            .unwrap(),
        "taken"
    );
}

/// `take_pending` returns the record and removes it: a second take finds nothing.
pub async fn take_pending_returns_it_exactly_once(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let p = pending(ENV_A, "req", T0 + 600);
    store.create_pending(&p).await.unwrap();
    assert_eq!(
        store
            .take_pending(ENV_A, &hash("req"), T0 + 1)
            .await
            .unwrap(),
        Some(p)
    );
    assert_eq!(
        store
            .take_pending(ENV_A, &hash("req"), T0 + 1)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_pending(ENV_A, &hash("req"), T0 + 1)
            .await
            .unwrap(),
        None
    );
}

/// An expired pending authorization cannot be taken, nor one of another environment.
pub async fn take_pending_ignores_expired_and_other_environment(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let p = pending(ENV_A, "req", T0 + 600);
    store.create_pending(&p).await.unwrap();
    assert_eq!(
        store.take_pending(ENV_B, &hash("req"), T0).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .take_pending(ENV_A, &hash("req"), T0 + 600)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.get_pending(ENV_A, &hash("req"), T0).await.unwrap(),
        Some(p),
        "left in place"
    );
}

/// Of 16 concurrent takers exactly one gets the pending authorization.
pub async fn take_pending_exactly_one_winner_under_concurrency(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let p = pending(ENV_A, "req", T0 + 600);
    store.create_pending(&p).await.unwrap();
    let results = race(16, |_| {
        let store = store.clone();
        async move {
            store
                .take_pending(ENV_A, &hash("req"), T0 + 1)
                .await
                .unwrap()
        }
    })
    .await;
    let winners: Vec<_> = results.into_iter().flatten().collect();
    assert_eq!(winners, vec![p], "exactly one taker wins");
}
