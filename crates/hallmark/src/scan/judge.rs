//! Judging what was read: every trusted binding of every tag ([`Judged`]) and the status of
//! one tag ([`classify`]), pure functions of the evidence.

use std::collections::HashMap;
use std::time::SystemTime;

use super::{Binding, OrphanEntry, Status, TagEntry};
use crate::digest::Digest;
use crate::report::ValidSignature;
use crate::trust::VerifyOptions;
use crate::verify::{Context, Evidence, decide};

/// The signatures of a repository's digests, judged once without a tag: which tags each
/// trusted signature binds, and when.
pub(crate) struct Judged<'a> {
    opts: &'a VerifyOptions,
    identity: String,
    now: SystemTime,
    /// Per digest: its trusted signatures, ages ignored (an expired signature still tells
    /// where a tag was).
    trusted: HashMap<Digest, Vec<ValidSignature>>,
    /// Per tag: the newest trusted binding, and every digest bound at that time.
    newest: HashMap<String, (SystemTime, Vec<Binding>)>,
}

fn signed_at(s: &ValidSignature) -> SystemTime {
    s.timestamp
        .as_deref()
        .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

impl<'a> Judged<'a> {
    /// Judges every digest's evidence under `opts` (ages ignored) in `identity`.
    pub(crate) fn new(
        evidence: &HashMap<Digest, Evidence>,
        identity: &str,
        opts: &'a VerifyOptions,
        now: SystemTime,
    ) -> Self {
        let ageless = VerifyOptions {
            max_age: None,
            require_tag_binding: false,
            ..opts.clone()
        };
        let mut judged = Judged {
            opts,
            identity: identity.to_string(),
            now,
            trusted: HashMap::new(),
            newest: HashMap::new(),
        };
        for (digest, ev) in evidence {
            let ctx = judged.context(None, digest, identity);
            let report = decide(ev, &ctx, &ageless);
            for s in report.signatures() {
                let at = signed_at(s);
                for t in &s.bound_tags {
                    let slot = judged
                        .newest
                        .entry(t.clone())
                        .or_insert((SystemTime::UNIX_EPOCH, Vec::new()));
                    if at > slot.0 {
                        *slot = (at, Vec::new());
                    }
                    if at == slot.0 && !slot.1.iter().any(|b| &b.digest == digest) {
                        slot.1.push(Binding {
                            digest: digest.clone(),
                            timestamp: s.timestamp.clone(),
                        });
                    }
                }
            }
            judged
                .trusted
                .insert(digest.clone(), report.into_signatures());
        }
        judged
    }

    pub(super) fn context(&self, tag: Option<&str>, digest: &Digest, repository: &str) -> Context {
        Context {
            reference: format!("{repository}@{digest}"),
            identity: self.identity.clone(),
            tag: tag.map(str::to_string),
            now: self.now,
        }
    }

    /// Where the newest trusted bindings of `tag` put it, as against `digest`.
    fn placement(&self, tag: &str, digest: &Digest) -> Placement {
        let Some((_, bound)) = self.newest.get(tag) else {
            return Placement::Here;
        };
        let other = bound.iter().find(|b| &b.digest != digest).cloned();
        match (bound.iter().any(|b| &b.digest == digest), other) {
            (_, None) => Placement::Here,
            (false, Some(b)) => Placement::Elsewhere(b),
            (true, Some(b)) => Placement::Tied(b),
        }
    }

    /// The digest the newest trusted bindings of `tag` put it on, when that is another
    /// than `digest` alone: the tag was moved from there. A tie is no move.
    pub(crate) fn moved_from(&self, tag: &str, digest: &Digest) -> Option<Binding> {
        match self.placement(tag, digest) {
            Placement::Elsewhere(b) => Some(b),
            Placement::Here | Placement::Tied(_) => None,
        }
    }

    pub(super) fn orphan(&self, repository: &str, digest: &Digest) -> OrphanEntry {
        let signatures = self.trusted.get(digest).cloned().unwrap_or_default();
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
}

/// Where the newest trusted bindings of a tag put it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Placement {
    /// On the digest it names (or nowhere: no binding).
    Here,
    /// On another digest only: the tag was moved.
    Elsewhere(Binding),
    /// On the digest it names and, in the same second, on this other one: which binding
    /// is newer cannot be told.
    Tied(Binding),
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
    let report = decide(evidence, &ctx, judged.opts);
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
    if judged.opts.max_age.is_some() {
        let ageless = VerifyOptions {
            max_age: None,
            ..judged.opts.clone()
        };
        let young = decide(evidence, &ctx, &ageless);
        if young.verified() {
            entry.status = Status::Stale;
            entry.reason = format!(
                "trusted signatures are older than the max-age of {}",
                crate::trust::format_age(judged.opts.max_age.unwrap_or_default())
            );
            entry.signatures = young.into_signatures();
            return entry;
        }
    }
    entry.reason = if report.findings().is_empty() {
        "no trusted signature".to_string()
    } else {
        report.error_lines().join("; ")
    };
    entry.findings = report.findings().to_vec();
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bindings_in_the_same_second_are_tied() {
        let digest = |c: char| -> Digest {
            format!("sha256:{}", c.to_string().repeat(64))
                .parse()
                .unwrap()
        };
        let (old, new, third) = (digest('a'), digest('b'), digest('c'));
        let opts = VerifyOptions::default();
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let binding = |d: &Digest| Binding {
            digest: d.clone(),
            timestamp: Some("2023-11-14T22:13:20Z".into()),
        };
        let mut judged = Judged {
            opts: &opts,
            identity: "reg.example.com/app".into(),
            now: at,
            trusted: HashMap::new(),
            newest: HashMap::new(),
        };
        judged
            .newest
            .insert("latest".into(), (at, vec![binding(&new)]));
        assert_eq!(judged.placement("latest", &new), Placement::Here);
        assert_eq!(
            judged.placement("latest", &old),
            Placement::Elsewhere(binding(&new))
        );
        assert_eq!(judged.placement("other", &old), Placement::Here);
        judged
            .newest
            .insert("latest".into(), (at, vec![binding(&old), binding(&new)]));
        assert_eq!(
            judged.placement("latest", &old),
            Placement::Tied(binding(&new))
        );
        assert_eq!(
            judged.placement("latest", &new),
            Placement::Tied(binding(&old))
        );
        assert!(matches!(
            judged.placement("latest", &third),
            Placement::Elsewhere(_)
        ));
    }
}
