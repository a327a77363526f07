//! `hallmark audit` following values to the sign: GitHub Actions outputs, `$GITHUB_OUTPUT`
//! and `$GITHUB_ENV`, job outputs, shell variables through branches, loops and function
//! parameters. A reference is judged by what it may name; one that cannot be known is never
//! reported as a tag.

use std::path::{Path, PathBuf};

use crate::harness::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/fixtures/audit-flow")
}

/// (file, line, rule) of every finding of `hallmark audit` over the fixtures.
fn found() -> Vec<(String, u64, String)> {
    let o = hallmark()
        .args(["audit", ".", "--output", "json"])
        .current_dir(fixtures())
        .output()
        .unwrap();
    expect_code(&o, 1);
    let v = json_out(&o);
    let mut out: Vec<(String, u64, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["path"]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("./")
                    .to_string(),
                f["line"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn values_are_followed_to_the_sign_and_unknown_values_are_not_reported() {
    let expected: Vec<(String, u64, String)> = [
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
    ]
    .iter()
    .map(|(f, l, r)| (f.to_string(), *l, r.to_string()))
    .collect();
    // Nothing in safe.yml (the build's digest, through `$GITHUB_OUTPUT`, and a reference
    // read from a file) nor in sign-built.sh (a digest from the build's metadata in both
    // branches, `docker pull ${platform}`, references read from a file).
    assert_eq!(found(), expected);
}
