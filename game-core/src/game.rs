//! `Game`: the validated state machine. Private fields; every change goes through `apply`
//! or `forfeit`, which check everything first and mutate only once the move is known legal.

use std::fmt;
use std::sync::Arc;

use crate::bid::{Bid, MAX_QUANTITY, Ordering, Quantity};
use crate::config::{
    BidQuantityCap, CalzaCaller, CalzaSuccess, ConfigError, DudoCaller, FirstOpener, GameConfig,
    OpenerAfterCalza, OpenerAfterDudo, PalificoTrigger, Rules, WildScope,
};
use crate::dice::{Face, Hand, Seat};
use crate::event::{Action, Call, DiceChange, Event, Move, PlacedBid, Resolution, Wilds};
use crate::rng::{self, Commitment, Seed};

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// Per-player state that lasts the whole game.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Player {
    pub(crate) dice: u8,
    pub(crate) palifico_used: bool,
    pub(crate) calza_used: bool,
}

/// The round being played.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Round {
    pub(crate) number: u32,
    pub(crate) opener: Seat,
    pub(crate) turn: Seat,
    pub(crate) hands: Vec<Hand>,
    /// The player whose palifico round this is.
    pub(crate) palifico: Option<Seat>,
    pub(crate) bids: Vec<PlacedBid>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Phase {
    Bidding(Round),
    Over { winner: Seat },
}

/// One game of Perudo.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Game {
    pub(crate) config: Rules,
    pub(crate) seed: Seed,
    pub(crate) commitment: Commitment,
    pub(crate) players: Vec<Player>,
    pub(crate) phase: Phase,
    /// The most recent round's resolution (public: its dice were revealed).
    pub(crate) last_resolution: Option<Arc<Resolution>>,
    pub(crate) history: Vec<Move>,
}

/// Why palifico cannot be declared now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum PalificoRefusal {
    /// These rules have no declared palifico.
    NotDeclarable,
    NeedsOneDie,
    AlreadyUsed,
    TooFewPlayers {
        min: u8,
    },
    BiddingStarted,
    AlreadyPalifico,
}

/// Why an action or forfeit was rejected. The game is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "serde", serde(tag = "code"))]
pub enum RuleError {
    NoSuchSeat {
        seat: Seat,
    },
    GameOver,
    PlayerEliminated {
        seat: Seat,
    },
    NotYourTurn {
        turn: Seat,
    },
    NoBidToChallenge,
    /// Nobody may challenge or calza their own bid.
    OwnBid,
    QuantityTooHigh {
        max: Quantity,
    },
    OpeningOnAces,
    /// Palifico: bids must stay on `face`.
    FaceLocked {
        face: Face,
    },
    /// No quantity on this face beats `previous` under the raise rule.
    FaceNotAllowed {
        face: Face,
        previous: Bid,
    },
    /// `minimum` is the smallest quantity on the bid's face that beats `previous`.
    BidTooLow {
        previous: Bid,
        minimum: u16,
    },
    CalzaDisabled,
    /// `rule` says who may call calza, and this seat is not among them.
    CalzaNotAllowed {
        rule: CalzaCaller,
    },
    CalzaNeedsMissingDie,
    CalzaAlreadyUsed,
    PalificoNotAllowed {
        reason: PalificoRefusal,
    },
}

