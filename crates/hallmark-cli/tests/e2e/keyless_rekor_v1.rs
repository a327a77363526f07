//! Signatures logged in a real Rekor v1 (the REST API, over Trillian and PostgreSQL) by
//! hallmark: keyless and key-based (`--tlog-upload`) blobs, verified by the real cosign with
//! its default checks and by hallmark; and a Rekor v1 that lies, refused before anything is
//! written. The stack is `SigStack::start_with_rekor_v1` (`harness/rekor_v1.rs`).

use std::path::Path;
use std::time::Instant;

use crate::harness::*;

const SIGNER: &str = "alice@example.com";
/// A stand-in Rekor v1 in the stack's namespace.
const STAND_IN_PORT: u16 = 18099;
const STAND_IN: &str = "http://127.0.0.1:18099";

/// Starts the stack with Rekor v1, saying how long it took (the test log is where the
/// stack's cost is seen).
fn stack() -> SigStack {
    let started = Instant::now();
    let stack = SigStack::start_with_rekor_v1();
    eprintln!("stack with Rekor v1 up in {:?}", started.elapsed());
    stack
}

/// hallmark signs a blob keyless through Fulcio and Rekor v1 (no timestamp authority: the
/// SET dates the signature), and with a key and `--tlog-upload`; the real cosign verifies
/// both with its default checks (for the key, without `--insecure-ignore-tlog`), and so
/// does hallmark, each only for the signer and the blob signed.
#[test]
fn hallmark_logs_blob_signatures_in_rekor_v1() {
    let stack = stack();
    let work = tempfile::tempdir().unwrap();
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release, logged in Rekor v1").unwrap();
    let other = work.path().join("other.tar");
    std::fs::write(&other, b"another release").unwrap();
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let (config, root) = (
        path_str(&stack.signing_config_v1()),
        path_str(&stack.trusted_root),
    );

    // Keyless.
    let bundle = work.path().join("keyless.sigstore.json");
    let o = stack.hallmark(&[
        "sign-blob",
        &path_str(&blob),
        "--bundle",
        &path_str(&bundle),
        "--identity-token",
        &format!("@{}", path_str(&token)),
        "--signing-config",
        &config,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    let written = json_file(&bundle);
    let material = &written["verificationMaterial"];
    let entry = &material["tlogEntries"][0];
    assert_eq!(entry["kindVersion"]["kind"], "hashedrekord", "{written}");
    assert_eq!(entry["kindVersion"]["version"], "0.0.1", "{written}");
    assert!(
        entry["inclusionPromise"]["signedEntryTimestamp"].is_string(),
        "{written}"
    );
    assert!(
        entry["inclusionProof"]["checkpoint"]["envelope"].is_string(),
        "{written}"
    );
    assert!(entry["integratedTime"].is_string(), "{written}");
    assert!(material["timestampVerificationData"].is_null(), "{written}");

    let cosign_keyless = |identity: &str, file: &Path| {
        stack.cosign(&[
            "verify-blob",
            "--bundle",
            &path_str(&bundle),
            "--trusted-root",
            &root,
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &stack.issuer,
            &path_str(file),
        ])
    };
    let o = cosign_keyless(SIGNER, &blob);
    assert!(
        o.status.success(),
        "cosign verify-blob: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!cosign_keyless("bob@example.com", &blob).status.success());
    assert!(!cosign_keyless(SIGNER, &other).status.success());

    let hallmark_keyless = |identity: &str, file: &Path| {
        stack.hallmark(&[
            "verify-blob",
            &path_str(file),
            "--bundle",
            &path_str(&bundle),
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &stack.issuer,
            "--trusted-root",
            &root,
            "--output",
            "json",
        ])
    };
    let o = hallmark_keyless(SIGNER, &blob);
    expect_code(&o, 0);
    let report = json_out(&o);
    assert_eq!(report["tlog"][0]["kind"], "hashedrekord 0.0.1", "{report}");
    assert_eq!(report["tlog"][0]["log"], stack.rekor_v1_url(), "{report}");
    expect_code(&hallmark_keyless("bob@example.com", &blob), 1);
    expect_code(&hallmark_keyless(SIGNER, &other), 1);

    // Named by URL, with a timestamp authority: used as well, as cosign does.
    let stamped = work.path().join("stamped.sigstore.json");
    let mut c = hallmark();
    c.args([
        "sign-blob",
        &path_str(&blob),
        "--bundle",
        &path_str(&stamped),
    ])
    .args(["--identity-token", &format!("@{}", path_str(&token))])
    .args(["--fulcio-url", "http://127.0.0.1:18081"])
    .args(["--rekor-url", &stack.rekor_v1_url(), "--rekor-version", "1"])
    .args([
        "--timestamp-server-url",
        "http://127.0.0.1:18083/api/v1/timestamp",
    ])
    .args(["--trusted-root", &root]);
    expect_code(&stack.command(&c).output().unwrap(), 0);
    let written = json_file(&stamped);
    let material = &written["verificationMaterial"];
    assert_eq!(
        material["tlogEntries"][0]["kindVersion"]["version"], "0.0.1",
        "{written}"
    );
    assert!(
        material["timestampVerificationData"]["rfc3161Timestamps"][0]["signedTimestamp"]
            .is_string(),
        "{written}"
    );
    let o = stack.cosign(&[
        "verify-blob",
        "--bundle",
        &path_str(&stamped),
        "--trusted-root",
        &root,
        "--certificate-identity",
        SIGNER,
        "--certificate-oidc-issuer",
        &stack.issuer,
        &path_str(&blob),
    ]);
    assert!(
        o.status.success(),
        "cosign verify-blob: {}",
        String::from_utf8_lossy(&o.stderr)
    );

    // Key-based, logged with --tlog-upload.
    let keys = keys("ecdsa-p256");
    let keyed = work.path().join("keyed.sigstore.json");
    let mut c = hallmark();
    c.args(["sign-blob", &path_str(&blob), "--key", &keys.private])
        .args(["--bundle", &path_str(&keyed), "--tlog-upload"])
        .args(["--signing-config", &config, "--trusted-root", &root])
        .env("HALLMARK_PASSWORD", PASSWORD);
    expect_code(&stack.command(&c).output().unwrap(), 0);
    let written = json_file(&keyed);
    assert_eq!(
        written["verificationMaterial"]["tlogEntries"][0]["kindVersion"]["version"], "0.0.1",
        "{written}"
    );
    let cosign_key = |file: &Path| {
        stack.cosign(&[
            "verify-blob",
            "--key",
            &keys.public,
            "--bundle",
            &path_str(&keyed),
            "--trusted-root",
            &root,
            &path_str(file),
        ])
    };
    let o = cosign_key(&blob);
    assert!(
        o.status.success(),
        "cosign verify-blob --key: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!cosign_key(&other).status.success());
    let o = stack.hallmark(&[
        "verify-blob",
        &path_str(&blob),
        "--bundle",
        &path_str(&keyed),
        "--key",
        &keys.public,
        "--trusted-root",
        &root,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["tlog"][0]["kind"], "hashedrekord 0.0.1");
}

/// A Rekor v1 that answers with a genuine entry of its log, signed by it, but made for
/// another signature, or with garbage: hallmark checks the answer against what it signed,
/// refuses (exit 3, Rekor named) and writes nothing, keyless and with a key alike.
#[test]
fn a_lying_rekor_v1_is_refused_and_nothing_is_written() {
    let mut stack = stack();
    let work = tempfile::tempdir().unwrap();
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release").unwrap();
    let token = format!("@{}", path_str(&stack.token(&stack.issuer, SIGNER, "{}")));
    let root = path_str(&stack.trusted_root);

    // A genuine entry: an earlier signature of another blob, read back from the log in the
    // very form a POST is answered with.
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
    let mut curl = std::process::Command::new("curl");
    curl.args([
        "-sf",
        &format!("{}/api/v1/log/entries?logIndex=0", stack.rekor_v1_url()),
    ]);
    let genuine = stack.command(&curl).output().unwrap();
    assert!(genuine.status.success());
    let answer = work.path().join("answer.json");

    // Every POST answered 201 with the file's bytes as they are at that moment.
    std::fs::write(&answer, &genuine.stdout).unwrap();
    assert_eq!(stack.replaying(STAND_IN_PORT, &answer), STAND_IN);

    let keys = keys("ecdsa-p256");
    let bundle = work.path().join("out.sigstore.json");
    let keyless = || {
        let mut c = hallmark();
        c.args([
            "sign-blob",
            &path_str(&blob),
            "--bundle",
            &path_str(&bundle),
        ])
        .args(["--identity-token", &token])
        .args(["--fulcio-url", "http://127.0.0.1:18081"])
        .args(["--rekor-url", STAND_IN, "--rekor-version", "1"])
        .args(["--trusted-root", &root]);
        stack.command(&c).output().unwrap()
    };
    let keyed = || {
        let mut c = hallmark();
        c.args(["sign-blob", &path_str(&blob), "--key", &keys.private])
            .args(["--bundle", &path_str(&bundle), "--tlog-upload"])
            .args(["--fulcio-url", "http://127.0.0.1:18081"])
            .args(["--rekor-url", STAND_IN, "--rekor-version", "1"])
            .args(["--trusted-root", &root])
            .env("HALLMARK_PASSWORD", PASSWORD);
        stack.command(&c).output().unwrap()
    };
    for (lie, said) in [
        (&genuine.stdout[..], "Rekor's answer does not verify"),
        (&b"<html>busy</html>"[..], "Rekor answered garbage"),
    ] {
        std::fs::write(&answer, lie).unwrap();
        for o in [keyless(), keyed()] {
            expect_code(&o, 3);
            assert!(stderr(&o).contains(said), "{}", stderr(&o));
            assert!(!bundle.exists(), "a bundle was written");
        }
    }

    // The same flags against the real Rekor v1 sign: the refusals were the answers'.
    let mut c = hallmark();
    c.args([
        "sign-blob",
        &path_str(&blob),
        "--bundle",
        &path_str(&bundle),
    ])
    .args(["--identity-token", &token])
    .args(["--fulcio-url", "http://127.0.0.1:18081"])
    .args(["--rekor-url", &stack.rekor_v1_url(), "--rekor-version", "1"])
    .args(["--trusted-root", &root]);
    expect_code(&stack.command(&c).output().unwrap(), 0);
    assert!(bundle.exists());
}

/// A DSSE envelope (what attestations carry) logged through the library's Rekor v1 path
/// against the real Rekor v1: a `dsse` 0.0.1 entry, as cosign 3 and sigstore-go upload, whose
/// answer verifies (body, SET, inclusion proof) before it is returned; an envelope whose
/// signature is not over its payload is refused by the log itself.
#[test]
fn envelopes_are_logged_in_rekor_v1_as_dsse() {
    use base64ct::{Base64, Encoding};
    use hallmark::bundle::dsse;
    use hallmark::keyless::{KeylessError, rekor_v1};
    use hallmark::keys::{Algorithm, SigningKey};
    use hallmark::sigstore::tlog::Signed;

    let _ = rustls::crypto::ring::default_provider().install_default();
    let stack = stack();
    let root =
        hallmark::sigstore::root::TrustedRoot::parse(&std::fs::read(&stack.trusted_root).unwrap())
            .unwrap();
    let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
    let pem = key.public_key().to_pem();
    let spki = Base64::decode_vec(
        &pem.lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>(),
    )
    .unwrap();
    let payload_type = "application/vnd.in-toto+json";
    let payload = br#"{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"release.tar","digest":{"sha256":"0000000000000000000000000000000000000000000000000000000000000000"}}],"predicateType":"https://example.com/test","predicate":{}}"#;
    let envelope = |signed: &[u8]| dsse::Envelope {
        payload: Base64::encode_string(payload),
        payload_type: payload_type.into(),
        signatures: vec![dsse::Signature {
            sig: Base64::encode_string(&key.sign(&dsse::pae(payload_type, signed)).unwrap()),
            keyid: String::new(),
        }],
    };
    let good = envelope(payload);
    let forged = envelope(b"another statement");
    let url = stack.rekor_v1_url();
    let log = |e: &dsse::Envelope| {
        stack.in_namespace(|| {
            let client =
                hallmark::net::ServiceClient::new(hallmark::net::ServiceOptions::default())
                    .unwrap();
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(rekor_v1::log_v1(
                    &Signed::Dsse { envelope: e },
                    hallmark::sigstore::tlog::Verifier::Key(&spki),
                    &url,
                    &root,
                    &client,
                    None,
                ))
        })
    };
    let logged = log(&good).unwrap();
    assert_eq!(
        (
            logged.entry.kind_version.kind.as_str(),
            logged.entry.kind_version.version.as_str()
        ),
        ("dsse", "0.0.1")
    );
    assert!(logged.entry.inclusion_promise.is_some());
    let refused = log(&forged).unwrap_err();
    assert!(
        matches!(refused, KeylessError::Status { status: 400, .. }),
        "{refused}"
    );
}

/// `--rekor-version` says which API `--rekor-url` speaks: Rekor v2 (the default) without a
/// timestamp authority could date nothing and is refused before any request (exit 2, the
/// flag to add named), as is a version hallmark does not speak; nothing is written.
#[test]
fn rekor_url_flags_say_the_version_and_v2_needs_a_timestamp_authority() {
    let work = tempfile::tempdir().unwrap();
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release").unwrap();
    let bundle = work.path().join("out.sigstore.json");
    let keys = keys("ecdsa-p256");
    let sign = |extra: &[&str]| {
        hallmark()
            .args(["sign-blob", &path_str(&blob), "--key", &keys.private])
            .args(["--bundle", &path_str(&bundle), "--tlog-upload"])
            .args(["--fulcio-url", "http://127.0.0.1:9"])
            .args(extra)
            .env("HALLMARK_PASSWORD", PASSWORD)
            .output()
            .unwrap()
    };
    let o = sign(&["--rekor-url", "http://127.0.0.1:9"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("--timestamp-server-url"),
        "{}",
        stderr(&o)
    );
    let o = sign(&["--rekor-url", "http://127.0.0.1:9", "--rekor-version", "3"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--rekor-version"), "{}", stderr(&o));
    // The version of a URL not given.
    let o = hallmark()
        .args([
            "sign-blob",
            &path_str(&blob),
            "--bundle",
            &path_str(&bundle),
        ])
        .args(["--signing-config", &path_str(&blob), "--rekor-version", "1"])
        .output()
        .unwrap();
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--rekor-version"), "{}", stderr(&o));
    assert!(!bundle.exists(), "a bundle was written");
}

/// The real Rekor v1 behind the tampering proxy (`interop/lying_service.py`, `rekor1`),
/// which alters the genuine answer made for *this* signature: each lie is caught by the
/// check that exists for it (the SET over the entry's time, index and body; the inclusion
/// proof; the checkpoint's signature; the body against what was signed), keyless and with
/// `--key --tlog-upload` alike: exit 3, Rekor named, nothing written, the token not printed.
/// The proxy's `pass` mode signs, so each refusal is the lie's doing.
#[test]
fn a_rekor_v1_that_alters_its_answer_for_this_signature_is_refused() {
    let mut stack = stack();
    let liar = stack.liar();
    let work = tempfile::tempdir().unwrap();
    let blob = work.path().join("release.tar");
    let bundle = work.path().join("out.sigstore.json");
    let signature = work.path().join("out.sig");
    let root = path_str(&stack.trusted_root);
    let jwt = std::fs::read_to_string(stack.token(&stack.issuer, SIGNER, "{}"))
        .unwrap()
        .trim()
        .to_string();
    let keys = keys("ecdsa-p256");
    // Each run signs another blob: the same key over the same blob signs the same
    // (deterministic ECDSA), and the log takes an entry once.
    let run = |mode: &str, keyed: bool| {
        std::fs::write(&blob, format!("the release, {mode}, keyed {keyed}")).unwrap();
        let mut c = hallmark();
        // Verbose: the token must stay out of the trace lines too.
        c.args(["-vv", "sign-blob", &path_str(&blob)])
            .args(["--bundle", &path_str(&bundle)])
            .args(["--output-signature", &path_str(&signature)])
            .args(["--fulcio-url", "http://127.0.0.1:18081"])
            .args(["--rekor-url", &format!("{liar}/rekor1/{mode}")])
            .args(["--rekor-version", "1", "--trusted-root", &root]);
        if keyed {
            c.args(["--key", &keys.private, "--tlog-upload"])
                .env("HALLMARK_PASSWORD", PASSWORD);
        } else {
            c.args(["--identity-token", "env://SIGSTORE_ID_TOKEN"])
                .env("SIGSTORE_ID_TOKEN", &jwt);
        }
        stack.command(&c).output().unwrap()
    };

    for keyed in [false, true] {
        // Faithful, and the previous answer `body` replays.
        let o = run("pass", keyed);
        expect_code(&o, 0);
        assert!(bundle.exists() && signature.exists(), "{}", stderr(&o));
        std::fs::remove_file(&bundle).unwrap();
        std::fs::remove_file(&signature).unwrap();

        for (mode, said) in [
            (
                "set",
                "signed entry timestamp (inclusionPromise) does not verify",
            ),
            (
                "time",
                "signed entry timestamp (inclusionPromise) does not verify",
            ),
            (
                "index",
                "signed entry timestamp (inclusionPromise) does not verify",
            ),
            ("proof", "inclusion proof does not lead"),
            ("checkpoint", "checkpoint"),
            ("body", "Rekor's answer does not verify"),
        ] {
            let case = format!("{mode}, keyed {keyed}");
            let o = run(mode, keyed);
            let err = stderr(&o);
            assert_eq!(o.status.code(), Some(3), "{case}: {}\n{err}", stdout(&o));
            assert!(err.contains("Rekor"), "{case}: Rekor not named: {err}");
            assert!(
                err.contains(said),
                "{case}: not refused for {said:?}: {err}"
            );
            assert!(!bundle.exists(), "{case}: a bundle was written: {err}");
            assert!(!signature.exists(), "{case}: a signature was written");
            let out = format!("{}{err}", stdout(&o));
            for part in jwt.split('.') {
                assert!(!out.contains(part), "{case}: the token was printed");
            }
        }
    }
}
