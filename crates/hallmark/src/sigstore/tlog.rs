//! Transparency-log entries (Rekor v1 and v2), offline: that the entry comes from a log the
//! trusted root lists, that the log promised (SET) or proved (Merkle inclusion proof plus
//! signed checkpoint) to hold it, and that what it holds is what the bundle signs.
//!
//! The body is compared with the bundle before anything the log signed is believed about it,
//! so that an entry for another artifact, signature or signer (CVE-2022-36056) is refused
//! whatever its proofs; the proofs then make the body the one the log holds.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64ct::{Base64, Encoding};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::checkpoint::{self, CheckpointError, hex};
use super::merkle::{self, MAX_PROOF_HASHES};
use super::root::TrustedRoot;
use super::x509;
use crate::bundle::{InclusionProof, TlogEntry, dsse};
use crate::class::ErrorClass;

/// Largest entry body read, decoded: real ones are a few kilobytes, certificate included.
pub(crate) const MAX_BODY_BYTES: usize = 512 * 1024;
const HASHEDREKORD: &str = "hashedrekord";

/// What the bundle signs, as the log must have recorded it.
#[derive(Debug, Clone, Copy)]
pub enum Signed<'a> {
    /// A signature over an artifact whose SHA-256 is `sha256`.
    Message {
        /// The artifact's SHA-256, computed by the verifier.
        sha256: [u8; 32],
        /// The bundle's signature bytes.
        signature: &'a [u8],
    },
    /// A DSSE envelope.
    Dsse {
        /// The bundle's envelope.
        envelope: &'a dsse::Envelope,
    },
}

/// Who signed, as the log must have recorded it.
#[derive(Debug, Clone, Copy)]
pub enum Verifier<'a> {
    /// The signing certificate, DER.
    Certificate(&'a [u8]),
    /// The signing key, DER SubjectPublicKeyInfo.
    Key(&'a [u8]),
}

/// An entry that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Logged {
    /// Index of the log in `root.tlogs`.
    pub log: usize,
    /// The entry's global index in the log.
    pub log_index: i64,
    /// When the log integrated the entry: only when its signed entry timestamp verified.
    pub integrated_time: Option<SystemTime>,
    /// Kind and version, e.g. `hashedrekord 0.0.1`.
    pub kind: String,
    /// A Rekor v2 entry (no integrated time; a timestamp authority must date the signature).
    pub rekor_v2: bool,
    /// An inclusion proof verified up to a checkpoint signed by the log.
    pub inclusion_proof: bool,
    /// A signed entry timestamp (inclusion promise) verified.
    pub promise: bool,
}

