//! Readers: each kind of file turned into one [`Model`], with no rule logic.
//!
//! A reader finds, in its kind of file, the scripts (with their exact place and the
//! variables set for them), the images and actions used, the values that may hold
//! credentials and what the file pushes. The rules never look at a file's syntax.
//!
//! Adding a CI system:
//! - a YAML one whose shell, images and variables sit under known keys is one small file
//!   holding a `generic::Spec` (see `circleci.rs`), one variant in [`Kind`], its file
//!   names in `kind_by_name` (`audit/mod.rs`) and one arm in `read_in`;
//! - anything else (a Makefile, Groovy) is a file with a function from text to [`Model`],
//!   plus the same three lines.

mod argv;
mod azure;
mod bitbucket;
mod buildkite;
mod circleci;
mod cloudbuild;
mod dockerfile;
mod drone;
pub(crate) mod generic;
mod github;
pub mod gitlab;
mod jenkins;
pub mod just;
mod macros;
pub mod make;
mod manifests;
pub use super::mapped;
mod runners;
pub mod taskfile;
mod tekton;
mod travis;

use super::Kind;
use super::mapped::Located;
use super::model::{EnvVar, Expands, Model, Place, Script, Value};
use super::secrets::is_name;
use super::yaml::{self, Node};

/// A file's text as the readers see it: its lines (without their `\r\n` or `\n`) and those
/// lines joined by `\n`.
pub(crate) struct Source<'a> {
    pub(crate) lines: Vec<&'a str>,
    pub(crate) text: String,
}

impl<'a> Source<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        let lines: Vec<&str> = text.lines().collect();
        let text = lines.join("\n");
        Self { lines, text }
    }

    /// Where a `run:`-like scalar's text starts: the next line for a block scalar, whose
    /// every line (not only the first) is indented by the column given.
    pub(crate) fn body_start(&self, node: &Node) -> (usize, usize, bool) {
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

    /// The script a YAML scalar holds, placed where it is written.
    pub(crate) fn script(&self, node: &Node) -> Option<Script> {
        let text = node.str()?;
        let start = self.body_start(node);
        let mut script = Script::new(text, start);
        if !start.2 {
            script.located = self.folded(node, text).map(std::sync::Arc::new);
        }
        Some(script)
    }

    /// Where each character of a flow scalar written over several lines came from. YAML
    /// folds such a scalar (`- if …; then` with its body on the next lines) into one line,
    /// which would put every command of it on the first line. The text is matched against
    /// the file character by character, line breaks and indentation skipped; `None` when
    /// the scalar is on one line, or the match fails (escapes of a quoted scalar).
    fn folded(&self, node: &Node, text: &str) -> Option<Located> {
        use crate::audit::mapped::{Builder, Pos};
        let first = self.lines.get(node.line.checked_sub(1)?)?;
        let rest: String = first.chars().skip(node.column.saturating_sub(1)).collect();
        if rest.trim_start_matches(['"', '\'']).starts_with(text) {
            return None;
        }
        let mut source = self.lines[node.line - 1..]
            .iter()
            .enumerate()
            .flat_map(|(i, l)| {
                let line = node.line + i;
                l.chars()
                    .enumerate()
                    .map(move |(j, c)| (c, Pos::new(line, j + 1)))
                    .chain(std::iter::once((
                        '\n',
                        Pos::new(line, l.chars().count() + 1),
                    )))
            })
            .skip(node.column.saturating_sub(1));
        let mut b = Builder::default();
        // Each character of the text costs at most this many of the file: bounded work.
        let mut budget = text.len().saturating_mul(4).saturating_add(4096);
        for c in text.chars() {
            loop {
                budget = budget.checked_sub(1)?;
                let (sc, pos) = source.next()?;
                if sc == c {
                    b.push(c, pos);
                    break;
                }
                if c.is_whitespace() && sc.is_whitespace() {
                    b.push(c, pos);
                    break;
                }
                if !(sc.is_whitespace() || matches!(sc, '"' | '\'' | '\\')) {
                    return None;
                }
            }
        }
        Some(Located::new(b.finish(), false))
    }
}

/// Reads `text` as a file of `kind`, on its own.
#[cfg(test)]
pub(crate) fn read(kind: Kind, text: &str) -> Result<Model, yaml::YamlError> {
    read_in(kind, text, &[])
}

