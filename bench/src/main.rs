//! `perudo-bench`: the benchmarks of the perudo server (the load tester and the fan-out
//! reference), kept out of the `perudo` binary that people deploy.

use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Benchmarks of the perudo server. Point them at loopback (or, with consent, `--allow-remote`).
#[derive(Parser, Debug)]
#[command(name = "perudo-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Load a running server with simulated players (real WebSocket clients playing with the
    /// engine's Normal bot) and report throughput and latency. For throughput runs, start the
    /// server with `--reveal-pause-ms 0 --bot-delay-ms 0`.
    Loadtest(LoadtestArgs),
    /// Benchmark reference, not a game: a bare WebSocket fan-out on the game server's own
    /// transport. Every message a socket sends is answered with a small ack, and every socket
    /// of its room gets one frame of `--frame-bytes`. Load it with
    /// `perudo-bench loadtest --fanout`.
    FanoutServer(FanoutServerArgs),
    /// Several `perudo serve` nodes on one PostgreSQL database: kill them one after the other
    /// (SIGKILL) and measure the time until every room of the killed node is playable again.
    Failover(perudo_bench::failover::FailoverArgs),
    /// A throwaway PostgreSQL cluster (Debian's initdb and pg_ctl, in a temporary directory,
    /// on a Unix socket only) with one fresh database, until SIGTERM or Ctrl-C: for the bench
    /// scripts' `STORAGE=postgres`.
    Postgres(perudo_bench::pgcluster::PostgresArgs),
}

#[derive(clap::Args, Debug)]
pub struct FanoutServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// Bytes of the frame every socket of the room gets per message.
    #[arg(long, default_value_t = perudo_bench::fanout::DEFAULT_FRAME_BYTES)]
    pub frame_bytes: usize,
    /// Most rooms open at once.
    #[arg(long, default_value_t = 100_000)]
    pub max_rooms: usize,
}

#[derive(clap::Args, Debug)]
pub struct LoadtestArgs {
    /// Base HTTP URL of the server; several separated by commas (a cluster's nodes, a proxy)
    /// spread the rooms over them: room i is created and played through the (i mod n)-th.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// Rooms to open and play.
    #[arg(long, default_value_t = 1)]
    pub rooms: usize,
    /// Simulated human seats per room (the first is the host).
    #[arg(long, default_value_t = 4)]
    pub players: usize,
    /// Server-side bots the host adds to each room.
    #[arg(long, default_value_t = 0)]
    pub bots: usize,
    /// Seconds of load (then moves in flight are waited for briefly and sockets closed).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Milliseconds a simulated player thinks before acting: `0`, `500`, or a range `1000-2000`.
    #[arg(long, default_value = "0")]
    pub think_ms: perudo_bench::loadtest::Think,
    /// Seconds over which the rooms are started.
    #[arg(long, default_value_t = 0.0)]
    pub ramp: f64,
    /// Print the final report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Seed of the simulated players' bots and think times.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Allow a URL that is not a loopback address (only with the server operator's consent).
    #[arg(long)]
    pub allow_remote: bool,
    /// No progress line on stderr.
    #[arg(long)]
    pub quiet: bool,
    /// Fill the seats but never start: idle players in lobbies (to measure memory per player).
    #[arg(long)]
    pub idle: bool,
    /// Load `perudo-bench fanout-server` instead: the players of a room take turns sending one
    /// message, and latency runs until every player of the room has the broadcast.
    #[arg(long)]
    pub fanout: bool,
    /// Spread the sockets over this many loopback source addresses (127.0.0.1, .2, ...):
    /// one source address gets at most about 28,000 connections to one server port.
    /// 0: the OS chooses (one address).
    #[arg(long, default_value_t = 0)]
    pub source_ips: usize,
    /// Seconds at the start (setup, ramp) whose actions, latencies and bytes are not counted.
    #[arg(long, default_value_t = 0.0)]
    pub warmup: f64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Loadtest(_) => "warn",
        Command::FanoutServer(_) | Command::Failover(_) | Command::Postgres(_) => "info",
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Loadtest(args) => loadtest(args).await,
        Command::FanoutServer(args) => fanout_server(args).await,
        Command::Failover(args) => perudo_bench::failover::run(args).await,
        Command::Postgres(args) => perudo_bench::pgcluster::run(args).await,
    }
}

async fn fanout_server(args: FanoutServerArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal.cancel();
    });
    let config = perudo_bench::fanout::FanoutConfig {
        frame_bytes: args.frame_bytes,
        max_rooms: args.max_rooms,
        ..perudo_bench::fanout::FanoutConfig::default()
    };
    perudo_bench::fanout::run(listener, config, shutdown, Duration::from_secs(5))
        .await
        .context("fan-out server failed")
}

async fn loadtest(args: LoadtestArgs) -> anyhow::Result<()> {
    let seconds = |name: &str, s: f64| {
        Duration::try_from_secs_f64(s).map_err(|e| anyhow::anyhow!("--{name} {s}: {e}"))
    };
    let config = perudo_bench::loadtest::Config {
        url: args.url,
        rooms: args.rooms,
        players: args.players,
        bots: args.bots,
        duration: seconds("duration", args.duration)?,
        think: args.think_ms,
        ramp: seconds("ramp", args.ramp)?,
        seed: args.seed,
        allow_remote: args.allow_remote,
        progress: !args.quiet,
        idle: args.idle,
        fanout: args.fanout,
        source_ips: args.source_ips,
        warmup: seconds("warmup", args.warmup)?,
    };
    let report = perudo_bench::loadtest::run(config).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.summary());
    }
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
}
