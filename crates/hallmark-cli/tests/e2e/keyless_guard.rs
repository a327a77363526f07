//! The transport and token rules of keyless signing, through the real binary against the
//! Sigstore stack and stand-in services that misbehave on purpose
//! (`interop/misbehaving_service.py`): no redirect followed, no plain HTTP to another host,
//! every request bounded in time and size, the token in no output and bound to the
//! certificate, the CI system's token taken in the documented order.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

const SIGNER: &str = "alice@example.com";
/// The stand-in services' ports, inside the stack's namespace.
pub(crate) const BAD: u16 = 18095;
const OTHER: u16 = 18094;
const REKOR: &str = "http://127.0.0.1:18082";
const TSA: &str = "http://127.0.0.1:18083/api/v1/timestamp";

/// A stand-in service on `port`, serving and recording under `dir`.
pub(crate) fn misbehave(stack: &mut SigStack, name: &'static str, port: u16, dir: &Path) {
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/interop/misbehaving_service.py");
    stack.spawn(
        name,
        Path::new("python3"),
        &[path_str(&script), port.to_string(), path_str(dir)],
    );
    stack.wait_ready(name, &format!("http://127.0.0.1:{port}/ready"));
}

/// The requests a stand-in received, its readiness checks left out.
pub(crate) fn hits(dir: &Path, port: u16) -> Vec<String> {
    std::fs::read_to_string(dir.join(format!("hits-{port}")))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.contains("/ready"))
        .map(str::to_string)
        .collect()
}

