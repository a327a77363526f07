//! Keyless Sigstore verification against the sigstore-conformance verify cases, driven
//! through the real binary, and the same cases judged by two independent verifiers
//! (sigstore-python and cosign) run offline, whose verdicts hallmark must share.
//!
//! The case data is the project's reference material beside the checkout
//! (`../shared/fixtures/conformance-assets`), read where it lies and never copied into the
//! repository. Each case directory follows the suite's on-disk convention
//! (`bundle-verify/README.md`): `bundle.sigstore.json`; optional `trusted_root.json` (absent:
//! the production root), `artifact` (absent: `../a.txt`), `identity`, `issuer` and `key.pub`;
//! a `_fail` suffix for a bundle that must be refused.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::harness::*;

const CASES: &str = "fixtures/conformance-assets/sigstore-conformance/bundle-verify";

/// The production root hallmark embeds; the peers are given it where a case has no root of
/// its own, so that neither fetches one.
const PRODUCTION_ROOT: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../hallmark/data/trusted_root.json"
);

/// The suite's defaults when a case has no `identity` or `issuer` file (`test/client.py`).
const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Case name → a substring the refusal's stderr must contain. The suite itself checks only
/// the exit code, so a `_fail` case refused for an unrelated reason (the default identity
/// not matching, say) passes it; an entry here pins the reason. Every `_fail` case has one,
/// and every entry names an existing `_fail` case.
const REASONS: &[(&str, &str)] = &[
    (
        "bundle-empty-certificate-chain_fail",
        "certificate chain is empty",
    ),
    (
        "bundle-from-wrong-instance_fail",
        "from a log the trusted root does not list",
    ),
    (
        "bundle-invalid-base64-signature_fail",
        "messageSignature.signature is not base64",
    ),
    ("bundle-malformed-json_fail", "not a Sigstore bundle"),
    ("bundle-negative-log-index_fail", "negative log index"),
    ("bundle-unknown-version_fail", "unknown bundle media type"),
    ("bundle-with-root-cert_fail", "carries a root certificate"),
    (
        "checkpoint-bad-keyhint_fail",
        "carries no signature by the log's key",
    ),
    (
        "checkpoint-wrong-roothash_fail",
        "checkpoint's root hash is not the inclusion proof's",
    ),
    (
        "dsse-invalid-sig_fail",
        "does not verify with the signing certificate's key",
    ),
    (
        "dsse-mismatch-envelope_fail",
        "entry is for another artifact",
    ),
    (
        "dsse-mismatch-sig_fail",
        "holds another signature than the bundle's",
    ),
    (
        "inclusion-proof-corrupted-hash_fail",
        "inclusion proof does not lead",
    ),
    ("incorrect-public-key_fail", "names another signer"),
    (
        "integrated-time-in-future_fail",
        "certificate was not valid at",
    ),
    (
        "intoto-expired-certificate_fail",
        "certificate was not valid at",
    ),
    (
        "intoto-log-entry-mismatch_fail",
        "holds another signature than the bundle's",
    ),
    (
        "intoto-missing-inclusion-proof_fail",
        "has no inclusion proof",
    ),
    (
        "intoto-set-outside-signing-cert-validity_fail",
        "certificate was not valid at",
    ),
    (
        "intoto-tsa-timestamp-outside-cert-validity_fail",
        "(timestamp authority",
    ),
    (
        "invalid-checkpoint-signature_fail",
        "signature on the checkpoint does not verify",
    ),
    ("invalid-ct-key_fail", "certificate transparency"),
    (
        "invalid-inclusion-proof_fail",
        "inclusion proof does not lead",
    ),
    ("managed-key-no-key_fail", "signed by a key"),
    ("managed-key-wrong-key_fail", "is not a PEM file"),
    ("message-digest-mismatch_fail", "for another file"),
    (
        "rekor2-checkpoint-missing-log-signature_fail",
        "carries no signature by the log's key",
    ),
    (
        "rekor2-checkpoint-missing-origin_fail",
        "checkpoint is for origin",
    ),
    (
        "rekor2-checkpoint-missing-root-hash_fail",
        "not a base64 SHA-256 root hash",
    ),
    ("rekor2-checkpoint-missing-size_fail", "not a tree size"),
    (
        "rekor2-checkpoint-no-matching-signature_fail",
        "checkpoint is for origin",
    ),
    (
        "rekor2-dsse-invalid-sig_fail",
        "does not verify with the signing certificate's key",
    ),
    (
        "rekor2-dsse-mismatch-envelope_fail",
        "entry is for another artifact",
    ),
    (
        "rekor2-dsse-mismatch-sig_fail",
        "holds another signature than the bundle's",
    ),
    ("rekor2-no-inclusion-proof_fail", "has no inclusion proof"),
    (
        "rekor2-no-timestamp_fail",
        "no RFC 3161 timestamp that verifies",
    ),
    (
        "rekor2-timestamp-outside-trust-root-tsa-validity_fail",
        "no RFC 3161 timestamp that verifies (",
    ),
    (
        "rekor2-timestamp-outside-tsa-cert-validity_fail",
        "no RFC 3161 timestamp that verifies (",
    ),
    (
        "rekor2-timestamp-payload-mismatch_fail",
        "over another signature",
    ),
    (
        "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        "not signed by a timestamp authority of the trusted root",
    ),
    (
        "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail",
        "not signed by a timestamp authority of the trusted root",
    ),
    (
        "rekor2-timestamp-with-incorrect-time_fail",
        "certificate was not valid at",
    ),
    (
        "set-invalid-signature_fail",
        "signed entry timestamp (inclusionPromise) does not verify",
    ),
    (
        "signature-mismatch_fail",
        "does not verify with the signing certificate's key",
    ),
    (
        "trust-root-tlog-missing-validity-start_fail",
        "every window needs a start",
    ),
    (
        "wrong-hashedrekord-artifact_fail",
        "entry is for another artifact",
    ),
    (
        "wrong-hashedrekord-cert-and-sig_fail",
        "holds another signature than the bundle's",
    ),
    (
        "wrong-hashedrekord-entry_fail",
        "entry is for another artifact",
    ),
    ("wrong-material_fail", "for another file"),
];