/// Why a transparency-log entry does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// A base64 field that is not base64.
    #[error("the transparency-log entry's {0} is not base64")]
    Base64(&'static str),
    /// The entry's log is not in the trusted root.
    #[error(
        "the transparency-log entry is from a log the trusted root does not list (log id {0}); \
         pass the trusted root of the Sigstore instance that signed it"
    )]
    UnknownLog(String),
    /// `logIndex` below zero.
    #[error("the transparency-log entry has a negative log index ({0})")]
    NegativeIndex(i64),
    /// A v0.1 bundle's Rekor v1 entry without a signed entry timestamp.
    #[error(
        "the transparency-log entry of a v0.1 bundle needs a signed entry timestamp \
         (inclusionPromise), and it has none"
    )]
    NoPromise,
    /// No inclusion proof where one is required.
    #[error("the transparency-log entry has no inclusion proof, which {0} needs")]
    NoProof(&'static str),
    /// An inclusion proof without the checkpoint that makes its root the log's.
    #[error("the transparency-log entry's inclusion proof has no checkpoint, which {0} needs")]
    NoCheckpoint(&'static str),
    /// The signed entry timestamp does not verify with the log's key.
    #[error("the log's signed entry timestamp (inclusionPromise) does not verify")]
    PromiseSignature,
    /// `integratedTime` is not a time.
    #[error("the transparency-log entry's integrated time ({0}) is not a valid time")]
    IntegratedTime(i64),
    /// The log's key was not trusted at `integratedTime`.
    #[error(
        "the transparency-log entry was integrated at {}, outside the window in which the \
         trusted root trusts the log's key",
        when(*.0)
    )]
    PromiseOutsideKeyWindow(i64),
    /// More proof hashes than any tree needs.
    #[error("the inclusion proof has {0} hashes; a proof has at most {MAX_PROOF_HASHES}")]
    ProofTooLong(usize),
    /// Index not inside the tree.
    #[error("the inclusion proof's index {index} is not inside its tree of size {size}")]
    ProofIndex {
        /// `inclusionProof.logIndex`.
        index: i64,
        /// `inclusionProof.treeSize`.
        size: i64,
    },
    /// A proof hash that is not base64 of 32 bytes.
    #[error("the inclusion proof's {0} is not a base64 SHA-256 hash")]
    ProofHash(&'static str),
    /// The proof does not recompute the root hash from the entry.
    #[error("the inclusion proof does not lead from the entry to the tree's root hash")]
    ProofRoot,
    /// The checkpoint does not parse or is not signed by the log.
    #[error("{0}")]
    Checkpoint(#[from] CheckpointError),
    /// The checkpoint is for another root.
    #[error("the log checkpoint's root hash is not the inclusion proof's")]
    CheckpointRoot,
    /// A Rekor v2 entry whose `logIndex` is not the one its inclusion proof proves.
    #[error("the transparency-log entry's log index {entry} is not its inclusion proof's {proof}")]
    IndexNotProved {
        /// `logIndex`.
        entry: i64,
        /// `inclusionProof.logIndex`.
        proof: i64,
    },
    /// The checkpoint is for another tree size.
    #[error("the log checkpoint's tree size {checkpoint} is not the inclusion proof's {proof}")]
    CheckpointSize {
        /// The checkpoint's size.
        checkpoint: u64,
        /// `inclusionProof.treeSize`.
        proof: i64,
    },
    /// A body larger than `MAX_BODY_BYTES`.
    #[error("the transparency-log entry's body is larger than {MAX_BODY_BYTES} bytes")]
    BodyTooLarge,
    /// A body that is not an entry of its kind.
    #[error("the transparency-log entry's body is not a valid {kind} entry: {why}")]
    Body {
        /// Kind and version.
        kind: String,
        /// What is missing or wrong.
        why: String,
    },
    /// The body is of another kind or version than the entry says.
    #[error("the transparency-log entry says it is {declared} but its body is {body}")]
    KindMismatch {
        /// `kindVersion`.
        declared: String,
        /// The body's `kind` and `apiVersion`.
        body: String,
    },
    /// A kind hallmark does not read.
    #[error(
        "transparency-log entries of kind {0} are not supported (hashedrekord 0.0.1/0.0.2, \
         dsse 0.0.1/0.0.2 and intoto 0.0.2 are)"
    )]
    UnsupportedKind(String),
    /// A kind that cannot record what the bundle signs.
    #[error("a {content} cannot be logged as a {kind} entry")]
    WrongContent {
        /// Kind and version.
        kind: String,
        /// `message signature` or `DSSE envelope`.
        content: &'static str,
    },
    /// The logged digest is not the signed artifact's or envelope's.
    #[error("the transparency-log entry is for another artifact: its digest is not the one signed")]
    DigestMismatch,
    /// The logged signature is not the bundle's.
    #[error("the transparency-log entry holds another signature than the bundle's")]
    SignatureMismatch,
    /// The logged certificate or key is not the bundle's.
    #[error("the transparency-log entry names another signer (certificate or key) than the bundle")]
    VerifierMismatch,
    /// A DSSE envelope with other than one signature.
    #[error("the DSSE envelope has {0} signatures; exactly one is supported")]
    EnvelopeSignatures(usize),
}

