//! An rmcp Streamable HTTP server behind the guard, called by the rmcp client with a real
//! Gatehouse token: the tool reads the verified token from the request parts rmcp passes.

use std::sync::Arc;

use gatehouse_guard::{Guard, VerifiedToken};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::model::{
    CallToolRequestParams, CallToolResult, ContentBlock, ServerCapabilities, ServerConfig,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, ServiceExt, tool, tool_handler, tool_router};

use crate::harness::TestApp;
use crate::support::{SCOPES, bind, config, user_tokens};

#[derive(Clone)]
struct Todos {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl Todos {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "Who is calling.")]
    async fn list_todos(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let token = parts
            .extensions
            .get::<VerifiedToken>()
            .ok_or_else(|| ErrorData::internal_error("no token", None))?;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "{} via {}",
            token.subject, token.client_id
        ))]))
    }

    #[tool(description = "Needs todo:write.")]
    async fn add_todo(&self) -> Result<CallToolResult, ErrorData> {
        Ok(CallToolResult::success(vec![ContentBlock::text("added")]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Todos {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::test]
async fn rmcp_tool_reads_the_verified_token_and_step_up_is_challenged() {
    let app = TestApp::spawn().await;
    let alice = app.add_user("dev", "alice@example.com").await;
    let (listener, url) = bind().await;
    app.add_resource("dev", &url, SCOPES).await;
    let guard = Guard::new(
        config(&app, &url)
            .scope_implies("todo:write", ["todo:read"])
            .tool_scopes("list_todos", ["todo:read"])
            .tool_scopes("add_todo", ["todo:write"])
            .build()
            .unwrap(),
    );
    let mcp = StreamableHttpService::new(
        || Ok(Todos::new()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default().with_sse_keep_alive(None),
    );
    let router = axum::Router::new()
        .nest_service("/mcp", mcp)
        .layer(guard.layer());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });

    let tokens = user_tokens(&app, &url, "todo:read").await;
    let at = tokens["access_token"].as_str().unwrap();
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url.as_str()).auth_header(at),
    );
    let client = ().serve(transport).await.expect("initialize through the guard");
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 2);
    let result = client
        .call_tool(CallToolRequestParams::new("list_todos"))
        .await
        .unwrap();
    let text = result.content[0].as_text().unwrap().text.clone();
    assert!(text.starts_with(&format!("{alice} via ")), "{text}");

    let err = client
        .call_tool(CallToolRequestParams::new("add_todo"))
        .await
        .expect_err("todo:write is missing");
    let challenge = err
        .auth_challenge()
        .expect("a WWW-Authenticate challenge")
        .to_owned();
    assert!(
        challenge.starts_with("Bearer error=\"insufficient_scope\", scope=\"todo:write\""),
        "{challenge}"
    );
    client.cancel().await.unwrap();
}
