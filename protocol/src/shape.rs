//! The shape of a client frame, checked before serde reads the request in it.
//!
//! rmp-serde reads more than the protocol allows: a struct sent as an array (its compact
//! encoding), a string sent as bin, a field or an enum variant named by its index, a map
//! with integer keys. The protocol says requests are maps with field names and strings are
//! str (docs/PROTOCOL.md, "Encoding"). So a client frame is first checked here, strictly and
//! without building anything ([`check`]): one MessagePack value filling the frame, maps with
//! str keys and no key twice, no arrays, bin, extension types or floats anywhere (no request
//! field holds one), at most `max_depth` maps deep. Then serde reads the request straight from
//! the checked bytes ([`from_checked`]), through a deserializer that sees exactly what JSON
//! gives serde: maps, str, integers, booleans and nil. It reads field names, tags and enum
//! variants from strings only, as `serde_json`'s value deserializer does (the tests hold it
//! to that, frame by frame), and its errors are `serde_json::Error`s with the same words.
//!
//! Lengths in the frame are never trusted for an allocation: every string is checked against
//! the bytes that are left, and maps are walked entry by entry.

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{self, DeserializeSeed, Unexpected, Visitor};

/// Why a client frame does not have the shape of a request.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("the frame ends inside a value")]
    Truncated,
    #[error("{extra} bytes after the end of the message")]
    Trailing { extra: usize },
    #[error("an array where a map with field names is expected: no request holds an array")]
    Array,
    #[error("bin where a string is expected: strings are MessagePack str")]
    Bin,
    #[error("a MessagePack extension type: no request holds one")]
    Ext,
    #[error("a float: the numbers of a request are integers")]
    Float,
    #[error("the reserved byte 0xc1")]
    Reserved,
    #[error("a map key that is not a string: keys are field names")]
    KeyNotString,
    #[error("the key `{0}` twice in one map")]
    DuplicateKey(String),
    #[error("a string that is not valid UTF-8")]
    Utf8,
    #[error("nesting deeper than {max} levels (depth limit exceeded)")]
    TooDeep { max: usize },
}

/// The error serde reports a request with: the value deserializer's type and words.
type Error = serde_json::Error;

/// Checks that `bytes` hold exactly one MessagePack value shaped like a request, with maps
/// nested at most `max_depth` deep: see the module's comment. Allocates only for a map of
/// more than 32 keys (to find a key given twice).
pub(crate) fn check(bytes: &[u8], max_depth: usize) -> Result<(), ShapeError> {
    let mut reader = Checker {
        bytes,
        pos: 0,
        max_depth,
    };
    reader.value(0)?;
    match bytes.len() - reader.pos {
        0 => Ok(()),
        extra => Err(ShapeError::Trailing { extra }),
    }
}

/// Reads a `T` from a frame that [`check`] accepted.
pub(crate) fn from_checked<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T, Error> {
    let mut deserializer = Strict { bytes, pos: 0 };
    let value = T::deserialize(&mut deserializer)?;
    match bytes.len() - deserializer.pos {
        0 => Ok(value),
        extra => Err(de::Error::custom(format_args!(
            "{extra} bytes after the end of the message"
        ))),
    }
}

/// What one MessagePack marker introduces, in a frame of the request shape. A map's entries
/// follow it in the frame.
#[derive(Clone, Copy, Debug)]
enum Item<'a> {
    Nil,
    Bool(bool),
    Unsigned(u64),
    Signed(i64),
    Str(&'a str),
    Map(usize),
}

impl Item<'_> {
    /// How serde names this item in an "invalid type" error, as `serde_json::Value` does.
    fn unexpected(&self) -> Unexpected<'_> {
        match *self {
            Item::Nil => Unexpected::Unit,
            Item::Bool(b) => Unexpected::Bool(b),
            Item::Unsigned(n) => Unexpected::Unsigned(n),
            Item::Signed(n) => Unexpected::Signed(n),
            Item::Str(s) => Unexpected::Str(s),
            Item::Map(_) => Unexpected::Map,
        }
    }
}

