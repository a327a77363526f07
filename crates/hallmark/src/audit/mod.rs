//! Auditing pipelines and deployments: where the attack lives in CI files.
//!
//! Files are read with real parsers (YAML with positions, a shell tokenizer for `run:` and
//! `script:` bodies and `RUN` lines), then each rule looks at commands and keys. A finding
//! has a stable rule id, a severity, a place and a message that never contains a secret.
//! `# hallmark: ignore[rule-id] reason` on the line (or the line above) suppresses a finding,
//! which is counted, not forgotten.

mod check;
pub mod images;
pub mod mapped;
pub mod model;
pub mod read;
mod rules;
mod secrets;
pub mod shell;
mod xfile;
pub mod yaml;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use crate::fsio::walk::{self, Why};

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
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// The severity named `s`.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Low, Self::Medium, Self::High, Self::Critical]
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
    /// Its documentation: a section of `docs/AUDIT-RULES.md`, by path in the repository.
    pub help_url: &'static str,
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

/// A file, or part of one, that was not audited, or was audited with a caveat.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FileProblem {
    /// The file.
    pub path: String,
    /// What was not audited, and why; never the file's content.
    pub error: String,
}

impl FileProblem {
    pub(crate) fn new(path: &Path, error: impl Into<String>) -> Self {
        Self {
            path: path.display().to_string(),
            error: error.into(),
        }
    }
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
    /// Files, or parts of files, not audited: what they hold is unknown, so the report is
    /// partial.
    pub errors: Vec<FileProblem>,
    /// Files audited with a caveat (bytes that are not UTF-8 replaced), and entries not
    /// followed that cannot hold a pipeline hallmark reads (a link to a licence outside the
    /// tree, a link back to a directory being audited).
    pub warnings: Vec<FileProblem>,
    /// True when something was not audited (`errors`), or, under `strict`, when there is a
    /// warning: the absence of findings then says nothing about what was left out.
    pub partial: bool,
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
    /// `.circleci/*.yml`: `config.yml` and the configurations it continues with.
    CircleCi,
    /// `Jenkinsfile`, `Jenkinsfile.*`, `*.jenkinsfile`, and Groovy of shared libraries
    /// (`vars/*.groovy`, `jenkins/**/*.groovy`), or given by name: its `sh` steps.
    Jenkins,
    /// `docker-compose.yml`, `compose.yaml`.
    Compose,
    /// Any other YAML: Kubernetes manifests, Helm output.
    Kubernetes,
    /// `Dockerfile`, `*.dockerfile`, `Containerfile`.
    Dockerfile,
    /// `*.sh` and files starting with a shell `#!`.
    Shell,
    /// `Makefile`, `makefile`, `GNUmakefile`, `*.mk`, and the files included as
    /// `Makefile.<part>` (`Makefile.common`, `Makefile.inc`).
    Make,
    /// `justfile`, `Justfile`, `.justfile`, `*.just`.
    Just,
    /// `Taskfile.yml` (go-task), and `Taskfile*.yml` under `taskfiles/`.
    Taskfile,
    /// `.travis.yml`.
    Travis,
    /// `azure-pipelines.yml`, and YAML under `.azure-pipelines/` or `.azure/`.
    Azure,
    /// `bitbucket-pipelines.yml`.
    Bitbucket,
    /// YAML under `.buildkite/`.
    Buildkite,
    /// `.drone.yml`, `.woodpecker.yml`, YAML under `.woodpecker/`.
    Drone,
    /// `cloudbuild.yaml` (Google Cloud Build).
    CloudBuild,
}

/// Most bytes read of one file.
pub(crate) const MAX_FILE_BYTES: u64 = 2 << 20;

/// The kind of `path`, if hallmark reads it.
pub(crate) fn kind_of(path: &Path, first_line: &str) -> Option<Kind> {
    kind_by_name(path).or_else(|| shell_shebang(first_line).then_some(Kind::Shell))
}

