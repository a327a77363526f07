//! Legacy `.sig` signatures logged in a real Rekor v1 (`SigStack::start_with_rekor_v1`):
//! hallmark signs images keyless and with `--key --tlog-upload` in the pre-bundle cosign
//! format (the certificate, chain, Rekor bundle and timestamp annotations), which the real
//! cosign 3.1.3 verifies with its default checks; cosign's own legacy keyless signature (its
//! deprecated URL flags) verifies in hallmark; with Rekor v2 legacy stays refused; a Rekor v1
//! that is down or lies leaves the registry as it was.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::*;
use crate::keyless_sign_images::{local_image, push_unsigned, registry_state};

const SIGNER: &str = "alice@example.com";
const FULCIO: &str = "http://127.0.0.1:18081";
const TSA: &str = "http://127.0.0.1:18083/api/v1/timestamp";
const CERTIFICATE: &str = "dev.sigstore.cosign/certificate";
const CHAIN: &str = "dev.sigstore.cosign/chain";
const REKOR_BUNDLE: &str = "dev.sigstore.cosign/bundle";
const TIMESTAMP: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// The annotations of each layer of `repo`'s `.sig` manifest for `digest`, as stored.
fn sig_layers(stack: &SigStack, repo: &str, digest: &str) -> Vec<serde_json::Value> {
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let o = stack
        .command(Command::new("curl").args([
            "-sf",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            &format!("http://{}/v2/{repo}/manifests/{tag}", stack.registry),
        ]))
        .output()
        .unwrap();
    assert!(o.status.success(), "no {repo}:{tag}");
    let manifest: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["annotations"].clone())
        .collect()
}

/// Which of cosign's Sigstore annotations a layer has, in a fixed order.
fn present(annotations: &serde_json::Value) -> Vec<&'static str> {
    [CERTIFICATE, CHAIN, REKOR_BUNDLE, TIMESTAMP]
        .into_iter()
        .filter(|a| annotations[a].is_string())
        .collect()
}

fn cosign_verify_keyless(stack: &SigStack, reference: &str, identity: &str) -> Output {
    stack.cosign(&[
        "verify",
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        &stack.issuer,
        "--trusted-root",
        &path_str(&stack.trusted_root),
        reference,
    ])
}

fn hallmark_verify_keyless(stack: &SigStack, reference: &str, identity: &str) -> Output {
    let root = path_str(&stack.trusted_root);
    stack.hallmark_keyed(&[
        "verify",
        reference,
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        &stack.issuer,
        "--trusted-root",
        &root,
    ])
}

/// A policy trusting `subject` from the stack's issuer, with the stack's root.
fn policy(stack: &SigStack, dir: &Path, subject: &str) -> String {
    let path = dir.join(format!("policy-{}.toml", subject.replace(['@', '.'], "-")));
    std::fs::write(
        &path,
        format!(
            "version = 1\ntrusted-root = {:?}\n\n[[rule]]\nname = \"release\"\nmatch = [\"**\"]\n\n\
             [[rule.keyless]]\nsubject = {subject:?}\nissuer = {:?}\n",
            path_str(&stack.trusted_root),
            stack.issuer
        ),
    )
    .unwrap();
    path_str(&path)
}

