//! Every random draw of a game comes from here, derived from the seed alone.
//!
//! Round `r` rolls with ChaCha20 keyed by the seed on stream `r`; the first opener is drawn
//! on a stream no round uses. Nothing else is random, so a rejected action can never shift
//! later dice, and `(config, seats, seed, moves)` replays bit for bit on every platform.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use sha2::{Digest, Sha256};
use std::fmt;

use crate::dice::{Face, Hand};

/// The 256-bit secret a game's dice come from.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Seed(pub [u8; 32]);

impl Seed {
    /// Convenience for tests and tools: a seed whose first eight bytes are `n`.
    pub fn from_u64(n: u64) -> Seed {
        let mut bytes = [0; 32];
        bytes[..8].copy_from_slice(&n.to_le_bytes());
        Seed(bytes)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Seed> {
        hex32(text).map(Seed)
    }

    /// The public commitment: lowercase hex SHA-256 of the 32 seed bytes.
    pub fn commitment(&self) -> Commitment {
        Commitment(Sha256::digest(self.0).into())
    }
}

/// Deliberately opaque: a seed printed into a log would leak every hand.
impl fmt::Debug for Seed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Seed(<secret>)")
    }
}

/// SHA-256 of a game's seed, published when the game starts. On the wire and in text it is
/// 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct Commitment(pub [u8; 32]);

impl Commitment {
    /// Whether `seed` is the seed this commitment was made to.
    pub fn verify(&self, seed: &Seed) -> bool {
        seed.commitment() == *self
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Commitment> {
        hex32(text).map(Commitment)
    }
}

impl fmt::Debug for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Commitment({})", self.to_hex())
    }
}

impl fmt::Display for Commitment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for Commitment {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Commitment {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Commitment::from_hex(&text).ok_or_else(|| {
            serde::de::Error::custom("a commitment is 64 hex digits (SHA-256 of the seed)")
        })
    }
}

/// 32 bytes from exactly 64 hex digits.
fn hex32(text: &str) -> Option<[u8; 32]> {
    let mut bytes = [0; 32];
    hex::decode_to_slice(text, &mut bytes).ok()?;
    Some(bytes)
}

/// Stream reserved for choosing the first opener; rounds use streams `0..`.
const OPENER_STREAM: u64 = u64::MAX;

fn stream(seed: &Seed, stream: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(seed.0);
    rng.set_stream(stream);
    rng
}

/// Rolls round `round` for players holding `dice[i]` dice (0 = eliminated, empty hand).
pub(crate) fn roll_round(seed: &Seed, round: u32, dice: impl Iterator<Item = u8>) -> Vec<Hand> {
    let mut rng = stream(seed, u64::from(round));
    dice.map(|count| {
        Hand::new(
            (0..count)
                .map(|_| Face::ALL[rng.random_range(0u32..6) as usize])
                .collect(),
        )
    })
    .collect()
}

/// Draws the first opener uniformly among `seats` seats.
pub(crate) fn first_opener(seed: &Seed, seats: u8) -> u8 {
    stream(seed, OPENER_STREAM).random_range(0..u32::from(seats)) as u8
}
