//! Bitbucket Pipelines (`bitbucket-pipelines.yml`): every `step:` wherever it is (the
//! pipelines of `default`, `branches`, `tags`, `pull-requests`, `custom`, inside
//! `parallel` and `stage`, and the step definitions that anchors reuse), its `script`
//! then `after-script` lines; the images of the file, of steps and of service
//! definitions (a string, or a map with its `name`).

use super::generic::{Images, Scripts, Spec};
use crate::audit::model::Expands;

pub(super) const SPEC: Spec = Spec {
    scripts: &[Scripts {
        at: "**.step",
        keys: &["script", "after-script"],
        when: None,
    }],
    images: &[
        Images {
            at: "image",
            what: "the default build image",
        },
        Images {
            at: "image.name",
            what: "the default build image",
        },
        Images {
            at: "**.step.image",
            what: "a step's build image",
        },
        Images {
            at: "**.step.image.name",
            what: "a step's build image",
        },
        Images {
            at: "definitions.services.*.image",
            what: "a service container",
        },
        Images {
            at: "definitions.services.*.image.name",
            what: "a service container",
        },
    ],
    env: &["variables"],
    expands: Expands::Variables,
};

#[cfg(test)]
mod tests {
    use crate::audit::Kind;

    const PIPELINES: &str = "image: atlassian/default-image:4
definitions:
  services:
    docker:
      memory: 2048
  steps:
    - step: &push
        name: push
        script:
          - docker push reg.example.com/app:$BITBUCKET_TAG
          - cosign sign --key env://COSIGN_KEY reg.example.com/app:$BITBUCKET_TAG
pipelines:
  default:
    - parallel:
        - step:
            image:
              name: node@sha256:0000000000000000000000000000000000000000000000000000000000000000
            script:
              - curl -fsSL https://deb.example.com/setup | bash -
  tags:
    'v*':
      - step: *push
";

    #[test]
    fn steps_anywhere_and_images_as_strings_or_maps() {
        let (found, not_audited) =
            crate::audit::audit_text("bitbucket-pipelines.yml", PIPELINES, Kind::Bitbucket);
        assert!(not_audited.is_empty());
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(
            found,
            [
                ("deploy-by-tag", 1),
                ("sign-by-tag", 11),
                ("unchecked-download", 19)
            ]
        );
    }
}
