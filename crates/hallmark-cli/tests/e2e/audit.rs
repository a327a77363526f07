//! `hallmark audit` over a tree of realistic pipelines and manifests written for these
//! tests: each rule fires where it should and stays quiet where it should not, secrets are
//! never printed, and the SARIF follows the official 2.1.0 schema.

use std::path::{Path, PathBuf};

use crate::harness::*;

fn fixtures() -> PathBuf {
    audit_fixture("audit")
}

fn audit_in(args: &[&str]) -> std::process::Output {
    audit_at(&fixtures(), args)
}

/// Every finding expected in the fixture tree: (file, line, rule). Nothing else may fire.
const EXPECTED: &[(&str, usize, &str)] = &[
    (".circleci/config.yml", 9, "deploy-by-tag"),
    (".circleci/config.yml", 19, "unchecked-download"),
    (".circleci/config.yml", 44, "sign-by-tag"),
    (".circleci/config.yml", 47, "sign-resolved-digest"),
    (".github/workflows/release.yml", 7, "hardcoded-credential"),
    (".github/workflows/release.yml", 11, "deploy-by-tag"),
    (".github/workflows/release.yml", 14, "deploy-by-tag"),
    (".github/workflows/release.yml", 16, "unpinned-action"),
    (".github/workflows/release.yml", 17, "unpinned-action"),
    (".github/workflows/release.yml", 22, "unpinned-action"),
    (".github/workflows/release.yml", 28, "sign-by-tag"),
    (".github/workflows/release.yml", 31, "sign-by-tag"),
    (".github/workflows/release.yml", 33, "unpinned-action"),
    (".gitlab-ci.yml", 1, "deploy-by-tag"),
    (".gitlab-ci.yml", 9, "hardcoded-credential"),
    (".gitlab-ci.yml", 11, "sign-resolved-digest"),
    (".gitlab-ci.yml", 12, "unchecked-download"),
    ("Dockerfile", 1, "deploy-by-tag"),
    ("Dockerfile", 2, "unchecked-download"),
    ("ci/Jenkinsfile", 6, "sign-by-tag"),
    ("deploy/app.yaml", 10, "deploy-by-tag"),
    ("deploy/app.yaml", 25, "deploy-by-tag"),
    ("docker-compose.yml", 3, "deploy-by-tag"),
    ("scripts/deploy.sh", 5, "verify-then-pull-by-tag"),
    ("scripts/deploy.sh", 6, "unchecked-download"),
];

