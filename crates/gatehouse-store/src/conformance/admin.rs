//! [`AdminStore`](crate::AdminStore): admin API keys, administrators and their dashboard
//! sessions (server-wide).

use super::prelude::*;

/// The ids of keys, in the order returned.
fn key_ids(keys: &[AdminKeyRecord]) -> Vec<&str> {
    keys.iter().map(|k| k.id.as_str()).collect()
}

/// Creates the administrators `adm-1` and `adm-2`.
async fn two_admins(store: &dyn Store) {
    for (id, email) in [("adm-1", "root@example.com"), ("adm-2", "ops@example.com")] {
        store
            .create_admin_user(&admin_user(id, email))
            .await
            .unwrap();
    }
}

/// A created key is found by hash and listed, every field intact (an environment-limited
/// key and a used one included); an unknown hash finds nothing.
pub async fn create_admin_key_then_find_and_list_it(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let global = admin_key("adk-1", "key 1", T0);
    let limited = AdminKeyRecord {
        env_id: Some(ENV_A.into()),
        last_used_at: Some(T0 + 5),
        ..admin_key("adk-2", "key 2", T0 + 1)
    };
    store.create_admin_key(&global).await.unwrap();
    store.create_admin_key(&limited).await.unwrap();
    let find = async |clear: &str| store.find_admin_key(&hash(clear)).await.unwrap();
    assert_eq!(find("key 1").await, Some(global.clone()));
    assert_eq!(find("key 2").await, Some(limited.clone()));
    assert_eq!(find("unknown").await, None);
    assert_eq!(
        store.list_admin_keys().await.unwrap(),
        vec![global, limited]
    );
}

/// A second key with a taken id, or with the hash of another key, is a `Conflict` and
/// stores nothing.
pub async fn create_admin_key_with_taken_id_or_hash_conflicts(store: Arc<dyn Store>) {
    let first = admin_key("adk-1", "key 1", T0);
    store.create_admin_key(&first).await.unwrap();
    assert_conflict(
        store
            .create_admin_key(&admin_key("adk-1", "key 2", T0 + 1))
            .await,
        "same id",
    );
    assert_conflict(
        store
            .create_admin_key(&admin_key("adk-2", "key 1", T0 + 1))
            .await,
        "same hash",
    );
    assert_eq!(store.list_admin_keys().await.unwrap(), vec![first]);
    assert_eq!(store.find_admin_key(&hash("key 2")).await.unwrap(), None);
}

/// A revoked key is no longer found by hash, but is still listed, with its revocation time.
pub async fn find_admin_key_ignores_revoked_keys(store: Arc<dyn Store>) {
    let k = admin_key("adk-1", "key 1", T0);
    store.create_admin_key(&k).await.unwrap();
    store
        .create_admin_key(&admin_key("adk-2", "key 2", T0))
        .await
        .unwrap();
    assert!(store.revoke_admin_key("adk-1", T0 + 10).await.unwrap());
    assert_eq!(store.find_admin_key(&hash("key 1")).await.unwrap(), None);
    assert!(
        store
            .find_admin_key(&hash("key 2"))
            .await
            .unwrap()
            .is_some(),
        "other keys stay valid"
    );
    let revoked = AdminKeyRecord {
        revoked_at: Some(T0 + 10),
        ..k
    };
    assert_eq!(store.list_admin_keys().await.unwrap()[0], revoked);
}

/// Every key is listed, revoked ones included, oldest first whatever the creation order.
pub async fn list_admin_keys_returns_every_key_oldest_first(store: Arc<dyn Store>) {
    for (id, at) in [("adk-b", T0 + 20), ("adk-c", T0), ("adk-a", T0 + 10)] {
        store
            .create_admin_key(&admin_key(id, &format!("key {id}"), at))
            .await
            .unwrap();
    }
    assert!(store.revoke_admin_key("adk-c", T0 + 30).await.unwrap());
    let keys = store.list_admin_keys().await.unwrap();
    assert_eq!(key_ids(&keys), ["adk-c", "adk-a", "adk-b"]);
}