/// One verify case of the suite.
struct Case {
    name: String,
    bundle: PathBuf,
    key: Option<PathBuf>,
    identity: String,
    issuer: String,
    trusted_root: Option<PathBuf>,
    artifact: PathBuf,
}

impl Case {
    fn expect_verified(&self) -> bool {
        !self.name.ends_with("_fail")
    }

    /// The root a peer is given: the case's own, or the production root.
    fn root_or_production(&self) -> PathBuf {
        self.trusted_root
            .clone()
            .unwrap_or_else(|| PathBuf::from(PRODUCTION_ROOT))
    }

    fn has_timestamps(&self) -> bool {
        std::fs::read(&self.bundle)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                v.pointer("/verificationMaterial/timestampVerificationData/rfc3161Timestamps")
                    .and_then(|t| t.as_array())
                    .map(|t| !t.is_empty())
            })
            .unwrap_or(false)
    }

    /// The arguments exactly as the suite's `build_verify_args` builds them: bundle, then the
    /// key or the identity pair, then the root when the case has one, then the artifact path
    /// (PATH) or `sha256:<hex>` of its bytes (DIGEST).
    fn protocol_args(&self, mode: Mode) -> Vec<OsString> {
        let mut a: Vec<OsString> = vec!["verify-bundle".into(), "--bundle".into()];
        a.push(self.bundle.clone().into());
        match &self.key {
            Some(k) => {
                a.push("--key".into());
                a.push(k.clone().into());
            }
            None => {
                a.push("--certificate-identity".into());
                a.push(self.identity.clone().into());
                a.push("--certificate-oidc-issuer".into());
                a.push(self.issuer.clone().into());
            }
        }
        if let Some(r) = &self.trusted_root {
            a.push("--trusted-root".into());
            a.push(r.clone().into());
        }
        a.push(match mode {
            Mode::Path => self.artifact.clone().into(),
            Mode::Digest => {
                let bytes = std::fs::read(&self.artifact).expect("read the case's artifact");
                format!("sha256:{}", hallmark::digest::Digest::sha256(&bytes).hex()).into()
            }
        });
        a
    }
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Path,
    Digest,
}

