//! Integration tests: one binary, real HTTP on 127.0.0.1, real SQLite.

#![allow(unreachable_pub)]

mod harness;

mod audit;
mod authorize;
mod cli;
mod cors;
mod discovery;
mod environments;
mod flow;
mod keys;
mod machine;
mod ratelimit;
mod refresh;
mod register;
mod revocation;
mod token;
