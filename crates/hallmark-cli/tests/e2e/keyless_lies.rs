//! Signing-service lies: the real Fulcio, Rekor v2 and timestamp authority of the stack
//! (`harness/sigstack.rs`) behind a tampering proxy (`interop/lying_service.py`) that
//! forwards each genuine request and alters the genuine answer made for *this* signature;
//! and each service stopped. `sign-blob`, keyless and with `--key --tlog-upload`, must refuse
//! every lie with exit 3, name the service, write neither the bundle nor the signature, and
//! never print the identity token.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

const SIGNER: &str = "alice@example.com";
const FULCIO: &str = "http://127.0.0.1:18081";
const REKOR: &str = "http://127.0.0.1:18082";
const TSA: &str = "http://127.0.0.1:18083";
const TSA_PATH: &str = "/api/v1/timestamp";

/// Where a signing run writes, and what it must not print.
struct Run {
    blob: PathBuf,
    bundle: PathBuf,
    signature: PathBuf,
    jwt: String,
}

impl Run {
    fn new(stack: &SigStack, work: &Path) -> Run {
        let blob = work.join("release.tar");
        std::fs::write(&blob, b"the release, signed through a liar").unwrap();
        let token = stack.token(&stack.issuer, SIGNER, "{}");
        Run {
            blob,
            bundle: work.join("out.sigstore.json"),
            signature: work.join("out.sig"),
            jwt: std::fs::read_to_string(token).unwrap().trim().to_string(),
        }
    }

    /// `sign-blob` keyless with the token from the environment, through the given services.
    fn keyless(&self, stack: &SigStack, fulcio: &str, rekor: &str, tsa: &str) -> Output {
        let mut c = hallmark();
        // Verbose: the token must stay out of the trace lines too.
        c.args(["-vv", "sign-blob", &path_str(&self.blob)])
            .args(["--bundle", &path_str(&self.bundle)])
            .args(["--output-signature", &path_str(&self.signature)])
            .args(["--identity-token", "env://SIGSTORE_ID_TOKEN"])
            .args(["--fulcio-url", fulcio, "--rekor-url", rekor])
            .args(["--timestamp-server-url", tsa])
            .args(["--trusted-root", &path_str(&stack.trusted_root)])
            .env("SIGSTORE_ID_TOKEN", &self.jwt);
        stack.command(&c).output().unwrap()
    }

    /// `sign-blob --key --tlog-upload` through the given log and timestamp authority, over
    /// `case` (the proxy forwards every request, and the log takes a signature once: the
    /// same key over the same blob signs the same, deterministic ECDSA).
    fn keyed(&self, stack: &SigStack, key: &str, rekor: &str, tsa: &str, case: &str) -> Output {
        std::fs::write(&self.blob, format!("the release, {case}")).unwrap();
        let mut c = hallmark();
        c.args([
            "-vv",
            "sign-blob",
            &path_str(&self.blob),
            "--key",
            key,
            "--tlog-upload",
        ])
        .args(["--bundle", &path_str(&self.bundle)])
        .args(["--output-signature", &path_str(&self.signature)])
        // The three URLs go together, as a signing config names them; Fulcio is unused.
        .args(["--fulcio-url", FULCIO, "--rekor-url", rekor])
        .args(["--timestamp-server-url", tsa])
        .args(["--trusted-root", &path_str(&stack.trusted_root)])
        .env("HALLMARK_PASSWORD", PASSWORD);
        stack.command(&c).output().unwrap()
    }

    /// A success through the proxy's `pass` mode: the proxy itself is faithful, so each
    /// refusal below is the lie's doing. The outputs are removed for the next case.
    #[track_caller]
    fn succeeded(&self, o: &Output, case: &str) {
        assert_eq!(
            o.status.code(),
            Some(0),
            "{case}: {}\n{}",
            stdout(o),
            stderr(o)
        );
        assert!(self.bundle.exists(), "{case}: no bundle");
        assert!(self.signature.exists(), "{case}: no signature file");
        std::fs::remove_file(&self.bundle).unwrap();
        std::fs::remove_file(&self.signature).unwrap();
    }

