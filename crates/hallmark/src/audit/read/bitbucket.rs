//! Bitbucket Pipelines (`bitbucket-pipelines.yml`): every `step:` wherever it is (the
//! pipelines of `default`, `branches`, `tags`, `pull-requests`, `custom`, inside
//! `parallel` and `stage`, and the step definitions that anchors reuse), its `script`
//! then `after-script` lines; the images of the file, of steps, of pipes (`- pipe:
//! owner/name:1.2.3`) and of service definitions (a string, or a map with its `name`).

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
        // A pipe is a container image Bitbucket runs by the tag given.
        Images {
            at: "**.step.script.*.pipe",
            what: "a pipe",
        },
        Images {
            at: "**.step.after-script.*.pipe",
            what: "a pipe",
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

    #[test]
    fn a_pipe_is_an_image_run_by_its_tag() {
        let yml = "pipelines:\n  default:\n    - step:\n        script:\n          - make\n          - pipe: atlassian/aws-ecr-push-image:2.4.2\n            variables:\n              IMAGE_NAME: app\n          - pipe: atlassian/slack-notify@sha256:0000000000000000000000000000000000000000000000000000000000000000\n";
        let (found, _) = crate::audit::audit_text("bitbucket-pipelines.yml", yml, Kind::Bitbucket);
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(found, [("deploy-by-tag", 6)]);
    }
}