/// Seconds since 1970 as RFC 3339 where that format reaches (it stops at year 9999).
fn when(secs: i64) -> String {
    u64::try_from(secs)
        .ok()
        .filter(|s| *s < 253_402_300_800)
        .map(|s| humantime::format_rfc3339(UNIX_EPOCH + Duration::from_secs(s)).to_string())
        .unwrap_or_else(|| format!("{secs} seconds since 1970"))
}

impl TlogError {
    /// Every failure means the entry does not count.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Denied
    }
}

/// Verifies one entry offline; see the module documentation. `bundle_minor` is
/// [`crate::bundle::Bundle::minor_version`].
pub fn verify_entry(
    entry: &TlogEntry,
    signed: &Signed<'_>,
    verifier: &Verifier<'_>,
    root: &TrustedRoot,
    bundle_minor: u8,
) -> Result<Logged, TlogError> {
    let log_id =
        Base64::decode_vec(&entry.log_id.key_id).map_err(|_| TlogError::Base64("logId.keyId"))?;
    let (log_pos, log) = root
        .tlogs
        .iter()
        .enumerate()
        .find(|(_, l)| l.log_id == log_id)
        .ok_or_else(|| TlogError::UnknownLog(hex(&log_id)))?;
    if entry.log_index < 0 {
        return Err(TlogError::NegativeIndex(entry.log_index));
    }
    let kind = format!("{} {}", entry.kind_version.kind, entry.kind_version.version);
    let rekor_v2 = entry.kind_version.version == "0.0.2"
        && matches!(entry.kind_version.kind.as_str(), HASHEDREKORD | "dsse");
    let proof_needed = if rekor_v2 {
        Some("a Rekor v2 entry")
    } else if bundle_minor >= 2 {
        Some("a v0.2 or later bundle")
    } else {
        None
    };
    if !rekor_v2 && bundle_minor <= 1 && entry.inclusion_promise.is_none() {
        return Err(TlogError::NoPromise);
    }
    if let (Some(why), None) = (proof_needed, &entry.inclusion_proof) {
        return Err(TlogError::NoProof(why));
    }
    // Bounded before decoding: four base64 characters per three bytes.
    if entry.canonicalized_body.len() > MAX_BODY_BYTES / 3 * 4 + 4 {
        return Err(TlogError::BodyTooLarge);
    }
    let body = Base64::decode_vec(&entry.canonicalized_body)
        .map_err(|_| TlogError::Base64("canonicalizedBody"))?;
    if body.len() > MAX_BODY_BYTES {
        return Err(TlogError::BodyTooLarge);
    }
    check_body(&body, entry, &kind, signed, verifier)?;

    let mut integrated_time = None;
    // Rekor v2 makes no promises; a SET on its entry would be signed by nobody it trusts.
    if !rekor_v2 && let Some(promise) = &entry.inclusion_promise {
        let set = Base64::decode_vec(&promise.signed_entry_timestamp)
            .map_err(|_| TlogError::Base64("inclusionPromise.signedEntryTimestamp"))?;
        let payload = format!(
            r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
            Base64::encode_string(&body),
            entry.integrated_time,
            hex(&log_id),
            entry.log_index
        );
        let key = &log.key;
        if !x509::verify_signature(
            &key.spki,
            checkpoint::hash_of(key),
            payload.as_bytes(),
            &set,
        ) {
            return Err(TlogError::PromiseSignature);
        }
        let at = u64::try_from(entry.integrated_time)
            .ok()
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
            .ok_or(TlogError::IntegratedTime(entry.integrated_time))?;
        if !key.valid.contains(at) {
            return Err(TlogError::PromiseOutsideKeyWindow(entry.integrated_time));
        }
        integrated_time = Some(at);
    }

    // The proof authenticates its own index only. Rekor v2 logs are not sharded behind one
    // key, so the entry's index must be that one, or it is reported unproved; Rekor v1's
    // global index legitimately differs from its shard's.
    if rekor_v2
        && let Some(p) = &entry.inclusion_proof
        && p.log_index != entry.log_index
    {
        return Err(TlogError::IndexNotProved {
            entry: entry.log_index,
            proof: p.log_index,
        });
    }
    let inclusion_proof = match &entry.inclusion_proof {
        Some(p) => verify_proof(p, &body, log)?,
        None => false,
    };
    if let (Some(why), false) = (proof_needed, inclusion_proof) {
        return Err(TlogError::NoCheckpoint(why));
    }
    Ok(Logged {
        log: log_pos,
        log_index: entry.log_index,
        integrated_time,
        kind,
        rekor_v2,
        inclusion_proof,
        promise: integrated_time.is_some(),
    })
}

