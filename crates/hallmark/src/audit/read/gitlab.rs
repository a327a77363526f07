//! GitLab CI (`.gitlab-ci.yml`, `.gitlab/ci/*.yml`): each job's `before_script`, `script`
//! and `after_script` in one shell, with the global and the job's `variables:`; the
//! default and jobs' images and services; scripts of hidden templates where written.
//!
//! A job takes what it does not write from the templates it `extends:` (in this file,
//! bounded, the last template winning); lists of script lines nested by aliases are
//! flattened as GitLab does. Files pulled in by `include:` are read by `audit` (see
//! [`includes`]), each as a GitLab file with the variables of the file including it.

use std::sync::Arc;

use super::{Source, env_of, place};
use crate::audit::model::{EnvVar, Expands, ImageUse, Model};
use crate::audit::yaml::{Node, Value};

pub(super) fn read(
    src: &Source<'_>,
    doc: &Node,
    m: &mut Model,
    context: &[EnvVar],
    merged: &[Arc<Merged>],
) {
    let cfg = Config::new(src, doc, merged);
    let mut env = context.to_vec();
    env_of(doc.get("variables"), Expands::Variables, m, &mut env);
    if let Some(image) = doc.get("image") {
        image_of(
            image.get("name").unwrap_or(image),
            "the default job image",
            m,
        );
    }
    // This file's jobs, then those of the files it is merged with: a job written there
    // may extend or reference a template written here, whose lines run with its variables.
    let own = doc.entries().map(|(k, j)| (k, j, Origin::Own));
    let theirs = merged.iter().flat_map(|f| {
        f.docs
            .iter()
            .flat_map(move |d| d.entries().map(move |(k, j)| (k, j, Origin::Merged(f))))
    });
    for (key, job, origin) in own.chain(theirs) {
        let hidden = key.str().is_some_and(|k| k.starts_with('.') && k != ".pre");
        let mine = origin == Origin::Own;
        if hidden && !mine {
            continue;
        }
        // A hidden key is a template: its scripts are audited where they are written (a
        // list of lines, or a map with any of the script keys), and again in each job
        // that takes them through `extends`, `<<: *x` or `!reference`, with its variables.
        if hidden && let Value::Seq(_) = &job.value {
            let lines = cfg.flatten(job, origin);
            if lines.iter().all(|(l, _)| l.str().is_some()) {
                for (i, (l, _)) in lines.into_iter().enumerate() {
                    if let Some(mut script) = src.script(l) {
                        if i == 0 {
                            script.env = env.clone();
                        } else {
                            script.continues = true;
                        }
                        m.scripts.push(script);
                    }
                }
                continue;
            }
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
        let chain = cfg.extended(job, origin);
        let take = |key: &str| chain.iter().find_map(|(j, o)| Some((j.get(key)?, *o)));
        // The three parts run in one shell: what one sets, the next sees. Only the lines
        // written in this file are this file's to report.
        let mut lines = Vec::new();
        for part in ["before_script", "script", "after_script"] {
            if let Some((script, o)) = take(part) {
                lines.extend(cfg.flatten(script, o));
            }
        }
        if !mine && lines.iter().all(|(_, o)| *o != Origin::Own) {
            continue;
        }
        let mut job_env = env.clone();
        let mut scratch = Model::default();
        for (j, o) in chain.iter().rev() {
            let vars = j.get("variables").map(|v| cfg.deref(v, *o).0);
            let into = if mine { &mut *m } else { &mut scratch };
            env_of(vars, Expands::Variables, into, &mut job_env);
        }
        if mine {
            if let Some(image) = job.get("image") {
                image_of(image.get("name").unwrap_or(image), "a job image", m);
            }
            if let Some(services) = job.get("services") {
                for s in services.items() {
                    image_of(s.get("name").unwrap_or(s), "a service container", m);
                }
            }
        }
        let mut first = true;
        for (l, o) in lines {
            if o != Origin::Own {
                continue;
            }
            if let Some(mut script) = src.script(l) {
                if std::mem::take(&mut first) {
                    script.env = job_env.clone();
                } else {
                    script.continues = true;
                }
                m.scripts.push(script);
            }
        }
    }
}

/// A GitLab file merged with the one read through `include:`, parsed once: its jobs and
/// templates belong to the same configuration.
#[derive(Debug)]
pub struct Merged {
    /// Its documents, as loaded.
    pub docs: Vec<Node>,
    /// Where each of its lines starts in `text`, to see a node's `!reference` tag.
    starts: Vec<usize>,
    text: String,
}

impl Merged {
    /// `text` parsed; `None` when it is not YAML.
    pub fn new(text: String) -> Option<Self> {
        let docs = crate::audit::yaml::parse(&text).ok()?;
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Some(Self { docs, starts, text })
    }

    /// True when its jobs may take from another file: an `extends:` or a `!reference`.
    pub fn takes_from_others(&self) -> bool {
        self.text.contains("extends:") || self.text.contains("!reference")
    }

    fn line(&self, n: usize) -> &str {
        let Some(&start) = n.checked_sub(1).and_then(|i| self.starts.get(i)) else {
            return "";
        };
        let end = self.starts.get(n).map_or(self.text.len(), |e| e - 1);
        self.text.get(start..end).unwrap_or_default()
    }
}

/// Which file a node is written in.
#[derive(Debug, Clone, Copy)]
enum Origin<'a> {
    /// The file read.
    Own,
    /// A file it is merged with.
    Merged(&'a Merged),
}

impl PartialEq for Origin<'_> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Own, Self::Own) => true,
            (Self::Merged(a), Self::Merged(b)) => std::ptr::eq(*a, *b),
            _ => false,
        }
    }
}

