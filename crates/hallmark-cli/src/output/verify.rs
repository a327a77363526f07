//! `verify` and `verify-attestation`: the verification report (docs/schema/verify.schema.json)
//! and its text, and the Sigstore proofs that `verify-blob` prints the same way.

use std::collections::BTreeMap;
use std::time::SystemTime;

use hallmark::report::{Finding, Rejection, Report, SignatureFormat, ValidSignature};
use hallmark::sigstore::certificate::{Claims, Identity};
use hallmark::sigstore::verify::{LogRecord, SignedBy, VerifiedTime};
use serde::Serialize;

use super::{Render, Text, V1};

/// One verification, as scripts read it (also inside `copy`'s document).
#[derive(Serialize)]
pub struct ReportOut<'a> {
    reference: &'a str,
    digest: String,
    tag: Option<&'a str>,
    verified: bool,
    allowed: bool,
    signatures: Vec<SignatureOut<'a>>,
    errors: Vec<String>,
    /// Attestations found where signatures are looked for: counted apart, since they are
    /// no failed signature (verify-attestation checks them).
    #[serde(skip_serializing_if = "is_zero")]
    attestations_found: usize,
    /// The attestations were all there was, and `errors` says so.
    #[serde(skip)]
    only_attestations: bool,
    /// The attestations' predicate types, each once: what to pass verify-attestation.
    #[serde(skip)]
    attestation_types: Vec<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<PolicyOut>,
    /// The tag was moved after signing: from which signed digest, to which it names now.
    #[serde(skip_serializing_if = "Option::is_none")]
    moved: Option<MovedOut<'a>>,
    /// The signatures as the library gives them: their text needs more than the JSON.
    #[serde(skip)]
    sources: &'a [ValidSignature],
    /// `errors` with the command line's advice (which flag changes the outcome): for people.
    #[serde(skip)]
    advised: Vec<String>,
}

/// A tag moved after signing, as scripts read it.
#[derive(Serialize)]
struct MovedOut<'a> {
    tag: &'a str,
    from: String,
    from_reference: &'a str,
    to: String,
    signed_at: Option<&'a str>,
    hint: String,
}

impl<'a> MovedOut<'a> {
    fn new(why: &'a Rejection) -> Option<Self> {
        match why {
            Rejection::TagMovedAfterSigning(m) => Some(MovedOut {
                tag: &m.tag,
                from: m.from.to_string(),
                from_reference: &m.from_reference,
                to: m.to.to_string(),
                signed_at: m.signed_at.as_deref(),
                hint: crate::advice::moved_hint(why)?,
            }),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct PolicyOut {
    rule: Option<String>,
    action: Option<String>,
}

#[derive(Serialize)]
pub(super) struct SignatureOut<'a> {
    key: &'a str,
    key_id: &'a str,
    algorithm: String,
    format: &'static str,
    annotations: &'a BTreeMap<String, serde_json::Value>,
    bound_tags: &'a [String],
    timestamp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sigstore: Option<SigstoreOut<'a>>,
}

/// What Sigstore proofs established.
#[derive(Serialize)]
struct SigstoreOut<'a> {
    signed_by: SignedByOut<'a>,
    tlog: Vec<LogOut<'a>>,
    times: Vec<TimeOut<'a>>,
    checks: &'a [String],
    notes: &'a [String],
}

/// Who made a Sigstore signature: one of the given keys, or a certificate's identity.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum SignedByOut<'a> {
    Key { index: usize },
    Certificate(IdentityOut<'a>),
}

/// A Fulcio certificate's identity.
#[derive(Serialize)]
pub struct IdentityOut<'a> {
    subject: &'a str,
    kind: String,
    issuer: Option<&'a str>,
    claims: ClaimsOut<'a>,
}

/// The claims present, in the order of their extensions.
pub struct ClaimsOut<'a>(Vec<(&'static str, &'a str)>);

impl Serialize for ClaimsOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().copied())
    }
}

