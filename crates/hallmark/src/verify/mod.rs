//! Verification pinned to one digest: resolve once, fetch every signature candidate for
//! that digest (`gather`), then judge them in a pure function (`decide`) against the
//! digest, the repository, the tag, the keys and requirements, and the clock.
//!
//! Fetching and deciding are apart so that every way a signature can be wrong is tested
//! without a registry, and so that new signature formats plug in at the gathering end.

mod bindings;
mod check;
mod decide;
mod gather;
mod moved;
mod platform;

use std::time::SystemTime;

pub(crate) use bindings::{Judged, Placement};
pub(crate) use check::made_by;
pub use decide::{Attested, Description};
pub(crate) use decide::{decide, decide_attestations, describe};
pub(crate) use gather::gather;
pub(crate) use gather::{Evidence, Known, Material};
pub(crate) use gather::{MAX_REFERRERS, gather_format, gather_known};
pub use platform::{PlatformVerification, SignedBy, verify_platform};

use crate::Error;
use crate::oci::Manifest;
use crate::policy::{Policy, Ruling};
use crate::report::{Finding, PolicyDecision, Rejection, Report};
use crate::store::Target;
use crate::trust::VerifyOptions;

// Shared by `check` and `decide`: here, so that neither depends on the other for it.
/// What the evidence is judged against, besides the requirements.
#[derive(Debug, Clone)]
pub(crate) struct Context {
    /// `reg/repo@sha256:…` of the digest being verified.
    pub reference: String,
    /// The repository's normalised identity (`reg/repo` or `oci:/abs/path`).
    pub identity: String,
    /// The tag the reference named, if any.
    pub tag: Option<String>,
    /// Now, for maximum ages and future timestamps.
    pub now: SystemTime,
}

/// A verification and what it rests on: the report, and the signatures as they were
/// read (to carry along when copying, never to read again). Made only by the verify
/// functions of this module, so that whoever holds one holds a real decision:
///
/// ```compile_fail,E0451
/// fn forge(report: hallmark::report::Report) -> hallmark::verify::Verification {
///     hallmark::verify::Verification { report, evidence: None }
/// }
/// ```
#[derive(Debug, Clone)]
pub struct Verification {
    report: Report,
    evidence: Option<Evidence>,
    valid_until: Option<SystemTime>,
}

impl Verification {
    /// The decision and its reasons.
    pub fn report(&self) -> &Report {
        &self.report
    }

    /// When the decision stops holding by the clock alone: the earliest time a signature
    /// or attestation that counts grows older than the rule's maximum age. `None` when no
    /// maximum age applies. Whoever keeps a verification must not use it past this time.
    pub fn valid_until(&self) -> Option<SystemTime> {
        self.valid_until
    }

    /// A verification made of a report alone, for unit tests of its holders.
    #[cfg(test)]
    pub(crate) fn from_report(report: Report) -> Self {
        Self {
            report,
            evidence: None,
            valid_until: None,
        }
    }

    /// [`Verification::from_report`] that stops holding at `until`.
    #[cfg(test)]
    pub(crate) fn from_report_until(report: Report, until: SystemTime) -> Self {
        Self {
            valid_until: Some(until),
            ..Self::from_report(report)
        }
    }

    /// The signature material judged; `None` when no signature was looked at.
    pub(crate) fn evidence(&self) -> Option<&Evidence> {
        self.evidence.as_ref()
    }
}

/// The one resolution of a reference: by digest if it has one, else by tag.
pub async fn resolve(target: &Target) -> Result<Manifest, Error> {
    let reference = match (&target.digest, &target.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => return Err(Error::NoTagOrDigest),
    };
    target.store.require_manifest(&reference, "artifact").await
}

