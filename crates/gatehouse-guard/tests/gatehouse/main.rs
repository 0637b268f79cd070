//! The guard against a real Gatehouse: in-process authorization server on 127.0.0.1 with
//! real SQLite (the shared integration harness), a guarded MCP-ish handler on 127.0.0.1:0,
//! real HTTP between all of them.

#![allow(unreachable_pub)]

#[path = "../../../gatehouse/tests/it/harness.rs"]
mod harness;
mod support;

mod challenges;
mod cors;
mod introspection;
mod metadata;
mod rmcp_server;
mod scopes;
mod tokens;
