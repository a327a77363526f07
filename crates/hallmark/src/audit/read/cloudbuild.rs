//! Google Cloud Build (`cloudbuild.yaml`): each step's image (`name:`) and what it runs:
//! its `script`, `entrypoint: bash` with `args: [-c, SCRIPT]`, or its `args` given to the
//! entrypoint or, without one, to the builder image's own command (`gcr.io/cloud-builders/
//! docker` runs `docker`). A step's `env:` (`NAME=value` strings) and the file's
//! `substitutions:` are its variables; `secretEnv:` lists secrets' names.

use super::generic::{self, Images, Scripts, Spec, env_entries};
use super::{Source, argv};
use crate::audit::model::{Expands, Model};
use crate::audit::yaml::Node;

pub(super) const SPEC: Spec = Spec {
    scripts: &[Scripts {
        at: "steps.*",
        keys: &["script"],
        when: None,
    }],
    images: &[Images {
        at: "steps.*.name",
        what: "a build step",
    }],
    env: &["env", "substitutions"],
    expands: Expands::Variables,
};

/// Keys whose values name secrets.
pub(super) const SECRET_NAMES: &[&str] = &["secretEnv"];

pub(super) fn read(src: &Source<'_>, doc: &Node, m: &mut Model) {
    generic::read(&SPEC, src, doc, m);
    let globals = doc
        .get("substitutions")
        .map(|s| env_entries(s, Expands::Variables))
        .unwrap_or_default();
    for step in doc.get("steps").map(Node::items).unwrap_or_default() {
        if step.get("script").is_some() {
            continue;
        }
        let Some(args) = step.get("args") else {
            continue;
        };
        let words: Vec<&Node> = match args.str() {
            Some(_) => vec![args],
            None => args.items().iter().collect(),
        };
        let image = step.get("name").and_then(Node::str).unwrap_or_default();
        let builder = image
            .split(['@', ':'])
            .next()
            .and_then(|n| n.rsplit('/').next())
            .unwrap_or_default();
        let program = match step.get("entrypoint") {
            Some(e) => e.str().map(|p| (p, e)),
            None => step.get("name").map(|n| (builder, n)),
        };
        let Some(program) = program.filter(|(p, _)| !p.is_empty()) else {
            continue;
        };
        if let Some(mut script) = argv::script(src, Some(program), &words) {
            script.env = globals.clone();
            if let Some(env) = step.get("env") {
                script.env.extend(env_entries(env, Expands::Variables));
            }
            m.scripts.push(script);
        }
    }
    m.scripts.sort_by_key(|s| s.line);
}

#[cfg(test)]
mod tests {
    use crate::audit::Kind;

    const BUILD: &str = "substitutions:
  _IMAGE: us-docker.pkg.dev/proj/app/app
steps:
  - name: gcr.io/cloud-builders/docker
    args: [push, '${_IMAGE}:${TAG_NAME}']
  - name: gcr.io/projectsigstore/cosign@sha256:0000000000000000000000000000000000000000000000000000000000000000
    args: [sign, --key, gcpkms://k, '${_IMAGE}:${TAG_NAME}']
    secretEnv: [COSIGN_PASSWORD]
  - name: gcr.io/cloud-builders/gcloud@sha256:0000000000000000000000000000000000000000000000000000000000000000
    entrypoint: bash
    args:
      - -c
      - |
        curl -sSL https://x.example.com/i.sh | bash
  - name: gcr.io/cloud-builders/docker@sha256:0000000000000000000000000000000000000000000000000000000000000000
    entrypoint: bash
    secretEnv: [GITHUB_TOKEN]
    args:
      - -c
      - |
        echo $$GITHUB_TOKEN | docker login ghcr.io -u $$GITHUB_USER --password-stdin
        echo hunter2hunter2 | docker login ghcr.io -u ci --password-stdin
availableSecrets:
  secretManager:
    - versionName: projects/p/secrets/cosign-password/versions/latest
      env: COSIGN_PASSWORD
";

    #[test]
    fn builders_entrypoints_and_secret_names() {
        let (found, not_audited) =
            crate::audit::audit_text("cloudbuild.yaml", BUILD, Kind::CloudBuild);
        assert!(not_audited.is_empty());
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(
            found,
            [
                ("deploy-by-tag", 4),
                ("sign-by-tag", 7),
                ("unchecked-download", 14),
                // `$$GITHUB_TOKEN` is the secret's variable, `$` escaped; the literal is not.
                ("hardcoded-credential", 22)
            ]
        );
    }
}
