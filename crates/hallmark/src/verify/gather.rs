//! Fetching every signature candidate of a digest into plain data. Nothing here decides
//! whether a signature counts; a candidate that cannot even be read carries the reason.

use bytes::Bytes;

use crate::digest::Digest;
use crate::oci::Manifest;
use crate::payload::MAX_PAYLOAD_BYTES;
use crate::report::{Rejection, SignatureFormat};
use crate::signature;
use crate::store::Target;
use crate::{Error, ErrorClass};

/// A signature and the exact payload bytes it claims to sign.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    /// The payload, as stored (its digest was checked on read).
    pub payload: Bytes,
    /// The raw signature.
    pub signature: Vec<u8>,
}

/// One signature as found.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// How it is stored.
    pub format: SignatureFormat,
    /// Its position among the signatures of its format.
    pub index: usize,
    /// What to check, or why there is nothing to check.
    pub material: Result<Material, Rejection>,
}

/// Every signature candidate of one digest.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    /// The digest the candidates are for.
    pub digest: Digest,
    /// The candidates, in the order they were found.
    pub candidates: Vec<Candidate>,
    /// The legacy signature manifest as read, to carry along when copying.
    pub legacy_manifest: Option<Manifest>,
    /// Why there are no candidates, when there are none.
    pub(super) absent: Option<Rejection>,
}

impl Evidence {
    /// Evidence made of these candidates (for judging material gathered elsewhere).
    pub fn new(digest: Digest, candidates: Vec<Candidate>) -> Evidence {
        Evidence {
            digest,
            candidates,
            legacy_manifest: None,
            absent: None,
        }
    }
}

/// Reads every signature of `digest` where `target` keeps signatures.
///
/// Registry outages are errors; anything wrong with a signature itself (missing payload,
/// corrupt bytes, bad annotation) is recorded on its candidate.
pub async fn gather(target: &Target, digest: &Digest) -> Result<Evidence, Error> {
    let mut evidence = Evidence::new(digest.clone(), Vec::new());
    let tag = signature::signature_tag(digest);
    let Some(manifest) = target.signatures.get_manifest(&tag).await? else {
        evidence.absent = Some(Rejection::NoSignature {
            location: target.signatures.tagged(&tag),
        });
        return Ok(evidence);
    };
    let layers = match signature::parse_layers(&manifest) {
        Ok(l) => l,
        Err(e) => {
            evidence.absent = Some(Rejection::UnusableManifest(e.to_string()));
            return Ok(evidence);
        }
    };
    if layers.is_empty() {
        evidence.absent = Some(Rejection::NoSignatureLayer);
    }
    for layer in layers {
        let material = match layer.signature {
            Err(problem) => Err(Rejection::Layer(problem)),
            Ok(_) if layer.payload_size > MAX_PAYLOAD_BYTES => {
                Err(Rejection::PayloadTooLarge(layer.payload_size))
            }
            Ok(sig) => match target
                .signatures
                .get_blob(&layer.payload_digest, MAX_PAYLOAD_BYTES)
                .await
            {
                Ok(Some(payload)) => Ok(Material {
                    payload,
                    signature: sig,
                }),
                Ok(None) => Err(Rejection::PayloadMissing(layer.payload_digest.clone())),
                Err(e) if e.class() == ErrorClass::Denied => {
                    Err(Rejection::PayloadCorrupt(e.to_string()))
                }
                Err(e) => return Err(e),
            },
        };
        evidence.candidates.push(Candidate {
            format: SignatureFormat::Legacy,
            index: layer.index,
            material,
        });
    }
    evidence.legacy_manifest = Some(manifest);
    Ok(evidence)
}