/// Revoking twice keeps the first revocation time (and still reports that the key
/// exists); revoking an unknown key is false.
pub async fn revoke_admin_key_twice_keeps_first_time(store: Arc<dyn Store>) {
    store
        .create_admin_key(&admin_key("adk-1", "key 1", T0))
        .await
        .unwrap();
    assert!(store.revoke_admin_key("adk-1", T0 + 10).await.unwrap());
    assert!(store.revoke_admin_key("adk-1", T0 + 20).await.unwrap());
    let keys = store.list_admin_keys().await.unwrap();
    assert_eq!(keys[0].revoked_at, Some(T0 + 10));
    assert!(!store.revoke_admin_key("unknown", T0).await.unwrap());
}

/// Touching records the time of the last use and reports existence; nothing else changes.
pub async fn touch_admin_key_records_last_use(store: Arc<dyn Store>) {
    let k = admin_key("adk-1", "key 1", T0);
    store.create_admin_key(&k).await.unwrap();
    assert!(store.touch_admin_key("adk-1", T0 + 5).await.unwrap());
    assert!(store.touch_admin_key("adk-1", T0 + 9).await.unwrap());
    let touched = AdminKeyRecord {
        last_used_at: Some(T0 + 9),
        ..k
    };
    assert_eq!(
        store.find_admin_key(&hash("key 1")).await.unwrap(),
        Some(touched)
    );
    assert!(!store.touch_admin_key("unknown", T0).await.unwrap());
}

/// A created administrator is found by id and by email, every field intact.
pub async fn create_admin_user_then_get_by_id_and_email(store: Arc<dyn Store>) {
    let root = admin_user("adm-1", "root@example.com");
    let off = AdminUserRecord {
        disabled: true,
        created_at: T0 + 7,
        ..admin_user("adm-2", "off@example.com")
    };
    store.create_admin_user(&root).await.unwrap();
    store.create_admin_user(&off).await.unwrap();
    assert_eq!(
        store.get_admin_user("adm-1").await.unwrap(),
        Some(root.clone())
    );
    assert_eq!(
        store
            .get_admin_user_by_email("root@example.com")
            .await
            .unwrap(),
        Some(root)
    );
    assert_eq!(store.get_admin_user("adm-2").await.unwrap(), Some(off));
    assert_eq!(store.get_admin_user("unknown").await.unwrap(), None);
    assert_eq!(
        store
            .get_admin_user_by_email("nobody@example.com")
            .await
            .unwrap(),
        None
    );
}

