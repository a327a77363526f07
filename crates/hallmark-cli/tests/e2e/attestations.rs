//! Attestations (in-toto statements in bundle referrers): `attest` and
//! `verify-attestation`, against the real cosign in both directions.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestations_cross_both_ways_with_the_real_cosign() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let provenance = dir.path().join("provenance.json");
    std::fs::write(
        &provenance,
        br#"{"buildDefinition":{"buildType":"https://example.com/ci/v1","externalParameters":{"ref":"v1.1"}},"runDetails":{"builder":{"id":"https://example.com/ci"}}}"#,
    )
    .unwrap();
    let sbom = dir.path().join("bom.json");
    std::fs::write(
        &sbom,
        br#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}"#,
    )
    .unwrap();

    for reg in [Registry::start(), Registry::start_with_referrers()] {
        let img = push_random(&reg.store("app"), Some("v1"), "x").await;
        let pinned = format!("{}/app@{}", reg.addr, img.digest());
        // cosign attests SLSA provenance; hallmark verifies and prints the predicate.
        let o = cosign_run(&[
            "attest",
            "--key",
            &key,
            "--use-signing-config=false",
            "--tlog-upload=false",
            "--allow-insecure-registry",
            "--predicate",
            provenance.to_str().unwrap(),
            "--type",
            "slsaprovenance1",
            &pinned,
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let o = run(&[
            "verify-attestation",
            &pinned,
            "--type",
            "slsaprovenance1",
            "--key",
            &public,
        ]);
        expect_code(&o, 0);
        let predicate: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
        assert_eq!(
            predicate["runDetails"]["builder"]["id"],
            "https://example.com/ci"
        );
        // Not of the type asked for, and not a signature either.
        let o = run(&[
            "verify-attestation",
            &pinned,
            "--type",
            "cyclonedx",
            "--key",
            &public,
        ]);
        expect_code(&o, 1);
        assert!(
            stderr(&o).contains("not https://cyclonedx.org/bom"),
            "{}",
            stderr(&o)
        );
        // An attestation is no signature: when it is all there is, the refusal says so once.
        let o = run(&["verify", &pinned, "--key", &public]);
        expect_code(&o, 1);
        assert!(
            stderr(&o).contains(
                "no signature, only 1 attestation of this digest (https://slsa.dev/provenance/v1): check it with hallmark verify-attestation --type TYPE"
            ),
            "{}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains("signature 0:"), "{}", stderr(&o));
        let o = run(&["verify", &pinned, "--key", &public, "--output", "json"]);
        expect_code(&o, 1);
        let v = json_out(&o);
        assert_eq!(v["attestations_found"], 1, "{v}");
        assert_eq!(v["errors"].as_array().map(Vec::len), Some(1), "{v}");

        // hallmark attests an SBOM; cosign verifies it; hallmark verifies it by tag too.
        let o = run(&[
            "attest",
            &pinned,
            "--predicate",
            sbom.to_str().unwrap(),
            "--type",
            "cyclonedx",
            "--key",
            &key,
        ]);
        expect_code(&o, 0);
        assert!(
            stderr(&o).starts_with(&format!("attested {pinned} (https://cyclonedx.org/bom)")),
            "{}",
            stderr(&o)
        );
        let o = cosign_run(&[
            "verify-attestation",
            "--key",
            &public,
            "--insecure-ignore-tlog",
            "--allow-insecure-registry",
            "--type",
            "cyclonedx",
            &pinned,
        ]);
        assert!(
            o.status.success(),
            "cosign verify-attestation: {}",
            stderr(&o)
        );
        let o = run(&[
            "verify-attestation",
            &format!("{}/app:v1", reg.addr),
            "--type",
            "https://cyclonedx.org/bom",
            "--key",
            &public,
            "--output",
            "json",
        ]);
        expect_code(&o, 0);
        let v = json_out(&o);
        assert_eq!(
            v["attestations"][0]["predicate"]["bomFormat"], "CycloneDX",
            "{v}"
        );
        assert_eq!(v["digest"], img.digest().to_string());
        // Once signed, the image verifies with no note and no error about the attestations:
        // they are counted apart.
        let o = cosign_run(&[
            "sign",
            "--key",
            &key,
            "--use-signing-config=false",
            "--tlog-upload=false",
            "--allow-insecure-registry",
            &pinned,
        ]);
        assert!(o.status.success(), "cosign sign: {}", stderr(&o));
        let o = run(&["verify", &pinned, "--key", &public]);
        expect_code(&o, 0);
        let err = stderr(&o);
        assert!(!err.contains("note:"), "{err}");
        let line = err
            .lines()
            .find(|l| l.starts_with("also found 2 attestations of this digest ("))
            .unwrap_or_else(|| panic!("{err}"));
        assert!(
            line.contains("https://slsa.dev/provenance/v1")
                && line.contains("https://cyclonedx.org/bom")
                && line.ends_with("): check them with hallmark verify-attestation --type TYPE"),
            "{line}"
        );
        let o = run(&["verify", &pinned, "--key", &public, "--output", "json"]);
        expect_code(&o, 0);
        let v = json_out(&o);
        assert_eq!(v["errors"], serde_json::json!([]), "{v}");
        assert_eq!(v["attestations_found"], 2, "{v}");
        crate::json_output::assert_valid("verify.schema.json", &v);
        // Another key attested nothing.
        let other = keys("ecdsa-p256");
        expect_code(
            &run(&[
                "verify-attestation",
                &pinned,
                "--type",
                "cyclonedx",
                "--key",
                &other.public,
            ]),
            1,
        );
    }
    // A predicate that is not JSON is a usage error, before any network call.
    std::fs::write(&sbom, b"not json").unwrap();
    let o = run(&[
        "attest",
        &format!("127.0.0.1:{}/app@sha256:{}", free_port(), "0".repeat(64)),
        "--predicate",
        sbom.to_str().unwrap(),
        "--type",
        "cyclonedx",
        "--key",
        &key,
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("is not JSON"), "{}", stderr(&o));
}

/// A policy rule can require an attestation of a type, by given keys: a signed image
/// without it is refused, with it accepted, and one by another key does not count.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_rules_can_require_attestations() {
    let reg = Registry::start();
    let (release, ci, stranger) = (keys("ecdsa-p256"), keys("ecdsa-p256"), keys("ecdsa-p256"));
    let img = signed_image(&reg, "prod/app", Some("v1"), &release, &[]).await;
    let pinned = format!("{}/prod/app@{}", reg.addr, img.digest());
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[[rule]]\nname = \"prod\"\nmatch = [\"{}/prod/*\"]\nkeys = [\"{}\"]\n\
             [[rule.attestation]]\ntype = \"slsaprovenance1\"\nkeys = [\"{}\"]\n",
            reg.addr, release.public, ci.public
        ),
    )
    .unwrap();
    let verify = || run(&["verify", &pinned, "--policy", policy.to_str().unwrap()]);
    let o = verify();
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("requires an attestation of type https://slsa.dev/provenance/v1"),
        "{}",
        stderr(&o)
    );
    let provenance = dir.path().join("p.json");
    std::fs::write(&provenance, br#"{"buildDefinition":{"buildType":"x"}}"#).unwrap();
    let attest = |k: &Keys| {
        let o = run_env(
            &[
                "attest",
                &pinned,
                "--predicate",
                provenance.to_str().unwrap(),
                "--type",
                "slsaprovenance1",
                "--key",
                &k.private,
            ],
            &[("HALLMARK_PASSWORD", PASSWORD)],
        );
        expect_code(&o, 0);
    };
    attest(&stranger);
    expect_code(&verify(), 1);
    attest(&ci);
    expect_code(&verify(), 0);
    let o = run(&["policy", "check", policy.to_str().unwrap()]);
    expect_code(&o, 0);
}