/// A certificate identity, as scripts read it.
pub fn identity(i: &Identity) -> IdentityOut<'_> {
    // Every claim is named, so that a claim the library adds is not silently left out.
    let Claims {
        github_workflow_trigger,
        github_workflow_sha,
        github_workflow_name,
        github_workflow_repository,
        github_workflow_ref,
        build_signer_uri,
        build_signer_digest,
        runner_environment,
        source_repository_uri,
        source_repository_digest,
        source_repository_ref,
        build_trigger,
        run_invocation_uri,
    } = &i.claims;
    let claims = [
        ("github_workflow_trigger", github_workflow_trigger),
        ("github_workflow_sha", github_workflow_sha),
        ("github_workflow_name", github_workflow_name),
        ("github_workflow_repository", github_workflow_repository),
        ("github_workflow_ref", github_workflow_ref),
        ("build_signer_uri", build_signer_uri),
        ("build_signer_digest", build_signer_digest),
        ("runner_environment", runner_environment),
        ("source_repository_uri", source_repository_uri),
        ("source_repository_digest", source_repository_digest),
        ("source_repository_ref", source_repository_ref),
        ("build_trigger", build_trigger),
        ("run_invocation_uri", run_invocation_uri),
    ]
    .into_iter()
    .filter_map(|(name, v)| v.as_deref().map(|v| (name, v)))
    .collect();
    IdentityOut {
        subject: &i.subject,
        kind: serde_name(&i.kind),
        issuer: i.issuer.as_deref(),
        claims: ClaimsOut(claims),
    }
}

/// A transparency-log entry that verified.
#[derive(Serialize)]
pub struct LogOut<'a> {
    log: &'a str,
    log_index: i64,
    integrated_time: Option<String>,
    kind: &'a str,
    proofs: &'a [&'static str],
}

/// A time the signature is proven to have existed at.
#[derive(Serialize)]
pub struct TimeOut<'a> {
    at: String,
    source: &'a str,
}

fn millis(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// The log entries, as scripts read them.
pub fn logs(tlog: &[LogRecord]) -> Vec<LogOut<'_>> {
    tlog.iter()
        .map(|l| LogOut {
            log: &l.log,
            log_index: l.log_index,
            integrated_time: l.integrated_time.map(millis),
            kind: &l.kind,
            proofs: &l.proofs,
        })
        .collect()
}

/// The verified times, as scripts read them.
pub fn times(times: &[VerifiedTime]) -> Vec<TimeOut<'_>> {
    times
        .iter()
        .map(|t| TimeOut {
            at: millis(t.at),
            source: &t.source,
        })
        .collect()
}

/// The name scripts see; the library's format is exhaustive, so a new one must be named.
pub fn format_name(f: SignatureFormat) -> &'static str {
    match f {
        SignatureFormat::Legacy => "legacy",
        SignatureFormat::Bundle => "bundle",
    }
}

/// A library value's own serialised name (for enums the library may extend).
pub fn serde_name<T: Serialize>(v: &T) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

