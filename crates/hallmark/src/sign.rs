//! Signing by digest, never by whatever a tag happens to point at.

use std::collections::BTreeMap;
use std::time::SystemTime;

use bytes::Bytes;

use crate::Error;
use crate::digest::Digest;
use crate::keys::SigningKey;
use crate::oci::Manifest;
use crate::payload::{self, SimpleSigning};
use crate::signature;
use crate::store::{Store, Target};

const APPEND_ATTEMPTS: u32 = 5;

/// What to sign with and what to record in the payload.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// Free annotations (`-a key=value`); reserved names are refused.
    pub annotations: BTreeMap<String, String>,
    /// Tags recorded in the payload (`optional.tag`): the rollback defence.
    pub bind_tags: Vec<String>,
    /// For a tag reference: the digest the pipeline built; the tag must resolve to it.
    pub expect_digest: Option<Digest>,
    /// Recorded as the signed timestamp.
    pub timestamp: SystemTime,
    /// Recorded as the signing tool.
    pub creator: String,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            annotations: BTreeMap::new(),
            bind_tags: Vec::new(),
            expect_digest: None,
            timestamp: SystemTime::now(),
            creator: concat!("hallmark ", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// A signature that was stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Signed {
    /// The signed artifact, pinned: `reg/repo@sha256:…`.
    pub reference: String,
    /// The signed digest.
    pub digest: Digest,
    /// Where the signature manifest lives: `reg/repo:sha256-<hex>.sig`.
    pub signature: String,
    /// False when the identical signature was already there.
    pub added: bool,
}

/// Decides which digest to sign. A bare tag is refused: it names whatever the registry
/// says today, which is exactly what an attacker controls.
pub async fn resolve_digest_to_sign(
    target: &Target,
    expect: Option<&Digest>,
) -> Result<Digest, Error> {
    match (&target.digest, &target.tag, expect) {
        (Some(d), _, Some(e)) if d != e => Err(Error::DigestConflict {
            named: d.clone(),
            expected: e.clone(),
        }),
        (Some(d), _, _) => Ok(d.clone()),
        (None, Some(tag), Some(expected)) => {
            let m = target.store.require_manifest(tag, "tag").await?;
            if &m.digest != expected {
                return Err(Error::Drift {
                    reference: target.store.tagged(tag),
                    expected: expected.clone(),
                    actual: m.digest,
                });
            }
            Ok(m.digest)
        }
        (None, Some(tag), None) => Err(Error::TagRefused {
            reference: target.store.tagged(tag),
            repository: target.store.name(),
        }),
        (None, None, _) => Err(Error::NoTagOrDigest),
    }
}

/// Builds the payload bytes for `digest` in `store`.
pub fn build_payload(store: &Store, digest: &Digest, opts: &SignOptions) -> Result<Vec<u8>, Error> {
    let mut optional = BTreeMap::new();
    for (k, v) in &opts.annotations {
        if payload::RESERVED_FIELDS.contains(&k.as_str()) {
            return Err(Error::ReservedAnnotation(k.clone()));
        }
        optional.insert(k.clone(), serde_json::Value::String(v.clone()));
    }
    for t in &opts.bind_tags {
        crate::reference::validate_tag(t).map_err(|reason| Error::BindTag {
            tag: t.clone(),
            reason,
        })?;
    }
    if !opts.bind_tags.is_empty() {
        optional.insert(payload::TAG_FIELD.into(), opts.bind_tags.join(",").into());
    }
    optional.insert(
        payload::TIMESTAMP_FIELD.into(),
        humantime::format_rfc3339_seconds(opts.timestamp)
            .to_string()
            .into(),
    );
    optional.insert(payload::CREATOR_FIELD.into(), opts.creator.clone().into());
    Ok(SimpleSigning::new(&store.signed_identity(), digest, optional).to_bytes())
}

/// Signs the artifact `target` names (by digest; see [`resolve_digest_to_sign`]).
pub async fn sign(target: &Target, key: &SigningKey, opts: &SignOptions) -> Result<Signed, Error> {
    let digest = resolve_digest_to_sign(target, opts.expect_digest.as_ref()).await?;
    // The manifest must exist and hash to the digest (get_manifest checks both).
    target
        .store
        .require_manifest(&digest.to_string(), "manifest")
        .await?;
    let payload = build_payload(&target.store, &digest, opts)?;
    let sig = key.sign(&payload);
    let added = store_signature(&target.signatures, &digest, &payload, &sig).await?;
    Ok(Signed {
        reference: target.store.pinned(&digest),
        signature: target.signatures.tagged(&signature::signature_tag(&digest)),
        digest,
        added,
    })
}

/// Appends one signature layer to the digest's signature manifest: read, append, write,
/// then re-read to make sure no other signer's layer was lost in a race.
pub async fn store_signature(
    store: &Store,
    digest: &Digest,
    payload: &[u8],
    sig: &[u8],
) -> Result<bool, Error> {
    let tag = signature::signature_tag(digest);
    let payload_digest = Digest::sha256(payload);
    store
        .put_blob(&payload_digest, Bytes::copy_from_slice(payload))
        .await?;
    for _ in 0..APPEND_ATTEMPTS {
        let existing = store.get_manifest(&tag).await?;
        let Some((manifest, config)) = signature::append(existing.as_ref(), payload, sig)? else {
            return Ok(false);
        };
        store
            .put_blob(&Digest::sha256(&config), Bytes::from(config))
            .await?;
        store.put_manifest(&manifest, Some(&tag)).await?;
        let now = store.get_manifest(&tag).await?;
        if kept_everything(existing.as_ref(), &manifest, now.as_ref()) {
            return Ok(true);
        }
    }
    Err(Error::Contention {
        attempts: APPEND_ATTEMPTS,
    })
}

/// True when the manifest now stored holds every layer that was there before plus ours.
fn kept_everything(before: Option<&Manifest>, ours: &Manifest, now: Option<&Manifest>) -> bool {
    let Some(now) = now else { return false };
    let now_layers = signature::layer_set(now);
    let needed = before
        .map(signature::layer_set)
        .unwrap_or_default()
        .into_iter()
        .chain(signature::layer_set(ours));
    needed.into_iter().all(|l| now_layers.contains(&l))
}