/// A rule requiring several attestations names every one that is missing, in `verify` and
/// in `scan`, in text and in JSON: fixing one must not be how the next is discovered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_missing_required_attestation_is_reported() {
    let reg = Registry::start();
    let (release, ci) = (keys("ecdsa-p256"), keys("ecdsa-p256"));
    let img = signed_image(&reg, "prod/app", Some("v1"), &release, &[]).await;
    let pinned = format!("{}/prod/app@{}", reg.addr, img.digest());
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[[rule]]\nname = \"prod\"\nmatch = [\"{}/prod/*\"]\nkeys = [\"{}\"]\n\
             [[rule.attestation]]\ntype = \"slsaprovenance1\"\nkeys = [\"{2}\"]\n\
             [[rule.attestation]]\ntype = \"cyclonedx\"\nkeys = [\"{2}\"]\n\
             [[rule.attestation]]\ntype = \"https://example.com/review/v1\"\nkeys = [\"{2}\"]\n",
            reg.addr, release.public, ci.public
        ),
    )
    .unwrap();
    let policy = policy.to_str().unwrap();
    let wanted = [
        "https://slsa.dev/provenance/v1",
        "https://cyclonedx.org/bom",
        "https://example.com/review/v1",
    ];
    let o = run(&["verify", &pinned, "--policy", policy]);
    expect_code(&o, 1);
    for t in wanted {
        assert!(
            stderr(&o).contains(&format!("requires an attestation of type {t}")),
            "{t}: {}",
            stderr(&o)
        );
    }
    let o = run(&["verify", &pinned, "--policy", policy, "--output", "json"]);
    expect_code(&o, 1);
    let errors = json_out(&o)["errors"].to_string();
    for t in wanted {
        assert!(errors.contains(t), "{t}: {errors}");
    }
    let target = format!("{}/prod/app", reg.addr);
    let o = run(&["scan", &target, "--policy", policy]);
    expect_code(&o, 1);
    for t in wanted {
        assert!(stdout(&o).contains(t), "{t}: {}", stdout(&o));
    }
    let o = run(&["scan", &target, "--policy", policy, "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    let entry = v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["tag"] == "v1")
        .unwrap_or_else(|| panic!("{v:#}"));
    assert_eq!(entry["status"], "invalid", "{v:#}");
    for t in wanted {
        assert!(entry["reason"].as_str().unwrap().contains(t), "{t}: {v:#}");
    }
}

/// A misspelt `--type` is refused with the name meant, and a custom type must be a URI:
/// before the predicate or the key is read, or any registry asked.
#[test]
fn a_misspelt_predicate_type_is_refused_before_any_work() {
    let pinned = format!("127.0.0.1:{}/app@sha256:{}", free_port(), "0".repeat(64));
    for (args, words) in [
        (
            [
                "attest",
                &pinned,
                "--predicate",
                "/nonexistent.json",
                "--type",
                "cyclonedxx",
            ],
            "\"cyclonedxx\" is not a predicate type; did you mean cyclonedx?",
        ),
        (
            [
                "attest",
                &pinned,
                "--predicate",
                "/nonexistent.json",
                "--type",
                "sbom",
            ],
            "give a URI (https://…) or one of slsaprovenance,",
        ),
        (
            [
                "verify-attestation",
                &pinned,
                "--key",
                "/nonexistent.pub",
                "--type",
                "slsaprovenence1",
            ],
            "did you mean slsaprovenance1?",
        ),
    ] {
        let o = run(&[&args[..], &["--key", "/nonexistent.key"]].concat());
        expect_code(&o, 2);
        let err = stderr(&o);
        assert!(err.contains(words), "{args:?}: {err}");
        assert!(!err.contains("/nonexistent"), "{args:?}: {err}");
    }
}

/// attest speaks of attesting: a tag is refused as "attest", with the attest command to run.
#[test]
fn attest_refuses_a_tag_in_its_own_words() {
    let dir = tempfile::tempdir().unwrap();
    let predicate = dir.path().join("p.json");
    std::fs::write(&predicate, b"{}").unwrap();
    let port = free_port(); // nothing listens here
    let o = run(&[
        "attest",
        &format!("127.0.0.1:{port}/app:v1"),
        "--predicate",
        predicate.to_str().unwrap(),
        "--type",
        "openvex",
        "--key",
        "/nonexistent.key",
    ]);
    expect_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("error: refusing to attest 127.0.0.1:")
            && err.contains(&format!(
                "hint: attest the digest your pipeline built: hallmark attest 127.0.0.1:{port}/app@sha256:<digest>"
            )),
        "{err}"
    );
    assert!(!err.contains("sign"), "{err}");
}
