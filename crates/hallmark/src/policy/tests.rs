use std::time::Duration;

use super::*;

fn with_key(dir: &Path) {
    let k = crate::keys::SigningKey::generate(crate::keys::Algorithm::EcdsaP256).unwrap();
    std::fs::write(dir.join("a.pub"), k.public_key().to_pem()).unwrap();
    let k = crate::keys::SigningKey::generate(crate::keys::Algorithm::Ed25519).unwrap();
    std::fs::write(dir.join("b.pub"), k.public_key().to_pem()).unwrap();
}

fn parse(dir: &Path, text: &str) -> Result<Policy, PolicyError> {
    Policy::parse(text, &dir.join("policy.toml"))
}

#[test]
fn full_example_parses_and_matches_in_order() {
    let dir = tempfile::tempdir().unwrap();
    with_key(dir.path());
    let p = parse(
        dir.path(),
        r#"version = 1

[[rule]]
name = "prod"
match = ["reg.example.com/prod/*"]
keys = ["a.pub", "b.pub"]
threshold = 2
require-tag-binding = true
max-age = "90d"
annotations = { env = "prod" }
identities = ["mirror.example.com/prod/*"]

[[rule]]
name = "rest"
match = ["**"]
action = "reject"
"#,
    )
    .unwrap();
    let r = p.rule_for("reg.example.com/prod/app").unwrap();
    assert_eq!((r.name.as_str(), r.verify.threshold), ("prod", 2));
    assert_eq!(r.verify.max_age, Some(Duration::from_secs(90 * 86400)));
    assert_eq!(
        p.rule_for("reg.example.com/prod/a/b").unwrap().action,
        Action::Reject
    );
    assert!(
        Policy::parse("version = 1\n", Path::new("p.toml"))
            .unwrap()
            .rule_for("x/y")
            .is_none()
    );
}

#[test]
fn docker_hub_and_loopback_rules_match_however_they_are_spelled() {
    for glob in [
        "index.docker.io/library/*",
        "docker.io/alpine",
        "alpine",
        "library/alpine",
        "registry-1.docker.io/library/alpine",
        "DOCKER.IO/library/alpine",
    ] {
        let text = format!(
            "version = 1\n[[rule]]\nname = \"hub\"\nmatch = [\"{glob}\"]\naction = \"reject\"\n[[rule]]\nname = \"rest\"\nmatch = [\"**\"]\naction = \"allow-unsigned\"\n"
        );
        let p = Policy::parse(&text, Path::new("p.toml")).unwrap();
        let r = p.rule_for("docker.io/library/alpine").unwrap();
        assert_eq!(r.name, "hub", "{glob}");
    }
    let p = Policy::parse(
        "version = 1\n[[rule]]\nmatch = [\"localhost:5000/app\"]\naction = \"reject\"\n",
        Path::new("p.toml"),
    )
    .unwrap();
    assert!(p.rule_for("127.0.0.1:5000/app").is_some());
    assert!(p.rule_for("127.0.0.1:5001/app").is_none());
}

#[test]
fn unmatchable_and_shadowed_rules_are_warned_about() {
    let text = r#"version = 1
[[rule]]
name = "team"
match = ["reg.io/team/*"]
action = "reject"
[[rule]]
name = "app"
match = ["reg.io/team/app-*"]
action = "allow-unsigned"
[[rule]]
name = "tagged"
match = ["reg.io/other/app:latest"]
action = "reject"
[[rule]]
name = "deep"
match = ["reg.io/team/**"]
action = "reject"
"#;
    let p = Policy::parse(text, Path::new("p.toml")).unwrap();
    let w = p.warnings();
    assert_eq!(
        w.iter()
            .filter(|w| matches!(w, PolicyWarning::Shadowed { .. }))
            .count(),
        1,
        "{w:?}"
    );
    assert!(w.contains(&PolicyWarning::Shadowed {
        rule: "app".into(),
        by: "team".into()
    }));
    assert!(
        w.iter()
            .any(|w| matches!(w, PolicyWarning::Unmatchable { rule, .. } if rule == "tagged"))
    );
}

#[test]
fn rules_may_require_attestations() {
    let dir = tempfile::tempdir().unwrap();
    with_key(dir.path());
    let p = parse(
        dir.path(),
        "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"a.pub\"]\n\
         [[rule.attestation]]\ntype = \"slsaprovenance1\"\n\
         [[rule.attestation]]\ntype = \"https://example.com/custom\"\nkeys = [\"b.pub\"]\n",
    )
    .unwrap();
    let a = &p.rules[0].attestations;
    assert_eq!(a.len(), 2);
    assert_eq!(a[0].predicate_type, "https://slsa.dev/provenance/v1");
    assert_eq!(a[0].keys[0].name, "a.pub");
    assert_eq!(a[1].keys[0].name, "b.pub");
    let e = parse(
        dir.path(),
        "version = 1\n[[rule]]\nmatch = [\"**\"]\naction = \"reject\"\n[[rule.attestation]]\ntype = \"x\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("policy.toml:6: ") && e.contains("needs `keys`"),
        "{e}"
    );
    let e = parse(
        dir.path(),
        "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"a.pub\"]\n[[rule.attestation]]\ntype = \"x\"\nkyes = []\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown field `kyes`"), "{e}");
    // A misspelt type would require an attestation nobody makes: refused, with the name meant.
    let e = parse(
        dir.path(),
        "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"a.pub\"]\n[[rule.attestation]]\ntype = \"cyclonedxx\"\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("policy.toml:6: ") && e.contains("did you mean cyclonedx?"),
        "{e}"
    );
}

#[test]
fn errors_name_the_line() {
    let dir = tempfile::tempdir().unwrap();
    with_key(dir.path());
    let cases = [
        (
            "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"a.pub\"]\ntreshold = 1\n",
            5,
            "unknown field `treshold`",
        ),
        ("version = 2\n", 1, "unsupported version 2"),
        (
            "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"a.pub\"]\nthreshold = 3\n",
            5,
            "threshold 3",
        ),
        (
            "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"missing.pub\"]\n",
            4,
            "cannot read key",
        ),
        (
            "version = 1\n[[rule]]\nmatch = [\"**\"]\n\nkeys = [\"a.pub\"]\nmax-age = \"9 weeks\"\n",
            6,
            "max-age",
        ),
        (
            "version = 1\n[[rule]]\nmatch = [\"**\"]\naction = \"allow\"\n",
            4,
            "unknown action",
        ),
        (
            "version = 1\n[[rule]]\nmatch = [\"**\"]\n",
            2,
            "needs `keys`",
        ),
        (
            "version = 1\n[[rule]]\nmatch = []\naction = \"reject\"\n",
            3,
            "no repository glob",
        ),
        (
            "version = 1\n[[rule]]\nmatch = [\"a//b\"]\naction = \"reject\"\n",
            3,
            "empty path segment",
        ),
        ("version = 1\n[[rule]\n", 2, ""),
        (
            "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"a.pub\", \"a.pub\"]\n",
            4,
            "listed twice",
        ),
    ];
    for (text, line, want) in cases {
        let e = parse(dir.path(), text).unwrap_err().to_string();
        assert!(
            e.contains(&format!("policy.toml:{line}: ")),
            "{text:?}: {e}"
        );
        assert!(e.contains(want), "{text:?}: {e}");
    }
}
