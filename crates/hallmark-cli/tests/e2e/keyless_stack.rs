//! Keyless signatures made by the real cosign against a real Sigstore stack on loopback
//! (`harness/sigstack.rs`: Fulcio, a CT log, Rekor v2, the timestamp authority, an OIDC
//! issuer), verified by hallmark against that stack's trusted root: what production keyless
//! signing writes (a Fulcio leaf with its SCT, a Rekor v2 entry with its inclusion proof and
//! checkpoint, an RFC 3161 timestamp), made by the services themselves rather than by a
//! model of them.

use std::path::Path;

use crate::harness::*;
use hallmark::image::Image;
use hallmark::layout::Layout;
use hallmark::store::Store;

const SIGNER: &str = "alice@example.com";

/// `cosign sign-blob` keyless against the stack; the bundle's path.
fn cosign_sign_blob(stack: &SigStack, token: &Path, blob: &Path) -> std::path::PathBuf {
    let bundle = blob.with_extension("sigstore.json");
    let o = stack.cosign(&[
        "sign-blob",
        "--identity-token",
        &path_str(token),
        "--signing-config",
        &path_str(&stack.signing_config),
        "--trusted-root",
        &path_str(&stack.trusted_root),
        "--bundle",
        &path_str(&bundle),
        &path_str(blob),
    ]);
    assert!(
        o.status.success(),
        "cosign sign-blob: {}\nfulcio: {}",
        String::from_utf8_lossy(&o.stderr),
        stack.log("fulcio")
    );
    bundle
}

fn verify_blob(
    stack: &SigStack,
    blob: &Path,
    bundle: &Path,
    identity: &str,
    issuer: &str,
    extra: &[&str],
) -> std::process::Output {
    let (blob, bundle, root) = (
        path_str(blob),
        path_str(bundle),
        path_str(&stack.trusted_root),
    );
    let mut args = vec![
        "verify-blob",
        &blob,
        "--bundle",
        &bundle,
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
        "--trusted-root",
        &root,
    ];
    args.extend_from_slice(extra);
    stack.hallmark(&args)
}

