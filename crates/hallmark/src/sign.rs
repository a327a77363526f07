//! Signing by digest, never by whatever a tag happens to point at.

use std::collections::BTreeMap;
use std::time::SystemTime;

use bytes::Bytes;

use crate::Error;
use crate::bundle::BUNDLE_V03;
use crate::bundle::intoto::{self, Statement};
use crate::digest::Digest;
use crate::keys::SigningKey;
use crate::oci::{EMPTY_JSON, EMPTY_MEDIA_TYPE, Manifest, OCI_MANIFEST};
use crate::payload::{self, SimpleSigning};
pub use crate::report::SignatureFormat;
use crate::signature::{self, SigstoreAnnotations};
pub use crate::signer::{Signer, Sigstore};
use crate::store::{Change, SignatureLayers, Store, Target};

mod recursive;
pub(crate) use recursive::{AT_ONCE, platforms_of};
pub use recursive::{SignedManifest, SignedRecursively, sign_recursive};

/// What to sign with and what to record in the payload.
#[derive(Debug, Clone)]
#[non_exhaustive]
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
    /// How the signature is stored.
    pub format: SignatureFormat,
    /// Replace this key's earlier signatures (or attestations of the same type) of the
    /// same digest for the same repository, so that re-signing does not accumulate.
    pub replace: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            annotations: BTreeMap::new(),
            bind_tags: Vec::new(),
            expect_digest: None,
            timestamp: SystemTime::now(),
            creator: concat!("hallmark ", env!("CARGO_PKG_VERSION")).to_string(),
            format: SignatureFormat::Legacy,
            replace: true,
        }
    }
}

/// A signature that was stored.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct Signed {
    /// The signed artifact, pinned: `reg/repo@sha256:…`.
    pub reference: String,
    /// The signed digest.
    pub digest: Digest,
    /// Where the signature manifest lives: `reg/repo:sha256-<hex>.sig`.
    pub signature: String,
    /// False when the identical signature was already there.
    pub added: bool,
    /// Earlier signatures by the same key that this one replaced.
    pub replaced: usize,
    /// Earlier signatures by the same key that stay because they record other fields
    /// (annotations, bound tags): they say something this one does not.
    pub kept: usize,
    /// For a keyless signature: who the certificate says signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keyless: Option<crate::sigstore::certificate::Identity>,
}

/// A `.sig` layer: its payload's digest and its signature bytes (the bytes alone do not
/// name a layer: they can verify over another payload under another key).
pub(crate) type LayerId = (Digest, Vec<u8>);

/// Earlier signatures by one key that a new one replaces.
#[derive(Debug, Default)]
pub(crate) struct Earlier {
    /// Legacy `.sig` layers, by payload digest and signature bytes.
    pub(crate) legacy: Vec<LayerId>,
    /// Bundle referrers, by manifest digest.
    pub(crate) referrers: Vec<Digest>,
    /// Signatures by the same key that record other fields, and so stay.
    pub(crate) kept: usize,
}

impl Earlier {
    /// How many earlier `.sig` layers a new signature `sig` over `payload` replaced (an
    /// identical one is the new one).
    pub(crate) fn replaced_by(&self, payload: &[u8], sig: &[u8]) -> usize {
        let new = (Digest::sha256(payload), sig.to_vec());
        self.legacy.iter().filter(|l| **l != new).count()
    }

    /// Removes the earlier referrers of `subject` now that `new` is stored; returns how
    /// many there were. Signing is deterministic, so an identical signature made in the
    /// same second *is* the new one and stays.
    pub(crate) async fn replace_with(
        &self,
        store: &Store,
        subject: &Digest,
        new: &Digest,
    ) -> Result<usize, Error> {
        let gone: Vec<Digest> = self
            .referrers
            .iter()
            .filter(|d| *d != new)
            .cloned()
            .collect();
        store.remove_referrers(subject, &gone).await?;
        Ok(gone.len())
    }
}

