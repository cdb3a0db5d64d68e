//! Internally tagged enums (`{"type": "BidPlaced", "seat": 1, ...}`) read without serde's
//! buffering.
//!
//! serde's derived reader of an internally tagged enum cannot know where in the map the tag
//! is, so it first copies the whole map into a tree of its own (a vector per map, nested maps
//! included), then reads the variant from that tree. Every `Update` carries its events so,
//! two levels deep (`RoomEvent::Game` holds a rules `Event`): 15 % of the load tester's CPU
//! (`perf` of `perudo-bench loadtest`, 10 rooms x 4).
//!
//! The server writes the tag as every such map's first key (serde's derived writer does).
//! When it comes first, [`tag_first`] reads it and hands the rest of the map straight to an
//! externally tagged twin of the enum (a `#[serde(remote = ...)]` derive, so the compiler
//! checks the twin's variants and fields against the enum's), as if the map were
//! `{"BidPlaced": {"seat": 1, ...}}`. A map whose tag is elsewhere (a JSON object from
//! another writer; PostgreSQL's `jsonb` sorts keys) is read into a `serde_json::Value`
//! first and from there, as serde's derived reader would (also to the same errors: no tag,
//! a tag that names no variant).
//!
//! For enums whose variants are all structs or newtypes of structs (no unit variants):
//! `RoomEvent` and the rules' `Event`.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{CowStrDeserializer, MapAccessDeserializer};
use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IgnoredAny, IntoDeserializer, MapAccess,
    VariantAccess, Visitor,
};

/// The key that names an internally tagged enum's variant.
const TAG: &str = "type";

/// The reader of an enum's externally tagged twin.
pub(crate) trait Twin {
    type Enum;
    fn read<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Self::Enum, D::Error>;
}

/// Reads the internally tagged enum `W::Enum` through its twin `W`.
pub(crate) fn tag_first<'de, W: Twin, D: Deserializer<'de>>(
    deserializer: D,
    expecting: &'static str,
) -> Result<W::Enum, D::Error> {
    deserializer.deserialize_map(TagFirst::<W> {
        expecting,
        twin: PhantomData,
    })
}

struct TagFirst<W> {
    expecting: &'static str,
    twin: PhantomData<W>,
}

impl<'de, W: Twin> Visitor<'de> for TagFirst<W> {
    type Value = W::Enum;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.expecting)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<W::Enum, A::Error> {
        let Some(Str(first)) = map.next_key::<Str>()? else {
            return Err(de::Error::missing_field(TAG));
        };
        if first == TAG {
            let Str(variant) = map.next_value::<Str>()?;
            return W::read(Variant { variant, map });
        }
        // The tag is not first: gather the map, take the tag out, read `{tag: rest}`.
        let mut rest = serde_json::Map::new();
        let value = map.next_value::<serde_json::Value>()?;
        rest.insert(first.into_owned(), value);
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            rest.insert(key, value);
        }
        let variant = match rest.remove(TAG) {
            Some(serde_json::Value::String(variant)) => variant,
            Some(_) => return Err(de::Error::custom("the tag `type` is not a string")),
            None => return Err(de::Error::missing_field(TAG)),
        };
        let mut outer = serde_json::Map::new();
        outer.insert(variant, serde_json::Value::Object(rest));
        W::read(serde_json::Value::Object(outer)).map_err(de::Error::custom)
    }
}

/// A key or a tag: a string, borrowed from the input when it can be.
struct Str<'de>(Cow<'de, str>);

impl<'de> de::Deserialize<'de> for Str<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = Str<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Str<'de>, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

/// The rest of a map whose tag was read, shown to the twin as the externally tagged
/// `{variant: rest}`.
struct Variant<'de, A> {
    variant: Cow<'de, str>,
    map: A,
}

impl<'de, A: MapAccess<'de>> Deserializer<'de> for Variant<'de, A> {
    type Error = A::Error;

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_enum(self)
    }

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("a tagged map is read only as an enum"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier
        ignored_any
    }
}

impl<'de, A: MapAccess<'de>> EnumAccess<'de> for Variant<'de, A> {
    type Error = A::Error;
    type Variant = Rest<A>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Rest<A>), A::Error> {
        let name: CowStrDeserializer<'de, A::Error> = self.variant.into_deserializer();
        let value = seed.deserialize(name)?;
        Ok((value, Rest(self.map)))
    }
}

/// The map's entries after the tag: the variant's fields.
struct Rest<A>(A);

impl<'de, A: MapAccess<'de>> VariantAccess<'de> for Rest<A> {
    type Error = A::Error;

    fn unit_variant(mut self) -> Result<(), A::Error> {
        while self.0.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(())
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, A::Error> {
        seed.deserialize(MapAccessDeserializer::new(self.0))
    }

    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        _visitor: V,
    ) -> Result<V::Value, A::Error> {
        Err(de::Error::custom("a tagged map holds no tuple variant"))
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, A::Error> {
        visitor.visit_map(self.0)
    }
}
