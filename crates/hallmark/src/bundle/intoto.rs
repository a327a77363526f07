//! in-toto Statement v1: subjects (name and digests) and a typed predicate.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// `_type` of a Statement v1.
pub(crate) const STATEMENT_V1: &str = "https://in-toto.io/Statement/v1";
/// `_type` of a Statement v0.1 (what `cosign attest` 3.1 still writes).
pub(crate) const STATEMENT_V01: &str = "https://in-toto.io/Statement/v0.1";

/// Predicate types by the short names cosign accepts for `--type`; anything else is taken
/// as the predicate type's URI itself.
pub fn predicate_type(name: &str) -> &str {
    match name {
        "slsaprovenance" | "slsaprovenance02" => "https://slsa.dev/provenance/v0.2",
        "slsaprovenance1" => "https://slsa.dev/provenance/v1",
        "spdx" | "spdxjson" => "https://spdx.dev/Document",
        "cyclonedx" => "https://cyclonedx.org/bom",
        "vuln" => "https://cosign.sigstore.dev/attestation/vuln/v1",
        "custom" => "https://cosign.sigstore.dev/attestation/v1",
        other => other,
    }
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
