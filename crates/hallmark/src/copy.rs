//! Verified consumption: copy exactly the digest that was verified, every byte checked.
//!
//! The caller verifies first; this module only ever reads the source by that digest, so a
//! tag moved after verification changes nothing. Blobs are streamed and hashed on the way
//! and only committed at the destination when they match; manifests, the signature and
//! tags are written after every blob arrived intact.

use std::sync::Arc;

use bytes::Bytes;

use crate::Error;
use crate::artifact::{Blob, BlobData};
use crate::digest::Digest;
use crate::manifest::{MAX_REFERENCES, Manifest};
use crate::payload::MAX_PAYLOAD_BYTES;
use crate::publish::Destination;
use crate::signature;
use crate::store::{Store, Target};
use crate::transfer::{self, BlobCounts, TransferProgress};
use crate::verify::Report;

/// Deepest index nesting followed.
const MAX_DEPTH: usize = 4;

#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Copy only this platform's manifest out of an index (`os/arch[/variant]`).
    pub platform: Option<String>,
    pub concurrency: usize,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            platform: None,
            concurrency: 4,
        }
    }
}

/// What was copied.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Copied {
    /// The verification the copy rests on.
    pub verification: Report,
    /// At the destination: `reg/repo@sha256:…` of what was copied.
    pub reference: String,
    pub digest: Digest,
    pub tags: Vec<String>,
    /// Where the copied signature is; none when a single platform was taken out of a
    /// signed index (the signature covers the index).
    pub signature: Option<String>,
    pub blobs: BlobCounts,
}

/// Copies the verified artifact (`report.digest`) from `source` to `dest`.
pub async fn copy(
    source: &Target,
    report: &Report,
    dest: &Destination,
    opts: &CopyOptions,
    progress: Arc<dyn TransferProgress>,
) -> Result<Copied, Error> {
    if !report.verified {
        return Err(Error::Usage {
            message: format!("{} is not verified; nothing was copied", report.reference),
            hint: None,
        });
    }
    let verified = fetch(&source.store, &report.digest).await?;
    let top = match &opts.platform {
        None => verified.clone(),
        Some(p) => select_platform(&source.store, &verified, p).await?,
    };
    progress.step("reading manifests");
    let mut manifests = Vec::new();
    let mut blobs = Vec::new();
    collect(&source.store, top.clone(), &mut manifests, &mut blobs, 0).await?;

    let counts =
        transfer::push_blobs(&blobs, &dest.store, &[], opts.concurrency, &progress).await?;
    progress.step("pushing manifests by digest");
    for m in &manifests {
        dest.store.put_manifest(m, None).await?;
    }
    let signature = if top.digest == verified.digest {
        progress.step("copying the signature");
        copy_signature(&source.signatures, &dest.store, &verified.digest).await?;
        Some(
            dest.store
                .tagged(&signature::signature_tag(&verified.digest)),
        )
    } else {
        None
    };
    progress.step("setting tags");
    transfer::set_tags(&dest.store, &top, &dest.tags).await?;
    Ok(Copied {
        verification: report.clone(),
        reference: dest.store.pinned(&top.digest),
        digest: top.digest,
        tags: dest.tags.clone(),
        signature,
        blobs: counts,
    })
}

async fn fetch(store: &Store, digest: &Digest) -> Result<Manifest, Error> {
    store
        .require_manifest(&digest.to_string(), "manifest")
        .await
}

