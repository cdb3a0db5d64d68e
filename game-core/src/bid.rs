//! Bids and the raise rules of RULES.md section 1.3 with every option of section 2.

use std::fmt;

use crate::config::{AceConversion, RaiseRule};
use crate::dice::Face;

#[cfg(feature = "serde")]
use serde::{Deserialize, Serialize};

/// The largest quantity any bid may name, whatever the cap option says.
pub const MAX_QUANTITY: u8 = 100;

/// How many dice a bid claims, `1..=MAX_QUANTITY`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "number"))]
#[cfg_attr(feature = "serde", serde(try_from = "u8", into = "u8"))]
pub struct Quantity(u8);

impl Quantity {
    pub const ONE: Quantity = Quantity(1);

    pub const fn new(value: u8) -> Option<Quantity> {
        if value >= 1 && value <= MAX_QUANTITY {
            Some(Quantity(value))
        } else {
            None
        }
    }

    /// Like `new`, for the wider numbers raise arithmetic produces.
    pub fn from_u32(value: u32) -> Option<Quantity> {
        u8::try_from(value).ok().and_then(Quantity::new)
    }

    pub const fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Quantity {
    type Error = String;
    fn try_from(value: u8) -> Result<Self, Self::Error> {
        Quantity::new(value)
            .ok_or_else(|| format!("quantity must be 1..={MAX_QUANTITY}, got {value}"))
    }
}

impl From<Quantity> for u8 {
    fn from(quantity: Quantity) -> u8 {
        quantity.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A claim that at least `quantity` dice on the table show `face`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Bid {
    pub quantity: Quantity,
    pub face: Face,
}

impl Bid {
    /// `None` when either number is out of range.
    pub fn new(quantity: u8, face: u8) -> Option<Bid> {
        Some(Bid {
            quantity: Quantity::new(quantity)?,
            face: Face::new(face)?,
        })
    }
}

impl fmt::Display for Bid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} × {}", self.quantity, self.face.plural())
    }
}

/// The order bids follow in one particular turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ordering {
    /// Aces are wild: plain faces follow `raise`, moves to and from aces follow `conversion`.
    Wild {
        raise: RaiseRule,
        conversion: AceConversion,
    },
    /// Nothing is wild: the ace is just the lowest face and `raise` orders every bid.
    Plain { raise: RaiseRule },
    /// Palifico lock: only `face`, with a higher quantity.
    Locked { face: Face },
}

/// Smallest quantity a bid on `to` needs to beat `prev`, under `raise` for faces `to` and
/// `prev` that compare in the natural order. `None`: no quantity will do.
fn plain_minimum(raise: RaiseRule, prev: Bid, to: Face) -> Option<u32> {
    let q = u32::from(prev.quantity.get());
    let (f, t) = (prev.face, to);
    match raise {
        RaiseRule::Standard => Some(if t > f { q } else { q + 1 }),
        RaiseRule::FaceNonDecreasing => match t.cmp(&f) {
            std::cmp::Ordering::Greater => Some(q),
            std::cmp::Ordering::Equal => Some(q + 1),
            std::cmp::Ordering::Less => None,
        },
        RaiseRule::FaceFirst => match t.cmp(&f) {
            std::cmp::Ordering::Greater => Some(1),
            std::cmp::Ordering::Equal => Some(q + 1),
            std::cmp::Ordering::Less => None,
        },
    }
}

impl Ordering {
    /// Smallest quantity that raises `prev` on face `to` (before any cap), or `None` if no
    /// bid on `to` can follow `prev`. The result may exceed `MAX_QUANTITY`.
    pub fn minimum_raise(self, prev: Bid, to: Face) -> Option<u32> {
        let q = u32::from(prev.quantity.get());
        match self {
            Ordering::Plain { raise } => plain_minimum(raise, prev, to),
            Ordering::Locked { face } => (to == face).then_some(q + 1),
            Ordering::Wild { raise, conversion } => match (prev.face.is_ace(), to.is_ace()) {
                (false, false) => plain_minimum(raise, prev, to),
                (true, true) => Some(q + 1),
                (false, true) => Some(match conversion {
                    AceConversion::HalfUpDoublePlusOne => q.div_ceil(2),
                    AceConversion::DoubleValue => q / 2 + 1,
                }),
                (true, false) => Some(match conversion {
                    AceConversion::HalfUpDoublePlusOne => 2 * q + 1,
                    AceConversion::DoubleValue => 2 * q,
                }),
            },
        }
    }

    /// Whether `next` is a legal raise over `prev` (ignoring caps).
    pub fn is_raise(self, prev: Bid, next: Bid) -> bool {
        self.minimum_raise(prev, next.face)
            .is_some_and(|min| u32::from(next.quantity.get()) >= min)
    }
}

/// The rank of RULES.md section 1.3 for the default rules (aces wild, `Standard`,
/// `HalfUpDoublePlusOne`): a legal raise is exactly a bid of higher rank.
/// Kept as the independent oracle the property tests compare the engine against.
pub fn standard_rank(bid: Bid) -> u32 {
    let q = u32::from(bid.quantity.get());
    let f = u32::from(bid.face.get());
    if f == 1 {
        11 * q - 1
    } else {
        5 * (q - 1) + (f - 2) + (q - 1) / 2
    }
}
