//! The WebSocket transport every socket runs on: the game's (`connection.rs`) and the fan-out
//! benchmark's (`perudo-bench fanout-server`), so that the benchmark measures exactly this.
//!
//! - the accept loop is `crate::serve::serve` on a `crate::limits::IdleListener` (header
//!   limits, `TCP_NODELAY`, idle TCP connections dropped), for both as well;
//! - `configure`: the socket's settings (message size caps, small read buffer, bounded write
//!   buffer);
//! - `open`: splits an upgraded socket into its read half, the `Outbox` the room writes to,
//!   and the writer task. The room writes a frame straight into the socket when nothing is
//!   queued before it and the socket takes it at once (the usual case: one syscall on the
//!   room's thread, no task woken); otherwise the frame waits in the bounded outbox for the
//!   writer task, which writes every frame queued with one flush, finishes a flush the socket
//!   could not take at once, pings every `ping_interval`, and sends a close frame when told;
//! - `Silence`: the reader's idle deadline (nothing, not even a pong, for `idle_timeout`);
//! - `finish`: how long the writer may still flush once the reader has ended.

use std::time::Duration;

use axum::extract::WebSocketUpgrade;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use bytes::Bytes;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use perudo_protocol::MAX_WS_MESSAGE;
use tokio::sync::{Notify, mpsc};
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

/// Where a room puts a connection's frames: straight into its socket when that costs no
/// waiting, else into the bounded queue its writer task drains.
#[derive(Clone, Debug)]
pub struct Outbox {
    queue: Queue,
    /// `None` for an outbox without a socket (the room tests' plain channels).
    socket: Option<Arc<Shared>>,
}

/// The queue behind an outbox. A socket's holds boxed frames: a channel allocates its slots
/// in blocks of 32 up front, and with the room writing straight into the socket the queue is
/// mostly empty, so every connection would carry a block of frames it never uses.
#[derive(Clone, Debug)]
enum Queue {
    Plain(mpsc::Sender<Frame>),
    Boxed(mpsc::Sender<Box<Frame>>),
}

impl Queue {
    fn try_send(&self, frame: Frame) -> Result<(), mpsc::error::TrySendError<Frame>> {
        use mpsc::error::TrySendError;
        match self {
            Queue::Plain(queue) => queue.try_send(frame),
            Queue::Boxed(queue) => queue
                .try_send(Box::new(frame))
                .map_err(|error| match error {
                    TrySendError::Full(frame) => TrySendError::Full(*frame),
                    TrySendError::Closed(frame) => TrySendError::Closed(*frame),
                }),
        }
    }
}

/// The write half of a socket, shared by the room (which only ever tries it) and the writer
/// task (which waits on it).
#[derive(Debug)]
struct Shared {
    sink: tokio::sync::Mutex<SplitSink<WebSocket, Message>>,
    /// Frames put in the queue and not yet handed to the socket by the writer. The room
    /// writes straight only when it is zero, so a frame never overtakes one queued before it:
    /// only the room adds to it, and the writer takes a frame off only under the lock.
    queued: AtomicUsize,
    /// The room handed a frame to the socket but the socket could not take all of it at
    /// once: the writer finishes the flush (it waits for the socket to drain; the room never
    /// does).
    unflushed: Notify,
}

/// What became of a frame the room tried to write straight into the socket.
enum Direct {
    /// In the socket.
    Written,
    /// Taken, but the socket could not take it all at once: the writer finishes.
    Unflushed,
    /// Not taken (something is queued before it, the writer holds the socket, or the socket
    /// is full): it goes through the queue.
    Busy(Frame),
}

impl From<mpsc::Sender<Frame>> for Outbox {
    /// An outbox that is only a queue: whoever holds the receiver writes.
    fn from(queue: mpsc::Sender<Frame>) -> Outbox {
        Outbox {
            queue: Queue::Plain(queue),
            socket: None,
        }
    }
}

