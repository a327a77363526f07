//! Pinning deployments: every image a manifest, compose file, Dockerfile or workflow
//! names by tag is resolved once, verified as `verify` does, and rewritten to
//! `repo:tag@sha256:…`. Only the reference's bytes change; a reference that does not
//! verify, whose registry cannot be reached, or whose bytes cannot be rewritten exactly
//! (a YAML alias, an escaped string) is left as it is, with the reason. A file it did not
//! read, or could not parse, is named with the reason, so that "nothing pinned" never
//! stands for "nothing read".

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::Error;
use crate::audit::{self, FileProblem, Kind};
use crate::class::ErrorClass;
use crate::digest::Digest;
use crate::fsio::walk::{self, Why};
use crate::policy::Trust;
use crate::registry::Client;
use crate::report::Finding;
use crate::verify::ReferenceFailure;

/// What happened to one reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PinStatus {
    /// Verified and rewritten to its digest.
    Pinned,
    /// Already pinned, and its digest verified again.
    Verified,
    /// Not verified: left as it is.
    Refused,
    /// Its registry could not be reached or failed: nothing was decided, left as it is.
    Unavailable,
    /// Written in a way that cannot be rewritten byte for byte (a YAML alias, escapes, a
    /// block scalar): left as it is, never verified.
    Unpinnable,
}

/// One image reference in a file.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PinEntry {
    /// The file.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// The reference as written.
    pub reference: String,
    /// What it becomes (for `pinned`).
    pub pinned: Option<String>,
    /// The verified digest.
    pub digest: Option<Digest>,
    /// What happened.
    pub status: PinStatus,
    /// Why, in one line.
    pub reason: String,
    /// Why its signatures did not count, typed, when it did not verify.
    #[serde(skip)]
    pub findings: Vec<Finding>,
}

/// A file whose references change.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PinnedFile {
    /// The file.
    pub path: PathBuf,
    /// Its content now.
    #[serde(skip)]
    pub old: String,
    /// Its content pinned.
    #[serde(skip)]
    pub new: String,
    /// References rewritten in it.
    pub pinned: usize,
    /// Why it was not written (it changed meanwhile, or could not be written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The plan (and, once written, the result).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PinReport {
    /// Version of the document.
    pub version: u32,
    /// Every reference found.
    pub references: Vec<PinEntry>,
    /// The files that change.
    pub files: Vec<PinnedFile>,
    /// True once the files were written.
    pub written: bool,
    /// Files not read, or not parsed, whole: what they name is unknown and nothing in them
    /// is pinned.
    pub errors: Vec<FileProblem>,
    /// True when something was not read (`errors`).
    pub partial: bool,
}

/// Why a reference was not pinned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum PinError {
    /// No decision: not a reference, not in a registry, or the registry failed.
    #[error(transparent)]
    Failed(#[from] ReferenceFailure),
    /// A policy rule allows it unsigned.
    #[error("a policy rule allows it unsigned: nothing verified, so it is not pinned")]
    AllowedUnsigned,
    /// It did not verify, and why.
    #[error("not verified: {}", lines(.0))]
    NotVerified(Vec<Finding>),
}

/// Findings in one line.
fn lines(findings: &[Finding]) -> String {
    let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
    lines.join("; ")
}

impl PinError {
    /// The class of the failure.
    pub(crate) fn class(&self) -> ErrorClass {
        match self {
            Self::Failed(e) => e.class(),
            Self::AllowedUnsigned | Self::NotVerified(_) => ErrorClass::Denied,
        }
    }

    /// What the reference is reported as: left unpinned because it was refused, or
    /// because nothing could be decided.
    pub(crate) fn status(&self) -> PinStatus {
        match self.class() {
            ErrorClass::Unavailable => PinStatus::Unavailable,
            ErrorClass::Denied | ErrorClass::Usage | ErrorClass::Drift => PinStatus::Refused,
        }
    }
}

/// Verifies `reference` once; `Ok(digest)` when it verifies, otherwise why not.
async fn verify_reference(
    client: &Client,
    reference: &str,
    trust: &Trust,
) -> Result<Digest, PinError> {
    let verification = crate::verify::verify_reference(client, reference, trust).await?;
    let report = verification.report();
    if report.verified() {
        Ok(report.digest().clone())
    } else if report.allowed() {
        Err(PinError::AllowedUnsigned)
    } else {
        Err(PinError::NotVerified(report.findings().to_vec()))
    }
}