pub(super) fn signature(s: &ValidSignature) -> SignatureOut<'_> {
    SignatureOut {
        key: &s.key,
        key_id: &s.key_id,
        algorithm: s.algorithm.to_string(),
        format: format_name(s.format),
        annotations: &s.annotations,
        bound_tags: &s.bound_tags,
        timestamp: s.timestamp.as_deref(),
        sigstore: s.sigstore.as_ref().map(|v| SigstoreOut {
            signed_by: match &v.signed_by {
                SignedBy::Key { index } => SignedByOut::Key { index: *index },
                SignedBy::Certificate(id) => SignedByOut::Certificate(identity(id)),
            },
            tlog: logs(&v.tlog),
            times: times(&v.times),
            checks: &v.checks,
            notes: &v.notes,
        }),
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Most predicate types named in the line about attestations found.
const TYPES_SHOWN: usize = 4;

/// "N attestation(s) of this digest (TYPE, …): check it/them with verify-attestation".
fn attestations(n: usize, types: &[&str]) -> String {
    let mut shown = types
        .iter()
        .take(TYPES_SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if types.len() > TYPES_SHOWN {
        shown.push_str(", …");
    }
    format!(
        "{n} attestation{} of this digest ({shown}): check {} with hallmark verify-attestation --type TYPE",
        if n == 1 { "" } else { "s" },
        if n == 1 { "it" } else { "them" },
    )
}

impl<'a> ReportOut<'a> {
    /// Reads a report through its accessors. An attestation met among the signatures is
    /// counted, not listed as an error: an artifact with provenance would otherwise carry a
    /// note on every verification.
    pub fn new(report: &'a Report) -> Self {
        let (found, findings): (Vec<&Finding>, Vec<&Finding>) = report
            .findings()
            .iter()
            .partition(|f| matches!(f.reason(), Rejection::NotASignature(_)));
        let mut types: Vec<&str> = Vec::new();
        for f in &found {
            if let Rejection::NotASignature(t) = f.reason()
                && !types.contains(&t.as_str())
            {
                types.push(t);
            }
        }
        let mut errors: Vec<String> = findings.iter().map(ToString::to_string).collect();
        let mut advised: Vec<String> = findings.iter().map(|f| crate::advice::line(f)).collect();
        // A refusal still says why when the attestations were all there was.
        let only = !report.allowed() && errors.is_empty() && !found.is_empty();
        if only {
            let line = format!("no signature, only {}", attestations(found.len(), &types));
            errors.push(line.clone());
            advised.push(line);
        }
        ReportOut {
            reference: report.reference(),
            digest: report.digest().to_string(),
            tag: report.tag(),
            verified: report.verified(),
            allowed: report.allowed(),
            signatures: report.signatures().iter().map(signature).collect(),
            errors,
            attestations_found: found.len(),
            only_attestations: only,
            attestation_types: types,
            moved: report
                .findings()
                .iter()
                .find_map(|f| MovedOut::new(f.reason())),
            policy: report.policy().map(|p| PolicyOut {
                rule: p.rule.clone(),
                action: p.action.as_ref().map(serde_name),
            }),
            sources: report.signatures(),
            advised,
        }
    }

    /// Why it did not verify, on stderr even under --quiet.
    pub fn denied(&self, t: &mut Text<'_>) {
        t.loud(format!("error: not verified: {}", self.reference));
        for e in &self.advised {
            t.loud_outside("  ", e);
        }
        if self.attestations_found > 0 && !self.only_attestations {
            t.loud_outside("  also found ", &self.attestations_line());
        }
    }

    /// The attestations found, as one line (their types are the signer's text).
    fn attestations_line(&self) -> String {
        attestations(self.attestations_found, &self.attestation_types)
    }

    /// Which signatures verified it, and notes on those that did not count.
    pub fn verified(&self, t: &mut Text<'_>) {
        for s in self.sources {
            let format = match s.format {
                SignatureFormat::Legacy => "legacy .sig",
                SignatureFormat::Bundle => "Sigstore bundle",
            };
            let at = s
                .timestamp
                .as_ref()
                .map(|t| format!(" at {t}"))
                .unwrap_or_default();
            let keyless = s
                .sigstore
                .as_ref()
                .filter(|v| matches!(v.signed_by, SignedBy::Certificate(_)));
            let line = match keyless {
                Some(_) => format!(
                    "verified {} — signed keyless by {} ({format} signature){at}",
                    self.digest, s.key
                ),
                None => format!(
                    "verified {} — signed by {} ({}, key id {}, {format} signature){at}",
                    self.digest, s.key, s.algorithm, s.key_id
                ),
            };
            t.say_outside("", &line);
            if let Some(v) = &s.sigstore {
                proofs(t, &v.tlog, &v.times);
            }
        }
        for e in &self.advised {
            t.say_outside("note: ", e);
        }
        if self.attestations_found > 0 {
            t.say_outside("also found ", &self.attestations_line());
        }
    }
}

/// The log entries and verified times of a Sigstore verification, one line each.
pub fn proofs(t: &mut Text<'_>, tlog: &[LogRecord], times: &[VerifiedTime]) {
    for l in tlog {
        let at = l
            .integrated_time
            .map(|t| format!(", integrated {}", humantime::format_rfc3339_seconds(t)))
            .unwrap_or_default();
        t.say_outside(
            "  logged: ",
            &format!(
                "{} entry {} ({}){at}",
                l.log,
                l.log_index,
                l.proofs.join(", ")
            ),
        );
    }
    for v in times {
        t.say_outside(
            "  signed at: ",
            &format!("{} ({})", humantime::format_rfc3339_seconds(v.at), v.source),
        );
    }
}

/// `verify`'s document.
#[derive(Serialize)]
pub struct Verified<'a> {
    version: V1,
    #[serde(flatten)]
    report: ReportOut<'a>,
    /// With `--platform`: the platform manifest and whose signature counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: Option<PlatformOut<'a>>,
}

/// One platform of a verified index.
#[derive(Serialize)]
struct PlatformOut<'a> {
    platform: &'a str,
    /// The platform manifest, pinned: what to pull.
    reference: &'a str,
    digest: String,
    /// The index it was taken from.
    index: String,
    /// `index` or `platform`; null when neither signature counted.
    signed_by: Option<hallmark::verify::SignedBy>,
}

impl<'a> Verified<'a> {
    pub fn new(report: &'a Report) -> Self {
        Verified {
            version: V1,
            report: ReportOut::new(report),
            platform: None,
        }
    }

