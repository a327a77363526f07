//! Each test runs one attack from THREAT-MODEL.md against a real registry and the real
//! binary, and proves that it fails.

use std::sync::Arc;

use crate::harness::*;
use crate::json_output::documented;
use bytes::Bytes;
use hallmark::digest::Digest;
use hallmark::oci::{Manifest, OCI_MANIFEST};
use hallmark::signature::signature_tag;
use hallmark::store::Store;

async fn sig_manifest(store: &Store, d: &Digest) -> Manifest {
    store
        .get_manifest(&signature_tag(d))
        .await
        .unwrap()
        .expect("signature manifest")
}

fn json(m: &Manifest) -> serde_json::Value {
    serde_json::from_slice(&m.bytes).unwrap()
}

async fn put_json(store: &Store, v: &serde_json::Value, tag: &str) {
    let m = Manifest::new(serde_json::to_vec(v).unwrap(), OCI_MANIFEST);
    store.put_manifest(&m, Some(tag)).await.unwrap();
}

/// A1, the seed attack: the tag is swapped between push and sign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a1_tag_swap_between_push_and_sign_is_stopped() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("team/app");
    let good = push_random(&store, Some("v1.1"), "good").await;
    let evil = push_random(&store, Some("v1.1"), "poisoned").await; // attacker moves v1.1
    let repo = format!("{}/team/app", reg.addr);
    let (gd, ed) = (good.digest().to_string(), evil.digest().to_string());

    // Signing the tag is refused outright, with a hint showing the digest form.
    let o = sign(&[&format!("{repo}:v1.1"), "--key", &k.private]);
    expect_code(&o, 2);
    let err = stderr(&o);
    assert!(err.starts_with("error: refusing to sign"), "{err}");
    assert!(
        err.contains(&format!(
            "hint: sign the digest your pipeline built: hallmark sign {repo}@sha256:<digest>"
        )),
        "{err}"
    );
    assert!(stdout(&o).is_empty());

    // With the digest the pipeline built, the swap is detected: exit 4, both digests named.
    let o = sign(&[
        &format!("{repo}:v1.1"),
        "--expect-digest",
        &gd,
        "--key",
        &k.private,
    ]);
    expect_code(&o, 4);
    assert!(
        stderr(&o).contains(&gd) && stderr(&o).contains(&ed),
        "{}",
        stderr(&o)
    );
    assert!(
        store
            .get_manifest(&signature_tag(evil.digest()))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .get_manifest(&signature_tag(good.digest()))
            .await
            .unwrap()
            .is_none()
    );

    // Signing by digest signs the good image, whatever the tag says.
    let o = sign(&[&format!("{repo}@{gd}"), "--key", &k.private]);
    expect_code(&o, 0);
    assert_eq!(
        stdout(&o),
        format!("{repo}:{}\n", signature_tag(good.digest()))
    );

    // The swapped tag does not verify; the pinned digest does and is printed.
    let o = run(&["verify", &format!("{repo}:v1.1"), "--key", &k.public]);
    expect_code(&o, 1);
    assert!(
        stdout(&o).is_empty(),
        "nothing to pull on failure: {}",
        stdout(&o)
    );
    assert!(stderr(&o).contains("no signature"), "{}", stderr(&o));
    let o = run(&["verify", &format!("{repo}@{gd}"), "--key", &k.public]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), format!("{repo}@{gd}\n"));

    // When the tag is moved back to the good image, verify by tag pins the good digest.
    good.push(&store, Some("v1.1")).await.unwrap();
    let o = run(&[
        "verify",
        &format!("{repo}:v1.1"),
        "--key",
        &k.public,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verified"], true);
    assert_eq!(v["reference"], format!("{repo}@{gd}"));
    assert_eq!(v["digest"], gd);
    assert_eq!(v["signatures"][0]["key"], k.public);
    assert_eq!(v["signatures"][0]["algorithm"], "ecdsa-p256");
}

/// A4: a valid signature copied onto another image or into another repository.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a4_copied_signature_does_not_verify() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("team/app");
    let good = push_random(&store, None, "good").await;
    let evil = push_random(&store, None, "poisoned").await;
    let repo = format!("{}/team/app", reg.addr);
    expect_code(
        &sign(&[&format!("{repo}@{}", good.digest()), "--key", &k.private]),
        0,
    );

    // Onto another image in the same repository.
    let sig = sig_manifest(&store, good.digest()).await;
    store
        .put_manifest(&sig, Some(&signature_tag(evil.digest())))
        .await
        .unwrap();
    let o = run(&[
        "verify",
        &format!("{repo}@{}", evil.digest()),
        "--key",
        &k.public,
    ]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains(&format!("signed for {}", good.digest())),
        "{}",
        stderr(&o)
    );

    // Into another repository, with the same image: the identity does not match.
    let other = reg.store("attacker/mirror");
    good.push(&other, None).await.unwrap();
    let payload_layer = &json(&sig)["layers"][0];
    let payload_digest: Digest = payload_layer["digest"].as_str().unwrap().parse().unwrap();
    let payload = store
        .get_blob(&payload_digest, 65536)
        .await
        .unwrap()
        .unwrap();
    other.put_blob(&payload_digest, payload).await.unwrap();
    let config_digest: Digest = json(&sig)["config"]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let config = store
        .get_blob(&config_digest, 65536)
        .await
        .unwrap()
        .unwrap();
    other.put_blob(&config_digest, config).await.unwrap();
    other
        .put_manifest(&sig, Some(&signature_tag(good.digest())))
        .await
        .unwrap();
    let mirror = format!("{}/attacker/mirror@{}", reg.addr, good.digest());
    let o = run(&["verify", &mirror, "--key", &k.public]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains(&format!("signed for {repo}"))
            && stderr(&o).contains("copied from another repository"),
        "{}",
        stderr(&o)
    );
    // The command line says which flag accepts the mirror; the report itself, which a
    // script reads, states only the fact.
    assert!(
        stderr(&o).contains(&format!(
            "copied from another repository; if {repo} is a mirror you trust, accept it with --identity {repo}"
        )),
        "{}",
        stderr(&o)
    );
    let o = run(&["verify", &mirror, "--key", &k.public, "--output", "json"]);
    expect_code(&o, 1);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let errors = v["errors"].as_array().unwrap();
    assert!(
        errors.iter().any(|e| e
            .as_str()
            .unwrap()
            .ends_with("the signature was copied from another repository")),
        "{v}"
    );
    assert!(!v.to_string().contains("--identity"), "{v}");
    // Only an explicit identity allowance accepts the mirror.
    let o = run(&["verify", &mirror, "--key", &k.public, "--identity", &repo]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), format!("{mirror}\n"));

    // scan and pin judge many references: the advice is said once, as a hint, and their
    // reasons (which scripts read) state only the fact.
    good.push(&other, Some("v1")).await.unwrap();
    let mirror_repo = format!("{}/attacker/mirror", reg.addr);
    let hint = format!("hint: if {repo} is a mirror you trust, accept it with --identity {repo}");
    let o = run(&["scan", &mirror_repo, "--key", &k.public]);
    assert!(stderr(&o).contains(&hint), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches("hint: ").count(), 1, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("copied from another repository"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("--identity"), "{}", stdout(&o));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pod.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n  - name: app\n    image: {mirror_repo}:v1\n"
        ),
    )
    .unwrap();
    let o = hallmark()
        .args(["pin", ".", "--key", &k.public])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(stderr(&o).contains(&hint), "{}", stderr(&o));
    assert!(stderr(&o).contains("NOT pinned"), "{}", stderr(&o));
}