#[test]
fn every_rule_fires_where_it_should_and_nowhere_else() {
    let o = audit_in(&[".", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    crate::json_output::assert_valid("audit.schema.json", &v);
    let mut found: Vec<(String, usize, String)> = audit_findings(&v)
        .into_iter()
        .map(|f| (f.path, f.line as usize, f.rule))
        .collect();
    found.sort();
    let mut expected: Vec<(String, usize, String)> = EXPECTED
        .iter()
        .map(|(p, l, r)| (p.to_string(), *l, r.to_string()))
        .collect();
    expected.sort();
    assert_eq!(found, expected);
    // Every rule has a positive case here; the good workflow, the pinned images, the
    // README and the checked download have none.
    for rule in hallmark::audit::RULES {
        assert!(
            EXPECTED.iter().any(|(_, _, r)| *r == rule.id),
            "{} never fires",
            rule.id
        );
    }
    assert!(
        !found
            .iter()
            .any(|(p, _, _)| p.contains("good.yml") || p == "README.md")
    );
    // The reviewed exception is counted, with its reason.
    assert_eq!(v["suppressed"], 1);
    let suppressed: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["suppressed"].is_string())
        .collect();
    assert_eq!(suppressed.len(), 1);
    assert!(
        suppressed[0]["suppressed"]
            .as_str()
            .unwrap()
            .contains("immutable")
    );
    // The inventory: which registries each pipeline pushes to, and with which credentials.
    let inventory = v["inventory"].as_array().unwrap();
    let release = inventory
        .iter()
        .find(|i| i["path"].as_str().unwrap().ends_with("release.yml"))
        .unwrap();
    assert!(
        release["pushes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "ghcr.io/acme/app")
    );
    assert_eq!(
        release["credentials"],
        serde_json::json!(["GHCR_TOKEN for ghcr.io"])
    );
}

#[test]
fn secrets_are_never_printed_in_any_format() {
    for format in ["text", "json", "sarif"] {
        let o = audit_in(&[".", "--output", format]);
        expect_code(&o, 1);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        for secret in ["AKIAIOSFODNN7EXAMPLE", "s3cretpassw0rd"] {
            assert!(!all.contains(secret), "{format} printed {secret}");
        }
    }
}

#[test]
fn severity_threshold_text_and_usage() {
    // Only critical findings count: still some (sign by tag, credentials).
    expect_code(&audit_in(&[".", "--severity", "critical"]), 1);
    // A tree with medium findings only passes at high.
    expect_code(&audit_in(&["deploy/app.yaml", "--severity", "critical"]), 0);
    let o = audit_in(&["scripts/deploy.sh"]);
    expect_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.contains("scripts/deploy.sh:5:13: high verify-then-pull-by-tag: "),
        "{out}"
    );
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("2 findings (0 critical, 2 high"),
        "{out}"
    );
    expect_code(&audit_in(&[".github/workflows/good.yml"]), 0);
    let o = audit_in(&["nope"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("nope does not exist"), "{}", stderr(&o));
    expect_code(&audit_in(&[".", "--severity", "severe"]), 2);
    // SARIF is for audit only.
    let o = run(&["digest", "file:/etc/hostname", "--output", "sarif"]);
    expect_code(&o, 2);
}

#[test]
fn sarif_follows_the_official_schema_with_stable_fingerprints() {
    let o = audit_in(&[".", "--output", "sarif"]);
    expect_code(&o, 1);
    let doc = json_out(&o);
    let schema = sarif_schema();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let run = &doc["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), hallmark::audit::RULES.len());
    assert!(
        rules
            .iter()
            .all(|r| r["help"]["text"].as_str().is_some_and(|t| t.len() > 40))
    );
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), EXPECTED.len());
    let suppressed = results
        .iter()
        .filter(|r| r["suppressions"][0]["kind"] == "inSource")
        .count();
    assert_eq!(suppressed, 1);
    // Fingerprints do not depend on the line: moving a finding keeps it the same result.
    let dir = tempfile::tempdir().unwrap();
    let script = "#!/bin/sh\ncosign sign --key k reg.io/app:v1\n";
    std::fs::write(dir.path().join("a.sh"), script).unwrap();
    let fp = |dir: &Path| {
        let mut c = hallmark();
        c.args(["audit", ".", "--output", "sarif"]).current_dir(dir);
        let doc = json_out(&c.output().unwrap());
        doc["runs"][0]["results"][0]["partialFingerprints"]["hallmark/v1"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let before = fp(dir.path());
    std::fs::write(
        dir.path().join("a.sh"),
        format!("#!/bin/sh\n\n\n{}", &script[10..]),
    )
    .unwrap();
    assert_eq!(fp(dir.path()), before);
}

/// The official SARIF 2.1.0 schema, as the serde-sarif crate ships it (its types are
/// generated from it).
fn sarif_schema() -> serde_json::Value {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(std::env::var("HOME").unwrap()).join(".cargo"));
    let registry = home.join("registry/src");
    for index in std::fs::read_dir(&registry).unwrap().flatten() {
        let candidate = index.path().join("serde-sarif-0.8.0/src/schema.json");
        if candidate.exists() {
            // The published schema has one pattern with an unescaped `]`, which strict
            // (ECMA, unicode) regex engines refuse; escaping it keeps its meaning.
            let text = std::fs::read_to_string(candidate)
                .unwrap()
                .replace("{2}-[a-zA-Z]{2}]?$", "{2}-[a-zA-Z]{2}\\\\]?$");
            let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
            assert_eq!(
                schema["title"],
                "Static Analysis Results Format (SARIF) Version 2.1.0 JSON Schema"
            );
            return schema;
        }
    }
    panic!(
        "serde-sarif 0.8.0's schema.json is not in {}",
        registry.display()
    );
}

/// Runs `hallmark audit ARGS` in `dir`.
/// Writes `files` (path, bytes) under `dir`, creating directories.
fn write_tree(dir: &Path, files: &[(&str, &[u8])]) {
    for (name, bytes) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
}

/// (path without `./`, rule) of every finding of a JSON report.
fn rules_found(v: &serde_json::Value) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = audit_findings(v)
        .into_iter()
        .map(|f| (f.path, f.rule))
        .collect();
    found.sort();
    found
}