/// The kind a file's name alone says it is.
fn kind_by_name(path: &Path) -> Option<Kind> {
    // A name that is not UTF-8 is still read: its kind is in the ASCII around the bytes.
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    let text = path.to_string_lossy().replace('\\', "/");
    let yaml = name.ends_with(".yml") || name.ends_with(".yaml");
    let under =
        |dir: &str| text.starts_with(&format!("{dir}/")) || text.contains(&format!("/{dir}/"));
    Some(if yaml && text.contains(".github/workflows/") {
        Kind::Workflow
    } else if name == "action.yml" || name == "action.yaml" {
        Kind::Action
    } else if name == ".gitlab-ci.yml"
        || name.ends_with(".gitlab-ci.yml")
        || name.ends_with(".gitlab-ci.yaml")
        || (yaml && under(".gitlab"))
    {
        Kind::GitLab
    } else if name == ".travis.yml" || name == ".travis.yaml" {
        Kind::Travis
    } else if yaml
        && (name.starts_with("azure-pipelines") || under(".azure-pipelines") || under(".azure"))
    {
        Kind::Azure
    } else if name == "bitbucket-pipelines.yml" || name == "bitbucket-pipelines.yaml" {
        Kind::Bitbucket
    } else if yaml && under(".buildkite") {
        Kind::Buildkite
    } else if name == ".drone.yml"
        || name == ".drone.yaml"
        || name == ".woodpecker.yml"
        || name == ".woodpecker.yaml"
        || (yaml && under(".woodpecker"))
    {
        Kind::Drone
    } else if yaml && name.starts_with("cloudbuild") {
        Kind::CloudBuild
    } else if yaml && name.starts_with("taskfile") {
        Kind::Taskfile
    } else if yaml && in_dir(&text, ".circleci") {
        Kind::CircleCi
    } else if name.starts_with("jenkinsfile")
        || name.ends_with(".jenkinsfile")
        || (name.ends_with(".groovy") && shared_library(&text))
    {
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
    } else if name.ends_with(".sh") || name.ends_with(".bash") {
        Kind::Shell
    } else if name == "makefile"
        || name == "gnumakefile"
        || name.ends_with(".mk")
        || (name.starts_with("makefile.") && !name.ends_with(".md") && !name.ends_with(".txt"))
    {
        Kind::Make
    } else if name == "justfile" || name == ".justfile" || name.ends_with(".just") {
        Kind::Just
    } else {
        return None;
    })
}

/// True when `path` (with `/` separators) is in a Jenkins shared library's `vars/` or
/// in a `jenkins/` directory: Groovy there holds pipeline steps.
fn shared_library(path: &str) -> bool {
    let mut dirs = path.rsplit('/').skip(1);
    dirs.any(|d| d.eq_ignore_ascii_case("vars") || d.eq_ignore_ascii_case("jenkins"))
}

/// True when `path` (with `/` separators) is directly in a directory called `dir`.
fn in_dir(path: &str, dir: &str) -> bool {
    path.rsplit('/').nth(1) == Some(dir)
}

impl Kind {
    /// A pipeline: a file that runs steps, whose pushes, pulls and credentials are its
    /// inventory (a deployment only runs what it names).
    fn is_pipeline(self) -> bool {
        !matches!(self, Self::Compose | Self::Kubernetes | Self::Dockerfile)
    }
}

/// The formats the audit reads, for a file given that is none of them.
const FORMATS: &str = "GitHub workflows (.github/workflows/*.yml) and actions (action.yml), \
     GitLab CI (.gitlab-ci.yml, *.gitlab-ci.yml, .gitlab/**.yml), CircleCI (.circleci/*.yml), \
     .travis.yml, Azure Pipelines (azure-pipelines.yml, .azure-pipelines/*.yml, .azure/*.yml), \
     bitbucket-pipelines.yml, Buildkite (.buildkite/*.yml), Drone and Woodpecker (.drone.yml, \
     .woodpecker.yml, .woodpecker/*.yml), Google Cloud Build (cloudbuild.yaml), Tekton tasks \
     and pipelines (any YAML), Jenkinsfile and Groovy, Makefiles (Makefile, Makefile.*, GNUmakefile, *.mk), \
     justfiles (justfile, *.just), Taskfiles (Taskfile.yml), Dockerfile, compose and \
     Kubernetes YAML, and shell scripts (*.sh, or a #! line naming a shell)";

/// A `#!` line that runs a POSIX-like shell: `#!/bin/sh`, `#!/bin/bash -eu`,
/// `#!/usr/bin/env -S bash -e`.
fn shell_shebang(first_line: &str) -> bool {
    let Some(rest) = first_line.strip_prefix("#!") else {
        return false;
    };
    let mut words = rest.split_whitespace();
    let mut program = words.next().unwrap_or_default();
    if program.rsplit('/').next() == Some("env") {
        program = words.find(|w| !w.starts_with('-')).unwrap_or_default();
    }
    let name = program.rsplit('/').next().unwrap_or_default();
    ["sh", "bash", "zsh", "dash", "ash", "ksh"].contains(&name)
}

/// `# hallmark: ignore[rule-a,rule-b] reason` comments of a file, by line. A marker counts
/// only in a comment of the file's language (`#` for YAML, shell and Dockerfiles, `//`
/// for Groovy), never inside a quoted string or a heredoc's body: text a pull request can
/// put in a string must not silence a finding.
fn suppressions(text: &str, kind: Kind) -> BTreeMap<usize, (Vec<String>, String)> {
    const MARKER: &str = "hallmark: ignore[";
    let slashes = kind == Kind::Jenkins;
    let mut out = BTreeMap::new();
    // Delimiters of the heredocs open, first to close first.
    let mut heredocs: std::collections::VecDeque<String> = std::collections::VecDeque::new();
    for (i, line) in text.lines().enumerate() {
        if let Some(delimiter) = heredocs.front() {
            if line.trim() == delimiter {
                heredocs.pop_front();
            }
            continue;
        }
        let code = comment_start(line, slashes).map_or(line, |at| &line[..at]);
        if !slashes {
            heredocs.extend(heredoc_delimiters(code));
        }
        let Some(comment) = comment_start(line, slashes).map(|at| &line[at..]) else {
            continue;
        };
        let Some(at) = comment.find(MARKER) else {
            continue;
        };
        let rest = &comment[at + MARKER.len()..];
        let Some((ids, reason)) = rest.split_once(']') else {
            continue;
        };
        let ids = ids.split(',').map(|s| s.trim().to_string()).collect();
        out.insert(i + 1, (ids, reason.trim().to_string()));
    }
    out
}

