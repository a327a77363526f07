//! The same thing signed and logged twice, as a release job run again does: a transparency
//! log refuses an entry it already holds (409), so a logged ECDSA signature is hedged (a new
//! signature, a new entry, each time); a deterministic one (Ed25519) already in Rekor v1 is
//! reused once verified as a fresh answer, and Rekor v2, which returns no entry it holds,
//! is a clear error with nothing written. Against the real stack (`harness/sigstack.rs`).

use std::path::Path;
use std::process::Command;

use crate::harness::*;
use crate::keyless_sign_images::registry_state;
use hallmark::image::Image;
use hallmark::layout::Layout;
use hallmark::store::Store;

/// A stand-in Rekor in the stack's namespace.
const STAND_IN: &str = "http://127.0.0.1:18099";

/// The bundle's one log entry: its index (a fresh log's first entry omits it: 0) and its
/// signature.
fn logged(bundle: &serde_json::Value) -> (i64, String) {
    let entries = bundle["verificationMaterial"]["tlogEntries"]
        .as_array()
        .unwrap_or_else(|| panic!("no log entry: {bundle}"));
    assert_eq!(entries.len(), 1, "{bundle}");
    let index = entries[0]["logIndex"]
        .as_str()
        .map_or(0, |i| i.parse().unwrap());
    let signature = bundle["messageSignature"]["signature"]
        .as_str()
        .or_else(|| bundle["dsseEnvelope"]["signatures"][0]["sig"].as_str())
        .unwrap_or_else(|| panic!("no signature: {bundle}"))
        .to_string();
    (index, signature)
}

/// A random image pushed unsigned to the stack's registry as `REG/repo:tag` (skopeo, so
/// that nothing of hallmark's signs it); its reference by digest.
async fn push_unsigned(stack: &SigStack, work: &Path, repo: &str, tag: &str) -> String {
    let dir = work.join(format!("layout-{tag}"));
    let layout = Layout::create(&dir).unwrap();
    let img = Image::random(tag, 2048).unwrap();
    img.push(&Store::Layout(layout), Some(tag)).await.unwrap();
    let o = stack
        .command(Command::new(skopeo()).args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", dir.display()),
            &format!("docker://{}/{repo}:{tag}", stack.registry),
        ]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    format!("{}/{repo}@{}", stack.registry, img.digest())
}

