//! A finished game's full record, as `GET /api/rooms/{code}/games/{n}` serves it and
//! `perudo verify` checks it.

use perudo_core::{
    Call, Commitment, DiceChange, Event, GameConfig, Hand, Move, PlacedBid, Seat, Seed, Wilds,
};
use perudo_protocol::GameResults;
use serde::{Deserialize, Serialize};

use crate::store::GameStart;

/// The record's format version. Format 2 added `rounds`; `perudo verify` still reads
/// format 1 records (saved before it), which have none.
pub const RECORD_FORMAT: u32 = 2;
/// The first format, without `rounds`.
pub const RECORD_FORMAT_WITHOUT_DICE: u32 = 1;

/// Everything needed to replay a game and check it was dealt fairly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GameRecord {
    pub format: u32,
    pub room: String,
    pub game: u32,
    pub config: GameConfig,
    /// Players' names in seat order.
    pub names: Vec<String>,
    /// The dice seed, revealed now that the game is over (64 hex digits).
    pub seed: String,
    /// SHA-256 of the seed, published when the game started (64 hex digits).
    pub commitment: String,
    /// Every move in order: what `perudo_core::replay` takes.
    pub moves: Vec<Move>,
    pub results: GameResults,
    pub started_at_ms: i64,
    pub finished_at_ms: i64,
    /// Every round the game rolled, in order, with every seat's dice: what the seed gives
    /// (docs/FAIRPLAY.md says how, for checking without this code). Absent in format 1.
    #[serde(default)]
    pub rounds: Vec<RoundRecord>,
}

/// One rolled round: its dice, now public, and how it ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoundRecord {
    /// The round's number, `0..`: also its ChaCha20 stream.
    pub round: u32,
    /// Who opened it when it was rolled.
    pub opener: Seat,
    /// Every seat's hand in seat order, sorted ascending; empty for a seat out of the game.
    pub hands: Vec<Hand>,
    pub end: RoundEnd,
}

/// How a round ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", deny_unknown_fields)]
pub enum RoundEnd {
    /// Dudo or calza: the hands were shown and counted.
    Call {
        call: Call,
        bid: PlacedBid,
        wilds: Wilds,
        /// Dice that matched the bid under `wilds`.
        count: u32,
        /// Every dice count that changed, in seat order.
        changes: Vec<DiceChange>,
    },
    /// A player forfeited: the round was void (its hands were never shown at the table) and
    /// the next one was rolled with that player's dice gone.
    Forfeit { seat: Seat },
}

/// The rounds a game's events tell of, each with the hands `seed` rolled for it. A round still
/// being played (none, in a finished game) is left out.
pub fn rounds_from_events(seed: &Seed, events: &[Event]) -> Vec<RoundRecord> {
    let mut rounds = Vec::new();
    // The round rolled and not yet ended: its number, opener and hands.
    let mut running: Option<(u32, Seat, Vec<Hand>)> = None;
    for event in events {
        let end = match event {
            Event::RoundStarted {
                round,
                opener,
                dice,
                ..
            } => {
                let hands = perudo_core::rng::roll_round(seed, *round, dice.iter().copied());
                running = Some((*round, *opener, hands));
                continue;
            }
            Event::RoundResolved(resolution) => RoundEnd::Call {
                call: resolution.call,
                bid: resolution.bid,
                wilds: resolution.wilds,
                count: resolution.count,
                changes: resolution.changes.clone(),
            },
            Event::Forfeited { seat } => RoundEnd::Forfeit { seat: *seat },
            Event::GameStarted { .. }
            | Event::PalificoDeclared { .. }
            | Event::BidPlaced(_)
            | Event::Eliminated { .. }
            | Event::GameWon { .. } => continue,
        };
        if let Some((round, opener, hands)) = running.take() {
            if let Event::RoundResolved(resolution) = event {
                // The engine showed these hands; they are the ones rolled above.
                debug_assert_eq!(hands, resolution.hands);
            }
            rounds.push(RoundRecord {
                round,
                opener,
                hands,
                end,
            });
        }
    }
    rounds
}

impl GameRecord {
    /// The record of a finished game as stored, its rounds rebuilt by replaying the moves
    /// (so games stored before records listed dice get them too). `Err` says why stored
    /// data does not replay.
    pub fn new(
        room: &str,
        start: GameStart,
        moves: Vec<Move>,
        results: GameResults,
        finished_at_ms: i64,
    ) -> Result<GameRecord, String> {
        let seed = Seed::from_hex(&start.seed).ok_or("the stored seed is not 64 hex digits")?;
        let seats = u8::try_from(start.names.len()).map_err(|_| "too many stored seats")?;
        let (_, events) = perudo_core::replay(start.config.clone(), seats, seed, &moves)
            .map_err(|e| format!("the stored moves do not replay: {e}"))?;
        Ok(GameRecord {
            rounds: rounds_from_events(&seed, &events),
            format: RECORD_FORMAT,
            room: room.to_string(),
            game: start.number,
            commitment: results.commitment.clone(),
            config: start.config,
            names: start.names,
            seed: start.seed,
            moves,
            results,
            started_at_ms: start.started_ms,
            finished_at_ms,
        })
    }
}