/// The `errors` (or `warnings`) of a JSON report as "path: error" lines.
fn problems(v: &serde_json::Value, field: &str) -> Vec<String> {
    v[field]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e["path"].as_str().unwrap().trim_start_matches("./"),
                e["error"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn deeply_nested_yaml_is_an_error_for_that_file_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    // 80 KB of valid YAML: 40 000 sequences, each inside the last.
    let deep = format!("{}x\n", "- ".repeat(40_000));
    write_tree(
        dir.path(),
        &[
            ("deploy/deep.yaml", deep.as_bytes()),
            (
                "deploy/app.yaml",
                b"apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: reg.example.com/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n",
            ),
        ],
    );
    let o = audit_at(dir.path(), &[".", "--output", "json"]);
    expect_code(&o, 3);
    let v = json_out(&o);
    crate::json_output::assert_valid("audit.schema.json", &v);
    assert_eq!(v["partial"], true);
    assert_eq!(v["files"], 2, "the other file is still audited");
    assert_eq!(
        problems(&v, "errors"),
        ["deploy/deep.yaml: line 1: nested deeper than 256 levels: not audited"]
    );
    assert!(stderr(&o).contains("error: the audit is partial: 1 file(s)"));
    // Text: the file is named on stdout, and the summary says the audit is partial.
    let o = audit_at(dir.path(), &["deploy"]);
    expect_code(&o, 3);
    let out = stdout(&o);
    assert!(
        out.contains("deploy/deep.yaml: line 1: nested deeper than 256 levels: not audited"),
        "{out}"
    );
    assert!(
        out.lines()
            .last()
            .unwrap()
            .starts_with("PARTIAL: 0 findings"),
        "{out}"
    );
    // pin reads the same file with the same parser: it ends cleanly too.
    let k = keys("ecdsa-p256");
    let mut c = hallmark();
    c.args(["pin", "deploy/deep.yaml", "--key", &k.public])
        .current_dir(dir.path());
    let o = c.output().unwrap();
    assert!(
        o.status.code().is_some_and(|c| [0, 1, 2, 3].contains(&c)),
        "pin ended with {:?}: {}",
        o.status,
        stderr(&o)
    );
    assert!(!stderr(&o).contains("overflow"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("panicked"), "{}", stderr(&o));
}

#[test]
fn what_audit_did_not_read_is_reported_and_the_audit_is_partial() {
    let sign = b"      - run: cosign sign --key k reg.example.com/app:v1\n";
    let workflow = |prefix: &[u8]| {
        [
            prefix,
            b"on: push\njobs:\n  release:\n    runs-on: ubuntu-latest\n    steps:\n",
            sign,
        ]
        .concat()
    };

    // A workflow with one Latin-1 byte is read (lossily) and audited: its finding is found.
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[(".github/workflows/ci.yml", &workflow(b"# caf\xe9\n"))],
    );
    let o = audit_at(dir.path(), &[".", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    crate::json_output::assert_valid("audit.schema.json", &v);
    assert_eq!(
        rules_found(&v),
        [(".github/workflows/ci.yml".into(), "sign-by-tag".into())]
    );
    assert_eq!(
        problems(&v, "warnings"),
        [
            ".github/workflows/ci.yml: not UTF-8 (from line 1): audited with those bytes replaced by U+FFFD"
        ]
    );

    // Without a finding, the caveat is a warning (exit 0); --strict counts it (exit 3).
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[("scripts/build.sh", b"#!/bin/sh\n# caf\xe9\nmake\n")],
    );
    let o = audit_at(dir.path(), &["."]);
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("warning: ./scripts/build.sh: not UTF-8"),
        "{}",
        stderr(&o)
    );
    let o = audit_at(dir.path(), &[".", "--strict", "--output", "json"]);
    expect_code(&o, 3);
    assert_eq!(json_out(&o)["partial"], true);
    assert!(stderr(&o).contains("1 warning(s) that --strict counts"));

    // A signature by tag after 1.1 MiB of comments in a script is found.
    let dir = tempfile::tempdir().unwrap();
    let long = [
        b"#!/bin/sh\n".as_slice(),
        "# padding padding padding padding padding padding padding padding\n"
            .repeat(17_000)
            .as_bytes(),
        b"cosign sign --key k reg.example.com/app:v1\n",
    ]
    .concat();
    assert!(long.len() > 1_100_000);
    write_tree(dir.path(), &[("release.sh", &long)]);
    let o = audit_at(dir.path(), &[".", "--output", "json"]);
    expect_code(&o, 1);
    assert_eq!(
        rules_found(&json_out(&o)),
        [("release.sh".into(), "sign-by-tag".into())]
    );

    // A pipeline file over 2 MiB and one that is not YAML are not audited: exit 3, each
    // named. A large file of no kind audit reads is not a pipeline: not reported.
    let dir = tempfile::tempdir().unwrap();
    let big = [b"# x\n".repeat(600_000).as_slice(), b"kind: Pod\n"].concat();
    write_tree(
        dir.path(),
        &[
            ("deploy/big.yaml", &big),
            ("deploy/broken.yaml", b"kind: Pod\nspec: [unclosed\n"),
            ("assets/video.bin", &vec![0u8; 3 << 20]),
        ],
    );
    let o = audit_at(dir.path(), &[".", "--output", "json"]);
    expect_code(&o, 3);
    let v = json_out(&o);
    crate::json_output::assert_valid("audit.schema.json", &v);
    let errors = problems(&v, "errors");
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(
        errors[0],
        "deploy/big.yaml: larger than the 2097152-byte limit: not audited"
    );
    assert!(
        errors[1].starts_with("deploy/broken.yaml: not YAML: ")
            && errors[1].ends_with("not audited"),
        "{errors:?}"
    );

    // A FIFO given as PATH is not audited, and says so.
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipeline.yml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let o = audit_at(dir.path(), &["pipeline.yml", "--output", "json"]);
    expect_code(&o, 3);
    assert_eq!(
        problems(&json_out(&o), "errors"),
        ["pipeline.yml: not a regular file or a directory: not audited"]
    );
}

#[cfg(unix)]
#[test]
fn symlinks_are_followed_inside_the_tree_and_reported_outside_it() {
    use std::os::unix::fs::symlink;
    let outside = tempfile::tempdir().unwrap();
    write_tree(
        outside.path(),
        &[
            ("secret-deploy.yaml", b"apiVersion: v1\nkind: Pod\n"),
            ("LICENSE", b"MIT\n"),
        ],
    );
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    // Workflows kept in pipelines/ and linked where GitHub reads them: only through the
    // link are they workflows.
    write_tree(
        &repo,
        &[(
            "pipelines/release.yml",
            b"on: push\njobs:\n  release:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n",
        ), ("scripts/sign-impl.sh", b"cosign sign --key k reg.example.com/app:v1\n")],
    );
    std::fs::create_dir(repo.join(".github")).unwrap();
    symlink("../pipelines", repo.join(".github/workflows")).unwrap();
    // A linked file, a loop back to the top, and two links that leave the tree.
    symlink("scripts/sign-impl.sh", repo.join("sign.sh")).unwrap();
    symlink("..", repo.join("scripts/up")).unwrap();
    symlink(
        outside.path().join("secret-deploy.yaml"),
        repo.join("deploy.yaml"),
    )
    .unwrap();
    symlink(outside.path().join("LICENSE"), repo.join("LICENSE")).unwrap();
    let o = audit_at(&repo, &[".", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    crate::json_output::assert_valid("audit.schema.json", &v);
    assert_eq!(
        rules_found(&v),
        [
            (
                ".github/workflows/release.yml".into(),
                "unpinned-action".into()
            ),
            ("scripts/sign-impl.sh".into(), "sign-by-tag".into()),
            ("sign.sh".into(), "sign-by-tag".into()),
        ]
    );
    assert_eq!(
        problems(&v, "errors"),
        ["deploy.yaml: a symlink that leads outside the audited tree: not followed, not audited"]
    );
    let warnings = problems(&v, "warnings");
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert_eq!(
        warnings[0],
        "LICENSE: a symlink that leads outside the audited tree: not followed, not audited"
    );
    assert!(
        warnings[1].starts_with("scripts/up: a symlink back to "),
        "{warnings:?}"
    );
    assert_eq!(v["partial"], true);

    // A symlinked PATH is followed: the user named it.
    symlink(&repo, dir.path().join("link-to-repo")).unwrap();
    std::fs::remove_file(repo.join("deploy.yaml")).unwrap();
    let o = audit_at(dir.path(), &["link-to-repo", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_eq!(rules_found(&v).len(), 3, "{v:#}");
    assert_eq!(v["partial"], false);
    // A symlinked file reached through a symlinked PATH is read too.
    let o = audit_at(dir.path(), &["link-to-repo/sign.sh"]);
    expect_code(&o, 1);
    assert!(
        stdout(&o).contains("link-to-repo/sign.sh:1:21: critical sign-by-tag"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn not_audited_parts_are_notifications_in_sarif() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            ("deploy/broken.yaml", b"kind: Pod\nspec: [unclosed\n"),
            ("scripts/a.sh", b"#!/bin/sh\n# caf\xe9\nmake\n"),
        ],
    );
    let o = audit_at(dir.path(), &[".", "--output", "sarif"]);
    expect_code(&o, 3);
    let doc = json_out(&o);
    let validator = jsonschema::validator_for(&sarif_schema()).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let invocation = &doc["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    let notes = invocation["toolExecutionNotifications"].as_array().unwrap();
    let summary: Vec<(String, String)> = notes
        .iter()
        .map(|n| {
            (
                n["level"].as_str().unwrap().to_string(),
                n["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("error".to_string(), "deploy/broken.yaml".to_string()),
            ("warning".to_string(), "scripts/a.sh".to_string()),
        ]
    );
    assert!(
        notes[0]["message"]["text"]
            .as_str()
            .unwrap()
            .contains("not YAML")
    );
}

#[test]
fn credential_values_are_never_printed_whatever_they_look_like() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            (
                "scripts/release.sh",
                b"#!/bin/sh\n\
docker login -u ci -p trueNorth-Pass-4417 registry.example.com\n\
docker login registry.example.com -u ci --password=exampleCorp-Prod-9931\n\
docker login -u ci -pchangeme-Ops-3371 other.example.com\n\
skopeo copy docker://a.example.com/b:c docker://registry.example.com/b:c --dest-creds ci:hunter2-Creds-5521\n\
echo \"$PW\" | docker login -u ci --password-stdin ghcr.io\n\
docker login -u ci -p \"$QUAY_PASSWORD\" quay.io\n",
            ),
            (
                ".github/workflows/login.yml",
                b"on: push\njobs:\n  push:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: docker/login-action@74a5d142397b4f367a81961eba4e8cd7edddf772\n        with:\n          registry: registry.example.com\n          username: ci\n          password: $uperSecretPass2024\n      - uses: docker/login-action@74a5d142397b4f367a81961eba4e8cd7edddf772\n        with:\n          registry: ghcr.io\n          password: ${{ secrets.GHCR_TOKEN }}\n",
            ),
        ],
    );
    let secrets = [
        "trueNorth-Pass-4417",
        "exampleCorp-Prod-9931",
        "changeme-Ops-3371",
        "hunter2-Creds-5521",
        "uperSecretPass2024",
    ];
    for format in ["text", "json", "sarif"] {
        let o = audit_at(dir.path(), &[".", "--output", format]);
        expect_code(&o, 1);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        for secret in secrets {
            assert!(!all.contains(secret), "{format} printed {secret}:\n{all}");
        }
    }
    let v = json_out(&audit_at(dir.path(), &[".", "--output", "json"]));
    let mut credentials: Vec<(String, u64)> = audit_findings(&v)
        .into_iter()
        .filter(|f| f.rule == "hardcoded-credential")
        .map(|f| (f.path, f.line))
        .collect();
    credentials.sort();
    assert_eq!(
        credentials,
        [
            (".github/workflows/login.yml".to_string(), 10),
            ("scripts/release.sh".to_string(), 2),
            ("scripts/release.sh".to_string(), 3),
            ("scripts/release.sh".to_string(), 4),
            ("scripts/release.sh".to_string(), 5),
        ]
    );
    // Real expansions are named, literal ones counted, never shown.
    let inventory = |file: &str| -> Vec<String> {
        let entry = v["inventory"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["path"].as_str().unwrap().ends_with(file))
            .unwrap();
        serde_json::from_value(entry["credentials"].clone()).unwrap()
    };
    assert_eq!(
        inventory("login.yml"),
        [
            "GHCR_TOKEN for ghcr.io",
            "a password written in the file for registry.example.com"
        ]
    );
    assert_eq!(
        inventory("release.sh"),
        [
            "QUAY_PASSWORD for quay.io",
            "a password on stdin for ghcr.io",
            "a password written in the file for other.example.com",
            "a password written in the file for registry.example.com"
        ]
    );
}

#[test]
fn fingerprints_are_unique_per_finding_and_survive_unrelated_edits() {
    let one = format!("ghp_{}", "A1b2".repeat(9));
    let two = format!("ghp_{}", "C3d4".repeat(9));
    let workflow = |top: &str, middle: &str| {
        format!("on: push\n{top}env:\n  FIRST: {one}\n{middle}  SECOND: {two}\njobs: {{}}\n")
    };
    let script = |extra: &str| {
        format!(
            "#!/bin/sh\n{extra}curl -fsSL https://a.example.com/install.sh | bash\n{extra}curl -fsSL https://b.example.com/install.sh | bash\n"
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |top: &str, middle: &str, extra_sh: &str| {
        write_tree(
            dir.path(),
            &[
                (".github/workflows/ci.yml", workflow(top, middle).as_bytes()),
                ("install.sh", script(extra_sh).as_bytes()),
            ],
        );
    };
    // (rule, fingerprint) of each result, in file order.
    let fingerprints = || -> Vec<(String, String)> {
        let doc = json_out(&audit_at(dir.path(), &[".", "--output", "sarif"]));
        doc["runs"][0]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["ruleId"].as_str().unwrap().to_string(),
                    r["partialFingerprints"]["hallmark/v1"]
                        .as_str()
                        .unwrap()
                        .to_string(),
                )
            })
            .collect()
    };
    write("", "", "");
    let before = fingerprints();
    let rules: Vec<&str> = before.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(
        rules,
        [
            "hardcoded-credential",
            "hardcoded-credential",
            "unchecked-download",
            "unchecked-download"
        ]
    );
    let unique: std::collections::BTreeSet<_> = before.iter().map(|(_, f)| f).collect();
    assert_eq!(unique.len(), before.len(), "{before:?}");
    // Lines added above and between the findings move them; their fingerprints stay.
    write(
        "# a comment\nname: ci\n",
        "  # rotated yearly\n  REGION: eu\n",
        "# a comment\necho building\nmake -j2\n",
    );
    assert_eq!(fingerprints(), before);
}

#[test]
fn gitlab_templates_are_audited_where_they_are_written() {
    // Jobs take these through `extends`, `<<: *anchor` and `!reference`, which audit does
    // not follow: the templates themselves must be read.
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[(
            ".gitlab-ci.yml",
            b".login: &login\n  - docker login -u ci -p hunter2-Lab-7713 registry.example.com\n.docker:\n  before_script:\n    - curl -fsSL https://get.example.com | sh\nrelease:\n  extends: .docker\n  script:\n    - *login\n    - make release\n",
        )],
    );
    let o = audit_at(dir.path(), &[".gitlab-ci.yml", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    let mut found: Vec<(u64, String)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["rule"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (2, "hardcoded-credential".to_string()),
            (5, "unchecked-download".to_string())
        ]
    );
    assert!(!stdout(&o).contains("hunter2-Lab-7713"));
}

#[test]
fn scripts_without_an_extension_are_known_by_their_interpreter() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            (
                "ci/release",
                b"#!/bin/bash -eu\ncosign sign --key k reg.example.com/app:v1\n",
            ),
            (
                "ci/publish",
                b"#!/usr/bin/env -S bash -e\ncurl -fsSL https://get.example.com | sh\n",
            ),
            (
                "ci/tool",
                b"#!/usr/bin/env python3\nprint('cosign sign reg.example.com/app:v1')\n",
            ),
        ],
    );
    let o = audit_at(dir.path(), &["ci", "--output", "json"]);
    expect_code(&o, 1);
    assert_eq!(
        rules_found(&json_out(&o)),
        [
            ("ci/publish".into(), "unchecked-download".into()),
            ("ci/release".into(), "sign-by-tag".into()),
        ]
    );
}

/// Runs `hallmark audit .` in `dir` in every format and checks that none of `secrets`
/// appears in what it prints; returns the JSON report.
fn audit_printing_none_of(dir: &Path, secrets: &[&str]) -> serde_json::Value {
    for format in ["text", "json", "sarif"] {
        let o = audit_at(dir, &[".", "--output", format]);
        expect_code(&o, 1);
        let all = format!("{}{}", stdout(&o), stderr(&o));
        for secret in secrets {
            assert!(!all.contains(secret), "{format} printed {secret}:\n{all}");
        }
    }
    json_out(&audit_at(dir, &[".", "--output", "json"]))
}

/// (path without `./`, line, message) of every finding of a rule.
fn findings_of(v: &serde_json::Value, rule: &str) -> Vec<(String, u64, String)> {
    let mut out: Vec<(String, u64, String)> = audit_findings(v)
        .into_iter()
        .filter(|f| f.rule == rule)
        .map(|f| (f.path, f.line, f.message))
        .collect();
    out.sort();
    out
}

/// The inventory entry `field` of the file ending in `file`.
fn inventory_of(v: &serde_json::Value, file: &str, field: &str) -> Vec<String> {
    let entry = v["inventory"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"].as_str().unwrap().ends_with(file))
        .unwrap();
    serde_json::from_value(entry[field].clone()).unwrap()
}

#[test]
fn variables_holding_credentials_are_never_substituted_into_what_is_printed() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            (
                ".github/workflows/release.yml",
                b"on: push
jobs:
  b:
    runs-on: x
    steps:
      - run: |
          docker push reg1.example.com/early:$LATER
          PW=assigned-Secret-3333
          COPY=$PW
          docker login -u ci -p \"$PW\" reg.example.com
          docker push reg6.example.com/app:$PW
          docker push reg6.example.com/copy:$COPY
          DEPLOY_TOKEN=named-Secret-4141
          docker pull reg6.example.com/tok:$DEPLOY_TOKEN
          LATER=later-Secret-5151
          printf '%s' \"$LATER\" | docker login -u ci --password-stdin reg8.example.com\n",
            ),
            (
                ".gitlab-ci.yml",
                b"variables:
  RELEASE_KEY: glvar-Secret-6161
build:
  script:
    - crane auth login reg9.example.com -u ci --password \"$RELEASE_KEY\"
    - crane copy a.example.com/b:1 reg9.example.com/b:$RELEASE_KEY\n",
            ),
        ],
    );
    let v = audit_printing_none_of(
        dir.path(),
        &[
            "assigned-Secret-3333",
            "named-Secret-4141",
            "later-Secret-5151",
            "glvar-Secret-6161",
        ],
    );
    // The references are printed as written.
    assert_eq!(
        inventory_of(&v, "release.yml", "pushes"),
        [
            "reg1.example.com/early:$LATER",
            "reg6.example.com/app:$PW",
            "reg6.example.com/copy:$PW",
        ]
    );
    assert_eq!(
        inventory_of(&v, "release.yml", "pulls"),
        ["reg6.example.com/tok:$DEPLOY_TOKEN"]
    );
    assert_eq!(
        inventory_of(&v, ".gitlab-ci.yml", "pushes"),
        ["reg9.example.com/b:$RELEASE_KEY"]
    );
}

