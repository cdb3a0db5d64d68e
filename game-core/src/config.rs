//! `GameConfig`: every house rule of RULES.md section 2, defaults as marked there.
//!
//! The raw and the validated pair, as shakmaty has it: a `GameConfig` has public fields and
//! may be invalid; `Rules::new` (or `TryFrom`, or deserializing a `Rules`) validates it once,
//! into `Rules` or a `ConfigError` that names the setting and why. `Game::start` takes `Rules`,
//! so a game never checks its settings again; `Game::new` and `replay` take a raw config.

use std::fmt;

use crate::dice::{MAX_SEATS, MIN_SEATS, Seat};

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Who opens the first round.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "serde", serde(tag = "kind", content = "seat"))]
pub enum FirstOpener {
    /// Drawn from the game's seed, so it is as fair and as replayable as the dice.
    #[default]
    SeededRandom,
    Seat(Seat),
}

/// Whose aces count as wild when a bid is counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum WildScope {
    /// Every player's aces are wild.
    #[default]
    AllDice,
    /// Only the aces in the hand of the player who made the counted bid ("Parker variant").
    BidderOnly,
}

/// How a bid on a plain face may be raised by another plain-face bid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum RaiseRule {
    /// A higher quantity on any face, or the same quantity on a higher face.
    #[default]
    Standard,
    /// As `Standard`, but a higher quantity must not go to a lower face.
    FaceNonDecreasing,
    /// A higher face with any quantity, or the same face with a higher quantity
    /// (OpenSpiel's "reset-quantity"). Needs aces not wild: with ace conversions bids could cycle.
    FaceFirst,
}

/// Exchange rate between ace bids and plain-face bids when aces are wild.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum AceConversion {
    /// To aces: at least `ceil(q/2)`; from aces: at least `2q + 1`.
    #[default]
    HalfUpDoublePlusOne,
    /// An ace bid is worth `2q`: to aces at least `floor(q/2) + 1`; from aces at least `2q`.
    DoubleValue,
}

/// The largest quantity a bid may name.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum BidQuantityCap {
    /// No more than the dice in play: a larger bid is surely false.
    #[default]
    TotalDiceInPlay,
    /// Up to `MAX_QUANTITY`, whatever is on the table.
    Unbounded,
}

/// Who opens the round after a dudo.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum OpenerAfterDudo {
    /// The player who lost the die (or the next active seat after them).
    #[default]
    Loser,
    /// The player who won the challenge.
    Winner,
}

/// Who may call calza, besides never the player who made the current bid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum CalzaCaller {
    /// Only the player whose turn it is, as their turn action.
    #[default]
    CurrentPlayer,
    /// Anyone but the bidder and the player whose turn it is.
    AnyExceptBidderAndCurrent,
    /// "Jonti": anyone but the bidder and the player who acts after the current one.
    AnyExceptNext,
    /// Anyone but the bidder, at any time once a bid stands.
    AnyExceptBidder,
}

/// What a correct calza does (a wrong one always costs the caller a die).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum CalzaSuccess {
    /// The caller gains a die, never above the starting count.
    #[default]
    CallerGainsDie,
    /// The bidder loses a die.
    BidderLosesDie,
    /// Every other active player loses a die.
    OthersLoseDie,
    /// The caller gains a die (up to the starting count) and every other active player loses one.
    CallerGainsOthersLose,
}

/// Who opens the round after a calza.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum OpenerAfterCalza {
    /// The caller (or the next active seat after them).
    #[default]
    Caller,
    /// The player who made the bid, after a correct calza; the caller after a wrong one.
    LastBidderOnSuccess,
}

/// How a palifico round comes about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum PalificoTrigger {
    /// The round is palifico when its opener has exactly one die and never had one.
    #[default]
    Automatic,
    /// A one-die player declares it before the first bid, once per game, and becomes the opener.
    Declared,
}

/// Who may call dudo, besides never the player who made the current bid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DudoCaller {
    /// Only the player whose turn it is.
    #[default]
    CurrentPlayer,
    /// Any active player but the bidder, at any time once a bid stands.
    Anyone,
}

/// How many dice a lost dudo costs. Only `One` is implemented; the `Difference` and `All`
/// variants of RULES.md section 2 are out of scope.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DiceLostOnDudo {
    #[default]
    One,
}

/// Largest starting dice per player.
pub const MAX_STARTING_DICE: u8 = 5;
/// Turn time limits a host may set, in seconds.
pub const TURN_TIME_LIMIT_SECS: std::ops::RangeInclusive<u16> = 10..=300;

