//! `pin`: a diff to review, or the files rewritten (docs/schema/pin.schema.json).

use std::path::Path;

use hallmark::pin::{PinReport, PinStatus};
use serde::Serialize;

use super::{Render, Text, V1};

/// `pin`'s document.
#[derive(Serialize)]
pub struct PinResult<'a> {
    version: V1,
    references: Vec<ReferenceOut<'a>>,
    files: Vec<FileOut<'a>>,
    written: bool,
    errors: Vec<ProblemOut<'a>>,
    partial: bool,
    #[serde(skip)]
    report: &'a PinReport,
}

#[derive(Serialize)]
struct ReferenceOut<'a> {
    path: &'a str,
    line: usize,
    column: usize,
    reference: &'a str,
    pinned: Option<&'a str>,
    digest: Option<String>,
    status: &'static str,
    reason: &'a str,
}

#[derive(Serialize)]
struct FileOut<'a> {
    path: &'a Path,
    pinned: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

#[derive(Serialize)]
struct ProblemOut<'a> {
    path: &'a str,
    error: &'a str,
}

fn status(s: PinStatus) -> &'static str {
    match s {
        PinStatus::Pinned => "pinned",
        PinStatus::Verified => "verified",
        PinStatus::Refused => "refused",
        PinStatus::Unavailable => "unavailable",
        PinStatus::Unpinnable => "unpinnable",
    }
}

impl<'a> PinResult<'a> {
    pub fn new(r: &'a PinReport) -> Self {
        PinResult {
            version: V1,
            references: r
                .references
                .iter()
                .map(|e| ReferenceOut {
                    path: &e.path,
                    line: e.line,
                    column: e.column,
                    reference: &e.reference,
                    pinned: e.pinned.as_deref(),
                    digest: e.digest.as_ref().map(ToString::to_string),
                    status: status(e.status),
                    reason: &e.reason,
                })
                .collect(),
            files: r
                .files
                .iter()
                .map(|f| FileOut {
                    path: &f.path,
                    pinned: f.pinned,
                    error: f.error.as_deref(),
                })
                .collect(),
            written: r.written,
            errors: r
                .errors
                .iter()
                .map(|e| ProblemOut {
                    path: &e.path,
                    error: &e.error,
                })
                .collect(),
            partial: r.partial,
            report: r,
        }
    }
}

impl Render for PinResult<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        let report = self.report;
        for e in &report.references {
            let head = format!("{}:{}:{}: ", e.path, e.line, e.column);
            match e.status {
                PinStatus::Pinned => t.say_outside(
                    &head,
                    &format!(
                        "{} → {}",
                        e.reference,
                        e.pinned.as_deref().unwrap_or_default()
                    ),
                ),
                PinStatus::Verified => {
                    t.say_outside(&head, &format!("{}: {}", e.reference, e.reason))
                }
                PinStatus::Refused | PinStatus::Unavailable | PinStatus::Unpinnable => {
                    t.say_outside(&head, &format!("NOT pinned {}: {}", e.reference, e.reason))
                }
            }
        }
        for h in crate::advice::hints(report.references.iter().flat_map(|e| &e.findings)) {
            t.say_outside("hint: ", &h);
        }
        // On stderr with the references: stdout stays a diff that applies.
        for e in &report.errors {
            t.say_outside(&format!("{}: ", e.path), &format!("NOT read: {}", e.error));
        }
        if report.written {
            for f in &report.files {
                if let Some(why) = &f.error {
                    t.say_outside("NOT written: ", why);
                }
            }
            let written: Vec<_> = report.files.iter().filter(|f| f.error.is_none()).collect();
            t.say(format!(
                "wrote {} file(s), {} reference(s) pinned",
                written.len(),
                written.iter().map(|f| f.pinned).sum::<usize>()
            ));
            return Ok(());
        }
        let diff: String = report
            .files
            .iter()
            .map(|f| hallmark::pin::unified_diff(&f.path, &f.old, &f.new))
            .collect();
        // The diff is the result: on stdout, for `git apply` or review.
        if diff.is_empty() {
            return Ok(());
        }
        t.result(diff.trim_end_matches('\n'))
    }
}

#[cfg(test)]
mod tests {
    use super::super::render_text;
    use super::*;
    use hallmark::pin::{PinEntry, PinnedFile};

    fn entry(reference: &str, status: PinStatus, pinned: Option<&str>, reason: &str) -> PinEntry {
        PinEntry {
            path: "deploy/app.yaml".into(),
            line: 7,
            column: 14,
            reference: reference.into(),
            pinned: pinned.map(str::to_string),
            digest: None,
            status,
            reason: reason.into(),
            findings: Vec::new(),
        }
    }

    fn report(written: bool) -> PinReport {
        PinReport {
            version: 1,
            references: vec![
                entry(
                    "reg.example/app:v1",
                    PinStatus::Pinned,
                    Some("reg.example/app:v1@sha256:ab"),
                    "",
                ),
                entry(
                    "reg.example/tool:v2",
                    PinStatus::Refused,
                    None,
                    "no signature",
                ),
            ],
            files: vec![PinnedFile {
                path: "deploy/app.yaml".into(),
                old: "image: reg.example/app:v1\n".into(),
                new: "image: reg.example/app:v1@sha256:ab\n".into(),
                pinned: 1,
                error: None,
            }],
            written,
            errors: vec![hallmark::audit::FileProblem {
                path: "deploy/broken.yaml".into(),
                error: "not YAML".into(),
            }],
            partial: true,
        }
    }

    #[test]
    fn the_diff_is_the_result_and_each_reference_is_named_on_stderr() {
        let r = report(false);
        let (out, err) = render_text(&PinResult::new(&r), false);
        let diff = hallmark::pin::unified_diff(
            Path::new("deploy/app.yaml"),
            &r.files[0].old,
            &r.files[0].new,
        );
        assert!(
            diff.contains("+image: reg.example/app:v1@sha256:ab"),
            "{diff}"
        );
        assert_eq!(out, diff);
        assert_eq!(
            err,
            "deploy/app.yaml:7:14: reg.example/app:v1 → reg.example/app:v1@sha256:ab\n\
             deploy/app.yaml:7:14: NOT pinned reg.example/tool:v2: no signature\n\
             deploy/broken.yaml: NOT read: not YAML\n"
        );
    }

    #[test]
    fn written_files_are_counted_and_stdout_stays_empty() {
        let r = report(true);
        let (out, err) = render_text(&PinResult::new(&r), false);
        assert_eq!(out, "");
        assert!(
            err.ends_with("wrote 1 file(s), 1 reference(s) pinned\n"),
            "{err}"
        );
        let (_, err) = render_text(&PinResult::new(&r), true);
        assert_eq!(err, "");
    }
}
