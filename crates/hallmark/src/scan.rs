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
//! says can succeed. Judging is [`classify`], a pure function of what was read.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

use futures_util::StreamExt;

use crate::Error;
use crate::digest::Digest;
use crate::oci::{Manifest, OCI_INDEX};
use crate::policy::{Ruling, Trust};
use crate::reference::{ImageRef, ReferenceError, canonical_glob, canonical_repository};
use crate::registry::{Client, ListBudget, ListLimits};
use crate::report::ValidSignature;
use crate::store::{Store, Target};
use crate::trust::VerifyOptions;
use crate::verify::{
    Context, Evidence, Known, MAX_REFERRERS, decide, gather_known, missing_attestations,
};

/// Version of the JSON document (`docs/schema/scan.schema.json`).
pub const REPORT_VERSION: u32 = 1;

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
    pub const ALL: [Status; 9] = [
        Status::Verified,
        Status::Allowed,
        Status::Unsigned,
        Status::Invalid,
        Status::Drifted,
        Status::Stale,
        Status::Orphaned,
        Status::Error,
        Status::Ambiguous,
    ];

    /// The status's name, as in the JSON and `--fail-on`.
    pub fn name(self) -> &'static str {
        match self {
            Status::Verified => "verified",
            Status::Allowed => "allowed",
            Status::Unsigned => "unsigned",
            Status::Invalid => "invalid",
            Status::Drifted => "drifted",
            Status::Stale => "stale",
            Status::Orphaned => "orphaned",
            Status::Error => "error",
            Status::Ambiguous => "ambiguous",
        }
    }

    /// The status named `name`.
    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name() == name)
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
    pub fn parse(s: &str) -> Result<ScanTarget, ReferenceError> {
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
            None => Ok(ScanTarget::Registry(probe.registry().to_string())),
            Some(r) if r.contains('*') => {
                if let Some(why) = crate::reference::unmatchable_glob(s) {
                    return Err(ReferenceError::Invalid {
                        input: s.to_string(),
                        part: "scan target",
                        value: why,
                        reason: "can match no repository",
                    });
                }
                Ok(ScanTarget::Glob {
                    registry: probe.registry().to_string(),
                    pattern: s.to_string(),
                })
            }
            Some(_) => {
                let r = ImageRef::parse(s)?;
                if r.tag().is_some() || r.digest().is_some() {
                    return Err(invalid("names a repository, without tag or digest"));
                }
                Ok(ScanTarget::Repository(r))
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
}

/// Where a trusted signature puts a tag.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Binding {
    /// The digest.
    pub digest: Digest,
    /// When that signature was made, as written.
    pub timestamp: Option<String>,
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
    /// [`REPORT_VERSION`].
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

/// Shared by the repositories of one scan.
struct State<'a> {
    client: &'a Client,
    opts: &'a ScanOptions,
    progress: &'a ScanProgress<'a>,
    /// Tags done, tags known.
    done: Mutex<(usize, usize)>,
    /// Per registry: whether it answers the referrers API, once a probe said so for sure.
    referrers_api: Mutex<HashMap<String, bool>>,
    /// What the tag lists of the scan may still take.
    budget: ListBudget,
}

/// One repository's findings.
#[derive(Default)]
struct Outcome {
    tags: Vec<TagEntry>,
    orphaned: Vec<OrphanEntry>,
    access: Vec<RepoAccess>,
    errors: Vec<ScanError>,
}

/// What a tag shaped like a signature tag (`sha256-<hex>[.sig|.att|.sbom]`) stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SignatureKind {
    /// `.sig`: cosign's legacy signatures.
    Sig,
    /// `.att`: cosign's attestations.
    Att,
    /// `.sbom`: cosign's attached SBOMs.
    Sbom,
    /// The bare tag: the referrers fallback index.
    Referrers,
}

impl SignatureKind {
    /// Whether signatures are found through a tag of this kind.
    fn has_signatures(self) -> bool {
        matches!(self, SignatureKind::Sig | SignatureKind::Referrers)
    }
}

