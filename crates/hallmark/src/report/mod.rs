//! The outcome of a verification: what was decided, by which signatures, and why any
//! signature did not count. Only the verifier makes one (`verify`, and `blob` for files);
//! everyone else reads it, and the command line renders it as text or JSON.

use std::collections::BTreeMap;
use std::sync::Arc;

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

/// Where a trusted signature puts a tag.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Binding {
    /// The digest.
    pub digest: Digest,
    /// When that signature was made, as written.
    pub timestamp: Option<String>,
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

/// What a verification decided. Only the verifier makes one: a library caller reads it,
/// and cannot hand `copy` an artifact nobody verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Decision {
    /// Enough trusted signatures (the threshold's worth of distinct keys) count.
    Verified,
    /// A policy rule allows the artifact unsigned: it may be used, nothing was checked.
    AllowedUnsigned {
        /// The rule's name.
        rule: String,
    },
    /// Not verified and not allowed; the findings say why.
    Rejected,
}

/// Which signature a finding is about.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum About {
    /// The artifact as a whole: no signature, too few keys, the tag, the policy.
    Artifact,
    /// A candidate signature, by its position among the signatures of its format.
    Signature(usize),
    /// A valid signature by this key that does not meet a requirement.
    SignedBy(String),
    /// A bundle referrer judged as an attestation, by its position.
    Referrer(usize),
    /// A valid attestation by this key that does not meet a requirement.
    AttestedBy(String),
}

/// One reason a signature did not count, or one thing that was not checked.
#[derive(Debug, Clone)]
pub struct Finding {
    about: About,
    reason: Rejection,
}

impl Finding {
    pub(crate) fn new(about: About, reason: Rejection) -> Self {
        Self { about, reason }
    }

    /// A finding about the artifact as a whole.
    pub(crate) fn artifact(reason: Rejection) -> Self {
        Self::new(About::Artifact, reason)
    }

    /// Which signature it is about.
    pub fn about(&self) -> &About {
        &self.about
    }

    /// Why it did not count.
    pub fn reason(&self) -> &Rejection {
        &self.reason
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.about {
            About::Artifact => Ok(()),
            About::Signature(i) => write!(f, "signature {i}: "),
            About::SignedBy(key) => write!(f, "signature by {key}: "),
            About::Referrer(i) => write!(f, "referrer {i}: "),
            About::AttestedBy(key) => write!(f, "attestation by {key}: "),
        }?;
        write!(f, "{}", self.reason)
    }
}

/// The outcome of a verification: the decision, the signatures that count, and why others
/// did not. Made only by `verify`; read through its accessors.
///
/// A caller outside the library cannot make one, so it cannot make one that says "allowed"
/// (each example fails only for the privacy its error code names):
///
/// ```compile_fail,E0624
/// let report = hallmark::report::Report::new(
///     "reg.example.com/app@sha256:00".into(),
///     hallmark::digest::Digest::sha256(b"image"),
///     None,
/// );
/// ```
///
/// nor build one field by field:
///
/// ```compile_fail,E0451
/// let report = hallmark::report::Report {
///     reference: "reg.example.com/app".into(),
///     digest: hallmark::digest::Digest::sha256(b"image"),
///     tag: None,
///     decision: hallmark::report::Decision::Verified,
///     signatures: Vec::new(),
///     findings: Vec::new(),
///     policy: None,
/// };
/// ```
///
/// nor change the decision of one it was given:
///
/// ```compile_fail,E0624
/// fn forge(r: &mut hallmark::report::Report) {
///     r.allow_unsigned("any rule".into());
/// }
/// ```
///
/// What it can do is read one:
///
/// ```
/// fn may_use(r: &hallmark::report::Report) -> bool {
///     matches!(
///         r.decision(),
///         hallmark::report::Decision::Verified | hallmark::report::Decision::AllowedUnsigned { .. }
///     ) && r.allowed()
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Report {
    reference: String,
    digest: Digest,
    tag: Option<String>,
    decision: Decision,
    signatures: Vec<ValidSignature>,
    findings: Vec<Finding>,
    policy: Option<PolicyDecision>,
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

    /// What was decided.
    pub fn decision(&self) -> &Decision {
        &self.decision
    }

    /// Whether signatures verified.
    pub fn verified(&self) -> bool {
        matches!(self.decision, Decision::Verified)
    }

    /// Whether the artifact may be used: verified, or allowed unsigned by a policy rule.
    pub fn allowed(&self) -> bool {
        matches!(
            self.decision,
            Decision::Verified | Decision::AllowedUnsigned { .. }
        )
    }

    /// The signatures that count.
    pub fn signatures(&self) -> &[ValidSignature] {
        &self.signatures
    }

    /// The policy rule that decided, when a policy was used.
    pub fn policy(&self) -> Option<&PolicyDecision> {
        self.policy.as_ref()
    }

    /// Why signatures did not count, or what was not checked.
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Why signatures did not count, or what was not checked, one line each.
    pub fn error_lines(&self) -> Vec<String> {
        self.findings.iter().map(ToString::to_string).collect()
    }

    /// A report on `digest` with nothing verified yet.
    pub(crate) fn new(reference: String, digest: Digest, tag: Option<String>) -> Self {
        Self {
            reference,
            digest,
            tag,
            decision: Decision::Rejected,
            signatures: Vec::new(),
            findings: Vec::new(),
            policy: None,
        }
    }

    /// Records a signature that counts; it decides nothing by itself.
    pub(crate) fn count(&mut self, signature: ValidSignature) {
        self.signatures.push(signature);
    }

    /// Records why something did not count.
    pub(crate) fn find(&mut self, finding: Finding) {
        self.findings.push(finding);
    }

    /// Records, before every other reason, the one that explains them.
    pub(crate) fn find_first(&mut self, finding: Finding) {
        self.findings.insert(0, finding);
    }

    /// Decides by the signatures that count: verified when `threshold` (at least one)
    /// distinct keys made them. Returns why not when some counted but too few.
    pub(crate) fn decide_by_threshold(&mut self, threshold: usize) -> Option<Rejection> {
        let mut distinct: Vec<&str> = self.signatures.iter().map(|s| s.key_id.as_str()).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let required = threshold.max(1);
        let found = distinct.len();
        if found >= required {
            self.decision = Decision::Verified;
            None
        } else {
            self.decision = Decision::Rejected;
            (found > 0).then_some(Rejection::BelowThreshold { found, required })
        }
    }

    /// Takes the decision back: a requirement beyond the signatures is not met.
    pub(crate) fn reject(&mut self) {
        self.decision = Decision::Rejected;
    }

    /// Takes the decision back and the signatures with it: nothing they say counts.
    pub(crate) fn reject_all(&mut self) {
        self.decision = Decision::Rejected;
        self.signatures.clear();
    }

    /// A policy rule allows the artifact with nothing checked.
    pub(crate) fn allow_unsigned(&mut self, rule: String) {
        self.decision = Decision::AllowedUnsigned { rule };
    }

    /// Records the policy rule that decided.
    pub(crate) fn set_policy(&mut self, policy: PolicyDecision) {
        self.policy = Some(policy);
    }

    /// The signatures that count, for a caller done with the report.
    pub(crate) fn into_signatures(self) -> Vec<ValidSignature> {
        self.signatures
    }
}

