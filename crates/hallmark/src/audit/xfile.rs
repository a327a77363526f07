//! Values followed from one pipeline file into another, before any file is audited.
//!
//! A file that only signs what it is given (a composite action, a reusable workflow, an
//! Azure template) is safe or not by what its callers pass. This pass reads the calls
//! once over the whole tree audited:
//! - GitHub: `uses: ./dir` (a composite action, `dir/action.yml`) in a step and
//!   `uses: ./.github/workflows/x.yml` (a reusable workflow) as a job, with their `with:`;
//! - Azure Pipelines: `- template: path.yml` (steps, jobs, stages, `extends:`) with its
//!   `parameters:`, the path from the including file's directory (`/path` from the root;
//!   `@self` is this repository, any other `@alias` stays unknown).
//!
//! Each value is resolved where it is written, with what the caller's reader knows
//! (`steps.meta.outputs.tags` is a tag, `${{ env.IMAGE }}` the variable's text,
//! `$(tag)` the pipeline variable, an input the caller was itself given), so the called
//! file is audited once more per distinct set of values: it is reported if any call
//! passes a tag. A caller outside the files audited gives nothing, as before.
//!
//! For GitLab, the files one `include:` closure merges (found by `audit`) are parsed once
//! and given to each other's reader, which follows `extends:` and `!reference` across
//! them.
//!
//! Bounded: calls are followed [`MAX_DEPTH`] files deep (a cycle stops there), a file
//! gets at most [`MAX_CALLS`] distinct sets of values, and only files of the tree audited
//! are read, by the audit's bounded reader.

use std::collections::{HashMap, HashSet};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use super::model::{Call, EnvVar, Expands, KnownValue, Model};
use super::read::{self, gitlab::Merged};
use super::yaml::{self, Node};
use super::{FileText, Kind, Unread, read_text};
use crate::fsio::walk;

/// Most files a value is followed through (caller, callee, its callee…).
pub(crate) const MAX_DEPTH: usize = 6;
/// Most distinct sets of values one file is audited with.
pub(crate) const MAX_CALLS: usize = 16;
/// Most call sites read in the whole tree.
const MAX_SITES: usize = 4096;
/// Most hops through variables when resolving one value.
const MAX_HOPS: usize = 8;
/// Most variables and expressions looked up for the values of one call.
const MAX_LOOKUPS: usize = 1024;
/// Longest value passed on: past it, the value is unknown.
const MAX_VALUE_BYTES: usize = 8 << 10;
/// Written where a value cannot be known: an expression no file sets.
const UNKNOWN: &str = "${{ caller.unknown }}";

/// What the pre-pass found, by index in the audit's list of files.
#[derive(Default)]
pub(crate) struct Given {
    /// The calls into each file.
    pub(crate) calls: HashMap<usize, Vec<Call>>,
    /// For each GitLab file, the files merged with it.
    pub(crate) merged: HashMap<usize, Vec<Arc<Merged>>>,
    /// For each file, the download wrappers of its repository (see [`downloaders`]).
    pub(crate) downloaders: HashMap<usize, Vec<(String, String)>>,
}

/// A call of another file, as written.
struct Site {
    caller: usize,
    line: usize,
    /// The called file, by index.
    callee: usize,
    /// How the callee reads a value: `inputs` or `parameters`.
    prefix: &'static str,
    /// Each value given, as written.
    values: Vec<(String, String)>,
    /// The job it is in (GitHub).
    job: String,
    /// The variables in scope, in order.
    env: Vec<EnvVar>,
}

/// A calling file, read.
struct Caller {
    name: String,
    kind: Kind,
    model: Model,
}

/// The files of the tree, by path once needed.
struct Tree<'a> {
    files: &'a [&'a walk::Found<Option<Kind>>],
    /// The files' texts, when given rather than read.
    texts: Option<&'a [&'a str]>,
    by_path: Option<HashMap<PathBuf, usize>>,
}

impl Tree<'_> {
    fn text(&self, i: usize) -> Option<String> {
        if let Some(texts) = self.texts {
            return texts.get(i).map(|t| (*t).to_string());
        }
        let f = self.files.get(i)?;
        let outcome = Unread {
            not_read: "not audited",
            too_large: "not audited",
        };
        match read_text(&f.path, f.root.as_deref(), &outcome).ok()? {
            FileText::Utf8(t) => Some(t),
            FileText::NotUtf8 { bytes, .. } => Some(String::from_utf8_lossy(&bytes).into_owned()),
        }
    }

    /// The file of the tree at `path`, if it is one. Paths are compared as written
    /// (`./` dropped): a path is never looked up on disk, so none leads out of the tree.
    fn index(&mut self, path: &Path) -> Option<usize> {
        let files = self.files;
        let by_path = self.by_path.get_or_insert_with(|| {
            files
                .iter()
                .enumerate()
                .map(|(i, f)| (lexical(&f.path), i))
                .collect()
        });
        by_path.get(&lexical(path)).copied()
    }
}

