//! The `perudo` binary: parse the command line, install logging, serve.

use anyhow::Context;
use perudo_server::cli::{Command, LogFormat};
use perudo_server::config::Storage;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let parsed = perudo_server::config::parse().unwrap_or_else(|error| error.exit());
    let (default_filter, log_format) = match &parsed.cli.command {
        Command::Serve(args) => ("info", args.log_format),
        Command::Verify { .. }
        | Command::Backup { .. }
        | Command::Migrate { .. }
        | Command::Admin(_)
        | Command::Check { .. }
        | Command::ConfigDocs => ("warn", LogFormat::Text),
    };
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour_logs())
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
        // One check for both: what --check-config accepts, serve starts with.
        Command::Serve(args) => {
            let runtime = perudo_server::config::runtime(&args)?;
            if args.check_config {
                print!("{}", perudo_server::config::describe(&parsed.settings));
                Ok(())
            } else {
                serve(runtime).await
            }
        }
        Command::ConfigDocs => {
            print!("{}", perudo_server::config::config_markdown());
            Ok(())
        }
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
        Command::Admin(args) => admin(args).await,
        Command::Migrate { db, database_url } => {
            let copied = perudo_server::store::copy_from_sqlite(&db, &database_url)
                .await
                .with_context(|| {
                    format!(
                        "cannot copy {} into {}",
                        db.display(),
                        perudo_server::config::redact_password(&database_url)
                    )
                })?;
            println!(
                "copied {} rooms, {} games and {} moves from {} into PostgreSQL",
                copied.rooms,
                copied.games,
                copied.moves,
                db.display()
            );
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

/// Whether log lines get ANSI colours: only when standard error is a terminal, and not when
/// `NO_COLOR` is set to anything (<https://no-color.org>). journald, files and pipes get plain
/// text, so `grep room=CODE` finds what it looks for.
fn colour_logs() -> bool {
    use std::io::IsTerminal as _;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

async fn admin(args: perudo_server::cli::AdminArgs) -> anyhow::Result<()> {
    use perudo_server::admin::{self, Request};
    use perudo_server::cli::AdminCommand;

    let socket = args
        .socket
        .unwrap_or_else(|| admin::default_socket(&args.db));
    let request = match args.command {
        AdminCommand::Rooms => Request::Rooms,
        AdminCommand::Connections => Request::Connections,
        AdminCommand::Close { room } => Request::Close { room },
        AdminCommand::Block {
            target,
            time,
            reason,
        } => Request::Block {
            target,
            seconds: time.as_secs(),
            reason,
        },
        AdminCommand::Unblock { target } => Request::Unblock { target },
        AdminCommand::Blocks => Request::Blocks,
    };
    let answer = admin::request(&socket, &request)
        .await
        .map_err(anyhow::Error::msg)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        println!("{}", admin::render(&answer));
    }
    Ok(())
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
            let dice = if verified.dice_checked {
                "every recorded die is what the seed rolls"
            } else {
                "this format 1 record lists no dice, so only the replay checked them"
            };
            println!(
                "ok: room {} game {}: the seed matches the commitment {}; {} moves replay to {} rounds \
                 and seat {} ({}) winning, as recorded; {dice}",
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

async fn serve(runtime: perudo_server::config::Runtime) -> anyhow::Result<()> {
    let perudo_server::config::Runtime {
        listen,
        public_url,
        server: mut config,
        storage,
        shutdown_grace,
    } = runtime;
    // Before the store opens, so its writer's first commits are measured too.
    perudo_server::metrics::install();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    config.rooms.public_url = public_url.unwrap_or_else(|| {
        format!(
            "http://{}",
            listener
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default()
        )
    });
    match storage {
        Storage::Memory => {}
        Storage::Sqlite(options) => {
            let path = options.path.clone();
            let store = perudo_server::store::SqliteStore::open(options)
                .with_context(|| format!("cannot open the database {}", path.display()))?;
            config.store = Some(std::sync::Arc::new(store));
        }
        Storage::Postgres(mut options) => {
            // Other nodes reach this one where it listens, when that is one address.
            if options.node_url.is_none()
                && let Ok(addr) = listener.local_addr()
                && !addr.ip().is_unspecified()
            {
                options.node_url = Some(format!("http://{addr}"));
            }
            // Connecting and migrating wait on the network: off the runtime's workers.
            let store = tokio::task::spawn_blocking(move || {
                perudo_server::store::PostgresStore::open(options)
            })
            .await
            .context("the store's opening panicked")?
            .context("cannot open the PostgreSQL database (database-url)")?;
            config.store = Some(std::sync::Arc::new(store));
        }
    }
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    let stop = on_signal().context("cannot install the signal handlers")?;
    tokio::spawn(async move {
        stop.await;
        tracing::info!("shutting down");
        signal.cancel();
    });
    perudo_server::run(listener, config, shutdown, shutdown_grace)
        .await
        .context("server failed")
}

/// Registers for SIGTERM and SIGINT at once, so a signal that arrives before the returned
/// future is first polled (a service manager stopping a server that just said "listening")
/// still stops it gracefully instead of killing it.
fn on_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {},
            _ = interrupt.recv() => {},
        }
    })
}
