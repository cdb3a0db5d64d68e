//! Room codes: 9 characters from a 29-symbol alphabet without look-alikes (no 0/O, 1/I/L, U/V
//! confusion): 29^9 is about 2^43.7, read aloud in three groups.

use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// A room's code, canonical: `RoomCode::LEN` symbols of `RoomCode::ALPHABET`. Only
/// [`RoomCode::parse`] (and deserializing, which goes through it) makes one.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, TS)]
#[serde(try_from = "String", into = "String")]
pub struct RoomCode(String);

/// Why a string is not a room code.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RoomCodeError {
    #[error("a room code has {len} characters, got {0}", len = RoomCode::LEN)]
    Length(usize),
    #[error("{0:?} is not a room code character")]
    Symbol(char),
}

impl RoomCode {
    /// Letters and digits that cannot be mistaken for one another when read aloud or copied.
    pub const ALPHABET: &'static [u8] = b"23456789ABCDEFGHJKMNPQRSTWXYZ";
    pub const LEN: usize = 9;

    /// The canonical code for what a person typed: upper case, dashes and spaces dropped.
    pub fn parse(typed: &str) -> Result<RoomCode, RoomCodeError> {
        let code: String = typed
            .chars()
            .filter(|c| !matches!(c, '-' | ' '))
            .map(|c| c.to_ascii_uppercase())
            .collect();
        if let Some(bad) = code
            .chars()
            .find(|c| !c.is_ascii() || !Self::ALPHABET.contains(&(*c as u8)))
        {
            return Err(RoomCodeError::Symbol(bad));
        }
        if code.len() != Self::LEN {
            return Err(RoomCodeError::Length(code.chars().count()));
        }
        Ok(RoomCode(code))
    }

    /// The code of these alphabet positions (each taken modulo the alphabet's size), for a
    /// code drawn at random.
    pub fn from_indices(indices: [usize; RoomCode::LEN]) -> RoomCode {
        RoomCode(
            indices
                .iter()
                .map(|&i| Self::ALPHABET[i % Self::ALPHABET.len()] as char)
                .collect(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Shown as the string it is (in logs and snapshots alike).
impl std::fmt::Debug for RoomCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&self.0, f)
    }
}

impl std::ops::Deref for RoomCode {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RoomCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for RoomCode {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for RoomCode {
    type Error = RoomCodeError;

    fn try_from(typed: String) -> Result<RoomCode, RoomCodeError> {
        RoomCode::parse(&typed)
    }
}

impl From<RoomCode> for String {
    fn from(code: RoomCode) -> String {
        code.0
    }
}

impl std::str::FromStr for RoomCode {
    type Err = RoomCodeError;

    fn from_str(typed: &str) -> Result<RoomCode, RoomCodeError> {
        RoomCode::parse(typed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_codes_become_canonical() {
        assert_eq!(
            RoomCode::parse("abc-def-ghj").unwrap().as_str(),
            "ABCDEFGHJ"
        );
        assert_eq!(RoomCode::parse("23456789A").unwrap().as_str(), "23456789A");
        assert_eq!(
            RoomCode::parse("ABC DEF GHJ").unwrap().as_str(),
            "ABCDEFGHJ"
        );
    }

    #[test]
    fn look_alikes_and_wrong_lengths_are_refused() {
        assert_eq!(
            RoomCode::parse("ABCDEFGH0"),
            Err(RoomCodeError::Symbol('0'))
        );
        assert_eq!(
            RoomCode::parse("ABCDEFGHI"),
            Err(RoomCodeError::Symbol('I'))
        );
        assert_eq!(
            RoomCode::parse("ABCDEFGÉH"),
            Err(RoomCodeError::Symbol('É'))
        );
        assert_eq!(RoomCode::parse("ABCDEFGH"), Err(RoomCodeError::Length(8)));
        assert_eq!(RoomCode::parse(""), Err(RoomCodeError::Length(0)));
    }

    #[test]
    fn a_code_checks_itself_when_deserialized() {
        let ok: RoomCode = serde_json::from_str("\"abcdefghj\"").unwrap();
        assert_eq!(ok.as_str(), "ABCDEFGHJ");
        assert!(serde_json::from_str::<RoomCode>("\"ABCDEFGH0\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"ABCDEFGHJ\"");
    }

    #[test]
    fn drawn_codes_use_the_alphabet() {
        let code = RoomCode::from_indices([0, 1, 2, 28, 29, 30, 57, 58, 100]);
        assert_eq!(RoomCode::parse(code.as_str()), Ok(code));
    }
}
