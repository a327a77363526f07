//! The reader of CI systems that are "YAML where known keys hold shell, images and
//! variables", driven by a declarative [`Spec`]: a new such system is one small file with
//! its `Spec` (see `circleci.rs`), not a new walk.
//!
//! Paths are keys separated by `.`, from the document's root:
//! - a key matches the value under that key of a mapping;
//! - `*` matches every value of a mapping and every item of a list;
//! - `**` matches any number of levels, none included (`**.steps.*`: every item of every
//!   `steps` list, however deep).
//!
//! A script key's value is a string (one script) or a list of strings (lines that run in
//! one shell, one after the other). The keys of one [`Scripts`] entry matched in one
//! mapping run in one shell too, in the order the spec lists them (Travis' `install`,
//! then `script`). The variables a script sees are those of every variable block (a key
//! listed in [`Spec::env`]) in the mappings that contain it, outermost first.

use std::collections::HashSet;

use super::{Source, place};
use crate::audit::model::{EnvVar, Expands, ImageUse, Model};
use crate::audit::yaml::Node;

/// Where a CI system keeps its shell, images and variables.
pub(crate) struct Spec {
    /// The mappings that hold scripts, and under which keys.
    pub(crate) scripts: &'static [Scripts],
    /// Where images are named, and what uses them.
    pub(crate) images: &'static [Images],
    /// Keys of variable blocks (`environment`, `variables`, `env`).
    pub(crate) env: &'static [&'static str],
    /// What expands in the file's values.
    pub(crate) expands: Expands,
}

/// Mappings at `at` that hold scripts under `keys` (paths relative to the mapping:
/// `run.command` for `run: {command: …}`).
pub(crate) struct Scripts {
    pub(crate) at: &'static str,
    pub(crate) keys: &'static [&'static str],
    /// Only mappings whose value under this key starts with one of these (Azure's
    /// `task: Bash@3`, not `task: PowerShell@2`); `None` for every mapping at `at`.
    pub(crate) when: Option<(&'static str, &'static [&'static str])>,
}

/// Scalars at `at` that name an image used by `what`.
pub(crate) struct Images {
    pub(crate) at: &'static str,
    pub(crate) what: &'static str,
}

/// Reads one document as `spec` says.
pub(crate) fn read(spec: &Spec, src: &Source<'_>, doc: &Node, m: &mut Model) {
    // Every variable block, wherever it is: which variable takes its value from which.
    doc.walk(&mut |key, n| {
        if key.is_some_and(|k| spec.env.contains(&k)) {
            m.assignments.extend(env_entries(n, spec.expands));
        }
    });
    let mut found = Vec::new();
    for s in spec.scripts {
        let mut seen = HashSet::new();
        let mut maps = Vec::new();
        matches(doc, &segments(s.at), spec, Vec::new(), &mut seen, &mut maps);
        let wanted = |map: &Node| {
            s.when.is_none_or(|(key, starts)| {
                map.get(key)
                    .and_then(Node::str)
                    .is_some_and(|v| starts.iter().any(|p| v.starts_with(p)))
            })
        };
        found.extend(
            maps.into_iter()
                .filter(|(map, _)| wanted(map))
                .map(|(map, env)| (map, env, s.keys)),
        );
    }
    // Document order, whatever the order the paths matched in.
    found.sort_by_key(|(n, _, _)| (n.line, n.column));
    for (map, env, keys) in found {
        scripts_of(spec, src, map, keys, env, m);
    }
    for i in spec.images {
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        matches(
            doc,
            &segments(i.at),
            spec,
            Vec::new(),
            &mut seen,
            &mut found,
        );
        found.sort_by_key(|(n, _)| (n.line, n.column));
        for (n, _) in found {
            if let Some(text) = n.str() {
                m.images.push(ImageUse {
                    text: text.to_string(),
                    at: place(n),
                    what: i.what,
                });
            }
        }
    }
}

fn segments(path: &str) -> Vec<&str> {
    path.split('.').filter(|s| !s.is_empty()).collect()
}

/// The entries of a variable block: a map (a GitLab-style variable may be a map with
/// `value`), a list of `NAME=value` strings (Travis, Cloud Build) or of `{name, value}`
/// maps (Kubernetes-style, Azure), or one string of `NAME=value` words (a Travis job's
/// `env:`). Travis' `global:` and `jobs:` lists are read as blocks of their own.
pub(crate) fn env_entries(block: &Node, expands: Expands) -> Vec<EnvVar> {
    let pair = |k: &str, v: &str| {
        let ok = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        // Azure's `image.tag` is `$(image.tag)` in a script, read as `${image_tag}`.
        ok.then(|| EnvVar {
            name: k.replace('.', "_"),
            value: v.to_string(),
            expands,
        })
    };
    if let Some(text) = block.str() {
        return text
            .split_whitespace()
            .filter_map(|w| {
                w.split_once('=')
                    .and_then(|(k, v)| pair(k, v.trim_matches('"')))
            })
            .collect();
    }
    let mut out: Vec<EnvVar> = block
        .items()
        .iter()
        .filter_map(|item| match item.str() {
            Some(text) => text.split_once('=').and_then(|(k, v)| pair(k.trim(), v)),
            None => pair(item.get("name")?.str()?, item.get("value")?.str()?),
        })
        .collect();
    for (k, v) in block.entries() {
        let Some(k) = k.str() else { continue };
        if !v.items().is_empty() && matches!(k, "global" | "jobs" | "matrix") {
            out.extend(env_entries(v, expands));
            continue;
        }
        let v = v.get("value").unwrap_or(v);
        if let Some(v) = v.str()
            && let Some(var) = pair(k, v)
        {
            out.push(var);
        }
    }
    out
}

/// The variable blocks in scope at a node, outermost first: only the blocks are carried
/// down the walk, so a wide tree under a large block costs no copies of its entries.
type Scope<'a> = Vec<&'a Node>;

/// The variable blocks `node` holds for what it contains, added to `env`.
fn scope<'a>(spec: &Spec, node: &'a Node, env: &mut Scope<'a>) {
    for key in spec.env {
        if let Some(block) = node.get(key) {
            env.push(block);
        }
    }
}