/// Every case, sorted by name; `None` (after saying so) where the reference material is
/// absent.
fn cases(test: &str) -> Option<Vec<Case>> {
    let root = shared(test, CASES)?;
    let read_line = |p: PathBuf| {
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&root).expect("list the conformance cases") {
        let dir = entry.expect("read the conformance cases").path();
        if !dir.join("bundle.sigstore.json").is_file() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let artifact = Some(dir.join("artifact"))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| root.join("a.txt"));
        out.push(Case {
            bundle: dir.join("bundle.sigstore.json"),
            key: Some(dir.join("key.pub")).filter(|p| p.is_file()),
            identity: read_line(dir.join("identity")).unwrap_or_else(|| DEFAULT_IDENTITY.into()),
            issuer: read_line(dir.join("issuer")).unwrap_or_else(|| DEFAULT_ISSUER.into()),
            trusted_root: Some(dir.join("trusted_root.json")).filter(|p| p.is_file()),
            artifact,
            name,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    // A walk that finds nothing must not pass for a clean run.
    assert!(
        out.len() >= 70,
        "only {} conformance cases under {}",
        out.len(),
        root.display()
    );
    Some(out)
}

/// `f` over `items` on two threads (the machine running the suite has two cores), results
/// in the order of `items`.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let mut done: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        mine.push((i, f(item)));
                    }
                    mine
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("worker"))
            .collect()
    });
    done.sort_by_key(|(i, _)| *i);
    done.into_iter().map(|(_, r)| r).collect()
}

/// The real binary, with the harness's environment, and no root from the environment: a case
/// without `trusted_root.json` means the embedded production root.
fn hallmark_cmd(program: &Path) -> Command {
    let base = hallmark();
    let mut c = Command::new(program);
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.env_remove("HALLMARK_TRUSTED_ROOT")
        .env("HALLMARK_BIN", base.get_program())
        .stdin(Stdio::null());
    c
}

/// The suite's entry point for hallmark, as the upstream pytest suite would run it.
fn entrypoint() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/conformance-entrypoint")
}

/// Runs one case through `scripts/conformance-entrypoint`.
fn run_protocol(case: &Case, mode: Mode) -> Output {
    hallmark_cmd(&entrypoint())
        .args(case.protocol_args(mode))
        .output()
        .expect("run scripts/conformance-entrypoint")
}

fn first_line(o: &Output) -> String {
    stderr(o)
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(200)
        .collect()
}

/// What is wrong with hallmark's outcome for a case under the protocol: exit 0 when the
/// case must verify, exactly 1 when it must be refused, never a panic, and the refusal's
/// reason where `REASONS` names one.
fn protocol_problem(case: &Case, o: &Output) -> Option<String> {
    let err = stderr(o);
    if err.contains("panicked") {
        return Some(format!("panicked: {}", err.trim()));
    }
    let got = code(o);
    if case.expect_verified() {
        return (got != 0).then(|| format!("exit {got}, want 0: {}", first_line(o)));
    }
    if got != 1 {
        return Some(format!("exit {got}, want 1: {}", first_line(o)));
    }
    let reason = REASONS.iter().find(|(n, _)| *n == case.name);
    match reason {
        Some((_, want)) if !err.contains(want) => Some(format!(
            "refused without saying {want:?}: {}",
            first_line(o)
        )),
        _ => None,
    }
}

