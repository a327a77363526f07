//! The rules, and the walk of each kind of file that feeds them.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use super::images;
use super::shell::{self, Command, Joiner, Word};
use super::yaml::{self, Node, Value};
use super::{Finding, Inventory, Kind, Rule, Severity};
use crate::digest::Digest;

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

/// An image reference as written: what it names, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ImageRefText {
    /// The repository part (before tag and digest).
    repository: String,
    tag: Option<String>,
    /// The text after `@`, when present.
    digest: Option<String>,
}

/// Reads `s` as an image reference, when it looks like one: no scheme, no spaces, not a
/// file or a key URI.
fn image_ref(s: &str) -> Option<ImageRefText> {
    let masked = mask_expressions(s);
    let s = masked.strip_prefix("docker://").unwrap_or(&masked);
    if s.is_empty()
        || s.starts_with('-')
        || s.starts_with('.')
        || s.starts_with('/')
        || s.contains(char::is_whitespace)
        || s.contains("://")
        || [
            ".key", ".pub", ".pem", ".json", ".yaml", ".yml", ".sh", ".txt", ".tar",
        ]
        .iter()
        .any(|e| s.ends_with(e))
    {
        return None;
    }
    let (name, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d.to_string())),
        None => (s, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repository, tag) = match last.split_once(':') {
        Some((_, t)) if !t.is_empty() && !t.contains('/') => (
            name[..name.len() - t.len() - 1].to_string(),
            Some(t.to_string()),
        ),
        _ => (name.to_string(), None),
    };
    let ok = !repository.is_empty()
        && repository
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:$}{ ".contains(c));
    ok.then_some(ImageRefText {
        repository,
        tag,
        digest,
    })
}

/// `s` with each `${{ … }}` expression replaced by `${{}}`: an expression stands for a
/// value, whatever spaces are inside it.
fn mask_expressions(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${{") {
        out.push_str(&rest[..at]);
        match rest[at..].find("}}") {
            Some(end) => {
                out.push_str("${{}}");
                rest = &rest[at + end + 2..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// True when the digest part is a literal digest.
fn literal_digest(d: &str) -> bool {
    d.parse::<Digest>().is_ok()
}

/// A command substitution that asks a registry which digest a tag names.
fn resolves_from_registry(d: &str) -> bool {
    let d = d.to_ascii_lowercase();
    (d.contains("$(") || d.contains('`'))
        && [
            "crane digest",
            "docker inspect",
            "skopeo inspect",
            "imagetools inspect",
            "oras resolve",
            "regctl image digest",
            "docker manifest inspect",
        ]
        .iter()
        .any(|c| d.contains(c))
}

const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "python",
    "python3",
    "perl",
    "ruby",
    "node",
    "iex",
    "invoke-expression",
    "pwsh",
    "powershell",
];
const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "iwr",
    "invoke-webrequest",
    "irm",
    "invoke-restmethod",
];
const CHECKERS: &[&str] = &[
    "sha256sum",
    "sha512sum",
    "shasum",
    "gpg",
    "minisign",
    "cosign",
    "hallmark",
    "openssl",
    "sha1sum",
    "b3sum",
    "slsa-verifier",
    "gh",
];

/// Token shapes of well-known services: (what, prefix, allowed characters, minimum length
/// after the prefix).
const TOKEN_SHAPES: &[(&str, &str, &str, usize)] = &[
    ("a GitHub token", "ghp_", "", 36),
    ("a GitHub token", "gho_", "", 36),
    ("a GitHub token", "ghs_", "", 36),
    ("a GitHub token", "ghu_", "", 36),
    ("a GitHub token", "github_pat_", "_", 60),
    ("a GitLab token", "glpat-", "-_", 20),
    ("a Docker Hub token", "dckr_pat_", "-_", 20),
    ("an AWS access key", "AKIA", "", 16),
    ("an npm token", "npm_", "", 36),
    ("a PyPI token", "pypi-AgEIcHlwaS5vcmc", "-_", 50),
];

/// What kind of token `s` contains, if any.
fn token_shape(s: &str) -> Option<&'static str> {
    for (what, prefix, extra, min) in TOKEN_SHAPES {
        let mut rest = s;
        while let Some(at) = rest.find(prefix) {
            let tail = &rest[at + prefix.len()..];
            let n = tail
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || extra.contains(*c))
                .count();
            let boundary = rest[..at]
                .chars()
                .last()
                .is_none_or(|c| !c.is_ascii_alphanumeric());
            if n >= *min && boundary {
                return Some(what);
            }
            rest = &rest[at + prefix.len()..];
        }
    }
    None
}

/// A name that holds a secret: one with a secret's word in it, or a part (between `_`,
/// `-` or `.`) that is a usual short name for one (`PW`, `REG_PASS`, `GH_PAT`; not `PWD`).
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    n.split(['_', '-', '.'])
        .any(|part| ["PW", "PASS", "PAT", "CREDS", "CREDENTIALS"].contains(&part))
        || [
            "PASSWORD",
            "PASSWD",
            "SECRET",
            "TOKEN",
            "API_KEY",
            "APIKEY",
            "ACCESS_KEY",
            "PRIVATE_KEY",
        ]
        .iter()
        .any(|s| n.contains(s))
}

/// What a credential's value is, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Credential {
    /// Nothing.
    Empty,
    /// An expansion of a known form, by the name it reads: safe to name.
    Reference(String),
    /// Anything else, however much it looks like a placeholder or a variable: a value
    /// written in the file, which is never printed.
    Literal,
}

/// What expands in a value where it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expands {
    /// GitHub Actions inputs and `env:`: only `${{ … }}`; `$NAME` stays as written.
    Expressions,
    /// A shell word that was not single-quoted: `$NAME`, `${NAME}`, `$(…)` and `${{ … }}`.
    Shell,
    /// GitLab CI variables, compose files, Kubernetes manifests: `$NAME`, `${NAME}`,
    /// Kubernetes' `$(NAME)` and `${{ … }}`.
    Variables,
}

/// A shell variable name.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Judges a credential's value `v`. Only a whole value that is one expansion of a known
/// form is a reference; `$uperSecret` in an action input, `trueNorth-…` and
/// `example-…` are literals.
fn credential(v: &str, expands: Expands) -> Credential {
    let v = v.trim();
    if v.is_empty() {
        return Credential::Empty;
    }
    if let Some(inner) = v.strip_prefix("${{").and_then(|r| r.strip_suffix("}}"))
        && !inner.contains("}}")
    {
        let expr = inner.trim();
        // A quoted string inside the expression is a literal written in the file.
        if expr.is_empty() || expr.contains(['\'', '"']) {
            return Credential::Literal;
        }
        let dotted = expr
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        return Credential::Reference(if !dotted {
            "an expression".to_string()
        } else {
            match expr.split_once('.') {
                Some(("secrets" | "env" | "vars" | "inputs", name)) => name.to_string(),
                _ => expr.to_string(),
            }
        });
    }
    if expands == Expands::Expressions {
        return Credential::Literal;
    }
    let braced = v.strip_prefix("${").and_then(|r| r.strip_suffix('}'));
    let bare = v.strip_prefix('$');
    if let Some(name) = braced.or(bare)
        && is_name(name)
    {
        return Credential::Reference(name.to_string());
    }
    if let Some(inner) = v.strip_prefix("$(").and_then(|r| r.strip_suffix(')')) {
        if expands == Expands::Variables && is_name(inner) {
            return Credential::Reference(inner.to_string());
        }
        if expands == Expands::Shell && !inner.contains(')') {
            return Credential::Reference("a command's output".to_string());
        }
    }
    Credential::Literal
}

