//! Every signature and attestation of one digest, in both formats, with what each claims
//! and which given keys it is valid for (`hallmark signatures`); and removing some of
//! them, scoped to one key or to all.

use std::time::SystemTime;

use crate::Error;
use crate::digest::Digest;
use crate::report::SignatureFormat;
use crate::signature;
use crate::store::{EmptyTag, FallbackIndex, SignatureLayers, Target};
use crate::trust::NamedKey;
use crate::verify::{self, Context, Description, Material};

/// One signature or attestation as found.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Entry {
    /// How it is stored.
    pub format: SignatureFormat,
    /// `signature` or `attestation`.
    pub kind: &'static str,
    /// Where it is: the `.sig` manifest and layer, or the referrer manifest.
    pub location: String,
    /// What it claims and what the keys make of it.
    #[serde(flatten)]
    pub description: Description,
    #[serde(skip)]
    handle: Handle,
}

#[derive(Debug, Clone)]
enum Handle {
    /// A `.sig` layer, by its payload digest and signature bytes.
    Layer(crate::sign::LayerId),
    /// A bundle referrer, by its manifest digest.
    Referrer(Digest),
    /// Unreadable: listed, but there is nothing to name it by.
    Unreadable,
}

/// Every signature and attestation of one digest.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Listing {
    /// `reg/repo@sha256:…`
    pub reference: String,
    /// The digest.
    pub digest: Digest,
    /// What was found, legacy layers first, then referrers.
    pub entries: Vec<Entry>,
}

/// Which entries to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every entry.
    All,
    /// Entries that a given key with this id verifies. A key id an entry only claims
    /// (a bundle's key hint) is not enough: anyone can write that claim.
    Key(String),
}

impl Listing {
    /// The entries `selection` picks.
    pub fn select(&self, selection: &Selection) -> Vec<&Entry> {
        self.entries
            .iter()
            .filter(|e| match selection {
                Selection::All => true,
                Selection::Key(id) => {
                    e.description.key_id_verified
                        && e.description.key_id.as_deref() == Some(id.as_str())
                }
            })
            .collect()
    }
}

/// Resolves `target` once and lists what its signature store holds for that digest.
pub async fn list(target: &Target, keys: &[NamedKey]) -> Result<Listing, Error> {
    let digest = verify::resolve(target).await?.digest;
    let evidence = verify::gather(target, &digest).await?;
    let ctx = Context {
        reference: target.store.pinned(&digest),
        identity: target.store.identity(),
        tag: None,
        now: SystemTime::now(),
    };
    let sig_manifest = target.signatures.tagged(&signature::signature_tag(&digest));
    let entries = evidence
        .candidates
        .iter()
        .map(|c| {
            let description = verify::describe(c, &evidence, &ctx, keys);
            let (location, handle) = match (&c.material, c.format) {
                (
                    Ok(Material::Legacy {
                        payload_digest,
                        signature,
                        ..
                    }),
                    _,
                ) => (
                    format!("{sig_manifest} layer {}", c.index),
                    Handle::Layer((payload_digest.clone(), signature.clone())),
                ),
                (Ok(Material::Bundle { referrer, .. }), _) => (
                    target.signatures.pinned(referrer),
                    Handle::Referrer(referrer.clone()),
                ),
                (Err(_), SignatureFormat::Legacy) => (
                    format!("{sig_manifest} layer {}", c.index),
                    Handle::Unreadable,
                ),
                (Err(_), SignatureFormat::Bundle) => (
                    format!("referrer {} of {}", c.index, ctx.reference),
                    Handle::Unreadable,
                ),
            };
            Entry {
                format: c.format,
                kind: if description.predicate_type == crate::bundle::intoto::COSIGN_SIGN_V1 {
                    "signature"
                } else {
                    "attestation"
                },
                location,
                description,
                handle,
            }
        })
        .collect();
    Ok(Listing {
        reference: ctx.reference,
        digest,
        entries,
    })
}

/// What a removal did.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[non_exhaustive]
pub struct Removed {
    /// Entries removed.
    pub removed: usize,
    /// Entries selected that could not be named (unreadable) and were left.
    pub left_unreadable: usize,
    /// Manifests the removal emptied and deleted (`reg/repo:sha256-….sig`).
    pub deleted: Vec<String>,
    /// Manifests the removal emptied but could not delete, with why.
    pub left_empty: Vec<(String, String)>,
}

/// Removes `entries` (from [`Listing::select`]): `.sig` layers leave the signature
/// manifest in one rewrite; referrers leave the fallback index and, where the registry
/// lists referrers itself, are deleted. A signature manifest or fallback index left with
/// nothing in it is deleted (or, where the registry refuses, reported in `left_empty`).
pub async fn remove(
    target: &Target,
    digest: &Digest,
    entries: &[&Entry],
) -> Result<Removed, Error> {
    let mut layers = Vec::new();
    let mut referrers = Vec::new();
    let mut out = Removed::default();
    for e in entries {
        match &e.handle {
            Handle::Layer(id) => layers.push(id.clone()),
            Handle::Referrer(d) => referrers.push(d.clone()),
            Handle::Unreadable => out.left_unreadable += 1,
        }
    }
    if !layers.is_empty() {
        crate::sign::rewrite_signatures(&target.signatures, digest, None, &layers).await?;
    }
    target
        .signatures
        .remove_referrers(digest, &referrers)
        .await?;
    out.removed = layers.len() + referrers.len();
    let mut emptied = Vec::new();
    if !layers.is_empty() {
        emptied.push(
            target
                .signatures
                .delete_if_empty::<SignatureLayers>(&signature::signature_tag(digest))
                .await?,
        );
    }
    if !referrers.is_empty() {
        emptied.push(
            target
                .signatures
                .delete_if_empty::<FallbackIndex>(&crate::oci::referrers_tag(digest))
                .await?,
        );
    }
    for e in emptied {
        match e {
            EmptyTag::Deleted(tag) => out.deleted.push(tag),
            EmptyTag::Left { tag, why } => out.left_empty.push((tag, why)),
            EmptyTag::Absent | EmptyTag::Kept => {}
        }
    }
    Ok(out)
}