/// `path` without its `.` components.
fn lexical(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| *c != Component::CurDir)
        .collect()
}

/// `rel` under `base`, as long as it stays under `base`: `..` never leads out.
fn join_inside(base: &Path, rel: &str) -> Option<PathBuf> {
    let mut out = base.to_path_buf();
    let mut depth = 0usize;
    for c in Path::new(rel.trim()).components() {
        match c {
            Component::Normal(p) => {
                out.push(p);
                depth += 1;
            }
            Component::CurDir => {}
            Component::ParentDir if depth > 0 => {
                out.pop();
                depth -= 1;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// The directory a GitHub `uses: ./…` is relative to: the repository holding `.github`,
/// else the root audited.
fn repository_of(found: &walk::Found<Option<Kind>>) -> Option<PathBuf> {
    let github = found
        .path
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == ".github"));
    match github {
        Some(g) => Some(g.parent().map_or_else(|| PathBuf::from("."), normal_dir)),
        None => found.root.clone(),
    }
}

fn normal_dir(p: &Path) -> PathBuf {
    if p.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        p.to_path_buf()
    }
}

/// Runs the pre-pass over `files` (the audit's list; their `texts` when given, else read
/// from disk); `groups` are the GitLab files one `include:` closure merges, by index.
pub(crate) fn prepass(
    files: &[&walk::Found<Option<Kind>>],
    texts: Option<&[&str]>,
    groups: &[Vec<usize>],
) -> Given {
    let mut tree = Tree {
        files,
        texts,
        by_path: None,
    };
    let mut given = Given::default();
    let (sites, callers) = call_sites(&mut tree);
    given.calls = calls(&sites, &callers);
    given.merged = merged(&tree, groups);
    given.downloaders = downloaders(&tree);
    given
}

/// Most download wrappers looked for in one tree, and the largest script read as one.
const MAX_WRAPPERS: usize = 64;
const MAX_WRAPPER_BYTES: u64 = 2048;
/// Most files without an extension opened to see whether they are shell scripts.
const MAX_WRAPPER_READS: usize = 512;

/// For each file of the tree, the scripts of the tree that only download their
/// arguments (linkerd's `bin/scurl`: `exec curl --proto '=https' -sSfL "$@"`), each named
/// as the file's commands would write it: from its repository's root (where CI jobs
/// start), or from the file's own directory (a Makefile's recipes). A wrapper outside the
/// files audited stays unknown.
fn downloaders(tree: &Tree<'_>) -> HashMap<usize, Vec<(String, String)>> {
    let mut wrappers: Vec<(PathBuf, &'static str)> = Vec::new();
    let mut reads = 0;
    for (i, f) in tree.files.iter().enumerate() {
        if wrappers.len() >= MAX_WRAPPERS {
            break;
        }
        // A script named `*.sh`, or one without an extension whose `#!` says shell
        // (`bin/scurl`); at most [`MAX_WRAPPER_READS`] of the latter are opened.
        let unnamed = f.kind.is_none() && f.path.extension().is_none();
        if f.kind != Some(Kind::Shell) && !unnamed {
            continue;
        }
        if unnamed {
            reads += 1;
            if reads > MAX_WRAPPER_READS {
                continue;
            }
        }
        // A wrapper is a few lines: a long script is not read twice to find out.
        let small = match tree.texts {
            Some(t) => t
                .get(i)
                .is_some_and(|t| t.len() as u64 <= MAX_WRAPPER_BYTES),
            None => std::fs::symlink_metadata(&f.path)
                .is_ok_and(|m| m.is_file() && m.len() <= MAX_WRAPPER_BYTES),
        };
        if let Some(tool) = small
            .then(|| tree.text(i))
            .flatten()
            .filter(|t| !unnamed || super::shell_shebang(t.lines().next().unwrap_or_default()))
            .and_then(|t| wrapped_downloader(&t))
        {
            wrappers.push((lexical(&f.path), tool));
        }
    }
    let mut out = HashMap::new();
    if wrappers.is_empty() {
        return out;
    }
    for (i, f) in tree.files.iter().enumerate() {
        let mut bases: Vec<PathBuf> = repository_of(f).map(|r| lexical(&r)).into_iter().collect();
        if let Some(dir) = f.path.parent() {
            bases.push(lexical(dir));
        }
        let mut names = Vec::new();
        for (path, tool) in &wrappers {
            for base in &bases {
                if let Ok(rel) = path.strip_prefix(base)
                    && let Some(rel) = rel.to_str()
                    && !names.iter().any(|(n, _): &(String, String)| n == rel)
                {
                    names.push((rel.replace('\\', "/"), (*tool).to_string()));
                }
            }
        }
        if !names.is_empty() {
            out.insert(i, names);
        }
    }
    out
}

/// The downloader a script runs on its own arguments and nothing else: a `curl` or
/// `wget` given `"$@"` (after `exec`, with any options), beside only `set` lines and
/// comments. A script that pipes the download on, or does more, is not a wrapper.
fn wrapped_downloader(text: &str) -> Option<&'static str> {
    let mut found = None;
    for line in text.lines().take(32) {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("set ") {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let first = words.iter().position(|w| *w != "exec" && *w != "command")?;
        let tool = match super::check::invoke::tool_name(words[first]).as_str() {
            "curl" => "curl",
            "wget" => "wget",
            _ => return None,
        };
        let forwards = words[first + 1..]
            .iter()
            .any(|w| matches!(w.trim_matches('"'), "$@" | "${@}" | "$*"));
        if found.is_some() || !forwards || line.contains(['|', ';', '&', '>', '`']) {
            return None;
        }
        found = Some(tool);
    }
    found
}

/// Every call site of the tree, and the files that hold them, read.
fn call_sites(tree: &mut Tree<'_>) -> (Vec<Site>, HashMap<usize, Caller>) {
    let mut sites = Vec::new();
    let mut callers = HashMap::new();
    let mut pending: Vec<usize> = (0..tree.files.len())
        .rev()
        .filter(|&i| {
            matches!(
                tree.files[i].kind,
                Some(Kind::Workflow | Kind::Action | Kind::Azure)
            )
        })
        .collect();
    let mut scanned: HashSet<usize> = pending.iter().copied().collect();
    // Most files call nothing: they are read (on every core) but not parsed twice.
    let mut texts = calling(tree, &pending);
    while let Some(i) = pending.pop() {
        if sites.len() >= MAX_SITES {
            break;
        }
        let Some(kind) = tree.files[i].kind else {
            continue;
        };
        let text = match texts.remove(&i) {
            Some(text) => text,
            // A called file, read when it is found called.
            None if !matches!(kind, Kind::Workflow | Kind::Action | Kind::Azure) => {
                match tree.text(i) {
                    Some(text) if calls_another(kind, &text) => text,
                    _ => continue,
                }
            }
            None => continue,
        };
        let github = matches!(kind, Kind::Workflow | Kind::Action);
        let Ok(docs) = yaml::parse(&text) else {
            continue;
        };
        let before = sites.len();
        for doc in &docs {
            if github {
                github_sites(tree, i, doc, &mut sites);
            } else {
                azure_sites(tree, i, doc, &mut sites);
            }
        }
        if sites.len() == before {
            continue;
        }
        // A called file may call others: it is read too.
        for s in &sites[before..] {
            if scanned.insert(s.callee)
                && matches!(
                    tree.files[s.callee].kind,
                    Some(Kind::Azure | Kind::Kubernetes | Kind::Action | Kind::Workflow)
                )
            {
                pending.push(s.callee);
            }
        }
        let model = read::read_in(kind, &text, &[]).unwrap_or_default();
        callers.insert(
            i,
            Caller {
                name: tree.files[i].path.display().to_string(),
                kind,
                model,
            },
        );
    }
    (sites, callers)
}

/// True when `text`, a file of `kind`, may call another file: a `uses: ./…` line, or a
/// `template:` key.
fn calls_another(kind: Kind, text: &str) -> bool {
    if matches!(kind, Kind::Workflow | Kind::Action) {
        text.lines().any(|l| {
            l.split_once("uses:").is_some_and(|(_, u)| {
                u.trim_start()
                    .trim_start_matches(['"', '\''])
                    .starts_with("./")
            })
        })
    } else {
        text.contains("template:")
    }
}

/// The texts of the files of `indices` that may call another, read on every core.
fn calling(tree: &Tree<'_>, indices: &[usize]) -> HashMap<usize, String> {
    let one = |i: usize| {
        let kind = tree.files[i].kind?;
        let text = tree.text(i)?;
        calls_another(kind, &text).then_some((i, text))
    };
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .clamp(1, 8)
        .min(indices.len().div_ceil(64).max(1));
    if workers <= 1 {
        return indices.iter().filter_map(|&i| one(i)).collect();
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let one = &one;
                scope.spawn(move || {
                    indices
                        .iter()
                        .skip(w)
                        .step_by(workers)
                        .filter_map(|&i| one(i))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The string values of a `with:` or `parameters:` map.
fn values_of(with: Option<&Node>) -> Vec<(String, String)> {
    with.map(Node::entries)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.str()?.to_string(), v.str()?.to_string())))
        .collect()
}

fn env_of(node: Option<&Node>, into: &mut Vec<EnvVar>) {
    for (k, v) in node.map(Node::entries).into_iter().flatten() {
        if let (Some(k), Some(v)) = (k.str(), v.str()) {
            into.push(EnvVar {
                name: k.to_string(),
                value: v.to_string(),
                expands: Expands::Expressions,
            });
        }
    }
}

/// A `uses: ./path` (a reference after `@` ignored) and its line.
fn local(uses: Option<&Node>) -> Option<(String, usize)> {
    let node = uses?;
    let u = node.str()?.strip_prefix("./")?;
    Some((u.split('@').next().unwrap_or(u).to_string(), node.line))
}

/// GitHub: reusable workflows called as jobs, composite actions called as steps.
fn github_sites(tree: &mut Tree<'_>, caller: usize, doc: &Node, out: &mut Vec<Site>) {
    let Some(repo) = repository_of(tree.files[caller]) else {
        return;
    };
    let mut env = Vec::new();
    env_of(doc.get("env"), &mut env);
    for (key, job) in doc.get("jobs").map(Node::entries).into_iter().flatten() {
        let name = key.str().unwrap_or_default();
        let mut job_env = env.clone();
        env_of(job.get("env"), &mut job_env);
        if let Some((path, line)) = local(job.get("uses"))
            && let Some(file) = join_inside(&repo, &path)
            && let Some(callee) = tree.index(&file)
        {
            out.push(Site {
                caller,
                line,
                callee,
                prefix: "inputs",
                values: values_of(job.get("with")),
                job: name.to_string(),
                env: job_env.clone(),
            });
        }
        let at = (caller, repo.as_path(), name);
        step_sites(tree, at, job.get("steps"), &job_env, out);
    }
    let steps = doc.get("runs").and_then(|r| r.get("steps"));
    step_sites(tree, (caller, &repo, ""), steps, &env, out);
}

/// Composite actions called by `steps` of `job` in `caller`, whose repository is `repo`.
fn step_sites(
    tree: &mut Tree<'_>,
    (caller, repo, job): (usize, &Path, &str),
    steps: Option<&Node>,
    job_env: &[EnvVar],
    out: &mut Vec<Site>,
) {
    for step in steps.map(Node::items).unwrap_or_default() {
        let Some((path, line)) = local(step.get("uses")) else {
            continue;
        };
        let Some(dir) = join_inside(repo, &path) else {
            continue;
        };
        let Some(callee) = ["action.yml", "action.yaml"]
            .iter()
            .find_map(|f| tree.index(&dir.join(f)))
        else {
            continue;
        };
        let mut env = job_env.to_vec();
        env_of(step.get("env"), &mut env);
        out.push(Site {
            caller,
            line,
            callee,
            prefix: "inputs",
            values: values_of(step.get("with")),
            job: job.to_string(),
            env,
        });
    }
}

/// Azure Pipelines: `template:` items of steps, jobs and stages, and `extends:`.
fn azure_sites(tree: &mut Tree<'_>, caller: usize, doc: &Node, out: &mut Vec<Site>) {
    let found = tree.files[caller];
    let dir = normal_dir(found.path.parent().unwrap_or(Path::new(".")));
    let root = found.root.clone().unwrap_or_else(|| dir.clone());
    let mut wanted = Vec::new();
    doc.walk(&mut |key, n| {
        // A variables template holds variables, not parameters.
        if key == Some("variables") {
            return;
        }
        if let Some(t) = n.get("template")
            && let Some(path) = t.str()
        {
            wanted.push((path.to_string(), t.line, n.get("parameters")));
        }
    });
    for (path, line, params) in wanted {
        let path = match path.split_once('@') {
            Some((p, "self")) => p.to_string(),
            // Another repository's template is not in the tree.
            Some(_) => continue,
            None => path,
        };
        let file = match path.strip_prefix('/') {
            Some(rel) => join_inside(&root, rel),
            None => join_inside(&dir, &path),
        };
        let Some(callee) = file.and_then(|f| tree.index(&f)) else {
            continue;
        };
        out.push(Site {
            caller,
            line,
            callee,
            prefix: "parameters",
            values: values_of(params),
            job: String::new(),
            env: Vec::new(),
        });
    }
}

/// The calls into each file: every site resolved in its caller, the caller's own calls
/// followed [`MAX_DEPTH`] times.
fn calls(sites: &[Site], callers: &HashMap<usize, Caller>) -> HashMap<usize, Vec<Call>> {
    let mut out: HashMap<usize, Vec<Call>> = HashMap::new();
    for _ in 0..MAX_DEPTH {
        let mut changed = false;
        for site in sites {
            let Some(caller) = callers.get(&site.caller) else {
                continue;
            };
            // The caller as it runs on its own, then as each of its own callers runs it.
            let mut incoming: Vec<Option<Call>> = vec![None];
            incoming.extend(
                out.get(&site.caller)
                    .into_iter()
                    .flatten()
                    .cloned()
                    .map(Some),
            );
            for inc in incoming {
                let cx = Cx {
                    caller,
                    site,
                    incoming: inc.as_ref(),
                    budget: &std::cell::Cell::new(MAX_LOOKUPS),
                };
                let call = Call {
                    from: format!("{}:{}", caller.name, site.line),
                    values: site
                        .values
                        .iter()
                        .map(|(k, v)| (format!("{}.{k}", site.prefix), cx.resolve(v, 0)))
                        .collect(),
                };
                let into = out.entry(site.callee).or_default();
                if into.len() < MAX_CALLS && !into.iter().any(|c| c.values == call.values) {
                    into.push(call);
                    changed = true;
                }
            }
        }
        if !changed {
            break;
        }
    }
    out
}

/// Where a value is resolved: its caller, the call site, and what the caller was given.
struct Cx<'a> {
    caller: &'a Caller,
    site: &'a Site,
    incoming: Option<&'a Call>,
    /// Lookups left for this call's values: a value naming many variables that each name
    /// many more must not cost more than this.
    budget: &'a std::cell::Cell<usize>,
}

/// Contexts whose value is the same in the called file as in its caller.
fn shared_context(key: &str) -> bool {
    ["github.", "secrets.", "vars."]
        .iter()
        .any(|p| key.starts_with(p))
}

impl Cx<'_> {
    /// The value of `text` as the callee receives it: a class when the caller knows only
    /// that (an action's output), else the text with what is known substituted; `None`
    /// when it cannot be known.
    fn resolve(&self, text: &str, hops: usize) -> Option<KnownValue> {
        let t = text.trim();
        if let Some(inner) = t.strip_prefix("${{").and_then(|r| r.strip_suffix("}}"))
            && !inner.contains("${{")
            && !inner.contains("}}")
        {
            return self.expression(&key(inner), hops);
        }
        let mut out = String::new();
        let mut rest = t;
        while let Some(at) = rest.find("${{") {
            if out.len() > MAX_VALUE_BYTES {
                return None;
            }
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            let Some(end) = tail.find("}}") else {
                out.push_str(tail);
                rest = "";
                break;
            };
            let k = key(&tail[3..end]);
            match self.expression(&k, hops) {
                Some(KnownValue::Text(v)) => out.push_str(&v),
                _ if shared_context(&k) => out.push_str(&tail[..end + 2]),
                _ => out.push_str(UNKNOWN),
            }
            rest = &tail[end + 2..];
        }
        out.push_str(rest);
        if self.caller.kind == Kind::Azure || self.site.prefix == "parameters" {
            out = self.macros(&out, hops);
        }
        (out.len() <= MAX_VALUE_BYTES).then_some(KnownValue::Text(out))
    }

    /// Azure's `$(name)`: the caller's variable when it sets one, else a variable the
    /// callee may know.
    fn macros(&self, text: &str, hops: usize) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("$(") {
            if out.len() > MAX_VALUE_BYTES {
                break;
            }
            out.push_str(&rest[..at]);
            let tail = &rest[at + 2..];
            let Some(close) = tail.find(')') else {
                out.push_str(&rest[at..]);
                return out;
            };
            let name = &tail[..close];
            let plain = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
            if !plain {
                out.push_str("$(");
                rest = tail;
                continue;
            }
            let var = name.replace(['.', '-'], "_");
            let set = self
                .caller
                .model
                .assignments
                .iter()
                .rev()
                .find(|a| a.name == var || a.name == name);
            match set {
                Some(a) if hops < MAX_HOPS && self.spend() => {
                    out.push_str(&self.macros(&a.value, hops + 1));
                }
                _ => out.push_str(&format!("${{{var}}}")),
            }
            rest = &tail[close + 1..];
        }
        out.push_str(rest);
        out
    }

    /// Takes one lookup from the budget; false when none is left.
    fn spend(&self) -> bool {
        let left = self.budget.get();
        self.budget.set(left.saturating_sub(1));
        left > 0
    }

    /// The value of the expression `k` (spaces normalised) where the call is written.
    fn expression(&self, k: &str, hops: usize) -> Option<KnownValue> {
        if hops >= MAX_HOPS || !self.spend() {
            return None;
        }
        let next = |text: &str| self.resolve(text, hops + 1);
        if let Some(call) = self.incoming
            && let Some((_, v)) = call.values.iter().find(|(e, _)| e == k)
        {
            return v.clone();
        }
        let m = &self.caller.model;
        if let Some(name) = k.strip_prefix("env.") {
            let v = self.site.env.iter().rev().find(|v| v.name == name)?;
            return next(&v.value);
        }
        if let Some(name) = k.strip_prefix("variables.") {
            let v = m.assignments.iter().rev().find(|v| v.name == name)?;
            return next(&v.value);
        }
        let known = m
            .flow
            .known
            .iter()
            .rev()
            .find(|c| c.expr == k && c.job.as_deref().is_none_or(|j| j == self.site.job));
        if let Some(known) = known {
            return match &known.value {
                KnownValue::Class(c) => Some(KnownValue::Class(*c)),
                KnownValue::Text(t) => next(t),
            };
        }
        if let Some(rest) = k.strip_prefix("needs.")
            && let Some((job, output)) = rest.split_once(".outputs.")
        {
            let o = m
                .flow
                .job_outputs
                .iter()
                .find(|o| o.job == job && o.name == output)?;
            let there = Cx {
                site: &Site {
                    job: job.to_string(),
                    env: Vec::new(),
                    values: Vec::new(),
                    ..*self.site
                },
                ..*self
            };
            return there.resolve(&o.text, hops + 1);
        }
        shared_context(k).then(|| KnownValue::Text(format!("${{{{ {k} }}}}")))
    }
}

