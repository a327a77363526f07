//! The verifications kept between admissions: bounded, each until it may no longer be
//! trusted, and keyed by everything the decision depends on. The clock is an argument, so
//! every rule here is tested without waiting.
//!
//! Why the key is complete. A decision (`verify::verify_trusted`) is a function of:
//! - the repository's canonical identity: the policy picks its rule by repository alone
//!   (`Policy::rule_for`), the signatures are gathered from that repository, and they must
//!   name it (`docker-reference`);
//! - the digest: the one manifest resolved, signed and judged;
//! - the tag the decision was made for, but only when the rule requires tag binding: without
//!   it, the tag changes notes in the report, never the decision (`decide::disqualify`);
//! - the clock, through maximum ages (`Verification::valid_until` bounds the entry) and
//!   signed timestamps from the future (a "no", kept only `deny_ttl`);
//! - the keys, identities and trusted root, fixed for the life of a cache (a new policy is a
//!   new cache).
//!
//! Nothing else is read, so two requests with the same key get the same decision.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::digest::Digest;
use crate::verify::Verification;

/// How long verifications are kept, and how many.
#[derive(Debug, Clone)]
pub struct CacheOptions {
    /// Longest a "yes" is kept (shorter when a signature's maximum age ends first).
    pub cache_ttl: Duration,
    /// How long a "no" is kept, so that a crash-looping Pod does not hammer the registry.
    pub deny_ttl: Duration,
    /// How long a tag may be taken to name the digest verified for it without asking the
    /// registry again. 0 (the default): every request naming a tag resolves it again, so a
    /// tag moved between two requests gives the second the digest verified for it now.
    pub tag_ttl: Duration,
    /// Most verifications kept.
    pub max_entries: usize,
    /// Most verifications running at once (the registry's protection).
    pub max_cold: usize,
    /// Longest one verification may run; it runs on even when the request that started it
    /// has given up, so that a retry finds it done.
    pub verify_timeout: Duration,
}

impl Default for CacheOptions {
    fn default() -> Self {
        Self {
            cache_ttl: Duration::from_secs(300),
            deny_ttl: Duration::from_secs(10),
            tag_ttl: Duration::ZERO,
            max_entries: 2048,
            max_cold: 32,
            verify_timeout: Duration::from_secs(30),
        }
    }
}

/// What one verification is kept under.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Key {
    /// `reg/repo`, canonical.
    pub repository: String,
    /// The digest verified.
    pub digest: Digest,
    /// The tag it was verified for, only when the rule binds tags.
    pub tag: Option<String>,
}

impl Key {
    /// The key `verification` is about: its own repository and digest, never the request's,
    /// so that an entry always answers with the digest it verified. `binding`: whether its
    /// repository's rule requires tag binding.
    pub(crate) fn of(verification: &Verification, binding: bool) -> Self {
        let report = verification.report();
        let reference = report.reference();
        let suffix = format!("@{}", report.digest());
        Self {
            repository: reference
                .strip_suffix(&suffix)
                .unwrap_or(reference)
                .to_string(),
            digest: report.digest().clone(),
            tag: if binding {
                report.tag().map(str::to_string)
            } else {
                None
            },
        }
    }
}

struct Entry {
    verification: Arc<Verification>,
    expires: Instant,
    /// Insertion order, to find the oldest.
    seq: u64,
}

/// What a lookup found.
pub(crate) enum Found {
    Live(Arc<Verification>),
    Expired,
    Nothing,
}

/// The kept verifications, and the tags known to name one of them.
pub(crate) struct Cache {
    options: CacheOptions,
    entries: HashMap<Key, Entry>,
    /// Keys in insertion order, with the sequence number they were inserted with (an entry
    /// replaced since leaves a stale pair behind, skipped when met).
    order: VecDeque<(u64, Key)>,
    /// (repository, tag) → the key of the verification made for that tag, until when.
    tags: HashMap<(String, String), (Key, Instant)>,
    seq: u64,
    evicted: u64,
}

