//! The rules, and the walk of each kind of file that feeds them.
//!
//! `FileAudit` (here) holds one file's findings and walks it twice; `pipelines` walks each
//! kind of file down to its shell bodies and images, `commands` holds the shell rules,
//! `refs` the image references, `credentials` the credential rule over the values
//! `secrets` classifies, in the shell `state` of one body.

mod commands;
mod credentials;
mod pipelines;
mod refs;
mod secrets;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use super::yaml::{self, Node};
use super::{Finding, Inventory, Kind, Rule, Severity};
use crate::digest::Digest;
use secrets::{Expands, names_in};
use state::ShellState;

/// Every rule hallmark audits for.
pub const RULES: &[Rule] = &[
    Rule {
        id: "sign-by-tag",
        severity: Severity::Critical,
        title: "An image is signed by tag",
        help: "Signing `app:v1` signs whatever the tag names when the signer asks, which anyone with write access to the registry decides: the artifact-poisoning attack. Sign the digest your build produced (`cosign sign app@${{ steps.build.outputs.digest }}`), or `hallmark sign app:v1 --expect-digest <digest>`, or sign before pushing with `hallmark publish`.",
    },
    Rule {
        id: "sign-resolved-digest",
        severity: Severity::High,
        title: "A signed digest is looked up from the registry after the push",
        help: "`cosign sign app@$(crane digest app:v1)` asks the registry which digest the tag names after the push: a swap in between is signed. Take the digest from the build itself (the build step's digest output, `docker buildx --metadata-file`, `hallmark digest oci:…`), or sign before pushing with `hallmark publish`.",
    },
    Rule {
        id: "verify-then-pull-by-tag",
        severity: Severity::High,
        title: "An image is verified by tag, then pulled or run by tag",
        help: "The tag is resolved twice: once by the verifier, once by the pull. A swap in between runs an image nothing verified. Pull what was verified: `ref=$(hallmark verify app:v1 --key cosign.pub) && docker pull \"$ref\"`, or `hallmark copy`.",
    },
    Rule {
        id: "deploy-by-tag",
        severity: Severity::Medium,
        title: "An image is pulled, run or deployed by tag",
        help: "A tag names whatever its last writer chose. Deploy by digest (`app:v1@sha256:…`); `hallmark pin` rewrites manifests to verified digests. `latest` and references without a tag are worse: they change with every push.",
    },
    Rule {
        id: "unpinned-action",
        severity: Severity::High,
        title: "An action or reusable workflow is used by tag or branch",
        help: "Tags of actions move: in 2025 the tags of tj-actions/changed-files were moved to a malicious commit, and every workflow using them ran it. Use the full 40-character commit SHA (`uses: actions/checkout@<sha> # v4`).",
    },
    Rule {
        id: "unchecked-download",
        severity: Severity::High,
        title: "A download is executed without a checksum or signature check",
        help: "`curl … | bash` runs whatever the server (or anyone who changed it) sends today: the Codecov uploader compromise. Download to a file, check it (`sha256sum -c`, `hallmark verify-blob FILE --key KEY --bundle B`), then run it.",
    },
    Rule {
        id: "hardcoded-credential",
        severity: Severity::Critical,
        title: "A credential is written in the file",
        help: "Anyone who can read the repository can push with it. Revoke it now, then read it from the CI system's secret store (`${{ secrets.NAME }}`, a masked variable) and pass passwords with `--password-stdin`.",
    },
];

fn rule(id: &str) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.id == id)
        .expect("every rule id used is defined")
}

/// Collected per file.
#[derive(Default)]
pub(super) struct InventoryBuilder {
    pushes: BTreeSet<String>,
    pulls: BTreeSet<String>,
    credentials: BTreeSet<String>,
}

impl InventoryBuilder {
    pub(super) fn is_empty(&self) -> bool {
        self.pushes.is_empty() && self.pulls.is_empty() && self.credentials.is_empty()
    }

    pub(super) fn finish(&self, path: &str) -> Inventory {
        Inventory {
            path: path.to_string(),
            pushes: self.pushes.iter().cloned().collect(),
            pulls: self.pulls.iter().cloned().collect(),
            credentials: self.credentials.iter().cloned().collect(),
        }
    }
}

/// One file being audited.
pub(super) struct FileAudit<'a> {
    path: &'a str,
    lines: Vec<&'a str>,
    pub(super) findings: Vec<Finding>,
    /// What each finding is about (parallel to `findings`), for its fingerprint.
    subjects: Vec<String>,
    /// (rule, line, column) of each finding: a command seen twice is reported once.
    seen: HashSet<(&'static str, usize, usize)>,
    pub(super) inventory: InventoryBuilder,
    /// Parts of the file that were not audited, each said in one line.
    pub(super) not_audited: Vec<String>,
    /// Variables read where a credential is expected (`-p "$PW"`, `password:`).
    credential_vars: BTreeSet<String>,
    /// The variables each variable's value names, as assigned anywhere in the file.
    sources: BTreeMap<String, BTreeSet<String>>,
    /// Variables never substituted into printed text (see `ShellState::hidden`): known
    /// only once the whole file is read, so the file is walked twice.
    hidden: Rc<BTreeSet<String>>,
}
impl<'a> FileAudit<'a> {
    pub(super) fn new(path: &'a str, text: &'a str) -> Self {
        FileAudit {
            path,
            lines: text.lines().collect(),
            findings: Vec::new(),
            subjects: Vec::new(),
            seen: HashSet::new(),
            inventory: InventoryBuilder::default(),
            not_audited: Vec::new(),
            credential_vars: BTreeSet::new(),
            sources: BTreeMap::new(),
            hidden: Rc::default(),
        }
    }

