//! Room codes and seat tokens.
//!
//! Room codes are 9 characters from a 29-symbol alphabet without look-alikes (no 0/O, 1/I/L,
//! U/V confusion): 29^9 is about 2^43.7, read aloud in three groups. Seat tokens are 128
//! random bits; the server keeps only their SHA-256.

use perudo_protocol::RoomCode;
use rand::{Rng, RngExt};
use sha2::{Digest, Sha256};

/// A fresh random room code (see `RoomCode`).
pub fn new_room_code() -> RoomCode {
    let mut rng = rand::rng();
    RoomCode::from_indices(std::array::from_fn(|_| {
        rng.random_range(0..RoomCode::ALPHABET.len())
    }))
}

/// A fresh seat token: 128 random bits as 32 hex digits.
pub fn new_token() -> String {
    token_from(&mut rand::rng())
}

/// A seat token drawn from `rng` (a room's own generator, seeded from the OS).
pub fn token_from(rng: &mut impl Rng) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the server stores of a token.
pub type TokenHash = [u8; 32];

pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// 256 random bits for a game's dice, drawn from `rng`.
pub fn seed_from(rng: &mut impl Rng) -> perudo_core::Seed {
    let mut bytes = [0u8; 32];
    rng.fill_bytes(&mut bytes);
    perudo_core::Seed(bytes)
}

/// Seed for a bot's own RNG, drawn from `rng`.
pub fn bot_seed_from(rng: &mut impl Rng) -> u64 {
    rng.next_u64()
}

/// A room's generator: ChaCha20 keyed with 256 bits. Everything random in a room (game seeds,
/// seat tokens, bots' seeds) comes from it, so a room test with a fixed key is deterministic;
/// the server keys every room from the OS (`RoomRng::from_os`).
#[derive(Clone, Debug)]
pub struct RoomRng(rand_chacha::ChaCha20Rng);

impl RoomRng {
    pub fn from_key(key: [u8; 32]) -> RoomRng {
        RoomRng(rand::SeedableRng::from_seed(key))
    }

    /// Keyed with 256 bits from the OS's generator (through `rand::rng`).
    pub fn from_os() -> RoomRng {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        RoomRng::from_key(key)
    }

    pub fn token(&mut self) -> String {
        token_from(&mut self.0)
    }

    pub fn game_seed(&mut self) -> perudo_core::Seed {
        seed_from(&mut self.0)
    }

    pub fn bot_seed(&mut self) -> u64 {
        bot_seed_from(&mut self.0)
    }

    /// A key for another room's generator (a room rebuilt after a failed write).
    pub fn key(&mut self) -> [u8; 32] {
        let mut key = [0u8; 32];
        self.0.fill_bytes(&mut key);
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_at_least_40_bits_and_normalize() {
        let bits = (RoomCode::ALPHABET.len() as f64).log2() * RoomCode::LEN as f64;
        assert!(bits >= 40.0, "{bits}");
        for ambiguous in [b'0', b'O', b'1', b'I', b'L', b'U', b'V'] {
            assert!(!RoomCode::ALPHABET.contains(&ambiguous));
        }
        let code = new_room_code();
        assert_eq!(RoomCode::parse(code.as_str()).ok().as_ref(), Some(&code));
        let s = code.as_str();
        let typed = format!("{}-{}-{}", &s[..3], &s[3..6], &s[6..]).to_lowercase();
        assert_eq!(RoomCode::parse(&typed).ok(), Some(code));
        assert_eq!(RoomCode::parse("ABC").ok(), None);
        assert_eq!(RoomCode::parse("00000000O").ok(), None);
    }

    #[test]
    fn a_room_generator_with_a_fixed_key_repeats_itself() {
        let (mut a, mut b) = (RoomRng::from_key([7; 32]), RoomRng::from_key([7; 32]));
        assert_eq!(a.token(), b.token());
        assert_eq!(a.game_seed().to_hex(), b.game_seed().to_hex());
        assert_eq!(a.bot_seed(), b.bot_seed());
        let mut c = RoomRng::from_key([8; 32]);
        assert_ne!(a.token(), c.token(), "another key, another stream");
        let (mut d, mut e) = (RoomRng::from_os(), RoomRng::from_os());
        assert_ne!(d.key(), e.key(), "rooms are keyed apart");
    }

    #[test]
    fn tokens_are_128_bits_and_hashes_differ() {
        let (a, b) = (new_token(), new_token());
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
        assert_ne!(hash_token(&a), hash_token(&b));
        assert_eq!(hash_token(&a), hash_token(&a.clone()));
    }
}
