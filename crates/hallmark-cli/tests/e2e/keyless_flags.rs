//! Which flags govern what when the image commands sign keyless or log a key's signature:
//! the registry's transport flags are not the signing services', and a flag that would go
//! unused is refused rather than ignored. No Sigstore service is needed: every case is
//! decided before any request.

use std::path::{Path, PathBuf};

use base64ct::Encoding as _;

use crate::harness::*;

/// A digest reference on a registry nothing listens at: a request to it would be exit 3.
const NOWHERE: &str =
    "127.0.0.1:9/app@sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// An unsigned token for audience `sigstore`, valid for an hour: enough for the checks made
/// before any request, which is all these cases reach.
fn token_file(dir: &Path) -> PathBuf {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let claims = serde_json::json!({
        "iss": "https://issuer.example",
        "sub": "alice",
        "aud": "sigstore",
        "iat": now,
        "exp": now + 3600,
    });
    let part = |v: &[u8]| base64ct::Base64UrlUnpadded::encode_string(v);
    let jwt = format!(
        "{}.{}.{}",
        part(br#"{"alg":"RS256","typ":"JWT"}"#),
        part(claims.to_string().as_bytes()),
        part(b"not-a-signature")
    );
    let path = dir.join("token.jwt");
    std::fs::write(&path, jwt).unwrap();
    path
}

/// The registry's `--allow-http` does not extend to the signing services: plain HTTP to a
/// Fulcio on another host is refused before any request (exit 2, pointing at
/// `--sigstore-allow-http`), and `--sigstore-allow-http` lifts that refusal (the command then
/// fails on the unreachable registry, exit 3).
#[test]
fn the_registry_allow_http_does_not_reach_the_signing_services() {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("@{}", path_str(&token_file(dir.path())));
    let services = [
        "--fulcio-url",
        "http://fulcio.invalid",
        "--rekor-url",
        "http://rekor.invalid",
        "--timestamp-server-url",
        "http://tsa.invalid/api/v1/timestamp",
    ];
    let sign = |extra: &[&str]| {
        let mut c = hallmark();
        c.args(["sign", NOWHERE, "--identity-token", &token])
            .args(services)
            .args(extra)
            .env_remove("HALLMARK_TRUSTED_ROOT");
        c.output().unwrap()
    };
    let o = sign(&["--allow-http"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("Fulcio"), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("--sigstore-allow-http"),
        "{}",
        stderr(&o)
    );

    let o = sign(&["--allow-http", "--sigstore-allow-http"]);
    expect_code(&o, 3);
}

/// A bare tag signed keyless is refused with a hint that fits a keyless signer: the digest
/// form, without a `--key` it does not have.
#[test]
fn a_bare_tag_refused_keyless_hints_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let token = format!("@{}", path_str(&token_file(dir.path())));
    let o = hallmark()
        .args(["sign", "127.0.0.1:9/app:latest", "--identity-token", &token])
        .args(["--fulcio-url", "http://127.0.0.1:9", "--rekor-url"])
        .args([
            "http://127.0.0.1:9",
            "--timestamp-server-url",
            "http://127.0.0.1:9",
        ])
        .output()
        .unwrap();
    expect_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("hint: sign the digest your pipeline built: hallmark sign 127.0.0.1:9/app@sha256:<digest>"),
        "{err}"
    );
    assert!(!err.contains("--key"), "{err}");
}