/// The house rules of one game, as chosen: public fields, possibly invalid. `Rules::new`
/// validates them.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "serde", serde(default, deny_unknown_fields))]
pub struct GameConfig {
    /// Dice each player starts with, `1..=5`; also the most a calza can bring a player to.
    pub starting_dice: u8,
    pub min_players: u8,
    pub max_players: u8,
    pub first_round_opener: FirstOpener,
    pub aces_wild: bool,
    pub wild_scope: WildScope,
    /// May a normal round be opened on aces.
    pub opening_aces_allowed: bool,
    pub raise_rule: RaiseRule,
    pub ace_conversion: AceConversion,
    pub bid_quantity_cap: BidQuantityCap,
    pub opener_after_dudo: OpenerAfterDudo,
    pub calza_enabled: bool,
    pub calza_caller: CalzaCaller,
    pub calza_success: CalzaSuccess,
    /// Calza only by a player who has lost at least one die.
    pub calza_requires_missing_die: bool,
    /// Each player may call calza at most once per game.
    pub calza_once_per_game: bool,
    pub opener_after_calza: OpenerAfterCalza,
    pub palifico_enabled: bool,
    pub palifico_trigger: PalificoTrigger,
    /// Fewest active players for a palifico round.
    pub palifico_min_players: u8,
    /// In a palifico round every bid keeps the opening face.
    pub palifico_face_locked: bool,
    /// With the lock: players who themselves have one die may change the face.
    pub palifico_one_die_may_change_face: bool,
    /// May the palifico opener bid aces.
    pub palifico_opening_aces_allowed: bool,
    pub dudo_caller: DudoCaller,
    pub dice_lost_on_dudo: DiceLostOnDudo,
    /// A host concern the engine only carries (it has no clock): `None` or `10..=300` seconds.
    pub turn_time_limit_secs: Option<u16>,
}

impl Default for GameConfig {
    fn default() -> Self {
        GameConfig {
            starting_dice: 5,
            min_players: 2,
            max_players: 6,
            first_round_opener: FirstOpener::SeededRandom,
            aces_wild: true,
            wild_scope: WildScope::AllDice,
            opening_aces_allowed: false,
            raise_rule: RaiseRule::Standard,
            ace_conversion: AceConversion::HalfUpDoublePlusOne,
            bid_quantity_cap: BidQuantityCap::TotalDiceInPlay,
            opener_after_dudo: OpenerAfterDudo::Loser,
            calza_enabled: true,
            calza_caller: CalzaCaller::CurrentPlayer,
            calza_success: CalzaSuccess::CallerGainsDie,
            calza_requires_missing_die: false,
            calza_once_per_game: false,
            opener_after_calza: OpenerAfterCalza::Caller,
            palifico_enabled: true,
            palifico_trigger: PalificoTrigger::Automatic,
            palifico_min_players: 3,
            palifico_face_locked: true,
            palifico_one_die_may_change_face: false,
            palifico_opening_aces_allowed: true,
            dudo_caller: DudoCaller::CurrentPlayer,
            dice_lost_on_dudo: DiceLostOnDudo::One,
            turn_time_limit_secs: None,
        }
    }
}

