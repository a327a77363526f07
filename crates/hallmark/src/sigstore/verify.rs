//! A Sigstore bundle judged offline, to the client specification's order: what is signed and
//! by what key, then the transparency-log entries and timestamps that establish when, then the
//! certificate at each of those times (chain, SCT, identity). Pure: the bundle, the artifact's
//! SHA-256, who may have signed, the trusted root and the options in; a [`Verified`] or the
//! first reason for refusal out.

use std::time::SystemTime;

use base64ct::{Base64, Encoding};
use serde::Serialize;

use super::certificate::{self, CertificateError, Identity, Leaf};
use super::identity::{IdentityError, IdentityPolicy};
use super::root::TrustedRoot;
use super::sct::{self, SctError};
use super::timestamp;
use super::tlog::{self, Signed, TlogError};
use crate::bundle::intoto::{PAYLOAD_TYPE, Statement};
use crate::bundle::legacy::LayerMaterial;
use crate::bundle::{Bundle, BundleError, Certificates, Content, TlogEntry, dsse};
use crate::keys::PublicKey;

/// Most transparency-log entries read from one bundle (real ones carry one).
pub(crate) const MAX_TLOG_ENTRIES: usize = 8;

/// Who may have signed.
#[derive(Debug, Clone, Copy)]
pub enum Signer<'a> {
    /// Any of these keys (key-based bundles).
    Keys(&'a [PublicKey]),
    /// A Fulcio certificate for this identity (keyless bundles).
    Identity(&'a IdentityPolicy),
}

/// How much to check (by default, everything).
#[derive(Debug, Clone, Copy, Default)]
#[non_exhaustive]
pub struct Options {
    /// Skip transparency-log entries (`--insecure-ignore-tlog`); said in the result's notes.
    pub ignore_tlog: bool,
}

/// Who signed, as verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
// Deliberately exhaustive: a key or a certificate are the two kinds of verification
// material, and the command line's JSON names each kind.
pub enum SignedBy {
    /// A given key.
    Key {
        /// Its position among the keys given.
        index: usize,
    },
    /// A Fulcio certificate's identity.
    Certificate(Box<Identity>),
}

/// A transparency-log entry that verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LogRecord {
    /// The log's base URL.
    pub log: String,
    /// The entry's index.
    pub log_index: i64,
    /// When the log integrated it (Rekor v1, under a verified promise).
    #[serde(serialize_with = "rfc3339_opt")]
    pub integrated_time: Option<SystemTime>,
    /// `hashedrekord 0.0.1`, …
    pub kind: String,
    /// What was verified: `inclusion proof`, `signed checkpoint`, `inclusion promise`.
    pub proofs: Vec<&'static str>,
}

/// A verified time and what vouches for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct VerifiedTime {
    /// The instant.
    #[serde(serialize_with = "rfc3339")]
    pub at: SystemTime,
    /// `transparency log <url>` or `timestamp authority <name>`.
    pub source: String,
}

/// A bundle that verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Verified {
    /// Who signed.
    pub signed_by: SignedBy,
    /// The log entries checked.
    pub tlog: Vec<LogRecord>,
    /// The verified times the certificate was checked at.
    pub times: Vec<VerifiedTime>,
    /// Every check made, in order.
    pub checks: Vec<String>,
    /// What was not checked, and why.
    pub notes: Vec<String>,
}

