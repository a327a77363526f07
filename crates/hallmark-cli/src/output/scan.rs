//! `scan`: a table a person reads at a glance, or one JSON document
//! (docs/schema/scan.schema.json).

use std::collections::BTreeMap;

use hallmark::scan::{ScanReport, Status};
use serde::Serialize;

use super::verify::{SignatureOut, signature};
use super::{Render, Text, V1};

/// `scan`'s document.
#[derive(Serialize)]
pub struct ScanResult<'a> {
    version: V1,
    targets: &'a [String],
    repositories: &'a [String],
    tags: Vec<TagOut<'a>>,
    orphaned: Vec<OrphanOut<'a>>,
    access: Vec<AccessOut<'a>>,
    errors: Vec<ErrorOut<'a>>,
    partial: bool,
    summary: Summary<'a>,
    requests: u64,
    seconds: f64,
    #[serde(skip)]
    report: &'a ScanReport,
    /// Status labels in colour (a terminal that wants them).
    #[serde(skip)]
    colour: bool,
}

#[derive(Serialize)]
struct TagOut<'a> {
    repository: &'a str,
    tag: &'a str,
    digest: Option<String>,
    status: &'static str,
    reason: &'a str,
    signatures: Vec<SignatureOut<'a>>,
    bound_to: Option<BindingOut<'a>>,
}

#[derive(Serialize)]
struct BindingOut<'a> {
    digest: String,
    timestamp: Option<&'a str>,
}

#[derive(Serialize)]
struct OrphanOut<'a> {
    repository: &'a str,
    digest: String,
    bound_tags: &'a [String],
    signatures: Vec<SignatureOut<'a>>,
    reason: &'a str,
}

#[derive(Serialize)]
struct AccessOut<'a> {
    repository: &'a str,
    can_push: Option<bool>,
    how: &'a str,
}

#[derive(Serialize)]
struct ErrorOut<'a> {
    scope: &'a str,
    error: &'a str,
}

/// Tags per status, in the order of the statuses.
struct Summary<'a>(&'a BTreeMap<Status, usize>);

impl Serialize for Summary<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k.name(), v)))
    }
}

impl<'a> ScanResult<'a> {
    pub fn new(r: &'a ScanReport, colour: bool) -> Self {
        ScanResult {
            version: V1,
            targets: &r.targets,
            repositories: &r.repositories,
            tags: r
                .tags
                .iter()
                .map(|t| TagOut {
                    repository: &t.repository,
                    tag: &t.tag,
                    digest: t.digest.as_ref().map(ToString::to_string),
                    status: t.status.name(),
                    reason: &t.reason,
                    signatures: t.signatures.iter().map(signature).collect(),
                    bound_to: t.bound_to.as_ref().map(|b| BindingOut {
                        digest: b.digest.to_string(),
                        timestamp: b.timestamp.as_deref(),
                    }),
                })
                .collect(),
            orphaned: r
                .orphaned
                .iter()
                .map(|o| OrphanOut {
                    repository: &o.repository,
                    digest: o.digest.to_string(),
                    bound_tags: &o.bound_tags,
                    signatures: o.signatures.iter().map(signature).collect(),
                    reason: &o.reason,
                })
                .collect(),
            access: r
                .access
                .iter()
                .map(|a| AccessOut {
                    repository: &a.repository,
                    can_push: a.can_push,
                    how: &a.how,
                })
                .collect(),
            errors: r
                .errors
                .iter()
                .map(|e| ErrorOut {
                    scope: &e.scope,
                    error: &e.error,
                })
                .collect(),
            partial: r.partial,
            summary: Summary(&r.summary),
            requests: r.requests,
            seconds: r.seconds,
            report: r,
            colour,
        }
    }
}