/// The log indexes of every entry `hallmark verify --output json` reports for `image`
/// verified with `public` (exit 0).
fn verified_log_indexes(stack: &SigStack, image: &str, public: &str, root: &str) -> Vec<i64> {
    fn walk(v: &serde_json::Value, out: &mut Vec<i64>) {
        match v {
            serde_json::Value::Object(m) => {
                for (k, v) in m {
                    match (k.as_str(), v.as_i64()) {
                        ("log_index", Some(i)) => out.push(i),
                        _ => walk(v, out),
                    }
                }
            }
            serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let o = stack.hallmark_keyed(&[
        "verify",
        image,
        "--key",
        public,
        "--trusted-root",
        root,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let mut out = Vec::new();
    walk(&json_out(&o), &mut out);
    out
}

/// `sign-blob --key --tlog-upload` run twice on the same file with an ECDSA key, as a
/// release job run again: two signatures, two entries in Rekor v2, both exit 0, and the
/// real cosign verifies each bundle with its default checks. Deterministic ECDSA made the
/// same signature twice, which Rekor v2 refused the second time (409, exit 3).
#[test]
fn a_blob_signed_and_logged_twice_is_two_entries() {
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let keys = keys("ecdsa-p256");
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release, signed by a job run twice").unwrap();
    let (config, root) = (
        path_str(&stack.signing_config),
        path_str(&stack.trusted_root),
    );
    let sign = |bundle: &Path| {
        stack.hallmark_keyed(&[
            "sign-blob",
            &path_str(&blob),
            "--key",
            &keys.private,
            "--tlog-upload",
            "--bundle",
            &path_str(bundle),
            "--signing-config",
            &config,
            "--trusted-root",
            &root,
        ])
    };
    let first = work.path().join("first.sigstore.json");
    let again = work.path().join("again.sigstore.json");
    expect_code(&sign(&first), 0);
    let o = sign(&again);
    expect_code(&o, 0);

    let (index1, sig1) = logged(&json_file(&first));
    let (index2, sig2) = logged(&json_file(&again));
    assert_ne!(index1, index2, "one entry for both runs");
    assert_ne!(sig1, sig2, "the same signature twice");
    for bundle in [&first, &again] {
        let o = stack.cosign(&[
            "verify-blob",
            "--key",
            &keys.public,
            "--bundle",
            &path_str(bundle),
            "--trusted-root",
            &root,
            &path_str(&blob),
        ]);
        peer_ok(&o, &format!("cosign verify-blob {}", bundle.display()));
    }

    // Without --tlog-upload a key still signs deterministically: the same file, the same
    // signature, as before.
    let plain = |name: &str| {
        let bundle = work.path().join(name);
        expect_code(
            &stack.hallmark_keyed(&[
                "sign-blob",
                &path_str(&blob),
                "--key",
                &keys.private,
                "--bundle",
                &path_str(&bundle),
            ]),
            0,
        );
        json_file(&bundle)["messageSignature"]["signature"].clone()
    };
    assert_eq!(plain("plain1.sigstore.json"), plain("plain2.sigstore.json"));
}

/// `sign --key --tlog-upload` on the same image twice (an ECDSA key, Rekor v2): both runs
/// exit 0, the second with a new entry, and the real cosign verifies the image with its
/// default checks. The statement carries its signing time to the second, so only runs
/// within one second made the same deterministic signature (409, exit 3): this checks the
/// image path end to end, the blob test above reproduces the refusal every time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_signed_and_logged_twice_is_signed() {
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let keys = keys("ecdsa-p256");
    let image = push_unsigned(&stack, work.path(), "app", "twice").await;
    let (config, root) = (
        path_str(&stack.signing_config),
        path_str(&stack.trusted_root),
    );
    let sign = || {
        stack.hallmark_keyed(&[
            "sign",
            &image,
            "--key",
            &keys.private,
            "--tlog-upload",
            "--signing-config",
            &config,
            "--trusted-root",
            &root,
        ])
    };
    expect_code(&sign(), 0);
    let first = verified_log_indexes(&stack, &image, &keys.public, &root);
    expect_code(&sign(), 0);
    let again = verified_log_indexes(&stack, &image, &keys.public, &root);
    assert_eq!((first.len(), again.len()), (1, 1), "{first:?} {again:?}");
    assert_ne!(first, again, "the second run logged no new entry");
    let o = stack.cosign(&[
        "verify",
        "--key",
        &keys.public,
        "--trusted-root",
        &root,
        "--new-bundle-format",
        &image,
    ]);
    peer_ok(&o, "cosign verify");
}

/// Rekor v1 answers 409 for an entry it already holds (a deterministic signature signed
/// again: Ed25519, or any key's from another client), naming the entry: hallmark fetches
/// that entry from the same log, verifies it exactly as a fresh answer and uses it. A
/// stand-in in front of the real Rekor v1 submits every entry twice and hands hallmark
/// the log's own second answer, its genuine 409; both a blob (hashedrekord, ECDSA) and an
/// image (dsse, Ed25519) are signed with the held entry, and the real cosign verifies both
/// with its default checks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_rekor_v1_already_holds_is_verified_and_reused() {
    let mut stack = SigStack::start_with_rekor_v1();
    let work = tempfile::tempdir().unwrap();
    let script = work.path().join("twice.py");
    let record = work.path().join("record.txt");
    std::fs::write(
        &script,
        r#"import http.server, sys, urllib.request, urllib.error
UPSTREAM, RECORD = sys.argv[1], sys.argv[2]
class H(http.server.BaseHTTPRequestHandler):
    def forward(self, body):
        headers = {'Content-Type': 'application/json'} if body is not None else {}
        req = urllib.request.Request(UPSTREAM + self.path, data=body, method=self.command, headers=headers)
        try:
            with urllib.request.urlopen(req) as r:
                return r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers
    def reply(self, status, body, headers):
        self.send_response(status)
        for k in ('Content-Type', 'Location'):
            if headers.get(k):
                self.send_header(k, headers[k])
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def note(self, line):
        with open(RECORD, 'a') as f:
            f.write(line + '\n')
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', '0')))
        first = self.forward(body)
        again = self.forward(body)
        self.note('POST %d %d' % (first[0], again[0]))
        self.reply(*again)
    def do_GET(self):
        got = self.forward(None)
        self.note('GET %s %d' % (self.path, got[0]))
        self.reply(*got)
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', 18099), H).serve_forever()
"#,
    )
    .unwrap();
    let upstream = stack.rekor_v1_url();
    stack.spawn(
        "twice",
        Path::new(python()),
        &[path_str(&script), upstream, path_str(&record)],
    );
    stack.wait_ready("twice", &format!("{STAND_IN}/api/v1/log"));
    let root = path_str(&stack.trusted_root);
    let through_twice = [
        "--tlog-upload",
        "--fulcio-url",
        "http://127.0.0.1:18081",
        "--rekor-url",
        STAND_IN,
        "--rekor-version",
        "1",
        "--trusted-root",
        &root,
    ];
    let held = || {
        let text = std::fs::read_to_string(&record).unwrap_or_default();
        let conflicts = text.lines().filter(|l| *l == "POST 201 409").count();
        let fetched = text
            .lines()
            .filter(|l| l.starts_with("GET /api/v1/log/entries/") && l.ends_with(" 200"))
            .count();
        (conflicts, fetched)
    };

    // A blob: hashedrekord.
    let ecdsa = keys("ecdsa-p256");
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release, already in Rekor v1").unwrap();
    let bundle = work.path().join("held.sigstore.json");
    let mut args = vec![
        "sign-blob",
        blob.to_str().unwrap(),
        "--key",
        &ecdsa.private,
        "--bundle",
        bundle.to_str().unwrap(),
    ];
    args.extend(through_twice);
    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 0);
    assert_eq!(
        held(),
        (1, 1),
        "{}",
        std::fs::read_to_string(&record).unwrap()
    );
    let entry = &json_file(&bundle)["verificationMaterial"]["tlogEntries"][0];
    assert_eq!(entry["kindVersion"]["version"], "0.0.1", "{entry}");
    let o = stack.cosign(&[
        "verify-blob",
        "--key",
        &ecdsa.public,
        "--bundle",
        &path_str(&bundle),
        "--trusted-root",
        &root,
        &path_str(&blob),
    ]);
    peer_ok(&o, "cosign verify-blob");

    // An image, with a key whose signatures are always the same: dsse.
    let ed25519 = keys("ed25519");
    let image = push_unsigned(&stack, work.path(), "app", "ed25519").await;
    let mut args = vec!["sign", &image, "--key", &ed25519.private];
    args.extend(through_twice);
    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 0);
    assert_eq!(
        held(),
        (2, 2),
        "{}",
        std::fs::read_to_string(&record).unwrap()
    );
    let o = stack.cosign(&[
        "verify",
        "--key",
        &ed25519.public,
        "--trusted-root",
        &root,
        "--new-bundle-format",
        &image,
    ]);
    peer_ok(&o, "cosign verify");
    assert_eq!(
        verified_log_indexes(&stack, &image, &ed25519.public, &root).len(),
        1
    );
}

