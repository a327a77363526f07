//! The webhook's counters, written in Prometheus' text format (version 0.0.4). Eight
//! series do not justify a metrics crate; every label value comes from a fixed list, so
//! nobody who can reach the port can grow the page.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{CacheStats, Decision, Endpoint, Record};

/// Upper bounds of the latency histogram, in seconds: the webhook's budget is 10 s.
const BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

const ENDPOINTS: [Endpoint; 2] = [Endpoint::Mutate, Endpoint::Validate];
const DECISIONS: [Decision; 5] = [
    Decision::Allowed,
    Decision::Patched,
    Decision::Denied,
    Decision::Unavailable,
    Decision::Malformed,
];
/// Kinds counted by name; anything else (only a caller other than the apiserver sends
/// those) is `other`.
const KINDS: [&str; 10] = [
    "Pod",
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicationController",
    "PodTemplate",
    "other",
];
/// What happened to an image (`ImageRecord::outcome`).
const OUTCOMES: [&str; 6] = [
    "pinned",
    "verified",
    "checked",
    "allowed-unsigned",
    "denied",
    "unavailable",
];
/// Requests refused before a review was read.
const REFUSALS: [&str; 7] = [
    "not-found",
    "method",
    "too-large",
    "body-unreadable",
    "tls-handshake",
    "too-many-connections",
    "busy",
];

/// Why a request was refused before it reached the admission logic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No such route.
    NotFound,
    /// The route exists, the method does not.
    Method,
    /// The body is over the limit.
    TooLarge,
    /// The body could not be read (the peer went away, a broken stream).
    BodyUnreadable,
    /// The TLS handshake failed or timed out.
    TlsHandshake,
    /// The peer already holds as many connections as one address may.
    TooManyConnections,
    /// The bodies being answered hold the whole budget, or the peer's share of it.
    Busy,
}

impl Refusal {
    /// The label and log value.
    pub fn name(self) -> &'static str {
        REFUSALS[self as usize]
    }
}

/// Counters shared by every connection.
#[derive(Debug)]
pub struct Metrics {
    requests: [[AtomicU64; KINDS.len()]; ENDPOINTS.len()],
    decisions: [[AtomicU64; DECISIONS.len()]; ENDPOINTS.len()],
    images: [AtomicU64; OUTCOMES.len()],
    refusals: [AtomicU64; REFUSALS.len()],
    /// Per endpoint: the count in each bucket (not cumulative), then the sum in µs.
    latency: [[AtomicU64; BUCKETS.len() + 1]; ENDPOINTS.len()],
    latency_sum_us: [AtomicU64; ENDPOINTS.len()],
    in_flight: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// All zero.
    pub fn new() -> Self {
        Self {
            requests: Default::default(),
            decisions: Default::default(),
            images: Default::default(),
            refusals: Default::default(),
            latency: Default::default(),
            latency_sum_us: Default::default(),
            in_flight: AtomicU64::new(0),
        }
    }

