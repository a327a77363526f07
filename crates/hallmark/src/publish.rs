//! Sign before push: the registry never holds the artifact unsigned under a tag, and the
//! tags are written last and read back.
//!
//! Order: digest locally → sign → push blobs (skip present, mount when possible) → push
//! manifests by digest → push the signature → set tags → re-resolve every tag.

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::Error;
use crate::artifact::Artifact;
use crate::digest::Digest;
use crate::keys::SigningKey;
use crate::oci::Manifest;
use crate::sign::{self, SignOptions};
use crate::signature;
use crate::signer::Signer;
use crate::store::{Destination, Store};
use crate::transfer::{self, BlobCounts, TransferProgress};

/// A signature made before anything is pushed, in the format it will be stored in.
enum Signature {
    Legacy(Vec<u8>, Box<crate::keyless::legacy::LegacySignature>),
    Bundle(Vec<u8>, Option<Box<crate::sigstore::certificate::Identity>>),
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
    /// For an index: also sign every manifest it lists, each by its own digest (as
    /// `cosign sign --recursive`), so that a consumer that resolves one platform finds a
    /// signature for it. On by default: a multi-platform image is pulled by platform.
    pub recursive: bool,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            sign: SignOptions::default(),
            bind_tags: false,
            concurrency: 4,
            mount_from: Vec::new(),
            recursive: true,
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
    /// With [`PublishOptions::recursive`], every manifest the index lists, signed too
    /// (children before the index); empty for a single manifest.
    pub manifests: Vec<sign::SignedManifest>,
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
    // The listed manifests bind no tag: only the index is tagged.
    let mut child_opts = sign_opts.clone();
    child_opts.bind_tags.clear();
    let children: Vec<&Manifest> = if opts.recursive {
        artifact
            .manifests
            .iter()
            .filter(|m| m.digest != digest)
            .collect()
    } else {
        Vec::new()
    };
    let made: Vec<(&Manifest, Signature)> = stream::iter(children)
        .map(|m| {
            let (store, opts) = (&dest.store, &child_opts);
            async move { Ok::<_, Error>((m, make_signature(signer, store, &m.digest, opts).await?)) }
        })
        .buffered(sign::AT_ONCE)
        .try_collect()
        .await?;
    let top = make_signature(signer, &dest.store, &digest, &sign_opts).await?;

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
    progress.step("pushing the signatures");
    // The listed manifests' signatures first, the index's last, as `sign --recursive` does.
    let platforms = sign::platforms_of(&artifact.manifests);
    let manifests: Vec<sign::SignedManifest> = stream::iter(made)
        .map(|(m, signature)| {
            let (store, opts, platform) = (&dest.store, &child_opts, platforms.get(&m.digest));
            async move {
                let signed = store_made(store, m, signature, signer, opts).await?;
                Ok::<_, Error>(sign::SignedManifest {
                    signed,
                    platform: platform.cloned(),
                })
            }
        })
        .buffered(sign::AT_ONCE)
        .try_collect()
        .await?;
    let top = store_made(&dest.store, artifact.manifest(), top, signer, &sign_opts).await?;

    progress.step("setting tags");
    transfer::set_tags(&dest.store, artifact.manifest(), &dest.tags).await?;
    Ok(Published {
        reference: top.reference,
        signature: top.signature,
        replaced: top.replaced,
        keyless: top.keyless,
        digest,
        tags: dest.tags.clone(),
        blobs: counts,
        manifests,
    })
}

/// Signs `digest` for `store` as `opts` say, writing nothing.
async fn make_signature(
    signer: Signer<'_>,
    store: &Store,
    digest: &Digest,
    opts: &SignOptions,
) -> Result<Signature, Error> {
    Ok(if opts.format == sign::SignatureFormat::Bundle {
        let statement = sign::build_statement(store, digest, opts)?;
        let (bundle, certified) = signer.sign_statement(&statement, digest).await?;
        Signature::Bundle(bundle, certified.map(Box::new))
    } else {
        let payload = sign::build_payload(store, digest, opts)?;
        let signed = signer.sign_payload(&payload).await?;
        Signature::Legacy(payload, Box::new(signed))
    })
}

/// Stores a signature made by [`make_signature`] for `manifest`, now that it is pushed,
/// replacing the key's earlier ones as `opts` say.
async fn store_made(
    store: &Store,
    manifest: &Manifest,
    signature: Signature,
    signer: Signer<'_>,
    opts: &SignOptions,
) -> Result<sign::Signed, Error> {
    let digest = &manifest.digest;
    let earlier = match signer.key() {
        Some(key) => {
            sign::earlier(
                opts,
                store,
                store,
                digest,
                key,
                opts.format,
                crate::bundle::intoto::COSIGN_SIGN_V1,
            )
            .await?
        }
        None => sign::Earlier::default(),
    };
    Ok(match signature {
        Signature::Bundle(bundle, keyless) => {
            let referrer = sign::store_bundle(store, manifest, bundle, opts.timestamp).await?;
            let replaced = earlier.replace_with(store, digest, &referrer).await?;
            sign::Signed {
                reference: store.pinned(digest),
                digest: digest.clone(),
                signature: store.pinned(&referrer),
                added: true,
                replaced,
                kept: earlier.kept,
                keyless: keyless.map(|k| *k),
            }
        }
        Signature::Legacy(payload, signed) => {
            let sig = &signed.signature;
            let added = sign::store_signature(
                store,
                digest,
                &payload,
                (sig, &signed.annotations),
                &earlier.legacy,
            )
            .await?;
            sign::Signed {
                reference: store.pinned(digest),
                digest: digest.clone(),
                signature: store.tagged(&signature::signature_tag(digest)),
                added,
                replaced: earlier.replaced_by(&payload, sig),
                kept: earlier.kept,
                keyless: signed.identity.clone(),
            }
        }
    })
}
