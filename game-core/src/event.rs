//! Actions players take, moves the host logs, and events the game emits.
//!
//! Architecture invariant: every `Event` is public information. The only event that carries
//! dice is a round's resolution, and by then those dice are on the table for everyone.
//! Each seat's hidden hand for the running round reaches it only through `Game::view_for`.

use crate::bid::Bid;
use crate::dice::{Hand, Seat};
use crate::rng::Commitment;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// What a seated player may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "serde", serde(tag = "type"))]
pub enum Action {
    Bid(Bid),
    /// Challenge the current bid: it is false.
    Dudo,
    /// Claim the current bid is exactly right.
    Calza,
    /// Declare a palifico round (only with `PalificoTrigger::Declared`).
    DeclarePalifico,
}

/// One entry of a game's log: everything `replay` needs besides config, seats and seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "serde", serde(tag = "type"))]
pub enum Move {
    /// A player's action, accepted by the rules.
    Act { seat: Seat, action: Action },
    /// The host removed a player (left for good, timed out): RULES.md section 3 item 13.
    Forfeit { seat: Seat },
}

/// A bid and who made it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PlacedBid {
    pub seat: Seat,
    pub bid: Bid,
}

/// Which aces count for other faces when a bid is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum Wilds {
    /// Aces count only as aces (palifico rounds, or aces not wild).
    None,
    /// Every ace on the table is wild.
    AllDice,
    /// Only the bidder's own aces are wild.
    BidderOnly,
}

/// A player's dice count before and after a resolution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DiceChange {
    pub seat: Seat,
    pub before: u8,
    pub after: u8,
}

/// How a round was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "serde", serde(tag = "type"))]
pub enum Call {
    Dudo { challenger: Seat },
    Calza { caller: Seat },
}

/// The end of a round: every hand shown, the count, and what it cost or gave whom.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Resolution {
    pub round: u32,
    pub call: Call,
    /// The bid that was called and who made it.
    pub bid: PlacedBid,
    /// Every seat's hand, empty for players who were not in the round.
    pub hands: Vec<Hand>,
    pub wilds: Wilds,
    /// Dice that matched the bid under `wilds`.
    pub count: u32,
    /// Dudo: the bid was false. Calza: the bid was exactly right.
    pub call_succeeded: bool,
    /// Every dice count that changed, in seat order.
    pub changes: Vec<DiceChange>,
}

/// Everything that happens in a game, in order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "GameEvent"))]
#[cfg_attr(feature = "serde", serde(tag = "type"))]
pub enum Event {
    GameStarted {
        seats: u8,
        starting_dice: u8,
        /// SHA-256 of the seed; the seed is revealed when the game is over.
        commitment: Commitment,
    },
    RoundStarted {
        round: u32,
        opener: Seat,
        /// The player whose palifico round this is.
        palifico: Option<Seat>,
        /// Which aces count as wild in this round (until a palifico is declared in it).
        wilds: Wilds,
        /// Dice per seat (0 = out of the game).
        dice: Vec<u8>,
    },
    /// A one-die player declared palifico and now opens the round.
    PalificoDeclared {
        seat: Seat,
    },
    BidPlaced(PlacedBid),
    RoundResolved(Resolution),
    /// The host removed the player; the running round is void and re-rolled.
    Forfeited {
        seat: Seat,
    },
    Eliminated {
        seat: Seat,
    },
    GameWon {
        winner: Seat,
    },
}