    /// Exit 3, `service` named as [`names`] says for `mode`, nothing written, the token
    /// not printed.
    #[track_caller]
    fn refused(&self, o: &Output, service: &str, mode: &str, case: &str) {
        let err = stderr(o);
        assert_eq!(o.status.code(), Some(3), "{case}: {}\n{err}", stdout(o));
        assert!(
            names(&err, service, mode),
            "{case}: {service} not named as {mode} wants: {err}"
        );
        assert!(!self.bundle.exists(), "{case}: a bundle was written: {err}");
        assert!(
            !self.signature.exists(),
            "{case}: a signature was written: {err}"
        );
        let out = format!("{}{err}", stdout(o));
        assert!(!out.contains(&self.jwt), "{case}: the token was printed");
        for part in self.jwt.split('.') {
            assert!(!out.contains(part), "{case}: part of the token was printed");
        }
    }
}

/// Whether `err` blames `service` as a lie in `mode` deserves: an answer that does not
/// verify or cannot be read; the status for an error page; a transport failure for a service
/// stopped, or (`cut`) for an answer that ends before its length.
fn names(err: &str, service: &str, mode: &str) -> bool {
    let lied = err.contains(&format!("{service}'s answer does not verify"))
        || err.contains(&format!("{service} answered garbage"));
    let status = |what: &str| err.contains(&format!("{service} (")) && err.contains(what);
    match mode {
        "html500" => status(") answered 500"),
        "cut" => lied || status(") is unavailable"),
        "stopped" => status(") is unavailable"),
        _ => lied,
    }
}

const ANY: [&str; 5] = ["html500", "garbage", "truncated", "cut", "replay"];
const FULCIO_LIES: [&str; 4] = ["foreign-ca", "no-sct", "unknown-sct", "detached"];
const REKOR_LIES: [&str; 4] = ["proof", "checkpoint", "body", "index"];
const TSA_LIES: [&str; 2] = ["untrusted", "imprint"];

/// Keyless `sign-blob` through the tampering proxy, one service lying at a time: every
/// altered answer (a certificate for another key, from another CA, without an SCT or with
/// one from an unknown log; a flipped proof hash, a forged checkpoint signature, another
/// entry's body, a moved index; a timestamp from an untrusted authority or for another
/// imprint; an error page, garbage, a cut answer) is refused before anything is written.
#[test]
fn keyless_signing_refuses_every_lying_service() {
    let mut stack = SigStack::start();
    let liar = stack.liar();
    let work = tempfile::tempdir().unwrap();
    let run = Run::new(&stack, work.path());
    let tsa = format!("{TSA}{TSA_PATH}");
    let through = |service: &str, mode: &str| format!("{liar}/{service}/{mode}");
    let lying_tsa = |mode: &str| format!("{liar}/tsa/{mode}{TSA_PATH}");

    // Every service through the proxy, unaltered: signed. This also gives each service a
    // genuine earlier answer, which `replay` and Rekor's `body` return for another signature.
    let o = run.keyless(
        &stack,
        &through("fulcio", "pass"),
        &through("rekor", "pass"),
        &lying_tsa("pass"),
    );
    run.succeeded(&o, "all services through the proxy");

    // Fulcio's chain is read for its leaf alone: the trusted root holds the intermediates,
    // so a chain without them still signs, as with cosign.
    let o = run.keyless(&stack, &through("fulcio", "no-intermediate"), REKOR, &tsa);
    run.succeeded(&o, "fulcio no-intermediate");

    for mode in ANY.iter().chain(&FULCIO_LIES) {
        let o = run.keyless(&stack, &through("fulcio", mode), REKOR, &tsa);
        run.refused(&o, "Fulcio", mode, &format!("fulcio {mode}"));
    }
    for mode in ANY.iter().chain(&REKOR_LIES) {
        let o = run.keyless(&stack, FULCIO, &through("rekor", mode), &tsa);
        run.refused(&o, "Rekor", mode, &format!("rekor {mode}"));
    }
    for mode in ANY.iter().chain(&TSA_LIES) {
        let o = run.keyless(&stack, FULCIO, REKOR, &lying_tsa(mode));
        run.refused(&o, "timestamp authority", mode, &format!("tsa {mode}"));
    }
    assert!(stack.log("liar").contains("POST /rekor/index/"));

    // The moved index is refused by verification too: a genuine bundle whose entry claims
    // another index than its proof proves.
    let o = run.keyless(&stack, FULCIO, REKOR, &tsa);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut bundle: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&run.bundle).unwrap()).unwrap();
    let entry = &mut bundle["verificationMaterial"]["tlogEntries"][0];
    let index: i64 = entry["logIndex"].as_str().unwrap_or("0").parse().unwrap();
    entry["logIndex"] = serde_json::json!((index + 1).to_string());
    let moved = work.path().join("moved.sigstore.json");
    std::fs::write(&moved, bundle.to_string()).unwrap();
    let (blob, root) = (path_str(&run.blob), path_str(&stack.trusted_root));
    let verify = |bundle: &Path| {
        stack.hallmark(&[
            "verify-blob",
            &blob,
            "--bundle",
            &path_str(bundle),
            "--certificate-identity",
            SIGNER,
            "--certificate-oidc-issuer",
            &stack.issuer,
            "--trusted-root",
            &root,
        ])
    };
    expect_code(&verify(&run.bundle), 0);
    let o = verify(&moved);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("log index"), "{}", stderr(&o));
}

