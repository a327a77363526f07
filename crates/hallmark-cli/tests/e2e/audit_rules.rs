//! `hallmark audit` on pipelines that hide what they do from a first-word match: signers
//! behind variables, paths, `go run` and containers, `cosign attest`; downloads run
//! through files, `tee`, `sudo -E`, `eval`, wrapper functions, or installed unverified;
//! deploys through `docker container run`, `kubectl run --image`, `helm --set image.tag`;
//! credentials glued to options, and key locations and references that are none; a
//! Makefile's recipes and variables, function parameters, and files of references.

use std::path::PathBuf;

use crate::harness::*;

fn fixtures() -> PathBuf {
    audit_fixture("audit-rules")
}

/// Every finding expected in the fixture tree: (file, line, rule, severity). The lines
/// not listed are the safe counterparts: a digest signed, a blob signed, a checked
/// download, a function that does not download, a key path, a reference.
const EXPECTED: &[(&str, u64, &str, &str)] = &[
    (
        ".github/workflows/deploy.yml",
        18,
        "deploy-by-tag",
        "medium",
    ),
    (
        ".github/workflows/deploy.yml",
        19,
        "deploy-by-tag",
        "medium",
    ),
    (
        ".github/workflows/deploy.yml",
        22,
        "deploy-by-tag",
        "medium",
    ),
    (
        ".github/workflows/deploy.yml",
        23,
        "deploy-by-tag",
        "medium",
    ),
    (
        ".github/workflows/deploy.yml",
        24,
        "deploy-by-tag",
        "medium",
    ),
    ("scripts/bootstrap.sh", 15, "unchecked-download", "high"),
    ("scripts/bootstrap.sh", 16, "unchecked-download", "high"),
    ("scripts/bootstrap.sh", 17, "unchecked-download", "high"),
    ("scripts/bootstrap.sh", 18, "unchecked-download", "high"),
    ("scripts/bootstrap.sh", 19, "unchecked-download", "high"),
    ("scripts/bootstrap.sh", 20, "unchecked-download", "medium"),
    ("scripts/bootstrap.sh", 22, "unchecked-download", "medium"),
    (
        "scripts/registry-login.sh",
        15,
        "hardcoded-credential",
        "critical",
    ),
    (
        "scripts/registry-login.sh",
        16,
        "hardcoded-credential",
        "critical",
    ),
    (
        "scripts/registry-login.sh",
        17,
        "hardcoded-credential",
        "critical",
    ),
    // A script kept in a variable from a heredoc, run by `su -c`: found where it is
    // written; the checked one and the one only echoed are quiet.
    ("scripts/node-setup.sh", 11, "unchecked-download", "high"),
    ("scripts/node-setup.sh", 13, "unchecked-download", "high"),
    // Saved, then run by its path: reported on the download.
    ("scripts/node-setup.sh", 37, "unchecked-download", "high"),
    ("scripts/release-sign.sh", 11, "sign-by-tag", "critical"),
    ("scripts/release-sign.sh", 12, "sign-by-tag", "critical"),
    ("scripts/release-sign.sh", 13, "sign-by-tag", "critical"),
    ("scripts/release-sign.sh", 14, "sign-by-tag", "critical"),
    ("scripts/release-sign.sh", 15, "sign-by-tag", "critical"),
    // The built image's RepoDigests after its push are a digest (quiet); a pulled image's
    // are the registry's answer for its tag.
    ("scripts/sign-built.sh", 13, "deploy-by-tag", "medium"),
    ("scripts/sign-built.sh", 16, "sign-resolved-digest", "high"),
    // A Makefile: a password set in a variable (where it is set and where a login reads
    // it) and one a tool reads from the environment; `?= ""` for the caller to set is
    // none. A recipe block in the branch of a conditional after another branch's
    // assignment. Descriptors fetched by a tool called by its path, in backticks; the
    // digest the build wrote is quiet.
    ("Makefile", 6, "hardcoded-credential", "critical"),
    ("Makefile", 25, "unchecked-download", "high"),
    ("Makefile", 33, "sign-resolved-digest", "high"),
    ("Makefile", 35, "hardcoded-credential", "critical"),
    ("Makefile", 36, "hardcoded-credential", "critical"),
    ("Makefile", 37, "sign-resolved-digest", "high"),
    // A function's `local -r target=$1` reusing its caller's name; the digest is quiet.
    ("scripts/build-images.sh", 21, "sign-by-tag", "critical"),
    // ko's image refs files hold digests; only the copies named in the file are tags.
    ("scripts/ko-release.sh", 17, "sign-by-tag", "critical"),
];

fn findings() -> Vec<Found> {
    let o = audit_at(&fixtures(), &[".", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    crate::json_output::assert_valid("audit.schema.json", &v);
    audit_findings(&v)
}

#[test]
fn hidden_signers_downloads_deploys_and_credentials_are_found_and_safe_lines_are_not() {
    let mut found: Vec<(String, u64, String, String)> = findings()
        .into_iter()
        .map(|f| (f.path, f.line, f.rule, f.severity))
        .collect();
    found.sort();
    let mut want: Vec<(String, u64, String, String)> = EXPECTED
        .iter()
        .map(|(p, l, r, s)| (p.to_string(), *l, r.to_string(), s.to_string()))
        .collect();
    want.sort();
    assert_eq!(found, want);
}

#[test]
fn messages_say_what_was_done_not_only_where() {
    let all = findings();
    let message = |path: &str, line: u64| -> String {
        all.iter()
            .find(|f| f.path.ends_with(path) && f.line == line)
            .map(|f| f.message.clone())
            .unwrap_or_default()
    };
    assert!(message("release-sign.sh", 13).contains("cosign attest attests"));
    assert!(message("release-sign.sh", 15).starts_with("cosign sign signs"));
    assert!(message("bootstrap.sh", 15).contains("fetch"));
    assert!(message("node-setup.sh", 37).contains("run on line 38"));
    // An install is said to be one, not claimed to have run.
    let install = message("bootstrap.sh", 20);
    assert!(
        install.contains("installed") && install.contains("yq"),
        "{install}"
    );
    assert!(message("deploy.yml", 24).contains("helm upgrade"));
    assert!(message("Makefile", 36).contains("LOCAL_REGISTRY_PASSWORD"));
}