/// The configuration a file is part of: its own document and the files merged with it.
struct Config<'a> {
    src: &'a Source<'a>,
    /// Every top-level key: this file's, else the first merged file's that has it (the
    /// last written of a key in one file, as the loader keeps it).
    keys: std::collections::HashMap<&'a str, (&'a Node, Origin<'a>)>,
}

impl<'a> Config<'a> {
    fn new(src: &'a Source<'a>, doc: &'a Node, merged: &'a [Arc<Merged>]) -> Self {
        let mut keys = std::collections::HashMap::new();
        let own = doc.entries().map(|(k, v)| (k, v, Origin::Own));
        let theirs = merged.iter().flat_map(|f| {
            f.docs
                .iter()
                .flat_map(move |d| d.entries().map(move |(k, v)| (k, v, Origin::Merged(f))))
        });
        for (k, v, origin) in own.chain(theirs) {
            if let Some(k) = k.str() {
                keys.entry(k).or_insert((v, origin));
            }
        }
        Self { src, keys }
    }

    /// The top-level key `name`: this file's, else the first merged file's that has it.
    fn lookup(&self, name: &str) -> Option<(&'a Node, Origin<'a>)> {
        self.keys.get(name).copied()
    }

    /// The text of `line` in the file of `origin`.
    fn line(&self, origin: Origin<'a>, line: usize) -> &'a str {
        match origin {
            Origin::Own => self
                .src
                .lines
                .get(line.wrapping_sub(1))
                .copied()
                .unwrap_or_default(),
            Origin::Merged(f) => f.line(line),
        }
    }

    /// True when `n` is a sequence tagged `!reference`: `!reference [job, key, ...]`.
    fn is_reference(&self, n: &Node, origin: Origin<'a>) -> bool {
        if !matches!(n.value, Value::Seq(_)) {
            return false;
        }
        let line = self.line(origin, n.line);
        let before = line.get(..n.column.saturating_sub(1)).unwrap_or_default();
        let before = if before.trim().is_empty() {
            // The tag may end the line above a block sequence.
            self.line(origin, n.line.wrapping_sub(1))
        } else {
            before
        };
        before.trim_end().ends_with("!reference")
    }

    /// What a `!reference [job, key, ...]` names, in the file it is written in; `None`
    /// when it names nothing known (the reference stays unknown).
    fn reference(&self, n: &'a Node) -> Option<(&'a Node, Origin<'a>)> {
        let path: Vec<&str> = n.items().iter().map(Node::str).collect::<Option<_>>()?;
        let (first, rest) = path.split_first()?;
        if rest.len() > MAX_NESTING {
            return None;
        }
        let (mut at, origin) = self.lookup(first)?;
        for key in rest {
            at = at.get(key)?;
        }
        Some((at, origin))
    }

    /// `n`, or what it references when it is a `!reference` (followed a bounded number of
    /// times).
    fn deref(&self, mut n: &'a Node, mut origin: Origin<'a>) -> (&'a Node, Origin<'a>) {
        for _ in 0..MAX_NESTING {
            if !self.is_reference(n, origin) {
                break;
            }
            match self.reference(n) {
                Some((to, o)) => (n, origin) = (to, o),
                None => break,
            }
        }
        (n, origin)
    }

    /// A script's lines, each with the file it is written in: a lone string, or a list
    /// whose nested lists (aliases of other lists) are spliced in, and whose
    /// `!reference`s are replaced by what they name. A reference to nothing known adds
    /// no line.
    fn flatten(&self, script: &'a Node, origin: Origin<'a>) -> Vec<(&'a Node, Origin<'a>)> {
        let mut out = Vec::new();
        let mut pending: Vec<(&Node, Origin<'a>, usize)> = vec![(script, origin, 0)];
        while let Some((n, o, depth)) = pending.pop() {
            if out.len() >= MAX_LINES {
                break;
            }
            match &n.value {
                Value::Seq(_) if depth <= MAX_NESTING && self.is_reference(n, o) => {
                    if let Some((to, o)) = self.reference(n) {
                        pending.push((to, o, depth + 1));
                    }
                }
                Value::Seq(items) if depth <= MAX_NESTING => {
                    pending.extend(items.iter().rev().map(|i| (i, o, depth + 1)));
                }
                _ => out.push((n, o)),
            }
        }
        out
    }

    /// `job` and the templates it extends, nearest first: a key is taken from the first
    /// that has it. Of several templates the last listed wins, as in GitLab. A template
    /// is looked for in this file, then in the files merged with it.
    fn extended(&self, job: &'a Node, origin: Origin<'a>) -> Vec<(&'a Node, Origin<'a>)> {
        let mut chain = vec![(job, origin)];
        let mut at = 0;
        while at < chain.len() && chain.len() <= MAX_NESTING {
            let names: Vec<&str> = match chain[at].0.get("extends") {
                Some(e) => match &e.value {
                    Value::Seq(items) => items.iter().rev().filter_map(Node::str).collect(),
                    _ => e.str().into_iter().collect(),
                },
                None => Vec::new(),
            };
            for name in names {
                if let Some((t, o)) = self.lookup(name)
                    && !chain.iter().any(|(c, _)| std::ptr::eq(*c, t))
                {
                    chain.push((t, o));
                }
            }
            at += 1;
        }
        chain
    }
}

/// Most lines of one job's script, references and aliases spliced in.
const MAX_LINES: usize = 10_000;

fn image_of(node: &Node, what: &'static str, m: &mut Model) {
    if let Some(text) = node.str() {
        m.images.push(ImageUse {
            text: text.to_string(),
            at: place(node),
            what,
        });
    }
}

/// True when `doc`, a YAML file of no known name (a file under `ci/` that
/// `.gitlab-ci.yml` includes), holds GitLab jobs: top-level mappings with a `script`.
pub(super) fn looks_like(doc: &Node) -> bool {
    doc.entries().any(|(_, job)| {
        job.get("script")
            .is_some_and(|s| s.str().is_some() || s.items().iter().any(|l| l.str().is_some()))
    })
}

/// Deepest nesting of script lists GitLab flattens, and longest chain of `extends:`.
const MAX_NESTING: usize = 10;

/// A list's items, nested lists (aliases of other lists) spliced in.
fn flatten(list: &Node) -> Vec<&Node> {
    let mut out = Vec::new();
    let mut pending: Vec<(&Node, usize)> = vec![(list, 0)];
    while let Some((n, depth)) = pending.pop() {
        match &n.value {
            Value::Seq(items) if depth <= MAX_NESTING => {
                pending.extend(items.iter().rev().map(|i| (i, depth + 1)));
            }
            _ => out.push(n),
        }
    }
    out
}

/// A file an `include:` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Include {
    /// `local:` (or a bare path): a file of the same repository, from its root.
    Local {
        /// The path as written.
        path: String,
        /// Where it is written.
        line: usize,
    },
    /// `remote:`, `project:`, `template:` or `component:`: not in the tree audited.
    Elsewhere {
        /// What it is, in words, with what is named.
        what: String,
        /// Where it is written.
        line: usize,
    },
}

/// The files a GitLab CI document includes, in order.
pub fn includes(doc: &Node) -> Vec<Include> {
    let Some(include) = doc.get("include") else {
        return Vec::new();
    };
    let items: Vec<&Node> = match &include.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![include],
    };
    let mut out = Vec::new();
    for item in items {
        if let Some(path) = item.str() {
            let local = !(path.starts_with("https://") || path.starts_with("http://"));
            out.push(if local {
                Include::Local {
                    path: path.to_string(),
                    line: item.line,
                }
            } else {
                Include::Elsewhere {
                    what: format!("remote file {path}"),
                    line: item.line,
                }
            });
            continue;
        }
        if let Some(path) = item.get("local") {
            for p in flatten(path) {
                if let Some(text) = p.str() {
                    out.push(Include::Local {
                        path: text.to_string(),
                        line: p.line,
                    });
                }
            }
            continue;
        }
        for key in ["remote", "project", "template", "component"] {
            if let Some(v) = item.get(key) {
                let named = v.str().unwrap_or("…");
                out.push(Include::Elsewhere {
                    what: format!("{key} {named}"),
                    line: v.line,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Kind;

    #[test]
    fn jobs_take_scripts_from_templates_aliases_and_nested_lists() {
        let text = "\
variables:
  IMAGE: reg.example.com/app:latest
.sign-steps: &sign
  - cosign sign $IMAGE
.tmpl:
  variables:
    TOOL: https://example.com/i.sh
  script:
    - curl $TOOL | sh
build:
  extends: .tmpl
sign:
  script:
    - echo start
    - *sign
";
        let m = super::super::read_in(Kind::GitLab, text, &[]).unwrap();
        let got: Vec<(&str, usize, bool)> = m
            .scripts
            .iter()
            .map(|s| (s.body.as_str(), s.line, s.continues))
            .collect();
        assert_eq!(
            got,
            [
                ("cosign sign $IMAGE", 4, false),
                ("curl $TOOL | sh", 9, false),
                ("curl $TOOL | sh", 9, false),
                ("echo start", 14, false),
                ("cosign sign $IMAGE", 4, true),
            ]
        );
        let build_env: Vec<&str> = m.scripts[2].env.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(build_env, ["IMAGE", "TOOL"]);
    }

    #[test]
    fn includes_in_every_form() {
        let text = "\
include:
  - local: /ci/build.yml
  - 'ci/sign.yml'
  - local: [a.yml, b.yml]
  - remote: https://example.com/x.yml
  - project: group/ci
    file: /x.yml
  - template: Security/SAST.gitlab-ci.yml
";
        let doc = &crate::audit::yaml::parse(text).unwrap()[0];
        let got = includes(doc);
        let locals: Vec<&str> = got
            .iter()
            .filter_map(|i| match i {
                Include::Local { path, .. } => Some(path.as_str()),
                Include::Elsewhere { .. } => None,
            })
            .collect();
        assert_eq!(locals, ["/ci/build.yml", "ci/sign.yml", "a.yml", "b.yml"]);
        assert_eq!(got.len(), 7);
        let doc = &crate::audit::yaml::parse("include: ci/one.yml\n").unwrap()[0];
        assert_eq!(
            includes(doc),
            [Include::Local {
                path: "ci/one.yml".into(),
                line: 1
            }]
        );
    }

    fn scripts(m: &Model) -> Vec<(&str, usize, Vec<&str>)> {
        m.scripts
            .iter()
            .map(|s| {
                let env = s.env.iter().map(|v| v.name.as_str()).collect();
                (s.body.as_str(), s.line, env)
            })
            .collect()
    }

    #[test]
    fn a_reference_reads_as_what_it_names() {
        let text = "\
.snippets:
  sign:
    - cosign sign $IMAGE:$TAG
job:
  variables:
    TAG: v1
  script:
    - echo one
    - !reference [.snippets, sign]
    - !reference [.nowhere, script]
other:
  script: !reference [job, script]
";
        let m = super::super::read_in(Kind::GitLab, text, &[]).unwrap();
        let got = scripts(&m);
        assert_eq!(
            got,
            [
                ("echo one", 8, vec!["TAG"]),
                // Named by the reference, in the job's shell; the unknown one adds nothing.
                ("cosign sign $IMAGE:$TAG", 3, vec![]),
                // A reference to a job's script that itself holds a reference.
                ("echo one", 8, vec![]),
                ("cosign sign $IMAGE:$TAG", 3, vec![]),
            ]
        );
        assert!(m.scripts[1].continues && m.scripts[3].continues);
    }

    #[test]
    fn templates_and_jobs_of_merged_files_are_followed() {
        let main = "\
.signer:
  script:
    - cosign sign \"$REF\"
build:
  script:
    - !reference [.steps, build]
";
        let included = "\
.steps:
  build:
    - docker build -t $REF .
release:
  extends: .signer
  variables:
    REF: reg.io/app:v1
unrelated:
  script:
    - echo hi
";
        let merged = [Arc::new(Merged::new(included.to_string()).unwrap())];
        let m = super::super::read_merged(Kind::GitLab, main, &[], &merged).unwrap();
        let got = scripts(&m);
        assert_eq!(
            got,
            [
                // The template where it is written, then as the included job runs it.
                ("cosign sign \"$REF\"", 3, vec![]),
                ("cosign sign \"$REF\"", 3, vec!["REF"]),
            ],
            "the included file's own lines are its own to report"
        );
        assert_eq!(m.scripts[1].env[0].value, "reg.io/app:v1");
        assert!(merged[0].takes_from_others());
        assert!(Merged::new("a: [".into()).is_none());
    }
}
