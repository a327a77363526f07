//! Signed annotations as cosign scripts use them: `verify -a key=value` (a signature counts
//! only with every pair), re-signing that keeps a signature with other annotations, and
//! `verify-attestation --policy FILE.rego` judged as `cosign verify-attestation --policy`
//! judges the same file. The real cosign is the peer in both directions.

use std::path::Path;
use std::process::Output;

use crate::harness::*;

/// cosign's key-based flags without a transparency log, on a plain-HTTP loopback registry.
const COSIGN_LOCAL: [&str; 3] = [
    "--use-signing-config=false",
    "--tlog-upload=false",
    "--allow-insecure-registry",
];

fn cosign_sign(key: &str, reference: &str, extra: &[&str]) {
    let mut args = vec!["sign", "--key", key];
    args.extend_from_slice(&COSIGN_LOCAL);
    args.extend_from_slice(extra);
    args.push(reference);
    cosign_ok(&args);
}

fn verify(reference: &str, public: &str, extra: &[&str]) -> Output {
    let mut args = vec!["verify", reference, "--key", public];
    args.extend_from_slice(extra);
    run(&args)
}

/// The real cosign verifies `reference` with the key `public` and `extra` flags.
#[track_caller]
fn cosign_verifies(public: &str, reference: &str, extra: &[&str]) {
    let o = cosign_verify_key(public, reference, extra);
    peer_ok(&o, &format!("cosign verify {reference} {extra:?}"));
}

/// The real cosign attests `predicate` as SLSA provenance v1 of `reference`.
fn cosign_attest(key: &str, predicate: &str, reference: &str) {
    let mut args = vec!["attest", "--key", key];
    args.extend_from_slice(&COSIGN_LOCAL);
    args.extend_from_slice(&[
        "--predicate",
        predicate,
        "--type",
        "slsaprovenance1",
        reference,
    ]);
    cosign_ok(&args);
}

/// `sign --output json` of `reference` in `format` with `extra` arguments, which succeeds.
#[track_caller]
fn sign_json(reference: &str, key: &str, format: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["sign", reference, "--key", key, "--format", format];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--output", "json"]);
    let o = run(&args);
    expect_code(&o, 0);
    json_out(&o)
}

/// How many earlier signatures a `sign` result says it replaced and kept.
fn replaced_kept(v: &serde_json::Value) -> (Option<u64>, Option<u64>) {
    (v["replaced"].as_u64(), v["kept"].as_u64())
}

/// How many signatures `verify` of `reference` counts, which it must allow.
#[track_caller]
fn signature_count(reference: &str, public: &str) -> Option<usize> {
    let o = verify(reference, public, &["--output", "json"]);
    expect_code(&o, 0);
    json_out(&o)["signatures"].as_array().map(Vec::len)
}

