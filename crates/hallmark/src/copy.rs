//! Verified consumption: copy exactly the digest that was verified, every byte checked.
//!
//! The caller verifies first; this module only ever reads the source by that digest, so a
//! tag moved after verification changes nothing. Blobs are streamed and hashed on the way
//! and only committed at the destination when they match; manifests, the signature and
//! tags are written after every blob arrived intact. The signature written is the one
//! that was verified, carried along, never read again by tag.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;

use crate::Error;
use crate::bundle::BUNDLE_V03;
use crate::digest::Digest;
use crate::oci::{EMPTY_JSON, Manifest, Walk};
use crate::payload::MAX_PAYLOAD_BYTES;
use crate::report::Report;
use crate::signature;
use crate::store::{Destination, Store, Target};
use crate::transfer::{self, BlobCounts, TransferProgress};
use crate::verify::{Evidence, Material, PlatformVerification, SignedBy, Verification};

/// How to copy.
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Blobs copied at once.
    pub concurrency: usize,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self { concurrency: 4 }
    }
}

/// What was copied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Copied {
    /// The verification the copy rests on.
    pub verification: Report,
    /// At the destination: `reg/repo@sha256:…` of what was copied.
    pub reference: String,
    /// The copied digest.
    pub digest: Digest,
    /// Tags set at the destination.
    pub tags: Vec<String>,
    /// Where the copied signature is; none when there was none to carry (a platform taken
    /// out of an index that alone was signed: see [`PlatformCopied`]).
    pub signature: Option<String>,
    /// What happened to the blobs.
    pub blobs: BlobCounts,
    /// For one platform taken out of an index: which.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformCopied>,
}

/// One platform taken out of an index by [`copy_platform`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct PlatformCopied {
    /// The platform asked for (`os/arch[/variant]`).
    pub platform: String,
    /// The index it was taken from (not copied).
    pub index: Digest,
    /// Whose signature made it trusted at the source.
    pub signed_by: SignedBy,
    /// The platform manifest's own signatures were carried along; false when only the
    /// index was signed (the destination then holds no signature for what was copied).
    pub signature_copied: bool,
}

/// Between two repositories of one registry, blobs are mounted from the source instead
/// of being sent again (the registry checks that the source holds them and that the
/// credentials may read it; otherwise the blob is uploaded as usual).
fn mount_sources(source: &Store, dest: &Store) -> Vec<String> {
    match (source, dest) {
        (Store::Registry { repo: from, .. }, Store::Registry { repo: to, .. })
            if crate::reference::canonical_host(from.registry())
                == crate::reference::canonical_host(to.registry())
                && from.repository() != to.repository() =>
        {
            vec![from.repository().to_string()]
        }
        _ => Vec::new(),
    }
}

/// Copies the verified artifact from `source` to `dest`.
pub async fn copy(
    source: &Target,
    verification: &Verification,
    dest: &Destination,
    opts: &CopyOptions,
    progress: Arc<dyn TransferProgress>,
) -> Result<Copied, Error> {
    // The decision is the verifier's: a `Verification` cannot be made or changed elsewhere.
    let report = verification.report();
    if !report.allowed() {
        return Err(Error::NotVerified(report.reference().to_string()));
    }
    verified_here(source, report)?;
    let verified = fetch(&source.store, report.digest()).await?;
    copy_verified(
        source,
        verified,
        verification.evidence(),
        report,
        dest,
        opts,
        progress,
    )
    .await
}

/// Copies one platform manifest of a verified index (with everything it references), and
/// the platform manifest's own signatures when they verified. The index's signature is
/// not carried: without the index at the destination, nothing would read it there.
pub async fn copy_platform(
    source: &Target,
    verification: &PlatformVerification,
    dest: &Destination,
    opts: &CopyOptions,
    progress: Arc<dyn TransferProgress>,
) -> Result<Copied, Error> {
    let Some(signed_by) = verification.signed_by() else {
        return Err(Error::NotVerified(verification.reference().to_string()));
    };
    verified_here(source, verification.index().report())?;
    let child = verification.child().filter(|c| c.report().allowed());
    let evidence = child.and_then(Verification::evidence);
    let mut copied = copy_verified(
        source,
        verification.manifest().clone(),
        evidence,
        verification.report(),
        dest,
        opts,
        progress,
    )
    .await?;
    copied.platform = Some(PlatformCopied {
        platform: verification.platform().to_string(),
        index: verification.index_digest().clone(),
        signed_by,
        signature_copied: copied.signature.is_some(),
    });
    Ok(copied)
}

