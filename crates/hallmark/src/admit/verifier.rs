//! The real [`Check`]s: each image verified in its registry as `verify` does, with keys or
//! under a policy. [`Verifier`] keeps nothing between calls; [`CachingVerifier`] keeps
//! verifications (`cache`) and runs one verification for concurrent requests (`flight`).
//!
//! The caching verifier answers an image only with a verification of that image's
//! repository and of the digest the image names: written in it, or, for a tag, resolved
//! from the registry for this request (unless `tag_ttl` lets a recent verification made for
//! that very tag answer). A kept verification answers only when its digest is that digest;
//! otherwise that digest is verified afresh and its verification answers. No tag is ever
//! resolved to patch.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime};

use super::cache::{Cache, CacheOptions, Found, Key};
use super::flight::{Flights, Joined, Missed};
use super::{CacheStats, Check, Failure};
use crate::ErrorClass;
use crate::digest::Digest;
use crate::policy::{Ruling, Trust};
use crate::reference::{ImageRef, Source};
use crate::registry::Client;
use crate::store::Target;
use crate::verify::Verification;

/// Verifies images with `client` and `trust`, each time afresh.
pub struct Verifier {
    client: Client,
    trust: Trust,
}

impl Verifier {
    /// A verifier that reaches registries through `client` and trusts what `trust` says.
    pub fn new(client: Client, trust: Trust) -> Self {
        Self { client, trust }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Check for Verifier {
    async fn check(
        &self,
        image: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Arc<Verification>, Failure> {
        if let Ok(Source::Registry(r)) = Source::parse(image)
            && let Ok(target) = Target::open(&Source::Registry(r), &self.client, false)
            && let Some(denied) = denied_offline(&self.trust, &target.store.identity())
        {
            return Err(denied);
        }
        let verify = crate::verify::verify_reference(&self.client, image, &self.trust);
        match tokio::time::timeout_at(deadline, verify).await {
            Ok(r) => r.map(Arc::new).map_err(|e| Failure {
                message: e.to_string(),
                class: e.class(),
            }),
            Err(_) => Err(late()),
        }
    }
}

/// The denial a policy decides for `repository` without its registry: a repository no
/// rule admits is denied before any request is sent. Pods can reach the webhook's port, so
/// an image name in a review must not be able to make it call a host nobody trusts.
fn denied_offline(trust: &Trust, repository: &str) -> Option<Failure> {
    match trust {
        Trust::Policy(p) => match p.ruling(repository) {
            Ruling::Deny { why, .. } => Some(Failure {
                message: format!("not verified: {why}"),
                class: ErrorClass::Denied,
            }),
            Ruling::Verify(_) | Ruling::AllowUnsigned { .. } => None,
        },
        Trust::Keys(_) => None,
    }
}

/// A check that ran out of time.
fn late() -> Failure {
    Failure {
        message: "not verified before the deadline (registry slow or unreachable); retry".into(),
        class: ErrorClass::Unavailable,
    }
}

/// An image as written, read without the network.
#[derive(Debug, Clone)]
pub(crate) struct Wanted {
    /// As written.
    pub written: String,
    /// `reg/repo`, canonical.
    pub repository: String,
    /// The tag it names (`latest` when it names neither tag nor digest).
    pub tag: Option<String>,
    /// The digest it names.
    pub digest: Option<Digest>,
    /// Whether its repository's rule requires the tag to be bound by a signature.
    pub binding: bool,
}

/// Where verifications come from: the registry, or a fake in unit tests.
pub(crate) trait Upstream: Send + Sync + 'static {
    /// Reads `image` without the network.
    fn wanted(&self, image: &str) -> Result<Wanted, Failure>;
    /// The digest `tag` of `wanted`'s repository names now.
    fn resolve(
        &self,
        wanted: &Wanted,
        tag: &str,
    ) -> impl Future<Output = Result<Digest, Failure>> + Send;
    /// Verifies `digest` of `wanted`'s repository, for `wanted`'s tag if it names one.
    fn verify(
        &self,
        wanted: &Wanted,
        digest: &Digest,
    ) -> impl Future<Output = Result<Verification, Failure>> + Send;
}

/// The registry through a client, judged under `trust`.
pub(crate) struct Registry {
    client: Client,
    trust: Trust,
}

impl Registry {
    fn target(&self, wanted: &Wanted) -> Result<Target, Failure> {
        let r = ImageRef::parse(&wanted.written).map_err(|e| Failure {
            message: e.to_string(),
            class: e.class(),
        })?;
        Target::open(&Source::Registry(r), &self.client, false).map_err(|e| Failure {
            message: e.to_string(),
            class: e.class(),
        })
    }
}

impl Upstream for Registry {
    fn wanted(&self, image: &str) -> Result<Wanted, Failure> {
        let usage = |message: String| Failure {
            message,
            class: ErrorClass::Usage,
        };
        let source = Source::parse(image).map_err(|e| usage(e.to_string()))?;
        if !matches!(source, Source::Registry(_)) {
            return Err(usage("not a registry reference".into()));
        }
        let target = Target::open(&source, &self.client, false).map_err(|e| Failure {
            message: e.to_string(),
            class: e.class(),
        })?;
        let repository = target.store.identity();
        if let Some(denied) = denied_offline(&self.trust, &repository) {
            return Err(denied);
        }
        let binding = match &self.trust {
            Trust::Keys(opts) => opts.require_tag_binding,
            Trust::Policy(p) => {
                matches!(p.ruling(&repository), Ruling::Verify(r) if r.verify.require_tag_binding)
            }
        };
        Ok(Wanted {
            written: image.to_string(),
            repository,
            tag: target.tag,
            digest: target.digest,
            binding,
        })
    }

    async fn resolve(&self, wanted: &Wanted, tag: &str) -> Result<Digest, Failure> {
        let mut target = self.target(wanted)?;
        target.digest = None;
        target.tag = Some(tag.to_string());
        crate::verify::resolve(&target)
            .await
            .map(|m| m.digest)
            .map_err(|e| Failure {
                message: format!("could not be resolved: {e}"),
                class: e.class(),
            })
    }

    async fn verify(&self, wanted: &Wanted, digest: &Digest) -> Result<Verification, Failure> {
        let mut target = self.target(wanted)?;
        // The digest this request resolved or wrote: the verification is about it, and
        // about nothing the tag may name by the time it is judged.
        target.digest = Some(digest.clone());
        target.tag.clone_from(&wanted.tag);
        crate::verify::verify_trusted(&target, &self.trust)
            .await
            .map_err(|e| Failure {
                message: format!("could not be verified: {e}"),
                class: e.class(),
            })
    }
}

/// What a flight of verification is for.
type FlightKey = Key;
/// What a flight of resolution is for: (repository, tag).
type TagKey = (String, String);
type Verified = Result<Arc<Verification>, Failure>;

/// The cache and the flights around an [`Upstream`].
pub(crate) struct Engine<U> {
    upstream: U,
    options: CacheOptions,
    cache: Mutex<Cache>,
    verifying: Flights<FlightKey, Verified>,
    resolving: Flights<TagKey, Result<Digest, Failure>>,
    cold: Arc<tokio::sync::Semaphore>,
    hits: AtomicU64,
    misses: AtomicU64,
    coalesced: AtomicU64,
    expired: AtomicU64,
}

/// How one lookup went, for the counts.
enum Lookup {
    Hit,
    Miss,
    Expired,
    Coalesced,
}

impl<U: Upstream> Engine<U> {
    pub(crate) fn new(upstream: U, options: CacheOptions) -> Self {
        Self {
            upstream,
            cache: Mutex::new(Cache::new(options.clone())),
            cold: Arc::new(tokio::sync::Semaphore::new(options.max_cold.max(1))),
            options,
            verifying: Flights::new(),
            resolving: Flights::new(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            coalesced: AtomicU64::new(0),
            expired: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        let cache = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            coalesced: self.coalesced.load(Ordering::Relaxed),
            expired: self.expired.load(Ordering::Relaxed),
            entries: cache.len() as u64,
            in_flight: self.verifying.len() as u64,
        }
    }

    fn count(&self, lookup: Lookup) {
        let counter = match lookup {
            Lookup::Hit => &self.hits,
            Lookup::Miss => &self.misses,
            Lookup::Expired => &self.expired,
            Lookup::Coalesced => &self.coalesced,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<U: Upstream> Engine<U> {
    /// The verification that answers `image`, by `deadline`.
    pub(crate) async fn check(
        self: &Arc<Self>,
        image: &str,
        deadline: tokio::time::Instant,
    ) -> Verified {
        let wanted = self.upstream.wanted(image)?;
        let digest = match (&wanted.digest, &wanted.tag) {
            (Some(d), _) => d.clone(),
            (None, Some(tag)) => {
                if !self.options.tag_ttl.is_zero()
                    && let Some(v) = self.lock().get_tag(&wanted.repository, tag, Instant::now())
                {
                    self.count(Lookup::Hit);
                    return about(v, &wanted.repository, None);
                }
                self.resolve(&wanted, tag, deadline).await?
            }
            (None, None) => {
                return Err(Failure {
                    message: "names neither a tag nor a digest".into(),
                    class: ErrorClass::Usage,
                });
            }
        };
        // Under tag binding the tag is part of the decision: a pinned image whose tag names
        // another digest now is judged without it (and denied), as `verify` would.
        let tag = match (&wanted.tag, &wanted.digest) {
            _ if !wanted.binding => None,
            (Some(t), None) => Some(t.clone()),
            (Some(t), Some(d)) => {
                (&self.resolve(&wanted, t, deadline).await? == d).then(|| t.clone())
            }
            (None, _) => None,
        };
        let key = Key {
            repository: wanted.repository.clone(),
            digest,
            tag,
        };
        let verification = self.verification(&wanted, &key, deadline).await?;
        about(verification, &key.repository, Some(&key.digest))
    }

    /// The verification of `key`: kept, or made now (or being made) for `wanted`.
    async fn verification(
        self: &Arc<Self>,
        wanted: &Wanted,
        key: &Key,
        deadline: tokio::time::Instant,
    ) -> Verified {
        let found = self.lock().get(key, Instant::now());
        let expired = match found {
            Found::Live(v) => {
                self.count(Lookup::Hit);
                return Ok(v);
            }
            Found::Expired => true,
            Found::Nothing => false,
        };
        let joined = self.start_verification(wanted, key);
        self.count(if joined.kept() {
            Lookup::Hit
        } else if joined.coalesced() {
            Lookup::Coalesced
        } else if expired {
            Lookup::Expired
        } else {
            Lookup::Miss
        });
        match joined.wait(deadline).await {
            Ok(r) => r,
            Err(Missed::Deadline) => Err(Failure {
                message: "still being verified; retry".into(),
                class: ErrorClass::Unavailable,
            }),
            Err(Missed::Lost) => Err(Failure {
                message: "the verification stopped without a result; retry".into(),
                class: ErrorClass::Unavailable,
            }),
        }
    }

    /// The digest `tag` names now: one resolution for all concurrent requests of it.
    async fn resolve(
        self: &Arc<Self>,
        wanted: &Wanted,
        tag: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Digest, Failure> {
        let engine = Arc::clone(self);
        let w = wanted.clone();
        let t = tag.to_string();
        let joined = self.resolving.join(
            (wanted.repository.clone(), tag.to_string()),
            || None,
            move || async move {
                let resolve = engine.upstream.resolve(&w, &t);
                tokio::time::timeout(engine.options.verify_timeout, resolve)
                    .await
                    .unwrap_or_else(|_| Err(late()))
            },
            |_| {},
        );
        match joined.wait(deadline).await {
            Ok(r) => r,
            Err(Missed::Deadline) => Err(late()),
            Err(Missed::Lost) => Err(Failure {
                message: "the resolution stopped without a result; retry".into(),
                class: ErrorClass::Unavailable,
            }),
        }
    }

    /// Joins or starts the verification of `key`. Its result is kept before the flight
    /// ends, unless it is an error: an outage decides nothing and is never kept.
    fn start_verification(self: &Arc<Self>, wanted: &Wanted, key: &Key) -> Joined<Verified> {
        let engine = Arc::clone(self);
        let keeper = Arc::clone(self);
        let w = wanted.clone();
        let digest = key.digest.clone();
        let binding = wanted.binding;
        let lookup = key.clone();
        self.verifying.join(
            key.clone(),
            || match self.lock().get(&lookup, Instant::now()) {
                Found::Live(v) => Some(Ok(v)),
                Found::Expired | Found::Nothing => None,
            },
            move || async move {
                let run = async {
                    let _permit = engine.cold.acquire().await;
                    engine.upstream.verify(&w, &digest).await
                };
                match tokio::time::timeout(engine.options.verify_timeout, run).await {
                    Ok(r) => r.map(Arc::new),
                    Err(_) => Err(late()),
                }
            },
            move |result| {
                if let Ok(v) = result {
                    keeper
                        .lock()
                        .insert(v, binding, Instant::now(), SystemTime::now());
                }
            },
        )
    }
}

/// `verification`, when it is about `repository` (and `digest`, if given). Entries and
/// flights are keyed by what they verified, so anything else is never expected; were results
/// ever crossed (another request's, another image's), it is refused, not used.
fn about(verification: Arc<Verification>, repository: &str, digest: Option<&Digest>) -> Verified {
    let report = verification.report();
    let digest = digest.unwrap_or(report.digest());
    if report.digest() != digest || report.reference() != format!("{repository}@{digest}") {
        return Err(Failure {
            message: format!(
                "internal error: the verification is about {}, not {repository}@{digest}; retry",
                report.reference()
            ),
            class: ErrorClass::Unavailable,
        });
    }
    Ok(verification)
}

/// A [`Check`] that keeps verifications and shares them between concurrent requests.
/// Share it as `Arc<CachingVerifier>` between tasks; it is meant to live as long as the
/// trust it was made with.
pub struct CachingVerifier {
    engine: Arc<Engine<Registry>>,
}

impl CachingVerifier {
    /// A caching verifier that reaches registries through `client`, trusts what `trust`
    /// says, and keeps verifications as `options` says.
    pub fn new(client: Client, trust: Trust, options: CacheOptions) -> Self {
        Self {
            engine: Arc::new(Engine::new(Registry { client, trust }, options)),
        }
    }

    /// The counts so far, for metrics.
    pub fn stats(&self) -> CacheStats {
        self.engine.stats()
    }
}

impl std::fmt::Debug for CachingVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachingVerifier")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Check for CachingVerifier {
    async fn check(
        &self,
        image: &str,
        deadline: tokio::time::Instant,
    ) -> Result<Arc<Verification>, Failure> {
        self.engine.check(image, deadline).await
    }

    fn stats(&self) -> Option<CacheStats> {
        Some(self.engine.stats())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    use super::*;
    use crate::report::Report;

    const APP: &str = "reg.test/team/app";
    const SIDE: &str = "reg.test/team/side";

    fn digest(seed: &str) -> Digest {
        Digest::sha256(seed.as_bytes())
    }

    /// A registry in memory: tags, the digests signed in each repository, and a switch
    /// that makes it unreachable. It judges as `verify` does: the report is about the
    /// digest asked for, made for the tag only while the tag names it.
    #[derive(Default)]
    struct Fake {
        tags: Mutex<HashMap<(String, String), Digest>>,
        signed: Mutex<HashSet<(String, Digest)>>,
        down: std::sync::atomic::AtomicBool,
        binding: bool,
        delay: Duration,
        /// Answers about this repository instead of the one asked for.
        lie_about: Option<&'static str>,
        resolves: AtomicUsize,
        verifies: AtomicUsize,
        running: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Fake {
        fn tag(&self, repo: &str, tag: &str, d: &Digest) {
            self.tags
                .lock()
                .unwrap()
                .insert((repo.into(), tag.into()), d.clone());
        }

        fn sign(&self, repo: &str, d: &Digest) {
            self.signed.lock().unwrap().insert((repo.into(), d.clone()));
        }

        fn unavailable(&self) -> Failure {
            Failure {
                message: "registry reg.test unreachable".into(),
                class: ErrorClass::Unavailable,
            }
        }
    }

    impl Upstream for Arc<Fake> {
        fn wanted(&self, image: &str) -> Result<Wanted, Failure> {
            let r = ImageRef::parse(image).map_err(|e| Failure {
                message: e.to_string(),
                class: ErrorClass::Usage,
            })?;
            Ok(Wanted {
                written: image.into(),
                repository: r.name(),
                tag: match (r.tag(), r.digest()) {
                    (None, None) => Some("latest".into()),
                    (t, _) => t.map(str::to_string),
                },
                digest: r.digest().cloned(),
                binding: self.binding,
            })
        }

        async fn resolve(&self, wanted: &Wanted, tag: &str) -> Result<Digest, Failure> {
            self.resolves.fetch_add(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(self.unavailable());
            }
            self.tags
                .lock()
                .unwrap()
                .get(&(wanted.repository.clone(), tag.to_string()))
                .cloned()
                .ok_or_else(|| Failure {
                    message: format!("tag {tag} not found"),
                    class: ErrorClass::Denied,
                })
        }

        async fn verify(&self, wanted: &Wanted, d: &Digest) -> Result<Verification, Failure> {
            self.verifies.fetch_add(1, Ordering::SeqCst);
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if self.down.load(Ordering::SeqCst) {
                return Err(self.unavailable());
            }
            let repo = &self
                .lie_about
                .map_or_else(|| wanted.repository.clone(), str::to_string);
            let tag = wanted
                .tag
                .clone()
                .filter(|t| self.tags.lock().unwrap().get(&(repo.clone(), t.clone())) == Some(d));
            let bound = !self.binding || tag.is_some();
            let signed = self
                .signed
                .lock()
                .unwrap()
                .contains(&(repo.clone(), d.clone()));
            let report = Report::new(format!("{repo}@{d}"), d.clone(), tag)
                .judged_for_tests(bound && signed);
            Ok(Verification::from_report(report))
        }
    }

    fn engine(fake: &Arc<Fake>) -> Arc<Engine<Arc<Fake>>> {
        Arc::new(Engine::new(Arc::clone(fake), CacheOptions::default()))
    }

    fn soon() -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_secs(5)
    }

    /// The digest a check answered with, and whether it said yes.
    fn answer(r: &Verified) -> (Digest, bool) {
        let v = r.as_ref().expect("a decision");
        (v.report().digest().clone(), v.report().verified())
    }

    /// Kyverno GHSA-2r43-6962-xcw5: after a tag moves, the next request gets the digest
    /// verified for the tag now: the new one if signed, a denial of the new one if not;
    /// never the digest verified before the move.
    #[tokio::test]
    async fn a_moved_tag_answers_with_the_digest_verified_for_it() {
        let fake = Arc::new(Fake::default());
        let (d1, d2, d3) = (digest("1"), digest("2"), digest("3"));
        fake.sign(APP, &d1);
        fake.sign(APP, &d2);
        fake.tag(APP, "1", &d1);
        let e = engine(&fake);
        let image = format!("{APP}:1");
        assert_eq!(answer(&e.check(&image, soon()).await), (d1.clone(), true));
        assert_eq!(answer(&e.check(&image, soon()).await), (d1.clone(), true));
        fake.tag(APP, "1", &d2);
        assert_eq!(answer(&e.check(&image, soon()).await), (d2.clone(), true));
        fake.tag(APP, "1", &d3);
        assert_eq!(answer(&e.check(&image, soon()).await), (d3.clone(), false));
        // Back to a digest verified before: a hit, with that digest.
        fake.tag(APP, "1", &d1);
        assert_eq!(answer(&e.check(&image, soon()).await), (d1, true));
        // Every request resolved the tag; each digest was verified once.
        assert_eq!(fake.resolves.load(Ordering::SeqCst), 5);
        assert_eq!(fake.verifies.load(Ordering::SeqCst), 3);
        let s = e.stats();
        assert_eq!((s.hits, s.misses, s.entries), (2, 3, 3));
    }

    /// A digest-pinned image is answered from the entry its tag made, with no request to
    /// the registry; an unsigned one is denied from the cache too, for `deny_ttl`.
    #[tokio::test]
    async fn pinned_images_and_denials_are_answered_from_the_cache() {
        let fake = Arc::new(Fake::default());
        let (d1, d2) = (digest("1"), digest("2"));
        fake.sign(APP, &d1);
        fake.tag(APP, "1", &d1);
        let e = engine(&fake);
        assert!(answer(&e.check(&format!("{APP}:1"), soon()).await).1);
        assert!(answer(&e.check(&format!("{APP}:1@{d1}"), soon()).await).1);
        assert!(answer(&e.check(&format!("{APP}@{d1}"), soon()).await).1);
        assert!(!answer(&e.check(&format!("{APP}@{d2}"), soon()).await).1);
        assert!(!answer(&e.check(&format!("{APP}@{d2}"), soon()).await).1);
        assert_eq!(fake.resolves.load(Ordering::SeqCst), 1);
        assert_eq!(fake.verifies.load(Ordering::SeqCst), 2);
    }

    /// An outage decides nothing: it is answered as unavailable and never kept, so the
    /// next request verifies again.
    #[tokio::test]
    async fn failures_are_never_kept() {
        let fake = Arc::new(Fake::default());
        let d1 = digest("1");
        fake.sign(APP, &d1);
        let e = engine(&fake);
        let image = format!("{APP}@{d1}");
        fake.down.store(true, Ordering::SeqCst);
        let f = e.check(&image, soon()).await.unwrap_err();
        assert_eq!(f.class, ErrorClass::Unavailable);
        assert_eq!(e.stats().entries, 0);
        fake.down.store(false, Ordering::SeqCst);
        assert!(answer(&e.check(&image, soon()).await).1);
        assert_eq!(fake.verifies.load(Ordering::SeqCst), 2);
        assert_eq!(e.stats().entries, 1);
    }

    /// 40 requests for the same tag at once: one resolution, one verification, 39 that
    /// joined it, all with the same digest.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_checks_of_a_tag_run_one_verification() {
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(200),
            ..Fake::default()
        });
        let d1 = digest("1");
        fake.sign(APP, &d1);
        fake.tag(APP, "1", &d1);
        let e = engine(&fake);
        let checks: Vec<_> = (0..40)
            .map(|_| {
                let e = Arc::clone(&e);
                tokio::spawn(async move { e.check(&format!("{APP}:1"), soon()).await })
            })
            .collect();
        for c in checks {
            assert_eq!(answer(&c.await.unwrap()), (d1.clone(), true));
        }
        assert_eq!(fake.verifies.load(Ordering::SeqCst), 1);
        let s = e.stats();
        assert_eq!(s.misses + s.coalesced + s.hits, 40);
        assert_eq!(s.misses, 1);
        assert!(s.coalesced >= 1, "{s:?}");
        assert_eq!(s.in_flight, 0);
    }

    /// A request whose deadline passes while the verification runs is answered
    /// unavailable, never allowed; the verification goes on, and the retry finds it kept.
    #[tokio::test]
    async fn a_request_out_of_time_is_unavailable_and_its_retry_finds_the_cache_warm() {
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(300),
            ..Fake::default()
        });
        let d1 = digest("1");
        fake.sign(APP, &d1);
        let e = engine(&fake);
        let image = format!("{APP}@{d1}");
        let hurried = tokio::time::Instant::now() + Duration::from_millis(50);
        let f = e.check(&image, hurried).await.unwrap_err();
        assert_eq!(f.class, ErrorClass::Unavailable);
        assert!(
            f.message.contains("still being verified; retry"),
            "{}",
            f.message
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(answer(&e.check(&image, soon()).await).1);
        assert_eq!(fake.verifies.load(Ordering::SeqCst), 1);
        assert_eq!(e.stats().hits, 1);
    }

    /// Connaisseur #583: the same tag and even the same digest in two repositories, checked
    /// at once, each answered by a verification of its own repository.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_repositories_at_once_never_share_an_answer() {
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(50),
            ..Fake::default()
        });
        let d = digest("same");
        fake.sign(APP, &d);
        fake.tag(APP, "1", &d);
        fake.tag(SIDE, "1", &d);
        let e = engine(&fake);
        let checks: Vec<_> = (0..20)
            .map(|i| {
                let e = Arc::clone(&e);
                let repo = if i % 2 == 0 { APP } else { SIDE };
                tokio::spawn(async move { (repo, e.check(&format!("{repo}:1"), soon()).await) })
            })
            .collect();
        for c in checks {
            let (repo, r) = c.await.unwrap();
            let v = r.unwrap();
            assert_eq!(v.report().reference(), format!("{repo}@{d}"));
            assert_eq!(v.report().verified(), repo == APP);
        }
        assert_eq!(fake.verifies.load(Ordering::SeqCst), 2);
    }

