//! Faces, seats and hands: the range-checked numbers the rules are written in.

use std::fmt;

/// One face of a six-sided die, `1..=6`. Face 1 is the ace ("paco").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "number"))]
#[cfg_attr(feature = "serde", serde(try_from = "u8", into = "u8"))]
pub struct Face(u8);

impl Face {
    pub const ACE: Face = Face(1);
    /// Every face from ace to six, in order.
    pub const ALL: [Face; 6] = [Face(1), Face(2), Face(3), Face(4), Face(5), Face(6)];

    /// `Some` for `1..=6`.
    pub const fn new(value: u8) -> Option<Face> {
        if value >= 1 && value <= 6 {
            Some(Face(value))
        } else {
            None
        }
    }

    pub const fn get(self) -> u8 {
        self.0
    }

    pub const fn is_ace(self) -> bool {
        self.0 == 1
    }

    /// Index `0..6` for per-face tables.
    pub const fn index(self) -> usize {
        (self.0 - 1) as usize
    }

    /// The English plural used in messages ("threes", "aces").
    pub const fn plural(self) -> &'static str {
        match self.0 {
            1 => "aces",
            2 => "twos",
            3 => "threes",
            4 => "fours",
            5 => "fives",
            _ => "sixes",
        }
    }
}

impl TryFrom<u8> for Face {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Face::new(value).ok_or_else(|| format!("face must be 1..=6, got {value}"))
    }
}

impl From<Face> for u8 {
    fn from(face: Face) -> u8 {
        face.0
    }
}

impl fmt::Display for Face {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Most seats a game can have.
pub const MAX_SEATS: u8 = 10;
/// Fewest seats a game can have.
pub const MIN_SEATS: u8 = 2;

/// A seat at the table, `0..MAX_SEATS`. Seating order is play order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "number"))]
#[cfg_attr(feature = "serde", serde(try_from = "u8", into = "u8"))]
pub struct Seat(u8);

impl Seat {
    /// `Some` for `0..MAX_SEATS`.
    pub const fn new(index: u8) -> Option<Seat> {
        if index < MAX_SEATS {
            Some(Seat(index))
        } else {
            None
        }
    }

    pub const fn get(self) -> u8 {
        self.0
    }

    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// Seats `0..count`; `count` is clamped to `MAX_SEATS`.
    pub fn all(count: u8) -> impl Iterator<Item = Seat> {
        (0..count.min(MAX_SEATS)).map(Seat)
    }
}

impl TryFrom<u8> for Seat {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Seat::new(value).ok_or_else(|| format!("seat must be 0..{MAX_SEATS}, got {value}"))
    }
}

impl From<Seat> for u8 {
    fn from(seat: Seat) -> u8 {
        seat.0
    }
}

impl fmt::Display for Seat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "seat {}", self.0)
    }
}

/// One player's dice for a round, sorted ascending so a hand never leaks roll order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct Hand(Vec<Face>);

impl Hand {
    pub fn new(mut faces: Vec<Face>) -> Hand {
        faces.sort_unstable();
        Hand(faces)
    }

    pub fn faces(&self) -> &[Face] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many dice show exactly `face` (no wilds).
    pub fn count_exact(&self, face: Face) -> u32 {
        self.0.iter().filter(|&&d| d == face).count() as u32
    }

    /// Dice per face, indexed by `Face::index`.
    pub fn histogram(&self) -> [u32; 6] {
        let mut counts = [0; 6];
        for face in &self.0 {
            counts[face.index()] += 1;
        }
        counts
    }
}
