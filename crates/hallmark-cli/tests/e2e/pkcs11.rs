//! Keys in a PKCS#11 token (`--key pkcs11:…`, cosign's URI) on a real SoftHSM2 token, and
//! KMS keys, which are refused by name.

use std::path::Path;
use std::process::Output;

use crate::harness::*;

fn run_token(token: &Token, pin: Option<&str>, args: &[&str]) -> Output {
    run_env(args, &token.env(pin))
}

/// A command with the token's PIN given as cosign's variable gives it.
fn with_pin(token: &Token, args: &[&str]) -> Output {
    run_token(token, Some(HSM_PIN), args)
}

/// `sign-blob` of `blob` with the token's key `uri`, the bundle written to `bundle`.
fn sign_blob(token: &Token, uri: &str, blob: &Path, bundle: &Path) -> Output {
    with_pin(
        token,
        &[
            "sign-blob",
            &path_str(blob),
            "--key",
            uri,
            "--bundle",
            &path_str(bundle),
        ],
    )
}

/// The token's public key, as `key public --key pkcs11:…` prints it, in a file.
fn export_public(token: &Token) -> String {
    let o = with_pin(token, &["key", "public", "--key", &token.uri("signing")]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).starts_with("-----BEGIN PUBLIC KEY-----"),
        "{}",
        stdout(&o)
    );
    let path = token.dir().join("token.pub");
    std::fs::write(&path, stdout(&o)).unwrap();
    path_str(&path)
}

/// Every signing command signs with the token's key, and what it signed verifies with the
/// exported public key in hallmark and in the real cosign: an image (legacy layer and
/// bundle), an attestation, a blob, a published file. The URI verifies as a key too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_key_signs_what_cosign_verifies() {
    let token = Token::new();
    let uri = token.uri("signing");
    let public = export_public(&token);
    let reg = Registry::start();

    for (repo, format) in [("team/legacy", "legacy"), ("team/bundle", "bundle")] {
        let img = push_random(&reg.store(repo), Some("v1"), repo).await;
        let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
        let o = with_pin(
            &token,
            &["sign", &pinned, "--key", &uri, "--format", format],
        );
        expect_code(&o, 0);
        expect_code(&run(&["verify", &pinned, "--key", &public]), 0);
        let o = cosign_verify_key(&public, &pinned, &[]);
        peer_ok(&o, &format!("cosign verify ({format})"));
        // Another key verifies nothing: the signature is the token's.
        let other = keys("ecdsa-p256");
        expect_code(&run(&["verify", &pinned, "--key", &other.public]), 1);
        // The token's key named by its URI verifies as its exported public key does.
        let o = with_pin(&token, &["verify", &pinned, "--key", &uri]);
        expect_code(&o, 0);
    }

    // An attestation.
    let img = push_random(&reg.store("team/attested"), Some("v1"), "a").await;
    let pinned = format!("{}/team/attested@{}", reg.addr, img.digest());
    let sbom = token.dir().join("bom.json");
    std::fs::write(
        &sbom,
        br#"{"bomFormat":"CycloneDX","specVersion":"1.5","components":[]}"#,
    )
    .unwrap();
    let o = with_pin(
        &token,
        &[
            "attest",
            &pinned,
            "--predicate",
            &path_str(&sbom),
            "--type",
            "cyclonedx",
            "--key",
            &uri,
        ],
    );
    expect_code(&o, 0);
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
    peer_ok(&o, "cosign verify-attestation");

    // A blob.
    let blob = token.dir().join("uploader.sh");
    std::fs::write(&blob, b"#!/bin/sh\necho upload\n").unwrap();
    let bundle = token.dir().join("uploader.sigstore.json");
    expect_code(&sign_blob(&token, &uri, &blob, &bundle), 0);
    let o = run(&[
        "verify-blob",
        &path_str(&blob),
        "--key",
        &public,
        "--bundle",
        &path_str(&bundle),
    ]);
    expect_code(&o, 0);
    let o = cosign_run(&[
        "verify-blob",
        "--key",
        &public,
        "--bundle",
        &path_str(&bundle),
        "--insecure-ignore-tlog",
        &path_str(&blob),
    ]);
    peer_ok(&o, "cosign verify-blob");

    // A file published as an artifact.
    let dest = format!("{}/tools/uploader:1.0", reg.addr);
    let o = with_pin(
        &token,
        &[
            "publish",
            &format!("file:{}", blob.display()),
            &dest,
            "--key",
            &uri,
            "--bind-tag",
        ],
    );
    expect_code(&o, 0);
    expect_code(&run(&["verify", &dest, "--key", &public]), 0);
}

