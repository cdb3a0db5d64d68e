//! The room's connections: roles, outgoing frames, and the one vocabulary of dropping a
//! connection: the room *ends* one (`end_conn`: a `Transmit::End`; `close_conn` first tells
//! why), *forgets* it (`forget_conn`: its seat waits for its player), and *hears* that one is
//! gone (`on_disconnect`, `on_outbox_full`).

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
    pub(super) greeted: bool,
    pub(super) role: Role,
    /// The last `YouView` sent, so a `Private` goes out only when it changed.
    pub(super) last_you: Option<YouView>,
}

impl Room {
    pub(super) fn spectator_count(&self) -> u32 {
        self.conns
            .values()
            .filter(|c| c.role == Role::Spectator)
            .count() as u32
    }

    /// Queues a frame for `conn`, sent once the input's writes are committed (see
    /// `poll_output`). `kind` is the type of the message in the frame (`None`: a close frame).
    pub(super) fn push(&mut self, conn: ConnId, frame: Frame, kind: Option<&'static str>) {
        if !self.conns.contains_key(&conn) {
            return;
        }
        self.outgoing.push(Transmit::Frame { conn, frame, kind });
    }

    /// A connection that does not keep up (its outbox was full): it is ended. A player
    /// dropped this way is announced and waited for as if they had disconnected; anyone
    /// else is simply forgotten. The seat stays.
    pub(super) fn on_outbox_full(&mut self, conn: ConnId, now: Instant) {
        let Some(c) = self.conns.get(&conn) else {
            // Already dropped by the room.
            return;
        };
        warn!(conn, "outbox full: dropping slow connection");
        let holds_seat = match c.role {
            Role::Seat(seat) => matches!(
                self.seats.get(seat).map(|s| &s.kind),
                Some(SeatKind::Human { conn: Some(held), .. }) if *held == conn
            ),
            Role::Outsider | Role::Spectator => false,
        };
        if holds_seat {
            self.outgoing.push(Transmit::End { conn });
            self.on_disconnect(conn, now);
        } else {
            self.end_conn(conn);
            if self.conns.is_empty() {
                self.empty_since = Some(now);
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
        self.end_conn(conn);
    }

    /// Ends a connection and forgets it, without any broadcast. Its seat stays.
    pub(super) fn end_conn(&mut self, conn: ConnId) {
        if self.conns.contains_key(&conn) {
            // After the frames queued for it (a goodbye) have gone out.
            self.outgoing.push(Transmit::End { conn });
        }
        // The reader will report the disconnect; forget it now so nothing else is queued.
        self.forget_conn(conn);
    }

    /// Forgets `conn` and frees whatever it held, without any broadcast. A seat it held
    /// waits for its player from now on (the away timers start).
    pub(super) fn forget_conn(&mut self, conn: ConnId) -> Option<Role> {
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

    pub(super) fn on_disconnect(&mut self, conn: ConnId, now: Instant) {
        debug!(conn, "disconnected");
        let held = match self.conns.get(&conn).map(|c| c.role) {
            Some(Role::Seat(seat)) => matches!(
                self.seats.get(seat).map(|s| &s.kind),
                Some(SeatKind::Human { conn: Some(c), .. }) if *c == conn
            )
            .then_some(seat),
            Some(Role::Outsider | Role::Spectator) | None => None,
        };
        let role = self.forget_conn(conn);
        if self.conns.is_empty() {
            self.empty_since = Some(now);
        }
        if let Some(seat) = held {
            info!(seat = seat.get(), "player disconnected");
            self.broadcast(vec![RoomEvent::Disconnected { seat }]);
        } else if matches!(role, Some(Role::Seat(_) | Role::Spectator)) {
            self.broadcast(Vec::new());
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