/// Why a bundle does not verify.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The bundle does not parse.
    #[error("{0}")]
    Bundle(#[from] BundleError),
    /// A certificate bundle checked against keys.
    #[error(
        "the bundle is signed keyless (it carries a certificate), not by a key: verify it against the signer's identity and OIDC issuer"
    )]
    KeylessBundle,
    /// A key-based bundle checked against an identity.
    #[error(
        "the bundle is signed by a key (it carries no certificate), not keyless: verify it with the signer's public key"
    )]
    KeyBundle,
    /// `messageDigest` names another artifact.
    #[error("the signature is for another file (sha256:{claimed}), not this one (sha256:{actual})")]
    OtherArtifact {
        /// Hex digest the bundle claims.
        claimed: String,
        /// Hex digest of the artifact.
        actual: String,
    },
    /// `messageDigest` with an algorithm other than SHA-256.
    #[error("the bundle's message digest uses {0}; only SHA2_256 is supported")]
    DigestAlgorithm(String),
    /// No given key made the signature.
    #[error("not signed by any of the given keys (or the artifact was altered)")]
    NotSignedByKeys,
    /// The certificate's key did not make the signature.
    #[error(
        "the signature does not verify with the signing certificate's key (or the artifact was altered)"
    )]
    CertificateSignature,
    /// A key that cannot verify a signature over a digest.
    #[error("{0}")]
    KeyCannotVerify(&'static str),
    /// The certificate's key cannot verify a signature over a digest.
    #[error("the signing certificate's key type is not supported (ECDSA P-256 is)")]
    LeafKey,
    /// A DSSE envelope that is not an in-toto statement.
    #[error("the DSSE payload type is {0:?}, not {PAYLOAD_TYPE}")]
    PayloadType(String),
    /// DSSE with no signature or several.
    #[error("the DSSE envelope holds {0} signatures; exactly one is supported")]
    DsseSignatures(usize),
    /// The statement does not parse.
    #[error("the signed in-toto statement is invalid: {0}")]
    Statement(String),
    /// No subject of the statement is the artifact.
    #[error("no subject of the signed statement is sha256:{0}")]
    Subject(String),
    /// Too many log entries.
    #[error("the bundle carries {0} transparency-log entries; at most {MAX_TLOG_ENTRIES} are read")]
    TooManyEntries(usize),
    /// A keyless bundle without a log entry.
    #[error("the bundle has no transparency-log entry; keyless signatures must be logged")]
    NoTlogEntry,
    /// The same entry twice.
    #[error("the bundle lists the same transparency-log entry twice")]
    DuplicateEntry,
    /// A log entry that does not verify.
    #[error("transparency log: {0}")]
    Tlog(#[from] TlogError),
    /// A Rekor v2 entry without a timestamp that verifies.
    #[error(
        "a Rekor v2 log entry carries no time, and the bundle has no RFC 3161 timestamp that verifies{0}"
    )]
    RekorV2WithoutTimestamp(String),
    /// Nothing verified says when the signature was made.
    #[error(
        "no verified time: the bundle has neither a signed inclusion promise nor an RFC 3161 timestamp that verifies{0}"
    )]
    NoVerifiedTime(String),
    /// More timestamps than any real bundle carries.
    #[error("the bundle carries {0} RFC 3161 timestamps; at most {max} are read", max = timestamp::MAX_TIMESTAMPS)]
    TooManyTimestamps(usize),
    /// The same timestamp twice.
    #[error("the bundle lists the same RFC 3161 timestamp twice")]
    DuplicateTimestamp,
    /// The certificate was not valid at a verified time.
    #[error(
        "the signing certificate was not valid at {at} ({by}): it is valid from {not_before} to {not_after}"
    )]
    CertificateNotValidAt {
        /// The verified time.
        at: String,
        /// What vouches for it.
        by: String,
        /// Validity start.
        not_before: String,
        /// Validity end.
        not_after: String,
    },
    /// The certificate or its chain is wrong.
    #[error("certificate: {0}")]
    Certificate(#[from] CertificateError),
    /// The SCTs do not verify.
    #[error("certificate transparency: {0}")]
    Sct(#[from] SctError),
    /// Signed by someone else.
    #[error("identity: {0}")]
    Identity(#[from] IdentityError),
}

/// What a Sigstore signature carries, whatever holds it (a bundle, or a legacy `.sig` layer's
/// annotations).
#[derive(Debug, Clone)]
pub(crate) struct Material<'a> {
    /// What is signed, and the signature.
    pub content: Content<'a>,
    /// The signing certificate and what the chain carries after it; `None` when signed by a key.
    pub certificates: Option<Certificates>,
    /// Transparency-log entries.
    pub tlog_entries: &'a [TlogEntry],
    /// RFC 3161 timestamps, DER.
    pub timestamps: Vec<Vec<u8>>,
    /// The bundle's minor version (1 needs an inclusion promise, 2 and 3 an inclusion proof).
    pub minor: u8,
}

impl<'a> Material<'a> {
    /// What a legacy `.sig` layer carries: `signature` over its payload, and its annotations
    /// as read. Checked as a v0.1 bundle would be (the entry's signed promise suffices), the
    /// way cosign checks a layer.
    pub(crate) fn of_layer(layer: &'a LayerMaterial, signature: &[u8]) -> Self {
        Material {
            content: Content::Message {
                sha256: None,
                signature: signature.to_vec(),
            },
            certificates: layer.certificates.clone(),
            tlog_entries: &layer.tlog_entries,
            timestamps: layer.timestamps.clone(),
            minor: 1,
        }
    }
}

/// Verifies `bundle` over the artifact whose SHA-256 is `artifact` (for a DSSE bundle, a
/// subject of its statement), signed by `signer`, against `root`.
pub fn verify(
    bundle: &Bundle,
    artifact: &[u8; 32],
    signer: Signer<'_>,
    root: &TrustedRoot,
    options: Options,
) -> Result<Verified, Refusal> {
    let material = Material {
        content: bundle.content()?,
        certificates: bundle.certificates()?,
        tlog_entries: &bundle.verification_material.tlog_entries,
        timestamps: bundle.timestamps()?,
        minor: bundle.minor_version(),
    };
    verify_material(&material, artifact, signer, root, options)
}

/// [`verify`] of material however it was held.
pub(crate) fn verify_material(
    material: &Material<'_>,
    artifact: &[u8; 32],
    signer: Signer<'_>,
    root: &TrustedRoot,
    options: Options,
) -> Result<Verified, Refusal> {
    let mut checks: Vec<String> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let certs = &material.certificates;
    let content = &material.content;

    // 1. What is signed, and the signature over it, by the key the signer allows.
    let leaf = match (&certs, signer) {
        (Some(_), Signer::Keys(_)) => return Err(Refusal::KeylessBundle),
        (None, Signer::Identity(_)) => return Err(Refusal::KeyBundle),
        (Some(c), Signer::Identity(_)) => {
            certificate::check_bundle_chain(&c.rest)?;
            Some(certificate::parse_leaf(&c.leaf)?)
        }
        (None, Signer::Keys(_)) => None,
    };
    let (signed, signature) = signed_content(content, artifact, &mut checks)?;
    let (signed_by, key_spki) = match (&leaf, signer) {
        (Some(leaf), _) => {
            let key = PublicKey::from_spki_der(&leaf.spki).ok_or(Refusal::LeafKey)?;
            if !signature_valid(&key, &signed, &signature)? {
                return Err(Refusal::CertificateSignature);
            }
            (
                SignedBy::Certificate(Box::new(leaf.identity.clone())),
                leaf.spki.clone(),
            )
        }
        (None, Signer::Keys(keys)) => {
            // A key that cannot verify this kind of signature is passed over; only when
            // every key is such a key is that the reason.
            let mut unusable = Vec::new();
            let found = keys.iter().position(|k| {
                signature_valid(k, &signed, &signature).unwrap_or_else(|e| {
                    unusable.push(e);
                    false
                })
            });
            let index = match found {
                Some(i) => i,
                None if !keys.is_empty() && unusable.len() == keys.len() => {
                    return Err(unusable.remove(0));
                }
                None => return Err(Refusal::NotSignedByKeys),
            };
            (SignedBy::Key { index }, keys[index].spki_der())
        }
        (None, Signer::Identity(_)) => return Err(Refusal::KeyBundle),
    };
    checks.push("signature over the artifact".into());

    // 2. Transparency-log entries: inclusion, checkpoint, promise, and the body is this
    // signature by this key over this artifact.
    let entries = material.tlog_entries;
    let mut tlog = Vec::new();
    let mut times = Vec::new();
    let mut rekor_v2 = false;
    if options.ignore_tlog {
        if !entries.is_empty() {
            notes.push("transparency-log entries were not checked (--insecure-ignore-tlog)".into());
        }
    } else {
        if entries.len() > MAX_TLOG_ENTRIES {
            return Err(Refusal::TooManyEntries(entries.len()));
        }
        if entries.is_empty() && leaf.is_some() {
            return Err(Refusal::NoTlogEntry);
        }
        let verifier = match &certs {
            Some(c) => tlog::Verifier::Certificate(&c.leaf),
            None => tlog::Verifier::Key(&key_spki),
        };
        let mut seen = Vec::new();
        for entry in entries {
            if leaf.is_none() && root.tlog(&b64(&entry.log_id.key_id)).is_none() {
                notes.push(format!(
                    "a transparency-log entry in a log the trusted root does not list was not checked (log id {})",
                    entry.log_id.key_id
                ));
                continue;
            }
            let logged = tlog::verify_entry(entry, &signed, &verifier, root, material.minor)?;
            if seen.contains(&(logged.log, logged.log_index)) {
                return Err(Refusal::DuplicateEntry);
            }
            seen.push((logged.log, logged.log_index));
            let url = root.tlogs[logged.log].base_url.clone();
            rekor_v2 |= logged.rekor_v2;
            if let Some(t) = logged.integrated_time {
                times.push(VerifiedTime {
                    at: t,
                    source: format!("transparency log {url}"),
                });
            }
            let mut proofs = Vec::new();
            if logged.inclusion_proof {
                proofs.extend(["inclusion proof", "signed checkpoint"]);
            }
            if logged.promise {
                proofs.push("inclusion promise");
            }
            checks.push(format!(
                "transparency log {url} entry {} ({})",
                logged.log_index,
                proofs.join(", ")
            ));
            tlog.push(LogRecord {
                log: url,
                log_index: logged.log_index,
                integrated_time: logged.integrated_time,
                kind: logged.kind,
                proofs,
            });
        }
    }

    // 3. Timestamps over the signature. One that does not verify establishes no time and is
    // said; the bundle is refused only when the times it needs are missing.
    if material.timestamps.len() > timestamp::MAX_TIMESTAMPS {
        return Err(Refusal::TooManyTimestamps(material.timestamps.len()));
    }
    let mut unusable = Vec::new();
    let mut stamps = 0;
    for (i, token) in material.timestamps.iter().enumerate() {
        if material.timestamps[..i].contains(token) {
            return Err(Refusal::DuplicateTimestamp);
        }
        match timestamp::verify(token, &signature, root) {
            Ok(s) => {
                let name = &root.timestamp_authorities[s.authority].name;
                checks.push(format!("RFC 3161 timestamp by {name}"));
                times.push(VerifiedTime {
                    at: s.time,
                    source: format!("timestamp authority {name}"),
                });
                stamps += 1;
            }
            Err(e) => {
                notes.push(format!("an RFC 3161 timestamp was not used: {e}"));
                unusable.push(e.to_string());
            }
        }
    }
    let why_not = || {
        if unusable.is_empty() {
            String::new()
        } else {
            format!(" ({})", unusable.join("; "))
        }
    };
    if rekor_v2 && stamps == 0 {
        return Err(Refusal::RekorV2WithoutTimestamp(why_not()));
    }

    // 4. The certificate, at every verified time: validity, chain to a trusted CA whose window
    // holds the time, then its SCT and the identity.
    if let (Some(leaf), Signer::Identity(policy)) = (&leaf, signer) {
        if times.is_empty() {
            return Err(Refusal::NoVerifiedTime(why_not()));
        }
        let mut issuer = None;
        for t in &times {
            if !leaf.valid_at(t.at) {
                return Err(not_valid_at(leaf, t));
            }
            let issued = certificate::verify_chain(leaf, root, t.at)?;
            issuer.get_or_insert(issued);
        }
        let issuer = issuer.expect("at least one verified time");
        checks.push(format!(
            "certificate chain to {} at every verified time",
            root.certificate_authorities[issuer.authority].uri
        ));
        let n = sct::verify_scts(leaf, &issuer.issuer_spki, root)?;
        checks.push(format!("{n} signed certificate timestamp(s)"));
        policy.check(&leaf.identity)?;
        checks.push("certificate identity and issuer".into());
    }

    Ok(Verified {
        signed_by,
        tlog,
        times,
        checks,
        notes,
    })
}

/// What the signature covers and the signature: a message signature over the artifact's
/// digest, or a DSSE envelope whose statement names the artifact.
fn signed_content<'b>(
    content: &'b Content<'_>,
    artifact: &[u8; 32],
    checks: &mut Vec<String>,
) -> Result<(Signed<'b>, Vec<u8>), Refusal> {
    match content {
        Content::Message { sha256, signature } => {
            if let Some(claimed) = sha256
                && claimed.as_slice() != artifact
            {
                return Err(Refusal::OtherArtifact {
                    claimed: crate::digest::to_hex(claimed),
                    actual: crate::digest::to_hex(artifact),
                });
            }
            Ok((
                Signed::Message {
                    sha256: *artifact,
                    signature,
                },
                signature.clone(),
            ))
        }
        Content::Dsse(envelope) => {
            if envelope.payload_type != PAYLOAD_TYPE {
                return Err(Refusal::PayloadType(envelope.payload_type.clone()));
            }
            let sigs = envelope.signature_bytes();
            if envelope.signatures.len() != 1 || sigs.len() != 1 {
                return Err(Refusal::DsseSignatures(envelope.signatures.len()));
            }
            let payload = envelope.payload_bytes()?;
            let statement =
                Statement::parse(&payload).map_err(|e| Refusal::Statement(e.to_string()))?;
            if !statement.is_statement() {
                return Err(Refusal::Statement(format!(
                    "_type {:?} is not an in-toto statement",
                    statement.kind
                )));
            }
            let hex = crate::digest::to_hex(artifact);
            if !statement.subject.iter().any(|s| {
                s.digest
                    .get("sha256")
                    .is_some_and(|d| d.eq_ignore_ascii_case(&hex))
            }) {
                return Err(Refusal::Subject(hex));
            }
            checks.push("the artifact is a subject of the signed statement".into());
            Ok((
                Signed::Dsse { envelope },
                sigs.into_iter().next().unwrap_or_default(),
            ))
        }
    }
}

