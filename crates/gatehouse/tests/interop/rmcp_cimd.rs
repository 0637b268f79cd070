//! rmcp identifying itself with a Client ID Metadata Document instead of registering: the
//! document is served over HTTPS on 127.0.0.1 by a test CA that the environment trusts
//! explicitly (never by default).

use std::sync::Arc;

use axum::Json;
use rmcp::ServiceExt;
use rmcp::model::ClientConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::auth::{AuthClient, AuthorizationRequest, OAuthState};
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};

use crate::browser;
use crate::harness::{TestApp, query_of};
use crate::mcp_server::{McpServer, SCOPE};
use crate::tls::Tls;

const REDIRECT: &str = "http://127.0.0.1:8093/callback";

#[tokio::test]
async fn rmcp_connects_with_a_client_id_metadata_document() {
    let app = TestApp::spawn().await;
    let mcp = McpServer::spawn(&app.base).await;
    app.add_resource("dev", &mcp.url, SCOPE).await;
    app.add_user("dev", browser::EMAIL).await;

    // The client's published document.
    let tls = Tls::new(app.dir.path());
    let doc: Arc<std::sync::Mutex<Value>> = Arc::default();
    let served = doc.clone();
    let server = tls
        .serve(axum::Router::new().route(
            "/oauth/rmcp-client.json",
            axum::routing::get(move || {
                let d = served.lock().unwrap().clone();
                async move { Json(d) }
            }),
        ))
        .await;
    let client_id = server.url("127.0.0.1", "/oauth/rmcp-client.json");
    *doc.lock().unwrap() = json!({
        "client_id": client_id,
        "client_name": "rmcp via metadata document",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    });
    let mut env = app.store.get_environment("dev").await.unwrap().unwrap();
    env.settings.cimd.fetch_allow_hosts = vec!["127.0.0.1".into()];
    env.settings.cimd.fetch_ca_file = Some(tls.ca_file.display().to_string());
    gatehouse_server::admin::update_environment(&*app.store, &env)
        .await
        .unwrap();
    app.reload().await;

    let transport = StreamableHttpClientTransport::with_client(
        reqwest::Client::default(),
        StreamableHttpClientTransportConfig::with_uri(mcp.url.clone()),
    );
    let challenge = ClientConfig::default()
        .serve(transport)
        .await
        .expect_err("the MCP server requires a token")
        .auth_challenge()
        .expect("a challenge")
        .to_owned();
    let mut state = OAuthState::new(mcp.url.as_str(), None)
        .await
        .expect("oauth state");
    state
        .start_authorization(
            AuthorizationRequest::new(REDIRECT)
                .with_client_metadata_url(client_id.clone())
                .with_challenge(challenge),
        )
        .await
        .expect("discovery, then CIMD instead of registration");
    let url = state.get_authorization_url().await.expect("url");
    assert_eq!(
        query_of(&url)["client_id"],
        client_id,
        "the document URL is the client_id"
    );
    let callback = browser::sign_in_and_allow(&app, &url, REDIRECT).await;
    state
        .handle_callback_url(&callback)
        .await
        .expect("code exchange");
    let manager = state.into_authorization_manager().expect("authorized");
    let auth = AuthClient::new(reqwest::Client::default(), manager);
    let client = ClientConfig::default()
        .serve(StreamableHttpClientTransport::with_client(
            auth,
            StreamableHttpClientTransportConfig::with_uri(mcp.url.clone()),
        ))
        .await
        .expect("session");
    let tools = client.list_all_tools().await.expect("tools/list");
    assert_eq!(tools.len(), 1);
    assert!(mcp.seen().iter().all(|s| s.token.split('.').count() == 3));
    client.cancel().await.expect("close");
    let events = app.events("dev").await;
    assert!(
        !events.iter().any(|e| e.event == "register"),
        "no dynamic registration happened"
    );
    assert!(events.iter().any(|e| e.event == "cimd"
        && e.outcome == "success"
        && e.client_id.as_deref() == Some(client_id.as_str())));
    assert!(events.iter().any(|e| e.event == "token"
        && e.outcome == "success"
        && e.client_id.as_deref() == Some(client_id.as_str())));
}