/// The context a digest is judged in. A reference that names a tag *and* a digest keeps
/// the tag only if the tag names that digest now: a report must not claim `evil` for an
/// image that `evil` does not name. Otherwise the reason is returned as a note.
async fn context(
    target: &Target,
    digest: &crate::digest::Digest,
) -> Result<(Context, Option<Finding>), Error> {
    let mut note = None;
    let tag = match (&target.tag, &target.digest) {
        (Some(tag), Some(_)) => match target.store.get_manifest(tag).await? {
            Some(m) if &m.digest == digest => Some(tag.clone()),
            Some(m) => {
                note = Some(Finding::artifact(Rejection::TagMoved {
                    tag: tag.clone(),
                    names: m.digest,
                    verified: digest.clone(),
                }));
                None
            }
            None => {
                note = Some(Finding::artifact(Rejection::TagAbsent(tag.clone())));
                None
            }
        },
        (tag, _) => tag.clone(),
    };
    // The one reading of the clock for a verification: everything below takes it as input.
    let ctx = Context {
        reference: target.store.pinned(digest),
        identity: target.store.identity(),
        tag,
        now: SystemTime::now(),
    };
    Ok((ctx, note))
}

/// Resolves `target` once and verifies its signatures. Registry failures are errors; a
/// security "no" is a report with `verified: false`.
pub async fn verify(target: &Target, opts: &VerifyOptions) -> Result<Verification, Error> {
    Ok(verify_in_context(target, opts).await?.0)
}

/// [`verify`], also returning the context the evidence was judged in (for judging the
/// same evidence again, as attestations).
async fn verify_in_context(
    target: &Target,
    opts: &VerifyOptions,
) -> Result<(Verification, Context), Error> {
    if opts.keys.is_empty() && opts.keyless.is_empty() {
        return Err(Error::NoKeys);
    }
    if opts.require_tag_binding && target.tag.is_none() {
        return Err(Error::TagBindingNeedsTag);
    }
    // The one resolution: everything below is about this digest.
    let digest = resolve(target).await?.digest;
    let evidence = gather(target, &digest).await?;
    let (ctx, note) = context(target, &digest).await?;
    let mut report = decide(&evidence, &ctx, opts);
    if opts.require_tag_binding && ctx.tag.is_none() {
        // The tag to bind does not name this digest: nothing can bind it.
        report.reject_all();
    }
    if let Some(note) = note {
        report.find(note);
    }
    // Only a failure is explained, and only then is the repository's history read.
    if !report.verified()
        && let Some(moved) = moved::moved_from(target, &evidence, &ctx, opts).await
    {
        report.find_first(Finding::artifact(moved));
    }
    let valid_until = aged_out(verified_signatures(&report), opts);
    let verification = Verification {
        report,
        evidence: Some(evidence),
        valid_until,
    };
    Ok((verification, ctx))
}

/// Resolves `target` once and verifies its attestations of `predicate_type`.
pub async fn verify_attestations(
    target: &Target,
    opts: &VerifyOptions,
    predicate_type: &str,
) -> Result<(Report, Vec<Attested>), Error> {
    verify_attestations_under(target, opts, predicate_type, None).await
}

/// [`verify_attestations`], each attestation that counts also judged by `policy`
/// (`verify-attestation --policy`): one it does not allow denies them all, as in cosign.
pub async fn verify_attestations_under(
    target: &Target,
    opts: &VerifyOptions,
    predicate_type: &str,
    policy: Option<&crate::predicate_policy::PredicatePolicy>,
) -> Result<(Report, Vec<Attested>), Error> {
    if opts.keys.is_empty() && opts.keyless.is_empty() {
        return Err(Error::NoKeys);
    }
    let digest = resolve(target).await?.digest;
    let evidence = gather(target, &digest).await?;
    let (ctx, note) = context(target, &digest).await?;
    let (mut report, attested) =
        decide::decide_attestations_under(&evidence, &ctx, opts, predicate_type, policy);
    if let Some(note) = note {
        report.find(note);
    }
    Ok((report, attested))
}

