//! `digest`, `sign`, `attest` and `publish`: what was computed, signed or pushed
//! (docs/schema/digest.schema.json, sign.schema.json, publish.schema.json).

use hallmark::publish::Published;
use hallmark::sign::Signed;
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

/// Says how many earlier signatures of the same key a new one replaced.
fn replaced_note(replaced: usize) -> String {
    match replaced {
        0 => String::new(),
        1 => " (replacing this key's earlier signature; --keep-existing keeps it)".into(),
        n => format!(" (replacing this key's {n} earlier signatures; --keep-existing keeps them)"),
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
        }
    }
}

impl Render for PublishResult<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        let b = &self.blobs;
        t.say(format!(
            "published {} ({} uploaded, {} already present, {} mounted; {} bytes sent), signature {}{}{}",
            self.digest,
            b.uploaded,
            b.present,
            b.mounted,
            b.bytes_uploaded,
            self.signature,
            replaced_note(self.replaced),
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
        }
    }
}

impl Render for SignResult<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        t.say(format!(
            "signed {}{}{}",
            self.reference,
            if self.added {
                ""
            } else {
                " (this signature was already present)"
            },
            replaced_note(self.replaced)
        ));
        t.result(self.signature)
    }
}
