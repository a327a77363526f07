//! Whether one candidate is a valid signature (or attestation) of this digest in this
//! repository, by a given key or a trusted keyless identity: the signature over the exact
//! bytes first, then the Sigstore proofs it carries (certificate, log, timestamps), then
//! what the signed payload says. Pure.

use std::sync::Arc;
use std::time::SystemTime;

use super::Context;
use super::gather::{Candidate, Evidence, Material};
use crate::bundle::legacy::LayerMaterial;
use crate::bundle::{Bundle, Content, dsse, intoto, intoto::Statement};
use crate::keys::Algorithm;
use crate::payload::{self, SimpleSigning};
use crate::reference::{canonical_glob, canonical_repository};
use crate::report::{Rejection, ValidSignature};
use crate::signature::SigstoreAnnotations;
use crate::sigstore::verify::{self as sigstore, Options, Refusal, SignedBy, Signer, Verified};
use crate::trust::{NamedKey, VerifyOptions};

/// Whether one candidate is a valid signature of this digest in this repository.
pub(super) fn check(
    c: &Candidate,
    evidence: &Evidence,
    ctx: &Context,
    opts: &VerifyOptions,
) -> Result<ValidSignature, Rejection> {
    check_as(c, evidence, ctx, opts, intoto::COSIGN_SIGN_V1)
}

/// Whether one candidate is a valid statement of `predicate_type` (cosign's signature
/// type: a signature) about this digest in this repository. A legacy layer is a signature
/// and nothing else.
pub(super) fn check_as(
    c: &Candidate,
    evidence: &Evidence,
    ctx: &Context,
    opts: &VerifyOptions,
    predicate_type: &str,
) -> Result<ValidSignature, Rejection> {
    match c.material.as_ref().map_err(Clone::clone)? {
        Material::Legacy { .. } if predicate_type != intoto::COSIGN_SIGN_V1 => {
            Err(Rejection::OtherPredicate {
                found: intoto::COSIGN_SIGN_V1.to_string(),
                wanted: predicate_type.to_string(),
            })
        }
        Material::Legacy {
            payload,
            signature,
            sigstore,
            ..
        } => check_legacy(c, payload, signature, sigstore, evidence, ctx, opts),
        Material::Bundle { bundle, .. } => {
            check_statement(c, bundle, evidence, ctx, opts, predicate_type).map(|(v, _)| v)
        }
    }
}

/// The signed repository must be the one verified, or one the options accept (mirrors).
fn check_repository(signed: &str, ctx: &Context, opts: &VerifyOptions) -> Result<(), Rejection> {
    let signed_canonical = canonical_repository(signed);
    if signed_canonical == canonical_repository(&ctx.identity)
        || opts
            .identities
            .iter()
            .any(|i| crate::glob::matches(&canonical_glob(i), &signed_canonical))
    {
        Ok(())
    } else {
        Err(Rejection::WrongRepository {
            signed: signed.to_string(),
            identity: ctx.identity.clone(),
        })
    }
}

fn check_legacy(
    c: &Candidate,
    payload: &[u8],
    signature: &[u8],
    annotations: &SigstoreAnnotations,
    evidence: &Evidence,
    ctx: &Context,
    opts: &VerifyOptions,
) -> Result<ValidSignature, Rejection> {
    let layer =
        LayerMaterial::read(annotations).map_err(|e| Rejection::Annotations(Arc::new(e)))?;
    let material = sigstore::Material::of_layer(&layer, signature);
    let payload_sha256: [u8; 32] = crate::digest::Digest::sha256(payload)
        .to_bytes()
        .try_into()
        .expect("a SHA-256 digest has 32 bytes");
    // The signature must be over these exact bytes, before anything in them is believed.
    let signer = if layer.certificates.is_some() {
        let verified = keyless(&material, &payload_sha256, opts)?;
        Signed::Keyless(verified)
    } else {
        let key = opts
            .keys
            .iter()
            .find(|k| k.key.verify(payload, signature))
            .ok_or(Rejection::NoTrustedKey)?;
        Signed::Key(key, logged(&material, &payload_sha256, key, opts)?)
    };
    let parsed =
        SimpleSigning::parse(payload).map_err(|e| Rejection::PayloadInvalid(Arc::new(e)))?;
    if parsed.critical.kind != payload::SIGNATURE_TYPE {
        return Err(Rejection::WrongType {
            found: parsed.critical.kind,
            expected: payload::SIGNATURE_TYPE,
        });
    }
    let signed = &parsed.critical.image.docker_manifest_digest;
    if signed != &evidence.digest.to_string() {
        return Err(Rejection::WrongDigest {
            signed: signed.clone(),
            digest: evidence.digest.clone(),
        });
    }
    check_repository(&parsed.signed_repository(), ctx, opts)?;
    Ok(signer.valid(
        c,
        parsed
            .optional_str(payload::TIMESTAMP_FIELD)
            .map(str::to_string),
        parsed.bound_tags(),
        parsed.optional.clone().unwrap_or_default(),
    ))
}