/// A cursor over a frame: reads one item at a time, refusing what no request holds.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ShapeError> {
        let end = self.pos.checked_add(n).ok_or(ShapeError::Truncated)?;
        let taken = self.bytes.get(self.pos..end).ok_or(ShapeError::Truncated)?;
        self.pos = end;
        Ok(taken)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ShapeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn byte(&mut self) -> Result<u8, ShapeError> {
        Ok(self.array::<1>()?[0])
    }

    fn len16(&mut self) -> Result<usize, ShapeError> {
        Ok(u16::from_be_bytes(self.array()?).into())
    }

    fn len32(&mut self) -> Result<usize, ShapeError> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| ShapeError::Truncated)
    }

    fn string(&mut self, len: usize) -> Result<&'a str, ShapeError> {
        std::str::from_utf8(self.take(len)?).map_err(|_| ShapeError::Utf8)
    }

    /// Signed integers that are not negative are reported as unsigned, as JSON numbers are.
    fn signed(n: i64) -> Item<'a> {
        u64::try_from(n).map_or(Item::Signed(n), Item::Unsigned)
    }

    fn item(&mut self) -> Result<Item<'a>, ShapeError> {
        let marker = self.byte()?;
        Ok(match marker {
            0x00..=0x7f => Item::Unsigned(marker.into()),
            0x80..=0x8f => Item::Map(usize::from(marker & 0x0f)),
            0x90..=0x9f | 0xdc | 0xdd => return Err(ShapeError::Array),
            0xa0..=0xbf => Item::Str(self.string(usize::from(marker & 0x1f))?),
            0xc0 => Item::Nil,
            0xc1 => return Err(ShapeError::Reserved),
            0xc2 => Item::Bool(false),
            0xc3 => Item::Bool(true),
            0xc4..=0xc6 => return Err(ShapeError::Bin),
            0xc7..=0xc9 | 0xd4..=0xd8 => return Err(ShapeError::Ext),
            0xca | 0xcb => return Err(ShapeError::Float),
            0xcc => Item::Unsigned(self.byte()?.into()),
            0xcd => Item::Unsigned(u16::from_be_bytes(self.array()?).into()),
            0xce => Item::Unsigned(u32::from_be_bytes(self.array()?).into()),
            0xcf => Item::Unsigned(u64::from_be_bytes(self.array()?)),
            0xd0 => Self::signed(i8::from_be_bytes(self.array()?).into()),
            0xd1 => Self::signed(i16::from_be_bytes(self.array()?).into()),
            0xd2 => Self::signed(i32::from_be_bytes(self.array()?).into()),
            0xd3 => Self::signed(i64::from_be_bytes(self.array()?)),
            0xd9 => {
                let len = self.byte()?.into();
                Item::Str(self.string(len)?)
            }
            0xda => {
                let len = self.len16()?;
                Item::Str(self.string(len)?)
            }
            0xdb => {
                let len = self.len32()?;
                Item::Str(self.string(len)?)
            }
            0xde => Item::Map(self.len16()?),
            0xdf => Item::Map(self.len32()?),
            0xe0..=0xff => Item::Signed((marker as i8).into()),
        })
    }

    fn key(&mut self) -> Result<&'a str, ShapeError> {
        match self.bytes.get(self.pos) {
            Some(0xc4..=0xc6) => Err(ShapeError::Bin),
            Some(0xa0..=0xbf | 0xd9..=0xdb) => match self.item()? {
                Item::Str(key) => Ok(key),
                _ => unreachable!("str markers read as str"),
            },
            Some(_) => Err(ShapeError::KeyNotString),
            None => Err(ShapeError::Truncated),
        }
    }
}