/// A blob signed keyless by cosign through Fulcio, Rekor v2 and the TSA verifies with
/// hallmark for its signer and issuer, and only for them, and only for the blob signed.
#[test]
fn cosign_keyless_blobs_verify_against_the_stack() {
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release, as built").unwrap();
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let bundle = cosign_sign_blob(&stack, &token, &blob);

    let o = verify_blob(
        &stack,
        &blob,
        &bundle,
        SIGNER,
        &stack.issuer,
        &["--output", "json"],
    );
    expect_code(&o, 0);
    let report = json_out(&o);
    assert_eq!(report["verified"], true, "{report}");
    // Rekor v2's entry (the first of a fresh log, which omits its zero index), proved by
    // its inclusion proof and checkpoint; the time is the TSA's, Rekor v2 giving none.
    let tlog = &report["tlog"][0];
    assert_eq!(tlog["kind"], "hashedrekord 0.0.2", "{report}");
    assert_eq!(tlog["log"], "http://127.0.0.1:18082", "{report}");
    assert_eq!(
        tlog["proofs"],
        serde_json::json!(["inclusion proof", "signed checkpoint"]),
        "{report}"
    );
    assert_eq!(
        report["times"][0]["source"], "timestamp authority Test TSA Root",
        "{report}"
    );
    assert!(
        report["checks"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("1 signed certificate timestamp(s)")),
        "{report}"
    );
    assert_eq!(report["identity"]["subject"], SIGNER, "{report}");
    assert_eq!(report["identity"]["issuer"], stack.issuer, "{report}");
    let err = stderr(&verify_blob(
        &stack,
        &blob,
        &bundle,
        SIGNER,
        &stack.issuer,
        &[],
    ));
    assert!(err.contains("logged: http://127.0.0.1:18082"), "{err}");

    // Someone else, or the same name from another issuer.
    let o = verify_blob(
        &stack,
        &blob,
        &bundle,
        "bob@example.com",
        &stack.issuer,
        &[],
    );
    expect_code(&o, 1);
    assert!(stderr(&o).contains(SIGNER), "{}", stderr(&o));
    let o = verify_blob(&stack, &blob, &bundle, SIGNER, SigStack::GITHUB_ISSUER, &[]);
    expect_code(&o, 1);

    // One byte changed after signing.
    let tampered = work.path().join("tampered.tar");
    std::fs::write(&tampered, b"the release, as built!").unwrap();
    let o = verify_blob(&stack, &tampered, &bundle, SIGNER, &stack.issuer, &[]);
    expect_code(&o, 1);

    // The production root knows neither this Fulcio nor this log.
    let (b, bl) = (path_str(&blob), path_str(&bundle));
    let o = stack.hallmark(&[
        "verify-blob",
        &b,
        "--bundle",
        &bl,
        "--certificate-identity",
        SIGNER,
        "--certificate-oidc-issuer",
        &stack.issuer,
    ]);
    expect_code(&o, 1);

    // A GitHub Actions identity: the certificate carries the workflow's claims.
    let gh = stack.token(
        SigStack::GITHUB_ISSUER,
        "repo:hallmark/test:ref:refs/heads/main",
        &github_claims(),
    );
    let blob_gh = work.path().join("release-gh.tar");
    std::fs::write(&blob_gh, b"the release, built by the workflow").unwrap();
    let bundle_gh = cosign_sign_blob(&stack, &gh, &blob_gh);
    let identity = format!("https://github.com/{GITHUB_WORKFLOW}");
    let o = verify_blob(
        &stack,
        &blob_gh,
        &bundle_gh,
        &identity,
        SigStack::GITHUB_ISSUER,
        &[
            "--certificate-github-workflow-repository",
            GITHUB_REPOSITORY,
            "--output",
            "json",
        ],
    );
    expect_code(&o, 0);
    let report = json_out(&o);
    assert_eq!(
        report["identity"]["claims"]["github_workflow_repository"], GITHUB_REPOSITORY,
        "{report}"
    );
    let o = verify_blob(
        &stack,
        &blob_gh,
        &bundle_gh,
        &identity,
        SigStack::GITHUB_ISSUER,
        &["--certificate-github-workflow-repository", "hallmark/other"],
    );
    expect_code(&o, 1);
}

/// An image signed keyless by `cosign sign` (a bundle found through the `sha256-<hex>` tag,
/// the registry having no referrers API) verifies with hallmark for its signer only, and
/// that signature moved onto another image does not make that image verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign_keyless_images_verify_against_the_stack() {
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let layout_dir = work.path().join("layout");
    let layout = Layout::create(&layout_dir).unwrap();
    let mut digests = Vec::new();
    for tag in ["v1", "v2"] {
        let img = Image::random(tag, 2048).unwrap();
        img.push(&Store::Layout(layout.clone()), Some(tag))
            .await
            .unwrap();
        let o = stack
            .command(std::process::Command::new(skopeo()).args([
                "copy",
                "--quiet",
                "--preserve-digests",
                "--dest-tls-verify=false",
                &format!("oci:{}:{tag}", layout_dir.display()),
                &format!("docker://{}/app:{tag}", stack.registry),
            ]))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        digests.push(img.digest().to_string());
    }
    let pinned = format!("{}/app@{}", stack.registry, digests[0]);
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let o = stack.cosign(&[
        "sign",
        "--identity-token",
        &path_str(&token),
        "--signing-config",
        &path_str(&stack.signing_config),
        "--trusted-root",
        &path_str(&stack.trusted_root),
        &pinned,
    ]);
    assert!(
        o.status.success(),
        "cosign sign: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    let root = path_str(&stack.trusted_root);
    let verify = |reference: &str, identity: &str| {
        stack.hallmark(&[
            "verify",
            reference,
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &stack.issuer,
            "--trusted-root",
            &root,
        ])
    };
    let o = verify(&format!("{}/app:v1", stack.registry), SIGNER);
    expect_code(&o, 0);
    assert_eq!(stdout(&o).trim(), pinned);
    assert!(stderr(&o).contains(SIGNER), "{}", stderr(&o));

    let o = verify(&pinned, "bob@example.com");
    expect_code(&o, 1);

    // The bundle index under v1's fallback tag, put under v2's: a signature for v1 is no
    // signature for v2.
    let tag_of = |d: &str| d.replace(':', "-");
    let base = format!("http://{}/v2/app/manifests", stack.registry);
    let index_type = "application/vnd.oci.image.index.v1+json";
    let index = work.path().join("index.json");
    let curl = |args: &[&str]| {
        let o = stack
            .command(std::process::Command::new("curl").args(args))
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "curl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    curl(&[
        "-sf",
        "-H",
        &format!("Accept: {index_type}"),
        "-o",
        &path_str(&index),
        &format!("{base}/{}", tag_of(&digests[0])),
    ]);
    curl(&[
        "-sf",
        "-X",
        "PUT",
        "-H",
        &format!("Content-Type: {index_type}"),
        "--data-binary",
        &format!("@{}", path_str(&index)),
        &format!("{base}/{}", tag_of(&digests[1])),
    ]);
    let o = verify(&format!("{}/app@{}", stack.registry, digests[1]), SIGNER);
    expect_code(&o, 1);
}

