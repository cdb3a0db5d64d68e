//! The HTTP routes: the JSON API (create a room, its summary, a game's record), the game's
//! WebSocket upgrade, health, readiness and metrics, the embedded web client, and the
//! security headers every response carries.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use axum::extract::{ConnectInfo, FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use perudo_protocol::http::{ApiError, CreateRoom, RoomCreated};
use tracing::info;

use crate::{blocklist, connection, hop, limits, metrics, record, transport, web};

use crate::registry::{AppState, Found};
use perudo_protocol::RoomCode;

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

    /// A room another node runs, when this node cannot pass the request on to it: that
    /// node gave no address (`--node-url`), or the request was passed on already (the room
    /// is moving: a retry finds it).
    fn elsewhere(node: &str) -> ApiFailure {
        info!(%node, "a request for a room another node runs, not passed on");
        ApiFailure::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "room_moving",
            "the room is moving between servers; try again in a moment",
        )
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

/// axum's `Path`, refused with the API's JSON error (`400 bad_request`) rather than axum's
/// `text/plain` one: `/api/rooms/X/games/abc`, or a path that is not valid UTF-8 once
/// percent-decoded.
#[derive(Debug)]
pub struct ApiPath<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiFailure;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiFailure> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiFailure::new(
                StatusCode::BAD_REQUEST,
                "bad_request",
                rejection.body_text(),
            )),
        }
    }
}

/// What an `/api/...` path no route serves answers: the API's JSON `404 not_found` (any
/// method), not the web client's empty 404.
pub(crate) fn api_not_found() -> ApiFailure {
    ApiFailure::new(StatusCode::NOT_FOUND, "not_found", "no such API endpoint")
}

/// A method an API route does not serve (e.g. `POST /api/rooms/{code}`), as JSON.
async fn api_method_not_allowed() -> ApiFailure {
    ApiFailure::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this API endpoint does not serve that method",
    )
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
        .route(
            "/api/rooms",
            post(create_room).fallback(api_method_not_allowed),
        )
        .route(
            "/api/rooms/{code}",
            get(room_summary).fallback(api_method_not_allowed),
        )
        .route(
            "/api/rooms/{code}/games/{game}",
            get(game_record).fallback(api_method_not_allowed),
        )
        .route(
            "/api/rooms/{code}/ws",
            get(room_socket).fallback(api_method_not_allowed),
        )
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
    let name = perudo_protocol::PlayerName::new(&body.name).map_err(|e| {
        ApiFailure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "name_invalid",
            e.to_string(),
        )
    })?;
    let rules = perudo_core::Rules::new(body.rules).map_err(|e| {
        ApiFailure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_rules",
            e.to_string(),
        )
    })?;
    body.options.validate().map_err(|e| {
        ApiFailure::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_options",
            e.to_string(),
        )
    })?;
    let (code, token) = state.create_room(name, rules, body.options).await?;
    info!(room = %code, "room created");
    let url = format!(
        "{}/r/{code}",
        state.inner.config.rooms.public_url.trim_end_matches('/')
    );
    Ok(Json(RoomCreated { code, url, token }))
}