/// True for the value of a secret-looking key or variable that is written in the file.
/// Short values are left out: they are flags and names (`true`, `none`), not secrets.
fn literal_value(v: &str, expands: Expands) -> bool {
    v.trim().len() >= 8 && credential(v, expands) == Credential::Literal
}

/// Options whose value is a credential: it is never the registry, the image or anything
/// else that is printed.
fn credential_option(flag: &str) -> bool {
    let f = flag.trim_start_matches('-').to_ascii_lowercase();
    // `-pVALUE` and `-uNAME` carry their value: the next word is not theirs.
    let glued = !flag.starts_with("--")
        && f.len() > 1
        && f.starts_with(['p', 'u'])
        && !["password", "pass", "user", "username"].contains(&f.as_str());
    flag.starts_with('-')
        && !glued
        && !flag.contains('=')
        && (f == "p"
            || f == "u"
            || ["pass", "cred", "token", "secret", "auth", "user"]
                .iter()
                .any(|w| f.contains(w)))
        && !f.ends_with("-stdin")
}

/// The positional words of `args` (resolved), skipping options and the value after an
/// option that takes a credential.
fn positionals(args: &[String]) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut skip_next = false;
    for (j, a) in args.iter().enumerate() {
        if std::mem::take(&mut skip_next) {
            continue;
        }
        if a.starts_with('-') {
            skip_next = credential_option(a);
            continue;
        }
        // A redirection (`< pw.txt`, `<<<"$PW"`, `2>&1`) is no argument; neither is the
        // word after a bare operator.
        let op = a.trim_start_matches(|c: char| c.is_ascii_digit());
        if op.starts_with(['<', '>']) {
            skip_next = op.chars().all(|c| "<>&|".contains(c));
            continue;
        }
        out.push((j, a.as_str()));
    }
    out
}

/// A registry as written, without any `user:password@` in it.
fn registry_host(r: &str) -> &str {
    let host = r.split_once("://").map_or(r, |(_, h)| h);
    host.rsplit_once('@').map_or(host, |(_, h)| h)
}

/// The password of a URL's `user:password@` in `s`, as written, when there is one.
fn url_password(s: &str) -> Option<&str> {
    let (_, rest) = s.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    Some(password)
}

/// The variables named in `s`: `$NAME`, `${NAME}`, `${{ env.NAME }}` and the like.
fn names_in(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        let tail = &rest[at..];
        match variable_at(tail) {
            Some((name, len)) => {
                out.push(name.to_string());
                rest = &tail[len..];
            }
            None => rest = &tail[1..],
        }
    }
    if let Credential::Reference(name) = credential(s, Expands::Variables)
        && is_name(&name)
    {
        out.push(name);
    }
    out
}

/// Shell state while walking one body: variables, and what earlier commands did.
#[derive(Default, Clone)]
struct ShellState {
    vars: BTreeMap<String, String>,
    /// Variables whose value is written in the file (directly or through another such
    /// variable): a password read from one is a literal password.
    literal: BTreeSet<String>,
    /// Variables never substituted into anything printed: those used as a credential
    /// anywhere in the file, and those they take their value from.
    hidden: Rc<BTreeSet<String>>,
    /// Repositories verified by tag: ref → line.
    verified_by_tag: BTreeMap<String, usize>,
    /// Files downloaded and not yet checked: name → line.
    downloaded: BTreeMap<String, usize>,
    /// Files made executable.
    executable: BTreeSet<String>,
}

impl ShellState {
    /// Records `name = value` (`value` as written, expanding as `expands` says).
    fn assign(&mut self, name: &str, value: &str, expands: Expands) {
        let literal = match credential(value, expands) {
            Credential::Empty => false,
            Credential::Literal => true,
            Credential::Reference(from) => self.literal.contains(&from),
        };
        if literal {
            self.literal.insert(name.to_string());
        } else {
            self.literal.remove(name);
        }
        let resolved = self.resolve(value);
        self.vars.insert(name.to_string(), resolved);
    }

    /// Whether the value of `name` may be substituted into text that is printed: never a
    /// credential's, whatever it looks like.
    fn printable(&self, name: &str, value: &str) -> bool {
        !secret_name(name)
            && !self.hidden.contains(name)
            && token_shape(value).is_none()
            && url_password(value).is_none()
    }

