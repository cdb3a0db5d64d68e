//! What members see: the room, table and seat views, and the broadcast of an `Update` to every member.

use super::*;
use perudo_protocol::frames::SharedUpdate;

/// The last broadcast of the input being handled: the request's answer may ride in it.
#[derive(Debug)]
pub(super) struct LastBroadcast {
    version: RoomVersion,
    /// Where its frames wait in `Room::outgoing`: one per member it went to.
    frames: std::ops::Range<usize>,
}

/// Keeps a public table in step with one of its game's events.
pub(super) fn follow(table: &mut TableView, event: &Event) {
    match event {
        Event::GameStarted {
            seats,
            starting_dice,
            commitment,
        } => *table = TableView::started(*seats, *starting_dice, *commitment),
        event => table.apply(event),
    }
}

impl Room {
    pub(super) fn summary(&self) -> perudo_protocol::http::RoomSummary {
        let view = self.room_view();
        perudo_protocol::http::RoomSummary {
            code: view.code,
            phase: view.phase,
            seats_taken: self.seats.count(),
            max_seats: self.rules.max_players,
            spectators: self.spectator_count(),
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
            // As of the last update: a snapshot shows the room of its version.
            spectators: self.spectators_shown,
            rules: self.rules.config().clone(),
            options: self.options,
            reveal_pause_ms: self.settings.reveal_pause.as_millis() as u32,
            games_played: self.games_played,
            results: self.results.as_deref().cloned(),
        }
    }

    pub(super) fn play(&self) -> Option<&Play> {
        match &self.phase {
            Phase::Lobby => None,
            Phase::Playing(play) | Phase::Finished(play) => Some(play),
        }
    }

    /// The public table as the members have it: the game's, except during a reveal pause,
    /// when the next round (already rolled) is held back.
    pub(super) fn table_view(&self) -> Option<TableView> {
        self.play().map(|play| play.table.clone())
    }

    /// What `seat` should see of itself now. During a reveal the next round's hand is held
    /// back with the round.
    pub(super) fn you_view(&self, seat: Seat) -> Option<YouView> {
        self.you_parts(seat).map(|(hand, legal)| YouView {
            seat,
            hand: hand.cloned().unwrap_or_default(),
            legal,
        })
    }

    /// `you_view`'s parts, borrowed: the seat's hand (`None`: empty) and its legal moves.
    /// Only the seat's own part: the public table goes out once, in the broadcast.
    fn you_parts(&self, seat: Seat) -> Option<(Option<&perudo_core::Hand>, LegalMoves)> {
        let play = self.play()?;
        if seat.index() >= play.game.seat_count() as usize {
            return None;
        }
        if play.pause.is_some() {
            return Some((None, LegalMoves::NONE));
        }
        Some((play.game.hand(seat), play.game.legal_moves(seat)))
    }

    pub(super) fn encode(message: &ServerMessage) -> Bytes {
        Bytes::from(
            perudo_protocol::frames::encode(message)
                .expect("server messages always encode to MessagePack"),
        )
    }

    /// Sends every member one `Update` with `events`: the same bytes to all, except the
    /// seats whose own view changed (it rides in their frame). The spectator count goes with
    /// it when it changed, and the room's public table follows the game's events.
    pub(super) fn broadcast(&mut self, events: Vec<RoomEvent>) {
        self.broadcast_except(None, events);
    }