/// `sign-blob` keyless with Fulcio at `fulcio`, the stack's Rekor and TSA, no ambient token
/// unless `env` sets one, and `args` added (the stack's root unless they name one); global
/// flags in `global`.
fn sign(
    stack: &SigStack,
    global: &[&str],
    blob: &Path,
    bundle: &Path,
    fulcio: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let mut c = hallmark();
    c.args(global)
        .args(["sign-blob", &path_str(blob), "--bundle", &path_str(bundle)])
        .args(["--fulcio-url", fulcio, "--rekor-url", REKOR])
        .args(["--timestamp-server-url", TSA])
        .args(args)
        .env_remove("SIGSTORE_ID_TOKEN")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
        .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
    if !args.contains(&"--trusted-root") {
        c.args(["--trusted-root", &path_str(&stack.trusted_root)]);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    stack.command(&c).output().unwrap()
}

struct Work {
    dir: tempfile::TempDir,
    blob: PathBuf,
    bundle: PathBuf,
}

impl Work {
    /// `sign-blob` of the work's blob into its bundle with the identity token `spec` and
    /// `extra` flags, against `fulcio`.
    fn sign(&self, stack: &SigStack, fulcio: &str, spec: &str, extra: &[&str]) -> Output {
        let mut args = vec!["--identity-token", spec];
        args.extend_from_slice(extra);
        sign(stack, &[], &self.blob, &self.bundle, fulcio, &args, &[])
    }
}

fn work() -> Work {
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("release.tar");
    std::fs::write(&blob, b"the release").unwrap();
    let bundle = dir.path().join("out.sigstore.json");
    Work { dir, blob, bundle }
}

/// The token and each of its three parts are in neither output.
#[track_caller]
fn token_absent(o: &Output, token: &str) {
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    for part in std::iter::once(token).chain(token.split('.')) {
        assert!(!all.contains(part), "the token is in the output: {all}");
    }
}

/// Fulcio answering `307` to another port: the token is not replayed there (that port
/// receives nothing), the redirect is a failure of Fulcio (exit 3), nothing is written.
#[test]
fn a_redirect_from_fulcio_is_not_followed() {
    let mut stack = SigStack::start();
    let w = work();
    std::fs::write(w.dir.path().join("redirect-to"), OTHER.to_string()).unwrap();
    misbehave(&mut stack, "bad", BAD, w.dir.path());
    misbehave(&mut stack, "other", OTHER, w.dir.path());
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let o = w.sign(
        &stack,
        &format!("http://127.0.0.1:{BAD}/redirect"),
        &format!("@{}", path_str(&token)),
        &[],
    );
    expect_code(&o, 3);
    assert!(stderr(&o).contains("Fulcio"), "{}", stderr(&o));
    assert!(stderr(&o).contains("307"), "{}", stderr(&o));
    assert_eq!(hits(w.dir.path(), BAD).len(), 1, "Fulcio was asked once");
    assert!(
        hits(w.dir.path(), OTHER).is_empty(),
        "the redirect was followed: {:?}",
        hits(w.dir.path(), OTHER)
    );
    assert!(!w.bundle.exists());
}

/// Plain HTTP to a host other than loopback, from a flag, a signing config or GitHub's
/// token endpoint, is refused before any request (exit 2, not the DNS failure of exit 3);
/// `--allow-http` lifts the refusal, and then the request fails for real (exit 3).
#[test]
fn plain_http_to_another_host_is_refused_before_any_request() {
    let stack = SigStack::start();
    let w = work();
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let spec = format!("@{}", path_str(&token));
    let o = w.sign(&stack, "http://example.invalid", &spec, &[]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--fulcio-url"), "{}", stderr(&o));
    assert!(stderr(&o).contains("--allow-http"), "{}", stderr(&o));

    let o = w.sign(&stack, "fulcio.example", &spec, &[]);
    expect_code(&o, 2);

    let o = w.sign(&stack, "http://example.invalid", &spec, &["--allow-http"]);
    expect_code(&o, 3);

    // The same rule for a signing config's URLs.
    let config = std::fs::read_to_string(&stack.signing_config)
        .unwrap()
        .replace("http://127.0.0.1:18082", "http://rekor.example.invalid");
    let config_path = w.dir.path().join("signing_config.json");
    std::fs::write(&config_path, config).unwrap();
    let o = stack.hallmark(&[
        "sign-blob",
        &path_str(&w.blob),
        "--bundle",
        &path_str(&w.bundle),
        "--identity-token",
        &spec,
        "--signing-config",
        &path_str(&config_path),
        "--trusted-root",
        &path_str(&stack.trusted_root),
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("Rekor"), "{}", stderr(&o));

    // And for GitHub Actions' token endpoint, which gets the bearer token.
    let o = sign(
        &stack,
        &[],
        &w.blob,
        &w.bundle,
        "http://127.0.0.1:18081",
        &[],
        &[
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                "http://token.example.invalid/t",
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "the-bearer-token"),
        ],
    );
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("ACTIONS_ID_TOKEN_REQUEST_URL"),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("the-bearer-token"));
    assert!(!w.bundle.exists());
}

/// A service that drips its answer, one that announces more than the cap, and one that
/// streams more than the cap without saying so: each ends (exit 3) with the service named,
/// within the request deadline or at the cap; the command deadline ends a drip too.
#[test]
fn slow_and_oversized_answers_end_the_command() {
    let mut stack = SigStack::start();
    let w = work();
    misbehave(&mut stack, "bad", BAD, w.dir.path());
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let spec = format!("@{}", path_str(&token));
    for (path, args, said) in [
        (
            "drip",
            vec!["--timeout", "2"],
            "no complete answer within 2s",
        ),
        ("big", vec![], "over 1048576 bytes"),
        ("stream", vec![], "over 1048576 bytes"),
        (
            "drip",
            vec!["--deadline", "3"],
            "--deadline of 3s; still pending: POST http://127.0.0.1:18095/drip/api/v2/signingCert",
        ),
    ] {
        let mut flags = vec!["--identity-token", spec.as_str()];
        flags.extend(args);
        let o = sign(
            &stack,
            &[],
            &w.blob,
            &w.bundle,
            &format!("http://127.0.0.1:{BAD}/{path}"),
            &flags,
            &[],
        );
        expect_code(&o, 3);
        assert!(stderr(&o).contains(said), "{path}: {}", stderr(&o));
        assert!(!w.bundle.exists());
    }
}

/// A stand-in Fulcio that quotes the request (the token inside) in its error answer: the
/// error names Fulcio and its status, with the token replaced by `<token>`, in text and in
/// JSON output, with `-v`.
#[test]
fn an_echoing_service_does_not_put_the_token_in_the_output() {
    let mut stack = SigStack::start();
    let w = work();
    misbehave(&mut stack, "bad", BAD, w.dir.path());
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let jwt = std::fs::read_to_string(&token).unwrap().trim().to_string();
    let spec = format!("@{}", path_str(&token));
    for global in [&["-v"][..], &["-v", "--output", "json"][..]] {
        let o = sign(
            &stack,
            global,
            &w.blob,
            &w.bundle,
            &format!("http://127.0.0.1:{BAD}/echo"),
            &["--identity-token", &spec],
            &[],
        );
        expect_code(&o, 3);
        let err = stderr(&o);
        assert!(err.contains("Fulcio") && err.contains("400"), "{err}");
        assert!(err.contains("<token>"), "the echo is not quoted: {err}");
        token_absent(&o, &jwt);
    }
    assert!(!w.bundle.exists());
}

/// A genuine Fulcio certificate made earlier for another ephemeral key, replayed: refused
/// before anything is signed with our key (exit 3, Fulcio named), nothing written.
#[test]
fn a_certificate_for_another_key_is_refused() {
    let mut stack = SigStack::start();
    let w = work();
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let spec = format!("@{}", path_str(&token));
    let earlier = w.dir.path().join("earlier.sigstore.json");
    let o = sign(
        &stack,
        &[],
        &w.blob,
        &earlier,
        "http://127.0.0.1:18081",
        &["--identity-token", &spec],
        &[],
    );
    expect_code(&o, 0);
    let earlier: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&earlier).unwrap()).unwrap();
    let der = earlier["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .unwrap();
    let pem = format!("-----BEGIN CERTIFICATE-----\n{der}\n-----END CERTIFICATE-----\n");
    std::fs::write(
        w.dir.path().join("fulcio"),
        serde_json::json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": [pem]}}})
            .to_string(),
    )
    .unwrap();
    misbehave(&mut stack, "bad", BAD, w.dir.path());
    let o = w.sign(
        &stack,
        &format!("http://127.0.0.1:{BAD}/file/fulcio"),
        &spec,
        &[],
    );
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("Fulcio's answer does not verify: the certificate is for another key"),
        "{}",
        stderr(&o)
    );
    assert!(!w.bundle.exists());
}

