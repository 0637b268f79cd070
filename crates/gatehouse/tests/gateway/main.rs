//! The gateway over real processes and sockets on 127.0.0.1: `gatehouse proxy` (the real
//! binary) in front of `gatehouse demo-server` over Streamable HTTP and over stdio, and in
//! front of in-test upstreams; `gatehouse serve` with a `[[gateway]]` route; a real
//! Gatehouse (the harness) issuing the tokens and keeping the authentication log.

#![allow(unreachable_pub)]

#[path = "../it/harness.rs"]
mod harness;

#[path = "../interop/browser.rs"]
mod browser;
mod checks;
mod rmcp_flow;
mod support;
mod upstream;

mod cors;
mod http_upstream;
mod proxying;
mod serve_routes;
mod stdio_upstream;
mod tls;