/// Checks the Merkle path, then the checkpoint; `Ok(false)` when the proof holds but has no
/// checkpoint, so its root is nobody's word.
fn verify_proof(
    p: &InclusionProof,
    body: &[u8],
    log: &super::root::Log,
) -> Result<bool, TlogError> {
    if p.hashes.len() > MAX_PROOF_HASHES {
        return Err(TlogError::ProofTooLong(p.hashes.len()));
    }
    if p.log_index < 0 || p.tree_size <= p.log_index {
        return Err(TlogError::ProofIndex {
            index: p.log_index,
            size: p.tree_size,
        });
    }
    let hash = |text: &str, what| -> Result<[u8; 32], TlogError> {
        Base64::decode_vec(text)
            .ok()
            .and_then(|h| h.try_into().ok())
            .ok_or(TlogError::ProofHash(what))
    };
    let root_hash = hash(&p.root_hash, "root hash")?;
    let path = p
        .hashes
        .iter()
        .map(|h| hash(h, "hashes"))
        .collect::<Result<Vec<_>, _>>()?;
    // Both are non-negative and index < size, checked above.
    let (index, size) = (p.log_index as u64, p.tree_size as u64);
    if !merkle::verify_inclusion(&merkle::leaf_hash(body), index, size, &path, &root_hash) {
        return Err(TlogError::ProofRoot);
    }
    let Some(cp) = &p.checkpoint else {
        return Ok(false);
    };
    let note = checkpoint::verify_note(&cp.envelope, log)?;
    if note.root_hash != root_hash {
        return Err(TlogError::CheckpointRoot);
    }
    if note.size != size {
        return Err(TlogError::CheckpointSize {
            checkpoint: note.size,
            proof: p.tree_size,
        });
    }
    Ok(true)
}

/// What the entry's body records, next to what the bundle signs.
struct Expected<'a> {
    /// The artifact's (or PAE's) SHA-256.
    sha256: [u8; 32],
    /// The signature bytes.
    signature: Vec<u8>,
    verifier: &'a Verifier<'a>,
}