    /// `verify --platform`: the report that decided, and the platform manifest.
    pub fn platform(v: &'a hallmark::verify::PlatformVerification) -> Self {
        Verified {
            version: V1,
            report: ReportOut::new(v.report()),
            platform: Some(PlatformOut {
                platform: v.platform(),
                reference: v.reference(),
                digest: v.manifest().digest.to_string(),
                index: v.index_digest().to_string(),
                signed_by: v.signed_by(),
            }),
        }
    }

    /// Why it did not verify, on stderr.
    pub fn denied(&self, t: &mut Text<'_>) {
        self.report.denied(t);
        if let Some(p) = &self.platform {
            t.loud(format!(
                "  nor does the {} manifest {} have a signature that counts (sign it with hallmark sign --recursive REF@INDEX-DIGEST)",
                p.platform, p.digest
            ));
        }
    }
}

impl Render for Verified<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        if !self.report.allowed {
            self.denied(t);
            return Ok(());
        }
        self.report.verified(t);
        match &self.platform {
            None => t.result(self.report.reference),
            Some(p) => {
                t.say(match p.signed_by {
                    Some(hallmark::verify::SignedBy::Platform) => format!(
                        "{} manifest {}: its own signature counts (the index {} has none that does)",
                        p.platform, p.digest, p.index
                    ),
                    _ => format!(
                        "{} manifest {}: listed by the verified index {}",
                        p.platform, p.digest, p.index
                    ),
                });
                t.result(p.reference)
            }
        }
    }
}

/// `verify-attestation`'s document: the report and the verified predicates.
#[derive(Serialize)]
pub struct AttestationsVerified<'a> {
    version: V1,
    #[serde(flatten)]
    report: ReportOut<'a>,
    attestations: Vec<AttestedOut<'a>>,
}

#[derive(Serialize)]
struct AttestedOut<'a> {
    #[serde(flatten)]
    signature: SignatureOut<'a>,
    predicate_type: &'a str,
    predicate: &'a serde_json::Value,
}

impl<'a> AttestationsVerified<'a> {
    pub fn new(report: &'a Report, attested: &'a [hallmark::verify::Attested]) -> Self {
        AttestationsVerified {
            version: V1,
            report: ReportOut::new(report),
            attestations: attested
                .iter()
                .map(|a| AttestedOut {
                    signature: signature(&a.signature),
                    predicate_type: &a.predicate_type,
                    predicate: &a.predicate,
                })
                .collect(),
        }
    }

    /// Why it did not verify, on stderr.
    pub fn denied(&self, t: &mut Text<'_>) {
        self.report.denied(t);
    }
}

