//! GitLab CI (`.gitlab-ci.yml`, `.gitlab/ci/*.yml`): each job's `before_script`, `script`
//! and `after_script` in one shell, with the global and the job's `variables:`; the
//! default and jobs' images and services; scripts of hidden templates where written.
//!
//! A job takes what it does not write from the templates it `extends:` (in this file,
//! bounded, the last template winning); lists of script lines nested by aliases are
//! flattened as GitLab does. Files pulled in by `include:` are read by `audit` (see
//! [`includes`]), each as a GitLab file with the variables of the file including it.

use super::{Source, env_of, place};
use crate::audit::model::{EnvVar, Expands, ImageUse, Model};
use crate::audit::yaml::{Node, Value};

pub(super) fn read(src: &Source<'_>, doc: &Node, m: &mut Model, context: &[EnvVar]) {
    let mut env = context.to_vec();
    env_of(doc.get("variables"), Expands::Variables, m, &mut env);
    if let Some(image) = doc.get("image") {
        image_of(
            image.get("name").unwrap_or(image),
            "the default job image",
            m,
        );
    }
    for (key, job) in doc.entries() {
        let hidden = key.str().is_some_and(|k| k.starts_with('.') && k != ".pre");
        // A hidden key is a template: jobs take its scripts through `extends`, `<<: *x`
        // or `!reference`, none of which is followed, so its scripts are audited where
        // they are written (a list of lines, or a map with any of the script keys).
        if hidden
            && let Value::Seq(_) = &job.value
            && flatten(job).iter().all(|l| l.str().is_some())
        {
            for (i, l) in flatten(job).into_iter().enumerate() {
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
        let chain = extended(doc, job);
        let take = |key: &str| chain.iter().find_map(|j| j.get(key));
        let mut job_env = env.clone();
        for j in chain.iter().rev() {
            env_of(j.get("variables"), Expands::Variables, m, &mut job_env);
        }
        if let Some(image) = job.get("image") {
            image_of(image.get("name").unwrap_or(image), "a job image", m);
        }
        if let Some(services) = job.get("services") {
            for s in services.items() {
                image_of(s.get("name").unwrap_or(s), "a service container", m);
            }
        }
        // The three parts run in one shell: what one sets, the next sees.
        let mut first = true;
        for part in ["before_script", "script", "after_script"] {
            let Some(script) = take(part) else {
                continue;
            };
            let lines = flatten(script);
            for l in lines {
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
}

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

/// A script's lines: a lone string, or a list whose nested lists (aliases of other lists)
/// are spliced in.
fn flatten(script: &Node) -> Vec<&Node> {
    let mut out = Vec::new();
    let mut pending: Vec<(&Node, usize)> = vec![(script, 0)];
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

/// `job` and the templates it extends, nearest first: a key is taken from the first
/// that has it. Of several templates the last listed wins, as in GitLab.
fn extended<'a>(doc: &'a Node, job: &'a Node) -> Vec<&'a Node> {
    let mut chain = vec![job];
    let mut at = 0;
    while at < chain.len() && chain.len() <= MAX_NESTING {
        let names: Vec<&str> = match chain[at].get("extends") {
            Some(e) => match &e.value {
                Value::Seq(items) => items.iter().rev().filter_map(Node::str).collect(),
                _ => e.str().into_iter().collect(),
            },
            None => Vec::new(),
        };
        for name in names {
            if let Some(t) = doc.get(name)
                && !chain.iter().any(|c| std::ptr::eq(*c, t))
            {
                chain.push(t);
            }
        }
        at += 1;
    }
    chain
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
}
