//! The `rmcp` MCP client with its OAuth support, against an MCP server that trusts
//! Gatehouse: 401 challenge → RFC 9728 resource metadata → RFC 8414 discovery → RFC 7591
//! registration → authorization code with PKCE and `resource` → RFC 9207 `iss` check → token
//! exchange → authenticated MCP session; then refresh (on demand, after a 401, and after the
//! token expired), and what rmcp does once its grant is revoked.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

// rmcp's token response is an `oauth2` 5 type; openidconnect re-exports its trait.
use openidconnect::OAuth2TokenResponse;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{
    AuthClient, AuthError, AuthorizationRequest, CredentialStore, OAuthState, StoredCredentials,
};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::Value;

use crate::browser;
use crate::harness::{TestApp, jwt_parts, query_of};
use crate::mcp_server::{McpServer, SCOPE};

const REDIRECT: &str = "http://127.0.0.1:8092/callback";

type Client = RunningService<RoleClient, ClientConfig>;

/// A Gatehouse with one user and the MCP server registered as its resource.
async fn setup() -> (TestApp, McpServer, String) {
    let app = TestApp::spawn().await;
    let mcp = McpServer::spawn(&app.base).await;
    app.add_resource("dev", &mcp.url, SCOPE).await;
    let user_id = app.add_user("dev", browser::EMAIL).await;
    (app, mcp, user_id)
}

/// rmcp's whole OAuth flow, from the unauthenticated connect to an authorized client.
async fn authorize(app: &TestApp, mcp: &McpServer) -> AuthClient<reqwest::Client> {
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::default(),
        StreamableHttpClientTransportConfig::with_uri(mcp.url.clone()),
    );
    let refused = ClientConfig::default()
        .serve(transport)
        .await
        .expect_err("the MCP server requires a token");
    let challenge = refused
        .auth_challenge()
        .expect("a WWW-Authenticate challenge")
        .to_owned();
    assert!(challenge.contains(&mcp.metadata_url), "{challenge}");

    let mut state = OAuthState::new(mcp.url.as_str(), None)
        .await
        .expect("oauth state");
    state
        .start_authorization(
            AuthorizationRequest::new(REDIRECT)
                .with_client_name("rmcp interop")
                .with_challenge(challenge),
        )
        .await
        .expect("discovery and registration");
    let authorize_url = state.get_authorization_url().await.expect("url");
    let params = query_of(&authorize_url);
    assert!(authorize_url.starts_with(&format!("{}/authorize?", app.base)));
    assert_eq!(
        params["resource"], mcp.url,
        "RFC 8707 resource from the PRM"
    );
    assert_eq!(params["code_challenge_method"], "S256");
    let scopes: Vec<&str> = params["scope"].split(' ').collect();
    assert!(scopes.contains(&SCOPE), "{scopes:?}");

    let callback = browser::sign_in_and_allow(app, &authorize_url, REDIRECT).await;
    state
        .handle_callback_url(&callback)
        .await
        .expect("state and iss check, code exchange");
    let manager = state.into_authorization_manager().expect("authorized");
    AuthClient::new(reqwest::Client::default(), manager)
}

async fn connect(mcp: &McpServer, auth: &AuthClient<reqwest::Client>) -> Client {
    let transport = StreamableHttpClientTransport::with_client(
        auth.clone(),
        StreamableHttpClientTransportConfig::with_uri(mcp.url.clone()),
    );
    ClientConfig::default()
        .serve(transport)
        .await
        .expect("an authorized MCP session")
}

/// Calls `whoami` and returns what the MCP server saw in the token.
async fn whoami(client: &Client) -> Value {
    let result = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .expect("tools/call");
    assert_eq!(result.is_error, Some(false));
    let text = result
        .content
        .first()
        .and_then(|c| c.as_text())
        .expect("text content");
    serde_json::from_str(&text.text).expect("json")
}

async fn access_token(auth: &AuthClient<reqwest::Client>) -> String {
    auth.get_access_token().await.expect("access token")
}