/// hallmark signs an image keyless in the legacy format through Fulcio and Rekor v1 (the
/// signing config naming only Rekor v1: no timestamp), and another with a key and
/// `--tlog-upload` (Rekor v1 and a timestamp authority named by URL), and publishes one
/// keyless in the legacy format. Each layer carries the annotations cosign writes; the real
/// cosign verifies each with its default checks (for the key, without
/// `--insecure-ignore-tlog`) and only for its signer; so does hallmark, flags or policy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hallmark_signs_legacy_layers_logged_in_rekor_v1() {
    let stack = SigStack::start_with_rekor_v1();
    let work = tempfile::tempdir().unwrap();
    let root = path_str(&stack.trusted_root);
    let config = path_str(&stack.signing_config_v1());
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let token_arg = format!("@{}", path_str(&token));

    // Keyless.
    let digest = push_unsigned(&stack, work.path(), "app", "v1").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let o = stack.hallmark_keyed(&[
        "sign",
        &pinned,
        "--format",
        "legacy",
        "--identity-token",
        &token_arg,
        "--signing-config",
        &config,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    let certified = format!("signed keyless as {SIGNER} ({})", stack.issuer);
    assert!(stderr(&o).contains(&certified), "{}", stderr(&o));
    let layers = sig_layers(&stack, "app", &digest);
    assert_eq!(layers.len(), 1, "{layers:?}");
    assert_eq!(
        present(&layers[0]),
        [CERTIFICATE, CHAIN, REKOR_BUNDLE],
        "{layers:?}"
    );
    let chain = layers[0][CHAIN].as_str().unwrap();
    assert!(
        chain.starts_with("-----BEGIN CERTIFICATE-----\n"),
        "{chain}"
    );
    let bundle: serde_json::Value =
        serde_json::from_str(layers[0][REKOR_BUNDLE].as_str().unwrap()).unwrap();
    assert!(bundle["SignedEntryTimestamp"].is_string(), "{bundle}");
    assert!(bundle["Payload"]["logID"].is_string(), "{bundle}");

    peer_ok(
        &cosign_verify_keyless(&stack, &pinned, SIGNER),
        "cosign verify (legacy keyless)",
    );
    assert!(
        !cosign_verify_keyless(&stack, &pinned, "bob@example.com")
            .status
            .success(),
        "cosign verified another signer"
    );
    let o = hallmark_verify_keyless(&stack, &format!("{}/app:v1", stack.registry), SIGNER);
    expect_code(&o, 0);
    assert_eq!(stdout(&o).trim(), pinned);
    expect_code(
        &hallmark_verify_keyless(&stack, &pinned, "bob@example.com"),
        1,
    );
    let o = stack.hallmark_keyed(&[
        "verify",
        &pinned,
        "--policy",
        &policy(&stack, work.path(), SIGNER),
    ]);
    expect_code(&o, 0);
    let o = stack.hallmark_keyed(&[
        "verify",
        &pinned,
        "--policy",
        &policy(&stack, work.path(), "bob@example.com"),
    ]);
    expect_code(&o, 1);

    // A key, logged, the services named by URL with a timestamp authority.
    let keys = keys("ecdsa-p256");
    let digest2 = push_unsigned(&stack, work.path(), "app", "v2").await;
    let pinned2 = format!("{}/app@{digest2}", stack.registry);
    let rekor = stack.rekor_v1_url();
    let o = stack.hallmark_keyed(&[
        "sign",
        &pinned2,
        "--format",
        "legacy",
        "--key",
        &keys.private,
        "--tlog-upload",
        "--fulcio-url",
        FULCIO,
        "--rekor-url",
        &rekor,
        "--rekor-version",
        "1",
        "--timestamp-server-url",
        TSA,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    let layers = sig_layers(&stack, "app", &digest2);
    assert_eq!(layers.len(), 1, "{layers:?}");
    assert_eq!(present(&layers[0]), [REKOR_BUNDLE, TIMESTAMP], "{layers:?}");
    let cosign_key =
        |key: &str| stack.cosign(&["verify", "--key", key, "--trusted-root", &root, &pinned2]);
    peer_ok(
        &cosign_key(&keys.public),
        "cosign verify --key (logged legacy)",
    );
    assert!(
        !cosign_key(&self::keys("ecdsa-p256").public)
            .status
            .success(),
        "cosign verified with another key"
    );
    let o = stack.hallmark_keyed(&["verify", &pinned2, "--key", &keys.public]);
    expect_code(&o, 0);

    // publish, keyless, legacy.
    let (dir, digest3) = local_image(work.path(), "new").await;
    let source = format!("oci:{}:new", dir.display());
    let dest = format!("{}/released:v1", stack.registry);
    let o = stack.hallmark_keyed(&[
        "publish",
        &source,
        &dest,
        "--format",
        "legacy",
        "--identity-token",
        &token_arg,
        "--signing-config",
        &config,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    let layers = sig_layers(&stack, "released", &digest3);
    assert_eq!(
        present(&layers[0]),
        [CERTIFICATE, CHAIN, REKOR_BUNDLE],
        "{layers:?}"
    );
    let published = format!("{}/released@{digest3}", stack.registry);
    peer_ok(
        &cosign_verify_keyless(&stack, &published, SIGNER),
        "cosign verify (published legacy keyless)",
    );
    expect_code(&hallmark_verify_keyless(&stack, &dest, SIGNER), 0);
}

/// cosign 3.1.3 signs an image keyless in the legacy format through its deprecated URL flags
/// (Rekor v1, a timestamp authority): hallmark verifies it for the signer and refuses it for
/// another; hallmark's own legacy keyless layer carries the same annotations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign_legacy_keyless_signatures_verify_in_hallmark() {
    let stack = SigStack::start_with_rekor_v1();
    let work = tempfile::tempdir().unwrap();
    let root = path_str(&stack.trusted_root);
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let rekor = stack.rekor_v1_url();
    let digest = push_unsigned(&stack, work.path(), "app", "v1").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let o = stack.cosign(&[
        "sign",
        "--use-signing-config=false",
        "--new-bundle-format=false",
        "--fulcio-url",
        FULCIO,
        "--rekor-url",
        &rekor,
        "--timestamp-server-url",
        TSA,
        "--identity-token",
        &path_str(&token),
        "--trusted-root",
        &root,
        &pinned,
    ]);
    peer_ok(&o, "cosign sign (legacy keyless)");
    let theirs = sig_layers(&stack, "app", &digest);
    assert_eq!(theirs.len(), 1, "{theirs:?}");
    assert_eq!(
        present(&theirs[0]),
        [CERTIFICATE, CHAIN, REKOR_BUNDLE, TIMESTAMP],
        "{theirs:?}"
    );
    expect_code(&hallmark_verify_keyless(&stack, &pinned, SIGNER), 0);
    expect_code(
        &hallmark_verify_keyless(&stack, &pinned, "bob@example.com"),
        1,
    );

    // hallmark's, with the same services: the same annotations, the chain alike.
    let digest2 = push_unsigned(&stack, work.path(), "app", "v2").await;
    let pinned2 = format!("{}/app@{digest2}", stack.registry);
    let o = stack.hallmark_keyed(&[
        "sign",
        &pinned2,
        "--format",
        "legacy",
        "--identity-token",
        &format!("@{}", path_str(&token)),
        "--fulcio-url",
        FULCIO,
        "--rekor-url",
        &rekor,
        "--rekor-version",
        "1",
        "--timestamp-server-url",
        TSA,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    let ours = sig_layers(&stack, "app", &digest2);
    assert_eq!(present(&ours[0]), present(&theirs[0]), "{ours:?}");
    // cosign 3.1.3's deprecated path writes the chain annotation empty; cosign before 3
    // wrote Fulcio's intermediates and root there, as hallmark does. Verifiers take the
    // authorities from their trusted root either way: both layers verify.
    assert_eq!(theirs[0][CHAIN], "", "{theirs:?}");
    let chain = ours[0][CHAIN].as_str().unwrap();
    assert_eq!(
        chain.matches("-----BEGIN CERTIFICATE-----").count(),
        2,
        "{chain}"
    );
    let keys_of = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys_of(&ours[0]), keys_of(&theirs[0]));
    peer_ok(
        &cosign_verify_keyless(&stack, &pinned2, SIGNER),
        "cosign verify (hallmark's legacy keyless, timestamped)",
    );
}

/// With Rekor v2, a legacy layer cannot carry the entry: refused as bad input, keyless and
/// with `--tlog-upload`, saying Rekor v1 is needed; so is an Ed25519 key's signature, which
/// Rekor v1 cannot take as a hashedrekord. With Rekor v1 stopped, signing and
/// publishing legacy fail as unavailable (exit 3) naming Rekor. The registry is unchanged
/// by all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_needs_a_rekor_v1_that_answers_and_writes_nothing_otherwise() {
    let mut stack = SigStack::start_with_rekor_v1();
    let work = tempfile::tempdir().unwrap();
    let root = path_str(&stack.trusted_root);
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let token_arg = format!("@{}", path_str(&token));
    let keys = keys("ecdsa-p256");
    let digest = push_unsigned(&stack, work.path(), "app", "v1").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let (dir, _) = local_image(work.path(), "new").await;
    let source = format!("oci:{}:new", dir.display());
    let dest = format!("{}/released:v1", stack.registry);
    let before = registry_state(&stack);

    let attempts = |config: &str| -> Vec<Vec<String>> {
        let keyless = [
            "--identity-token",
            &token_arg,
            "--signing-config",
            config,
            "--trusted-root",
            &root,
        ];
        let logged = [
            "--key",
            &keys.private,
            "--tlog-upload",
            "--signing-config",
            config,
            "--trusted-root",
            &root,
        ];
        let mut all = Vec::new();
        for signer in [&keyless[..], &logged[..]] {
            for command in [vec!["sign", &pinned], vec!["publish", &source, &dest]] {
                let mut args = command;
                args.extend_from_slice(&["--format", "legacy"]);
                args.extend_from_slice(signer);
                all.push(args.into_iter().map(String::from).collect());
            }
        }
        all
    };

    let v2 = path_str(&stack.signing_config);
    for args in attempts(&v2) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = stack.hallmark_keyed(&args);
        expect_code(&o, 2);
        assert!(stderr(&o).contains("Rekor v1"), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(registry_state(&stack), before);

    // An Ed25519 signature is over the payload itself, and Rekor v1 checks a hashedrekord's
    // Ed25519 signature over a SHA-512 prehash: refused before the log is asked.
    let ed25519 = self::keys("ed25519");
    let v1 = path_str(&stack.signing_config_v1());
    let o = stack.hallmark_keyed(&[
        "sign",
        &pinned,
        "--format",
        "legacy",
        "--key",
        &ed25519.private,
        "--tlog-upload",
        "--signing-config",
        &v1,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("Ed25519"), "{}", stderr(&o));
    assert_eq!(registry_state(&stack), before);

    stack.stop("rekor-v1");
    for args in attempts(&v1) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let o = stack.hallmark_keyed(&args);
        expect_code(&o, 3);
        assert!(stderr(&o).contains("Rekor"), "{args:?}: {}", stderr(&o));
    }
    assert_eq!(registry_state(&stack), before);
}

/// A Rekor v1 that lies to a legacy signing, keyless and with `--tlog-upload`: a stand-in
/// answering a genuine entry of another signature (a replay), then garbage. Each is refused
/// as unavailable (exit 3) saying what Rekor did, and no layer reaches the registry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lying_rekor_v1_leaves_no_legacy_layer() {
    const STAND_IN_PORT: u16 = 18099;
    const STAND_IN: &str = "http://127.0.0.1:18099";
    let mut stack = SigStack::start_with_rekor_v1();
    let work = tempfile::tempdir().unwrap();
    let root = path_str(&stack.trusted_root);
    let token = format!("@{}", path_str(&stack.token(&stack.issuer, SIGNER, "{}")));
    let keys = keys("ecdsa-p256");

    // A genuine entry: an earlier signature of a blob, read back from the log in the form a
    // POST is answered with.
    let earlier = work.path().join("earlier.tar");
    std::fs::write(&earlier, b"an earlier release").unwrap();
    let o = stack.hallmark(&[
        "sign-blob",
        &path_str(&earlier),
        "--bundle",
        &path_str(&work.path().join("earlier.sigstore.json")),
        "--identity-token",
        &token,
        "--signing-config",
        &path_str(&stack.signing_config_v1()),
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    let genuine = stack
        .command(Command::new("curl").args([
            "-sf",
            &format!("{}/api/v1/log/entries?logIndex=0", stack.rekor_v1_url()),
        ]))
        .output()
        .unwrap();
    assert!(genuine.status.success());

    let answer = work.path().join("answer.json");
    std::fs::write(&answer, &genuine.stdout).unwrap();
    assert_eq!(stack.replaying(STAND_IN_PORT, &answer), STAND_IN);

    let digest = push_unsigned(&stack, work.path(), "app", "v1").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let before = registry_state(&stack);
    let services = [
        "--fulcio-url",
        FULCIO,
        "--rekor-url",
        STAND_IN,
        "--rekor-version",
        "1",
        "--trusted-root",
        &root,
    ];
    let sign = |signer: &[&str]| {
        let mut args = vec!["sign", &pinned, "--format", "legacy"];
        args.extend_from_slice(signer);
        args.extend_from_slice(&services);
        stack.hallmark_keyed(&args)
    };
    for (lie, said) in [
        (&genuine.stdout[..], "Rekor's answer does not verify"),
        (&b"<html>busy</html>"[..], "Rekor answered garbage"),
    ] {
        std::fs::write(&answer, lie).unwrap();
        for signer in [
            &["--identity-token", &token][..],
            &["--key", &keys.private, "--tlog-upload"][..],
        ] {
            let o = sign(signer);
            expect_code(&o, 3);
            assert!(stderr(&o).contains(said), "{signer:?}: {}", stderr(&o));
            assert_eq!(registry_state(&stack), before, "{signer:?}");
        }
    }
}

/// Whether `repo` has no `.sig` tag for `digest`.
fn no_sig_tag(stack: &SigStack, repo: &str, digest: &str) -> bool {
    let tag = format!("{}.sig", digest.replace(':', "-"));
    let o = stack
        .command(Command::new("curl").args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Accept: application/vnd.oci.image.manifest.v1+json",
            &format!("http://{}/v2/{repo}/manifests/{tag}", stack.registry),
        ]))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout) == "404"
}

/// A Fulcio that answers the genuine leaf followed by bytes that are no certificate, or by a
/// CA of its own, does not decide the legacy layer's chain annotation: it is the trusted
/// root's authority chain that verified the leaf (the stack's intermediate and root, as PEM),
/// and the real cosign verifies the layer. A leaf from a foreign CA is refused (exit 3,
/// "Fulcio") with the registry unchanged and no `.sig` tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_legacy_chain_annotation_is_the_trusted_roots_not_fulcios() {
    let mut stack = SigStack::start_with_rekor_v1();
    let liar = stack.liar();
    let work = tempfile::tempdir().unwrap();
    let root = path_str(&stack.trusted_root);
    let token = format!("@{}", path_str(&stack.token(&stack.issuer, SIGNER, "{}")));
    let trusted_chain = std::fs::read_to_string(stack.dir().join("fulcio-chain.pem")).unwrap();
    let rekor = format!("{liar}/rekor1/pass");
    let sign = |pinned: &str, fulcio: &str| {
        let fulcio = format!("{liar}/fulcio/{fulcio}");
        stack.hallmark_keyed(&[
            "sign",
            pinned,
            "--format",
            "legacy",
            "--identity-token",
            &token,
            "--fulcio-url",
            &fulcio,
            "--rekor-url",
            &rekor,
            "--rekor-version",
            "1",
            "--trusted-root",
            &root,
        ])
    };

    for mode in ["chain-garbage", "chain-foreign"] {
        let digest = push_unsigned(&stack, work.path(), "app", mode).await;
        let pinned = format!("{}/app@{digest}", stack.registry);
        let o = sign(&pinned, mode);
        expect_code(&o, 0);
        let layers = sig_layers(&stack, "app", &digest);
        assert_eq!(layers.len(), 1, "{mode}: {layers:?}");
        assert_eq!(
            layers[0][CHAIN].as_str().unwrap(),
            trusted_chain,
            "{mode}: {layers:?}"
        );
        peer_ok(&cosign_verify_keyless(&stack, &pinned, SIGNER), mode);
        expect_code(&hallmark_verify_keyless(&stack, &pinned, SIGNER), 0);
    }

    let digest = push_unsigned(&stack, work.path(), "app", "foreign-ca").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let before = registry_state(&stack);
    let o = sign(&pinned, "foreign-ca");
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("Fulcio's answer does not verify"),
        "{}",
        stderr(&o)
    );
    assert_eq!(registry_state(&stack), before);
    assert!(no_sig_tag(&stack, "app", &digest));
}

/// `--format legacy` through a lying Fulcio (a leaf from a foreign CA, a leaf without its
/// SCT), a lying Rekor v1 (a flipped SET) and a lying timestamp authority (a token from a
/// foreign TSA, a token for another imprint): keyless (`sign` and `publish`) and with
/// `--key --tlog-upload`, each is refused as unavailable (exit 3) naming the service, and
/// the registry keeps its catalog and tags, no `.sig` tag among them. The proxy's `pass` mode signs, so the
/// refusals are the lies' doing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_services_leave_no_legacy_layer() {
    let mut stack = SigStack::start_with_rekor_v1();
    let liar = stack.liar();
    let work = tempfile::tempdir().unwrap();
    let root = path_str(&stack.trusted_root);
    let token = format!("@{}", path_str(&stack.token(&stack.issuer, SIGNER, "{}")));
    let keys = keys("ecdsa-p256");
    let digest = push_unsigned(&stack, work.path(), "app", "v1").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let (dir, new_digest) = local_image(work.path(), "new").await;
    let source = format!("oci:{}:new", dir.display());
    let dest = format!("{}/released:v1", stack.registry);
    let run = |command: &[&str], signer: &[&str], [fulcio, rekor, tsa]: [&str; 3]| {
        let services = [
            format!("--fulcio-url={liar}/fulcio/{fulcio}"),
            format!("--rekor-url={liar}/rekor1/{rekor}"),
            format!("--timestamp-server-url={liar}/tsa/{tsa}/api/v1/timestamp"),
        ];
        let mut args = command.to_vec();
        args.extend(["--format", "legacy", "--rekor-version", "1"]);
        args.extend(["--trusted-root", &root]);
        args.extend_from_slice(signer);
        args.extend(services.iter().map(String::as_str));
        stack.hallmark_keyed(&args)
    };
    let keyless = ["--identity-token", token.as_str()];
    let logged_key = ["--key", keys.private.as_str(), "--tlog-upload"];
    let sign = ["sign", pinned.as_str()];
    let publish = ["publish", source.as_str(), dest.as_str()];
    const FULCIO_LIES: &str = "Fulcio's answer does not verify";
    const REKOR_LIES: &str = "Rekor's answer does not verify";
    const TSA_LIES: &str = "timestamp authority's answer does not verify";
    // The modes of Fulcio, Rekor v1 and the TSA, and what the refusal says.
    let keyless_lies = [
        (["foreign-ca", "pass", "pass"], FULCIO_LIES),
        (["no-sct", "pass", "pass"], FULCIO_LIES),
        (["pass", "set", "pass"], REKOR_LIES),
        (["pass", "pass", "untrusted"], TSA_LIES),
        (["pass", "pass", "imprint"], TSA_LIES),
    ];
    // The command, the signer, the modes, what the refusal says.
    type Case<'a> = (&'a [&'a str], &'a [&'a str], [&'a str; 3], &'a str);
    let mut cases: Vec<Case> = Vec::new();
    for command in [&sign[..], &publish[..]] {
        for (lies, said) in keyless_lies {
            cases.push((command, &keyless, lies, said));
        }
    }
    // A key's signature asks no certificate of Fulcio.
    for (lies, said) in &keyless_lies[2..] {
        cases.push((&sign, &logged_key, *lies, said));
    }

    let before = registry_state(&stack);
    for (command, signer, lies, said) in cases {
        let o = run(command, signer, lies);
        let case = format!("{command:?} {signer:?} {lies:?}");
        expect_code(&o, 3);
        assert!(stderr(&o).contains(said), "{case}: {}", stderr(&o));
        assert_eq!(
            registry_state(&stack),
            before,
            "{case} wrote to the registry"
        );
        assert!(no_sig_tag(&stack, "app", &digest), "{case}");
        assert!(no_sig_tag(&stack, "released", &new_digest), "{case}");
    }

    for signer in [&keyless[..], &logged_key[..]] {
        expect_code(&run(&sign, signer, ["pass"; 3]), 0);
    }
    expect_code(&run(&publish, &keyless, ["pass"; 3]), 0);
    assert!(!no_sig_tag(&stack, "app", &digest));
    assert!(!no_sig_tag(&stack, "released", &new_digest));
    peer_ok(
        &cosign_verify_keyless(&stack, &pinned, SIGNER),
        "cosign verify (legacy through the faithful proxy)",
    );
}
