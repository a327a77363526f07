//! in-toto Statement v1: subjects (name and digests) and a typed predicate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `_type` of a Statement v1.
pub(crate) const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// `_type` of a Statement v0.1 (what `cosign attest` 3.1 still writes).
pub(crate) const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// The short names cosign 3.1 accepts for `--type`, and the predicate types they stand
/// for (cosign's `PredicateTypeMap`); `slsaprovenance` is SLSA 0.2, as in cosign.
pub const PREDICATE_TYPES: [(&str, &str); 10] = [
    ("slsaprovenance", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance02", "https://slsa.dev/provenance/v0.2"),
    ("slsaprovenance1", "https://slsa.dev/provenance/v1"),
    ("link", "https://in-toto.io/Link/v1"),
    ("spdx", "https://spdx.dev/Document"),
    ("spdxjson", "https://spdx.dev/Document"),
    ("cyclonedx", "https://cyclonedx.org/bom"),
    ("vuln", "https://cosign.sigstore.dev/attestation/vuln/v1"),
    ("openvex", "https://openvex.dev/ns"),
    ("custom", "https://cosign.sigstore.dev/attestation/v1"),
];

/// Longest predicate type taken: real ones are URLs of a few dozen characters.
const MAX_PREDICATE_TYPE_LEN: usize = 1024;

/// Predicate types by the short names cosign accepts for `--type`; anything else is taken
/// as the predicate type's URI itself. [`parse_predicate_type`] checks it first.
pub fn predicate_type(name: &str) -> &str {
    PREDICATE_TYPES
        .iter()
        .find(|(short, _)| *short == name)
        .map_or(name, |(_, uri)| uri)
}

/// Why a `--type` is not a predicate type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PredicateTypeError {
    /// Close to a short name: almost certainly a typo of it.
    #[error("{given:?} is not a predicate type; did you mean {suggestion}?")]
    Typo {
        /// What was given.
        given: String,
        /// The nearest short name.
        suggestion: &'static str,
    },
    /// Neither a short name nor a URI.
    #[error(
        "{0:?} is not a predicate type: give a URI (https://…) or one of slsaprovenance, slsaprovenance02, slsaprovenance1, link, spdx, spdxjson, cyclonedx, vuln, openvex, custom"
    )]
    Unknown(String),
}

/// The predicate type `name` stands for: a short name's URI, or `name` itself when it is
/// a URI. Anything else is refused, so that a misspelt short name is not signed as a
/// type of its own that no verifier asks for.
pub fn parse_predicate_type(name: &str) -> Result<&str, PredicateTypeError> {
    if let Some((_, uri)) = PREDICATE_TYPES.iter().find(|(short, _)| *short == name) {
        return Ok(uri);
    }
    if is_uri(name) {
        return Ok(name);
    }
    let lower = name.to_ascii_lowercase();
    let nearest = PREDICATE_TYPES
        .iter()
        .map(|(short, _)| (distance(&lower, short), *short))
        .min();
    match nearest {
        // A third of the name's letters wrong is a typo; more is another word.
        Some((d, short)) if d <= (short.len() / 3).max(1) => Err(PredicateTypeError::Typo {
            given: name.to_string(),
            suggestion: short,
        }),
        _ => Err(PredicateTypeError::Unknown(name.to_string())),
    }
}

/// An absolute URI: a scheme (RFC 3986: a letter, then letters, digits, `+`, `-`, `.`),
/// `:`, and more, with no spaces or control characters.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    s.len() <= MAX_PREDICATE_TYPE_LEN
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        && !rest.is_empty()
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Edit distance (insertions, deletions, substitutions) between a given name and a short
/// name; a name far longer than any short name is no typo of one and is not compared.
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len() > 2 * b.len() + 2 {
        return usize::MAX;
    }
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
/// DSSE payload type of an in-toto statement.
pub const PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The predicate type cosign uses for a plain image signature.
pub const COSIGN_SIGN_V1: &str = "https://sigstore.dev/cosign/sign/v1";

/// A statement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    /// `STATEMENT_V1`.
    #[serde(rename = "_type")]
    pub kind: String,
    /// What the statement is about.
    pub subject: Vec<Subject>,
    /// What kind of claim the predicate makes.
    pub predicate_type: String,
    /// The claim.
    #[serde(default)]
    pub predicate: serde_json::Value,
}

/// A subject: a name and its digests (`{"sha256": "<hex>"}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subject {
    /// The subject's name (for images: the repository).
    #[serde(default)]
    pub name: String,
    /// Digests by algorithm, in lowercase hex.
    pub digest: BTreeMap<String, String>,
    /// What the signer recorded about the subject (cosign: its `-a` annotations).
    #[serde(default)]
    pub annotations: BTreeMap<String, serde_json::Value>,
}

