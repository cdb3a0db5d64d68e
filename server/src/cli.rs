//! The `perudo` command line, as clap structs, so that tests and the docs generator see the
//! same definition the binary parses.
//!
//! Every `perudo serve` setting is a flag with an `env = "PERUDO_..."` variable, and may also
//! be a key of the `--config` TOML file: [`crate::config`] finds the settings in the clap
//! `Command` itself, so a new field here (also in a `#[command(flatten)]` group) is covered by
//! the file, `--check-config`, `--help` and docs/CONFIG.md without further code. Numeric
//! settings carry a clap `value_parser` range, which the docs and `--help` show.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::builder::RangedU64ValueParser;
use clap::{Parser, Subcommand};

use crate::store::SyncMode;

#[derive(Parser, Debug)]
#[command(
    name = "perudo",
    version = crate::version::LONG,
    about = "A self-hosted Perudo (Liar's dice) game server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start: the size of `Serve`'s settings costs nothing worth a `Box`.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Serve the game over HTTP and WebSocket.
    ///
    /// Each setting is read from its flag, else its environment variable, else the `--config`
    /// TOML file (under the key shown as `toml`), else its default. docs/CONFIG.md lists them.
    Serve(Box<ServeArgs>),
    // Not `{n}`: clap reads `{n}` in help text as a line break.
    /// Check a finished game's record (as served by `GET /api/rooms/{code}/games/{game}`, games
    /// numbered from 1): the seed against the commitment, the moves replayed under the rules, the
    /// results, and every round's dice against what the seed rolls (docs/FAIRPLAY.md; an
    /// independent check without perudo's code: `node tools/verify-record.mjs`).
    Verify {
        /// The record's JSON file (`-` reads standard input).
        record: PathBuf,
    },
    /// Check a deployment from outside, as a deployer would: /healthz and /readyz answer,
    /// the page is the built web client, share links use this URL, and a WebSocket upgrades
    /// through the proxy and speaks this protocol version (creates one short-lived room).
    Check {
        /// The public base URL, e.g. https://perudo.example.org.
        #[arg(long, env = "PERUDO_PUBLIC_URL")]
        url: String,
        /// A PEM CA certificate to trust besides the public roots (a private CA).
        #[arg(long)]
        ca_cert: Option<std::path::PathBuf>,
    },
    /// The operator's tools, over the running server's local admin socket: list rooms and
    /// connections, close a room, block an address or a network for a time. Run it as the
    /// server's user (the socket is mode 0600), e.g. `sudo -u perudo perudo admin --db
    /// /var/lib/perudo/perudo.db rooms`.
    Admin(AdminArgs),
    /// Make a consistent copy of the database, also while a server is using it.
    Backup {
        /// The database to copy.
        #[arg(long, env = "PERUDO_DB", default_value = "perudo.db")]
        db: PathBuf,
        /// Where to write the copy (must not exist).
        to: PathBuf,
    },
    /// Copy every room, game and move of an SQLite database into an empty PostgreSQL
    /// database (migrating its schema first), in one transaction: the way from one machine
    /// to several. Stop the server using the SQLite file first; then start the nodes with
    /// `--database-url`.
    Migrate {
        /// The SQLite database to copy from.
        #[arg(long, env = "PERUDO_DB", default_value = "perudo.db")]
        db: PathBuf,
        /// The PostgreSQL database to copy into (see `serve --database-url`).
        #[arg(long, env = "PERUDO_DATABASE_URL")]
        database_url: String,
    },
    /// Print docs/CONFIG.md, the reference of every `serve` setting, generated from this
    /// command line definition.
    #[command(hide = true)]
    ConfigDocs,
}