/// The variables of the blocks in scope, in order.
fn variables(spec: &Spec, env: &Scope<'_>) -> Vec<EnvVar> {
    env.iter()
        .flat_map(|b| env_entries(b, spec.expands))
        .collect()
}

/// The nodes under `node` that `path` matches, each with the variables in scope there.
/// A node is visited once per position in the path, so `**` costs at most the tree's size
/// times the path's length; the recursion is as deep as the tree, which the YAML parser
/// bounds.
fn matches<'a>(
    node: &'a Node,
    path: &[&str],
    spec: &Spec,
    mut env: Scope<'a>,
    seen: &mut HashSet<(usize, usize)>,
    out: &mut Vec<(&'a Node, Scope<'a>)>,
) {
    if !seen.insert((std::ptr::from_ref(node) as usize, path.len())) {
        return;
    }
    let Some((first, rest)) = path.split_first() else {
        out.push((node, env));
        return;
    };
    // The node's own variable blocks apply to what is below it, not to itself.
    match *first {
        "**" => {
            matches(node, rest, spec, env.clone(), seen, out);
            scope(spec, node, &mut env);
            for child in children(node) {
                matches(child, path, spec, env.clone(), seen, out);
            }
        }
        "*" => {
            scope(spec, node, &mut env);
            for child in children(node) {
                matches(child, rest, spec, env.clone(), seen, out);
            }
        }
        key => {
            scope(spec, node, &mut env);
            if let Some(child) = node.get(key) {
                matches(child, rest, spec, env, seen, out);
            }
        }
    }
}

fn children(node: &Node) -> impl Iterator<Item = &Node> {
    node.entries().map(|(_, v)| v).chain(node.items())
}

/// The scripts under `keys` of `map`, in one shell.
fn scripts_of<'a>(
    spec: &Spec,
    src: &Source<'_>,
    map: &'a Node,
    keys: &[&str],
    env: Scope<'a>,
    m: &mut Model,
) {
    let mut first = true;
    for key in keys {
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        // The scope of `map` itself is added by the walk down the relative path.
        matches(
            map,
            &segments(key),
            spec,
            env.clone(),
            &mut seen,
            &mut found,
        );
        for (node, scoped) in found {
            let lines: Vec<&Node> = match node.str() {
                Some(_) => vec![node],
                None => node.items().iter().filter(|l| l.str().is_some()).collect(),
            };
            for l in lines {
                let Some(mut script) = src.script(l) else {
                    continue;
                };
                if std::mem::take(&mut first) {
                    script.env = variables(spec, &scoped);
                } else {
                    script.continues = true;
                }
                m.scripts.push(script);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::yaml;

    /// A made-up system: top-level `install` then `script` in one shell, and `steps`
    /// lists at any depth.
    const SPEC: Spec = Spec {
        scripts: &[
            Scripts {
                at: "",
                keys: &["install", "script"],
                when: None,
            },
            Scripts {
                at: "**.steps.*",
                keys: &["script"],
                when: None,
            },
        ],
        images: &[Images {
            at: "**.container",
            what: "a container",
        }],
        env: &["variables"],
        expands: Expands::Variables,
    };

    fn model(text: &str) -> Model {
        let src = Source::new(text);
        let mut m = Model::default();
        for doc in &yaml::parse(&src.text).unwrap() {
            read(&SPEC, &src, doc, &mut m);
        }
        m
    }

    #[test]
    fn keys_of_one_mapping_share_a_shell_and_deep_paths_match() {
        let m = model(
            "variables:\n  A: a\ninstall:\n  - one\n  - two\nscript: three\nstages:\n  - jobs:\n      - variables:\n          B: b\n        container: img:1\n        steps:\n          - script: four\n          - script: [five, six]\n",
        );
        let got: Vec<(&str, bool, usize)> = m
            .scripts
            .iter()
            .map(|s| (s.body.as_str(), s.continues, s.env.len()))
            .collect();
        assert_eq!(
            got,
            [
                // One shell from `install` to `script`, with the top-level variables.
                ("one", false, 1),
                ("two", true, 0),
                ("three", true, 0),
                // Each step a shell of its own, seeing the variables of every level above.
                ("four", false, 2),
                ("five", false, 2),
                ("six", true, 0),
            ]
        );
        assert_eq!(m.scripts[3].line, 13);
        assert_eq!(m.images.len(), 1);
        assert_eq!(
            (m.images[0].text.as_str(), m.images[0].at.line),
            ("img:1", 11)
        );
        // Every variable block is an assignment, wherever it applies.
        let names: Vec<&str> = m.assignments.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["A", "B"]);
    }

    #[test]
    fn a_wide_tree_under_many_variables_is_read_in_linear_work() {
        let mut text = String::from("variables:\n");
        for i in 0..20_000 {
            text.push_str(&format!("  V{i}: x\n"));
        }
        text.push_str("stages:\n");
        for i in 0..20_000 {
            text.push_str(&format!("  s{i}: {{steps: []}}\n"));
        }
        let m = model(&text);
        assert!(m.scripts.is_empty());
        assert_eq!(m.assignments.len(), 20_000);
    }
}