/// A successful keyless signature with `-v`, and with `--output json`, shows the token
/// nowhere; a token given literally on the command line warns, without echoing it.
#[test]
fn verbose_and_json_runs_never_show_the_token() {
    let stack = SigStack::start();
    let w = work();
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let jwt = std::fs::read_to_string(&token).unwrap().trim().to_string();
    for global in [&["-v"][..], &["--output", "json"][..]] {
        let o = sign(
            &stack,
            global,
            &w.blob,
            &w.bundle,
            "http://127.0.0.1:18081",
            &["--identity-token", &format!("@{}", path_str(&token))],
            &[],
        );
        expect_code(&o, 0);
        token_absent(&o, &jwt);
        assert!(!stderr(&o).contains("warning"), "{}", stderr(&o));
        std::fs::remove_file(&w.bundle).unwrap();
    }
    let o = sign(
        &stack,
        &["-v"],
        &w.blob,
        &w.bundle,
        "http://127.0.0.1:18081",
        &["--identity-token", &jwt],
        &[],
    );
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("warning: the identity token is on the command line"),
        "{}",
        stderr(&o)
    );
    token_absent(&o, &jwt);
}

/// The CI system's token: `SIGSTORE_ID_TOKEN` wins over GitHub's variables (whose endpoint
/// then receives nothing); GitHub's endpoint answering an error or garbage is exit 3 without
/// its bearer token in the output; a token source that names nothing is exit 2.
#[test]
fn ambient_tokens_and_token_sources() {
    let mut stack = SigStack::start();
    let w = work();
    misbehave(&mut stack, "bad", BAD, w.dir.path());
    let jwt = std::fs::read_to_string(stack.token(&stack.issuer, SIGNER, "{}"))
        .unwrap()
        .trim()
        .to_string();
    let fulcio = "http://127.0.0.1:18081";
    let bearer = "the-actions-request-bearer-token";
    let github = |path: &str| format!("http://127.0.0.1:{BAD}/{path}");

    let o = sign(
        &stack,
        &[],
        &w.blob,
        &w.bundle,
        fulcio,
        &[],
        &[
            ("SIGSTORE_ID_TOKEN", jwt.as_str()),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", &github("echo")),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", bearer),
        ],
    );
    expect_code(&o, 0);
    assert!(
        hits(w.dir.path(), BAD).is_empty(),
        "GitHub's endpoint was asked: {:?}",
        hits(w.dir.path(), BAD)
    );
    std::fs::remove_file(&w.bundle).unwrap();

    for path in ["echo", "garbage", "nothing-here"] {
        let o = sign(
            &stack,
            &["-v"],
            &w.blob,
            &w.bundle,
            fulcio,
            &[],
            &[
                ("ACTIONS_ID_TOKEN_REQUEST_URL", &github(path)),
                ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", bearer),
            ],
        );
        expect_code(&o, 3);
        assert!(
            stderr(&o).contains("GitHub Actions' token endpoint"),
            "{path}: {}",
            stderr(&o)
        );
        assert!(!stderr(&o).contains(bearer), "{path}: {}", stderr(&o));
        assert!(!String::from_utf8_lossy(&o.stdout).contains(bearer));
        assert!(!w.bundle.exists());
    }
    assert!(
        hits(w.dir.path(), BAD)
            .iter()
            .all(|h| h.contains("audience=sigstore")),
        "{:?}",
        hits(w.dir.path(), BAD)
    );

    let missing = format!("@{}", path_str(&w.dir.path().join("missing.jwt")));
    for spec in ["env://HALLMARK_SURELY_UNSET_TOKEN", missing.as_str()] {
        let o = w.sign(&stack, fulcio, spec, &[]);
        expect_code(&o, 2);
        assert!(!w.bundle.exists());
    }
}