/// `hallmark sign-blob` keyless against the stack; the command's output.
fn hallmark_sign_blob(
    stack: &SigStack,
    token: &str,
    blob: &Path,
    bundle: &Path,
) -> std::process::Output {
    stack.hallmark(&[
        "sign-blob",
        &path_str(blob),
        "--bundle",
        &path_str(bundle),
        "--identity-token",
        token,
        "--signing-config",
        &path_str(&stack.signing_config),
        "--trusted-root",
        &path_str(&stack.trusted_root),
    ])
}

/// A blob signed keyless by hallmark through Fulcio, Rekor v2 and the TSA verifies with
/// hallmark and with the real cosign for its signer and issuer, and only for them; a token
/// that is expired or for another audience is refused before any request.
#[test]
fn hallmark_signs_blobs_keyless_against_the_stack() {
    let mut stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release, signed by hallmark").unwrap();
    let bundle = work.path().join("release.tar.sigstore.json");
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let jwt = std::fs::read_to_string(&token).unwrap();

    let o = hallmark_sign_blob(&stack, &format!("@{}", path_str(&token)), &blob, &bundle);
    expect_code(&o, 0);
    let out = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!out.contains(jwt.trim()), "the token was printed: {out}");
    assert!(stderr(&o).contains(SIGNER), "{}", stderr(&o));
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&bundle).unwrap()).unwrap();
    assert_eq!(
        written["mediaType"], "application/vnd.dev.sigstore.bundle.v0.3+json",
        "{written}"
    );
    assert_eq!(
        written["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["version"], "0.0.2",
        "{written}"
    );

    // hallmark verifies it: the log entry, the timestamp, the SCT, the identity.
    let o = verify_blob(
        &stack,
        &blob,
        &bundle,
        SIGNER,
        &stack.issuer,
        &["--output", "json"],
    );
    expect_code(&o, 0);
    let report = json_out(&o);
    assert_eq!(report["identity"]["subject"], SIGNER, "{report}");
    assert_eq!(report["tlog"][0]["kind"], "hashedrekord 0.0.2", "{report}");
    assert_eq!(
        report["times"][0]["source"], "timestamp authority Test TSA Root",
        "{report}"
    );
    let o = verify_blob(
        &stack,
        &blob,
        &bundle,
        "bob@example.com",
        &stack.issuer,
        &[],
    );
    expect_code(&o, 1);

    // So does the real cosign, with its default checks (tlog, SCT, timestamp) on.
    let cosign_verify = |identity: &str| {
        stack.cosign(&[
            "verify-blob",
            "--bundle",
            &path_str(&bundle),
            "--trusted-root",
            &path_str(&stack.trusted_root),
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &stack.issuer,
            &path_str(&blob),
        ])
    };
    let o = cosign_verify(SIGNER);
    assert!(
        o.status.success(),
        "cosign verify-blob: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = cosign_verify("bob@example.com");
    assert!(!o.status.success(), "cosign accepted another identity");

    // The token given by value works the same way.
    let bundle2 = work.path().join("again.sigstore.json");
    let o = hallmark_sign_blob(&stack, jwt.trim(), &blob, &bundle2);
    expect_code(&o, 0);

    // A GitHub Actions identity (no email: the proof of possession is over `sub`): the
    // certificate carries the workflow's claims, which verification checks.
    let gh = stack.token(
        SigStack::GITHUB_ISSUER,
        "repo:hallmark/test:ref:refs/heads/main",
        &github_claims(),
    );
    let bundle_gh = work.path().join("gh.sigstore.json");
    let o = hallmark_sign_blob(&stack, &path_str(&gh), &blob, &bundle_gh);
    expect_code(&o, 0);
    let identity = format!("https://github.com/{GITHUB_WORKFLOW}");
    let o = verify_blob(
        &stack,
        &blob,
        &bundle_gh,
        &identity,
        SigStack::GITHUB_ISSUER,
        &[
            "--certificate-github-workflow-repository",
            GITHUB_REPOSITORY,
        ],
    );
    expect_code(&o, 0);
    let o = verify_blob(
        &stack,
        &blob,
        &bundle_gh,
        &identity,
        SigStack::GITHUB_ISSUER,
        &["--certificate-github-workflow-repository", "hallmark/other"],
    );
    expect_code(&o, 1);

    // Refused before any request: an expired token, a token for another audience. The
    // stack's issuer signs both validly; only their claims are wrong. Every service is a
    // stand-in that records what it is sent; a good token reaches it, so its silence for
    // the bad ones is the refusal's doing.
    let stand_in = "http://127.0.0.1:18095";
    crate::keyless_guard::misbehave(&mut stack, "counting", 18095, work.path());
    let out = work.path().join("refused.sigstore.json");
    let sign_through_stand_in = |token: &Path| {
        let mut c = hallmark();
        c.args(["sign-blob", &path_str(&blob), "--bundle", &path_str(&out)])
            .args(["--identity-token", &format!("@{}", path_str(token))])
            .args(["--fulcio-url", &format!("{stand_in}/fulcio")])
            .args(["--rekor-url", &format!("{stand_in}/rekor")])
            .args(["--timestamp-server-url", &format!("{stand_in}/tsa")])
            .args(["--trusted-root", &path_str(&stack.trusted_root)]);
        stack.command(&c).output().unwrap()
    };
    expect_code(&sign_through_stand_in(&token), 3);
    assert!(
        !crate::keyless_guard::hits(work.path(), 18095).is_empty(),
        "the stand-in recorded nothing"
    );
    std::fs::remove_file(work.path().join("hits-18095")).unwrap();
    for claims in [r#"{"exp": 1000}"#, r#"{"aud": "api"}"#] {
        let bad = stack.token(&stack.issuer, SIGNER, claims);
        let o = sign_through_stand_in(&bad);
        expect_code(&o, 2);
        assert!(!out.exists(), "a bundle was written for {claims}");
        let err = stderr(&o);
        assert!(
            err.contains("expired") || err.contains("audience"),
            "{claims}: {err}"
        );
        assert_eq!(
            crate::keyless_guard::hits(work.path(), 18095),
            Vec::<String>::new(),
            "{claims}: a request was sent"
        );
    }
}

/// Each service down, answering garbage, or certifying under a root hallmark was not given:
/// exit 3 with the service named, and no bundle written. The services named by URL (not by
/// the signing config) and the token read from the environment.
#[test]
fn keyless_signing_refuses_services_that_fail_or_do_not_verify() {
    const FULCIO: &str = "http://127.0.0.1:18081";
    const REKOR: &str = "http://127.0.0.1:18082";
    const TSA: &str = "http://127.0.0.1:18083/api/v1/timestamp";
    const CLOSED: &str = "http://127.0.0.1:9";
    let mut stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release").unwrap();
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let jwt = std::fs::read_to_string(&token).unwrap();
    let bundle = work.path().join("out.sigstore.json");
    let sign = |fulcio: &str, rekor: &str, tsa: &str, root: Option<&Path>| {
        let mut c = hallmark();
        c.args([
            "sign-blob",
            &path_str(&blob),
            "--bundle",
            &path_str(&bundle),
        ])
        .args(["--identity-token", "env://SIGSTORE_ID_TOKEN"])
        .args(["--fulcio-url", fulcio, "--rekor-url", rekor])
        .args(["--timestamp-server-url", tsa])
        .env("SIGSTORE_ID_TOKEN", jwt.trim())
        .env_remove("HALLMARK_TRUSTED_ROOT");
        if let Some(root) = root {
            c.args(["--trusted-root", &path_str(root)]);
        }
        stack.command(&c).output().unwrap()
    };
    let root = Some(stack.trusted_root.as_path());

    // The flags work: the same services as the signing config names.
    let o = sign(FULCIO, REKOR, TSA, root);
    expect_code(&o, 0);
    std::fs::remove_file(&bundle).unwrap();

    let cases: [(&str, &str, &str, Option<&Path>, &str); 5] = [
        (CLOSED, REKOR, TSA, root, "Fulcio"),
        (FULCIO, REKOR, CLOSED, root, "timestamp authority"),
        (FULCIO, CLOSED, TSA, root, "Rekor"),
        // A timestamp authority answering what is not a timestamp (Rekor's 404).
        (
            FULCIO,
            REKOR,
            "http://127.0.0.1:18082/api/v1/timestamp",
            root,
            "timestamp authority",
        ),
        // The built-in production root does not know this Fulcio: its chain does not
        // verify, so nothing is signed with the key it certified.
        (FULCIO, REKOR, TSA, None, "Fulcio's answer does not verify"),
    ];
    for (fulcio, rekor, tsa, root, named) in cases {
        let o = sign(fulcio, rekor, tsa, root);
        expect_code(&o, 3);
        let err = stderr(&o);
        assert!(err.contains(named), "{fulcio} {rekor} {tsa}: {err}");
        assert!(!err.contains(jwt.trim()), "the token was printed: {err}");
        assert!(!bundle.exists(), "a bundle was written: {err}");
    }

    // The signing config's timestamp authority stopped: the same refusal, the same service.
    stack.stop("tsa");
    let mut c = hallmark();
    c.args([
        "sign-blob",
        &path_str(&blob),
        "--bundle",
        &path_str(&bundle),
    ])
    .args(["--identity-token", &format!("@{}", path_str(&token))])
    .args(["--signing-config", &path_str(&stack.signing_config)])
    .args(["--trusted-root", &path_str(&stack.trusted_root)]);
    let o = stack.command(&c).output().unwrap();
    expect_code(&o, 3);
    assert!(stderr(&o).contains("timestamp authority"), "{}", stderr(&o));
    assert!(!bundle.exists(), "a bundle was written");
    assert!(stack.dir().join("tsa.log").exists());
}

/// Without `--identity-token`, the CI system's token: `SIGSTORE_ID_TOKEN` (GitLab's way), or
/// GitHub Actions' token endpoint; with neither, and no `--key`, a usage error.
#[test]
fn keyless_signing_takes_the_ci_systems_token() {
    let mut stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release, built in CI").unwrap();
    let jwt = std::fs::read_to_string(stack.token(&stack.issuer, SIGNER, "{}")).unwrap();
    // GitHub Actions' endpoint answers {"value": TOKEN}; a static file stands in for it,
    // served by the stack so that it stops with it.
    let served = work.path().join("served");
    std::fs::create_dir(&served).unwrap();
    std::fs::write(
        served.join("token"),
        serde_json::json!({ "value": jwt.trim() }).to_string(),
    )
    .unwrap();
    let url = "http://127.0.0.1:18099/token?api-version=2.0";
    let args = [
        "-m",
        "http.server",
        "18099",
        "--bind",
        "127.0.0.1",
        "--directory",
    ]
    .map(String::from)
    .into_iter()
    .chain([path_str(&served)])
    .collect::<Vec<_>>();
    stack.spawn("token-endpoint", Path::new(python()), &args);
    stack.wait_ready("token-endpoint", url);
    let sign = |bundle: &Path, env: &[(&str, &str)]| {
        let mut c = hallmark();
        c.args(["sign-blob", &path_str(&blob), "--bundle", &path_str(bundle)])
            .args(["--signing-config", &path_str(&stack.signing_config)])
            .args(["--trusted-root", &path_str(&stack.trusted_root)])
            .env_remove("SIGSTORE_ID_TOKEN")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_URL")
            .env_remove("ACTIONS_ID_TOKEN_REQUEST_TOKEN");
        for (k, v) in env {
            c.env(k, v);
        }
        stack.command(&c).output().unwrap()
    };
    let verified = |bundle: &Path| {
        let o = verify_blob(&stack, &blob, bundle, SIGNER, &stack.issuer, &[]);
        expect_code(&o, 0);
    };

    let gitlab = work.path().join("gitlab.sigstore.json");
    let o = sign(&gitlab, &[("SIGSTORE_ID_TOKEN", jwt.trim())]);
    expect_code(&o, 0);
    verified(&gitlab);

    let actions = work.path().join("actions.sigstore.json");
    let o = sign(
        &actions,
        &[
            ("ACTIONS_ID_TOKEN_REQUEST_URL", url),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "request-token"),
        ],
    );
    expect_code(&o, 0);
    verified(&actions);

    let none = work.path().join("none.sigstore.json");
    let o = sign(&none, &[]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--identity-token"), "{}", stderr(&o));
    assert!(!none.exists());
}

/// A key-based signature with `--tlog-upload`: timestamped and logged in Rekor v2, so that
/// the real cosign verifies it with the key and the stack's root **without**
/// `--insecure-ignore-tlog`, and hallmark reports the entry; the same key's unlogged bundle
/// needs that flag.
#[test]
fn key_signatures_are_logged_with_tlog_upload() {
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let keys = keys("ecdsa-p256");
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release, signed by key").unwrap();
    let bundle = work.path().join("keyed.sigstore.json");
    let mut c = hallmark();
    c.args(["sign-blob", &path_str(&blob), "--key", &keys.private])
        .args(["--bundle", &path_str(&bundle), "--tlog-upload"])
        .args(["--signing-config", &path_str(&stack.signing_config)])
        .args(["--trusted-root", &path_str(&stack.trusted_root)])
        .env("HALLMARK_PASSWORD", PASSWORD);
    let o = stack.command(&c).output().unwrap();
    expect_code(&o, 0);

    let cosign = |file: &Path| {
        stack.cosign(&[
            "verify-blob",
            "--key",
            &keys.public,
            "--bundle",
            &path_str(&bundle),
            "--trusted-root",
            &path_str(&stack.trusted_root),
            &path_str(file),
        ])
    };
    let o = cosign(&blob);
    assert!(
        o.status.success(),
        "cosign verify-blob: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let other = work.path().join("other.tar");
    std::fs::write(&other, b"another release").unwrap();
    assert!(!cosign(&other).status.success());

    let (b, bl, root) = (
        path_str(&blob),
        path_str(&bundle),
        path_str(&stack.trusted_root),
    );
    let o = stack.hallmark(&[
        "verify-blob",
        &b,
        "--bundle",
        &bl,
        "--key",
        &keys.public,
        "--trusted-root",
        &root,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let report = json_out(&o);
    assert_eq!(report["tlog"][0]["kind"], "hashedrekord 0.0.2", "{report}");

    // Without the flag, nothing is sent: the bundle carries no entry.
    let plain = work.path().join("plain.sigstore.json");
    let mut c = hallmark();
    c.args(["sign-blob", &path_str(&blob), "--key", &keys.private])
        .args(["--bundle", &path_str(&plain)])
        .env("HALLMARK_PASSWORD", PASSWORD);
    expect_code(&stack.command(&c).output().unwrap(), 0);
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&plain).unwrap()).unwrap();
    assert!(
        written["verificationMaterial"]["tlogEntries"].is_null(),
        "{written}"
    );
    // The negative control: cosign's default checks refuse the unlogged bundle, and accept
    // it once told to skip the log, so the entry is what made the logged one pass.
    let pl = path_str(&plain);
    let cosign_plain = |ignore_tlog: bool| {
        let mut args = vec![
            "verify-blob",
            "--key",
            &keys.public,
            "--bundle",
            &pl,
            "--trusted-root",
            &root,
            &b,
        ];
        if ignore_tlog {
            args.push("--insecure-ignore-tlog");
        }
        stack.cosign(&args)
    };
    assert!(
        !cosign_plain(false).status.success(),
        "cosign verified a bundle with no log entry"
    );
    let o = cosign_plain(true);
    assert!(
        o.status.success(),
        "cosign verify-blob --insecure-ignore-tlog: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A service that replays a genuine answer made for another signature (a log entry, a
/// timestamp, each signed by the stack's own log and authority): hallmark verifies what it
/// is given against what it signed, refuses (exit 3, the service named), and writes nothing.
#[test]
fn keyless_signing_refuses_replayed_answers() {
    let mut stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release").unwrap();
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let earlier = work.path().join("earlier.sigstore.json");
    expect_code(
        &hallmark_sign_blob(&stack, &format!("@{}", path_str(&token)), &blob, &earlier),
        0,
    );
    let earlier: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&earlier).unwrap()).unwrap();
    let material = &earlier["verificationMaterial"];
    let entry = material["tlogEntries"][0].to_string();
    let stamp = {
        use base64ct::{Base64, Encoding};
        Base64::decode_vec(
            material["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"]
                .as_str()
                .unwrap(),
        )
        .unwrap()
    };

    // One stand-in server: every POST answered with the file named by the first path segment.
    let answers = work.path().join("answers");
    std::fs::create_dir(&answers).unwrap();
    std::fs::write(answers.join("rekor"), entry).unwrap();
    std::fs::write(answers.join("tsa"), stamp).unwrap();
    // (A raw string: a `\` line continuation would strip Python's indentation.)
    let script = r#"import http.server, sys, os
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', '0')))
        body = open(os.path.join(sys.argv[1], self.path.split('/')[1]), 'rb').read()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        self.send_response(200)
        self.send_header('Content-Length', '0')
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', 18098), H).serve_forever()
"#;
    stack.spawn(
        "replayer",
        Path::new(python()),
        &["-c".into(), script.into(), path_str(&answers)],
    );
    stack.wait_ready("replayer", "http://127.0.0.1:18098/");

    let bundle = work.path().join("out.sigstore.json");
    let sign = |rekor: &str, tsa: &str| {
        let mut c = hallmark();
        c.args([
            "sign-blob",
            &path_str(&blob),
            "--bundle",
            &path_str(&bundle),
        ])
        .args(["--identity-token", &format!("@{}", path_str(&token))])
        .args(["--fulcio-url", "http://127.0.0.1:18081"])
        .args(["--rekor-url", rekor, "--timestamp-server-url", tsa])
        .args(["--trusted-root", &path_str(&stack.trusted_root)]);
        stack.command(&c).output().unwrap()
    };
    let results = [
        (
            sign("http://127.0.0.1:18082", "http://127.0.0.1:18098/tsa"),
            "timestamp authority's answer does not verify",
        ),
        (
            sign(
                "http://127.0.0.1:18098/rekor",
                "http://127.0.0.1:18083/api/v1/timestamp",
            ),
            "Rekor's answer does not verify",
        ),
    ];
    for (o, said) in results {
        expect_code(&o, 3);
        assert!(stderr(&o).contains(said), "{}", stderr(&o));
        assert!(!bundle.exists(), "a bundle was written");
    }
}