/// Why a configuration (or a seat count for it) cannot make a game.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "serde", serde(tag = "code"))]
pub enum ConfigError {
    StartingDiceOutOfRange {
        value: u8,
    },
    PlayerLimitsOutOfRange {
        min: u8,
        max: u8,
    },
    SeatCountOutOfRange {
        seats: u8,
        min: u8,
        max: u8,
    },
    OpenerSeatOutOfRange {
        seat: Seat,
        seats: u8,
    },
    PalificoMinPlayersOutOfRange {
        value: u8,
        max_players: u8,
    },
    TurnTimeLimitOutOfRange {
        value: u16,
    },
    /// A combination that makes no sense; `reason` says why.
    Contradiction {
        setting: &'static str,
        reason: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::StartingDiceOutOfRange { value } => write!(
                f,
                "starting_dice must be 1..={MAX_STARTING_DICE}, got {value}"
            ),
            ConfigError::PlayerLimitsOutOfRange { min, max } => write!(
                f,
                "min_players and max_players must satisfy {MIN_SEATS} <= min <= max <= {MAX_SEATS}, got {min} and {max}"
            ),
            ConfigError::SeatCountOutOfRange { seats, min, max } => {
                write!(f, "this game needs {min}..={max} seats, got {seats}")
            }
            ConfigError::OpenerSeatOutOfRange { seat, seats } => write!(
                f,
                "first_round_opener is {seat} but the game has only {seats} seats"
            ),
            ConfigError::PalificoMinPlayersOutOfRange { value, max_players } => write!(
                f,
                "palifico_min_players must be {MIN_SEATS}..={max_players} (max_players), got {value}"
            ),
            ConfigError::TurnTimeLimitOutOfRange { value } => write!(
                f,
                "turn_time_limit_secs must be {}..={} seconds, got {value}",
                TURN_TIME_LIMIT_SECS.start(),
                TURN_TIME_LIMIT_SECS.end()
            ),
            ConfigError::Contradiction { setting, reason } => write!(f, "{setting}: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl GameConfig {
    /// Whether `next` may follow `prev` in a normal (not palifico) round under these rules,
    /// ignoring the quantity cap.
    pub fn is_raise(&self, prev: crate::bid::Bid, next: crate::bid::Bid) -> bool {
        self.normal_ordering().is_raise(prev, next)
    }

    /// The order bids follow in a normal round under these rules.
    pub fn normal_ordering(&self) -> crate::bid::Ordering {
        if self.aces_wild {
            crate::bid::Ordering::Wild {
                raise: self.raise_rule,
                conversion: self.ace_conversion,
            }
        } else {
            crate::bid::Ordering::Plain {
                raise: self.raise_rule,
            }
        }
    }

    /// Checks the settings on their own, without a seat count.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(1..=MAX_STARTING_DICE).contains(&self.starting_dice) {
            return Err(ConfigError::StartingDiceOutOfRange {
                value: self.starting_dice,
            });
        }
        if self.min_players < MIN_SEATS
            || self.max_players > MAX_SEATS
            || self.min_players > self.max_players
        {
            return Err(ConfigError::PlayerLimitsOutOfRange {
                min: self.min_players,
                max: self.max_players,
            });
        }
        if let FirstOpener::Seat(seat) = self.first_round_opener
            && seat.get() >= self.max_players
        {
            return Err(ConfigError::OpenerSeatOutOfRange {
                seat,
                seats: self.max_players,
            });
        }
        if self.palifico_min_players < MIN_SEATS || self.palifico_min_players > self.max_players {
            return Err(ConfigError::PalificoMinPlayersOutOfRange {
                value: self.palifico_min_players,
                max_players: self.max_players,
            });
        }
        if let Some(limit) = self.turn_time_limit_secs
            && !TURN_TIME_LIMIT_SECS.contains(&limit)
        {
            return Err(ConfigError::TurnTimeLimitOutOfRange { value: limit });
        }
        if self.raise_rule == RaiseRule::FaceFirst && self.aces_wild {
            return Err(ConfigError::Contradiction {
                setting: "raise_rule",
                reason: "FaceFirst needs aces_wild off: with ace conversions a round's bids could cycle forever",
            });
        }
        if self.wild_scope == WildScope::BidderOnly && !self.aces_wild {
            return Err(ConfigError::Contradiction {
                setting: "wild_scope",
                reason: "BidderOnly limits which aces are wild, but aces_wild is off",
            });
        }
        if self.palifico_one_die_may_change_face && !self.palifico_face_locked {
            return Err(ConfigError::Contradiction {
                setting: "palifico_one_die_may_change_face",
                reason: "lifts the palifico face lock, but palifico_face_locked is off",
            });
        }
        if self.calza_requires_missing_die && self.starting_dice == 1 {
            return Err(ConfigError::Contradiction {
                setting: "calza_requires_missing_die",
                reason: "with one starting die nobody still playing can have lost one, so calza could never be called",
            });
        }
        Ok(())
    }

    /// Checks the settings and that `seats` players can play under them.
    pub fn validate_for(&self, seats: u8) -> Result<(), ConfigError> {
        Rules::new(self.clone())?.check_seats(seats)
    }
}

/// A `GameConfig` that passed `GameConfig::validate`: the rules a game is played by. Only
/// `Rules::new` (and `TryFrom`, and deserializing, which goes through it) makes one, so a
/// `Rules` is valid by construction.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "serde", serde(try_from = "GameConfig", into = "GameConfig"))]
pub struct Rules(GameConfig);

impl Rules {
    /// Validates `config` (see `GameConfig::validate`).
    pub fn new(config: GameConfig) -> Result<Rules, ConfigError> {
        config.validate()?;
        Ok(Rules(config))
    }

    /// The settings, as chosen.
    pub fn config(&self) -> &GameConfig {
        &self.0
    }

    pub fn into_config(self) -> GameConfig {
        self.0
    }

    /// Whether `seats` players can play under these rules: the part of
    /// `GameConfig::validate_for` that depends on the seat count.
    pub fn check_seats(&self, seats: u8) -> Result<(), ConfigError> {
        let config = &self.0;
        if seats < config.min_players || seats > config.max_players {
            return Err(ConfigError::SeatCountOutOfRange {
                seats,
                min: config.min_players,
                max: config.max_players,
            });
        }
        if let FirstOpener::Seat(seat) = config.first_round_opener
            && seat.get() >= seats
        {
            return Err(ConfigError::OpenerSeatOutOfRange { seat, seats });
        }
        Ok(())
    }
}

impl std::ops::Deref for Rules {
    type Target = GameConfig;

    fn deref(&self) -> &GameConfig {
        &self.0
    }
}

impl TryFrom<GameConfig> for Rules {
    type Error = ConfigError;

    fn try_from(config: GameConfig) -> Result<Rules, ConfigError> {
        Rules::new(config)
    }
}

impl From<Rules> for GameConfig {
    fn from(rules: Rules) -> GameConfig {
        rules.0
    }
}