fn check_body(
    body: &[u8],
    entry: &TlogEntry,
    kind: &str,
    signed: &Signed<'_>,
    verifier: &Verifier<'_>,
) -> Result<(), TlogError> {
    let bad = |why: &str| TlogError::Body {
        kind: kind.to_string(),
        why: why.to_string(),
    };
    let v: Value = crate::json::from_slice_unique(body)
        .map_err(|e| bad(&format!("not JSON without repeated keys ({e})")))?;
    let body_kind = format!(
        "{} {}",
        v.get("kind").and_then(Value::as_str).unwrap_or("?"),
        v.get("apiVersion").and_then(Value::as_str).unwrap_or("?")
    );
    if body_kind != kind {
        return Err(TlogError::KindMismatch {
            declared: kind.to_string(),
            body: body_kind,
        });
    }
    let spec = v.get("spec").ok_or_else(|| bad("no spec"))?;
    let kv = &entry.kind_version;
    match (kv.kind.as_str(), kv.version.as_str(), signed) {
        (HASHEDREKORD, "0.0.1", Signed::Message { sha256, signature }) => {
            let want = Expected {
                sha256: *sha256,
                signature: signature.to_vec(),
                verifier,
            };
            hashedrekord_v001(spec, &want, &bad)
        }
        (HASHEDREKORD, "0.0.2", _) => {
            let want = match signed {
                Signed::Message { sha256, signature } => Expected {
                    sha256: *sha256,
                    signature: signature.to_vec(),
                    verifier,
                },
                Signed::Dsse { envelope } => {
                    let payload = dsse_payload(envelope)?;
                    Expected {
                        sha256: Sha256::digest(dsse::pae(&envelope.payload_type, &payload)).into(),
                        signature: one_signature(envelope)?,
                        verifier,
                    }
                }
            };
            hashedrekord_v002(spec, &want, &bad)
        }
        ("dsse", "0.0.1", Signed::Dsse { envelope }) => {
            let (_, want) = payload_logged(envelope, verifier)?;
            dsse_v001(spec, &want, &bad)
        }
        ("dsse", "0.0.2", Signed::Dsse { envelope }) => {
            let (_, want) = payload_logged(envelope, verifier)?;
            dsse_v002(spec, &want, &bad)
        }
        ("intoto", "0.0.2", Signed::Dsse { envelope }) => {
            let (payload, want) = payload_logged(envelope, verifier)?;
            intoto_v002(spec, envelope, &payload, &want, &bad)
        }
        (HASHEDREKORD, "0.0.1", Signed::Dsse { .. }) => Err(TlogError::WrongContent {
            kind: kind.to_string(),
            content: "DSSE envelope",
        }),
        ("dsse" | "intoto", _, Signed::Message { .. }) => Err(TlogError::WrongContent {
            kind: kind.to_string(),
            content: "message signature",
        }),
        _ => Err(TlogError::UnsupportedKind(kind.to_string())),
    }
}

fn dsse_payload(envelope: &dsse::Envelope) -> Result<Vec<u8>, TlogError> {
    envelope
        .payload_bytes()
        .map_err(|_| TlogError::Base64("dsseEnvelope.payload"))
}

/// What a Rekor v1 DSSE-shaped entry (dsse, intoto) records of an envelope: the SHA-256 of
/// its payload and its one signature; with the payload itself.
fn payload_logged<'a>(
    envelope: &dsse::Envelope,
    verifier: &'a Verifier<'a>,
) -> Result<(Vec<u8>, Expected<'a>), TlogError> {
    let payload = dsse_payload(envelope)?;
    let want = Expected {
        sha256: Sha256::digest(&payload).into(),
        signature: one_signature(envelope)?,
        verifier,
    };
    Ok((payload, want))
}

fn one_signature(envelope: &dsse::Envelope) -> Result<Vec<u8>, TlogError> {
    match envelope.signatures.as_slice() {
        [one] => Base64::decode_vec(&one.sig)
            .map_err(|_| TlogError::Base64("dsseEnvelope.signatures[0].sig")),
        many => Err(TlogError::EnvelopeSignatures(many.len())),
    }
}

type Bad<'a> = dyn Fn(&str) -> TlogError + 'a;

/// The string at `path` under `v`.
fn text<'v>(v: &'v Value, path: &[&str], bad: &Bad<'_>) -> Result<&'v str, TlogError> {
    let mut at = v;
    for key in path {
        at = at
            .get(key)
            .ok_or_else(|| bad(&format!("no {}", path.join("."))))?;
    }
    at.as_str()
        .ok_or_else(|| bad(&format!("{} is not a string", path.join("."))))
}

/// Base64 text at `path`, decoded.
fn bytes(v: &Value, path: &[&str], bad: &Bad<'_>) -> Result<Vec<u8>, TlogError> {
    Base64::decode_vec(text(v, path, bad)?)
        .map_err(|_| bad(&format!("{} is not base64", path.join("."))))
}