/// One `error:` line and one `hint:` line, exit 2, and never the PIN.
#[track_caller]
fn refused(o: &Output, words: &str, pin: &str) -> String {
    expect_code(o, 2);
    let err = stderr(o);
    let lines: Vec<&str> = err.lines().filter(|l| !l.starts_with("warning:")).collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].starts_with("error: ") && lines[0].contains(words),
        "{err}"
    );
    assert!(lines[1].starts_with("hint: "), "{err}");
    assert!(!err.contains(pin) && !stdout(o).contains(pin), "{err}");
    err
}

/// A wrong PIN, a PIN that is missing, a key or token that is not there, a module that is
/// not one: each is a one-line refusal (exit 2) saying what to do, listing what is there,
/// and never showing the PIN, wherever it came from.
#[test]
fn token_failures_are_one_line_and_never_show_the_pin() {
    let token = Token::new();
    token.keypair("other", "02", "EC:prime256v1");
    let public =
        |uri: &str, pin: Option<&str>| run_token(&token, pin, &["key", "public", "--key", uri]);
    let uri = token.uri("signing");

    let err = refused(&public(&uri, Some("987654")), "wrong PIN", "987654");
    assert!(err.contains("came from COSIGN_PKCS11_PIN"), "{err}");

    // A PIN in the URI is warned about, and still never shown.
    let o = public(&format!("{uri}&pin-value=987654"), None);
    let err = refused(&o, "wrong PIN", "987654");
    assert!(
        err.contains("warning: the PKCS#11 PIN is on the command line"),
        "{err}"
    );
    assert!(err.contains("came from the URI's pin-value"), "{err}");
    let pin_file = token.dir().join("pin");
    std::fs::write(&pin_file, "987654\n").unwrap();
    let o = public(&format!("{uri}&pin-source={}", pin_file.display()), None);
    refused(&o, "wrong PIN", "987654");
    // The right PIN from a file works, and gives no warning.
    std::fs::write(&pin_file, format!("{HSM_PIN}\n")).unwrap();
    let o = public(
        &format!("{uri}&pin-source=file:{}", pin_file.display()),
        None,
    );
    expect_code(&o, 0);
    assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));

    // No PIN and no terminal to ask on.
    refused(&public(&uri, None), "needs a PIN", HSM_PIN);

    // A key that is not there: the keys that are, to choose from.
    let err = refused(
        &public(&token.uri("release"), Some(HSM_PIN)),
        "no private key object=release",
        HSM_PIN,
    );
    assert!(err.contains("object=signing;id=%01"), "{err}");
    assert!(err.contains("object=other;id=%02"), "{err}");

    // A token that is not there: the tokens that are.
    let o = public(
        &format!("pkcs11:token=prod;object=signing?module-path={SOFTHSM_MODULE}"),
        Some(HSM_PIN),
    );
    let err = refused(&o, "no PKCS#11 token \"prod\"", HSM_PIN);
    assert!(err.contains("\"hallmark\" (slot"), "{err}");

    // Modules that cannot be loaded: a bare name (which dlopen would search for), a file
    // that is no library, none named at all.
    let o = public(
        "pkcs11:token=hallmark;object=signing?module-path=libsofthsm2.so",
        Some(HSM_PIN),
    );
    refused(&o, "not an absolute path", HSM_PIN);
    let junk = token.dir().join("junk.so");
    std::fs::write(&junk, b"not a library").unwrap();
    let o = public(
        &format!(
            "pkcs11:token=hallmark;object=signing?module-path={}",
            junk.display()
        ),
        Some(HSM_PIN),
    );
    refused(&o, "cannot load the PKCS#11 module", HSM_PIN);
    let o = public("pkcs11:token=hallmark;object=signing", Some(HSM_PIN));
    let err = refused(&o, "no PKCS#11 module is named", HSM_PIN);
    assert!(err.contains("COSIGN_PKCS11_MODULE_PATH"), "{err}");
    // ...which the variable cosign reads names.
    let mut env = token.env(Some(HSM_PIN));
    env.push(("COSIGN_PKCS11_MODULE_PATH", SOFTHSM_MODULE));
    let o = run_env(
        &[
            "key",
            "public",
            "--key",
            "pkcs11:token=hallmark;object=signing",
        ],
        &env,
    );
    expect_code(&o, 0);

    // A public key object beside the private key that is not its pair: the token's
    // signature is checked before use, and nothing is written.
    token.keypair("x", "05", "EC:prime256v1");
    token.keypair("y", "06", "EC:prime256v1");
    for args in [
        &["--delete-object", "--type", "pubkey", "--id", "05"][..],
        &["--type", "pubkey", "--id", "06", "--set-id", "05"][..],
    ] {
        let o = token
            .command("pkcs11-tool")
            .args(["--module", SOFTHSM_MODULE, "--token-label", "hallmark"])
            .args(["--login", "--pin", HSM_PIN])
            .args(args)
            .output()
            .unwrap();
        peer_ok(&o, "pkcs11-tool");
    }
    let blob = token.dir().join("blob");
    std::fs::write(&blob, b"x").unwrap();
    let bundle = token.dir().join("blob.sigstore.json");
    let o = sign_blob(&token, &token.uri("x"), &blob, &bundle);
    expect_code(&o, 3);
    expect_stderr(&o, "does not verify with its key's public key");
    assert!(!bundle.exists());

    // A key of another kind than P-256.
    token.keypair("rsa", "03", "rsa:2048");
    let o = public(&token.uri("rsa"), Some(HSM_PIN));
    refused(&o, "not an ECDSA P-256 key", HSM_PIN);
}