/// A tag of the form signatures and referrers are stored under, with the digest it is
/// about and its kind.
fn signature_tag_kind(tag: &str) -> Option<(Digest, SignatureKind)> {
    if !crate::reference::is_signature_tag(tag) {
        return None;
    }
    let (alg, rest) = tag.split_once('-')?;
    let (hex, kind) = match rest.split_once('.') {
        Some((hex, "sig")) => (hex, SignatureKind::Sig),
        Some((hex, "att")) => (hex, SignatureKind::Att),
        Some((hex, "sbom")) => (hex, SignatureKind::Sbom),
        Some(_) => return None,
        None => (rest, SignatureKind::Referrers),
    };
    let d = format!("{alg}:{hex}").parse().ok()?;
    Some((d, kind))
}

/// The layer media types of an image's file system: what makes a manifest runnable.
fn is_filesystem_layer(media_type: &str) -> bool {
    media_type.starts_with("application/vnd.oci.image.layer.")
        || media_type.starts_with("application/vnd.docker.image.rootfs.")
}

/// The layer media types `cosign attach sbom` stores SBOMs under (SPDX, CycloneDX, syft),
/// with the XML forms of each.
const SBOM_MEDIA_TYPES: [&str; 8] = [
    "text/spdx",
    "text/spdx+json",
    "text/spdx+xml",
    "application/vnd.cyclonedx",
    "application/vnd.cyclonedx+json",
    "application/vnd.cyclonedx+xml",
    "application/vnd.syft+json",
    "application/vnd.syft+xml",
];

/// True when `m` is, by its own bytes, what a tag of `kind` holds: a `.sig` manifest of
/// simple-signing layers, an `.att` manifest of DSSE envelopes, an `.sbom` manifest of SBOM
/// documents, a fallback index listing artifacts only (each entry with an `artifactType`
/// and no platform, as the OCI referrers index has them). A fallback index must further
/// list only referrers of its digest ([`lists_only_referrers_of`]). Anything else under
/// such a name is an artifact hidden behind a signature-shaped tag, and is scanned as one.
fn holds_what_its_tag_says(kind: SignatureKind, m: &Manifest) -> bool {
    const DSSE: &str = "application/vnd.dsse.envelope.v1+json";
    if kind == SignatureKind::Referrers {
        return referrer_entries(m).is_some();
    }
    if m.is_index() {
        return false;
    }
    let Ok(info) = m.artifact() else {
        return false;
    };
    let mut types = info.layers.iter().map(|l| l.media_type.as_str());
    match kind {
        SignatureKind::Sig => types.all(|t| t == crate::signature::SIMPLESIGNING_MEDIA_TYPE),
        SignatureKind::Att => types.all(|t| t == DSSE),
        // A file layer under an SBOM's name is what a puller would fetch: only documents
        // of a known SBOM format may hide there.
        SignatureKind::Sbom => types.all(|t| SBOM_MEDIA_TYPES.contains(&t)),
        SignatureKind::Referrers => false,
    }
}

