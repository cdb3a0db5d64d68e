//! The `perudo` binary: parse the command line, install logging, serve.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use perudo_server::{RoomSettings, ServerConfig};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[derive(Parser, Debug)]
#[command(
    name = "perudo",
    version,
    about = "A self-hosted Perudo (Liar's dice) game server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the game over HTTP and WebSocket.
    Serve(ServeArgs),
    /// Load a running server with simulated players (real WebSocket clients playing with the
    /// engine's Normal bot) and report throughput and latency. For throughput runs, start the
    /// server with `--reveal-pause-ms 0 --bot-delay-ms 0`.
    Loadtest(LoadtestArgs),
    /// Benchmark reference, not a game: a bare WebSocket fan-out with the game server's
    /// transport settings. Every message a socket sends is answered with a small ack, and
    /// every socket of its room gets one frame of `--frame-bytes`. Load it with
    /// `perudo loadtest --fanout`.
    FanoutServer(FanoutServerArgs),
}

#[derive(clap::Args, Debug)]
struct FanoutServerArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Bytes of the frame every socket of the room gets per message.
    #[arg(long, default_value_t = perudo_server::fanout::DEFAULT_FRAME_BYTES)]
    frame_bytes: usize,
    /// Most rooms open at once.
    #[arg(long, default_value_t = 100_000)]
    max_rooms: usize,
}

#[derive(clap::Args, Debug)]
struct LoadtestArgs {
    /// Base HTTP URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Rooms to open and play.
    #[arg(long, default_value_t = 1)]
    rooms: usize,
    /// Simulated human seats per room (the first is the host).
    #[arg(long, default_value_t = 4)]
    players: usize,
    /// Server-side bots the host adds to each room.
    #[arg(long, default_value_t = 0)]
    bots: usize,
    /// Seconds of load (then moves in flight are waited for briefly and sockets closed).
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Milliseconds a simulated player thinks before acting: `0`, `500`, or a range `1000-2000`.
    #[arg(long, default_value = "0")]
    think_ms: perudo_server::loadtest::Think,
    /// Seconds over which the rooms are started.
    #[arg(long, default_value_t = 0.0)]
    ramp: f64,
    /// Print the final report as JSON.
    #[arg(long)]
    json: bool,
    /// Seed of the simulated players' bots and think times.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Allow a URL that is not a loopback address (only with the server operator's consent).
    #[arg(long)]
    allow_remote: bool,
    /// No progress line on stderr.
    #[arg(long)]
    quiet: bool,
    /// Fill the seats but never start: idle players in lobbies (to measure memory per player).
    #[arg(long)]
    idle: bool,
    /// Load `perudo fanout-server` instead: the players of a room take turns sending one
    /// message, and latency runs until every player of the room has the broadcast.
    #[arg(long)]
    fanout: bool,
    /// Spread the sockets over this many loopback source addresses (127.0.0.1, .2, ...):
    /// one source address gets at most about 28,000 connections to one server port.
    /// 0: the OS chooses (one address).
    #[arg(long, default_value_t = 0)]
    source_ips: usize,
    /// Seconds at the start (setup, ramp) whose actions, latencies and bytes are not counted.
    #[arg(long, default_value_t = 0.0)]
    warmup: f64,
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "PERUDO_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Public base URL for share links (default: http://<listen>).
    #[arg(long, env = "PERUDO_PUBLIC_URL")]
    public_url: Option<String>,
    /// Milliseconds a round's reveal stays on show before the next round starts.
    #[arg(long, env = "PERUDO_REVEAL_PAUSE_MS", default_value_t = 4000)]
    reveal_pause_ms: u64,
    /// Milliseconds a bot waits before it acts.
    #[arg(long, env = "PERUDO_BOT_DELAY_MS", default_value_t = 800)]
    bot_delay_ms: u64,
    /// Milliseconds a disconnected player on turn (or a disconnected host) is waited for
    /// before the room plays for them (or hands the host role on).
    #[arg(long, env = "PERUDO_DISCONNECT_GRACE_MS", default_value_t = 5000)]
    disconnect_grace_ms: u64,
    /// Most rooms open at once.
    #[arg(long, env = "PERUDO_MAX_ROOMS", default_value_t = 10_000)]
    max_rooms: usize,
    /// Seconds a room with nobody connected stays open.
    #[arg(long, env = "PERUDO_IDLE_CLOSE_SECS", default_value_t = 1800)]
    idle_close_secs: u64,
    /// Seconds to wait for rooms and sockets to close on shutdown.
    #[arg(long, env = "PERUDO_SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    shutdown_grace_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Serve(_) => "info",
        Command::Loadtest(_) => "warn",
        Command::FanoutServer(_) => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Loadtest(args) => loadtest(args).await,
        Command::FanoutServer(args) => fanout_server(args).await,
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
    let config = perudo_server::fanout::FanoutConfig {
        frame_bytes: args.frame_bytes,
        max_rooms: args.max_rooms,
    };
    perudo_server::fanout::run(listener, config, shutdown, Duration::from_secs(5))
        .await
        .context("fan-out server failed")
}

async fn loadtest(args: LoadtestArgs) -> anyhow::Result<()> {
    let seconds = |name: &str, s: f64| {
        Duration::try_from_secs_f64(s).map_err(|e| anyhow::anyhow!("--{name} {s}: {e}"))
    };
    let config = perudo_server::loadtest::Config {
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
    let report = perudo_server::loadtest::run(config).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{}", report.summary());
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let public_url = args.public_url.unwrap_or_else(|| {
        format!(
            "http://{}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        )
    });
    let config = ServerConfig {
        rooms: RoomSettings {
            reveal_pause: Duration::from_millis(args.reveal_pause_ms),
            bot_delay: Duration::from_millis(args.bot_delay_ms),
            idle_close: Duration::from_secs(args.idle_close_secs),
            disconnect_grace: Duration::from_millis(args.disconnect_grace_ms),
            public_url,
            ..RoomSettings::default()
        },
        max_rooms: args.max_rooms,
    };
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        signal.cancel();
    });
    perudo_server::run(
        listener,
        config,
        shutdown,
        Duration::from_secs(args.shutdown_grace_secs),
    )
    .await
    .context("server failed")
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("install SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
