//! Record builders and helpers shared by the cases. Public so backend-specific tests can
//! build the same records.

use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use gatehouse_oauth::client::ClientMetadata;
use serde_json::json;

use crate::records::*;
use crate::{SecretHash, Store, StoreError, StoreResult};

/// The time every case starts at.
pub const T0: Timestamp = 1_700_000_000;
/// The environment most cases use.
pub const ENV_A: &str = "env-a";
/// Another environment, to check scoping.
pub const ENV_B: &str = "env-b";

/// The hash of a clear value; cases name secrets by their clear value.
pub fn hash(clear: &str) -> SecretHash {
    SecretHash::of(clear)
}

/// An environment with non-default settings, so the settings document round-trips.
pub fn environment(id: &str, created_at: Timestamp) -> EnvironmentRecord {
    let settings = EnvSettings {
        registration: RegistrationMode::Token,
        allowed_origins: vec!["https://app.example".into()],
        refresh_grace: 10,
        ..EnvSettings::default()
    };
    EnvironmentRecord {
        id: id.into(),
        issuer: format!("/{id}"),
        profile: Profile::Production,
        settings,
        created_at,
    }
}

/// A signing key published at `activates_at - 10`, never retired.
pub fn signing_key(env_id: &str, kid: &str, activates_at: Timestamp) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: kid.into(),
        env_id: env_id.into(),
        alg: "ES256".into(),
        sealed_private_key: format!("sealed {kid}").into_bytes(),
        public_jwk: format!(r#"{{"kty":"EC","kid":"{kid}"}}"#),
        created_at: activates_at - 10,
        activates_at,
        retired_at: None,
        removed_at: None,
    }
}

/// An MCP server with two scopes.
pub fn resource(env_id: &str, id: &str, uri: &str, created_at: Timestamp) -> ResourceRecord {
    ResourceRecord {
        id: id.into(),
        env_id: env_id.into(),
        name: format!("Server {id}"),
        uri: uri.into(),
        scopes: vec![
            ScopeDef {
                name: "read".into(),
                description: "Read your files".into(),
            },
            ScopeDef {
                name: "write".into(),
                description: "Change your files".into(),
            },
        ],
        access_token_ttl: 300,
        refresh_without_offline_access: true,
        created_at,
    }
}

/// Metadata of a confidential web client.
pub fn client_metadata(client_id: &str) -> ClientMetadata {
    serde_json::from_value(json!({
        "redirect_uris": [format!("https://{client_id}.example/cb")],
        "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "application_type": "web",
        "client_name": format!("Client {client_id}"),
        "scope": "read write",
        "id_token_signed_response_alg": "ES256",
    }))
    .expect("client metadata fixture")
}

/// An enabled, dynamically registered client never used.
pub fn client(env_id: &str, client_id: &str, created_at: Timestamp) -> ClientRecord {
    ClientRecord {
        env_id: env_id.into(),
        client_id: client_id.into(),
        kind: ClientKind::Dynamic,
        metadata: client_metadata(client_id),
        created_at,
        disabled: false,
        last_used_at: None,
        registrations: 1,
    }
}

/// A client secret whose clear value is `clear`.
pub fn client_secret(
    env_id: &str,
    client_id: &str,
    clear: &str,
    expires_at: Option<Timestamp>,
) -> ClientSecretRecord {
    ClientSecretRecord {
        env_id: env_id.into(),
        client_id: client_id.into(),
        hash: hash(clear),
        created_at: T0,
        expires_at,
    }
}

/// An enabled user.
pub fn user(env_id: &str, id: &str, email: &str) -> UserRecord {
    UserRecord {
        id: id.into(),
        env_id: env_id.into(),
        email: email.into(),
        name: Some(format!("User {id}")),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        disabled: false,
        created_at: T0,
    }
}

/// A login session of `user_id`.
pub fn session(env_id: &str, clear: &str, user_id: &str, expires_at: Timestamp) -> SessionRecord {
    SessionRecord {
        hash: hash(clear),
        env_id: env_id.into(),
        user_id: user_id.into(),
        auth_time: T0,
        expires_at,
    }
}

