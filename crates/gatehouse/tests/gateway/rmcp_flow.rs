//! The `rmcp` MCP client with its OAuth support, connecting from scratch to an MCP server
//! behind the gateway: 401 challenge → RFC 9728 metadata (served by the gateway) → RFC 8414
//! discovery → RFC 7591 registration → authorization through the real login and consent
//! pages → token → an authenticated MCP session.

use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;

use crate::browser;
use crate::harness::{TestApp, query_of};

const REDIRECT: &str = "http://127.0.0.1:8093/callback";

pub type Client = RunningService<RoleClient, ClientConfig>;

/// rmcp's whole OAuth flow against `url`; returns the authorized HTTP client.
pub async fn authorize(app: &TestApp, url: &str) -> AuthClient<reqwest::Client> {
    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::default(),
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()),
    );
    let refused = ClientConfig::default()
        .serve(transport)
        .await
        .expect_err("the gateway requires a token");
    let challenge = refused
        .auth_challenge()
        .expect("a WWW-Authenticate challenge")
        .to_owned();
    let mut state = OAuthState::new(url, None).await.expect("oauth state");
    state
        .start_authorization(
            AuthorizationRequest::new(REDIRECT)
                .with_client_name("rmcp through the gateway")
                .with_challenge(challenge),
        )
        .await
        .expect("discovery and registration");
    let authorize_url = state.get_authorization_url().await.expect("url");
    assert!(authorize_url.starts_with(&format!("{}/authorize?", app.base)));
    assert_eq!(
        query_of(&authorize_url)["resource"],
        url,
        "RFC 8707 resource from the PRM"
    );
    let callback = browser::sign_in_and_allow(app, &authorize_url, REDIRECT).await;
    state
        .handle_callback_url(&callback)
        .await
        .expect("state and iss check, code exchange");
    let manager = state.into_authorization_manager().expect("authorized");
    AuthClient::new(reqwest::Client::default(), manager)
}

pub async fn connect(url: &str, auth: &AuthClient<reqwest::Client>) -> Client {
    let transport = StreamableHttpClientTransport::with_client(
        auth.clone(),
        StreamableHttpClientTransportConfig::with_uri(url.to_owned()),
    );
    ClientConfig::default()
        .serve(transport)
        .await
        .expect("an authorized MCP session through the gateway")
}

/// The text of a tool's result.
pub async fn call_text(client: &Client, tool: &str, args: serde_json::Value) -> String {
    let mut params = CallToolRequestParams::new(tool.to_owned());
    if let serde_json::Value::Object(map) = args {
        params = params.with_arguments(map);
    }
    let result = client.call_tool(params).await.expect("tools/call");
    assert_eq!(result.is_error, Some(false), "{result:?}");
    result.content[0].as_text().expect("text").text.clone()
}

/// Tool names from tools/list.
pub async fn tool_names(client: &Client) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .expect("tools/list")
        .iter()
        .map(|t| t.name.to_string())
        .collect();
    names.sort();
    names
}

/// The `WWW-Authenticate` of a tools/call refused by the gateway.
pub async fn refused_challenge(client: &Client, tool: &str) -> String {
    let err = client
        .call_tool(
            CallToolRequestParams::new(tool.to_owned()).with_arguments(
                serde_json::json!({"text": "x"})
                    .as_object()
                    .cloned()
                    .unwrap_or_default(),
            ),
        )
        .await
        .expect_err("the gateway refuses this tool");
    err.auth_challenge()
        .unwrap_or_else(|| panic!("no challenge in {err:?}"))
        .to_owned()
}
