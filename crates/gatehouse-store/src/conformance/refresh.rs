//! Refresh tokens ([`TokenStore::rotate_refresh`](crate::TokenStore::rotate_refresh)):
//! rotation, the grace window for parallel refreshes, and reuse detection (RFC 9700
//! §4.14.2).

use super::prelude::*;

/// Grace window used by the cases, seconds.
const GRACE: i64 = 30;

/// Seeds grant `g1` with live refresh token `r1` created at `T0`.
async fn family(store: &dyn Store) -> GrantRecord {
    let g = seed_grant(store, "g1").await;
    store.create_refresh(&refresh(&g, "r1", T0)).await.unwrap();
    g
}

async fn rotate(
    store: &dyn Store,
    presented: &str,
    next: &RefreshTokenRecord,
    sealed: &str,
    now: Timestamp,
) -> Rotation {
    store
        .rotate_refresh(
            ENV_A,
            &hash(presented),
            &successor(next),
            sealed.as_bytes(),
            GRACE,
            now,
            open_gate(),
        )
        .await
        .unwrap()
        .outcome
}

async fn get(store: &dyn Store, clear: &str) -> Option<RefreshTokenRecord> {
    store.get_refresh(ENV_A, &hash(clear)).await.unwrap()
}

/// Asserts that the grant and each listed token were revoked at `at`.
async fn assert_family_revoked(store: &dyn Store, g: &GrantRecord, tokens: &[&str], at: Timestamp) {
    let grant = store.get_grant(ENV_A, &g.id).await.unwrap().unwrap();
    assert_eq!(grant.revoked_at, Some(at), "grant revoked");
    assert!(
        grant.revoked_reason.is_some(),
        "grant revocation has a reason"
    );
    for t in tokens {
        assert_eq!(
            get(store, t).await.unwrap().revoked_at,
            Some(at),
            "token {t} revoked"
        );
    }
}

/// A created refresh token is found in its environment only, every field intact.
pub async fn create_refresh_then_get_scoped_by_environment(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    let r = refresh(&g, "r1", T0);
    store.create_refresh(&r).await.unwrap();
    assert_eq!(get(store.as_ref(), "r1").await, Some(r));
    assert_eq!(store.get_refresh(ENV_B, &hash("r1")).await.unwrap(), None);
    assert_eq!(get(store.as_ref(), "unknown").await, None);
}

/// A token is read with its grant, as they are (revocations included), in its environment
/// only.
pub async fn get_refresh_with_grant_returns_both_scoped_by_environment(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    let r = refresh(&g, "r1", T0);
    store.create_refresh(&r).await.unwrap();
    assert_eq!(
        store
            .get_refresh_with_grant(ENV_A, &hash("r1"))
            .await
            .unwrap(),
        Some(RefreshWithGrant {
            token: r.clone(),
            grant: g.clone(),
            user_active: true,
        })
    );
    assert_eq!(
        store
            .get_refresh_with_grant(ENV_B, &hash("r1"))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .get_refresh_with_grant(ENV_A, &hash("unknown"))
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .revoke_grant(ENV_A, "g1", "test", T0 + 5)
            .await
            .unwrap()
    );
    let RefreshWithGrant { token, grant, .. } = store
        .get_refresh_with_grant(ENV_A, &hash("r1"))
        .await
        .unwrap()
        .expect("still found once revoked");
    assert_eq!(token.revoked_at, Some(T0 + 5));
    assert_eq!(
        (grant.revoked_at, grant.revoked_reason.as_deref()),
        (Some(T0 + 5), Some("test"))
    );
}

/// The read says whether the grant's user may still use the token: not once disabled.
pub async fn get_refresh_with_grant_says_whether_the_user_is_active(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    store.create_refresh(&refresh(&g, "r1", T0)).await.unwrap();
    let active = |store: Arc<dyn Store>| async move {
        store
            .get_refresh_with_grant(ENV_A, &hash("r1"))
            .await
            .unwrap()
            .expect("found")
            .user_active
    };
    assert!(active(store.clone()).await, "a seeded user is active");
    let disabled = UserRecord {
        disabled: true,
        ..user(ENV_A, &user_id(ENV_A), "alice@example.com")
    };
    assert!(store.update_user(&disabled).await.unwrap());
    assert!(!active(store.clone()).await, "a disabled user is not");
    let enabled = UserRecord {
        disabled: false,
        ..disabled
    };
    assert!(store.update_user(&enabled).await.unwrap());
    assert!(active(store.clone()).await, "enabled again");
}

