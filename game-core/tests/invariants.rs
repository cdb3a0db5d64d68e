//! Property tests for every invariant of RULES.md section 4, over the whole option space.
//!
//! The heart of this file is `Harness`: it drives one game to its end with actions chosen among
//! `legal_actions` of every seat (out-of-turn calls and palifico declarations included), mixed
//! with junk actions and host forfeits, and after every step compares the engine with a small,
//! independently written model of the rules (`Model`): who may do what, what a call reveals and
//! costs, who opens next, when a round is palifico. On top of the model it asserts the invariants
//! one by one, so a failure names the rule that broke.
//!
//! Run with `cargo test -p perudo-core --all-features --test invariants` (the views and the
//! round trips need the `serde` feature). `PROPTEST_CASES` (read here; default `DEFAULT_GAMES`)
//! sets the size: that many fully checked games at small tables and as many at large ones, that
//! many pairs of lightly checked games for the dice property, and four times as many configs
//! for the validation property.
//!
//! Checks that would cost too much after every step of every game are sampled by the driver's
//! own generator: `clone().apply()` over the whole action universe (invariant 3) runs on about
//! one step in 48 and on a random 1/200 of the actions otherwise (`is_legal`, `legal_actions`,
//! `legal_moves().allows` and the model are compared on the whole universe at every step), and
//! every seat's view with a walk of its JSON tree runs on one step in 16 (the typed view checks,
//! the JSON round trip and the seed check run at every step).

use std::collections::HashMap;

use perudo_core::{
    AceConversion, Action, Bid, BidQuantityCap, Call, CalzaCaller, CalzaSuccess, ConfigError,
    DiceChange, DiceLostOnDudo, DudoCaller, Event, Face, FirstOpener, Game, GameConfig, Hand,
    MAX_QUANTITY, MAX_SEATS, Move, OpenerAfterCalza, OpenerAfterDudo, Ordering, PalificoTrigger,
    PlacedBid, PlayerView, RaiseRule, ReplayError, Resolution, RoundView, RuleError, Seat, Seed,
    TableState, TableView, WildScope, Wilds, replay, standard_rank,
};
use proptest::prelude::*;
use proptest::test_runner::{FileFailurePersistence, TestCaseError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

type Check = Result<(), TestCaseError>;

/// Games for the main property when `PROPTEST_CASES` is not set.
const DEFAULT_GAMES: u32 = 1000;
/// Far more steps than any game driven by `Harness::choose` needs; reaching it fails the test.
const MAX_STEPS: usize = 20_000;

fn games() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(DEFAULT_GAMES)
}

fn seat(index: u8) -> Seat {
    Seat::new(index).expect("seat index below MAX_SEATS")
}

fn bid(quantity: u8, face: u8) -> Bid {
    Bid::new(quantity, face).expect("quantity and face in range")
}

// ---------------------------------------------------------------------------------------------
// Strategies over the whole option space
// ---------------------------------------------------------------------------------------------

// Every list below names each variant. The `match`es in `all_variants_listed` fail to compile
// when a variant is added, so the generators cannot silently miss one.
const FIRST_OPENERS: usize = 2;
const WILD_SCOPES: [WildScope; 2] = [WildScope::AllDice, WildScope::BidderOnly];
const RAISE_RULES: [RaiseRule; 3] = [
    RaiseRule::Standard,
    RaiseRule::FaceNonDecreasing,
    RaiseRule::FaceFirst,
];
const ACE_CONVERSIONS: [AceConversion; 2] = [
    AceConversion::HalfUpDoublePlusOne,
    AceConversion::DoubleValue,
];
const QUANTITY_CAPS: [BidQuantityCap; 2] =
    [BidQuantityCap::TotalDiceInPlay, BidQuantityCap::Unbounded];
const OPENERS_AFTER_DUDO: [OpenerAfterDudo; 2] = [OpenerAfterDudo::Loser, OpenerAfterDudo::Winner];
const CALZA_CALLERS: [CalzaCaller; 4] = [
    CalzaCaller::CurrentPlayer,
    CalzaCaller::AnyExceptBidderAndCurrent,
    CalzaCaller::AnyExceptNext,
    CalzaCaller::AnyExceptBidder,
];
const CALZA_SUCCESSES: [CalzaSuccess; 4] = [
    CalzaSuccess::CallerGainsDie,
    CalzaSuccess::BidderLosesDie,
    CalzaSuccess::OthersLoseDie,
    CalzaSuccess::CallerGainsOthersLose,
];
const OPENERS_AFTER_CALZA: [OpenerAfterCalza; 2] = [
    OpenerAfterCalza::Caller,
    OpenerAfterCalza::LastBidderOnSuccess,
];
const PALIFICO_TRIGGERS: [PalificoTrigger; 2] =
    [PalificoTrigger::Automatic, PalificoTrigger::Declared];
const DUDO_CALLERS: [DudoCaller; 2] = [DudoCaller::CurrentPlayer, DudoCaller::Anyone];
const DICE_LOST_ON_DUDO: [DiceLostOnDudo; 1] = [DiceLostOnDudo::One];

#[test]
fn all_variants_listed() {
    // Each arm returns the variant's position in its list above.
    let position = |opener: FirstOpener| match opener {
        FirstOpener::SeededRandom => 0,
        FirstOpener::Seat(_) => 1,
    };
    assert_eq!(position(FirstOpener::Seat(seat(0))) + 1, FIRST_OPENERS);
    for (i, v) in WILD_SCOPES.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                WildScope::AllDice => 0,
                WildScope::BidderOnly => 1,
            }
        );
    }
    for (i, v) in RAISE_RULES.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                RaiseRule::Standard => 0,
                RaiseRule::FaceNonDecreasing => 1,
                RaiseRule::FaceFirst => 2,
            }
        );
    }
    for (i, v) in ACE_CONVERSIONS.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                AceConversion::HalfUpDoublePlusOne => 0,
                AceConversion::DoubleValue => 1,
            }
        );
    }
    for (i, v) in QUANTITY_CAPS.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                BidQuantityCap::TotalDiceInPlay => 0,
                BidQuantityCap::Unbounded => 1,
            }
        );
    }
    for (i, v) in OPENERS_AFTER_DUDO.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                OpenerAfterDudo::Loser => 0,
                OpenerAfterDudo::Winner => 1,
            }
        );
    }
    for (i, v) in CALZA_CALLERS.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                CalzaCaller::CurrentPlayer => 0,
                CalzaCaller::AnyExceptBidderAndCurrent => 1,
                CalzaCaller::AnyExceptNext => 2,
                CalzaCaller::AnyExceptBidder => 3,
            }
        );
    }
    for (i, v) in CALZA_SUCCESSES.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                CalzaSuccess::CallerGainsDie => 0,
                CalzaSuccess::BidderLosesDie => 1,
                CalzaSuccess::OthersLoseDie => 2,
                CalzaSuccess::CallerGainsOthersLose => 3,
            }
        );
    }
    for (i, v) in OPENERS_AFTER_CALZA.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                OpenerAfterCalza::Caller => 0,
                OpenerAfterCalza::LastBidderOnSuccess => 1,
            }
        );
    }
    for (i, v) in PALIFICO_TRIGGERS.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                PalificoTrigger::Automatic => 0,
                PalificoTrigger::Declared => 1,
            }
        );
    }
    for (i, v) in DUDO_CALLERS.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                DudoCaller::CurrentPlayer => 0,
                DudoCaller::Anyone => 1,
            }
        );
    }
    for (i, v) in DICE_LOST_ON_DUDO.iter().enumerate() {
        assert_eq!(
            i,
            match v {
                DiceLostOnDudo::One => 0,
            }
        );
    }
}

fn pick<T: Clone + std::fmt::Debug + 'static>(options: &[T]) -> prop::sample::Select<T> {
    prop::sample::select(options.to_vec())
}

fn first_opener() -> impl Strategy<Value = FirstOpener> {
    prop_oneof![
        Just(FirstOpener::SeededRandom),
        (0..MAX_SEATS).prop_map(|i| FirstOpener::Seat(seat(i))),
    ]
}

/// Numeric ranges of a generated config: `wide` reaches past every bound, so that most
/// configs are invalid; otherwise they stay in range and only combinations can clash.
struct Ranges {
    starting_dice: Vec<u8>,
    min_players: Vec<u8>,
    max_players: Vec<u8>,
    palifico_min_players: Vec<u8>,
    time_limits: Vec<u16>,
}

fn ranges(wide: bool) -> Ranges {
    if wide {
        Ranges {
            starting_dice: (0..=7).collect(),
            min_players: (0..=12).collect(),
            max_players: (0..=12).collect(),
            palifico_min_players: (0..=12).collect(),
            time_limits: vec![0, 1, 9, 10, 11, 30, 299, 300, 301, 600, u16::MAX],
        }
    } else {
        Ranges {
            // Biased toward the boundaries and the default, where the special cases live.
            starting_dice: vec![1, 1, 2, 3, 4, 5, 5, 5],
            min_players: vec![2, 2, 2, 2, 3, 4, 5, 6],
            max_players: vec![6, 8, 10, 10, 10, 10, 9, 7],
            palifico_min_players: vec![2, 2, 3, 3, 4, 5],
            time_limits: vec![10, 30, 300],
        }
    }
}