/// Why a record does not check out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VerifyError {
    UnknownFormat(u32),
    BadSeed,
    BadCommitment,
    /// SHA-256 of the seed is not the published commitment.
    CommitmentMismatch,
    /// The moves do not replay under the rules.
    Replay(String),
    /// The moves replay but the game does not end.
    NotOver,
    /// The replayed game does not match the recorded results.
    ResultsMismatch(String),
    /// The recorded rounds are not the ones the seed and the moves give.
    RoundsMismatch(String),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::UnknownFormat(v) => write!(f, "unknown record format {v}"),
            VerifyError::BadSeed => f.write_str("the seed is not 64 hex digits"),
            VerifyError::BadCommitment => f.write_str("the commitment is not 64 hex digits"),
            VerifyError::CommitmentMismatch => {
                f.write_str("SHA-256 of the seed is not the published commitment")
            }
            VerifyError::Replay(m) => write!(f, "the moves do not replay: {m}"),
            VerifyError::NotOver => f.write_str("the moves replay but the game is not over"),
            VerifyError::ResultsMismatch(m) => write!(f, "the results do not match: {m}"),
            VerifyError::RoundsMismatch(m) => write!(f, "the recorded dice do not match: {m}"),
        }
    }
}

impl std::error::Error for VerifyError {}

/// What a verified record showed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub winner: Seat,
    pub moves: usize,
    pub rounds: u32,
    /// Whether the record listed every round's dice (format 2) and they all matched.
    pub dice_checked: bool,
}

/// Checks the seed against the commitment, replays the moves, compares the outcome with
/// the recorded results and every recorded round's dice with what the seed rolls.
pub fn verify(record: &GameRecord) -> Result<Verified, VerifyError> {
    let dice_checked = match record.format {
        RECORD_FORMAT => true,
        RECORD_FORMAT_WITHOUT_DICE if record.rounds.is_empty() => false,
        RECORD_FORMAT_WITHOUT_DICE => {
            return Err(VerifyError::RoundsMismatch(
                "a format 1 record has no rounds".into(),
            ));
        }
        other => return Err(VerifyError::UnknownFormat(other)),
    };
    let seed = Seed::from_hex(&record.seed).ok_or(VerifyError::BadSeed)?;
    let commitment = Commitment::from_hex(&record.commitment).ok_or(VerifyError::BadCommitment)?;
    if !commitment.verify(&seed) || record.results.commitment != record.commitment {
        return Err(VerifyError::CommitmentMismatch);
    }
    let seats = u8::try_from(record.names.len())
        .map_err(|_| VerifyError::Replay("too many seats".into()))?;
    let (game, events) = perudo_core::replay(record.config.clone(), seats, seed, &record.moves)
        .map_err(|e| VerifyError::Replay(e.to_string()))?;
    let winner = game.winner().ok_or(VerifyError::NotOver)?;
    let results = &record.results;
    if results.winner != winner {
        return Err(VerifyError::ResultsMismatch(format!(
            "recorded winner seat {}, replay says seat {}",
            results.winner.get(),
            winner.get()
        )));
    }
    if results.seed != record.seed {
        return Err(VerifyError::ResultsMismatch(
            "the results name another seed".into(),
        ));
    }
    let placings: Vec<Seat> = std::iter::once(winner)
        .chain(events.iter().rev().filter_map(|e| match e {
            perudo_core::Event::Eliminated { seat } => Some(*seat),
            _ => None,
        }))
        .collect();
    if results.placings != placings {
        return Err(VerifyError::ResultsMismatch(
            "the placings are not the order the players went out in".into(),
        ));
    }
    let rounds = events
        .iter()
        .filter(|e| matches!(e, perudo_core::Event::RoundStarted { .. }))
        .count() as u32;
    if results.rounds != rounds {
        return Err(VerifyError::ResultsMismatch(format!(
            "recorded {} rounds, replay has {rounds}",
            results.rounds
        )));
    }
    if dice_checked {
        compare_rounds(&record.rounds, &rounds_from_events(&seed, &events))?;
    }
    Ok(Verified {
        winner,
        moves: record.moves.len(),
        rounds: results.rounds,
        dice_checked,
    })
}

/// The first difference between the recorded rounds and the replayed ones, in words.
fn compare_rounds(recorded: &[RoundRecord], replayed: &[RoundRecord]) -> Result<(), VerifyError> {
    let mismatch = |m: String| Err(VerifyError::RoundsMismatch(m));
    for (index, (got, want)) in recorded.iter().zip(replayed).enumerate() {
        if got.round != want.round {
            return mismatch(format!(
                "entry {index} is round {}, the game's round {index} is {}",
                got.round, want.round
            ));
        }
        let round = want.round;
        if got.hands.len() != want.hands.len() {
            return mismatch(format!(
                "round {round} lists {} hands for {} seats",
                got.hands.len(),
                want.hands.len()
            ));
        }
        for (seat, (got, want)) in got.hands.iter().zip(&want.hands).enumerate() {
            if got != want {
                return mismatch(format!(
                    "round {round}, seat {seat}: recorded {}, the seed rolls {}",
                    faces(got),
                    faces(want)
                ));
            }
        }
        if got.opener != want.opener {
            return mismatch(format!(
                "round {round}: recorded opener seat {}, the game's is seat {}",
                got.opener.get(),
                want.opener.get()
            ));
        }
        if got.end != want.end {
            return mismatch(format!(
                "round {round}: the recorded end is not how the replayed round ended"
            ));
        }
    }
    if recorded.len() != replayed.len() {
        return mismatch(format!(
            "{} rounds recorded, the game has {}",
            recorded.len(),
            replayed.len()
        ));
    }
    Ok(())
}

/// A hand as `[1, 3, 3, 6]`.
fn faces(hand: &Hand) -> String {
    let faces: Vec<String> = hand.faces().iter().map(|f| f.get().to_string()).collect();
    format!("[{}]", faces.join(", "))
}
