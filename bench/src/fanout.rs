//! `perudo-bench fanout-server`: a bare WebSocket fan-out on the game server's own transport
//! and no game logic, the reference ceiling that `perudo-bench loadtest --fanout` measures.
//!
//! Everything but the game is the real server's: axum, the listener of
//! accept loop of `perudo_server::serve` on a `limits::IdleListener` (header limits,
//! `TCP_NODELAY`, idle TCP connections dropped), the
//! WebSocket settings of `transport::configure`, one actor task per room with a bounded inbox
//! (`ROOM_INBOX_CAPACITY`), and per connection a reader with the server's idle deadline
//! (`transport::Silence`) and the server's `transport::open`: one task per connection that
//! reads and writes (the `Outbox` the room writes straight into the socket through when it
//! can, else the bounded queue the connection's task drains: one flush per batch of queued
//! frames, pings), with the default `perudo serve` limits for pings and idle time.
//!
//! The scheme:
//! - `POST /api/rooms` (any body) opens a room and answers `{"code", "url", "token"}` like the
//!   real server (the token is empty); `GET /api/rooms/{code}/ws` joins it.
//! - A socket the room has registered gets a [`WELCOME`] frame.
//! - Every binary message a socket sends raises the room's version by one; the room then
//!   sends every socket of the room exactly one frame of `frame_bytes` bytes, as the real
//!   server does since protocol version 2: a [`BROADCAST`], encoded once and shared, to the
//!   others, and to the sender an [`ACK`] frame that is its broadcast and its answer in one
//!   (the real server's answer rides in the mover's update).
//!
//! Frames: byte 0 is the kind, bytes 1..9 the room version (u64, little endian), then zeros
//! up to the frame's size. The room ends when its last socket leaves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::{BufMut, Bytes, BytesMut};
use perudo_protocol::http::RoomCreated;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::info;

use perudo_server::ids;
use perudo_server::limits::{ConnectionLimits, Limits};
use perudo_server::room::ROOM_INBOX_CAPACITY;
use perudo_server::transport::{self, Frame, Message, Outbox, Silence, Socket, Upgrade};

/// Frame kind: the room has registered this socket.
pub const WELCOME: u8 = 0;
/// Frame kind: the sender's frame for its message: the broadcast and its answer in one.
pub const ACK: u8 = 1;
/// Frame kind: what every socket of the room gets for each message.
pub const BROADCAST: u8 = 2;
/// Size of a `WELCOME` frame (the real server's `Ack` is about as big).
pub const ACK_BYTES: usize = 16;
/// Default size of a `BROADCAST` (and the sender's `ACK`) frame: what the real server sends
/// each of 4 players per action (protocol version 2: one `Update` each, about 790 bytes for
/// the 4 together: 107 for a bid, more for the mover and the next player, whose own view
/// rides in theirs).
pub const DEFAULT_FRAME_BYTES: usize = 200;
/// The smallest frame: kind and version.
pub const HEADER_BYTES: usize = 9;

/// Settings of the fan-out server.
#[derive(Clone, Debug)]
pub struct FanoutConfig {
    /// Size of each `BROADCAST` frame (at least [`HEADER_BYTES`]).
    pub frame_bytes: usize,
    /// Most rooms open at once.
    pub max_rooms: usize,
    /// Pings and the idle timeout, as `perudo serve` has them.
    pub connection: ConnectionLimits,
}

impl Default for FanoutConfig {
    fn default() -> Self {
        FanoutConfig {
            frame_bytes: DEFAULT_FRAME_BYTES,
            max_rooms: 100_000,
            connection: Limits::default().per_connection(),
        }
    }
}

/// A frame of `len` bytes (at least [`HEADER_BYTES`]) of `kind` naming `version`.
pub fn frame(kind: u8, version: u64, len: usize) -> Bytes {
    let mut bytes = BytesMut::with_capacity(len.max(HEADER_BYTES));
    bytes.put_u8(kind);
    bytes.put_u64_le(version);
    bytes.resize(len.max(HEADER_BYTES), 0);
    bytes.freeze()
}

/// The kind and version of a frame, if it has a header.
pub fn parse(bytes: &[u8]) -> Option<(u8, u64)> {
    let kind = *bytes.first()?;
    let version = u64::from_le_bytes(bytes.get(1..HEADER_BYTES)?.try_into().ok()?);
    Some((kind, version))
}