fn config_strategy(wide: bool) -> impl Strategy<Value = GameConfig> {
    let r = ranges(wide);
    let part_a = (
        pick(&r.starting_dice),
        pick(&r.min_players),
        pick(&r.max_players),
        first_opener(),
        any::<bool>(),
        pick(&WILD_SCOPES),
        any::<bool>(),
        pick(&RAISE_RULES),
        pick(&ACE_CONVERSIONS),
        pick(&QUANTITY_CAPS),
    );
    let part_b = (
        pick(&OPENERS_AFTER_DUDO),
        any::<bool>(),
        pick(&CALZA_CALLERS),
        pick(&CALZA_SUCCESSES),
        any::<bool>(),
        any::<bool>(),
        pick(&OPENERS_AFTER_CALZA),
        any::<bool>(),
        pick(&PALIFICO_TRIGGERS),
        pick(&r.palifico_min_players),
    );
    let part_c = (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        pick(&DUDO_CALLERS),
        pick(&DICE_LOST_ON_DUDO),
        prop::option::of(pick(&r.time_limits)),
    );
    (part_a, part_b, part_c).prop_map(|(a, b, c)| GameConfig {
        starting_dice: a.0,
        min_players: a.1,
        max_players: a.2,
        first_round_opener: a.3,
        aces_wild: a.4,
        wild_scope: a.5,
        opening_aces_allowed: a.6,
        raise_rule: a.7,
        ace_conversion: a.8,
        bid_quantity_cap: a.9,
        opener_after_dudo: b.0,
        calza_enabled: b.1,
        calza_caller: b.2,
        calza_success: b.3,
        calza_requires_missing_die: b.4,
        calza_once_per_game: b.5,
        opener_after_calza: b.6,
        palifico_enabled: b.7,
        palifico_trigger: b.8,
        palifico_min_players: b.9,
        palifico_face_locked: c.0,
        palifico_one_die_may_change_face: c.1,
        palifico_opening_aces_allowed: c.2,
        dudo_caller: c.3,
        dice_lost_on_dudo: c.4,
        turn_time_limit_secs: c.5,
    })
}

/// An in-range config with a few numeric settings taken from out-of-range draws, so that
/// each bound is crossed while everything else is still valid.
fn near_boundary() -> impl Strategy<Value = GameConfig> {
    (config_strategy(false), config_strategy(true), any::<u16>()).prop_map(
        |(mut config, wide, mask)| {
            // Two mask bits per setting: about one setting in four comes from `wide`.
            let take = |i: u32| (mask >> (2 * i)) & 3 == 3;
            if take(0) {
                config.starting_dice = wide.starting_dice;
            }
            if take(1) {
                config.min_players = wide.min_players;
            }
            if take(2) {
                config.max_players = wide.max_players;
            }
            if take(3) {
                config.palifico_min_players = wide.palifico_min_players;
            }
            if take(4) {
                config.turn_time_limit_secs = wide.turn_time_limit_secs;
            }
            if take(5) {
                config.first_round_opener = wide.first_round_opener;
            }
            config
        },
    )
}

/// A config and a seat count (2..=10) that `validate_for` accepts.
fn valid_setup() -> impl Strategy<Value = (GameConfig, u8)> {
    valid_setup_for(2..=MAX_SEATS)
}

fn valid_setup_for(seats: std::ops::RangeInclusive<u8>) -> impl Strategy<Value = (GameConfig, u8)> {
    (config_strategy(false), seats).prop_filter(
        "config must be valid for the seat count",
        |(config, seats)| config.validate_for(*seats).is_ok(),
    )
}

// ---------------------------------------------------------------------------------------------
// Independent oracles
// ---------------------------------------------------------------------------------------------

/// RULES.md section 1.3, written out again: the rank of a bid under the default rules.
fn oracle_rank(bid: Bid) -> u32 {
    let q = u32::from(bid.quantity.get());
    match bid.face.get() {
        1 => 11 * q - 1,
        f => 5 * (q - 1) + (u32::from(f) - 2) + (q - 1) / 2,
    }
}

fn is_default_ordering(config: &GameConfig) -> bool {
    config.aces_wild
        && config.raise_rule == RaiseRule::Standard
        && config.ace_conversion == AceConversion::HalfUpDoublePlusOne
}

/// Raise between two bids whose faces compare naturally (the ace lowest).
fn oracle_natural_raise(raise: RaiseRule, prev: Bid, next: Bid) -> bool {
    let (q, f) = (prev.quantity.get(), prev.face.get());
    let (nq, nf) = (next.quantity.get(), next.face.get());
    match raise {
        RaiseRule::Standard => nq > q || (nq == q && nf > f),
        RaiseRule::FaceNonDecreasing => (nf > f && nq >= q) || (nf == f && nq > q),
        RaiseRule::FaceFirst => nf > f || (nf == f && nq > q),
    }
}

/// Raise with wild aces and an exchange rate between aces and the other faces.
fn oracle_wild_raise(raise: RaiseRule, conversion: AceConversion, prev: Bid, next: Bid) -> bool {
    let (q, nq) = (
        u32::from(prev.quantity.get()),
        u32::from(next.quantity.get()),
    );
    match (prev.face.get() == 1, next.face.get() == 1) {
        (false, false) => oracle_natural_raise(raise, prev, next),
        (true, true) => nq > q,
        // To aces: at least half, rounded up; or (double value) worth strictly more.
        (false, true) => match conversion {
            AceConversion::HalfUpDoublePlusOne => 2 * nq >= q,
            AceConversion::DoubleValue => 2 * nq > q,
        },
        (true, false) => match conversion {
            AceConversion::HalfUpDoublePlusOne => nq > 2 * q,
            AceConversion::DoubleValue => nq >= 2 * q,
        },
    }
}

fn oracle_normal_raise(config: &GameConfig, prev: Bid, next: Bid) -> bool {
    if config.aces_wild {
        oracle_wild_raise(config.raise_rule, config.ace_conversion, prev, next)
    } else {
        oracle_natural_raise(config.raise_rule, prev, next)
    }
}

/// Dice matching `bid` in the revealed `hands`, counted die by die.
fn oracle_count(hands: &[Hand], bidder: Seat, bid: Bid, wilds: Wilds) -> u32 {
    let face = bid.face.get();
    let mut count = 0;
    for (i, hand) in hands.iter().enumerate() {
        let wild_here = face != 1
            && match wilds {
                Wilds::None => false,
                Wilds::AllDice => true,
                Wilds::BidderOnly => i == bidder.index(),
            };
        for die in hand.faces() {
            if die.get() == face || (wild_here && die.get() == 1) {
                count += 1;
            }
        }
    }
    count
}

/// The rules a config must satisfy, by name, as documented on `GameConfig` and `ConfigError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ConfigRule {
    StartingDice,
    PlayerLimits,
    SeatCount,
    OpenerSeat,
    PalificoMinPlayers,
    TurnTimeLimit,
    FaceFirstNeedsPlainAces,
    BidderOnlyNeedsWildAces,
    OneDieChangeNeedsLock,
    MissingDieNeedsTwoDice,
}

fn config_violations(config: &GameConfig, seats: u8) -> Vec<ConfigRule> {
    let mut broken = Vec::new();
    if !(1..=5).contains(&config.starting_dice) {
        broken.push(ConfigRule::StartingDice);
    }
    let limits_ok = 2 <= config.min_players
        && config.min_players <= config.max_players
        && config.max_players <= 10;
    if !limits_ok {
        broken.push(ConfigRule::PlayerLimits);
    }
    if seats < config.min_players || seats > config.max_players {
        broken.push(ConfigRule::SeatCount);
    }
    if let FirstOpener::Seat(opener) = config.first_round_opener
        && (opener.get() >= seats || opener.get() >= config.max_players)
    {
        broken.push(ConfigRule::OpenerSeat);
    }
    if config.palifico_min_players < 2 || config.palifico_min_players > config.max_players {
        broken.push(ConfigRule::PalificoMinPlayers);
    }
    if config
        .turn_time_limit_secs
        .is_some_and(|secs| !(10..=300).contains(&secs))
    {
        broken.push(ConfigRule::TurnTimeLimit);
    }
    if config.raise_rule == RaiseRule::FaceFirst && config.aces_wild {
        broken.push(ConfigRule::FaceFirstNeedsPlainAces);
    }
    if config.wild_scope == WildScope::BidderOnly && !config.aces_wild {
        broken.push(ConfigRule::BidderOnlyNeedsWildAces);
    }
    if config.palifico_one_die_may_change_face && !config.palifico_face_locked {
        broken.push(ConfigRule::OneDieChangeNeedsLock);
    }
    if config.calza_requires_missing_die && config.starting_dice == 1 {
        broken.push(ConfigRule::MissingDieNeedsTwoDice);
    }
    broken
}

fn rule_of(error: &ConfigError) -> Option<ConfigRule> {
    Some(match error {
        ConfigError::StartingDiceOutOfRange { .. } => ConfigRule::StartingDice,
        ConfigError::PlayerLimitsOutOfRange { .. } => ConfigRule::PlayerLimits,
        ConfigError::SeatCountOutOfRange { .. } => ConfigRule::SeatCount,
        ConfigError::OpenerSeatOutOfRange { .. } => ConfigRule::OpenerSeat,
        ConfigError::PalificoMinPlayersOutOfRange { .. } => ConfigRule::PalificoMinPlayers,
        ConfigError::TurnTimeLimitOutOfRange { .. } => ConfigRule::TurnTimeLimit,
        ConfigError::Contradiction { setting, .. } => match *setting {
            "raise_rule" => ConfigRule::FaceFirstNeedsPlainAces,
            "wild_scope" => ConfigRule::BidderOnlyNeedsWildAces,
            "palifico_one_die_may_change_face" => ConfigRule::OneDieChangeNeedsLock,
            "calza_requires_missing_die" => ConfigRule::MissingDieNeedsTwoDice,
            _ => return None,
        },
    })
}

// ---------------------------------------------------------------------------------------------
// Serde helpers (invariants 13 and 14)
// ---------------------------------------------------------------------------------------------

/// Encodes `value` as JSON, checks it decodes to an equal value, and returns the text.
fn round_trip<T>(value: &T) -> Result<String, TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: T = serde_json::from_str(&text)
        .map_err(|e| TestCaseError::fail(format!("{e} while decoding {text}")))?;
    prop_assert_eq!(&back, value, "serde round trip through {}", text);
    Ok(text)
}

fn parse(text: &str) -> Result<Value, TestCaseError> {
    serde_json::from_str(text).map_err(|e| TestCaseError::fail(e.to_string()))
}