/// Where a comment starts on `line`, outside quotes: `#` at the start or after a blank,
/// or `//` when `slashes`.
fn comment_start(line: &str, slashes: bool) -> Option<usize> {
    let b = line.as_bytes();
    let mut quote: Option<u8> = None;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match quote {
            Some(q) => {
                if c == b'\\' && q == b'"' {
                    i += 1;
                } else if c == q {
                    quote = None;
                }
            }
            None => match c {
                b'\'' | b'"' => quote = Some(c),
                b'\\' => i += 1,
                b'/' if slashes && b.get(i + 1) == Some(&b'/') => return Some(i),
                b'#' if !slashes && (i == 0 || b[i - 1].is_ascii_whitespace()) => {
                    return Some(i);
                }
                _ => {}
            },
        }
        i += 1;
    }
    None
}

/// The delimiters of the heredocs a shell or Dockerfile line opens (`<<EOF`, `<<-'EOF'`),
/// not here-strings (`<<<`).
fn heredoc_delimiters(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut s = code;
    while let Some(at) = s.find("<<") {
        s = &s[at + 2..];
        if let Some(rest) = s.strip_prefix('<') {
            s = rest;
            continue;
        }
        let t = s.trim_start_matches('-').trim_start();
        let t = t.trim_start_matches(['"', '\'']);
        let name: String = t
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && out.len() < 16 {
            out.push(name);
        }
    }
    out
}

/// Bytes read of a file whose name does not say its kind, to look for a shell `#!` line.
const FIRST_LINE_BYTES: u64 = 512;

/// How much of a Groovy file outside a shared library's folders is read to tell pipeline
/// code (a `groovy/` folder of pipeline steps) from an application's sources.
const GROOVY_HEAD_BYTES: u64 = 16 * 1024;

/// True when Groovy text runs pipeline steps: a statement starting with `sh`, `bat` or
/// `powershell` given a string, or a `pipeline {` / `node {` block.
fn pipeline_steps(text: &str) -> bool {
    text.lines().any(|l| {
        let l = l.trim_start();
        ["sh", "bat", "powershell"].iter().any(|step| {
            l.strip_prefix(step).is_some_and(|rest| {
                let rest = rest.trim_start_matches([' ', '\t']);
                rest.starts_with(['\'', '"', '(']) || rest.starts_with("script:")
            })
        }) || l.starts_with("pipeline {")
            || l.starts_with("node {")
            || l.starts_with("node(")
    })
}

/// The files the audit reads: every regular file, of the kind its name says, or, when the
/// name says none, of the kind its `#!` line says once read.
struct Audited;

impl walk::Select for Audited {
    type Kind = Option<Kind>;

    fn file(&self, path: &Path) -> Option<Option<Kind>> {
        Some(kind_by_name(path))
    }

    fn may_hold(&self, path: &Path) -> bool {
        kind_by_name(path).is_some()
    }
}

/// An entry the walk did not follow, in the audit's words.
fn left_out(s: walk::Skipped) -> FileProblem {
    let why = match &s.why {
        Why::Outside => {
            "a symlink that leads outside the audited tree: not followed, not audited".into()
        }
        Why::Loop(_) => format!("{}: not followed again", s.why),
        Why::Stopped => format!("{}: the rest is not audited", s.why),
        _ => format!("{}: not audited", s.why),
    };
    FileProblem::new(&s.path, why)
}

/// What reading one file gave.
enum Loaded {
    /// Text to audit, of this kind, with a caveat when the bytes were not all UTF-8.
    Text(String, Kind, Option<String>),
    /// Not a file hallmark reads.
    Other,
}

