//! One WebSocket connection: a reader that decodes frames and forwards them to the room, and
//! a writer that drains the connection's bounded outbox. Both only do IO; when either ends,
//! the other is stopped and the room is told.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use perudo_protocol::{ClientMessage, DecodeError, RejectCode};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::metrics;
use crate::room::{ConnId, Frame, Input, RoomHandle, close_code};

/// Frames a connection may have queued before the room gives up on it.
pub const OUTBOX_CAPACITY: usize = 64;

fn reject_frame(code: RejectCode, message: String) -> Frame {
    let bytes = code
        .reject(0, message)
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

/// Serves one upgraded socket until it closes, the room drops it, or the server shuts down.
pub async fn serve(socket: WebSocket, room: RoomHandle, conn: ConnId, shutdown: CancellationToken) {
    let _open = metrics::connection_opened();
    let (mut sink, mut stream) = socket.split();
    let (outbox, mut rx) = mpsc::channel::<Frame>(OUTBOX_CAPACITY);
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

    let writer_close = close.clone();
    let writer = tokio::spawn(async move {
        loop {
            // Biased: frames already queued (a goodbye and its close frame) go out before
            // the close signal is honoured.
            let first = tokio::select! {
                biased;
                frame = rx.recv() => frame,
                () = writer_close.cancelled() => None,
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
    });

    loop {
        let message = tokio::select! {
            message = stream.next() => message,
            () = close.cancelled() => break,
            () = shutdown.cancelled() => {
                // The room sends the restart notice; give the writer a moment to flush it.
                break;
            }
        };
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
    // Let the writer flush what is queued (a close frame, the restart notice), briefly.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), writer).await;
    debug!(conn, "connection ended");
}