/// Paths (as dotted keys) of every object key named `hand` or `hands` in `value`.
fn hand_paths(value: &Value, path: &mut Vec<String>, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                path.push(key.clone());
                if key == "hand" || key == "hands" {
                    out.push(path.join("."));
                }
                hand_paths(child, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            for item in items {
                hand_paths(item, path, out);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
    }
}

fn hand_keys(value: &Value) -> Vec<String> {
    let mut out = Vec::new();
    hand_paths(value, &mut Vec::new(), &mut out);
    out
}

// ---------------------------------------------------------------------------------------------
// The driver's dice: a tiny deterministic generator, so a case is reproducible from its inputs
// ---------------------------------------------------------------------------------------------

/// A dense index for every action, for membership tests without hashing.
fn action_key(action: &Action) -> usize {
    let bids = 6 * usize::from(MAX_QUANTITY);
    match action {
        Action::Bid(b) => {
            b.face.index() * usize::from(MAX_QUANTITY) + usize::from(b.quantity.get()) - 1
        }
        Action::Dudo => bids,
        Action::Calza => bids + 1,
        Action::DeclarePalifico => bids + 2,
    }
}

const ACTION_KEYS: usize = 6 * MAX_QUANTITY as usize + 3;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // SplitMix64.
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `num / den`.
    fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next() % den < num
    }

    fn choose<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

// ---------------------------------------------------------------------------------------------
// The model: the rules of RULES.md written out independently of the engine
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Model {
    config: GameConfig,
    dice: Vec<u8>,
    palifico_used: Vec<bool>,
    calza_used: Vec<bool>,
    /// Palifico rounds each player has had (a round re-rolled after a forfeit is the same one).
    palifico_rounds: Vec<u32>,
    round: u32,
    opener: Seat,
    turn: Seat,
    palifico: Option<Seat>,
    bids: Vec<PlacedBid>,
    /// The running round's hands, read from the engine when the round starts.
    hands: Vec<Hand>,
    winner: Option<Seat>,
    last_resolution: Option<Resolution>,
}

impl Model {
    fn seats(&self) -> u8 {
        self.dice.len() as u8
    }

    fn active(&self) -> u8 {
        self.dice.iter().filter(|&&d| d > 0).count() as u8
    }

    fn total(&self) -> u32 {
        self.dice.iter().map(|&d| u32::from(d)).sum()
    }

    fn next_active_after(&self, from: Seat) -> Seat {
        let n = self.dice.len();
        let index = (1..=n)
            .map(|step| (from.index() + step) % n)
            .find(|&i| self.dice[i] > 0)
            .expect("a running game has an active seat");
        seat(index as u8)
    }

    fn this_or_next_active(&self, from: Seat) -> Seat {
        if self.dice[from.index()] > 0 {
            from
        } else {
            self.next_active_after(from)
        }
    }

    fn wilds(&self) -> Wilds {
        if self.palifico.is_some() || !self.config.aces_wild {
            Wilds::None
        } else {
            match self.config.wild_scope {
                WildScope::AllDice => Wilds::AllDice,
                WildScope::BidderOnly => Wilds::BidderOnly,
            }
        }
    }

    fn cap(&self) -> u32 {
        match self.config.bid_quantity_cap {
            BidQuantityCap::TotalDiceInPlay => self.total(),
            BidQuantityCap::Unbounded => u32::from(MAX_QUANTITY),
        }
    }

    /// RULES.md 1.6: the round is palifico when its opener has exactly one die, never had a
    /// palifico round, and enough players are in.
    fn automatic_palifico(&self, opener: Seat) -> Option<Seat> {
        let c = &self.config;
        (c.palifico_enabled
            && c.palifico_trigger == PalificoTrigger::Automatic
            && self.dice[opener.index()] == 1
            && !self.palifico_used[opener.index()]
            && self.active() >= c.palifico_min_players)
            .then_some(opener)
    }

    fn bid_is_legal(&self, bidder: Seat, new: Bid) -> bool {
        if u32::from(new.quantity.get()) > self.cap() {
            return false;
        }
        let c = &self.config;
        match self.bids.last() {
            None => {
                let aces_ok = if self.palifico.is_some() {
                    c.palifico_opening_aces_allowed
                } else {
                    c.opening_aces_allowed || !c.aces_wild
                };
                new.face.get() != 1 || aces_ok
            }
            Some(prev) if self.palifico.is_some() => {
                let may_change =
                    c.palifico_one_die_may_change_face && self.dice[bidder.index()] == 1;
                if c.palifico_face_locked && !may_change {
                    new.face == prev.bid.face && new.quantity > prev.bid.quantity
                } else {
                    oracle_natural_raise(c.raise_rule, prev.bid, new)
                }
            }
            Some(prev) => oracle_normal_raise(c, prev.bid, new),
        }
    }

    /// Whether `who` may take `action` now.
    fn is_legal(&self, who: Seat, action: Action) -> bool {
        if who.get() >= self.seats() || self.winner.is_some() || self.dice[who.index()] == 0 {
            return false;
        }
        let c = &self.config;
        let last = self.bids.last();
        match action {
            Action::Bid(new) => who == self.turn && self.bid_is_legal(who, new),
            Action::Dudo => last.is_some_and(|last| {
                last.seat != who
                    && match c.dudo_caller {
                        DudoCaller::CurrentPlayer => who == self.turn,
                        DudoCaller::Anyone => true,
                    }
            }),
            Action::Calza => {
                c.calza_enabled
                    && last.is_some_and(|last| last.seat != who)
                    && match c.calza_caller {
                        CalzaCaller::CurrentPlayer => who == self.turn,
                        CalzaCaller::AnyExceptBidderAndCurrent => who != self.turn,
                        CalzaCaller::AnyExceptNext => who != self.next_active_after(self.turn),
                        CalzaCaller::AnyExceptBidder => true,
                    }
                    && (!c.calza_requires_missing_die || self.dice[who.index()] < c.starting_dice)
                    && (!c.calza_once_per_game || !self.calza_used[who.index()])
            }
            Action::DeclarePalifico => {
                c.palifico_enabled
                    && c.palifico_trigger == PalificoTrigger::Declared
                    && self.palifico.is_none()
                    && last.is_none()
                    && self.dice[who.index()] == 1
                    && !self.palifico_used[who.index()]
                    && self.active() >= c.palifico_min_players
            }
        }
    }

    /// The winner if exactly one seat has dice.
    fn sole_survivor(&self) -> Option<Seat> {
        let mut active = (0..self.seats()).filter(|&i| self.dice[i as usize] > 0);
        match (active.next(), active.next()) {
            (Some(winner), None) => Some(seat(winner)),
            _ => None,
        }
    }

    /// Ends the game or starts round `round + 1`; returns the events that go with it.
    fn next_round(&mut self, opener: Seat, continued: Option<Seat>, events: &mut Vec<Event>) {
        if let Some(winner) = self.sole_survivor() {
            self.winner = Some(winner);
            events.push(Event::GameWon { winner });
            return;
        }
        let palifico = continued.or_else(|| self.automatic_palifico(opener));
        if let Some(p) = palifico {
            if continued.is_none() {
                self.palifico_rounds[p.index()] += 1;
            }
            self.palifico_used[p.index()] = true;
        }
        self.round += 1;
        self.opener = opener;
        self.turn = opener;
        self.palifico = palifico;
        self.bids.clear();
        events.push(Event::RoundStarted {
            round: self.round,
            opener,
            palifico,
            wilds: self.wilds(),
            dice: self.dice.clone(),
        });
    }

