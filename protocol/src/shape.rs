//! The shape of a client frame, checked before serde reads the request in it.
//!
//! rmp-serde reads more than the protocol allows: a struct sent as an array (its compact
//! encoding), a string sent as bin, a field or an enum variant named by its index, a map
//! with integer keys. The protocol says requests are maps with field names and strings are
//! str (docs/PROTOCOL.md, "Encoding"), so a client frame is read here first, strictly, into a
//! `serde_json::Value`, the shape serde gives JSON; then serde reads the request from that
//! value, and serde_json's value deserializer takes field names, tags and enum variants from
//! strings only. No request field holds an array, a bin, an extension type or a float, so
//! every one of them is refused wherever it appears.
//!
//! Lengths in the frame are never trusted for an allocation: every string is checked against
//! the bytes that are left, and containers grow as their entries are read.

use serde_json::{Map, Number, Value};

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

/// Reads the one MessagePack value that fills `bytes`, with maps nested at most `max_depth`
/// deep, refusing anything a request cannot hold.
pub(crate) fn read(bytes: &[u8], max_depth: usize) -> Result<Value, ShapeError> {
    let mut reader = Reader {
        bytes,
        pos: 0,
        max_depth,
    };
    let value = reader.value(0)?;
    match bytes.len() - reader.pos {
        0 => Ok(value),
        extra => Err(ShapeError::Trailing { extra }),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    max_depth: usize,
}

impl<'a> Reader<'a> {
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

    fn string(&mut self, len: usize) -> Result<String, ShapeError> {
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| ShapeError::Utf8)
    }

    fn value(&mut self, depth: usize) -> Result<Value, ShapeError> {
        let marker = self.byte()?;
        Ok(match marker {
            0x00..=0x7f => Value::from(marker),
            0x80..=0x8f => return self.map(usize::from(marker & 0x0f), depth),
            0x90..=0x9f | 0xdc | 0xdd => return Err(ShapeError::Array),
            0xa0..=0xbf => Value::String(self.string(usize::from(marker & 0x1f))?),
            0xc0 => Value::Null,
            0xc1 => return Err(ShapeError::Reserved),
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xc4..=0xc6 => return Err(ShapeError::Bin),
            0xc7..=0xc9 | 0xd4..=0xd8 => return Err(ShapeError::Ext),
            0xca | 0xcb => return Err(ShapeError::Float),
            0xcc => Value::from(self.byte()?),
            0xcd => Value::from(u16::from_be_bytes(self.array()?)),
            0xce => Value::from(u32::from_be_bytes(self.array()?)),
            0xcf => Value::from(u64::from_be_bytes(self.array()?)),
            0xd0 => Value::from(i8::from_be_bytes(self.array()?)),
            0xd1 => Value::from(i16::from_be_bytes(self.array()?)),
            0xd2 => Value::from(i32::from_be_bytes(self.array()?)),
            0xd3 => Value::Number(Number::from(i64::from_be_bytes(self.array()?))),
            0xd9 => {
                let len = self.byte()?.into();
                Value::String(self.string(len)?)
            }
            0xda => {
                let len = self.len16()?;
                Value::String(self.string(len)?)
            }
            0xdb => {
                let len = self.len32()?;
                Value::String(self.string(len)?)
            }
            0xde => {
                let len = self.len16()?;
                return self.map(len, depth);
            }
            0xdf => {
                let len = self.len32()?;
                return self.map(len, depth);
            }
            0xe0..=0xff => Value::from(marker as i8),
        })
    }

    fn key(&mut self) -> Result<String, ShapeError> {
        let marker = self.byte()?;
        let len = match marker {
            0xa0..=0xbf => usize::from(marker & 0x1f),
            0xd9 => self.byte()?.into(),
            0xda => self.len16()?,
            0xdb => self.len32()?,
            0xc4..=0xc6 => return Err(ShapeError::Bin),
            _ => return Err(ShapeError::KeyNotString),
        };
        self.string(len)
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, ShapeError> {
        let depth = depth + 1;
        if depth > self.max_depth {
            return Err(ShapeError::TooDeep {
                max: self.max_depth,
            });
        }
        let mut map = Map::new();
        // `len` is the frame's word: each entry is read (or the frame runs out) before the
        // next one is counted, so a huge length costs nothing.
        for _ in 0..len {
            let key = self.key()?;
            let value = self.value(depth)?;
            if map.contains_key(&key) {
                return Err(ShapeError::DuplicateKey(key));
            }
            map.insert(key, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn refused(bytes: &[u8], why: ShapeError) {
        assert_eq!(read(bytes, 32), Err(why), "{bytes:x?}");
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
        assert_eq!(read(&bytes, 32), Ok(value));
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
        assert!(read(&nested(32), 32).is_ok());
        refused(&nested(33), ShapeError::TooDeep { max: 32 });
    }
}
