//! Fetching every signature candidate of a digest into plain data. Nothing here decides
//! whether a signature counts; a candidate that cannot even be read carries the reason.

use bytes::Bytes;

use crate::bundle::{BUNDLE_MEDIA_TYPES, BUNDLE_V03, MAX_BUNDLE_BYTES};
use crate::digest::Digest;
use crate::oci::Manifest;
use crate::payload::MAX_PAYLOAD_BYTES;
use crate::report::{Rejection, SignatureFormat};
use crate::signature;
use crate::store::Target;
use crate::{Error, ErrorClass};

/// What a candidate's signature is over, as read (every blob's digest checked on read).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Material {
    /// A legacy `.sig` layer: the simple-signing payload and the raw signature.
    Legacy {
        /// The payload bytes.
        payload: Bytes,
        /// The digest the layer names them by (checked on read): with the signature, what
        /// names the layer.
        payload_digest: Digest,
        /// The raw signature.
        signature: Vec<u8>,
        /// Certificate, chain, log entry and timestamp, when cosign wrote them.
        sigstore: signature::SigstoreAnnotations,
    },
    /// A Sigstore bundle found as a referrer.
    Bundle {
        /// The bundle's bytes.
        bundle: Bytes,
        /// The referrer manifest that holds it.
        referrer: Digest,
    },
}

/// A bundle referrer as read: its manifest and the bundle blob, to carry along when
/// copying.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Referrer {
    /// The referrer manifest.
    pub manifest: Manifest,
    /// Its one layer, the bundle.
    pub bundle: Bytes,
}

/// Most referrers looked at for one digest: bounds the work a hostile registry can cause.
pub(crate) const MAX_REFERRERS: usize = 256;

/// One signature as found.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    /// How it is stored.
    pub format: SignatureFormat,
    /// Its position among the signatures of its format.
    pub index: usize,
    /// What to check, or why there is nothing to check.
    pub material: Result<Material, Rejection>,
}

/// Every signature candidate of one digest.
#[derive(Debug, Clone)]
pub(crate) struct Evidence {
    /// The digest the candidates are for.
    pub digest: Digest,
    /// The candidates, in the order they were found.
    pub candidates: Vec<Candidate>,
    /// The legacy signature manifest as read, to carry along when copying.
    pub legacy_manifest: Option<Manifest>,
    /// The bundle referrers as read, to carry along when copying.
    pub referrers: Vec<Referrer>,
    /// Why there are no candidates, when there are none.
    pub(super) absent: Option<Rejection>,
}

impl Evidence {
    /// Evidence made of these candidates (for judging material gathered elsewhere).
    pub(crate) fn new(digest: Digest, candidates: Vec<Candidate>) -> Self {
        Self {
            digest,
            candidates,
            legacy_manifest: None,
            referrers: Vec::new(),
            absent: None,
        }
    }
}

/// Reads every signature of `digest` where `target` keeps signatures: legacy `.sig`
/// layers and Sigstore bundle referrers.
///
/// Registry outages are errors; anything wrong with a signature itself (missing payload,
/// corrupt bytes, bad annotation, a referrer of another image) is recorded on its
/// candidate.
pub(crate) async fn gather(target: &Target, digest: &Digest) -> Result<Evidence, Error> {
    gather_known(target, digest, None).await
}

/// What a scan already knows from a repository's tag list, so that gathering asks only
/// for signatures that exist.
#[derive(Debug, Clone, Default)]
pub(crate) struct Known {
    /// Every tag of the signature repository.
    pub tags: std::collections::HashSet<String>,
    /// Whether the registry answers the referrers API.
    pub referrers_api: bool,
}

/// [`gather`], skipping the requests `known` says would find nothing.
pub(crate) async fn gather_known(
    target: &Target,
    digest: &Digest,
    known: Option<&Known>,
) -> Result<Evidence, Error> {
    let mut evidence = Evidence::new(digest.clone(), Vec::new());
    let legacy_absent = gather_legacy(target, digest, &mut evidence, known).await?;
    gather_bundles(target, digest, &mut evidence, known).await?;
    if evidence.candidates.is_empty() {
        evidence.absent = Some(legacy_absent.unwrap_or(Rejection::NoSignatureLayer));
    }
    Ok(evidence)
}

/// Like [`gather`], for one format only: what a new signature in that format replaces.
pub(crate) async fn gather_format(
    target: &Target,
    digest: &Digest,
    format: SignatureFormat,
) -> Result<Evidence, Error> {
    let mut evidence = Evidence::new(digest.clone(), Vec::new());
    match format {
        SignatureFormat::Legacy => {
            gather_legacy(target, digest, &mut evidence, None).await?;
        }
        SignatureFormat::Bundle => gather_bundles(target, digest, &mut evidence, None).await?,
    }
    Ok(evidence)
}

