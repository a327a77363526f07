//! Watching registries: every tag of every scanned repository, with its digest and status
//! (verified, allowed unsigned, unsigned, invalid, drifted, stale), and the signed digests
//! no tag names any more (orphaned).
//!
//! A tag that a trusted signature bound to one digest and that now names another is the
//! footprint of a tag swap after the fact: `drifted`. Where the signature it was bound by
//! sits is then usually `orphaned`.
//!
//! Work per repository: one tag list (which also tells which digests have `.sig` and
//! fallback referrer tags), one manifest read per artifact tag (hashed, so the digest is
//! the content's), and, once per distinct digest, only the signature reads the tag list
//! says can succeed. Judging is `classify`, a pure function of what was read.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Instant;

use futures_util::StreamExt;

use crate::Error;
use crate::digest::Digest;
use crate::policy::Trust;
use crate::reference::{ImageRef, ReferenceError, canonical_glob, canonical_repository};
use crate::registry::{Client, ListBudget, ListLimits};
pub use crate::report::Binding;
use crate::report::{Finding, ValidSignature};

mod judge;
mod repository;
mod tags;

use repository::State;

/// Version of the JSON document (`docs/schema/scan.schema.json`).
pub(crate) const REPORT_VERSION: u32 = 1;

/// What a scan found about one tag (or one orphaned digest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A trusted signature of this digest, for this repository.
    Verified,
    /// A policy rule allows it unsigned: nothing was checked.
    Allowed,
    /// No signature at all.
    Unsigned,
    /// Signatures exist, none is trusted (wrong key, tampered, made for elsewhere), or a
    /// policy rejects the repository.
    Invalid,
    /// A trusted signature binds this tag to another digest, more recently than any binds
    /// it to this one: the tag was moved.
    Drifted,
    /// Only trusted signatures older than the policy's `max-age`.
    Stale,
    /// A signed digest no tag names.
    Orphaned,
    /// The tag could not be read (it vanished, or the registry failed).
    Error,
    /// Trusted signatures made in the same second bind this tag to more than one digest,
    /// this one among them: which is newer, and so whether the tag was rolled back, cannot
    /// be told.
    Ambiguous,
}

impl Status {
    /// Every status, in report order.
    pub const ALL: [Self; 9] = [
        Self::Verified,
        Self::Allowed,
        Self::Unsigned,
        Self::Invalid,
        Self::Drifted,
        Self::Stale,
        Self::Orphaned,
        Self::Error,
        Self::Ambiguous,
    ];

    /// The status's name, as in the JSON and `--fail-on`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Allowed => "allowed",
            Self::Unsigned => "unsigned",
            Self::Invalid => "invalid",
            Self::Drifted => "drifted",
            Self::Stale => "stale",
            Self::Orphaned => "orphaned",
            Self::Error => "error",
            Self::Ambiguous => "ambiguous",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// What to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanTarget {
    /// One repository.
    Repository(ImageRef),
    /// The repositories of a registry whose names match a glob (`reg/team/**`).
    Glob {
        /// The registry.
        registry: String,
        /// The glob, as given.
        pattern: String,
    },
    /// Every repository of a registry.
    Registry(String),
}

impl ScanTarget {
    /// `REG`, `REG/REPO` or `REG/PREFIX/**` (any `*` or `**` glob).
    pub fn parse(s: &str) -> Result<Self, ReferenceError> {
        let s = s.trim().trim_end_matches('/');
        let invalid = |reason: &'static str| ReferenceError::Invalid {
            input: s.to_string(),
            part: "scan target",
            value: s.to_string(),
            reason,
        };
        let (host, rest) = match s.split_once('/') {
            Some((h, r)) => (h, Some(r)),
            None => (s, None),
        };
        let hostlike = host.contains('.') || host.contains(':') || host == "localhost";
        if !hostlike {
            return Err(invalid(
                "must start with a registry host (REG, REG/REPO or REG/PREFIX/**)",
            ));
        }
        // Validates the host the way every reference's host is validated.
        let probe = ImageRef::new(host, "probe")?;
        match rest {
            None => Ok(Self::Registry(probe.registry().to_string())),
            Some(r) if r.contains('*') => {
                if let Some(why) = crate::reference::unmatchable_glob(s) {
                    return Err(ReferenceError::Invalid {
                        input: s.to_string(),
                        part: "scan target",
                        value: why,
                        reason: "can match no repository",
                    });
                }
                Ok(Self::Glob {
                    registry: probe.registry().to_string(),
                    pattern: s.to_string(),
                })
            }
            Some(_) => {
                let r = ImageRef::parse(s)?;
                if r.tag().is_some() || r.digest().is_some() {
                    return Err(invalid("names a repository, without tag or digest"));
                }
                Ok(Self::Repository(r))
            }
        }
    }
}

