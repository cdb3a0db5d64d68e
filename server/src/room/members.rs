//! The room's connections: roles, outgoing frames, and dropping a connection.

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Role {
    /// Said hello (or not yet) but neither seated nor watching: receives nothing.
    Outsider,
    Seat(Seat),
    Spectator,
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) outbox: Outbox,
    pub(super) close: CancellationToken,
    pub(super) greeted: bool,
    pub(super) role: Role,
    /// The last `YouView` sent, so a `Private` goes out only when it changed.
    pub(super) last_you: Option<YouView>,
}

/// Something the room does to a connection once the input's writes are committed.
#[derive(Debug)]
pub(super) enum Out {
    /// A frame, and the type of the message in it for the metrics (`None`: a close frame).
    Frame(ConnId, Outbox, Frame, Option<&'static str>),
    /// Stop the connection (after the frames queued before this).
    Cancel(CancellationToken),
}

impl Room {
    pub(super) fn spectator_count(&self) -> u32 {
        self.conns
            .values()
            .filter(|c| c.role == Role::Spectator)
            .count() as u32
    }

    /// Queues a frame for `conn`, sent once the input's writes are committed (`persist`); a
    /// full outbox then drops the connection.
    /// `kind` is the type of the message in the frame (`None`: a close frame).
    pub(super) fn push(&mut self, conn: ConnId, frame: Frame, kind: Option<&'static str>) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        self.outgoing
            .push(Out::Frame(conn, c.outbox.clone(), frame, kind));
    }

    /// Queues a message for a connection the room does not hold (yet): for a room being
    /// rebuilt.
    pub(super) fn push_now(&mut self, conn: ConnId, outbox: &Outbox, message: &ServerMessage) {
        self.outgoing.push(Out::Frame(
            conn,
            outbox.clone(),
            Frame::Data(Self::encode(message)),
            Some(message.kind()),
        ));
    }

    /// Puts a frame in a connection's outbox; a full outbox drops the connection.
    pub(super) fn deliver(
        &mut self,
        conn: ConnId,
        outbox: &Outbox,
        frame: Frame,
        kind: Option<&'static str>,
    ) {
        let role = self.conns.get(&conn).map(|c| c.role);
        let failed = match outbox.try_send(frame) {
            Ok(()) => {
                if let Some(kind) = kind {
                    metrics::message_out(kind);
                }
                false
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                warn!(conn, "outbox full: dropping slow connection");
                metrics::slow_consumer_dropped();
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => true,
        };
        if !failed {
            return;
        }
        let Some(role) = role else {
            // Already detached (closed by the room): nothing more to do.
            return;
        };
        // A player lost this way is announced once the current input is handled: this may
        // run in the middle of a broadcast.
        if let Role::Seat(seat) = role
            && let Some(SeatSlot {
                kind:
                    SeatKind::Human {
                        token_hash,
                        conn: Some(held),
                        ..
                    },
                ..
            }) = self.seats.get(seat)
            && *held == conn
        {
            self.lost.push((seat, *token_hash));
        }
        self.kill_conn(conn);
    }

    /// Tells the room about players whose connections were dropped for not keeping up.
    pub(super) fn announce_lost(&mut self) {
        while !self.lost.is_empty() {
            let lost = std::mem::take(&mut self.lost);
            let events: Vec<RoomEvent> = lost
                .into_iter()
                .filter(|&(seat, hash)| {
                    // Still that player's seat, still without a connection.
                    matches!(
                        self.seats.get(seat).map(|s| &s.kind),
                        Some(SeatKind::Human { token_hash, conn: None, .. }) if *token_hash == hash
                    )
                })
                .map(|(seat, _)| RoomEvent::Disconnected { seat })
                .collect();
            if !events.is_empty() {
                self.broadcast(events, true, false);
            }
        }
    }

    pub(super) fn send_to(&mut self, conn: ConnId, message: &ServerMessage) {
        self.push(
            conn,
            Frame::Data(Self::encode(message)),
            Some(message.kind()),
        );
    }

    /// Tells `conn` why it is being closed, closes it, and forgets it. Its seat stays.
    pub(super) fn close_conn(
        &mut self,
        conn: ConnId,
        reason: CloseReason,
        code: u16,
        text: &'static str,
    ) {
        self.send_to(conn, &ServerMessage::Closing { reason });
        self.push(conn, Frame::Close { code, reason: text }, None);
        self.kill_conn(conn);
    }

    /// Drops a connection the room can no longer talk to. Its seat stays.
    pub(super) fn kill_conn(&mut self, conn: ConnId) {
        if let Some(c) = self.conns.get(&conn) {
            // After the frames queued for it (a goodbye) have gone out.
            self.outgoing.push(Out::Cancel(c.close.clone()));
        }
        // The reader will report the disconnect; detach now so nothing else is queued.
        self.detach(conn);
    }

    /// Forgets `conn` and frees whatever it held, without any broadcast. A seat it held
    /// waits for its player from now on (the away timers start).
    pub(super) fn detach(&mut self, conn: ConnId) -> Option<Role> {
        let c = self.conns.remove(&conn)?;
        if let Role::Seat(seat) = c.role
            && let Some(SeatSlot {
                kind:
                    SeatKind::Human {
                        conn: held,
                        away_since,
                        ..
                    },
                ..
            }) = self.seats.get_mut(seat)
            && *held == Some(conn)
        {
            *held = None;
            *away_since = Some(self.now);
        }
        Some(c.role)
    }

    pub(super) fn drop_conn(&mut self, conn: ConnId, now: Instant) {
        debug!(conn, "disconnected");
        let held = match self.conns.get(&conn).map(|c| c.role) {
            Some(Role::Seat(seat)) => matches!(
                self.seats.get(seat).map(|s| &s.kind),
                Some(SeatKind::Human { conn: Some(c), .. }) if *c == conn
            )
            .then_some(seat),
            Some(Role::Outsider | Role::Spectator) | None => None,
        };
        let role = self.detach(conn);
        if self.conns.is_empty() {
            self.empty_since = Some(now);
        }
        if let Some(seat) = held {
            info!(seat = seat.get(), "player disconnected");
            self.broadcast(vec![RoomEvent::Disconnected { seat }], true, false);
        } else if matches!(role, Some(Role::Seat(_) | Role::Spectator)) {
            self.broadcast(Vec::new(), true, false);
        }
    }

    pub(super) fn close_all(&mut self, reason: CloseReason, code: u16) {
        let closing = Self::encode(&ServerMessage::Closing { reason });
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            self.push(conn, Frame::Data(closing.clone()), Some("Closing"));
            self.push(
                conn,
                Frame::Close {
                    code,
                    reason: "server restart",
                },
                None,
            );
        }
    }

    /// Connections that receive room broadcasts.
    pub(super) fn members(&self) -> Vec<ConnId> {
        self.conns
            .iter()
            .filter(|(_, c)| c.role != Role::Outsider)
            .map(|(&id, _)| id)
            .collect()
    }

    pub(super) fn role(&self, conn: ConnId) -> Role {
        self.conns.get(&conn).map_or(Role::Outsider, |c| c.role)
    }
}
