//! The outcome of a verification: what was verified, by which signatures, and why any
//! signature did not count. Plain data; the command line renders it as text or JSON.

use std::collections::BTreeMap;

use crate::digest::Digest;
use crate::keys::Algorithm;

/// How a signature is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
// Deliberately exhaustive: every output must say which format a signature came from.
pub enum SignatureFormat {
    /// cosign's `sha256-<hex>.sig` tag, one simple-signing layer per signature.
    Legacy,
    /// A Sigstore bundle stored as an OCI 1.1 referrer (cosign 3's default).
    Bundle,
}

/// One valid signature that counts.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ValidSignature {
    /// The key file that verified it.
    pub key: String,
    /// The key's identifier (SHA-256 of its public key).
    pub key_id: String,
    /// The key's algorithm.
    pub algorithm: Algorithm,
    /// Where the signature was found.
    pub format: SignatureFormat,
    /// The payload's `optional` fields.
    pub annotations: BTreeMap<String, serde_json::Value>,
    /// Tags the signature binds.
    pub bound_tags: Vec<String>,
    /// The signed timestamp, as written.
    pub timestamp: Option<String>,
    /// What the Sigstore proofs established (certificate identity, log entries, verified
    /// times), when the signature carried any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sigstore: Option<crate::sigstore::verify::Verified>,
}

/// What a policy rule does with the repositories it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Signatures are required, as the rule says.
    Verify,
    /// Never trusted.
    Reject,
    /// An explicit opt-out: reported, never silent.
    AllowUnsigned,
}

/// Which policy rule applied and what it said.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PolicyDecision {
    /// None when no rule matched (default deny).
    pub rule: Option<String>,
    /// The rule's action.
    pub action: Option<Action>,
}

/// The outcome; `verified` is the decision, `errors` say why not (or what was ignored).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Report {
    /// `reg/repo@sha256:…`: pull this, nothing else.
    pub reference: String,
    /// The one digest everything was checked against.
    pub digest: Digest,
    /// The tag the reference named, when it resolved to `digest`.
    pub tag: Option<String>,
    /// Whether signatures verified.
    pub verified: bool,
    /// Whether the artifact may be used: verified, or allowed unsigned by a policy rule
    /// (then `verified` stays false: nothing was checked).
    pub allowed: bool,
    /// The signatures that count.
    pub signatures: Vec<ValidSignature>,
    /// Why signatures did not count, or what was not checked.
    pub errors: Vec<String>,
    /// The policy rule that decided, when a policy was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyDecision>,
}

impl Report {
    /// `reg/repo@sha256:…`: pull this, nothing else.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The one digest everything was checked against.
    pub fn digest(&self) -> &Digest {
        &self.digest
    }

    /// The tag the reference named, when it resolved to the digest.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// Whether signatures verified.
    pub fn verified(&self) -> bool {
        self.verified
    }

    /// Whether the artifact may be used: verified, or allowed unsigned by a policy rule.
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// The signatures that count.
    pub fn signatures(&self) -> &[ValidSignature] {
        &self.signatures
    }

    /// The policy rule that decided, when a policy was used.
    pub fn policy(&self) -> Option<&PolicyDecision> {
        self.policy.as_ref()
    }

    /// Why signatures did not count, or what was not checked, one line each.
    pub fn error_lines(&self) -> Vec<String> {
        self.errors.clone()
    }

    /// Records the decision: a verified artifact may be used, an unverified one not.
    pub fn set_verified(&mut self, verified: bool) {
        self.verified = verified;
        self.allowed = verified;
    }

    /// A report on `digest` with nothing verified yet.
    pub fn new(reference: String, digest: Digest, tag: Option<String>) -> Report {
        Report {
            reference,
            digest,
            tag,
            verified: false,
            allowed: false,
            signatures: Vec::new(),
            errors: Vec::new(),
            policy: None,
        }
    }
}

