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

/// Appends the six events the user, resource and error cases use (see the table).
async fn six_tagged_events(store: &dyn Store) {
    let rows = [
        // n, user, resource, error
        (1, Some("u1"), "https://a.example/", None),
        (2, Some("u1"), "https://b.example/", Some("invalid_grant")),
        (3, Some("u2"), "https://a.example/", Some("access_denied")),
        (4, None, "https://a.example/", Some("invalid_grant")),
        (5, Some("u2"), "https://b.example/", None),
        (6, Some("u1"), "https://a.example/", Some("invalid_grant")),
    ];
    let events: Vec<_> = rows
        .iter()
        .map(|&(n, user, resource, error)| {
            let outcome = if error.is_some() {
                "failure"
            } else {
                "success"
            };
            AuditEvent {
                user_id: user.map(Into::into),
                resource: Some(resource.into()),
                error: error.map(Into::into),
                ..event(ENV_A, n, "c", Some("x"), outcome, "token")
            }
        })
        .collect();
    store.append_events(&events).await.unwrap();
}

/// The `at_ms` of the event labelled `n` by [`event`].
fn at(n: i64) -> i64 {
    T0 * 1000 + n
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

/// `since_ms` keeps events at or after it, `until_ms` events strictly before it; alone,
/// together, and with the other filters.
pub async fn list_events_filters_by_time_range(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    six_events(store.as_ref()).await;
    let list = async |q: AuditQuery| labels(&store.list_events(&q).await.unwrap());
    assert_eq!(list(query(|q| q.since_ms = Some(at(4)))).await, [6, 5, 4]);
    assert_eq!(list(query(|q| q.until_ms = Some(at(3)))).await, [2, 1]);
    assert_eq!(
        list(query(
            |q| (q.since_ms, q.until_ms) = (Some(at(2)), Some(at(5)))
        ))
        .await,
        [4, 3, 2]
    );
    assert_eq!(
        list(query(
            |q| (q.since_ms, q.until_ms) = (Some(at(3)), Some(at(3)))
        ))
        .await,
        Vec::<i64>::new(),
        "empty range"
    );
    let with_outcome = query(|q| {
        (q.since_ms, q.until_ms) = (Some(at(2)), Some(at(6)));
        q.outcome = Some("failure".into());
    });
    assert_eq!(list(with_outcome).await, [4, 2]);
}

/// The `user_id`, `resource` and `error` filters, each alone and combined (with each other,
/// the time range and the older filters).
pub async fn list_events_filters_by_user_resource_and_error(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    six_tagged_events(store.as_ref()).await;
    let list = async |q: AuditQuery| labels(&store.list_events(&q).await.unwrap());
    assert_eq!(
        list(query(|q| q.user_id = Some("u1".into()))).await,
        [6, 2, 1]
    );
    assert_eq!(
        list(query(|q| q.resource = Some("https://a.example/".into()))).await,
        [6, 4, 3, 1]
    );
    assert_eq!(
        list(query(|q| q.error = Some("invalid_grant".into()))).await,
        [6, 4, 2]
    );
    let user_and_resource = query(|q| {
        q.user_id = Some("u1".into());
        q.resource = Some("https://a.example/".into());
    });
    assert_eq!(list(user_and_resource).await, [6, 1]);
    let all_three = query(|q| {
        q.user_id = Some("u1".into());
        q.resource = Some("https://b.example/".into());
        q.error = Some("invalid_grant".into());
    });
    assert_eq!(list(all_three).await, [2]);
    let with_older_filters = query(|q| {
        q.error = Some("invalid_grant".into());
        q.since_ms = Some(at(3));
        q.event = Some("token".into());
        q.client_id = Some("x".into());
    });
    assert_eq!(list(with_older_filters).await, [6, 4]);
    assert_eq!(
        list(query(|q| q.user_id = Some("nobody".into()))).await,
        Vec::<i64>::new()
    );
}

/// `oldest_first` returns the oldest matching events first; with `after_id` set to the
/// last id seen, a poller reads every event exactly once, in order, however many are
/// pending beyond `limit` and whatever is appended between polls.
pub async fn list_events_oldest_first_with_after_id_tails_without_skipping(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let append = async |range: std::ops::RangeInclusive<i64>| {
        let events: Vec<_> = range
            .map(|n| event(ENV_A, n, "c", None, "success", "token"))
            .collect();
        store.append_events(&events).await.unwrap();
    };
    append(1..=7).await;
    let oldest = query(|q| q.oldest_first = true);
    assert_eq!(
        labels(&store.list_events(&oldest).await.unwrap()),
        [1, 2, 3, 4, 5, 6, 7]
    );
    let mut seen = Vec::new();
    let mut after_id = None;
    let mut poll = async || {
        let q = query(|q| (q.oldest_first, q.after_id, q.limit) = (true, after_id, Some(3)));
        let page = store.list_events(&q).await.unwrap();
        after_id = page.last().map(|e| e.id).or(after_id);
        seen.extend(labels(&page));
        page.len()
    };
    assert_eq!(poll().await, 3);
    assert_eq!(poll().await, 3);
    append(8..=9).await;
    assert_eq!(poll().await, 3);
    assert_eq!(poll().await, 0, "caught up");
    append(10..=10).await;
    assert_eq!(poll().await, 1);
    assert_eq!(seen, (1..=10).collect::<Vec<_>>());
}

/// Purging deletes the environment's events strictly older than `before_ms` and returns
/// how many; newer events, and every event of other environments, stay.
pub async fn purge_events_deletes_only_older_events_of_that_environment(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    six_events(store.as_ref()).await;
    store
        .append_events(&[event(ENV_B, 1, "c", None, "success", "token")])
        .await
        .unwrap();
    assert_eq!(store.purge_events(ENV_A, at(4)).await.unwrap(), 3);
    let a = store.list_events(&query(|_| {})).await.unwrap();
    assert_eq!(labels(&a), [6, 5, 4], "an event at before_ms is kept");
    assert_eq!(store.purge_events(ENV_A, at(4)).await.unwrap(), 0);
    let b = AuditQuery {
        env_id: ENV_B.into(),
        ..AuditQuery::default()
    };
    assert_eq!(labels(&store.list_events(&b).await.unwrap()), [1]);
    assert_eq!(store.purge_events(ENV_B, at(1)).await.unwrap(), 0);
    assert_eq!(store.purge_events(ENV_B, at(2)).await.unwrap(), 1);
    assert_eq!(store.list_events(&b).await.unwrap(), vec![]);
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
