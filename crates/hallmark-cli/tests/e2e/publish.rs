//! `publish` (sign before push) and `digest` against a real registry.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::harness::*;
use hallmark::digest::Digest;
use hallmark::image::Image;
use hallmark::layout::Layout;
use hallmark::oci::{Manifest, OCI_INDEX};
use hallmark::store::Store;

/// A multi-platform OCI layout: an index over two images, tagged `v1`.
async fn multi_arch_layout(dir: &Path) -> (Store, Manifest) {
    let store = Store::Layout(Layout::create(dir).unwrap());
    let amd = Image::random("amd64", 5000).unwrap();
    let arm = Image::random("arm64", 7000).unwrap();
    amd.push(&store, None).await.unwrap();
    arm.push(&store, None).await.unwrap();
    let entry = |i: &Image, arch: &str| {
        serde_json::json!({"mediaType": i.manifest.media_type, "digest": i.digest().to_string(),
            "size": i.manifest.bytes.len(), "platform": {"os": "linux", "architecture": arch}})
    };
    // Written with two-space indentation: the digest must be of these exact bytes.
    let index = serde_json::to_vec_pretty(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
        "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")]}),
    )
    .unwrap();
    let index = Manifest::new(index, OCI_INDEX);
    store.put_manifest(&index, Some("v1")).await.unwrap();
    (store, index)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oci_layout_is_published_byte_exact_signed_and_idempotent() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let (_, index) = multi_arch_layout(dir.path()).await;
    let src = format!("oci:{}:v1", dir.path().display());

    let o = run(&["digest", &src]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), format!("{}\n", index.digest));

    let dest = format!("{}/team/app:v1,latest", reg.addr);
    let o = publish(&[
        &src,
        &dest,
        "--key",
        &k.private,
        "--bind-tag",
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_eq!(v["digest"], index.digest.to_string());
    assert_eq!(
        v["reference"],
        format!("{}/team/app@{}", reg.addr, index.digest)
    );
    assert_eq!(v["blobs"]["uploaded"], 4); // two configs, two layers
    let store = reg.store("team/app");
    // Byte exact: the registry serves the very bytes that were in the layout.
    let served = store
        .get_manifest(&index.digest.to_string())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(served.bytes, index.bytes);
    for tag in ["v1", "latest"] {
        let o = run(&["digest", &format!("{}/team/app:{tag}", reg.addr)]);
        assert_eq!(stdout(&o), format!("{}\n", index.digest));
        let o = run(&[
            "verify",
            &format!("{}/team/app:{tag}", reg.addr),
            "--key",
            &k.public,
            "--require-tag-binding",
        ]);
        expect_code(&o, 0);
    }
    // Every child manifest and blob landed, by digest.
    let refs = index.references().unwrap();
    for child in &refs.manifests {
        let m = store
            .get_manifest(&child.digest.to_string())
            .await
            .unwrap()
            .unwrap();
        for b in m.references().unwrap().blobs {
            assert!(store.get_blob(&b.digest, 1 << 20).await.unwrap().is_some());
        }
    }
    // The independent verifier accepts it.
    let py = Command::new(python())
        .arg(py_tool())
        .args([
            "verify",
            &reg.addr,
            "team/app",
            &index.digest.to_string(),
            &k.public,
        ])
        .output()
        .unwrap();
    assert!(
        py.status.success(),
        "{}",
        String::from_utf8_lossy(&py.stdout)
    );

    // Again: nothing is uploaded; the new signature replaces the earlier one of this key
    // (it binds the same tags: one that bound others would stay beside it). Signing is
    // deterministic to the second: made within the same second, the signature would be the
    // earlier one itself and replace nothing, so the second publish starts in a later one.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let o = publish(&[
        &src,
        &dest,
        "--key",
        &k.private,
        "--bind-tag",
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_eq!(v["blobs"]["uploaded"], 0);
    assert_eq!(v["blobs"]["present"], 4);
    let sig = store
        .get_manifest(&hallmark::signature::signature_tag(&index.digest))
        .await
        .unwrap()
        .unwrap();
    let sig: serde_json::Value = serde_json::from_slice(&sig.bytes).unwrap();
    assert_eq!(sig["layers"].as_array().unwrap().len(), 1);
    assert_eq!(v["replaced"], 1);

    // Into another repository of the same registry: blobs are mounted, not uploaded.
    let o = publish(&[
        &src,
        &format!("{}/team/copy:v1", reg.addr),
        "--key",
        &k.private,
        "--mount-from",
        "team/app",
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_eq!(
        (
            v["blobs"]["mounted"].as_u64(),
            v["blobs"]["uploaded"].as_u64()
        ),
        (Some(4), Some(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_archives_both_forms() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/interop/make_docker_archive.py");
    for form in ["legacy", "oci"] {
        let tar = dir.path().join(format!("{form}.tar"));
        let made = Command::new(python())
            .arg(&script)
            .args([form, tar.to_str().unwrap(), "seed"])
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        let src = format!("docker-archive:{}", tar.display());
        let o = run(&["digest", &src]);
        expect_code(&o, 0);
        let digest = stdout(&o).trim().to_string();
        if form == "oci" {
            // The OCI form is taken byte for byte: the digest the writer computed.
            assert_eq!(digest, String::from_utf8_lossy(&made.stdout).trim());
        }
        // The legacy conversion is deterministic.
        assert_eq!(stdout(&run(&["digest", &src])).trim(), digest);
        let o = publish(&[
            &src,
            &format!("{}/archive/{form}:v1", reg.addr),
            "--key",
            &k.private,
        ]);
        expect_code(&o, 0);
        assert_eq!(
            stdout(&o),
            format!("{}/archive/{form}@{digest}\n", reg.addr)
        );
        let o = run(&["digest", &format!("{}/archive/{form}:v1", reg.addr)]);
        assert_eq!(stdout(&o).trim(), digest);
        expect_code(
            &run(&[
                "verify",
                &format!("{}/archive/{form}:v1", reg.addr),
                "--key",
                &k.public,
            ]),
            0,
        );
        let m = reg
            .store(&format!("archive/{form}"))
            .get_manifest("v1")
            .await
            .unwrap()
            .unwrap();
        let refs = m.references().unwrap();
        // Config and two layers; the legacy archive's symlinked repeat of a layer is one blob.
        assert_eq!(refs.blobs.len(), if form == "legacy" { 4 } else { 3 });
        assert!(
            refs.blobs[1..]
                .iter()
                .all(|b| b.media_type == "application/vnd.oci.image.layer.v1.tar")
        );
    }
    // A damaged archive is a clear error, nothing is pushed.
    let bad = dir.path().join("bad.tar");
    std::fs::write(&bad, b"this is not a tarball").unwrap();
    let o = publish(&[
        &format!("docker-archive:{}", bad.display()),
        &format!("{}/archive/bad:v1", reg.addr),
        "--key",
        &k.private,
    ]);
    expect_code(&o, 2);
    assert!(
        reg.store("archive/bad")
            .get_manifest("v1")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_file_becomes_a_signed_oci_artifact() {
    let reg = Registry::start();
    let k = keys("ed25519");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("uploader.sh");
    let content = b"#!/bin/sh\necho uploading coverage\n";
    std::fs::write(&file, content).unwrap();
    let src = format!("file:{}", file.display());
    let o = publish(&[
        &src,
        &format!("{}/tools/uploader:1.0", reg.addr),
        "--key",
        &k.private,
    ]);
    expect_code(&o, 0);
    let store = reg.store("tools/uploader");
    let m = store.get_manifest("1.0").await.unwrap().unwrap();
    assert_eq!(format!("{}\n", m.digest), stdout(&run(&["digest", &src])));
    let doc: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
    assert_eq!(doc["artifactType"], "application/vnd.hallmark.file.v1");
    let layers = doc["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(
        layers[0]["annotations"]["org.opencontainers.image.title"],
        "uploader.sh"
    );
    let d: Digest = layers[0]["digest"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        &store.get_blob(&d, 1 << 20).await.unwrap().unwrap()[..],
        content
    );
    expect_code(
        &run(&[
            "verify",
            &format!("{}/tools/uploader:1.0", reg.addr),
            "--key",
            &k.public,
        ]),
        0,
    );

    // Into a layout, too.
    let lay = dir.path().join("out");
    let o = publish(&[
        &src,
        &format!("oci:{}:1.0", lay.display()),
        "--key",
        &k.private,
    ]);
    expect_code(&o, 0);
    expect_code(
        &run(&[
            "verify",
            &format!("oci:{}:1.0", lay.display()),
            "--key",
            &k.public,
        ]),
        0,
    );

    // Sources that cannot be published are usage errors.
    let o = publish(&[
        &format!("file:{}", dir.path().join("missing").display()),
        &format!("{}/x:1", reg.addr),
        "--key",
        &k.private,
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("no such file"), "{}", stderr(&o));
    let o = publish(&[&src, &format!("{}/x@{}", reg.addr, d), "--key", &k.private]);
    expect_code(&o, 2);
    let untagged = tempfile::tempdir().unwrap();
    let o = publish(&[
        &src,
        &format!("oci:{}", untagged.path().display()),
        "--key",
        &k.private,
        "--bind-tag",
    ]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("--bind-tag without a value binds the destination's tags"),
        "{}",
        stderr(&o)
    );
}

/// A9: the tag is moved by someone else while publish runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a9_tag_moved_during_publish_is_exit_4() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let evil = push_random(&reg.store("app"), None, "poisoned").await;
    let evil_bytes = evil.manifest.bytes.to_vec();
    let upstream = reg.addr.clone();
    // A concurrent writer: right after our tag write lands, it repoints the tag.
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, resp| {
            if req.method == "PUT" && req.path == "/v2/app/manifests/v1" && resp.status == 201 {
                let status = raw_put(
                    &upstream,
                    "/v2/app/manifests/v1",
                    hallmark::oci::OCI_MANIFEST,
                    &evil_bytes,
                );
                assert_eq!(status, Some(201));
            }
        })),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("build.bin");
    std::fs::write(&file, b"the real build").unwrap();
    let o = publish(&[
        &format!("file:{}", file.display()),
        &format!("{}/app:v1", proxy.addr),
        "--key",
        &k.private,
    ]);
    expect_code(&o, 4);
    let err = stderr(&o);
    let good = stdout(&run(&["digest", &format!("file:{}", file.display())]))
        .trim()
        .to_string();
    assert!(
        err.contains(&good) && err.contains(&evil.digest().to_string()),
        "{err}"
    );
    assert!(err.contains("hint: someone moved"), "{err}");
}

/// Registry killed mid-upload: no tag points at a partial artifact; a rerun completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_publish_leaves_no_tag_and_resumes() {
    let reg = Arc::new(Mutex::new(Registry::start()));
    let addr = reg.lock().unwrap().addr.clone();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let layout = Store::Layout(Layout::create(dir.path()).unwrap());
    let img = Image::new(
        serde_json::json!({"architecture": "amd64", "os": "linux"}),
        (0..6).map(|i| vec![i as u8; 200_000 + i]).collect(),
    );
    img.push(&layout, Some("v1")).await.unwrap();
    let uploads = Arc::new(AtomicUsize::new(0));
    let (count, victim) = (uploads.clone(), reg.clone());
    let proxy = Proxy::start(ProxyConfig {
        upstream: addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, _resp| {
            let is_upload = req.method == "PUT" && req.path.contains("/blobs/uploads/");
            if is_upload && count.fetch_add(1, Ordering::SeqCst) == 2 {
                victim.lock().unwrap().kill();
            }
        })),
    })
    .await;
    let src = format!("oci:{}:v1", dir.path().display());
    let o = publish(&[
        &src,
        &format!("{}/app:v1", proxy.addr),
        "--key",
        &k.private,
        "--retries",
        "0",
        "--concurrency",
        "1",
    ]);
    expect_code(&o, 3);
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));

    reg.lock().unwrap().restart();
    let store = reg.lock().unwrap().store("app");
    assert!(
        store.get_manifest("v1").await.unwrap().is_none(),
        "a tag points at a partial artifact"
    );
    assert!(
        store
            .get_manifest(&img.digest().to_string())
            .await
            .unwrap()
            .is_none()
    );

    let o = publish(&[
        &src,
        &format!("{addr}/app:v1"),
        "--key",
        &k.private,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert!(v["blobs"]["present"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(
        v["blobs"]["uploaded"].as_u64().unwrap() + v["blobs"]["present"].as_u64().unwrap(),
        7
    );
    expect_code(
        &run(&["verify", &format!("{addr}/app:v1"), "--key", &k.public]),
        0,
    );
}

/// A blob that does not match its digest in the source is never committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_layout_blob_is_refused_and_nothing_is_tagged() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let img = Image::random("x", 100_000).unwrap();
    img.push(&Store::Layout(layout.clone()), Some("v1"))
        .await
        .unwrap();
    let layer = Digest::sha256(&img.layers[0]);
    let mut bytes = std::fs::read(layout.blob_path(&layer)).unwrap();
    bytes[500] ^= 0xff;
    std::fs::write(layout.blob_path(&layer), &bytes).unwrap();
    let o = publish(&[
        &format!("oci:{}:v1", dir.path().display()),
        &format!("{}/app:v1", reg.addr),
        "--key",
        &k.private,
    ]);
    assert!(code(&o) == 1, "exit {}: {}", code(&o), stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("digest mismatch"), "{err}");
    // The local file is blamed, not the registry.
    assert!(
        err.contains(&layout.blob_path(&layer).display().to_string()),
        "{err}"
    );
    assert!(!err.contains("registry served"), "{err}");
    assert!(err.contains("hint: file "), "{err}");
    let store = reg.store("app");
    assert!(store.get_manifest("v1").await.unwrap().is_none());
    assert!(store.get_blob(&layer, 1 << 20).await.unwrap().is_none());
}

/// Blobs over the chunk size go up in several PATCH requests, streamed from disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_blobs_are_uploaded_in_chunks() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: None,
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.bin");
    let size = hallmark::registry::ClientOptions::default().chunk_size as usize + 1_000_003;
    let mut data = vec![0u8; size];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2654435761) >> 13) as u8;
    }
    std::fs::write(&file, &data).unwrap();
    let src = format!("file:{}", file.display());
    let o = publish(&[
        &src,
        &format!("{}/big:v1", proxy.addr),
        "--key",
        &k.private,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let patches: Vec<SeenRequest> = proxy
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "PATCH")
        .cloned()
        .collect();
    assert_eq!(patches.len(), 2, "{patches:?}");
    let ranges: Vec<String> = patches
        .iter()
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k == "content-range")
                .map(|(_, v)| v.clone())
        })
        .collect();
    let chunk = hallmark::registry::ClientOptions::default().chunk_size;
    assert_eq!(
        ranges,
        [format!("0-{}", chunk - 1), format!("{chunk}-{}", size - 1)]
    );
    let layer = Digest::sha256(&data);
    let stored = reg
        .store("big")
        .get_blob(&layer, size as u64)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.len(), size);
    // Signed through the proxy's address: verify there.
    expect_code(
        &run(&[
            "verify",
            &format!("{}/big:v1", proxy.addr),
            "--key",
            &k.public,
        ]),
        0,
    );
}

