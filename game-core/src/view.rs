//! Redaction: what one seat, or a spectator, may know.
//!
//! Architecture invariant: a `TableView` holds no die of the running round, and a
//! `PlayerView` adds exactly one hand, its own. Neither holds the seed or any RNG state.

use std::sync::Arc;

use crate::dice::{Hand, Seat};
use crate::event::{PlacedBid, Resolution, Wilds};
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
