//! One repository's scan: its tag list, one manifest per tag, the signatures of each
//! distinct digest, and the judgement of every tag.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::SystemTime;

use futures_util::StreamExt;

use super::judge::{classify, orphan};
use super::tags::{Resolved, resolve};
use super::{OrphanEntry, RepoAccess, ScanError, ScanOptions, ScanProgress, Status, TagEntry};
use crate::Error;
use crate::digest::Digest;
use crate::policy::{Ruling, Trust};
use crate::reference::{ImageRef, SignatureKind, signature_tag_kind};
use crate::registry::{Client, ListBudget};
use crate::store::{Store, Target};
use crate::verify::{Evidence, Judged, Known, gather_known, missing_attestations};

/// Shared by the repositories of one scan.
pub(super) struct State<'a> {
    pub(super) client: &'a Client,
    pub(super) opts: &'a ScanOptions,
    pub(super) progress: &'a ScanProgress<'a>,
    /// Tags done, tags known.
    pub(super) done: Mutex<(usize, usize)>,
    /// Per registry: whether it answers the referrers API, once a probe said so for sure.
    pub(super) referrers_api: Mutex<HashMap<String, bool>>,
    /// What the tag lists of the scan may still take.
    pub(super) budget: ListBudget,
}

/// One repository's findings.
#[derive(Default)]
pub(super) struct Outcome {
    pub(super) tags: Vec<TagEntry>,
    pub(super) orphaned: Vec<OrphanEntry>,
    pub(super) access: Vec<RepoAccess>,
    pub(super) errors: Vec<ScanError>,
}