/// A relay to `upstream` that passes what clients send at `rate` bytes a second and the
/// answers at full speed: a slow uplink, so that an upload outlives a short-lived token.
async fn slow_uplink(upstream: String, rate: usize) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let upstream = upstream.clone();
            tokio::spawn(async move {
                let Ok(server) = tokio::net::TcpStream::connect(&upstream).await else {
                    return;
                };
                let (mut from_client, mut to_client) = client.into_split();
                let (mut from_server, mut to_server) = server.into_split();
                let up = async {
                    // A twentieth of a second's worth at a time.
                    let mut buf = vec![0u8; (rate / 20).max(1)];
                    loop {
                        let n = match from_client.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                        tokio::time::sleep(Duration::from_secs_f64(n as f64 / rate as f64)).await;
                    }
                    let _ = to_server.shutdown().await;
                };
                let down = async {
                    let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                    let _ = to_client.shutdown().await;
                };
                tokio::join!(up, down);
            });
        }
    });
    (addr, task)
}

/// A token that expires while a chunked upload is under way: the next request of the
/// session is refused (401), and the upload authenticates again and carries on where it
/// was, instead of failing the publish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_expiring_mid_upload_is_renewed() {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/interop/token_server.py");
    let mut server = Command::new(python())
        .arg(script)
        .arg(dir.path())
        .arg("ci:s3cret")
        .arg(r#"{"team/big": ["pull", "push"]}"#)
        .env("TOKEN_LIFETIME", "2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut port,
    )
    .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _server = Kill(server);
    let reg = Registry::start_with_auth(&format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: hallmark-test\n    issuer: hallmark-test\n    rootcertbundle: {}\n",
        port.trim(),
        dir.path().join("token.pem").display()
    ));
    // The first chunk alone takes about four seconds: twice the token's life.
    let (addr, _relay) = slow_uplink(reg.addr.clone(), 16 << 20).await;
    let k = keys("ecdsa-p256");
    let file = dir.path().join("big.bin");
    let size = hallmark::registry::ClientOptions::default().chunk_size as usize + 1_000_003;
    let mut data = vec![0u8; size];
    for (i, b) in data.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2654435761) >> 13) as u8;
    }
    std::fs::write(&file, &data).unwrap();
    let dest = format!("{addr}/team/big:v1");
    let o = run_stdin(
        &[
            "publish",
            &format!("file:{}", file.display()),
            &dest,
            "--key",
            &k.private,
            "--username",
            "ci",
            "--password-stdin",
            "-v",
        ],
        &[("HALLMARK_PASSWORD", PASSWORD)],
        b"s3cret\n",
    );
    expect_code(&o, 0);
    // The scenario happened: a request of the session was refused and sent again.
    assert!(
        stderr(&o).contains("refused (401) mid-upload; authenticating again"),
        "{}",
        stderr(&o)
    );
    let o = run_stdin(
        &[
            "verify",
            &dest,
            "--key",
            &k.public,
            "--username",
            "ci",
            "--password-stdin",
        ],
        &[],
        b"s3cret\n",
    );
    expect_code(&o, 0);
    // Exactly the file's bytes were stored, once.
    let layer = Digest::sha256(&data);
    let stored = std::fs::metadata(
        reg.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&layer.hex()[..2])
            .join(layer.hex())
            .join("data"),
    )
    .unwrap();
    assert_eq!(stored.len(), size as u64);
}

