//! The room's task: `RoomHandle`, spawn and the run loop, the only tokio code of the room.

use super::*;

/// The cloneable handle everyone else holds.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    pub code: RoomCode,
    /// Mail is boxed: a channel allocates its slots in blocks of 32 up front, and a block of
    /// pointers is a fraction of a block of `Mail`s (a room's memory while it is idle).
    pub(super) tx: mpsc::Sender<Box<Mail>>,
}

impl RoomHandle {
    /// Sends mail, waiting for inbox space. `false` if the room has closed.
    ///
    /// Not an `async fn`: that would keep the mail in its future beside the box it is moved
    /// into, and every connection's task holds one of these futures while it waits.
    pub fn send(&self, mail: Mail) -> impl Future<Output = bool> + Send + '_ {
        self.send_boxed(Box::new(mail))
    }

    /// [`send`](Self::send) for mail already boxed (as [`try_send`](Self::try_send) gives
    /// it back).
    pub fn send_boxed(&self, mail: Box<Mail>) -> impl Future<Output = bool> + Send + '_ {
        futures_util::FutureExt::map(self.tx.send(mail), |sent| sent.is_ok())
    }

    /// Sends mail if the inbox has space now: `Ok(true)`, or `Ok(false)` if the room has
    /// closed; the mail back if the inbox is full (wait with `send_boxed`). Mail never
    /// overtakes mail already waiting for space: the channel gives freed slots to waiting
    /// senders first.
    pub fn try_send(&self, mail: Mail) -> Result<bool, Box<Mail>> {
        match self.tx.try_send(Box::new(mail)) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Closed(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Full(mail)) => Err(mail),
        }
    }

    pub async fn summary(&self) -> Option<perudo_protocol::http::RoomSummary> {
        let (respond_to, rx) = oneshot::channel();
        if !self.send(Mail::Summary { respond_to }).await {
            return None;
        }
        rx.await.ok()
    }

    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

impl Now {
    /// What the clocks say now: the actor's side of the room, which does the IO.
    pub fn system() -> Now {
        Now {
            at: Instant::now(),
            unix_ms: store::unix_ms(),
        }
    }
}

/// Where the room's frames for one connection go.
#[derive(Debug)]
struct Link {
    outbox: Outbox,
    /// Cancelled when the room ends the connection.
    close: CancellationToken,
}

/// The room's connections as its task sees them: each one's outbox and closing token.
#[derive(Debug, Default)]
pub(super) struct Links(std::collections::HashMap<ConnId, Link>);

impl Links {
    pub(super) fn insert(&mut self, conn: ConnId, outbox: Outbox, close: CancellationToken) {
        self.0.insert(conn, Link { outbox, close });
    }

    pub(super) fn remove(&mut self, conn: ConnId) {
        self.0.remove(&conn);
    }

    /// Puts each frame in its connection's outbox and ends the connections the room ended.
    /// Returns the connections whose outbox was full (frames after that are not sent to them).
    fn deliver(&mut self, transmits: Vec<Transmit>) -> Vec<ConnId> {
        let mut full = Vec::new();
        // Frames sent, counted by kind for the metrics once per run of one kind (an update
        // to every member is one run), not once per frame.
        let mut sent: Option<(&'static str, u64)> = None;
        for transmit in transmits {
            match transmit {
                Transmit::Frame { conn, frame, kind } => {
                    if full.contains(&conn) {
                        continue;
                    }
                    let Some(link) = self.0.get(&conn) else {
                        continue;
                    };
                    match link.outbox.try_send(frame) {
                        Ok(()) => match (kind, &mut sent) {
                            (Some(kind), Some((counted, n))) if kind == *counted => {
                                *n += 1;
                            }
                            (Some(kind), _) => {
                                if let Some((counted, n)) = sent.replace((kind, 1)) {
                                    metrics::messages_out(counted, n);
                                }
                            }
                            (None, _) => {}
                        },
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            metrics::slow_consumer_dropped();
                            full.push(conn);
                        }
                        // The socket is gone: its reader reports the disconnect.
                        Err(mpsc::error::TrySendError::Closed(_)) => {}
                    }
                }
                Transmit::End { conn } => {
                    if let Some(link) = self.0.remove(&conn) {
                        link.close.cancel();
                    }
                }
            }
        }
        if let Some((kind, n)) = sent {
            metrics::messages_out(kind, n);
        }
        full
    }
}

