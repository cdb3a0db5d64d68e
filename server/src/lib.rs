//! The perudo server: HTTP API, WebSocket endpoint, one actor per room.
//!
//! `main.rs` parses the command line and installs logging; everything else is here so tests
//! can start the real server on `127.0.0.1:0` with [`run`], or drive the [`app`] router.

pub mod admin;
pub mod blocklist;
pub mod check;
pub mod cli;
pub mod config;
pub mod connection;
pub mod ids;
pub mod limits;
pub mod metrics;
pub mod names;
pub mod record;
pub mod room;
pub mod serve;
pub mod store;
pub mod transport;
pub mod version;
pub mod web;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{ConnectInfo, Path, State, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use perudo_protocol::http::{ApiError, CreateRoom, RoomCreated};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

pub use limits::Limits;
pub use room::RoomSettings;
use room::{Room, RoomHandle};
use store::{StorageError, Store};

pub use transport::{WS_MAX_WRITE_BUFFER, WS_READ_BUFFER, WS_WRITE_BUFFER};

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

/// Shared by every request handler.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: ServerConfig,
    /// Room code -> handle. A std mutex: it is never held across an await.
    rooms: Mutex<HashMap<String, RoomHandle>>,
    /// Rooms being created (stored, not yet in `rooms`): they count against `max_rooms`.
    /// Changed only while `rooms` is locked, so the cap is checked and taken at once.
    reserved_rooms: AtomicUsize,
    next_conn: AtomicU64,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    /// The per-IP rate limiters and the open-connection counts.
    guards: Arc<limits::Guards>,
    /// Addresses the operator blocked (`perudo admin block`).
    blocklist: blocklist::Blocklist,
    /// Open WebSocket sessions and rooms' ages, for `perudo admin`.
    sessions: Arc<admin::Sessions>,
}

impl AppState {
    pub fn new(
        mut config: ServerConfig,
        shutdown: CancellationToken,
        tracker: TaskTracker,
    ) -> AppState {
        config.rooms.max_spectators = config.limits.max_spectators;
        AppState {
            inner: Arc::new(Shared {
                guards: limits::Guards::new(config.limits.clone()),
                config,
                rooms: Mutex::new(HashMap::new()),
                reserved_rooms: AtomicUsize::new(0),
                next_conn: AtomicU64::new(1),
                shutdown,
                tracker,
                blocklist: blocklist::Blocklist::new(),
                sessions: Arc::default(),
            }),
        }
    }

    /// The client's IP for a request from `peer` (through the trusted proxies).
    pub fn client_ip(&self, peer: SocketAddr, headers: &HeaderMap) -> std::net::IpAddr {
        self.inner.guards.client_ip(peer, headers)
    }

    pub fn blocklist(&self) -> &blocklist::Blocklist {
        &self.inner.blocklist
    }

    pub fn sessions(&self) -> &admin::Sessions {
        &self.inner.sessions
    }

    /// Every open room's handle, in no particular order.
    pub fn room_handles(&self) -> Vec<RoomHandle> {
        let rooms = self.inner.rooms.lock().expect("room registry lock");
        rooms.values().cloned().collect()
    }

    /// The handle of the room with this code, if it is open.
    pub fn room_handle(&self, code: &str) -> Option<RoomHandle> {
        self.room(code)
    }

    fn room(&self, code: &str) -> Option<RoomHandle> {
        let code = ids::normalize_code(code)?;
        self.inner
            .rooms
            .lock()
            .expect("room registry lock")
            .get(&code)
            .cloned()
    }

    pub fn room_count(&self) -> usize {
        self.inner.rooms.lock().expect("room registry lock").len()
    }

    /// WebSocket connections open now.
    pub fn connection_count(&self) -> usize {
        self.inner.guards.open_connections()
    }

