//! The WebSocket transport every socket runs on: the game's (`connection.rs`) and the fan-out
//! benchmark's (`perudo-bench fanout-server`), so that the benchmark measures exactly this.
//!
//! - the accept loop is `crate::serve::serve` on a `crate::limits::IdleListener` (header
//!   limits, `TCP_NODELAY`, idle TCP connections dropped), for both as well;
//! - `Upgrade`: the HTTP upgrade to a WebSocket (checked as RFC 6455 asks, answered with
//!   `101`) and the socket's settings (message size caps, small read buffer);
//! - data frames are written by this module, not by tungstenite: header and payload go into
//!   the connection in one vectored write, so a frame is neither copied nor kept in a buffer
//!   (tungstenite's write buffer never shrinks: it held the largest frame ever sent, often
//!   the join's snapshot, for the connection's whole life). tungstenite reads every frame
//!   and writes the control frames (pings, its pongs, close), always after the data frame
//!   being written has gone out in full;
//! - `open`: moves an upgraded socket to the heap and gives back the connection task's half,
//!   `Socket`, and the `Outbox` the room writes to. One task per connection both reads and
//!   writes. The room writes a frame straight into the socket when nothing is queued before
//!   it and the socket takes it at once (the usual case: one syscall on the room's thread, no
//!   task woken); otherwise the frame waits in the bounded queue and the connection's task is
//!   woken: while it waits for the client's next message (`Socket::recv`) or for the room
//!   (`Socket::meanwhile`), it writes every queued frame with one flush, finishes a flush the
//!   socket could not take at once, and pings every `ping_interval`;
//! - `Silence`: the reader's idle deadline (nothing, not even a pong, for `idle_timeout`);
//! - `Socket::finish`: how long the task may still write once it stopped reading.
//!
//! Memory is the point of this shape (docs/BENCHMARKS.md, "40,000 connected players"): an idle
//! connection is one task, one allocation holding the WebSocket and its (usually empty) queue,
//! and the WebSocket's read buffer; no writer task, no channel.

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use std::io::IoSlice;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Version, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures_util::task::AtomicWaker;
use futures_util::{SinkExt, StreamExt};
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use perudo_protocol::MAX_WS_MESSAGE;
use tokio::io::AsyncWrite;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};
pub use tokio_tungstenite::tungstenite::{Error as WsError, Message};

use crate::limits::IdleListener;

/// Read buffer per WebSocket connection. Client frames are requests of tens of bytes; a
/// larger message (up to `MAX_WS_MESSAGE`) grows the buffer as it needs.
pub const WS_READ_BUFFER: usize = 256;
/// Most tungstenite's write buffer may hold: it only carries control frames (pings, pongs,
/// close), which are tiny; the outbox bounds the data frames.
pub const WS_MAX_WRITE_BUFFER: usize = 64 * 1024;
/// Most data frames one vectored write takes.
const WRITE_BATCH: usize = 16;

/// The server's WebSocket: tungstenite on the upgraded HTTP connection.
pub type WebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// Frames a connection may have queued before the room gives up on it.
pub const OUTBOX_CAPACITY: usize = 64;

/// How long a connection's task may take to write what is queued after it stopped reading.
pub const WRITER_GRACE: Duration = Duration::from_secs(2);

/// Frames a room sends to a connection.
#[derive(Clone, Debug)]
pub enum Frame {
    Data(Bytes),
    /// Send a close frame with this code and reason, then stop.
    Close {
        code: u16,
        reason: &'static str,
    },
}

/// Where a room puts a connection's frames: straight into its socket when that costs no
/// waiting, else into the bounded queue its task drains.
#[derive(Debug)]
pub struct Outbox(Way);

#[derive(Debug)]
enum Way {
    /// An outbox without a socket (the room tests' plain channels): whoever holds the
    /// receiver writes.
    Plain(mpsc::Sender<Frame>),
    Socket(Arc<Shared>),
}

/// A socket as the room and the connection's task share it. The lock is held only for one
/// poll of the socket that does not wait (a read, a write, a flush), never across an
/// `.await`, so the room never waits on the network, only, at worst, on the connection's task
/// finishing such a poll.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// The connection's task: woken when the room queues a frame, leaves it a flush to
    /// finish, or drops its last outbox.
    task: AtomicWaker,
    /// Outboxes alive. At zero nothing more can be queued, and the task, once it has written
    /// everything, closes the socket.
    outboxes: AtomicUsize,
}