/// Reads `text` as a file of `kind` whose scripts also see `context`: the variables of
/// the GitLab file that includes it.
pub(crate) fn read_in(
    kind: Kind,
    text: &str,
    context: &[EnvVar],
) -> Result<Model, yaml::YamlError> {
    read_merged(kind, text, context, &[])
}

/// [`read_in`], a GitLab file also seeing the templates and jobs of the files `merged`
/// with it by `include:`.
pub(crate) fn read_merged(
    kind: Kind,
    text: &str,
    context: &[EnvVar],
    merged: &[std::sync::Arc<gitlab::Merged>],
) -> Result<Model, yaml::YamlError> {
    let src = Source::new(text);
    Ok(match kind {
        Kind::Dockerfile => dockerfile::read(&src),
        Kind::Shell => {
            let mut m = Model::default();
            m.scripts
                .push(Script::new(src.text.as_str(), (1, 0, false)));
            m
        }
        Kind::Jenkins => jenkins::read(&src),
        Kind::Workflow | Kind::Action => yaml_docs(&src, Expands::Expressions, github::read)?,
        Kind::GitLab => yaml_docs(&src, Expands::Variables, |s, d, m| {
            gitlab::read(s, d, m, context, merged)
        })?,
        Kind::CircleCi => yaml_docs(&src, Expands::Variables, circleci::read)?,
        Kind::Compose => yaml_docs(&src, Expands::Variables, manifests::compose)?,
        Kind::Kubernetes => {
            let mut m = yaml_docs(&src, Expands::Variables, any_yaml)?;
            // `$(params.x)` names a value given when a Tekton task runs.
            m.values.retain(|v| !tekton::reference_only(&v.text));
            m
        }
        Kind::Make => runners::makefile(text),
        Kind::Just => runners::justfile(text),
        Kind::Taskfile => yaml_docs(&src, Expands::Variables, runners::taskfile)?,
        Kind::Travis => yaml_docs(&src, Expands::Variables, |s, d, m| {
            generic::read(&travis::SPEC, s, d, m)
        })?,
        Kind::Azure => yaml_docs(&src, Expands::Variables, azure::read)?,
        Kind::Bitbucket => yaml_docs(&src, Expands::Variables, |s, d, m| {
            generic::read(&bitbucket::SPEC, s, d, m)
        })?,
        Kind::Buildkite => {
            let mut m = yaml_docs_with(
                &src,
                Expands::Variables,
                |s, d, m| generic::read(&buildkite::SPEC, s, d, m),
                buildkite::SECRET_NAMES,
            )?;
            not_credentials(&mut m, buildkite::SECRET_NAMES);
            m
        }
        Kind::Drone => {
            let mut m = yaml_docs(&src, Expands::Variables, |s, d, m| {
                generic::read(&drone::SPEC, s, d, m)
            })?;
            not_credentials(&mut m, drone::SECRET_NAMES);
            m
        }
        Kind::CloudBuild => {
            let mut m = yaml_docs(&src, Expands::Variables, cloudbuild::read)?;
            not_credentials(&mut m, cloudbuild::SECRET_NAMES);
            m
        }
    })
}

/// A YAML file of no known name: a Tekton object, a Kubernetes object (any other
/// `apiVersion` and `kind`), or a CI file named otherwise (an Azure Pipelines template, a
/// GitLab CI file under `ci/` that another includes), known by its content.
fn any_yaml(src: &Source<'_>, doc: &Node, m: &mut Model) {
    if tekton::looks_like(doc) {
        tekton::read(src, doc, m);
    } else if doc.get("apiVersion").is_some() {
        manifests::kubernetes(src, doc, m);
    } else if azure::looks_like(doc) {
        azure::read(src, doc, m);
    } else if gitlab::looks_like(doc) {
        gitlab::read(src, doc, m, &[], &[]);
    }
}

/// Drops the values under `keys`: they name secrets (Drone's `from_secret:`, a
/// `secrets:` list), they do not hold them.
fn not_credentials(m: &mut Model, keys: &[&str]) {
    m.values
        .retain(|v| !v.key.as_deref().is_some_and(|k| keys.contains(&k)));
}