    /// Opens a room with `host_name` in seat 0 and returns its code and the host's token.
    /// With a store, the room is stored before anyone hears of it.
    async fn create_room(
        &self,
        host_name: String,
        rules: perudo_core::GameConfig,
        options: perudo_protocol::RoomOptions,
    ) -> Result<(String, String), ApiFailure> {
        let token = ids::new_token();
        // A place under `max_rooms` is taken before the room is stored and given back if it
        // never opens: checking the count and adding the room only after the commit let
        // concurrent creations overshoot the cap.
        let reservation = self.reserve_room()?;
        let mut attempts = 0;
        let (code, room) = loop {
            let code = self.free_code();
            let mut room = Room::new(
                code.clone(),
                self.inner.config.rooms.clone(),
                rules.clone(),
                options,
                room::Host {
                    name: host_name.clone(),
                    token_hash: ids::hash_token(&token),
                },
                room::Now::system(),
                ids::RoomRng::from_os(),
            );
            let Some(store) = &self.inner.config.store else {
                break (code, room);
            };
            let batch = room.make_durable();
            match store::commit(&**store, batch).await {
                Ok(()) => break (code, room),
                // The code was used by a room that has closed since: draw another.
                Err(StorageError::Conflict) if attempts < 3 => attempts += 1,
                Err(error) => {
                    tracing::warn!(%error, "cannot store a new room");
                    return Err(ApiFailure::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        "storage",
                        format!(
                            "the server cannot save rooms right now ({error}); try again later"
                        ),
                    ));
                }
            }
        };
        let mut rooms = self.inner.rooms.lock().expect("room registry lock");
        // The reservation becomes the room (or is given back) under this lock.
        drop(reservation);
        if rooms.contains_key(&code) {
            // Drawn twice at once, against odds of 2^-43: the caller may simply try again.
            return Err(ApiFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "try again",
            ));
        }
        let handle = self.spawn_room(room);
        rooms.insert(code.clone(), handle);
        Ok((code, token))
    }

    /// Takes one of the `max_rooms` places for a room about to be created.
    fn reserve_room(&self) -> Result<RoomReservation<'_>, ApiFailure> {
        let rooms = self.inner.rooms.lock().expect("room registry lock");
        let reserved = &self.inner.reserved_rooms;
        if rooms.len() + reserved.load(Ordering::Relaxed) >= self.inner.config.max_rooms {
            return Err(ApiFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "too_many_rooms",
                "the server holds as many rooms as it may; try again later",
            ));
        }
        reserved.fetch_add(1, Ordering::Relaxed);
        Ok(RoomReservation { state: self })
    }

    /// A code no open room has.
    fn free_code(&self) -> String {
        let rooms = self.inner.rooms.lock().expect("room registry lock");
        loop {
            let code = ids::new_room_code();
            if !rooms.contains_key(&code) {
                return code;
            }
        }
    }

    fn spawn_room(&self, room: Room) -> RoomHandle {
        let state = self.clone();
        let closed_code = room.code().to_string();
        self.inner.sessions.room_opened(&closed_code);
        room.spawn(
            self.inner.config.store.clone(),
            &self.inner.tracker,
            self.inner.shutdown.clone(),
            move || {
                state
                    .inner
                    .rooms
                    .lock()
                    .expect("room registry lock")
                    .remove(&closed_code);
                state.inner.sessions.room_closed(&closed_code);
            },
        )
    }

    /// Reopens every room the store holds that had not closed. Returns how many.
    pub fn restore_rooms(&self) -> Result<usize, StorageError> {
        let Some(store) = self.inner.config.store.clone() else {
            return Ok(0);
        };
        let images = store.load_rooms()?;
        let now = room::Now::system();
        let grace_until = now.at + self.inner.config.rooms.restore_grace;
        let mut restored = 0;
        for image in images {
            let code = image.code.clone();
            match Room::restore(
                image,
                self.inner.config.rooms.clone(),
                true,
                now,
                Some(grace_until),
                ids::RoomRng::from_os(),
            ) {
                Ok(room) => {
                    let handle = self.spawn_room(room);
                    self.inner
                        .rooms
                        .lock()
                        .expect("room registry lock")
                        .insert(code, handle);
                    restored += 1;
                }
                Err(why) => tracing::error!(room = %code, why, "cannot restore room"),
            }
        }
        metrics::rooms_restored(restored);
        Ok(restored)
    }

    /// `Err(why)` when the server should not get new players: draining or storage failing.
    pub fn readiness(&self) -> Result<(), String> {
        if self.inner.shutdown.is_cancelled() {
            return Err("shutting down".into());
        }
        match &self.inner.config.store {
            Some(store) => store.health(),
            None => Ok(()),
        }
    }
}

/// A place under `max_rooms` held while a room is created.
struct RoomReservation<'a> {
    state: &'a AppState,
}

