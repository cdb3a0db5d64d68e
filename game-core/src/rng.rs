//! Every random draw of a game comes from here, derived from the seed alone.
//!
//! Round `r` rolls with ChaCha20 keyed by the seed on stream `r`; the first opener is drawn
//! on a stream no round uses. Nothing else is random, so a rejected action can never shift
//! later dice, and `(config, seats, seed, moves)` replays bit for bit on every platform.

use rand::{Rng, SeedableRng};
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
pub const OPENER_STREAM: u64 = u64::MAX;

/// ChaCha20 keyed by the 32 seed bytes, block counter 0, on `stream` (state words 14 and 15;
/// words 12 and 13 are the 64-bit block counter). Its output is the ChaCha20 keystream read
/// as little-endian 32-bit words, in order. docs/FAIRPLAY.md spells this out for outsiders.
fn stream(seed: &Seed, stream: u64) -> ChaCha20Rng {
    let mut rng = ChaCha20Rng::from_seed(seed.0);
    rng.set_stream(stream);
    rng
}

/// A uniform draw from `0..n` (`n >= 1`), exactly unbiased: Canon's method, the widening
/// multiply rand 0.10 uses for `random_range`, with the `unbiased` loop. It is written out
/// here rather than taken from `random_range` because it is a published format
/// (docs/FAIRPLAY.md): a change in rand must not change the dice of a recorded game.
///
/// The word `w` read as the fraction `w / 2^32` times `n` gives the draw in its high half;
/// only when the low half is so close to the next integer that later words could still
/// carry into it (`lo > 2^32 - n`) is another word read, as the next 32 bits of the fraction.
fn below(mut next_word: impl FnMut() -> u32, n: u32) -> u32 {
    let widen = |word: u32| {
        let product = u64::from(word) * u64::from(n);
        ((product >> 32) as u32, product as u32)
    };
    let (mut result, mut lo) = widen(next_word());
    while lo > n.wrapping_neg() {
        let (next_hi, next_lo) = widen(next_word());
        match lo.checked_add(next_hi) {
            // The carry happened: later words cannot take it back.
            None => {
                result += 1;
                break;
            }
            // Later words add less than 1 to `lo + next_hi`, so no carry can come.
            Some(sum) if sum < u32::MAX => break,
            // Exactly `2^32 - 1`: the next word decides.
            Some(_) => lo = next_lo,
        }
    }
    result
}

/// Rolls round `round` for players holding `dice[i]` dice (0 = eliminated, empty hand):
/// seat by seat, die by die, one `below(6)` draw per die on stream `round`, face = draw + 1.
/// Each hand is then sorted, as every hand is.
pub fn roll_round(seed: &Seed, round: u32, dice: impl Iterator<Item = u8>) -> Vec<Hand> {
    let mut rng = stream(seed, u64::from(round));
    dice.map(|count| {
        Hand::new(
            (0..count)
                .map(|_| Face::ALL[below(|| rng.next_u32(), 6) as usize])
                .collect(),
        )
    })
    .collect()
}

/// Draws the first opener uniformly among `seats` seats: one `below(seats)` on
/// [`OPENER_STREAM`].
pub fn first_opener(seed: &Seed, seats: u8) -> u8 {
    let mut rng = stream(seed, OPENER_STREAM);
    below(|| rng.next_u32(), u32::from(seats)) as u8
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngExt;

    /// `below` is rand 0.10's `random_range` made exactly unbiased; the two part only when a
    /// word's low half lands within `n` of 2^32 and the next word then sums to exactly
    /// 2^32 - 1 (about 2^-61 per die), so the dice of games played before it was written out
    /// here stay the same.
    #[test]
    fn below_draws_what_random_range_drew() {
        for n in [1u32, 2, 3, 5, 6, 7, 10] {
            for seed in 0..2_000u64 {
                let seed = Seed::from_u64(seed);
                let (mut ours, mut theirs) = (stream(&seed, 3), stream(&seed, 3));
                for _ in 0..30 {
                    assert_eq!(below(|| ours.next_u32(), n), theirs.random_range(0..n));
                }
            }
        }
    }

    /// Canon's carry rule on scripted words, one row per branch: (words, draw, words read).
    #[test]
    fn below_reads_another_word_only_near_a_carry() {
        let cases: [(&[u32], u32, usize); 7] = [
            (&[0], 0, 1),
            // 6 × (2^32 - 1) = 5 × 2^32 + (2^32 - 6): low half exactly at the edge, no read.
            (&[0xFFFF_FFFF], 5, 1),
            // 6 × 0x55555555 = 1 × 2^32 + (2^32 - 2): a carry is still possible.
            (&[0x5555_5555, 0xFFFF_FFFF], 2, 2),
            (&[0x5555_5555, 0], 1, 2),
            // The second word's high half is 1: the sum is exactly 2^32 - 1, read a third.
            (&[0x5555_5555, 0x3000_0000], 1, 2),
            (&[0x5555_5555, 0x5555_5555, 0xFFFF_FFFF], 2, 3),
            (&[0x5555_5555, 0x5555_5555, 0], 1, 3),
        ];
        for (words, draw, reads) in cases {
            let mut read = 0;
            let got = below(
                || {
                    read += 1;
                    words[read - 1]
                },
                6,
            );
            assert_eq!((got, read), (draw, reads), "words {words:x?}");
        }
    }

    /// The published example of docs/FAIRPLAY.md: if this changes, every record breaks.
    #[test]
    fn the_documented_example_rolls() {
        let seed = Seed::from_u64(42);
        assert_eq!(
            seed.commitment().to_hex(),
            "12f3bb4c5076ada91fab3a59f9e379ea300fbdf187ee4049227078006c395741"
        );
        let hands = roll_round(&seed, 0, [5u8, 5, 0, 3].into_iter());
        let faces: Vec<Vec<u8>> = hands
            .iter()
            .map(|h| h.faces().iter().map(|f| f.get()).collect())
            .collect();
        assert_eq!(
            faces,
            [
                vec![1, 3, 3, 5, 5],
                vec![1, 1, 5, 6, 6],
                vec![],
                vec![1, 3, 6]
            ]
        );
        assert_eq!(first_opener(&seed, 4), 2);
    }
}