    /// Applies an accepted move and returns the events the rules say it emits.
    fn play(&mut self, mv: Move) -> Vec<Event> {
        let mut events = Vec::new();
        match mv {
            Move::Forfeit { seat: who } => {
                events.push(Event::Forfeited { seat: who });
                events.push(Event::Eliminated { seat: who });
                self.dice[who.index()] = 0;
                if self.sole_survivor().is_some() {
                    self.next_round(who, None, &mut events);
                    return events;
                }
                // Documented choice in `Game::forfeit`: the void round is re-rolled as the same
                // player's palifico round while that player is in and enough players remain.
                let continued = self.palifico.filter(|p| {
                    self.dice[p.index()] > 0 && self.active() >= self.config.palifico_min_players
                });
                let opener = self.this_or_next_active(self.opener);
                self.next_round(opener, continued, &mut events);
            }
            Move::Act {
                seat: who,
                action: Action::Bid(new),
            } => {
                let placed = PlacedBid {
                    seat: who,
                    bid: new,
                };
                self.bids.push(placed);
                self.turn = self.next_active_after(who);
                events.push(Event::BidPlaced(placed));
            }
            Move::Act {
                seat: who,
                action: Action::DeclarePalifico,
            } => {
                self.palifico = Some(who);
                self.palifico_used[who.index()] = true;
                self.palifico_rounds[who.index()] += 1;
                self.opener = who;
                self.turn = who;
                events.push(Event::PalificoDeclared { seat: who });
            }
            Move::Act {
                seat: who,
                action: action @ (Action::Dudo | Action::Calza),
            } => {
                let placed = *self.bids.last().expect("a call needs a bid");
                let wilds = self.wilds();
                let count = oracle_count(&self.hands, placed.seat, placed.bid, wilds);
                let quantity = u32::from(placed.bid.quantity.get());
                let before = self.dice.clone();
                let starting = self.config.starting_dice;
                let (call, succeeded, opener) = if action == Action::Dudo {
                    let bid_false = count < quantity;
                    let (loser, winner) = if bid_false {
                        (placed.seat, who)
                    } else {
                        (who, placed.seat)
                    };
                    self.dice[loser.index()] -= 1;
                    let opener = match self.config.opener_after_dudo {
                        OpenerAfterDudo::Loser => loser,
                        OpenerAfterDudo::Winner => winner,
                    };
                    (Call::Dudo { challenger: who }, bid_false, opener)
                } else {
                    let exact = count == quantity;
                    self.calza_used[who.index()] = true;
                    if exact {
                        let caller_gains = matches!(
                            self.config.calza_success,
                            CalzaSuccess::CallerGainsDie | CalzaSuccess::CallerGainsOthersLose
                        );
                        let others_lose = matches!(
                            self.config.calza_success,
                            CalzaSuccess::OthersLoseDie | CalzaSuccess::CallerGainsOthersLose
                        );
                        if caller_gains && self.dice[who.index()] < starting {
                            self.dice[who.index()] += 1;
                        }
                        if others_lose {
                            for (i, d) in self.dice.iter_mut().enumerate() {
                                if i != who.index() && before[i] > 0 {
                                    *d -= 1;
                                }
                            }
                        }
                        if self.config.calza_success == CalzaSuccess::BidderLosesDie {
                            self.dice[placed.seat.index()] -= 1;
                        }
                    } else {
                        self.dice[who.index()] -= 1;
                    }
                    let opener = match self.config.opener_after_calza {
                        OpenerAfterCalza::LastBidderOnSuccess if exact => placed.seat,
                        OpenerAfterCalza::LastBidderOnSuccess | OpenerAfterCalza::Caller => who,
                    };
                    (Call::Calza { caller: who }, exact, opener)
                };
                let changes: Vec<DiceChange> = (0..self.seats())
                    .filter(|&i| before[i as usize] != self.dice[i as usize])
                    .map(|i| DiceChange {
                        seat: seat(i),
                        before: before[i as usize],
                        after: self.dice[i as usize],
                    })
                    .collect();
                let resolution = Resolution {
                    round: self.round,
                    call,
                    bid: placed,
                    hands: self.hands.clone(),
                    wilds,
                    count,
                    call_succeeded: succeeded,
                    changes: changes.clone(),
                };
                self.last_resolution = Some(resolution.clone());
                events.push(Event::RoundResolved(resolution));
                for change in changes.iter().filter(|c| c.after == 0) {
                    events.push(Event::Eliminated { seat: change.seat });
                }
                let opener = self.this_or_next_active(opener);
                self.next_round(opener, None, &mut events);
            }
        }
        events
    }
}

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Depth {
    /// Every check after every step.
    Full,
    /// The model comparison and the cheap invariants only (for properties that play many games).
    Light,
}

#[derive(Clone, Copy, Debug)]
enum Step {
    Act(Seat, Action),
    Forfeit(Seat),
}

#[derive(Default)]
struct Tally {
    resolved_rounds: u32,
    /// Resolved rounds that raised the total dice (a correct calza under the cap).
    gains: u32,
    /// Resolved rounds that changed no dice count.
    zero_change: u32,
    /// Sum over resolved rounds of the dice the table lost (negative for a gain).
    dice_lost_in_rounds: i64,
    forfeits: u32,
    dice_forfeited: u32,
}

struct Harness {
    game: Game,
    model: Model,
    seats: u8,
    seed: Seed,
    seed_hex: String,
    rng: Rng,
    depth: Depth,
    forfeit_per_mille: u64,
    /// How long rounds run before someone calls: higher means more bids per round.
    patience: u64,
    round_patience: u64,
    events: Vec<Event>,
    tally: Tally,
    steps: usize,
    /// Round number and dice per seat, to the hands rolled for that round.
    round_hands: HashMap<(u32, Vec<u8>), Vec<Hand>>,
    /// A copy of the game at some step, with the number of events emitted until then.
    snapshot: Option<(Game, usize)>,
    snapshot_step: usize,
    /// Seats that have been out of the game at some point.
    ever_out: Vec<bool>,
    /// The public table as a client keeps it: one built from the game's first event, and one
    /// from a view taken at `snapshot_step`, each following every event since.
    tables: Vec<TableView>,
}

impl Harness {
    fn start(
        config: GameConfig,
        seats: u8,
        seed: Seed,
        driver: u64,
        depth: Depth,
    ) -> Result<Harness, TestCaseError> {
        let (game, events) = perudo_core::Rules::new(config.clone())
            .and_then(|rules| Game::start(rules, seats, seed))
            .map_err(|e| TestCaseError::fail(format!("valid config rejected: {e}")))?;
        prop_assert_eq!(
            &Game::new(config.clone(), seats, seed).expect("accepted just now"),
            &game
        );
        let starting = config.starting_dice;
        let first = match &events[..] {
            [
                Event::GameStarted { .. },
                Event::RoundStarted { opener, .. },
            ] => *opener,
            other => return Err(TestCaseError::fail(format!("start events: {other:?}"))),
        };
        prop_assert!(first.get() < seats, "first opener {first} of {seats} seats");
        if let FirstOpener::Seat(configured) = config.first_round_opener {
            prop_assert_eq!(first, configured);
        }
        let n = usize::from(seats);
        let mut model = Model {
            config: config.clone(),
            dice: vec![starting; n],
            palifico_used: vec![false; n],
            calza_used: vec![false; n],
            palifico_rounds: vec![0; n],
            round: 0,
            opener: first,
            turn: first,
            palifico: None,
            bids: Vec::new(),
            hands: Vec::new(),
            winner: None,
            last_resolution: None,
        };
        let palifico = model.automatic_palifico(first);
        if let Some(p) = palifico {
            model.palifico_used[p.index()] = true;
            model.palifico_rounds[p.index()] += 1;
        }
        model.palifico = palifico;
        let expected = vec![
            Event::GameStarted {
                seats,
                starting_dice: starting,
                commitment: seed.commitment(),
            },
            Event::RoundStarted {
                round: 0,
                opener: first,
                palifico,
                wilds: model.wilds(),
                dice: vec![starting; n],
            },
        ];
        prop_assert_eq!(&events, &expected);
        let mut rng = Rng(driver);
        let forfeit_per_mille = if rng.chance(1, 2) {
            0
        } else {
            4 + rng.below(12) as u64
        };
        let snapshot_step = rng.below(300);
        let patience = rng.choose(&[1, 4, 8, 20, 60]);
        let mut harness = Harness {
            game,
            model,
            seats,
            seed,
            seed_hex: seed.to_hex(),
            rng,
            depth,
            forfeit_per_mille,
            patience,
            round_patience: patience,
            events: Vec::new(),
            tally: Tally::default(),
            steps: 0,
            round_hands: HashMap::new(),
            snapshot: None,
            snapshot_step,
            ever_out: vec![false; n],
            tables: Vec::new(),
        };
        harness.record_events(events)?;
        harness.check_state()?;
        Ok(harness)
    }

    /// Every seat that exists, then one that does not (when the seat type can name one).
    fn probe_seats(&self) -> Vec<Seat> {
        (0..=self.seats).filter_map(Seat::new).collect()
    }

    /// The bounded universe of RULES.md 4.3 for one seat.
    fn universe(&self) -> Vec<Action> {
        let top = self.model.total() + 2;
        let mut actions = Vec::new();
        for q in (1..=top).chain(std::iter::once(u32::from(MAX_QUANTITY))) {
            for face in 1..=6 {
                if let Some(b) = Bid::new(q as u8, face) {
                    actions.push(Action::Bid(b));
                }
            }
        }
        actions.extend([Action::Dudo, Action::Calza, Action::DeclarePalifico]);
        actions
    }

    fn junk_step(&mut self) -> Step {
        let anyone = seat((self.rng.below(usize::from(self.seats) + 1) as u8).min(MAX_SEATS - 1));
        let who = match self.game.turn() {
            Some(turn) if self.rng.chance(1, 2) => turn,
            Some(_) | None => anyone,
        };
        if self.rng.chance(1, 12) {
            // In a game without forfeits, junk forfeits must all be rejected.
            let harmless =
                self.game.is_over() || who.get() >= self.seats || self.model.dice[who.index()] == 0;
            if harmless || self.forfeit_per_mille > 0 {
                return Step::Forfeit(who);
            }
        }
        let action = match self.rng.below(10) {
            0 => Action::Dudo,
            1 => Action::Calza,
            2 => Action::DeclarePalifico,
            _ => {
                let top = self.model.total() as usize + 2;
                let q = 1 + self.rng.below(top);
                Action::Bid(bid(q as u8, 1 + self.rng.below(6) as u8))
            }
        };
        Step::Act(who, action)
    }

    /// Mostly a legal action of some seat; now and then junk or a forfeit.
    fn choose(&mut self) -> Step {
        if self.game.is_over() || self.rng.chance(1, 8) {
            return self.junk_step();
        }
        if self.rng.next() % 1000 < self.forfeit_per_mille {
            let who = seat(self.rng.below(usize::from(self.seats)) as u8);
            return Step::Forfeit(who);
        }
        let mut declarers = Vec::new();
        let mut closers = Vec::new();
        let turn = self.game.turn().expect("the game runs");
        let bids = self.game.legal_moves(turn);
        for who in (0..self.seats).map(seat) {
            let moves = self.game.legal_moves(who);
            if moves.declare_palifico {
                declarers.push(who);
            }
            if moves.dudo {
                closers.push((who, Action::Dudo));
                closers.push((who, Action::Dudo));
                closers.push((who, Action::Dudo));
            }
            if moves.calza {
                closers.push((who, Action::Calza));
            }
        }
        if !declarers.is_empty() && self.rng.chance(1, 2) {
            return Step::Act(self.rng.choose(&declarers), Action::DeclarePalifico);
        }
        let faces: Vec<Face> = Face::ALL
            .into_iter()
            .filter(|f| bids.min_bid[f.index()].is_some())
            .collect();
        if self.model.bids.is_empty() {
            // Now and then a marathon round that climbs toward the top bid.
            self.round_patience = if self.rng.chance(1, 50) {
                5000
            } else {
                self.patience
            };
        }
        let pressure = 2 + self.model.bids.len() as u64;
        if !closers.is_empty()
            && (faces.is_empty() || self.rng.chance(pressure, pressure + self.round_patience))
        {
            let (who, action) = self.rng.choose(&closers);
            return Step::Act(who, action);
        }
        if faces.is_empty() {
            // Liveness is asserted elsewhere; hand the engine something to reject.
            return self.junk_step();
        }
        let face = self.rng.choose(&faces);
        let min = bids.min_bid[face.index()].expect("filtered").get();
        let max = bids.max_quantity.get();
        let jump = if self.round_patience > 100 { 200 } else { 10 };
        let q = if self.rng.chance(1, jump) {
            min + self.rng.below(usize::from(max - min) + 1) as u8
        } else {
            let mut q = min;
            while q < max && self.rng.chance(1, 3) {
                q += 1;
            }
            q
        };
        Step::Act(
            turn,
            Action::Bid(Bid::new(q, face.get()).expect("in range")),
        )
    }