impl Outbox {
    /// Sends `frame` without waiting: into the socket if it takes it at once, else into the
    /// queue. `Full`: the connection does not keep up (the room drops it); `Closed`: the
    /// writer has ended.
    pub fn try_send(&self, frame: Frame) -> Result<(), mpsc::error::TrySendError<Frame>> {
        let Some(shared) = &self.socket else {
            return self.queue.try_send(frame);
        };
        let frame = match Self::write_now(shared, frame) {
            Direct::Written => {
                #[cfg(test)]
                tests::WAYS[0].fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Direct::Unflushed => {
                #[cfg(test)]
                tests::WAYS[1].fetch_add(1, Ordering::Relaxed);
                // Counts as queued until the writer has flushed it: nothing is written
                // straight behind an unfinished flush, so the socket's write buffer never
                // grows past what the queue bounds.
                shared.queued.fetch_add(1, Ordering::AcqRel);
                shared.unflushed.notify_one();
                return Ok(());
            }
            Direct::Busy(frame) => {
                #[cfg(test)]
                tests::WAYS[2].fetch_add(1, Ordering::Relaxed);
                frame
            }
        };
        shared.queued.fetch_add(1, Ordering::AcqRel);
        self.queue.try_send(frame).inspect_err(|_| {
            shared.queued.fetch_sub(1, Ordering::AcqRel);
        })
    }

    /// Writes a data frame into the socket if nothing is queued before it and the socket
    /// takes it now. Polled with a waker that does nothing: whatever is left to wait for is
    /// the writer's.
    fn write_now(shared: &Shared, frame: Frame) -> Direct {
        let Frame::Data(bytes) = frame else {
            // Closing goes through the writer, after everything queued.
            return Direct::Busy(frame);
        };
        if shared.queued.load(Ordering::Acquire) != 0 {
            return Direct::Busy(Frame::Data(bytes));
        }
        let Ok(mut sink) = shared.sink.try_lock() else {
            return Direct::Busy(Frame::Data(bytes));
        };
        let mut cx = Context::from_waker(Waker::noop());
        match sink.poll_ready_unpin(&mut cx) {
            Poll::Ready(Ok(())) => {}
            // A broken socket: the writer meets the same error and ends the connection.
            Poll::Pending | Poll::Ready(Err(_)) => return Direct::Busy(Frame::Data(bytes)),
        }
        if sink.start_send_unpin(Message::Binary(bytes)).is_err() {
            // Broken: the reader and the writer see it too; the frame has nowhere to go.
            return Direct::Written;
        }
        match sink.poll_flush_unpin(&mut cx) {
            Poll::Ready(_) => Direct::Written,
            Poll::Pending => Direct::Unflushed,
        }
    }
}

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

/// Splits an upgraded socket: the read half for the connection's task, the `Outbox` for the
/// room, and the writer task. The writer drains the queue until the outbox is dropped,
/// `close` is cancelled (after the frames already queued: a goodbye and its close frame go
/// out first), a write fails, or a `Frame::Close` is written. `ping_interval` zero: no pings.
pub fn open(
    socket: WebSocket,
    close: CancellationToken,
    ping_interval: Duration,
) -> (SplitStream<WebSocket>, Outbox, JoinHandle<()>) {
    let (sink, stream) = socket.split();
    let (queue, rx) = mpsc::channel::<Box<Frame>>(OUTBOX_CAPACITY);
    let shared = Arc::new(Shared {
        sink: tokio::sync::Mutex::new(sink),
        queued: AtomicUsize::new(0),
        unflushed: Notify::new(),
    });
    let writer = spawn_writer(Arc::clone(&shared), rx, close, ping_interval);
    let outbox = Outbox {
        queue: Queue::Boxed(queue),
        socket: Some(shared),
    };
    (stream, outbox, writer)
}

fn spawn_writer(
    shared: Arc<Shared>,
    mut rx: mpsc::Receiver<Box<Frame>>,
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
                () = shared.unflushed.notified() => {
                    let mut sink = shared.sink.lock().await;
                    let result = sink.flush().await;
                    shared.queued.fetch_sub(1, Ordering::AcqRel);
                    if result.is_err() {
                        break;
                    }
                    continue;
                }
                () = next_ping(&mut ping) => {
                    if shared.sink.lock().await.send(Message::Ping(Bytes::new())).await.is_err() {
                        break;
                    }
                    continue;
                }
            };
            let mut sink = shared.sink.lock().await;
            let Some(first) = first else {
                let _ = sink.close().await;
                break;
            };
            // Everything already queued goes out with one flush. Each frame counts as
            // queued until it is in the socket, so the room does not write past it.
            let mut next = Some(first);
            let mut closing = None;
            let mut result = Ok(());
            while let Some(frame) = next.take() {
                match *frame {
                    Frame::Data(bytes) => {
                        result = sink.feed(Message::Binary(bytes)).await;
                        shared.queued.fetch_sub(1, Ordering::AcqRel);
                        if result.is_err() {
                            break;
                        }
                    }
                    Frame::Close { code, reason } => {
                        // Stays counted: nothing is written after the close frame.
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use tokio_tungstenite::tungstenite::Message as ClientMessage;

    /// How many frames went each way: written straight, left to the writer to flush, queued.
    pub(super) static WAYS: [AtomicUsize; 3] = [const { AtomicUsize::new(0) }; 3];

    const FRAMES: u32 = 3_000;
    // 48 MB in all: more than loopback socket buffers hold, so the socket fills.
    const FRAME_BYTES: usize = 16 * 1024;

    /// A room that sends `FRAMES` numbered frames as fast as the outbox takes them, waiting
    /// a moment whenever it is full (a real room would drop the connection instead).
    async fn flood(socket: WebSocket) {
        let close = CancellationToken::new();
        let (_stream, outbox, writer) = open(socket, close.clone(), Duration::ZERO);
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
                    Err(mpsc::error::TrySendError::Closed(_)) => panic!("the writer ended"),
                }
            }
        }
        outbox
            .try_send(Frame::Close {
                code: 1000,
                reason: "done",
            })
            .ok();
        drop(outbox);
        finish(writer).await;
    }

    /// Frames written straight by the room, left for the writer to flush, and queued behind
    /// a full socket arrive all, once each, in the order they were sent: the client reads
    /// slowly at first, so the socket fills and the three ways take turns.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn frames_keep_their_order_whichever_way_they_go() {
        let app = Router::new().route(
            "/ws",
            get(|ws: WebSocketUpgrade| async move { configure(ws).on_upgrade(flood) }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let (mut client, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        let mut next = 0u32;
        let read = async {
            while let Some(message) = client.next().await {
                match message.unwrap() {
                    ClientMessage::Binary(bytes) => {
                        assert_eq!(bytes.len(), FRAME_BYTES);
                        let i = u32::from_le_bytes(bytes[..4].try_into().unwrap());
                        assert_eq!(i, next, "frames out of order or lost");
                        next += 1;
                        // Slow at first: the server's socket buffer fills up.
                        if next < 200 {
                            tokio::time::sleep(Duration::from_millis(2)).await;
                        }
                    }
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
}