/// The runner's arguments are the suite's, in its order: bundle, key or identity pair, root
/// when there is one, then the artifact's path or its SHA-256.
#[test]
fn protocol_arguments_in_the_suites_order() {
    let dir = tempfile::tempdir().unwrap();
    let artifact = dir.path().join("a.txt");
    std::fs::write(&artifact, b"hello").unwrap();
    let args = |case: &Case, mode| -> Vec<String> {
        case.protocol_args(mode)
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    };
    let mut case = Case {
        name: "some-case".into(),
        bundle: "/c/bundle.sigstore.json".into(),
        key: None,
        identity: "I".into(),
        issuer: "U".into(),
        trusted_root: Some("/c/trusted_root.json".into()),
        artifact: artifact.clone(),
    };
    let path = artifact.to_str().unwrap();
    assert_eq!(
        args(&case, Mode::Path),
        [
            "verify-bundle",
            "--bundle",
            "/c/bundle.sigstore.json",
            "--certificate-identity",
            "I",
            "--certificate-oidc-issuer",
            "U",
            "--trusted-root",
            "/c/trusted_root.json",
            path,
        ]
    );
    case.key = Some("/c/key.pub".into());
    case.trusted_root = None;
    assert_eq!(
        args(&case, Mode::Digest),
        [
            "verify-bundle",
            "--bundle",
            "/c/bundle.sigstore.json",
            "--key",
            "/c/key.pub",
            "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
        ]
    );
}

/// Every verify case of sigstore-conformance, in PATH and DIGEST mode (140 runs), through
/// the suite's own command-line protocol: each must verify, or be refused with exit 1,
/// as its name says. Every wrong outcome is listed, not just the first.
#[test]
fn conformance_suite_every_case_path_and_digest() {
    let Some(cases) = cases("conformance_suite_every_case_path_and_digest") else {
        return;
    };
    for (name, _) in REASONS {
        assert!(
            cases
                .iter()
                .any(|c| c.name == *name && !c.expect_verified()),
            "REASONS names {name}, which is no _fail case"
        );
    }
    for c in cases.iter().filter(|c| !c.expect_verified()) {
        assert!(
            REASONS.iter().any(|(n, _)| *n == c.name),
            "{} has no entry in REASONS: say why it must be refused",
            c.name
        );
    }
    let runs: Vec<(&Case, Mode)> = cases
        .iter()
        .flat_map(|c| [(c, Mode::Path), (c, Mode::Digest)])
        .collect();
    let problems: Vec<String> = par_map(&runs, |(case, mode)| {
        let o = run_protocol(case, *mode);
        protocol_problem(case, &o).map(|p| format!("{mode:?} {}: {p}", case.name))
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(
        problems.is_empty(),
        "{} of {} runs wrong:\n{}",
        problems.len(),
        runs.len(),
        problems.join("\n")
    );
}

/// The verdict of hallmark under the protocol, in PATH mode: verified (exit 0) or refused
/// (exit 1). A panic or any other exit is never a verdict.
fn hallmark_verifies(case: &Case) -> Result<bool, String> {
    let o = run_protocol(case, Mode::Path);
    if stderr(&o).contains("panicked") {
        return Err(format!("hallmark panicked: {}", stderr(&o).trim()));
    }
    match code(&o) {
        0 => Ok(true),
        1 => Ok(false),
        n => Err(format!(
            "hallmark verify-bundle exit {n}: {}",
            first_line(&o)
        )),
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok { "verified" } else { "refused" }
}

/// The cases where sigstore-python 4.5.1's verdict differs from the suite's, with why; its
/// own conformance run marks exactly these xfail (upstream issues 1442 and 1244).
const SIGSTORE_PYTHON_DIFFERS: &[(&str, &str)] = &[
    (
        "intoto-with-custom-trust-root",
        "it does not support Rekor's deprecated intoto/0.0.2 entries",
    ),
    (
        "trust-root-tsa-validity-end-inclusive",
        "it takes the end of a timestamp authority's validFor as exclusive (gen_time < end); \
         the trusted root's TimeRange is inclusive",
    ),
    (
        "managed-key-happy-path",
        "its CLI has no key-based verification: `verify identity` refuses --key as a usage error",
    ),
    (
        "managed-key-and-trusted-root",
        "its CLI has no key-based verification: `verify identity` refuses --key as a usage error",
    ),
];

/// A ClientTrustConfig around a trusted root, which is how sigstore-python takes a root
/// (`--trust-config`); the signing part is required by its parser and unused by `verify`.
fn client_trust_config(trusted_root: &Path) -> serde_json::Value {
    let root: serde_json::Value =
        serde_json::from_slice(&std::fs::read(trusted_root).expect("read the trusted root"))
            .expect("the trusted root is JSON");
    let service = |url: &str| {
        serde_json::json!([{
            "url": url,
            "majorApiVersion": 1,
            "validFor": { "start": "2020-01-01T00:00:00Z" },
            "operator": "example.com",
        }])
    };
    serde_json::json!({
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": root,
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": service("https://fulcio.example.com"),
            "oidcUrls": [],
            "rekorTlogUrls": service("https://rekor.example.com"),
            "tsaUrls": [],
            "rekorTlogConfig": { "selector": "ANY" },
            "tsaConfig": { "selector": "ANY" },
        },
    })
}

/// How to run a peer in a network namespace of its own, where nothing but a loopback that is
/// down exists: `unshare -n` as root, `unshare -rn` where user namespaces are allowed, and
/// nothing where neither works (the peer is then kept offline by [`offline`]'s settings
/// alone).
fn no_network() -> &'static [&'static str] {
    static PREFIX: OnceLock<&'static [&'static str]> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let candidates: [&'static [&'static str]; 2] = [&["unshare", "-n"], &["unshare", "-rn"]];
        candidates
            .into_iter()
            .find(|p| {
                Command::new(p[0])
                    .args(&p[1..])
                    .arg("true")
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            })
            .unwrap_or(&[])
    })
}