/// Rekor v2 returns no entry it already holds: its 409 for the same signature again is a
/// one-line error saying so and what to do (exit 3), and nothing is written. A stand-in
/// answers as rekor-tiles does (`x-log-index`, the message with the index): the real log
/// never sees a signature of hallmark's twice (ECDSA is hedged, and a pure Ed25519 signature
/// over a digest it refuses outright).
#[test]
fn an_entry_rekor_v2_already_holds_is_a_clear_error() {
    let mut stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let keys = keys("ecdsa-p256");
    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release, already logged").unwrap();
    let script = work.path().join("stand_in.py");
    std::fs::write(
        &script,
        r#"import http.server
class H(http.server.BaseHTTPRequestHandler):
    def answer(self):
        self.rfile.read(int(self.headers.get('Content-Length', '0')))
        body = b'{"code":6,"message":"an equivalent entry already exists in the transparency log with index 41","details":[]}'
        self.send_response(409 if self.command == 'POST' else 200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('x-log-index', '41')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = answer
    do_POST = answer
    def log_message(self, *a):
        pass
http.server.HTTPServer(('127.0.0.1', 18099), H).serve_forever()
"#,
    )
    .unwrap();
    stack.spawn("stand-in", Path::new(python()), &[path_str(&script)]);
    stack.wait_ready("stand-in", STAND_IN);
    let tsa = tsa_url(&stack);

    let bundle = work.path().join("out.sigstore.json");
    let signature = work.path().join("out.sig");
    let o = stack.hallmark_keyed(&[
        "sign-blob",
        &path_str(&blob),
        "--key",
        &keys.private,
        "--tlog-upload",
        "--bundle",
        &path_str(&bundle),
        "--output-signature",
        &path_str(&signature),
        "--fulcio-url",
        "http://127.0.0.1:18081",
        "--rekor-url",
        STAND_IN,
        "--timestamp-server-url",
        &tsa,
        "--trusted-root",
        &path_str(&stack.trusted_root),
    ]);
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(
        err.contains("Rekor already holds this exact signature (entry 41)"),
        "{err}"
    );
    assert!(err.contains("ECDSA P-256"), "{err}");
    assert_eq!(
        err.trim()
            .lines()
            .filter(|l| l.starts_with("error"))
            .count(),
        1,
        "{err}"
    );
    assert!(!bundle.exists() && !signature.exists());
}

/// The stack's timestamp authority, as its signing config names it.
fn tsa_url(stack: &SigStack) -> String {
    let config = json_file(&stack.signing_config);
    config["tsaUrls"][0]["url"]
        .as_str()
        .unwrap_or_else(|| panic!("{config}"))
        .to_string()
}

/// A Rekor v1 whose 409 names an entry it holds for *another* signature (the log's first
/// entry, a blob signed beforehand): hallmark fetches that entry from the same log, finds it
/// is not for what it signed, and refuses it as unavailable (exit 3, "Rekor's answer does
/// not verify") with nothing written: no bundle for `sign-blob --key --tlog-upload`, no
/// layer for `sign --format legacy`, keyless or with `--key --tlog-upload`. Through the
/// same proxy the log's own 409 for this very signature (`again`) is still reused, fetched
/// from the log and not from where its `Location` points, and the real cosign verifies
/// what was signed with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rekor_v1_conflict_naming_another_entry_is_refused() {
    let mut stack = SigStack::start_with_rekor_v1();
    let liar = stack.liar();
    let work = tempfile::tempdir().unwrap();
    let root = path_str(&stack.trusted_root);
    let ecdsa = keys("ecdsa-p256");
    let token = format!(
        "@{}",
        path_str(&stack.token(&stack.issuer, "alice@example.com", "{}"))
    );

    // The log's first entry: another blob's signature, logged directly.
    let earlier = work.path().join("earlier.tar");
    std::fs::write(&earlier, b"an earlier release").unwrap();
    let o = stack.hallmark_keyed(&[
        "sign-blob",
        &path_str(&earlier),
        "--key",
        &ecdsa.private,
        "--tlog-upload",
        "--bundle",
        &path_str(&work.path().join("earlier.sigstore.json")),
        "--rekor-url",
        &stack.rekor_v1_url(),
        "--rekor-version",
        "1",
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    let first = stack
        .command(Command::new("curl").args([
            "-sf",
            &format!("{}/api/v1/log/entries?logIndex=0", stack.rekor_v1_url()),
        ]))
        .output()
        .unwrap();
    let first: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let first_uuid = first.as_object().unwrap().keys().next().unwrap().clone();

    let blob = work.path().join("release.tar");
    std::fs::write(&blob, b"the release").unwrap();
    let bundle = work.path().join("release.sigstore.json");
    let image = push_unsigned(&stack, work.path(), "app", "v1").await;
    let through = |mode: &str, command: &[&str], signer: &[&str]| {
        let rekor = format!("{liar}/rekor1/{mode}");
        let mut args = command.to_vec();
        args.extend_from_slice(signer);
        args.extend([
            "--fulcio-url",
            "http://127.0.0.1:18081",
            "--rekor-url",
            &rekor,
            "--rekor-version",
            "1",
            "--trusted-root",
            &root,
        ]);
        stack.hallmark_keyed(&args)
    };
    let sign_blob = [
        "sign-blob",
        blob.to_str().unwrap(),
        "--bundle",
        bundle.to_str().unwrap(),
    ];
    let sign_legacy = ["sign", image.as_str(), "--format", "legacy"];
    let keyless = ["--identity-token", token.as_str()];
    let logged_key = ["--key", ecdsa.private.as_str(), "--tlog-upload"];
    let cases: [(&[&str], &[&str]); 3] = [
        (&sign_blob, &logged_key),
        (&sign_legacy, &keyless),
        (&sign_legacy, &logged_key),
    ];

    let before = registry_state(&stack);
    let fetched = format!("GET /rekor1/conflict/api/v1/log/entries/{first_uuid} HTTP/1.1\" 200");
    for (command, signer) in cases {
        let held_before = stack.log("liar").matches(&fetched).count();
        let o = through("conflict", command, signer);
        expect_code(&o, 3);
        assert!(
            stderr(&o).contains("Rekor's answer does not verify"),
            "{command:?} {signer:?}: {}",
            stderr(&o)
        );
        // The entry named was fetched, from the same log, and refused on its merits.
        assert_eq!(
            stack.log("liar").matches(&fetched).count(),
            held_before + 1,
            "{command:?} {signer:?}: {}",
            stack.log("liar")
        );
        assert!(!bundle.exists(), "{command:?} {signer:?}");
        assert_eq!(registry_state(&stack), before, "{command:?} {signer:?}");
    }

    // The log's genuine 409, for this very signature, is still reused.
    let o = through("again", &sign_blob, &logged_key);
    expect_code(&o, 0);
    let o = stack.cosign(&[
        "verify-blob",
        "--key",
        &ecdsa.public,
        "--bundle",
        &path_str(&bundle),
        "--trusted-root",
        &root,
        &path_str(&blob),
    ]);
    peer_ok(&o, "cosign verify-blob (the held entry)");
    // The 409's Location is not where the held entry is fetched from: the log is.
    std::fs::remove_file(&bundle).unwrap();
    let o = through("again-location", &sign_blob, &logged_key);
    expect_code(&o, 0);
    assert!(bundle.exists());
    let log = stack.log("liar");
    assert!(
        log.lines()
            .any(|l| l.contains("\"POST /rekor1/again-location/") && l.contains("\" 409 "))
            && !log.contains("GET /trap/"),
        "{log}"
    );
    expect_code(&through("again", &sign_legacy, &keyless), 0);
    let o = stack.cosign(&[
        "verify",
        "--certificate-identity",
        "alice@example.com",
        "--certificate-oidc-issuer",
        &stack.issuer,
        "--trusted-root",
        &root,
        &image,
    ]);
    peer_ok(&o, "cosign verify (legacy, the held entry)");
    // Both were the log's 409, not a first answer.
    let log = stack.log("liar");
    let conflicts = log
        .lines()
        .filter(|l| l.contains("\"POST /rekor1/again/") && l.contains("\" 409 "))
        .count();
    assert_eq!(conflicts, 2, "{log}");
}