fn paint(status: Status, text: &str, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let code = match status {
        Status::Verified => "32",
        Status::Allowed | Status::Stale | Status::Orphaned | Status::Ambiguous => "33",
        Status::Unsigned | Status::Invalid | Status::Error => "31",
        Status::Drifted => "1;31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn short(d: &hallmark::digest::Digest) -> String {
    let hex = d.hex();
    format!("{}:{}…", d.algorithm(), &hex[..hex.len().min(12)])
}

/// The table: status first, problems first, and a summary line.
impl Render for ScanResult<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        let report = self.report;
        let mut rows: Vec<(Status, String, String, String)> = report
            .tags
            .iter()
            .map(|t| {
                (
                    t.status,
                    format!("{}:{}", t.repository, t.tag),
                    t.digest.as_ref().map_or_else(|| "-".into(), short),
                    t.reason.clone(),
                )
            })
            .collect();
        rows.extend(report.orphaned.iter().map(|o| {
            (
                Status::Orphaned,
                format!("{}@{}", o.repository, short(&o.digest)),
                short(&o.digest),
                o.reason.clone(),
            )
        }));
        // Problems first, so that a long scan's news is at the top.
        rows.sort_by(|a, b| {
            let rank = |s: Status| match s {
                Status::Drifted => 0,
                Status::Ambiguous => 1,
                Status::Invalid => 2,
                Status::Unsigned => 3,
                Status::Stale => 4,
                Status::Orphaned => 5,
                Status::Error => 6,
                Status::Allowed => 7,
                Status::Verified => 8,
            };
            rank(a.0).cmp(&rank(b.0)).then_with(|| a.1.cmp(&b.1))
        });
        let width = rows
            .iter()
            .map(|row| row.1.chars().count())
            .max()
            .unwrap_or(0);
        let mut lines = Vec::new();
        for (status, name, digest, why) in &rows {
            let label = format!("{:<9}", status.name());
            // Outside text is made safe first; the colour, ours, is added after.
            let row = crate::sanitize::line(&format!("{label} {name:<width$}  {digest:<20} {why}"));
            let rest = row.get(label.len()..).unwrap_or_default();
            lines.push(format!("{}{rest}", paint(*status, &label, self.colour)));
        }
        let mut writable = 0;
        for a in &report.access {
            let verdict = match a.can_push {
                Some(true) => {
                    writable += 1;
                    "can push"
                }
                Some(false) => "read only",
                None => "unknown",
            };
            lines.push(crate::sanitize::line(&format!(
                "access    {:<width$}  {verdict:<20} {}",
                a.repository, a.how
            )));
        }
        if !report.access.is_empty() {
            lines.push(format!(
                "the credentials in use can push to {writable} of {} repositories",
                report.access.len()
            ));
        }
        for e in &report.errors {
            t.say_outside(&format!("error: {}: ", e.scope), &e.error);
        }
        for h in crate::advice::hints(report.tags.iter().flat_map(|t| &t.findings)) {
            t.say_outside("hint: ", &h);
        }
        let counts: Vec<String> = Status::ALL
            .iter()
            .filter_map(|s| report.summary.get(s).map(|n| format!("{n} {}", s.name())))
            .collect();
        let tags = report.tags.len();
        lines.push(format!(
            "{}scanned {tags} tags in {} repositories in {:.2} s ({:.0} tags/s, {:.2} requests/tag){}{}",
            if report.partial { "PARTIAL: " } else { "" },
            report.repositories.len(),
            report.seconds,
            tags as f64 / report.seconds.max(1e-9),
            report.requests as f64 / tags.max(1) as f64,
            if counts.is_empty() {
                String::new()
            } else {
                format!(": {}", counts.join(", "))
            },
            if report.partial {
                format!("; {} part(s) could not be read", report.errors.len().max(1))
            } else {
                String::new()
            }
        ));
        t.result(&lines.join("\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::super::render_text;
    use super::*;
    use hallmark::scan::{ScanError, TagEntry};

    fn tag(tag: &str, status: Status, reason: &str) -> TagEntry {
        TagEntry {
            repository: "reg.example/app".into(),
            tag: tag.into(),
            digest: Some(hallmark::digest::Digest::sha256(tag.as_bytes())),
            status,
            reason: reason.into(),
            signatures: Vec::new(),
            bound_to: None,
            findings: Vec::new(),
        }
    }

    fn report() -> ScanReport {
        ScanReport {
            version: 1,
            targets: vec!["reg.example/app".into()],
            repositories: vec!["reg.example/app".into()],
            tags: vec![
                tag("v1", Status::Verified, "signed by release.pub"),
                tag("v2", Status::Drifted, "moved\nafter signing"),
            ],
            orphaned: Vec::new(),
            access: Vec::new(),
            errors: vec![ScanError {
                scope: "reg.example/other".into(),
                error: "tag list: 500".into(),
            }],
            partial: true,
            summary: BTreeMap::from([(Status::Verified, 1), (Status::Drifted, 1)]),
            requests: 6,
            seconds: 2.0,
        }
    }

    #[test]
    fn problems_come_first_and_a_partial_scan_says_so() {
        let r = report();
        let (out, err) = render_text(&ScanResult::new(&r, false), false);
        let d = |t: &str| short(&hallmark::digest::Digest::sha256(t.as_bytes()));
        assert_eq!(
            out,
            format!(
                "drifted   reg.example/app:v2  {:<20} moved\\nafter signing\n\
                 verified  reg.example/app:v1  {:<20} signed by release.pub\n\
                 PARTIAL: scanned 2 tags in 1 repositories in 2.00 s (1 tags/s, 3.00 requests/tag): 1 verified, 1 drifted; 1 part(s) could not be read\n",
                d("v2"),
                d("v1")
            )
        );
        assert_eq!(err, "error: reg.example/other: tag list: 500\n");
    }

    #[test]
    fn colour_marks_only_the_status() {
        let r = report();
        let (out, _) = render_text(&ScanResult::new(&r, true), true);
        assert!(
            out.starts_with("\x1b[1;31mdrifted  \x1b[0m reg.example/app:v2"),
            "{out:?}"
        );
    }

    #[test]
    fn the_summary_keeps_the_order_of_the_statuses() {
        let r = report();
        let v = serde_json::to_string(&ScanResult::new(&r, false)).unwrap();
        assert!(v.starts_with(r#"{"version":1,"targets":"#), "{v}");
        assert!(v.contains(r#""summary":{"verified":1,"drifted":1}"#), "{v}");
    }
}
