//! The `rmcp` MCP client with its OAuth support, against an MCP server that trusts
//! Gatehouse: 401 challenge → RFC 9728 resource metadata → RFC 8414 discovery → RFC 7591
//! registration → authorization code with PKCE and `resource` → RFC 9207 `iss` check → token
//! exchange → authenticated MCP session; then refresh.

// rmcp's token response is an `oauth2` 5 type; openidconnect re-exports its trait.
use openidconnect::OAuth2TokenResponse;
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};
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
