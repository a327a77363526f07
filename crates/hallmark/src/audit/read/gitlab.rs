//! GitLab CI (`.gitlab-ci.yml`, `.gitlab/ci/*.yml`): each job's `before_script`, `script`
//! and `after_script` in one shell, with the global and the job's `variables:`; the
//! default and jobs' images and services; scripts of hidden templates where written.

use super::{Source, env_of, place};
use crate::audit::model::{Expands, ImageUse, Model};
use crate::audit::yaml::{Node, Value};

pub(super) fn read(src: &Source<'_>, doc: &Node, m: &mut Model) {
    let mut env = Vec::new();
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
            && let Value::Seq(lines) = &job.value
            && lines.iter().all(|l| l.str().is_some())
        {
            for (i, l) in lines.iter().enumerate() {
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
        let mut job_env = env.clone();
        env_of(job.get("variables"), Expands::Variables, m, &mut job_env);
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
            let Some(script) = job.get(part) else {
                continue;
            };
            let lines: Vec<&Node> = match &script.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![script],
            };
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