impl Cache {
    pub(crate) fn new(options: CacheOptions) -> Self {
        Self {
            options,
            entries: HashMap::new(),
            order: VecDeque::new(),
            tags: HashMap::new(),
            seq: 0,
            evicted: 0,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The verification kept under `key` at `now`. An expired one is dropped.
    pub(crate) fn get(&mut self, key: &Key, now: Instant) -> Found {
        match self.entries.get(key) {
            Some(e) if e.expires > now => Found::Live(Arc::clone(&e.verification)),
            Some(_) => {
                self.entries.remove(key);
                Found::Expired
            }
            None => Found::Nothing,
        }
    }

    /// The live verification made for `tag` of `repository` within the last `tag_ttl`.
    pub(crate) fn get_tag(
        &mut self,
        repository: &str,
        tag: &str,
        now: Instant,
    ) -> Option<Arc<Verification>> {
        let id = (repository.to_string(), tag.to_string());
        let (key, until) = self.tags.get(&id)?;
        if *until <= now {
            self.tags.remove(&id);
            return None;
        }
        let key = key.clone();
        match self.get(&key, now) {
            Found::Live(v) => Some(v),
            Found::Expired | Found::Nothing => {
                self.tags.remove(&id);
                None
            }
        }
    }

    /// Keeps `verification` (wall clock `wall` and monotonic `now`, read together) under
    /// its own key. A "yes" is kept `cache_ttl`, never past its `valid_until`; anything
    /// else `deny_ttl`. The tag it was made for is remembered `tag_ttl`, only if the tag
    /// named its digest when it was judged.
    pub(crate) fn insert(
        &mut self,
        verification: &Arc<Verification>,
        binding: bool,
        now: Instant,
        wall: SystemTime,
    ) {
        let report = verification.report();
        let mut ttl = if report.verified() {
            self.options.cache_ttl
        } else {
            self.options.deny_ttl
        };
        if let Some(until) = verification.valid_until() {
            ttl = ttl.min(until.duration_since(wall).unwrap_or(Duration::ZERO));
        }
        if ttl.is_zero() || self.options.max_entries == 0 {
            return;
        }
        let key = Key::of(verification, binding);
        self.make_room(&key, now);
        self.seq += 1;
        let expires = now + ttl;
        self.entries.insert(
            key.clone(),
            Entry {
                verification: Arc::clone(verification),
                expires,
                seq: self.seq,
            },
        );
        self.order.push_back((self.seq, key.clone()));
        // Stale pairs left by replaced or expired entries: dropped before they outgrow the
        // entries they stand for.
        if self.order.len() > 2 * self.options.max_entries {
            let entries = &self.entries;
            self.order
                .retain(|(seq, k)| entries.get(k).is_some_and(|e| e.seq == *seq));
        }
        if !self.options.tag_ttl.is_zero()
            && report.verified()
            && let Some(tag) = report.tag()
        {
            let until = expires.min(now + self.options.tag_ttl);
            if self.tags.len() >= self.options.max_entries {
                self.tags.retain(|_, (_, u)| *u > now);
            }
            if self.tags.len() < self.options.max_entries {
                self.tags
                    .insert((key.repository.clone(), tag.to_string()), (key, until));
            }
        }
    }

    /// Room for one more entry (none needed when `key` is kept already): the expired ones
    /// go first, then the oldest inserted.
    fn make_room(&mut self, key: &Key, now: Instant) {
        if self.entries.contains_key(key) || self.entries.len() < self.options.max_entries {
            return;
        }
        self.entries.retain(|_, e| e.expires > now);
        while self.entries.len() >= self.options.max_entries {
            let Some((seq, oldest)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&oldest).is_some_and(|e| e.seq == seq) {
                self.entries.remove(&oldest);
                self.evicted += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {

    use super::*;
    use crate::report::Report;

    const APP: &str = "reg.test/team/app";
    const SIDE: &str = "reg.test/team/side";

    fn digest(seed: &str) -> Digest {
        Digest::sha256(seed.as_bytes())
    }

    /// A report on `repo@d`, made for `tag`, that said yes or no.
    fn report(repo: &str, d: &Digest, tag: Option<&str>, yes: bool) -> Report {
        Report::new(format!("{repo}@{d}"), d.clone(), tag.map(str::to_string)).judged_for_tests(yes)
    }

    fn yes(repo: &str, d: &Digest) -> Arc<Verification> {
        Arc::new(Verification::from_report(report(repo, d, None, true)))
    }

    fn no(repo: &str, d: &Digest) -> Arc<Verification> {
        Arc::new(Verification::from_report(report(repo, d, None, false)))
    }

    fn key(repo: &str, d: &Digest) -> Key {
        Key {
            repository: repo.into(),
            digest: d.clone(),
            tag: None,
        }
    }

    fn live(found: Found) -> Option<Arc<Verification>> {
        match found {
            Found::Live(v) => Some(v),
            Found::Expired | Found::Nothing => None,
        }
    }

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn a_yes_is_kept_cache_ttl_and_a_no_deny_ttl() {
        let mut cache = Cache::new(CacheOptions::default());
        let (t0, wall) = (Instant::now(), SystemTime::now());
        cache.insert(&yes(APP, &digest("a")), false, t0, wall);
        cache.insert(&no(APP, &digest("b")), false, t0, wall);
        let at = |s| t0 + secs(s);
        assert!(live(cache.get(&key(APP, &digest("b")), at(9))).is_some());
        assert!(matches!(
            cache.get(&key(APP, &digest("b")), at(11)),
            Found::Expired
        ));
        assert!(live(cache.get(&key(APP, &digest("a")), at(299))).is_some());
        assert!(matches!(
            cache.get(&key(APP, &digest("a")), at(301)),
            Found::Expired
        ));
        // An expired entry is dropped, not found again.
        assert!(matches!(
            cache.get(&key(APP, &digest("a")), at(302)),
            Found::Nothing
        ));
        assert_eq!(cache.len(), 0);
    }

    /// A signature's maximum age ends the entry before `cache_ttl` does: a kept "yes" is
    /// never used past the time `verify` would have said no.
    #[test]
    fn a_yes_expires_when_its_signature_grows_too_old() {
        let mut cache = Cache::new(CacheOptions::default());
        let (t0, wall) = (Instant::now(), SystemTime::now());
        let v =
            Verification::from_report_until(report(APP, &digest("a"), None, true), wall + secs(60));
        cache.insert(&Arc::new(v), false, t0, wall);
        assert!(live(cache.get(&key(APP, &digest("a")), t0 + secs(59))).is_some());
        assert!(live(cache.get(&key(APP, &digest("a")), t0 + secs(61))).is_none());

        // Already too old: not kept at all.
        let v =
            Verification::from_report_until(report(APP, &digest("b"), None, true), wall - secs(1));
        cache.insert(&Arc::new(v), false, t0, wall);
        assert!(live(cache.get(&key(APP, &digest("b")), t0)).is_none());
    }

    /// The key is the verification's own repository and digest: another digest of the same
    /// repository, or the same digest in another repository, finds nothing.
    #[test]
    fn an_entry_answers_only_its_own_repository_and_digest() {
        let mut cache = Cache::new(CacheOptions::default());
        let (t0, wall) = (Instant::now(), SystemTime::now());
        cache.insert(&yes(APP, &digest("a")), false, t0, wall);
        assert!(live(cache.get(&key(APP, &digest("b")), t0)).is_none());
        assert!(live(cache.get(&key(SIDE, &digest("a")), t0)).is_none());
        let v = live(cache.get(&key(APP, &digest("a")), t0)).unwrap();
        assert_eq!(v.report().digest(), &digest("a"));
        assert_eq!(v.report().reference(), format!("{APP}@{}", digest("a")));
    }

    /// The tag is part of the key only where the rule binds tags: there, a verification
    /// for `app:1` does not answer `app:2` of the same digest.
    #[test]
    fn the_tag_is_in_the_key_only_under_tag_binding() {
        let v = Verification::from_report(report(APP, &digest("a"), Some("1"), true));
        assert_eq!(Key::of(&v, false), key(APP, &digest("a")));
        assert_eq!(
            Key::of(&v, true),
            Key {
                tag: Some("1".into()),
                ..key(APP, &digest("a"))
            }
        );
        let mut cache = Cache::new(CacheOptions::default());
        let (t0, wall) = (Instant::now(), SystemTime::now());
        cache.insert(&Arc::new(v), true, t0, wall);
        let other_tag = Key {
            tag: Some("2".into()),
            ..key(APP, &digest("a"))
        };
        assert!(live(cache.get(&other_tag, t0)).is_none());
        assert!(live(cache.get(&key(APP, &digest("a")), t0)).is_none());
    }

    #[test]
    fn entries_stay_within_bounds_expired_first_then_oldest() {
        let mut cache = Cache::new(CacheOptions {
            max_entries: 3,
            ..CacheOptions::default()
        });
        let (t0, wall) = (Instant::now(), SystemTime::now());
        cache.insert(&yes(APP, &digest("a")), false, t0, wall);
        cache.insert(&no(APP, &digest("b")), false, t0, wall);
        cache.insert(&yes(APP, &digest("c")), false, t0, wall);
        // b (a "no") has expired: it goes, though a is older.
        cache.insert(&yes(APP, &digest("d")), false, t0 + secs(11), wall);
        assert_eq!(cache.len(), 3);
        assert!(live(cache.get(&key(APP, &digest("a")), t0 + secs(11))).is_some());
        assert_eq!(cache.evicted(), 0);
        // Nothing expired: the oldest inserted goes.
        cache.insert(&yes(APP, &digest("e")), false, t0 + secs(12), wall);
        assert_eq!(cache.len(), 3);
        assert!(live(cache.get(&key(APP, &digest("a")), t0 + secs(12))).is_none());
        for d in ["c", "d", "e"] {
            assert!(live(cache.get(&key(APP, &digest(d)), t0 + secs(12))).is_some());
        }
        assert_eq!(cache.evicted(), 1);
        // Replacing a kept entry takes no room, and many inserts keep every bound.
        for i in 0..10_000 {
            let d = digest(&format!("{}", i % 7));
            cache.insert(&yes(APP, &d), false, t0 + secs(13), wall);
            assert!(cache.len() <= 3);
            assert!(cache.order.len() <= 2 * 3 + 1);
        }
    }

    /// A tag is remembered only with `tag_ttl`, only from a "yes" made for that tag, and no
    /// longer than `tag_ttl`.
    #[test]
    fn a_tag_is_remembered_only_from_a_verification_made_for_it() {
        let (t0, wall) = (Instant::now(), SystemTime::now());
        let for_tag = Arc::new(Verification::from_report(report(
            APP,
            &digest("a"),
            Some("1"),
            true,
        )));
        let mut cache = Cache::new(CacheOptions::default());
        cache.insert(&for_tag, false, t0, wall);
        assert!(cache.get_tag(APP, "1", t0).is_none(), "tag_ttl 0");

        let mut cache = Cache::new(CacheOptions {
            tag_ttl: secs(30),
            ..CacheOptions::default()
        });
        cache.insert(&for_tag, false, t0, wall);
        // Made without the tag (it had moved when judged), or said no: not remembered.
        let untagged = Arc::new(Verification::from_report(report(
            APP,
            &digest("b"),
            None,
            true,
        )));
        let denied = Arc::new(Verification::from_report(report(
            APP,
            &digest("c"),
            Some("3"),
            false,
        )));
        cache.insert(&untagged, false, t0, wall);
        cache.insert(&denied, false, t0, wall);
        let v = cache.get_tag(APP, "1", t0 + secs(29)).unwrap();
        assert_eq!(v.report().digest(), &digest("a"));
        assert!(cache.get_tag(APP, "3", t0).is_none());
        assert!(cache.get_tag(SIDE, "1", t0).is_none());
        assert!(cache.get_tag(APP, "1", t0 + secs(31)).is_none());
    }
}