/// A verification of one repository must not let another one's copy of the digest
/// through: the signatures carried along would be the other's, never judged.
fn verified_here(source: &Target, report: &Report) -> Result<(), Error> {
    let here = source.store.pinned(report.digest());
    if report.reference() != here {
        return Err(Error::VerifiedElsewhere {
            verified: report.reference().to_string(),
            source_name: here,
        });
    }
    Ok(())
}

/// Copies `top` (checked against its digest) and everything it references, then the
/// signatures in `evidence` (read while verifying `top`'s digest), then the tags.
async fn copy_verified(
    source: &Target,
    top: Manifest,
    evidence: Option<&Evidence>,
    report: &Report,
    dest: &Destination,
    opts: &CopyOptions,
    progress: Arc<dyn TransferProgress>,
) -> Result<Copied, Error> {
    progress.step("reading manifests");
    let malformed = |source_err| Error::Malformed {
        source_name: source.store.name(),
        source: source_err,
    };
    let mut walk = Walk::new(top.clone()).map_err(malformed)?;
    while let Some(child) = walk.next() {
        // Each child is fetched by the digest its parent names, so it is checked on arrival.
        walk.add(fetch(&source.store, &child.digest).await?)
            .map_err(malformed)?;
    }
    let graph = walk.finish();
    let blobs = graph
        .blobs
        .iter()
        .map(|d| source.store.blob(d))
        .collect::<Result<Vec<_>, _>>()?;

    let counts = transfer::push_blobs(
        &blobs,
        &dest.store,
        &mount_sources(&source.store, &dest.store),
        opts.concurrency,
        &progress,
    )
    .await?;
    progress.step("pushing manifests by digest");
    for m in &graph.manifests {
        dest.store.put_manifest(m, None).await?;
    }
    let mut signature = None;
    if let Some(evidence) = evidence.filter(|e| e.digest == top.digest) {
        progress.step("copying the signatures");
        if evidence.legacy_manifest.is_some() {
            copy_signature(&source.signatures, &dest.store, evidence).await?;
            signature = Some(dest.store.tagged(&signature::signature_tag(&top.digest)));
        }
        copy_referrers(&dest.store, evidence).await?;
        if signature.is_none() && !evidence.referrers.is_empty() {
            signature = Some(format!("{} (referrers)", dest.store.pinned(&top.digest)));
        }
    }
    progress.step("setting tags");
    transfer::set_tags(&dest.store, &top, &dest.tags).await?;
    Ok(Copied {
        verification: report.clone(),
        reference: dest.store.pinned(&top.digest),
        digest: top.digest,
        tags: dest.tags.clone(),
        signature,
        blobs: counts,
        platform: None,
    })
}

async fn fetch(store: &Store, digest: &Digest) -> Result<Manifest, Error> {
    store
        .require_manifest(&digest.to_string(), "manifest")
        .await
}