/// The signing-service flags with `--key` but without `--tlog-upload` would be unused: they
/// are refused, before the key is read.
#[test]
fn service_flags_with_a_key_need_tlog_upload() {
    let keys = keys("ecdsa-p256");
    let w = work();
    let o = hallmark()
        .args(["sign-blob", &path_str(&w.blob), "--key", &keys.private])
        .args(["--bundle", &path_str(&w.bundle)])
        .args(["--rekor-url", "https://rekor.example"])
        .args(["--fulcio-url", "https://fulcio.example"])
        .args(["--timestamp-server-url", "https://tsa.example"])
        .env("HALLMARK_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--tlog-upload"), "{}", stderr(&o));
    assert!(!w.bundle.exists());
}

/// The bundle and `--output-signature` are written together: when the signature cannot be
/// written, the bundle is not left behind. The signature's directory is missing, so this
/// fails while the outputs are staged; undoing a rename already made is the unit test
/// `outputs_are_written_together_or_not_at_all`'s part, as no binary run can fail between
/// two renames on purpose.
#[test]
fn a_bundle_is_not_left_without_its_signature_file() {
    let keys = keys("ecdsa-p256");
    let w = work();
    let o = hallmark()
        .args(["sign-blob", &path_str(&w.blob), "--key", &keys.private])
        .args(["--bundle", &path_str(&w.bundle)])
        .args([
            "--output-signature",
            &path_str(&w.dir.path().join("no-such-dir").join("sig")),
        ])
        .env("HALLMARK_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(
        !w.bundle.exists(),
        "the bundle was written without the signature"
    );
}

