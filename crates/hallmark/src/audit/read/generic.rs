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
        found.extend(maps.into_iter().map(|(map, env)| (map, env, s.keys)));
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

/// The entries of a variable block (a GitLab-style variable may be a map with `value`).
fn env_entries(block: &Node, expands: Expands) -> Vec<EnvVar> {
    block
        .entries()
        .filter_map(|(k, v)| {
            let v = v.get("value").unwrap_or(v);
            Some(EnvVar {
                name: k.str()?.to_string(),
                value: v.str()?.to_string(),
                expands,
            })
        })
        .collect()
}

/// The variables `node` sets for what it contains, added to `env`.
fn scope(spec: &Spec, node: &Node, env: &mut Vec<EnvVar>) {
    for key in spec.env {
        if let Some(block) = node.get(key) {
            env.extend(env_entries(block, spec.expands));
        }
    }
}

/// The nodes under `node` that `path` matches, each with the variables in scope there.
/// A node is visited once per position in the path, so `**` costs at most the tree's size
/// times the path's length; the recursion is as deep as the tree, which the YAML parser
/// bounds.
fn matches<'a>(
    node: &'a Node,
    path: &[&str],
    spec: &Spec,
    mut env: Vec<EnvVar>,
    seen: &mut HashSet<(usize, usize)>,
    out: &mut Vec<(&'a Node, Vec<EnvVar>)>,
) {
    if !seen.insert((std::ptr::from_ref(node) as usize, path.len())) {
        return;
    }
    let Some((first, rest)) = path.split_first() else {
        out.push((node, env));
        return;
    };
    scope(spec, node, &mut env);
    match *first {
        "**" => {
            matches(node, rest, spec, env.clone(), seen, out);
            for child in children(node) {
                matches(child, path, spec, env.clone(), seen, out);
            }
        }
        "*" => {
            for child in children(node) {
                matches(child, rest, spec, env.clone(), seen, out);
            }
        }
        key => {
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
fn scripts_of(
    spec: &Spec,
    src: &Source<'_>,
    map: &Node,
    keys: &[&str],
    env: Vec<EnvVar>,
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
                    script.env = scoped.clone();
                } else {
                    script.continues = true;
                }
                m.scripts.push(script);
            }
        }
    }
}