/// A pending authorization of the seeded client and resource, nobody logged in yet.
pub fn pending(env_id: &str, clear: &str, expires_at: Timestamp) -> PendingAuthorizationRecord {
    PendingAuthorizationRecord {
        hash: hash(clear),
        env_id: env_id.into(),
        client_id: client_id(env_id),
        redirect_uri: format!("https://{}.example/cb", client_id(env_id)),
        resource_id: resource_id(env_id),
        scope: "read".into(),
        state: Some("xyz".into()),
        nonce: None,
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        prompt: "consent".into(),
        max_age: Some(600),
        browser_hash: hash(&format!("browser {clear}")),
        correlation_id: format!("corr {clear}"),
        user_id: None,
        auth_time: None,
        created_at: T0,
        expires_at,
    }
}

/// A consent granted at `at`.
pub fn consent(
    env_id: &str,
    user_id: &str,
    client_id: &str,
    resource_id: &str,
    scope: &str,
    at: Timestamp,
) -> ConsentRecord {
    ConsentRecord {
        env_id: env_id.into(),
        user_id: user_id.into(),
        client_id: client_id.into(),
        resource_id: resource_id.into(),
        scope: scope.into(),
        granted_at: at,
        updated_at: at,
    }
}

/// An unrevoked grant of the seeded user, client and resource of `env_id`.
pub fn grant(env_id: &str, id: &str) -> GrantRecord {
    GrantRecord {
        id: id.into(),
        env_id: env_id.into(),
        client_id: client_id(env_id),
        user_id: user_id(env_id),
        resource_id: resource_id(env_id),
        scope: "read".into(),
        auth_time: T0,
        correlation_id: format!("corr {id}"),
        created_at: T0,
        revoked_at: None,
        revoked_reason: None,
    }
}

/// An unconsumed code of a grant.
pub fn code(g: &GrantRecord, clear: &str, expires_at: Timestamp) -> AuthCodeRecord {
    AuthCodeRecord {
        hash: hash(clear),
        env_id: g.env_id.clone(),
        grant_id: g.id.clone(),
        client_id: g.client_id.clone(),
        user_id: g.user_id.clone(),
        redirect_uri: format!("https://{}.example/cb", g.client_id),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        resource_id: g.resource_id.clone(),
        scope: g.scope.clone(),
        nonce: Some("n-0S6_WzA2Mj".into()),
        auth_time: T0,
        created_at: T0,
        expires_at,
        consumed_at: None,
    }
}

/// A live refresh token of a grant, created at `created_at`, valid for 1000 s.
pub fn refresh(g: &GrantRecord, clear: &str, created_at: Timestamp) -> RefreshTokenRecord {
    RefreshTokenRecord {
        hash: hash(clear),
        env_id: g.env_id.clone(),
        grant_id: g.id.clone(),
        client_id: g.client_id.clone(),
        scope: g.scope.clone(),
        created_at,
        expires_at: created_at + 1000,
        rotated_at: None,
        successor_hash: None,
        revoked_at: None,
    }
}

/// The successor part of `r`, for [`TokenStore::rotate_refresh`](crate::TokenStore::rotate_refresh).
pub fn successor(r: &RefreshTokenRecord) -> crate::Successor {
    crate::Successor {
        hash: r.hash.clone(),
        created_at: r.created_at,
        expires_at: r.expires_at,
    }
}

/// A refresh gate that lets every token through.
pub fn open_gate() -> crate::RefreshGate {
    Box::new(|_| true)
}