/// The valid signatures (or attestations of `predicate_type`) of `digest` in `format`
/// that `key` made for the repository `artifacts`, found where `signatures` keeps them;
/// none are looked for unless `opts.replace`. They are judged at `opts.timestamp`, the
/// signing clock.
pub(crate) async fn earlier(
    opts: &SignOptions,
    artifacts: &Store,
    signatures: &Store,
    digest: &Digest,
    key: &SigningKey,
    format: SignatureFormat,
    predicate_type: &str,
) -> Result<Earlier, Error> {
    if !opts.replace {
        return Ok(Earlier::default());
    }
    let target = Target {
        store: artifacts.clone(),
        signatures: signatures.clone(),
        tag: None,
        digest: Some(digest.clone()),
    };
    let evidence = crate::verify::gather_format(&target, digest, format).await?;
    let key = crate::trust::NamedKey {
        name: "the signing key".into(),
        key: key.public_key(),
    };
    let identity = artifacts.identity();
    let new = claimed_fields(recorded_fields(opts)?);
    let mut found = Earlier::default();
    for c in &evidence.candidates {
        let Some(valid) = crate::verify::made_by(
            c,
            &evidence,
            &identity,
            &key,
            predicate_type,
            opts.timestamp,
        ) else {
            continue;
        };
        // cosign's `-a env=prod` signature says something a plain re-sign does not.
        if claimed_fields(valid.annotations) != new {
            found.kept += 1;
            continue;
        }
        match &c.material {
            Ok(crate::verify::Material::Legacy {
                payload_digest,
                signature,
                ..
            }) => {
                found
                    .legacy
                    .push((payload_digest.clone(), signature.clone()));
            }
            Ok(crate::verify::Material::Bundle { referrer, .. }) => {
                found.referrers.push(referrer.clone());
            }
            Err(_) => {}
        }
    }
    Ok(found)
}

