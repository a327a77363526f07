//! Where trusted signatures put each tag of a repository ([`Judged`]): a pure function of
//! the evidence, shared by `scan` (drift) and a failed verification (a moved tag).

use std::collections::HashMap;
use std::time::SystemTime;

use super::decide::decide;
use super::{Context, Evidence};
use crate::digest::Digest;
use crate::report::{Binding, ValidSignature};
use crate::trust::VerifyOptions;

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

    pub(crate) fn context(&self, tag: Option<&str>, digest: &Digest, repository: &str) -> Context {
        Context {
            reference: format!("{repository}@{digest}"),
            identity: self.identity.clone(),
            tag: tag.map(str::to_string),
            now: self.now,
        }
    }

    /// Where the newest trusted bindings of `tag` put it, as against `digest`.
    pub(crate) fn placement(&self, tag: &str, digest: &Digest) -> Placement {
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

    /// The options the evidence is judged under.
    pub(crate) fn opts(&self) -> &VerifyOptions {
        self.opts
    }

    /// The trusted signatures of `digest` (ages ignored).
    pub(crate) fn trusted(&self, digest: &Digest) -> &[ValidSignature] {
        self.trusted.get(digest).map_or(&[], Vec::as_slice)
    }
}

/// Where the newest trusted bindings of a tag put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Placement {
    /// On the digest it names (or nowhere: no binding).
    Here,
    /// On another digest only: the tag was moved.
    Elsewhere(Binding),
    /// On the digest it names and, in the same second, on this other one: which binding
    /// is newer cannot be told.
    Tied(Binding),
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
