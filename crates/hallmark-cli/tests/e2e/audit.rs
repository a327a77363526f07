//! `hallmark audit` over a tree of realistic pipelines and manifests written for these
//! tests: each rule fires where it should and stays quiet where it should not, secrets are
//! never printed, and the SARIF follows the official 2.1.0 schema.

use std::path::{Path, PathBuf};

use crate::harness::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/fixtures/audit")
}

fn audit_in(args: &[&str]) -> std::process::Output {
    let mut all = vec!["audit"];
    all.extend_from_slice(args);
    let mut c = hallmark();
    c.args(&all).current_dir(fixtures());
    c.output().unwrap()
}

/// Every finding expected in the fixture tree: (file, line, rule). Nothing else may fire.
const EXPECTED: &[(&str, usize, &str)] = &[
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
    ("scripts/deploy.sh", 8, "unchecked-download"),
];

#[test]
fn every_rule_fires_where_it_should_and_nowhere_else() {
    let o = audit_in(&[".", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    crate::json_output::assert_valid("audit.schema.json", &v);
    let mut found: Vec<(String, usize, String)> = v["findings"]
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
                f["line"].as_u64().unwrap() as usize,
                f["rule"].as_str().unwrap().to_string(),
            )
        })
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