/// Writes the verified signature manifest at the destination, keeping any signature
/// already there. Its payloads come from the verification; the config blob, named by
/// digest in the verified manifest, is read by that digest.
async fn copy_signature(from: &Store, dest: &Store, evidence: &Evidence) -> Result<(), Error> {
    let Some(sig) = &evidence.legacy_manifest else {
        return Ok(());
    };
    let tag = signature::signature_tag(&evidence.digest);
    let payloads: HashMap<Digest, Bytes> = evidence
        .candidates
        .iter()
        .filter_map(|c| match &c.material {
            Ok(Material::Legacy { payload, .. }) => {
                Some((Digest::sha256(payload), payload.clone()))
            }
            _ => None,
        })
        .collect();
    let refs = sig.references().map_err(|e| Error::Malformed {
        source_name: from.name(),
        source: e,
    })?;
    for b in &refs.blobs {
        let bytes = match payloads.get(&b.digest) {
            Some(p) => p.clone(),
            None => from
                .get_blob(&b.digest, MAX_PAYLOAD_BYTES)
                .await?
                .ok_or_else(|| Error::NotFound {
                    what: "signature blob",
                    reference: from.pinned(&b.digest),
                })?,
        };
        dest.put_blob(&b.digest, bytes).await?;
    }
    if dest.get_manifest(&tag).await?.is_none() {
        dest.put_manifest(sig, Some(&tag)).await?;
        return Ok(());
    }
    for c in &evidence.candidates {
        if let Ok(Material::Legacy {
            payload,
            signature,
            sigstore,
            ..
        }) = &c.material
        {
            // A keyless or logged layer is verifiable only with its certificate and log
            // entry: they travel with it.
            crate::sign::store_signature(
                dest,
                &evidence.digest,
                payload,
                (signature, sigstore),
                &[],
            )
            .await?;
        }
    }
    Ok(())
}

/// Writes the bundle referrers that were read during verification at the destination,
/// found there the way the destination finds referrers (its API, or the fallback tag).
async fn copy_referrers(dest: &Store, evidence: &Evidence) -> Result<(), Error> {
    for r in &evidence.referrers {
        dest.put_blob(&Digest::sha256(EMPTY_JSON), Bytes::from_static(EMPTY_JSON))
            .await?;
        dest.put_blob(&Digest::sha256(&r.bundle), r.bundle.clone())
            .await?;
        dest.push_referrer(&r.manifest, &evidence.digest, BUNDLE_V03)
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::Image;
    use crate::keys::{Algorithm, SigningKey};
    use crate::layout::Layout;
    use crate::trust::{NamedKey, VerifyOptions};

    fn pinned(store: &Store, digest: &Digest) -> Target {
        Target {
            store: store.clone(),
            signatures: store.clone(),
            tag: None,
            digest: Some(digest.clone()),
        }
    }

    #[tokio::test]
    async fn a_verification_counts_only_for_the_place_it_was_made() {
        let dirs = [(); 3].map(|()| tempfile::tempdir().unwrap());
        let [signed, unsigned, dest] =
            [0, 1, 2].map(|i| Store::Layout(Layout::create(dirs[i].path()).unwrap()));
        let image = Image::random("app", 64).unwrap();
        image.push(&signed, None).await.unwrap();
        image.push(&unsigned, None).await.unwrap();
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let source = pinned(&signed, image.digest());
        crate::sign::sign(&source, &key, &crate::sign::SignOptions::default())
            .await
            .unwrap();
        let opts = VerifyOptions {
            keys: vec![NamedKey {
                name: "k".into(),
                key: key.public_key(),
            }],
            ..VerifyOptions::default()
        };
        let verification = crate::verify::verify(&source, &opts).await.unwrap();
        assert!(verification.report().allowed());
        let dest = Destination {
            store: dest,
            tags: Vec::new(),
        };
        let copy_from = |from: Target| {
            let (verification, dest) = (verification.clone(), dest.clone());
            async move {
                copy(
                    &from,
                    &verification,
                    &dest,
                    &CopyOptions::default(),
                    Arc::new(transfer::Quiet),
                )
                .await
            }
        };
        // The same digest elsewhere, with whatever signatures are there: refused.
        match copy_from(pinned(&unsigned, image.digest())).await {
            Err(Error::VerifiedElsewhere { .. }) => {}
            other => panic!("copied from a place never verified: {other:?}"),
        }
        // From where it was verified: copied, signature included.
        let copied = copy_from(source).await.unwrap();
        assert_eq!(&copied.digest, image.digest());
        assert!(copied.signature.is_some());
    }
}
