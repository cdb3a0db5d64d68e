//! The `perudo` binary: parse the command line, install logging, serve.

use std::time::Duration;

use anyhow::Context;
use perudo_server::cli::{
    Command, FanoutServerArgs, LoadtestArgs, LogFormat, ServeArgs, StorageKind,
};
use perudo_server::{RoomSettings, ServerConfig};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let parsed = perudo_server::config::parse().unwrap_or_else(|error| error.exit());
    let (default_filter, log_format) = match &parsed.cli.command {
        Command::Serve(args) => ("info", args.log_format),
        Command::Loadtest(_)
        | Command::Verify { .. }
        | Command::Backup { .. }
        | Command::Check { .. }
        | Command::ConfigDocs => ("warn", LogFormat::Text),
        Command::FanoutServer(_) => ("info", LogFormat::Text),
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match log_format {
        LogFormat::Text => logs.init(),
        // Each line carries the fields of the span it was logged in (`span`) and of every
        // enclosing one (`spans`): the room code and the connection id.
        LogFormat::Json => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
    }
    match parsed.cli.command {
        Command::Serve(args) if args.check_config => {
            print!("{}", perudo_server::config::describe(&parsed.settings));
            Ok(())
        }
        Command::Serve(args) => serve(args).await,
        Command::ConfigDocs => {
            print!("{}", perudo_server::config::config_markdown());
            Ok(())
        }
        Command::Loadtest(args) => loadtest(args).await,
        Command::FanoutServer(args) => fanout_server(args).await,
        Command::Verify { record } => verify(&record),
        Command::Check { url, ca_cert } => {
            let steps = perudo_server::check::check(&perudo_server::check::CheckOptions {
                url: url.clone(),
                ca_cert,
            })
            .await;
            for step in &steps {
                println!("{step}");
            }
            let failed = steps.iter().filter(|s| !s.passed()).count();
            if failed > 0 {
                anyhow::bail!("{url}: {failed} of {} checks failed", steps.len());
            }
            println!("{url}: all {} checks passed", steps.len());
            Ok(())
        }
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
    let mut limits = args.limits.to_limits().map_err(anyhow::Error::msg)?;
    // Browsers may open game sockets only from the public site unless the operator lists
    // origins (other sites' pages could otherwise play in their visitors' names).
    if limits.allowed_origins.is_empty()
        && let Some(origin) = args
            .public_url
            .as_deref()
            .and_then(perudo_server::limits::origin_of)
    {
        limits.allowed_origins = vec![origin];
    }
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
    let store: Option<std::sync::Arc<dyn perudo_server::store::Store>> = match args.store.storage {
        StorageKind::Memory => None,
        StorageKind::Sqlite => {
            let store =
                perudo_server::store::SqliteStore::open(perudo_server::store::SqliteOptions {
                    path: args.store.db.clone(),
                    sync: args.store.db_sync,
                    retention: Duration::from_secs(
                        u64::from(args.store.game_retention_days) * 86_400,
                    ),
                    max_pages: args.store.db_max_pages,
                })
                .with_context(|| format!("cannot open the database {}", args.store.db.display()))?;
            Some(std::sync::Arc::new(store))
        }
    };
    let config = ServerConfig {
        store,
        rooms: RoomSettings {
            reveal_pause: Duration::from_millis(args.reveal_pause_ms),
            bot_delay: Duration::from_millis(args.bot_delay_ms),
            idle_close: Duration::from_secs(args.idle_close_secs),
            unplayed_close: Duration::from_secs(args.unplayed_close_secs),
            disconnect_grace: Duration::from_millis(args.disconnect_grace_ms),
            restore_grace: Duration::from_secs(args.restore_grace_secs),
            public_url,
            ..RoomSettings::default()
        },
        max_rooms: args.max_rooms,
        limits,
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