/// A peer's command that cannot reach anything: run in a network namespace of its own where
/// the machine allows one, and in any case with proxies pointing at a closed loopback port
/// and a home and caches of its own (no TUF cache to read or refresh).
fn offline(program: &std::ffi::OsStr, home: &Path) -> Command {
    let mut c = match no_network() {
        [] => Command::new(program),
        [unshare, flags @ ..] => {
            let mut c = Command::new(unshare);
            c.args(flags).arg(program);
            c
        }
    };
    let nowhere = "http://127.0.0.1:9";
    c.env("HOME", home)
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("TUF_ROOT", home.join("tuf"))
        .env("HTTPS_PROXY", nowhere)
        .env("HTTP_PROXY", nowhere)
        .env("ALL_PROXY", nowhere)
        .env("https_proxy", nowhere)
        .env("http_proxy", nowhere)
        .env("all_proxy", nowhere)
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .current_dir(home)
        .stdin(Stdio::null());
    c
}

/// sigstore-python's verdict on a case in PATH mode, through its CLI as its conformance shim
/// calls it (`verify identity`, the identity flags renamed, the root wrapped in a
/// ClientTrustConfig), with `--offline` and no network.
fn sigstore_python_verifies(case: &Case, pythonpath: &Path) -> bool {
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join("trust_config.json");
    std::fs::write(
        &config,
        serde_json::to_vec(&client_trust_config(&case.root_or_production())).unwrap(),
    )
    .unwrap();
    let mut c = offline("python3".as_ref(), home.path());
    c.args(["-m", "sigstore", "--trust-config"])
        .arg(&config)
        .args(["verify", "identity", "--offline", "--bundle"])
        .arg(&case.bundle);
    match &case.key {
        // As its shim does: the flag goes through, and the CLI refuses it.
        Some(k) => c.arg("--key").arg(k),
        None => c
            .args(["--cert-identity", &case.identity])
            .args(["--cert-oidc-issuer", &case.issuer]),
    };
    c.arg(&case.artifact)
        .env("PYTHONPATH", pythonpath)
        .env("PYTHONNOUSERSITE", "1")
        .env("COLUMNS", "200");
    let o = c.output().expect("run python3 -m sigstore");
    o.status.success()
}

