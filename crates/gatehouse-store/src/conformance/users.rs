//! [`UserStore`](crate::UserStore): end users.

use super::prelude::*;

/// A created user is found by id and by email, every field intact.
pub async fn create_user_then_get_by_id_and_email(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let u = user(ENV_A, "u1", "alice@example.com");
    store.create_user(&u).await.unwrap();
    let nameless = UserRecord {
        name: None,
        disabled: true,
        ..user(ENV_A, "u2", "bob@example.com")
    };
    store.create_user(&nameless).await.unwrap();
    assert_eq!(store.get_user(ENV_A, "u1").await.unwrap(), Some(u.clone()));
    assert_eq!(
        store
            .get_user_by_email(ENV_A, "alice@example.com")
            .await
            .unwrap(),
        Some(u)
    );
    assert_eq!(store.get_user(ENV_A, "u2").await.unwrap(), Some(nameless));
    assert_eq!(store.get_user(ENV_A, "unknown").await.unwrap(), None);
    assert_eq!(
        store
            .get_user_by_email(ENV_A, "carol@example.com")
            .await
            .unwrap(),
        None
    );
}

/// Two users of one environment cannot share an email.
pub async fn create_user_with_taken_email_in_same_environment_conflicts(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_user(&user(ENV_A, "u1", "alice@example.com"))
        .await
        .unwrap();
    assert_conflict(
        store
            .create_user(&user(ENV_A, "u2", "alice@example.com"))
            .await,
        "same email",
    );
    assert_eq!(store.get_user(ENV_A, "u2").await.unwrap(), None);
}

/// The same email may be used in two environments.
pub async fn create_user_with_same_email_in_another_environment_succeeds(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_user(&user(ENV_A, "u1", "alice@example.com"))
        .await
        .unwrap();
    let ub = user(ENV_B, "u2", "alice@example.com");
    store.create_user(&ub).await.unwrap();
    assert_eq!(
        store
            .get_user_by_email(ENV_B, "alice@example.com")
            .await
            .unwrap(),
        Some(ub)
    );
    assert_eq!(
        store
            .get_user_by_email(ENV_A, "alice@example.com")
            .await
            .unwrap()
            .unwrap()
            .id,
        "u1"
    );
}

/// A second user with a taken id is a `Conflict`.
pub async fn create_user_with_taken_id_conflicts(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    store
        .create_user(&user(ENV_A, "u1", "alice@example.com"))
        .await
        .unwrap();
    assert_conflict(
        store
            .create_user(&user(ENV_A, "u1", "bob@example.com"))
            .await,
        "same id",
    );
}

/// Users of the environment, ordered by email.
pub async fn list_users_orders_by_email(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    for (id, email) in [
        ("u1", "carol@example.com"),
        ("u2", "alice@example.com"),
        ("u3", "bob@example.com"),
    ] {
        store.create_user(&user(ENV_A, id, email)).await.unwrap();
    }
    store
        .create_user(&user(ENV_B, "u4", "aaron@example.com"))
        .await
        .unwrap();
    let emails: Vec<_> = store
        .list_users(ENV_A)
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

/// Update replaces name, password hash and disabled flag (not the email nor the creation
/// time) and reports existence.
pub async fn update_user_replaces_name_password_and_disabled_only(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let u = user(ENV_A, "u1", "alice@example.com");
    store.create_user(&u).await.unwrap();
    let changed = UserRecord {
        email: "mallory@example.com".into(),
        name: None,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$bmV3$bmV3".into(),
        disabled: true,
        created_at: T0 + 40,
        ..u.clone()
    };
    assert!(store.update_user(&changed).await.unwrap());
    let expected = UserRecord {
        email: u.email.clone(),
        created_at: u.created_at,
        ..changed.clone()
    };
    assert_eq!(store.get_user(ENV_A, "u1").await.unwrap(), Some(expected));
    let unknown = UserRecord {
        id: "unknown".into(),
        ..changed
    };
    assert!(!store.update_user(&unknown).await.unwrap());
}

/// Lookups and updates with the wrong environment find nothing.
pub async fn user_lookups_with_another_environment_find_nothing(store: Arc<dyn Store>) {
    environments(store.as_ref()).await;
    let u = user(ENV_A, "u1", "alice@example.com");
    store.create_user(&u).await.unwrap();
    assert_eq!(store.get_user(ENV_B, "u1").await.unwrap(), None);
    assert_eq!(
        store
            .get_user_by_email(ENV_B, "alice@example.com")
            .await
            .unwrap(),
        None
    );
    assert_eq!(store.list_users(ENV_B).await.unwrap(), vec![]);
    let elsewhere = UserRecord {
        env_id: ENV_B.into(),
        disabled: true,
        ..u.clone()
    };
    assert!(!store.update_user(&elsewhere).await.unwrap());
    assert_eq!(store.get_user(ENV_A, "u1").await.unwrap(), Some(u));
}