    /// A review is being answered; the guard counts it out.
    pub fn start(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    /// A review answered in `took`.
    pub fn answered(&self, endpoint: Endpoint, record: &Record, took: Duration) {
        let e = endpoint_index(endpoint);
        let kind = KINDS
            .iter()
            .position(|k| *k == record.kind)
            .unwrap_or(KINDS.len() - 1);
        self.requests[e][kind].fetch_add(1, Ordering::Relaxed);
        let d = DECISIONS
            .iter()
            .position(|d| *d == record.decision)
            .unwrap_or(0);
        self.decisions[e][d].fetch_add(1, Ordering::Relaxed);
        for image in &record.images {
            if let Some(o) = OUTCOMES.iter().position(|o| *o == image.outcome) {
                self.images[o].fetch_add(1, Ordering::Relaxed);
            }
        }
        let seconds = took.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(BUCKETS.len());
        self.latency[e][bucket].fetch_add(1, Ordering::Relaxed);
        self.latency_sum_us[e].fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// A request refused before a review was read.
    pub fn refused(&self, why: Refusal) {
        self.refusals[why as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// The page, with the cache's figures when there is a cache.
    pub fn render(&self, cache: Option<CacheStats>) -> String {
        let mut out = String::with_capacity(8192);
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        header(
            &mut out,
            "hallmark_admit_requests_total",
            "counter",
            "AdmissionReviews answered, by endpoint and object kind.",
        );
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            for (k, kind) in KINDS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "hallmark_admit_requests_total{{endpoint=\"{}\",kind=\"{kind}\"}} {}",
                    endpoint.name(),
                    get(&self.requests[e][k])
                );
            }
        }
        header(
            &mut out,
            "hallmark_admit_decisions_total",
            "counter",
            "Decisions: allowed, patched (pinned), denied, unavailable (denied, retry may pass), malformed (HTTP 400).",
        );
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            for (d, decision) in DECISIONS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "hallmark_admit_decisions_total{{endpoint=\"{}\",decision=\"{}\"}} {}",
                    endpoint.name(),
                    decision.name(),
                    get(&self.decisions[e][d])
                );
            }
        }
        header(
            &mut out,
            "hallmark_admit_images_total",
            "counter",
            "Images in answered reviews, by what happened to them.",
        );
        for (o, outcome) in OUTCOMES.iter().enumerate() {
            let _ = writeln!(
                out,
                "hallmark_admit_images_total{{outcome=\"{outcome}\"}} {}",
                get(&self.images[o])
            );
        }
        header(
            &mut out,
            "hallmark_admit_refused_total",
            "counter",
            "Requests refused before a review was read.",
        );
        for (r, reason) in REFUSALS.iter().enumerate() {
            let _ = writeln!(
                out,
                "hallmark_admit_refused_total{{reason=\"{reason}\"}} {}",
                get(&self.refusals[r])
            );
        }
        header(
            &mut out,
            "hallmark_admit_request_duration_seconds",
            "histogram",
            "Time to answer a review, from its body read to its answer written.",
        );
        for (e, endpoint) in ENDPOINTS.iter().enumerate() {
            let mut cumulative = 0;
            for (b, le) in BUCKETS.iter().enumerate() {
                cumulative += get(&self.latency[e][b]);
                let _ = writeln!(
                    out,
                    "hallmark_admit_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"{le}\"}} {cumulative}",
                    endpoint.name()
                );
            }
            cumulative += get(&self.latency[e][BUCKETS.len()]);
            let _ = writeln!(
                out,
                "hallmark_admit_request_duration_seconds_bucket{{endpoint=\"{}\",le=\"+Inf\"}} {cumulative}",
                endpoint.name()
            );
            let _ = writeln!(
                out,
                "hallmark_admit_request_duration_seconds_sum{{endpoint=\"{}\"}} {}",
                endpoint.name(),
                get(&self.latency_sum_us[e]) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "hallmark_admit_request_duration_seconds_count{{endpoint=\"{}\"}} {cumulative}",
                endpoint.name()
            );
        }
        header(
            &mut out,
            "hallmark_admit_in_flight",
            "gauge",
            "Reviews being answered now.",
        );
        let _ = writeln!(out, "hallmark_admit_in_flight {}", get(&self.in_flight));
        if let Some(c) = cache {
            header(
                &mut out,
                "hallmark_admit_cache_lookups_total",
                "counter",
                "Verification cache lookups: hit, miss (verified afresh), coalesced (waited for a verification already running), expired.",
            );
            for (result, n) in [
                ("hit", c.hits),
                ("miss", c.misses),
                ("coalesced", c.coalesced),
                ("expired", c.expired),
            ] {
                let _ = writeln!(
                    out,
                    "hallmark_admit_cache_lookups_total{{result=\"{result}\"}} {n}"
                );
            }
            header(
                &mut out,
                "hallmark_admit_cache_entries",
                "gauge",
                "Verifications held in the cache.",
            );
            let _ = writeln!(out, "hallmark_admit_cache_entries {}", c.entries);
            header(
                &mut out,
                "hallmark_admit_verifications_in_flight",
                "gauge",
                "Verifications running against registries now.",
            );
            let _ = writeln!(
                out,
                "hallmark_admit_verifications_in_flight {}",
                c.in_flight
            );
        }
        out
    }
}

/// Counts a review out of `in_flight` when dropped, also when its task is cancelled.
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicU64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn endpoint_index(e: Endpoint) -> usize {
    ENDPOINTS.iter().position(|x| *x == e).unwrap_or(0)
}

fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, decision: Decision, outcomes: &[&'static str]) -> Record {
        Record {
            uid: "u".into(),
            endpoint: "mutate",
            kind: kind.into(),
            namespace: String::new(),
            name: String::new(),
            operation: "CREATE".into(),
            decision,
            reason: None,
            images: outcomes
                .iter()
                .map(|o| super::super::ImageRecord {
                    path: String::new(),
                    image: String::new(),
                    digest: None,
                    outcome: o,
                })
                .collect(),
        }
    }

    fn value(page: &str, series: &str) -> f64 {
        page.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("{series} not on the page:\n{page}"))
            .parse()
            .unwrap()
    }

    #[test]
    fn counts_land_in_their_series() {
        let m = Metrics::new();
        m.answered(
            Endpoint::Mutate,
            &record("Pod", Decision::Patched, &["pinned", "pinned", "verified"]),
            Duration::from_millis(3),
        );
        m.answered(
            Endpoint::Validate,
            &record("Deployment", Decision::Denied, &["denied"]),
            Duration::from_millis(40),
        );
        m.answered(
            Endpoint::Validate,
            &record("Made-up\"}kind", Decision::Allowed, &[]),
            Duration::from_secs(20),
        );
        m.refused(Refusal::TooLarge);
        let page = m.render(None);
        assert_eq!(
            value(
                &page,
                "hallmark_admit_requests_total{endpoint=\"mutate\",kind=\"Pod\"}"
            ),
            1.0
        );
        // A kind from the request never becomes a label value of its own.
        assert_eq!(
            value(
                &page,
                "hallmark_admit_requests_total{endpoint=\"validate\",kind=\"other\"}"
            ),
            1.0
        );
        assert!(!page.contains("Made-up"));
        assert_eq!(
            value(
                &page,
                "hallmark_admit_decisions_total{endpoint=\"validate\",decision=\"denied\"}"
            ),
            1.0
        );
        assert_eq!(
            value(&page, "hallmark_admit_images_total{outcome=\"pinned\"}"),
            2.0
        );
        assert_eq!(
            value(&page, "hallmark_admit_refused_total{reason=\"too-large\"}"),
            1.0
        );
        // Buckets are cumulative; a 20 s answer is only in +Inf.
        assert_eq!(
            value(
                &page,
                "hallmark_admit_request_duration_seconds_bucket{endpoint=\"validate\",le=\"0.05\"}"
            ),
            1.0
        );
        assert_eq!(
            value(
                &page,
                "hallmark_admit_request_duration_seconds_bucket{endpoint=\"validate\",le=\"10\"}"
            ),
            1.0
        );
        assert_eq!(
            value(
                &page,
                "hallmark_admit_request_duration_seconds_bucket{endpoint=\"validate\",le=\"+Inf\"}"
            ),
            2.0
        );
        assert_eq!(
            value(
                &page,
                "hallmark_admit_request_duration_seconds_sum{endpoint=\"mutate\"}"
            ),
            0.003
        );
        assert!(!page.contains("cache"));
        let page = m.render(Some(CacheStats {
            hits: 7,
            entries: 3,
            ..CacheStats::default()
        }));
        assert_eq!(
            value(&page, "hallmark_admit_cache_lookups_total{result=\"hit\"}"),
            7.0
        );
        assert_eq!(value(&page, "hallmark_admit_cache_entries"), 3.0);
    }

    #[test]
    fn in_flight_is_counted_out_when_dropped() {
        let m = Metrics::new();
        let a = m.start();
        let b = m.start();
        assert_eq!(value(&m.render(None), "hallmark_admit_in_flight"), 2.0);
        drop(a);
        drop(b);
        assert_eq!(value(&m.render(None), "hallmark_admit_in_flight"), 0.0);
    }

    #[test]
    fn every_line_is_a_comment_or_a_sample() {
        let page = Metrics::new().render(Some(CacheStats::default()));
        for line in page.lines() {
            let ok = line.starts_with("# HELP hallmark_admit_")
                || line.starts_with("# TYPE hallmark_admit_")
                || (line.starts_with("hallmark_admit_")
                    && line
                        .rsplit_once(' ')
                        .is_some_and(|(_, v)| v.parse::<f64>().is_ok()));
            assert!(ok, "not exposition format: {line:?}");
        }
    }
}
