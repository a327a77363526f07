//! Drone and Woodpecker (`.drone.yml`, `.woodpecker.yml`, `.woodpecker/*.yml`): each
//! step's `commands` (lines in one shell) and image, with its `environment`; steps are a
//! list (`steps:`), or a map by name (Woodpecker's `steps:`, the older `pipeline:`);
//! services' images. A `from_secret:` value and a `secrets:` list are secrets' names.

use super::generic::{Images, Scripts, Spec};
use crate::audit::model::Expands;

pub(super) const SPEC: Spec = Spec {
    scripts: &[
        Scripts {
            at: "steps.*",
            keys: &["commands"],
            when: None,
        },
        Scripts {
            at: "pipeline.*",
            keys: &["commands"],
            when: None,
        },
    ],
    images: &[
        Images {
            at: "steps.*.image",
            what: "a step's container",
        },
        Images {
            at: "pipeline.*.image",
            what: "a step's container",
        },
        Images {
            at: "services.*.image",
            what: "a service container",
        },
    ],
    env: &["environment"],
    expands: Expands::Variables,
};

/// Keys whose values name secrets.
pub(super) const SECRET_NAMES: &[&str] = &["from_secret", "secrets"];

#[cfg(test)]
mod tests {
    use crate::audit::Kind;

    const DRONE: &str = "kind: pipeline
type: docker
name: release
steps:
  - name: publish
    image: plugins/docker@sha256:0000000000000000000000000000000000000000000000000000000000000000
    settings:
      username:
        from_secret: docker_username
      password:
        from_secret: docker_password
  - name: sign
    image: alpine:3.20
    secrets: [docker_username, docker_password, cosign_password]
    environment:
      COSIGN_PASSWORD:
        from_secret: cosign_password
      IMAGE: reg.example.com/app
    commands:
      - apk add cosign
      - cosign sign --key env://COSIGN_KEY $IMAGE:${DRONE_TAG}
";

    #[test]
    fn commands_images_and_secret_names() {
        let (found, not_audited) = crate::audit::audit_text(".drone.yml", DRONE, Kind::Drone);
        assert!(not_audited.is_empty());
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        // No credential: `from_secret` values and `secrets:` lists are names.
        assert_eq!(found, [("deploy-by-tag", 13), ("sign-by-tag", 21)]);
    }

    #[test]
    fn woodpecker_steps_by_name() {
        let wp = "steps:\n  build:\n    image: golang:1.22\n    commands:\n      - curl -sL https://x.example.com/i.sh | bash\n";
        let (found, _) = crate::audit::audit_text(".woodpecker/ci.yml", wp, Kind::Drone);
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(found, [("deploy-by-tag", 3), ("unchecked-download", 5)]);
    }
}
