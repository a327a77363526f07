//! Keyless `verify-blob` through the real binary: what a report names, cosign's identity
//! flags and their usage errors, digests instead of files, the trust root, hostile bundles,
//! and whether the built-in root still covers every production fixture. The bundles are
//! the sigstore-conformance suite's, read from `../shared` beside the checkout.

use std::path::{Path, PathBuf};

use crate::harness::*;

const CASES: &str = "fixtures/conformance-assets/sigstore-conformance/bundle-verify";
const IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn cases(test: &str) -> Option<PathBuf> {
    shared(test, CASES)
}

fn sha256_of(p: &Path) -> String {
    format!(
        "sha256:{}",
        hallmark::digest::Digest::sha256(&std::fs::read(p).unwrap()).hex()
    )
}

fn keyless(artifact: &str, bundle: &Path, extra: &[&str]) -> std::process::Output {
    let bundle = path_str(bundle);
    let mut args = vec![
        "verify-blob",
        artifact,
        "--bundle",
        &bundle,
        "--certificate-identity",
        IDENTITY,
        "--certificate-oidc-issuer",
        ISSUER,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// A keyless blob's report names the identity and issuer, the log entry and its proofs, the
/// verified time and every check made, in text and in JSON.
#[test]
fn a_keyless_report_names_identity_log_time_and_checks() {
    let Some(c) = cases("a_keyless_report_names_identity_log_time_and_checks") else {
        return;
    };
    let artifact = path_str(&c.join("a.txt"));
    let bundle = c.join("happy-path-v0.3/bundle.sigstore.json");
    let o = keyless(&artifact, &bundle, &[]);
    expect_code(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("signed by {IDENTITY} (issuer {ISSUER})")),
        "{err}"
    );
    assert!(
        err.contains("logged: https://rekor.sigstore.dev entry "),
        "{err}"
    );
    assert!(
        err.contains("inclusion proof, signed checkpoint, inclusion promise"),
        "{err}"
    );
    assert!(err.contains("signed at: "), "{err}");
    assert_eq!(stdout(&o).trim(), sha256_of(&c.join("a.txt")));

    let o = keyless(&artifact, &bundle, &["--output", "json"]);
    expect_code(&o, 0);
    let j = json_out(&o);
    assert_eq!(j["verified"], true, "{j}");
    assert_eq!(j["identity"]["subject"], IDENTITY, "{j}");
    assert_eq!(j["identity"]["issuer"], ISSUER, "{j}");
    assert_eq!(
        j["identity"]["claims"]["github_workflow_repository"],
        "sigstore-conformance/extremely-dangerous-public-oidc-beacon",
        "{j}"
    );
    assert!(j["tlog"][0]["log_index"].as_i64().unwrap() > 0, "{j}");
    assert!(j["times"][0]["at"].as_str().unwrap().ends_with('Z'), "{j}");
    let checks = j["checks"].to_string();
    for want in [
        "signature over the artifact",
        "certificate chain to https://fulcio.sigstore.dev",
        "signed certificate timestamp",
        "certificate identity and issuer",
    ] {
        assert!(checks.contains(want), "{want}: {checks}");
    }
}

/// cosign's GitHub workflow flags are checked against the certificate's claims.
#[test]
fn github_workflow_claims_are_checked() {
    let Some(c) = cases("github_workflow_claims_are_checked") else {
        return;
    };
    let artifact = path_str(&c.join("a.txt"));
    let bundle = c.join("happy-path-v0.3/bundle.sigstore.json");
    let repo = "sigstore-conformance/extremely-dangerous-public-oidc-beacon";
    let o = keyless(
        &artifact,
        &bundle,
        &["--certificate-github-workflow-repository", repo],
    );
    expect_code(&o, 0);
    for (flag, value) in [
        ("--certificate-github-workflow-repository", "attacker/fork"),
        ("--certificate-github-workflow-ref", "refs/heads/evil"),
        (
            "--certificate-github-workflow-trigger",
            "pull_request_target",
        ),
    ] {
        let o = keyless(&artifact, &bundle, &[flag, value]);
        expect_code(&o, 1);
        assert!(stderr(&o).contains(value), "{flag}: {}", stderr(&o));
    }
}

/// Keyless without an identity or an issuer, or keys and identities at once, is a usage
/// error that names what to give; so is an identity regexp that does not compile.
#[test]
fn keyless_flags_are_validated_before_work() {
    let Some(c) = cases("keyless_flags_are_validated_before_work") else {
        return;
    };
    let artifact = path_str(&c.join("a.txt"));
    let bundle = path_str(&c.join("happy-path-v0.3/bundle.sigstore.json"));
    let k = keys("ecdsa-p256");
    for (args, want) in [
        (
            vec!["--certificate-oidc-issuer", ISSUER],
            "--certificate-identity or --certificate-identity-regexp",
        ),
        (
            vec!["--certificate-identity", IDENTITY],
            "--certificate-oidc-issuer or --certificate-oidc-issuer-regexp",
        ),
        (vec![], "--key FILE, or --certificate-identity"),
        (
            vec![
                "--key",
                k.public.as_str(),
                "--certificate-identity",
                IDENTITY,
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            "exclude each other",
        ),
        (
            vec![
                "--certificate-identity-regexp",
                "(",
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            "--certificate-identity-regexp",
        ),
    ] {
        let mut full = vec![
            "verify-blob",
            artifact.as_str(),
            "--bundle",
            bundle.as_str(),
        ];
        full.extend_from_slice(&args);
        let o = run(&full);
        expect_code(&o, 2);
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
}

/// A blob known only by its digest verifies like the file; for a DSSE bundle the digest is a
/// subject of its statement. A malformed digest is a usage error; another digest is refused.
#[test]
fn a_digest_stands_for_the_file() {
    let Some(c) = cases("a_digest_stands_for_the_file") else {
        return;
    };
    let digest = sha256_of(&c.join("a.txt"));
    for case in ["happy-path-v0.3", "happy-path-intoto-in-dsse-v3"] {
        let o = keyless(&digest, &c.join(case).join("bundle.sigstore.json"), &[]);
        expect_code(&o, 0);
        assert_eq!(stdout(&o).trim(), digest, "{case}");
    }
    let other = format!("sha256:{}", "0".repeat(64));
    let o = keyless(&other, &c.join("happy-path-v0.3/bundle.sigstore.json"), &[]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("for another file"), "{}", stderr(&o));
    let o = keyless(
        &other,
        &c.join("happy-path-intoto-in-dsse-v3/bundle.sigstore.json"),
        &[],
    );
    expect_code(&o, 1);
    assert!(stderr(&o).contains("no subject"), "{}", stderr(&o));
    let o = keyless(
        "sha256:zz",
        &c.join("happy-path-v0.3/bundle.sigstore.json"),
        &[],
    );
    expect_code(&o, 2);
}

/// Skipping the log is said; a bundle whose only time came from the log then has none.
#[test]
fn skipping_the_log_is_said_and_costs_the_time_it_gave() {
    let Some(c) = cases("skipping_the_log_is_said_and_costs_the_time_it_gave") else {
        return;
    };
    let artifact = path_str(&c.join("a.txt"));
    let o = keyless(
        &artifact,
        &c.join("happy-path-v0.3/bundle.sigstore.json"),
        &["--insecure-ignore-tlog"],
    );
    expect_code(&o, 1);
    assert!(stderr(&o).contains("no verified time"), "{}", stderr(&o));
    // A Rekor v2 bundle's time comes from its timestamp, which still counts.
    let case = c.join("rekor2-happy-path");
    let o = keyless(
        &artifact,
        &case.join("bundle.sigstore.json"),
        &[
            "--insecure-ignore-tlog",
            "--trusted-root",
            &path_str(&case.join("trusted_root.json")),
        ],
    );
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("transparency-log entries were not checked (--insecure-ignore-tlog)"),
        "{}",
        stderr(&o)
    );
}

/// Truncated, oversized and garbled bundles are refused, each with a one-line reason and
/// exit 1, never a panic.
#[test]
fn hostile_bundles_are_refused_without_a_panic() {
    let Some(c) = cases("hostile_bundles_are_refused_without_a_panic") else {
        return;
    };
    let artifact = path_str(&c.join("a.txt"));
    let good = std::fs::read(c.join("happy-path-v0.3/bundle.sigstore.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut variants: Vec<(String, Vec<u8>)> = (1..good.len())
        .step_by(good.len() / 12)
        .map(|n| (format!("truncated at {n}"), good[..n].to_vec()))
        .collect();
    let mut big = good.clone();
    big.extend(std::iter::repeat_n(b' ', 2 << 20));
    variants.push(("oversized".into(), big));
    let parsed: serde_json::Value = serde_json::from_slice(&good).unwrap();
    type Edit = fn(&mut serde_json::Value);
    let edits: [(&str, Edit); 4] = [
        ("an object for the log index", |b| {
            b["verificationMaterial"]["tlogEntries"][0]["logIndex"] = serde_json::json!({});
        }),
        ("a certificate that is not one", |b| {
            b["verificationMaterial"]["certificate"]["rawBytes"] = "AAAA".into();
        }),
        ("an empty signature", |b| {
            b["messageSignature"]["signature"] = "".into();
        }),
        ("no log entries at all", |b| {
            b["verificationMaterial"]["tlogEntries"] = serde_json::json!([]);
        }),
    ];
    for (what, edit) in edits {
        let mut b = parsed.clone();
        edit(&mut b);
        variants.push((what.into(), serde_json::to_vec(&b).unwrap()));
    }
    let text = String::from_utf8(good.clone()).unwrap();
    variants.push((
        "a repeated key".into(),
        text.replacen('{', "{\"mediaType\": \"x\", ", 1)
            .into_bytes(),
    ));
    for (what, bytes) in variants {
        let path = dir.path().join("b.json");
        std::fs::write(&path, &bytes).unwrap();
        let o = keyless(&artifact, &path, &[]);
        assert_eq!(code(&o), 1, "{what}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(!err.contains("panicked"), "{what}: {err}");
        assert!(err.starts_with("error: not verified"), "{what}: {err}");
    }
}

/// `trust-root show` says what is trusted and until when; a root file that is not one is a
/// usage error, and HALLMARK_TRUSTED_ROOT names the root as the flag does.
#[test]
fn trust_root_show_says_what_is_trusted() {
    let o = run(&["trust-root", "show"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("built-in public-good production root"),
        "{out}"
    );
    assert!(out.contains("https://fulcio.sigstore.dev"), "{out}");
    assert!(out.contains("https://rekor.sigstore.dev"), "{out}");
    let o = run(&["trust-root", "show", "--output", "json"]);
    expect_code(&o, 0);
    let j = json_out(&o);
    assert!(
        j["certificate_authorities"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["valid"]["current"] == true),
        "{j}"
    );
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("root.json");
    std::fs::write(&bad, b"{\"mediaType\":\"x\"}").unwrap();
    let o = run(&["trust-root", "show", "--trusted-root", &path_str(&bad)]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("media type"), "{}", stderr(&o));
    let o = run_env(
        &["trust-root", "show"],
        &[("HALLMARK_TRUSTED_ROOT", &path_str(&bad))],
    );
    expect_code(&o, 2);
    let Some(c) = cases("trust_root_show_says_what_is_trusted") else {
        return;
    };
    let staging = c.join("rekor2-happy-path/trusted_root.json");
    let o = run_env(
        &["trust-root", "show"],
        &[("HALLMARK_TRUSTED_ROOT", &path_str(&staging))],
    );
    expect_code(&o, 0);
    assert!(stdout(&o).contains("sigstage.dev"), "{}", stdout(&o));
}

/// The built-in root goes stale when production rotates keys. Every production fixture's
/// log must be one it lists: when a fixture needs a newer root, this fails and says how to
/// refresh it.
#[test]
fn the_built_in_root_covers_every_production_fixture() {
    let Some(c) = cases("the_built_in_root_covers_every_production_fixture") else {
        return;
    };
    let o = run(&["trust-root", "show", "--output", "json"]);
    expect_code(&o, 0);
    let j = json_out(&o);
    let known: Vec<String> = j["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["log_id"].as_str().unwrap().to_string())
        .collect();
    let mut checked = 0;
    for entry in std::fs::read_dir(&c).unwrap() {
        let dir = entry.unwrap().path();
        let name = dir.file_name().unwrap().to_string_lossy().to_string();
        // A staging bundle, there to be refused by the production root.
        if !dir.is_dir()
            || dir.join("trusted_root.json").exists()
            || name == "bundle-from-wrong-instance_fail"
        {
            continue;
        }
        let Ok(b) = serde_json::from_slice::<serde_json::Value>(
            &std::fs::read(dir.join("bundle.sigstore.json")).unwrap(),
        ) else {
            continue;
        };
        for e in b["verificationMaterial"]["tlogEntries"]
            .as_array()
            .into_iter()
            .flatten()
        {
            use base64ct::{Base64, Encoding};
            let id = Base64::decode_vec(e["logId"]["keyId"].as_str().unwrap()).unwrap();
            let hex: String = id.iter().map(|b| format!("{b:02x}")).collect();
            assert!(
                known.contains(&hex),
                "fixture {name} was logged by {hex}, which the built-in trusted root does not list: \
                 refresh crates/hallmark/data/trusted_root.json as the README says (Refreshing the trusted root)"
            );
            checked += 1;
        }
    }
    assert!(checked >= 25, "only {checked} entries checked");
}

/// A bundle checked with the wrong kind of trust says which flags name the right one: a
/// keyless bundle given a key, a key's bundle given an identity, an unlogged keyless
/// bundle. The library states the fact; the advice is the command line's.
#[test]
fn the_wrong_kind_of_trust_is_answered_with_the_flags_that_fit() {
    let Some(c) = cases("the_wrong_kind_of_trust_is_answered_with_the_flags_that_fit") else {
        return;
    };
    let artifact = path_str(&c.join("a.txt"));
    let keyless_bundle = path_str(&c.join("happy-path-v0.3/bundle.sigstore.json"));
    let k = keys("ecdsa-p256");
    let o = run(&[
        "verify-blob",
        &artifact,
        "--bundle",
        &keyless_bundle,
        "--key",
        &k.public,
    ]);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("signed keyless") && err.contains("--certificate-identity"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    let key_bundle = dir.path().join("key.sigstore.json").display().to_string();
    let o = run_env(
        &[
            "sign-blob",
            &artifact,
            "--key",
            &k.private,
            "--bundle",
            &key_bundle,
        ],
        &[("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 0);
    let o = keyless(&artifact, Path::new(&key_bundle), &["--output", "json"]);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains("signed by a key") && err.contains("--key"),
        "{err}"
    );
    // Scripts read the fact, without the advice.
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let errors = doc["errors"].to_string();
    assert!(
        errors.contains("signed by a key") && !errors.contains("--key"),
        "{errors}"
    );
}
