//! One WebSocket connection, one task: it reads frames, decodes them and forwards them to the
//! room, and meanwhile writes what the room queued in the connection's `Outbox`
//! (`transport::open`: the room writes straight into the socket when it takes a frame at once,
//! else the frame waits in the bounded queue for this task). When reading ends the room is
//! told, and the task writes what is still queued before it ends.
//!
//! The connection enforces its own limits (`ConnectionLimits`): its message rate (a token
//! bucket: `SlowDown` rejections, then a close with 1008 and `Closing { RateLimited }`), and
//! heartbeats (the task pings every `ping_interval` and closes a socket from which
//! nothing, not even a pong, arrived for `idle_timeout`), and a `Hello` within
//! `hello_timeout` of opening.
//!
//! Whatever the connection answers itself (a frame that does not decode, a `SlowDown`, a
//! goodbye) goes through the room as mail, never straight into the outbox: the room answers
//! in the order it receives, so a refusal never overtakes the answer to an earlier request.
//!
//! When the server closes a socket (a flood, a timeout, the room dropping it) it keeps reading
//! and discarding what the client still sends for up to [`CLOSE_DRAIN`], paced, until the
//! client's own close frame: dropping a socket with unread data makes the kernel send a TCP
//! reset, and the client would see 1006 instead of the close frame queued for it.
//!
//! Each session ends with one `info` line, `websocket session ended`, with the client's IP (as
//! resolved through trusted proxies), the reason (`SessionEnd`) and how long it lasted; the
//! enclosing `conn` span adds the room and the connection id (docs/DEPLOY.md points fail2ban
//! at it).

use perudo_protocol::{ClientMessage, CloseReason, DecodeError, RejectCode};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info};

use crate::limits::{ConnectionLimits, MessageGate, Verdict};
use crate::metrics;
use crate::room::{ConnId, Frame, Mail, RoomHandle, close_code};
use crate::transport::{Message, Outbox, Silence, Socket, WsError};
use std::future::Future;

pub use crate::transport::OUTBOX_CAPACITY;

/// How long a socket the server closes is still read (and what arrives discarded) so that the
/// client gets the close frame rather than a TCP reset. Long enough for a client that floods
/// from a busy loop to get back to reading: with 2 s, a client still writing after 2 s had
/// its writes fail with a reset (1006 in client libraries) before it read the goodbye.
pub const CLOSE_DRAIN: std::time::Duration = std::time::Duration::from_secs(10);
/// While a closed socket is drained, messages read before each pause of [`DRAIN_PAUSE`]: a
/// client that goes on flooding is held back by TCP flow control (its writes wait, they do
/// not fail) instead of being read at full speed, so the drain costs little.
const DRAIN_BATCH: u32 = 256;
const DRAIN_PAUSE: std::time::Duration = std::time::Duration::from_millis(10);

/// Why a WebSocket session ended, as logged (`reason=...`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// The client closed it (close frame, or the TCP connection ended).
    ClientClosed,
    /// Closed for sending faster than allowed after being told to slow down (1008).
    RateLimited,
    /// Nothing arrived for the idle timeout (1001).
    IdleTimeout,
    /// No `Hello` within the hello timeout (1008).
    HelloTimeout,
    /// A message over the size limit (1009).
    TooBig,
    /// The room dropped it: kicked, replaced by another socket, or not reading its outbox.
    DroppedByRoom,
    /// The room has closed.
    RoomClosed,
    /// The server is shutting down (1012).
    ServerShutdown,
    /// A protocol or network error.
    Error,
}

impl SessionEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionEnd::ClientClosed => "client_closed",
            SessionEnd::RateLimited => "rate_limited",
            SessionEnd::IdleTimeout => "idle_timeout",
            SessionEnd::HelloTimeout => "hello_timeout",
            SessionEnd::TooBig => "too_big",
            SessionEnd::DroppedByRoom => "dropped_by_room",
            SessionEnd::RoomClosed => "room_closed",
            SessionEnd::ServerShutdown => "server_shutdown",
            SessionEnd::Error => "error",
        }
    }

    /// Whether the server closed the socket and should read until the client's close frame.
    fn server_closed(self) -> bool {
        matches!(
            self,
            SessionEnd::RateLimited
                | SessionEnd::IdleTimeout
                | SessionEnd::HelloTimeout
                | SessionEnd::TooBig
                | SessionEnd::DroppedByRoom
        )
    }
}