/// The digests a referrers index lists, when it is one: an OCI index whose every entry
/// carries an `artifactType` and no `platform`, at most [`MAX_REFERRERS`] of them.
fn referrer_entries(m: &Manifest) -> Option<Vec<Digest>> {
    #[derive(serde::Deserialize)]
    struct Entry {
        digest: Digest,
        platform: Option<serde_json::Value>,
        #[serde(rename = "artifactType")]
        artifact_type: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Doc {
        #[serde(default)]
        manifests: Vec<Entry>,
    }
    if m.media_type != OCI_INDEX {
        return None;
    }
    let doc = serde_json::from_slice::<Doc>(&m.bytes).ok()?;
    let artifacts = doc
        .manifests
        .iter()
        .all(|e| e.platform.is_none() && e.artifact_type.as_deref().is_some_and(|t| !t.is_empty()));
    (artifacts && doc.manifests.len() <= MAX_REFERRERS)
        .then(|| doc.manifests.into_iter().map(|e| e.digest).collect())
}

/// True when `m` is a manifest that may stand in a referrers index of `subject`: it names
/// `subject` as its subject, and is no index and no image (no file-system layer).
fn is_referrer_of(m: &Manifest, subject: &Digest) -> bool {
    if m.is_index() {
        return false;
    }
    m.artifact().is_ok_and(|info| {
        info.subject.as_ref().map(|s| &s.digest) == Some(subject)
            && !info
                .layers
                .iter()
                .any(|l| is_filesystem_layer(&l.media_type))
    })
}

/// True when every manifest the fallback index `m` of `subject` lists is a referrer of
/// `subject`: an entry's `artifactType` is only a claim, and an image listed with one is
/// still what a client resolving the tag would run. An entry whose manifest is not in the
/// repository lists nothing that can be pulled.
async fn lists_only_referrers_of(
    store: &Store,
    subject: &Digest,
    m: &Manifest,
) -> Result<bool, Error> {
    let Some(entries) = referrer_entries(m) else {
        return Ok(false);
    };
    for d in entries {
        if let Some(listed) = store.get_manifest(&d.to_string()).await?
            && !is_referrer_of(&listed, subject)
        {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What a tag names, as far as the scan cares.
enum Resolved {
    /// A signature, attestation, SBOM or referrers store of the digest its name carries.
    Store(Digest, SignatureKind),
    /// Anything else: an artifact, to be scanned, with the digest of its content.
    Artifact(Digest),
}

/// Reads what `tag` names and tells a store from an artifact; `None` when the tag is gone.
async fn resolve(store: &Store, tag: &str) -> Result<Option<Resolved>, Error> {
    let Some(m) = store.get_manifest(tag).await? else {
        return Ok(None);
    };
    if let Some((d, kind)) = signature_tag_kind(tag)
        && holds_what_its_tag_says(kind, &m)
        && (kind != SignatureKind::Referrers || lists_only_referrers_of(store, &d, &m).await?)
    {
        return Ok(Some(Resolved::Store(d, kind)));
    }
    Ok(Some(Resolved::Artifact(m.digest)))
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

    async fn repository(&self, repo: &ImageRef) -> Outcome {
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
                out.orphaned.push(judged.orphan(&name, digest));
            } else if fallbacks.contains(digest) {
                let mut orphan = judged.orphan(&name, digest);
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
    fn error(repository: &str, tag: &str, why: &str) -> TagEntry {
        TagEntry {
            repository: repository.to_string(),
            tag: tag.to_string(),
            digest: None,
            status: Status::Error,
            reason: why.to_string(),
            signatures: Vec::new(),
            bound_to: None,
        }
    }
}

/// The signatures of a repository's digests, judged once without a tag: which tags each
/// trusted signature binds, and when.
pub struct Judged<'a> {
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
    pub fn new(
        evidence: &HashMap<Digest, Evidence>,
        identity: &str,
        opts: &'a VerifyOptions,
        now: SystemTime,
    ) -> Judged<'a> {
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

    fn context(&self, tag: Option<&str>, digest: &Digest, repository: &str) -> Context {
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

    fn orphan(&self, repository: &str, digest: &Digest) -> OrphanEntry {
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
pub fn classify(
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
    entry
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
    fn signature_tags_name_their_digest() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let d: Digest = format!("sha256:{hex}").parse().unwrap();
        assert_eq!(
            signature_tag_kind(&format!("sha256-{hex}.sig")),
            Some((d.clone(), SignatureKind::Sig))
        );
        assert_eq!(
            signature_tag_kind(&format!("sha256-{hex}")),
            Some((d.clone(), SignatureKind::Referrers))
        );
        assert_eq!(
            signature_tag_kind(&format!("sha256-{hex}.att")),
            Some((d.clone(), SignatureKind::Att))
        );
        assert_eq!(
            signature_tag_kind(&format!("sha256-{hex}.sbom")),
            Some((d, SignatureKind::Sbom))
        );
        assert!(SignatureKind::Sig.has_signatures() && SignatureKind::Referrers.has_signatures());
        assert!(!SignatureKind::Att.has_signatures() && !SignatureKind::Sbom.has_signatures());
        assert_eq!(signature_tag_kind("v1"), None);
        assert_eq!(signature_tag_kind("sha256-abc.sig"), None);
        assert_eq!(Status::parse("drifted"), Some(Status::Drifted));
        assert_eq!(Status::parse("ambiguous"), Some(Status::Ambiguous));
        assert_eq!(Status::parse("nonsense"), None);
    }

    fn image_with_layers(layers: &[&str]) -> Manifest {
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let layers: Vec<serde_json::Value> = layers
            .iter()
            .map(|t| serde_json::json!({"mediaType": t, "digest": d, "size": 0}))
            .collect();
        Manifest::from_json(
            &serde_json::json!({
                "schemaVersion": 2,
                "mediaType": crate::oci::OCI_MANIFEST,
                "config": {"mediaType": crate::oci::OCI_CONFIG, "digest": d, "size": 0},
                "layers": layers,
            }),
            crate::oci::OCI_MANIFEST,
        )
    }

    #[test]
    fn a_signature_tag_is_judged_by_what_it_holds() {
        use SignatureKind::*;
        let sig = image_with_layers(&[crate::signature::SIMPLESIGNING_MEDIA_TYPE]);
        let att = image_with_layers(&["application/vnd.dsse.envelope.v1+json"]);
        let sbom = image_with_layers(&["text/spdx+json"]);
        let image = image_with_layers(&[crate::oci::OCI_LAYER_TAR_GZIP]);
        let docker = image_with_layers(&["application/vnd.docker.image.rootfs.diff.tar.gzip"]);
        assert!(holds_what_its_tag_says(Sig, &sig));
        assert!(holds_what_its_tag_says(Att, &att));
        assert!(holds_what_its_tag_says(Sbom, &sbom));
        for kind in [Sig, Att, Sbom, Referrers] {
            assert!(!holds_what_its_tag_says(kind, &image), "{kind:?}");
            assert!(!holds_what_its_tag_says(kind, &docker), "{kind:?}");
        }
        // An image's layers mixed into a signature manifest make it an image.
        let mixed = image_with_layers(&[
            crate::signature::SIMPLESIGNING_MEDIA_TYPE,
            crate::oci::OCI_LAYER_TAR,
        ]);
        assert!(!holds_what_its_tag_says(Sig, &mixed));
        assert!(!holds_what_its_tag_says(Att, &sig));
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let referrers = Manifest::from_json(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": crate::oci::OCI_MANIFEST, "digest": d, "size": 1,
                 "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json"}]}),
            OCI_INDEX,
        );
        assert!(holds_what_its_tag_says(Referrers, &referrers));
        assert!(!holds_what_its_tag_says(Sig, &referrers));
        let platforms = Manifest::from_json(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": crate::oci::OCI_MANIFEST, "digest": d, "size": 1,
                 "platform": {"os": "linux", "architecture": "amd64"}}]}),
            OCI_INDEX,
        );
        assert!(!holds_what_its_tag_says(Referrers, &platforms));
        // An index entry without an artifactType is not a referrer: containerd and skopeo
        // pick an entry without a platform as the image to run.
        let bare = Manifest::from_json(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": crate::oci::OCI_MANIFEST, "digest": d, "size": 1}]}),
            OCI_INDEX,
        );
        assert!(!holds_what_its_tag_says(Referrers, &bare));
        assert_eq!(
            referrer_entries(&referrers),
            Some(vec![d.parse::<Digest>().unwrap()])
        );
        // Under .sbom, only SBOM documents: a plain file is what a puller would fetch.
        for t in SBOM_MEDIA_TYPES {
            assert!(
                holds_what_its_tag_says(Sbom, &image_with_layers(&[t])),
                "{t}"
            );
        }
        let file = image_with_layers(&["application/octet-stream"]);
        assert!(!holds_what_its_tag_says(Sbom, &file));
    }

    #[test]
    fn a_referrer_names_its_subject_and_holds_no_file_system() {
        let d: Digest = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
            .parse()
            .unwrap();
        let other: Digest = format!("sha256:{}", "a".repeat(64)).parse().unwrap();
        let manifest = |subject: &Digest, layer: &str| {
            Manifest::from_json(
                &serde_json::json!({
                    "schemaVersion": 2,
                    "mediaType": crate::oci::OCI_MANIFEST,
                    "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
                    "config": {"mediaType": crate::oci::OCI_CONFIG, "digest": d, "size": 0},
                    "layers": [{"mediaType": layer, "digest": d, "size": 0}],
                    "subject": {"mediaType": crate::oci::OCI_MANIFEST, "digest": subject, "size": 1},
                }),
                crate::oci::OCI_MANIFEST,
            )
        };
        let bundle = "application/vnd.dev.sigstore.bundle.v0.3+json";
        assert!(is_referrer_of(&manifest(&d, bundle), &d));
        assert!(!is_referrer_of(&manifest(&other, bundle), &d));
        assert!(!is_referrer_of(
            &manifest(&d, crate::oci::OCI_LAYER_TAR_GZIP),
            &d
        ));
        assert!(!is_referrer_of(&image_with_layers(&[bundle]), &d));
    }

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
