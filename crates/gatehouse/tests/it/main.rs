//! Integration tests: one binary, real HTTP on 127.0.0.1, real SQLite.

#![allow(unreachable_pub)]

mod harness;

mod admin_api;
mod audit;
mod authorize;
mod caches;
mod cimd;
mod cli;
mod cors;
mod dashboard;
mod dcr;
mod discovery;
mod environments;
mod events;
mod flow;
mod keys;
mod machine;
mod policies;
mod postgres;
mod private_key_jwt;
mod ratelimit;
mod refresh;
mod register;
mod revocation;
mod tls;
mod token;