impl std::fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The mail that has the room refuse a frame that never reached it as a request (it did not
/// decode, or it came over the message rate). The room sends the rejection in its turn, after
/// the answers to the requests before it, so answers keep the order of requests.
fn refusal(conn: ConnId, id: u32, code: RejectCode, message: String) -> Mail {
    metrics::rejected(code);
    Mail::Refused {
        conn,
        id,
        code,
        message,
    }
}

/// The mail that has the room close this connection: `Closing { reason }` (if any) and the
/// close frame go out after the answers to everything the connection sent before.
fn goodbye(conn: ConnId, reason: Option<CloseReason>, code: u16, text: &'static str) -> Mail {
    Mail::Goodbye {
        conn,
        reason,
        code,
        text,
    }
}

/// Hands `mail` to the room: at once when its inbox has space (nearly always), else the
/// future waits for space while the socket goes on writing. `false`: the room has closed.
///
/// The mail is offered before the future is awaited, and only the wait is kept, boxed: a
/// connection's task is its future, as large as its largest state for the connection's whole
/// life, and the channel's send future (~180 bytes), with what the read loop held beside it,
/// was that state.
fn tell<'a>(
    socket: &'a mut Socket,
    room: &'a RoomHandle,
    mail: Mail,
) -> impl Future<Output = bool> + 'a {
    let wait = match room.try_send(mail) {
        Ok(open) => Err(open),
        Err(mail) => Ok(socket.meanwhile(Box::pin(room.send_boxed(mail)))),
    };
    async move {
        match wait {
            Ok(wait) => wait.await,
            Err(open) => open,
        }
    }
}

/// What the read loop does next, decided without waiting for anything, so that nothing of the
/// frame it read is held while it waits.
enum Next {
    /// Read on.
    Read,
    /// Hand the room this, then read on (the session ends if the room has closed).
    Tell(Mail),
    /// Hand the room this goodbye, then end the session.
    Bye(Mail, SessionEnd),
    /// End the session.
    End(SessionEnd),
}

/// One game socket's task: what it holds for as long as the socket is open. The task's future
/// owns this and serves it by reference (`serve(&mut self)`): a value passed on by value into
/// an `async fn` is held twice by the future that awaits it, and this future is most of an
/// idle connection's memory.
#[derive(Debug)]
pub struct Connection {
    socket: Socket,
    /// Until it is handed to the room.
    outbox: Option<Outbox>,
    room: RoomHandle,
    conn: ConnId,
    ip: std::net::IpAddr,
    /// Cancelled when the server shuts down or the operator ends the session.
    shutdown: CancellationToken,
    /// Cancelled when the room drops the connection, or with `shutdown` (its parent).
    close: CancellationToken,
    limits: ConnectionLimits,
}

impl Connection {
    /// A connection on an upgraded socket (`transport::open`).
    pub fn new(
        (socket, outbox): (Socket, Outbox),
        room: RoomHandle,
        conn: ConnId,
        ip: std::net::IpAddr,
        shutdown: CancellationToken,
        limits: ConnectionLimits,
    ) -> Connection {
        Connection {
            socket,
            outbox: Some(outbox),
            room,
            conn,
            ip,
            close: shutdown.child_token(),
            shutdown,
            limits,
        }
    }

