//! Travis CI (`.travis.yml`): the build phases of the root and of each `jobs.include` /
//! `matrix.include` entry, in the order Travis runs them, in one shell (`before_install`
//! to `after_success`, then `before_deploy` and a `provider: script` deploy's `script`),
//! with `env:` (a list of `NAME=value` strings, `global:` and `jobs:` lists, or a map).

use super::generic::{Scripts, Spec};
use crate::audit::model::Expands;

/// The phases, in the order they run.
const PHASES: &[&str] = &[
    "before_install",
    "install",
    "before_script",
    "script",
    "after_success",
    "after_failure",
    "after_script",
    "before_deploy",
    "deploy.script",
    "deploy.*.script",
    "after_deploy",
];

pub(super) const SPEC: Spec = Spec {
    scripts: &[
        Scripts {
            at: "",
            keys: PHASES,
            when: None,
        },
        Scripts {
            at: "jobs.include.*",
            keys: PHASES,
            when: None,
        },
        Scripts {
            at: "matrix.include.*",
            keys: PHASES,
            when: None,
        },
    ],
    images: &[],
    env: &["env"],
    expands: Expands::Variables,
};

#[cfg(test)]
mod tests {
    use crate::audit::Kind;

    const TRAVIS: &str = "language: go
env:
  global:
    - IMAGE=reg.example.com/app
    - secure: b64ciphertext==
before_install:
  - curl -sSfL https://get.example.com/tool.sh | sh
script:
  - make test
jobs:
  include:
    - stage: release
      env: TAG=v1 OTHER=x
      script: cosign sign --key k \"$IMAGE:$TAG\"
      deploy:
        provider: script
        script: docker push \"$IMAGE@sha256:0000000000000000000000000000000000000000000000000000000000000000\"
";

    #[test]
    fn phases_jobs_and_env_lists_are_read() {
        let m = super::super::read(Kind::Travis, TRAVIS).unwrap();
        let bodies: Vec<&str> = m.scripts.iter().map(|s| s.body.as_str()).collect();
        assert_eq!(bodies.len(), 4, "{bodies:?}");
        let names: Vec<&str> = m.scripts[2].env.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["IMAGE", "TAG", "OTHER"]);
        let (found, not_audited) = crate::audit::audit_text(".travis.yml", TRAVIS, Kind::Travis);
        assert!(not_audited.is_empty());
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(found, [("unchecked-download", 7), ("sign-by-tag", 14)]);
    }

    #[test]
    fn a_command_in_a_plain_scalar_over_several_lines_is_found_on_its_line() {
        // YAML folds the item into one line; the download is still on the line it is
        // written on, and the one-line safe item stays silent.
        let travis = "language: rust\ninstall:\n  - if [ -z $TRAVIS_TAG ] && [ $TRAVIS_BRANCH != master ]; then\n      curl https://sh.rustup.rs -sSf | sh -s -- -y --default-toolchain $TRAVIS_RUST_VERSION;\n\n      source ~/.cargo/env;\n    fi\n  - \"curl -sSf https://x.example.com/up.sh -o up.sh &&\n    sha256sum -c up.sh.sha256 && sh up.sh\"\nscript: cargo test\n";
        let (found, _) = crate::audit::audit_text(".travis.yml", travis, Kind::Travis);
        let found: Vec<(&str, usize, usize)> =
            found.iter().map(|f| (f.rule, f.line, f.column)).collect();
        assert_eq!(found, [("unchecked-download", 4, 7)]);
    }

    #[test]
    fn a_password_in_an_env_list_is_written_in_the_file() {
        let travis = "language: php\nenv:\n  global:\n    - DB_HOST=127.0.0.1\n    - DOCKER_PASSWORD=LegacyDeploy2019!\n    - REGISTRY_TOKEN=$TRAVIS_SECRET\nscript: make\n";
        let (found, _) = crate::audit::audit_text(".travis.yml", travis, Kind::Travis);
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(found, [("hardcoded-credential", 5)]);
    }
}