/// A6: the signature is deleted, or replaced by the attacker's own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a6_deleted_or_replaced_signature_fails_closed() {
    let reg = Registry::start();
    let ours = keys("ecdsa-p256");
    let theirs = keys("ecdsa-p256");
    let store = reg.store("app");
    let img = push_random(&store, None, "good").await;
    let pinned = format!("{}/app@{}", reg.addr, img.digest());
    expect_code(&sign(&[&pinned, "--key", &ours.private]), 0);
    expect_code(&run(&["verify", &pinned, "--key", &ours.public]), 0);

    // Replaced: the attacker overwrites the signature tag with a manifest of their own.
    let sig = sig_manifest(&store, img.digest()).await;
    let hallmark::store::Store::Registry { client, repo } = &store else {
        unreachable!()
    };
    client.delete_manifest(repo, &sig.digest).await.unwrap();
    expect_code(&sign(&[&pinned, "--key", &theirs.private]), 0);
    let o = run(&["verify", &pinned, "--key", &ours.public]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("not signed by any of the given keys"),
        "{}",
        stderr(&o)
    );

    // Deleted: nothing to verify is a "no", not a pass.
    let sig = sig_manifest(&store, img.digest()).await;
    client.delete_manifest(repo, &sig.digest).await.unwrap();
    let o = run(&[
        "verify",
        &pinned,
        "--key",
        &ours.public,
        "--key",
        &theirs.public,
    ]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("no signature"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
}

/// Appending a signature never drops another signer's layer; either key verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appending_keeps_every_signers_layer() {
    let reg = Registry::start();
    let k1 = keys("ecdsa-p256");
    let k2 = keys("ed25519");
    let store = reg.store("app");
    let img = push_random(&store, None, "good").await;
    let pinned = format!("{}/app@{}", reg.addr, img.digest());
    expect_code(
        &sign(&[&pinned, "--key", &k1.private, "-a", "stage=build"]),
        0,
    );
    expect_code(&sign(&[&pinned, "--key", &k2.private, "-a", "stage=qa"]), 0);
    let sig = sig_manifest(&store, img.digest()).await;
    assert_eq!(json(&sig)["layers"].as_array().unwrap().len(), 2);
    for k in [&k1, &k2] {
        expect_code(&run(&["verify", &pinned, "--key", &k.public]), 0);
    }
    let o = run(&[
        "verify", &pinned, "--key", &k1.public, "--key", &k2.public, "--output", "json",
    ]);
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    let stages: Vec<&str> = v["signatures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["annotations"]["stage"].as_str().unwrap())
        .collect();
    assert_eq!(stages, ["build", "qa"]);
    assert_eq!(v["signatures"][1]["algorithm"], "ed25519");
}

/// A7: tampered payload, swapped signature annotation, wrong key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a7_tampering_and_wrong_keys_fail() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let stranger = keys("ecdsa-p256");
    let store = reg.store("app");
    let img = push_random(&store, None, "good").await;
    let other = push_random(&store, None, "other").await;
    let pinned = format!("{}/app@{}", reg.addr, img.digest());
    expect_code(
        &sign(&[&pinned, "--key", &k.private, "-a", "env=staging"]),
        0,
    );
    expect_code(
        &sign(&[
            &format!("{}/app@{}", reg.addr, other.digest()),
            "--key",
            &k.private,
        ]),
        0,
    );
    let tag = signature_tag(img.digest());
    let original = json(&sig_manifest(&store, img.digest()).await);

    // Wrong key.
    let o = run(&["verify", &pinned, "--key", &stranger.public]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("not signed by any of the given keys"));

    // Payload tampered: env=staging → env=prod, new blob, layer repointed, signature kept.
    let payload_digest: Digest = original["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let payload = store
        .get_blob(&payload_digest, 65536)
        .await
        .unwrap()
        .unwrap();
    let forged = String::from_utf8(payload.to_vec())
        .unwrap()
        .replace("staging", "prod");
    assert_ne!(forged.as_bytes(), &payload[..]);
    let forged_digest = Digest::sha256(forged.as_bytes());
    store
        .put_blob(&forged_digest, Bytes::from(forged.clone()))
        .await
        .unwrap();
    let mut v = original.clone();
    v["layers"][0]["digest"] = forged_digest.to_string().into();
    v["layers"][0]["size"] = forged.len().into();
    put_json(&store, &v, &tag).await;
    let o = run(&["verify", &pinned, "--key", &k.public]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("payload was altered"), "{}", stderr(&o));

    // Signature annotation swapped for a valid signature over another payload.
    let other_sig = json(&sig_manifest(&store, other.digest()).await);
    let mut v = original.clone();
    v["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] =
        other_sig["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"].clone();
    put_json(&store, &v, &tag).await;
    expect_code(&run(&["verify", &pinned, "--key", &k.public]), 1);

    // A foreign layer type next to a broken signature is ignored, never trusted.
    let mut v = original.clone();
    v["layers"][0]["mediaType"] = "application/vnd.example.trust-me+json".into();
    put_json(&store, &v, &tag).await;
    let o = run(&["verify", &pinned, "--key", &k.public]);
    expect_code(&o, 1);

    // Restored, it verifies again: the checks above failed for the tampering alone.
    put_json(&store, &original, &tag).await;
    expect_code(&run(&["verify", &pinned, "--key", &k.public]), 0);
}

/// A3: a registry (or something in front of it) serves bytes that do not match.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a3_wrong_bytes_from_the_registry_are_rejected() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let img = signed_image(&reg, "app", Some("v1"), &k, &[]).await;
    let evil = push_random(&store, None, "poisoned").await;

    // The proxy answers requests for the good manifest with the poisoned one, and
    // flips a byte in every signature payload it serves.
    let good_path = format!("/v2/app/manifests/{}", img.digest());
    let evil_bytes = evil.manifest.bytes.to_vec();
    let tamper_payloads = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = tamper_payloads.clone();
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, resp| {
            if req.method == "GET" && req.path == good_path {
                resp.body = evil_bytes.clone();
            }
            if flag.load(std::sync::atomic::Ordering::SeqCst)
                && req.path.contains("/blobs/")
                && resp.body.starts_with(b"{\"critical\"")
            {
                resp.body[20] ^= 0x01;
            }
        })),
    })
    .await;
    let via_proxy = format!("{}/app@{}", proxy.addr, img.digest());
    let o = run(&["verify", &via_proxy, "--key", &k.public, "--retries", "0"]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("digest mismatch"), "{}", stderr(&o));
    assert!(stdout(&o).is_empty());
    let o = run(&["digest", &via_proxy]);
    expect_code(&o, 1);

    // Sign refuses too: it must not sign bytes it cannot confirm.
    let o = sign(&[&via_proxy, "--key", &k.private]);
    expect_code(&o, 1);

    // Tampered payload blob: served bytes do not hash to the layer digest.
    tamper_payloads.store(true, std::sync::atomic::Ordering::SeqCst);
    let o = run(&[
        "verify",
        &format!("{}/app:v1", proxy.addr),
        "--key",
        &k.public,
    ]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("digest mismatch"), "{}", stderr(&o));
}