    fn run(&mut self) -> Check {
        let mut after_end = 0;
        while after_end < 4 {
            prop_assert!(
                self.steps < MAX_STEPS,
                "game did not end in {MAX_STEPS} steps"
            );
            if self.game.is_over() {
                after_end += 1;
            }
            let step = self.choose();
            self.step(step)?;
        }
        self.finish()
    }

    fn step(&mut self, step: Step) -> Check {
        self.steps += 1;
        if self.steps == self.snapshot_step && self.snapshot.is_none() {
            self.snapshot = Some((self.game.clone(), self.events.len()));
            self.tables.push(self.game.spectator_view());
        }
        let before = self.game.clone();
        let model_before = self.model.clone();
        let (expected_legal, result) = match step {
            Step::Act(who, action) => {
                let legal = self.model.is_legal(who, action);
                prop_assert_eq!(
                    self.game.is_legal(who, &action),
                    legal,
                    "is_legal({}, {:?}) disagrees with the model",
                    who,
                    action
                );
                let checked = self.game.check(who, &action);
                let result = self.game.apply(who, action);
                prop_assert_eq!(&checked, &result.as_ref().map(|_| ()).map_err(|e| *e));
                (legal, result)
            }
            Step::Forfeit(who) => {
                let allowed = who.get() < self.seats
                    && self.model.winner.is_none()
                    && self.model.dice[who.index()] > 0;
                (allowed, self.game.forfeit(who))
            }
        };
        match result {
            Err(error) => {
                // Invariant 2: a rejected action or forfeit changes nothing at all.
                prop_assert!(!expected_legal, "{:?} rejected with {:?}", step, error);
                prop_assert_eq!(
                    &self.game,
                    &before,
                    "{:?} rejected but the game changed",
                    step
                );
                prop_assert!(!error.to_string().is_empty());
                round_trip(&error)?;
                {
                    let (Step::Act(who, _) | Step::Forfeit(who)) = step;
                    let expected_error = if who.get() >= self.seats {
                        Some(RuleError::NoSuchSeat { seat: who })
                    } else if self.model.winner.is_some() {
                        Some(RuleError::GameOver)
                    } else if self.model.dice[who.index()] == 0 {
                        Some(RuleError::PlayerEliminated { seat: who })
                    } else {
                        None
                    };
                    if let Some(expected_error) = expected_error {
                        prop_assert_eq!(error, expected_error);
                    }
                }
            }
            Ok(events) => {
                prop_assert!(
                    expected_legal,
                    "{:?} accepted but the model forbids it",
                    step
                );
                let mv = match step {
                    Step::Act(seat, action) => Move::Act { seat, action },
                    Step::Forfeit(seat) => Move::Forfeit { seat },
                };
                prop_assert_eq!(before.history().len() + 1, self.game.history().len());
                prop_assert_eq!(self.game.history().last(), Some(&mv));
                let expected = self.model.play(mv);
                prop_assert_eq!(&events, &expected, "events of {:?}", mv);
                self.check_transition(&before, &model_before, mv, &events)?;
                self.record_events(events)?;
            }
        }
        self.check_state()
    }

    /// Keeps the event log, reads the hands of a new round, and checks every event's encoding.
    fn record_events(&mut self, events: Vec<Event>) -> Check {
        for event in &events {
            if self.depth == Depth::Full {
                let text = round_trip(event)?;
                prop_assert!(!text.contains(&self.seed_hex), "an event carries the seed");
            }
            if let Event::RoundStarted { round, dice, .. } = event {
                let hands: Vec<Hand> = (0..self.seats)
                    .map(|i| self.game.hand(seat(i)).cloned().unwrap_or_default())
                    .collect();
                for (i, hand) in hands.iter().enumerate() {
                    prop_assert_eq!(
                        hand.len(),
                        usize::from(dice[i]),
                        "hand of seat {} at roll",
                        i
                    );
                }
                self.model.hands = hands.clone();
                self.round_hands.insert((*round, dice.clone()), hands);
            }
            // Protocol v2 sends events, not tables: following them must give the table.
            if let Event::GameStarted {
                seats,
                starting_dice,
                commitment,
            } = event
            {
                self.tables
                    .push(TableView::started(*seats, *starting_dice, *commitment));
            }
            for table in &mut self.tables {
                table.apply(event);
            }
        }
        let view = self.game.spectator_view();
        for table in &self.tables {
            prop_assert_eq!(table, &view, "the table followed from events");
        }
        self.events.extend(events);
        Ok(())
    }

    /// Invariants about one accepted move, stated directly (the model already predicted its
    /// events; these say the same in the words of RULES.md section 4).
    fn check_transition(
        &mut self,
        before: &Game,
        model_before: &Model,
        mv: Move,
        events: &[Event],
    ) -> Check {
        let config = self.model.config.clone();
        let total_before = before.total_dice();
        let total_after = self.game.total_dice();
        match mv {
            Move::Act {
                seat: bidder,
                action: Action::Bid(new),
            } => {
                // Invariant 7: bids are in range and climb.
                let q = u32::from(new.quantity.get());
                prop_assert!(q >= 1 && q <= model_before.cap());
                if config.bid_quantity_cap == BidQuantityCap::TotalDiceInPlay {
                    prop_assert!(q <= total_before);
                }
                let palifico = model_before.palifico.is_some();
                match model_before.bids.last() {
                    None => {
                        if !palifico && config.aces_wild && !config.opening_aces_allowed {
                            prop_assert!(!new.face.is_ace(), "normal round opened on aces");
                        }
                        if palifico && !config.palifico_opening_aces_allowed {
                            prop_assert!(!new.face.is_ace(), "palifico round opened on aces");
                        }
                    }
                    Some(prev) if palifico => {
                        let one_die_free = config.palifico_one_die_may_change_face
                            && model_before.dice[bidder.index()] == 1;
                        if config.palifico_face_locked && !one_die_free {
                            prop_assert_eq!(new.face, prev.bid.face, "palifico face lock");
                            prop_assert!(new.quantity > prev.bid.quantity);
                        }
                        if config.palifico_face_locked && !config.palifico_one_die_may_change_face {
                            let opening = model_before.bids[0].bid.face;
                            prop_assert_eq!(new.face, opening, "palifico keeps the opening face");
                        }
                    }
                    Some(prev) => {
                        if is_default_ordering(&config) {
                            prop_assert!(
                                standard_rank(new) > standard_rank(prev.bid),
                                "{} after {} does not climb",
                                new,
                                prev.bid
                            );
                            prop_assert_eq!(oracle_rank(new), standard_rank(new));
                        }
                        prop_assert!(config.is_raise(prev.bid, new));
                    }
                }
                // Invariant 11: with the cap, a round is at most 11T bids (T in a locked palifico).
                let bids = self.game.bids().len() as u32;
                if config.bid_quantity_cap == BidQuantityCap::TotalDiceInPlay {
                    if palifico
                        && config.palifico_face_locked
                        && !config.palifico_one_die_may_change_face
                    {
                        prop_assert!(bids <= total_before);
                    } else if !palifico && is_default_ordering(&config) {
                        prop_assert!(bids <= 11 * total_before);
                    }
                }
                prop_assert_eq!(total_after, total_before);
            }
            Move::Act {
                seat: declarer,
                action: Action::DeclarePalifico,
            } => {
                prop_assert!(before.palifico().is_none() && before.bids().is_empty());
                prop_assert_eq!(self.game.palifico(), Some(declarer));
                prop_assert_eq!(self.game.turn(), Some(declarer));
                prop_assert_eq!(total_after, total_before);
            }
            Move::Act {
                seat: caller,
                action: action @ (Action::Dudo | Action::Calza),
            } => self.check_resolution(before, caller, action, events)?,
            Move::Forfeit { seat: gone } => {
                self.tally.forfeits += 1;
                let lost = u32::from(model_before.dice[gone.index()]);
                self.tally.dice_forfeited += lost;
                prop_assert_eq!(total_after + lost, total_before);
                if !self.game.is_over() {
                    // The void round is re-rolled (RULES.md 3.13); the opener stays unless it
                    // left, and then the next active seat after it opens.
                    let expected_opener = if model_before.opener != gone {
                        model_before.opener
                    } else {
                        self.model.next_active_after(gone)
                    };
                    prop_assert_eq!(self.game.turn(), Some(expected_opener));
                    prop_assert_eq!(self.game.round_number(), Some(model_before.round + 1));
                    prop_assert!(self.game.bids().is_empty());
                    // Documented choice in `Game::forfeit`: a palifico round stays the same
                    // player's palifico round while that player is in and enough players remain.
                    if let Some(p) = model_before.palifico
                        && p != gone
                        && self.model.active() >= config.palifico_min_players
                    {
                        prop_assert_eq!(self.game.palifico(), Some(p));
                    }
                }
            }
        }
        // Invariant 10: at most one palifico round per player per game.
        for (i, &rounds) in self.model.palifico_rounds.iter().enumerate() {
            prop_assert!(rounds <= 1, "seat {} had {} palifico rounds", i, rounds);
        }
        Ok(())
    }