impl fmt::Display for RuleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RuleError::NoSuchSeat { seat } => write!(f, "there is no {seat} in this game"),
            RuleError::GameOver => f.write_str("the game is over"),
            RuleError::PlayerEliminated { seat } => write!(f, "{seat} is out of the game"),
            RuleError::NotYourTurn { turn } => write!(f, "not your turn: it is {turn}'s turn"),
            RuleError::NoBidToChallenge => f.write_str("there is no bid to call yet"),
            RuleError::OwnBid => f.write_str("you cannot call your own bid"),
            RuleError::QuantityTooHigh { max } => {
                write!(f, "bid quantity must be at most {max}")
            }
            RuleError::OpeningOnAces => f.write_str("the opening bid may not be on aces"),
            RuleError::FaceLocked { face } => {
                write!(f, "palifico round: bids must stay on {}", face.plural())
            }
            RuleError::FaceNotAllowed { face, previous } => {
                write!(f, "no bid on {} can beat {previous}", face.plural())
            }
            RuleError::BidTooLow { previous, minimum } => write!(
                f,
                "bid must be at least {minimum} of that face to beat {previous}"
            ),
            RuleError::CalzaDisabled => f.write_str("calza is not played at this table"),
            RuleError::CalzaNotAllowed { rule } => match rule {
                CalzaCaller::CurrentPlayer => {
                    f.write_str("only the player whose turn it is may call calza")
                }
                CalzaCaller::AnyExceptBidderAndCurrent => {
                    f.write_str("calza is for players other than the bidder and the current player")
                }
                CalzaCaller::AnyExceptNext => {
                    f.write_str("calza is for players other than the bidder and the next player")
                }
                CalzaCaller::AnyExceptBidder => {
                    f.write_str("calza is for players other than the bidder")
                }
            },
            RuleError::CalzaNeedsMissingDie => {
                f.write_str("only a player who has lost a die may call calza")
            }
            RuleError::CalzaAlreadyUsed => f.write_str("you have already called calza this game"),
            RuleError::PalificoNotAllowed { reason } => match reason {
                PalificoRefusal::NotDeclarable => {
                    f.write_str("palifico is not declared at this table")
                }
                PalificoRefusal::NeedsOneDie => {
                    f.write_str("only a player with one die may declare palifico")
                }
                PalificoRefusal::AlreadyUsed => {
                    f.write_str("you have already had your palifico round")
                }
                PalificoRefusal::TooFewPlayers { min } => {
                    write!(f, "palifico needs at least {min} players still in the game")
                }
                PalificoRefusal::BiddingStarted => {
                    f.write_str("palifico must be declared before the first bid")
                }
                PalificoRefusal::AlreadyPalifico => f.write_str("this round is already palifico"),
            },
        }
    }
}

impl std::error::Error for RuleError {}

/// Bids a seat may make now: the smallest quantity per face (if any) and the cap.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LegalMoves {
    /// Index `face - 1`: the smallest legal quantity on that face, `None` if no bid on it is legal.
    pub min_bid: [Option<Quantity>; 6],
    /// The largest quantity any bid may name now.
    pub max_quantity: Quantity,
    pub dudo: bool,
    pub calza: bool,
    pub declare_palifico: bool,
}

impl LegalMoves {
    /// No move at all (not this seat's turn, out, or the game is over).
    pub const NONE: LegalMoves = LegalMoves {
        min_bid: [None; 6],
        max_quantity: Quantity::ONE,
        dudo: false,
        calza: false,
        declare_palifico: false,
    };

    pub fn any(&self) -> bool {
        self.dudo || self.calza || self.declare_palifico || self.min_bid.iter().any(Option::is_some)
    }

    /// Whether `action` is among these moves.
    pub fn allows(&self, action: &Action) -> bool {
        match action {
            Action::Bid(bid) => self.min_bid[bid.face.index()]
                .is_some_and(|min| bid.quantity >= min && bid.quantity <= self.max_quantity),
            Action::Dudo => self.dudo,
            Action::Calza => self.calza,
            Action::DeclarePalifico => self.declare_palifico,
        }
    }

    /// Every action, bids by face then quantity.
    pub fn actions(&self) -> Vec<Action> {
        let mut out = Vec::new();
        for face in Face::ALL {
            if let Some(min) = self.min_bid[face.index()] {
                for q in min.get()..=self.max_quantity.get() {
                    let quantity = Quantity::new(q).expect("between two quantities");
                    out.push(Action::Bid(Bid { quantity, face }));
                }
            }
        }
        if self.dudo {
            out.push(Action::Dudo);
        }
        if self.calza {
            out.push(Action::Calza);
        }
        if self.declare_palifico {
            out.push(Action::DeclarePalifico);
        }
        out
    }
}

