//! Sign before push: the registry never holds the artifact unsigned under a tag, and the
//! tags are written last and read back.
//!
//! Order: digest locally → sign → push blobs (skip present, mount when possible) → push
//! manifests by digest → push the signature → set tags → re-resolve every tag.

use std::sync::Arc;

use crate::Error;
use crate::artifact::Artifact;
use crate::digest::Digest;
use crate::keys::SigningKey;
use crate::sign::{self, SignOptions};
use crate::signature;
use crate::signer::Signer;
use crate::store::Destination;
use crate::transfer::{self, BlobCounts, TransferProgress};

/// A signature made before anything is pushed, in the format it will be stored in.
enum Signature {
    Legacy(Vec<u8>, Box<crate::keyless::legacy::LegacySignature>),
    Bundle(Vec<u8>),
}

/// How to publish.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PublishOptions {
    /// What to sign with and record.
    pub sign: SignOptions,
    /// Record the destination tags in the signed payload.
    pub bind_tags: bool,
    /// Blobs uploaded at once.
    pub concurrency: usize,
    /// Repositories of the same registry to mount blobs from instead of uploading.
    pub mount_from: Vec<String>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            sign: SignOptions::default(),
            bind_tags: false,
            concurrency: 4,
            mount_from: Vec::new(),
        }
    }
}

/// What was published.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Published {
    /// `reg/repo@sha256:…`
    pub reference: String,
    /// The published digest.
    pub digest: Digest,
    /// Tags set (and read back).
    pub tags: Vec<String>,
    /// Where the signature is.
    pub signature: String,
    /// Earlier signatures by the same key that this one replaced.
    pub replaced: usize,
    /// For a keyless signature: who the certificate says signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyless: Option<crate::sigstore::certificate::Identity>,
    /// What happened to the blobs.
    pub blobs: BlobCounts,
}

/// Publishes `artifact` to `dest`, signed with `key`. See the module docs for the order.
pub async fn publish(
    artifact: &Artifact,
    dest: &Destination,
    key: &SigningKey,
    opts: &PublishOptions,
    progress: Arc<dyn TransferProgress>,
) -> Result<Published, Error> {
    publish_with(artifact, dest, Signer::Key(key), opts, progress).await
}

/// [`publish`] with any [`Signer`]: a logged or keyless signature is certified, timestamped
/// and logged before the registry sees a byte, so a service that fails leaves it untouched.
pub async fn publish_with(
    artifact: &Artifact,
    dest: &Destination,
    signer: Signer<'_>,
    opts: &PublishOptions,
    progress: Arc<dyn TransferProgress>,
) -> Result<Published, Error> {
    let digest = artifact.digest().clone();
    // Signed before the registry sees a byte: no window for a swap.
    let mut sign_opts = opts.sign.clone();
    if opts.bind_tags {
        for t in &dest.tags {
            if !sign_opts.bind_tags.contains(t) {
                sign_opts.bind_tags.push(t.clone());
            }
        }
    }
    let (signed, keyless) = if sign_opts.format == sign::SignatureFormat::Bundle {
        let statement = sign::build_statement(&dest.store, &digest, &sign_opts)?;
        let (bundle, certified) = signer.sign_statement(&statement, &digest).await?;
        (Signature::Bundle(bundle), certified)
    } else {
        let payload = sign::build_payload(&dest.store, &digest, &sign_opts)?;
        let signed = signer.sign_payload(&payload).await?;
        let certified = signed.identity.clone();
        (Signature::Legacy(payload, Box::new(signed)), certified)
    };

    let counts = transfer::push_blobs(
        &artifact.blobs,
        &dest.store,
        &opts.mount_from,
        opts.concurrency,
        &progress,
    )
    .await?;

    progress.step("pushing manifests by digest");
    for m in &artifact.manifests {
        dest.store.put_manifest(m, None).await?;
    }
    progress.step("pushing the signature");
    let earlier = match signer.key() {
        Some(key) => {
            sign::earlier(
                &sign_opts,
                &dest.store,
                &dest.store,
                &digest,
                key,
                sign_opts.format,
                crate::bundle::intoto::COSIGN_SIGN_V1,
            )
            .await?
        }
        None => sign::Earlier::default(),
    };
    let (signature, replaced) = match signed {
        Signature::Bundle(bundle) => {
            let referrer = sign::store_bundle(
                &dest.store,
                artifact.manifest(),
                bundle,
                sign_opts.timestamp,
            )
            .await?;
            let replaced = earlier
                .replace_with(&dest.store, &digest, &referrer)
                .await?;
            (dest.store.pinned(&referrer), replaced)
        }
        Signature::Legacy(payload, signed) => {
            let sig = &signed.signature;
            sign::store_signature(
                &dest.store,
                &digest,
                &payload,
                (sig, &signed.annotations),
                &earlier.legacy,
            )
            .await?;
            (
                dest.store.tagged(&signature::signature_tag(&digest)),
                earlier.replaced_by(&payload, sig),
            )
        }
    };

    progress.step("setting tags");
    transfer::set_tags(&dest.store, artifact.manifest(), &dest.tags).await?;
    Ok(Published {
        reference: dest.store.pinned(&digest),
        signature,
        replaced,
        keyless,
        digest,
        tags: dest.tags.clone(),
        blobs: counts,
    })
}