/// The attestations a rule requires (each by one of its keys, under the rule's other
/// requirements) that `evidence` does not hold, with the report of why not.
pub(crate) fn missing_attestations<'a>(
    evidence: &Evidence,
    ctx: &Context,
    rule: &VerifyOptions,
    required: &'a [crate::policy::RequiredAttestation],
) -> Vec<(&'a crate::policy::RequiredAttestation, Report)> {
    required
        .iter()
        .filter_map(|req| {
            let opts = VerifyOptions {
                keys: req.keys.clone(),
                keyless: req.keyless.clone(),
                threshold: 1,
                ..rule.clone()
            };
            let (att, _) = decide_attestations(evidence, ctx, &opts, &req.predicate_type);
            (!att.verified()).then_some((req, att))
        })
        .collect()
}

/// Verifies `target` with keys or under a policy, as `trust` says.
pub async fn verify_trusted(
    target: &Target,
    trust: &crate::policy::Trust,
) -> Result<Verification, Error> {
    match trust {
        crate::policy::Trust::Keys(opts) => verify(target, opts).await,
        crate::policy::Trust::Policy(p) => verify_with_policy(target, p).await,
    }
}

/// Why an image reference given as text came to no decision at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceFailure {
    /// The text is not a reference.
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    /// A layout or a file: there is no registry to verify it in.
    #[error("not a registry reference")]
    NotRegistry,
    /// Its repository could not be opened.
    #[error("{0}")]
    Open(Box<Error>),
    /// Verifying it failed before any decision (an outage decides nothing).
    #[error("could not be verified: {0}")]
    Verify(Box<Error>),
}

impl ReferenceFailure {
    /// The class of the failure.
    pub fn class(&self) -> crate::ErrorClass {
        match self {
            Self::Reference(e) => e.class(),
            Self::NotRegistry => crate::ErrorClass::Usage,
            Self::Open(e) | Self::Verify(e) => e.class(),
        }
    }
}

/// Verifies an image reference written as text (in a manifest, an admission request) in
/// its registry, as `verify` does: resolved once, judged with keys or under a policy. Only
/// registry references are accepted: text from a deployment never names local files.
pub async fn verify_reference(
    client: &crate::registry::Client,
    reference: &str,
    trust: &crate::policy::Trust,
) -> Result<Verification, ReferenceFailure> {
    let source = crate::reference::Source::parse(reference)?;
    if !matches!(source, crate::reference::Source::Registry(_)) {
        return Err(ReferenceFailure::NotRegistry);
    }
    let target =
        Target::open(&source, client, false).map_err(|e| ReferenceFailure::Open(Box::new(e)))?;
    verify_trusted(&target, trust)
        .await
        .map_err(|e| ReferenceFailure::Verify(Box::new(e)))
}