    fn check_resolution(
        &mut self,
        before: &Game,
        caller: Seat,
        action: Action,
        events: &[Event],
    ) -> Check {
        let config = self.model.config.clone();
        let Some(Event::RoundResolved(res)) = events.first() else {
            return Err(TestCaseError::fail("a call must resolve the round first"));
        };
        let placed = *before.bids().last().expect("a call needs a bid");
        let palifico = before.palifico().is_some();
        // Invariant 8: the revealed dice are the round's dice, counted by our own counter.
        let hands: Vec<Hand> = (0..self.seats)
            .map(|i| before.hand(seat(i)).cloned().unwrap_or_default())
            .collect();
        prop_assert_eq!(&res.hands, &hands);
        prop_assert_eq!(res.bid, placed);
        prop_assert_eq!(Some(res.round), before.round_number());
        let wilds = if palifico || !config.aces_wild {
            Wilds::None
        } else if config.wild_scope == WildScope::BidderOnly {
            Wilds::BidderOnly
        } else {
            Wilds::AllDice
        };
        // Invariant 10: no wild aces in a palifico round.
        prop_assert_eq!(res.wilds, wilds);
        let count = oracle_count(&hands, placed.seat, placed.bid, wilds);
        prop_assert_eq!(res.count, count);
        let q = u32::from(placed.bid.quantity.get());

        let dice_before = before.dice_counts();
        let dice_after = self.game.dice_counts();
        let changed: Vec<usize> = (0..dice_before.len())
            .filter(|&i| dice_before[i] != dice_after[i])
            .collect();
        // The event lists exactly the counts that changed, before and after.
        prop_assert_eq!(res.changes.len(), changed.len());
        for (change, &i) in res.changes.iter().zip(&changed) {
            prop_assert_eq!(change.seat.index(), i);
            prop_assert_eq!(change.before, dice_before[i]);
            prop_assert_eq!(change.after, dice_after[i]);
        }
        let delta = |i: usize| i32::from(dice_after[i]) - i32::from(dice_before[i]);
        let total_before = before.total_dice();
        let total_after = self.game.total_dice();

        // Invariants 6 and 8 per call and per calza outcome; `designated` is who should open
        // next before skipping eliminated seats (invariant 9).
        let designated = match action {
            Action::Dudo => {
                prop_assert_eq!(res.call, Call::Dudo { challenger: caller });
                prop_assert_eq!(res.call_succeeded, count < q);
                let loser = if count < q { placed.seat } else { caller };
                prop_assert_eq!(
                    &changed,
                    &vec![loser.index()],
                    "dudo costs the loser one die"
                );
                prop_assert_eq!(delta(loser.index()), -1);
                prop_assert_eq!(total_after + 1, total_before);
                let winner = if loser == caller { placed.seat } else { caller };
                match config.opener_after_dudo {
                    OpenerAfterDudo::Loser => loser,
                    OpenerAfterDudo::Winner => winner,
                }
            }
            _ => {
                prop_assert_eq!(res.call, Call::Calza { caller });
                prop_assert!(self.game.calza_used(caller));
                let exact = count == q;
                prop_assert_eq!(res.call_succeeded, exact);
                if !exact {
                    prop_assert_eq!(
                        &changed,
                        &vec![caller.index()],
                        "a wrong calza costs the caller"
                    );
                    prop_assert_eq!(delta(caller.index()), -1);
                    prop_assert_eq!(total_after + 1, total_before);
                } else {
                    let at_cap = dice_before[caller.index()] >= config.starting_dice;
                    let others: Vec<usize> = (0..dice_before.len())
                        .filter(|&i| i != caller.index() && dice_before[i] > 0)
                        .collect();
                    match config.calza_success {
                        CalzaSuccess::CallerGainsDie => {
                            if at_cap {
                                prop_assert!(
                                    changed.is_empty(),
                                    "calza at full dice gains nothing"
                                );
                                prop_assert_eq!(total_after, total_before);
                            } else {
                                prop_assert_eq!(&changed, &vec![caller.index()]);
                                prop_assert_eq!(delta(caller.index()), 1);
                                prop_assert_eq!(total_after, total_before + 1);
                            }
                        }
                        CalzaSuccess::BidderLosesDie => {
                            prop_assert_eq!(&changed, &vec![placed.seat.index()]);
                            prop_assert_eq!(delta(placed.seat.index()), -1);
                        }
                        CalzaSuccess::OthersLoseDie | CalzaSuccess::CallerGainsOthersLose => {
                            for &i in &others {
                                prop_assert_eq!(delta(i), -1, "seat {} keeps its dice", i);
                            }
                            let gain = config.calza_success == CalzaSuccess::CallerGainsOthersLose
                                && !at_cap;
                            prop_assert_eq!(delta(caller.index()), i32::from(gain));
                            prop_assert_eq!(
                                total_after + others.len() as u32,
                                total_before + u32::from(gain)
                            );
                            // Never a net gain: at least one other player loses a die.
                            prop_assert!(!others.is_empty() && total_after <= total_before);
                        }
                    }
                }
                match config.opener_after_calza {
                    OpenerAfterCalza::LastBidderOnSuccess if exact => placed.seat,
                    OpenerAfterCalza::LastBidderOnSuccess | OpenerAfterCalza::Caller => caller,
                }
            }
        };
        // Invariant 6: total dice only grow through a correct calza.
        if total_after > total_before {
            let correct_calza = matches!(res.call, Call::Calza { .. }) && res.call_succeeded;
            prop_assert!(correct_calza, "dice grew without a correct calza");
            prop_assert_eq!(total_after, total_before + 1);
        }
        for &i in &changed {
            prop_assert_eq!(delta(i).abs(), 1, "a count moved by more than one die");
        }
        if config.calza_success == CalzaSuccess::CallerGainsDie {
            prop_assert!(
                changed.len() <= 1,
                "the default rules change at most one count"
            );
        }
        self.tally.resolved_rounds += 1;
        self.tally.dice_lost_in_rounds += i64::from(total_before) - i64::from(total_after);
        match total_after.cmp(&total_before) {
            std::cmp::Ordering::Greater => self.tally.gains += 1,
            std::cmp::Ordering::Equal => self.tally.zero_change += 1,
            std::cmp::Ordering::Less => {}
        }
        // Invariant 9: the next opener is the designated player if still in, else the next
        // active seat after them, found here by walking the seats.
        if !self.game.is_over() {
            let n = dice_after.len();
            let opener = (0..n)
                .map(|step| (designated.index() + step) % n)
                .find(|&i| dice_after[i] > 0)
                .expect("someone is in");
            prop_assert_eq!(self.game.turn(), Some(seat(opener as u8)));
            prop_assert_eq!(self.game.round_number(), Some(res.round + 1));
            prop_assert!(self.game.bids().is_empty());
            // Invariant 10: the new round is palifico exactly when the automatic trigger holds.
            let o = opener;
            let expected = (config.palifico_enabled
                && config.palifico_trigger == PalificoTrigger::Automatic
                && dice_after[o] == 1
                && !before.palifico_used(seat(o as u8))
                && dice_after.iter().filter(|&&d| d > 0).count()
                    >= usize::from(config.palifico_min_players))
            .then_some(seat(o as u8));
            prop_assert_eq!(self.game.palifico(), expected);
        }
        Ok(())
    }

    /// Everything that must hold in any state, checked after every step.
    fn check_state(&mut self) -> Check {
        let game = &self.game;
        let model = &self.model;
        let config = &model.config;
        // The engine agrees with the model on every public fact.
        prop_assert_eq!(game.dice_counts(), model.dice.clone());
        prop_assert_eq!(game.seat_count(), self.seats);
        prop_assert_eq!(game.config(), config);
        prop_assert_eq!(game.winner(), model.winner);
        prop_assert_eq!(game.last_resolution(), model.last_resolution.as_ref());
        prop_assert_eq!(game.commitment(), &self.seed.commitment());
        prop_assert!(game.commitment().verify(&self.seed));
        for who in (0..self.seats).map(seat) {
            prop_assert_eq!(game.palifico_used(who), model.palifico_used[who.index()]);
            prop_assert_eq!(game.calza_used(who), model.calza_used[who.index()]);
        }
        // Invariant 5: dice bounds, hands match counts, elimination is permanent.
        for (i, &d) in game.dice_counts().iter().enumerate() {
            prop_assert!(d <= config.starting_dice, "seat {} holds {} dice", i, d);
            if self.ever_out[i] {
                prop_assert_eq!(d, 0, "seat {} came back", i);
            }
            if d == 0 {
                self.ever_out[i] = true;
            }
            if !game.is_over() {
                let hand = game.hand(seat(i as u8)).expect("a running game has hands");
                prop_assert_eq!(hand.len(), usize::from(d));
                prop_assert_eq!(hand, &model.hands[i], "hands change only between rounds");
                prop_assert!(hand.faces().iter().all(|f| (1..=6).contains(&f.get())));
            }
        }
        prop_assert_eq!(
            game.active_seats().collect::<Vec<_>>(),
            (0..self.seats)
                .filter(|&i| model.dice[i as usize] > 0)
                .map(seat)
                .collect::<Vec<_>>()
        );
        prop_assert_eq!(game.total_dice(), model.total());
        if let Some(winner) = model.winner {
            // Invariant 12: one player left with dice, everyone else at zero.
            prop_assert!(game.is_over());
            for (i, &d) in game.dice_counts().iter().enumerate() {
                prop_assert_eq!(d > 0, i == winner.index());
            }
            prop_assert_eq!(game.turn(), None);
            prop_assert_eq!(game.round_number(), None);
            prop_assert!(game.bids().is_empty());
            prop_assert_eq!(game.palifico(), None);
            prop_assert_eq!(game.revealed_seed(), Some(self.seed));
            prop_assert_eq!(
                self.events
                    .iter()
                    .filter(|e| matches!(e, Event::GameWon { .. }))
                    .count(),
                1
            );
            prop_assert_eq!(self.events.last(), Some(&Event::GameWon { winner }));
        } else {
            // Invariant 4: liveness.
            prop_assert!(!game.is_over());
            prop_assert!(model.active() >= 2);
            let turn = game.turn().expect("a running game has a turn");
            prop_assert_eq!(turn, model.turn);
            prop_assert!(
                model.dice[turn.index()] > 0,
                "the turn is an eliminated seat"
            );
            prop_assert!(game.legal_moves(turn).any(), "{} has no legal action", turn);
            prop_assert!(!game.legal_actions(turn).is_empty());
            if !model.bids.is_empty() && config.bid_quantity_cap == BidQuantityCap::TotalDiceInPlay
            {
                prop_assert!(game.is_legal(turn, &Action::Dudo));
            }
            prop_assert_eq!(game.round_number(), Some(model.round));
            prop_assert_eq!(game.palifico(), model.palifico);
            prop_assert_eq!(game.bids(), &model.bids[..]);
            prop_assert_eq!(game.revealed_seed(), None);
            if let Some(last) = &model.last_resolution {
                prop_assert!(last.round < model.round);
            }
        }
        if self.depth == Depth::Full {
            self.check_legality()?;
            self.check_views()?;
        }
        Ok(())
    }