async fn room_summary(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiPath(code): ApiPath<String>,
    request: axum::extract::Request,
) -> Result<Response, ApiFailure> {
    let (parts, _body) = request.into_parts();
    let room = match state.find_room(&code).await? {
        Found::Here(room) => room,
        Found::Elsewhere {
            node,
            url: Some(url),
        } if !hop::is_hop(&parts.headers) => {
            return hop::pass_get(&node, &url, &parts, peer.ip()).await;
        }
        Found::Elsewhere { node, .. } => return Err(ApiFailure::elsewhere(&node)),
    };
    let mut summary = room.summary().await.ok_or_else(ApiFailure::no_room)?;
    summary.share_url = state
        .inner
        .config
        .share_base_url
        .as_deref()
        .map(|base| format!("{}/r/{}", base.trim_end_matches('/'), summary.code));
    Ok(Json(summary).into_response())
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
        .map_err(|e| ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", e.to_string()))
}

/// A finished game's full record (seed, moves, results), for anyone to verify.
async fn game_record(
    State(state): State<AppState>,
    ApiPath((code, game)): ApiPath<(String, u32)>,
) -> Result<Json<record::GameRecord>, ApiFailure> {
    let not_found = || {
        ApiFailure::new(
            StatusCode::NOT_FOUND,
            "no_such_game",
            "no finished game with that number in that room (records exist once a game is over, and only with storage on)",
        )
    };
    let code = RoomCode::parse(&code).map_err(|_| not_found())?;
    let Some(store) = state.inner.config.store.clone() else {
        return Err(not_found());
    };
    let found = tokio::task::spawn_blocking(move || store.game_record(code.as_str(), game))
        .await
        .map_err(|e| ApiFailure::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(|e| ApiFailure::new(StatusCode::SERVICE_UNAVAILABLE, "storage", e.to_string()))?;
    found.map(Json).ok_or_else(not_found)
}

/// How often a socket waiting for the room's node checks whether the room has moved.
const RETAKE_EVERY: std::time::Duration = std::time::Duration::from_millis(250);
/// How many times one socket follows its room to another node while being passed on.
const MAX_MOVES_WHILE_PASSING: u32 = 3;

/// Resolves once the room is no longer `node`'s: taken by this node (its lease ran out), or
/// found on another node. Checked every [`RETAKE_EVERY`], while a socket waits for `node`.
async fn room_moved(state: AppState, code: String, node: String) -> Found {
    loop {
        tokio::time::sleep(RETAKE_EVERY).await;
        match state.find_room(&code).await {
            Ok(Found::Elsewhere { node: now, .. }) if now == node => {}
            Ok(found) => return found,
            Err(_) => {}
        }
    }
}

async fn room_socket(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    ApiPath(code): ApiPath<String>,
    request: axum::extract::Request,
) -> Result<Response, ApiFailure> {
    let (parts, _body) = request.into_parts();
    let headers = parts.headers.clone();
    let guards = &state.inner.guards;
    if !guards.origin_allowed(&headers) {
        return Err(ApiFailure::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this server does not accept WebSocket connections from that origin",
        ));
    }
    // Not a WebSocket upgrade (a plain GET, a wrong version): the API's JSON error, with
    // the status for it (400, 405 or 426). The connection's upgrade handle stays in `parts`:
    // the request may yet be passed on to the room's node.
    let not_websocket = |why: transport::NotWebSocket| {
        ApiFailure::new(why.status(), "not_websocket", why.message())
    };
    transport::check(&parts).map_err(not_websocket)?;
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
    let found = state.find_room(&code).await?;
    let slot = guards.open(ip).map_err(|why| {
        info!(%ip, ?why, "connection refused");
        refused(why)
    })?;
    // Another node runs the room: the socket goes on to it (`hop.rs`), unless the room moves
    // while that node does not answer (a few times at most).
    let (mut found, mut parts, mut slot) = (found, parts, slot);
    let mut moves = 0;
    let room = loop {
        match found {
            Found::Here(room) => break room,
            Found::Elsewhere {
                node,
                url: Some(url),
            } if !hop::is_hop(&headers) && moves < MAX_MOVES_WHILE_PASSING => {
                let moved = room_moved(state.clone(), code.clone(), node.clone());
                match hop::pass_socket(
                    &node,
                    &url,
                    parts,
                    peer.ip(),
                    &state.inner.tracker,
                    state.inner.shutdown.clone(),
                    slot,
                    moved,
                )
                .await?
                {
                    hop::Passed::Answered(response) => return Ok(response),
                    hop::Passed::Moved {
                        to,
                        parts: p,
                        slot: s,
                    } => {
                        (found, parts, slot) = (to, p, s);
                        moves += 1;
                    }
                }
            }
            Found::Elsewhere { node, .. } => return Err(ApiFailure::elsewhere(&node)),
        }
    };
    let mut parts = parts;
    let ws = transport::Upgrade::take(&mut parts).map_err(not_websocket)?;
    let conn = state.inner.next_conn.fetch_add(1, Ordering::Relaxed);
    let shutdown = state.inner.shutdown.clone();
    let tracker = state.inner.tracker.clone();
    let per_connection = state.inner.config.limits.per_connection();
    let sessions = state.inner.sessions.clone();
    Ok(ws.on_upgrade(move |socket| {
        let span = tracing::info_span!("conn", room = %room.code, conn);
        // Listed by `perudo admin connections` while open; its token ends the connection
        // when the server shuts down or the operator blocks its address.
        let session = sessions.open(conn, ip, room.code.as_str(), &shutdown);
        let stop = session.stop();
        // The socket moves to the heap here, and the connection gets a task of its own:
        // axum's upgrade task ends at once, and the connection's task holds a pointer to
        // the socket rather than the socket (its future is the connection's memory for as
        // long as it is open).
        let socket = transport::open(socket, per_connection.ping_interval);
        let mut connection =
            connection::Connection::new(socket, room, conn, ip, stop, per_connection);
        tracker.spawn(tracing::Instrument::instrument(
            async move {
                // The connection's place under the caps and its session entry, given back
                // when it ends (mentioned, not moved: moving would hold them twice).
                let _ = (&slot, &session);
                connection.serve().await;
            },
            span,
        ));
        std::future::ready(())
    }))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::Ordering;

    use tokio_util::sync::CancellationToken;
    use tokio_util::task::TaskTracker;

    use super::*;
    use crate::{ServerConfig, store};

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