/// The JSON document of a report, as it has always been written: the decision as the two
/// booleans, and the findings as lines.
impl serde::Serialize for Report {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Wire<'a> {
            reference: &'a str,
            digest: &'a Digest,
            tag: Option<&'a str>,
            verified: bool,
            allowed: bool,
            signatures: &'a [ValidSignature],
            errors: Vec<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            policy: Option<&'a PolicyDecision>,
        }
        Wire {
            reference: &self.reference,
            digest: &self.digest,
            tag: self.tag.as_deref(),
            verified: self.verified(),
            allowed: self.allowed(),
            signatures: &self.signatures,
            errors: self.error_lines(),
            policy: self.policy.as_ref(),
        }
        .serialize(serializer)
    }
}

/// Why a signature (or the lack of one) does not count, or what was not checked. Each
/// states the fact; what a user may do about it is the application's to say. Errors that
/// produced a reason are kept as its source (shared, so that evidence stays cheap to clone).
#[derive(Debug, Clone, thiserror::Error)]
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
    UnusableManifest(#[source] Arc<crate::signature::SignatureError>),
    /// The layer is unusable (no or bad annotation).
    #[error("{0}")]
    Layer(crate::signature::LayerProblem),
    /// A payload larger than any real one.
    #[error("payload of {0} bytes is over the limit")]
    PayloadTooLarge(u64),
    /// The payload blob is not in the store.
    #[error("payload blob {0} is missing")]
    PayloadMissing(Digest),
    /// The payload blob's bytes do not match its digest (the store's error, which this
    /// layer does not name).
    #[error("{0}")]
    PayloadCorrupt(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// No given key verifies the signature over the payload.
    #[error("not signed by any of the given keys (or the payload was altered)")]
    NoTrustedKey,
    /// The signed payload is not a simple-signing document.
    #[error("invalid simple-signing payload: {0}")]
    PayloadInvalid(#[source] Arc<serde_json::Error>),
    /// The signed payload of a bundle is not an in-toto statement.
    #[error("invalid in-toto statement: {0}")]
    StatementInvalid(#[source] Arc<serde_json::Error>),
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
    /// Signed for another repository (or, for a layout, another place).
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
    BundleInvalid(#[source] Arc<crate::bundle::BundleError>),
    /// cosign's Sigstore annotations on a legacy layer that do not parse.
    #[error("cosign's Sigstore annotations: {0}")]
    Annotations(#[source] Arc<crate::bundle::BundleError>),
    /// A keyless signature (a Fulcio certificate) where no identity is trusted.
    #[error("signed keyless (a Fulcio certificate for {0})")]
    Keyless(
        /// The certificate's subject, read without trusting it.
        String,
    ),
    /// Sigstore material (certificate, log entry, timestamp) that does not verify.
    #[error("{0}")]
    Sigstore(#[source] Arc<crate::sigstore::verify::Refusal>),
    /// A keyless statement about an artifact named by another digest than SHA-256.
    #[error("keyless statements are verified for sha256 digests only")]
    KeylessNeedsSha256,
    /// An Ed25519 key given for a blob, which is verified by its digest.
    #[error("an Ed25519 key cannot verify a streamed blob; blobs are signed with ECDSA P-256 keys")]
    BlobNeedsDigestKey,
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
    /// A reference naming a tag and a digest, whose tag names another digest now.
    #[error(
        "tag {tag} names {names}, not the verified {verified}; the tag is not reported and binds nothing"
    )]
    TagMoved {
        /// The tag.
        tag: String,
        /// The digest it names now.
        names: Digest,
        /// The digest verified.
        verified: Digest,
    },
    /// A reference naming a tag and a digest, whose tag does not exist.
    #[error("tag {0} does not exist; the tag is not reported and binds nothing")]
    TagAbsent(String),
    /// A tag that a trusted signature for this repository binds to another digest, more
    /// recently than any binds it to the one it names: it was moved after signing.
    #[error(
        "tag {} was moved after signing: a trusted signature{} binds it to {}, not to the {} it names now",
        .0.tag,
        .0.signed_at.as_deref().map(|t| format!(" made {t}")).unwrap_or_default(),
        .0.from_reference,
        .0.to
    )]
    TagMovedAfterSigning(Box<MovedTag>),
    /// No attestation of the type asked for, and nothing else to say.
    #[error("no attestation of type {0}")]
    NoAttestation(String),
    /// A verified attestation whose content the `--policy` file does not allow.
    #[error("policy {policy} does not allow it: {why}")]
    PredicateDenied {
        /// The policy file.
        policy: String,
        /// What the policy made of it.
        why: String,
    },
    /// A policy rule's required attestation that no required signer made.
    #[error(
        "rule {rule:?} requires an attestation of type {predicate_type} by {}; none verified{}",
        keys.join(" or "),
        because(findings)
    )]
    AttestationRequired {
        /// The rule.
        rule: String,
        /// The predicate type it requires.
        predicate_type: String,
        /// The keys it accepts, by name.
        keys: Vec<String>,
        /// Why the attestations found did not count.
        findings: Vec<Finding>,
    },
    /// No rule of a policy matches the repository: denied by default.
    #[error("no rule of {policy} matches {repository}; denied by default")]
    NoRule {
        /// The policy file.
        policy: String,
        /// The repository.
        repository: String,
    },
    /// A policy's `reject` rule matches the repository.
    #[error("rule {rule:?} rejects {repository}")]
    RuleRejects {
        /// The rule.
        rule: String,
        /// The repository.
        repository: String,
    },
    /// A policy's `allow-unsigned` rule matches the repository: nothing was checked.
    #[error("rule {rule:?} allows {repository} unsigned: no signature was checked")]
    UnsignedAllowed {
        /// The rule.
        rule: String,
        /// The repository.
        repository: String,
    },
}

