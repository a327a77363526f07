//! The simple-signing payload: the exact bytes that are signed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::digest::Digest;
use crate::reference::ImageRef;

/// `critical.type` of a container image signature.
pub(crate) const SIGNATURE_TYPE: &str = "cosign container image signature";
/// Largest payload accepted: real ones are a few hundred bytes.
pub(crate) const MAX_PAYLOAD_BYTES: u64 = 64 * 1024;
/// Optional fields hallmark gives a meaning to.
/// Tags this signature binds, comma-separated (the rollback defence).
pub(crate) const TAG_FIELD: &str = "tag";
/// When it was signed (RFC 3339).
pub(crate) const TIMESTAMP_FIELD: &str = "timestamp";
/// The tool that signed.
pub(crate) const CREATOR_FIELD: &str = "creator";
/// Fields `-a` may not set: hallmark writes them.
pub(crate) const RESERVED_FIELDS: [&str; 3] = [TAG_FIELD, TIMESTAMP_FIELD, CREATOR_FIELD];

/// A simple-signing payload as cosign writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SimpleSigning {
    /// What is signed.
    pub critical: Critical,
    /// cosign writes `null` when there are no annotations.
    #[serde(default)]
    pub optional: Option<BTreeMap<String, serde_json::Value>>,
}

/// The signed claims.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Critical {
    /// The repository.
    pub identity: Identity,
    /// The manifest digest.
    pub image: Image,
    /// `SIGNATURE_TYPE`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Identity {
    /// The repository signed for (skopeo adds a tag).
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    /// The manifest digest signed.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl SimpleSigning {
    /// A payload for `digest` in repository `identity`; `optional` already holds the
    /// caller's annotations and any reserved fields.
    pub fn new(
        identity: &str,
        digest: &Digest,
        optional: BTreeMap<String, serde_json::Value>,
    ) -> Self {
        Self {
            critical: Critical {
                identity: Identity {
                    docker_reference: identity.to_string(),
                },
                image: Image {
                    docker_manifest_digest: digest.to_string(),
                },
                kind: SIGNATURE_TYPE.to_string(),
            },
            optional: if optional.is_empty() {
                None
            } else {
                Some(optional)
            },
        }
    }

    /// The exact bytes to sign.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serialising a plain struct cannot fail")
    }

    /// Parses payload bytes; a key repeated anywhere in them is refused (see `crate::json`).
    pub fn parse(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        crate::json::from_slice_unique(bytes)
    }

    /// The optional field as a string, if it is one.
    pub(crate) fn optional_str(&self, key: &str) -> Option<&str> {
        self.optional.as_ref()?.get(key)?.as_str()
    }

    /// Tags this signature binds: `optional.tag` (comma-separated) and, in the skopeo form,
    /// the tag in `docker-reference`.
    pub fn bound_tags(&self) -> Vec<String> {
        let mut tags: Vec<String> = self
            .optional_str(TAG_FIELD)
            .map(split_tags)
            .unwrap_or_default();
        if let Ok(r) = ImageRef::parse(&self.critical.identity.docker_reference)
            && let Some(t) = r.tag()
        {
            tags.push(t.to_string());
        }
        tags
    }

    /// The signed repository, normalised (`alpine` → `docker.io/library/alpine`), without
    /// any tag. Identities that are not registry names (layouts) are returned as written.
    pub fn signed_repository(&self) -> String {
        normalize_identity(&self.critical.identity.docker_reference)
    }
}

/// The tags of a `tag` field: comma-separated, blanks ignored.
pub(crate) fn split_tags(field: &str) -> Vec<String> {
    field
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// One spelling per repository, for comparing identities: registry names are parsed and
/// printed back without tag or digest (`index.docker.io/x` → `docker.io/library/x`).
pub(crate) fn normalize_identity(identity: &str) -> String {
    match ImageRef::parse(identity) {
        Ok(parsed) if !identity.starts_with("oci:") => parsed.name(),
        _ => identity.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosign_and_skopeo_forms() {
        let cosign = br#"{"critical":{"identity":{"docker-reference":"index.docker.io/library/alpine"},"image":{"docker-manifest-digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"type":"cosign container image signature"},"optional":null}"#;
        let p = SimpleSigning::parse(cosign).unwrap();
        assert_eq!(p.signed_repository(), "docker.io/library/alpine");
        assert!(p.bound_tags().is_empty());
        let skopeo = br#"{"critical":{"identity":{"docker-reference":"reg.example.com/app:v1.1"},"image":{"docker-manifest-digest":"sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},"type":"cosign container image signature"},"optional":{"tag":"latest, v1"}}"#;
        let p = SimpleSigning::parse(skopeo).unwrap();
        assert_eq!(p.signed_repository(), "reg.example.com/app");
        assert_eq!(p.bound_tags(), vec!["latest", "v1", "v1.1"]);
        assert!(SimpleSigning::parse(b"{}").is_err());
    }

    #[test]
    fn repeated_keys_are_refused_wherever_they_are() {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let e = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        let critical = format!(
            r#"{{"identity":{{"docker-reference":"reg.example.com/app"}},"image":{{"docker-manifest-digest":"{d}"}},"type":"cosign container image signature"}}"#
        );
        let good = format!(r#"{{"critical":{critical},"optional":{{"tag":"v1"}}}}"#);
        assert!(SimpleSigning::parse(good.as_bytes()).is_ok());
        for forged in [
            // Go and serde_json maps keep the last value: the signer saw v1 bound, the
            // verifier would read v2.
            format!(r#"{{"critical":{critical},"optional":{{"tag":"v1","tag":"v2"}}}}"#),
            good.replace(
                &format!(r#""docker-manifest-digest":"{d}""#),
                &format!(r#""docker-manifest-digest":"{e}","docker-manifest-digest":"{d}""#),
            ),
            format!(r#"{{"critical":{critical},"critical":{critical},"optional":null}}"#),
            format!(r#"{{"critical":{critical},"optional":{{"a":{{"b":[{{"c":1,"c":2}}]}}}}}}"#),
        ] {
            let err = SimpleSigning::parse(forged.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains("duplicate"), "{forged}: {err}");
        }
    }

    #[test]
    fn identities_compare_in_one_spelling() {
        assert_eq!(
            normalize_identity("index.docker.io/library/alpine"),
            "docker.io/library/alpine"
        );
        assert_eq!(normalize_identity("alpine"), "docker.io/library/alpine");
        assert_eq!(normalize_identity("reg.io:5000/a/b:v1"), "reg.io:5000/a/b");
        assert_eq!(normalize_identity("oci:/tmp/lay"), "oci:/tmp/lay");
        assert_eq!(normalize_identity("reg.io/team/*"), "reg.io/team/*");
    }

    #[test]
    fn empty_optional_is_omitted_as_null() {
        let d = Digest::sha256(b"x");
        let p = SimpleSigning::new("reg.example.com/app", &d, BTreeMap::new());
        let s = String::from_utf8(p.to_bytes()).unwrap();
        assert!(s.ends_with(r#""optional":null}"#), "{s}");
        assert_eq!(SimpleSigning::parse(s.as_bytes()).unwrap(), p);
    }
}
