//! Integration tests: one binary, real HTTP on 127.0.0.1, real SQLite.

#![allow(unreachable_pub)]

mod harness;

mod authorize;
mod discovery;
mod flow;
mod refresh;
mod token;
