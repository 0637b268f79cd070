//! Authorization codes ([`TokenStore::consume_code`](crate::TokenStore::consume_code)).

use super::prelude::*;

/// The first redemption gets `First` with `consumed_at = now`; every later one gets
/// `Replayed` carrying the first redemption time.
pub async fn consume_code_first_then_replayed(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    let c = code(&g, "code", T0 + 60);
    store.create_code(&c).await.unwrap();
    let consumed = AuthCodeRecord {
        consumed_at: Some(T0 + 5),
        ..c
    };
    let first = store
        .consume_code(ENV_A, &hash("code"), T0 + 5)
        .await
        .unwrap();
    assert_eq!(first, Consumed::First(consumed.clone()));
    for now in [T0 + 6, T0 + 6, T0 + 1000] {
        let again = store.consume_code(ENV_A, &hash("code"), now).await.unwrap();
        assert_eq!(again, Consumed::Replayed(consumed.clone()), "at {now}");
    }
}

/// An unknown code, or a code presented to another environment, is `Missing` (and the
/// latter stays redeemable in its own environment).
pub async fn consume_code_missing_for_unknown_code_or_other_environment(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    store.create_code(&code(&g, "code", T0 + 60)).await.unwrap();
    assert_eq!(
        store
            .consume_code(ENV_A, &hash("unknown"), T0)
            .await
            .unwrap(),
        Consumed::Missing
    );
    assert_eq!(
        store.consume_code(ENV_B, &hash("code"), T0).await.unwrap(),
        Consumed::Missing
    );
    let first = store.consume_code(ENV_A, &hash("code"), T0).await.unwrap();
    assert!(matches!(first, Consumed::First(_)), "{first:?}");
}

/// Expiry is the caller's check: an expired code is consumed like any other, so it cannot
/// be retried.
pub async fn consume_code_consumes_an_expired_code(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    store.create_code(&code(&g, "code", T0 + 60)).await.unwrap();
    let late = store
        .consume_code(ENV_A, &hash("code"), T0 + 61)
        .await
        .unwrap();
    assert!(
        matches!(&late, Consumed::First(c) if c.consumed_at == Some(T0 + 61)),
        "{late:?}"
    );
    let again = store
        .consume_code(ENV_A, &hash("code"), T0 + 62)
        .await
        .unwrap();
    assert!(matches!(again, Consumed::Replayed(_)), "{again:?}");
}

/// Of 16 concurrent redemptions exactly one gets `First`; the others get `Replayed` with
/// `consumed_at` set.
pub async fn consume_code_exactly_one_winner_under_concurrency(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    store.create_code(&code(&g, "code", T0 + 60)).await.unwrap();
    let results = race(16, |i| {
        let store = store.clone();
        async move {
            store
                .consume_code(ENV_A, &hash("code"), T0 + i as i64)
                .await
                .unwrap()
        }
    })
    .await;
    let firsts: Vec<_> = results
        .iter()
        .filter(|r| matches!(r, Consumed::First(_)))
        .collect();
    assert_eq!(firsts.len(), 1, "exactly one First: {results:?}");
    let Consumed::First(winner) = firsts[0] else {
        unreachable!()
    };
    for r in &results {
        match r {
            Consumed::First(_) => {}
            Consumed::Replayed(c) => assert_eq!(
                c.consumed_at, winner.consumed_at,
                "replays see the winner's time"
            ),
            Consumed::Missing => panic!("a racing consumer got Missing"),
        }
    }
}

/// [`Store::redeem_code`]: a first redemption brings the grant and user as stored, a replay
/// the grant only (its correlation), an unknown code or another environment's neither; of
/// 16 concurrent redemptions exactly one is first.
pub async fn redeem_code_brings_the_grant_and_user_and_has_one_winner(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    let c = code(&g, "code", T0 + 60);
    store.create_code(&c).await.unwrap();
    store
        .create_code(&code(&g, "raced", T0 + 60))
        .await
        .unwrap();
    let user = store.get_user(ENV_A, &c.user_id).await.unwrap();
    assert!(user.is_some(), "the fixture's user exists");
    for (env, clear) in [(ENV_A, "unknown"), (ENV_B, "code")] {
        let none = store.redeem_code(env, &hash(clear), T0).await.unwrap();
        assert_eq!(
            none,
            Redemption {
                consumed: Consumed::Missing,
                grant: None,
                user: None
            },
            "{env} {clear}"
        );
    }
    let consumed = AuthCodeRecord {
        consumed_at: Some(T0 + 5),
        ..c
    };
    let first = store
        .redeem_code(ENV_A, &hash("code"), T0 + 5)
        .await
        .unwrap();
    assert_eq!(
        first,
        Redemption {
            consumed: Consumed::First(consumed.clone()),
            grant: Some(g.clone()),
            user: user.clone()
        }
    );
    let again = store
        .redeem_code(ENV_A, &hash("code"), T0 + 6)
        .await
        .unwrap();
    assert_eq!(
        again,
        Redemption {
            consumed: Consumed::Replayed(consumed),
            grant: Some(g.clone()),
            user: None
        }
    );
    let results = race(16, |i| {
        let store = store.clone();
        async move {
            store
                .redeem_code(ENV_A, &hash("raced"), T0 + i as i64)
                .await
                .unwrap()
        }
    })
    .await;
    let firsts = results
        .iter()
        .filter(|r| matches!(r.consumed, Consumed::First(_)))
        .count();
    assert_eq!(firsts, 1, "exactly one First: {results:?}");
    for r in &results {
        assert_eq!(r.grant.as_ref(), Some(&g));
        assert_eq!(
            r.user.is_some(),
            matches!(r.consumed, Consumed::First(_)),
            "{r:?}"
        );
    }
}