/// `cosign sign`'s format flag for hallmark's format name.
fn cosign_format(format: &str) -> &'static str {
    if format == "legacy" {
        "--new-bundle-format=false"
    } else {
        "--new-bundle-format=true"
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_a_counts_only_signatures_with_every_annotation_in_both_formats() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let reg = Registry::start();
    for format in ["legacy", "bundle"] {
        let repo = format!("team/{format}");
        let img = push_random(&reg.store(&repo), Some("v1"), format).await;
        let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
        let o = run(&[
            "sign", &pinned, "--key", &key, "--format", format, "-a", "env=prod",
        ]);
        expect_code(&o, 0);

        expect_code(&verify(&pinned, &public, &["-a", "env=prod"]), 0);
        expect_code(&verify(&pinned, &public, &[]), 0);
        // cosign's long spelling, and a pair given twice with the same value.
        expect_code(
            &verify(
                &pinned,
                &public,
                &["--annotations", "env=prod", "-a", "env=prod"],
            ),
            0,
        );

        let o = verify(&pinned, &public, &["-a", "env=dev"]);
        expect_code(&o, 1);
        expect_stderr(&o, r#"annotation env is "prod", required "dev""#);
        let o = verify(&pinned, &public, &["-a", "env=prod", "-a", "team=payments"]);
        expect_code(&o, 1);
        expect_stderr(&o, r#"annotation team is missing, required "payments""#);
        let o = verify(&pinned, &public, &["-a", "env=dev", "--output", "json"]);
        expect_code(&o, 1);
        let v = json_out(&o);
        crate::json_output::assert_valid("verify.schema.json", &v);
        let errors = v["errors"].to_string();
        assert!(errors.contains("annotation env is"), "{format}: {v}");
        assert_eq!(v["signatures"], serde_json::json!([]), "{format}: {v}");

        // The real cosign reads hallmark's annotations the same way.
        cosign_verifies(&public, &pinned, &["-a", "env=prod"]);
        let o = cosign_verify_key(&public, &pinned, &["-a", "env=dev"]);
        assert!(!o.status.success(), "{format}: cosign accepted env=dev");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_a_reads_the_annotations_cosign_signed() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let reg = Registry::start();
    for format in ["legacy", "bundle"] {
        let repo = format!("cosign/{format}");
        let img = push_random(&reg.store(&repo), None, format).await;
        let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
        cosign_sign(&key, &pinned, &[cosign_format(format), "-a", "env=prod"]);
        expect_code(&verify(&pinned, &public, &["-a", "env=prod"]), 0);
        let o = verify(&pinned, &public, &["-a", "env=dev"]);
        expect_code(&o, 1);
        expect_stderr(&o, r#"annotation env is "prod", required "dev""#);
    }
}

#[test]
fn verify_a_that_no_signature_could_meet_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys("ecdsa-p256");
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[[rule]]\nname = \"prod\"\nmatch = [\"**\"]\nkeys = [\"{}\"]\nannotations = {{ env = \"prod\" }}\n",
            k.public
        ),
    )
    .unwrap();
    let reference =
        "127.0.0.1:1/app@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    let o = run(&[
        "verify",
        reference,
        "--policy",
        &path_str(&policy),
        "-a",
        "env=dev",
    ]);
    expect_code(&o, 2);
    expect_stderr(&o, r#"policy rule "prod" requires "prod""#);
    let o = run(&[
        "verify", reference, "--key", &k.public, "-a", "env=a", "-a", "env=b",
    ]);
    expect_code(&o, 2);
    expect_stderr(&o, "-a env is given twice with different values");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_signing_keeps_the_same_keys_signature_with_other_annotations() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    for reg in [Registry::start(), Registry::start_with_referrers()] {
        for format in ["legacy", "bundle"] {
            let repo = format!("keep/{format}");
            let img = push_random(&reg.store(&repo), None, format).await;
            let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
            cosign_sign(&key, &pinned, &[cosign_format(format), "-a", "env=prod"]);

            let v = sign_json(&pinned, &key, format, &[]);
            crate::json_output::assert_valid("sign.schema.json", &v);
            assert_eq!(replaced_kept(&v), (Some(0), Some(1)), "{format}: {v}");
            let o = run(&["sign", &pinned, "--key", &key, "--format", format]);
            expect_code(&o, 0);
            expect_stderr(
                &o,
                "kept 1 earlier signature by this key with other annotations",
            );

            // Both stay and both count: cosign's still has env=prod.
            assert_eq!(signature_count(&pinned, &public), Some(2), "{format}");
            expect_code(&verify(&pinned, &public, &["-a", "env=prod"]), 0);
            cosign_verifies(&public, &pinned, &["-a", "env=prod"]);

            // The same claims again, a second later: hallmark's own earlier one is replaced,
            // cosign's kept.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            let v = sign_json(&pinned, &key, format, &[]);
            assert_eq!(replaced_kept(&v), (Some(1), Some(1)), "{format}: {v}");
            assert_eq!(signature_count(&pinned, &public), Some(2), "{format}");

            // The same annotations as cosign's: that one says nothing more, and goes.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            let v = sign_json(&pinned, &key, format, &["-a", "env=prod"]);
            assert_eq!(replaced_kept(&v), (Some(1), Some(1)), "{format}: {v}");
            cosign_verifies(&public, &pinned, &["-a", "env=prod"]);
        }
    }
}

const PROVENANCE: &str = r#"{"buildDefinition":{"buildType":"https://example.com/ci/v1","externalParameters":{"ref":"v1.1"}},"runDetails":{"builder":{"id":"https://ci.example/builder"}}}"#;
const ROGUE_PROVENANCE: &str = r#"{"buildDefinition":{"buildType":"https://example.com/ci/v1","externalParameters":{"ref":"v1.1"}},"runDetails":{"builder":{"id":"https://laptop.example"}}}"#;

/// A cosign policy as its documentation writes them: Rego v0, `package signature`.
const TRUSTED_BUILDER: &str = r#"package signature

default allow = false

allow {
    input.predicateType == "https://slsa.dev/provenance/v1"
    input.predicate.runDetails.builder.id == "https://ci.example/builder"
}
"#;

const FROM_V2_ONLY: &str = r#"package signature

allow {
    startswith(input.predicate.buildDefinition.externalParameters.ref, "v2.")
}
"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path_str(&path)
}

