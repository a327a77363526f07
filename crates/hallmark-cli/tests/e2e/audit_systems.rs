//! `hallmark audit` over the CI systems beyond GitHub, GitLab and CircleCI: Makefiles,
//! justfiles, Taskfiles, Travis, Azure Pipelines (and a template known by its content),
//! Bitbucket, Buildkite, Drone and Woodpecker, Tekton and Cloud Build. Each unsafe line is
//! found at the line and column a reviewer reads, the safe counterparts (digests, checked
//! downloads, secrets given by name) yield nothing, and a file of no known format given by
//! name is reported with every format that is read.

use std::path::PathBuf;

use crate::harness::*;

fn fixtures() -> PathBuf {
    audit_fixture("audit-systems")
}

fn audit_in(args: &[&str]) -> std::process::Output {
    audit_at(&fixtures(), args)
}

/// (file, line, column, rule) of every finding in the unsafe files.
const EXPECTED: &[(&str, usize, usize, &str)] = &[
    // A job parameter set by the workflow's matrix to a tag; the pipeline parameter is its
    // default. The digest given to the same job elsewhere does not hide it.
    (".circleci/config.yml", 20, 54, "sign-by-tag"),
    // `$(IMG)` is only documented here, but `docker push ${IMG}` says it is a tag.
    ("common.mk", 18, 34, "sign-by-tag"),
    (".buildkite/pipeline.yml", 8, 18, "deploy-by-tag"),
    (".buildkite/pipeline.yml", 16, 31, "sign-by-tag"),
    // Its `secrets:` (lists, and maps of a variable to a secret's name) are names: quiet.
    (".drone.yml", 15, 12, "deploy-by-tag"),
    (".drone.yml", 22, 50, "sign-by-tag"),
    (".travis.yml", 10, 5, "unchecked-download"),
    // In an `if` item YAML folds into one line: found on the line it is written on.
    (".travis.yml", 14, 7, "unchecked-download"),
    (".travis.yml", 23, 38, "hardcoded-credential"),
    (".travis.yml", 26, 64, "sign-by-tag"),
    (".woodpecker/release.yml", 5, 12, "deploy-by-tag"),
    (".woodpecker/release.yml", 7, 9, "unchecked-download"),
    (".woodpecker/release.yml", 12, 50, "sign-by-tag"),
    // `$(IMG)` on the continuation line; `IMG ?= $(REGISTRY)/api:$(VERSION)` is a tag
    // even though VERSION comes from `$(shell …)`.
    ("Makefile", 15, 3, "sign-by-tag"),
    ("Makefile", 19, 4, "unchecked-download"),
    ("Taskfile.yml", 17, 55, "sign-by-tag"),
    ("azure-pipelines.yml", 31, 60, "sign-by-tag"),
    ("azure-pipelines.yml", 35, 68, "sign-by-tag"),
    ("bitbucket-pipelines.yml", 1, 8, "deploy-by-tag"),
    ("bitbucket-pipelines.yml", 13, 62, "sign-by-tag"),
    ("bitbucket-pipelines.yml", 19, 17, "deploy-by-tag"),
    ("bitbucket-pipelines.yml", 21, 13, "unchecked-download"),
    ("ci/azure-steps.yml", 5, 13, "unchecked-download"),
    ("ci/deploy.gitlab-ci.yml", 5, 45, "sign-by-tag"),
    ("cloudbuild.yaml", 7, 108, "sign-by-tag"),
    ("cloudbuild.yaml", 14, 9, "unchecked-download"),
    // In a file written for Go's YAML loader (`]` under its key, `[-]`), which is read.
    ("cloudbuild.yaml", 25, 18, "unchecked-download"),
    ("justfile", 7, 23, "sign-by-tag"),
    ("justfile", 15, 5, "unchecked-download"),
    ("tekton/sign-task.yaml", 18, 14, "deploy-by-tag"),
    ("tekton/sign-task.yaml", 30, 56, "sign-by-tag"),
];

fn findings(v: &serde_json::Value) -> Vec<(String, usize, usize, String)> {
    let mut found: Vec<_> = audit_findings(v)
        .into_iter()
        .map(|f| (f.path, f.line as usize, f.column as usize, f.rule))
        .collect();
    found.sort();
    found
}

#[test]
fn every_ci_system_is_read_and_findings_point_into_the_file() {
    let o = audit_in(&[".", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    crate::json_output::assert_valid("audit.schema.json", &v);
    let mut expected: Vec<_> = EXPECTED
        .iter()
        .map(|(p, l, c, r)| (p.to_string(), *l, *c, r.to_string()))
        .collect();
    expected.sort();
    assert_eq!(findings(&v), expected);
    // Read in a directory, a file of no known format is just another file.
    assert_eq!(v["errors"], serde_json::json!([]));
    // 15 pipelines and the 7 safe ones; notes.txt is not among them.
    assert_eq!(v["files"], 22);
    // What the Docker@2 task pushes is in the inventory.
    let azure = v["inventory"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"].as_str().unwrap().ends_with("azure-pipelines.yml"))
        .unwrap();
    assert!(
        azure["pushes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "web:$(Build.SourceBranchName)")
    );
}

#[test]
fn secrets_given_by_name_digests_and_checked_downloads_are_quiet() {
    let o = audit_in(&["safe", "--output", "json"]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_eq!(findings(&v), []);
    assert_eq!(v["files"], 7);
    assert_eq!(v["errors"], serde_json::json!([]));
}

#[test]
fn a_file_of_no_known_format_given_by_name_lists_every_format_read() {
    let o = audit_in(&["notes.txt"]);
    expect_code(&o, 3);
    let err = format!("{}{}", stdout(&o), stderr(&o));
    for format in [
        "Makefiles",
        "justfiles",
        "Taskfiles",
        ".travis.yml",
        "Azure Pipelines",
        "bitbucket-pipelines.yml",
        "Buildkite",
        "Drone and Woodpecker",
        "Tekton",
        "Cloud Build",
        "CircleCI (.circleci/*.yml)",
        "Jenkinsfile",
    ] {
        assert!(err.contains(format), "{format} missing from: {err}");
    }
}