/// Reads every document of a YAML file with `each`, then keeps all its scalars.
fn yaml_docs(
    src: &Source<'_>,
    expands: Expands,
    each: impl Fn(&Source<'_>, &Node, &mut Model),
) -> Result<Model, yaml::YamlError> {
    yaml_docs_with(src, expands, each, &[])
}

/// [`yaml_docs`], where the values below a key of `names` (Buildkite's `secrets:`, which
/// maps a variable to the name of a secret) name secrets and so are nobody's credential.
fn yaml_docs_with(
    src: &Source<'_>,
    expands: Expands,
    each: impl Fn(&Source<'_>, &Node, &mut Model),
    names: &[&str],
) -> Result<Model, yaml::YamlError> {
    let docs = yaml::parse(&src.text)?;
    let mut m = Model {
        values_expand: Some(expands),
        ..Model::default()
    };
    for doc in &docs {
        each(src, doc, &mut m);
        values(doc, &mut m, names);
    }
    Ok(m)
}

/// Every scalar of `doc` with its key. A Kubernetes `- name: X` / `value: …` pair gives
/// the value the key `X`; below a secret store's block (a Buildkite secrets plugin, a
/// `vault:` block), values are where secrets are kept, so they have no key.
fn values(doc: &Node, m: &mut Model, names: &[&str]) {
    // A loop over an explicit stack: the depth of a tree is the file's to choose.
    let mut pending: Vec<(Option<&str>, &Node, bool)> = vec![(None, doc, false)];
    while let Some((key, n, stored)) = pending.pop() {
        match &n.value {
            yaml::Value::Scalar(text) => {
                // `env: [NAME=value]` (Travis, Compose): the value is NAME's.
                let pair = text
                    .split_once('=')
                    .filter(|(k, _)| is_name(k))
                    .filter(|_| key.is_some_and(|k| ENV_LISTS.contains(&k)));
                let (key, text) = match pair {
                    Some((k, v)) => (Some(k), v),
                    None => (key, text.as_str()),
                };
                m.values.push(Value {
                    key: key.filter(|_| !stored).map(str::to_string),
                    text: text.to_string(),
                    at: place(n),
                });
            }
            yaml::Value::Map(entries) => {
                let named = n.get("name").and_then(Node::str);
                for (k, v) in entries.iter().rev() {
                    let k = k.str();
                    let key = match (k, named) {
                        (Some("value"), Some(name)) => Some(name),
                        _ => k,
                    };
                    let store = k.is_some_and(|k| secret_store(k) || names.contains(&k));
                    pending.push((key, v, stored || store));
                }
            }
            yaml::Value::Seq(items) => {
                pending.extend(items.iter().rev().map(|v| (key, v, stored)));
            }
            yaml::Value::Alias => {}
        }
    }
}

/// Keys of lists of `NAME=value` variables.
const ENV_LISTS: &[&str] = &["env", "global", "environment", "variables"];

/// A key whose block says where secrets are fetched from: a Buildkite plugin such as
/// `seek-oss/aws-sm#v2` or `vault-secrets#v1`, a `vault:` block.
fn secret_store(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    let plugin = k.split('#').next().unwrap_or_default();
    let name = plugin.rsplit('/').next().unwrap_or_default();
    let plugin_ref = k.contains(['#', '/']);
    k == "vault"
        || (plugin_ref && (name == "aws-sm" || name.contains("secret") || name.contains("vault")))
}

/// Where a node starts.
pub(crate) fn place(n: &Node) -> Place {
    Place {
        line: n.line,
        column: n.column,
    }
}

/// The variables of an `env:`, `variables:` or `environment:` block, in order, added to
/// `into` and to the file's assignments. A GitLab variable may be a map with its `value`.
pub(crate) fn env_of(node: Option<&Node>, expands: Expands, m: &mut Model, into: &mut Vec<EnvVar>) {
    let Some(env) = node else { return };
    for (k, v) in env.entries() {
        let v = v.get("value").unwrap_or(v);
        if let (Some(k), Some(v)) = (k.str(), v.str()) {
            let var = EnvVar {
                name: k.to_string(),
                value: v.to_string(),
                expands,
            };
            m.assignments.push(var.clone());
            into.push(var);
        }
    }
}

/// What a GitLab CI file includes, and the variables it passes to what it includes (the
/// `context` given, then its own global `variables:`). `None` when it is not YAML.
pub(crate) fn gitlab_includes(
    text: &str,
    context: &[EnvVar],
) -> Option<(Vec<gitlab::Include>, Vec<EnvVar>)> {
    let docs = yaml::parse(text).ok()?;
    let mut scratch = Model::default();
    let mut env = context.to_vec();
    let mut out = Vec::new();
    for doc in &docs {
        env_of(
            doc.get("variables"),
            Expands::Variables,
            &mut scratch,
            &mut env,
        );
        out.extend(gitlab::includes(doc));
    }
    Some((out, env))
}