fn verify_attestation(reference: &str, public: &str, policy: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "verify-attestation",
        reference,
        "--type",
        "slsaprovenance1",
        "--key",
        public,
        "--policy",
        policy,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

fn cosign_verify_attestation(reference: &str, public: &str, policy: &str) -> bool {
    cosign_run(&[
        "verify-attestation",
        "--key",
        public,
        "--insecure-ignore-tlog",
        "--allow-insecure-registry",
        "--type",
        "slsaprovenance1",
        "--policy",
        policy,
        reference,
    ])
    .status
    .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attestation_policy_gives_cosigns_verdict_on_attestations_of_both_tools() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let provenance = write(dir.path(), "provenance.json", PROVENANCE);
    let rogue = write(dir.path(), "rogue.json", ROGUE_PROVENANCE);
    let trusted = write(dir.path(), "trusted-builder.rego", TRUSTED_BUILDER);
    let v2_only = write(dir.path(), "v2-only.rego", FROM_V2_ONLY);
    let reg = Registry::start();
    let store = reg.store("app");

    let by_cosign = push_random(&store, None, "cosign").await;
    let by_cosign = format!("{}/app@{}", reg.addr, by_cosign.digest());
    cosign_attest(&key, &provenance, &by_cosign);

    let by_hallmark = push_random(&store, None, "hallmark").await;
    let by_hallmark = format!("{}/app@{}", reg.addr, by_hallmark.digest());
    let o = run(&[
        "attest",
        &by_hallmark,
        "--key",
        &key,
        "--predicate",
        &provenance,
        "--type",
        "slsaprovenance1",
    ]);
    expect_code(&o, 0);

    for reference in [&by_cosign, &by_hallmark] {
        // Allowed: hallmark prints the predicate, as without a policy; cosign agrees.
        let o = verify_attestation(reference, &public, &trusted, &[]);
        expect_code(&o, 0);
        assert!(
            stdout(&o).contains("https://ci.example/builder"),
            "{}",
            stdout(&o)
        );
        assert!(cosign_verify_attestation(reference, &public, &trusted));

        // Denied by the predicate's content: exit 1 naming the policy; cosign agrees.
        let o = verify_attestation(reference, &public, &v2_only, &[]);
        expect_code(&o, 1);
        let err = stderr(&o);
        assert!(
            err.contains(&format!(
                "policy {v2_only} does not allow it: data.signature.allow is undefined"
            )),
            "{err}"
        );
        assert!(!cosign_verify_attestation(reference, &public, &v2_only));
        let o = verify_attestation(reference, &public, &v2_only, &["--output", "json"]);
        expect_code(&o, 1);
        let v = json_out(&o);
        crate::json_output::assert_valid("verify-attestation.schema.json", &v);
        assert!(v["errors"].to_string().contains("does not allow it"), "{v}");
        assert_eq!(v["attestations"], serde_json::json!([]), "{v}");
    }

    // cosign attests again without replacing: a rogue builder's provenance beside the good
    // one. One attestation the policy does not allow denies them all, in both tools.
    cosign_attest(&key, &rogue, &by_cosign);
    let o = run(&[
        "verify-attestation",
        &by_cosign,
        "--type",
        "slsaprovenance1",
        "--key",
        &public,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    assert_eq!(
        json_out(&o)["attestations"].as_array().map(Vec::len),
        Some(2)
    );
    let o = verify_attestation(&by_cosign, &public, &trusted, &[]);
    expect_code(&o, 1);
    expect_stderr(&o, "is false, not true");
    assert!(!cosign_verify_attestation(&by_cosign, &public, &trusted));
}

#[test]
fn a_policy_that_cannot_be_used_is_refused_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys("ecdsa-p256");
    // Port 1: nothing listens, so any request would fail with exit 3, not 2.
    let reference =
        "127.0.0.1:1/app@sha256:0000000000000000000000000000000000000000000000000000000000000000";
    for (name, text, fragment) in [
        (
            "broken.rego",
            "package signature\nallow {\n  input.x ==\n",
            "broken.rego",
        ),
        (
            "other.rego",
            "package sigstore\ndefault isCompliant = false\n",
            "the policy must say `package signature`",
        ),
        (
            "policy.cue",
            "predicate: builder: id: \"x\"\n",
            "CUE policies are not supported",
        ),
        ("policy.json", "{}", "a policy file must end in .rego"),
        ("policy.toml", "version = 1\n", "is read by verify --policy"),
    ] {
        let policy = write(dir.path(), name, text);
        let o = verify_attestation(reference, &k.public, &policy, &[]);
        expect_code(&o, 2);
        let err = stderr(&o);
        assert!(err.contains(fragment), "{name}: {err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error")).count(),
            1,
            "{name}: {err}"
        );
        assert!(!err.contains("Error {"), "{name}: {err}");
    }
}