/// A replay that stopped: move `index` was rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplayError {
    Config(ConfigError),
    Move { index: usize, error: RuleError },
}

impl From<ConfigError> for ReplayError {
    fn from(error: ConfigError) -> Self {
        ReplayError::Config(error)
    }
}

impl fmt::Display for ReplayError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReplayError::Config(error) => write!(f, "invalid config: {error}"),
            ReplayError::Move { index, error } => write!(f, "move {index} was rejected: {error}"),
        }
    }
}

impl std::error::Error for ReplayError {}

/// Rebuilds a game from its log, returning it with every event it emitted from the start.
/// Anyone holding the revealed seed can check that the dice were what the seed says.
pub fn replay(
    config: GameConfig,
    seats: u8,
    seed: Seed,
    moves: &[Move],
) -> Result<(Game, Vec<Event>), ReplayError> {
    let (mut game, mut events) = Game::start(Rules::new(config)?, seats, seed)?;
    for (index, mv) in moves.iter().enumerate() {
        let new = game
            .play_move(*mv)
            .map_err(|error| ReplayError::Move { index, error })?;
        events.extend(new);
    }
    Ok((game, events))
}

/// The outcome of a valid action, computed before anything is changed.
enum Plan {
    Bid(Bid),
    Resolve(Call),
    DeclarePalifico,
}

impl Game {
    /// A new game under a raw config (validated here), its first round rolled. See `start`
    /// for the opening events.
    pub fn new(config: GameConfig, seats: u8, seed: Seed) -> Result<Game, ConfigError> {
        Game::start(Rules::new(config)?, seats, seed).map(|(game, _)| game)
    }

    /// A new game and the events of its start (`GameStarted`, `RoundStarted`). The rules are
    /// valid already; only whether `seats` players can play under them is checked.
    pub fn start(config: Rules, seats: u8, seed: Seed) -> Result<(Game, Vec<Event>), ConfigError> {
        config.check_seats(seats)?;
        let players = (0..seats)
            .map(|_| Player {
                dice: config.starting_dice,
                palifico_used: false,
                calza_used: false,
            })
            .collect();
        let opener = match config.first_round_opener {
            FirstOpener::SeededRandom => {
                Seat::new(rng::first_opener(&seed, seats)).expect("drawn below the seat count")
            }
            FirstOpener::Seat(seat) => seat,
        };
        let commitment = seed.commitment();
        let mut events = vec![Event::GameStarted {
            seats,
            starting_dice: config.starting_dice,
            commitment,
        }];
        let mut game = Game {
            config,
            seed,
            commitment,
            players,
            // Replaced by `start_round` below; seat 0 is a placeholder that is never read.
            phase: Phase::Over {
                winner: Seat::new(0).expect("seat 0"),
            },
            last_resolution: None,
            history: Vec::new(),
        };
        game.start_round(0, opener, None, &mut events);
        Ok((game, events))
    }

    pub fn config(&self) -> &GameConfig {
        self.config.config()
    }

    pub fn rules(&self) -> &Rules {
        &self.config
    }

    pub fn seat_count(&self) -> u8 {
        self.players.len() as u8
    }

    pub fn commitment(&self) -> &Commitment {
        &self.commitment
    }

    /// The seed, for the host to persist. Never send it to a client before the game is over.
    pub fn secret_seed(&self) -> &Seed {
        &self.seed
    }

    /// The seed once the game is over, when revealing it can no longer help anyone.
    pub fn revealed_seed(&self) -> Option<Seed> {
        self.is_over().then_some(self.seed)
    }

    /// Every accepted move so far, the input `replay` needs.
    pub fn history(&self) -> &[Move] {
        &self.history
    }