/// Fulcio's SCT must be embedded and from a log of the trusted root: a detached SCT, and a
/// genuine certificate whose log the root does not know, are refused (exit 3, Fulcio named)
/// before anything is signed, and nothing is written.
#[test]
fn a_certificate_without_a_known_embedded_sct_is_refused() {
    let mut stack = SigStack::start();
    let w = work();
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let spec = format!("@{}", path_str(&token));
    std::fs::write(
        w.dir.path().join("detached"),
        serde_json::json!({"signedCertificateDetachedSct": {"chain": {"certificates": []}, "signedCertificateTimestamp": "AA=="}})
            .to_string(),
    )
    .unwrap();
    misbehave(&mut stack, "bad", BAD, w.dir.path());
    let o = w.sign(
        &stack,
        &format!("http://127.0.0.1:{BAD}/file/detached"),
        &spec,
        &[],
    );
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("Fulcio") && stderr(&o).contains("detached"),
        "{}",
        stderr(&o)
    );
    assert!(!w.bundle.exists());

    // The stack's root without its CT log: the real Fulcio's SCT is from a log unknown to it.
    let mut root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&stack.trusted_root).unwrap()).unwrap();
    root["ctlogs"] = serde_json::json!([]);
    let no_ct = w.dir.path().join("no-ct-root.json");
    std::fs::write(&no_ct, root.to_string()).unwrap();
    let o = w.sign(
        &stack,
        "http://127.0.0.1:18081",
        &spec,
        &["--trusted-root", &path_str(&no_ct)],
    );
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("Fulcio's answer does not verify"),
        "{}",
        stderr(&o)
    );
    assert!(!w.bundle.exists());
}

/// Keyless with `--output-signature`: both files are written on success, and neither when a
/// service fails (here Rekor, after Fulcio certified and the TSA stamped).
#[test]
fn keyless_outputs_are_written_together_or_not_at_all() {
    let mut stack = SigStack::start();
    let w = work();
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let spec = format!("@{}", path_str(&token));
    let sig = w.dir.path().join("out.sig");
    let o = w.sign(
        &stack,
        "http://127.0.0.1:18081",
        &spec,
        &["--output-signature", &path_str(&sig)],
    );
    expect_code(&o, 0);
    assert!(w.bundle.exists() && sig.exists());
    let bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&w.bundle).unwrap()).unwrap();
    assert_eq!(
        bundle["messageSignature"]["signature"].as_str().unwrap(),
        std::fs::read_to_string(&sig).unwrap().trim()
    );
    std::fs::remove_file(&w.bundle).unwrap();
    std::fs::remove_file(&sig).unwrap();

    stack.stop("rekor");
    let o = w.sign(
        &stack,
        "http://127.0.0.1:18081",
        &spec,
        &["--output-signature", &path_str(&sig)],
    );
    expect_code(&o, 3);
    assert!(stderr(&o).contains("Rekor"), "{}", stderr(&o));
    assert!(!w.bundle.exists() && !sig.exists());
}

/// The flags and the input are checked before a CI token is fetched: an input that cannot
/// be read is exit 2, and GitHub's token endpoint was never asked.
#[test]
fn no_token_is_fetched_for_a_command_that_cannot_go_through() {
    let mut stack = SigStack::start();
    let w = work();
    misbehave(&mut stack, "bad", BAD, w.dir.path());
    let o = sign(
        &stack,
        &[],
        &w.dir.path().join("no-such-input"),
        &w.bundle,
        "http://127.0.0.1:18081",
        &[],
        &[
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                &format!("http://127.0.0.1:{BAD}/echo"),
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "bearer"),
        ],
    );
    expect_code(&o, 2);
    assert!(
        hits(w.dir.path(), BAD).is_empty(),
        "a token was asked for: {:?}",
        hits(w.dir.path(), BAD)
    );
}

