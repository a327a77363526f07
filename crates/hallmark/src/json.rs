//! Signed JSON that means one thing to every reader.
//!
//! JSON leaves a repeated object key undefined: serde_json's maps keep the last value,
//! Go's `encoding/json` the last, protobuf's JSON reader (what cosign uses for in-toto
//! statements and bundles) refuses the document. A signed document with a repeated key can
//! therefore say one thing to hallmark and another to a second verifier of the same bytes,
//! so every signed document is refused outright when any of its objects, at any depth,
//! repeats a key.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeOwned, DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};

/// Parses `bytes` as a `T` after checking that no object in them repeats a key. Keys are
/// compared after unescaping, so `"sha256"` and `"sha\u003256"` are the same key. Nesting
/// is bounded by serde_json's recursion limit, in both passes.
pub(crate) fn from_slice_unique<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, serde_json::Error> {
    check_unique_keys(bytes)?;
    serde_json::from_slice(bytes)
}

/// Checks that `bytes` are one JSON value in which no object repeats a key.
pub(crate) fn check_unique_keys(bytes: &[u8]) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    UniqueKeys.deserialize(&mut de)?;
    de.end()
}

/// Walks one value, keeping nothing but the keys of the object being read.
#[derive(Clone, Copy)]
struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = HashSet::new();
        while let Some(Key(key)) = map.next_key()? {
            if seen.contains(&key) {
                return Err(A::Error::custom(format_args!(
                    "duplicate key {key:?}: a repeated key means different things to different readers"
                )));
            }
            seen.insert(key);
            map.next_value_seed(self)?;
        }
        Ok(())
    }
}

/// An object key, unescaped.
struct Key(String);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_keys_are_refused_at_every_depth() {
        for doc in [
            r#"{"a":1,"a":1}"#,
            r#"{"a":1,"b":2,"a":3}"#,
            r#"{"x":{"sha256":"aa","sha256":"bb"}}"#,
            r#"[{"ok":1},{"k":[],"k":{}}]"#,
            r#"{"s":[[[{"deep":{"deeper":{"d":1,"d":2}}}]]]}"#,
            // The same key, spelled with an escape.
            r#"{"sha256":"aa","sha\u0032\u0035\u0036":"bb"}"#,
            r#"{"a\/b":1,"a/b":2}"#,
        ] {
            let e = check_unique_keys(doc.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("duplicate key"), "{doc}: {e}");
        }
    }

    #[test]
    fn distinct_keys_and_every_kind_of_value_pass() {
        for doc in [
            r#"{}"#,
            r#"[]"#,
            r#"null"#,
            r#"{"a":1,"A":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}"#,
            r#"{"n":-1,"f":1.5e3,"t":true,"z":null,"s":"\u00e9"}"#,
            r#"  {"sha256":"aa","sha512":"bb"}  "#,
        ] {
            check_unique_keys(doc.as_bytes()).unwrap_or_else(|e| panic!("{doc}: {e}"));
        }
    }

    #[test]
    fn malformed_and_trailing_input_is_refused() {
        for doc in [r#"{"a":1"#, r#"{"a":1} {"#, "", r#"{"a":1}x"#, "[1,]"] {
            assert!(check_unique_keys(doc.as_bytes()).is_err(), "{doc}");
        }
        let deep = "[".repeat(10_000) + &"]".repeat(10_000);
        let e = check_unique_keys(deep.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("recursion limit"), "{e}");
    }

    #[test]
    fn typed_parse_sees_only_documents_with_unique_keys() {
        let m: std::collections::BTreeMap<String, String> =
            from_slice_unique(br#"{"sha256":"aa"}"#).unwrap();
        assert_eq!(m["sha256"], "aa");
        assert!(
            from_slice_unique::<std::collections::BTreeMap<String, String>>(
                br#"{"sha256":"aa","sha256":"bb"}"#
            )
            .is_err()
        );
    }

    mod props {
        use proptest::prelude::*;

        use super::super::*;

        /// Any JSON value, nested a few levels.
        fn value() -> impl Strategy<Value = serde_json::Value> {
            let leaf = prop_oneof![
                Just(serde_json::Value::Null),
                any::<bool>().prop_map(serde_json::Value::Bool),
                any::<i64>().prop_map(|n| serde_json::json!(n)),
                "[a-z\\\\\"é]{0,6}".prop_map(serde_json::Value::String),
            ];
            leaf.prop_recursive(4, 64, 6, |inner| {
                prop_oneof![
                    prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::Array),
                    prop::collection::btree_map("[a-c]{1,2}", inner, 0..6)
                        .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            /// Whatever serde_json writes has unique keys, and repeating any one key of any
            /// object in it (written as an escape or not) is always caught.
            #[test]
            fn written_documents_pass_and_any_repeat_is_caught(v in value(), pick in any::<usize>(), escape in any::<bool>()) {
                let text = serde_json::to_string(&v).unwrap();
                prop_assert!(check_unique_keys(text.as_bytes()).is_ok());
                // Every place an object's first key starts: `{"key":`.
                let starts: Vec<usize> = text.match_indices("{\"").map(|(i, _)| i).collect();
                if starts.is_empty() {
                    return Ok(());
                }
                let at = starts[pick % starts.len()];
                let key_end = at + 2 + text[at + 2..].find("\":").unwrap();
                let key = &text[at + 2..key_end];
                let spelled = if escape {
                    key.chars().map(|c| if c.is_ascii_lowercase() {
                        format!("\\u{:04x}", c as u32)
                    } else {
                        c.to_string()
                    }).collect::<String>()
                } else {
                    key.to_string()
                };
                let forged = format!("{}\"{spelled}\":null,{}", &text[..at + 1], &text[at + 1..]);
                prop_assert!(check_unique_keys(forged.as_bytes()).is_err(), "{}", forged);
            }
        }
    }
}
