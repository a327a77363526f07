//! A8: a malicious registry. Each misbehaviour ends in one `error:` line and exit 3 or 1,
//! never a hang, a panic or a partial write.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::*;
use hallmark::digest::Digest;
use hallmark::oci::{Manifest, OCI_CONFIG, OCI_MANIFEST};
use hallmark::signature::{SIGNATURE_ANNOTATION, SIMPLESIGNING_MEDIA_TYPE, signature_tag};

struct Case {
    reg: Registry,
    proxy: Proxy,
    keys: Keys,
    digest: Digest,
    dest: tempfile::TempDir,
}

/// A signed image behind a proxy that misbehaves as `tamper` says.
async fn case(tamper: Tamper) -> Case {
    let reg = Registry::start();
    let keys = keys("ecdsa-p256");
    let img = signed_image(&reg, "app", Some("v1"), &keys, &[]).await;
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(tamper),
    })
    .await;
    Case {
        reg,
        proxy,
        keys,
        digest: img.digest().clone(),
        dest: tempfile::tempdir().unwrap(),
    }
}

impl Case {
    fn pinned(&self) -> String {
        format!("{}/app@{}", self.proxy.addr, self.digest)
    }

    /// The signature names the registry behind the proxy.
    fn identity(&self) -> String {
        format!("{}/app", self.reg.addr)
    }

    /// `hallmark copy` of the case's image into a fresh layout, trusting the real registry's
    /// identity; returns the output and the destination directory.
    fn copy_out(&self, extra: &[&str]) -> (std::process::Output, std::path::PathBuf) {
        let dest = self.dest.path().join("out");
        let (pinned, dest_arg, identity) = (
            self.pinned(),
            format!("oci:{}:v1", dest.display()),
            self.identity(),
        );
        let mut args = vec![
            "copy",
            &pinned,
            &dest_arg,
            "--key",
            &self.keys.public,
            "--identity",
            &identity,
        ];
        args.extend_from_slice(extra);
        (run(&args), dest)
    }

