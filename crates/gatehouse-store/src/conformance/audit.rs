//! [`AuditStore`](crate::AuditStore): the authentication log and initial access tokens.

use serde_json::json;

use super::prelude::*;

/// The label (`data.n`) of each event, in the order returned.
fn labels(events: &[AuditEvent]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e.data["n"].as_i64().expect("labelled event"))
        .collect()
}

/// Appends the six events the filter cases use (see the table in the function).
async fn six_events(store: &dyn Store) {
    let rows = [
        // n, correlation, client, outcome, event
        (1, "c1", Some("x"), "success", "authorize"),
        (2, "c1", Some("y"), "failure", "token"),
        (3, "c1", None, "success", "token"),
        (4, "c2", Some("x"), "failure", "authorize"),
        (5, "c2", Some("y"), "success", "refresh"),
        (6, "c2", None, "failure", "token"),
    ];
    let events: Vec<_> = rows
        .iter()
        .map(|&(n, corr, client, outcome, name)| event(ENV_A, n, corr, client, outcome, name))
        .collect();
    store.append_events(&events).await.unwrap();
}

fn query(f: impl FnOnce(&mut AuditQuery)) -> AuditQuery {
    let mut q = AuditQuery {
        env_id: ENV_A.into(),
        ..AuditQuery::default()
    };
    f(&mut q);
    q
}

/// Appended events get increasing ids in append order, across calls, and every field
/// round-trips.
pub async fn append_events_assigns_increasing_ids_in_order(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let first = [
        event(ENV_A, 1, "c", Some("x"), "success", "authorize"),
        event(ENV_A, 2, "c", None, "failure", "token"),
    ];
    store.append_events(&first).await.unwrap();
    store
        .append_events(&[event(ENV_A, 3, "c", None, "success", "token")])
        .await
        .unwrap();
    let listed = store.list_events(&query(|_| {})).await.unwrap();
    assert_eq!(labels(&listed), [3, 2, 1]);
    assert!(
        listed[0].id > listed[1].id && listed[1].id > listed[2].id,
        "ids increase: {listed:?}"
    );
    let mut expected = first[0].clone();
    expected.id = listed[2].id;
    assert_eq!(listed[2], expected);
    assert_eq!(listed[1].data, json!({ "n": 2, "scopes": ["read"] }));
}

/// Newest first; `limit` keeps the newest; `after_id` keeps the events after it.
pub async fn list_events_returns_newest_first_with_limit_and_after_id(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    six_events(store.as_ref()).await;
    let all = store.list_events(&query(|_| {})).await.unwrap();
    assert_eq!(labels(&all), [6, 5, 4, 3, 2, 1]);
    let id3 = all[3].id;
    let list = async |q: AuditQuery| labels(&store.list_events(&q).await.unwrap());
    assert_eq!(list(query(|q| q.limit = Some(2))).await, [6, 5]);
    assert_eq!(list(query(|q| q.after_id = Some(id3))).await, [6, 5, 4]);
    assert_eq!(
        list(query(|q| (q.after_id, q.limit) = (Some(id3), Some(2)))).await,
        [6, 5]
    );
    assert_eq!(
        list(query(|q| q.after_id = Some(all[0].id))).await,
        Vec::<i64>::new()
    );
}

/// Each filter, alone and combined.
pub async fn list_events_filters_by_correlation_client_outcome_and_event(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    six_events(store.as_ref()).await;
    let list = async |q: AuditQuery| labels(&store.list_events(&q).await.unwrap());
    assert_eq!(
        list(query(|q| q.correlation_id = Some("c1".into()))).await,
        [3, 2, 1]
    );
    assert_eq!(
        list(query(|q| q.client_id = Some("x".into()))).await,
        [4, 1]
    );
    assert_eq!(
        list(query(|q| q.outcome = Some("failure".into()))).await,
        [6, 4, 2]
    );
    assert_eq!(
        list(query(|q| q.event = Some("token".into()))).await,
        [6, 3, 2]
    );
    let both =
        query(|q| (q.correlation_id, q.outcome) = (Some("c2".into()), Some("failure".into())));
    assert_eq!(list(both).await, [6, 4]);
    let all = query(|q| {
        q.correlation_id = Some("c1".into());
        q.client_id = Some("y".into());
        q.outcome = Some("failure".into());
        q.event = Some("token".into());
    });
    assert_eq!(list(all).await, [2]);
    assert_eq!(
        list(query(|q| q.client_id = Some("nobody".into()))).await,
        Vec::<i64>::new()
    );
}

/// Without a limit, the 100 newest events are returned.
pub async fn list_events_defaults_to_100_events(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let events: Vec<_> = (1..=105)
        .map(|n| event(ENV_A, n, "c", None, "success", "token"))
        .collect();
    store.append_events(&events).await.unwrap();
    let listed = store.list_events(&query(|_| {})).await.unwrap();
    assert_eq!(labels(&listed), (6..=105).rev().collect::<Vec<_>>());
}

/// Events of another environment are never listed.
pub async fn list_events_is_scoped_by_environment(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    six_events(store.as_ref()).await;
    store
        .append_events(&[event(ENV_B, 7, "c1", Some("x"), "success", "token")])
        .await
        .unwrap();
    let b = store
        .list_events(&AuditQuery {
            env_id: ENV_B.into(),
            ..AuditQuery::default()
        })
        .await
        .unwrap();
    assert_eq!(labels(&b), [7]);
    let a = store
        .list_events(&query(|q| q.correlation_id = Some("c1".into())))
        .await
        .unwrap();
    assert_eq!(labels(&a), [3, 2, 1]);
}

/// An initial access token is found before its expiry (forever without one), in its
/// environment only.
pub async fn initial_access_token_is_found_until_it_expires(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let expiring = initial_access_token(ENV_A, "iat 1", Some(T0 + 100));
    let forever = initial_access_token(ENV_A, "iat 2", None);
    store.create_initial_access_token(&expiring).await.unwrap();
    store.create_initial_access_token(&forever).await.unwrap();
    let find = async |env: &str, clear: &str, now: Timestamp| {
        store
            .find_initial_access_token(env, &hash(clear), now)
            .await
            .unwrap()
    };
    assert_eq!(find(ENV_A, "iat 1", T0 + 99).await, Some(expiring));
    assert_eq!(find(ENV_A, "iat 1", T0 + 100).await, None);
    assert_eq!(find(ENV_A, "iat 2", T0 + 1_000_000).await, Some(forever));
    assert_eq!(find(ENV_B, "iat 2", T0).await, None);
    assert_eq!(find(ENV_A, "unknown", T0).await, None);
}