#[derive(Debug)]
enum Input {
    Connect {
        conn: u64,
        outbox: Outbox,
        close: CancellationToken,
    },
    Message {
        conn: u64,
    },
    Disconnect {
        conn: u64,
    },
}

#[derive(Clone, Debug)]
struct AppState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: FanoutConfig,
    rooms: Mutex<HashMap<perudo_protocol::RoomCode, mpsc::Sender<Input>>>,
    next_conn: AtomicU64,
    shutdown: CancellationToken,
    tracker: TaskTracker,
    public_url: String,
}

/// The fan-out routes.
fn app(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/api/rooms", post(create_room))
        .route("/api/rooms/{code}/ws", get(room_socket))
        .with_state(state)
}

async fn create_room(State(state): State<AppState>) -> Response {
    let mut rooms = state.inner.rooms.lock().expect("room registry lock");
    if rooms.len() >= state.inner.config.max_rooms {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many rooms").into_response();
    }
    let code = loop {
        let code = ids::new_room_code();
        if !rooms.contains_key(&code) {
            break code;
        }
    };
    let (tx, rx) = mpsc::channel(ROOM_INBOX_CAPACITY);
    rooms.insert(code.clone(), tx);
    drop(rooms);
    let closed = state.clone();
    let closed_code = code.clone();
    let frame_bytes = state.inner.config.frame_bytes;
    let shutdown = state.inner.shutdown.clone();
    state.inner.tracker.spawn(async move {
        run_room(rx, frame_bytes, shutdown).await;
        closed
            .inner
            .rooms
            .lock()
            .expect("room registry lock")
            .remove(&closed_code);
    });
    Json(RoomCreated {
        url: format!("{}/r/{code}", state.inner.public_url),
        code,
        token: String::new(),
    })
    .into_response()
}

/// A member of a room: its outbox and the token that stops its socket.
#[derive(Debug)]
struct Member {
    conn: u64,
    outbox: Outbox,
    close: CancellationToken,
}

/// The room actor: registers sockets and answers every message with a fan-out.
async fn run_room(
    mut inbox: mpsc::Receiver<Input>,
    frame_bytes: usize,
    shutdown: CancellationToken,
) {
    let mut members: Vec<Member> = Vec::new();
    let mut version: u64 = 0;
    let mut had_members = false;
    // As the real room: one wait, on a child of the server's token.
    let shutdown = shutdown.child_token();
    let shutting_down = shutdown.cancelled();
    tokio::pin!(shutting_down);
    loop {
        let input = tokio::select! {
            biased;
            () = &mut shutting_down => break,
            input = inbox.recv() => match input {
                Some(input) => input,
                None => break,
            },
        };
        match input {
            Input::Connect {
                conn,
                outbox,
                close,
            } => {
                had_members = true;
                if outbox
                    .try_send(Frame::Data(frame(WELCOME, version, ACK_BYTES)))
                    .is_err()
                {
                    close.cancel();
                    continue;
                }
                members.push(Member {
                    conn,
                    outbox,
                    close,
                });
            }
            Input::Message { conn } => {
                version += 1;
                let broadcast = frame(BROADCAST, version, frame_bytes);
                // The room never waits on a socket: a full outbox drops that connection.
                members.retain(|m| {
                    let mine = if m.conn == conn {
                        frame(ACK, version, frame_bytes)
                    } else {
                        broadcast.clone()
                    };
                    let kept = m.outbox.try_send(Frame::Data(mine)).is_ok();
                    if !kept {
                        m.close.cancel();
                    }
                    kept
                });
            }
            Input::Disconnect { conn } => {
                members.retain(|m| m.conn != conn);
                if had_members && members.is_empty() {
                    break;
                }
            }
        }
    }
    for member in members {
        member.close.cancel();
    }
}