/// Reads a small blob, recording what is wrong with it rather than failing, except on an
/// outage.
async fn small_blob(
    target: &Target,
    digest: &Digest,
    limit: u64,
) -> Result<Result<Bytes, Rejection>, Error> {
    match target.signatures.get_blob(digest, limit).await {
        Ok(Some(b)) => Ok(Ok(b)),
        Ok(None) => Ok(Err(Rejection::PayloadMissing(digest.clone()))),
        Err(e) if e.class() == ErrorClass::Denied => {
            Ok(Err(Rejection::PayloadCorrupt(std::sync::Arc::new(e))))
        }
        Err(e) => Err(e),
    }
}

/// The `.sig` layers; returns why there are none, when there are none.
async fn gather_legacy(
    target: &Target,
    digest: &Digest,
    evidence: &mut Evidence,
    known: Option<&Known>,
) -> Result<Option<Rejection>, Error> {
    let tag = signature::signature_tag(digest);
    let listed = known.is_none_or(|k| k.tags.contains(&tag));
    let found = if listed {
        target.signatures.get_manifest(&tag).await?
    } else {
        None
    };
    let Some(manifest) = found else {
        return Ok(Some(Rejection::NoSignature {
            location: target.signatures.tagged(&tag),
        }));
    };
    let layers = match signature::parse_layers(&manifest) {
        Ok(l) => l,
        Err(e) => return Ok(Some(Rejection::UnusableManifest(std::sync::Arc::new(e)))),
    };
    for layer in layers {
        let material = match layer.signature {
            Err(problem) => Err(Rejection::Layer(problem)),
            Ok(_) if layer.payload_size > MAX_PAYLOAD_BYTES => {
                Err(Rejection::PayloadTooLarge(layer.payload_size))
            }
            Ok(sig) => small_blob(target, &layer.payload_digest, MAX_PAYLOAD_BYTES)
                .await?
                .map(|payload| Material::Legacy {
                    payload,
                    payload_digest: layer.payload_digest.clone(),
                    signature: sig,
                    sigstore: layer.sigstore.clone(),
                }),
        };
        evidence.candidates.push(Candidate {
            format: SignatureFormat::Legacy,
            index: layer.index,
            material,
        });
    }
    evidence.legacy_manifest = Some(manifest);
    Ok(None)
}

/// The Sigstore bundle referrers. Referrers of other kinds (SBOMs, attestations of other
/// tools) are not signatures and are passed over.
async fn gather_bundles(
    target: &Target,
    digest: &Digest,
    evidence: &mut Evidence,
    known: Option<&Known>,
) -> Result<(), Error> {
    let index = match known {
        None => target.signatures.referrers(digest).await?,
        Some(k) => {
            let fallback = k.tags.contains(&crate::oci::referrers_tag(digest));
            target
                .signatures
                .referrers_from(digest, k.referrers_api, fallback)
                .await?
        }
    };
    for (i, entry) in index.entries().iter().take(MAX_REFERRERS).enumerate() {
        let Some(m) = target
            .signatures
            .get_manifest(&entry.digest.to_string())
            .await?
        else {
            continue;
        };
        let Ok(info) = m.artifact() else { continue };
        let bundle_layer = info
            .layers
            .first()
            .is_some_and(|l| BUNDLE_MEDIA_TYPES.contains(&l.media_type.as_str()));
        if info.artifact_type.as_deref() != Some(BUNDLE_V03) && !bundle_layer {
            continue;
        }
        let material = match (&info.subject, info.layers.as_slice()) {
            (s, _) if s.as_ref().map(|s| &s.digest) != Some(digest) => {
                Err(Rejection::ReferrerOfAnother {
                    referrer: m.digest.clone(),
                    subject: s.as_ref().map(|s| s.digest.to_string()),
                })
            }
            (_, [layer]) if !BUNDLE_MEDIA_TYPES.contains(&layer.media_type.as_str()) => {
                Err(Rejection::BundleMediaType(layer.media_type.clone()))
            }
            (_, [layer]) if layer.size > MAX_BUNDLE_BYTES => {
                Err(Rejection::BundleTooLarge(layer.size))
            }
            (_, [layer]) => small_blob(target, &layer.digest, MAX_BUNDLE_BYTES)
                .await?
                .map(|bundle| {
                    evidence.referrers.push(Referrer {
                        manifest: m.clone(),
                        bundle: bundle.clone(),
                    });
                    Material::Bundle {
                        bundle,
                        referrer: m.digest.clone(),
                    }
                }),
            (_, layers) => Err(Rejection::BundleLayers(layers.len())),
        };
        evidence.candidates.push(Candidate {
            format: SignatureFormat::Bundle,
            index: i,
            material,
        });
    }
    Ok(())
}