#[derive(Debug)]
struct State {
    ws: WebSocket,
    /// Frames for the task to write, in order, after what is in the socket already.
    queue: VecDeque<Frame>,
    /// tungstenite holds bytes not yet flushed (a control frame the task started, or the
    /// pong it owes for a ping it read): the task flushes them. The room writes straight
    /// only when this is false, nothing is queued and no frame is half written, so a frame
    /// never overtakes one before it, and the task's waker is never replaced by the room's.
    unflushed: bool,
    /// Nothing more goes out: a close frame was sent, a write failed, or the task ended.
    done: bool,
    /// A data frame the connection took only part of: the rest goes out before anything
    /// else, tungstenite's control frames included (a frame is never cut by another).
    partial: Option<Box<Partial>>,
    /// The client closed: tungstenite answers the close itself, and no data frame may
    /// follow its answer.
    peer_closed: bool,
}

/// The rest of a data frame the connection did not take at once.
#[derive(Debug)]
struct Partial {
    head: Head,
    payload: Bytes,
    /// Bytes of the frame (head, then payload) already written.
    sent: usize,
}

/// A server-to-client data frame's header (RFC 6455 5.2: FIN, binary, not masked, the
/// payload length in 1, 3 or 9 bytes).
#[derive(Clone, Copy, Debug)]
struct Head {
    bytes: [u8; 10],
    len: u8,
}

impl Head {
    fn binary(payload: usize) -> Head {
        let mut bytes = [0u8; 10];
        bytes[0] = 0x82;
        let len = if let Ok(short) = u8::try_from(payload)
            && short < 126
        {
            bytes[1] = short;
            2
        } else if let Ok(medium) = u16::try_from(payload) {
            bytes[1] = 126;
            bytes[2..4].copy_from_slice(&medium.to_be_bytes());
            4
        } else {
            bytes[1] = 127;
            bytes[2..10].copy_from_slice(&(payload as u64).to_be_bytes());
            10
        };
        Head { bytes, len }
    }