impl Drop for RoomReservation<'_> {
    fn drop(&mut self) {
        // Taken under the registry lock; given back either under it, in the same critical
        // section that adds the room (so a check never sees the room missing from both), or
        // after a failed creation, when counting one too many for a moment only refuses a
        // creation that could have been let in.
        self.state
            .inner
            .reserved_rooms
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// An HTTP error with a JSON body.
#[derive(Debug)]
pub struct ApiFailure {
    status: StatusCode,
    body: ApiError,
}

impl ApiFailure {
    pub(crate) fn new(status: StatusCode, code: &str, message: impl Into<String>) -> ApiFailure {
        ApiFailure {
            status,
            body: ApiError {
                code: code.into(),
                message: message.into(),
            },
        }
    }

    fn no_room() -> ApiFailure {
        ApiFailure::new(
            StatusCode::NOT_FOUND,
            "no_such_room",
            "no room has that code",
        )
    }
}

impl IntoResponse for ApiFailure {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

/// The Content-Security-Policy of every response: the page loads only its own scripts,
/// styles, images and fonts, talks only to its own origin and WebSocket, and may not be framed.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; \
     font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; \
     form-action 'self'";

/// `Strict-Transport-Security`, sent only when the public URL is `https://`: one year, this
/// host only (other names under the domain are the operator's business).
pub const STRICT_TRANSPORT_SECURITY: &str = "max-age=31536000";

/// The security headers every response carries (also the ones behind a proxy that adds none).
fn security_headers(router: Router, https: bool) -> Router {
    use axum::http::{HeaderValue, header};
    use tower_http::set_header::SetResponseHeaderLayer;
    let router = router
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ));
    if https {
        router.layer(SetResponseHeaderLayer::overriding(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(STRICT_TRANSPORT_SECURITY),
        ))
    } else {
        router
    }
}

/// The HTTP routes.
pub fn app(state: AppState) -> Router {
    let https = state
        .inner
        .config
        .rooms
        .public_url
        .trim()
        .to_ascii_lowercase()
        .starts_with("https://");
    let router = Router::new()
        .route("/", get(web::index))
        .route("/r/{code}", get(web::index))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_page))
        .route("/api/rooms", post(create_room))
        .route("/api/rooms/{code}", get(room_summary))
        .route("/api/rooms/{code}/games/{game}", get(game_record))
        .route("/api/rooms/{code}/ws", get(room_socket))
        .fallback(web::file)
        // Before any route: a blocked address gets 403 (the operator's block list).
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            blocklist::admit,
        ))
        .with_state(state);
    security_headers(router, https)
}

async fn create_room(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Result<Json<CreateRoom>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<RoomCreated>, ApiFailure> {
    let ip = state.inner.guards.client_ip(peer, &headers);
    if !state.inner.guards.may_create_room(ip) {
        info!(%ip, "room creation rate limited");
        metrics::rate_limited("rooms_per_ip_rate");
        return Err(ApiFailure::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!(
                "at most {} new rooms a minute from one address; try again in a minute",
                state.inner.config.limits.rooms_per_ip_per_min
            ),
        ));
    }
    let Json(body) =
        body.map_err(|e| ApiFailure::new(StatusCode::BAD_REQUEST, "bad_request", e.body_text()))?;
    let name = room::validate_name(&body.name)
        .map_err(|m| ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, "name_invalid", m))?;
    body.rules.validate().map_err(|e| {
        ApiFailure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rules",
            e.to_string(),
        )
    })?;
    body.options
        .validate()
        .map_err(|m| ApiFailure::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_options", m))?;
    let (code, token) = state.create_room(name, body.rules, body.options).await?;
    info!(room = %code, "room created");
    let url = format!(
        "{}/r/{code}",
        state.inner.config.rooms.public_url.trim_end_matches('/')
    );
    Ok(Json(RoomCreated { code, url, token }))
}

async fn room_summary(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> Result<Json<perudo_protocol::http::RoomSummary>, ApiFailure> {
    let room = state.room(&code).ok_or_else(ApiFailure::no_room)?;
    let mut summary = room.summary().await.ok_or_else(ApiFailure::no_room)?;
    summary.share_url = state
        .inner
        .config
        .share_base_url
        .as_deref()
        .map(|base| format!("{}/r/{}", base.trim_end_matches('/'), summary.code));
    Ok(Json(summary))
}

/// The metrics in Prometheus text format (docs/OPERATIONS.md lists them).
async fn metrics_page() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(),
    )
}

async fn readyz(State(state): State<AppState>) -> Result<&'static str, ApiFailure> {
    state
        .readiness()
        .map(|()| "ready")
        .map_err(|why| ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why))
}

