//! Room codes and seat tokens.
//!
//! Room codes are 9 characters from a 29-symbol alphabet without look-alikes (no 0/O, 1/I/L,
//! U/V confusion): 29^9 is about 2^43.7, read aloud in three groups. Seat tokens are 128
//! random bits; the server keeps only their SHA-256.

use rand::{Rng, RngExt};
use sha2::{Digest, Sha256};

/// Letters and digits that cannot be mistaken for one another when read aloud or copied.
pub const CODE_ALPHABET: &[u8] = b"23456789ABCDEFGHJKMNPQRSTWXYZ";
pub const CODE_LEN: usize = 9;

/// A fresh random room code.
pub fn new_room_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// The canonical form of a code a person typed: upper case, separators dropped.
/// `None` if it cannot be a room code.
pub fn normalize_code(input: &str) -> Option<String> {
    let code: String = input
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CODE_LEN && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// A fresh seat token: 128 random bits as 32 hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// What the server stores of a token.
pub type TokenHash = [u8; 32];

pub fn hash_token(token: &str) -> TokenHash {
    Sha256::digest(token.as_bytes()).into()
}

/// 256 fresh random bits for a game's dice.
pub fn new_seed() -> perudo_core::Seed {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    perudo_core::Seed(bytes)
}

/// Seed for a bot's own RNG.
pub fn new_bot_seed() -> u64 {
    rand::rng().next_u64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_have_at_least_40_bits_and_normalize() {
        let bits = (CODE_ALPHABET.len() as f64).log2() * CODE_LEN as f64;
        assert!(bits >= 40.0, "{bits}");
        for ambiguous in [b'0', b'O', b'1', b'I', b'L', b'U', b'V'] {
            assert!(!CODE_ALPHABET.contains(&ambiguous));
        }
        let code = new_room_code();
        assert_eq!(normalize_code(&code).as_deref(), Some(code.as_str()));
        let typed = format!("{}-{}-{}", &code[..3], &code[3..6], &code[6..]).to_lowercase();
        assert_eq!(normalize_code(&typed), Some(code));
        assert_eq!(normalize_code("ABC"), None);
        assert_eq!(normalize_code("00000000O"), None);
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