/// Reads a file found by the walk, bounded, as a regular file inside its root.
fn read_found(found: &walk::Found<Option<Kind>>, given: bool) -> Result<Loaded, FileProblem> {
    let path = &found.path;
    let not_read = |e: crate::fsio::FileError| {
        let why = match e {
            crate::fsio::FileError::TooLarge { limit, .. } => {
                format!("larger than the {limit}-byte limit: not audited")
            }
            e => format!("cannot be read: {e}: not audited"),
        };
        FileProblem::new(path, why)
    };
    let groovy = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("groovy"));
    let kind = match found.kind {
        Some(kind) => kind,
        // Groovy named on the command line is pipeline code the user wants read.
        None if given && groovy => Kind::Jenkins,
        None => {
            // Only a `#!` line can make this a file hallmark reads.
            if crate::fsio::check_regular(path, found.root.as_deref())
                .map_err(not_read)?
                .is_none()
            {
                return Err(FileProblem::new(
                    path,
                    "disappeared while being read: not audited",
                ));
            }
            let mut head = Vec::new();
            let limit = if groovy {
                GROOVY_HEAD_BYTES
            } else {
                FIRST_LINE_BYTES
            };
            std::fs::File::open(path)
                .and_then(|f| f.take(limit).read_to_end(&mut head))
                .map_err(|e| FileProblem::new(path, format!("cannot be read: {e}: not audited")))?;
            let first = String::from_utf8_lossy(&head);
            if groovy && pipeline_steps(&first) {
                Kind::Jenkins
            } else if !shell_shebang(first.lines().next().unwrap_or_default()) {
                return Ok(Loaded::Other);
            } else {
                Kind::Shell
            }
        }
    };
    let outcome = Unread {
        not_read: "not audited",
        too_large: "not audited",
    };
    Ok(match read_text(path, found.root.as_deref(), &outcome)? {
        FileText::Utf8(text) => Loaded::Text(text, kind, None),
        FileText::NotUtf8 { bytes, line } => Loaded::Text(
            String::from_utf8_lossy(&bytes).into_owned(),
            kind,
            Some(format!(
                "not UTF-8 (from line {line}): audited with those bytes replaced by U+FFFD"
            )),
        ),
    })
}

/// What leaving a file unread costs, in the words of the command that reads it: after a
/// read failure, and after a file too large.
pub(crate) struct Unread {
    pub(crate) not_read: &'static str,
    pub(crate) too_large: &'static str,
}

/// A pipeline or deployment file as read.
pub(crate) enum FileText {
    /// Its text.
    Utf8(String),
    /// Its bytes, which stop being UTF-8 on `line`.
    NotUtf8 { bytes: Vec<u8>, line: usize },
}

/// Reads a file the walk found (inside `root`, when given), at most [`MAX_FILE_BYTES`]:
/// the one reader of pipeline and deployment files, for audit and pin.
pub(crate) fn read_text(
    path: &Path,
    root: Option<&Path>,
    outcome: &Unread,
) -> Result<FileText, FileProblem> {
    let bytes = match crate::fsio::read_bounded(path, root, MAX_FILE_BYTES) {
        Ok(Some(bytes)) => bytes,
        Ok(None) => {
            return Err(FileProblem::new(
                path,
                format!("disappeared while being read: {}", outcome.not_read),
            ));
        }
        Err(crate::fsio::FileError::TooLarge { limit, .. }) => {
            return Err(FileProblem::new(
                path,
                format!("larger than the {limit}-byte limit: {}", outcome.too_large),
            ));
        }
        Err(e) => {
            return Err(FileProblem::new(
                path,
                format!("cannot be read: {e}: {}", outcome.not_read),
            ));
        }
    };
    Ok(match String::from_utf8(bytes) {
        Ok(text) => FileText::Utf8(text),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let bytes = e.into_bytes();
            let line = bytes[..at].iter().filter(|b| **b == b'\n').count() + 1;
            FileText::NotUtf8 { bytes, line }
        }
    })
}

/// Audits `text` as a file of `kind` called `name`, without reading anything: its
/// findings (suppressions not applied), and the parts of it that were not audited.
pub fn audit_text(name: &str, text: &str, kind: Kind) -> (Vec<Finding>, Vec<String>) {
    let file = check_text(name, text, kind, &Context::default());
    let mut not_audited: Vec<String> = file.error.into_iter().collect();
    not_audited.extend(file.checked.not_audited);
    (file.checked.findings, not_audited)
}

/// Audits files given as `(path, text)` as one tree, reading nothing from disk: values
/// passed from one to another are followed as [`audit`] follows them, and the GitLab files
/// among them are merged into one configuration (their `include:`s are not read). Its
/// findings, suppressions not applied; for tests and fuzzing.
pub fn audit_texts(files: &[(&str, &str)]) -> Vec<Finding> {
    let found: Vec<walk::Found<Option<Kind>>> = files
        .iter()
        .map(|(path, text)| walk::Found {
            path: PathBuf::from(path),
            kind: kind_of(Path::new(path), text.lines().next().unwrap_or_default()),
            root: None,
        })
        .collect();
    let all: Vec<&walk::Found<Option<Kind>>> = found.iter().collect();
    let texts: Vec<&str> = files.iter().map(|(_, t)| *t).collect();
    let gitlab: Vec<usize> = (0..found.len())
        .filter(|&i| found[i].kind == Some(Kind::GitLab))
        .collect();
    let given = xfile::prepass(&all, Some(&texts), &[gitlab]);
    let mut out = Vec::new();
    for (i, (path, text)) in files.iter().enumerate() {
        let Some(kind) = found[i].kind else { continue };
        let cx = Context {
            env: &[],
            merged: given.merged.get(&i).map_or(&[], Vec::as_slice),
            calls: given.calls.get(&i).map_or(&[], Vec::as_slice),
            downloaders: given.downloaders.get(&i).map_or(&[], Vec::as_slice),
        };
        out.extend(check_text(path, text, kind, &cx).checked.findings);
    }
    out
}