/// The child of a verified index for `platform` (`os/arch[/variant]`).
async fn select_platform(
    store: &Store,
    index: &Manifest,
    platform: &str,
) -> Result<Manifest, Error> {
    if !index.is_index() {
        return Err(Error::Usage {
            message: format!(
                "--platform {platform}: {} is a single-platform manifest",
                index.digest
            ),
            hint: Some("drop --platform".into()),
        });
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        digest: String,
        platform: Option<Platform>,
    }
    #[derive(serde::Deserialize)]
    struct Platform {
        os: String,
        architecture: String,
        variant: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Index {
        manifests: Vec<Entry>,
    }
    let doc: Index = serde_json::from_slice(&index.bytes)
        .map_err(|e| Error::Invalid(format!("invalid index {}: {e}", index.digest)))?;
    let mut available = Vec::new();
    for e in &doc.manifests {
        let Some(p) = &e.platform else { continue };
        let name = match &p.variant {
            Some(v) => format!("{}/{}/{v}", p.os, p.architecture),
            None => format!("{}/{}", p.os, p.architecture),
        };
        if name == platform || format!("{}/{}", p.os, p.architecture) == platform {
            let d: Digest = e.digest.parse()?;
            return fetch(store, &d).await;
        }
        available.push(name);
    }
    Err(Error::Usage {
        message: format!("no {platform} manifest in index {}", index.digest),
        hint: Some(format!("available: {}", available.join(", "))),
    })
}

/// Every manifest (children first) and blob reachable from `m`, each manifest fetched by
/// the digest its parent names, so that it is checked on arrival.
async fn collect(
    store: &Store,
    m: Manifest,
    manifests: &mut Vec<Manifest>,
    blobs: &mut Vec<Blob>,
    depth: usize,
) -> Result<(), Error> {
    if depth > MAX_DEPTH {
        return Err(Error::Invalid(format!(
            "indexes nested deeper than {MAX_DEPTH}"
        )));
    }
    let refs = m.references().map_err(Error::Invalid)?;
    for child in refs.manifests {
        if !manifests
            .iter()
            .any(|x: &Manifest| x.digest == child.digest)
        {
            let c = fetch(store, &child.digest).await?;
            Box::pin(collect(store, c, manifests, blobs, depth + 1)).await?;
        }
    }
    for b in refs.blobs {
        if blobs.iter().any(|x: &Blob| x.digest == b.digest) {
            continue;
        }
        if blobs.len() >= MAX_REFERENCES {
            return Err(Error::Invalid(format!("more than {MAX_REFERENCES} blobs")));
        }
        let data = match store {
            Store::Registry { client, repo } => BlobData::Registry {
                client: client.clone(),
                repo: repo.clone(),
            },
            Store::Layout(l) => BlobData::File {
                path: l.blob_path(&b.digest),
                offset: 0,
            },
        };
        blobs.push(Blob {
            digest: b.digest,
            size: b.size,
            media_type: b.media_type,
            data,
        });
    }
    manifests.push(m);
    Ok(())
}

/// Copies the signature manifest of `digest`, keeping any signature already at `dest`.
async fn copy_signature(from: &Store, dest: &Store, digest: &Digest) -> Result<(), Error> {
    let tag = signature::signature_tag(digest);
    let Some(sig) = from.get_manifest(&tag).await? else {
        return Ok(());
    };
    let refs = sig.references().map_err(Error::Invalid)?;
    let mut payloads = Vec::new();
    for b in &refs.blobs {
        let bytes = from
            .get_blob(&b.digest, MAX_PAYLOAD_BYTES)
            .await?
            .ok_or_else(|| Error::NotFound {
                what: "signature blob",
                reference: from.pinned(&b.digest),
            })?;
        dest.put_blob(&b.digest, bytes.clone()).await?;
        payloads.push((b.digest.clone(), bytes));
    }
    if dest.get_manifest(&tag).await?.is_none() {
        dest.put_manifest(&sig, Some(&tag)).await?;
        return Ok(());
    }
    for layer in signature::parse_layers(&sig).map_err(Error::Invalid)? {
        let (Ok(sig_bytes), Some((_, payload))) = (
            &layer.signature,
            payloads.iter().find(|(d, _)| d == &layer.payload_digest),
        ) else {
            continue;
        };
        let payload: Bytes = payload.clone();
        crate::sign::store_signature(dest, digest, &payload, sig_bytes).await?;
    }
    Ok(())
}
