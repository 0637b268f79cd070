//! Revoked access-token ids, server-wide values, garbage collection and the health check.

use super::prelude::*;

/// A revoked jti is revoked in its environment only; revoking twice is harmless.
pub async fn revoke_jti_is_seen_only_in_its_environment(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    assert!(!store.is_jti_revoked(ENV_A, "jti-1").await.unwrap());
    store.revoke_jti(ENV_A, "jti-1", T0 + 300).await.unwrap();
    store.revoke_jti(ENV_A, "jti-1", T0 + 300).await.unwrap();
    assert!(store.is_jti_revoked(ENV_A, "jti-1").await.unwrap());
    assert!(!store.is_jti_revoked(ENV_B, "jti-1").await.unwrap());
    assert!(!store.is_jti_revoked(ENV_A, "jti-2").await.unwrap());
}

/// Meta values are absent until set, and setting again overwrites.
pub async fn set_meta_overwrites_previous_value(store: Arc<dyn Store>) {
    assert_eq!(store.get_meta("public_url").await.unwrap(), None);
    store
        .set_meta("public_url", "https://a.example")
        .await
        .unwrap();
    store.set_meta("other", "x").await.unwrap();
    store
        .set_meta("public_url", "https://b.example")
        .await
        .unwrap();
    assert_eq!(
        store.get_meta("public_url").await.unwrap().as_deref(),
        Some("https://b.example")
    );
    assert_eq!(store.get_meta("other").await.unwrap().as_deref(), Some("x"));
}

/// Each kind of record gc collects, one expiring exactly at `now` and one just after.
async fn expiring_records(store: &dyn Store, g: &GrantRecord, now: Timestamp) {
    let uid = user_id(ENV_A);
    store
        .create_admin_user(&admin_user("adm-1", "root@example.com"))
        .await
        .unwrap();
    for (label, at) in [("old", now), ("live", now + 1)] {
        store
            .create_code(&code(g, &format!("code {label}"), at))
            .await
            .unwrap();
        store
            .create_pending(&pending(ENV_A, &format!("pending {label}"), at))
            .await
            .unwrap();
        store
            .create_session(&session(ENV_A, &format!("session {label}"), &uid, at))
            .await
            .unwrap();
        let t = RefreshTokenRecord {
            expires_at: at,
            ..refresh(g, &format!("refresh {label}"), T0)
        };
        store.create_refresh(&t).await.unwrap();
        store
            .revoke_jti(ENV_A, &format!("jti {label}"), at)
            .await
            .unwrap();
        assert!(
            store
                .claim_assertion_jti(ENV_A, &format!("assertion {label}"), at, T0)
                .await
                .unwrap()
        );
        let k = SigningKeyRecord {
            removed_at: Some(at),
            ..signing_key(ENV_A, &format!("key {label}"), T0)
        };
        store.insert_key(&k).await.unwrap();
        store
            .create_admin_session(&admin_session(&format!("admin {label}"), "adm-1", at))
            .await
            .unwrap();
    }
    store
        .insert_key(&signing_key(ENV_A, "key forever", T0))
        .await
        .unwrap();
}