    /// Under tag binding the tag is part of the decision: `app:1@D` is answered from the
    /// entry `app:1` made only while `1` names D; once it moved, D is judged again
    /// without the tag (and denied).
    #[tokio::test]
    async fn under_tag_binding_a_pinned_image_is_judged_with_its_tag_as_it_is_now() {
        let fake = Arc::new(Fake {
            binding: true,
            ..Fake::default()
        });
        let (d1, d2) = (digest("1"), digest("2"));
        fake.sign(APP, &d1);
        fake.sign(APP, &d2);
        fake.tag(APP, "1", &d1);
        let e = engine(&fake);
        assert!(answer(&e.check(&format!("{APP}:1"), soon()).await).1);
        assert!(answer(&e.check(&format!("{APP}:1@{d1}"), soon()).await).1);
        assert_eq!(fake.verifies.load(Ordering::SeqCst), 1);
        // Another tag of the same digest is not answered by the entry for 1.
        fake.tag(APP, "2", &d1);
        assert!(answer(&e.check(&format!("{APP}:2"), soon()).await).1);
        assert_eq!(fake.verifies.load(Ordering::SeqCst), 2);
        fake.tag(APP, "1", &d2);
        assert_eq!(
            answer(&e.check(&format!("{APP}:1@{d1}"), soon()).await),
            (d1, false)
        );
        assert_eq!(fake.verifies.load(Ordering::SeqCst), 3);
    }