/// A KMS or secret-store key (cosign's awskms://, gcpkms://, azurekms://, hashivault://,
/// k8s://, gitlab://) is refused by name as bad input, by every command taking --key, and
/// before any request: the registry named is a listener that must see no connection.
#[test]
fn kms_keys_are_refused_by_name_before_any_request() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let tagged = format!("{addr}/team/app:v1");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.txt");
    // JSON, so that it would do as a predicate too.
    std::fs::write(&file, b"{}").unwrap();
    let (file, bundle) = (path_str(&file), path_str(&dir.path().join("f.json")));
    let source = format!("file:{file}");
    let layout = format!("oci:{}", dir.path().join("layout").display());
    let dockerfile = dir.path().join("Dockerfile");
    std::fs::write(&dockerfile, format!("FROM {tagged}\n")).unwrap();
    let dockerfile = path_str(&dockerfile);
    let repository = format!("{addr}/team/app");
    for key in [
        "awskms:///arn:aws:kms:us-east-1:1:key/k",
        "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k",
        "azurekms://vault.vault.azure.net/k",
        "hashivault://transit-key",
        "k8s://ns/secret",
        "gitlab://project",
    ] {
        let scheme = &key[..key.find("://").unwrap() + 3];
        for args in [
            vec!["sign", &tagged, "--key", key],
            vec![
                "attest",
                &tagged,
                "--predicate",
                &file,
                "--type",
                "cyclonedx",
                "--key",
                key,
            ],
            vec!["publish", &source, &tagged, "--key", key],
            vec!["sign-blob", &file, "--key", key, "--bundle", &bundle],
            vec!["verify", &tagged, "--key", key],
            vec![
                "verify-attestation",
                &tagged,
                "--type",
                "cyclonedx",
                "--key",
                key,
            ],
            vec!["verify-blob", &file, "--key", key, "--bundle", &bundle],
            vec!["signatures", &tagged, "--key", key],
            vec!["copy", &tagged, &layout, "--key", key],
            vec!["scan", &repository, "--key", key],
            vec!["pin", &dockerfile, "--key", key],
            vec!["key", "public", "--key", key],
        ] {
            let o = run(&args);
            expect_code(&o, 2);
            let err = stderr(&o);
            assert!(
                err.starts_with("error: ")
                    && err.contains(&format!("({scheme}) are not supported in this version")),
                "{args:?}: {err}"
            );
            assert!(!err.contains("does not exist"), "{args:?}: {err}");
        }
    }
    match listener.accept() {
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
        other => panic!("a command reached the registry: {other:?}"),
    }
}

/// `--tlog-upload` with a token's key: the token signs (a new signature each time, as a log
/// needs), the signature is timestamped and logged in the stack's Rekor v2, and the real
/// cosign verifies it with the exported public key and the log entry, not ignoring the log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_key_signature_is_logged_and_cosign_verifies_the_entry() {
    let token = Token::new();
    let public = export_public(&token);
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let digest =
        crate::keyless_sign_images::push_unsigned(&stack, work.path(), "app", "logged").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let (sc, root) = (
        path_str(&stack.signing_config),
        path_str(&stack.trusted_root),
    );
    let mut c = hallmark();
    c.args([
        "sign",
        &pinned,
        "--key",
        &token.uri("signing"),
        "--tlog-upload",
    ])
    .args(["--signing-config", &sc, "--trusted-root", &root])
    .envs(token.env(Some(HSM_PIN)))
    .env_remove("HALLMARK_TRUSTED_ROOT");
    let o = stack.command(&c).output().unwrap();
    expect_code(&o, 0);
    let o = stack.cosign(&[
        "verify",
        "--key",
        &public,
        "--trusted-root",
        &root,
        "--new-bundle-format",
        &pinned,
    ]);
    peer_ok(&o, "cosign verify (logged, the token's key)");
}
