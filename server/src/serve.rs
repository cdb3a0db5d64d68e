//! The HTTP/1.1 accept loop: hyper's connection builder with the limits `axum::serve` does
//! not set, so that a client cannot hold memory by sending request heads slowly or huge.
//!
//! - the whole request head must arrive within [`HEADER_READ_TIMEOUT`] (hyper's
//!   `header_read_timeout`, which needs a timer: `axum::serve` sets none, so it never fired);
//! - a connection buffers at most [`MAX_HEAD_BYTES`] (hyper's `max_buf_size`, ~400 KiB by
//!   default): a longer head is answered `431` and the connection closed;
//! - the listener ([`crate::limits::IdleListener`]) caps TCP connections per client before
//!   anything is read, and drops connections silent for longer than the idle timeout.
//!
//! WebSocket upgrades pass (`with_upgrades`); the client's address reaches the handlers as
//! axum's `ConnectInfo<SocketAddr>`. On shutdown each connection finishes its request and
//! closes (`graceful_shutdown`), and [`serve`] returns once they all have (or `grace` passed).

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use crate::limits::IdleListener;

/// How long a client has to send a whole request head (request line and headers).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Most bytes a connection buffers while reading a request head (hyper's minimum is 8 KiB).
/// Browsers send 1 to 3 KiB.
pub const MAX_HEAD_BYTES: usize = 16 * 1024;

/// Serves `router` on `listener` until `shutdown` is cancelled, then waits for the open HTTP
/// connections to finish their requests, at most `grace`.
pub async fn serve(
    mut listener: IdleListener,
    router: Router,
    shutdown: CancellationToken,
    grace: Duration,
) {
    let connections = TaskTracker::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEAD_BYTES);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = shutdown.cancelled() => break,
        };
        // Small frames go out at once: with Nagle's algorithm a move's update could wait for
        // the peer's delayed ACK (about 40 ms on Linux).
        if let Err(e) = io.tcp().set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {e}");
        }
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request
                .extensions_mut()
                .insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request)
        });
        let connection = http
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::trace!(%peer, "connection ended: {error}");
                    }
                    return;
                }
                () = shutdown.cancelled() => {}
            }
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        });
    }
    drop(listener);
    connections.close();
    if tokio::time::timeout(grace, connections.wait())
        .await
        .is_err()
    {
        tracing::warn!("some HTTP connections did not finish within the grace period");
    }
}