/// A5 (tag binding): a tag rolled back to an older, validly signed image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a5_rollback_is_caught_by_tag_binding() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let repo = format!("{}/app", reg.addr);
    let old = push_random(&store, Some("v1.0"), "old").await;
    expect_code(
        &sign(&[
            &format!("{repo}@{}", old.digest()),
            "--key",
            &k.private,
            "--bind-tag",
            "v1.0",
        ]),
        0,
    );
    let new = push_random(&store, Some("v1.1"), "new").await;
    let o = sign(&[
        &format!("{repo}:v1.1"),
        "--expect-digest",
        &new.digest().to_string(),
        "--key",
        &k.private,
        "--bind-tag",
        "v1.1",
    ]);
    expect_code(&o, 0);
    expect_code(
        &run(&[
            "verify",
            &format!("{repo}:v1.1"),
            "--key",
            &k.public,
            "--require-tag-binding",
        ]),
        0,
    );

    old.push(&store, Some("v1.1")).await.unwrap(); // rollback
    // Without binding the old image still verifies (it is validly signed)...
    expect_code(
        &run(&["verify", &format!("{repo}:v1.1"), "--key", &k.public]),
        0,
    );
    // ...with binding, the rollback is refused.
    let o = run(&[
        "verify",
        &format!("{repo}:v1.1"),
        "--key",
        &k.public,
        "--require-tag-binding",
    ]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("\"v1.1\" is not bound"),
        "{}",
        stderr(&o)
    );
    // A digest reference has no tag to bind: that is a usage error.
    let o = run(&[
        "verify",
        &format!("{repo}@{}", old.digest()),
        "--key",
        &k.public,
        "--require-tag-binding",
    ]);
    expect_code(&o, 2);
}