    /// The deadline is honoured by the plain verifier too: a registry that accepts the
    /// connection and never answers is a failure (unavailable) at the deadline, not after
    /// the client's own minute.
    #[tokio::test]
    async fn the_verifier_gives_up_at_the_deadline() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let _already = rustls::crypto::ring::default_provider().install_default();
        let client = Client::new(crate::registry::ClientOptions {
            allow_http: true,
            use_docker_config: false,
            retries: 0,
            ..crate::registry::ClientOptions::default()
        })
        .unwrap();
        let key = crate::keys::SigningKey::generate(crate::keys::Algorithm::EcdsaP256).unwrap();
        let trust = Trust::Keys(crate::trust::VerifyOptions {
            keys: vec![crate::trust::NamedKey {
                name: "k.pub".into(),
                key: key.public_key(),
            }],
            ..crate::trust::VerifyOptions::default()
        });
        let start = Instant::now();
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        let image = format!("127.0.0.1:{port}/team/app:1");
        let f = Verifier::new(client.clone(), trust.clone())
            .check(&image, deadline)
            .await
            .unwrap_err();
        assert_eq!(f.class, ErrorClass::Unavailable);
        assert!(f.message.contains("deadline"), "{}", f.message);
        let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
        let cached = CachingVerifier::new(client, trust, CacheOptions::default());
        let f = cached.check(&image, deadline).await.unwrap_err();
        assert_eq!(f.class, ErrorClass::Unavailable);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(cached.stats().entries, 0);
        silent.abort();
    }

    #[test]
    fn the_caching_verifier_is_shared_between_tasks() {
        fn shared<T: Send + Sync + 'static>() {}
        shared::<CachingVerifier>();
    }

    /// Connaisseur #583, in the small: an answer about another repository than the one
    /// asked for is refused, never used, even when it says yes.
    #[tokio::test]
    async fn an_answer_about_another_repository_is_refused() {
        let fake = Arc::new(Fake {
            lie_about: Some(SIDE),
            ..Fake::default()
        });
        let d = digest("1");
        fake.sign(SIDE, &d);
        let e = engine(&fake);
        let f = e.check(&format!("{APP}@{d}"), soon()).await.unwrap_err();
        assert!(f.message.contains("internal error"), "{}", f.message);
        assert!(f.message.contains(SIDE), "{}", f.message);
    }

    /// At most `max_cold` verifications run at once, whatever the number of requests.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cold_verifications_are_bounded() {
        let fake = Arc::new(Fake {
            delay: Duration::from_millis(50),
            ..Fake::default()
        });
        let e = Arc::new(Engine::new(
            Arc::clone(&fake),
            CacheOptions {
                max_cold: 2,
                ..CacheOptions::default()
            },
        ));
        let checks: Vec<_> = (0..8)
            .map(|i| {
                let e = Arc::clone(&e);
                let image = format!("{APP}@{}", digest(&i.to_string()));
                tokio::spawn(async move { e.check(&image, soon()).await })
            })
            .collect();
        for c in checks {
            assert!(!answer(&c.await.unwrap()).1);
        }
        assert_eq!(fake.verifies.load(Ordering::SeqCst), 8);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 2);
    }
}