    /// Invariant 3 over the bounded universe, for every seat and one that does not exist.
    fn check_legality(&mut self) -> Check {
        let universe = self.universe();
        let seats = self.probe_seats();
        // Exhaustive `clone().apply()` is the costly part: every action for a few steps, a
        // random sample otherwise.
        let sweep = self.rng.chance(1, 48);
        for &who in &seats {
            let moves = self.game.legal_moves(who);
            let listed = self.game.legal_actions(who);
            prop_assert_eq!(&moves.actions(), &listed);
            prop_assert_eq!(moves.any(), !listed.is_empty());
            let mut set = vec![false; ACTION_KEYS];
            for action in &listed {
                prop_assert!(!set[action_key(action)], "{:?} listed twice", action);
                set[action_key(action)] = true;
            }
            for action in &listed {
                prop_assert!(self.game.is_legal(who, action));
                prop_assert!(
                    self.model.is_legal(who, *action),
                    "{:?} by {} listed",
                    action,
                    who
                );
            }
            for action in &universe {
                let legal = self.game.is_legal(who, action);
                prop_assert_eq!(legal, set[action_key(action)], "{:?} by {}", action, who);
                prop_assert_eq!(legal, moves.allows(action), "{:?} by {}", action, who);
                prop_assert_eq!(
                    legal,
                    self.model.is_legal(who, *action),
                    "{:?} by {}",
                    action,
                    who
                );
                let probe = sweep || self.rng.chance(1, 200);
                if probe {
                    let mut copy = self.game.clone();
                    let result = copy.apply(who, *action);
                    prop_assert_eq!(result.is_ok(), legal, "apply({:?}) by {}", action, who);
                    if result.is_err() {
                        prop_assert_eq!(&copy, &self.game);
                    }
                }
            }
        }
        Ok(())
    }

    /// Invariants 13 and 14 on the views.
    fn check_views(&mut self) -> Check {
        let spectator = self.game.spectator_view();
        let spectator_text = round_trip(&spectator)?;
        // Every seat's view and the whole JSON tree now and then; the typed checks every step.
        let deep = self.rng.chance(1, 16);
        // The model's public facts, field by field.
        prop_assert_eq!(spectator.seats.len(), usize::from(self.seats));
        for (i, view) in spectator.seats.iter().enumerate() {
            prop_assert_eq!(view.dice, self.model.dice[i]);
            prop_assert_eq!(view.palifico_used, self.model.palifico_used[i]);
            prop_assert_eq!(view.calza_used, self.model.calza_used[i]);
        }
        prop_assert_eq!(spectator.starting_dice, self.model.config.starting_dice);
        prop_assert_eq!(spectator.total_dice, self.model.total());
        prop_assert_eq!(&spectator.commitment, &self.seed.commitment());
        prop_assert_eq!(
            spectator.last_resolution.as_deref(),
            self.model.last_resolution.as_ref()
        );
        let expected_state = match self.model.winner {
            Some(winner) => TableState::Over { winner },
            None => TableState::Bidding(RoundView {
                round: self.model.round,
                opener: self.model.opener,
                turn: self.model.turn,
                palifico: self.model.palifico,
                wilds: self.model.wilds(),
                bids: self.model.bids.clone(),
            }),
        };
        prop_assert_eq!(&spectator.state, &expected_state);
        // No die of the running round: the only hands are the previous round's revealed ones.
        // (`RoundView` has no hand field; the JSON walk also catches one added anywhere else.)
        let expected_keys: Vec<String> = spectator
            .last_resolution
            .iter()
            .map(|_| "last_resolution.hands".to_owned())
            .collect();
        let spectator_json = if deep {
            let json = parse(&spectator_text)?;
            prop_assert_eq!(
                &hand_keys(&json),
                &expected_keys,
                "hands in the spectator view"
            );
            json
        } else {
            Value::Null
        };
        if let Some(last) = &spectator.last_resolution {
            let previous = self.events.iter().rev().find_map(|e| match e {
                Event::RoundResolved(res) => Some(res),
                _ => None,
            });
            prop_assert_eq!(
                Some(&**last),
                previous,
                "last_resolution is not the latest one"
            );
            if let Some(round) = self.game.round_number() {
                prop_assert!(last.round < round);
            }
        }
        prop_assert!(
            !spectator_text.contains(&self.seed_hex),
            "the spectator view leaks the seed"
        );

        // Every seat's view now and then; otherwise the player to act or any seat.
        let probes = self.probe_seats();
        let who_list: Vec<Seat> = match self.game.turn() {
            _ if deep => probes,
            Some(turn) if self.rng.chance(1, 2) => vec![turn],
            Some(_) | None => vec![self.rng.choose(&probes)],
        };
        for who in who_list {
            let view: PlayerView = self.game.view_for(who);
            let text = round_trip(&view)?;
            let own = self.game.hand(who).cloned().unwrap_or_default();
            prop_assert_eq!(view.seat, who);
            prop_assert_eq!(&view.hand, &own);
            prop_assert_eq!(&view.table, &spectator, "public part of {}'s view", who);
            prop_assert_eq!(view.legal, self.game.legal_moves(who));
            prop_assert!(
                !text.contains(&self.seed_hex),
                "{}'s view leaks the seed",
                who
            );
            // The table encodes exactly as the spectator view does.
            prop_assert!(
                text.contains(&spectator_text),
                "{}'s table encodes differently",
                who
            );
            if !deep {
                continue;
            }
            // Now and then the whole tree: the only hands are this seat's and the last round's.
            let json = parse(&text)?;
            prop_assert_eq!(&json["table"], &spectator_json);
            prop_assert_eq!(
                &json["hand"],
                &serde_json::to_value(&own).expect("hand to json")
            );
            let mut keys = hand_keys(&json);
            keys.sort();
            let mut expected: Vec<String> =
                expected_keys.iter().map(|k| format!("table.{k}")).collect();
            expected.push("hand".to_owned());
            expected.sort();
            prop_assert_eq!(keys, expected, "hands in {}'s view", who);
        }
        Ok(())
    }

    fn finish(&mut self) -> Check {
        let config = self.model.config.clone();
        let winner = self.game.winner().expect("the driver plays to the end");
        let n = u32::from(self.seats);
        let s = u32::from(config.starting_dice);
        let winner_dice = u32::from(self.game.dice_counts()[winner.index()]);
        let t = &self.tally;
        // Invariant 11, in general: every die that left the table left through a round or a
        // forfeit.
        prop_assert_eq!(
            i64::from(n * s) - i64::from(winner_dice),
            t.dice_lost_in_rounds + i64::from(t.dice_forfeited)
        );
        if t.forfeits == 0 {
            let rounds = t.resolved_rounds;
            if !config.calza_enabled || config.calza_success == CalzaSuccess::BidderLosesDie {
                // Every round costs exactly one die.
                prop_assert_eq!(rounds, n * s - winner_dice);
                prop_assert!(rounds < n * s);
            }
            if config.calza_success == CalzaSuccess::CallerGainsDie || !config.calza_enabled {
                prop_assert_eq!(rounds, n * s - winner_dice + 2 * t.gains + t.zero_change);
            }
            if !config.calza_enabled {
                prop_assert_eq!(t.gains + t.zero_change, 0);
            }
        }
        let rounds_started = self
            .events
            .iter()
            .filter(|e| matches!(e, Event::RoundStarted { .. }))
            .count() as u32;
        // The game ends with a resolution or a forfeit; every other one started a round.
        prop_assert_eq!(rounds_started, t.resolved_rounds + t.forfeits);

        // Invariant 1: the log replays to the same game and the same events, twice over.
        let history = self.game.history().to_vec();
        let (replayed, events) = replay(config.clone(), self.seats, self.seed, &history)
            .map_err(|e| TestCaseError::fail(format!("replay failed: {e}")))?;
        prop_assert_eq!(&replayed, &self.game);
        prop_assert_eq!(&events, &self.events);
        let (again, again_events) =
            replay(config.clone(), self.seats, self.seed, &history).expect("replayed once");
        prop_assert_eq!(&again, &replayed);
        prop_assert_eq!(&again_events, &events);
        if let Some((snapshot, events_then)) = &self.snapshot {
            let prefix = &history[..snapshot.history().len()];
            let (game, events) =
                replay(config.clone(), self.seats, self.seed, prefix).expect("prefix replays");
            prop_assert_eq!(&game, snapshot);
            prop_assert_eq!(&events[..], &self.events[..*events_then]);
        }
        // A move appended after the end is rejected by replay at its index.
        let extra = Move::Act {
            seat: winner,
            action: Action::Dudo,
        };
        let mut longer = history.clone();
        longer.push(extra);
        prop_assert_eq!(
            replay(config.clone(), self.seats, self.seed, &longer).map(|_| ()),
            Err(ReplayError::Move {
                index: history.len(),
                error: RuleError::GameOver
            })
        );
        if self.depth == Depth::Full {
            // Invariant 14 for the config and the log.
            round_trip(&config)?;
            round_trip(&history)?;
            round_trip(&self.events)?;
        }
        Ok(())
    }
}

