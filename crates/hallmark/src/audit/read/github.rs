//! GitHub Actions: workflows (`.github/workflows/*.yml`) and composite actions
//! (`action.yml`): `run:` steps with the workflow's, job's and step's `env:`, `uses:`
//! (a `docker://` one is an image), job containers and services, `docker/login-action`'s
//! password and `docker/build-push-action`'s pushed tags.

use super::{Source, env_of, place};
use crate::audit::Kind;
use crate::audit::images;
use crate::audit::model::{ActionUse, EnvVar, Expands, ImageUse, LoginInput, Model};
use crate::audit::yaml::Node;

pub(super) fn read(src: &Source<'_>, doc: &Node, m: &mut Model) {
    let mut env = Vec::new();
    env_of(doc.get("env"), Expands::Expressions, m, &mut env);
    for (_, job) in doc.get("jobs").map(Node::entries).into_iter().flatten() {
        let mut job_env = env.clone();
        env_of(job.get("env"), Expands::Expressions, m, &mut job_env);
        if let Some(uses) = job.get("uses") {
            uses_of(uses, m);
        }
        if let Some(steps) = job.get("steps") {
            self::steps(src, steps, &job_env, m);
        }
    }
    if let Some(steps) = doc.get("runs").and_then(|r| r.get("steps")) {
        self::steps(src, steps, &env, m);
    }
    for (node, what) in images::image_nodes(doc, Kind::Workflow) {
        if let Some(text) = node.str() {
            m.images.push(ImageUse {
                text: text.to_string(),
                at: place(node),
                what,
            });
        }
    }
}

/// A job's steps (or a composite action's). Each step sees the job's env and its own;
/// what a step writes to $GITHUB_ENV is known only at run time.
fn steps(src: &Source<'_>, steps: &Node, job_env: &[EnvVar], m: &mut Model) {
    for step in steps.items() {
        let mut step_env = job_env.to_vec();
        env_of(step.get("env"), Expands::Expressions, m, &mut step_env);
        if let Some(uses) = step.get("uses") {
            uses_of(uses, m);
            let action = uses.str().unwrap_or_default();
            if action.starts_with("docker/login-action")
                && let Some(with) = step.get("with")
                && let Some(p) = with.get("password")
            {
                m.logins.push(LoginInput {
                    registry: with
                        .get("registry")
                        .and_then(Node::str)
                        .unwrap_or("docker.io")
                        .to_string(),
                    value: p.str().unwrap_or_default().to_string(),
                    at: place(p),
                    env: step_env.clone(),
                });
            }
            if action.starts_with("docker/build-push-action")
                && let Some(with) = step.get("with")
                && with.get("push").and_then(Node::str) == Some("true")
                && let Some(tags) = with.get("tags").and_then(Node::str)
            {
                m.pushes.extend(
                    tags.split([',', '\n'])
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(str::to_string),
                );
            }
        }
        if let Some(run) = step.get("run")
            && let Some(mut script) = src.script(run)
        {
            script.env = step_env;
            m.scripts.push(script);
        }
    }
}

/// A `uses:`: an action, a reusable workflow, a local path (nothing to check) or a
/// container image.
fn uses_of(node: &Node, m: &mut Model) {
    let Some(u) = node.str() else { return };
    if let Some(image) = u.strip_prefix("docker://") {
        m.images.push(ImageUse {
            text: image.to_string(),
            at: place(node),
            what: "a step's container",
        });
    } else if !u.starts_with("./") {
        m.actions.push(ActionUse {
            text: u.to_string(),
            at: place(node),
        });
    }
}