/// `--oidc-client-id` is the audience the token must carry, checked before any request, and
/// the one asked of GitHub Actions' endpoint; Fulcio (configured for `sigstore`) then has
/// the last word.
#[test]
fn the_oidc_client_id_is_the_audience() {
    let mut stack = SigStack::start();
    let w = work();
    misbehave(&mut stack, "bad", BAD, w.dir.path());
    let token = stack.token(&stack.issuer, SIGNER, r#"{"aud": "private-fulcio"}"#);
    let spec = format!("@{}", path_str(&token));
    let fulcio = "http://127.0.0.1:18081";
    let o = w.sign(&stack, fulcio, &spec, &[]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("audience"), "{}", stderr(&o));

    let o = w.sign(
        &stack,
        fulcio,
        &spec,
        &["--oidc-client-id", "private-fulcio"],
    );
    expect_code(&o, 3);
    assert!(stderr(&o).contains("Fulcio"), "{}", stderr(&o));

    let o = sign(
        &stack,
        &[],
        &w.blob,
        &w.bundle,
        fulcio,
        &["--oidc-client-id", "private-fulcio"],
        &[
            (
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                &format!("http://127.0.0.1:{BAD}/garbage"),
            ),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "bearer"),
        ],
    );
    expect_code(&o, 3);
    let asked = hits(w.dir.path(), BAD);
    assert!(
        asked.len() == 1 && asked[0].contains("audience=private-fulcio"),
        "{asked:?}"
    );
    assert!(!w.bundle.exists());
}

/// A token whose email the issuer has not verified is refused before any request (exit 2),
/// as cosign refuses it, rather than sent to Fulcio.
#[test]
fn an_unverified_email_is_refused_before_any_request() {
    let stack = SigStack::start();
    let w = work();
    let token = stack.token(&stack.issuer, SIGNER, r#"{"email_verified": false}"#);
    let o = w.sign(
        &stack,
        "http://127.0.0.1:18081",
        &format!("@{}", path_str(&token)),
        &[],
    );
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("email is not verified"),
        "{}",
        stderr(&o)
    );
    assert!(!w.bundle.exists());
}

/// A private Sigstore over HTTPS: a service whose certificate chains to a CA of the user's
/// own is refused without `--ca-file` (exit 3, no request made) and reached with it; a CA
/// file that cannot be read is exit 2.
#[test]
fn ca_file_trusts_a_private_sigstore() {
    const TLS: u16 = 18093;
    let mut stack = SigStack::start();
    let w = work();
    let tls = w.dir.path().join("tls");
    std::fs::create_dir(&tls).unwrap();
    let make_cert = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/interop/make_cert.py");
    let made = std::process::Command::new("python3")
        .arg(&make_cert)
        .arg(&tls)
        .status()
        .unwrap();
    assert!(made.success(), "make_cert.py failed");
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/interop/misbehaving_service.py");
    stack.spawn(
        "tls",
        Path::new("python3"),
        &[
            path_str(&script),
            TLS.to_string(),
            path_str(w.dir.path()),
            path_str(&tls),
        ],
    );
    let ca = tls.join("ca.pem");
    let ready = (0..200).any(|_| {
        let up = stack
            .command(std::process::Command::new("curl").args([
                "-sf",
                "-o",
                "/dev/null",
                "--cacert",
                &path_str(&ca),
                &format!("https://127.0.0.1:{TLS}/ready"),
            ]))
            .status()
            .is_ok_and(|st| st.success());
        if !up {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        up
    });
    assert!(
        ready,
        "the HTTPS stand-in did not start: {}",
        stack.log("tls")
    );
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let spec = format!("@{}", path_str(&token));
    let fulcio = format!("https://127.0.0.1:{TLS}/garbage");

    let o = w.sign(&stack, &fulcio, &spec, &[]);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("Fulcio"), "{}", stderr(&o));
    assert!(hits(w.dir.path(), TLS).is_empty(), "a request got through");

    let o = w.sign(&stack, &fulcio, &spec, &["--ca-file", &path_str(&ca)]);
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("Fulcio answered garbage"),
        "{}",
        stderr(&o)
    );
    assert_eq!(hits(w.dir.path(), TLS).len(), 1);

    let o = w.sign(
        &stack,
        &fulcio,
        &spec,
        &["--ca-file", &path_str(&w.dir.path().join("no-such-ca.pem"))],
    );
    expect_code(&o, 2);
    assert!(!w.bundle.exists());
}