/// One file read and checked.
struct FileChecked {
    /// Why the file could not be read, when it could not.
    error: Option<String>,
    checked: check::Checked,
}

/// What other files tell the audit of one file.
#[derive(Default, Clone, Copy)]
struct Context<'a> {
    /// The variables of the GitLab file that includes it.
    env: &'a [model::EnvVar],
    /// The GitLab files merged with it by `include:`.
    merged: &'a [std::sync::Arc<read::gitlab::Merged>],
    /// The values the files calling it give its inputs, one set per call.
    calls: &'a [model::Call],
    /// The download wrappers of its repository.
    downloaders: &'a [(String, String)],
}

/// Reads `text` as a file of `kind` (seeing what `cx` says of the files around it) and
/// runs every rule over it: once as it is, then once per set of values its callers give,
/// a finding made only with a caller's values naming that caller.
fn check_text(name: &str, text: &str, kind: Kind, cx: &Context<'_>) -> FileChecked {
    let (model, error) = match read::read_merged(kind, text, cx.env, cx.merged) {
        Ok(mut m) => {
            m.downloaders = cx.downloaders.to_vec();
            (m, None)
        }
        Err(e) => (model::Model::default(), Some(e.to_string())),
    };
    let mut checked = check::run(name, &model, rules::CHECKS);
    if error.is_none() && !cx.calls.is_empty() {
        let mut seen: std::collections::HashSet<(&'static str, usize, usize)> = checked
            .findings
            .iter()
            .map(|f| (f.rule, f.line, f.column))
            .collect();
        for call in cx.calls {
            let with = check::run(name, &model.called(call), rules::CHECKS);
            for mut f in with.findings {
                if seen.insert((f.rule, f.line, f.column)) {
                    f.message = format!("{} (with the value given at {})", f.message, call.from);
                    checked.findings.push(f);
                }
            }
        }
    }
    FileChecked { error, checked }
}

/// GitLab files pulled in by `include: local:`, read as GitLab CI with the variables of
/// the file including them.
#[derive(Default)]
struct Included {
    /// Files of the walk, by index, with their context.
    found: std::collections::HashMap<usize, Vec<model::EnvVar>>,
    /// Files outside the paths given (but inside the root), with root and context.
    extra: Vec<(PathBuf, PathBuf, Vec<model::EnvVar>)>,
    /// The files each closure of includes merges into one configuration: indices of the
    /// walk, then of `extra` after them.
    groups: Vec<Vec<usize>>,
}

/// Deepest chain of includes followed, and most files included: GitLab's own limits are
/// of this order (150 includes).
const MAX_INCLUDE_DEPTH: usize = 10;
const MAX_INCLUDES: usize = 150;

/// Follows the `include:` of every GitLab file found, from the root of the tree given (or
/// the including file's directory), never outside it nor twice. Includes that cannot be
/// read are errors; those of other projects, remote URLs and templates are warnings.
fn gitlab_includes(files: &[walk::Found<Option<Kind>>], report: &mut AuditReport) -> Included {
    use read::gitlab::Include;
    let mut out = Included::default();
    let starts: Vec<usize> = (0..files.len())
        .filter(|&i| files[i].kind == Some(Kind::GitLab))
        .collect();
    if starts.is_empty() {
        return out;
    }
    let outcome = Unread {
        not_read: "not audited",
        too_large: "not audited",
    };
    let text_of = |path: &Path, root: Option<&Path>| match read_text(path, root, &outcome) {
        Ok(FileText::Utf8(t)) => Ok(t),
        Ok(FileText::NotUtf8 { bytes, .. }) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        Err(p) => Err(p.error),
    };
    let mut by_real: Option<std::collections::HashMap<PathBuf, usize>> = None;
    // GitLab files by name follow their own includes: one included again is given the
    // includer's variables, not read a second time.
    let named: std::collections::HashSet<PathBuf> = starts
        .iter()
        .filter_map(|&i| std::fs::canonicalize(&files[i].path).ok())
        .collect();
    let mut seen: std::collections::HashSet<PathBuf> = std::collections::HashSet::new();
    for start in starts {
        let mut group = vec![start];
        let found = &files[start];
        let base = match &found.root {
            Some(root) => root.clone(),
            None => found
                .path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf),
        };
        let Ok(text) = text_of(&found.path, found.root.as_deref()) else {
            continue;
        };
        // (including file's path, its text, its context, depth)
        let mut pending = vec![(found.path.clone(), text, Vec::new(), 0usize)];
        while let Some((from, text, context, depth)) = pending.pop() {
            let Some((includes, env)) = read::gitlab_includes(&text, &context) else {
                continue;
            };
            for inc in includes {
                let (path, line) = match inc {
                    Include::Elsewhere { what, line } => {
                        report.warnings.push(FileProblem::new(
                            &from,
                            format!("line {line}: include of {what}: not audited"),
                        ));
                        continue;
                    }
                    Include::Local { path, line } => (path, line),
                };
                let problem = |why: &str| {
                    FileProblem::new(&from, format!("line {line}: include {path}: {why}"))
                };
                let rel = Path::new(path.trim().trim_start_matches('/'));
                if path.contains('*') {
                    report
                        .warnings
                        .push(problem("a pattern, not followed: not audited"));
                    continue;
                }
                if rel.components().any(|c| {
                    !matches!(
                        c,
                        std::path::Component::Normal(_) | std::path::Component::CurDir
                    )
                }) {
                    report.errors.push(problem(
                        "leads outside the audited tree: not followed, not audited",
                    ));
                    continue;
                }
                let full = base.join(rel);
                if depth >= MAX_INCLUDE_DEPTH || seen.len() >= MAX_INCLUDES {
                    report.errors.push(problem(
                        "past the limit of nested or numerous includes: not audited",
                    ));
                    continue;
                }
                let Ok(real) = std::fs::canonicalize(&full) else {
                    report
                        .errors
                        .push(problem("no such file in the audited tree: not audited"));
                    continue;
                };
                if named.contains(&real) || !seen.insert(real.clone()) {
                    // Included before (or a loop): read once.
                    if named.contains(&real)
                        && let Some(&i) = by_real
                            .get_or_insert_with(|| canonical_index(files))
                            .get(&real)
                    {
                        out.found.entry(i).or_insert_with(|| env.clone());
                        group.push(i);
                    }
                    continue;
                }
                let text = match text_of(&full, Some(&base)) {
                    Ok(t) => t,
                    Err(why) => {
                        report.errors.push(problem(&why));
                        continue;
                    }
                };
                let index = by_real
                    .get_or_insert_with(|| canonical_index(files))
                    .get(&real)
                    .copied();
                match index {
                    Some(i) => {
                        out.found.insert(i, env.clone());
                        group.push(i);
                    }
                    None => {
                        group.push(files.len() + out.extra.len());
                        out.extra.push((full.clone(), base.clone(), env.clone()));
                    }
                }
                pending.push((full, text, env.clone(), depth + 1));
            }
        }
        group.dedup();
        out.groups.push(group);
    }
    out
}