/// Who made a signature: a given key (and what its log entry established, if it has one),
/// or a trusted keyless identity.
enum Signed<'k> {
    Key(&'k NamedKey, Option<Verified>),
    Keyless(Verified),
}

impl Signed<'_> {
    fn valid(
        self,
        c: &Candidate,
        timestamp: Option<String>,
        bound_tags: Vec<String>,
        annotations: std::collections::BTreeMap<String, serde_json::Value>,
    ) -> ValidSignature {
        let (key, key_id, algorithm, sigstore) = match self {
            Signed::Key(k, v) => (k.name.clone(), k.key.key_id(), k.key.algorithm(), v),
            Signed::Keyless(v) => {
                let (name, id) = match &v.signed_by {
                    SignedBy::Certificate(i) => {
                        let issuer = i.issuer.as_deref().unwrap_or("unknown issuer");
                        let id = crate::digest::Digest::sha256(
                            format!("{issuer}\n{}", i.subject).as_bytes(),
                        );
                        (
                            format!("{} ({issuer})", i.subject),
                            format!("keyless:{}", &id.hex()[..16]),
                        )
                    }
                    SignedBy::Key { .. } => {
                        unreachable!("a keyless verification names a certificate")
                    }
                };
                (name, id, Algorithm::EcdsaP256, Some(v))
            }
        };
        ValidSignature {
            key,
            key_id,
            algorithm,
            format: c.format,
            annotations,
            bound_tags,
            timestamp,
            sigstore,
        }
    }
}

/// A keyless signature verified for the first trusted identity it is for.
fn keyless(
    material: &sigstore::Material<'_>,
    artifact: &[u8; 32],
    opts: &VerifyOptions,
) -> Result<Verified, Rejection> {
    let options = Options {
        ignore_tlog: opts.ignore_tlog,
    };
    let mut first_refusal = None;
    for policy in &opts.keyless {
        match sigstore::verify_material(
            material,
            artifact,
            Signer::Identity(policy),
            &opts.root,
            options,
        ) {
            Ok(v) => return Ok(v),
            // Every policy sees the same certificate: only an identity mismatch can differ.
            Err(e) => {
                first_refusal.get_or_insert(e);
            }
        }
    }
    Err(match first_refusal {
        Some(e) => Rejection::Sigstore(Arc::new(e)),
        None => Rejection::Keyless(certificate_subject(material)),
    })
}

/// The subject of the certificate a keyless signature carries, for a message saying who
/// signed it (read without trusting it).
fn certificate_subject(material: &sigstore::Material<'_>) -> String {
    material
        .certificates
        .as_ref()
        .and_then(|c| crate::sigstore::certificate::parse_leaf(&c.leaf).ok())
        .map(|l| l.identity.subject)
        .unwrap_or_else(|| "an unreadable identity".into())
}

/// The log entries and timestamps a key's signature carries, checked against the trusted
/// root (an entry in a log it does not list is noted, not checked); `None` when it carries
/// none, when the key cannot verify a signature over a digest (Ed25519), or when the artifact
/// is no subject of the statement (the statement checks refuse that, with their reason).
fn logged(
    material: &sigstore::Material<'_>,
    artifact: &[u8; 32],
    key: &NamedKey,
    opts: &VerifyOptions,
) -> Result<Option<Verified>, Rejection> {
    if material.tlog_entries.is_empty() && material.timestamps.is_empty() {
        return Ok(None);
    }
    let keys = [key.key.clone()];
    match sigstore::verify_material(
        material,
        artifact,
        Signer::Keys(&keys),
        &opts.root,
        Options {
            ignore_tlog: opts.ignore_tlog,
        },
    ) {
        Ok(v) => Ok(Some(v)),
        Err(Refusal::KeyCannotVerify(_) | Refusal::Subject(_)) => Ok(None),
        Err(e) => Err(Rejection::Sigstore(Arc::new(e))),
    }
}