/// Carries out what the room's last input asked for: commits its writes, then delivers its
/// frames. A full outbox goes back to the room as `Input::OutboxFull`, and what that causes
/// is committed and delivered in turn. The room's task and the room tests both use this, so
/// there is one delivery path, with or without a store.
pub(super) async fn settle(room: &mut Room, store: Option<&dyn Store>, links: &mut Links) {
    loop {
        match room.poll_output() {
            Output::Commit(batch) => {
                let result = match store {
                    Some(store) => store::commit(store, batch.clone()).await,
                    None => {
                        debug_assert!(false, "a durable room without a store");
                        Ok(())
                    }
                };
                room.committed(batch, result);
            }
            Output::Transmit(transmits) => {
                if transmits.is_empty() {
                    return;
                }
                let full = links.deliver(transmits);
                for conn in full {
                    let now = Now {
                        at: room.now,
                        unix_ms: room.unix_ms,
                    };
                    room.handle_event(Input::OutboxFull { conn }, now);
                }
            }
        }
    }
}

impl Room {
    /// Spawns the room's task on `tracker` and returns its handle. `store` keeps a durable
    /// room (see `make_durable` and `restore`). `on_close` runs when the room's task ends
    /// (the registry forgets it).
    pub fn spawn(
        self,
        store: Option<Arc<dyn Store>>,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: CancellationToken,
        on_close: impl FnOnce() + Send + 'static,
    ) -> RoomHandle {
        debug_assert_eq!(
            self.committed.is_some(),
            store.is_some(),
            "a durable room has a store, a room in memory none"
        );
        let (tx, rx) = mpsc::channel(ROOM_INBOX_CAPACITY);
        let handle = RoomHandle {
            code: self.code.clone(),
            tx,
        };
        let span = tracing::info_span!("room", room = %self.code);
        // Boxed before the task's future takes it: a future holds what it captures and
        // every value an `.await` keeps, so an unboxed room would sit in the task two or
        // three times over for as long as the room is open.
        let room = Box::new(self);
        tracker.spawn(tracing::Instrument::instrument(
            async move {
                room.run(store, rx, shutdown).await;
                on_close();
            },
            span,
        ));
        handle
    }

    pub(super) async fn run(
        mut self: Box<Self>,
        store: Option<Arc<dyn Store>>,
        mut inbox: mpsc::Receiver<Box<Mail>>,
        shutdown: CancellationToken,
    ) {
        info!("room open");
        let store = store.as_deref();
        let mut links = Links::default();
        // A restored room's version jump is stored before anything else.
        settle(&mut self, store, &mut links).await;
        // What the rooms-by-phase gauge counts this room as: changes only, no scans.
        let mut phase = Some(self.room_phase());
        metrics::room_phase(None, phase);
        // Waited on once for the room's whole life, on a child of the server's token: a wait
        // made anew for each input registered with (and left) the one token every room
        // shares, under its lock, twice per input.
        let shutdown = shutdown.child_token();
        let shutting_down = shutdown.cancelled();
        tokio::pin!(shutting_down);
        while !self.closed {
            let deadline = self.next_deadline();
            let mail = tokio::select! {
                // Shutdown first: connections see the same token and report their
                // disconnects, and a room that took those first would forget the sockets
                // before telling them it is a restart.
                biased;
                () = &mut shutting_down => {
                    self.close_all(CloseReason::ServerRestart, close_code::SERVICE_RESTART);
                    settle(&mut self, store, &mut links).await;
                    break;
                }
                mail = inbox.recv() => match mail {
                    Some(mail) => Some(*mail),
                    None => break,
                },
                () = async {
                    match deadline {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => None,
            };
            let mut gone = None;
            let input = match mail {
                None => Input::Tick,
                Some(Mail::Connect {
                    conn,
                    outbox,
                    close,
                }) => {
                    links.insert(conn, outbox, close);
                    Input::Connect { conn }
                }
                Some(Mail::Message { conn, message }) => Input::Message { conn, message },
                Some(Mail::Refused {
                    conn,
                    id,
                    code,
                    message,
                }) => Input::Refused {
                    conn,
                    id,
                    code,
                    message,
                },
                Some(Mail::Goodbye {
                    conn,
                    reason,
                    code,
                    text,
                }) => Input::Goodbye {
                    conn,
                    reason,
                    code,
                    text,
                },
                Some(Mail::Disconnect { conn }) => {
                    gone = Some(conn);
                    Input::Disconnect { conn }
                }
                Some(Mail::Summary { respond_to }) => {
                    let _ = respond_to.send(self.summary());
                    continue;
                }
                Some(Mail::Close) => Input::Close,
                Some(Mail::Lost) => Input::Lost,
            };
            // An `Act` is timed from here until its answer and broadcast are queued.
            let now = Now::system();
            let act_started = matches!(
                &input,
                Input::Message { message, .. } if matches!(message.request, Request::Act { .. })
            )
            .then_some(now.at);
            self.handle_event(input, now);
            settle(&mut self, store, &mut links).await;
            if let Some(conn) = gone {
                links.remove(conn);
            }
            if let Some(started) = act_started {
                metrics::action_latency(started.elapsed());
            }
            let now_phase = self.room_phase();
            metrics::room_phase(phase, Some(now_phase));
            phase = Some(now_phase);
        }
        metrics::room_phase(phase, None);
        info!("room closed");
    }
}
