//! `gatehouse demo-server`: a small Todo MCP server (rmcp) to try the gateway with.
//!
//! ```text
//! gatehouse proxy --issuer http://127.0.0.1:8080 --resource http://127.0.0.1:8443/mcp \
//!     --upstream-stdio "gatehouse demo-server --stdio" --tool-scope add_todo=todo:write
//! ```
//!
//! Tools: `list_todos` and `add_todo` (one list per user: the gateway's verified subject),
//! `countdown` (progress notifications, one per step, then the result: streaming through
//! the gateway can be watched), and `whoami` (the identity the gateway passed: the
//! `X-Gatehouse-*` headers over HTTP, the `GATEHOUSE_*` variables over stdio, and whether an
//! `Authorization` header ever reached the server — it never should).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context as _;
use axum::serve::ListenerExt as _;
use clap::Args;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CallToolResult, ContentBlock, Extensions, ProgressNotificationParam, ServerCapabilities,
    ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{
    ErrorData, RoleServer, ServerHandler, ServiceExt as _, schemars, tool, tool_handler,
    tool_router,
};
use serde_json::json;

/// `gatehouse demo-server`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct DemoArgs {
    /// Speak MCP over stdin/stdout (for `gatehouse proxy --upstream-stdio`).
    #[arg(long)]
    stdio: bool,
    /// Serve Streamable HTTP at http://ADDR/mcp (e.g. 127.0.0.1:3000; :0 picks a port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
}

type Lists = Arc<Mutex<HashMap<String, Vec<String>>>>;

#[derive(Clone)]
struct Todos {
    lists: Lists,
    tool_router: ToolRouter<Self>,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct AddTodo {
    /// What to do.
    text: String,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
struct Countdown {
    /// Where to start (1-20, default 3).
    from: Option<u32>,
    /// Pause between steps in milliseconds (0-5000, default 500).
    interval_ms: Option<u64>,
}

/// Who is calling, as the gateway said: headers over HTTP, the environment over stdio.
fn caller(ext: &Extensions) -> serde_json::Value {
    if let Some(parts) = ext.get::<http::request::Parts>() {
        let h = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        return json!({
            "transport": "http",
            "subject": h("x-gatehouse-subject"),
            "client_id": h("x-gatehouse-client-id"),
            "scopes": h("x-gatehouse-scopes"),
            "grant": h("x-gatehouse-grant"),
            "authorization_seen": parts.headers.contains_key(http::header::AUTHORIZATION),
            "forwarded_for": h("x-forwarded-for"),
        });
    }
    let v = |name: &str| std::env::var(name).ok();
    json!({
        "transport": "stdio",
        "subject": v("GATEHOUSE_SUBJECT"),
        "client_id": v("GATEHOUSE_CLIENT_ID"),
        "scopes": v("GATEHOUSE_SCOPES"),
        "grant": v("GATEHOUSE_GRANT"),
        "authorization_seen": false,
    })
}

fn user(ext: &Extensions) -> String {
    caller(ext)["subject"]
        .as_str()
        .unwrap_or("anonymous")
        .to_owned()
}

fn text(s: impl Into<String>) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(s.into())])
}

#[tool_router]
impl Todos {
    fn new(lists: Lists) -> Self {
        Self {
            lists,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "List your todos.")]
    async fn list_todos(&self, ext: Extensions) -> Result<CallToolResult, ErrorData> {
        let lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        let todos = lists.get(&user(&ext)).cloned().unwrap_or_default();
        Ok(text(if todos.is_empty() {
            "no todos yet".to_owned()
        } else {
            todos.join("\n")
        }))
    }

    #[tool(description = "Add a todo to your list.")]
    async fn add_todo(
        &self,
        Parameters(AddTodo { text: todo }): Parameters<AddTodo>,
        ext: Extensions,
    ) -> Result<CallToolResult, ErrorData> {
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        let list = lists.entry(user(&ext)).or_default();
        list.push(todo);
        Ok(text(format!("added; {} todo(s)", list.len())))
    }

    #[tool(description = "Count down, sending a progress notification at every step.")]
    async fn countdown(
        &self,
        Parameters(Countdown { from, interval_ms }): Parameters<Countdown>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let from = from.unwrap_or(3).clamp(1, 20);
        let pause = Duration::from_millis(interval_ms.unwrap_or(500).min(5000));
        let token = ctx.meta.get_progress_token();
        for step in 0..from {
            if let Some(token) = &token {
                let p = ProgressNotificationParam::new(token.clone(), f64::from(step + 1))
                    .with_total(f64::from(from))
                    .with_message(format!("{}…", from - step));
                let _ = ctx.peer.notify_progress(p).await;
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        Ok(text("liftoff"))
    }

    #[tool(description = "Show the identity the gateway passed to this server.")]
    async fn whoami(&self, ext: Extensions) -> Result<CallToolResult, ErrorData> {
        Ok(text(caller(&ext).to_string()))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Todos {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_instructions("A demo todo list: list_todos, add_todo, countdown, whoami.")
    }
}

/// Runs until stdin closes (`--stdio`) or Ctrl-C / SIGTERM (`--listen`).
pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    // stdout carries MCP over stdio: logs go to stderr only.
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("GATEHOUSE_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let lists = Lists::default();
    if args.stdio {
        let service = Todos::new(lists)
            .serve(rmcp::transport::stdio())
            .await
            .context("starting the stdio MCP server")?;
        service.waiting().await?;
        return Ok(());
    }
    let listen = args.listen.unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let mcp = StreamableHttpService::new(
        move || Ok(Todos::new(lists.clone())),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app = axum::Router::new().nest_service("/mcp", mcp);
    println!(
        "Gatehouse demo MCP server listening on http://{}/mcp",
        listener.local_addr()?
    );
    // Small SSE writes must not wait for ACKs (Nagle + delayed ACK add 40 ms per response).
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(crate::serve::shutdown())
        .await?;
    Ok(())
}