/// A key-based bundle holding a DSSE envelope of an in-toto statement (v1 or v0.1) of
/// `predicate_type` whose one subject is this digest, signed over the PAE by a given key.
/// Subject annotations carry what `-a` and `--bind-tag` recorded; a subject name, when
/// present, must be this repository. Returns the signature and the statement.
pub(super) fn check_statement(
    c: &Candidate,
    bytes: &[u8],
    evidence: &Evidence,
    ctx: &Context,
    opts: &VerifyOptions,
    predicate_type: &str,
) -> Result<(ValidSignature, Statement), Rejection> {
    let b = Bundle::parse(bytes).map_err(|e| Rejection::BundleInvalid(Arc::new(e)))?;
    let envelope = match b
        .content()
        .map_err(|e| Rejection::BundleInvalid(Arc::new(e)))?
    {
        Content::Dsse(e) => e,
        Content::Message { .. } => return Err(Rejection::NotAStatement),
    };
    if envelope.payload_type != intoto::PAYLOAD_TYPE {
        return Err(Rejection::PayloadType(envelope.payload_type.clone()));
    }
    let payload = envelope
        .payload_bytes()
        .map_err(|e| Rejection::BundleInvalid(Arc::new(e)))?;
    let material = sigstore::Material {
        content: Content::Dsse(envelope),
        certificates: b
            .certificates()
            .map_err(|e| Rejection::BundleInvalid(Arc::new(e)))?,
        tlog_entries: &b.verification_material.tlog_entries,
        timestamps: b
            .timestamps()
            .map_err(|e| Rejection::BundleInvalid(Arc::new(e)))?,
        minor: b.minor_version(),
    };
    let subject_sha256: Option<[u8; 32]> = (evidence.digest.algorithm()
        == crate::digest::Algorithm::Sha256)
        .then(|| evidence.digest.to_bytes().try_into().ok())
        .flatten();
    // The signature must be over the PAE of these exact bytes and this payload type.
    let signer = if material.certificates.is_some() {
        let sha256 = subject_sha256.ok_or(Rejection::KeylessNeedsSha256)?;
        Signed::Keyless(keyless(&material, &sha256, opts)?)
    } else {
        let pae = dsse::pae(&envelope.payload_type, &payload);
        let signatures = envelope.signature_bytes();
        let key = opts
            .keys
            .iter()
            .find(|k| signatures.iter().any(|s| k.key.verify(&pae, s)))
            .ok_or(Rejection::NoTrustedKey)?;
        let logged = match subject_sha256 {
            Some(sha256) => logged(&material, &sha256, key, opts)?,
            None => None,
        };
        Signed::Key(key, logged)
    };
    let statement =
        Statement::parse(&payload).map_err(|e| Rejection::StatementInvalid(Arc::new(e)))?;
    if !statement.is_statement() {
        return Err(Rejection::WrongType {
            found: statement.kind,
            expected: intoto::STATEMENT_V1,
        });
    }
    if statement.predicate_type != predicate_type {
        return Err(if predicate_type == intoto::COSIGN_SIGN_V1 {
            Rejection::NotASignature(statement.predicate_type)
        } else {
            Rejection::OtherPredicate {
                found: statement.predicate_type,
                wanted: predicate_type.to_string(),
            }
        });
    }
    let [subject] = statement.subject.as_slice() else {
        return Err(Rejection::SubjectCount(statement.subject.len()));
    };
    if statement.subjects_for(&evidence.digest).next().is_none() {
        return Err(Rejection::WrongDigest {
            signed: format!("{:?}", subject.digest),
            digest: evidence.digest.clone(),
        });
    }
    if !subject.name.is_empty() {
        check_repository(&subject.name, ctx, opts)?;
    }
    let text = |k: &str| subject.annotations.get(k).and_then(|v| v.as_str());
    let valid = signer.valid(
        c,
        text(payload::TIMESTAMP_FIELD).map(str::to_string),
        text(payload::TAG_FIELD)
            .map(payload::split_tags)
            .unwrap_or_default(),
        subject.annotations.clone(),
    );
    Ok((valid, statement))
}

/// Candidate `c` as a valid signature (`predicate_type` cosign's signature type) or
/// attestation of the evidence's digest by `key`, made for the repository `identity`,
/// if it is one: what a new signature by the same key for the same repository may
/// replace (when it also records the same fields). `now` is the caller's clock, as for
/// every other judgement.
pub(crate) fn made_by(
    c: &Candidate,
    evidence: &Evidence,
    identity: &str,
    key: &NamedKey,
    predicate_type: &str,
    now: SystemTime,
) -> Option<ValidSignature> {
    let opts = VerifyOptions {
        keys: vec![key.clone()],
        ..VerifyOptions::default()
    };
    let ctx = Context {
        reference: String::new(),
        identity: identity.to_string(),
        tag: None,
        now,
    };
    check_as(c, evidence, &ctx, &opts, predicate_type).ok()
}