/// Byte offset of 1-based (`line`, `column`) in `text`, columns counted in characters.
fn offset(text: &str, line: usize, column: usize) -> Option<usize> {
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    let (i, _) = text[start..].char_indices().nth(column.checked_sub(1)?)?;
    Some(start + i)
}

/// The image references of a YAML file that name an image but that `pin` cannot rewrite
/// byte for byte (those `image_spans` leaves out for their spelling, not for being
/// variables): each as (line, column, the text as written, why).
fn unpinnable(
    text: &str,
    kind: Kind,
    spans: &[audit::images::ImageSpan],
) -> Vec<(usize, usize, String, String)> {
    use audit::yaml::Value;
    if !matches!(kind, Kind::Kubernetes | Kind::Compose | Kind::Workflow) {
        return Vec::new();
    }
    let Ok(docs) = audit::yaml::parse_written(text) else {
        return Vec::new();
    };
    let written = |line: usize, column: usize| {
        let at = offset(text, line, column).unwrap_or(text.len());
        let word = text[at..]
            .split(|c: char| c.is_whitespace() || c == ',' || c == '}' || c == ']')
            .next()
            .unwrap_or_default();
        word.chars().take(200).collect::<String>()
    };
    let mut out = Vec::new();
    for doc in &docs {
        for (node, _) in audit::images::image_nodes(doc, kind) {
            let rewritable = spans
                .iter()
                .any(|s| (s.line, s.column) == (node.line, node.column));
            let why = match &node.value {
                _ if rewritable => continue,
                Value::Alias => {
                    "a YAML alias: the anchored value it stands for is not rewritten here"
                }
                Value::Scalar(v) if v.is_empty() || v.contains('$') => continue,
                Value::Scalar(_) => {
                    "written with escapes, folded or as a block: it cannot be rewritten byte for byte"
                }
                Value::Seq(_) | Value::Map(_) => continue,
            };
            let shown = match node.str() {
                Some(v) => v.to_string(),
                None => written(node.line, node.column),
            };
            out.push((node.line, node.column, shown, why.to_string()));
        }
    }
    out
}

/// The kind of a file `pin` reads, by its name: deployments, compose files, workflows
/// and Dockerfiles.
fn pin_kind(path: &Path) -> Option<Kind> {
    // No first line: a `#!` only makes a shell script, which pin does not rewrite.
    audit::kind_of(path, "").filter(|k| {
        matches!(
            k,
            Kind::Kubernetes | Kind::Compose | Kind::Workflow | Kind::Dockerfile
        )
    })
}

/// The files `pin` reads, by name. A file of another name is not pin's to read, so leaving
/// it out hides nothing.
struct Pinned;

impl walk::Select for Pinned {
    type Kind = Kind;

    fn file(&self, path: &Path) -> Option<Kind> {
        pin_kind(path)
    }

    fn may_hold(&self, path: &Path) -> bool {
        pin_kind(path).is_some()
    }
}

/// An entry the walk did not follow, in pin's words.
fn left_out(s: walk::Skipped) -> FileProblem {
    let why = match &s.why {
        Why::NotSelected => {
            "not a file pin reads (Kubernetes or compose YAML, a workflow, a Dockerfile): nothing pinned".into()
        }
        Why::NotFileOrDir => format!("{}: not read, nothing pinned", s.why),
        Why::Unlisted(_) => format!("{}: not read, nothing in it pinned", s.why),
        Why::Stopped => format!("{}: the rest is not read, nothing in it pinned", s.why),
        Why::Outside => format!("{}: not followed, nothing pinned", s.why),
        _ => format!("{}: not pinned", s.why),
    };
    FileProblem::new(&s.path, why)
}

/// The text of a file found by the walk, if it can be read whole and parsed: bounded, as a
/// regular file inside its root, UTF-8 (the file is rewritten byte for byte, so bytes that
/// are not text cannot be carried through a lossy decoding) and, for YAML, parsed within
/// the audit's bounds.
fn read_candidate(c: &walk::Found<Kind>) -> Result<String, FileProblem> {
    let path = &c.path;
    let outcome = audit::Unread {
        not_read: "not pinned",
        too_large: "not read, nothing in it pinned",
    };
    let text = match audit::read_text(path, c.root.as_deref(), &outcome)? {
        audit::FileText::Utf8(text) => text,
        audit::FileText::NotUtf8 { line, .. } => {
            return Err(FileProblem::new(
                path,
                format!(
                    "not UTF-8 (from line {line}): not rewritten, since its bytes cannot be kept as they are; nothing in it pinned"
                ),
            ));
        }
    };
    if matches!(c.kind, Kind::Kubernetes | Kind::Compose | Kind::Workflow)
        && let Err(e) = audit::yaml::parse(&text)
    {
        return Err(FileProblem::new(
            path,
            format!("{e}: not parsed, nothing in it pinned"),
        ));
    }
    Ok(text)
}