/// Bearer-token registries: credentials from --password-stdin or docker's config.json.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_auth_with_explicit_and_configured_credentials() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("app"), None, "good").await;
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        tamper: None,
        auth: Some(ProxyAuth {
            user: "ci-bot".into(),
            password: "hunter2".into(),
            basic: false,
        }),
    })
    .await;
    let pinned = format!("{}/app@{}", proxy.addr, img.digest());

    // No credentials: exit 3 with a hint to log in.
    let o = sign(&[&pinned, "--key", &k.private]);
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("hint: log in with `docker login"),
        "{}",
        stderr(&o)
    );

    // --username/--password-stdin.
    let args = [
        "sign",
        &pinned,
        "--key",
        &k.private,
        "--username",
        "ci-bot",
        "--password-stdin",
    ];
    let o = run_stdin(&args, &[("HALLMARK_PASSWORD", PASSWORD)], b"hunter2\n");
    expect_code(&o, 0);

    // ~/.docker/config.json auths.
    let dir = tempfile::tempdir().unwrap();
    use base64ct::{Base64, Encoding};
    let auth = Base64::encode_string(b"ci-bot:hunter2");
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, proxy.addr),
    )
    .unwrap();
    let o = run_env(
        &["verify", &pinned, "--key", &k.public],
        &[("DOCKER_CONFIG", dir.path().to_str().unwrap())],
    );
    expect_code(&o, 0);
    assert!(
        proxy
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.path.starts_with("/token")),
        "no token request"
    );

    // containers' auth file (REGISTRY_AUTH_FILE), when docker has no entry.
    let auth_file = dir.path().join("auth.json");
    std::fs::write(
        &auth_file,
        format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, proxy.addr),
    )
    .unwrap();
    let o = run_env(
        &["verify", &pinned, "--key", &k.public],
        &[("REGISTRY_AUTH_FILE", auth_file.to_str().unwrap())],
    );
    expect_code(&o, 0);

    // A credential helper named in credHelpers (docker-credential-<name> on PATH).
    let bin = tempfile::tempdir().unwrap();
    let helper = bin.path().join("docker-credential-hallmark-test");
    let script = "#!/bin/sh\nread server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"ci-bot\",\"Secret\":\"hunter2\"}' \"$server\"\n";
    std::fs::write(&helper, script).unwrap();
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        format!(r#"{{"credHelpers":{{"{}":"hallmark-test"}}}}"#, proxy.addr),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap()
    );
    let env = [
        ("DOCKER_CONFIG", dir.path().to_str().unwrap()),
        ("PATH", path.as_str()),
    ];
    expect_code(&run_env(&["verify", &pinned, "--key", &k.public], &env), 0);
    // Wrong credentials from the helper are refused.
    std::fs::write(
        &helper,
        "#!/bin/sh\nprintf '{\"Username\":\"ci-bot\",\"Secret\":\"wrong\"}'\n",
    )
    .unwrap();
    expect_code(&run_env(&["verify", &pinned, "--key", &k.public], &env), 3);
}

