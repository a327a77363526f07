//! Buildkite (`.buildkite/*.yml`): every step's `command` or `commands` (a string or a
//! list of lines run in one shell), group steps included, with the `env:` of the file
//! and of the step; the images of `docker#…` and `docker-compose#…` plugins.

use super::generic::{Images, Scripts, Spec};
use crate::audit::model::Expands;

pub(super) const SPEC: Spec = Spec {
    scripts: &[Scripts {
        at: "**.steps.*",
        keys: &["command", "commands"],
        when: None,
    }],
    images: &[Images {
        at: "**.steps.*.plugins.*.*.image",
        what: "a plugin's container",
    }],
    env: &["env"],
    expands: Expands::Variables,
};

/// Buildkite's `secrets:` (of the pipeline or of a step) maps a variable to the name of a
/// secret kept by Buildkite, or lists the names: none of them is the secret.
pub(super) const SECRET_NAMES: &[&str] = &["secrets"];

#[cfg(test)]
mod tests {
    use crate::audit::Kind;

    const PIPELINE: &str = "env:
  IMAGE: reg.example.com/agent
steps:
  - label: build
    plugins:
      - docker#v5.11.0:
          image: golang:1.22
    command: go build ./...
  - group: release
    steps:
      - label: sign
        env:
          TAG: v3.1.0
        commands:
          - docker push \"$IMAGE:$TAG\"
          - cosign sign --yes \"$IMAGE:$TAG\"
";

    #[test]
    fn commands_of_grouped_steps_and_plugin_images() {
        let (found, not_audited) =
            crate::audit::audit_text(".buildkite/pipeline.yml", PIPELINE, Kind::Buildkite);
        assert!(not_audited.is_empty());
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(found, [("deploy-by-tag", 7), ("sign-by-tag", 16)]);
    }

    #[test]
    fn secrets_name_secrets_but_a_literal_password_is_found() {
        let text = "secrets:
  REGISTRY_PASSWORD: ghcr_password
steps:
  - label: push
    secrets:
      - NPM_TOKEN
      - GITHUB_TOKEN
    command: make push
  - label: release
    secrets:
      DEPLOY_TOKEN: release_deploy_token
    env:
      REGISTRY_PASSWORD: Xk92-fjq81-pqz
    command: make release
";
        let (found, _) = crate::audit::audit_text(".buildkite/pipeline.yml", text, Kind::Buildkite);
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(found, [("hardcoded-credential", 13)]);
    }
}