/// How to scan.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// What makes a tag trusted.
    pub trust: Trust,
    /// Requests under way at once.
    pub concurrency: usize,
    /// Names per page of the catalog and of tag lists.
    pub page_size: usize,
    /// Also find out, without writing, whether the credentials in use may push.
    pub access: bool,
    /// Bounds of one repository's tag list; a repository cut short is partial.
    pub repository_limits: ListLimits,
    /// Bounds of all the tag lists of the scan together, and of each catalog.
    pub scan_limits: ListLimits,
}

/// Whether the credentials in use may push to a repository.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RepoAccess {
    /// `reg/repo`.
    pub repository: String,
    /// `None` when the registry does not say (or could not be asked).
    pub can_push: Option<bool>,
    /// How it was found out.
    pub how: String,
}

/// One tag as found.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TagEntry {
    /// `reg/repo`.
    pub repository: String,
    /// The tag.
    pub tag: String,
    /// The digest it names now, when it could be read.
    pub digest: Option<Digest>,
    /// What it is.
    pub status: Status,
    /// Why, in one line.
    pub reason: String,
    /// The trusted signatures of this digest (for `verified`; for `stale`, the expired ones).
    pub signatures: Vec<ValidSignature>,
    /// For `drifted`: the digest a trusted signature binds the tag to.
    pub bound_to: Option<Binding>,
    /// Why signatures did not count, typed (`reason` says it in one line).
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

/// A signed digest no tag names.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OrphanEntry {
    /// `reg/repo`.
    pub repository: String,
    /// The digest.
    pub digest: Digest,
    /// The tags its trusted signatures bind: where it was, and so where to look.
    pub bound_tags: Vec<String>,
    /// Its trusted signatures.
    pub signatures: Vec<ValidSignature>,
    /// Why it is listed, in one line.
    pub reason: String,
}

/// A repository (or registry) that could not be scanned completely.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScanError {
    /// `reg/repo`, or the registry for a catalog failure.
    pub scope: String,
    /// What went wrong.
    pub error: String,
}

/// The scan's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScanReport {
    /// `REPORT_VERSION`.
    pub version: u32,
    /// The targets, as given.
    pub targets: Vec<String>,
    /// Repositories scanned.
    pub repositories: Vec<String>,
    /// Every artifact tag.
    pub tags: Vec<TagEntry>,
    /// Signed digests no tag names.
    pub orphaned: Vec<OrphanEntry>,
    /// With `access`: who can write, per repository.
    pub access: Vec<RepoAccess>,
    /// What could not be read; when not empty, the scan is partial.
    pub errors: Vec<ScanError>,
    /// True when some repository, tag or catalog could not be read: never report it clean.
    pub partial: bool,
    /// How many tags (and orphaned digests) have each status.
    pub summary: BTreeMap<Status, usize>,
    /// Registry requests sent.
    pub requests: u64,
    /// Wall time.
    pub seconds: f64,
}

impl ScanReport {
    /// Every status found, with how often, tags and orphans together.
    pub fn statuses(&self) -> impl Iterator<Item = Status> + '_ {
        self.tags
            .iter()
            .map(|t| t.status)
            .chain(self.orphaned.iter().map(|_| Status::Orphaned))
    }
}

/// Reports progress: tags done so far, tags known so far.
pub type ScanProgress<'a> = dyn Fn(usize, usize) + Send + Sync + 'a;

