//! GitHub Actions: workflows (`.github/workflows/*.yml`) and composite actions
//! (`action.yml`): `run:` steps with the workflow's, job's and step's `env:`, `uses:`
//! (a `docker://` one is an image), job containers and services, `docker/login-action`'s
//! password and `docker/build-push-action`'s pushed tags; and how values flow between
//! steps outside their scripts (`Model::flow`): each script's job and step id, the outputs
//! of well-known actions (`docker/metadata-action`'s tags, `docker/build-push-action`'s
//! digest), job outputs and inputs with a default.

use super::{Source, env_of, place};
use crate::audit::Kind;
use crate::audit::images;
use crate::audit::model::{
    ActionUse, EnvVar, Expands, ImageUse, JobOutput, Known, KnownValue, LoginInput, Model, StepOf,
    ValueClass,
};
use crate::audit::yaml::Node;

pub(super) fn read(src: &Source<'_>, doc: &Node, m: &mut Model) {
    let mut env = Vec::new();
    env_of(doc.get("env"), Expands::Expressions, m, &mut env);
    // A workflow's inputs (`on.workflow_call`, `on.workflow_dispatch`) and an action's.
    let triggers = doc.get("on").map(|on| {
        ["workflow_call", "workflow_dispatch"]
            .into_iter()
            .filter_map(|t| on.get(t)?.get("inputs"))
            .collect::<Vec<_>>()
    });
    for inputs in triggers.into_iter().flatten().chain(doc.get("inputs")) {
        inputs_of(inputs, m);
    }
    for (key, job) in doc.get("jobs").map(Node::entries).into_iter().flatten() {
        let job_key = key.str().unwrap_or_default();
        let mut job_env = env.clone();
        env_of(job.get("env"), Expands::Expressions, m, &mut job_env);
        if let Some(uses) = job.get("uses") {
            uses_of(uses, m);
        }
        if let Some(steps) = job.get("steps") {
            self::steps(src, steps, &job_env, job_key, m);
        }
        for (name, value) in job.get("outputs").map(Node::entries).into_iter().flatten() {
            if let (Some(name), Some(text)) = (name.str(), value.str()) {
                m.flow.job_outputs.push(JobOutput {
                    job: job_key.to_string(),
                    name: name.to_string(),
                    text: text.to_string(),
                });
            }
        }
    }
    if let Some(steps) = doc.get("runs").and_then(|r| r.get("steps")) {
        self::steps(src, steps, &env, "", m);
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

/// An `inputs:` map: an input with a default is known to be that default when the caller
/// gives none; one without (or with an empty one) stays unknown.
fn inputs_of(inputs: &Node, m: &mut Model) {
    for (name, input) in inputs.entries() {
        if let (Some(name), Some(default)) = (name.str(), input.get("default").and_then(Node::str))
            && !default.trim().is_empty()
        {
            m.flow.known.push(Known {
                job: None,
                expr: format!("inputs.{name}"),
                value: KnownValue::Text(default.to_string()),
            });
        }
    }
}

/// The outputs of well-known actions that name images: which are tags, which digests.
const ACTION_OUTPUTS: &[(&str, &[(&str, ValueClass)])] = &[
    (
        "docker/metadata-action",
        &[("tags", ValueClass::Tag), ("json", ValueClass::Tag)],
    ),
    (
        "docker/build-push-action",
        &[
            ("digest", ValueClass::Digest),
            ("imageid", ValueClass::Digest),
            ("metadata", ValueClass::Digest),
        ],
    ),
    ("docker/bake-action", &[("metadata", ValueClass::Digest)]),
];

/// The variables `docker/metadata-action` sets for the steps after it.
const METADATA_ENV: &[(&str, &str)] = &[
    ("DOCKER_METADATA_OUTPUT_TAGS", "tags"),
    ("DOCKER_METADATA_OUTPUT_JSON", "json"),
];

/// A job's steps (or a composite action's). Each step sees the job's env and its own;
/// what a step writes to `$GITHUB_ENV` and `$GITHUB_OUTPUT` is followed by the checks,
/// which run the scripts in order.
fn steps(src: &Source<'_>, steps: &Node, job_env: &[EnvVar], job: &str, m: &mut Model) {
    // Variables set by actions for the later steps of the job.
    let mut set_by_actions: Vec<EnvVar> = Vec::new();
    for (n, step) in steps.items().iter().enumerate() {
        let mut step_env = job_env.to_vec();
        step_env.extend(set_by_actions.iter().cloned());
        env_of(step.get("env"), Expands::Expressions, m, &mut step_env);
        let id = step.get("id").and_then(Node::str).map(str::to_string);
        if let Some(uses) = step.get("uses") {
            uses_of(uses, m);
            let action = uses.str().unwrap_or_default();
            if let Some((_, outputs)) = ACTION_OUTPUTS
                .iter()
                .find(|(a, _)| action.starts_with(&format!("{a}@")))
            {
                // An action without an id still sets its variables, under a name no
                // expression can write.
                let step_id = id.clone().unwrap_or_else(|| format!("#{n}"));
                for (output, class) in *outputs {
                    m.flow.known.push(Known {
                        job: Some(job.to_string()),
                        expr: format!("steps.{step_id}.outputs.{output}"),
                        value: KnownValue::Class(*class),
                    });
                }
                if action.starts_with("docker/metadata-action@") {
                    for (var, output) in METADATA_ENV {
                        set_by_actions.push(EnvVar {
                            name: (*var).to_string(),
                            value: format!("${{{{ steps.{step_id}.outputs.{output} }}}}"),
                            expands: Expands::Expressions,
                        });
                    }
                }
            }
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
            // Scripts of other readers may precede these: keep `flow.steps` aligned.
            m.flow.steps.resize(m.scripts.len(), StepOf::default());
            m.flow.steps.push(StepOf {
                job: job.to_string(),
                id,
            });
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