/// Finds every image reference under `paths`, verifies each distinct one once, and plans
/// the rewrite. Nothing is written.
pub async fn plan(client: &Client, paths: &[PathBuf], trust: &Trust) -> Result<PinReport, Error> {
    let mut found: Vec<(PathBuf, String, Vec<audit::images::ImageSpan>)> = Vec::new();
    let mut report = PinReport {
        version: 1,
        references: Vec::new(),
        files: Vec::new(),
        written: false,
        errors: Vec::new(),
        partial: false,
    };
    let tree = walk::walk(paths, &Pinned);
    // Its warnings are entries no name says pin reads, and loops walked where they start:
    // leaving them out hides no reference.
    let mut errors: Vec<FileProblem> = tree.errors.into_iter().map(left_out).collect();
    let candidates = tree.files;
    let mut seen = std::collections::HashSet::new();
    for c in candidates {
        // A file reached under two names is read and rewritten once.
        if let Ok(real) = std::fs::canonicalize(&c.path)
            && !seen.insert(real)
        {
            continue;
        }
        let (path, kind) = (c.path.clone(), c.kind);
        let text = match read_candidate(&c) {
            Ok(text) => text,
            Err(problem) => {
                errors.push(problem);
                continue;
            }
        };
        let spans = audit::images::image_spans(&text, kind);
        for (line, column, reference, reason) in unpinnable(&text, kind, &spans) {
            report.references.push(PinEntry {
                path: path.display().to_string(),
                line,
                column,
                reference,
                pinned: None,
                digest: None,
                status: PinStatus::Unpinnable,
                reason,
                findings: Vec::new(),
            });
        }
        if !spans.is_empty() {
            found.push((path, text, spans));
        }
    }
    errors.sort_by(|a, b| a.path.cmp(&b.path));
    report.partial = !errors.is_empty();
    report.errors = errors;
    // Each distinct reference is resolved and verified once.
    let mut verdicts: BTreeMap<String, Result<Digest, PinError>> = BTreeMap::new();
    for (_, _, spans) in &found {
        for s in spans {
            if !verdicts.contains_key(&s.text) {
                let v = verify_reference(client, &s.text, trust).await;
                verdicts.insert(s.text.clone(), v);
            }
        }
    }
    for (path, text, spans) in found {
        let mut new = text.clone();
        let mut pinned = 0;
        // From the end, so that earlier offsets stay valid.
        for s in spans.iter().rev() {
            let verdict = &verdicts[&s.text];
            let already = s.text.contains('@');
            let (status, pinned_text, digest, reason) = match verdict {
                Ok(d) if already => (
                    PinStatus::Verified,
                    None,
                    Some(d.clone()),
                    "already pinned; its digest verifies".to_string(),
                ),
                Ok(d) => {
                    let p = format!("{}@{d}", s.text);
                    new.replace_range(s.start..s.end(), &p);
                    pinned += 1;
                    (
                        PinStatus::Pinned,
                        Some(p),
                        Some(d.clone()),
                        "verified".to_string(),
                    )
                }
                Err(e) => (e.status(), None, None, e.to_string()),
            };
            report.references.push(PinEntry {
                path: path.display().to_string(),
                line: s.line,
                column: s.column,
                reference: s.text.clone(),
                pinned: pinned_text,
                digest,
                status,
                reason,
                findings: match verdict {
                    Err(PinError::NotVerified(f)) => f.clone(),
                    _ => Vec::new(),
                },
            });
        }
        if pinned > 0 {
            report.files.push(PinnedFile {
                path,
                old: text,
                new,
                pinned,
                error: None,
            });
        }
    }
    report
        .references
        .sort_by(|a, b| (&a.path, a.line, a.column).cmp(&(&b.path, b.line, b.column)));
    Ok(report)
}