/// gc deletes codes, pending authorizations, sessions, admin sessions, refresh tokens,
/// revoked and assertion jtis expired at `now`, and keys removed at `now`; it reports the
/// counts and leaves the rest.
pub async fn gc_deletes_exactly_what_has_expired(store: Arc<dyn Store>) {
    let g = seed_grant(store.as_ref(), "g1").await;
    let now = T0 + 100;
    expiring_records(store.as_ref(), &g, now).await;
    let report = store.gc(now).await.unwrap();
    let one = GcReport {
        codes: 1,
        pending: 1,
        sessions: 1,
        refresh_tokens: 1,
        revoked_jtis: 1,
        keys: 1,
        assertion_jtis: 1,
        admin_sessions: 1,
    };
    assert_eq!(report, one);
    // Deleted: looked up at T0, before they expired, they are gone.
    let s = store.as_ref();
    assert_eq!(
        s.consume_code(ENV_A, &hash("code old"), T0).await.unwrap(),
        Consumed::Missing
    );
    assert_eq!(
        s.get_pending(ENV_A, &hash("pending old"), T0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.get_session(ENV_A, &hash("session old"), T0)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.get_refresh(ENV_A, &hash("refresh old")).await.unwrap(),
        None
    );
    assert!(!s.is_jti_revoked(ENV_A, "jti old").await.unwrap());
    assert_eq!(
        s.get_admin_session(&hash("admin old"), T0).await.unwrap(),
        None
    );
    // Kept.
    assert!(matches!(
        s.consume_code(ENV_A, &hash("code live"), now)
            .await
            .unwrap(),
        Consumed::First(_)
    ));
    assert!(
        s.get_pending(ENV_A, &hash("pending live"), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.get_session(ENV_A, &hash("session live"), now)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.get_refresh(ENV_A, &hash("refresh live"))
            .await
            .unwrap()
            .is_some()
    );
    assert!(s.is_jti_revoked(ENV_A, "jti live").await.unwrap());
    assert!(
        s.get_admin_session(&hash("admin live"), now)
            .await
            .unwrap()
            .is_some()
    );
    let kids: Vec<_> = s
        .list_keys(ENV_A, T0)
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.kid)
        .collect();
    assert_eq!(kids, ["key forever", "key live"]);
    assert_eq!(
        store.gc(now).await.unwrap(),
        GcReport::default(),
        "nothing left to collect"
    );
}

/// gc wipes the sealed successor of tokens rotated more than 60 s before `now` (so a late
/// parallel refresh becomes reuse even with a long grace) and keeps younger ones.
pub async fn gc_wipes_sealed_successors_rotated_more_than_60_seconds_ago(store: Arc<dyn Store>) {
    seed(store.as_ref()).await;
    let now = T0 + 100;
    // (grant, rotated at): 61 s before now, exactly 60 s before, 11 s before.
    let cases = [("old", now - 61), ("edge", now - 60), ("young", now - 11)];
    for (id, at) in cases {
        let g = grant(ENV_A, id);
        store.create_grant(&g).await.unwrap();
        store
            .create_refresh(&refresh(&g, &format!("{id} 1"), T0))
            .await
            .unwrap();
        let next = refresh(&g, &format!("{id} 2"), at);
        let sealed = format!("sealed {id}");
        let r = store
            .rotate_refresh(
                ENV_A,
                &hash(&format!("{id} 1")),
                &successor(&next),
                sealed.as_bytes(),
                60,
                at,
                open_gate(),
            )
            .await;
        assert_eq!(r.unwrap().outcome, Rotation::Rotated);
    }
    store.gc(now).await.unwrap();
    let g = grant(ENV_A, "old");
    let present = async |id: &str| {
        let x = refresh(&g, &format!("{id} late"), now + 1);
        store
            .rotate_refresh(
                ENV_A,
                &hash(&format!("{id} 1")),
                &successor(&x),
                b"x",
                1000,
                now + 1,
                open_gate(),
            )
            .await
            .unwrap()
            .outcome
    };
    assert_eq!(
        present("old").await,
        Rotation::Reused {
            grant_id: "old".into()
        },
        "wiped"
    );
    for id in ["edge", "young"] {
        let kept = Rotation::Grace {
            sealed_successor: format!("sealed {id}").into_bytes(),
        };
        assert_eq!(present(id).await, kept, "{id} kept");
    }
}

/// A reachable store answers ping.
pub async fn ping_succeeds(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}

/// A client-assertion jti is accepted once until it expires; afterwards it may be used again
/// (RFC 7523 §3 requires uniqueness only while the assertion is valid).
pub async fn claim_assertion_jti_first_use_wins_until_expiry(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    assert!(
        store
            .claim_assertion_jti(ENV_A, "j1", T0 + 60, T0)
            .await
            .unwrap()
    );
    assert!(
        !store
            .claim_assertion_jti(ENV_A, "j1", T0 + 60, T0 + 1)
            .await
            .unwrap(),
        "replay"
    );
    assert!(
        store
            .claim_assertion_jti(ENV_B, "j1", T0 + 60, T0)
            .await
            .unwrap(),
        "scoped by environment"
    );
    assert!(
        store
            .claim_assertion_jti(ENV_A, "j1", T0 + 200, T0 + 60)
            .await
            .unwrap(),
        "expired entries can be reused"
    );
}

/// Of 16 concurrent first uses of one assertion jti exactly one wins.
pub async fn claim_assertion_jti_exactly_one_winner_under_concurrency(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let wins = race(16, |_| {
        let store = store.clone();
        async move {
            store
                .claim_assertion_jti(ENV_A, "racy", T0 + 60, T0)
                .await
                .unwrap()
        }
    })
    .await;
    assert_eq!(wins.into_iter().filter(|w| *w).count(), 1);
}