#[tokio::test]
async fn rmcp_oauth_client_connects_and_calls_a_tool() {
    let (app, mcp, user_id) = setup().await;
    let auth = authorize(&app, &mcp).await;
    let (client_id, credentials) = auth
        .auth_manager
        .lock()
        .await
        .get_credentials()
        .await
        .expect("credentials");
    let credentials = credentials.expect("a token response");
    assert!(
        client_id.starts_with("ghd_"),
        "registered dynamically: {client_id}"
    );
    assert!(
        credentials.refresh_token().is_some(),
        "offline_access is offered, so rmcp asks for it and gets a refresh token"
    );
    let token = credentials.access_token().secret().clone();
    let (header, claims) = jwt_parts(&token);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["aud"], mcp.url);

    let client = connect(&mcp, &auth).await;
    let tools = client.list_all_tools().await.expect("tools/list");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["whoami"]);
    let me = whoami(&client).await;
    assert_eq!(me["sub"], user_id);
    assert_eq!(me["client_id"], client_id);
    assert!(
        me["scope"]
            .as_str()
            .unwrap_or_default()
            .split(' ')
            .any(|s| s == SCOPE),
        "{me}"
    );
    let seen = mcp.seen();
    let methods: Vec<&str> = seen.iter().map(|s| s.method.as_str()).collect();
    assert_eq!(
        methods,
        [
            "initialize",
            "notifications/initialized",
            "tools/list",
            "tools/call"
        ]
    );
    assert!(seen.iter().all(|s| s.token == token));

    // A refresh through rmcp's manager (no `scope`, with `resource`) yields a new access
    // token for the same MCP server, which the session then uses.
    let refreshed = auth
        .auth_manager
        .lock()
        .await
        .refresh_token()
        .await
        .expect("refresh");
    let fresh = refreshed.access_token().secret().clone();
    assert_ne!(fresh, token);
    assert_ne!(
        refreshed.refresh_token().map(|r| r.secret().clone()),
        credentials.refresh_token().map(|r| r.secret().clone()),
        "public clients' refresh tokens rotate (OAuth 2.1 §4.3.1)"
    );
    assert_eq!(jwt_parts(&fresh).1["aud"], mcp.url);
    assert_eq!(whoami(&client).await["sub"], user_id);
    assert_eq!(mcp.seen().last().map(|s| s.token.clone()), Some(fresh));
    client.cancel().await.expect("close");
}

#[tokio::test]
async fn rmcp_refreshes_and_retries_when_the_mcp_server_rejects_its_token() {
    let (app, mcp, user_id) = setup().await;
    let auth = authorize(&app, &mcp).await;
    let client = connect(&mcp, &auth).await;
    let old = access_token(&auth).await;
    assert_eq!(whoami(&client).await["sub"], user_id);

    mcp.reject(&old);
    assert_eq!(whoami(&client).await["sub"], user_id);
    let new = access_token(&auth).await;
    assert_ne!(new, old, "rmcp refreshed after the 401");
    let last = mcp.seen().last().cloned().expect("a call");
    assert_eq!((last.method.as_str(), last.token), ("tools/call", new));
    client.cancel().await.expect("close");
}

/// rmcp's credentials as a client that persisted them finds them later: `age` moves their
/// `token_received_at` back, as after an idle hour or a restart. (rmcp decides to refresh
/// from its own record of when the token arrived.)
#[derive(Clone, Default)]
struct AgeableStore(Arc<tokio::sync::Mutex<Option<StoredCredentials>>>);

type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, AuthError>> + Send + 'a>>;

impl AgeableStore {
    async fn age(&self, secs: u64) {
        if let Some(c) = self.0.lock().await.as_mut() {
            c.token_received_at = c.token_received_at.map(|t| t.saturating_sub(secs));
        }
    }
}

// `CredentialStore` is an `async_trait`; this is its expansion, written out.
impl CredentialStore for AgeableStore {
    fn load<'a, 'b>(&'a self) -> StoreFuture<'b, Option<StoredCredentials>>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move { Ok(self.0.lock().await.clone()) })
    }

    fn save<'a, 'b>(&'a self, credentials: StoredCredentials) -> StoreFuture<'b, ()>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            *self.0.lock().await = Some(credentials);
            Ok(())
        })
    }

    fn clear<'a, 'b>(&'a self) -> StoreFuture<'b, ()>
    where
        'a: 'b,
        Self: 'b,
    {
        Box::pin(async move {
            *self.0.lock().await = None;
            Ok(())
        })
    }
}

/// Moves every clock `secs` ahead: Gatehouse's, the MCP server's, and rmcp's idea of how
/// old its token is.
async fn time_passes(app: &TestApp, mcp: &McpServer, store: &AgeableStore, secs: u64) {
    app.clock.advance(secs as i64);
    mcp.advance(secs as i64);
    store.age(secs).await;
}