#[derive(clap::Args, Debug)]
pub struct AdminArgs {
    /// The server's admin socket (default: next to the database, `<db>.admin.sock`).
    #[arg(long, env = "PERUDO_ADMIN_SOCKET")]
    pub socket: Option<PathBuf>,
    /// The server's database, whose admin socket is next to it.
    #[arg(long, env = "PERUDO_DB", default_value = "perudo.db")]
    pub db: PathBuf,
    /// Print the answer as JSON.
    #[arg(long)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Every open room: code, phase, seats, spectators, open connections, age.
    Rooms,
    /// Every open WebSocket connection: id, client IP (through the trusted proxies), room, age.
    Connections,
    /// Close a room: its players are told (`Closing { RoomClosed }`), and it is gone for good.
    Close {
        /// The room's code.
        room: String,
    },
    /// Refuse every request from an address or network (`203.0.113.7`, `2001:db8:1:2::/64`)
    /// for a time, and close its open connections. Blocks are kept in memory: a restart lifts
    /// them.
    Block {
        /// An IP address, or a network with its prefix length.
        target: String,
        /// How long: `90s`, `15m`, `12h`, `7d` (at most 365 days).
        #[arg(long = "for", value_parser = crate::admin::parse_duration)]
        time: std::time::Duration,
        /// Why, for the list and the log.
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Lift the block of exactly this address or network.
    Unblock { target: String },
    /// The blocks in force, with the time left.
    Blocks,
}

/// Where rooms are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum StorageKind {
    /// An SQLite database file (`--db`): rooms survive restarts and crashes.
    Sqlite,
    /// Memory only: every room is lost when the server stops.
    Memory,
}

/// How log lines are written (to standard error).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, with the fields of the enclosing spans (room, connection).
    Json,
}

/// The settings of `perudo serve`. A setting is an argument with an environment variable;
/// its TOML key is its field name (the long flag in snake_case).
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// A TOML file of settings, keyed by their names in snake_case (e.g. `max_rooms = 500`).
    /// Flags and environment variables override it.
    #[arg(long, env = "PERUDO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Check the settings, print each with where it came from, and exit.
    #[arg(long)]
    pub check_config: bool,
    /// Address to listen on.
    #[arg(long, env = "PERUDO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Public base URL for share links (default: http://<listen>). When set, it is also the
    /// origin allowed to open WebSockets unless `allowed-origins` says otherwise, and an
    /// `https://` URL makes every response carry `Strict-Transport-Security`.
    #[arg(long, env = "PERUDO_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Milliseconds a round's reveal stays on show before the next round starts.
    #[arg(long, env = "PERUDO_REVEAL_PAUSE_MS", default_value_t = defaults().reveal_pause.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub reveal_pause_ms: u64,
    /// Milliseconds a bot waits before it acts.
    #[arg(long, env = "PERUDO_BOT_DELAY_MS", default_value_t = defaults().bot_delay.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub bot_delay_ms: u64,
    /// Milliseconds a disconnected player on turn (or a disconnected host) is waited for
    /// before the room plays for them (or hands the host role on).
    #[arg(long, env = "PERUDO_DISCONNECT_GRACE_MS", default_value_t = defaults().disconnect_grace.as_millis() as u64,
          value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    pub disconnect_grace_ms: u64,
    /// Most rooms open at once.
    #[arg(long, env = "PERUDO_MAX_ROOMS", default_value_t = 10_000,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..=10_000_000))]
    pub max_rooms: usize,
    /// Seconds a room with nobody connected stays open.
    #[arg(long, env = "PERUDO_IDLE_CLOSE_SECS", default_value_t = defaults().idle_close.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub idle_close_secs: u64,
    /// Seconds a room in which no game has started yet stays open with nobody connected
    /// (rooms created and never played close much sooner than played ones).
    #[arg(long, env = "PERUDO_UNPLAYED_CLOSE_SECS", default_value_t = defaults().unplayed_close.as_secs(),
          value_parser = clap::value_parser!(u64).range(1..=604_800))]
    pub unplayed_close_secs: u64,
    /// Seconds to wait for rooms and sockets to close on shutdown.
    #[arg(long, env = "PERUDO_SHUTDOWN_GRACE_SECS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub shutdown_grace_secs: u64,
    /// Seconds restored rooms wait for their players after a restart before away timers or
    /// turn limits that ran out while the server was down apply.
    #[arg(long, env = "PERUDO_RESTORE_GRACE_SECS", default_value_t = defaults().restore_grace.as_secs(),
          value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub restore_grace_secs: u64,
    /// The Unix socket `perudo admin` talks to (mode 0600; `none`: no admin socket). Unset:
    /// next to the database, `<db>.admin.sock`, or none with `--storage memory`.
    #[arg(long, env = "PERUDO_ADMIN_SOCKET")]
    pub admin_socket: Option<PathBuf>,
    /// How log lines are written: `json` for log collectors in production.
    #[arg(long, env = "PERUDO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub store: StorageArgs,
    #[command(flatten)]
    pub limits: crate::limits::LimitArgs,
}