    /// `word` with the variables known so far substituted (textually): `$NAME`,
    /// `${NAME}` and `${{ env.NAME }}`, except those whose value is a credential, which
    /// stay as written. One pass over the word, whatever the number of variables.
    fn resolve(&self, word: &str) -> String {
        if self.vars.is_empty() || !word.contains('$') {
            return word.to_string();
        }
        let mut out = String::with_capacity(word.len());
        let mut rest = word;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            match variable_at(tail).and_then(|(name, len)| Some((name, self.vars.get(name)?, len)))
            {
                Some((name, value, len)) => {
                    if self.printable(name, value) {
                        out.push_str(value);
                    } else {
                        out.push_str(&tail[..len]);
                    }
                    rest = &tail[len..];
                }
                None => {
                    out.push('$');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// The variable a reference at the start of `s` (which starts with `$`) reads, and the
/// reference's length in bytes.
fn variable_at(s: &str) -> Option<(&str, usize)> {
    let name_len = |t: &str| {
        t.bytes()
            .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
            .count()
    };
    let body = s.strip_prefix('$')?;
    if let Some(inner) = body.strip_prefix("{{") {
        let end = inner.find("}}")?;
        let name = inner[..end].trim().strip_prefix("env.")?;
        is_name(name).then_some((name, 3 + end + 2))
    } else if let Some(inner) = body.strip_prefix('{') {
        let n = name_len(inner);
        (is_name(&inner[..n]) && inner[n..].starts_with('}')).then(|| (&inner[..n], n + 3))
    } else {
        let n = name_len(body);
        is_name(&body[..n]).then(|| (&body[..n], n + 1))
    }
}

impl<'a> FileAudit<'a> {
    pub(super) fn new(path: &'a str, text: &'a str) -> FileAudit<'a> {
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
    pub(super) fn run(&mut self, kind: Kind) -> Result<(), String> {
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

    fn walk(&mut self, kind: Kind) -> Result<(), String> {
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

    fn workflow(&mut self, doc: &Node) {
        let mut env = ShellState::default();
        self.env_of(doc.get("env"), Expands::Expressions, &mut env);
        for (_, job) in doc.get("jobs").map(Node::entries).into_iter().flatten() {
            let mut job_env = env.clone();
            self.env_of(job.get("env"), Expands::Expressions, &mut job_env);
            if let Some(uses) = job.get("uses") {
                self.uses(uses);
            }
            if let Some(steps) = job.get("steps") {
                self.steps(steps, &job_env);
            }
        }
        if let Some(steps) = doc.get("runs").and_then(|r| r.get("steps")) {
            self.steps(steps, &env);
        }
    }

    /// A job's steps (or a composite action's). Each step sees the job's env and its own;
    /// what a step writes to $GITHUB_ENV is known only at run time.
    fn steps(&mut self, steps: &Node, job_env: &ShellState) {
        for step in steps.items() {
            let mut step_env = job_env.clone();
            self.env_of(step.get("env"), Expands::Expressions, &mut step_env);
            if let Some(uses) = step.get("uses") {
                self.uses(uses);
                let action = uses.str().unwrap_or_default();
                if action.starts_with("docker/login-action") {
                    self.login_action(step.get("with"), &step_env);
                }
                if action.starts_with("docker/build-push-action")
                    && let Some(with) = step.get("with")
                    && with.get("push").and_then(Node::str) == Some("true")
                    && let Some(tags) = with.get("tags").and_then(Node::str)
                {
                    for t in tags
                        .split([',', '\n'])
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                    {
                        self.inventory.pushes.insert(t.to_string());
                    }
                }
            }
            if let Some(run) = step.get("run")
                && let Some(body) = run.str()
            {
                let (line, col, block) = self.body_start(run);
                self.shell(body, (line, col, block), &step_env);
            }
        }
    }

    fn uses(&mut self, node: &Node) {
        let Some(u) = node.str() else { return };
        if u.starts_with("./") || u.starts_with("docker://") {
            if let Some(image) = u.strip_prefix("docker://") {
                self.image_use(image, node.line, node.column, "a step's container", true);
            }
            return;
        }
        let Some((name, version)) = u.rsplit_once('@') else {
            self.report(
                "unpinned-action",
                None,
                node.line,
                node.column,
                u,
                format!("{u} names no version at all"),
            );
            return;
        };
        let sha = version.len() == 40 && version.bytes().all(|b| b.is_ascii_hexdigit());
        if !sha {
            self.report(
                "unpinned-action",
                None,
                node.line,
                node.column,
                u,
                format!("{name} is used by the movable reference {version:?}, not a commit SHA"),
            );
        }
    }

    fn login_action(&mut self, with: Option<&Node>, env: &ShellState) {
        let Some(with) = with else { return };
        let registry = with
            .get("registry")
            .and_then(Node::str)
            .unwrap_or("docker.io");
        let registry = registry_host(registry).to_string();
        if let Some(p) = with.get("password") {
            // An action's input is not a shell: `$NAME` in it is the password itself.
            match credential(p.str().unwrap_or_default(), Expands::Expressions) {
                Credential::Empty => {}
                Credential::Reference(name) if env.literal.contains(&name) => {
                    self.credential_vars.insert(name.clone());
                    self.inventory
                        .credentials
                        .insert(format!("a password written in the file for {registry}"));
                    self.report(
                        "hardcoded-credential",
                        None,
                        p.line,
                        p.column,
                        &format!("login-action password from {name}"),
                        format!("the password for {registry} is {name}, which is assigned a value written in the workflow"),
                    );
                }
                Credential::Reference(name) => {
                    if is_name(&name) {
                        self.credential_vars.insert(name.clone());
                    }
                    self.inventory
                        .credentials
                        .insert(format!("{name} for {registry}"));
                }
                Credential::Literal => {
                    self.inventory
                        .credentials
                        .insert(format!("a password written in the file for {registry}"));
                    self.report(
                        "hardcoded-credential",
                        None,
                        p.line,
                        p.column,
                        "login-action password",
                        format!("the password for {registry} is written in the workflow"),
                    );
                }
            }
        }
    }

    fn gitlab(&mut self, doc: &Node) {
        let mut env = ShellState::default();
        self.env_of(doc.get("variables"), Expands::Variables, &mut env);
        if let Some(image) = doc.get("image") {
            self.deployed_image(image.get("name").unwrap_or(image), "the default job image");
        }
        for (key, job) in doc.entries() {
            let hidden = key.str().is_some_and(|k| k.starts_with('.') && k != ".pre");
            // A hidden key is a template: jobs take its scripts through `extends`, `<<: *x`
            // or `!reference`, none of which is followed, so its scripts are audited where
            // they are written (a list of lines, or a map with any of the script keys).
            if hidden
                && let Value::Seq(lines) = &job.value
                && lines.iter().all(|l| l.str().is_some())
            {
                let mut state = env.clone();
                for l in lines {
                    let start = self.body_start(l);
                    state = self.shell_with(l.str().unwrap_or_default(), start, state);
                }
                continue;
            }
            if hidden
                && ["before_script", "script", "after_script"]
                    .iter()
                    .all(|k| job.get(k).is_none())
            {
                continue;
            }
            if !matches!(job.value, Value::Map(_)) {
                continue;
            }
            let mut job_env = env.clone();
            self.env_of(job.get("variables"), Expands::Variables, &mut job_env);
            if let Some(image) = job.get("image") {
                self.deployed_image(image.get("name").unwrap_or(image), "a job image");
            }
            if let Some(services) = job.get("services") {
                for s in services.items() {
                    self.deployed_image(s.get("name").unwrap_or(s), "a service container");
                }
            }
            let mut state = job_env;
            for part in ["before_script", "script", "after_script"] {
                let Some(script) = job.get(part) else {
                    continue;
                };
                let lines: Vec<&Node> = match &script.value {
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![script],
                };
                for l in lines {
                    if let Some(body) = l.str() {
                        let start = self.body_start(l);
                        state = self.shell_with(body, start, state);
                    }
                }
            }
        }
    }

    /// The images a compose file, a Kubernetes object (one with an `apiVersion`) or a
    /// workflow's jobs run.
    fn images(&mut self, doc: &Node, kind: Kind) {
        if kind == Kind::Kubernetes && doc.get("apiVersion").is_none() {
            return;
        }
        for (node, what) in images::image_nodes(doc, kind) {
            self.deployed_image(node, what);
        }
    }

    /// Literal secrets under secret-looking keys, and known token shapes anywhere.
    fn literal_secrets(&mut self, doc: &Node, kind: Kind) {
        let expands = match kind {
            Kind::Workflow | Kind::Action => Expands::Expressions,
            _ => Expands::Variables,
        };
        let mut found = Vec::new();
        doc.walk(&mut |key, n| {
            let Some(v) = n.str() else { return };
            if let Some(what) = token_shape(v) {
                found.push((n.line, n.column, format!("{what} is written in the file")));
            } else if !v.trim().contains(char::is_whitespace)
                && url_password(v.trim())
                    .is_some_and(|p| credential(p, expands) == Credential::Literal)
            {
                // A whole value that is a URL: a script's URLs are judged word by word.
                found.push((
                    n.line,
                    n.column,
                    "a URL with a password is written in the file".to_string(),
                ));
            } else if key.is_some_and(secret_name) && literal_value(v, expands) {
                found.push((
                    n.line,
                    n.column,
                    format!("{} holds a literal value", key.unwrap_or_default()),
                ));
            }
        });
        for (line, column, message) in found {
            self.report(
                "hardcoded-credential",
                None,
                line,
                column,
                &message.clone(),
                message,
            );
        }
    }

    /// An image a pipeline or manifest runs.
    fn deployed_image(&mut self, node: &Node, what: &str) {
        if let Some(s) = node.str() {
            self.image_use(s, node.line, node.column, what, true);
        }
    }

    fn image_use(&mut self, s: &str, line: usize, column: usize, what: &str, pull: bool) {
        let Some(r) = image_ref(s) else { return };
        if pull {
            self.inventory.pulls.insert(s.to_string());
        }
        if r.digest.as_deref().is_some_and(literal_digest) {
            return;
        }
        if s.contains('$') && r.digest.is_some() {
            return;
        }
        let (severity, how) = match r.tag.as_deref() {
            None => (Severity::High, "without a tag (so `latest`)".to_string()),
            Some("latest") => (Severity::High, "by the tag `latest`".to_string()),
            Some(t) => (Severity::Medium, format!("by the tag `{t}`")),
        };
        self.report(
            "deploy-by-tag",
            Some(severity),
            line,
            column,
            s,
            format!("{what} uses {} {how}, not a digest", r.repository),
        );
    }

    fn dockerfile(&mut self) {
        let mut stages: Vec<String> = Vec::new();
        let mut i = 0;
        while i < self.lines.len() {
            let start = i;
            let mut text = self.lines[i].trim_end().to_string();
            while text.ends_with('\\') && i + 1 < self.lines.len() {
                text.pop();
                i += 1;
                text.push('\n');
                text.push_str(self.lines[i]);
            }
            i += 1;
            let trimmed = text.trim_start();
            let indent = text.len() - trimmed.len();
            let (instr, rest) = trimmed
                .split_once(char::is_whitespace)
                .unwrap_or((trimmed, ""));
            match instr.to_ascii_uppercase().as_str() {
                "FROM" => {
                    let Some(image) = images::from_image(rest, &mut stages) else {
                        continue;
                    };
                    let column = indent + instr.len() + 2 + rest.find(image).unwrap_or(0);
                    self.image_use(image, start + 1, column, "FROM", true);
                }
                "RUN" => {
                    let column = indent + instr.len() + 1;
                    self.shell(rest, (start + 1, column, false), &ShellState::default());
                }
                _ => {}
            }
        }
    }

    fn jenkins(&mut self) {
        let text = self.lines.join("\n");
        let mut from = 0;
        // Where the line of `counted` starts, and its number: counted forward only, so a
        // file of many steps costs one pass.
        let (mut counted, mut line, mut line_start) = (0, 1, 0);
        while let Some(at) = text[from..].find("sh ") {
            let at = from + at;
            from = at + 3;
            let rest = &text[at + 3..];
            let rest_trim = rest.trim_start();
            let quote = ["'''", "\"\"\"", "'", "\""]
                .into_iter()
                .find(|q| rest_trim.starts_with(q));
            let Some(q) = quote else { continue };
            let body_start = at + 3 + (rest.len() - rest_trim.len()) + q.len();
            // An unterminated string runs to the end of the file, as Groovy would read it.
            let len = text[body_start..]
                .find(q)
                .unwrap_or(text.len() - body_start);
            let body = &text[body_start..body_start + len];
            for (i, b) in text[counted..body_start].bytes().enumerate() {
                if b == b'\n' {
                    line += 1;
                    line_start = counted + i + 1;
                }
            }
            counted = body_start;
            self.shell(
                body,
                (line, body_start - line_start, false),
                &ShellState::default(),
            );
            from = (body_start + len + q.len()).min(text.len());
        }
    }

    fn shell(&mut self, body: &str, start: (usize, usize, bool), env: &ShellState) {
        self.shell_with(body, start, env.clone());
    }

    /// Audits one shell body whose first line is `line` of the file (its words shifted by
    /// `col` columns on that first line, or on every line of a YAML block scalar, whose
    /// indentation the parser removed); returns the state for bodies that continue it.
    fn shell_with(
        &mut self,
        body: &str,
        (line, col, block): (usize, usize, bool),
        mut st: ShellState,
    ) -> ShellState {
        if body.len() > shell::MAX_SCRIPT_BYTES {
            self.not_audited.push(format!(
                "line {line}: the script after its first {} bytes",
                shell::MAX_SCRIPT_BYTES
            ));
        }
        st.hidden = Rc::clone(&self.hidden);
        let cmds = shell::tokenize(body);
        let at = |w: &Word| {
            (
                line + w.line - 1,
                if w.line == 1 || block {
                    col + w.column
                } else {
                    w.column
                },
            )
        };
        for (i, cmd) in cmds.iter().enumerate() {
            for (k, w) in cmd.assignments() {
                let v = w.text.split_once('=').map(|(_, v)| v).unwrap_or_default();
                self.shell_assignment(&mut st, k, v, w, &at);
            }
            for w in &cmd.words {
                self.url_credential(w, &st, &at);
                if let Some(what) = token_shape(&w.text) {
                    let (l, c) = at(w);
                    self.report(
                        "hardcoded-credential",
                        None,
                        l,
                        c,
                        what,
                        format!("{what} is written in a command"),
                    );
                }
            }
            let Some(name) = cmd.name() else { continue };
            let name_text = name
                .text
                .rsplit('/')
                .next()
                .unwrap_or(&name.text)
                .to_ascii_lowercase();
            let args: Vec<String> = cmd.args().iter().map(|w| st.resolve(&w.text)).collect();
            let arg_words = cmd.args();
            if name_text == "export" {
                for a in arg_words {
                    if let Some((k, v)) = a.text.split_once('=') {
                        self.shell_assignment(&mut st, k, v, a, &at);
                    }
                }
                continue;
            }
            let prev = i.checked_sub(1).and_then(|p| cmds.get(p));
            self.command_credentials(cmd, &name_text, &args, prev, &st, &at);
            let sub = args.first().map(String::as_str).unwrap_or_default();
            // Signing.
            let signer =
                matches!(name_text.as_str(), "cosign" | "hallmark" | "notation") && sub == "sign";
            if signer {
                let expect = args.iter().any(|a| a.starts_with("--expect-digest"));
                for (j, a) in positionals(&args).into_iter().skip(1) {
                    let w = &arg_words[j];
                    // The digest part may be a command substitution with spaces in it.
                    let (name_part, digest_part) = match a.split_once('@') {
                        Some((n, d)) => (n, Some(d.to_string())),
                        None => (a, None),
                    };
                    let Some(r) = image_ref(name_part) else {
                        continue;
                    };
                    if !(name_part.contains('/') || name_part.contains(':')) {
                        continue;
                    }
                    let (l, c) = at(w);
                    self.inventory.pushes.insert(r.repository.clone());
                    match &digest_part {
                        Some(d) if literal_digest(d) => {}
                        Some(d) if resolves_from_registry(&w.text) || resolves_from_registry(d) => {
                            self.report("sign-resolved-digest", None, l, c, &w.text, format!(
                                "{name_text} sign takes the digest of {} from the registry after the push", r.repository));
                        }
                        Some(_) => {}
                        None if expect => {}
                        None => self.report("sign-by-tag", None, l, c, &w.text, format!(
                            "{name_text} sign signs {} by tag: whatever the tag names when it runs", w.text)),
                    }
                }
            }
            // Verification by tag, remembered for a later pull.
            if matches!(name_text.as_str(), "cosign" | "hallmark") && sub == "verify" {
                for a in args.iter().skip(1) {
                    if let Some(r) = image_ref(a)
                        && r.digest.is_none()
                        && (a.contains('/') || a.contains(':'))
                    {
                        st.verified_by_tag.insert(a.clone(), line);
                    }
                }
            }
            // Pulls, runs, deployments.
            let pulled: Option<(usize, &str)> = match (name_text.as_str(), sub) {
                ("docker" | "podman" | "nerdctl", "pull" | "run" | "create")
                | ("crane", "pull") => positionals(&args)
                    .into_iter()
                    .skip(1)
                    .find(|(_, a)| image_ref(a).is_some()),
                ("kubectl", "set") => args
                    .iter()
                    .enumerate()
                    .skip(2)
                    .find_map(|(j, a)| a.split_once('=').map(|(_, img)| (j, img))),
                _ => None,
            };
            if let Some((j, image)) = pulled {
                let w = &arg_words[j];
                let (l, c) = at(w);
                if st.verified_by_tag.contains_key(image) {
                    self.report("verify-then-pull-by-tag", None, l, c, image, format!(
                        "{image} was verified by tag, then is pulled by tag: the two can name different images"));
                } else {
                    self.image_use(image, l, c, &format!("{name_text} {sub}"), true);
                }
            }
            // Pushes, for the inventory.
            match (name_text.as_str(), sub) {
                ("docker" | "podman", "push")
                | ("crane", "push" | "copy" | "cp")
                | ("skopeo", "copy")
                | ("hallmark", "publish" | "copy")
                | ("oras", "push") => {
                    if let Some((_, dest)) = positionals(&args).into_iter().skip(1).next_back() {
                        self.inventory
                            .pushes
                            .insert(dest.trim_start_matches("docker://").to_string());
                    }
                }
                _ => {}
            }
            // Downloads piped to an interpreter.
            if DOWNLOADERS.contains(&name_text.as_str()) {
                if cmd.then == Joiner::Pipe
                    && let Some(next) = cmds.get(i + 1)
                    && let Some(n) = next.name()
                {
                    let mut interp = n
                        .text
                        .rsplit('/')
                        .next()
                        .unwrap_or(&n.text)
                        .to_ascii_lowercase();
                    if interp == "sudo" || interp == "env" {
                        interp = next
                            .args()
                            .first()
                            .map(|w| w.text.to_ascii_lowercase())
                            .unwrap_or_default();
                    }
                    if SHELLS.contains(&interp.as_str()) {
                        let (l, c) = at(name);
                        self.report(
                            "unchecked-download",
                            None,
                            l,
                            c,
                            &format!("{name_text}|{interp}"),
                            format!("the output of {name_text} is run by {interp} unchecked"),
                        );
                    }
                }
                // Download to a file: remember it until it is checked or run.
                let mut it = args.iter().peekable();
                while let Some(a) = it.next() {
                    // `-o FILE`, and combined short flags ending in o (`-fsSLo FILE`).
                    let short_o = a.starts_with('-')
                        && !a.starts_with("--")
                        && (a.ends_with('o') || a.ends_with('O'));
                    let out = match a.as_str() {
                        "--output" | "--output-document" | "-OutFile" => {
                            it.peek().map(|s| s.to_string())
                        }
                        _ if short_o => it.peek().map(|s| s.to_string()),
                        _ => a
                            .strip_prefix("--output=")
                            .or_else(|| a.strip_prefix("--output-document="))
                            .map(str::to_string),
                    };
                    if let Some(f) = out
                        && f != "-"
                    {
                        st.downloaded.insert(base(&f).to_string(), line);
                    }
                }
            }
            if SHELLS.contains(&name_text.as_str()) {
                // `bash <(curl …)`, `sh -c "$(curl …)"`.
                for w in cmd.args() {
                    let t = w.text.to_ascii_lowercase();
                    let powershell = matches!(name_text.as_str(), "iex" | "invoke-expression")
                        && [
                            "iwr",
                            "invoke-webrequest",
                            "irm",
                            "invoke-restmethod",
                            "downloadstring",
                        ]
                        .iter()
                        .any(|d| t.contains(d));
                    if powershell
                        || ((t.contains("$(curl") || t.contains("$(wget") || t.contains("<(curl"))
                            && !t.contains("sha256sum"))
                    {
                        let (l, c) = at(name);
                        self.report(
                            "unchecked-download",
                            None,
                            l,
                            c,
                            &format!("{name_text}-substitution"),
                            format!("{name_text} runs a download unchecked"),
                        );
                    }
                }
            }
            if CHECKERS.contains(&name_text.as_str()) {
                // `sha256sum -c SUMS` checks the files SUMS lists: any of them.
                if args.iter().any(|a| a == "-c" || a == "--check") {
                    st.downloaded.clear();
                }
                st.downloaded
                    .retain(|f, _| !args.iter().any(|a| base(a).starts_with(f.as_str())));
            }
            if name_text == "chmod" {
                for a in args
                    .iter()
                    .filter(|a| !a.starts_with('+') && !a.starts_with('-'))
                {
                    st.executable.insert(base(a).to_string());
                }
            }
            let run_target = if SHELLS.contains(&name_text.as_str()) {
                args.iter()
                    .find(|a| !a.starts_with('-'))
                    .map(|a| base(a).to_string())
            } else if name.text.starts_with("./") || name.text.starts_with('/') {
                st.executable
                    .contains(base(&name.text))
                    .then(|| base(&name.text).to_string())
            } else {
                None
            };
            if let Some(f) = run_target
                && st.downloaded.contains_key(&f)
            {
                let (l, c) = at(name);
                self.report(
                    "unchecked-download",
                    None,
                    l,
                    c,
                    &format!("run:{f}"),
                    format!("{f} is downloaded and run without a checksum or signature check"),
                );
            }
        }
        st
    }

    /// Judges a credential's value `text` found in a command, where `what` names it ("the
    /// password for reg.io"). A variable read there is remembered as a credential; one
    /// assigned a value written in the file is as much a literal as the value itself.
    #[allow(clippy::too_many_arguments)]
    fn judge_credential(
        &mut self,
        text: &str,
        expands: Expands,
        st: &ShellState,
        (l, c): (usize, usize),
        what: &str,
        subject: &str,
        registry: Option<&str>,
    ) {
        let written = |this: &mut Self| {
            if let Some(r) = registry {
                this.inventory
                    .credentials
                    .insert(format!("a password written in the file for {r}"));
            }
        };
        match credential(text, expands) {
            Credential::Empty => {}
            Credential::Reference(name) => {
                if is_name(&name) {
                    self.credential_vars.insert(name.clone());
                }
                if st.literal.contains(&name) {
                    written(self);
                    self.report(
                        "hardcoded-credential",
                        None,
                        l,
                        c,
                        &format!("{subject} from {name}"),
                        format!("{what} is {name}, which is assigned a value written in the file (read it from a secret store)"),
                    );
                } else if let Some(r) = registry {
                    self.inventory.credentials.insert(format!("{name} for {r}"));
                }
            }
            Credential::Literal => {
                written(self);
                self.report(
                    "hardcoded-credential",
                    None,
                    l,
                    c,
                    subject,
                    if registry.is_some() {
                        format!("{what} is written in the command (use --password-stdin)")
                    } else {
                        format!("{what} is written in the command (read it from a secret store)")
                    },
                );
            }
        }
    }

    /// A URL with a `user:password@` in a word.
    /// `k=v` in a script (a plain assignment or `export`): a literal under a secret's name
    /// is a finding, and the value is remembered for what follows.
    fn shell_assignment(
        &mut self,
        st: &mut ShellState,
        k: &str,
        v: &str,
        w: &Word,
        at: &dyn Fn(&Word) -> (usize, usize),
    ) {
        if secret_name(k) && literal_value(v, shell_expands(w)) {
            let (l, c) = at(w);
            self.report(
                "hardcoded-credential",
                None,
                l,
                c,
                k,
                format!("{k} is assigned a literal value"),
            );
        }
        self.note_assignment(k, v);
        st.assign(k, v, shell_expands(w));
    }

    fn url_credential(&mut self, w: &Word, st: &ShellState, at: &dyn Fn(&Word) -> (usize, usize)) {
        if let Some(password) = url_password(&w.text) {
            self.judge_credential(
                password,
                shell_expands(w),
                st,
                at(w),
                "the password of a URL",
                "url password",
                None,
            );
        }
    }

    /// The credentials a command is given: a login's password (as an option, or piped
    /// in by `echo`/`printf`), `user:password` of `--creds` and `curl -u`, and any
    /// `--…password`, `--…token` option of any command.
    fn command_credentials(
        &mut self,
        cmd: &Command,
        name_text: &str,
        args: &[String],
        prev: Option<&Command>,
        st: &ShellState,
        at: &dyn Fn(&Word) -> (usize, usize),
    ) {
        let sub = args.first().map(String::as_str).unwrap_or_default();
        let login = match (name_text, sub) {
            (
                "docker" | "podman" | "buildah" | "nerdctl" | "finch" | "skopeo" | "oras" | "helm"
                | "crane" | "regctl",
                "login",
            ) => true,
            ("crane", "auth") | ("helm" | "regctl", "registry") => {
                args.get(1).is_some_and(|a| a == "login")
            }
            _ => false,
        };
        // The server is the first positional word after the subcommand (`crane auth login
        // REG`); the values of `-u` and `-p` are never taken for it.
        let registry = login.then(|| {
            positionals(args)
                .into_iter()
                .skip(1)
                .map(|(_, a)| a)
                .find(|a| *a != "login")
                .map_or("docker.io", registry_host)
                .to_string()
        });
        let words = cmd.args();
        for (w, value, shape, opt) in credential_values(name_text, login, words) {
            let text = match shape {
                Shape::Whole => value,
                Shape::UserPassword => match value.split_once(':') {
                    Some((_, password)) => password,
                    // `-u "$CREDS"`: the variable holds both.
                    None if value.starts_with('$') => value,
                    None => continue,
                },
            };
            let (what, subject) = match &registry {
                Some(r) => (
                    format!("the password for {r}"),
                    "login password".to_string(),
                ),
                None => (
                    format!("the credential given to {name_text} {opt}"),
                    format!("{name_text} {opt}"),
                ),
            };
            self.judge_credential(
                text,
                shell_expands(w),
                st,
                at(w),
                &what,
                &subject,
                registry.as_deref(),
            );
        }
        let Some(registry) = registry else { return };
        if !words.iter().any(|w| w.text == "--password-stdin") {
            return;
        }
        self.inventory
            .credentials
            .insert(format!("a password on stdin for {registry}"));
        // `docker login --password-stdin <<< "$PW"`: the here-string is the password.
        for (j, w) in words.iter().enumerate() {
            let here = match w.text.strip_prefix("<<<") {
                Some("") => words.get(j + 1).map(|n| (n, n.text.as_str())),
                Some(glued) => Some((w, glued)),
                None => None,
            };
            if let Some((w, text)) = here {
                self.judge_credential(
                    text,
                    shell_expands(w),
                    st,
                    at(w),
                    &format!("the password for {registry}"),
                    "login password on stdin",
                    None,
                );
            }
        }
        // `echo "$PW" | docker login --password-stdin`: what is echoed is the password.
        let Some(prev) = prev.filter(|p| p.then == Joiner::Pipe) else {
            return;
        };
        let echo = prev
            .name()
            .map(|n| n.text.rsplit('/').next().unwrap_or(&n.text));
        if !matches!(echo, Some("echo" | "printf")) {
            return;
        }
        let mut values: Vec<&Word> = prev
            .args()
            .iter()
            .filter(|w| !w.text.starts_with('-'))
            .collect();
        if echo == Some("printf") && values.len() > 1 {
            values.remove(0);
        }
        for w in values {
            self.judge_credential(
                &w.text,
                shell_expands(w),
                st,
                at(w),
                &format!("the password for {registry}"),
                "login password on stdin",
                None,
            );
        }
    }
}

/// How a credential option's value holds the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The whole value is the secret.
    Whole,
    /// `user:password`: what follows the first `:` is.
    UserPassword,
}

/// The credentials `words` (a command's arguments) give: the word holding each, its
/// text, its shape and the option's name. Only options whose value is a secret whatever
/// the command (`--password`, `--…-token`, `--…creds`), plus `-p` of a login and `-u` of
/// curl: `-p` of `docker run` is a port, `-u` of `docker run` a user.
fn credential_values<'w>(
    name: &str,
    login: bool,
    words: &'w [Word],
) -> Vec<(&'w Word, &'w str, Shape, String)> {
    let mut out = Vec::new();
    let mut j = 0;
    while j < words.len() {
        let w = &words[j];
        let a = w.text.as_str();
        j += 1;
        if !a.starts_with('-') {
            continue;
        }
        let (opt, inline) = match a.split_once('=') {
            Some((o, v)) if a.starts_with("--") => (o, Some(v)),
            _ => (a, None),
        };
        let lower = opt.to_ascii_lowercase();
        let long = lower.trim_start_matches('-');
        let short = !lower.starts_with("--");
        // `-pVALUE`, `-uUSER:PASSWORD`: the value glued to the flag.
        let glued = |flag: char| {
            short
                && long.len() > 1
                && long.starts_with(flag)
                && !["password", "pass", "user", "username"].contains(&long)
        };
        if login && glued('p') {
            out.push((w, &a[2..], Shape::Whole, "-p".to_string()));
            continue;
        }
        if name == "curl" && glued('u') {
            out.push((w, &a[2..], Shape::UserPassword, "-u".to_string()));
            continue;
        }
        let flag = ["no-", "ask-", "prompt-", "with-"]
            .iter()
            .any(|p| long.starts_with(p));
        let shape = if login && lower == "-p" {
            Shape::Whole
        } else if (name == "curl" && (lower == "-u" || long == "user" || long == "proxy-user"))
            || long.ends_with("creds")
        {
            Shape::UserPassword
        } else if !flag
            && (long.ends_with("password")
                || long.ends_with("passwd")
                || long == "pass"
                || long == "token"
                || long.ends_with("-token")
                || long.ends_with("-secret"))
        {
            Shape::Whole
        } else {
            continue;
        };
        match inline {
            Some(v) => out.push((w, v, shape, opt.to_string())),
            None => {
                if let Some(next) = words.get(j) {
                    out.push((next, next.text.as_str(), shape, opt.to_string()));
                    j += 1;
                }
            }
        }
    }
    out
}

/// What expands in a shell word: a single-quoted `$NAME` is the text itself, while
/// GitHub replaces `${{ … }}` before any shell sees the word.
fn shell_expands(w: &Word) -> Expands {
    if w.dynamic {
        Expands::Shell
    } else {
        Expands::Expressions
    }
}

/// A file name without directories, for matching a download with its use.
fn base(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn findings(path: &str, kind: Kind, text: &str) -> Vec<(String, usize)> {
        let mut f = FileAudit::new(path, text);
        f.run(kind).unwrap();
        f.findings
            .iter()
            .map(|f| (f.rule.to_string(), f.line))
            .collect()
    }

    #[test]
    fn references_and_tokens() {
        assert_eq!(
            image_ref("reg.io/app:v1").unwrap().tag.as_deref(),
            Some("v1")
        );
        assert_eq!(image_ref("localhost:5000/app").unwrap().tag, None);
        assert!(image_ref("./cosign.key").is_none());
        assert!(image_ref("https://example.com/x").is_none());
        assert!(resolves_from_registry("$(crane digest app:v1)"));
        assert!(!resolves_from_registry("${{ steps.build.outputs.digest }}"));
        assert_eq!(
            token_shape(&format!("x ghp_{}", "a".repeat(36))),
            Some("a GitHub token")
        );
        assert_eq!(token_shape("ghp_short"), None);
        assert_eq!(
            token_shape(&format!("AKIA{}", "A".repeat(16))),
            Some("an AWS access key")
        );
    }

    #[test]
    fn only_real_expansions_are_references() {
        use Credential::{Literal, Reference};
        let r = |s: &str| Reference(s.to_string());
        for (value, expands, want) in [
            (
                "${{ secrets.GHCR_TOKEN }}",
                Expands::Expressions,
                r("GHCR_TOKEN"),
            ),
            ("${{secrets.X}}", Expands::Shell, r("X")),
            (
                "${{ steps.login.outputs.token }}",
                Expands::Expressions,
                r("steps.login.outputs.token"),
            ),
            (
                "${{ secrets.A || secrets.B }}",
                Expands::Expressions,
                r("an expression"),
            ),
            ("${{ 'hunter2-literal' }}", Expands::Expressions, Literal),
            ("$uperSecretPass2024", Expands::Expressions, Literal),
            (
                "$uperSecretPass2024",
                Expands::Shell,
                r("uperSecretPass2024"),
            ),
            (
                "${REGISTRY_PASSWORD}",
                Expands::Variables,
                r("REGISTRY_PASSWORD"),
            ),
            (
                "$(REGISTRY_PASSWORD)",
                Expands::Variables,
                r("REGISTRY_PASSWORD"),
            ),
            (
                "$(cat /run/secrets/pw)",
                Expands::Shell,
                r("a command's output"),
            ),
            ("$(cat /run/secrets/pw)", Expands::Variables, Literal),
            ("$PW$SUFFIX", Expands::Shell, Literal),
            ("trueNorth-Pass-4417", Expands::Shell, Literal),
            ("exampleCorp-Prod-9931", Expands::Shell, Literal),
            ("changeme-please", Expands::Shell, Literal),
            ("<your-password>", Expands::Shell, Literal),
        ] {
            assert_eq!(credential(value, expands), want, "{value} {expands:?}");
        }
        assert_eq!(credential("  ", Expands::Shell), Credential::Empty);
        assert!(!literal_value("true", Expands::Variables));
    }

    #[test]
    fn options_that_take_credentials_are_never_positional() {
        let args: Vec<String> = [
            "copy",
            "--dest-creds",
            "ci:pw",
            "-p",
            "pw2",
            "--password-stdin",
            "a:1",
            "b:2",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let pos: Vec<&str> = positionals(&args).into_iter().map(|(_, a)| a).collect();
        assert_eq!(pos, ["copy", "a:1", "b:2"]);
        let args: Vec<String> = ["login", "<<<", "pw", "<<<pw2", "2>&1", "reg.io", "<", "f"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let pos: Vec<&str> = positionals(&args).into_iter().map(|(_, a)| a).collect();
        assert_eq!(pos, ["login", "reg.io"]);
        assert_eq!(
            registry_host("https://ci:pw@reg.example.com"),
            "reg.example.com"
        );
    }

    #[test]
    fn credential_names_urls_and_glued_values() {
        for name in [
            "PW",
            "REG_PW",
            "CI_REG_PASS",
            "GH_PAT",
            "DOCKER_CREDS",
            "QUAY_PASSWORD",
        ] {
            assert!(secret_name(name), "{name}");
        }
        for name in ["PWD", "PATH", "PASSAGE", "IMAGE", "REGISTRY"] {
            assert!(!secret_name(name), "{name}");
        }
        assert_eq!(url_password("https://ci:pw-1@reg.io/v2/"), Some("pw-1"));
        assert_eq!(url_password("https://ci@reg.io"), None);
        assert_eq!(url_password("https://reg.io/a@b:c"), None);
        assert!(!credential_option("-pglued-Secret-8888"));
        assert!(!credential_option("-uci"));
        assert!(credential_option("-p") && credential_option("--password"));
        let words = |s: &str| shell::tokenize(s).remove(0).args().to_vec();
        let found = |name: &str, login: bool, s: &str| -> Vec<(String, Shape)> {
            credential_values(name, login, &words(s))
                .into_iter()
                .map(|(_, v, shape, _)| (v.to_string(), shape))
                .collect()
        };
        assert_eq!(
            found("docker", true, "docker login -u ci -pX reg --password=Y"),
            [("X".into(), Shape::Whole), ("Y".into(), Shape::Whole)]
        );
        // A port and a user of `docker run`, the flag `--password-stdin`: no credential.
        assert!(found("docker", false, "docker run -p 80:80 -u 1:1 app").is_empty());
        assert!(found("docker", true, "docker login --password-stdin reg").is_empty());
        assert_eq!(
            found("curl", false, "curl -u ci:pw https://x"),
            [("ci:pw".into(), Shape::UserPassword)]
        );
        assert_eq!(
            found("skopeo", false, "skopeo copy --src-creds=a:b x y"),
            [("a:b".into(), Shape::UserPassword)]
        );
    }

    #[test]
    fn every_line_of_a_block_scalar_is_placed_where_it_is_written() {
        let text = "on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n      - run: |\n          echo hi\n          docker login -u ci -p lit-abc reg.example.com\n";
        let mut f = FileAudit::new("a.yml", text);
        f.run(Kind::Workflow).unwrap();
        let at: Vec<(usize, usize)> = f.findings.iter().map(|f| (f.line, f.column)).collect();
        assert_eq!(at, [(8, 33)]);
    }

    #[test]
    fn credential_variables_are_never_substituted() {
        let mut st = ShellState::default();
        st.assign("PW", "lit-Secret-1", Expands::Shell);
        st.assign("COPY", "$PW", Expands::Shell);
        st.assign("URL", "https://ci:u-1@reg.io", Expands::Shell);
        st.assign("TAG", "v1", Expands::Shell);
        st.hidden = Rc::new(["COPY".to_string()].into());
        assert_eq!(st.resolve("r/a:$PW"), "r/a:$PW");
        assert_eq!(st.resolve("r/a:${COPY}"), "r/a:${COPY}");
        assert_eq!(st.resolve("$URL/a:$TAG"), "$URL/a:v1");
        // A value written in the file stays one when copied.
        assert!(st.literal.contains("PW") && st.literal.contains("COPY"));
        assert!(!st.literal.contains("X"));
    }

    #[test]
    fn variables_resolve_by_name_in_one_pass() {
        let mut st = ShellState::default();
        st.vars.insert("REG".into(), "reg.io".into());
        st.vars.insert("TAG".into(), "v1".into());
        assert_eq!(st.resolve("$REG/app:${TAG}"), "reg.io/app:v1");
        assert_eq!(st.resolve("${{ env.REG }}/x"), "reg.io/x");
        // A longer name is another variable, not REG followed by text.
        assert_eq!(st.resolve("$REGISTRY/app"), "$REGISTRY/app");
        assert_eq!(st.resolve("$ $1 ${"), "$ $1 ${");
    }

    #[test]
    fn identical_findings_get_distinct_fingerprints_by_rank() {
        let text = "curl https://a/i.sh | sh\necho hi\ncurl https://b/i.sh | sh\n";
        let mut f = FileAudit::new("x.sh", text);
        f.run(Kind::Shell).unwrap();
        assert_eq!(f.findings.len(), 2);
        assert_ne!(f.findings[0].fingerprint, f.findings[1].fingerprint);
        let moved = "\n\ncurl https://a/i.sh | sh\ncurl https://b/i.sh | sh\n";
        let mut g = FileAudit::new("x.sh", moved);
        g.run(Kind::Shell).unwrap();
        let prints = |a: &FileAudit| {
            a.findings
                .iter()
                .map(|f| f.fingerprint.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(prints(&f), prints(&g));
    }

    #[test]
    fn gitlab_templates_are_audited_where_they_are_written() {
        let ci = ".login: &login\n  - docker login -u ci -p hunter2hunter2 reg.io\n.docker:\n  before_script:\n    - curl https://x/i.sh | sh\n.rules:\n  - if: $CI\nrelease:\n  extends: .docker\n  script:\n    - *login\n";
        assert_eq!(
            findings(".gitlab-ci.yml", Kind::GitLab, ci),
            [
                ("hardcoded-credential".to_string(), 2),
                ("unchecked-download".to_string(), 5)
            ]
        );
    }

    #[test]
    fn shell_rules_fire_where_they_should() {
        let script = "docker push reg.io/app:v1\ncosign sign --key k reg.io/app:v1\n";
        assert_eq!(
            findings("a.sh", Kind::Shell, script),
            [("sign-by-tag".to_string(), 2)]
        );
        let good = "cosign sign --key k reg.io/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nhallmark sign reg.io/app:v1 --expect-digest \"$D\" --key k\n";
        assert!(findings("b.sh", Kind::Shell, good).is_empty());
        let resolved = "IMG=reg.io/app\ncosign sign --key k \"$IMG@$(crane digest $IMG:v1)\"\n";
        assert_eq!(
            findings("c.sh", Kind::Shell, resolved),
            [("sign-resolved-digest".to_string(), 2)]
        );
        let race = "cosign verify --key k reg.io/app:v1 && docker pull reg.io/app:v1\n";
        assert_eq!(
            findings("d.sh", Kind::Shell, race),
            [("verify-then-pull-by-tag".to_string(), 1)]
        );
        let pinned = "ref=$(hallmark verify reg.io/app:v1 --key k) && docker pull \"$ref\"\n";
        assert!(findings("e.sh", Kind::Shell, pinned).is_empty());
        let pipe = "curl -fsSL https://get.example.com | sudo bash\n";
        assert_eq!(
            findings("f.sh", Kind::Shell, pipe),
            [("unchecked-download".to_string(), 1)]
        );
        let checked =
            "curl -o up.sh https://x/up.sh\nsha256sum -c up.sh.sha256\nchmod +x up.sh\n./up.sh\n";
        assert!(findings("g.sh", Kind::Shell, checked).is_empty());
        let unchecked = "curl -o up.sh https://x/up.sh\nchmod +x up.sh\n./up.sh\n";
        assert_eq!(
            findings("h.sh", Kind::Shell, unchecked),
            [("unchecked-download".to_string(), 3)]
        );
        let login = "docker login reg.io -u ci -p hunter2hunter2\n";
        assert_eq!(
            findings("i.sh", Kind::Shell, login),
            [("hardcoded-credential".to_string(), 1)]
        );
        let login_ok = "echo \"$PW\" | docker login reg.io -u ci --password-stdin\n";
        assert!(findings("j.sh", Kind::Shell, login_ok).is_empty());
        for body in [
            "iex (iwr https://x/install.ps1)\n",
            "wget -qO- https://x/i.sh | sh\n",
            "bash <(curl -s https://x/i.sh)\n",
        ] {
            assert_eq!(
                findings("k.sh", Kind::Shell, body),
                [("unchecked-download".to_string(), 1)],
                "{body}"
            );
        }
        let set = "kubectl set image deploy/app app=reg.io/app:v1\n";
        assert_eq!(
            findings("l.sh", Kind::Shell, set),
            [("deploy-by-tag".to_string(), 1)]
        );
    }
}