impl Render for AttestationsVerified<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        if self.report.verified {
            self.report.verified(t);
            // One verified predicate per line, for scripts (jq reads them in turn).
            let lines: Vec<String> = self
                .attestations
                .iter()
                .map(|a| a.predicate.to_string())
                .collect();
            t.result(&lines.join("\n"))
        } else {
            self.report.denied(t);
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::render_text;
    use super::*;

    fn digest() -> hallmark::digest::Digest {
        hallmark::digest::Digest::sha256(b"app")
    }

    fn report<'a>(
        signatures: &'a [ValidSignature],
        allowed: bool,
        errors: &[&str],
    ) -> Verified<'a> {
        Verified {
            version: V1,
            report: ReportOut {
                reference: "reg.example/app@sha256:1234",
                digest: digest().to_string(),
                tag: Some("v1"),
                verified: allowed,
                allowed,
                signatures: signatures.iter().map(signature).collect(),
                errors: errors.iter().map(|e| e.to_string()).collect(),
                attestations_found: 0,
                only_attestations: false,
                attestation_types: Vec::new(),
                policy: None,
                moved: None,
                sources: signatures,
                advised: errors.iter().map(|e| e.to_string()).collect(),
            },
            platform: None,
        }
    }

    fn signed() -> ValidSignature {
        ValidSignature {
            key: "release.pub".into(),
            key_id: "0123456789abcdef".into(),
            algorithm: hallmark::keys::Algorithm::EcdsaP256,
            format: SignatureFormat::Legacy,
            annotations: BTreeMap::new(),
            bound_tags: vec!["v1".into()],
            timestamp: Some("2026-01-02T03:04:05Z".into()),
            sigstore: None,
        }
    }

    #[test]
    fn allowed_prints_the_pinned_reference_and_who_signed() {
        let sigs = [signed()];
        let (out, err) = render_text(
            &report(&sigs, true, &["ignored a signature\x1b[31m by another key"]),
            false,
        );
        assert_eq!(out, "reg.example/app@sha256:1234\n");
        assert_eq!(
            err,
            format!(
                "verified {} — signed by release.pub (ecdsa-p256, key id 0123456789abcdef, legacy .sig signature) at 2026-01-02T03:04:05Z\n\
                 note: ignored a signature\\u{{1b}}[31m by another key\n",
                digest()
            )
        );
        // --quiet keeps the result and drops the detail.
        let (out, err) = render_text(&report(&sigs, true, &[]), true);
        assert_eq!(
            (out.as_str(), err.as_str()),
            ("reg.example/app@sha256:1234\n", "")
        );
    }

    /// Attestations are one line, with their types (escaped: a signer wrote them), on
    /// success and beside the reasons of a refusal; never a note per attestation.
    #[test]
    fn attestations_found_are_one_line_with_their_types() {
        let sigs = [signed()];
        let mut ok = report(&sigs, true, &[]);
        ok.report.attestations_found = 3;
        ok.report.attestation_types = vec!["https://slsa.dev/provenance/v1", "urn:x\x1b[2J"];
        let (out, err) = render_text(&ok, false);
        assert_eq!(out, "reg.example/app@sha256:1234\n");
        assert_eq!(
            err.lines().nth(1),
            Some(
                "also found 3 attestations of this digest (https://slsa.dev/provenance/v1, urn:x\\u{1b}[2J): check them with hallmark verify-attestation --type TYPE"
            ),
            "{err}"
        );
        assert!(!err.contains("note:"), "{err}");
        let mut denied = report(
            &[],
            false,
            &["signature 0: not signed by any of the given keys"],
        );
        denied.report.attestations_found = 1;
        denied.report.attestation_types = vec!["https://cyclonedx.org/bom"];
        let (_, err) = render_text(&denied, true);
        assert_eq!(
            err,
            "error: not verified: reg.example/app@sha256:1234\n  signature 0: not signed by any of the given keys\n  \
             also found 1 attestation of this digest (https://cyclonedx.org/bom): check it with hallmark verify-attestation --type TYPE\n"
        );
        let v = serde_json::to_value(&denied).unwrap();
        assert_eq!(v["attestations_found"], 1);
        assert!(serde_json::to_value(&ok).unwrap()["attestations_found"] == 3);
        let none = serde_json::to_value(report(&sigs, true, &[])).unwrap();
        assert!(none.get("attestations_found").is_none(), "{none}");
    }

    #[test]
    fn denied_prints_nothing_on_stdout_and_says_why_even_quiet() {
        let (out, err) = render_text(&report(&[], false, &["no signature"]), true);
        assert_eq!(out, "");
        assert_eq!(
            err,
            "error: not verified: reg.example/app@sha256:1234\n  no signature\n"
        );
    }

    /// Reasons quote what signatures claim (a repository, a certificate subject): an
    /// attacker's text, never written to a terminal as it is.
    #[test]
    fn denied_reasons_cannot_drive_the_terminal() {
        let reason = "signed for evil.example/\x1b]0;owned\x07\x1b[2J, not reg.example/app";
        let (_, err) = render_text(&report(&[], false, &[reason]), false);
        assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
        assert!(err.contains("evil.example/"), "{err}");
    }

    #[test]
    fn the_document_starts_with_its_version() {
        let sigs = [signed()];
        let text = serde_json::to_string(&report(&sigs, true, &[])).unwrap();
        assert!(text.starts_with(r#"{"version":1,"reference":"#), "{text}");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["signatures"][0]["format"], "legacy");
        assert_eq!(v["signatures"][0]["algorithm"], "ecdsa-p256");
        assert!(v.get("policy").is_none());
    }

    #[test]
    fn an_identity_lists_the_claims_present_in_extension_order() {
        let id = Identity {
            subject: "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main".into(),
            kind: hallmark::sigstore::certificate::SubjectKind::Uri,
            issuer: Some("https://token.actions.githubusercontent.com".into()),
            claims: Claims {
                github_workflow_trigger: Some("push".into()),
                source_repository_uri: Some("https://github.com/o/r".into()),
                ..Claims::default()
            },
        };
        assert_eq!(
            serde_json::to_string(&identity(&id)).unwrap(),
            r#"{"subject":"https://github.com/o/r/.github/workflows/release.yml@refs/heads/main","kind":"uri","issuer":"https://token.actions.githubusercontent.com","claims":{"github_workflow_trigger":"push","source_repository_uri":"https://github.com/o/r"}}"#
        );
    }
}