/// The files of the walk by their canonical path.
fn canonical_index(
    files: &[walk::Found<Option<Kind>>],
) -> std::collections::HashMap<PathBuf, usize> {
    files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((std::fs::canonicalize(&f.path).ok()?, i)))
        .collect()
}

/// What auditing one file gave, to be added to the report.
enum Outcome {
    /// Not audited, and why.
    Problem(FileProblem),
    /// Not a file audit reads, found in a directory.
    Skipped,
    /// Audited.
    Audited {
        warning: Option<FileProblem>,
        errors: Vec<FileProblem>,
        findings: Vec<Finding>,
        suppressed: usize,
        inventory: Option<Inventory>,
    },
}

/// Reads and audits one file the walk found (seeing what `context` says of the files
/// around it; GitLab CI whatever its name when `included`).
fn audit_found(
    found: &walk::Found<Option<Kind>>,
    paths: &[PathBuf],
    context: &Context<'_>,
    included: bool,
) -> Outcome {
    let loaded = match read_found(found, paths.contains(&found.path)) {
        // An included file is GitLab CI whatever its name says.
        Ok(Loaded::Text(text, _, caveat)) if included => {
            Ok(Loaded::Text(text, Kind::GitLab, caveat))
        }
        other => other,
    };
    let (text, kind, warning) = match loaded {
        Ok(Loaded::Text(text, kind, caveat)) => {
            let warning = caveat.map(|c| FileProblem::new(&found.path, c));
            (text, kind, warning)
        }
        Ok(Loaded::Other) => {
            // Named on the command line: the user expects it read, so leaving it out
            // must show. Found in a directory, it is just another file.
            return if paths.contains(&found.path) {
                Outcome::Problem(FileProblem::new(
                    &found.path,
                    format!("not a format audit reads: not audited (it reads {FORMATS})"),
                ))
            } else {
                Outcome::Skipped
            };
        }
        Err(problem) => return Outcome::Problem(problem),
    };
    let name = found.path.display().to_string();
    let FileChecked {
        error,
        checked: file,
    } = check_text(&name, &text, kind, context);
    let mut errors = Vec::new();
    if let Some(e) = error {
        errors.push(FileProblem {
            path: name.clone(),
            error: format!("{e}: not audited"),
        });
    }
    for part in &file.not_audited {
        errors.push(FileProblem {
            path: name.clone(),
            error: format!("{part} was not audited"),
        });
    }
    let ignores = suppressions(&text, kind);
    let mut suppressed = 0;
    let mut findings = Vec::with_capacity(file.findings.len());
    for mut f in file.findings {
        let ignored = [f.line, f.line.saturating_sub(1)].iter().find_map(|l| {
            ignores
                .get(l)
                .filter(|(ids, reason)| !reason.is_empty() && ids.iter().any(|i| i == f.rule))
        });
        if let Some((_, reason)) = ignored {
            f.suppressed = Some(reason.clone());
            suppressed += 1;
        }
        findings.push(f);
    }
    let inventory =
        (kind.is_pipeline() && !file.inventory.is_empty()).then(|| file.inventory.finish(&name));
    Outcome::Audited {
        warning,
        errors,
        findings,
        suppressed,
        inventory,
    }
}

