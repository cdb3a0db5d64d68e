//! The node-to-node hop: a request for a room another node runs is passed on to that node,
//! at the address it advertised (`--node-url`, in the `nodes` table), and its answer comes
//! back the same way. So any node answers any room, and neither the proxy nor the client
//! needs to know which node runs it.
//!
//! - **WebSocket**: the client's upgrade request goes to the owner as it came (its
//!   `Sec-WebSocket-*` headers, its `Origin`, `X-Forwarded-For` with this node's peer added).
//!   If the owner answers `101`, both connections are upgraded and their bytes copied both
//!   ways untouched (`copy_bidirectional`): the owner runs the WebSocket end to end (its
//!   pings, its idle deadline, its close codes reach the browser), and this node only holds
//!   two sockets. If the owner refuses (`404`, `429`, ...), its answer is the client's.
//! - **Room summary**: a plain GET, the owner's answer relayed.
//!
//! A passed-on request carries [`HOP_HEADER`]; a node never passes such a request on again,
//! so a room moving at that moment costs a retry, never a loop.

use std::time::Duration;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info};

use crate::routes::ApiFailure;

/// Marks a request one node passed on to another.
pub const HOP_HEADER: &str = "x-perudo-hop";

/// How long the owner has to accept the connection and answer the request head.
const HOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Most bytes of an owner's refusal relayed (they are small JSON errors).
const MAX_RELAYED_BODY: usize = 64 * 1024;

/// Headers that belong to one connection, not to the request: not passed on, except the two
/// a WebSocket upgrade needs (re-added for it).
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "host",
    HOP_HEADER,
];

/// Whether this request was passed on by another node already.
pub fn is_hop(headers: &HeaderMap) -> bool {
    headers.contains_key(HOP_HEADER)
}

fn unreachable(node: &str, why: impl std::fmt::Display) -> ApiFailure {
    info!(%node, %why, "cannot reach the room's node");
    ApiFailure::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "room_moving",
        "the server that runs this room does not answer; try again in a moment",
    )
}

