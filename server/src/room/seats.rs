//! The seats: who sits where (indexed by the engine's `Seat`), the host and who succeeds
//! them, token lookup, and taking a seat out between games (the seats after it move up).

use std::ops::{Index, IndexMut};

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
    pub(super) name: PlayerName,
    pub(super) kind: SeatKind,
    /// When this seat's recent emotes were sent, oldest first.
    pub(super) emotes: VecDeque<Instant>,
}

impl SeatSlot {
    pub(super) fn human(name: PlayerName, token_hash: TokenHash, conn: Option<ConnId>) -> SeatSlot {
        SeatSlot {
            name,
            kind: SeatKind::Human {
                token_hash,
                conn,
                left: false,
                away_since: None,
            },
            emotes: VecDeque::new(),
        }
    }

    pub(super) fn is_connected_human(&self) -> bool {
        matches!(self.kind, SeatKind::Human { conn: Some(_), .. })
    }

    /// A human who has not left the room for good.
    pub(super) fn is_human_still_in(&self) -> bool {
        matches!(self.kind, SeatKind::Human { left: false, .. })
    }

    pub(super) fn has_left(&self) -> bool {
        matches!(self.kind, SeatKind::Human { left: true, .. })
    }

    pub(super) fn is_bot(&self) -> bool {
        matches!(self.kind, SeatKind::Bot { .. })
    }

    /// The player's token hash, for humans.
    pub(super) fn token_hash(&self) -> Option<TokenHash> {
        match self.kind {
            SeatKind::Human { token_hash, .. } => Some(token_hash),
            SeatKind::Bot { .. } => None,
        }
    }

    /// The connection holding this human's seat.
    pub(super) fn conn(&self) -> Option<ConnId> {
        match self.kind {
            SeatKind::Human { conn, .. } => conn,
            SeatKind::Bot { .. } => None,
        }
    }
}

/// The room's seats, at most `MAX_SEATS`, and which of them is the host.
#[derive(Debug, Default)]
pub(super) struct Seats {
    slots: Vec<SeatSlot>,
    host: Option<Seat>,
}

/// Every seat is taken: the engine has no seat number for another player.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NoSeatLeft;

/// The first seat, the host's in a new room.
const FIRST: Seat = match Seat::new(0) {
    Some(seat) => seat,
    None => panic!("seat 0 exists"),
};

impl Seats {
    /// A new room's seats: its host alone, in the first seat.
    pub(super) fn hosted_by(host: SeatSlot) -> Seats {
        Seats {
            slots: vec![host],
            host: Some(FIRST),
        }
    }

    /// Seats from `slots` in order; `None` if there are more than `MAX_SEATS` of them or the
    /// host is not one of them.
    pub(super) fn from_slots(slots: Vec<SeatSlot>, host: Option<Seat>) -> Option<Seats> {
        let fits = slots.len() <= usize::from(perudo_core::MAX_SEATS);
        let host_ok = host.is_none_or(|h| h.index() < slots.len());
        (fits && host_ok).then_some(Seats { slots, host })
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// How many seats there are, as the engine counts players.
    pub(super) fn count(&self) -> u8 {
        // `push` and `from_slots` keep it at most MAX_SEATS.
        u8::try_from(self.slots.len()).unwrap_or(perudo_core::MAX_SEATS)
    }

    /// How many seats will sit in the next game: all but players who left for good.
    pub(super) fn staying(&self) -> u8 {
        Seat::all(self.count())
            .filter(|&seat| !self[seat].has_left())
            .fold(0, |n, _| n + 1)
    }

    pub(super) fn get(&self, seat: Seat) -> Option<&SeatSlot> {
        self.slots.get(seat.index())
    }

    pub(super) fn get_mut(&mut self, seat: Seat) -> Option<&mut SeatSlot> {
        self.slots.get_mut(seat.index())
    }

    /// Every seat with its number, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (Seat, &SeatSlot)> {
        Seat::all(self.count()).zip(&self.slots)
    }

    pub(super) fn iter_mut(&mut self) -> impl Iterator<Item = (Seat, &mut SeatSlot)> {
        Seat::all(self.count()).zip(&mut self.slots)
    }

    pub(super) fn slots(&self) -> &[SeatSlot] {
        &self.slots
    }

    pub(super) fn names(&self) -> Vec<String> {
        self.slots
            .iter()
            .map(|slot| slot.name.to_string())
            .collect()
    }

    /// Seats a new player or bot in the next seat.
    pub(super) fn push(&mut self, slot: SeatSlot) -> Result<Seat, NoSeatLeft> {
        let seat = u8::try_from(self.slots.len())
            .ok()
            .and_then(Seat::new)
            .ok_or(NoSeatLeft)?;
        self.slots.push(slot);
        Ok(seat)
    }

    pub(super) fn host(&self) -> Option<Seat> {
        self.host
    }

    pub(super) fn is_host(&self, seat: Seat) -> bool {
        self.host == Some(seat)
    }

    /// Makes `seat` the host (or nobody). `seat` must be one of the seats.
    pub(super) fn set_host(&mut self, seat: Option<Seat>) {
        debug_assert!(seat.is_none_or(|s| s.index() < self.slots.len()));
        self.host = seat;
    }

    /// The seat of a player still in the room whose token hashes to `hash`.
    pub(super) fn of_token(&self, hash: TokenHash) -> Option<Seat> {
        self.iter()
            .find(|(_, s)| {
                matches!(s.kind, SeatKind::Human { token_hash, left: false, .. } if token_hash == hash)
            })
            .map(|(seat, _)| seat)
    }

