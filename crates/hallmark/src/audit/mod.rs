//! Auditing pipelines and deployments: where the attack lives in CI files.
//!
//! Files are read with real parsers (YAML with positions, a shell tokenizer for `run:` and
//! `script:` bodies and `RUN` lines), then each rule looks at commands and keys. A finding
//! has a stable rule id, a severity, a place and a message that never contains a secret.
//! `# hallmark: ignore[rule-id] reason` on the line (or the line above) suppresses a finding,
//! which is counted, not forgotten.

pub mod images;
mod rules;
pub mod shell;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use rules::RULES;

/// How bad a finding is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Low,
    /// Fix it.
    Medium,
    /// Fix it soon.
    High,
    /// The attack itself, or a leaked secret.
    Critical,
}

impl Severity {
    /// Its name, as in `--severity` and the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// The severity named `s`.
    pub fn parse(s: &str) -> Option<Severity> {
        [
            Severity::Low,
            Severity::Medium,
            Severity::High,
            Severity::Critical,
        ]
        .into_iter()
        .find(|v| v.name() == s)
    }
}

/// What a rule is about.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rule {
    /// Stable identifier.
    pub id: &'static str,
    /// Its usual severity (some findings raise it).
    pub severity: Severity,
    /// One line.
    pub title: &'static str,
    /// One paragraph: why it matters and how to fix it.
    pub help: &'static str,
}

/// One finding.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Finding {
    /// The rule's id.
    pub rule: &'static str,
    /// How bad.
    pub severity: Severity,
    /// The file, as found under the path given.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What was found; never a secret's value.
    pub message: String,
    /// Stable across edits that move the line: rule, file and what was found.
    pub fingerprint: String,
    /// The reason given by a `# hallmark: ignore[…]` comment, when suppressed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed: Option<String>,
}

/// What one pipeline file pushes, pulls and logs in with: the article's "which registries,
/// who can write".
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Inventory {
    /// The file.
    pub path: String,
    /// Repositories (or references) it pushes to or signs in.
    pub pushes: Vec<String>,
    /// Repositories (or references) it pulls, runs or builds from.
    pub pulls: Vec<String>,
    /// Credentials it uses, by name, with the registry when known.
    pub credentials: Vec<String>,
}

/// A file that could not be read or parsed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileProblem {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub error: String,
}

/// The audit's result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AuditReport {
    /// Version of the document (`docs/schema/audit.schema.json`).
    pub version: u32,
    /// Files read.
    pub files: usize,
    /// Findings, suppressed ones included (they carry `suppressed`).
    pub findings: Vec<Finding>,
    /// How many findings were suppressed.
    pub suppressed: usize,
    /// Per pipeline file: what it pushes, pulls and logs in with.
    pub inventory: Vec<Inventory>,
    /// Files that could not be read or parsed.
    pub errors: Vec<FileProblem>,
}

/// What a file is, by name (and, for scripts, by its first line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `.github/workflows/*.yml`.
    Workflow,
    /// `action.yml`: a composite action.
    Action,
    /// `.gitlab-ci.yml`.
    GitLab,
    /// `Jenkinsfile`: its `sh` steps.
    Jenkins,
    /// `docker-compose.yml`, `compose.yaml`.
    Compose,
    /// Any other YAML: Kubernetes manifests, Helm output.
    Kubernetes,
    /// `Dockerfile`, `*.dockerfile`, `Containerfile`.
    Dockerfile,
    /// `*.sh` and files starting with a shell `#!`.
    Shell,
}

/// Most bytes read of one file.
pub const MAX_FILE_BYTES: u64 = 2 << 20;
/// Most files read under one path.
pub const MAX_FILES: usize = 100_000;