/// Walks a frame for [`check`].
struct Checker<'a> {
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl Checker<'_> {
    fn value(&mut self, depth: usize) -> Result<(), ShapeError> {
        let mut cursor = Cursor {
            bytes: self.bytes,
            pos: self.pos,
        };
        let item = cursor.item();
        self.pos = cursor.pos;
        match item? {
            Item::Map(len) => self.map(len, depth),
            _ => Ok(()),
        }
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<(), ShapeError> {
        let depth = depth + 1;
        if depth > self.max_depth {
            return Err(ShapeError::TooDeep {
                max: self.max_depth,
            });
        }
        // Keys seen so far, for the duplicate check: on the stack for every real request
        // (the largest, the house rules, has fewer than 32 fields).
        let mut inline: [&str; 32] = [""; 32];
        let mut spilled: Vec<&str> = Vec::new();
        // `len` is the frame's word: each entry is read (or the frame runs out) before the
        // next one is counted, so a huge length costs nothing.
        for i in 0..len {
            let mut cursor = Cursor {
                bytes: self.bytes,
                pos: self.pos,
            };
            let key = cursor.key();
            self.pos = cursor.pos;
            let key = key?;
            self.value(depth)?;
            let seen = if i < inline.len() {
                &inline[..i]
            } else {
                &spilled[..]
            };
            if seen.contains(&key) {
                return Err(ShapeError::DuplicateKey(key.to_owned()));
            }
            if i < inline.len() {
                inline[i] = key;
                if i + 1 == inline.len() {
                    spilled.extend_from_slice(&inline);
                }
            } else {
                spilled.push(key);
            }
        }
        Ok(())
    }
}

/// The deserializer over a checked frame. Every method does what `serde_json::Value`'s
/// deserializer does with the same value; where the frame breaks the shape after all (it was
/// not checked), it errs, never panics.
struct Strict<'de> {
    bytes: &'de [u8],
    pos: usize,
}

impl<'de> Strict<'de> {
    fn item(&mut self) -> Result<Item<'de>, Error> {
        let mut cursor = Cursor {
            bytes: self.bytes,
            pos: self.pos,
        };
        let item = cursor.item();
        self.pos = cursor.pos;
        item.map_err(de::Error::custom)
    }

    fn key(&mut self) -> Result<&'de str, Error> {
        let mut cursor = Cursor {
            bytes: self.bytes,
            pos: self.pos,
        };
        let key = cursor.key();
        self.pos = cursor.pos;
        key.map_err(de::Error::custom)
    }

    /// Skips the value the cursor is at, maps and all.
    fn skip(&mut self) -> Result<(), Error> {
        if let Item::Map(len) = self.item()? {
            for _ in 0..len {
                self.key()?;
                self.skip()?;
            }
        }
        Ok(())
    }

    fn map<V: Visitor<'de>>(&mut self, len: usize, visitor: V) -> Result<V::Value, Error> {
        let mut entries = Entries {
            de: self,
            left: len,
        };
        let value = visitor.visit_map(&mut entries)?;
        match entries.left {
            0 => Ok(value),
            _ => Err(de::Error::invalid_length(len, &"fewer elements in map")),
        }
    }

    fn number<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        match self.item()? {
            Item::Unsigned(n) => visitor.visit_u64(n),
            Item::Signed(n) => visitor.visit_i64(n),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn string<V: Visitor<'de>>(&mut self, visitor: V) -> Result<V::Value, Error> {
        match self.item()? {
            Item::Str(s) => visitor.visit_borrowed_str(s),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }
}

macro_rules! numbers {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.number(visitor)
        }
    )*};
}

macro_rules! strings {
    ($($method:ident)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            self.string(visitor)
        }
    )*};
}

macro_rules! no_arrays {
    ($($method:ident ($($arg:ident: $ty:ty),*))*) => {$(
        fn $method<V: Visitor<'de>>(self, $(_: $ty,)* visitor: V) -> Result<V::Value, Error> {
            // A checked frame holds no array, so whatever is here is the wrong type.
            let item = self.item()?;
            Err(de::Error::invalid_type(item.unexpected(), &visitor))
        }
    )*};
}