/// A finished game's full record (seed, moves, results), for anyone to verify.
async fn game_record(
    State(state): State<AppState>,
    Path((code, game)): Path<(String, u32)>,
) -> Result<Json<record::GameRecord>, ApiFailure> {
    let not_found = || {
        ApiFailure::new(
            StatusCode::NOT_FOUND,
            "no_such_game",
            "no finished game with that number in that room (records exist once a game is over, and only with storage on)",
        )
    };
    let code = ids::normalize_code(&code).ok_or_else(not_found)?;
    let Some(store) = state.inner.config.store.clone() else {
        return Err(not_found());
    };
    let found = tokio::task::spawn_blocking(move || store.game_record(&code, game))
        .await
        .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string()))?;
    found.map(Json).ok_or_else(not_found)
}

async fn room_socket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(code): Path<String>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiFailure> {
    let guards = &state.inner.guards;
    if !guards.origin_allowed(&headers) {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this server does not accept WebSocket connections from that origin",
        ));
    }
    let ip = guards.client_ip(peer, &headers);
    let refused = |why: limits::Refused| {
        let limits = &state.inner.config.limits;
        metrics::rate_limited(match why {
            limits::Refused::RateLimited => "connections_per_ip_rate",
            limits::Refused::TooManyFromIp => "connections_per_ip",
            limits::Refused::ServerFull => "connections_total",
        });
        match why {
            limits::Refused::RateLimited => ApiFailure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!(
                    "at most {} new connections a minute from one address; try again shortly",
                    limits.connects_per_ip_per_min
                ),
            ),
            limits::Refused::TooManyFromIp => ApiFailure::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_connections",
                format!(
                    "at most {} open connections from one address",
                    limits.max_connections_per_ip
                ),
            ),
            limits::Refused::ServerFull => ApiFailure::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_full",
                "the server holds as many connections as it may; try again later",
            ),
        }
    };
    if let Err(why) = guards.may_connect(ip) {
        info!(%ip, "new connection rate limited");
        return Err(refused(why));
    }
    let room = state.room(&code).ok_or_else(ApiFailure::no_room)?;
    let slot = guards.open(ip).map_err(|why| {
        info!(%ip, ?why, "connection refused");
        refused(why)
    })?;
    let conn = state.inner.next_conn.fetch_add(1, Ordering::Relaxed);
    let shutdown = state.inner.shutdown.clone();
    let tracker = state.inner.tracker.clone();
    let per_connection = state.inner.config.limits.per_connection();
    let sessions = state.inner.sessions.clone();
    Ok(transport::configure(ws).on_upgrade(move |socket| {
        let span = tracing::info_span!("conn", room = %room.code, conn);
        // Listed by `perudo admin connections` while open; its token ends the connection
        // when the server shuts down or the operator blocks its address.
        let session = sessions.open(conn, ip, &room.code, &shutdown);
        tracker.track_future(tracing::Instrument::instrument(
            async move {
                // The connection's place under the caps, given back when it ends.
                let _slot = slot;
                let stop = session.stop();
                connection::serve(socket, room, conn, ip, stop, per_connection).await;
                drop(session);
            },
            span,
        ))
    }))
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
        .map_err(|why| std::io::Error::new(std::io::ErrorKind::InvalidInput, why))?;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use super::*;

    /// Readiness as the handler answers it: a load balancer stops sending players to a
    /// server that cannot save or is draining. (Over TCP the draining case is brief: the
    /// listener closes as soon as shutdown starts, so only kept-alive connections see it.)
    #[tokio::test]
    async fn readyz_is_503_while_storage_fails_and_while_draining() {
        let store = Arc::new(store::MemoryStore::new());
        let shutdown = CancellationToken::new();
        let state = AppState::new(
            ServerConfig {
                store: Some(store.clone()),
                ..ServerConfig::default()
            },
            shutdown.clone(),
            TaskTracker::new(),
        );
        assert_eq!(readyz(State(state.clone())).await.ok(), Some("ready"));

        store.fail.store(true, Ordering::Relaxed);
        let failure = readyz(State(state.clone())).await.expect_err("not ready");
        assert_eq!(failure.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(failure.body.code, "not_ready");
        store.fail.store(false, Ordering::Relaxed);
        assert_eq!(readyz(State(state.clone())).await.ok(), Some("ready"));

        shutdown.cancel();
        let failure = readyz(State(state)).await.expect_err("draining");
        assert_eq!(failure.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(failure.body.code, "not_ready");
        assert_eq!(failure.body.message, "shutting down");
    }
}