fn play(
    config: GameConfig,
    seats: u8,
    seed: Seed,
    driver: u64,
    depth: Depth,
) -> Result<Harness, TestCaseError> {
    let mut harness = Harness::start(config, seats, seed, driver, depth)?;
    harness.run()?;
    Ok(harness)
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig {
        cases: games(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    })]

    /// Invariants 1-14 after every step of random games over the whole option space, at
    /// tables of 2 to 7 seats. (Two properties rather than one, so the test harness runs
    /// them on two threads.)
    #[test]
    fn small_table_games_keep_every_invariant(
        (config, seats) in valid_setup_for(2..=7),
        seed in any::<[u8; 32]>(),
        driver in any::<u64>(),
    ) {
        play(config, seats, Seed(seed), driver, Depth::Full)?;
    }

    /// The same at tables of 8 to 10 seats.
    #[test]
    fn large_table_games_keep_every_invariant(
        (config, seats) in valid_setup_for(8..=MAX_SEATS),
        seed in any::<[u8; 32]>(),
        driver in any::<u64>(),
    ) {
        play(config, seats, Seed(seed), driver, Depth::Full)?;
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: games(),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        max_shrink_iters: 256,
        ..ProptestConfig::default()
    })]

    /// Invariant 1: a round's dice depend only on the seed, the round number and the dice per
    /// seat, whatever was played before (other moves, junk, other house rules).
    #[test]
    fn dice_depend_only_on_seed_round_and_counts(
        (config, seats) in valid_setup(),
        other in config_strategy(false),
        seed in any::<[u8; 32]>(),
        drivers in any::<(u64, u64)>(),
    ) {
        let seed = Seed(seed);
        let other = GameConfig { starting_dice: config.starting_dice, ..other };
        let other = if other.validate_for(seats).is_ok() { other } else { config.clone() };
        let first = play(config.clone(), seats, seed, drivers.0, Depth::Light)?;
        let second = play(other, seats, seed, drivers.1, Depth::Light)?;
        let start = (0, vec![config.starting_dice; usize::from(seats)]);
        prop_assert!(first.round_hands.contains_key(&start));
        prop_assert!(second.round_hands.contains_key(&start));
        for (key, hands) in &first.round_hands {
            if let Some(same) = second.round_hands.get(key) {
                prop_assert_eq!(hands, same, "round {} with dice {:?}", key.0, key.1);
            }
        }
        // The same moves from another seed give other dice (the seed is really used).
        let other_seed = Seed(seed.0.map(|b| b ^ 0x5a));
        let (a, _) = replay(config.clone(), seats, seed, &[]).expect("valid");
        let (b, _) = replay(config, seats, other_seed, &[]).expect("valid");
        let hands = |g: &Game| (0..seats).map(|i| g.hand(seat(i)).cloned()).collect::<Vec<_>>();
        // Hands are sorted, so two seeds agree on a seat's 5-die hand about once in 120 (seen:
        // 2 seats x 5 dice, all four hands [3, 5, 5, 6, 6]). With 4 or more seats of 5 or
        // more dice, equal rolls from different seeds are rarer than 1 in 10^8.
        if seats >= 4 && a.config().starting_dice >= 5 {
            prop_assert_ne!(hands(&a), hands(&b));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: games().saturating_mul(4).max(1),
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("regressions"))),
        ..ProptestConfig::default()
    })]

    /// Configs outside the documented ranges, or with contradicting options, are rejected by
    /// `validate_for`, `Game::new`, `Game::start` and `replay` alike; all others are accepted.
    #[test]
    fn invalid_configs_are_rejected(
        config in prop_oneof![config_strategy(true), config_strategy(false), near_boundary()],
        seats in 0u8..=12,
        seed in any::<[u8; 32]>(),
    ) {
        let seed = Seed(seed);
        let broken = config_violations(&config, seats);
        let verdict = config.validate_for(seats);
        prop_assert_eq!(verdict.is_ok(), broken.is_empty(), "violations {:?}, verdict {:?}", broken, verdict);
        if let Err(error) = &verdict {
            let rule = rule_of(error);
            prop_assert!(rule.is_some_and(|r| broken.contains(&r)), "{:?} names no broken rule of {:?}", error, broken);
            prop_assert!(!error.to_string().is_empty());
        }
        // Settings alone: everything but the seat count.
        let without_seats: Vec<ConfigRule> = config_violations(&config, config.min_players.max(2))
            .into_iter()
            .filter(|r| !matches!(r, ConfigRule::SeatCount | ConfigRule::OpenerSeat))
            .collect();
        if config.validate().is_ok() {
            prop_assert!(without_seats.is_empty(), "validate accepts {:?}", without_seats);
        }
        match (&verdict, Game::new(config.clone(), seats, seed)) {
            (Ok(()), Ok(game)) => {
                prop_assert_eq!(game.config(), &config);
                prop_assert_eq!(game.seat_count(), seats);
                prop_assert_eq!(game.dice_counts(), vec![config.starting_dice; usize::from(seats)]);
            }
            (Err(expected), Err(error)) => prop_assert_eq!(&error, expected),
            (verdict, game) => {
                return Err(TestCaseError::fail(format!("validate_for {verdict:?} but Game::new {:?}", game.map(|_| ()))));
            }
        }
        let started = perudo_core::Rules::new(config.clone()).and_then(|rules| Game::start(rules, seats, seed)).map(|_| ());
        prop_assert_eq!(&started, &verdict);
        match replay(config.clone(), seats, seed, &[]) {
            Ok(_) => prop_assert!(verdict.is_ok()),
            Err(error) => prop_assert_eq!(Err(error), verdict.clone().map_err(ReplayError::Config)),
        }
        // Invariant 14 for any config, valid or not.
        round_trip(&config)?;
    }
}

/// Invariant 7 exhaustively for q <= 40: the default raise rule is exactly "higher rank", and
/// `standard_rank` is the formula of RULES.md 1.3.
#[test]
fn default_raise_order_is_the_rank_order() {
    let config = GameConfig::default();
    let bids: Vec<Bid> = (1..=40)
        .flat_map(|q| (1..=6).map(move |f| bid(q, f)))
        .collect();
    for &a in &bids {
        assert_eq!(standard_rank(a), oracle_rank(a), "rank of {a}");
        for &b in &bids {
            let by_rank = standard_rank(b) > standard_rank(a);
            assert_eq!(config.is_raise(a, b), by_rank, "{a} -> {b}");
        }
    }
    // The order of RULES.md 1.3 opens 1x2 .. 1x6, 2x2 .. 2x6, 1 ace, 3x2.
    let mut sorted = bids.clone();
    sorted.sort_by_key(|&b| standard_rank(b));
    let head: Vec<Bid> = sorted.into_iter().take(12).collect();
    let expected: Vec<Bid> = [
        (1, 2),
        (1, 3),
        (1, 4),
        (1, 5),
        (1, 6),
        (2, 2),
        (2, 3),
        (2, 4),
        (2, 5),
        (2, 6),
        (1, 1),
        (3, 2),
    ]
    .into_iter()
    .map(|(q, f)| bid(q, f))
    .collect();
    assert_eq!(head, expected);
}

/// Every normal-round ordering a valid config can pick is the one our oracle writes out, and
/// has no cycle (so rounds end); the ordering validation forbids does cycle.
#[test]
fn every_raise_rule_matches_the_oracle_and_has_no_cycle() {
    let bids: Vec<Bid> = (1..=40)
        .flat_map(|q| (1..=6).map(move |f| bid(q, f)))
        .collect();
    for aces_wild in [true, false] {
        for raise in RAISE_RULES {
            for conversion in ACE_CONVERSIONS {
                let config = GameConfig {
                    aces_wild,
                    raise_rule: raise,
                    ace_conversion: conversion,
                    ..GameConfig::default()
                };
                let valid = config.validate().is_ok();
                assert_eq!(valid, !(aces_wild && raise == RaiseRule::FaceFirst));
                let mut edges = vec![Vec::new(); bids.len()];
                for (i, &a) in bids.iter().enumerate() {
                    assert!(!config.is_raise(a, a), "{a} raises itself");
                    for (j, &b) in bids.iter().enumerate() {
                        let raise_ok = config.is_raise(a, b);
                        assert_eq!(
                            raise_ok,
                            oracle_normal_raise(&config, a, b),
                            "{config:?}: {a} -> {b}"
                        );
                        if raise_ok {
                            edges[i].push(j);
                        }
                    }
                }
                assert_eq!(has_cycle(&edges), !valid, "{config:?}");
            }
        }
    }
    // The palifico lock: same face, higher quantity, nothing else.
    for face in Face::ALL {
        let locked = Ordering::Locked { face };
        for &a in bids.iter().filter(|b| b.face == face) {
            for &b in &bids {
                assert_eq!(
                    locked.is_raise(a, b),
                    b.face == face && b.quantity > a.quantity
                );
            }
        }
    }
}

fn has_cycle(edges: &[Vec<usize>]) -> bool {
    // Kahn's algorithm: a cycle leaves nodes that never reach in-degree zero.
    let mut indegree = vec![0usize; edges.len()];
    for targets in edges {
        for &t in targets {
            indegree[t] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..edges.len()).filter(|&i| indegree[i] == 0).collect();
    let mut seen = 0;
    while let Some(node) = ready.pop() {
        seen += 1;
        for &t in &edges[node] {
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(t);
            }
        }
    }
    seen < edges.len()
}