    fn as_slice(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

/// What became of data frames given to the connection.
enum Wrote {
    /// All in the connection.
    All,
    /// The connection took the first `n` frames whole, and part of the next one, whose rest
    /// is in `State::partial` now (`n` counts it).
    Part(usize),
    /// The connection took none: it is full.
    None,
    /// The connection broke.
    Broken,
}

/// Writes data frames straight into the connection: every header and payload in one
/// vectored write. A frame the connection takes in part leaves its rest in `partial`.
fn write_data(
    ws: &mut WebSocket,
    partial: &mut Option<Box<Partial>>,
    cx: &mut Context<'_>,
    frames: &[&Bytes],
) -> Wrote {
    let frames = &frames[..frames.len().min(WRITE_BATCH)];
    let mut heads = [Head::binary(0); WRITE_BATCH];
    for (head, payload) in heads.iter_mut().zip(frames) {
        *head = Head::binary(payload.len());
    }
    // One frame (the room's usual write) needs two slices, not the batch's thirty-two.
    let one;
    let mut batch;
    let slices: &[IoSlice<'_>] = if let [payload] = frames {
        one = [IoSlice::new(heads[0].as_slice()), IoSlice::new(payload)];
        &one
    } else {
        batch = [IoSlice::new(&[]); 2 * WRITE_BATCH];
        for (i, payload) in frames.iter().enumerate() {
            batch[2 * i] = IoSlice::new(heads[i].as_slice());
            batch[2 * i + 1] = IoSlice::new(payload);
        }
        &batch[..2 * frames.len()]
    };
    let io = Pin::new(ws.get_mut());
    let written = match io.poll_write_vectored(cx, slices) {
        Poll::Pending => return Wrote::None,
        Poll::Ready(Err(_)) | Poll::Ready(Ok(0)) => return Wrote::Broken,
        Poll::Ready(Ok(n)) => n,
    };
    let mut left = written;
    for (i, payload) in frames.iter().enumerate() {
        let size = heads[i].as_slice().len() + payload.len();
        if left < size {
            *partial = Some(Box::new(Partial {
                head: heads[i],
                payload: Bytes::clone(payload),
                sent: left,
            }));
            return Wrote::Part(i + 1);
        }
        left -= size;
    }
    Wrote::All
}

/// Writes what is left of a partly written data frame. `Ready(true)`: all of it is out;
/// `Ready(false)`: the connection broke.
fn poll_partial(ws: &mut WebSocket, partial: &mut Partial, cx: &mut Context<'_>) -> Poll<bool> {
    loop {
        let head = partial.head.as_slice();
        let total = head.len() + partial.payload.len();
        if partial.sent >= total {
            return Poll::Ready(true);
        }
        let (first, second) = if partial.sent < head.len() {
            (&head[partial.sent..], &partial.payload[..])
        } else {
            (&partial.payload[partial.sent - head.len()..], &[][..])
        };
        let slices = [IoSlice::new(first), IoSlice::new(second)];
        match Pin::new(ws.get_mut()).poll_write_vectored(cx, &slices) {
            Poll::Pending => return Poll::Pending,
            Poll::Ready(Err(_)) | Poll::Ready(Ok(0)) => return Poll::Ready(false),
            Poll::Ready(Ok(n)) => partial.sent += n,
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section leaves the state consistent: a panic inside one (a bug in
        // the WebSocket layer) does not make it unusable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What became of a frame the room tried to write straight into the socket.
enum Direct {
    /// In the socket.
    Written,
    /// Taken, but the socket could not take it all at once: the task finishes.
    Unflushed,
    /// Not taken (the socket is full or broken): it goes through the queue.
    Busy(Bytes),
}

impl From<mpsc::Sender<Frame>> for Outbox {
    /// An outbox that is only a queue: whoever holds the receiver writes.
    fn from(queue: mpsc::Sender<Frame>) -> Outbox {
        Outbox(Way::Plain(queue))
    }
}

impl Clone for Outbox {
    fn clone(&self) -> Outbox {
        Outbox(match &self.0 {
            Way::Plain(queue) => Way::Plain(queue.clone()),
            Way::Socket(shared) => {
                shared.outboxes.fetch_add(1, Ordering::AcqRel);
                Way::Socket(Arc::clone(shared))
            }
        })
    }
}

impl Drop for Outbox {
    fn drop(&mut self) {
        if let Way::Socket(shared) = &self.0
            && shared.outboxes.fetch_sub(1, Ordering::AcqRel) == 1
        {
            // The last one: the task may close the socket once everything is written.
            shared.task.wake();
        }
    }
}

impl Outbox {
    /// Sends `frame` without waiting: into the socket if it takes it at once, else into the
    /// queue. `Full`: the connection does not keep up (the room drops it); `Closed`: nothing
    /// more goes out on this socket (it closed, broke, or its task ended).
    pub fn try_send(&self, frame: Frame) -> Result<(), mpsc::error::TrySendError<Frame>> {
        use mpsc::error::TrySendError;
        let shared = match &self.0 {
            Way::Plain(queue) => return queue.try_send(frame),
            Way::Socket(shared) => shared,
        };
        let mut state = shared.lock();
        if state.done {
            return Err(TrySendError::Closed(frame));
        }
        let frame = match frame {
            Frame::Data(bytes)
                if state.queue.is_empty() && !state.unflushed && state.partial.is_none() =>
            {
                match Self::write_now(&mut state, bytes) {
                    Direct::Written => {
                        #[cfg(test)]
                        tests::WAYS[0].fetch_add(1, Ordering::Relaxed);
                        return Ok(());
                    }
                    Direct::Unflushed => {
                        #[cfg(test)]
                        tests::WAYS[1].fetch_add(1, Ordering::Relaxed);
                        // Nothing is written straight behind an unfinished flush, so the
                        // socket's write buffer never grows past what the queue bounds.
                        state.unflushed = true;
                        drop(state);
                        shared.task.wake();
                        return Ok(());
                    }
                    Direct::Busy(bytes) => Frame::Data(bytes),
                }
            }
            // Closing goes through the task, after everything queued.
            frame => frame,
        };
        if state.queue.len() >= OUTBOX_CAPACITY {
            return Err(TrySendError::Full(frame));
        }
        #[cfg(test)]
        tests::WAYS[2].fetch_add(1, Ordering::Relaxed);
        state.queue.push_back(frame);
        drop(state);
        shared.task.wake();
        Ok(())
    }

    /// Writes a data frame into the socket if it takes it now. Polled with a waker that
    /// does nothing: whatever is left to wait for is the task's.
    fn write_now(state: &mut State, bytes: Bytes) -> Direct {
        if state.peer_closed {
            // The client closed: the frame has nowhere to go.
            return Direct::Written;
        }
        // Nothing of tungstenite's is unflushed (`State::unflushed` is false: no pong owed).
        let mut cx = Context::from_waker(Waker::noop());
        match write_data(&mut state.ws, &mut state.partial, &mut cx, &[&bytes]) {
            Wrote::All => Direct::Written,
            Wrote::Part(_) => Direct::Unflushed,
            Wrote::None => Direct::Busy(bytes),
            Wrote::Broken => {
                // The reader meets the same error and ends.
                state.broken();
                Direct::Written
            }
        }
    }
}

/// The connection task's half of a socket: it reads the client's messages and, meanwhile,
/// writes what the room queued and pings.
#[derive(Debug)]
pub struct Socket {
    shared: Arc<Shared>,
    /// When the next ping is due; `None`: no pings.
    ping: Option<Pin<Box<Sleep>>>,
    ping_interval: Duration,
    ping_due: bool,
    /// `finish` has begun closing the socket (nothing is queued and no outbox is left).
    closing: bool,
}

/// The settings of every WebSocket the server accepts.
fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        // Frames up to MAX_WS_MESSAGE reach the decoder, which answers oversized requests
        // with a typed TooLarge; beyond that the WebSocket layer closes the socket.
        .max_message_size(Some(MAX_WS_MESSAGE))
        .max_frame_size(Some(MAX_WS_MESSAGE))
        // Perudo's client frames are tiny: tungstenite's 128 KiB default read buffer was most
        // of a connection's memory. Larger messages (up to MAX_WS_MESSAGE) still grow it as
        // needed.
        .read_buffer_size(WS_READ_BUFFER)
        // tungstenite writes only control frames; each is flushed at once.
        .write_buffer_size(0)
        .max_write_buffer_size(WS_MAX_WRITE_BUFFER)
}

/// Why a request is not a WebSocket upgrade (RFC 6455 4.2.1), with the status it gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NotWebSocket {
    MethodNotGet,
    NoConnectionUpgrade,
    NoUpgradeWebSocket,
    WrongVersion,
    NoKey,
    /// The HTTP connection cannot be upgraded (not HTTP/1.1, or already taken).
    NotUpgradable,
}

impl NotWebSocket {
    pub fn status(self) -> StatusCode {
        match self {
            NotWebSocket::MethodNotGet => StatusCode::METHOD_NOT_ALLOWED,
            NotWebSocket::NotUpgradable => StatusCode::UPGRADE_REQUIRED,
            NotWebSocket::NoConnectionUpgrade
            | NotWebSocket::NoUpgradeWebSocket
            | NotWebSocket::WrongVersion
            | NotWebSocket::NoKey => StatusCode::BAD_REQUEST,
        }
    }

    pub fn message(self) -> &'static str {
        match self {
            NotWebSocket::MethodNotGet => "Request method must be `GET`",
            NotWebSocket::NoConnectionUpgrade => "Connection header did not include 'upgrade'",
            NotWebSocket::NoUpgradeWebSocket => "`Upgrade` header did not include 'websocket'",
            NotWebSocket::WrongVersion => "`Sec-WebSocket-Version` header did not include '13'",
            NotWebSocket::NoKey => "`Sec-WebSocket-Key` header missing",
            NotWebSocket::NotUpgradable => {
                "WebSocket request couldn't be upgraded since no upgrade state was present"
            }
        }
    }
}

impl std::fmt::Display for NotWebSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for NotWebSocket {}

impl IntoResponse for NotWebSocket {
    fn into_response(self) -> Response {
        (self.status(), self.message()).into_response()
    }
}

/// Whether `headers[name]` lists `token` (comma-separated, any case).
fn header_lists(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers.get_all(name).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Checks that `parts` asks for a WebSocket (an HTTP/1.1 `GET` with `Connection: upgrade`,
/// `Upgrade: websocket`, version 13 and a key) and returns its key. It leaves the
/// connection's upgrade handle in place: the request may yet be passed on to another node.
pub fn check(parts: &Parts) -> Result<HeaderValue, NotWebSocket> {
    if parts.version > Version::HTTP_11 {
        return Err(NotWebSocket::NotUpgradable);
    }
    if parts.method != Method::GET {
        return Err(NotWebSocket::MethodNotGet);
    }
    if !header_lists(&parts.headers, header::CONNECTION, "upgrade") {
        return Err(NotWebSocket::NoConnectionUpgrade);
    }
    if !parts
        .headers
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
    {
        return Err(NotWebSocket::NoUpgradeWebSocket);
    }
    let key = parts
        .headers
        .get(header::SEC_WEBSOCKET_KEY)
        .ok_or(NotWebSocket::NoKey)?
        .clone();
    if parts
        .headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        return Err(NotWebSocket::WrongVersion);
    }
    Ok(key)
}

/// A checked WebSocket upgrade request, holding the connection's upgrade handle.
#[derive(Debug)]
pub struct Upgrade {
    key: HeaderValue,
    on_upgrade: OnUpgrade,
}

impl Upgrade {
    /// Checks `parts` (see [`check`]) and takes the connection's upgrade handle.
    pub fn take(parts: &mut Parts) -> Result<Upgrade, NotWebSocket> {
        let key = check(parts)?;
        let on_upgrade = parts
            .extensions
            .remove::<OnUpgrade>()
            .ok_or(NotWebSocket::NotUpgradable)?;
        Ok(Upgrade { key, on_upgrade })
    }

    /// The `101 Switching Protocols` answer. Once it has gone out, a task of its own gives
    /// `callback` the WebSocket, with the settings of every WebSocket here. Spawn the
    /// connection's own task from the callback (after [`open`]), so that no future holds the
    /// socket by value.
    #[must_use = "the 101 response must be returned for the upgrade to happen"]
    pub fn on_upgrade<C, Fut>(self, callback: C) -> Response
    where
        C: FnOnce(WebSocket) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let Upgrade { key, on_upgrade } = self;
        tokio::spawn(async move {
            let upgraded = match on_upgrade.await {
                Ok(upgraded) => upgraded,
                Err(error) => {
                    tracing::debug!(%error, "the WebSocket upgrade failed");
                    return;
                }
            };
            let ws = WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                Some(config()),
            )
            .await;
            callback(ws).await;
        });
        let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
        let mut response = Response::new(axum::body::Body::empty());
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        if let Ok(accept) = HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = NotWebSocket;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Upgrade::take(parts)
    }
}

/// The listener every server here runs on (`crate::serve::serve` accepts from it and sets
/// `TCP_NODELAY`): a TCP connection that sends nothing (no request, or a WebSocket without
/// pongs) for half as long again as `idle_timeout` is dropped. The WebSocket reader's own
/// timeout (`Silence`) comes first and says why (`Closing { IdleTimeout }`); this one catches
/// the rest.
pub fn idle_listener(listener: tokio::net::TcpListener, idle_timeout: Duration) -> IdleListener {
    IdleListener::new(listener, idle_timeout + idle_timeout / 2)
}

/// Moves an upgraded socket to the heap and splits it into the connection task's `Socket` and
/// the room's `Outbox`. Call it before spawning the connection's task, so that the task holds
/// a pointer to the socket rather than the socket itself. `ping_interval` zero: no pings.
pub fn open(ws: WebSocket, ping_interval: Duration) -> (Socket, Outbox) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State {
            ws,
            queue: VecDeque::new(),
            unflushed: false,
            done: false,
            partial: None,
            peer_closed: false,
        }),
        task: AtomicWaker::new(),
        outboxes: AtomicUsize::new(1),
    });
    let ping = (!ping_interval.is_zero())
        .then(|| Box::pin(tokio::time::sleep_until(Instant::now() + ping_interval)));
    let socket = Socket {
        shared: Arc::clone(&shared),
        ping,
        ping_interval,
        ping_due: false,
        closing: false,
    };
    (socket, Outbox(Way::Socket(shared)))
}