/// Where a tag moved after signing was, and where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedTag {
    /// The tag.
    pub tag: String,
    /// The signed digest the tag was bound to.
    pub from: Digest,
    /// That digest's pinned reference: what the tag named when it was signed.
    pub from_reference: String,
    /// The digest the tag names now.
    pub to: Digest,
    /// When the binding signature was made, as written.
    pub signed_at: Option<String>,
}

/// Findings in parentheses after a sentence, if there are any.
fn because(findings: &[Finding]) -> String {
    if findings.is_empty() {
        String::new()
    } else {
        let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
        format!(" ({})", lines.join("; "))
    }
}

/// Why a signature names another place: the signature was carried there, or the layout
/// was. Whether that place is trusted is the user's call, not this library's.
fn elsewhere(signed: &str, identity: &str) -> &'static str {
    if signed.starts_with("oci:") && identity.starts_with("oci:") {
        "the layout was moved or copied since it was signed"
    } else {
        "the signature was copied from another repository"
    }
}

#[cfg(test)]
impl ValidSignature {
    /// A signature by the test key `k.pub` (ECDSA P-256, bundle), made at `timestamp`.
    pub(crate) fn for_tests(timestamp: Option<&str>) -> Self {
        Self {
            key: "k.pub".into(),
            key_id: "k".into(),
            algorithm: Algorithm::EcdsaP256,
            format: SignatureFormat::Bundle,
            annotations: BTreeMap::new(),
            bound_tags: Vec::new(),
            timestamp: timestamp.map(str::to_string),
            sigstore: None,
        }
    }
}

#[cfg(test)]
impl Report {
    /// This report decided: yes on one test signature, or no for want of a trusted key.
    pub(crate) fn judged_for_tests(mut self, yes: bool) -> Self {
        if yes {
            self.count(ValidSignature::for_tests(None));
            assert!(self.decide_by_threshold(1).is_none());
        } else {
            self.find(Finding::artifact(Rejection::NoTrustedKey));
        }
        self
    }
}

#[cfg(test)]
mod tests;