/// Whether `signature` by `key` covers what is signed.
fn signature_valid(
    key: &PublicKey,
    signed: &Signed<'_>,
    signature: &[u8],
) -> Result<bool, Refusal> {
    match signed {
        Signed::Message { sha256, .. } => key.verify_prehashed(sha256, signature).ok_or(
            Refusal::KeyCannotVerify(
                "an Ed25519 key cannot verify a streamed blob; blobs are signed with ECDSA P-256 keys",
            ),
        ),
        Signed::Dsse { envelope } => {
            let payload = envelope.payload_bytes()?;
            Ok(key.verify(&dsse::pae(&envelope.payload_type, &payload), signature))
        }
    }
}

fn not_valid_at(leaf: &Leaf, t: &VerifiedTime) -> Refusal {
    let fmt = |t: SystemTime| humantime::format_rfc3339_seconds(t).to_string();
    Refusal::CertificateNotValidAt {
        at: fmt(t.at),
        by: t.source.clone(),
        not_before: fmt(leaf.not_before),
        not_after: fmt(leaf.not_after),
    }
}

fn b64(text: &str) -> Vec<u8> {
    Base64::decode_vec(text).unwrap_or_default()
}

fn rfc3339<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&humantime::format_rfc3339_millis(*t))
}

fn rfc3339_opt<S: serde::Serializer>(t: &Option<SystemTime>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod conformance {
    //! Every sigstore-conformance case through [`verify`], each `_fail` case refused for the
    //! reason its README gives (the suite itself checks only that a client fails). The cases
    //! are read from `../shared` beside the checkout, which the repository may not copy.

    use std::path::{Path, PathBuf};

    use super::*;
    use crate::sigstore::certificate::CertificateError;
    use crate::sigstore::checkpoint::CheckpointError;
    use crate::sigstore::identity::{GithubClaims, Matcher};
    use crate::sigstore::sct::SctError;

    const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

    fn cases() -> Option<PathBuf> {
        crate::sigstore::conformance_cases()
    }

    /// Why each `_fail` case must be refused; cases refused before `verify` (a bundle or
    /// trusted root or key that does not parse) say so with `None`.
    fn expected(name: &str) -> Option<fn(&Refusal) -> bool> {
        use Refusal as R;
        use TlogError as T;
        Some(match name {
            "bundle-empty-certificate-chain_fail" => {
                |r| matches!(r, R::Bundle(BundleError::EmptyChain))
            }
            "bundle-from-wrong-instance_fail" => |r| matches!(r, R::Tlog(T::UnknownLog(_))),
            "bundle-invalid-base64-signature_fail" => {
                |r| matches!(r, R::Bundle(BundleError::Base64(_)))
            }
            "bundle-negative-log-index_fail" => |r| matches!(r, R::Tlog(T::NegativeIndex(_))),
            "bundle-with-root-cert_fail" => {
                |r| matches!(r, R::Certificate(CertificateError::RootInBundle(_)))
            }
            "checkpoint-bad-keyhint_fail" | "rekor2-checkpoint-missing-log-signature_fail" => |r| {
                matches!(
                    r,
                    R::Tlog(T::Checkpoint(CheckpointError::NoLogSignature { .. }))
                )
            },
            "checkpoint-wrong-roothash_fail" => |r| matches!(r, R::Tlog(T::CheckpointRoot)),
            "dsse-invalid-sig_fail"
            | "rekor2-dsse-invalid-sig_fail"
            | "signature-mismatch_fail" => |r| matches!(r, R::CertificateSignature),
            "dsse-mismatch-envelope_fail"
            | "rekor2-dsse-mismatch-envelope_fail"
            | "wrong-hashedrekord-artifact_fail"
            | "wrong-hashedrekord-entry_fail" => |r| matches!(r, R::Tlog(T::DigestMismatch)),
            "dsse-mismatch-sig_fail"
            | "rekor2-dsse-mismatch-sig_fail"
            | "intoto-log-entry-mismatch_fail"
            | "wrong-hashedrekord-cert-and-sig_fail" => {
                |r| matches!(r, R::Tlog(T::SignatureMismatch))
            }
            "inclusion-proof-corrupted-hash_fail" | "invalid-inclusion-proof_fail" => {
                |r| matches!(r, R::Tlog(T::ProofRoot))
            }
            "incorrect-public-key_fail" => |r| matches!(r, R::Tlog(T::VerifierMismatch)),
            "integrated-time-in-future_fail"
            | "intoto-expired-certificate_fail"
            | "intoto-set-outside-signing-cert-validity_fail"
            | "intoto-tsa-timestamp-outside-cert-validity_fail"
            | "rekor2-timestamp-with-incorrect-time_fail" => {
                |r| matches!(r, R::CertificateNotValidAt { .. })
            }
            "intoto-missing-inclusion-proof_fail" | "rekor2-no-inclusion-proof_fail" => {
                |r| matches!(r, R::Tlog(T::NoProof(_)))
            }
            "invalid-checkpoint-signature_fail" => {
                |r| matches!(r, R::Tlog(T::Checkpoint(CheckpointError::Signature)))
            }
            "invalid-ct-key_fail" => |r| matches!(r, R::Sct(SctError::UnknownLog { .. })),
            "managed-key-no-key_fail" => |r| matches!(r, R::KeyBundle),
            "message-digest-mismatch_fail" | "wrong-material_fail" => {
                |r| matches!(r, R::OtherArtifact { .. })
            }
            "rekor2-checkpoint-missing-origin_fail"
            | "rekor2-checkpoint-no-matching-signature_fail" => |r| {
                matches!(
                    r,
                    R::Tlog(T::Checkpoint(CheckpointError::OriginMismatch { .. }))
                )
            },
            "rekor2-checkpoint-missing-root-hash_fail" => {
                |r| matches!(r, R::Tlog(T::Checkpoint(CheckpointError::RootHash(_))))
            }
            "rekor2-checkpoint-missing-size_fail" => {
                |r| matches!(r, R::Tlog(T::Checkpoint(CheckpointError::Size(_))))
            }
            "rekor2-no-timestamp_fail"
            | "rekor2-timestamp-outside-trust-root-tsa-validity_fail"
            | "rekor2-timestamp-outside-tsa-cert-validity_fail"
            | "rekor2-timestamp-payload-mismatch_fail"
            | "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail"
            | "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail" => {
                |r| matches!(r, R::RekorV2WithoutTimestamp(_))
            }
            "set-invalid-signature_fail" => |r| matches!(r, R::Tlog(T::PromiseSignature)),
            _ => return None,
        })
    }

    fn read(dir: &Path, name: &str) -> Option<String> {
        std::fs::read_to_string(dir.join(name))
            .ok()
            .map(|s| s.trim().to_string())
    }

    #[test]
    fn every_case_verifies_or_is_refused_for_its_own_reason() {
        let Some(all) = cases() else { return };
        let mut names: Vec<_> = std::fs::read_dir(&all)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_dir())
            .collect();
        names.sort();
        let mut wrong = Vec::new();
        let mut judged = 0;
        for dir in names {
            let name = dir.file_name().unwrap().to_string_lossy().to_string();
            let Ok(bundle) =
                Bundle::parse(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap())
            else {
                // Refused before verification: malformed JSON, an unknown version.
                assert!(name.ends_with("_fail"), "{name} does not parse");
                continue;
            };
            let root = match std::fs::read(dir.join("trusted_root.json")) {
                Ok(bytes) => match TrustedRoot::parse(&bytes) {
                    Ok(r) => r,
                    Err(_) => {
                        assert_eq!(name, "trust-root-tlog-missing-validity-start_fail");
                        continue;
                    }
                },
                Err(_) => TrustedRoot::production(),
            };
            let artifact = std::fs::read(dir.join("artifact"))
                .unwrap_or_else(|_| std::fs::read(all.join("a.txt")).unwrap());
            let sha256: [u8; 32] = crate::digest::Digest::sha256(&artifact)
                .to_bytes()
                .try_into()
                .unwrap();
            let key = read(&dir, "key.pub").map(|pem| PublicKey::from_pem(&pem, "key.pub"));
            let policy = IdentityPolicy {
                subject: Matcher::Exact(read(&dir, "identity").unwrap_or(DEFAULT_IDENTITY.into())),
                issuer: Matcher::Exact(read(&dir, "issuer").unwrap_or(DEFAULT_ISSUER.into())),
                github: GithubClaims::default(),
            };
            let keys;
            let signer = match key {
                Some(Ok(k)) => {
                    keys = [k];
                    Signer::Keys(&keys)
                }
                Some(Err(_)) => {
                    assert_eq!(name, "managed-key-wrong-key_fail");
                    continue;
                }
                None => Signer::Identity(&policy),
            };
            judged += 1;
            let outcome = verify(
                &bundle,
                &sha256,
                signer,
                &root,
                Options { ignore_tlog: false },
            );
            match (name.ends_with("_fail"), outcome, expected(&name)) {
                (false, Ok(_), _) => {}
                (false, Err(e), _) => wrong.push(format!("{name}: refused: {e}")),
                (true, Ok(_), _) => wrong.push(format!("{name}: verified")),
                (true, Err(e), Some(reason)) if !reason(&e) => {
                    wrong.push(format!("{name}: refused for another reason: {e:?}"))
                }
                (true, Err(_), Some(_)) => {}
                (true, Err(e), None) => wrong.push(format!("{name}: no expected reason ({e:?})")),
            }
        }
        assert!(judged >= 65, "{judged} cases judged");
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
