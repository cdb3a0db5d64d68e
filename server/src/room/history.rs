//! The resume history: the room's last broadcasts, encoded as first sent, so that a client
//! that comes back with `Resume { last_version }` gets exactly what it missed.

use std::collections::VecDeque;

use bytes::Bytes;
use perudo_protocol::RoomVersion;

/// Broadcasts a room keeps for clients that resume after a drop.
pub const HISTORY_CAPACITY: usize = 64;

/// The last `HISTORY_CAPACITY` broadcasts (`Update`s), each with the room version it made.
#[derive(Debug, Default)]
pub(super) struct History {
    entries: VecDeque<(RoomVersion, Bytes)>,
}

impl History {
    pub(super) fn new() -> History {
        // Not reserved up front: 64 slots are 2.5 KB, most of a room's memory while it waits
        // in its lobby (a few broadcasts); a room that plays grows it to the capacity once.
        History {
            entries: VecDeque::new(),
        }
    }

    /// Keeps the broadcast that made `version`, forgetting the oldest beyond the capacity.
    pub(super) fn push(&mut self, version: RoomVersion, frame: Bytes) {
        if self.entries.len() == HISTORY_CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back((version, frame));
    }

    /// Forgets everything: versions before now can only be caught up with a snapshot.
    pub(super) fn clear(&mut self) {
        self.entries.clear();
    }

    /// The broadcasts after `last` up to `current`, if the history still holds every one of
    /// them; `None` when some are gone (or `last` is not a version this room handed out), so
    /// the client needs a snapshot.
    pub(super) fn since(&self, last: RoomVersion, current: RoomVersion) -> Option<Vec<Bytes>> {
        if last > current {
            return None;
        }
        let missed: Vec<Bytes> = self
            .entries
            .iter()
            .filter(|(v, _)| *v > last)
            .map(|(_, bytes)| bytes.clone())
            .collect();
        (missed.len() as u64 == current - last).then_some(missed)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(v: RoomVersion) -> Bytes {
        Bytes::from(v.to_be_bytes().to_vec())
    }

    fn filled(from: RoomVersion, to: RoomVersion) -> History {
        let mut h = History::new();
        for v in from..=to {
            h.push(v, frame(v));
        }
        h
    }

    #[test]
    fn since_returns_exactly_the_missed_broadcasts_in_order() {
        let h = filled(1, 10);
        assert_eq!(h.since(7, 10), Some(vec![frame(8), frame(9), frame(10)]));
        assert_eq!(h.since(10, 10), Some(Vec::new()), "nothing missed");
    }

    #[test]
    fn a_gap_older_than_the_history_needs_a_snapshot() {
        let h = filled(1, 100);
        assert_eq!(h.len(), HISTORY_CAPACITY, "bounded");
        let oldest = 100 - HISTORY_CAPACITY as u64 + 1;
        assert!(
            h.since(oldest - 1, 100).is_some(),
            "the whole history is enough"
        );
        assert_eq!(h.since(oldest - 2, 100), None, "one broadcast is gone");
        assert_eq!(h.since(0, 100), None);
    }

    #[test]
    fn a_version_from_the_future_or_after_a_clear_needs_a_snapshot() {
        let mut h = filled(1, 5);
        assert_eq!(h.since(6, 5), None, "a version this room never handed out");
        h.clear();
        assert_eq!(h.since(4, 5), None);
        h.push(6, frame(6));
        assert_eq!(h.since(5, 6), Some(vec![frame(6)]));
        assert_eq!(h.since(4, 6), None, "version 5 was cleared");
    }
}