    /// Records that `name` is given `value` somewhere in the file.
    fn note_assignment(&mut self, name: &str, value: &str) {
        let from = names_in(value);
        if !from.is_empty() {
            self.sources
                .entry(name.to_string())
                .or_default()
                .extend(from);
        }
    }

    /// The variables used as credentials, and every variable they take their value from.
    fn credential_closure(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<&String> = self.credential_vars.iter().collect();
        while let Some(name) = todo.pop() {
            if out.insert(name.clone()) {
                todo.extend(self.sources.get(name).into_iter().flatten());
            }
        }
        out
    }

    fn report(
        &mut self,
        id: &str,
        severity: Option<Severity>,
        line: usize,
        column: usize,
        what: &str,
        message: String,
    ) {
        let r = rule(id);
        // One finding per rule and place: a command seen twice is reported once.
        if !self.seen.insert((r.id, line, column)) {
            return;
        }
        self.findings.push(Finding {
            rule: r.id,
            severity: severity.unwrap_or(r.severity),
            path: self.path.to_string(),
            line,
            column,
            message,
            fingerprint: String::new(),
            suppressed: None,
        });
        self.subjects
            .push(what.split_whitespace().collect::<Vec<_>>().join(" "));
    }

    /// Gives every finding its fingerprint: the rule, the file, what was found, and its
    /// rank among the file's findings with the same three, in file order. The line is left
    /// out so that a finding keeps its fingerprint when lines move; the rank keeps two
    /// identical findings (two tokens, two `curl | bash`) apart, which code scanning would
    /// otherwise merge into one alert. The first of its kind keeps the fingerprint it had
    /// before ranks existed.
    pub(super) fn fingerprint(&mut self) {
        let mut order: Vec<usize> = (0..self.findings.len()).collect();
        order.sort_by_key(|&i| (self.findings[i].line, self.findings[i].column));
        let mut rank: HashMap<(&'static str, &str), usize> = HashMap::new();
        for i in order {
            let f = &mut self.findings[i];
            let what = &self.subjects[i];
            let n = rank.entry((f.rule, what.as_str())).or_default();
            let key = match *n {
                0 => format!("{}\0{}\0{what}", f.rule, self.path),
                n => format!("{}\0{}\0{what}\0{n}", f.rule, self.path),
            };
            *n += 1;
            f.fingerprint = Digest::sha256(key.as_bytes()).hex()[..16].to_string();
        }
    }

    /// Runs the walk for `kind`.
    pub(super) fn run(&mut self, kind: Kind) -> Result<(), yaml::YamlError> {
        // A variable used as a password on a later line (or in a later job) must not be
        // printed on an earlier one: a first walk finds them all.
        let mut first = FileAudit {
            lines: self.lines.clone(),
            ..FileAudit::new(self.path, "")
        };
        let _ = first.walk(kind);
        self.hidden = Rc::new(first.credential_closure());
        let result = self.walk(kind);
        self.fingerprint();
        result
    }

    fn walk(&mut self, kind: Kind) -> Result<(), yaml::YamlError> {
        match kind {
            Kind::Dockerfile => {
                self.dockerfile();
                Ok(())
            }
            Kind::Shell => {
                let body = self.lines.join("\n");
                self.shell(&body, (1, 0, false), &ShellState::default());
                Ok(())
            }
            Kind::Jenkins => {
                self.jenkins();
                Ok(())
            }
            _ => {
                let text = self.lines.join("\n");
                let docs = yaml::parse(&text)?;
                for doc in &docs {
                    match kind {
                        Kind::Workflow | Kind::Action => self.workflow(doc),
                        Kind::GitLab => self.gitlab(doc),
                        _ => {}
                    }
                    self.images(doc, kind);
                    self.literal_secrets(doc, kind);
                }
                Ok(())
            }
        }
    }

    /// Where a `run:`-like scalar's text starts: the next line for a block scalar, whose
    /// every line (not only the first) is indented by the column given.
    fn body_start(&self, node: &Node) -> (usize, usize, bool) {
        let line = self.lines.get(node.line - 1).copied().unwrap_or_default();
        let rest = line
            .get(node.column.saturating_sub(1)..)
            .unwrap_or_default()
            .trim();
        if rest.starts_with('|') || rest.starts_with('>') {
            let indent = self
                .lines
                .get(node.line)
                .map_or(0, |l| l.len() - l.trim_start().len());
            (node.line + 1, indent, true)
        } else {
            // The parser may place a block scalar where its text starts, after the line
            // with the `|` or `>` indicator.
            let before = line
                .get(..node.column.saturating_sub(1))
                .unwrap_or_default();
            let block = before.trim().is_empty()
                && node
                    .line
                    .checked_sub(2)
                    .and_then(|i| self.lines.get(i))
                    .and_then(|prev| prev.split_whitespace().last())
                    .is_some_and(|last| {
                        last.starts_with(['|', '>'])
                            && last[1..].chars().all(|c| "-+0123456789".contains(c))
                    });
            (node.line, node.column.saturating_sub(1), block)
        }
    }

    /// The variables of an `env:` or `variables:` block, added to `into`. A GitLab variable
    /// may be a map with its `value`.
    fn env_of(&mut self, node: Option<&Node>, expands: Expands, into: &mut ShellState) {
        if let Some(env) = node {
            for (k, v) in env.entries() {
                let v = v.get("value").unwrap_or(v);
                if let (Some(k), Some(v)) = (k.str(), v.str()) {
                    self.note_assignment(k, v);
                    into.assign(k, v, expands);
                }
            }
        }
    }
}

/// A file name without directories, for matching a download with its use.
fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
