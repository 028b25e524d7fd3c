//! Strict JSON bodies: an object at the top, and no key twice in any object at any depth
//! (serde would silently keep the last value).

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

/// Why a body is not a strict JSON object.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum StrictJsonError {
    #[error("the body must be a JSON object")]
    NotAnObject,
    #[error("{0}")]
    Invalid(String),
}

/// Checks `bytes` without building a value.
pub fn check(bytes: &[u8]) -> Result<(), StrictJsonError> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first.is_some_and(|b| *b != b'{') {
        // Still report malformed JSON as such, not as a wrong type.
        serde_json::from_slice::<de::IgnoredAny>(bytes)
            .map_err(|e| StrictJsonError::Invalid(format!("invalid JSON body: {e}")))?;
        return Err(StrictJsonError::NotAnObject);
    }
    serde_json::from_slice::<Unique>(bytes)
        .map(|_| ())
        .map_err(|e| StrictJsonError::Invalid(format!("invalid JSON body: {e}")))
}

/// Any JSON value whose objects hold each key once.
struct Unique;

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor)
    }
}

struct UniqueVisitor;

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = Unique;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_str<E>(self, _: &str) -> Result<Unique, E> {
        Ok(Unique)
    }
    fn visit_unit<E>(self) -> Result<Unique, E> {
        Ok(Unique)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Unique, A::Error> {
        while seq.next_element::<Unique>()?.is_some() {}
        Ok(Unique)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Unique, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key {key:?}")));
            }
            map.next_value::<Unique>()?;
        }
        Ok(Unique)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_only_and_each_key_once_at_every_depth() {
        assert_eq!(check(br#"{"a":[{"b":1,"c":{"d":2}}]}"#), Ok(()));
        assert_eq!(
            check(br#" ["arr-room",null]"#),
            Err(StrictJsonError::NotAnObject)
        );
        assert_eq!(check(b"null"), Err(StrictJsonError::NotAnObject));
        for duplicated in [
            &br#"{"a":1,"a":2}"#[..],
            br#"{"s":[{"id":"x","id":"y"}]}"#,
            br#"{"s":{"t":{"u":1,"u":1}}}"#,
        ] {
            let err = check(duplicated).unwrap_err().to_string();
            assert!(err.contains("duplicate key"), "{err}");
        }
        assert!(matches!(
            check(b"{\"a\":"),
            Err(StrictJsonError::Invalid(_))
        ));
        assert!(matches!(check(b"[1,"), Err(StrictJsonError::Invalid(_))));
    }
}