/// sigstore-python 4.5.1 (PyPI), run offline on every case, agrees with the suite except
/// on exactly the cases it is known to get wrong, and hallmark agrees with the suite on
/// every case, so with sigstore-python wherever sigstore-python is right.
#[test]
fn sigstore_python_agrees_on_every_case() {
    let Some(cases) = cases("sigstore_python_agrees_on_every_case") else {
        return;
    };
    for (name, _) in SIGSTORE_PYTHON_DIFFERS {
        assert!(
            cases.iter().any(|c| c.name == *name),
            "SIGSTORE_PYTHON_DIFFERS names {name}, which is no case"
        );
    }
    let pythonpath = sigstore_python();
    let problems: Vec<String> = par_map(&cases, |case| {
        let want = case.expect_verified();
        let py = sigstore_python_verifies(case, &pythonpath);
        let known = SIGSTORE_PYTHON_DIFFERS.iter().find(|(n, _)| *n == case.name);
        let mut p = Vec::new();
        match (py == want, known) {
            (true, None) | (false, Some(_)) => {}
            (false, None) => p.push(format!(
                "{}: sigstore-python {}, the suite wants {}",
                case.name,
                verdict(py),
                verdict(want)
            )),
            (true, Some(_)) => p.push(format!(
                "{}: sigstore-python now agrees with the suite; drop it from SIGSTORE_PYTHON_DIFFERS",
                case.name
            )),
        }
        match hallmark_verifies(case) {
            Err(e) => p.push(format!("{}: {e}", case.name)),
            Ok(hm) if hm != want => p.push(format!(
                "{}: hallmark {}, sigstore-python {}, the suite wants {}",
                case.name,
                verdict(hm),
                verdict(py),
                verdict(want)
            )),
            Ok(_) => {}
        }
        p
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Cases whose bundle cosign 3.1.3 cannot read at all: sigstore-go's loader
/// (`bundle.LoadJSONFromPath`) refuses it, so cosign falls back to its old bundle format
/// and stops at `--trusted-root only supported with --new-bundle-format`. Its refusal is
/// right, but says nothing about the check the case is about.
const COSIGN_UNREAD: &[(&str, &str)] = &[
    (
        "bundle-empty-certificate-chain_fail",
        "an inclusion proof without the checkpoint sigstore-go requires",
    ),
    (
        "bundle-invalid-base64-signature_fail",
        "the signature is not base64",
    ),
    ("bundle-malformed-json_fail", "truncated JSON"),
    (
        "bundle-negative-log-index_fail",
        "the log entry with a negative index is dropped at load",
    ),
    ("bundle-unknown-version_fail", "media type version 99.9"),
    (
        "bundle-with-root-cert_fail",
        "an inclusion proof without the checkpoint sigstore-go requires",
    ),
    (
        "incorrect-public-key_fail",
        "the entry body's signature does not verify at load",
    ),
    (
        "intoto-log-entry-mismatch_fail",
        "the intoto entry's envelope does not decode at load",
    ),
    (
        "intoto-missing-inclusion-proof_fail",
        "a v0.2 bundle without an inclusion proof",
    ),
    (
        "invalid-inclusion-proof_fail",
        "an inclusion proof without the checkpoint sigstore-go requires",
    ),
    (
        "rekor2-no-inclusion-proof_fail",
        "a v0.3 bundle without an inclusion proof",
    ),
    (
        "rekor2-timestamp-with-incorrect-time_fail",
        "the timestamp's base64 has line breaks, which protobuf JSON refuses",
    ),
];

const COSIGN_UNREAD_MESSAGE: &str = "--trusted-root only supported with --new-bundle-format";

/// cosign's verdict on a case in PATH mode, and whether it could read the bundle at all.
///
/// Which cases cosign 3.1.3 verifies offline: all of them, given `--trusted-root` (the
/// case's root, or the production root hallmark embeds for the cases without one). It then
/// needs neither TUF nor Rekor; without `--trusted-root` it would fetch the production root
/// over TUF (its conformance shim runs `cosign initialize` before every call), which is why
/// the root is always given here. `--use-signed-timestamps` is added when the bundle has
/// timestamps, as its conformance shim does: without it cosign reaches the same verdicts on
/// every case but one, `intoto-tsa-timestamp-outside-cert-validity_fail`, which it then
/// accepts, holding the certificate to the log entry's integrated time and not to the
/// bundle's RFC 3161 time.
fn cosign_verifies(case: &Case) -> (bool, bool) {
    let home = tempfile::tempdir().unwrap();
    let mut c = offline(cosign().as_os_str(), home.path());
    c.arg("verify-blob");
    if case.has_timestamps() {
        c.arg("--use-signed-timestamps");
    }
    c.arg("--bundle")
        .arg(&case.bundle)
        .arg("--new-bundle-format");
    match &case.key {
        Some(k) => c.arg("--key").arg(k),
        None => c
            .args(["--certificate-identity", &case.identity])
            .args(["--certificate-oidc-issuer", &case.issuer]),
    };
    c.arg("--trusted-root")
        .arg(case.root_or_production())
        .arg(&case.artifact);
    let o = c.output().expect("run cosign");
    (
        o.status.success(),
        stderr(&o).contains(COSIGN_UNREAD_MESSAGE),
    )
}

/// Cases whose `key.pub` or `trusted_root.json` cannot be used at all, which `verify-blob`
/// reports as bad input (exit 2) before any bundle is read (as
/// `blobs::bundles_made_by_other_sigstore_implementations` also asserts for the key).
const UNUSABLE_INPUT: &[&str] = &[
    "managed-key-wrong-key_fail",
    "trust-root-tlog-missing-validity-start_fail",
];

/// `hallmark verify-blob` with cosign's flags: verified or not. A refusal is exit 1 (denied),
/// or 2 for the cases in `UNUSABLE_INPUT` only, so that a flag hallmark does not take is never
/// counted as a refusal; never a panic.
fn hallmark_verify_blob(case: &Case) -> Result<bool, String> {
    let mut c = hallmark_cmd(Path::new(env!("CARGO_BIN_EXE_hallmark")));
    c.arg("verify-blob")
        .arg(&case.artifact)
        .arg("--bundle")
        .arg(&case.bundle);
    match &case.key {
        Some(k) => c.arg("--key").arg(k),
        None => c
            .args(["--certificate-identity", &case.identity])
            .args(["--certificate-oidc-issuer", &case.issuer]),
    };
    c.arg("--trusted-root").arg(case.root_or_production());
    let o = c.output().expect("run hallmark");
    if stderr(&o).contains("panicked") {
        return Err(format!("hallmark panicked: {}", stderr(&o).trim()));
    }
    match code(&o) {
        0 => Ok(true),
        1 => Ok(false),
        2 if UNUSABLE_INPUT.contains(&case.name.as_str()) => Ok(false),
        n => Err(format!("hallmark verify-blob exit {n}: {}", first_line(&o))),
    }
}

/// cosign 3.1.3, run offline with the same flags on every case, reaches the suite's verdict
/// on each; the cases it cannot even read are exactly `COSIGN_UNREAD`; and `hallmark
/// verify-blob` with the same flags reaches the same verdicts.
#[test]
fn cosign_agrees_where_it_runs_offline() {
    let Some(cases) = cases("cosign_agrees_where_it_runs_offline") else {
        return;
    };
    let problems: Vec<String> = par_map(&cases, |case| {
        let want = case.expect_verified();
        let (ok, unread) = cosign_verifies(case);
        let listed = COSIGN_UNREAD.iter().any(|(n, _)| *n == case.name);
        let mut p = Vec::new();
        if ok != want {
            p.push(format!(
                "{}: cosign {}, the suite wants {}",
                case.name,
                verdict(ok),
                verdict(want)
            ));
        }
        if unread != listed {
            p.push(format!(
                "{}: cosign {} the bundle, unlike what COSIGN_UNREAD says",
                case.name,
                if unread { "could not read" } else { "read" }
            ));
        }
        match hallmark_verify_blob(case) {
            Err(e) => p.push(format!("{}: {e}", case.name)),
            Ok(hm) if hm != ok => p.push(format!(
                "{}: hallmark verify-blob {}, cosign {}",
                case.name,
                verdict(hm),
                verdict(ok)
            )),
            Ok(_) => {}
        }
        p
    })
    .into_iter()
    .flatten()
    .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