/// The recorded fields that make two signatures by one key say the same thing: all but
/// when and with what they were made. cosign writes `"optional": null` for none.
fn claimed_fields(
    mut fields: BTreeMap<String, serde_json::Value>,
) -> BTreeMap<String, serde_json::Value> {
    fields.remove(payload::TIMESTAMP_FIELD);
    fields.remove(payload::CREATOR_FIELD);
    fields
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

/// What a signature records besides the digest: the caller's annotations, the bound tags,
/// the timestamp and the creator (the simple-signing `optional` fields, or the statement
/// subject's annotations).
fn recorded_fields(opts: &SignOptions) -> Result<BTreeMap<String, serde_json::Value>, Error> {
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
    Ok(optional)
}

/// Builds the payload bytes for `digest` in `store`.
pub(crate) fn build_payload(
    store: &Store,
    digest: &Digest,
    opts: &SignOptions,
) -> Result<Vec<u8>, Error> {
    let optional = recorded_fields(opts)?;
    Ok(SimpleSigning::new(&store.signed_identity(), digest, optional).to_bytes())
}

/// Builds the in-toto statement a bundle signature signs, as cosign 3 does (predicate type
/// `https://sigstore.dev/cosign/sign/v1`, what is recorded in the subject's annotations),
/// with the repository as the subject's name so that a copy to another repository is
/// detected as it is for legacy signatures.
pub(crate) fn build_statement(
    store: &Store,
    digest: &Digest,
    opts: &SignOptions,
) -> Result<Vec<u8>, Error> {
    let mut statement = Statement::new(
        &store.signed_identity(),
        digest,
        intoto::COSIGN_SIGN_V1,
        serde_json::json!({}),
    );
    statement.subject[0].annotations = recorded_fields(opts)?;
    Ok(statement.to_bytes())
}

/// Attests `predicate` (of `predicate_type`) about the digest `target` names: an in-toto
/// statement in a bundle referrer, as `cosign attest` stores it. The digest is decided
/// as for [`sign`]: never by a bare tag.
pub async fn attest(
    target: &Target,
    key: &SigningKey,
    predicate_type: &str,
    predicate: serde_json::Value,
    opts: &SignOptions,
) -> Result<Signed, Error> {
    attest_with(target, Signer::Key(key), predicate_type, predicate, opts).await
}

/// [`attest`] with any [`Signer`]; the statement is signed (and, for a logged or keyless
/// signer, certified, timestamped and logged) before anything is written.
pub async fn attest_with(
    target: &Target,
    signer: Signer<'_>,
    predicate_type: &str,
    predicate: serde_json::Value,
    opts: &SignOptions,
) -> Result<Signed, Error> {
    let digest = resolve_digest_to_sign(target, opts.expect_digest.as_ref()).await?;
    let manifest = target
        .store
        .require_manifest(&digest.to_string(), "manifest")
        .await?;
    let mut statement = Statement::new(
        &target.store.signed_identity(),
        &digest,
        predicate_type,
        predicate,
    );
    statement.subject[0].annotations = recorded_fields(opts)?;
    let earlier = earlier_of(
        opts,
        target,
        &digest,
        signer,
        SignatureFormat::Bundle,
        predicate_type,
    )
    .await?;
    let (bundle, keyless) = signer
        .sign_statement(&statement.to_bytes(), &digest)
        .await?;
    let referrer = store_bundle_of(
        &target.signatures,
        &manifest,
        bundle,
        opts.timestamp,
        predicate_type,
    )
    .await?;
    let replaced = earlier
        .replace_with(&target.signatures, &digest, &referrer)
        .await?;
    Ok(Signed {
        reference: target.store.pinned(&digest),
        signature: target.signatures.pinned(&referrer),
        digest,
        added: true,
        replaced,
        kept: earlier.kept,
        keyless,
    })
}

/// The earlier signatures `signer` replaces: none for a keyless signer.
async fn earlier_of(
    opts: &SignOptions,
    target: &Target,
    digest: &Digest,
    signer: Signer<'_>,
    format: SignatureFormat,
    predicate_type: &str,
) -> Result<Earlier, Error> {
    match signer.key() {
        Some(key) => {
            earlier(
                opts,
                &target.store,
                &target.signatures,
                digest,
                key,
                format,
                predicate_type,
            )
            .await
        }
        None => Ok(Earlier::default()),
    }
}

/// A referrer manifest holding one bundle, field for field as cosign 3 writes it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct BundleReferrer<'a> {
    schema_version: u32,
    media_type: &'static str,
    config: ReferrerDescriptor<'a>,
    layers: [ReferrerDescriptor<'a>; 1],
    annotations: BTreeMap<&'static str, String>,
    subject: ReferrerDescriptor<'a>,
    artifact_type: &'static str,
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ReferrerDescriptor<'a> {
    media_type: &'a str,
    size: u64,
    digest: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    artifact_type: Option<&'static str>,
}

/// Stores a signature bundle as a referrer of `subject`; returns the referrer manifest's
/// digest.
pub async fn store_bundle(
    store: &Store,
    subject: &Manifest,
    bundle: Vec<u8>,
    created: SystemTime,
) -> Result<Digest, Error> {
    store_bundle_of(store, subject, bundle, created, intoto::COSIGN_SIGN_V1).await
}

/// Stores a bundle of a statement of `predicate_type` as a referrer of `subject`.
async fn store_bundle_of(
    store: &Store,
    subject: &Manifest,
    bundle: Vec<u8>,
    created: SystemTime,
    predicate_type: &str,
) -> Result<Digest, Error> {
    let bundle_digest = Digest::sha256(&bundle);
    let empty = Bytes::from_static(EMPTY_JSON);
    store.put_blob(&Digest::sha256(&empty), empty).await?;
    store
        .put_blob(&bundle_digest, Bytes::from(bundle.clone()))
        .await?;
    let doc = BundleReferrer {
        schema_version: 2,
        media_type: OCI_MANIFEST,
        config: ReferrerDescriptor {
            media_type: EMPTY_MEDIA_TYPE,
            size: EMPTY_JSON.len() as u64,
            digest: Digest::sha256(EMPTY_JSON).to_string(),
            artifact_type: Some(BUNDLE_V03),
        },
        layers: [ReferrerDescriptor {
            media_type: BUNDLE_V03,
            size: bundle.len() as u64,
            digest: bundle_digest.to_string(),
            artifact_type: None,
        }],
        annotations: BTreeMap::from([
            ("dev.sigstore.bundle.content", "dsse-envelope".to_string()),
            (
                "dev.sigstore.bundle.predicateType",
                predicate_type.to_string(),
            ),
            (
                "org.opencontainers.image.created",
                humantime::format_rfc3339_seconds(created).to_string(),
            ),
        ]),
        subject: ReferrerDescriptor {
            media_type: &subject.media_type,
            size: subject.bytes.len() as u64,
            digest: subject.digest.to_string(),
            artifact_type: None,
        },
        artifact_type: BUNDLE_V03,
    };
    let referrer = Manifest::new(
        serde_json::to_vec(&doc).expect("serialising a plain struct cannot fail"),
        OCI_MANIFEST,
    );
    store
        .push_referrer(&referrer, &subject.digest, BUNDLE_V03)
        .await?;
    Ok(referrer.digest)
}

/// Signs the artifact `target` names (by digest; see [`resolve_digest_to_sign`]).
pub async fn sign(target: &Target, key: &SigningKey, opts: &SignOptions) -> Result<Signed, Error> {
    sign_with(target, Signer::Key(key), opts).await
}

/// [`sign`] with any [`Signer`]: the digest is decided first (a bare tag refused, a moved
/// tag a drift) and the signature made before anything is written, so a signing service
/// that fails leaves the registry as it was.
pub async fn sign_with(
    target: &Target,
    signer: Signer<'_>,
    opts: &SignOptions,
) -> Result<Signed, Error> {
    let digest = resolve_digest_to_sign(target, opts.expect_digest.as_ref()).await?;
    // The manifest must exist and hash to the digest (get_manifest checks both).
    let manifest = target
        .store
        .require_manifest(&digest.to_string(), "manifest")
        .await?;
    let earlier = earlier_of(
        opts,
        target,
        &digest,
        signer,
        opts.format,
        intoto::COSIGN_SIGN_V1,
    )
    .await?;
    if opts.format == SignatureFormat::Bundle {
        let statement = build_statement(&target.store, &digest, opts)?;
        let (bundle, keyless) = signer.sign_statement(&statement, &digest).await?;
        let referrer = store_bundle(&target.signatures, &manifest, bundle, opts.timestamp).await?;
        let replaced = earlier
            .replace_with(&target.signatures, &digest, &referrer)
            .await?;
        return Ok(Signed {
            reference: target.store.pinned(&digest),
            signature: target.signatures.pinned(&referrer),
            digest,
            added: true,
            replaced,
            kept: earlier.kept,
            keyless,
        });
    }
    let payload = build_payload(&target.store, &digest, opts)?;
    let signed = signer.sign_payload(&payload).await?;
    let sig = &signed.signature;
    let added = store_signature(
        &target.signatures,
        &digest,
        &payload,
        (sig, &signed.annotations),
        &earlier.legacy,
    )
    .await?;
    Ok(Signed {
        reference: target.store.pinned(&digest),
        signature: target.signatures.tagged(&signature::signature_tag(&digest)),
        digest,
        added,
        replaced: earlier.replaced_by(&payload, sig),
        kept: earlier.kept,
        keyless: signed.identity,
    })
}

/// Adds one signature layer (the signature and the Sigstore annotations it carries) to the
/// digest's signature manifest, dropping the layers `replace` names. See
/// [`rewrite_signatures`].
pub(crate) async fn store_signature(
    store: &Store,
    digest: &Digest,
    payload: &[u8],
    (sig, sigstore): (&[u8], &SigstoreAnnotations),
    replace: &[LayerId],
) -> Result<bool, Error> {
    store
        .put_blob(&Digest::sha256(payload), Bytes::copy_from_slice(payload))
        .await?;
    rewrite_signatures(store, digest, Some((payload, sig, sigstore)), replace).await
}

/// Rewrites the digest's signature manifest with `add` and without the layers `drop`
/// names. Other signers write the same manifest, so the write is merged, watched and
/// repaired (see [`Store::update_shared`](crate::store)). False when nothing had to change.
pub(crate) async fn rewrite_signatures(
    store: &Store,
    digest: &Digest,
    add: Option<(&[u8], &[u8], &SigstoreAnnotations)>,
    drop: &[LayerId],
) -> Result<bool, Error> {
    let new = add.map(|(payload, sig, _)| (Digest::sha256(payload), sig.to_vec()));
    // Signing is deterministic: an identical signature made in the same second is the
    // new one, and stays.
    let remove = |l: &oci_spec::image::Descriptor| {
        drop.iter()
            .filter(|id| Some(*id) != new.as_ref())
            .any(|(p, s)| signature::is_layer(l, p, s))
    };
    store
        .update_shared::<SignatureLayers>(
            &signature::signature_tag(digest),
            Change {
                add: add
                    .map(|(payload, sig, sigstore)| signature::layer_with(payload, sig, sigstore))
                    .into_iter()
                    .collect(),
                remove: &remove,
                create: true,
            },
        )
        .await
}