/// `sign-blob --key --tlog-upload` through the tampering proxy (the log and the timestamp
/// authority lying in turn), then with each service stopped, keyless too: exit 3, the
/// service named, nothing written.
#[test]
fn tlog_upload_refuses_lying_and_stopped_services() {
    let mut stack = SigStack::start();
    let liar = stack.liar();
    let work = tempfile::tempdir().unwrap();
    let run = Run::new(&stack, work.path());
    let keys = keys("ecdsa-p256");
    let tsa = format!("{TSA}{TSA_PATH}");
    let through = |service: &str, mode: &str| format!("{liar}/{service}/{mode}");
    let lying_tsa = |mode: &str| format!("{liar}/tsa/{mode}{TSA_PATH}");

    let case = "--tlog-upload through the proxy";
    let o = run.keyed(
        &stack,
        &keys.private,
        &through("rekor", "pass"),
        &lying_tsa("pass"),
        case,
    );
    run.succeeded(&o, case);

    for mode in ANY.iter().chain(&REKOR_LIES) {
        let case = format!("--tlog-upload rekor {mode}");
        let o = run.keyed(&stack, &keys.private, &through("rekor", mode), &tsa, &case);
        run.refused(&o, "Rekor", mode, &case);
    }
    for mode in ANY.iter().chain(&TSA_LIES) {
        let case = format!("--tlog-upload tsa {mode}");
        let o = run.keyed(&stack, &keys.private, REKOR, &lying_tsa(mode), &case);
        run.refused(&o, "timestamp authority", mode, &case);
    }

    // Stopped one after another: the log (the timestamp authority, asked first, still up),
    // then the timestamp authority, then Fulcio.
    let stopped = |stack: &SigStack, service: &str, keyed: bool| {
        if keyed {
            let case = format!("--tlog-upload, {service} stopped");
            let o = run.keyed(stack, &keys.private, REKOR, &tsa, &case);
            run.refused(&o, service, "stopped", &case);
        }
        let o = run.keyless(stack, FULCIO, REKOR, &tsa);
        run.refused(
            &o,
            service,
            "stopped",
            &format!("keyless, {service} stopped"),
        );
    };
    stack.stop("rekor");
    stopped(&stack, "Rekor", true);
    stack.stop("tsa");
    stopped(&stack, "timestamp authority", true);
    stack.stop("fulcio");
    stopped(&stack, "Fulcio", false);
}