/// Basic auth registries, and tag listing across pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_and_paginated_tag_lists() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let mut tags = Vec::new();
    for i in 0..5 {
        let t = format!("v{i}");
        push_random(&store, Some(&t), "x").await;
        tags.push(t);
    }
    let hallmark::store::Store::Registry { client, repo } = &store else {
        unreachable!()
    };
    let mut listed = client.list_tags_paged(repo, 2).await.unwrap().unwrap();
    listed.sort();
    assert_eq!(listed, tags);

    let img = push_random(&store, None, "basic").await;
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        tamper: None,
        auth: Some(ProxyAuth {
            user: "ci-bot".into(),
            password: "hunter2".into(),
            basic: true,
        }),
    })
    .await;
    let pinned = format!("{}/app@{}", proxy.addr, img.digest());
    let args = [
        "sign",
        &pinned,
        "--key",
        &k.private,
        "--username",
        "ci-bot",
        "--password-stdin",
    ];
    let o = run_stdin(&args, &[("HALLMARK_PASSWORD", PASSWORD)], b"hunter2\n");
    expect_code(&o, 0);
    let o = run(&["verify", &pinned, "--key", &k.public]);
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("requires a username and password"),
        "{}",
        stderr(&o)
    );
}

/// Registry failures are exit 3 with one error line, never a hang or a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_registry_is_exit_3() {
    let port = free_port();
    let k = keys("ecdsa-p256");
    let d = Digest::sha256(b"x");
    let o = run(&[
        "verify",
        &format!("127.0.0.1:{port}/app@{d}"),
        "--key",
        &k.public,
        "--retries",
        "1",
    ]);
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(
        err.starts_with("error: cannot reach http://127.0.0.1:"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
    // A missing artifact is a "no", not an outage.
    let reg = Registry::start();
    let o = run(&[
        "verify",
        &format!("{}/app@{d}", reg.addr),
        "--key",
        &k.public,
    ]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("artifact not found"), "{}", stderr(&o));
}

/// A registry that sends uploads to another host never receives our credentials there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_do_not_follow_uploads_to_another_host() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("app"), None, "good").await;
    let elsewhere = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        tamper: None,
        auth: None,
    })
    .await;
    let other = elsewhere.addr.clone();
    let front = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: Some(ProxyAuth {
            user: "ci-bot".into(),
            password: "hunter2".into(),
            basic: false,
        }),
        tamper: Some(Arc::new(move |req, resp| {
            if req.method == "POST" && req.path.contains("/blobs/uploads/") {
                for (k, v) in resp.headers.iter_mut() {
                    if k == "location" {
                        let path = v
                            .split_once("/v2/")
                            .map(|(_, p)| p.to_string())
                            .unwrap_or_default();
                        *v = format!("http://{other}/v2/{path}");
                    }
                }
            }
        })),
    })
    .await;
    let pinned = format!("{}/app@{}", front.addr, img.digest());
    let args = [
        "sign",
        &pinned,
        "--key",
        &k.private,
        "--username",
        "ci-bot",
        "--password-stdin",
    ];
    let o = run_stdin(&args, &[("HALLMARK_PASSWORD", PASSWORD)], b"hunter2\n");
    expect_code(&o, 0);
    let seen = elsewhere.requests.lock().unwrap();
    assert!(
        seen.iter().any(|r| r.method == "PUT"),
        "the upload did not go elsewhere: {seen:?}"
    );
    assert!(
        seen.iter()
            .all(|r| r.headers.iter().all(|(k, _)| k != "authorization")),
        "credentials leaked to another host"
    );
}