    /// Who takes the host role after `after` (or first, with `None`): the first connected
    /// human after it in seat order, else any human still in.
    pub(super) fn next_host(&self, after: Option<Seat>) -> Option<Seat> {
        let start = after.map_or(0, |a| a.index() + 1);
        let all: Vec<Seat> = Seat::all(self.count()).collect();
        let order: Vec<Seat> = all
            .iter()
            .cycle()
            .skip(start)
            .take(all.len())
            .copied()
            .filter(|&s| Some(s) != after)
            .collect();
        order
            .iter()
            .copied()
            .find(|&s| self[s].is_connected_human())
            .or_else(|| order.iter().copied().find(|&s| self[s].is_human_still_in()))
    }

    /// Takes `target` out; the seats after it move up one. The host role follows its
    /// player, or is nobody's if it was `target`'s.
    pub(super) fn remove(&mut self, target: Seat) -> SeatSlot {
        let slot = self.slots.remove(target.index());
        self.host = match self.host {
            Some(h) if h == target => None,
            Some(h) if h > target => Seat::new(h.get() - 1),
            other => other,
        };
        slot
    }
}

impl Index<Seat> for Seats {
    type Output = SeatSlot;

    fn index(&self, seat: Seat) -> &SeatSlot {
        &self.slots[seat.index()]
    }
}

impl IndexMut<Seat> for Seats {
    fn index_mut(&mut self, seat: Seat) -> &mut SeatSlot {
        &mut self.slots[seat.index()]
    }
}

/// The seat after `target` moves to: one up if it was after `target`.
pub(super) fn moved_up(seat: Seat, target: Seat) -> Seat {
    if seat > target {
        Seat::new(seat.get() - 1).unwrap_or(seat)
    } else {
        seat
    }
}

impl Room {
    /// Takes a seat out between games: the seats after it move up one, and their
    /// connections are told their new number. Returns the `SeatFreed` event.
    pub(super) fn take_out_seat(&mut self, target: Seat) -> RoomEvent {
        let slot = self.seats.remove(target);
        let mut moved = Vec::new();
        for (&id, c) in self.conns.iter_mut() {
            if let Role::Seat(seat) = &mut c.role
                && *seat > target
            {
                *seat = moved_up(*seat, target);
                moved.push((id, *seat));
                // Its last private view names the old seat.
                c.last_you = None;
            }
        }
        for (conn, seat) in moved {
            self.send_to(conn, &ServerMessage::Moved { seat });
        }
        RoomEvent::SeatFreed {
            seat: target,
            name: slot.name,
        }
    }

    /// Removes a seat between games and shifts the seats after it.
    pub(super) fn remove_seat(&mut self, target: Seat) {
        let mut events = vec![self.take_out_seat(target)];
        if self.seats.host().is_none() {
            let next = self.seats.next_host(None);
            self.seats.set_host(next);
            events.push(RoomEvent::HostChanged { seat: next });
        }
        self.broadcast(events);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seat(i: u8) -> Seat {
        Seat::new(i).unwrap()
    }

    fn seats(connected: &[bool]) -> Seats {
        let mut seats = Seats::default();
        for (i, &on) in connected.iter().enumerate() {
            let hash = ids::hash_token(&format!("t{i}"));
            seats
                .push(SeatSlot::human(
                    PlayerName::new(&format!("P{i}")).unwrap(),
                    hash,
                    on.then_some(i as u64),
                ))
                .unwrap();
        }
        seats.set_host(Some(seat(0)));
        seats
    }

    #[test]
    fn at_most_ten_seats() {
        let mut s = seats(&[true; 10]);
        assert_eq!(s.len(), 10);
        let extra = SeatSlot::human(PlayerName::new("X").unwrap(), ids::hash_token("x"), None);
        assert_eq!(s.push(extra), Err(NoSeatLeft));
        assert_eq!(s.len(), 10, "a refused push changes nothing");
    }

    #[test]
    fn next_host_prefers_a_connected_human_after_the_old_host() {
        let s = seats(&[true, false, true, true]);
        assert_eq!(s.next_host(Some(seat(0))), Some(seat(2)), "1 is away");
        assert_eq!(s.next_host(Some(seat(3))), Some(seat(0)), "wraps around");
        assert_eq!(s.next_host(None), Some(seat(0)));
        let away = seats(&[true, false, false]);
        assert_eq!(
            away.next_host(Some(seat(0))),
            Some(seat(1)),
            "nobody connected: any human still in"
        );
    }

    #[test]
    fn removing_a_seat_moves_the_later_ones_and_the_host_with_them() {
        let mut s = seats(&[true, true, true]);
        s.set_host(Some(seat(2)));
        let gone = s.remove(seat(1));
        assert_eq!(gone.name, "P1");
        assert_eq!(s.host(), Some(seat(1)), "the host's seat moved up");
        assert_eq!(s[seat(1)].name, "P2");
        s.remove(seat(1));
        assert_eq!(s.host(), None, "the host left");
        assert_eq!(moved_up(seat(3), seat(1)), seat(2));
        assert_eq!(moved_up(seat(0), seat(1)), seat(0));
    }

    #[test]
    fn tokens_find_players_still_in() {
        let mut s = seats(&[true, true]);
        assert_eq!(s.of_token(ids::hash_token("t1")), Some(seat(1)));
        if let SeatKind::Human { left, .. } = &mut s[seat(1)].kind {
            *left = true;
        }
        assert_eq!(s.of_token(ids::hash_token("t1")), None, "left for good");
        assert_eq!(s.of_token(ids::hash_token("nobody")), None);
    }
}