impl<'de> de::Deserializer<'de> for &mut Strict<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.item()? {
            Item::Nil => visitor.visit_unit(),
            Item::Bool(b) => visitor.visit_bool(b),
            Item::Unsigned(n) => visitor.visit_u64(n),
            Item::Signed(n) => visitor.visit_i64(n),
            Item::Str(s) => visitor.visit_borrowed_str(s),
            Item::Map(len) => self.map(len, visitor),
        }
    }

    numbers!(deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64);

    strings!(deserialize_char deserialize_str deserialize_string deserialize_bytes
        deserialize_byte_buf deserialize_identifier);

    no_arrays!(deserialize_seq() deserialize_tuple(len: usize)
        deserialize_tuple_struct(name: &'static str, len: usize));

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.item()? {
            Item::Bool(b) => visitor.visit_bool(b),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.bytes.get(self.pos) == Some(&0xc0) {
            self.pos += 1;
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.item()? {
            Item::Nil => visitor.visit_unit(),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.item()? {
            Item::Map(len) => self.map(len, visitor),
            other => Err(de::Error::invalid_type(other.unexpected(), &visitor)),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.item()? {
            Item::Str(variant) => visitor.visit_enum(BorrowedStrDeserializer::new(variant)),
            Item::Map(1) => visitor.visit_enum(Variant { de: self }),
            Item::Map(_) => Err(de::Error::invalid_value(
                Unexpected::Map,
                &"map with a single key",
            )),
            other => Err(de::Error::invalid_type(
                other.unexpected(),
                &"string or map",
            )),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.skip()?;
        visitor.visit_unit()
    }
}

/// The entries of a map, keys read as borrowed strings.
struct Entries<'a, 'de> {
    de: &'a mut Strict<'de>,
    left: usize,
}

impl<'de> de::MapAccess<'de> for Entries<'_, 'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        if self.left == 0 {
            return Ok(None);
        }
        self.left -= 1;
        let key = self.de.key()?;
        seed.deserialize(BorrowedStrDeserializer::new(key))
            .map(Some)
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(&mut *self.de)
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.left)
    }
}

/// An enum variant written as a map of one key: the variant's name, then its content.
struct Variant<'a, 'de> {
    de: &'a mut Strict<'de>,
}

impl<'a, 'de> de::EnumAccess<'de> for Variant<'a, 'de> {
    type Error = Error;
    type Variant = Self;

    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), Error> {
        let key = self.de.key()?;
        let variant = seed.deserialize(BorrowedStrDeserializer::<Error>::new(key))?;
        Ok((variant, self))
    }
}

