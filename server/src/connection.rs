//! One WebSocket connection: a reader that decodes frames and forwards them to the room, and
//! a writer that drains the connection's bounded outbox. Both only do IO; when either ends,
//! the other is stopped and the room is told.
//!
//! The connection enforces its own limits (`ConnectionLimits`): its message rate (a token
//! bucket: `SlowDown` rejections, then a close with 1008 and `Closing { RateLimited }`), and
//! heartbeats (the writer pings every `ping_interval`; the reader closes a socket from which
//! nothing, not even a pong, arrived for `idle_timeout`).

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use perudo_protocol::{ClientMessage, CloseReason, DecodeError, RejectCode, ServerMessage};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::limits::{ConnectionLimits, MessageGate, Verdict};
use crate::metrics;
use crate::room::{ConnId, Frame, Input, RoomHandle, close_code};
use crate::transport::{self, Silence};

pub use crate::transport::OUTBOX_CAPACITY;

fn reject_frame(code: RejectCode, message: String) -> Frame {
    reject_frame_for(0, code, message)
}

fn reject_frame_for(id: u32, code: RejectCode, message: String) -> Frame {
    let bytes = code
        .reject(id, message)
        .encode()
        .expect("server messages always encode");
    Frame::Data(bytes.into())
}

/// Refuses a frame that never reached the room (it did not decode).
fn refuse_frame(outbox: &mpsc::Sender<Frame>, code: RejectCode, message: String) {
    metrics::message_in(metrics::INVALID_FRAME);
    metrics::rejected(code);
    if outbox.try_send(reject_frame(code, message)).is_ok() {
        metrics::message_out("Rejected");
    }
}

fn closing_frame(reason: CloseReason) -> Frame {
    let bytes = ServerMessage::Closing { reason }
        .encode()
        .expect("server messages always encode");
    Frame::Data(bytes.into())
}

/// Serves one upgraded socket until it closes, the room drops it, it breaks a limit, or the
/// server shuts down.
pub async fn serve(
    socket: WebSocket,
    room: RoomHandle,
    conn: ConnId,
    shutdown: CancellationToken,
    limits: ConnectionLimits,
) {
    let _open = metrics::connection_opened();
    let (mut sink, mut stream) = socket.split();
    let (outbox, rx) = mpsc::channel::<Frame>(OUTBOX_CAPACITY);
    let close = CancellationToken::new();
    if !room
        .send(Input::Connect {
            conn,
            outbox: outbox.clone(),
            close: close.clone(),
        })
        .await
    {
        let _ = sink
            .send(Message::Close(Some(CloseFrame {
                code: close_code::NORMAL,
                reason: "room closed".into(),
            })))
            .await;
        return;
    }

    let writer = transport::spawn_writer(sink, rx, close.clone(), limits.ping_interval);

    let mut gate = MessageGate::new(&limits);
    let mut silence = Silence::new(limits.idle_timeout);
    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            () = close.cancelled() => break,
            () = shutdown.cancelled() => {
                // The room sends the restart notice; give the writer a moment to flush it.
                break;
            }
            () = silence.expired() => {
                debug!(conn, "idle timeout");
                let _ = outbox.try_send(closing_frame(CloseReason::IdleTimeout));
                let _ = outbox.try_send(Frame::Close {
                    code: close_code::GOING_AWAY,
                    reason: "idle timeout",
                });
                break;
            }
        };
        let now = Instant::now();
        silence.heard(now);
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
                    metrics::rejected(RejectCode::SlowDown);
                    let _ = outbox.try_send(reject_frame_for(
                        id,
                        RejectCode::SlowDown,
                        format!(
                            "at most {} messages a second (bursts of {}); wait a moment",
                            limits.messages_per_sec, limits.message_burst
                        ),
                    ));
                    continue;
                }
                Verdict::Close => {
                    debug!(conn, "rate limited: closing");
                    let _ = outbox.try_send(closing_frame(CloseReason::RateLimited));
                    let _ = outbox.try_send(Frame::Close {
                        code: close_code::POLICY,
                        reason: "rate limited",
                    });
                    break;
                }
            }
        }
        let bytes = match message {
            Some(Ok(Message::Binary(bytes))) => bytes,
            Some(Ok(Message::Text(_))) => {
                refuse_frame(
                    &outbox,
                    RejectCode::Malformed,
                    "frames must be binary MessagePack".into(),
                );
                continue;
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            Some(Err(error)) => {
                // A message over MAX_WS_MESSAGE: say so with close code 1009 ("message too
                // big"). axum wraps the tungstenite error it comes from.
                let too_big = error
                    .into_inner()
                    .downcast::<tungstenite::Error>()
                    .is_ok_and(|e| matches!(*e, tungstenite::Error::Capacity(_)));
                if too_big {
                    let _ = outbox.try_send(Frame::Close {
                        code: close_code::TOO_BIG,
                        reason: "message too big",
                    });
                }
                break;
            }
            Some(Ok(Message::Close(_))) | None => break,
        };
        match ClientMessage::decode(&bytes) {
            Ok(message) => {
                metrics::message_in(message.request.kind());
                if !room.send(Input::Message { conn, message }).await {
                    break;
                }
            }
            Err(error) => {
                let code = match error {
                    DecodeError::TooLarge { .. } => RejectCode::TooLarge,
                    DecodeError::Invalid(_) => RejectCode::Malformed,
                };
                debug!(conn, %error, "undecodable frame");
                refuse_frame(&outbox, code, error.to_string());
            }
        }
    }
    room.send(Input::Disconnect { conn }).await;
    drop(outbox);
    transport::finish(writer).await;
    debug!(conn, "connection ended");
}
