//! An rmcp Streamable HTTP MCP server behind the Gatehouse guard.
//!
//! ```text
//! gatehouse serve &                                   # the authorization server, e.g. on :8080
//! gatehouse resources add dev --url http://127.0.0.1:3000/mcp --scopes "todo:read todo:write"
//! GATEHOUSE_ISSUER=http://127.0.0.1:8080 cargo run -p gatehouse-guard --example protected_rmcp_server
//! ```
//!
//! Then point an MCP client (MCP Inspector, `npx mcp-remote`, Claude Code) at
//! `http://127.0.0.1:3000/mcp`: it gets a 401 naming the metadata, finds Gatehouse, signs the
//! user in and comes back with a token. `list_todos` needs `todo:read`, `add_todo` needs
//! `todo:write` (which implies `todo:read`). Each user sees only their own todos: the tools
//! read the verified token from the HTTP request parts rmcp hands them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use gatehouse_guard::{Guard, GuardConfig, VerifiedToken};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};

/// The todo lists, per user (`sub`), shared by every MCP session.
#[derive(Clone)]
struct Todos {
    lists: Arc<Mutex<HashMap<String, Vec<String>>>>,
    tool_router: ToolRouter<Self>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct AddTodo {
    /// What to do.
    text: String,
}

/// The verified token the guard put into the request extensions; rmcp passes the HTTP
/// request parts to every handler.
fn token(parts: &http::request::Parts) -> Result<&VerifiedToken, ErrorData> {
    parts
        .extensions
        .get::<VerifiedToken>()
        .ok_or_else(|| ErrorData::internal_error("the guard is not installed", None))
}

#[tool_router]
impl Todos {
    fn new(lists: Arc<Mutex<HashMap<String, Vec<String>>>>) -> Self {
        Self {
            lists,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "List your todos (needs todo:read).")]
    async fn list_todos(
        &self,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let user = &token(&parts)?.subject;
        let lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        let todos = lists.get(user).cloned().unwrap_or_default();
        Ok(CallToolResult::success(vec![ContentBlock::text(
            todos.join("\n"),
        )]))
    }

    #[tool(description = "Add a todo (needs todo:write).")]
    async fn add_todo(
        &self,
        Parameters(AddTodo { text }): Parameters<AddTodo>,
        Extension(parts): Extension<http::request::Parts>,
    ) -> Result<CallToolResult, ErrorData> {
        let token = token(&parts)?;
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        lists.entry(token.subject.clone()).or_default().push(text);
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "added for {} (client {})",
            token.subject, token.client_id
        ))]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Todos {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let issuer =
        std::env::var("GATEHOUSE_ISSUER").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
    let resource = std::env::var("MCP_URL").unwrap_or_else(|_| "http://127.0.0.1:3000/mcp".into());
    let guard = Guard::new(
        GuardConfig::builder(&resource, issuer)
            .resource_name("Todo MCP")
            .scopes_supported(["todo:read", "todo:write"])
            .scope_implies("todo:write", ["todo:read"])
            .tool_scopes("list_todos", ["todo:read"])
            .tool_scopes("add_todo", ["todo:write"])
            .allow_loopback_origins(true) // MCP Inspector in a browser
            .build()?,
    );
    let lists = Arc::default();
    let mcp = StreamableHttpService::new(
        move || Ok(Todos::new(Arc::clone(&lists))),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new()
        .nest_service("/mcp", mcp)
        .layer(guard.layer());
    let addr = url::Url::parse(&resource)?
        .socket_addrs(|| None)?
        .into_iter()
        .next()
        .ok_or("MCP_URL has no address")?;
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "MCP server on {resource}, metadata at {}",
        guard.resource_metadata_url()
    );
    axum::serve(listener, app).await?;
    Ok(())
}