/// An expression's text without `${{ }}`, its spaces normalised as the checks key it.
fn key(inside: &str) -> String {
    inside.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// For each GitLab file of a closure with others, those others, parsed once.
fn merged(tree: &Tree<'_>, groups: &[Vec<usize>]) -> HashMap<usize, Vec<Arc<Merged>>> {
    let mut parsed: HashMap<usize, Option<Arc<Merged>>> = HashMap::new();
    let mut out: HashMap<usize, Vec<Arc<Merged>>> = HashMap::new();
    for group in groups.iter().filter(|g| g.len() > 1) {
        for &i in group {
            parsed
                .entry(i)
                .or_insert_with(|| Merged::new(tree.text(i)?).map(Arc::new));
        }
        let uses_others = group
            .iter()
            .any(|i| parsed[i].as_ref().is_some_and(|m| m.takes_from_others()));
        if !uses_others {
            continue;
        }
        for &i in group {
            let theirs = out.entry(i).or_default();
            for &j in group {
                if j != i
                    && let Some(m) = &parsed[&j]
                    && !theirs.iter().any(|t| Arc::ptr_eq(t, m))
                {
                    theirs.push(m.clone());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::model::ValueClass;

    /// Writes `files` under a fresh directory and runs the pre-pass over them, as
    /// `audit` would over that directory.
    fn given(files: &[(&str, &str)]) -> (Given, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let mut found = Vec::new();
        for (path, text) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(&full, text).unwrap();
            found.push(walk::Found {
                kind: super::super::kind_by_name(Path::new(path)),
                path: full,
                root: Some(dir.path().to_path_buf()),
            });
        }
        let all: Vec<&walk::Found<Option<Kind>>> = found.iter().collect();
        let g = prepass(&all, None, &[]);
        let names = files.iter().map(|(p, _)| p.to_string()).collect();
        drop(dir);
        (g, names)
    }

    fn values(g: &Given, file: usize) -> Vec<Vec<(String, Option<KnownValue>)>> {
        g.calls
            .get(&file)
            .map(|c| c.iter().map(|c| c.values.clone()).collect())
            .unwrap_or_default()
    }

    const ACTION: &str = "inputs:\n  ref: {required: true}\nruns:\n  using: composite\n  steps:\n    - run: cosign sign ${{ inputs.ref }}\n      shell: bash\n";

    #[test]
    fn each_call_of_an_action_is_resolved_in_its_caller() {
        let wf = "\
env:
  IMAGE: reg.io/app
jobs:
  a:
    runs-on: x
    steps:
      - id: meta
        uses: docker/metadata-action@0123456789abcdef0123456789abcdef01234567
      - uses: ./.github/actions/sign
        with:
          ref: ${{ steps.meta.outputs.tags }}
  b:
    runs-on: x
    steps:
      - id: build
        uses: docker/build-push-action@0123456789abcdef0123456789abcdef01234567
      - uses: ./.github/actions/sign
        with:
          ref: ${{ env.IMAGE }}@${{ steps.build.outputs.digest }}
      - uses: ./.github/actions/sign
        with:
          ref: ${{ steps.nowhere.outputs.ref }}
      - uses: ./.github/actions/sign@v1
        with:
          ref: reg.io/app:${{ github.sha }}
";
        let (g, _) = given(&[
            (".github/actions/sign/action.yml", ACTION),
            (".github/workflows/ci.yml", wf),
        ]);
        let input = |v: Option<KnownValue>| vec![("inputs.ref".to_string(), v)];
        assert_eq!(
            values(&g, 0),
            [
                input(Some(KnownValue::Class(ValueClass::Tag))),
                input(Some(KnownValue::Text(
                    "reg.io/app@${{ caller.unknown }}".into()
                ))),
                input(None),
                input(Some(KnownValue::Text(
                    "reg.io/app:${{ github.sha }}".into()
                ))),
            ]
        );
        assert!(
            g.calls[&0][0].from.ends_with("ci.yml:9"),
            "{}",
            g.calls[&0][0].from
        );
        // The caller itself is called by nobody.
        assert!(!g.calls.contains_key(&1));
    }

    #[test]
    fn reusable_workflows_take_needs_outputs_and_a_caller_own_inputs() {
        let callee = "on:\n  workflow_call:\n    inputs:\n      subject: {type: string}\njobs:\n  s:\n    runs-on: x\n    steps:\n      - run: cosign sign \"${{ inputs.subject }}\"\n";
        let middle = "on:\n  workflow_call:\n    inputs:\n      image: {type: string, default: reg.io/app:dev}\njobs:\n  call:\n    uses: ./.github/workflows/sign.yml\n    with:\n      subject: ${{ inputs.image }}\n";
        let top = "on: push\njobs:\n  build:\n    runs-on: x\n    outputs:\n      digest: ${{ steps.b.outputs.digest }}\n    steps:\n      - id: b\n        uses: docker/build-push-action@0123456789abcdef0123456789abcdef01234567\n  sign:\n    needs: build\n    uses: ./.github/workflows/sign.yml\n    with:\n      subject: ${{ needs.build.outputs.digest }}\n  release:\n    uses: ./.github/workflows/middle.yml\n    with:\n      image: reg.io/app@sha256:00\n";
        let (g, _) = given(&[
            (".github/workflows/sign.yml", callee),
            (".github/workflows/middle.yml", middle),
            (".github/workflows/top.yml", top),
        ]);
        let subject = |v: &str| {
            vec![(
                "inputs.subject".to_string(),
                Some(KnownValue::Text(v.into())),
            )]
        };
        let got = values(&g, 0);
        // From middle.yml: its default, then what top.yml gives it.
        assert!(got.contains(&subject("reg.io/app:dev")), "{got:?}");
        assert!(got.contains(&subject("reg.io/app@sha256:00")), "{got:?}");
        assert!(got.contains(&vec![(
            "inputs.subject".to_string(),
            Some(KnownValue::Class(ValueClass::Digest))
        )]));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn azure_templates_take_parameters_and_a_loop_ends() {
        let pipeline = "variables:\n  - name: reg\n    value: acme.azurecr.io\nsteps:\n  - template: t/a.yml\n    parameters:\n      image: $(reg)/app:$(tag)\n  - template: /t/a.yml@self\n    parameters:\n      image: $(reg)/app@$(digest)\n  - template: t/a.yml@other\n    parameters:\n      image: x\n  - template: ../../etc/passwd\n";
        let a = "parameters:\n  - name: image\nsteps:\n  - bash: cosign sign ${{ parameters.image }}\n  - template: b.yml\n    parameters:\n      image: ${{ parameters.image }}-a\n";
        let b = "parameters:\n  - name: image\nsteps:\n  - template: a.yml\n    parameters:\n      image: ${{ parameters.image }}-b\n";
        let (g, _) = given(&[
            ("azure-pipelines.yml", pipeline),
            ("t/a.yml", a),
            ("t/b.yml", b),
        ]);
        let into_a = values(&g, 1);
        let text = |v: &[(String, Option<KnownValue>)]| match &v[0].1 {
            Some(KnownValue::Text(t)) => t.clone(),
            other => format!("{other:?}"),
        };
        let texts: Vec<String> = into_a.iter().map(|v| text(v)).collect();
        assert_eq!(texts[0], "acme.azurecr.io/app:${tag}");
        assert_eq!(texts[1], "acme.azurecr.io/app@${digest}");
        // The loop a → b → a ends: bounded, each value one more `-a-b` deep.
        assert!(texts.len() <= MAX_CALLS, "{texts:?}");
        assert!(texts.iter().any(|t| t.ends_with("-a-b")), "{texts:?}");
        assert!(!values(&g, 2).is_empty());
    }

    #[test]
    fn paths_never_leave_the_base() {
        let base = Path::new("/r");
        assert_eq!(join_inside(base, "a/../b"), Some(PathBuf::from("/r/b")));
        assert_eq!(join_inside(base, "./a"), Some(PathBuf::from("/r/a")));
        assert_eq!(join_inside(base, "../x"), None);
        assert_eq!(join_inside(base, "a/../../x"), None);
        assert_eq!(join_inside(base, "/etc/passwd"), None);
    }

    #[test]
    fn a_value_naming_variables_that_name_many_more_costs_a_bounded_effort() {
        // Each variable names the next 16 times: 16^8 paths of 8 hops without a budget.
        let mut wf = String::from("env:\n");
        for i in 0..8 {
            let next = format!("${{{{ env.V{} }}}}", i + 1).repeat(16);
            wf.push_str(&format!("  V{i}: \"{next}\"\n"));
        }
        wf.push_str(&format!("  V8: \"reg.io/app:{}\"\n", "x".repeat(4000)));
        wf.push_str("jobs:\n  a:\n    runs-on: x\n    steps:\n      - uses: ./.github/actions/sign\n        with:\n          ref: ${{ env.V0 }}\n");
        let (g, _) = given(&[
            (".github/actions/sign/action.yml", ACTION),
            (".github/workflows/ci.yml", &wf),
        ]);
        // Past the hops allowed the value is unknown, never a cut text taken for a tag.
        let got = values(&g, 0);
        assert_eq!(got.len(), 1);
        match &got[0][0].1 {
            None => {}
            Some(KnownValue::Text(t)) => {
                assert!(t.len() <= MAX_VALUE_BYTES && !t.contains("reg.io"), "{t}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn scripts_that_download_their_arguments_are_downloaders_where_they_are_run() {
        let scurl = "#!/usr/bin/env sh\n\nexec curl --proto '=https' --tlsv1.2 -sSfL \"$@\"\n";
        let fetch = "#!/bin/bash\nset -euo pipefail\nwget -q --https-only \"$@\"\n";
        let not = "#!/bin/sh\ncurl -sSfL \"$@\" | tar -xz\n";
        let (g, _) = given(&[
            ("bin/scurl", scurl),
            ("tools/fetch.sh", fetch),
            ("bin/get-and-unpack", not),
            (".github/workflows/ci.yml", "on: push\n"),
            ("tools/Makefile", "all:\n"),
        ]);
        let names = |i: usize| -> Vec<(String, String)> {
            let mut n = g.downloaders.get(&i).cloned().unwrap_or_default();
            n.sort();
            n
        };
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        assert_eq!(
            names(3),
            [pair("bin/scurl", "curl"), pair("tools/fetch.sh", "wget")]
        );
        assert_eq!(
            names(4),
            [
                pair("bin/scurl", "curl"),
                pair("fetch.sh", "wget"),
                pair("tools/fetch.sh", "wget")
            ]
        );
        assert_eq!(wrapped_downloader("exec curl -sSfL https://x/i.sh\n"), None);
        assert_eq!(wrapped_downloader("curl \"$@\"\nrm -rf /tmp/x\n"), None);
    }
}
