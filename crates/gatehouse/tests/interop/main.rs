//! Independent-client interoperability tests: third-party OAuth/OIDC and MCP client
//! libraries (`openidconnect`, `rmcp`) run their own flows against a real Gatehouse on
//! 127.0.0.1, through the real login and consent pages.

#![allow(unreachable_pub)]

#[path = "../it/harness.rs"]
mod harness;
#[path = "../it/tls.rs"]
mod tls;

mod browser;
mod mcp_server;
mod oidc_http;

mod openidconnect_rp;
mod rmcp_cimd;
mod rmcp_client;
