//! The perudo server: HTTP API, WebSocket endpoint, one actor per room.
//!
//! `main.rs` parses the command line and installs logging; this file holds `ServerConfig` and
//! [`run`] (serve until cancelled, then close every room and socket), so tests can start the
//! real server on `127.0.0.1:0`, or drive the [`app`] router. The registry of rooms is
//! `registry.rs`, the HTTP routes `routes.rs`.

pub mod admin;
pub mod blocklist;
pub mod check;
pub mod cli;
mod cluster;
pub mod config;
pub mod connection;
pub mod hop;
pub mod ids;
pub mod limits;
pub mod metrics;
/// Display names live in the protocol crate (`PlayerName`); re-exported for the server.
pub use perudo_protocol::names;
pub mod record;
pub mod registry;
pub mod room;
pub mod routes;
pub mod serve;
pub mod store;
pub mod transport;
pub mod version;
pub mod web;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub use limits::Limits;
pub use registry::{AppState, NotReady};
pub use room::RoomSettings;
pub use routes::{ApiFailure, CONTENT_SECURITY_POLICY, STRICT_TRANSPORT_SECURITY, app};
use store::Store;

pub use transport::{WS_MAX_WRITE_BUFFER, WS_READ_BUFFER};

/// How often the per-IP rate limiters drop the addresses that have gone quiet.
const IP_FORGET_INTERVAL: Duration = Duration::from_secs(60);

/// Everything the server can be told at start.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub rooms: RoomSettings,
    /// Most rooms open at once.
    pub max_rooms: usize,
    /// Where rooms are kept so that they survive a restart; `None`: in memory only.
    pub store: Option<Arc<dyn Store>>,
    /// What clients may do (rates, caps, heartbeats, origins). Its `max_spectators` is the
    /// rooms' (it replaces `rooms.max_spectators`).
    pub limits: Limits,
    /// Where `perudo admin` reaches this server (a Unix socket, mode 0600); `None`: nowhere.
    pub admin_socket: Option<std::path::PathBuf>,
    /// The operator's `--public-url` (no trailing slash) when one was given: the room summary
    /// hands the web client its share link at this address. (`rooms.public_url` falls back
    /// to the bound address, which is no address to share behind a proxy.)
    pub share_base_url: Option<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            rooms: RoomSettings::default(),
            max_rooms: 10_000,
            store: None,
            limits: Limits::default(),
            admin_socket: None,
            share_base_url: None,
        }
    }
}

/// Serves on `listener` until `shutdown` is cancelled, then closes every room and socket
/// (with the "service restart" close code) and waits for them, at most `grace`.
pub async fn run(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    metrics::install();
    let tracker = TaskTracker::new();
    let store = config.store.clone();
    config
        .limits
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let idle_timeout = config.limits.idle_timeout;
    metrics::caps(config.limits.max_connections, config.max_rooms);
    let http_grace = grace;
    let admin_socket = match &config.admin_socket {
        Some(path) => Some(admin::bind(path).await.map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot open the admin socket {}: {e} (--admin-socket, PERUDO_ADMIN_SOCKET, \
                     names another path, or none)",
                    path.display()
                ),
            )
        })?),
        None => None,
    };
    let state = AppState::new(config, shutdown.clone(), tracker.clone());
    let restored = state.restore_rooms().map_err(std::io::Error::other)?;
    if store.is_some() {
        info!(rooms = restored, "restored rooms from storage");
    }
    let addr: SocketAddr = listener.local_addr()?;
    info!(%addr, "listening");
    if !web::CLIENT_BUILT {
        tracing::warn!(
            "built without the web client (web-client/dist was missing): / serves a page saying how to build it"
        );
    }
    let signal = shutdown.clone();
    // `perudo admin`; the socket file goes when this task ends.
    let admin_task = admin_socket
        .map(|socket| tokio::spawn(admin::serve(socket, state.clone(), shutdown.clone())));
    // Several nodes on one database: renew this node's leases, drop the rooms it lost, take
    // over the rooms of nodes that died.
    if let Some(store) = &store
        && let Some(node) = store.cluster()
    {
        info!(node = %node.node, "a node of a cluster");
        if let Some(every) = node.renew_every {
            tokio::spawn(cluster::keep_leases(
                state.clone(),
                store.clone(),
                every,
                shutdown.clone(),
            ));
        }
    }
    // The per-IP rate limiters forget addresses that have gone quiet.
    let guards = state.inner.guards.clone();
    let forget = shutdown.clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(IP_FORGET_INTERVAL);
        loop {
            tokio::select! {
                _ = every.tick() => guards.forget_quiet_ips(),
                () = forget.cancelled() => break,
            }
        }
    });
    // Connections beyond `max_tcp_per_ip` from one client are closed before anything is read.
    let listener =
        transport::idle_listener(listener, idle_timeout).with_tcp_caps(state.inner.guards.clone());
    serve::serve(listener, app(state), signal, http_grace).await;
    if let Some(task) = admin_task {
        let _ = task.await;
    }
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        tracing::warn!("some rooms or sockets did not finish within the grace period");
    }
    if let Some(store) = store {
        // Commit what is queued; the rooms' tasks have ended or been given up on.
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
    }
    info!("stopped");
    Ok(())
}
