//! Judging what was read: the status of one tag ([`classify`]) and of a digest no tag
//! names ([`orphan`]), pure functions of the evidence and of every binding ([`Judged`]).

use super::{OrphanEntry, Status, TagEntry};
use crate::digest::Digest;
use crate::report::{Binding, Finding, Rejection};
use crate::trust::VerifyOptions;
use crate::verify::{Evidence, Judged, Placement, decide};

/// A signed digest no tag names, with the tags its trusted signatures bind.
pub(super) fn orphan(judged: &Judged<'_>, repository: &str, digest: &Digest) -> OrphanEntry {
    let signatures = judged.trusted(digest).to_vec();
    let mut bound_tags: Vec<String> = signatures
        .iter()
        .flat_map(|s| s.bound_tags.iter().cloned())
        .collect();
    bound_tags.sort();
    bound_tags.dedup();
    let reason = match (signatures.is_empty(), bound_tags.is_empty()) {
        (true, _) => "signed, but by no trusted key; no tag names it".to_string(),
        (false, true) => "signed by a trusted key; no tag names it".to_string(),
        (false, false) => format!(
            "signed for {}, which no longer name it",
            bound_tags.join(", ")
        ),
    };
    OrphanEntry {
        repository: repository.to_string(),
        digest: digest.clone(),
        bound_tags,
        signatures,
        reason,
    }
}

/// The status of `tag`, which names `digest` whose signatures are `evidence`, given every
/// binding in the repository (`judged`). Drift first: a tag whose newest trusted binding is
/// elsewhere was moved, whatever signs what it names now.
pub(crate) fn classify(
    repository: &str,
    tag: &str,
    digest: &Digest,
    evidence: &Evidence,
    judged: &Judged<'_>,
) -> TagEntry {
    let mut entry = TagEntry {
        repository: repository.to_string(),
        tag: tag.to_string(),
        digest: Some(digest.clone()),
        status: Status::Invalid,
        reason: String::new(),
        signatures: Vec::new(),
        bound_to: None,
        findings: Vec::new(),
    };
    let made = |b: &Binding| {
        b.timestamp
            .as_ref()
            .map(|t| format!(" made {t}"))
            .unwrap_or_default()
    };
    match judged.placement(tag, digest) {
        Placement::Here => {}
        Placement::Elsewhere(b) => {
            entry.status = Status::Drifted;
            entry.reason = format!(
                "a trusted signature{} binds {tag} to {}, not to the {digest} it names now",
                made(&b),
                b.digest
            );
            entry.bound_to = Some(b);
            return entry;
        }
        // Verifying here would accept a rollback whose signatures share a second.
        Placement::Tied(b) => {
            entry.status = Status::Ambiguous;
            entry.reason = format!(
                "trusted signatures{} bind {tag} both to the {digest} it names and to {}; which is newer cannot be told (sign the right one again)",
                made(&b),
                b.digest
            );
            entry.bound_to = Some(b);
            return entry;
        }
    }
    if evidence.candidates.is_empty() {
        entry.status = Status::Unsigned;
        entry.reason = evidence
            .absent()
            .map_or_else(|| "no signature".to_string(), ToString::to_string);
        return entry;
    }
    let ctx = judged.context(Some(tag), digest, repository);
    let report = decide(evidence, &ctx, judged.opts());
    if report.verified() {
        entry.status = Status::Verified;
        entry.reason = format!(
            "signed by {}",
            report
                .signatures()
                .iter()
                .map(|s| s.key.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        entry.signatures = report.into_signatures();
        return entry;
    }
    if judged.opts().max_age.is_some() {
        let ageless = VerifyOptions {
            max_age: None,
            ..judged.opts().clone()
        };
        let young = decide(evidence, &ctx, &ageless);
        if young.verified() {
            entry.status = Status::Stale;
            entry.reason = format!(
                "trusted signatures are older than the max-age of {}",
                crate::trust::format_age(judged.opts().max_age.unwrap_or_default())
            );
            entry.signatures = young.into_signatures();
            return entry;
        }
    }
    // An attestation among the signatures is no rejected signature (verify counts them
    // apart too): it stays out of the reason, and a tag with attestations only is unsigned.
    let (attestations, findings): (Vec<&Finding>, Vec<&Finding>) = report
        .findings()
        .iter()
        .partition(|f| matches!(f.reason(), Rejection::NotASignature(_)));
    if findings.is_empty() && !attestations.is_empty() {
        let mut types: Vec<&str> = Vec::new();
        for f in &attestations {
            if let Rejection::NotASignature(t) = f.reason()
                && !types.contains(&t.as_str())
            {
                types.push(t);
            }
        }
        entry.status = Status::Unsigned;
        entry.reason = format!(
            "no signature, only {} attestation{} ({})",
            attestations.len(),
            if attestations.len() == 1 { "" } else { "s" },
            types.join(", ")
        );
        return entry;
    }
    entry.reason = if findings.is_empty() {
        "no trusted signature".to_string()
    } else {
        findings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("; ")
    };
    entry.findings = findings.into_iter().cloned().collect();
    entry
}
