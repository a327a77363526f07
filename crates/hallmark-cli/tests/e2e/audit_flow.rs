//! `hallmark audit` following values to the sign: GitHub Actions outputs, `$GITHUB_OUTPUT`
//! and `$GITHUB_ENV`, job outputs, shell variables through branches, loops and function
//! parameters, and from one file into another (composite actions, reusable workflows,
//! Azure templates, GitLab `extends:` and `!reference` across included files). A reference
//! is judged by what it may name; one that cannot be known is never reported as a tag.

use std::path::{Path, PathBuf};

use crate::harness::*;

fn fixtures() -> PathBuf {
    audit_fixture("audit-flow")
}

/// (file, line, rule) of every finding of `hallmark audit` over the fixtures.
fn found() -> Vec<(String, u64, String)> {
    found_in(&fixtures()).0
}

/// (file, line, rule) of every finding of `hallmark audit` over `dir`, and the report.
fn found_in(dir: &Path) -> (Vec<(String, u64, String)>, serde_json::Value) {
    let o = audit_at(dir, &[".", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    let mut out: Vec<(String, u64, String)> = audit_findings(&v)
        .into_iter()
        .map(|f| (f.path, f.line, f.rule))
        .collect();
    out.sort();
    (out, v)
}

/// Expected (file, line, rule) rows, as [`found_in`] gives them.
fn rows(expected: &[(&str, u64, &str)]) -> Vec<(String, u64, String)> {
    expected
        .iter()
        .map(|(f, l, r)| (f.to_string(), *l, r.to_string()))
        .collect()
}

#[test]
fn values_are_followed_to_the_sign_and_unknown_values_are_not_reported() {
    let expected = rows(&[
        // `steps.meta.outputs.tags` through a step's env and a loop.
        (".github/workflows/release.yml", 33, "sign-by-tag"),
        // A digest looked up by `crane digest`, passed on through `$GITHUB_OUTPUT`.
        (".github/workflows/release.yml", 47, "sign-resolved-digest"),
        // A tag written to `$GITHUB_ENV` by an earlier step.
        (".github/workflows/release.yml", 48, "sign-by-tag"),
        // A job output holding the metadata action's tags, read through `needs`.
        (".github/workflows/release.yml", 54, "sign-by-tag"),
        // A function's parameter bound at a call with a tag (reported where it signs).
        ("scripts/sign-release.sh", 23, "sign-by-tag"),
        // A digest looked up in either branch, through two variables.
        ("scripts/sign-release.sh", 26, "sign-resolved-digest"),
    ]);
    // Nothing in safe.yml (the build's digest, through `$GITHUB_OUTPUT`, and a reference
    // read from a file) nor in sign-built.sh (a digest from the build's metadata in both
    // branches, `docker pull ${platform}`, references read from a file).
    assert_eq!(found(), expected);
}

#[test]
fn values_passed_to_other_files_are_followed_to_their_sign() {
    let dir = audit_fixture("audit-xfile");
    let (found, report) = found_in(&dir);
    let expected = rows(&[
        // A composite action called twice: with the metadata action's tags (reported) and
        // with the build's digest (not).
        (".github/actions/sign-ref/action.yml", 22, "sign-by-tag"),
        // A hidden template's lines, named by `!reference` in a job that sets TAG.
        (".gitlab-ci.yml", 11, "sign-by-tag"),
        // A template extended by a job of an included file, which gives it a tag.
        (".gitlab-ci.yml", 16, "sign-by-tag"),
        // An Azure job template given a tag; the one given a digest is silent, and so
        // are the step templates that hand a digest to each other in a loop.
        ("ci/templates/sign-job.yml", 16, "sign-by-tag"),
    ]);
    // Nothing in sign-subject.yml: the reusable workflow is called with a digest.
    assert_eq!(found, expected);
    // A finding made with a caller's value names the caller.
    let messages: Vec<String> = audit_findings(&report)
        .into_iter()
        .map(|f| f.message)
        .collect();
    assert!(
        messages
            .iter()
            .any(|m| m.ends_with("(with the value given at ./.github/workflows/images.yml:29)")),
        "{messages:?}"
    );
    assert!(
        messages
            .iter()
            .any(|m| m.ends_with("(with the value given at ./azure-pipelines.yml:14)")),
        "{messages:?}"
    );
    // The loop of templates and the template of another repository leave nothing out.
    assert_eq!(report["errors"], serde_json::json!([]));
    assert_eq!(report["partial"], false);
}

#[test]
fn downloads_are_followed_through_wrappers_stages_packages_and_archives() {
    let dir = audit_fixture("audit-downloads");
    let (found, report) = found_in(&dir);
    let expected = rows(&[
        // A source tarball piped into tar, then built and installed, in an `unless:` step;
        // the one checked before it is unpacked (`when:`) is silent.
        (".circleci/config.yml", 18, "unchecked-download"),
        // `bin/fetch` runs curl on its arguments: piped to a shell, saved into a bin
        // directory. Its output given to jq, and the archive checked first, are silent.
        (
            ".github/workflows/integration.yml",
            15,
            "unchecked-download",
        ),
        (
            ".github/workflows/integration.yml",
            18,
            "unchecked-download",
        ),
        (
            ".github/workflows/integration.yml",
            19,
            "unchecked-download",
        ),
        // Packages downloaded then installed, each on its download; `rpm -K` first is
        // silent.
        (".gitlab-ci.yml", 9, "unchecked-download"),
        (".gitlab-ci.yml", 10, "unchecked-download"),
        (".gitlab-ci.yml", 18, "unchecked-download"),
        // Downloaded by one RUN, made executable and moved by the next ones; helm,
        // checked by a RUN between, is silent.
        ("build/Dockerfile", 6, "unchecked-download"),
        // A shared library step that unpacks a release into the PATH; the one checked
        // against the release's checksums is silent.
        ("vars/installTool.groovy", 9, "unchecked-download"),
    ]);
    assert_eq!(found, expected);
    let messages: Vec<String> = audit_findings(&report)
        .into_iter()
        .map(|f| f.message)
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("bin/fetch (curl)")),
        "{messages:?}"
    );
    assert_eq!(report["files"], 7);
    assert_eq!(report["errors"], serde_json::json!([]));
}