/// A bare name means `:latest`, as in docker: resolved for digest and verify, refused for sign.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_name_means_latest() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("app"), Some("latest"), "x").await;
    let name = format!("{}/app", reg.addr);
    let o = run(&["digest", &name]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), format!("{}\n", img.digest()));
    let o = sign(&[&name, "--key", &k.private]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains(&format!("refusing to sign {name}:latest by tag")),
        "{}",
        stderr(&o)
    );
    expect_code(
        &sign(&[&format!("{name}@{}", img.digest()), "--key", &k.private]),
        0,
    );
    let o = run(&["verify", &name, "--key", &k.public]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), format!("{name}@{}\n", img.digest()));
}

/// TLS with a private CA (--ca-file); a certificate from an unknown CA is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_registry_with_a_private_ca() {
    let (reg, ca) = Registry::start_tls();
    let ca = ca.to_str().unwrap();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool.sh");
    std::fs::write(&file, b"echo ok\n").unwrap();
    let dest = format!("{}/tools/tool:1", reg.addr);
    let o = run_env(
        &[
            "publish",
            &format!("file:{}", file.display()),
            &dest,
            "--key",
            &k.private,
            "--ca-file",
            ca,
        ],
        &[("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 0);
    let o = run(&["verify", &dest, "--key", &k.public, "--ca-file", ca]);
    expect_code(&o, 0);
    assert!(stdout(&o).starts_with(&format!("{}/tools/tool@sha256:", reg.addr)));
    // Another CA: the server's certificate is not trusted.
    let other = tempfile::tempdir().unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/interop/make_cert.py");
    assert!(
        std::process::Command::new(python())
            .arg(script)
            .arg(other.path())
            .status()
            .unwrap()
            .success()
    );
    let o = run(&[
        "verify",
        &dest,
        "--key",
        &k.public,
        "--ca-file",
        other.path().join("ca.pem").to_str().unwrap(),
        "--retries",
        "0",
    ]);
    expect_code(&o, 3);
    assert!(
        stderr(&o).to_lowercase().contains("certificate"),
        "{}",
        stderr(&o)
    );
    assert!(stderr(&o).contains("hint: the registry's certificate is not trusted"));
    // skopeo's --tls-verify=false and cosign's --allow-insecure-registry turn the check
    // off, loudly (even under --quiet); the signature still decides.
    for flag in ["--tls-verify=false", "--allow-insecure-registry"] {
        let o = run(&[
            "verify",
            &dest,
            "--key",
            &k.public,
            "--ca-file",
            other.path().join("ca.pem").to_str().unwrap(),
            flag,
            "--quiet",
        ]);
        expect_code(&o, 0);
        assert!(
            stderr(&o).contains("warning: TLS certificates are not checked"),
            "{}",
            stderr(&o)
        );
        let stranger = keys("ecdsa-p256");
        let o = run(&[
            "verify",
            &dest,
            "--key",
            &stranger.public,
            "--ca-file",
            other.path().join("ca.pem").to_str().unwrap(),
            flag,
        ]);
        expect_code(&o, 1);
    }
    // A file that holds no certificate is a usage error.
    let o = run(&["verify", &dest, "--key", &k.public, "--ca-file", &k.public]);
    expect_code(&o, 2);
}

/// `repo:evil@sha256:GOOD` verifies GOOD, but must not report (or bind) `evil` when that
/// tag names another image: a report that says "evil: verified" would vouch for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_beside_a_digest_is_reported_only_if_it_names_that_digest() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let good = signed_image(
        &reg,
        "app",
        Some("v1"),
        &k,
        &["--bind-tag", "v1", "--bind-tag", "evil"],
    )
    .await;
    push_random(&reg.store("app"), Some("evil"), "poisoned").await;
    let verify = |tag: &str, extra: &[&str]| {
        let reference = format!("{}/app:{tag}@{}", reg.addr, good.digest());
        let mut args = vec![
            "verify",
            reference.as_str(),
            "--key",
            &k.public,
            "--output",
            "json",
        ];
        args.extend_from_slice(extra);
        run(&args)
    };
    let o = verify("v1", &[]);
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["tag"], "v1");

    let o = verify("evil", &[]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_eq!(v["tag"], serde_json::Value::Null, "{v}");
    assert_eq!(v["digest"], good.digest().to_string());
    let notes = v["errors"].to_string();
    assert!(notes.contains("tag evil names sha256:"), "{notes}");

    // The signature binds "evil", but "evil" names another image: nothing is bound.
    let o = verify("evil", &["--require-tag-binding"]);
    expect_code(&o, 1);
    let o = verify("gone", &["--require-tag-binding"]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("tag gone does not exist"),
        "{}",
        stderr(&o)
    );
}