/// The headers of the request as passed on: the end-to-end ones, `X-Forwarded-For` with
/// `peer` appended (as a proxy does, so the owner finds the client's address when it trusts
/// this node), and the hop mark.
fn forwarded_headers(headers: &HeaderMap, peer: std::net::IpAddr) -> HeaderMap {
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if HOP_BY_HOP.contains(&name.as_str()) || name == "x-forwarded-for" {
            continue;
        }
        out.append(name.clone(), value.clone());
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .chain(std::iter::once(peer.to_string().as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    if let Ok(value) = HeaderValue::from_str(&forwarded) {
        out.insert(HeaderName::from_static("x-forwarded-for"), value);
    }
    out.insert(
        HeaderName::from_static(HOP_HEADER),
        HeaderValue::from_static("1"),
    );
    out
}

/// Opens an HTTP/1.1 connection to `base` (`http://host:port`) and sends `request` on it.
async fn send(
    base: &str,
    request: Request<Body>,
) -> Result<Response<hyper::body::Incoming>, String> {
    let url = reqwest::Url::parse(base).map_err(|e| e.to_string())?;
    let host = url.host_str().ok_or("no host")?.to_string();
    let port = url.port_or_known_default().unwrap_or(80);
    let exchange = async {
        let stream = tokio::net::TcpStream::connect((host.as_str(), port))
            .await
            .map_err(|e| e.to_string())?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Body>(TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(async move {
            if let Err(e) = connection.with_upgrades().await {
                debug!("node hop connection ended: {e}");
            }
        });
        sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())
    };
    tokio::time::timeout(HOP_TIMEOUT, exchange)
        .await
        .map_err(|_| "timed out".to_string())?
}

/// The owner's refusal (or any answer that is not an upgrade), as this node's answer.
async fn relay(response: Response<hyper::body::Incoming>) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(Body::new(body), MAX_RELAYED_BODY)
        .await
        .unwrap_or_default();
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = parts.status;
    if let Some(kind) = parts.headers.get(header::CONTENT_TYPE) {
        out.headers_mut().insert(header::CONTENT_TYPE, kind.clone());
    }
    if let Some(after) = parts.headers.get(header::RETRY_AFTER) {
        out.headers_mut().insert(header::RETRY_AFTER, after.clone());
    }
    out
}

/// What became of a WebSocket passed on to the room's node.
#[derive(Debug)]
pub enum Passed<T, R> {
    /// The owner answered: its answer is the client's (`101` with the bytes copied both
    /// ways from now on, or its refusal).
    Answered(Response<Body>),
    /// The owner said nothing while the room moved (its lease ran out: the owner is paused
    /// or cut off) to `to`, this node or another: the request back, to be served there.
    Moved { to: R, parts: Parts, slot: T },
}

/// Passes a room's WebSocket upgrade on to the node that runs the room, at `base`, and, once
/// both sides are upgraded, copies the bytes both ways until either side ends or `stop` is
/// cancelled (this node shuts down). `slot` is held for as long as the connection lasts.
///
/// `moved` resolves if the room moves meanwhile. A paused owner accepts the connection (its
/// kernel does) and answers nothing: rather than wait out [`HOP_TIMEOUT`] and fail, the
/// request goes where the room is as soon as the owner's lease has run out.
#[allow(clippy::too_many_arguments)]
pub async fn pass_socket<T: Send + 'static, R>(
    node: &str,
    base: &str,
    mut parts: Parts,
    peer: std::net::IpAddr,
    tracker: &TaskTracker,
    stop: CancellationToken,
    slot: T,
    moved: impl Future<Output = R>,
) -> Result<Passed<T, R>, ApiFailure> {
    let Some(client_side) = parts.extensions.remove::<hyper::upgrade::OnUpgrade>() else {
        return Err(ApiFailure::new(
            StatusCode::UPGRADE_REQUIRED,
            "not_websocket",
            "this connection cannot be upgraded to a WebSocket",
        ));
    };
    let mut request = forwarded_get(node, base, &parts, peer)?;
    let headers = request.headers_mut();
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    let mut response = tokio::select! {
        sent = send(base, request) => sent.map_err(|why| unreachable(node, why))?,
        to = moved => {
            info!(%node, "the room moved while its node did not answer");
            parts.extensions.insert(client_side);
            return Ok(Passed::Moved { to, parts, slot });
        }
    };
    if response.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Ok(Passed::Answered(relay(response).await));
    }
    let owner_side = hyper::upgrade::on(&mut response);
    let mut answer = Response::new(Body::empty());
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for name in [
        header::CONNECTION,
        header::UPGRADE,
        header::SEC_WEBSOCKET_ACCEPT,
        header::SEC_WEBSOCKET_PROTOCOL,
        header::SEC_WEBSOCKET_EXTENSIONS,
    ] {
        if let Some(value) = response.headers().get(&name) {
            answer.headers_mut().insert(name, value.clone());
        }
    }
    let node = node.to_string();
    tracker.spawn(async move {
        let _slot = slot;
        let (client, owner) = match tokio::join!(client_side, owner_side) {
            (Ok(client), Ok(owner)) => (client, owner),
            (Err(e), _) | (_, Err(e)) => {
                debug!(%node, "a passed-on WebSocket did not upgrade: {e}");
                return;
            }
        };
        let mut client = TokioIo::new(client);
        let mut owner = TokioIo::new(owner);
        tokio::select! {
            copied = tokio::io::copy_bidirectional(&mut client, &mut owner) => {
                if let Err(e) = copied {
                    debug!(%node, "a passed-on WebSocket ended: {e}");
                }
            }
            () = stop.cancelled() => {}
        }
    });
    Ok(Passed::Answered(answer))
}

/// The GET that passes `parts` on to the node at `base`: the same path and query, the
/// forwarded headers, and the owner's host.
fn forwarded_get(
    node: &str,
    base: &str,
    parts: &Parts,
    peer: std::net::IpAddr,
) -> Result<Request<Body>, ApiFailure> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let mut request = Request::get(path)
        .body(Body::empty())
        .map_err(|e| unreachable(node, e))?;
    *request.headers_mut() = forwarded_headers(&parts.headers, peer);
    if let Ok(host) = HeaderValue::from_str(base.trim_start_matches("http://")) {
        request.headers_mut().insert(header::HOST, host);
    }
    Ok(request)
}

/// Passes a GET for a room (its summary) on to the node that runs it and relays its answer.
pub async fn pass_get(
    node: &str,
    base: &str,
    parts: &Parts,
    peer: std::net::IpAddr,
) -> Result<Response<Body>, ApiFailure> {
    let mut request = forwarded_get(node, base, parts, peer)?;
    if let Ok(host) = HeaderValue::from_str(base.trim_start_matches("http://")) {
        request.headers_mut().insert(header::HOST, host);
    }
    let response = send(base, request)
        .await
        .map_err(|why| unreachable(node, why))?;
    Ok(relay(response).await)
}