/// Scans `targets` with `client`.
pub async fn scan(
    client: &Client,
    targets: &[(String, ScanTarget)],
    opts: &ScanOptions,
    progress: &ScanProgress<'_>,
) -> Result<ScanReport, Error> {
    let started = Instant::now();
    let sent_before = client.requests_sent();
    let mut errors = Vec::new();
    let mut repos: Vec<ImageRef> = Vec::new();
    let mut catalogs: HashMap<String, Vec<String>> = HashMap::new();
    for (_, t) in targets {
        match t {
            ScanTarget::Repository(r) => repos.push(r.clone()),
            ScanTarget::Registry(host) | ScanTarget::Glob { registry: host, .. } => {
                if !catalogs.contains_key(host) {
                    let probe = ImageRef::new(host, "catalog")?;
                    match client
                        .catalog(&probe, opts.page_size, opts.scan_limits)
                        .await
                    {
                        Ok(listed) => {
                            if let Some(cut) = listed.cut {
                                errors.push(ScanError {
                                    scope: host.clone(),
                                    error: format!("the catalog was read only in part: {cut}"),
                                });
                            }
                            catalogs.insert(host.clone(), listed.names);
                        }
                        Err(e) => {
                            errors.push(ScanError {
                                scope: host.clone(),
                                error: e.to_string(),
                            });
                            catalogs.insert(host.clone(), Vec::new());
                        }
                    }
                }
                for name in &catalogs[host] {
                    let Ok(r) = ImageRef::new(host, name) else {
                        errors.push(ScanError {
                            scope: host.clone(),
                            error: format!("the catalog lists an invalid name {name:?}"),
                        });
                        continue;
                    };
                    let wanted = match t {
                        ScanTarget::Glob { pattern, .. } => crate::glob::matches(
                            &canonical_glob(pattern),
                            &canonical_repository(&r.name()),
                        ),
                        _ => true,
                    };
                    if wanted {
                        repos.push(r);
                    }
                }
            }
        }
    }
    repos.sort_by_key(ImageRef::name);
    repos.dedup_by_key(|r| r.name());

    let state = State {
        client,
        opts,
        progress,
        done: Mutex::new((0, 0)),
        referrers_api: Mutex::new(HashMap::new()),
        budget: ListBudget::new(opts.scan_limits),
    };
    let mut tags = Vec::new();
    let mut orphaned = Vec::new();
    let mut access = Vec::new();
    // A few repositories at a time, each with its own bounded concurrency inside.
    let parallel = (opts.concurrency / 4).max(1);
    let mut outcomes = futures_util::stream::iter(repos.iter())
        .map(|r| state.repository(r))
        .buffered(parallel);
    while let Some(outcome) = outcomes.next().await {
        tags.extend(outcome.tags);
        orphaned.extend(outcome.orphaned);
        access.extend(outcome.access);
        errors.extend(outcome.errors);
    }
    drop(outcomes);
    let partial = !errors.is_empty() || tags.iter().any(|t| t.status == Status::Error);
    let mut report = ScanReport {
        version: REPORT_VERSION,
        targets: targets.iter().map(|(s, _)| s.clone()).collect(),
        repositories: repos.iter().map(ImageRef::name).collect(),
        tags,
        orphaned,
        access,
        errors,
        partial,
        summary: BTreeMap::new(),
        requests: client.requests_sent() - sent_before,
        seconds: started.elapsed().as_secs_f64(),
    };
    let statuses: Vec<Status> = report.statuses().collect();
    for s in statuses {
        *report.summary.entry(s).or_default() += 1;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_a_registry_a_repository_or_a_glob() {
        assert_eq!(
            ScanTarget::parse("127.0.0.1:5000").unwrap(),
            ScanTarget::Registry("127.0.0.1:5000".into())
        );
        assert!(matches!(
            ScanTarget::parse("reg.example.com/team/app").unwrap(),
            ScanTarget::Repository(_)
        ));
        assert!(matches!(
            ScanTarget::parse("reg.example.com/team/**").unwrap(),
            ScanTarget::Glob { .. }
        ));
        for bad in [
            "app",
            "team/app",
            "reg.example.com/app:v1",
            "reg.example.com/App/**",
            "",
        ] {
            assert!(ScanTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ipv6_registries_are_targets() {
        assert_eq!(
            ScanTarget::parse("[::1]:5000").unwrap(),
            ScanTarget::Registry("[::1]:5000".into())
        );
        assert_eq!(
            ScanTarget::parse("[::1]").unwrap(),
            ScanTarget::Registry("[::1]".into())
        );
        match ScanTarget::parse("[::1]:5000/team/app").unwrap() {
            ScanTarget::Repository(r) => assert_eq!(r.name(), "[::1]:5000/team/app"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            ScanTarget::parse("[::1]:5000/team/**").unwrap(),
            ScanTarget::Glob { .. }
        ));
        for bad in ["[::1", "[nope]:5000/app", "[::1]x/app", "[::1]:99999"] {
            assert!(ScanTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statuses_parse_by_name() {
        assert_eq!(Status::parse("drifted"), Some(Status::Drifted));
        assert_eq!(Status::parse("ambiguous"), Some(Status::Ambiguous));
        assert_eq!(Status::parse("nonsense"), None);
    }
}
