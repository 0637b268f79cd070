//! [`KeyStore`](crate::KeyStore): signing keys.

use super::prelude::*;

/// Kids are unique across environments.
pub async fn insert_key_with_taken_kid_conflicts_even_in_another_environment(
    store: Arc<dyn Store>,
) {
    environments(store.as_ref()).await;
    let k = signing_key(ENV_A, "k1", T0);
    store.insert_key(&k).await.unwrap();
    assert_conflict(
        store.insert_key(&signing_key(ENV_A, "k1", T0 + 5)).await,
        "same kid, same env",
    );
    assert_conflict(
        store.insert_key(&signing_key(ENV_B, "k1", T0 + 5)).await,
        "same kid, other env",
    );
    assert_eq!(store.list_keys(ENV_A, T0).await.unwrap(), vec![k]);
    assert_eq!(store.list_keys(ENV_B, T0).await.unwrap(), vec![]);
}

/// Keys of the environment only, ordered by `activates_at` then `kid`, every field intact.
pub async fn list_keys_orders_by_activation_then_kid_within_environment(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let k2 = signing_key(ENV_A, "k2", T0 + 10);
    let k1 = signing_key(ENV_A, "k1", T0 + 10);
    let k0 = SigningKeyRecord {
        alg: "RS256".into(),
        ..signing_key(ENV_A, "k0", T0 + 20)
    };
    let kb = signing_key(ENV_B, "kb", T0);
    for k in [&k2, &k0, &kb, &k1] {
        store.insert_key(k).await.unwrap();
    }
    assert_eq!(store.list_keys(ENV_A, T0).await.unwrap(), vec![k1, k2, k0]);
    assert_eq!(store.list_keys(ENV_B, T0).await.unwrap(), vec![kb]);
    assert_eq!(store.list_keys("unknown", T0).await.unwrap(), vec![]);
}

/// A key is listed while `removed_at` is unset or after `now`; at `removed_at` it is gone.
pub async fn list_keys_excludes_keys_removed_at_or_before_now(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let keep = signing_key(ENV_A, "keep", T0);
    let leaving = SigningKeyRecord {
        retired_at: Some(T0 + 50),
        removed_at: Some(T0 + 100),
        ..signing_key(ENV_A, "leaving", T0 + 1)
    };
    store.insert_key(&keep).await.unwrap();
    store.insert_key(&leaving).await.unwrap();
    let kids = |keys: Vec<SigningKeyRecord>| keys.into_iter().map(|k| k.kid).collect::<Vec<_>>();
    assert_eq!(
        kids(store.list_keys(ENV_A, T0 + 99).await.unwrap()),
        ["keep", "leaving"]
    );
    assert_eq!(
        kids(store.list_keys(ENV_A, T0 + 100).await.unwrap()),
        ["keep"]
    );
    assert_eq!(
        kids(store.list_keys(ENV_A, T0 + 10_000).await.unwrap()),
        ["keep"]
    );
}

/// Retiring sets both times and reports existence; another environment's key is untouched.
pub async fn retire_key_sets_retired_and_removed_times(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let k = signing_key(ENV_A, "k1", T0);
    store.insert_key(&k).await.unwrap();
    assert!(
        !store.retire_key(ENV_B, "k1", T0 + 1, T0 + 2).await.unwrap(),
        "other environment"
    );
    assert!(
        !store
            .retire_key(ENV_A, "unknown", T0 + 1, T0 + 2)
            .await
            .unwrap(),
        "unknown kid"
    );
    assert_eq!(store.list_keys(ENV_A, T0).await.unwrap(), vec![k.clone()]);
    assert!(
        store
            .retire_key(ENV_A, "k1", T0 + 10, T0 + 500)
            .await
            .unwrap()
    );
    let retired = SigningKeyRecord {
        retired_at: Some(T0 + 10),
        removed_at: Some(T0 + 500),
        ..k
    };
    assert_eq!(
        store.list_keys(ENV_A, T0 + 20).await.unwrap(),
        vec![retired]
    );
}