/// A `{algorithm: "sha256", value: <hex>}` object equal to `want`.
fn check_hex_sha256(
    v: &Value,
    path: &[&str],
    want: &[u8; 32],
    bad: &Bad<'_>,
) -> Result<(), TlogError> {
    let mut alg = path.to_vec();
    alg.push("algorithm");
    let mut value = path.to_vec();
    value.push("value");
    if text(v, &alg, bad)? != "sha256" {
        return Err(TlogError::DigestMismatch);
    }
    // Hex is compared in lower case, as Rekor writes it.
    if text(v, &value, bad)?.to_ascii_lowercase() != hex(want) {
        return Err(TlogError::DigestMismatch);
    }
    Ok(())
}

/// The signer a logged PEM names (base64 of PEM, as Rekor v1 kinds store it), against the
/// bundle's certificate or key.
fn check_pem_verifier(
    b64_pem: &[u8],
    verifier: &Verifier<'_>,
    bad: &Bad<'_>,
) -> Result<(), TlogError> {
    // Read as Go reads PEM (Rekor's writers wrap lines, or not), then compared as DER.
    let (label, der) =
        crate::keys::decode_pem(b64_pem, "the logged verifier").map_err(|e| bad(&e.to_string()))?;
    let same = match verifier {
        Verifier::Certificate(leaf) => label == "CERTIFICATE" && der == *leaf,
        // A key the user gives may have been logged inside a certificate (a signer whose key
        // was certified, then distributed bare): the entry still records that key.
        Verifier::Key(spki) => match label.as_str() {
            "PUBLIC KEY" => der == *spki,
            "CERTIFICATE" => x509::spki_of(&der).is_ok_and(|k| k == *spki),
            _ => false,
        },
    };
    if same {
        Ok(())
    } else {
        Err(TlogError::VerifierMismatch)
    }
}

fn hashedrekord_v001(spec: &Value, want: &Expected<'_>, bad: &Bad<'_>) -> Result<(), TlogError> {
    check_hex_sha256(spec, &["data", "hash"], &want.sha256, bad)?;
    if bytes(spec, &["signature", "content"], bad)? != want.signature {
        return Err(TlogError::SignatureMismatch);
    }
    let pem = bytes(spec, &["signature", "publicKey", "content"], bad)?;
    check_pem_verifier(&pem, want.verifier, bad)
}

fn hashedrekord_v002(spec: &Value, want: &Expected<'_>, bad: &Bad<'_>) -> Result<(), TlogError> {
    let spec = spec
        .get("hashedRekordV002")
        .ok_or_else(|| bad("no spec.hashedRekordV002"))?;
    if text(spec, &["data", "algorithm"], bad)? != "SHA2_256"
        || bytes(spec, &["data", "digest"], bad)? != want.sha256
    {
        return Err(TlogError::DigestMismatch);
    }
    if bytes(spec, &["signature", "content"], bad)? != want.signature {
        return Err(TlogError::SignatureMismatch);
    }
    let logged = spec
        .get("signature")
        .and_then(|s| s.get("verifier"))
        .ok_or_else(|| bad("no signature.verifier"))?;
    check_der_verifier(logged, want.verifier, bad)
}

/// The signer a Rekor v2 `verifier` names (DER in base64), against the bundle's.
fn check_der_verifier(
    logged: &Value,
    verifier: &Verifier<'_>,
    bad: &Bad<'_>,
) -> Result<(), TlogError> {
    let same = match verifier {
        Verifier::Certificate(leaf) => logged
            .get("x509Certificate")
            .map(|_| bytes(logged, &["x509Certificate", "rawBytes"], bad))
            .transpose()?
            .is_some_and(|der| der == *leaf),
        Verifier::Key(spki) => logged
            .get("publicKey")
            .map(|_| bytes(logged, &["publicKey", "rawBytes"], bad))
            .transpose()?
            .is_some_and(|der| der == *spki),
    };
    if same {
        Ok(())
    } else {
        Err(TlogError::VerifierMismatch)
    }
}