    /// Serves the socket until it closes, the room drops it, it breaks a limit, or the server
    /// shuts down.
    pub async fn serve(&mut self) {
        let _open = metrics::connection_opened();
        let opened = Instant::now();
        let (conn, ip) = (self.conn, self.ip);
        let Some(outbox) = self.outbox.take() else {
            return;
        };
        let connect = Mail::Connect {
            conn,
            outbox: outbox.clone(),
            close: self.close.clone(),
        };
        if !tell(&mut self.socket, &self.room, connect).await {
            let _ = outbox.try_send(Frame::Close {
                code: close_code::NORMAL,
                reason: "room closed",
            });
            drop(outbox);
            self.socket.finish().await;
            info!(%ip, reason = %SessionEnd::RoomClosed, ms = 0, "websocket session ended");
            return;
        }
        drop(outbox);

        let end = self.read(opened).await;
        let socket = &mut self.socket;
        tell(socket, &self.room, Mail::Disconnect { conn }).await;
        if end.server_closed() {
            // The close frame goes out; meanwhile whatever the client still sends is read and
            // dropped, paced, until its own close frame (or the end of the stream, an error,
            // CLOSE_DRAIN, or the server shutting down). Dropping the socket with unread bytes
            // would make the kernel reset the connection, and a client still writing would
            // see its writes fail before it reads the goodbye. Boxed: the drain is rare, and
            // the task's future is as large as its largest state for the connection's life.
            Box::pin(drain(socket, &self.shutdown)).await;
        }
        socket.finish().await;
        info!(
            %ip,
            reason = %end,
            ms = opened.elapsed().as_millis() as u64,
            "websocket session ended"
        );
    }
}

impl Connection {
    /// Reads the client's messages until the session ends, and says why.
    async fn read(&mut self, opened: Instant) -> SessionEnd {
        let Connection {
            socket,
            room,
            conn,
            close,
            shutdown,
            limits,
            ..
        } = self;
        let (conn, room, close, shutdown, limits) = (*conn, &*room, &*close, &*shutdown, &*limits);
        let mut gate = MessageGate::new(limits);
        let mut silence = Silence::new(limits.idle_timeout);
        // Until the client says Hello: when it must have.
        let mut hello_until =
            (!limits.hello_timeout.is_zero()).then(|| opened + limits.hello_timeout);
        // One timer for both deadlines (the idle timeout and, until the Hello, the hello
        // timeout), made once. Both only ever move later: a message moves them without
        // touching the timer, and a timer that fires before the deadline as it then stands is
        // set again to it. (A timer made anew for each message cost a registration in the
        // runtime's timer wheel and its removal, per message.)
        let deadline = |hello_until: Option<Instant>, silence: &Silence| match hello_until {
            Some(at) => at.min(silence.until()),
            None => silence.until(),
        };
        let timer = tokio::time::sleep_until(deadline(hello_until, &silence));
        tokio::pin!(timer);
        // `close` is a child of `shutdown`: one wait for both, made once (a wait made anew
        // for each message registers with the token and leaves it again, under its lock).
        let closed = close.cancelled();
        tokio::pin!(closed);
        loop {
            // Decided in a block of its own, so that nothing of it is held while the mail
            // waits for the room (see `tell`).
            let (mail, end) = {
                let next = tokio::select! {
                    message = socket.recv() => {
                        let now = Instant::now();
                        silence.heard(now);
                        let heard = Heard {
                            conn,
                            limits,
                            gate: &mut gate,
                            hello_until: &mut hello_until,
                        };
                        heard.next(message, now)
                    }
                    () = &mut closed => Next::End(if shutdown.is_cancelled() {
                        // The room sends the restart notice; `finish` gives it a moment to
                        // go out.
                        SessionEnd::ServerShutdown
                    } else {
                        SessionEnd::DroppedByRoom
                    }),
                    () = &mut timer => {
                        let due = deadline(hello_until, &silence);
                        if due > Instant::now() {
                            timer.as_mut().reset(due);
                            Next::Read
                        } else if hello_until.is_some_and(|at| at <= Instant::now()) {
                            debug!(conn, "no hello in time");
                            metrics::rate_limited("hello_timeout");
                            let reason = Some(CloseReason::IdleTimeout);
                            let code = close_code::POLICY;
                            let bye = goodbye(conn, reason, code, "no hello in time");
                            Next::Bye(bye, SessionEnd::HelloTimeout)
                        } else {
                            debug!(conn, "idle timeout");
                            let reason = Some(CloseReason::IdleTimeout);
                            let code = close_code::GOING_AWAY;
                            let bye = goodbye(conn, reason, code, "idle timeout");
                            Next::Bye(bye, SessionEnd::IdleTimeout)
                        }
                    }
                };
                match next {
                    Next::Read => continue,
                    Next::Tell(mail) => (mail, None),
                    Next::Bye(mail, end) => (mail, Some(end)),
                    Next::End(end) => return end,
                }
            };
            let open = tell(socket, room, mail).await;
            match end {
                // A goodbye: the session ends whether or not the room took it.
                Some(end) => return end,
                None if !open => return SessionEnd::RoomClosed,
                None => {}
            }
        }
    }
}

