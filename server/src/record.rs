//! A finished game's full record, as `GET /api/rooms/{code}/games/{n}` serves it and
//! `perudo verify` checks it.

use perudo_core::{Commitment, GameConfig, Move, Seat, Seed};
use perudo_protocol::GameResults;
use serde::{Deserialize, Serialize};

use crate::store::GameStart;

/// The record's format version.
pub const RECORD_FORMAT: u32 = 1;

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
}

impl GameRecord {
    pub fn new(
        room: &str,
        start: GameStart,
        moves: Vec<Move>,
        results: GameResults,
        finished_at_ms: i64,
    ) -> GameRecord {
        GameRecord {
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
        }
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
}

/// Checks the seed against the commitment, replays the moves, and compares the outcome with
/// the recorded results.
pub fn verify(record: &GameRecord) -> Result<Verified, VerifyError> {
    if record.format != RECORD_FORMAT {
        return Err(VerifyError::UnknownFormat(record.format));
    }
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
    Ok(Verified {
        winner,
        moves: record.moves.len(),
        rounds: results.rounds,
    })
}