impl Socket {
    /// The client's next message (`None`: the socket closed), writing meanwhile.
    pub async fn recv(&mut self) -> Option<Result<Message, WsError>> {
        poll_fn(|cx| {
            let mut state = self.poll_out(cx);
            if state.partial.is_some() {
                // A data frame is half written, and a read may make tungstenite write (the
                // pong it owes): not before the frame is out. The socket wakes the task when
                // it can take more.
                return Poll::Pending;
            }
            let next = state.ws.poll_next_unpin(cx);
            // After the client's close (tungstenite answers it), no data frame may go out.
            // Other errors (a message too big) leave the socket open for the goodbye, and
            // so does the end of the stream that follows them (tokio-tungstenite ends the
            // stream after any error).
            if matches!(
                next,
                Poll::Ready(Some(
                    Ok(Message::Close(_)) | Err(WsError::ConnectionClosed | WsError::AlreadyClosed)
                ))
            ) {
                state.peer_closed = true;
            }
            if matches!(next, Poll::Ready(Some(Ok(Message::Ping(_))))) {
                // tungstenite owes the pong (written at its next read or flush): nothing is
                // written straight past it, and the task flushes it.
                state.unflushed = true;
            }
            next
        })
        .await
    }

    /// Runs `work` (e.g. waiting for room in the room's inbox) while still writing what the
    /// room queues, so that a connection waiting on its room does not stop taking frames.
    pub fn meanwhile<F: Future>(&mut self, work: F) -> Meanwhile<'_, F> {
        Meanwhile { socket: self, work }
    }

    /// Writes what is queued and waits until the room has dropped every outbox (or queued a
    /// close frame), then closes the socket; at most `WRITER_GRACE`: a peer that does not
    /// read (or is gone) would hold a write forever.
    pub async fn finish(&mut self) {
        let _ = tokio::time::timeout(WRITER_GRACE, poll_fn(|cx| self.poll_finish(cx))).await;
    }

    fn poll_finish(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        self.shared.task.register(cx.waker());
        let mut state = self.shared.lock();
        if !self.closing {
            if poll_write(&mut self.ping_due, &mut state, cx).is_pending() {
                return Poll::Pending;
            }
            if state.done {
                return Poll::Ready(());
            }
            if self.shared.outboxes.load(Ordering::Acquire) != 0 {
                // The room may still send (an answer, its goodbye).
                return Poll::Pending;
            }
            // Nothing more can come: close the socket.
            self.closing = true;
            state.done = true;
        }
        state.ws.poll_close_unpin(cx).map(drop)
    }

    /// Registers the task's waker, notes a due ping, writes what is queued, and returns the
    /// state, still locked, for a read.
    fn poll_out(&mut self, cx: &mut Context<'_>) -> MutexGuard<'_, State> {
        self.shared.task.register(cx.waker());
        if let Some(ping) = &mut self.ping
            && ping.as_mut().poll(cx).is_ready()
        {
            self.ping_due = true;
            ping.as_mut().reset(Instant::now() + self.ping_interval);
            // Registers the timer again.
            let _ = ping.as_mut().poll(cx);
        }
        let mut state = self.shared.lock();
        let _ = poll_write(&mut self.ping_due, &mut state, cx);
        state
    }
}