/// What the read loop keeps about a client's messages (its rate, whether it said Hello) while
/// it decides what one means.
struct Heard<'a> {
    conn: ConnId,
    limits: &'a ConnectionLimits,
    gate: &'a mut MessageGate,
    /// Until the client says Hello: when it must have.
    hello_until: &'a mut Option<Instant>,
}

impl Heard<'_> {
    /// What to do with what `Socket::recv` gave.
    fn next(self, message: Option<Result<Message, WsError>>, now: Instant) -> Next {
        let Heard {
            conn,
            limits,
            gate,
            hello_until,
        } = self;
        if matches!(message, Some(Ok(ref m)) if !matches!(m, Message::Close(_))) {
            match gate.check(now) {
                Verdict::Pass => {}
                Verdict::SlowDown => {
                    // Answer with the request's own id when the frame is one.
                    let id = match &message {
                        Some(Ok(Message::Binary(bytes))) => {
                            ClientMessage::decode(bytes).map_or(0, |m| m.id)
                        }
                        _ => 0,
                    };
                    metrics::rate_limited("messages");
                    let message = format!(
                        "at most {} messages a second (bursts of {}); wait a moment",
                        limits.messages_per_sec, limits.message_burst
                    );
                    return Next::Tell(refusal(conn, id, RejectCode::SlowDown, message));
                }
                Verdict::Close => {
                    debug!(conn, "rate limited: closing");
                    let reason = Some(CloseReason::RateLimited);
                    let bye = goodbye(conn, reason, close_code::POLICY, "rate limited");
                    return Next::Bye(bye, SessionEnd::RateLimited);
                }
            }
        }
        let bytes = match message {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Text(_))) => {
                metrics::message_in(metrics::INVALID_FRAME);
                let message = "frames must be binary MessagePack".to_owned();
                return Next::Tell(refusal(conn, 0, RejectCode::Malformed, message));
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => return Next::Read,
            Some(Err(error)) => {
                // A message over MAX_WS_MESSAGE: say so with close code 1009 ("message too
                // big").
                if matches!(error, WsError::Capacity(_)) {
                    let bye = goodbye(conn, None, close_code::TOO_BIG, "message too big");
                    return Next::Bye(bye, SessionEnd::TooBig);
                }
                return Next::End(SessionEnd::Error);
            }
            Some(Ok(Message::Close(_))) | None => return Next::End(SessionEnd::ClientClosed),
        };
        match ClientMessage::decode(&bytes) {
            Ok(message) => {
                metrics::message_in(message.request.kind());
                if matches!(message.request, perudo_protocol::Request::Hello { .. }) {
                    *hello_until = None;
                }
                Next::Tell(Mail::Message { conn, message })
            }
            Err(error) => {
                let code = match error {
                    DecodeError::TooLarge { .. } => RejectCode::TooLarge,
                    DecodeError::Invalid(_) => RejectCode::Malformed,
                };
                debug!(conn, %error, "undecodable frame");
                metrics::message_in(metrics::INVALID_FRAME);
                Next::Tell(refusal(conn, 0, code, error.to_string()))
            }
        }
    }
}

/// Reads and drops what a client still sends after the server closed its socket, paced,
/// until its close frame, for at most `CLOSE_DRAIN` (or until the server shuts down), while
/// the goodbye and the close frame go out.
async fn drain(socket: &mut Socket, shutdown: &CancellationToken) {
    let drained = async {
        let mut read = 0u32;
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
            read = read.wrapping_add(1);
            if read.is_multiple_of(DRAIN_BATCH) {
                socket.meanwhile(tokio::time::sleep(DRAIN_PAUSE)).await;
            }
        }
    };
    tokio::select! {
        _ = tokio::time::timeout(CLOSE_DRAIN, drained) => {}
        () = shutdown.cancelled() => {}
    }
}
