//! Benchmarks of the perudo server, kept out of the `perudo` binary that people deploy.
//!
//! - [`loadtest`]: simulated players, each a real WebSocket client playing with the engine's
//!   Normal bot, against `perudo serve` (or, with `--fanout`, against the reference below).
//! - [`fanout`]: the fan-out reference, a bare WebSocket fan-out on the server's own
//!   transport (`perudo_server::transport`) with no game, the ceiling the game is compared to.
//! - [`failover`]: several `perudo serve` nodes on one PostgreSQL database, killed one after
//!   the other: the time from a kill until the node's rooms are playable again.
//! - [`pgcluster`]: a throwaway PostgreSQL cluster (the server tests' own) for the above and
//!   for the bench scripts' `STORAGE=postgres`.
//!
//! `scripts/bench-load.sh`, `scripts/bench-capacity.sh` and `scripts/bench-cluster.sh` drive the
//! `perudo-bench` binary;
//! docs/BENCHMARKS.md has the figures.

pub mod failover;
pub mod fanout;
pub mod loadtest;
pub mod pgcluster;