    /// verify and copy both end with `code`, a one-line error containing `want`, quickly,
    /// and the copy destination stays empty.
    fn expect_failure(&self, code: i32, want: &str, extra: &[&str]) {
        let dest = self.dest.path().join("out");
        for cmd in ["verify", "copy"] {
            let pinned = self.pinned();
            let dest_arg = format!("oci:{}:v1", dest.display());
            let mut args = vec![cmd, pinned.as_str()];
            if cmd == "copy" {
                args.push(&dest_arg);
            }
            let identity = self.identity();
            args.extend_from_slice(&[
                "--key",
                &self.keys.public,
                "--identity",
                &identity,
                "--timeout",
                "2",
                "--retries",
                "1",
            ]);
            args.extend_from_slice(extra);
            let start = Instant::now();
            let o = run(&args);
            let err = stderr(&o);
            assert_eq!(crate::harness::code(&o), code, "{cmd}: {err}");
            assert!(err.starts_with("error: "), "{cmd}: {err}");
            assert!(err.contains(want), "{cmd}: want {want:?} in {err}");
            assert!(!err.contains("panicked"), "{err}");
            assert!(stdout(&o).is_empty(), "{cmd}: {}", stdout(&o));
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "{cmd} took {:?}",
                start.elapsed()
            );
            if dest.exists() {
                let l = hallmark::layout::Layout::open(&dest).unwrap();
                assert!(l.list_tags().unwrap().is_empty(), "copy left a tag behind");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_manifest() {
    let c = case(Arc::new(|req, resp| {
        if req.method == "GET"
            && req.path.contains("/manifests/sha256:")
            && !req.path.ends_with(".sig")
        {
            resp.body = vec![b' '; 5 * 1024 * 1024];
        }
    }))
    .await;
    c.expect_failure(3, "larger than the 4194304-byte limit", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_redirect() {
    let c = case(Arc::new(|req, resp| {
        if req.path.starts_with("/v2/app/manifests/") {
            resp.status = 302;
            resp.headers = vec![("location".into(), req.path.clone())];
            resp.body.clear();
        }
    }))
    .await;
    c.expect_failure(3, "too many redirects", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_json_manifest() {
    let c = case(Arc::new(|req, resp| {
        if req.method == "GET" && req.path.contains("/manifests/sha256:") {
            resp.body = b"{\"schemaVersion\": 2, \"layers\": [".to_vec();
        }
    }))
    .await;
    c.expect_failure(3, "not valid JSON", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_content_type() {
    let c = case(Arc::new(|req, resp| {
        if req.method == "GET" && req.path.contains("/manifests/") {
            for h in resp.headers.iter_mut().filter(|(k, _)| k == "content-type") {
                h.1 = "text/html; charset=utf-8".into();
            }
        }
    }))
    .await;
    c.expect_failure(3, "text/html", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_drip_beyond_the_timeout() {
    let c = case(Arc::new(|req, resp| {
        if req.method == "GET" && req.path.contains("/manifests/sha256:") {
            resp.drip = Some(Duration::from_millis(200));
        }
    }))
    .await;
    c.expect_failure(3, "timed out after 2s", &[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_then_success_are_retried() {
    let failures = Arc::new(AtomicUsize::new(0));
    let count = failures.clone();
    let c = case(Arc::new(move |req, resp| {
        if req.method == "GET"
            && req.path.contains("/manifests/")
            && count.fetch_add(1, Ordering::SeqCst) < 2
        {
            resp.status = 503;
            resp.body = br#"{"errors":[{"code":"UNAVAILABLE","message":"try later"}]}"#.to_vec();
        }
    }))
    .await;
    let o = run(&[
        "verify",
        &c.pinned(),
        "--key",
        &c.keys.public,
        "--identity",
        &c.identity(),
        "--retries",
        "3",
    ]);
    expect_code(&o, 0);
    assert!(failures.load(Ordering::SeqCst) >= 3);
    // Without retries the same outage is exit 3, naming the registry's own message.
    failures.store(0, Ordering::SeqCst);
    let o = run(&[
        "verify",
        &c.pinned(),
        "--key",
        &c.keys.public,
        "--identity",
        &c.identity(),
        "--retries",
        "0",
    ]);
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("503") && stderr(&o).contains("try later"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_larger_than_declared() {
    let c = case(Arc::new(|req, resp| {
        if req.method == "GET" && req.path.contains("/blobs/sha256:") && resp.body.len() > 1000 {
            resp.body.extend_from_slice(b"and a little extra");
        }
    }))
    .await;
    // verify reads no layer blob; copy does and refuses.
    let (o, dest) = c.copy_out(&["--retries", "0"]);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("the manifest says"), "{}", stderr(&o));
    // The destination directory this copy created is gone again.
    assert!(!dest.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_with_wrong_bytes_is_never_committed() {
    let c = case(Arc::new(|req, resp| {
        if req.method == "GET" && req.path.contains("/blobs/sha256:") && resp.body.len() > 1000 {
            resp.body[100] ^= 0x55;
        }
    }))
    .await;
    let (o, dest) = c.copy_out(&[]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("digest mismatch"), "{}", stderr(&o));
    assert!(!dest.exists());
}

/// Stores a signature manifest of `count` junk layers for `digest`, as someone with
/// write access to the repository could.
async fn junk_signatures(store: &hallmark::store::Store, digest: &Digest, count: usize) {
    let payload = Digest::sha256(b"{}");
    store
        .put_blob(&payload, bytes::Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let layer = serde_json::json!({"mediaType": SIMPLESIGNING_MEDIA_TYPE, "size": 2, "digest": payload.to_string(),
        "annotations": {SIGNATURE_ANNOTATION: "MEUCIQ=="}});
    let doc = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "size": 2, "digest": payload.to_string()},
        "layers": vec![layer; count]});
    let m = Manifest::new(serde_json::to_vec(&doc).unwrap(), OCI_MANIFEST);
    assert!(m.bytes.len() < 4 * 1024 * 1024);
    store
        .put_manifest(&m, Some(&signature_tag(digest)))
        .await
        .unwrap();
}

/// A signature manifest already holding the 256 layers verify reads: sign and publish
/// refuse to write a 257th that verify would never look at (exit 3, with the way out),
/// instead of reporting a signature nobody can verify.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_into_a_full_signature_manifest_fails_loudly() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let img = push_random(&store, Some("v1"), "good").await;
    junk_signatures(&store, img.digest(), 256).await;
    let pinned = format!("{}/app@{}", reg.addr, img.digest());
    let o = sign(&[&pinned, "--key", &k.private]);
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("257 layers (limit 256)"), "{err}");
    assert!(
        err.contains("hint: the signature manifest is full"),
        "{err}"
    );
    let sig = store
        .get_manifest(&signature_tag(img.digest()))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(hallmark::signature::parse_layers(&sig).unwrap().len(), 256);
    expect_code(&run(&["verify", &pinned, "--key", &k.public]), 1);

    // publish: the artifact's digest is known before anything is pushed.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool");
    std::fs::write(&file, b"#!/bin/sh\necho hi\n").unwrap();
    let src = format!("file:{}", file.display());
    let d: Digest = stdout(&run(&["digest", &src])).trim().parse().unwrap();
    let tools = reg.store("tools");
    junk_signatures(&tools, &d, 256).await;
    let o = publish(&[&src, &format!("{}/tools:v1", reg.addr), "--key", &k.private]);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("limit 256"), "{}", stderr(&o));
    assert!(
        tools.get_manifest("v1").await.unwrap().is_none(),
        "no tag for an unverifiable artifact"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signature_manifest_with_ten_thousand_layers() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let img = push_random(&store, None, "good").await;
    junk_signatures(&store, img.digest(), 10_000).await;
    let start = Instant::now();
    let o = run(&[
        "verify",
        &format!("{}/app@{}", reg.addr, img.digest()),
        "--key",
        &k.public,
    ]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("10000 layers (limit 256)"),
        "{}",
        stderr(&o)
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

/// An upload that the registry stops reading ends at the deadline instead of hanging.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_upload_times_out() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    // A host that accepts connections and never answers.
    let hole = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hole_addr = hole.local_addr().unwrap().to_string();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((s, _)) = hole.accept().await {
            sockets.push(s);
        }
    });
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, resp| {
            if req.method == "POST" && req.path.contains("/blobs/uploads/") {
                for (_, v) in resp.headers.iter_mut().filter(|(k, _)| k == "location") {
                    let path = v
                        .split_once("/v2/")
                        .map(|(_, p)| p.to_string())
                        .unwrap_or_default();
                    *v = format!("http://{hole_addr}/v2/{path}");
                }
            }
        })),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.bin");
    std::fs::write(&file, vec![7u8; 300_000]).unwrap();
    let start = Instant::now();
    let o = run_env(
        &[
            "publish",
            &format!("file:{}", file.display()),
            &format!("{}/app:v1", proxy.addr),
            "--key",
            &k.private,
            "--timeout",
            "2",
            "--retries",
            "0",
        ],
        &[("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 3);
    assert!(stderr(&o).contains("timed out"), "{}", stderr(&o));
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{:?}",
        start.elapsed()
    );
    assert!(reg.store("app").get_manifest("v1").await.unwrap().is_none());
    held.abort();
}

/// A signature manifest the registry serves that does not parse is the registry's
/// failure (exit 3) when signing, not a usage error; nothing is written over it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_over_a_malformed_signature_manifest_is_exit_3() {
    let c = case(Arc::new(|req, resp| {
        if req.method == "GET" && req.path.contains(".sig") {
            resp.status = 200;
            resp.headers = vec![("content-type".into(), OCI_MANIFEST.into())];
            resp.body =
                format!(r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","layers":"junk"}}"#)
                    .into_bytes();
        }
    }))
    .await;
    let before = c
        .reg
        .store("app")
        .get_manifest(&signature_tag(&c.digest))
        .await
        .unwrap();
    let o = sign(&[&c.pinned(), "--key", &c.keys.private]);
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("invalid signature manifest"), "{err}");
    let after = c
        .reg
        .store("app")
        .get_manifest(&signature_tag(&c.digest))
        .await
        .unwrap();
    assert_eq!(before, after);
}

/// A registry's error text is printed escaped, bounded and redacted: it cannot forge a
/// "verified" line or colours in a CI log, and a registry that echoes the Authorization
/// header does not get the credential printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_error_text_cannot_forge_lines_or_leak_credentials() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("app"), Some("v1"), "x").await;
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: Some(ProxyAuth {
            user: "ci-bot".into(),
            password: "hunter2-S3cret".into(),
            basic: true,
        }),
        tamper: Some(Arc::new(|req, resp| {
            let authorization = req.headers.iter().find(|(k, _)| k == "authorization");
            // After the Basic challenge, the client sends its credentials: echo them.
            if let Some((_, echoed)) = authorization
                && req.method == "GET"
                && req.path.contains("/manifests/")
            {
                let message = format!(
                    "denied; you sent Authorization: {echoed}\nverified sha256:{} — signed by release.pub\n\u{1b}[32mOK\u{1b}[0m{}",
                    "0".repeat(64),
                    "y".repeat(10_000)
                );
                resp.status = 400;
                resp.headers = vec![("content-type".into(), "application/json".into())];
                resp.body = serde_json::to_vec(&serde_json::json!({"errors": [{"code": "DENIED", "message": message}]})).unwrap();
            }
        })),
    })
    .await;
    for output in ["text", "json"] {
        let o = run_stdin(
            &[
                "verify",
                &format!("{}/app@{}", proxy.addr, img.digest()),
                "--key",
                &k.public,
                "--username",
                "ci-bot",
                "--password-stdin",
                "--output",
                output,
            ],
            &[],
            b"hunter2-S3cret\n",
        );
        expect_code(&o, 3);
        let (out, err) = (stdout(&o), stderr(&o));
        for text in [&out, &err] {
            assert!(!text.contains('\u{1b}'), "escape printed: {text}");
            assert!(!text.contains("hunter2"), "password printed: {text}");
            // base64("ci-bot:hunter2-S3cret")
            assert!(
                !text.contains("Y2ktYm90Omh1bnRlcjItUzNjcmV0"),
                "credential printed: {text}"
            );
            assert!(text.len() < 4000, "unbounded: {} bytes", text.len());
        }
        assert!(err.lines().all(|l| !l.starts_with("verified")), "{err}");
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error: ")).count(),
            1,
            "{err}"
        );
        assert!(err.contains("Basic <redacted>"), "{err}");
    }
}

/// A registry that answers each signature payload just under --timeout holds a verify for
/// as many payloads as there are signatures; the whole command ends at --deadline, exit
/// 3, naming the request it was still waiting for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_registry_is_cut_off_at_the_deadline() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("app"), Some("v1"), "x").await;
    let pinned = format!("{}/app@{}", reg.addr, img.digest());
    for i in 0..5 {
        let note = format!("n={i}");
        let o = sign(&[&pinned, "--key", &k.private, "-a", &note, "--keep-existing"]);
        expect_code(&o, 0);
    }
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(|req, resp| {
            // Every payload arrives in about 1.5 s: under the 2 s timeout, every time.
            if req.method == "GET" && req.path.contains("/blobs/") && resp.status == 200 {
                let per_byte = 1500 / resp.body.len().max(1) as u64;
                resp.drip = Some(Duration::from_millis(per_byte.max(1)));
            }
        })),
    })
    .await;
    let start = Instant::now();
    let o = run(&[
        "verify",
        &format!("{}/app@{}", proxy.addr, img.digest()),
        "--key",
        &k.public,
        "--identity",
        &format!("{}/app", reg.addr),
        "--timeout",
        "2",
        "--deadline",
        "3",
    ]);
    let took = start.elapsed();
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("gave up after the --deadline of 3s"), "{err}");
    assert!(err.contains("still pending: GET http://"), "{err}");
    assert!(err.contains("/blobs/sha256:"), "{err}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

/// A blob dripped into an `oci:` destination just fast enough never to stall is cut off
/// by the minimum rate, as uploads are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dripped_blob_download_is_cut_off_by_the_minimum_rate() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = signed_image(&reg, "app", Some("v1"), &k, &[]).await;
    let layer = Digest::sha256(&img.layers[0]);
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, resp| {
            if req.method == "GET" && req.path.ends_with(&layer.to_string()) {
                resp.drip = Some(Duration::from_millis(3));
            }
        })),
    })
    .await;
    let dest = tempfile::tempdir().unwrap();
    let start = Instant::now();
    let o = run(&[
        "copy",
        &format!("{}/app:v1", proxy.addr),
        &format!("oci:{}:v1", dest.path().display()),
        "--key",
        &k.public,
        "--identity",
        &format!("{}/app", reg.addr),
        "--timeout",
        "1",
        "--retries",
        "0",
    ]);
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("slower than the minimum"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    let l = hallmark::layout::Layout::open(dest.path()).unwrap();
    assert!(l.list_tags().unwrap().is_empty());
}

/// A registry that sends the client to a token service over plain HTTP on another host: no
/// credential goes there, and the refusal says so without naming a flag, which the hint
/// does (`--allow-http`, and when to use it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_http_token_realm_elsewhere_gets_no_credentials() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("app"), Some("v1"), "x").await;
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(|_req, resp| {
            resp.status = 401;
            resp.headers = vec![(
                "www-authenticate".into(),
                r#"Bearer realm="http://token.example.invalid/token",service="registry""#.into(),
            )];
            resp.body =
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"token needed"}]}"#.to_vec();
        })),
    })
    .await;
    let o = run(&[
        "verify",
        &format!("{}/app@{}", proxy.addr, img.digest()),
        "--key",
        &k.public,
    ]);
    expect_code(&o, 3);
    let err = stderr(&o);
    let error = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(
        error.contains("token realm is not HTTPS; refusing to send credentials"),
        "{err}"
    );
    assert!(!error.contains("--"), "the error names a flag: {error}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint: ") && l.contains("--allow-http")),
        "{err}"
    );
}
