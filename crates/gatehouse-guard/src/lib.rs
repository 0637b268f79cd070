//! Accept Gatehouse access tokens in any Rust MCP server, without depending on the
//! authorization server.
//!
//! The guard is the resource-server half of MCP authorization (MCP › Authorization, RFC 9728,
//! RFC 6750, RFC 9068):
//!
//! - it serves the **Protected Resource Metadata** at
//!   `/.well-known/oauth-protected-resource/<path>` and `/.well-known/oauth-protected-resource`;
//! - it answers requests without a valid token with **401** and
//!   `WWW-Authenticate: Bearer resource_metadata="…", scope="…"`, and requests lacking scopes
//!   with **403** `insufficient_scope` naming every scope the operation needs;
//! - it **verifies** tokens locally against the issuer's JWKS ([`verify::JwtVerifier`]) or by
//!   RFC 7662 introspection ([`verify::IntrospectionVerifier`]);
//! - it enforces **per-tool scopes** for JSON-RPC `tools/call`, with a scope hierarchy;
//! - it validates the browser **`Origin`** and answers **CORS** for allowed origins;
//! - it hands the inner service a [`VerifiedToken`] in the request extensions.
//!
//! # Example (axum)
//!
//! ```no_run
//! use axum::{Router, routing::post};
//! use gatehouse_guard::{Authenticated, Guard, GuardConfig};
//!
//! async fn mcp(Authenticated(token): Authenticated, body: String) -> String {
//!     format!("{} says {body}", token.subject)
//! }
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let config = GuardConfig::builder("https://mcp.example.com/mcp", "https://auth.example.com")
//!     .scopes_supported(["todo:read", "todo:write"])
//!     .scope_implies("todo:write", ["todo:read"])
//!     .tool_scopes("list_todos", ["todo:read"])
//!     .tool_scopes("add_todo", ["todo:write"])
//!     .allowed_origins(["https://app.example.com"])
//!     .build()?;
//! let guard = Guard::new(config);
//! // The layer covers every route and the fallback, so it also serves the metadata paths.
//! let app = Router::new().route("/mcp", post(mcp)).layer(guard.layer());
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:3000").await?;
//! axum::serve(listener, app).await?;
//! # Ok(()) }
//! ```
//!
//! `examples/protected_rmcp_server.rs` puts an rmcp Streamable HTTP server behind the guard
//! and reads the token inside a tool.
//!
//! # Without axum
//!
//! [`GuardLayer`] is a plain tower layer over `http::Request<B>` for any body `B`, so it works
//! with hyper, tonic or tower directly; the inner service receives `Request<GuardBody<B>>`.
//! For other frameworks, [`Guard::authenticate`], [`Guard::authorize`] and
//! [`Guard::respond`] are the same steps as functions, with [`Guard::public_document`],
//! [`Guard::check_origin`], [`Guard::preflight`], [`Guard::cors_headers`] and [`read_body`]
//! for the rest.
//!
//! # What the guard never does
//!
//! It never accepts a token from the query string or a form body, never sends the client's
//! token anywhere (JWKS, metadata and introspection requests carry only the guard's own
//! credentials), and never treats an MCP session id as authentication: every request is
//! verified.

#![deny(missing_docs)]

mod bearer;
mod body;
mod builder;
mod challenge;
mod clock;
mod config;
mod cors;
mod discovery;
#[cfg(feature = "axum")]
mod extract;
mod guard;
mod layer;
pub mod mcp;
mod prm;
mod scopes;
mod token;
pub mod verify;

pub use body::GuardBody;
pub use challenge::{BearerChallenge, Rejection};
pub use clock::{Clock, SystemClock};
pub use config::{ConfigError, GuardConfig, GuardConfigBuilder, Introspection};
#[cfg(feature = "axum")]
pub use extract::{Authenticated, GuardNotInstalled};
pub use gatehouse_oauth::jose::Algorithm;
pub use gatehouse_oauth::scope::ScopeSet;
pub use guard::Guard;
pub use layer::{
    DRAIN_LIMIT, DRAIN_TIMEOUT, GuardLayer, GuardService, NotFound, close_connection, drain_body,
    read_body,
};
pub use prm::{WELL_KNOWN_AS, WELL_KNOWN_PRM, metadata_url};
pub use scopes::ScopeHierarchy;
pub use token::VerifiedToken;