/// Writes a due ping and every queued frame, then flushes once. `Ready`: everything is in the
/// socket, or nothing more can go out (`State::done`).
fn poll_write(ping_due: &mut bool, state: &mut State, cx: &mut Context<'_>) -> Poll<()> {
    static NONE: Bytes = Bytes::new();
    loop {
        if let Some(partial) = &mut state.partial {
            match poll_partial(&mut state.ws, partial, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(true) => state.partial = None,
                Poll::Ready(false) => {
                    state.broken();
                    return Poll::Ready(());
                }
            }
            continue;
        }
        if state.done && !state.unflushed {
            return Poll::Ready(());
        }
        if !state.done && !*ping_due && matches!(state.queue.front(), Some(Frame::Data(_))) {
            if state.peer_closed {
                // Nothing may follow tungstenite's answer to the client's close.
                state.queue.retain(|f| !matches!(f, Frame::Data(_)));
                continue;
            }
            // What tungstenite owes the client (a ping, a pong) goes first.
            if state.unflushed {
                match state.poll_flush(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(false) => return Poll::Ready(()),
                    Poll::Ready(true) => {}
                }
            }
            let mut batch: [&Bytes; WRITE_BATCH] = [&NONE; WRITE_BATCH];
            let mut n = 0;
            for frame in state.queue.iter().take(WRITE_BATCH) {
                let Frame::Data(bytes) = frame else { break };
                batch[n] = bytes;
                n += 1;
            }
            let taken = match write_data(&mut state.ws, &mut state.partial, cx, &batch[..n]) {
                Wrote::All => n,
                Wrote::Part(taken) => taken,
                Wrote::None => return Poll::Pending,
                Wrote::Broken => {
                    state.broken();
                    return Poll::Ready(());
                }
            };
            state.queue.drain(..taken);
            continue;
        }
        if !state.done && (*ping_due || !state.queue.is_empty()) {
            match state.ws.poll_ready_unpin(cx) {
                Poll::Pending => {
                    state.unflushed = true;
                    return Poll::Pending;
                }
                Poll::Ready(Err(_)) => {
                    state.broken();
                    return Poll::Ready(());
                }
                Poll::Ready(Ok(())) => {}
            }
            let message = if std::mem::take(ping_due) {
                Message::Ping(Bytes::new())
            } else {
                match state.queue.pop_front() {
                    // Data frames at the front are written above.
                    Some(Frame::Data(bytes)) => Message::Binary(bytes),
                    Some(Frame::Close { code, reason }) => {
                        // Nothing is written after the close frame.
                        state.done = true;
                        state.queue = VecDeque::new();
                        Message::Close(Some(CloseFrame {
                            code: code.into(),
                            reason: reason.into(),
                        }))
                    }
                    None => continue,
                }
            };
            if state.ws.start_send_unpin(message).is_err() {
                state.broken();
                return Poll::Ready(());
            }
            state.unflushed = true;
            continue;
        }
        if state.unflushed {
            match state.poll_flush(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(false) => return Poll::Ready(()),
                Poll::Ready(true) => continue,
            }
        }
        if state.queue.capacity() != 0 {
            // Drained: give the queue's memory back (most connections rarely queue).
            state.queue = VecDeque::new();
        }
        return Poll::Ready(());
    }
}