#[tokio::test]
async fn rmcp_refreshes_after_its_token_expires_and_needs_a_new_login_after_a_revocation() {
    // A 60-second access token (the shortest Gatehouse allows).
    let app = TestApp::spawn().await;
    let mcp = McpServer::spawn(&app.base).await;
    app.add_resource_with("dev", &mcp.url, SCOPE, |r| r.access_token_ttl = Some(60))
        .await;
    let user_id = app.add_user("dev", browser::EMAIL).await;
    let auth = authorize(&app, &mcp).await;

    // rmcp's credentials move into a store whose clock the test controls.
    let store = AgeableStore::default();
    {
        let mut manager = auth.auth_manager.lock().await;
        let (client_id, token) = manager.get_credentials().await.expect("credentials");
        let token = token.expect("a token response");
        assert_eq!(token.expires_in().map(|d| d.as_secs()), Some(60));
        let scopes = token
            .scopes()
            .map(|s| s.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default();
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("time")
            .as_secs();
        store
            .save(
                StoredCredentials::new(client_id, Some(token), scopes, Some(now))
                    .with_issuer(Some(app.base.clone())),
            )
            .await
            .expect("save");
        manager.set_credential_store(store.clone());
    }
    let client = connect(&mcp, &auth).await;
    assert_eq!(whoami(&client).await["sub"], user_id);
    let first = mcp.seen().last().expect("a call").token.clone();

    // 61 seconds later the token has expired everywhere: the MCP server refuses it...
    time_passes(&app, &mcp, &store, 61).await;
    let refused = reqwest::Client::new()
        .post(&mcp.url)
        .bearer_auth(&first)
        .json(&serde_json::json!({"jsonrpc": "2.0", "id": 9, "method": "ping"}))
        .send()
        .await
        .expect("post");
    assert_eq!(refused.status(), reqwest::StatusCode::UNAUTHORIZED);

    // ...and rmcp refreshes before its next call, on the same session, without a login.
    assert_eq!(whoami(&client).await["sub"], user_id);
    let second = mcp.seen().last().expect("a call").token.clone();
    assert_ne!(second, first, "the call used a refreshed token");
    let (_, claims) = jwt_parts(&second);
    assert_eq!(claims["aud"], mcp.url);
    assert!(claims["exp"].as_i64().unwrap_or_default() > app.now());
    let events = app.events("dev").await;
    let count = |event: &str, outcome: &str| {
        events
            .iter()
            .filter(|e| e.event == event && e.outcome == outcome)
            .count()
    };
    assert_eq!(count("refresh", "success"), 1, "one refresh_token grant");
    assert_eq!(count("login", "success"), 1, "no second login");

    // rmcp has no revocation call: the user's other client revokes the grant (RFC 7009,
    // the refresh token with the public client's id), as "sign out everywhere" would.
    let (client_id, token) = auth
        .auth_manager
        .lock()
        .await
        .get_credentials()
        .await
        .expect("credentials");
    let refresh = token
        .and_then(|t| t.refresh_token().map(|r| r.secret().clone()))
        .expect("a rotated refresh token");
    let revoked = reqwest::Client::new()
        .post(format!("{}/revoke", app.base))
        .form(&[
            ("token", refresh.as_str()),
            ("token_type_hint", "refresh_token"),
            ("client_id", client_id.as_str()),
        ])
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), reqwest::StatusCode::OK);

    // When the current token expires, rmcp's refresh is refused and it asks for a new
    // authorization instead of using a dead grant.
    time_passes(&app, &mcp, &store, 61).await;
    let after = client.call_tool(CallToolRequestParams::new("whoami")).await;
    assert!(
        after.is_err(),
        "a revoked grant cannot be refreshed: {after:?}"
    );
    let err = auth
        .auth_manager
        .lock()
        .await
        .get_access_token()
        .await
        .expect_err("no token after the revocation");
    assert!(
        matches!(err, AuthError::AuthorizationRequired),
        "rmcp asks for a new authorization: {err:?}"
    );
    let events = app.events("dev").await;
    assert!(
        events
            .iter()
            .any(|e| e.event == "revoke" && e.outcome == "success")
    );
    assert!(
        events.iter().any(|e| e.event == "refresh"
            && e.outcome == "failure"
            && e.error.as_deref() == Some("invalid_grant")),
        "the refresh after the revocation was refused as invalid_grant"
    );
    client.cancel().await.expect("close");
}