/// `--key` without `--tlog-upload` logs nothing, so a flag naming the signing services is
/// refused on the image commands as on `sign-blob` (exit 2, before the key is read):
/// `--trusted-root` given on the command line, and a non-default `--oidc-client-id`.
/// The same root from `HALLMARK_TRUSTED_ROOT`, set for verification, is no such request.
#[test]
fn unused_service_flags_with_a_key_are_refused_on_images() {
    let keys = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("trusted_root.json");
    std::fs::write(&root, "{}").unwrap();
    let sign = |extra: &[&str], env: &[(&str, &str)]| {
        let mut c = hallmark();
        c.args(["sign", NOWHERE, "--key", &keys.private])
            .args(extra)
            .env_remove("HALLMARK_TRUSTED_ROOT")
            .env("HALLMARK_PASSWORD", PASSWORD)
            .envs(env.iter().copied());
        c.output().unwrap()
    };
    for (extra, flag) in [
        (
            vec!["--trusted-root", root.to_str().unwrap()],
            "--trusted-root",
        ),
        (vec!["--oidc-client-id", "private"], "--oidc-client-id"),
    ] {
        let o = sign(&extra, &[]);
        expect_code(&o, 2);
        assert!(stderr(&o).contains(flag), "{flag}: {}", stderr(&o));
        assert!(
            stderr(&o).contains("--tlog-upload"),
            "{flag}: {}",
            stderr(&o)
        );
    }
    // From the environment: signed unlogged as asked, so the unreachable registry decides.
    let o = sign(&[], &[("HALLMARK_TRUSTED_ROOT", root.to_str().unwrap())]);
    expect_code(&o, 3);
}

/// `--key --tlog-upload` needs Rekor and the timestamp authority, not Fulcio: without
/// `--fulcio-url` the key's signature is timestamped and logged against the stack and
/// `verify-blob` accepts it with the log checked; keyless signing without `--fulcio-url`
/// is exit 2, before any request.
#[test]
fn a_logged_key_signature_needs_no_fulcio() {
    let stack = SigStack::start();
    let keys = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("release.tar");
    std::fs::write(&blob, b"the release, logged without Fulcio").unwrap();
    let bundle = dir.path().join("out.sigstore.json");
    let services = [
        "--rekor-url",
        "http://127.0.0.1:18082",
        "--timestamp-server-url",
        "http://127.0.0.1:18083/api/v1/timestamp",
    ];
    let mut c = hallmark();
    c.args([
        "sign-blob",
        &path_str(&blob),
        "--bundle",
        &path_str(&bundle),
    ])
    .args(["--key", &keys.private, "--tlog-upload"])
    .args(services)
    .args(["--trusted-root", &path_str(&stack.trusted_root)])
    .env("HALLMARK_PASSWORD", PASSWORD);
    let o = stack.command(&c).output().unwrap();
    expect_code(&o, 0);
    let o = hallmark()
        .args([
            "verify-blob",
            &path_str(&blob),
            "--bundle",
            &path_str(&bundle),
        ])
        .args(["--key", &keys.public])
        .args(["--trusted-root", &path_str(&stack.trusted_root)])
        .output()
        .unwrap();
    expect_code(&o, 0);

    let token = stack.token(&stack.issuer, "alice@example.com", "{}");
    let mut c = hallmark();
    c.args([
        "sign-blob",
        &path_str(&blob),
        "--bundle",
        &path_str(&dir.path().join("k.json")),
    ])
    .args(["--identity-token", &format!("@{}", path_str(&token))])
    .args(services)
    .args(["--trusted-root", &path_str(&stack.trusted_root)]);
    let o = stack.command(&c).output().unwrap();
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--fulcio-url"), "{}", stderr(&o));
}

/// No key and no identity token anywhere: exit 2 saying there is nothing to sign with, and
/// how to give something, for `sign-blob` and the image commands alike.
#[test]
fn nothing_to_sign_with_says_what_to_pass() {
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("release.tar");
    std::fs::write(&blob, b"the release").unwrap();
    let bundle = path_str(&dir.path().join("out.json"));
    let services = [
        "--fulcio-url",
        "http://127.0.0.1:9",
        "--rekor-url",
        "http://127.0.0.1:9",
        "--timestamp-server-url",
        "http://127.0.0.1:9",
    ];
    let blob = path_str(&blob);
    for command in [
        vec!["sign-blob", blob.as_str(), "--bundle", bundle.as_str()],
        vec!["sign", NOWHERE],
    ] {
        let o = hallmark()
            .args(&command)
            .args(services)
            .env_remove("SIGSTORE_ID_TOKEN")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
            .output()
            .unwrap();
        expect_code(&o, 2);
        let err = stderr(&o);
        assert!(err.contains("nothing to sign with"), "{command:?}: {err}");
        assert!(err.contains("hint: pass --key FILE"), "{command:?}: {err}");
    }
}