fn dsse_v001(spec: &Value, want: &Expected<'_>, bad: &Bad<'_>) -> Result<(), TlogError> {
    check_hex_sha256(spec, &["payloadHash"], &want.sha256, bad)?;
    let logged = spec
        .get("signatures")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no signatures"))?;
    let [one] = logged.as_slice() else {
        return Err(TlogError::SignatureMismatch);
    };
    if bytes(one, &["signature"], bad)? != want.signature {
        return Err(TlogError::SignatureMismatch);
    }
    let pem = bytes(one, &["verifier"], bad)?;
    check_pem_verifier(&pem, want.verifier, bad)
}

/// Rekor v2's DSSE entry: the payload's hash, and the signatures with their signers.
fn dsse_v002(spec: &Value, want: &Expected<'_>, bad: &Bad<'_>) -> Result<(), TlogError> {
    let spec = spec
        .get("dsseV002")
        .ok_or_else(|| bad("no spec.dsseV002"))?;
    if text(spec, &["payloadHash", "algorithm"], bad)? != "SHA2_256"
        || bytes(spec, &["payloadHash", "digest"], bad)? != want.sha256
    {
        return Err(TlogError::DigestMismatch);
    }
    let logged = spec
        .get("signatures")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no signatures"))?;
    let [one] = logged.as_slice() else {
        return Err(TlogError::SignatureMismatch);
    };
    if bytes(one, &["content"], bad)? != want.signature {
        return Err(TlogError::SignatureMismatch);
    }
    let verifier = one
        .get("verifier")
        .ok_or_else(|| bad("no signatures[0].verifier"))?;
    check_der_verifier(verifier, want.verifier, bad)
}

/// Rekor's intoto 0.0.2 stores the envelope's payload and signatures base64-encoded once
/// more than DSSE does; the payload itself may be left out (canonical entries).
fn intoto_v002(
    spec: &Value,
    envelope: &dsse::Envelope,
    payload: &[u8],
    want: &Expected<'_>,
    bad: &Bad<'_>,
) -> Result<(), TlogError> {
    let content = spec.get("content").ok_or_else(|| bad("no content"))?;
    check_hex_sha256(content, &["payloadHash"], &want.sha256, bad)?;
    let logged = content
        .get("envelope")
        .ok_or_else(|| bad("no content.envelope"))?;
    if let Some(t) = logged.get("payloadType")
        && t.as_str() != Some(envelope.payload_type.as_str())
    {
        return Err(TlogError::DigestMismatch);
    }
    if logged.get("payload").is_some() {
        let twice = bytes(logged, &["payload"], bad)?;
        if Base64::decode_vec(std::str::from_utf8(&twice).unwrap_or("!"))
            .ok()
            .as_deref()
            != Some(payload)
        {
            return Err(TlogError::DigestMismatch);
        }
    }
    let sigs = logged
        .get("signatures")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no content.envelope.signatures"))?;
    let [one] = sigs.as_slice() else {
        return Err(TlogError::SignatureMismatch);
    };
    let twice = bytes(one, &["sig"], bad)?;
    if Base64::decode_vec(std::str::from_utf8(&twice).unwrap_or("!")).ok()
        != Some(want.signature.clone())
    {
        return Err(TlogError::SignatureMismatch);
    }
    let pem = bytes(one, &["publicKey"], bad)?;
    check_pem_verifier(&pem, want.verifier, bad)
}

#[cfg(test)]
#[path = "tlog_conformance_tests.rs"]
mod conformance_tests;
#[cfg(test)]
#[path = "tlog_tests.rs"]
mod tests;