/// A simple-signing payload whose `optional` object repeats `tag`, signed with the real key:
/// a last-wins reader sees the last tag bound, though the signer may have read the first.
/// A signed document that means two things counts for nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_payload_repeating_a_key_is_refused() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let img = push_random(&store, Some("v2"), "good").await;
    let pinned = format!("{}/app@{}", reg.addr, img.digest());
    expect_code(
        &sign(&[&pinned, "--key", &k.private, "--bind-tag", "v1"]),
        0,
    );
    let tag = signature_tag(img.digest());
    let original = json(&sig_manifest(&store, img.digest()).await);
    let payload_digest: Digest = original["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let payload = store
        .get_blob(&payload_digest, 65536)
        .await
        .unwrap()
        .unwrap();
    let payload = String::from_utf8(payload.to_vec()).unwrap();
    assert!(payload.contains(r#""tag":"v1""#), "{payload}");
    let key = hallmark::keys::SigningKey::from_encrypted_pem(
        &std::fs::read(&k.private).unwrap(),
        PASSWORD.as_bytes(),
        "k",
    )
    .unwrap();
    // Re-signed by the key itself, as a careless or hostile signer would.
    let resign = |text: &str| {
        let store = store.clone();
        let original = original.clone();
        let tag = tag.clone();
        let text = text.to_string();
        let signature = <base64ct::Base64 as base64ct::Encoding>::encode_string(
            &key.sign(text.as_bytes()).unwrap(),
        );
        async move {
            let d = Digest::sha256(text.as_bytes());
            store.put_blob(&d, Bytes::from(text.clone())).await.unwrap();
            let mut v = original;
            v["layers"][0]["digest"] = d.to_string().into();
            v["layers"][0]["size"] = text.len().into();
            v["layers"][0]["annotations"]["dev.cosignproject.cosign/signature"] = signature.into();
            put_json(&store, &v, &tag).await;
        }
    };
    let verify_v2 = || {
        run(&[
            "verify",
            &format!("{}/app:v2", reg.addr),
            "--key",
            &k.public,
            "--require-tag-binding",
        ])
    };
    resign(&payload.replace(r#""tag":"v1""#, r#""tag":"v1","tag":"v2""#)).await;
    let o = verify_v2();
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("invalid simple-signing payload: duplicate key \"tag\""),
        "{}",
        stderr(&o)
    );
    // The control: the same re-signing with each key once binds v2 and verifies.
    resign(&payload.replace(r#""tag":"v1""#, r#""tag":"v1, v2""#)).await;
    expect_code(&verify_v2(), 0);
}

/// Copies the `.sig` manifest of `d`, with its blobs, from one repository to another, as
/// anyone who can push to both can.
async fn copy_signature(from: &Store, to: &Store, d: &Digest) {
    let sig = sig_manifest(from, d).await;
    let doc = json(&sig);
    let mut blobs = vec![doc["config"]["digest"].as_str().unwrap().to_string()];
    for l in doc["layers"].as_array().unwrap() {
        blobs.push(l["digest"].as_str().unwrap().to_string());
    }
    for b in blobs {
        let b: Digest = b.parse().unwrap();
        let bytes = from.get_blob(&b, 1 << 20).await.unwrap().unwrap();
        to.put_blob(&b, bytes).await.unwrap();
    }
    to.put_manifest(&sig, Some(&signature_tag(d)))
        .await
        .unwrap();
}

/// A tag moved after signing (the seed attack found after the fact): verification still
/// fails, and says the tag moved, from which signed digest, and what to pull instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_a_tag_moved_after_signing_fails_and_says_from_where() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("team/app");
    let repo = format!("{}/team/app", reg.addr);
    let good = push_random(&store, Some("release"), "good").await;
    let (gd, gref) = (
        good.digest().to_string(),
        format!("{repo}@{}", good.digest()),
    );
    expect_code(
        &sign(&[&gref, "--key", &k.private, "--bind-tag", "release"]),
        0,
    );
    expect_code(
        &run(&["verify", &format!("{repo}:release"), "--key", &k.public]),
        0,
    );
    // Someone with write access moves the tag to their own image.
    let evil = push_random(&store, None, "poisoned").await;
    evil.push(&store, Some("release")).await.unwrap();
    let ed = evil.digest().to_string();

    let o = run(&["verify", &format!("{repo}:release"), "--key", &k.public]);
    expect_code(&o, 1);
    assert!(stdout(&o).is_empty(), "nothing to pull: {}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("tag release was moved after signing: a trusted signature made ")
            && err.contains(&format!("binds it to {gref}, not to the {ed} it names now")),
        "{err}"
    );
    assert!(
        err.contains(&format!("use {gref}, which was signed; if release was moved on purpose, sign what it names now with --bind-tag")),
        "{err}"
    );
    // The explanation comes first; the facts under it are still said.
    let lines: Vec<&str> = err.lines().collect();
    assert!(lines[1].contains("was moved after signing"), "{err}");
    assert!(err.contains("no signature"), "{err}");

    let v = documented(
        "verify.schema.json",
        &["verify", &format!("{repo}:release"), "--key", &k.public],
        1,
    );
    assert_eq!(v["verified"], false);
    assert_eq!(v["digest"], ed.as_str());
    let moved = &v["moved"];
    assert_eq!(moved["tag"], "release", "{v:#}");
    assert_eq!(moved["from"], gd.as_str());
    assert_eq!(moved["from_reference"], gref.as_str());
    assert_eq!(moved["to"], ed.as_str());
    assert!(moved["signed_at"].is_string(), "{v:#}");
    assert!(
        moved["hint"]
            .as_str()
            .unwrap()
            .starts_with(&format!("use {gref}")),
        "{v:#}"
    );
    assert!(
        v["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("tag release was moved after signing"),
        "{v:#}"
    );

    // A tag never signed is plainly unsigned: nothing is claimed about where it was.
    push_random(&store, Some("nightly"), "never signed").await;
    let v = documented(
        "verify.schema.json",
        &["verify", &format!("{repo}:nightly"), "--key", &k.public],
        1,
    );
    assert!(v.get("moved").is_none(), "{v:#}");
    let o = run(&["verify", &format!("{repo}:nightly"), "--key", &k.public]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("no signature"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("moved"), "{}", stderr(&o));

    // By digest, the signed image still verifies: the hint's reference is usable.
    let o = run(&["verify", &gref, "--key", &k.public]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), format!("{gref}\n"));
}

/// A signature made for another repository, copied beside a moved tag, binds nothing
/// here: the tag is not said to have moved, unless that repository is accepted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a8_another_repositorys_binding_is_no_move() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let (web, other) = (reg.store("team/web"), reg.store("team/other"));
    let good = push_random(&web, Some("release"), "good").await;
    good.push(&other, Some("release")).await.unwrap();
    let other_repo = format!("{}/team/other", reg.addr);
    expect_code(
        &sign(&[
            &format!("{other_repo}@{}", good.digest()),
            "--key",
            &k.private,
            "--bind-tag",
            "release",
        ]),
        0,
    );
    copy_signature(&other, &web, good.digest()).await;
    let evil = push_random(&web, None, "poisoned").await;
    evil.push(&web, Some("release")).await.unwrap();
    let web_release = format!("{}/team/web:release", reg.addr);

    let o = run(&["verify", &web_release, "--key", &k.public]);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("no signature"), "{err}");
    assert!(!err.contains("moved"), "{err}");
    let v = documented(
        "verify.schema.json",
        &["verify", &web_release, "--key", &k.public],
        1,
    );
    assert!(v.get("moved").is_none(), "{v:#}");

    // What made the difference is the repository the signature names.
    let v = documented(
        "verify.schema.json",
        &[
            "verify",
            &web_release,
            "--key",
            &k.public,
            "--identity",
            &other_repo,
        ],
        1,
    );
    assert_eq!(
        v["moved"]["from"],
        good.digest().to_string().as_str(),
        "{v:#}"
    );
}
