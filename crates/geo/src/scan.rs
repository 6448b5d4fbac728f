//! Pulls the value a JSON pointer names out of JSON text without building
//! the rest of the document.
//!
//! Every SET of an indexed bucket and every item at warmup passes through
//! here, so the document is walked by a serde visitor that follows the
//! pointer's tokens: members and elements off the path are skipped with
//! `IgnoredAny` (still checked for syntax, never allocated), object keys are
//! compared in place, and only the named subtree becomes a `Value`. The
//! answer is the same as parsing the whole document and calling
//! [`JsonPointer::resolve`] (a property test holds the two together), down
//! to duplicate keys, where the last one wins.

use crate::pointer::{JsonPointer, array_index};
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use std::fmt;

/// The value `pointer` names in the JSON text `bytes`; `None` when the text
/// is not one valid UTF-8 JSON document or names nothing there.
pub(crate) fn pointee(pointer: &JsonPointer, bytes: &[u8]) -> Option<Value> {
    // JSON text is UTF-8 throughout; skipped strings are not otherwise
    // checked, so check it all here (this runs at memory speed).
    let text = std::str::from_utf8(bytes).ok()?;
    let mut de = serde_json::Deserializer::from_str(text);
    let found = Follow(pointer.tokens()).deserialize(&mut de).ok()?;
    de.end().ok()?;
    found
}

/// Follows the remaining tokens; yields the value at the end, if any.
struct Follow<'p>(&'p [String]);

impl<'de> DeserializeSeed<'de> for Follow<'_> {
    type Value = Option<Value>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        if self.0.is_empty() {
            return serde::Deserialize::deserialize(d).map(Some);
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Follow<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let (token, rest) = (&self.0[0], &self.0[1..]);
        let mut found = None;
        while let Some(hit) = map.next_key_seed(KeyIs(token))? {
            if hit {
                // A later duplicate replaces an earlier one, as in a Map.
                found = map.next_value_seed(Follow(rest))?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(found)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        let want = array_index(&self.0[0]);
        let mut found = None;
        let mut i = 0usize;
        loop {
            if Some(i) == want {
                match seq.next_element_seed(Follow(&self.0[1..]))? {
                    Some(v) => found = v,
                    None => break,
                }
            } else if seq.next_element::<IgnoredAny>()?.is_none() {
                break;
            }
            i += 1;
        }
        Ok(found)
    }

    // A scalar has no members: the pointer names nothing.
    fn visit_bool<E>(self, _: bool) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_str<E>(self, _: &str) -> Result<Option<Value>, E> {
        Ok(None)
    }
    fn visit_unit<E>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }
}

/// Compares an object key with a token without allocating it.
struct KeyIs<'p>(&'p str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, v: &str) -> Result<bool, E> {
        Ok(v == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_pointers() {
        let p = |s: &str| JsonPointer::parse(s).unwrap();
        let doc = br#"{"a":{"b":[10,{"c":"x\"y"},[1,2]]},"a~b":1,"d/e":2,"k":1,"k":2}"#;
        assert_eq!(pointee(&p("/a/b/1/c"), doc), Some(Value::from("x\"y")));
        assert_eq!(pointee(&p("/a/b/2"), doc), Some(serde_json::json!([1, 2])));
        assert_eq!(pointee(&p("/a~0b"), doc), Some(Value::from(1)));
        assert_eq!(pointee(&p("/d~1e"), doc), Some(Value::from(2)));
        assert_eq!(pointee(&p("/k"), doc), Some(Value::from(2)));
        assert_eq!(pointee(&p("/a/b/3"), doc), None);
        assert_eq!(pointee(&p("/a/b/01"), doc), None);
        assert_eq!(pointee(&p("/a/b/0/x"), doc), None);
        assert_eq!(pointee(&p("/z"), doc), None);
        assert!(pointee(&p(""), doc).is_some());
        // Escaped keys are compared unescaped.
        assert_eq!(pointee(&p("/é"), br#"{"\u00e9":5}"#), Some(Value::from(5)));
        // Syntax errors anywhere, even after the field, mean "not JSON".
        assert_eq!(pointee(&p("/k"), br#"{"k":1,"z":[}"#), None);
        assert_eq!(pointee(&p("/k"), br#"{"k":1} x"#), None);
        assert_eq!(pointee(&p("/k"), b"{\"k\":1,\"z\":\"\xff\"}"), None);
    }

    fn json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let key = prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("a/b~".to_owned()),
            Just(String::new())
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i32>().prop_map(Value::from),
            (-1e3..1e3f64).prop_map(Value::from),
            r#"[a-c"\\é]{0,4}"#.prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 40, 5, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::from),
                proptest::collection::vec((key.clone(), inner), 0..5)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Streaming agrees with parsing everything and resolving.
        #[test]
        fn agrees_with_resolve(
            doc in json(),
            tokens in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("a"), proptest::strategy::Just("b"),
                    proptest::strategy::Just("a~1b~0"), proptest::strategy::Just(""),
                    proptest::strategy::Just("0"), proptest::strategy::Just("1"),
                    proptest::strategy::Just("01"), proptest::strategy::Just("-"),
                ],
                0..4,
            ),
        ) {
            let text = tokens.iter().fold(String::new(), |acc, t| acc + "/" + t);
            let p = JsonPointer::parse(&text).unwrap();
            let bytes = serde_json::to_vec(&doc).unwrap();
            proptest::prop_assert_eq!(pointee(&p, &bytes), p.resolve(&doc).cloned());
        }
    }
}
