//! Black-box tests of the real server: each test starts `perudo_server::run` on
//! `127.0.0.1:0`, drives it over HTTP and WebSocket like a browser would, and stops it.
//!
//! One integration-test binary (matklad's advice): the modules share the harness and the
//! client, and cargo links one executable instead of one per file.
//!
//! Every receive is bounded by a timeout (`client::RECV_TIMEOUT`), so a server that stops
//! answering fails a test instead of hanging it.

mod admin;
mod client;
#[cfg(feature = "postgres-tests")]
mod cluster;
mod config;
mod durability;
mod fairplay;
mod game;
mod hostile;
#[cfg(feature = "postgres-tests")]
#[path = "../support/postgres.rs"]
mod pg;
mod reconnect;
mod rejections;
mod release;
mod secrecy;
mod server;
mod snapshots;
mod web;