/// A second administrator with a taken id, or a taken email, is a `Conflict` and stores
/// nothing.
pub async fn create_admin_user_with_taken_id_or_email_conflicts(store: Arc<dyn Store>) {
    let root = admin_user("adm-1", "root@example.com");
    store.create_admin_user(&root).await.unwrap();
    assert_conflict(
        store
            .create_admin_user(&admin_user("adm-1", "ops@example.com"))
            .await,
        "same id",
    );
    assert_conflict(
        store
            .create_admin_user(&admin_user("adm-2", "root@example.com"))
            .await,
        "same email",
    );
    assert_eq!(store.get_admin_user("adm-2").await.unwrap(), None);
    assert_eq!(
        store
            .get_admin_user_by_email("ops@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.list_admin_users().await.unwrap(), vec![root]);
}

/// Every administrator, ordered by email whatever the creation order.
pub async fn list_admin_users_orders_by_email(store: Arc<dyn Store>) {
    for (id, email) in [
        ("adm-1", "carol@example.com"),
        ("adm-2", "alice@example.com"),
        ("adm-3", "bob@example.com"),
    ] {
        store
            .create_admin_user(&admin_user(id, email))
            .await
            .unwrap();
    }
    let emails: Vec<_> = store
        .list_admin_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.email)
        .collect();
    assert_eq!(
        emails,
        ["alice@example.com", "bob@example.com", "carol@example.com"]
    );
}

/// Update replaces the password hash and the disabled flag (not the email nor the creation
/// time) and reports existence.
pub async fn update_admin_user_replaces_password_and_disabled_only(store: Arc<dyn Store>) {
    two_admins(store.as_ref()).await;
    let before = store.get_admin_user("adm-1").await.unwrap().unwrap();
    let changed = AdminUserRecord {
        email: "mallory@example.com".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".into(),
        created_at: T0 + 40,
        disabled: true,
        ..before.clone()
    };
    assert!(store.update_admin_user(&changed).await.unwrap());
    let expected = AdminUserRecord {
        email: before.email.clone(),
        created_at: before.created_at,
        ..changed.clone()
    };
    assert_eq!(store.get_admin_user("adm-1").await.unwrap(), Some(expected));
    assert_eq!(
        store.get_admin_user("adm-2").await.unwrap(),
        Some(admin_user("adm-2", "ops@example.com")),
        "others untouched"
    );
    let unknown = AdminUserRecord {
        id: "unknown".into(),
        ..changed
    };
    assert!(!store.update_admin_user(&unknown).await.unwrap());
}

/// A dashboard session is found before `expires_at`, not at or after it.
pub async fn admin_session_is_found_until_it_expires(store: Arc<dyn Store>) {
    two_admins(store.as_ref()).await;
    let s = admin_session("sid", "adm-1", T0 + 100);
    store.create_admin_session(&s).await.unwrap();
    let get = async |clear: &str, now: Timestamp| {
        store.get_admin_session(&hash(clear), now).await.unwrap()
    };
    assert_eq!(get("sid", T0 + 99).await, Some(s));
    assert_eq!(get("sid", T0 + 100).await, None);
    assert_eq!(get("sid", T0 + 101).await, None);
    assert_eq!(get("unknown", T0).await, None);
}

/// A second session with a taken hash is a `Conflict` and changes nothing.
pub async fn create_admin_session_with_taken_hash_conflicts(store: Arc<dyn Store>) {
    two_admins(store.as_ref()).await;
    let s = admin_session("sid", "adm-1", T0 + 100);
    store.create_admin_session(&s).await.unwrap();
    assert_conflict(
        store
            .create_admin_session(&admin_session("sid", "adm-2", T0 + 500))
            .await,
        "same hash",
    );
    assert_eq!(
        store.get_admin_session(&hash("sid"), T0).await.unwrap(),
        Some(s)
    );
}

/// Deleting a session reports whether it existed and leaves the others.
pub async fn delete_admin_session_removes_it_once(store: Arc<dyn Store>) {
    two_admins(store.as_ref()).await;
    for clear in ["sid 1", "sid 2"] {
        store
            .create_admin_session(&admin_session(clear, "adm-1", T0 + 100))
            .await
            .unwrap();
    }
    assert!(store.delete_admin_session(&hash("sid 1")).await.unwrap());
    assert!(
        !store.delete_admin_session(&hash("sid 1")).await.unwrap(),
        "already deleted"
    );
    assert_eq!(
        store.get_admin_session(&hash("sid 1"), T0).await.unwrap(),
        None
    );
    assert!(
        store
            .get_admin_session(&hash("sid 2"), T0)
            .await
            .unwrap()
            .is_some(),
        "other session kept"
    );
}

/// Deleting the sessions of an administrator deletes every one of them (expired ones
/// included, and counted), and none of another administrator.
pub async fn delete_admin_sessions_of_removes_only_that_admins_sessions(store: Arc<dyn Store>) {
    two_admins(store.as_ref()).await;
    let sessions = [
        ("a live", "adm-1", T0 + 100),
        ("a other", "adm-1", T0 + 200),
        ("a expired", "adm-1", T0 - 1),
        ("b live", "adm-2", T0 + 100),
    ];
    for (clear, admin, expires_at) in sessions {
        store
            .create_admin_session(&admin_session(clear, admin, expires_at))
            .await
            .unwrap();
    }
    assert_eq!(store.delete_admin_sessions_of("adm-1").await.unwrap(), 3);
    assert_eq!(store.delete_admin_sessions_of("adm-1").await.unwrap(), 0);
    assert_eq!(store.delete_admin_sessions_of("unknown").await.unwrap(), 0);
    for clear in ["a live", "a other"] {
        let found = store.get_admin_session(&hash(clear), T0).await.unwrap();
        assert_eq!(found, None, "{clear} deleted");
    }
    assert!(
        store
            .get_admin_session(&hash("b live"), T0)
            .await
            .unwrap()
            .is_some(),
        "another administrator's session kept"
    );
}
