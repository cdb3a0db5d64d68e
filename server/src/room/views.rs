//! What members see: the room, table and seat views, and the broadcast of an `Update` to every member.

use super::*;

impl Room {
    pub(super) fn summary(&self) -> perudo_protocol::http::RoomSummary {
        let view = self.room_view();
        perudo_protocol::http::RoomSummary {
            code: view.code,
            phase: view.phase,
            seats_taken: self.seats.count(),
            max_seats: self.rules.max_players,
            spectators: view.spectators,
            rules: view.rules,
            host: view.host,
            seats: view.seats,
            share_url: None,
        }
    }

    pub(super) fn room_phase(&self) -> RoomPhase {
        match &self.phase {
            Phase::Lobby => RoomPhase::Lobby,
            Phase::Playing(play) if play.pause.is_some() => RoomPhase::Reveal,
            Phase::Playing(_) => RoomPhase::Playing,
            Phase::Finished(_) => RoomPhase::Finished,
        }
    }

    pub(super) fn room_view(&self) -> RoomView {
        RoomView {
            code: self.code.clone(),
            phase: self.room_phase(),
            host: self.seats.host(),
            seats: self
                .seats
                .slots()
                .iter()
                .map(|slot| SeatInfo {
                    name: slot.name.clone(),
                    occupant: match &slot.kind {
                        SeatKind::Human { conn, .. } => Occupant::Human {
                            connected: conn.is_some(),
                        },
                        SeatKind::Bot { level, .. } => Occupant::Bot { level: *level },
                    },
                })
                .collect(),
            spectators: self.spectator_count(),
            rules: self.rules.config().clone(),
            options: self.options,
            reveal_pause_ms: self.settings.reveal_pause.as_millis() as u32,
            games_played: self.games_played,
            results: self.results.clone(),
        }
    }

    pub(super) fn play(&self) -> Option<&Play> {
        match &self.phase {
            Phase::Lobby => None,
            Phase::Playing(play) | Phase::Finished(play) => Some(play),
        }
    }

    pub(super) fn table_view(&self) -> Option<TableView> {
        self.play().map(|play| play.game.spectator_view())
    }

    /// What `seat` should see of itself now. During a reveal the next round's hand is held
    /// back with the round.
    pub(super) fn you_view(&self, seat: Seat) -> Option<YouView> {
        let play = self.play()?;
        if seat.index() >= play.game.seat_count() as usize {
            return None;
        }
        // Only the seat's own part: the public table goes out once, in the broadcast.
        if play.pause.is_some() {
            return Some(YouView {
                seat,
                hand: Default::default(),
                legal: LegalMoves::NONE,
            });
        }
        Some(YouView {
            seat,
            hand: play.game.hand(seat).cloned().unwrap_or_default(),
            legal: play.game.legal_moves(seat),
        })
    }

    pub(super) fn encode(message: &ServerMessage) -> Bytes {
        Bytes::from(
            message
                .encode()
                .expect("server messages always encode to MessagePack"),
        )
    }

    /// Sends one `Update` to every member, encoded once, then each seat's `Private` if it
    /// changed.
    pub(super) fn broadcast(
        &mut self,
        events: Vec<RoomEvent>,
        room_changed: bool,
        table_changed: bool,
    ) {
        self.broadcast_except(None, events, room_changed, table_changed);
    }

    /// `broadcast`, leaving out one member that will catch up by itself.
    pub(super) fn broadcast_except(
        &mut self,
        except: Option<ConnId>,
        events: Vec<RoomEvent>,
        room_changed: bool,
        table_changed: bool,
    ) {
        self.update_clock();
        self.version += 1;
        let update = ServerMessage::Update(Update {
            version: self.version,
            events,
            room: room_changed.then(|| self.room_view()),
            table: if table_changed {
                self.table_view()
            } else {
                None
            },
            clock: self.clock(),
        });
        let bytes = Self::encode(&update);
        self.history.push(self.version, bytes.clone());
        for conn in self.members() {
            if Some(conn) != except {
                self.push(conn, Frame::Data(bytes.clone()), Some("Update"));
            }
        }
        self.send_privates();
    }

    /// Sends each seated connection its own view where it changed.
    pub(super) fn send_privates(&mut self) {
        let seated: Vec<(ConnId, Seat)> = self
            .conns
            .iter()
            .filter_map(|(&id, c)| match c.role {
                Role::Seat(seat) => Some((id, seat)),
                Role::Outsider | Role::Spectator => None,
            })
            .collect();
        for (conn, seat) in seated {
            let you = self.you_view(seat);
            let Some(c) = self.conns.get_mut(&conn) else {
                continue;
            };
            if you == c.last_you {
                continue;
            }
            c.last_you.clone_from(&you);
            if let Some(you) = you {
                let message = ServerMessage::Private(Private {
                    version: self.version,
                    you,
                });
                self.send_to(conn, &message);
            }
        }
    }

    /// The full state for one connection.
    pub(super) fn send_snapshot(&mut self, conn: ConnId) {
        let Some(c) = self.conns.get(&conn) else {
            return;
        };
        let you = match c.role {
            Role::Seat(seat) => self.you_view(seat),
            Role::Outsider | Role::Spectator => None,
        };
        let snapshot = ServerMessage::Snapshot(Snapshot {
            version: self.version,
            room: self.room_view(),
            table: self.table_view(),
            you: you.clone(),
            clock: self.clock(),
        });
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_you = you;
        }
        self.send_to(conn, &snapshot);
    }
}