async fn room_socket(
    State(state): State<AppState>,
    Path(code): Path<String>,
    ws: Upgrade,
) -> Response {
    let room = perudo_protocol::RoomCode::parse(&code)
        .ok()
        .and_then(|code| {
            state
                .inner
                .rooms
                .lock()
                .expect("room registry lock")
                .get(&code)
                .cloned()
        });
    let Some(room) = room else {
        return (StatusCode::NOT_FOUND, "no room has that code").into_response();
    };
    let conn = state.inner.next_conn.fetch_add(1, Ordering::Relaxed);
    let shutdown = state.inner.shutdown.clone();
    let tracker = state.inner.tracker.clone();
    let limits = state.inner.config.connection;
    // The same WebSocket settings as the real server's `room_socket`.
    ws.on_upgrade(move |socket| {
        // As the real server does: the socket moves to the heap and the connection gets a
        // task of its own.
        let (socket, outbox) = transport::open(socket, limits.ping_interval);
        tracker.spawn(serve(socket, outbox, room, conn, shutdown, limits));
        std::future::ready(())
    })
}

/// One socket, one task: it tells the room of each message (with the server's idle
/// deadline) and writes what the room queued on the server's own transport, like
/// `connection::serve` without the decoding and the rate gate.
async fn serve(
    mut socket: Socket,
    outbox: Outbox,
    room: mpsc::Sender<Input>,
    conn: u64,
    shutdown: CancellationToken,
    limits: ConnectionLimits,
) {
    // A child of `shutdown`, as the real server's: one wait for both, made once.
    let close = shutdown.child_token();
    let connect = Input::Connect {
        conn,
        outbox,
        close: close.clone(),
    };
    if room.send(connect).await.is_err() {
        socket.finish().await;
        return;
    }
    let mut silence = Silence::new(limits.idle_timeout);
    let closed = close.cancelled();
    tokio::pin!(closed);
    // One idle timer, set again when it fires before the deadline, as the real server's.
    let timer = tokio::time::sleep_until(silence.until());
    tokio::pin!(timer);
    loop {
        let message = tokio::select! {
            message = socket.recv() => message,
            () = &mut closed => break,
            () = &mut timer => {
                if silence.until() > tokio::time::Instant::now() {
                    timer.as_mut().reset(silence.until());
                    continue;
                }
                break;
            }
        };
        silence.heard(tokio::time::Instant::now());
        match message {
            Some(Ok(Message::Binary(_))) => {
                // As the game's connection: at once when the inbox has space, else wait
                // (boxed) while the socket goes on writing.
                let open = match room.try_send(Input::Message { conn }) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                    Err(mpsc::error::TrySendError::Full(input)) => {
                        socket.meanwhile(Box::pin(room.send(input))).await.is_ok()
                    }
                };
                if !open {
                    break;
                }
            }
            Some(Ok(
                Message::Text(_) | Message::Ping(_) | Message::Pong(_) | Message::Frame(_),
            )) => {}
            Some(Ok(Message::Close(_)) | Err(_)) | None => break,
        }
    }
    let _ = socket
        .meanwhile(room.send(Input::Disconnect { conn }))
        .await;
    socket.finish().await;
}

/// Serves the fan-out on `listener` until `shutdown` is cancelled, then waits for the rooms
/// and sockets, at most `grace`.
pub async fn run(
    listener: TcpListener,
    config: FanoutConfig,
    shutdown: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    let tracker = TaskTracker::new();
    let addr = listener.local_addr()?;
    let state = AppState {
        inner: Arc::new(Shared {
            config,
            rooms: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(1),
            shutdown: shutdown.clone(),
            tracker: tracker.clone(),
            public_url: format!("http://{addr}"),
        }),
    };
    info!(%addr, "fan-out reference server listening (no game)");
    // The server's own accept loop and listener: header limits, TCP_NODELAY, idle TCP
    // connections dropped (no per-client TCP cap: the load comes from loopback).
    let listener = transport::idle_listener(listener, state.inner.config.connection.idle_timeout);
    perudo_server::serve::serve(listener, app(state), shutdown.clone(), grace).await;
    tracker.close();
    let _ = tokio::time::timeout(grace, tracker.wait()).await;
    info!("stopped");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_kind_and_version_at_their_size() {
        let f = frame(BROADCAST, 0x0102_0304_0506_0708, 830);
        assert_eq!(f.len(), 830);
        assert_eq!(parse(&f), Some((BROADCAST, 0x0102_0304_0506_0708)));
        assert_eq!(frame(ACK, 1, 2).len(), HEADER_BYTES);
        assert_eq!(parse(&[ACK, 1]), None);
    }
}