pin_project_lite::pin_project! {
    /// `Socket::meanwhile`: a hand-written future, not an `async fn`, so that the work is held
    /// once (an `async fn` keeps its argument beside the pinned copy it polls).
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct Meanwhile<'a, F> {
        socket: &'a mut Socket,
        #[pin]
        work: F,
    }
}

impl<F: Future> Future for Meanwhile<'_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        if let Poll::Ready(output) = this.work.poll(cx) {
            return Poll::Ready(output);
        }
        drop(this.socket.poll_out(cx));
        Poll::Pending
    }
}

impl State {
    /// Flushes what tungstenite holds. `Ready(true)`: flushed; `Ready(false)`: the socket
    /// broke, and nothing more goes out.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<bool> {
        match self.ws.poll_flush_unpin(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(_)) => {
                self.broken();
                Poll::Ready(false)
            }
            Poll::Ready(Ok(())) => {
                self.unflushed = false;
                Poll::Ready(true)
            }
        }
    }

    /// A write failed: nothing more goes out (the reader meets the same error and ends).
    fn broken(&mut self) {
        self.done = true;
        self.unflushed = false;
        self.partial = None;
        self.queue = VecDeque::new();
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        // The room's frames from now on are refused as `Closed`.
        let mut state = self.shared.lock();
        state.done = true;
        state.partial = None;
        state.queue = VecDeque::new();
    }
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

    /// When the socket will have been silent for too long.
    pub fn until(&self) -> Instant {
        self.until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tokio_tungstenite::tungstenite::Message as ClientMessage;

    /// How many frames went each way: written straight, left to the task to flush, queued.
    pub(super) static WAYS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

    const FRAMES: u32 = 3_000;
    // 48 MB in all: more than loopback socket buffers hold, so the socket fills.
    const FRAME_BYTES: usize = 16 * 1024;

    /// A room that sends `FRAMES` numbered frames as fast as the outbox takes them, waiting
    /// a moment whenever it is full (a real room would drop the connection instead), beside
    /// the connection's task, which reads and writes what is queued (and pings every
    /// `ping_interval`; zero: never).
    async fn flood(socket: WebSocket, ping_interval: Duration) {
        let (mut socket, outbox) = open(socket, ping_interval);
        let room = tokio::spawn(async move {
            for i in 0..FRAMES {
                let mut payload = vec![0u8; FRAME_BYTES];
                payload[..4].copy_from_slice(&i.to_le_bytes());
                let mut frame = Frame::Data(Bytes::from(payload));
                loop {
                    match outbox.try_send(frame) {
                        Ok(()) => break,
                        Err(mpsc::error::TrySendError::Full(back)) => {
                            frame = back;
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        Err(mpsc::error::TrySendError::Closed(_)) => panic!("the socket closed"),
                    }
                }
            }
            outbox
                .try_send(Frame::Close {
                    code: 1000,
                    reason: "done",
                })
                .ok();
        });
        socket.meanwhile(room).await.unwrap();
        socket.finish().await;
        // Read what the client still sends until its close, as a connection does: closing
        // with unread bytes would reset the connection under frames the client has not read.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(Ok(message)) = socket.recv().await {
                if matches!(message, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }

    /// A server on 127.0.0.1 whose `/ws` floods every socket, pinging every `ping_interval`,
    /// and a client connected to it.
    async fn flooding_server(
        ping_interval: Duration,
    ) -> (
        tokio::task::JoinHandle<std::io::Result<()>>,
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
    ) {
        let app = Router::new().route(
            "/ws",
            get(move |ws: Upgrade| async move {
                ws.on_upgrade(move |socket| flood(socket, ping_interval))
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let (client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        (server, client)
    }

    /// Checks that `bytes` is frame number `next` of the flood, and counts it; reads slowly
    /// at first, so that the server's socket fills up.
    async fn take_numbered(bytes: &[u8], next: &mut u32) {
        assert_eq!(bytes.len(), FRAME_BYTES);
        let i = u32::from_le_bytes(bytes[..4].try_into().unwrap());
        assert_eq!(i, *next, "frames out of order or lost");
        *next += 1;
        if *next < 200 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Frames written straight by the room, left for the writer to flush, and queued behind
    /// a full socket arrive all, once each, in the order they were sent: the client reads
    /// slowly at first, so the socket fills and the three ways take turns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frames_keep_their_order_whichever_way_they_go() {
        let (server, mut client) = flooding_server(Duration::ZERO).await;
        let mut next = 0u32;
        let read = async {
            while let Some(message) = client.next().await {
                match message.unwrap() {
                    ClientMessage::Binary(bytes) => take_numbered(&bytes, &mut next).await,
                    ClientMessage::Close(frame) => {
                        assert_eq!(frame.map(|f| u16::from(f.code)), Some(1000));
                        break;
                    }
                    _ => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .expect("the frames arrive within a minute");
        assert_eq!(next, FRAMES);
        let ways = WAYS.each_ref().map(|n| n.load(Ordering::Relaxed));
        assert!(
            ways.iter().all(|&n| n > 0),
            "every way was taken (straight, unflushed, queued): {ways:?}"
        );
        server.abort();
    }

    /// Control frames never cut a data frame in two: the server pings every millisecond and
    /// the client pings too (so the server owes it pongs, which tungstenite writes), while
    /// the room floods a slow reader with large frames that the socket takes in parts. The
    /// client's WebSocket would fail on a frame cut by another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn control_frames_never_cut_a_data_frame() {
        let (server, client) = flooding_server(Duration::from_millis(1)).await;
        let (mut sink, mut stream) = client.split();
        let pinger = tokio::spawn(async move {
            loop {
                if sink
                    .send(ClientMessage::Ping(Bytes::from_static(b"hi")))
                    .await
                    .is_err()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        });
        let (mut next, mut pings) = (0u32, 0u32);
        let read = async {
            while let Some(message) = stream.next().await {
                match message.expect("every frame decodes") {
                    ClientMessage::Binary(bytes) => take_numbered(&bytes, &mut next).await,
                    ClientMessage::Ping(_) => pings += 1,
                    ClientMessage::Close(_) => break,
                    _ => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(60), read)
            .await
            .expect("the frames arrive within a minute");
        assert_eq!(next, FRAMES);
        assert!(pings > 0, "the server pinged while it flooded");
        pinger.abort();
        server.abort();
    }
}
