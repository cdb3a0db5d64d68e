//! The WebSocket transport every socket runs on: the game's (`connection.rs`) and the fan-out
//! benchmark's (`perudo-bench fanout-server`), so that the benchmark measures exactly this.
//!
//! - the accept loop is `crate::serve::serve` on a `crate::limits::IdleListener` (header
//!   limits, `TCP_NODELAY`, idle TCP connections dropped), for both as well;
//! - `configure`: the socket's settings (message size caps, small read buffer, bounded write
//!   buffer);
//! - `spawn_writer`: the writer task, which drains the connection's bounded outbox, writes
//!   every frame already queued with one flush, pings every `ping_interval`, and sends a close
//!   frame when told to;
//! - `Silence`: the reader's idle deadline (nothing, not even a pong, for `idle_timeout`);
//! - `finish`: how long the writer may still flush once the reader has ended.

use std::time::Duration;

use axum::extract::WebSocketUpgrade;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use futures_util::SinkExt;
use futures_util::stream::SplitSink;
use perudo_protocol::MAX_WS_MESSAGE;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::limits::IdleListener;

/// Read buffer per WebSocket connection.
pub const WS_READ_BUFFER: usize = 1024;
/// Frames a connection's writer gathers before writing (it flushes after each batch anyway).
pub const WS_WRITE_BUFFER: usize = 4 * 1024;
/// Most a connection's WebSocket write buffer may hold when writes fail.
pub const WS_MAX_WRITE_BUFFER: usize = 256 * 1024;

/// Frames a connection may have queued before the room gives up on it.
pub const OUTBOX_CAPACITY: usize = 64;

/// How long a connection's writer may take to flush what is queued after its reader ended.
pub const WRITER_GRACE: Duration = Duration::from_secs(2);

/// Frames a room sends to a connection's writer.
#[derive(Clone, Debug)]
pub enum Frame {
    Data(Bytes),
    /// Send a close frame with this code and reason, then stop.
    Close {
        code: u16,
        reason: &'static str,
    },
}

/// A connection's bounded outbox.
pub type Outbox = mpsc::Sender<Frame>;

/// The settings of every WebSocket the server accepts.
pub fn configure(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade
        // Frames up to MAX_WS_MESSAGE reach the decoder, which answers oversized requests
        // with a typed TooLarge; beyond that the WebSocket layer closes the socket.
        .max_message_size(MAX_WS_MESSAGE)
        .max_frame_size(MAX_WS_MESSAGE)
        // Perudo frames are tiny: tungstenite's 128 KiB default read buffer was most of a
        // connection's memory. Larger messages (up to MAX_WS_MESSAGE) still grow it as needed.
        .read_buffer_size(WS_READ_BUFFER)
        // The writer flushes after each batch of queued frames; below this they are
        // gathered into one write.
        .write_buffer_size(WS_WRITE_BUFFER)
        // Bounds what a socket that fails to write can hold (the outbox bounds the rest).
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
}

/// The listener every server here runs on (`crate::serve::serve` accepts from it and sets
/// `TCP_NODELAY`): a TCP connection that sends nothing (no request, or a WebSocket without
/// pongs) for half as long again as `idle_timeout` is dropped. The WebSocket reader's own
/// timeout (`Silence`) comes first and says why (`Closing { IdleTimeout }`); this one catches
/// the rest.
pub fn idle_listener(listener: tokio::net::TcpListener, idle_timeout: Duration) -> IdleListener {
    IdleListener::new(listener, idle_timeout + idle_timeout / 2)
}

/// The next tick of the ping interval, or never without one.
async fn next_ping(ping: &mut Option<Interval>) {
    match ping {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Starts the writer of one socket: it drains `rx` until the outbox closes, `close` is
/// cancelled (after the frames already queued: a goodbye and its close frame go out first),
/// a write fails, or a `Frame::Close` is written. `ping_interval` zero: no pings.
pub fn spawn_writer(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Frame>,
    close: CancellationToken,
    ping_interval: Duration,
) -> JoinHandle<()> {
    let mut ping = (!ping_interval.is_zero()).then(|| {
        let mut interval = tokio::time::interval_at(Instant::now() + ping_interval, ping_interval);
        interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
        interval
    });
    tokio::spawn(async move {
        loop {
            // Biased: frames already queued (a goodbye and its close frame) go out before
            // the close signal is honoured.
            let first = tokio::select! {
                biased;
                frame = rx.recv() => frame,
                () = close.cancelled() => None,
                () = next_ping(&mut ping) => {
                    if sink.send(Message::Ping(Bytes::new())).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            let Some(first) = first else {
                let _ = sink.close().await;
                break;
            };
            // Everything already queued goes out with one flush: a move usually queues an
            // update, this seat's private view and an ack together.
            let mut next = Some(first);
            let mut closing = None;
            let mut result = Ok(());
            while let Some(frame) = next.take() {
                match frame {
                    Frame::Data(bytes) => {
                        result = sink.feed(Message::Binary(bytes)).await;
                        if result.is_err() {
                            break;
                        }
                    }
                    Frame::Close { code, reason } => {
                        closing = Some(CloseFrame {
                            code,
                            reason: reason.into(),
                        });
                        break;
                    }
                }
                next = rx.try_recv().ok();
            }
            if result.is_ok() {
                result = sink.flush().await;
            }
            if let Some(frame) = closing {
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
            if result.is_err() {
                break;
            }
        }
    })
}

/// The reader's idle deadline: a socket from which nothing (not even a pong) arrived for
/// `idle` is closed. Zero: never.
#[derive(Debug)]
pub struct Silence {
    idle: Duration,
    until: Instant,
}

impl Silence {
    pub fn new(idle: Duration) -> Silence {
        // Without an idle timeout, a deadline that never comes.
        let far = Duration::from_secs(86_400 * 365);
        Silence {
            idle,
            until: Instant::now() + if idle.is_zero() { far } else { idle },
        }
    }

    /// Something arrived at `now`: the deadline moves.
    pub fn heard(&mut self, now: Instant) {
        if !self.idle.is_zero() {
            self.until = now + self.idle;
        }
    }

    /// Resolves when the socket has been silent for too long.
    pub async fn expired(&self) {
        tokio::time::sleep_until(self.until).await;
    }
}

/// Lets the writer flush what is queued (a close frame, the restart notice), briefly: a peer
/// that does not read (or is gone) would hold it in a write forever.
pub async fn finish(writer: JoinHandle<()>) {
    let abort = writer.abort_handle();
    if tokio::time::timeout(WRITER_GRACE, writer).await.is_err() {
        abort.abort();
    }
}
