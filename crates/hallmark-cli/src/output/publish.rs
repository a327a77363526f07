//! `digest`, `sign`, `attest` and `publish`: what was computed, signed or pushed
//! (docs/schema/digest.schema.json, sign.schema.json, publish.schema.json).

use hallmark::publish::Published;
use hallmark::sign::{Signed, SignedManifest, SignedRecursively};
use serde::Serialize;

use super::copy::BlobsOut;
use super::{Render, Text, V1};

/// `digest`'s document.
#[derive(Serialize)]
pub struct DigestResult {
    version: V1,
    source: String,
    digest: String,
}

impl DigestResult {
    pub fn new(source: String, digest: &hallmark::digest::Digest) -> Self {
        DigestResult {
            version: V1,
            source,
            digest: digest.to_string(),
        }
    }
}

impl Render for DigestResult {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        t.result(&self.digest)
    }
}

/// Says how many earlier signatures (or attestations: `what`) of the same key a new one
/// replaced.
fn replaced_note(replaced: usize, what: &str) -> String {
    match replaced {
        0 => String::new(),
        1 => format!(" (replacing this key's earlier {what}; --keep-existing keeps it)"),
        n => format!(" (replacing this key's {n} earlier {what}s; --keep-existing keeps them)"),
    }
}

/// Why earlier signatures by the signing key are still there: they say something else.
fn kept_note(kept: usize, what: &str) -> String {
    match kept {
        0 => String::new(),
        1 => format!(" (kept 1 earlier {what} by this key with other annotations)"),
        n => format!(" (kept {n} earlier {what}s by this key with other annotations)"),
    }
}

/// `publish`'s document.
#[derive(Serialize)]
pub struct PublishResult<'a> {
    version: V1,
    reference: &'a str,
    digest: String,
    tags: &'a [String],
    signature: &'a str,
    replaced: usize,
    blobs: BlobsOut,
    /// Every manifest an index lists, signed too; absent for a single manifest.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    manifests: Vec<ManifestOut<'a>>,
}

/// One manifest listed by a signed index, signed too.
#[derive(Serialize)]
pub struct ManifestOut<'a> {
    reference: &'a str,
    digest: String,
    platform: Option<&'a str>,
    signature: &'a str,
    added: bool,
    replaced: usize,
}

impl<'a> From<&'a SignedManifest> for ManifestOut<'a> {
    fn from(m: &'a SignedManifest) -> Self {
        ManifestOut {
            reference: &m.signed.reference,
            digest: m.signed.digest.to_string(),
            platform: m.platform.as_deref(),
            signature: &m.signed.signature,
            added: m.signed.added,
            replaced: m.signed.replaced,
        }
    }
}

/// One line per manifest signed besides the top one.
fn say_manifests(t: &mut Text<'_>, manifests: &[ManifestOut<'_>]) {
    for m in manifests {
        t.say(format!(
            "signed {} ({}), signature {}{}",
            m.reference,
            m.platform.unwrap_or("no platform"),
            m.signature,
            replaced_note(m.replaced, "signature"),
        ));
    }
}

impl<'a> From<&'a Published> for PublishResult<'a> {
    fn from(p: &'a Published) -> Self {
        PublishResult {
            version: V1,
            reference: &p.reference,
            digest: p.digest.to_string(),
            tags: &p.tags,
            signature: &p.signature,
            replaced: p.replaced,
            blobs: (&p.blobs).into(),
            manifests: p.manifests.iter().map(ManifestOut::from).collect(),
        }
    }
}

impl Render for PublishResult<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        let b = &self.blobs;
        say_manifests(t, &self.manifests);
        t.say(format!(
            "published {} ({} uploaded, {} already present, {} mounted; {} bytes sent), signature {}{}{}",
            self.digest,
            b.uploaded,
            b.present,
            b.mounted,
            b.bytes_uploaded,
            self.signature,
            replaced_note(self.replaced, "signature"),
            if self.tags.is_empty() {
                String::new()
            } else {
                format!(", tags {}", self.tags.join(", "))
            }
        ));
        t.result(self.reference)
    }
}

/// `sign`'s and `attest`'s document.
#[derive(Serialize)]
pub struct SignResult<'a> {
    version: V1,
    reference: &'a str,
    digest: String,
    signature: &'a str,
    added: bool,
    replaced: usize,
    /// With --recursive: every manifest the index lists, signed too.
    #[serde(skip_serializing_if = "Option::is_none")]
    manifests: Option<Vec<ManifestOut<'a>>>,
    /// Earlier signatures by this key that stay: they record other annotations.
    kept: usize,
    /// The attestation's predicate type; none for a signature.
    #[serde(skip)]
    attested: Option<&'a str>,
}

impl<'a> From<&'a Signed> for SignResult<'a> {
    fn from(s: &'a Signed) -> Self {
        SignResult {
            version: V1,
            reference: &s.reference,
            digest: s.digest.to_string(),
            signature: &s.signature,
            added: s.added,
            replaced: s.replaced,
            manifests: None,
            kept: s.kept,
            attested: None,
        }
    }
}

impl<'a> SignResult<'a> {
    /// `sign --recursive`'s result: the top signature and every manifest signed with it
    /// (an empty list for a single manifest, which lists none).
    pub fn recursive(s: &'a SignedRecursively) -> Self {
        SignResult {
            manifests: Some(s.manifests.iter().map(ManifestOut::from).collect()),
            ..SignResult::from(&s.top)
        }
    }

    /// `attest`'s result: the same document, said as an attestation of `predicate_type`.
    pub fn attested(s: &'a Signed, predicate_type: &'a str) -> Self {
        SignResult {
            attested: Some(predicate_type),
            ..SignResult::from(s)
        }
    }
}

impl Render for SignResult<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        let (done, what) = match self.attested {
            Some(predicate_type) => (
                format!("attested {} ({predicate_type})", self.reference),
                "attestation",
            ),
            None => (format!("signed {}", self.reference), "signature"),
        };
        if let Some(manifests) = &self.manifests {
            say_manifests(t, manifests);
        }
        t.say(format!(
            "{done}{}{}{}",
            if self.added {
                String::new()
            } else {
                format!(" (this {what} was already present)")
            },
            replaced_note(self.replaced, what),
            kept_note(self.kept, what)
        ));
        t.result(self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::super::render_text;
    use super::*;

    #[test]
    fn an_attestation_is_said_to_be_attested() {
        let signed = |attested| SignResult {
            version: V1,
            reference: "reg.example/app@sha256:1234",
            digest: String::new(),
            signature: "reg.example/app@sha256:5678",
            added: true,
            replaced: 1,
            manifests: None,
            kept: 0,
            attested,
        };
        let (out, err) = render_text(&signed(Some("https://cyclonedx.org/bom")), false);
        assert_eq!(out, "reg.example/app@sha256:5678\n");
        assert_eq!(
            err,
            "attested reg.example/app@sha256:1234 (https://cyclonedx.org/bom) (replacing this key's earlier attestation; --keep-existing keeps it)\n"
        );
        let (_, err) = render_text(&signed(None), false);
        assert!(
            err.starts_with("signed reg.example/app@sha256:1234 ("),
            "{err}"
        );
        assert!(err.contains("earlier signature;"), "{err}");
    }
}