#[test]
fn credentials_written_in_the_file_are_found_wherever_they_are_passed() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            (
                ".github/workflows/a.yml",
                b"on: push
env:
  REG_PW: envblock-Secret-1111
  REGURL: https://ci:urlenv-Secret-2222@reg.example.com
jobs:
  b:
    runs-on: x
    steps:
      - run: |
          PW=assigned-Secret-3333
          docker login -u ci -p \"$PW\" reg.example.com
          docker login -u ci -p \"$REG_PW\" reg.example.com
          docker login \"$REGURL\" -u ci --password-stdin < pw.txt
          docker login https://ci:inline-Secret-4444@reg2.example.com
          skopeo copy --dest-creds ci:creds-Secret-5555 docker://a/b:1 docker://reg3.example.com/b:1
          curl -u ci:curl-Secret-6666 https://reg4.example.com/v2/
          echo echoed-Secret-7777 | docker login -u ci --password-stdin reg5.example.com
          docker login -u ci -p\"glued-Secret-8888\" reg7.example.com
      - run: skopeo login -u ci -p Real-4321xyz reg10.example.com
      - run: helm registry login reg11.example.com --username ci --password=helm-Secret-1212
      - run: curl --user \"ci:$TOKEN_REF\" https://reg12.example.com/v2/
      - run: docker login -u ci --password-stdin reg14.example.com <<< here-Secret-1515
      - run: docker login -u ci --password-stdin <<<glued-here-Secret-1616
      - run: export RELEASE_PASSWORD=exported-Secret-1717
      - env:
          STEP_PW: step-Secret-1313
        uses: docker/login-action@74a5d142397b4f367a81961eba4e8cd7edddf772
        with:
          registry: reg13.example.com
          password: ${{ env.STEP_PW }}\n",
            ),
            (
                ".gitlab-ci.yml",
                b"variables:
  CI_REG_PW: glvar-Secret-9999
build:
  script:
    - docker login -u ci -p $CI_REG_PW registry.example.com
    - podman login -u ci --password ${CI_REG_PW} registry.example.com
    - skopeo copy --src-creds=ci:srccreds-Secret-1414 docker://a/b:1 docker://c/d:1\n",
            ),
        ],
    );
    let v = audit_printing_none_of(
        dir.path(),
        &[
            "envblock-Secret-1111",
            "urlenv-Secret-2222",
            "assigned-Secret-3333",
            "inline-Secret-4444",
            "creds-Secret-5555",
            "curl-Secret-6666",
            "echoed-Secret-7777",
            "glued-Secret-8888",
            "glvar-Secret-9999",
            "Real-4321xyz",
            "helm-Secret-1212",
            "step-Secret-1313",
            "srccreds-Secret-1414",
            "here-Secret-1515",
            "glued-here-Secret-1616",
            "exported-Secret-1717",
        ],
    );
    let found = findings_of(&v, "hardcoded-credential");
    let lines = |file: &str| -> Vec<u64> {
        found
            .iter()
            .filter(|(p, _, _)| p == file)
            .map(|(_, l, _)| *l)
            .collect()
    };
    // Every place a credential is written or passed from a value written in the file;
    // `$TOKEN_REF` (line 21) is a real reference.
    assert_eq!(
        lines(".github/workflows/a.yml"),
        [
            3, 4, 10, 11, 12, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24, 26, 30
        ]
    );
    assert_eq!(lines(".gitlab-ci.yml"), [2, 5, 6, 7]);
    let message = |file: &str, line: u64| -> &str {
        &found
            .iter()
            .find(|(p, l, _)| p == file && *l == line)
            .unwrap()
            .2
    };
    // The variable is named, not its value; the glued password is for the registry named.
    assert!(message(".github/workflows/a.yml", 11).contains("is PW,"));
    assert!(message(".gitlab-ci.yml", 5).contains("is CI_REG_PW,"));
    assert!(message(".github/workflows/a.yml", 18).contains("for reg7.example.com"));
    assert!(message(".github/workflows/a.yml", 19).contains("for reg10.example.com"));
    // Each line of a `run: |` block is placed where it is written, not where the
    // parser's unindented copy has it: `"$PW"` on line 11 starts in column 33.
    let columns: Vec<u64> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["line"] == 11 && f["path"].as_str().unwrap().ends_with("a.yml"))
        .map(|f| f["column"].as_u64().unwrap())
        .collect();
    assert_eq!(columns, [33]);
    let credentials = inventory_of(&v, "a.yml", "credentials");
    assert!(
        credentials.contains(&"a password written in the file for reg7.example.com".to_string()),
        "{credentials:?}"
    );
    assert!(
        !credentials.contains(&"a password written in the file for docker.io".to_string()),
        "{credentials:?}"
    );
}