/// An audit event labelled `n` (in `data`).
pub fn event(
    env_id: &str,
    n: i64,
    correlation_id: &str,
    client_id: Option<&str>,
    outcome: &str,
    name: &str,
) -> AuditEvent {
    AuditEvent {
        id: 0,
        env_id: env_id.into(),
        at_ms: T0 * 1000 + n,
        correlation_id: correlation_id.into(),
        event: name.into(),
        outcome: outcome.into(),
        error: (outcome == "failure").then(|| "invalid_grant".into()),
        error_detail: (outcome == "failure").then(|| format!("detail {n}")),
        client_id: client_id.map(Into::into),
        resource: Some("https://mcp.example/".into()),
        user_id: None,
        ip: Some("127.0.0.1".into()),
        data: json!({ "n": n, "scopes": ["read"] }),
    }
}

/// An initial access token.
pub fn initial_access_token(
    env_id: &str,
    clear: &str,
    expires_at: Option<Timestamp>,
) -> InitialAccessTokenRecord {
    InitialAccessTokenRecord {
        hash: hash(clear),
        env_id: env_id.into(),
        description: format!("token {clear}"),
        created_at: T0,
        expires_at,
    }
}

/// An admin API key for every environment, never used, unrevoked.
pub fn admin_key(id: &str, clear: &str, created_at: Timestamp) -> AdminKeyRecord {
    AdminKeyRecord {
        id: id.into(),
        name: format!("Key {id}"),
        env_id: None,
        hash: hash(clear),
        created_at,
        last_used_at: None,
        revoked_at: None,
    }
}

/// An enabled administrator created at [`T0`].
pub fn admin_user(id: &str, email: &str) -> AdminUserRecord {
    AdminUserRecord {
        id: id.into(),
        email: email.into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$YWRtaW4$aGFzaA".into(),
        created_at: T0,
        disabled: false,
    }
}

/// A dashboard session of `admin_id`, created at [`T0`].
pub fn admin_session(clear: &str, admin_id: &str, expires_at: Timestamp) -> AdminSessionRecord {
    AdminSessionRecord {
        hash: hash(clear),
        admin_id: admin_id.into(),
        created_at: T0,
        expires_at,
    }
}

/// The seeded client of an environment.
pub fn client_id(env_id: &str) -> String {
    format!("{env_id}-client")
}

/// The seeded user of an environment.
pub fn user_id(env_id: &str) -> String {
    format!("{env_id}-user")
}

/// The seeded resource of an environment.
pub fn resource_id(env_id: &str) -> String {
    format!("{env_id}-resource")
}

/// Creates environments A and B, nothing else.
pub async fn environments(store: &dyn Store) {
    for (id, at) in [(ENV_A, T0), (ENV_B, T0 + 1)] {
        store
            .create_environment(&environment(id, at))
            .await
            .expect("create environment");
    }
}

/// Creates environments A and B, each with one client, one user and one resource
/// ([`client_id`], [`user_id`], [`resource_id`]).
pub async fn seed(store: &dyn Store) {
    environments(store).await;
    for env in [ENV_A, ENV_B] {
        store
            .create_client(&client(env, &client_id(env), T0), &[])
            .await
            .expect("seed client");
        store
            .create_user(&user(env, &user_id(env), "alice@example.com"))
            .await
            .expect("seed user");
        let uri = "https://mcp.example/";
        store
            .create_resource(&resource(env, &resource_id(env), uri, T0))
            .await
            .expect("seed resource");
    }
}

/// Seeds, then creates a grant in environment A.
pub async fn seed_grant(store: &dyn Store, id: &str) -> GrantRecord {
    seed(store).await;
    let g = grant(ENV_A, id);
    store.create_grant(&g).await.expect("create grant");
    g
}

/// Asserts that `result` is a [`StoreError::Conflict`].
pub fn assert_conflict<T: Debug>(result: StoreResult<T>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::Conflict(_))),
        "{what}: expected Conflict, got {result:?}"
    );
}

/// Runs `n` tasks that start together (behind a barrier) and returns their results in
/// task order. `task(i)` builds the future of task `i`.
pub async fn race<T, F, Fut>(n: usize, task: F) -> Vec<T>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let barrier = Arc::new(tokio::sync::Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|i| {
            let (barrier, fut) = (barrier.clone(), task(i));
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for handle in handles {
        out.push(handle.await.expect("a racing task panicked"));
    }
    out
}