/// A registry that took a blob's bytes but answered 401 (a token that expired as the
/// request ended, or a proxy in between): sent again after authenticating, the request
/// finds the session gone, and the upload starts a new one instead of failing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_refused_after_its_bytes_were_taken_starts_a_new_session() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let layer = Digest::sha256(&data);
    let closed = Arc::new(AtomicUsize::new(0));
    let count = closed.clone();
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: Some(ProxyAuth {
            user: "ci-bot".into(),
            password: "hunter2".into(),
            basic: false,
        }),
        tamper: Some(Arc::new(move |req, resp| {
            let closing = req.method == "PUT"
                && req.path.contains("/blobs/uploads/")
                && req
                    .path
                    .contains(&format!("digest=sha256%3A{}", layer.hex()));
            if closing && resp.status == 201 && count.fetch_add(1, Ordering::SeqCst) == 0 {
                let host = req
                    .headers
                    .iter()
                    .find(|(k, _)| k == "host")
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default();
                resp.status = 401;
                resp.headers = vec![(
                    "www-authenticate".into(),
                    format!(r#"Bearer realm="http://{host}/token",service="test-registry""#),
                )];
                resp.body =
                    br#"{"errors":[{"code":"UNAUTHORIZED","message":"token expired"}]}"#.to_vec();
            }
        })),
    })
    .await;
    let dest = format!("{}/tools/tool:1.0", proxy.addr);
    let o = run_stdin(
        &[
            "publish",
            &format!("file:{}", file.display()),
            &dest,
            "--key",
            &k.private,
            "--username",
            "ci-bot",
            "--password-stdin",
            "-v",
        ],
        &[("HALLMARK_PASSWORD", PASSWORD)],
        b"hunter2\n",
    );
    expect_code(&o, 0);
    // The closing PUT went through twice: refused once (a lie), then in the new session.
    assert_eq!(closed.load(Ordering::SeqCst), 2);
    assert!(
        stderr(&o).contains("lost its session after re-authenticating; starting a new one"),
        "{}",
        stderr(&o)
    );
    let o = run_stdin(
        &[
            "verify",
            &dest,
            "--key",
            &k.public,
            "--username",
            "ci-bot",
            "--password-stdin",
        ],
        &[],
        b"hunter2\n",
    );
    expect_code(&o, 0);
}