    pub fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Over { .. })
    }

    pub fn winner(&self) -> Option<Seat> {
        match self.phase {
            Phase::Over { winner } => Some(winner),
            Phase::Bidding(_) => None,
        }
    }

    /// Whose turn it is, while the game runs.
    pub fn turn(&self) -> Option<Seat> {
        match &self.phase {
            Phase::Bidding(round) => Some(round.turn),
            Phase::Over { .. } => None,
        }
    }

    /// The running round's number (0-based), while the game runs.
    pub fn round_number(&self) -> Option<u32> {
        match &self.phase {
            Phase::Bidding(round) => Some(round.number),
            Phase::Over { .. } => None,
        }
    }

    /// Dice each seat holds.
    pub fn dice_counts(&self) -> Vec<u8> {
        self.players.iter().map(|p| p.dice).collect()
    }

    pub fn total_dice(&self) -> u32 {
        self.players.iter().map(|p| u32::from(p.dice)).sum()
    }

    /// A seat's hand in the running round (host-side; players get it through `view_for`).
    pub fn hand(&self, seat: Seat) -> Option<&Hand> {
        match &self.phase {
            Phase::Bidding(round) => round.hands.get(seat.index()),
            Phase::Over { .. } => None,
        }
    }

    /// Bids of the running round, oldest first.
    pub fn bids(&self) -> &[PlacedBid] {
        match &self.phase {
            Phase::Bidding(round) => &round.bids,
            Phase::Over { .. } => &[],
        }
    }

    /// The player whose palifico round is running, if it is one.
    pub fn palifico(&self) -> Option<Seat> {
        match &self.phase {
            Phase::Bidding(round) => round.palifico,
            Phase::Over { .. } => None,
        }
    }

    pub fn palifico_used(&self, seat: Seat) -> bool {
        self.players
            .get(seat.index())
            .is_some_and(|p| p.palifico_used)
    }

    pub fn calza_used(&self, seat: Seat) -> bool {
        self.players.get(seat.index()).is_some_and(|p| p.calza_used)
    }

    pub fn last_resolution(&self) -> Option<&Resolution> {
        self.last_resolution.as_deref()
    }

    /// Seats still in the game.
    pub fn active_seats(&self) -> impl Iterator<Item = Seat> + '_ {
        self.players
            .iter()
            .enumerate()
            .filter(|(_, p)| p.dice > 0)
            .map(|(i, _)| Seat::new(i as u8).expect("seat index below the seat count"))
    }

    fn active_count(&self) -> u8 {
        self.players.iter().filter(|p| p.dice > 0).count() as u8
    }

    /// The next seat after `seat`, in play order, that is still in the game.
    pub fn next_active_after(&self, seat: Seat) -> Option<Seat> {
        let n = self.players.len();
        (1..=n)
            .map(|step| (seat.index() + step) % n)
            .find(|&i| self.players[i].dice > 0)
            .and_then(|i| Seat::new(i as u8))
    }

    /// `seat` if still in the game, else the next active seat after it.
    fn this_or_next_active(&self, seat: Seat) -> Seat {
        if self.players[seat.index()].dice > 0 {
            seat
        } else {
            self.next_active_after(seat)
                .expect("a running game has an active seat")
        }
    }

    /// Which aces count as wild in the running round.
    pub(crate) fn wilds(&self, round: &Round) -> Wilds {
        if round.palifico.is_some() || !self.config.aces_wild {
            Wilds::None
        } else {
            match self.config.wild_scope {
                WildScope::AllDice => Wilds::AllDice,
                WildScope::BidderOnly => Wilds::BidderOnly,
            }
        }
    }

    /// The order bids follow when `seat` bids in `round`.
    fn ordering(&self, round: &Round, seat: Seat) -> Ordering {
        let raise = self.config.raise_rule;
        if round.palifico.is_some() {
            let free = self.config.palifico_one_die_may_change_face
                && self.players[seat.index()].dice == 1;
            match round.bids.last() {
                Some(last) if self.config.palifico_face_locked && !free => Ordering::Locked {
                    face: last.bid.face,
                },
                _ => Ordering::Plain { raise },
            }
        } else {
            self.config.normal_ordering()
        }
    }

    fn max_quantity(&self) -> Quantity {
        let cap = match self.config.bid_quantity_cap {
            BidQuantityCap::TotalDiceInPlay => self.total_dice(),
            BidQuantityCap::Unbounded => u32::from(MAX_QUANTITY),
        };
        Quantity::from_u32(cap).expect("a running game has 1..=50 dice in play")
    }

    /// May the opening bid of `round` be on aces.
    fn opening_aces_ok(&self, round: &Round) -> bool {
        if round.palifico.is_some() {
            self.config.palifico_opening_aces_allowed
        } else {
            self.config.opening_aces_allowed || !self.config.aces_wild
        }
    }

    /// The seat is in the game and may act at all.
    fn check_actor(&self, seat: Seat) -> Result<&Round, RuleError> {
        if seat.index() >= self.players.len() {
            return Err(RuleError::NoSuchSeat { seat });
        }
        let round = match &self.phase {
            Phase::Bidding(round) => round,
            Phase::Over { .. } => return Err(RuleError::GameOver),
        };
        if self.players[seat.index()].dice == 0 {
            return Err(RuleError::PlayerEliminated { seat });
        }
        Ok(round)
    }

    fn check_bid(&self, round: &Round, seat: Seat, bid: Bid) -> Result<(), RuleError> {
        if seat != round.turn {
            return Err(RuleError::NotYourTurn { turn: round.turn });
        }
        let max = self.max_quantity();
        if bid.quantity > max {
            return Err(RuleError::QuantityTooHigh { max });
        }
        match round.bids.last() {
            None => {
                if bid.face.is_ace() && !self.opening_aces_ok(round) {
                    return Err(RuleError::OpeningOnAces);
                }
                Ok(())
            }
            Some(previous) => {
                let ordering = self.ordering(round, seat);
                match ordering.minimum_raise(previous.bid, bid.face) {
                    None => Err(match ordering {
                        Ordering::Locked { face } => RuleError::FaceLocked { face },
                        Ordering::Wild { .. } | Ordering::Plain { .. } => {
                            RuleError::FaceNotAllowed {
                                face: bid.face,
                                previous: previous.bid,
                            }
                        }
                    }),
                    Some(min) if u32::from(bid.quantity.get()) < min => Err(RuleError::BidTooLow {
                        previous: previous.bid,
                        minimum: min as u16,
                    }),
                    Some(_) => Ok(()),
                }
            }
        }
    }

    fn check_dudo(&self, round: &Round, seat: Seat) -> Result<(), RuleError> {
        let Some(last) = round.bids.last() else {
            return Err(RuleError::NoBidToChallenge);
        };
        match self.config.dudo_caller {
            DudoCaller::CurrentPlayer if seat != round.turn => {
                Err(RuleError::NotYourTurn { turn: round.turn })
            }
            DudoCaller::CurrentPlayer | DudoCaller::Anyone if seat == last.seat => {
                Err(RuleError::OwnBid)
            }
            DudoCaller::CurrentPlayer | DudoCaller::Anyone => Ok(()),
        }
    }

    fn check_calza(&self, round: &Round, seat: Seat) -> Result<(), RuleError> {
        if !self.config.calza_enabled {
            return Err(RuleError::CalzaDisabled);
        }
        let Some(last) = round.bids.last() else {
            return Err(RuleError::NoBidToChallenge);
        };
        if seat == last.seat {
            return Err(RuleError::OwnBid);
        }
        let rule = self.config.calza_caller;
        let allowed = match rule {
            CalzaCaller::CurrentPlayer => seat == round.turn,
            CalzaCaller::AnyExceptBidderAndCurrent => seat != round.turn,
            CalzaCaller::AnyExceptNext => Some(seat) != self.next_active_after(round.turn),
            CalzaCaller::AnyExceptBidder => true,
        };
        if !allowed {
            return Err(match rule {
                CalzaCaller::CurrentPlayer => RuleError::NotYourTurn { turn: round.turn },
                CalzaCaller::AnyExceptBidderAndCurrent
                | CalzaCaller::AnyExceptNext
                | CalzaCaller::AnyExceptBidder => RuleError::CalzaNotAllowed { rule },
            });
        }
        let player = &self.players[seat.index()];
        if self.config.calza_requires_missing_die && player.dice >= self.config.starting_dice {
            return Err(RuleError::CalzaNeedsMissingDie);
        }
        if self.config.calza_once_per_game && player.calza_used {
            return Err(RuleError::CalzaAlreadyUsed);
        }
        Ok(())
    }

    fn check_declare_palifico(&self, round: &Round, seat: Seat) -> Result<(), RuleError> {
        let refuse = |reason| Err(RuleError::PalificoNotAllowed { reason });
        if !self.config.palifico_enabled
            || self.config.palifico_trigger != PalificoTrigger::Declared
        {
            return refuse(PalificoRefusal::NotDeclarable);
        }
        if round.palifico.is_some() {
            return refuse(PalificoRefusal::AlreadyPalifico);
        }
        if !round.bids.is_empty() {
            return refuse(PalificoRefusal::BiddingStarted);
        }
        let player = &self.players[seat.index()];
        if player.dice != 1 {
            return refuse(PalificoRefusal::NeedsOneDie);
        }
        if player.palifico_used {
            return refuse(PalificoRefusal::AlreadyUsed);
        }
        if self.active_count() < self.config.palifico_min_players {
            return refuse(PalificoRefusal::TooFewPlayers {
                min: self.config.palifico_min_players,
            });
        }
        Ok(())
    }

    fn plan(&self, seat: Seat, action: &Action) -> Result<Plan, RuleError> {
        let round = self.check_actor(seat)?;
        match *action {
            Action::Bid(bid) => self.check_bid(round, seat, bid).map(|()| Plan::Bid(bid)),
            Action::Dudo => self
                .check_dudo(round, seat)
                .map(|()| Plan::Resolve(Call::Dudo { challenger: seat })),
            Action::Calza => self
                .check_calza(round, seat)
                .map(|()| Plan::Resolve(Call::Calza { caller: seat })),
            Action::DeclarePalifico => self
                .check_declare_palifico(round, seat)
                .map(|()| Plan::DeclarePalifico),
        }
    }

    /// Whether `seat` may take `action` now. Agrees with `apply` and `legal_actions`.
    pub fn is_legal(&self, seat: Seat, action: &Action) -> bool {
        self.plan(seat, action).is_ok()
    }

    /// Why `seat` may not take `action` now, or `Ok` if it may. Changes nothing.
    pub fn check(&self, seat: Seat, action: &Action) -> Result<(), RuleError> {
        self.plan(seat, action).map(|_| ())
    }

    /// Everything `seat` may do now, in compact form (what views carry).
    pub fn legal_moves(&self, seat: Seat) -> LegalMoves {
        let Ok(round) = self.check_actor(seat) else {
            return LegalMoves::NONE;
        };
        let mut moves = LegalMoves {
            max_quantity: self.max_quantity(),
            dudo: self.check_dudo(round, seat).is_ok(),
            calza: self.check_calza(round, seat).is_ok(),
            declare_palifico: self.check_declare_palifico(round, seat).is_ok(),
            ..LegalMoves::NONE
        };
        if seat == round.turn {
            let max = u32::from(moves.max_quantity.get());
            for face in Face::ALL {
                let min = match round.bids.last() {
                    None => (!face.is_ace() || self.opening_aces_ok(round)).then_some(1),
                    Some(previous) => self.ordering(round, seat).minimum_raise(previous.bid, face),
                };
                moves.min_bid[face.index()] =
                    min.filter(|&min| min <= max).and_then(Quantity::from_u32);
            }
        }
        moves
    }

    /// Every action `seat` may take now. Agrees with `is_legal` and `apply`.
    pub fn legal_actions(&self, seat: Seat) -> Vec<Action> {
        self.legal_moves(seat).actions()
    }

    /// Takes `action` for `seat`. On `Err` the game is exactly as it was.
    pub fn apply(&mut self, seat: Seat, action: Action) -> Result<Vec<Event>, RuleError> {
        let plan = self.plan(seat, &action)?;
        self.history.push(Move::Act { seat, action });
        let mut events = Vec::new();
        match plan {
            Plan::Bid(bid) => {
                let next = self.next_active_after(seat).expect("the bidder is active");
                let Phase::Bidding(round) = &mut self.phase else {
                    unreachable!("plan checked the game is running")
                };
                let placed = PlacedBid { seat, bid };
                round.bids.push(placed);
                round.turn = next;
                events.push(Event::BidPlaced(placed));
            }
            Plan::DeclarePalifico => {
                self.players[seat.index()].palifico_used = true;
                let Phase::Bidding(round) = &mut self.phase else {
                    unreachable!("plan checked the game is running")
                };
                round.palifico = Some(seat);
                round.opener = seat;
                round.turn = seat;
                events.push(Event::PalificoDeclared { seat });
            }
            Plan::Resolve(call) => self.resolve(call, &mut events),
        }
        Ok(events)
    }

    /// Plays one logged move (`apply` or `forfeit`).
    pub fn play_move(&mut self, mv: Move) -> Result<Vec<Event>, RuleError> {
        match mv {
            Move::Act { seat, action } => self.apply(seat, action),
            Move::Forfeit { seat } => self.forfeit(seat),
        }
    }

    /// Host-side: removes `seat` from the game (RULES.md section 3 item 13). Its dice leave
    /// play, the running round is void and re-rolled, and the opener stays the same unless it
    /// was `seat`, in which case the next active seat opens. On `Err` nothing changes.
    pub fn forfeit(&mut self, seat: Seat) -> Result<Vec<Event>, RuleError> {
        let round = self.check_actor(seat)?;
        let (number, opener, palifico) = (round.number, round.opener, round.palifico);
        self.history.push(Move::Forfeit { seat });
        self.players[seat.index()].dice = 0;
        let mut events = vec![Event::Forfeited { seat }, Event::Eliminated { seat }];
        if self.finish_if_won(&mut events) {
            return Ok(events);
        }
        let opener = self.this_or_next_active(opener);
        // A palifico round that is re-rolled stays the same player's palifico, as long as
        // that player is still in and there are still enough players for one.
        let continued = palifico.filter(|&p| {
            self.players[p.index()].dice > 0
                && self.active_count() >= self.config.palifico_min_players
        });
        let opener = continued.unwrap_or(opener);
        self.start_round(number + 1, opener, continued, &mut events);
        Ok(events)
    }

    /// Ends the game if one player is left. Returns whether it did.
    fn finish_if_won(&mut self, events: &mut Vec<Event>) -> bool {
        let mut active = self.active_seats();
        let (Some(winner), None) = (active.next(), active.next()) else {
            return false;
        };
        drop(active);
        self.phase = Phase::Over { winner };
        events.push(Event::GameWon { winner });
        true
    }

    /// Rolls round `number` with `opener`; `continued` carries a palifico over a re-roll.
    fn start_round(
        &mut self,
        number: u32,
        opener: Seat,
        continued: Option<Seat>,
        events: &mut Vec<Event>,
    ) {
        let palifico = continued.or_else(|| {
            let player = &self.players[opener.index()];
            (self.config.palifico_enabled
                && self.config.palifico_trigger == PalificoTrigger::Automatic
                && player.dice == 1
                && !player.palifico_used
                && self.active_count() >= self.config.palifico_min_players)
                .then_some(opener)
        });
        if let Some(seat) = palifico {
            self.players[seat.index()].palifico_used = true;
        }
        let hands = rng::roll_round(&self.seed, number, self.players.iter().map(|p| p.dice));
        let round = Round {
            number,
            opener,
            turn: opener,
            hands,
            palifico,
            bids: Vec::new(),
        };
        events.push(Event::RoundStarted {
            round: number,
            opener,
            palifico,
            wilds: self.wilds(&round),
            dice: self.dice_counts(),
        });
        self.phase = Phase::Bidding(round);
    }

    /// Closes the running round with `call`: reveal, count, change dice, eliminate, and
    /// start the next round or end the game.
    fn resolve(&mut self, call: Call, events: &mut Vec<Event>) {
        let Phase::Bidding(round) = &self.phase else {
            unreachable!("plan checked the game is running")
        };
        let placed = *round.bids.last().expect("plan checked a bid stands");
        let wilds = self.wilds(round);
        let count = count_matches(&round.hands, placed, wilds);
        let quantity = u32::from(placed.bid.quantity.get());
        let number = round.number;
        let hands = round.hands.clone();

        let before = self.dice_counts();
        let starting = self.config.starting_dice;
        let (call_succeeded, opener) = match call {
            Call::Dudo { challenger } => {
                let bid_false = count < quantity;
                let (loser, winner) = if bid_false {
                    (placed.seat, challenger)
                } else {
                    (challenger, placed.seat)
                };
                self.players[loser.index()].dice -= 1;
                let opener = match self.config.opener_after_dudo {
                    OpenerAfterDudo::Loser => loser,
                    OpenerAfterDudo::Winner => winner,
                };
                (bid_false, opener)
            }
            Call::Calza { caller } => {
                let exact = count == quantity;
                self.players[caller.index()].calza_used = true;
                if exact {
                    let others: Vec<usize> = (0..self.players.len())
                        .filter(|&i| i != caller.index() && self.players[i].dice > 0)
                        .collect();
                    let gain = |player: &mut Player| player.dice = (player.dice + 1).min(starting);
                    match self.config.calza_success {
                        CalzaSuccess::CallerGainsDie => gain(&mut self.players[caller.index()]),
                        CalzaSuccess::BidderLosesDie => self.players[placed.seat.index()].dice -= 1,
                        CalzaSuccess::OthersLoseDie => {
                            others.iter().for_each(|&i| self.players[i].dice -= 1)
                        }
                        CalzaSuccess::CallerGainsOthersLose => {
                            gain(&mut self.players[caller.index()]);
                            others.iter().for_each(|&i| self.players[i].dice -= 1);
                        }
                    }
                } else {
                    self.players[caller.index()].dice -= 1;
                }
                let opener = match self.config.opener_after_calza {
                    OpenerAfterCalza::LastBidderOnSuccess if exact => placed.seat,
                    OpenerAfterCalza::LastBidderOnSuccess | OpenerAfterCalza::Caller => caller,
                };
                (exact, opener)
            }
        };

        let changes: Vec<DiceChange> = before
            .iter()
            .zip(&self.players)
            .enumerate()
            .filter(|(_, (before, after))| **before != after.dice)
            .map(|(i, (&before, after))| DiceChange {
                seat: Seat::new(i as u8).expect("seat index"),
                before,
                after: after.dice,
            })
            .collect();
        let resolution = Resolution {
            round: number,
            call,
            bid: placed,
            hands,
            wilds,
            count,
            call_succeeded,
            changes: changes.clone(),
        };
        events.push(Event::RoundResolved(resolution.clone()));
        self.last_resolution = Some(Arc::new(resolution));
        for change in &changes {
            if change.after == 0 {
                events.push(Event::Eliminated { seat: change.seat });
            }
        }
        if self.finish_if_won(events) {
            return;
        }
        let opener = self.this_or_next_active(opener);
        self.start_round(number + 1, opener, None, events);
    }
}

/// Dice in `hands` that match `placed.bid` under `wilds`. Aces are counted once when the
/// bid is on aces (RULES.md section 3 item 14).
pub fn count_matches(hands: &[Hand], placed: PlacedBid, wilds: Wilds) -> u32 {
    let face = placed.bid.face;
    hands
        .iter()
        .enumerate()
        .map(|(i, hand)| {
            let aces_wild_here = !face.is_ace()
                && match wilds {
                    Wilds::None => false,
                    Wilds::AllDice => true,
                    Wilds::BidderOnly => i == placed.seat.index(),
                };
            hand.count_exact(face)
                + if aces_wild_here {
                    hand.count_exact(Face::ACE)
                } else {
                    0
                }
        })
        .sum()
}
