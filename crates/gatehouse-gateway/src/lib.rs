//! The Gatehouse gateway: the guard in front of any MCP server, with no change to it.
//!
//! A [`Gateway`] protects one MCP server — a Streamable HTTP server it reverse-proxies, or a
//! stdio server it runs, one process per MCP session — with [`gatehouse_guard`]: Protected
//! Resource Metadata, 401/403 challenges, token verification, per-tool scopes, `Origin`
//! checks and CORS all come from the guard unchanged. The gateway adds what a proxy must:
//!
//! - **no token passthrough**: the client's `Authorization` never reaches the upstream; the
//!   verified identity does, as `X-Gatehouse-Subject`, `X-Gatehouse-Client-Id`,
//!   `X-Gatehouse-Scopes` and `X-Gatehouse-Grant` (inbound headers of those names are
//!   removed first), headers an upstream can trust on a private link;
//! - **streaming**: request and response bodies stream both ways; an SSE event passes as
//!   soon as the upstream writes it. Only a JSON-RPC POST body is read (bounded), to judge
//!   tool scopes; `tools/list` results are filtered to the tools the token may call;
//! - **clear failures**: upstream refused or reset → 502, no connection or answer in time
//!   → 504, each with a JSON body naming the upstream and the reason;
//! - **header hygiene**: hop-by-hop headers removed both ways, forwarding headers believed
//!   only with [`GatewayOptions::behind_proxy`];
//! - **reporting**: one [`GatewayEvent`] per authorized or refused request to an
//!   [`EventSink`], e.g. [`RemoteReporter`] to Gatehouse's `POST /events`;
//! - **a listener**: [`serve`], plain or TLS ([`tls::acceptor`]), HTTP/1.1 and HTTP/2.
//!
//! # Example
//!
//! ```no_run
//! use std::sync::Arc;
//! use gatehouse_gateway::{Drain, Gateway, GatewayConfig, NoEvents, StdioCommand, Upstream, serve};
//! use gatehouse_guard::GuardConfig;
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let guard = GuardConfig::builder("https://mcp.example.com/mcp", "https://auth.example.com")
//!     .scopes_supported(["todo:read"])
//!     .scope_implies("todo:write", ["todo:read"])
//!     .tool_scopes("add_todo", ["todo:write"])
//!     .build()?;
//! let upstream = Upstream::Stdio(StdioCommand::parse("gatehouse demo-server --stdio")?);
//! let gateway = Gateway::new(GatewayConfig::new(guard, upstream), Arc::new(NoEvents))?;
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
//! serve(gateway, listener, None, async { let _ = tokio::signal::ctrl_c().await; }, Drain::default()).await;
//! # Ok(()) }
//! ```
//!
//! `docs/gateway.md` describes the request phases and the stdio session model.

#![deny(missing_docs)]

mod body;
mod config;
mod error;
mod events;
mod filter;
mod front;
mod gateway;
mod headers;
mod http_upstream;
mod report;
mod serve;
mod stdio;
pub mod tls;

pub use body::{BoxError, EventStream, GatewayBody, KEEP_ALIVE, sse_event};
pub use config::{ConfigError, GatewayConfig, GatewayOptions, StdioCommand, Upstream};
pub use error::GatewayError;
pub use events::{
    BatchingSink, BoxFuture, Deliver, EventSink, GatewayEvent, MAX_BATCH, NoEvents, Outcome,
    RemoteReporter,
};
pub use gateway::{Connection, Gateway};
pub use headers::{
    ClientAddr, X_GATEHOUSE_CLIENT_ID, X_GATEHOUSE_GRANT, X_GATEHOUSE_SCOPES, X_GATEHOUSE_SUBJECT,
    strip_hop_by_hop,
};
pub use serve::{Drain, serve};
