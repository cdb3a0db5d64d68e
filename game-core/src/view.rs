//! Redaction: what one seat, or a spectator, may know.
//!
//! Architecture invariant: a `TableView` holds no die of the running round, and a
//! `PlayerView` adds exactly one hand, its own. Neither holds the seed or any RNG state.

use std::sync::Arc;

use crate::dice::{Hand, Seat};
use crate::event::{Call, Event, PlacedBid, Resolution, Wilds};
use crate::game::{Game, LegalMoves, Phase};
use crate::rng::Commitment;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// The public facts about one seat.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SeatView {
    pub dice: u8,
    pub palifico_used: bool,
    pub calza_used: bool,
}

/// The public facts about the running round.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RoundView {
    pub round: u32,
    pub opener: Seat,
    pub turn: Seat,
    /// The player whose palifico round this is.
    pub palifico: Option<Seat>,
    /// Which aces count as wild in this round.
    pub wilds: Wilds,
    pub bids: Vec<PlacedBid>,
}

/// Where the game stands.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "serde", serde(tag = "phase"))]
pub enum TableState {
    Bidding(RoundView),
    Over { winner: Seat },
}

/// Everything public: what a spectator sees, and the shared part of every player's view.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TableView {
    pub seats: Vec<SeatView>,
    pub starting_dice: u8,
    pub total_dice: u32,
    pub commitment: Commitment,
    pub state: TableState,
    /// The previous round's resolution, whose dice were revealed to everyone.
    /// Shared with the game: the same resolution goes into every view until the next one.
    pub last_resolution: Option<Arc<Resolution>>,
}

/// What one seated player sees: the table, their own hand, and what they may do.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlayerView {
    pub seat: Seat,
    /// This seat's dice in the running round (empty when out or the game is over).
    pub hand: Hand,
    pub table: TableView,
    /// The smallest legal quantity per face and the calls open to this seat right now,
    /// so no client re-implements the raise rules.
    pub legal: LegalMoves,
}

impl TableView {
    /// The table as a game's `GameStarted` event opens it: every seat with its starting
    /// dice, no round yet (the `RoundStarted` that follows starts one).
    pub fn started(seats: u8, starting_dice: u8, commitment: Commitment) -> TableView {
        TableView {
            seats: vec![
                SeatView {
                    dice: starting_dice,
                    palifico_used: false,
                    calza_used: false,
                };
                usize::from(seats)
            ],
            starting_dice,
            total_dice: u32::from(seats) * u32::from(starting_dice),
            commitment,
            // Replaced by the first `RoundStarted`, which always follows `GameStarted`.
            state: TableState::Bidding(RoundView {
                round: 0,
                opener: Seat::new(0).expect("seat 0"),
                turn: Seat::new(0).expect("seat 0"),
                palifico: None,
                wilds: Wilds::None,
                bids: Vec::new(),
            }),
            last_resolution: None,
        }
    }

    /// Follows one event of this table's game: a client that starts from a view and applies
    /// every later event reaches exactly the view the game gives then
    /// (`Game::spectator_view`). `GameStarted` opens a new table ([`TableView::started`])
    /// rather than changing this one; applied here it does nothing.
    ///
    /// A `RoundResolved` leaves the called round on the table (its bids, whose turn it was)
    /// with the new dice counts, until the `RoundStarted` or `GameWon` that follows it.
    /// Events that do not fit this table (a seat it does not have) are ignored.
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::GameStarted { .. } | Event::Eliminated { .. } => {}
            Event::RoundStarted {
                round,
                opener,
                palifico,
                wilds,
                dice,
            } => {
                for (seat, &d) in self.seats.iter_mut().zip(dice) {
                    seat.dice = d;
                }
                if let Some(seat) = palifico.and_then(|p| self.seats.get_mut(p.index())) {
                    seat.palifico_used = true;
                }
                self.state = TableState::Bidding(RoundView {
                    round: *round,
                    opener: *opener,
                    turn: *opener,
                    palifico: *palifico,
                    wilds: *wilds,
                    bids: Vec::new(),
                });
            }
            Event::PalificoDeclared { seat } => {
                if let Some(view) = self.seats.get_mut(seat.index()) {
                    view.palifico_used = true;
                }
                if let TableState::Bidding(round) = &mut self.state {
                    round.palifico = Some(*seat);
                    round.opener = *seat;
                    round.turn = *seat;
                    // Aces are never wild in a palifico round.
                    round.wilds = Wilds::None;
                }
            }
            Event::BidPlaced(placed) => {
                let next = self.next_active_after(placed.seat);
                if let TableState::Bidding(round) = &mut self.state {
                    round.bids.push(*placed);
                    if let Some(next) = next {
                        round.turn = next;
                    }
                }
            }
            Event::RoundResolved(resolution) => {
                for change in &resolution.changes {
                    if let Some(seat) = self.seats.get_mut(change.seat.index()) {
                        seat.dice = change.after;
                    }
                }
                if let Call::Calza { caller } = resolution.call
                    && let Some(seat) = self.seats.get_mut(caller.index())
                {
                    seat.calza_used = true;
                }
                self.last_resolution = Some(Arc::new(resolution.clone()));
            }
            Event::Forfeited { seat } => {
                if let Some(view) = self.seats.get_mut(seat.index()) {
                    view.dice = 0;
                }
            }
            Event::GameWon { winner } => self.state = TableState::Over { winner: *winner },
        }
        self.total_dice = self.seats.iter().map(|s| u32::from(s.dice)).sum();
    }

    /// The next seat after `seat`, in play order, that still has dice.
    pub fn next_active_after(&self, seat: Seat) -> Option<Seat> {
        let n = self.seats.len();
        (1..=n)
            .map(|step| (seat.index() + step) % n)
            .find(|&i| self.seats[i].dice > 0)
            .and_then(|i| Seat::new(i as u8))
    }
}

impl Game {
    /// The public view of the table.
    pub fn spectator_view(&self) -> TableView {
        let seats = self
            .players
            .iter()
            .map(|p| SeatView {
                dice: p.dice,
                palifico_used: p.palifico_used,
                calza_used: p.calza_used,
            })
            .collect();
        let state = match &self.phase {
            Phase::Bidding(round) => TableState::Bidding(RoundView {
                round: round.number,
                opener: round.opener,
                turn: round.turn,
                palifico: round.palifico,
                wilds: self.wilds(round),
                bids: round.bids.clone(),
            }),
            Phase::Over { winner } => TableState::Over { winner: *winner },
        };
        TableView {
            seats,
            starting_dice: self.config.starting_dice,
            total_dice: self.total_dice(),
            commitment: self.commitment,
            state,
            last_resolution: self.last_resolution.clone(),
        }
    }

    /// What `seat` sees. A seat outside the game gets the public view with no hand and no moves.
    pub fn view_for(&self, seat: Seat) -> PlayerView {
        PlayerView {
            seat,
            hand: self.hand(seat).cloned().unwrap_or_default(),
            table: self.spectator_view(),
            legal: self.legal_moves(seat),
        }
    }
}