/// Rotating a live token marks it rotated (time and successor hash) and stores the
/// successor as given.
pub async fn rotate_refresh_rotates_live_token_and_stores_successor(store: Arc<dyn Store>) {
    let g = family(store.as_ref()).await;
    let r2 = refresh(&g, "r2", T0 + 10);
    assert_eq!(
        rotate(store.as_ref(), "r1", &r2, "sealed r2", T0 + 10).await,
        Rotation::Rotated
    );
    let r1 = get(store.as_ref(), "r1").await.unwrap();
    assert_eq!(
        (r1.rotated_at, r1.successor_hash, r1.revoked_at),
        (Some(T0 + 10), Some(hash("r2")), None)
    );
    assert_eq!(get(store.as_ref(), "r2").await, Some(r2.clone()));
    let r3 = refresh(&g, "r3", T0 + 11);
    assert_eq!(
        rotate(store.as_ref(), "r2", &r3, "sealed r3", T0 + 11).await,
        Rotation::Rotated,
        "successor rotates"
    );
    assert_eq!(
        store
            .get_grant(ENV_A, "g1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
}

/// Rotates `presented` with `gate`, keeping what the gate was shown.
async fn rotate_gated(
    store: &dyn Store,
    presented: &str,
    next: &RefreshTokenRecord,
    now: Timestamp,
    allow: bool,
) -> (crate::RotationReport, Vec<RefreshWithGrant>) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let shown = seen.clone();
    let gate: crate::RefreshGate = Box::new(move |found| {
        shown.lock().unwrap().push(found.clone());
        allow
    });
    let report = store
        .rotate_refresh(
            ENV_A,
            &hash(presented),
            &successor(next),
            b"sealed",
            GRACE,
            now,
            gate,
        )
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    (report, seen)
}

/// The gate is shown the token, its grant and its user as the transaction reads them; when
/// it says no, the outcome is `Declined`, the same record is reported, and nothing changes.
pub async fn rotate_refresh_declined_by_the_gate_changes_nothing(store: Arc<dyn Store>) {
    let g = family(store.as_ref()).await;
    let r1 = get(store.as_ref(), "r1").await.unwrap();
    let disabled = UserRecord {
        disabled: true,
        ..user(ENV_A, &user_id(ENV_A), "alice@example.com")
    };
    assert!(store.update_user(&disabled).await.unwrap());
    let r2 = refresh(&g, "r2", T0 + 10);
    let (report, seen) = rotate_gated(store.as_ref(), "r1", &r2, T0 + 10, false).await;
    let expected = RefreshWithGrant {
        token: r1.clone(),
        grant: g.clone(),
        user_active: false,
    };
    assert_eq!(
        seen,
        std::slice::from_ref(&expected),
        "the gate saw the token once"
    );
    assert_eq!(
        report,
        crate::RotationReport {
            presented: Some(expected),
            outcome: Rotation::Declined,
        }
    );
    assert_eq!(get(store.as_ref(), "r1").await, Some(r1), "not rotated");
    assert_eq!(get(store.as_ref(), "r2").await, None, "no successor");
    // Declining is not reuse: the token rotates once the gate agrees.
    let (report, _) = rotate_gated(store.as_ref(), "r1", &r2, T0 + 11, true).await;
    assert_eq!(report.outcome, Rotation::Rotated);
}

/// A rotation whose successor's key is taken fails as a conflict and changes nothing: the
/// presented token's mark goes with the failed insert (on PostgreSQL both go out with the
/// `COMMIT`, which then rolls back), and the token rotates afterwards to a free key.
pub async fn rotate_refresh_whose_successor_key_is_taken_fails_and_changes_nothing(
    store: Arc<dyn Store>,
) {
    let g = family(store.as_ref()).await;
    let r1 = get(store.as_ref(), "r1").await.unwrap();
    let taken = refresh(&g, "taken", T0 + 5);
    store.create_refresh(&taken).await.unwrap();
    let result = store
        .rotate_refresh(
            ENV_A,
            &hash("r1"),
            &successor(&refresh(&g, "taken", T0 + 10)),
            b"sealed",
            GRACE,
            T0 + 10,
            open_gate(),
        )
        .await;
    assert_conflict(result, "a successor whose key is taken");
    assert_eq!(get(store.as_ref(), "r1").await, Some(r1), "not rotated");
    assert_eq!(get(store.as_ref(), "taken").await, Some(taken), "unchanged");
    let r2 = refresh(&g, "r2", T0 + 11);
    assert_eq!(
        rotate(store.as_ref(), "r1", &r2, "sealed r2", T0 + 11).await,
        Rotation::Rotated
    );
    assert_eq!(get(store.as_ref(), "r2").await, Some(r2));
}

/// A rotation reports the presented token as it was before it (not yet rotated), and its
/// successor takes the presented token's environment, grant, client and scope, with its
/// own hash and times. A rotated token shows the gate its rotation.
pub async fn rotate_refresh_reports_the_token_and_derives_the_successor(store: Arc<dyn Store>) {
    let g = family(store.as_ref()).await;
    let r1 = get(store.as_ref(), "r1").await.unwrap();
    // The successor given has the wrong grant, client and scope: only its own parts count.
    let given = RefreshTokenRecord {
        grant_id: "elsewhere".into(),
        client_id: "someone else".into(),
        scope: "other".into(),
        expires_at: T0 + 5000,
        ..refresh(&g, "r2", T0 + 10)
    };
    let (report, seen) = rotate_gated(store.as_ref(), "r1", &given, T0 + 10, true).await;
    assert_eq!(report.outcome, Rotation::Rotated);
    let before = RefreshWithGrant {
        token: r1.clone(),
        grant: g.clone(),
        user_active: true,
    };
    assert_eq!(report.presented, Some(before.clone()));
    assert_eq!(seen, [before]);
    assert_eq!(
        get(store.as_ref(), "r2").await,
        Some(RefreshTokenRecord {
            hash: hash("r2"),
            created_at: T0 + 10,
            expires_at: T0 + 5000,
            ..r1.clone()
        })
    );
    let (again, seen) = rotate_gated(store.as_ref(), "r1", &given, T0 + 12, true).await;
    assert!(matches!(again.outcome, Rotation::Grace { .. }), "{again:?}");
    let shown = &seen[0].token;
    assert_eq!(
        (shown.rotated_at, shown.successor_hash.clone()),
        (Some(T0 + 10), Some(hash("r2")))
    );
}

/// An unknown token, or one whose grant is gone, is `Missing` and the gate is not asked.
pub async fn rotate_refresh_of_a_token_without_grant_is_missing_and_asks_no_gate(
    store: Arc<dyn Store>,
) {
    let g = seed_grant(store.as_ref(), "g1").await;
    let orphan = RefreshTokenRecord {
        grant_id: "no such grant".into(),
        ..refresh(&g, "orphan", T0)
    };
    store.create_refresh(&orphan).await.unwrap();
    let next = refresh(&g, "next", T0 + 1);
    for presented in ["orphan", "unknown"] {
        let (report, seen) = rotate_gated(store.as_ref(), presented, &next, T0 + 1, true).await;
        assert_eq!(
            report,
            crate::RotationReport {
                presented: None,
                outcome: Rotation::Missing,
            },
            "{presented}"
        );
        assert!(seen.is_empty(), "{presented}: the gate was asked");
    }
    assert_eq!(get(store.as_ref(), "next").await, None);
}

/// Presenting the rotated token again inside the grace window, while its successor is
/// live, returns the sealed successor of the first rotation and changes nothing.
pub async fn rotate_refresh_within_grace_returns_same_sealed_successor_and_changes_nothing(
    store: Arc<dyn Store>,
) {
    let g = family(store.as_ref()).await;
    assert_eq!(
        rotate(
            store.as_ref(),
            "r1",
            &refresh(&g, "r2", T0 + 10),
            "sealed r2",
            T0 + 10
        )
        .await,
        Rotation::Rotated
    );
    let before = (
        get(store.as_ref(), "r1").await,
        get(store.as_ref(), "r2").await,
    );
    for now in [T0 + 10, T0 + 25, T0 + 10 + GRACE - 1] {
        let other = refresh(&g, &format!("parallel {now}"), now);
        let outcome = rotate(store.as_ref(), "r1", &other, "sealed other", now).await;
        assert_eq!(
            outcome,
            Rotation::Grace {
                sealed_successor: b"sealed r2".to_vec()
            },
            "at {now}"
        );
        assert_eq!(
            get(store.as_ref(), &format!("parallel {now}")).await,
            None,
            "no second successor"
        );
    }
    assert_eq!(
        (
            get(store.as_ref(), "r1").await,
            get(store.as_ref(), "r2").await
        ),
        before
    );
    assert_eq!(
        store
            .get_grant(ENV_A, "g1")
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        None
    );
}

/// Presenting a rotated token once the grace window is over (from exactly `rotated_at +
/// grace`) is reuse: the grant and every token of the family, successor included, are
/// revoked; after that the family is `Revoked`.
pub async fn rotate_refresh_reuse_after_grace_revokes_family(store: Arc<dyn Store>) {
    let g = family(store.as_ref()).await;
    assert_eq!(
        rotate(
            store.as_ref(),
            "r1",
            &refresh(&g, "r2", T0 + 10),
            "sealed r2",
            T0 + 10
        )
        .await,
        Rotation::Rotated
    );
    let at = T0 + 10 + GRACE;
    let outcome = rotate(store.as_ref(), "r1", &refresh(&g, "x", at), "sealed x", at).await;
    assert_eq!(
        outcome,
        Rotation::Reused {
            grant_id: "g1".into()
        }
    );
    assert_family_revoked(store.as_ref(), &g, &["r1", "r2"], at).await;
    assert_eq!(get(store.as_ref(), "x").await, None);
    let later = rotate(
        store.as_ref(),
        "r2",
        &refresh(&g, "y", at + 1),
        "sealed y",
        at + 1,
    )
    .await;
    assert_eq!(
        later,
        Rotation::Revoked,
        "the successor died with its family"
    );
    let again = rotate(
        store.as_ref(),
        "r1",
        &refresh(&g, "z", at + 1),
        "sealed z",
        at + 1,
    )
    .await;
    assert_eq!(again, Rotation::Revoked);
}

/// A grandparent (r1 after r1→r2→r3) is reuse even inside its own grace window, because
/// its successor has moved on (the django-oauth-toolkit#1617 bug class).
pub async fn rotate_refresh_of_grandparent_within_grace_is_reuse(store: Arc<dyn Store>) {
    let g = family(store.as_ref()).await;
    assert_eq!(
        rotate(
            store.as_ref(),
            "r1",
            &refresh(&g, "r2", T0 + 10),
            "sealed r2",
            T0 + 10
        )
        .await,
        Rotation::Rotated
    );
    assert_eq!(
        rotate(
            store.as_ref(),
            "r2",
            &refresh(&g, "r3", T0 + 11),
            "sealed r3",
            T0 + 11
        )
        .await,
        Rotation::Rotated
    );
    let outcome = rotate(
        store.as_ref(),
        "r1",
        &refresh(&g, "x", T0 + 12),
        "sealed x",
        T0 + 12,
    )
    .await;
    assert_eq!(
        outcome,
        Rotation::Reused {
            grant_id: "g1".into()
        }
    );
    assert_family_revoked(store.as_ref(), &g, &["r1", "r2", "r3"], T0 + 12).await;
}

/// A token of a revoked grant is `Revoked`, whether it was live or rotated, and nothing
/// changes (no successor is stored, the first revocation is kept).
pub async fn rotate_refresh_of_revoked_grant_is_revoked_and_changes_nothing(store: Arc<dyn Store>) {
    let g = family(store.as_ref()).await;
    assert_eq!(
        rotate(
            store.as_ref(),
            "r1",
            &refresh(&g, "r2", T0 + 10),
            "sealed r2",
            T0 + 10
        )
        .await,
        Rotation::Rotated
    );
    assert!(
        store
            .revoke_grant(ENV_A, "g1", "revoked_by_client", T0 + 11)
            .await
            .unwrap()
    );
    for presented in ["r2", "r1"] {
        let outcome = rotate(
            store.as_ref(),
            presented,
            &refresh(&g, "x", T0 + 12),
            "sealed x",
            T0 + 12,
        )
        .await;
        assert_eq!(outcome, Rotation::Revoked, "{presented}");
    }
    assert_eq!(get(store.as_ref(), "x").await, None);
    let grant = store.get_grant(ENV_A, "g1").await.unwrap().unwrap();
    assert_eq!(
        (grant.revoked_at, grant.revoked_reason.as_deref()),
        (Some(T0 + 11), Some("revoked_by_client"))
    );
}

/// An unknown token, or a token presented to another environment, is `Missing`.
pub async fn rotate_refresh_of_unknown_token_or_other_environment_is_missing(
    store: Arc<dyn Store>,
) {
    let g = family(store.as_ref()).await;
    let x = refresh(&g, "x", T0 + 1);
    assert_eq!(
        rotate(store.as_ref(), "unknown", &x, "sealed x", T0 + 1).await,
        Rotation::Missing
    );
    let elsewhere = store
        .rotate_refresh(
            ENV_B,
            &hash("r1"),
            &successor(&x),
            b"sealed x",
            GRACE,
            T0 + 1,
            open_gate(),
        )
        .await
        .unwrap()
        .outcome;
    assert_eq!(elsewhere, Rotation::Missing);
    assert_eq!(get(store.as_ref(), "x").await, None);
    assert_eq!(
        get(store.as_ref(), "r1").await.unwrap().rotated_at,
        None,
        "r1 untouched"
    );
}

/// 16 concurrent rotations of one live token, each with its own successor: exactly one
/// `Rotated`, the others `Grace` with the winner's sealed successor, and exactly one live
/// successor afterwards.
pub async fn rotate_refresh_exactly_one_rotation_under_concurrency(store: Arc<dyn Store>) {
    let g = family(store.as_ref()).await;
    let results = race(16, |i| {
        let (store, successor) = (store.clone(), refresh(&g, &format!("s{i}"), T0 + 10));
        async move {
            let sealed = format!("sealed s{i}");
            rotate(store.as_ref(), "r1", &successor, &sealed, T0 + 10).await
        }
    })
    .await;
    let winners: Vec<_> = (0..16)
        .filter(|&i| results[i] == Rotation::Rotated)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one Rotated: {results:?}");
    let w = winners[0];
    let grace = Rotation::Grace {
        sealed_successor: format!("sealed s{w}").into_bytes(),
    };
    for (i, r) in results.iter().enumerate().filter(|&(i, _)| i != w) {
        assert_eq!(r, &grace, "task {i}");
    }
    let mut live = Vec::new();
    for i in 0..16 {
        if let Some(t) = get(store.as_ref(), &format!("s{i}")).await {
            assert_eq!((t.rotated_at, t.revoked_at), (None, None));
            live.push(i);
        }
    }
    assert_eq!(live, vec![w], "exactly one successor stored");
    assert_eq!(
        get(store.as_ref(), "r1").await.unwrap().successor_hash,
        Some(hash(&format!("s{w}")))
    );
}

/// Schema 5: a family's revocation is written on its grant only. A token revoked on its
/// own row (as versions before schema 5 did, which `mark_own(clear, at)` does past the
/// store) reads as revoked and cannot be rotated while its grant is live; revoking the
/// grant then writes no token row (`own(clear)` reads a row's own `revoked_at`) and every
/// token reads as revoked, an earlier token revocation keeping its own time. Not in the
/// suite: each backend calls it with its raw access.
pub async fn a_token_revoked_on_its_own_row_stays_revoked(
    store: &dyn Store,
    mark_own: impl AsyncFn(&str, Timestamp),
    own: impl AsyncFn(&str) -> Option<Timestamp>,
) {
    let g = seed_grant(store, "g1").await;
    for t in ["r1", "r2"] {
        store.create_refresh(&refresh(&g, t, T0)).await.unwrap();
    }
    mark_own("r1", T0 + 3).await;
    let r1 = store
        .get_refresh(ENV_A, &hash("r1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r1.revoked_at, Some(T0 + 3));
    let found = store
        .get_refresh_with_grant(ENV_A, &hash("r1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (found.token.revoked_at, found.grant.revoked_at),
        (Some(T0 + 3), None)
    );
    let r3 = refresh(&g, "r3", T0 + 4);
    assert_eq!(
        rotate(store, "r1", &r3, "sealed r3", T0 + 4).await,
        Rotation::Revoked
    );
    assert!(
        store
            .revoke_grant(ENV_A, "g1", "revoked_by_client", T0 + 5)
            .await
            .unwrap()
    );
    assert_eq!(own("r2").await, None);
    for (t, at) in [("r1", T0 + 3), ("r2", T0 + 5)] {
        let token = store.get_refresh(ENV_A, &hash(t)).await.unwrap().unwrap();
        assert_eq!(token.revoked_at, Some(at), "{t}");
    }
}