/// The kind of `path`, if hallmark reads it.
pub fn kind_of(path: &Path, first_line: &str) -> Option<Kind> {
    let name = path.file_name()?.to_str()?.to_ascii_lowercase();
    let text = path.to_string_lossy().replace('\\', "/");
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    Some(if yaml && text.contains(".github/workflows/") {
        Kind::Workflow
    } else if name == "action.yml" || name == "action.yaml" {
        Kind::Action
    } else if name == ".gitlab-ci.yml" || (yaml && text.contains(".gitlab/ci/")) {
        Kind::GitLab
    } else if name == "jenkinsfile" || name.ends_with(".jenkinsfile") {
        Kind::Jenkins
    } else if yaml && (name.starts_with("docker-compose") || name.starts_with("compose")) {
        Kind::Compose
    } else if yaml {
        Kind::Kubernetes
    } else if name == "dockerfile"
        || name.starts_with("dockerfile.")
        || name.ends_with(".dockerfile")
        || name == "containerfile"
    {
        Kind::Dockerfile
    } else if name.ends_with(".sh")
        || name.ends_with(".bash")
        || (first_line.starts_with("#!")
            && ["sh", "bash", "zsh", "dash", "ash", "ksh"].iter().any(|s| {
                first_line.ends_with(&format!("/{s}")) || first_line.ends_with(&format!(" {s}"))
            }))
    {
        Kind::Shell
    } else {
        return None;
    })
}

/// Every file under `paths` that hallmark reads, sorted, without descending into `.git`,
/// `node_modules` or `target`.
pub fn discover(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = paths.to_vec();
    while let Some(p) = stack.pop() {
        if out.len() >= MAX_FILES {
            break;
        }
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            let skip = p
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| [".git", "node_modules", "target"].contains(&n));
            if skip && !paths.contains(&p) {
                continue;
            }
            if let Ok(entries) = std::fs::read_dir(&p) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if meta.is_file() {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// A file's text and kind, when it is text of a kind hallmark reads (bounded, as a regular
/// file); `Ok(None)` for anything else.
pub fn load(path: &Path) -> Result<Option<(String, Kind)>, FileProblem> {
    let bytes = match crate::fsio::read_bounded(path, None, MAX_FILE_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => return Ok(None),
        Err(e) => {
            return Err(FileProblem {
                path: path.display().to_string(),
                error: e.to_string(),
            });
        }
    };
    let Ok(text) = String::from_utf8(bytes) else {
        return Ok(None);
    };
    let first = text.lines().next().unwrap_or_default();
    Ok(kind_of(path, first).map(|kind| (text, kind)))
}

/// `# hallmark: ignore[rule-a,rule-b] reason` comments of a file, by line.
fn suppressions(text: &str) -> BTreeMap<usize, (Vec<String>, String)> {
    let mut out = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let Some(at) = line.find("hallmark: ignore[") else {
            continue;
        };
        let rest = &line[at + "hallmark: ignore[".len()..];
        let Some((ids, reason)) = rest.split_once(']') else {
            continue;
        };
        let ids = ids.split(',').map(|s| s.trim().to_string()).collect();
        out.insert(i + 1, (ids, reason.trim().to_string()));
    }
    out
}

/// Audits every file under `paths`.
pub fn audit(paths: &[PathBuf]) -> AuditReport {
    let files = discover(paths);
    let mut report = AuditReport {
        version: 1,
        files: 0,
        findings: Vec::new(),
        suppressed: 0,
        inventory: Vec::new(),
        errors: Vec::new(),
    };
    for path in files {
        let (text, kind) = match load(&path) {
            Ok(Some(loaded)) => loaded,
            Ok(None) => continue,
            Err(problem) => {
                report.errors.push(problem);
                continue;
            }
        };
        report.files += 1;
        let name = path.display().to_string();
        let mut file = rules::FileAudit::new(&name, &text);
        if let Err(e) = file.run(kind) {
            report.errors.push(FileProblem {
                path: name.clone(),
                error: e,
            });
        }
        let ignores = suppressions(&text);
        for mut f in file.findings {
            let ignored = [f.line, f.line.saturating_sub(1)].iter().find_map(|l| {
                ignores
                    .get(l)
                    .filter(|(ids, reason)| !reason.is_empty() && ids.iter().any(|i| i == f.rule))
            });
            if let Some((_, reason)) = ignored {
                f.suppressed = Some(reason.clone());
                report.suppressed += 1;
            }
            report.findings.push(f);
        }
        if matches!(
            kind,
            Kind::Workflow | Kind::Action | Kind::GitLab | Kind::Jenkins | Kind::Shell
        ) && !file.inventory.is_empty()
        {
            report.inventory.push(file.inventory.finish(&name));
        }
    }
    report.findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, a.rule).cmp(&(&b.path, b.line, b.column, b.rule))
    });
    report
}