/// Where and how rooms and finished games are stored.
#[derive(clap::Args, Debug)]
pub struct StorageArgs {
    /// Where rooms are kept.
    #[arg(long, env = "PERUDO_STORAGE", value_enum, default_value_t = StorageKind::Sqlite)]
    pub storage: StorageKind,
    /// The SQLite database file (created on first start).
    #[arg(long, env = "PERUDO_DB", default_value = "perudo.db")]
    pub db: PathBuf,
    /// How hard the database syncs: `normal` survives the process being killed, `full`
    /// also a power cut (an fsync per group commit).
    #[arg(long, env = "PERUDO_DB_SYNC", value_enum, default_value_t = SyncMode::Normal)]
    pub db_sync: SyncMode,
    /// Days a finished game's record is kept (and served) before it is deleted.
    #[arg(long, env = "PERUDO_GAME_RETENTION_DAYS", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub game_retention_days: u32,
    /// Caps the database at this many 4 KiB pages (a quota; writes beyond it fail cleanly).
    #[arg(long, env = "PERUDO_DB_MAX_PAGES",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub db_max_pages: Option<u32>,
    /// A PostgreSQL database to keep rooms in instead of the SQLite file, shared by every
    /// node that runs with the same URL: `postgres://user:password@host/perudo` or
    /// `host=/run/postgresql dbname=perudo`. Unset: the SQLite file (`db`).
    #[arg(long, env = "PERUDO_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Milliseconds a node's lease on a room lasts without being renewed (with
    /// `database-url`): a node that stops renewing loses its rooms after this, and their
    /// writes are refused. Renewed every third of it, in one statement for all rooms.
    #[arg(long, env = "PERUDO_LEASE_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(1_000..=600_000))]
    pub lease_ms: u64,
    /// Most connections this node opens to the PostgreSQL database (with `database-url`).
    #[arg(long, env = "PERUDO_DATABASE_POOL", default_value_t = 16,
          value_parser = RangedU64ValueParser::<usize>::new().range(2..=1000))]
    pub database_pool: usize,
    /// Where the other nodes reach this one (with `database-url`): `http://host:port` on the
    /// nodes' own network. A node that gets a request for a room another node runs (its
    /// WebSocket, its summary) passes it on to that node at this address. Unset: this node's
    /// `listen` address when it is a specific one (not 0.0.0.0 or ::), else nothing, and then
    /// other nodes cannot pass requests on to this one.
    #[arg(long, env = "PERUDO_NODE_URL")]
    pub node_url: Option<String>,
    /// A PEM file of CA certificates the PostgreSQL server's certificate may chain to, besides
    /// the public roots (with `database-url`). TLS to the database is used when the URL says
    /// `sslmode=require` (or `verify-ca`, `verify-full`), and the certificate is then always
    /// verified, host name included; `disable`, `allow` and `prefer` (libpq's default)
    /// connect without TLS. A Unix socket never uses TLS.
    #[arg(long, env = "PERUDO_DATABASE_CA")]
    pub database_ca: Option<PathBuf>,
}

/// The rooms' defaults, written once in `RoomSettings::default`.
fn defaults() -> crate::RoomSettings {
    crate::RoomSettings::default()
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// The help names the record's endpoint whole, braces and all, and the rest of the
    /// sentence after it (`{n}` there was read by clap as a line break: the help printed
    /// `GET /api/rooms/{code}/games/` and nothing after it).
    #[test]
    fn the_help_names_the_record_endpoint_whole() {
        let about = "Check a finished game's record (as served by \
                     `GET /api/rooms/{code}/games/{game}`, games numbered from 1): the seed \
                     against the commitment";
        let mut cli = Cli::command();
        let top = cli.render_help().to_string();
        let top_line = top
            .lines()
            .find(|line| line.trim_start().starts_with("verify"))
            .expect("a verify line");
        assert!(top_line.contains(about), "{top}");
        let verify = cli
            .find_subcommand_mut("verify")
            .expect("a verify command")
            .render_long_help()
            .to_string();
        assert!(verify.contains(about), "{verify}");
    }
}