    /// `broadcast`, leaving out one member that will catch up by itself.
    pub(super) fn broadcast_except(&mut self, except: Option<ConnId>, mut events: Vec<RoomEvent>) {
        self.update_clock();
        self.version += 1;
        let spectators = self.spectator_count();
        if spectators != self.spectators_shown {
            self.spectators_shown = spectators;
            events.push(RoomEvent::Spectators { count: spectators });
        }
        if let Phase::Playing(play) | Phase::Finished(play) = &mut self.phase {
            for event in &events {
                if let RoomEvent::Game { event } = event {
                    follow(&mut play.table, event);
                }
            }
            debug_assert!(
                play.pause.is_some() || play.table == play.game.spectator_view(),
                "the public table drifted from the game"
            );
        }
        // Encoded once; a member with a part of its own gets these bytes with its part. The
        // personal frames are made first, so that the shared bytes then become the shared
        // frame without a copy.
        let update = SharedUpdate::new(self.version, &events, &self.clock())
            .expect("server messages always encode to MessagePack");
        let mut frames: Vec<(ConnId, Option<Bytes>)> = Vec::with_capacity(self.conns.len());
        for conn in self.members() {
            if Some(conn) == except {
                continue;
            }
            let own = self.you_changed(conn).map(|you| {
                Bytes::from(
                    update
                        .personal(Some(you), None)
                        .expect("server messages always encode to MessagePack"),
                )
            });
            frames.push((conn, own));
        }
        // Cut to its size (a shrink in place, not a copy): the history keeps these bytes, and
        // a buffer with room to spare held a room's whole history ~40 % larger.
        let public = Bytes::from(update.into_shared().into_boxed_slice());
        self.history.push(self.version, public.clone());
        let start = self.outgoing.len();
        for (conn, own) in frames {
            let frame = own.unwrap_or_else(|| public.clone());
            self.push(conn, Frame::Data(frame), Some("Update"));
        }
        self.last_broadcast = Some(LastBroadcast {
            version: self.version,
            frames: start..self.outgoing.len(),
        });
    }

    /// This connection's own view if it changed since the last one it was sent (and notes it
    /// as sent in `Conn::last_you`). A view that went away (the game is over) is noted and
    /// gives `None`: `you: nil` is what the shared frame says.
    pub(super) fn you_changed(&mut self, conn: ConnId) -> Option<&YouView> {
        let c = self.conns.get(&conn)?;
        let seat = match c.role {
            Role::Seat(seat) => seat,
            Role::Outsider | Role::Spectator => return None,
        };
        if self.you_unchanged(seat, c.last_you.as_ref()) {
            return None;
        }
        let you = self.you_view(seat);
        let c = self.conns.get_mut(&conn)?;
        c.last_you = you;
        c.last_you.as_ref()
    }

    /// Whether `you_view(seat)` would be `last`, without building it (no copy of the hand):
    /// a move leaves most seats' views as they were.
    fn you_unchanged(&self, seat: Seat, last: Option<&YouView>) -> bool {
        let unchanged = match (self.you_parts(seat), last) {
            (None, None) => true,
            (Some((hand, legal)), Some(last)) => {
                last.seat == seat
                    && last.legal == legal
                    && hand.map_or(last.hand.is_empty(), |hand| *hand == last.hand)
            }
            (None, Some(_)) | (Some(_), None) => false,
        };
        debug_assert_eq!(
            unchanged,
            self.you_view(seat).as_ref() == last,
            "you_unchanged disagrees with you_view"
        );
        unchanged
    }

    /// Answers request `id` of `conn` inside the update this input sent it, if that update is
    /// the last frame queued for it; `false` when it needs a standalone `Ack`.
    pub(super) fn ack_in_update(&mut self, conn: ConnId, id: RequestId) -> bool {
        let Some(last) = &self.last_broadcast else {
            return false;
        };
        if last.version != self.version {
            return false;
        }
        let latest = self.outgoing.iter().rposition(|t| match t {
            Transmit::Frame { conn: c, .. } | Transmit::End { conn: c } => *c == conn,
        });
        let Some(index) = latest.filter(|index| last.frames.contains(index)) else {
            return false;
        };
        let Transmit::Frame {
            frame: Frame::Data(frame),
            ..
        } = &mut self.outgoing[index]
        else {
            return false;
        };
        *frame = Bytes::from(
            perudo_protocol::frames::answered(frame, id)
                .expect("server messages always encode to MessagePack"),
        );
        true
    }

    /// The full state as `conn` may see it now.
    pub(super) fn snapshot_of(&self, conn: ConnId) -> Option<Snapshot> {
        let c = self.conns.get(&conn)?;
        let you = match c.role {
            Role::Seat(seat) => self.you_view(seat),
            Role::Outsider | Role::Spectator => None,
        };
        Some(Snapshot {
            version: self.version,
            room: self.room_view(),
            table: self.table_view(),
            you,
            clock: self.clock(),
        })
    }

    /// The full state for one connection.
    pub(super) fn send_snapshot(&mut self, conn: ConnId) {
        let Some(snapshot) = self.snapshot_of(conn) else {
            return;
        };
        if let Some(c) = self.conns.get_mut(&conn) {
            c.last_you.clone_from(&snapshot.you);
        }
        self.send_to(conn, &ServerMessage::Snapshot(snapshot));
    }
}