/// Verifies `target` under a policy: the first matching rule decides; none is a "no".
pub async fn verify_with_policy(target: &Target, policy: &Policy) -> Result<Verification, Error> {
    let identity = target.store.identity();
    let ruling = policy.ruling(&identity);
    let decision = PolicyDecision {
        rule: ruling.rule().map(|r| r.name.clone()),
        action: ruling.rule().map(|r| r.action),
    };
    let mut verification = match &ruling {
        Ruling::Verify(r) => {
            if r.verify.require_tag_binding && target.tag.is_none() {
                // The rule asked for it, not the user: say so, or the user hunts for a flag.
                return Err(Error::PolicyTagBindingNeedsTag {
                    policy: policy.path.display().to_string(),
                    rule: r.name.clone(),
                    reference: match &target.digest {
                        Some(d) => target.store.pinned(d),
                        None => target.store.name(),
                    },
                });
            }
            let (mut v, ctx) = verify_in_context(target, &r.verify).await?;
            if let Some(evidence) = &v.evidence
                && v.report.verified()
            {
                // Required attestations age too: the decision holds while they all count.
                for required in &r.attestations {
                    let opts = VerifyOptions {
                        keys: required.keys.clone(),
                        keyless: required.keyless.clone(),
                        threshold: 1,
                        ..r.verify.clone()
                    };
                    let (att, _) =
                        decide_attestations(evidence, &ctx, &opts, &required.predicate_type);
                    v.valid_until =
                        earliest(v.valid_until, aged_out(verified_signatures(&att), &opts));
                }
            }
            if let Some(evidence) = &v.evidence {
                for (required, att) in
                    missing_attestations(evidence, &ctx, &r.verify, &r.attestations)
                {
                    v.report.reject();
                    v.report
                        .find(Finding::artifact(Rejection::AttestationRequired {
                            rule: r.name.clone(),
                            predicate_type: required.predicate_type.clone(),
                            keys: required.keys.iter().map(|k| k.name.clone()).collect(),
                            findings: att.findings().to_vec(),
                        }));
                }
            }
            v
        }
        Ruling::Deny { .. } | Ruling::AllowUnsigned { .. } => {
            let digest = resolve(target).await?.digest;
            let (ctx, note) = context(target, &digest).await?;
            let mut report = Report::new(ctx.reference, digest, ctx.tag);
            if let Some(note) = note {
                report.find(note);
            }
            if let Ruling::AllowUnsigned { rule, .. } = &ruling {
                report.allow_unsigned(rule.name.clone());
            }
            // A rule that decides without signatures always has its reason.
            if let Some(reason) = policy.reason(ruling.rule(), &identity) {
                report.find(Finding::artifact(reason));
            }
            Verification {
                report,
                evidence: None,
                valid_until: None,
            }
        }
    };
    verification.report.set_policy(decision);
    Ok(verification)
}

/// The signatures that count in `report`, if it said yes (none count otherwise).
fn verified_signatures(report: &Report) -> &[crate::report::ValidSignature] {
    if report.verified() {
        report.signatures()
    } else {
        &[]
    }
}

/// The earliest time one of `signatures` grows older than `opts`'s maximum age. Every
/// signature is taken, not only the threshold's worth: a decision may then be made again
/// sooner than needed, never later.
fn aged_out(
    signatures: &[crate::report::ValidSignature],
    opts: &VerifyOptions,
) -> Option<SystemTime> {
    let max_age = opts.max_age?;
    signatures
        .iter()
        .map(|s| {
            // A signature counts under a maximum age only with a readable timestamp
            // (`decide`); without one, it holds no longer than now.
            s.timestamp
                .as_deref()
                .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
                .map_or(SystemTime::UNIX_EPOCH, |signed| signed + max_age)
        })
        .min()
}

/// The earlier of two optional deadlines; `None` is no deadline.
fn earliest(a: Option<SystemTime>, b: Option<SystemTime>) -> Option<SystemTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Evidence {
    /// The reason there is nothing to judge, if there is nothing.
    pub(crate) fn absent(&self) -> Option<&Rejection> {
        self.absent.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::report::ValidSignature;

    fn signed_at(timestamp: Option<&str>) -> ValidSignature {
        ValidSignature::for_tests(timestamp)
    }

    /// A decision under a maximum age holds until its oldest signature grows too old;
    /// without a maximum age, it does not end by the clock.
    #[test]
    fn a_verification_holds_until_its_oldest_signature_is_too_old() {
        let sigs = [
            signed_at(Some("2026-01-02T00:00:00Z")),
            signed_at(Some("2026-01-01T00:00:00Z")),
        ];
        let day = Duration::from_secs(86_400);
        let opts = VerifyOptions {
            max_age: Some(day),
            ..VerifyOptions::default()
        };
        let oldest = humantime::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(aged_out(&sigs, &opts), Some(oldest + day));
        assert_eq!(aged_out(&sigs, &VerifyOptions::default()), None);
        assert_eq!(aged_out(&[], &opts), None);
        // Unreadable: it holds no longer than now.
        assert_eq!(
            aged_out(&[signed_at(Some("yesterday"))], &opts),
            Some(SystemTime::UNIX_EPOCH)
        );
        assert_eq!(earliest(Some(oldest), Some(oldest + day)), Some(oldest));
        assert_eq!(earliest(None, Some(oldest)), Some(oldest));
    }
}