/// Writes the planned files, each only if it still holds what was read (an edit made
/// while the references were checked is kept, and the file is reported not written),
/// atomically, keeping mode, owner, symlinks and hard links (see
/// `crate::fsio::rewrite_unchanged`). Returns how many files were not written.
pub fn write(report: &mut PinReport) -> usize {
    let mut failed = 0;
    for f in &mut report.files {
        if let Err(e) = crate::fsio::rewrite_unchanged(&f.path, f.old.as_bytes(), f.new.as_bytes())
        {
            f.error = Some(e.to_string());
            failed += 1;
        }
    }
    report.written = true;
    failed
}

/// A unified diff of two texts with the same number of lines (pinning changes bytes
/// within lines only), with three lines of context.
pub fn unified_diff(path: &Path, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.split('\n').collect();
    let b: Vec<&str> = new.split('\n').collect();
    let changed: Vec<usize> = (0..a.len().min(b.len()))
        .filter(|&i| a[i] != b[i])
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    let name = path.display();
    let mut out = format!("--- a/{name}\n+++ b/{name}\n");
    let mut i = 0;
    while i < changed.len() {
        let start = changed[i].saturating_sub(3);
        let mut end = (changed[i] + 4).min(a.len());
        let mut j = i + 1;
        while j < changed.len() && changed[j] < end + 3 {
            end = (changed[j] + 4).min(a.len());
            j += 1;
        }
        // The last element after a trailing newline is empty: not a line.
        let end = if end == a.len() && a.last() == Some(&"") {
            end - 1
        } else {
            end
        };
        out.push_str(&format!(
            "@@ -{},{} +{},{} @@\n",
            start + 1,
            end - start,
            start + 1,
            end - start
        ));
        for k in start..end {
            if changed[i..j].contains(&k) {
                out.push_str(&format!("-{}\n+{}\n", a[k], b[k]));
            } else {
                out.push_str(&format!(" {}\n", a[k]));
            }
        }
        i = j;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ReferenceError;
    use crate::report::Rejection;

    #[test]
    fn pin_reads_deployments_compose_workflows_and_dockerfiles_only() {
        for (name, kind) in [
            ("k8s/app.yaml", Some(Kind::Kubernetes)),
            ("compose.yaml", Some(Kind::Compose)),
            (".github/workflows/ci.yml", Some(Kind::Workflow)),
            ("Containerfile", Some(Kind::Dockerfile)),
            ("action.yml", None),
            (".gitlab-ci.yml", None),
            ("release.sh", None),
            ("README.md", None),
        ] {
            assert_eq!(pin_kind(Path::new(name)), kind, "{name}");
        }
    }

    #[test]
    fn diffs_show_the_changed_lines_with_context() {
        let old = "a\nb\nc\nd\nimage: x:1\ne\nf\ng\nh\ni\nj\nk\nimage: y:2\nl\n";
        let new = old
            .replace("x:1", "x:1@sha256:1")
            .replace("y:2", "y:2@sha256:2");
        let d = unified_diff(Path::new("k.yaml"), old, &new);
        assert!(
            d.starts_with("--- a/k.yaml\n+++ b/k.yaml\n@@ -2,7 +2,7 @@\n"),
            "{d}"
        );
        assert!(d.contains("-image: x:1\n+image: x:1@sha256:1\n"));
        assert!(d.contains("@@ -10,5 +10,5 @@\n"), "{d}");
        assert_eq!(unified_diff(Path::new("k"), old, old), "");
    }

    #[test]
    fn a_reference_not_pinned_is_refused_or_unavailable_by_its_class() {
        let refused = [
            PinError::Failed(ReferenceFailure::Reference(ReferenceError::Empty)),
            PinError::Failed(ReferenceFailure::NotRegistry),
            PinError::AllowedUnsigned,
            PinError::NotVerified(vec![Finding::artifact(Rejection::NoTrustedKey)]),
        ];
        for e in &refused {
            assert_eq!(e.status(), PinStatus::Refused, "{e}");
        }
        assert_eq!(
            PinError::NotVerified(vec![
                Finding::artifact(Rejection::NoTrustedKey),
                Finding::artifact(Rejection::NoSignatureLayer)
            ])
            .to_string(),
            "not verified: not signed by any of the given keys (or the payload was altered); \
             no signature: the signature manifest has no simple-signing layer"
        );
        assert_eq!(
            PinError::Failed(ReferenceFailure::NotRegistry).class(),
            ErrorClass::Usage
        );
        assert_eq!(PinError::AllowedUnsigned.class(), ErrorClass::Denied);
    }
}
