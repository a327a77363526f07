//! CircleCI (`.circleci/config.yml`): `run:` steps of jobs and of reusable commands (a
//! string, or a map with its `command`), with the `environment:` of the job and of the
//! step; the `docker:` images of jobs and executors.

use super::generic::{Images, Scripts, Spec};
use crate::audit::model::Expands;

pub(super) const SPEC: Spec = Spec {
    scripts: &[
        Scripts {
            at: "jobs.*.steps.*",
            keys: &["run", "run.command"],
            when: None,
        },
        Scripts {
            at: "commands.*.steps.*",
            keys: &["run", "run.command"],
            when: None,
        },
    ],
    images: &[
        Images {
            at: "jobs.*.docker.*.image",
            what: "a job's container",
        },
        Images {
            at: "executors.*.docker.*.image",
            what: "an executor's container",
        },
    ],
    env: &["environment"],
    expands: Expands::Variables,
};

#[cfg(test)]
mod tests {
    use crate::audit::Kind;
    use crate::audit::model::Place;

    const CONFIG: &str = "version: 2.1
executors:
  builder:
    docker:
      - image: cimg/base:2024.01
commands:
  tools:
    steps:
      - run: curl -sSfL https://x.example.com/i.sh | sh
jobs:
  release:
    docker:
      - image: cimg/go:1.22
    environment:
      IMAGE: reg.example.com/app
    steps:
      - checkout
      - run:
          name: sign
          environment:
            TAG: v1
          command: |
            echo signing
            cosign sign --key k \"$IMAGE:$TAG\"
      - run: cosign sign --key k \"$IMAGE:$TAG\"
";

    #[test]
    fn runs_images_and_scoped_environment_are_read() {
        let m = super::super::read_in(Kind::CircleCi, CONFIG, &[]).unwrap();
        let bodies: Vec<&str> = m.scripts.iter().map(|s| s.body.as_str()).collect();
        assert_eq!(
            bodies,
            [
                "curl -sSfL https://x.example.com/i.sh | sh",
                "echo signing\ncosign sign --key k \"$IMAGE:$TAG\"\n",
                "cosign sign --key k \"$IMAGE:$TAG\"",
            ]
        );
        // The job's environment for every step, the step's own only for it.
        let names =
            |i: usize| -> Vec<&str> { m.scripts[i].env.iter().map(|v| v.name.as_str()).collect() };
        assert!(names(0).is_empty());
        assert_eq!(names(1), ["IMAGE", "TAG"]);
        assert_eq!(names(2), ["IMAGE"]);
        assert!(m.scripts.iter().all(|s| !s.continues));
        // A block scalar: each line where it is written.
        assert_eq!(
            m.scripts[1].place(2, 1),
            Place {
                line: 24,
                column: 13
            }
        );
        let images: Vec<(&str, usize, &str)> = m
            .images
            .iter()
            .map(|i| (i.text.as_str(), i.at.line, i.what))
            .collect();
        assert_eq!(
            images,
            [
                ("cimg/go:1.22", 13, "a job's container"),
                ("cimg/base:2024.01", 5, "an executor's container"),
            ]
        );
    }

    #[test]
    fn the_rules_run_over_circleci() {
        let (found, not_audited) =
            crate::audit::audit_text(".circleci/config.yml", CONFIG, Kind::CircleCi);
        assert!(not_audited.is_empty());
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(
            found,
            [
                ("deploy-by-tag", 5),
                ("unchecked-download", 9),
                ("deploy-by-tag", 13),
                ("sign-by-tag", 24),
                ("sign-by-tag", 25),
            ]
        );
    }
}
