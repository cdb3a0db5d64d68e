//! The seats: who sits where, host succession, token lookup, taking a seat out between games.

use super::*;

#[derive(Debug)]
pub(super) enum SeatKind {
    Human {
        token_hash: TokenHash,
        conn: Option<ConnId>,
        /// Left the room for good (forfeited); the seat stays for the game's record.
        left: bool,
        /// Since when the player has been disconnected.
        away_since: Option<Instant>,
    },
    Bot {
        level: BotLevel,
        bot: Box<Bot>,
    },
}

#[derive(Debug)]
pub(super) struct SeatSlot {
    pub(super) name: String,
    pub(super) kind: SeatKind,
    /// When this seat's recent emotes were sent, oldest first.
    pub(super) emotes: VecDeque<Instant>,
}

impl SeatSlot {
    pub(super) fn is_connected_human(&self) -> bool {
        matches!(self.kind, SeatKind::Human { conn: Some(_), .. })
    }
}

impl Room {
    /// The seat of a player still in the room whose token hashes to `hash`.
    pub(super) fn seat_of_token(&self, hash: TokenHash) -> Option<usize> {
        self.seats.iter().position(|s| {
            matches!(s.kind, SeatKind::Human { token_hash, left: false, .. } if token_hash == hash)
        })
    }

    /// Takes a seat out between games: the seats after it move up one, and their
    /// connections are told their new number. Returns the `SeatFreed` event.
    pub(super) fn take_out_seat(&mut self, target: usize) -> RoomEvent {
        let slot = self.seats.remove(target);
        let mut moved = Vec::new();
        for (&id, c) in self.conns.iter_mut() {
            if let Role::Seat(seat) = &mut c.role
                && *seat > target
            {
                *seat -= 1;
                moved.push((id, *seat));
                // Its last private view names the old seat.
                c.last_you = None;
            }
        }
        for (conn, seat) in moved {
            let seat = Seat::new(seat as u8).expect("below 10");
            self.send_to(conn, &ServerMessage::Moved { seat });
        }
        self.host = match self.host {
            Some(h) if h == target => None,
            Some(h) if h > target => Some(h - 1),
            other => other,
        };
        RoomEvent::SeatFreed {
            seat: Seat::new(target as u8).expect("below 10"),
            name: slot.name,
        }
    }

    /// Removes a seat between games and shifts the seats after it.
    pub(super) fn remove_seat(&mut self, target: usize) {
        let mut events = vec![self.take_out_seat(target)];
        if self.host.is_none() {
            self.host = self.next_host(None);
            events.push(RoomEvent::HostChanged {
                seat: self.host.and_then(|h| Seat::new(h as u8)),
            });
        }
        self.broadcast(events, true, false);
    }

    /// The first connected human (after `after`, in seat order), else any human still in.
    pub(super) fn next_host(&self, after: Option<usize>) -> Option<usize> {
        let n = self.seats.len();
        let start = after.map_or(0, |a| a + 1);
        let order: Vec<usize> = (0..n).map(|i| (start + i) % n).collect();
        order
            .iter()
            .copied()
            .find(|&i| Some(i) != after && self.seats[i].is_connected_human())
            .or_else(|| {
                order.iter().copied().find(|&i| {
                    Some(i) != after
                        && matches!(self.seats[i].kind, SeatKind::Human { left: false, .. })
                })
            })
    }
}