impl Statement {
    /// A statement about one subject.
    pub fn new(
        name: &str,
        digest: &crate::digest::Digest,
        predicate_type: &str,
        predicate: serde_json::Value,
    ) -> Self {
        Self {
            kind: STATEMENT_V1.into(),
            subject: vec![Subject {
                name: name.to_string(),
                digest: BTreeMap::from([(
                    digest.algorithm().to_string(),
                    digest.hex().to_string(),
                )]),
                annotations: BTreeMap::new(),
            }],
            predicate_type: predicate_type.to_string(),
            predicate,
        }
    }

    /// True for a statement version hallmark reads (v1 and v0.1).
    pub fn is_statement(&self) -> bool {
        self.kind == STATEMENT_V1 || self.kind == STATEMENT_V01
    }

    /// Parses a statement; a key repeated anywhere in it (a subject's digests, the
    /// predicate) is refused (see `crate::json`).
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        crate::json::from_slice_unique(bytes)
    }

    /// The serialised statement.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serialising a plain struct cannot fail")
    }

    /// The subjects whose digest (in the digest's algorithm) is `digest`.
    pub(crate) fn subjects_for<'a>(
        &'a self,
        digest: &'a crate::digest::Digest,
    ) -> impl Iterator<Item = &'a Subject> + 'a {
        let alg = digest.algorithm().to_string();
        self.subject
            .iter()
            .filter(move |s| s.digest.get(&alg).map(String::as_str) == Some(digest.hex()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_and_uris_are_predicate_types_and_typos_are_not() {
        assert_eq!(
            parse_predicate_type("cyclonedx"),
            Ok("https://cyclonedx.org/bom")
        );
        assert_eq!(
            parse_predicate_type("openvex"),
            Ok("https://openvex.dev/ns")
        );
        assert_eq!(
            parse_predicate_type("link"),
            Ok("https://in-toto.io/Link/v1")
        );
        assert_eq!(
            parse_predicate_type("https://example.com/attestation/v1"),
            Ok("https://example.com/attestation/v1")
        );
        assert_eq!(parse_predicate_type("urn:example:x"), Ok("urn:example:x"));
        for (typo, meant) in [
            ("cyclonedxx", "cyclonedx"),
            ("CycloneDX", "cyclonedx"),
            ("slsaprovenence1", "slsaprovenance1"),
            ("spdx-json", "spdxjson"),
            ("openvx", "openvex"),
        ] {
            assert_eq!(
                parse_predicate_type(typo),
                Err(PredicateTypeError::Typo {
                    given: typo.into(),
                    suggestion: meant
                }),
                "{typo}"
            );
        }
        for junk in [
            "sbom-of-the-release",
            "",
            ":x",
            "1http:x",
            "https:",
            "https://a b",
            "/abs/path",
        ] {
            assert_eq!(
                parse_predicate_type(junk),
                Err(PredicateTypeError::Unknown(junk.into())),
                "{junk}"
            );
        }
        let long = format!("https://{}", "a".repeat(MAX_PREDICATE_TYPE_LEN));
        assert!(parse_predicate_type(&long).is_err());
        assert_eq!(predicate_type("cyclonedx"), "https://cyclonedx.org/bom");
        assert_eq!(predicate_type("urn:x"), "urn:x");
    }

    #[test]
    fn repeated_keys_in_a_statement_are_refused() {
        let this = "a".repeat(64);
        let other = "b".repeat(64);
        let st = |subject: &str, predicate: &str| {
            format!(
                r#"{{"_type":"{STATEMENT_V1}","subject":[{subject}],"predicateType":"{COSIGN_SIGN_V1}","predicate":{predicate}}}"#
            )
        };
        let good = st(
            &format!(r#"{{"name":"r/app","digest":{{"sha256":"{this}"}}}}"#),
            "{}",
        );
        let parsed = Statement::parse(good.as_bytes()).unwrap();
        assert_eq!(parsed.subject[0].digest["sha256"], this);
        for forged in [
            // The subject digest map repeating sha256: last-wins readers see `this`, others
            // refuse or see `other`.
            st(
                &format!(r#"{{"name":"r/app","digest":{{"sha256":"{other}","sha256":"{this}"}}}}"#),
                "{}",
            ),
            st(
                &format!(
                    r#"{{"name":"r/app","digest":{{"sha256":"{this}"}},"annotations":{{"tag":"v1","tag":"v2"}}}}"#
                ),
                "{}",
            ),
            st(
                &format!(r#"{{"name":"r/app","digest":{{"sha256":"{this}"}}}}"#),
                r#"{"builder":{"id":"a","id":"b"}}"#,
            ),
            good.replacen(
                "\"predicateType\"",
                "\"predicateType\":\"x\",\"predicateType\"",
                1,
            ),
        ] {
            let err = Statement::parse(forged.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("duplicate key"), "{forged}: {err}");
        }
    }
}
