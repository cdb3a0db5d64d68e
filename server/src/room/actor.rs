//! The room's task: `RoomHandle`, spawn and the run loop, the only tokio code of the room.

use super::*;

/// The cloneable handle everyone else holds.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    pub code: String,
    pub(super) tx: mpsc::Sender<Input>,
}

impl RoomHandle {
    /// Sends an input, waiting for inbox space. `false` if the room has closed.
    pub async fn send(&self, input: Input) -> bool {
        self.tx.send(input).await.is_ok()
    }

    pub async fn summary(&self) -> Option<perudo_protocol::http::RoomSummary> {
        let (respond_to, rx) = oneshot::channel();
        if !self.send(Input::Summary { respond_to }).await {
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

impl Room {
    /// Spawns the room's task on `tracker` and returns its handle. `on_close` runs when the
    /// room's task ends (the registry forgets it).
    pub fn spawn(
        self,
        tracker: &tokio_util::task::TaskTracker,
        shutdown: CancellationToken,
        on_close: impl FnOnce() + Send + 'static,
    ) -> RoomHandle {
        let (tx, rx) = mpsc::channel(ROOM_INBOX_CAPACITY);
        let handle = RoomHandle {
            code: self.code.clone(),
            tx,
        };
        let span = tracing::info_span!("room", room = %self.code);
        tracker.spawn(tracing::Instrument::instrument(
            async move {
                self.run(rx, shutdown).await;
                on_close();
            },
            span,
        ));
        handle
    }

    pub(super) async fn run(
        mut self,
        mut inbox: mpsc::Receiver<Input>,
        shutdown: CancellationToken,
    ) {
        info!("room open");
        // A restored room's version jumped: store it, so that the next restart jumps past
        // every version this run hands out.
        if let (Some(store), Some(committed)) = (self.store.clone(), &self.committed)
            && committed.version != self.version
        {
            let batch = Batch {
                code: self.code.clone(),
                version: self.version,
                writes: Vec::new(),
            };
            match store::commit(&*store, batch).await {
                Ok(()) => {
                    if let Some(committed) = &mut self.committed {
                        committed.version = self.version;
                    }
                }
                Err(error) => warn!(%error, "could not store the restored room's version"),
            }
        }
        // What the rooms-by-phase gauge counts this room as: changes only, no scans.
        let mut phase = Some(self.phase());
        metrics::room_phase(None, phase);
        while !self.closed {
            let deadline = self.next_deadline();
            let input = tokio::select! {
                // Shutdown first: connections see the same token and report their
                // disconnects, and a room that took those first would forget the sockets
                // before telling them it is a restart.
                biased;
                () = shutdown.cancelled() => {
                    self.close_all(CloseReason::ServerRestart, close_code::SERVICE_RESTART);
                    self.flush();
                    break;
                }
                input = inbox.recv() => match input {
                    Some(input) => input,
                    None => break,
                },
                () = async {
                    match deadline {
                        Some(at) => tokio::time::sleep_until(at).await,
                        None => std::future::pending().await,
                    }
                } => Input::Tick,
            };
            // An `Act` is timed from here until its answer and broadcast are queued.
            let act_started = matches!(
                &input,
                Input::Message { message, .. } if matches!(message.request, Request::Act { .. })
            )
            .then(std::time::Instant::now);
            self.handle_event(input, Now::system());
            self.persist().await;
            if let Some(started) = act_started {
                metrics::action_latency(started.elapsed());
            }
            let now_phase = self.phase();
            metrics::room_phase(phase, Some(now_phase));
            phase = Some(now_phase);
        }
        metrics::room_phase(phase, None);
        if self.closed
            && let Some(store) = self.store.clone()
        {
            // Closed for good (nobody came back): not restored after a restart.
            let batch = Batch {
                code: self.code.clone(),
                version: self.version,
                writes: vec![Write::Closed],
            };
            if let Err(error) = store::commit(&*store, batch).await {
                warn!(%error, "could not mark the room closed");
            }
        }
        info!("room closed");
    }
}
