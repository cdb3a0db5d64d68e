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
    /// Check a finished game's record (as served by `GET /api/rooms/{code}/games/{n}`):
    /// the seed against the commitment, the moves replayed under the rules, the results.
    Verify {
        /// The record's JSON file (`-` reads standard input).
        record: std::path::PathBuf,
    },
    /// Make a consistent copy of the database, also while a server is using it.
    Backup {
        /// The database to copy.
        #[arg(long, env = "PERUDO_DB", default_value = "perudo.db")]
        db: std::path::PathBuf,
        /// Where to write the copy (must not exist).
        to: std::path::PathBuf,
    },
}

/// Where rooms are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StorageKind {
    /// An SQLite database file (`--db`): rooms survive restarts and crashes.
    Sqlite,
    /// Memory only: every room is lost when the server stops.
    Memory,
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
    /// Where rooms are kept.
    #[arg(long, env = "PERUDO_STORAGE", value_enum, default_value_t = StorageKind::Sqlite)]
    storage: StorageKind,
    /// The SQLite database file (created on first start).
    #[arg(long, env = "PERUDO_DB", default_value = "perudo.db")]
    db: std::path::PathBuf,
    /// How hard the database syncs: `normal` survives the process being killed, `full`
    /// also a power cut (an fsync per group commit).
    #[arg(long, env = "PERUDO_DB_SYNC", value_enum, default_value_t = perudo_server::store::SyncMode::Normal)]
    db_sync: perudo_server::store::SyncMode,
    /// Days a finished game's record is kept (and served) before it is deleted.
    #[arg(long, env = "PERUDO_GAME_RETENTION_DAYS", default_value_t = 30)]
    game_retention_days: u32,
    /// Caps the database at this many 4 KiB pages (a quota; writes beyond it fail cleanly).
    #[arg(long, env = "PERUDO_DB_MAX_PAGES")]
    db_max_pages: Option<u32>,
    /// Seconds restored rooms wait for their players after a restart before away timers or
    /// turn limits that ran out while the server was down apply.
    #[arg(long, env = "PERUDO_RESTORE_GRACE_SECS", default_value_t = 20)]
    restore_grace_secs: u64,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let default_filter = match cli.command {
        Command::Serve(_) => "info",
        Command::Loadtest(_) | Command::Verify { .. } | Command::Backup { .. } => "warn",
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
        Command::Verify { record } => verify(&record),
        Command::Backup { db, to } => {
            perudo_server::store::backup(&db, &to)
                .with_context(|| format!("cannot back up {} to {}", db.display(), to.display()))?;
            println!("backed up {} to {}", db.display(), to.display());
            Ok(())
        }
    }
}

fn verify(path: &std::path::Path) -> anyhow::Result<()> {
    let text = if path.as_os_str() == "-" {
        std::io::read_to_string(std::io::stdin()).context("cannot read standard input")?
    } else {
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?
    };
    let record: perudo_server::record::GameRecord =
        serde_json::from_str(&text).context("not a game record")?;
    match perudo_server::record::verify(&record) {
        Ok(verified) => {
            println!(
                "ok: room {} game {}: the seed matches the commitment {}; {} moves replay to {} rounds \
                 and seat {} ({}) winning, as recorded",
                record.room,
                record.game,
                record.commitment,
                verified.moves,
                verified.rounds,
                verified.winner.get(),
                record
                    .names
                    .get(verified.winner.index())
                    .map_or("?", String::as_str)
            );
            Ok(())
        }
        Err(error) => anyhow::bail!("room {} game {}: {error}", record.room, record.game),
    }
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
    // Before the store opens, so its writer's first commits are measured too.
    perudo_server::metrics::install();
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
    let store: Option<std::sync::Arc<dyn perudo_server::store::Store>> = match args.storage {
        StorageKind::Memory => None,
        StorageKind::Sqlite => {
            let store =
                perudo_server::store::SqliteStore::open(perudo_server::store::SqliteOptions {
                    path: args.db.clone(),
                    sync: args.db_sync,
                    retention: Duration::from_secs(u64::from(args.game_retention_days) * 86_400),
                    max_pages: args.db_max_pages,
                })
                .with_context(|| format!("cannot open the database {}", args.db.display()))?;
            Some(std::sync::Arc::new(store))
        }
    };
    let config = ServerConfig {
        store,
        rooms: RoomSettings {
            reveal_pause: Duration::from_millis(args.reveal_pause_ms),
            bot_delay: Duration::from_millis(args.bot_delay_ms),
            idle_close: Duration::from_secs(args.idle_close_secs),
            disconnect_grace: Duration::from_millis(args.disconnect_grace_ms),
            restore_grace: Duration::from_secs(args.restore_grace_secs),
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