#[test]
fn a_file_named_that_audit_cannot_read_is_reported_not_counted_clean() {
    let dir = tempfile::tempdir().unwrap();
    write_tree(
        dir.path(),
        &[
            (
                "ci/Makefile",
                b"release:\n\tcosign sign --key k reg.example.com/app:v1\n",
            ),
            ("ci/notes.txt", b"nothing to see\n"),
            (
                ".circleci/config.yml",
                b"version: 2.1\njobs:\n  a:\n    docker:\n      - image: cimg/base:2024.01@sha256:0fe4a6d2c1b2b2a5d1b3b2f1e0d9c8b7a6f5e4d3c2b1a09f8e7d6c5b4a392817\n    steps:\n      - run:\n          command: cosign sign --key k reg.example.com/app:v1\n",
            ),
        ],
    );
    // Named: an error for the file, the report partial (exit 3), the formats read named.
    let o = audit_at(dir.path(), &["ci/notes.txt", "--output", "json"]);
    expect_code(&o, 3);
    let v = json_out(&o);
    crate::json_output::assert_valid("audit.schema.json", &v);
    assert_eq!(v["files"], 0);
    assert_eq!(v["partial"], true);
    let errors = problems(&v, "errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("ci/notes.txt: not a format audit reads: not audited"),
        "{errors:?}"
    );
    assert!(errors[0].contains(".circleci/*.yml"), "{errors:?}");
    let o = audit_at(dir.path(), &["ci/notes.txt"]);
    expect_code(&o, 3);
    assert!(stdout(&o).contains("ci/notes.txt"), "{}", stdout(&o));
    // Found in a directory, a file of no known kind is skipped without a word; the
    // Makefile and the CircleCI config next to it are read.
    let o = audit_at(dir.path(), &[".", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_eq!(v["partial"], false);
    assert!(problems(&v, "errors").is_empty());
    assert_eq!(
        rules_found(&v),
        [
            (".circleci/config.yml".into(), "sign-by-tag".into()),
            ("ci/Makefile".into(), "sign-by-tag".into())
        ]
    );
}