/// An environment proxy is not used for loopback services: the token goes in plain HTTP
/// only because it stays on the machine, and a proxy would carry it off. With `HTTP_PROXY`
/// (and `ALL_PROXY`) naming a recording listener and no `NO_PROXY`, keyless signing against
/// the stack's loopback services succeeds and the listener sees nothing.
#[test]
fn an_environment_proxy_never_sees_a_loopback_request() {
    let mut stack = SigStack::start();
    let w = work();
    misbehave(&mut stack, "proxy", OTHER, w.dir.path());
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let proxy = format!("http://127.0.0.1:{OTHER}");
    let mut c = hallmark();
    c.args([
        "sign-blob",
        &path_str(&w.blob),
        "--bundle",
        &path_str(&w.bundle),
    ])
    .args([
        "--fulcio-url",
        "http://127.0.0.1:18081",
        "--rekor-url",
        REKOR,
    ])
    .args(["--timestamp-server-url", TSA])
    .args(["--trusted-root", &path_str(&stack.trusted_root)])
    .args(["--identity-token", &format!("@{}", path_str(&token))]);
    for k in [
        "NO_PROXY",
        "no_proxy",
        "http_proxy",
        "all_proxy",
        "REQUEST_METHOD",
    ] {
        c.env_remove(k);
    }
    c.env("HTTP_PROXY", &proxy).env("ALL_PROXY", &proxy);
    let o = stack.command(&c).output().unwrap();
    expect_code(&o, 0);
    assert!(
        hits(w.dir.path(), OTHER).is_empty(),
        "the proxy was sent: {:?}",
        hits(w.dir.path(), OTHER)
    );
    assert!(w.bundle.exists());
}

/// An expired token and a token for another audience are exit 2 with what to do, before
/// any request: the Fulcio named (a recording stand-in) is never asked.
#[test]
fn a_token_refused_says_what_to_do() {
    let mut stack = SigStack::start();
    let w = work();
    misbehave(&mut stack, "bad", BAD, w.dir.path());
    for (claims, hint) in [
        (
            r#"{"exp": 1000}"#,
            "hint: fetch a fresh identity token right before signing",
        ),
        (
            r#"{"aud": "api"}"#,
            "hint: request the token for audience sigstore (GitLab: an id_tokens entry SIGSTORE_ID_TOKEN with aud sigstore)",
        ),
    ] {
        let token = stack.token(&stack.issuer, SIGNER, claims);
        let o = w.sign(
            &stack,
            &format!("http://127.0.0.1:{BAD}/fulcio"),
            &format!("@{}", path_str(&token)),
            &[],
        );
        expect_code(&o, 2);
        assert!(stderr(&o).contains(hint), "{claims}: {}", stderr(&o));
        assert!(!w.bundle.exists());
    }
    assert!(
        hits(w.dir.path(), BAD).is_empty(),
        "Fulcio was asked: {:?}",
        hits(w.dir.path(), BAD)
    );
}