impl<'de> de::VariantAccess<'de> for Variant<'_, 'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self.de)
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(self.de)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        let item = self.de.item()?;
        let _ = visitor;
        Err(de::Error::invalid_type(item.unexpected(), &"tuple variant"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.de.item()? {
            Item::Map(len) => self.de.map(len, visitor),
            other => Err(de::Error::invalid_type(
                other.unexpected(),
                &"struct variant",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[track_caller]
    fn refused(bytes: &[u8], why: ShapeError) {
        assert_eq!(check(bytes, 32), Err(why), "{bytes:x?}");
    }

    #[test]
    fn reads_what_the_encoder_writes() {
        let value = serde_json::json!({
            "id": 4_000_000_000u32,
            "request": {"type": "Resume", "token": null, "last_version": u64::MAX},
            "small": -3, "i8": -100, "i16": -1000, "i32": -100_000, "i64": -10_000_000_000i64,
            "u8": 200, "u16": 60_000, "yes": true, "no": false,
            "long": "x".repeat(300), "longer": "y".repeat(70_000),
        });
        let bytes = rmp_serde::to_vec_named(&value).expect("encodes");
        assert_eq!(check(&bytes, 32), Ok(()));
        let read: serde_json::Value = from_checked(&bytes).expect("reads");
        assert_eq!(read, value);
    }

    #[test]
    fn a_key_given_twice_is_found_in_a_map_of_any_size() {
        for (len, twice) in [(2, 0), (32, 30), (33, 10), (33, 31), (40, 35), (40, 12)] {
            let mut map = serde_json::Map::new();
            for i in 0..len {
                map.insert(format!("k{i}"), serde_json::Value::from(i));
            }
            let mut bytes = rmp_serde::to_vec_named(&map).expect("encodes");
            assert_eq!(check(&bytes, 32), Ok(()), "{len} distinct keys");
            // Rename the last key to an earlier one: same length, so the map stays whole.
            let last = format!("k{}", len - 1);
            let earlier = format!("k{twice}");
            assert_eq!(last.len(), earlier.len(), "the frame keeps its length");
            let at = bytes
                .windows(last.len())
                .rposition(|w| w == last.as_bytes())
                .expect("the last key is in the frame");
            bytes[at..at + last.len()].copy_from_slice(earlier.as_bytes());
            assert_eq!(
                check(&bytes, 32),
                Err(ShapeError::DuplicateKey(earlier)),
                "{len} keys"
            );
        }
    }

    #[test]
    fn refuses_what_no_request_holds() {
        refused(b"\x92\x01\x02", ShapeError::Array);
        refused(b"\xdc\x00\x00", ShapeError::Array);
        refused(b"\x81\xa1a\x91\x01", ShapeError::Array);
        refused(b"\x81\xa4name\xc4\x03Ann", ShapeError::Bin);
        refused(b"\x81\xc4\x04type\xa4Join", ShapeError::Bin);
        refused(b"\x81\x00\x01", ShapeError::KeyNotString);
        refused(b"\x81\xc0\x01", ShapeError::KeyNotString);
        refused(b"\xd4\x01\x00", ShapeError::Ext);
        refused(b"\xc7\x01\x05\x00", ShapeError::Ext);
        refused(b"\xcb\x3f\xf0\0\0\0\0\0\0", ShapeError::Float);
        refused(b"\xc1", ShapeError::Reserved);
        refused(b"\xa2\xff\xfe", ShapeError::Utf8);
        refused(
            b"\x82\xa1a\x01\xa1a\x02",
            ShapeError::DuplicateKey("a".into()),
        );
    }

    #[test]
    fn refuses_cut_frames_and_bytes_after_the_value() {
        refused(b"", ShapeError::Truncated);
        refused(b"\xa5abc", ShapeError::Truncated);
        refused(b"\xdb\xff\xff\xff\xffab", ShapeError::Truncated);
        refused(b"\xdf\xff\xff\xff\xff\xa1a\x01", ShapeError::Truncated);
        refused(b"\xcf\x00\x01", ShapeError::Truncated);
        refused(b"\x80\xc0", ShapeError::Trailing { extra: 1 });
    }

    #[test]
    fn refuses_deep_nesting() {
        let nested = |depth: usize| {
            let mut bytes = b"\x81\xa1a".repeat(depth);
            bytes.push(0xc0);
            bytes
        };
        assert_eq!(check(&nested(32), 32), Ok(()));
        refused(&nested(33), ShapeError::TooDeep { max: 32 });
    }

    /// What decoding a request meant before `from_checked`: the checked frame read into a
    /// `serde_json::Value`, and the request read from that value.
    fn through_a_json_value(bytes: &[u8]) -> Result<crate::ClientMessage, String> {
        let value: serde_json::Value = rmp_serde::from_slice(bytes).map_err(|e| e.to_string())?;
        serde_json::from_value(value).map_err(|e| e.to_string())
    }

    #[track_caller]
    fn reads_as_json_would(bytes: &[u8]) {
        assert_eq!(check(bytes, 32), Ok(()), "{bytes:x?}");
        let direct = from_checked::<crate::ClientMessage>(bytes).map_err(|e| e.to_string());
        assert_eq!(direct, through_a_json_value(bytes), "{bytes:x?}");
    }

    #[test]
    fn every_request_reads_as_through_a_json_value() {
        use crate::{ClientMessage, Emote, Request, RoomOptions};
        use perudo_core::{Action, Bid, BotLevel, GameConfig, Seat};
        let requests = [
            Request::Hello { version: 2 },
            Request::Join {
                name: "Ana ñ 🎲".into(),
            },
            Request::Claim {
                token: "t".repeat(40),
            },
            Request::Resume {
                token: None,
                last_version: u64::MAX,
            },
            Request::Resume {
                token: Some("abc".into()),
                last_version: 0,
            },
            Request::Spectate,
            Request::SetRules {
                rules: GameConfig::default(),
            },
            Request::SetOptions {
                options: RoomOptions::default(),
            },
            Request::AddBot {
                level: BotLevel::Hard,
            },
            Request::Kick {
                seat: Seat::new(3).expect("seat"),
            },
            Request::TransferHost {
                seat: Seat::new(0).expect("seat"),
            },
            Request::Start,
            Request::Act {
                action: Action::Bid(Bid::new(7, 6).expect("bid")),
            },
            Request::Act {
                action: Action::Dudo,
            },
            Request::Act {
                action: Action::Calza,
            },
            Request::Leave,
            Request::Emote {
                emote: Emote::ThumbsUp,
            },
        ];
        for (id, request) in requests.into_iter().enumerate() {
            let message = ClientMessage {
                id: id as u32 * 1000,
                request,
            };
            let bytes = message.encode().expect("encodes");
            reads_as_json_would(&bytes);
            assert_eq!(from_checked::<ClientMessage>(&bytes).ok(), Some(message));
        }
    }

    /// Names a request may hold: field names, tags, variants, and one nobody knows.
    const WORDS: &[&str] = &[
        "id",
        "request",
        "type",
        "name",
        "version",
        "token",
        "last_version",
        "rules",
        "options",
        "level",
        "seat",
        "action",
        "quantity",
        "face",
        "emote",
        "Hello",
        "Join",
        "Claim",
        "Resume",
        "Spectate",
        "SetRules",
        "SetOptions",
        "AddBot",
        "Kick",
        "TransferHost",
        "Start",
        "Act",
        "Leave",
        "Emote",
        "Bid",
        "Dudo",
        "Calza",
        "DeclarePalifico",
        "Easy",
        "Hard",
        "Normal",
        "ThumbsUp",
        "starting_dice",
        "calza",
        "oops",
        "",
    ];

    fn word() -> impl Strategy<Value = String> {
        proptest::sample::select(WORDS).prop_map(String::from)
    }

    fn value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (0u64..12).prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            word().prop_map(Value::from),
            ".{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 6, |inner| {
            proptest::collection::btree_map(word(), inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect()))
        })
    }

    /// Something close to a request: an id and a map with a `type`, or any value at all.
    fn frame() -> impl Strategy<Value = serde_json::Value> {
        let request = (
            word(),
            proptest::collection::btree_map(word(), value(), 0..4),
        )
            .prop_map(|(kind, mut fields)| {
                fields.insert("type".into(), kind.into());
                serde_json::Value::Object(fields.into_iter().collect())
            });
        prop_oneof![
            (any::<u32>(), request)
                .prop_map(|(id, request)| { serde_json::json!({ "id": id, "request": request }) }),
            value(),
        ]
    }

    proptest! {
        #[test]
        fn any_checked_frame_reads_as_through_a_json_value(frame in frame()) {
            let bytes = rmp_serde::to_vec_named(&frame).expect("encodes");
            reads_as_json_would(&bytes);
        }
    }
}
