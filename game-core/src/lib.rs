//! Perudo (Liar's dice) as a pure, deterministic state machine.
//!
//! No IO, no clock, no global RNG: `(config, seats, seed, moves)` replays to the same game and
//! the same events everywhere. See `RULES.md` in the shared folder for the rules contract and
//! ARCHITECTURE.md for the invariants this crate keeps.

pub mod bid;
pub mod bot;
pub mod config;
pub mod dice;
pub mod event;
pub mod game;
pub mod rng;
pub mod view;

pub use bid::{Bid, MAX_QUANTITY, Ordering, Quantity, standard_rank};
pub use bot::{Bot, BotLevel, play_to_end};
pub use config::{
    AceConversion, BidQuantityCap, CalzaCaller, CalzaSuccess, ConfigError, DiceLostOnDudo,
    DudoCaller, FirstOpener, GameConfig, OpenerAfterCalza, OpenerAfterDudo, PalificoTrigger,
    RaiseRule, Rules, WildScope,
};
pub use dice::{Face, Hand, MAX_SEATS, MIN_SEATS, Seat};
pub use event::{Action, Call, DiceChange, Event, Move, PlacedBid, Resolution, Wilds};
pub use game::{Game, LegalMoves, PalificoRefusal, ReplayError, RuleError, count_matches, replay};
pub use rng::{Commitment, Seed};
pub use view::{PlayerView, RoundView, SeatView, TableState, TableView};
