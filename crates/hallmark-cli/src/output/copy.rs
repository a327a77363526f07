//! `copy`: what was copied, or the verification that stopped it
//! (docs/schema/copy.schema.json).

use hallmark::copy::Copied;
use hallmark::report::Report;
use hallmark::transfer::BlobCounts;
use serde::Serialize;

use super::verify::ReportOut;
use super::{Render, Text, V1};

/// What happened to the blobs of a transfer.
#[derive(Serialize)]
pub struct BlobsOut {
    pub(super) uploaded: usize,
    pub(super) present: usize,
    pub(super) mounted: usize,
    pub(super) bytes_uploaded: u64,
}

impl From<&BlobCounts> for BlobsOut {
    fn from(b: &BlobCounts) -> Self {
        BlobsOut {
            uploaded: b.uploaded,
            present: b.present,
            mounted: b.mounted,
            bytes_uploaded: b.bytes_uploaded,
        }
    }
}

/// `copy`'s document.
#[derive(Serialize)]
pub struct CopyResult<'a> {
    version: V1,
    #[serde(flatten)]
    body: Body<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Body<'a> {
    Copied {
        verification: ReportOut<'a>,
        reference: &'a str,
        digest: String,
        tags: &'a [String],
        signature: Option<&'a str>,
        blobs: BlobsOut,
        copied: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        platform: Option<&'a hallmark::copy::PlatformCopied>,
    },
    Refused {
        verification: ReportOut<'a>,
        copied: bool,
    },
}

impl<'a> CopyResult<'a> {
    /// A copy made.
    pub fn copied(c: &'a Copied) -> Self {
        CopyResult {
            version: V1,
            body: Body::Copied {
                verification: ReportOut::new(&c.verification),
                reference: &c.reference,
                digest: c.digest.to_string(),
                tags: &c.tags,
                signature: c.signature.as_deref(),
                blobs: (&c.blobs).into(),
                copied: true,
                platform: c.platform.as_ref(),
            },
        }
    }

    /// A copy refused: the source did not verify.
    pub fn refused(report: &'a Report) -> Self {
        CopyResult {
            version: V1,
            body: Body::Refused {
                verification: ReportOut::new(report),
                copied: false,
            },
        }
    }

    /// Why the source did not verify, on stderr.
    pub fn denied(&self, t: &mut Text<'_>) {
        match &self.body {
            Body::Copied { verification, .. } | Body::Refused { verification, .. } => {
                verification.denied(t)
            }
        }
    }
}

impl Render for CopyResult<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        match &self.body {
            Body::Refused { verification, .. } => {
                verification.denied(t);
                Ok(())
            }
            Body::Copied {
                reference,
                digest,
                signature,
                blobs,
                platform,
                ..
            } => {
                t.say(format!(
                    "copied {} ({} blobs uploaded, {} mounted, {} already present; {} bytes){}",
                    digest,
                    blobs.uploaded,
                    blobs.mounted,
                    blobs.present,
                    blobs.bytes_uploaded,
                    match (signature, platform) {
                        (Some(s), _) => format!(", signature {s}"),
                        (None, Some(_)) => String::new(),
                        (None, None) => " (no signature copied: none was checked)".into(),
                    }
                ));
                if let (None, Some(p)) = (signature, platform) {
                    // Said even under --quiet: a later verify of the copy will fail.
                    t.loud(format!(
                        "warning: the copy of {} has no signature: only its index {} was signed, and the index was not copied; sign the platform manifests at the source (hallmark sign --recursive SOURCE@{}) and copy again, or sign the copy",
                        p.platform, p.index, p.index
                    ));
                }
                t.result(reference)
            }
        }
    }
}