/// Why a signature (or the lack of one) does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// No signature at all: no `.sig` manifest and no bundle referrer.
    #[error("no signature: neither {location} nor a Sigstore bundle referrer exists")]
    NoSignature {
        /// Where the legacy signature was looked for.
        location: String,
    },
    /// A signature manifest with no simple-signing layer.
    #[error("no signature: the signature manifest has no simple-signing layer")]
    NoSignatureLayer,
    /// The signature manifest cannot be read.
    #[error("{0}")]
    UnusableManifest(String),
    /// The layer is unusable (no or bad annotation).
    #[error("{0}")]
    Layer(crate::signature::LayerProblem),
    /// A payload larger than any real one.
    #[error("payload of {0} bytes is over the limit")]
    PayloadTooLarge(u64),
    /// The payload blob is not in the store.
    #[error("payload blob {0} is missing")]
    PayloadMissing(Digest),
    /// The payload blob's bytes do not match its digest.
    #[error("{0}")]
    PayloadCorrupt(String),
    /// No given key verifies the signature over the payload.
    #[error("not signed by any of the given keys (or the payload was altered)")]
    NoTrustedKey,
    /// The signed payload is not a simple-signing document.
    #[error("invalid simple-signing payload: {0}")]
    PayloadInvalid(String),
    /// The signed payload of a bundle is not an in-toto statement.
    #[error("invalid in-toto statement: {0}")]
    StatementInvalid(String),
    /// Another payload type.
    #[error("payload type {found:?} is not {expected:?}")]
    WrongType {
        /// The type found.
        found: String,
        /// The type required.
        expected: &'static str,
    },
    /// Signed for another digest.
    #[error("signed for {signed}, not for {digest}: the signature was copied from another image")]
    WrongDigest {
        /// The digest in the payload.
        signed: String,
        /// The digest verified.
        digest: Digest,
    },
    /// Signed for another repository.
    #[error("signed for {signed}, not {identity}: {}", elsewhere(signed, identity))]
    WrongRepository {
        /// The repository in the payload.
        signed: String,
        /// The repository verified.
        identity: String,
    },
    /// The tag is not bound by the signature.
    #[error(
        "tag {tag:?} is not bound (signed tags: {bound}); the tag may have been rolled back to an older image"
    )]
    TagNotBound {
        /// The tag in the reference.
        tag: String,
        /// The tags signed, comma-separated, or "none".
        bound: String,
    },
    /// A required annotation with another value.
    #[error("annotation {key} is {found}, required {want:?}")]
    AnnotationDiffers {
        /// The annotation.
        key: String,
        /// The signed value (JSON).
        found: String,
        /// The required value.
        want: String,
    },
    /// A required annotation that is absent.
    #[error("annotation {key} is missing, required {want:?}")]
    AnnotationMissing {
        /// The annotation.
        key: String,
        /// The required value.
        want: String,
    },
    /// A maximum age applies and there is no timestamp.
    #[error("no signed timestamp, and a maximum age is required")]
    NoTimestamp,
    /// A timestamp that does not parse.
    #[error("signed timestamp {0:?} is not RFC 3339")]
    BadTimestamp(String),
    /// A timestamp from the future.
    #[error("signed timestamp {0} is in the future")]
    FutureTimestamp(String),
    /// Older than the maximum age.
    #[error("signed at {signed}, older than the maximum age of {max_age}")]
    TooOld {
        /// The signed timestamp.
        signed: String,
        /// The maximum age, as written in policies.
        max_age: String,
    },
    /// A referrer whose subject is another image (or none): moved or copied.
    #[error("referrer {referrer} refers to {}, not to this image", subject.as_deref().unwrap_or("no image"))]
    ReferrerOfAnother {
        /// The referrer manifest.
        referrer: Digest,
        /// Its subject, if any.
        subject: Option<String>,
    },
    /// A bundle referrer without exactly one layer.
    #[error("bundle referrer has {0} layers, not one")]
    BundleLayers(usize),
    /// A bundle of a media type hallmark does not read.
    #[error("unknown bundle media type {0:?}")]
    BundleMediaType(String),
    /// A bundle larger than any real one.
    #[error("bundle of {0} bytes is over the limit")]
    BundleTooLarge(u64),
    /// A bundle that does not parse.
    #[error("{0}")]
    BundleInvalid(String),
    /// A keyless signature (a Fulcio certificate) where no identity is trusted.
    #[error(
        "signed keyless (a Fulcio certificate for {0}); trust it with --certificate-identity and --certificate-oidc-issuer, or a policy rule's identities"
    )]
    Keyless(String),
    /// Sigstore material (certificate, log entry, timestamp) that does not verify.
    #[error("{0}")]
    Sigstore(String),
    /// A message-signature bundle where a statement about the image belongs.
    #[error("the bundle signs a blob's bytes, not a statement about this image")]
    NotAStatement,
    /// A DSSE payload of another type.
    #[error("DSSE payload type {0:?} is not an in-toto statement")]
    PayloadType(String),
    /// An attestation presented as a signature.
    #[error("the statement is an attestation of type {0}, not a signature")]
    NotASignature(String),
    /// An attestation of another predicate type than the one asked for.
    #[error("the attestation is of type {found}, not {wanted}")]
    OtherPredicate {
        /// Its predicate type.
        found: String,
        /// The type asked for.
        wanted: String,
    },
    /// A statement about several subjects.
    #[error("the statement names {0} subjects; a signature names exactly one")]
    SubjectCount(usize),
    /// A blob signature made for other bytes.
    #[error("the signature is for another file ({signed}), not this one ({digest})")]
    OtherFile {
        /// The digest the bundle records.
        signed: String,
        /// The digest of the file given.
        digest: Digest,
    },
    /// Fewer distinct keys than the threshold.
    #[error("{found} distinct key(s) signed, {required} required")]
    BelowThreshold {
        /// Distinct keys with counting signatures.
        found: usize,
        /// The threshold.
        required: usize,
    },
}

/// Why a signature names another place, and what to do if that place is trusted.
fn elsewhere(signed: &str, identity: &str) -> String {
    if signed.starts_with("oci:") && identity.starts_with("oci:") {
        format!(
            "the layout was moved or copied since it was signed (if you moved it, accept its old place with --identity {signed})"
        )
    } else {
        format!(
            "the signature was copied from another repository (if {signed} is a mirror you trust, accept it with --identity {signed})"
        )
    }
}
