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

/// Creates a second user, `other-user`, in environment A.
async fn other_user(store: &dyn Store) -> String {
    let u = user(ENV_A, "other-user", "bob@example.com");
    store.create_user(&u).await.unwrap();
    u.id
}

/// A user's sessions that have not expired at `now` (expiring exactly at `now` excluded),
/// newest `auth_time` first; other users' and other environments' sessions are not listed.
pub async fn list_sessions_returns_unexpired_sessions_of_the_user_newest_first(
    store: Arc<dyn Store>,
) {
    seed(store.as_ref()).await;
    let (uid, other) = (user_id(ENV_A), other_user(store.as_ref()).await);
    let now = T0 + 100;
    let at = |clear: &str, user: &str, auth_time: Timestamp, expires_at: Timestamp| SessionRecord {
        auth_time,
        ..session(ENV_A, clear, user, expires_at)
    };
    let middle = at("middle", &uid, T0 + 20, now + 50);
    let newest = at("newest", &uid, T0 + 30, now + 1);
    let oldest = at("oldest", &uid, T0 + 10, now + 500);
    let others = [
        at("expired", &uid, T0 + 40, now - 1),
        at("expires now", &uid, T0 + 50, now),
        at("other user", &other, T0 + 60, now + 50),
        session(ENV_B, "other env", &user_id(ENV_B), now + 50),
    ];
    for s in [&middle, &newest, &oldest].into_iter().chain(&others) {
        store.create_session(s).await.unwrap();
    }
    assert_eq!(
        store.list_sessions(ENV_A, &uid, now).await.unwrap(),
        vec![newest, middle, oldest]
    );
    assert_eq!(
        store.list_sessions(ENV_B, &uid, now).await.unwrap(),
        vec![],
        "not found through another environment"
    );
    assert_eq!(
        store.list_sessions(ENV_A, "unknown", now).await.unwrap(),
        vec![]
    );
}

/// Deleting a user's sessions deletes every one of them (expired ones included, and
/// counted), and no other user's nor another environment's.
pub async fn delete_user_sessions_removes_only_that_users_sessions(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let (uid, other) = (user_id(ENV_A), other_user(store.as_ref()).await);
    let sessions = [
        session(ENV_A, "live", &uid, T0 + 100),
        session(ENV_A, "live 2", &uid, T0 + 200),
        session(ENV_A, "expired", &uid, T0 - 1),
        session(ENV_A, "other user", &other, T0 + 100),
        session(ENV_B, "other env", &user_id(ENV_B), T0 + 100),
    ];
    for s in &sessions {
        store.create_session(s).await.unwrap();
    }
    assert_eq!(
        store.delete_user_sessions(ENV_B, &uid).await.unwrap(),
        0,
        "not found through another environment"
    );
    assert_eq!(store.delete_user_sessions(ENV_A, &uid).await.unwrap(), 3);
    assert_eq!(store.delete_user_sessions(ENV_A, &uid).await.unwrap(), 0);
    assert_eq!(store.list_sessions(ENV_A, &uid, T0).await.unwrap(), vec![]);
    assert_eq!(
        store.list_sessions(ENV_A, &other, T0).await.unwrap(),
        vec![sessions[3].clone()],
        "another user's session kept"
    );
    assert_eq!(
        store
            .list_sessions(ENV_B, &user_id(ENV_B), T0)
            .await
            .unwrap(),
        vec![sessions[4].clone()],
        "another environment's session kept"
    );
}

/// [`Store::get_session_with_consent`]: an unexpired session with its user's consent for
/// that client and resource (or none); no session (unknown, expired, another environment's)
/// means nothing, whatever consents exist.
pub async fn get_session_with_consent_reads_the_sessions_users_consent(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let (u, c, r) = (user_id(ENV_A), client_id(ENV_A), resource_id(ENV_A));
    let s = session(ENV_A, "sid", &u, T0 + 100);
    store.create_session(&s).await.unwrap();
    let both = |now| {
        let store = store.clone();
        let (c, r) = (c.clone(), r.clone());
        async move {
            store
                .get_session_with_consent(ENV_A, &hash("sid"), now, &c, &r)
                .await
                .unwrap()
        }
    };
    assert_eq!(both(T0 + 99).await, Some((s.clone(), None)));
    let granted = consent(ENV_A, &u, &c, &r, "read", T0);
    store.upsert_consent(&granted).await.unwrap();
    assert_eq!(both(T0 + 99).await, Some((s.clone(), Some(granted))));
    assert_eq!(
        store
            .get_session_with_consent(ENV_A, &hash("sid"), T0 + 99, "another-client", &r)
            .await
            .unwrap(),
        Some((s, None))
    );
    assert_eq!(both(T0 + 100).await, None, "expired");
    for (env, clear) in [(ENV_A, "unknown"), (ENV_B, "sid")] {
        assert_eq!(
            store
                .get_session_with_consent(env, &hash(clear), T0, &c, &r)
                .await
                .unwrap(),
            None,
            "{env} {clear}"
        );
    }
}