impl State<'_> {
    fn tick(&self, more_done: usize, more_known: usize) {
        let (done, known) = {
            let mut d = self.done.lock().expect("progress lock");
            d.0 += more_done;
            d.1 += more_known;
            *d
        };
        (self.progress)(done, known);
    }

    pub(super) async fn repository(&self, repo: &ImageRef) -> Outcome {
        let name = repo.name();
        let mut out = Outcome::default();
        let fail = |e: &dyn std::fmt::Display| ScanError {
            scope: name.clone(),
            error: e.to_string(),
        };
        if self.opts.access {
            out.access.push(match self.client.push_access(repo).await {
                Ok(a) => RepoAccess {
                    repository: name.clone(),
                    can_push: a.can_push,
                    how: a.how,
                },
                Err(e) => RepoAccess {
                    repository: name.clone(),
                    can_push: None,
                    how: format!("could not be found out: {e}"),
                },
            });
        }
        let listed = self
            .client
            .list_tags_within(
                repo,
                self.opts.page_size,
                self.opts.repository_limits,
                &self.budget,
            )
            .await;
        let (mut all_tags, cut) = match listed {
            Ok(Some(l)) => (l.names, l.cut),
            Ok(None) => {
                out.errors
                    .push(fail(&"the repository does not exist (any more)"));
                return out;
            }
            Err(e) => {
                out.errors.push(fail(&e));
                return out;
            }
        };
        // A registry that lists a name twice gets it read once.
        all_tags.sort();
        all_tags.dedup();
        // A list cut short is scanned as far as it was read, and said to be partial.
        let complete = cut.is_none();
        if let Some(cut) = cut {
            out.errors
                .push(fail(&format!("the tag list was read only in part: {cut}")));
        }
        let store = match Store::registry(self.client, repo) {
            Ok(s) => s,
            Err(e) => {
                out.errors.push(fail(&e));
                return out;
            }
        };
        self.tick(0, all_tags.len());

        // The policy decides per repository.
        let requirements = match &self.opts.trust {
            Trust::Keys(o) => Ok((o.clone(), Vec::new())),
            Trust::Policy(p) => match p.ruling(&store.identity()) {
                Ruling::Deny { why, .. } => Err((Status::Invalid, why)),
                Ruling::AllowUnsigned { why, .. } => Err((Status::Allowed, why)),
                Ruling::Verify(r) => Ok((r.verify.clone(), r.attestations.clone())),
            },
        };

        // Every tag is read, signature-shaped ones too: what a tag is is decided by the
        // manifest it names, so that nothing hides behind a signature tag's name.
        let resolved: Vec<(String, Result<Option<Resolved>, Error>)> =
            futures_util::stream::iter(all_tags.iter().cloned())
                .map(|t| {
                    let store = store.clone();
                    async move {
                        let r = resolve(&store, &t).await;
                        (t, r)
                    }
                })
                .buffer_unordered(self.opts.concurrency.max(1))
                .collect()
                .await;
        let mut named: Vec<(String, Digest)> = Vec::new();
        let mut signed: Vec<Digest> = Vec::new();
        // Digests with a fallback referrers index: left behind, they are orphaned too.
        let mut fallbacks: HashSet<Digest> = HashSet::new();
        let mut stores = 0;
        for (tag, m) in resolved {
            match m {
                Ok(Some(Resolved::Store(d, kind))) => {
                    stores += 1;
                    if kind == SignatureKind::Referrers {
                        fallbacks.insert(d.clone());
                    }
                    if kind.has_signatures() {
                        signed.push(d);
                    }
                }
                Ok(Some(Resolved::Artifact(digest))) => named.push((tag, digest)),
                // A signature tag replaced while the scan ran: it was a signature store.
                Ok(None) if signature_tag_kind(&tag).is_some() => stores += 1,
                Ok(None) => out.tags.push(TagEntry::error(
                    &name,
                    &tag,
                    "the tag vanished during the scan",
                )),
                Err(e) => out.tags.push(TagEntry::error(&name, &tag, &e.to_string())),
            }
        }
        self.tick(stores, 0);
        named.sort();

        let (opts, attestations) = match requirements {
            Err((status, reason)) => {
                self.tick(named.len(), 0);
                for (tag, digest) in named {
                    out.tags.push(TagEntry {
                        repository: name.clone(),
                        tag,
                        digest: Some(digest),
                        status,
                        reason: reason.clone(),
                        signatures: Vec::new(),
                        bound_to: None,
                        findings: Vec::new(),
                    });
                }
                return out;
            }
            Ok(r) => r,
        };

        // Each distinct digest's signatures are read once, however many tags share it.
        let mut digests: Vec<Digest> = named.iter().map(|(_, d)| d.clone()).collect();
        digests.extend(signed.iter().cloned());
        digests.sort();
        digests.dedup();
        let referrers_api = match self.referrers_api(repo, digests.first()).await {
            Ok(answer) => answer,
            Err(e) => {
                // Not knowing is not "no": each digest asks the API itself (a registry
                // without it answers 404, which costs a request and loses nothing).
                out.errors.push(fail(&format!(
                    "whether the registry has the referrers API could not be found out: {e}"
                )));
                true
            }
        };
        // Only a complete tag list can say which signature tags do not exist.
        let known = complete.then(|| Known {
            tags: all_tags.iter().cloned().collect(),
            referrers_api,
        });
        let target = Target {
            signatures: store.clone(),
            store: store.clone(),
            tag: None,
            digest: None,
        };
        let gathered: Vec<(Digest, Result<Evidence, Error>)> = futures_util::stream::iter(digests)
            .map(|d| {
                let (target, known) = (&target, known.as_ref());
                async move {
                    let e = gather_known(target, &d, known).await;
                    (d, e)
                }
            })
            .buffer_unordered(self.opts.concurrency.max(1))
            .collect()
            .await;
        let mut evidence = HashMap::new();
        for (d, e) in gathered {
            match e {
                Ok(e) => {
                    evidence.insert(d, e);
                }
                Err(e) => out.errors.push(fail(&format!("signatures of {d}: {e}"))),
            }
        }
        let judged = Judged::new(&evidence, &store.identity(), &opts, SystemTime::now());
        let tagged: HashSet<&Digest> = named.iter().map(|(_, d)| d).collect();
        for (tag, digest) in &named {
            let Some(ev) = evidence.get(digest) else {
                out.tags.push(TagEntry::error(
                    &name,
                    tag,
                    "its signatures could not be read",
                ));
                continue;
            };
            let mut entry = classify(&name, tag, digest, ev, &judged);
            if entry.status == Status::Verified {
                let ctx = judged.context(Some(tag), digest, &name);
                let missing: Vec<&str> = missing_attestations(ev, &ctx, &opts, &attestations)
                    .into_iter()
                    .map(|(required, _)| required.predicate_type.as_str())
                    .collect();
                // Every missing type is named: fixing one must not reveal the next.
                if !missing.is_empty() {
                    entry.status = Status::Invalid;
                    entry.reason = format!(
                        "no verified attestation of type {} that the policy requires",
                        missing.join(", nor of type ")
                    );
                }
            }
            out.tags.push(entry);
        }
        self.tick(named.len(), 0);
        // A tag that could not be read, or was not listed, may name any digest: nothing is
        // orphaned for sure.
        if !complete || out.tags.iter().any(|t| t.status == Status::Error) {
            return out;
        }
        for (digest, ev) in &evidence {
            if tagged.contains(digest) {
                continue;
            }
            if !ev.candidates.is_empty() {
                out.orphaned.push(orphan(&judged, &name, digest));
            } else if fallbacks.contains(digest) {
                let mut orphan = orphan(&judged, &name, digest);
                orphan.reason = format!(
                    "its referrers index {} is left, listing no signature; no tag names it",
                    crate::oci::referrers_tag(digest)
                );
                out.orphaned.push(orphan);
            }
        }
        out.orphaned.sort_by(|a, b| a.digest.cmp(&b.digest));
        out
    }

    /// Whether the registry of `repo` answers the referrers API. Only a definitive answer
    /// (an index, or 404) is kept for the registry; a failed probe is asked again by the
    /// next repository, so one transient error cannot hide every bundle signature.
    async fn referrers_api(
        &self,
        repo: &ImageRef,
        probe: Option<&Digest>,
    ) -> Result<bool, crate::registry::RegistryError> {
        let host = repo.registry().to_string();
        if let Some(known) = self.referrers_api.lock().expect("lock").get(&host) {
            return Ok(*known);
        }
        let Some(d) = probe else { return Ok(false) };
        let answer = self.client.referrers(repo, d).await?.is_some();
        self.referrers_api
            .lock()
            .expect("lock")
            .insert(host, answer);
        Ok(answer)
    }
}

impl TagEntry {
    fn error(repository: &str, tag: &str, why: &str) -> Self {
        Self {
            repository: repository.to_string(),
            tag: tag.to_string(),
            digest: None,
            status: Status::Error,
            reason: why.to_string(),
            signatures: Vec::new(),
            bound_to: None,
            findings: Vec::new(),
        }
    }
}