/// Audits every file under `paths`. Whatever is not audited, whole or in part, is in the
/// report's `errors` and makes it `partial`; with `strict`, so do its `warnings`.
pub fn audit(paths: &[PathBuf], strict: bool) -> AuditReport {
    let tree = walk::walk(paths, &Audited);
    let mut report = AuditReport {
        version: 1,
        files: 0,
        findings: Vec::new(),
        suppressed: 0,
        inventory: Vec::new(),
        errors: tree.errors.into_iter().map(left_out).collect(),
        warnings: tree.warnings.into_iter().map(left_out).collect(),
        partial: false,
    };
    let included = gitlab_includes(&tree.files, &mut report);
    let extra: Vec<walk::Found<Option<Kind>>> = included
        .extra
        .iter()
        .map(|(path, root, _)| walk::Found {
            path: path.clone(),
            kind: Some(Kind::GitLab),
            root: Some(root.clone()),
        })
        .collect();
    let all: Vec<&walk::Found<Option<Kind>>> = tree.files.iter().chain(&extra).collect();
    // What files give each other (values passed to the files they call, templates of
    // the files merged by includes) is read once, before any file is audited.
    let given = xfile::prepass(&all, None, &included.groups);
    // With what files give each other read, files are audited independently, so they are
    // shared among the cores; the outcomes are put back in the walk's order, so the report
    // is the same however they were shared.
    let audit_one = |index: usize| {
        let env: &[model::EnvVar] = match index.checked_sub(tree.files.len()) {
            Some(e) => &included.extra[e].2,
            None => included.found.get(&index).map_or(&[], Vec::as_slice),
        };
        let context = Context {
            env,
            merged: given.merged.get(&index).map_or(&[], Vec::as_slice),
            calls: given.calls.get(&index).map_or(&[], Vec::as_slice),
            downloaders: given.downloaders.get(&index).map_or(&[], Vec::as_slice),
        };
        audit_found(
            all[index],
            paths,
            &context,
            included.found.contains_key(&index),
        )
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8)
        .min(all.len().div_ceil(64).max(1));
    let outcomes: Vec<Outcome> = if workers <= 1 {
        (0..all.len()).map(audit_one).collect()
    } else {
        let mut parts: Vec<Vec<(usize, Outcome)>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..workers)
                .map(|w| {
                    let audit_one = &audit_one;
                    let n = all.len();
                    scope.spawn(move || {
                        (w..n)
                            .step_by(workers)
                            .map(|i| (i, audit_one(i)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let mut flat: Vec<(usize, Outcome)> = parts.drain(..).flatten().collect();
        flat.sort_by_key(|(i, _)| *i);
        flat.into_iter().map(|(_, o)| o).collect()
    };
    for outcome in outcomes {
        match outcome {
            Outcome::Problem(problem) => report.errors.push(problem),
            Outcome::Skipped => {}
            Outcome::Audited {
                warning,
                errors,
                findings,
                suppressed,
                inventory,
            } => {
                report.files += 1;
                report.warnings.extend(warning);
                report.errors.extend(errors);
                report.findings.extend(findings);
                report.suppressed += suppressed;
                report.inventory.extend(inventory);
            }
        }
    }
    report.findings.sort_by(|a, b| {
        (&a.path, a.line, a.column, a.rule).cmp(&(&b.path, b.line, b.column, b.rule))
    });
    // By file, as the findings are; the parts of one file stay in the order met.
    report.errors.sort_by(|a, b| a.path.cmp(&b.path));
    report.warnings.sort_by(|a, b| a.path.cmp(&b.path));
    report.partial = !report.errors.is_empty() || (strict && !report.warnings.is_empty());
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_scripts_are_known_by_their_interpreter() {
        for line in [
            "#!/bin/sh",
            "#!/bin/bash -eu",
            "#! /usr/bin/env bash",
            "#!/usr/bin/env -S bash -e",
            "#!/bin/dash\r",
        ] {
            assert!(shell_shebang(line), "{line}");
        }
        for line in ["#!/usr/bin/env python3", "#!/bin/bashful", "# bash", ""] {
            assert!(!shell_shebang(line), "{line}");
        }
        assert_eq!(
            kind_of(Path::new("ci/release"), "#!/bin/bash -e"),
            Some(Kind::Shell)
        );
    }

    #[test]
    fn jenkins_pipelines_are_known_by_their_names_and_places() {
        for path in [
            "Jenkinsfile",
            "ci/Jenkinsfile.release",
            "release.jenkinsfile",
            "vars/signImage.groovy",
            "lib/jenkins/stages/sign.groovy",
        ] {
            assert_eq!(kind_of(Path::new(path), ""), Some(Kind::Jenkins), "{path}");
        }
        // Elsewhere, Groovy is pipeline code when it runs steps.
        assert!(pipeline_steps("def f() {\n    sh 'curl -o x https://x'\n}"));
        assert!(pipeline_steps("pipeline {\n  agent any\n}"));
        assert!(pipeline_steps("  sh(script: 'make', returnStdout: true)"));
        assert!(!pipeline_steps(
            "class App {\n  def shout = 'x'\n  def show(){}\n}"
        ));
        for path in ["src/main/groovy/App.groovy", "build.gradle"] {
            assert_eq!(kind_of(Path::new(path), ""), None, "{path}");
        }
    }

    #[test]
    fn a_suppression_counts_only_as_a_comment() {
        let text = "\
steps:
  - run: cosign sign a:1 # hallmark: ignore[sign-by-tag] pinned elsewhere
  - run: echo \"# hallmark: ignore[sign-by-tag] in a string\"
  - run: echo '# hallmark: ignore[sign-by-tag] single'
  - run: |
      cat > notes <<'EOF'
      # hallmark: ignore[sign-by-tag] heredoc body
      EOF
      # hallmark: ignore[unchecked-download] after the heredoc
";
        let got: Vec<usize> = suppressions(text, Kind::Workflow).into_keys().collect();
        assert_eq!(got, [2, 9]);
        let groovy = "\
sh 'cosign sign a:1' // hallmark: ignore[sign-by-tag] ok
sh 'echo # hallmark: ignore[sign-by-tag] in the string'
sh \"echo // hallmark: ignore[sign-by-tag] in a gstring\"
";
        let got: Vec<usize> = suppressions(groovy, Kind::Jenkins).into_keys().collect();
        assert_eq!(got, [1]);
        assert_eq!(comment_start("a#b # c", false), Some(4));
        assert_eq!(comment_start("sh 'curl http://x' // y", true), Some(19));
    }

    #[test]
    fn makefiles_are_known_by_their_names() {
        for path in [
            "Makefile",
            "GNUmakefile",
            "mk/release.mk",
            "Makefile.common",
            "Makefile.inc",
        ] {
            assert_eq!(kind_of(Path::new(path), ""), Some(Kind::Make), "{path}");
        }
        for path in ["Makefile.md", "docs/makefile.txt", "makefiles/README"] {
            assert_ne!(kind_of(Path::new(path), ""), Some(Kind::Make), "{path}");
        }
    }

    #[test]
    fn every_yaml_file_of_circleci_is_circleci() {
        for path in [".circleci/config.yml", "a/.circleci/continue_config.yml"] {
            assert_eq!(kind_of(Path::new(path), ""), Some(Kind::CircleCi), "{path}");
        }
        assert_eq!(
            kind_of(Path::new(".circleci/orbs/x/config.yml"), ""),
            Some(Kind::Kubernetes)
        );
    }

    #[test]
    fn files_given_as_text_pass_values_to_each_other() {
        let action = "inputs:\n  ref: {required: true}\nruns:\n  using: composite\n  steps:\n    - shell: bash\n      run: cosign sign --yes \"${{ inputs.ref }}\"\n";
        let tagged = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: ./.github/actions/sign\n        with:\n          ref: reg.io/app:v1\n";
        let pinned = tagged.replace(
            ":v1",
            "@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        );
        let found = |files: &[(&str, &str)]| -> Vec<(String, usize, String)> {
            audit_texts(files)
                .into_iter()
                .map(|f| (f.path, f.line, f.message))
                .collect()
        };
        let got = found(&[
            (".github/actions/sign/action.yml", action),
            (".github/workflows/pinned.yml", &pinned),
        ]);
        assert!(got.is_empty(), "{got:?}");
        let got = found(&[
            (".github/actions/sign/action.yml", action),
            (".github/workflows/pinned.yml", &pinned),
            (".github/workflows/tagged.yml", tagged),
        ]);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(
            (got[0].0.as_str(), got[0].1),
            (".github/actions/sign/action.yml", 7)
        );
        assert!(
            got[0]
                .2
                .ends_with("(with the value given at .github/workflows/tagged.yml:6)"),
            "{}",
            got[0].2
        );
        // On its own, the action's input is unknown.
        assert!(found(&[(".github/actions/sign/action.yml", action)]).is_empty());
    }
}
