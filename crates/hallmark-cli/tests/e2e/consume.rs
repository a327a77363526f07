//! Verified consumption (`copy`) and policies (`--policy`, `policy check`), end to end.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::harness::*;
use hallmark::image::Image;
use hallmark::layout::Layout;
use hallmark::oci::{Manifest, OCI_INDEX, OCI_MANIFEST};
use hallmark::signature::signature_tag;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// A2: the tag moves between verification and pull; copy takes what was verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a2_copy_takes_the_verified_digest_even_if_the_tag_moves() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let good = signed_image(&reg, "app", Some("v1"), &k, &[]).await;
    let evil = push_random(&store, None, "poisoned").await;
    // The attacker moves v1 the moment the consumer has resolved it.
    let evil_bytes = evil.manifest.bytes.to_vec();
    let upstream = reg.addr.clone();
    let tag_reads = Arc::new(AtomicUsize::new(0));
    let reads = tag_reads.clone();
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, _| {
            if req.path == "/v2/app/manifests/v1" && reads.fetch_add(1, Ordering::SeqCst) == 0 {
                raw_put(
                    &upstream,
                    "/v2/app/manifests/v1",
                    hallmark::oci::OCI_MANIFEST,
                    &evil_bytes,
                );
            }
        })),
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let identity = format!("{}/app", reg.addr);
    let o = run(&[
        "copy",
        &format!("{}/app:v1", proxy.addr),
        &format!("oci:{}:v1", dest.display()),
        "--key",
        &k.public,
        "--identity",
        &identity,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["digest"], good.digest().to_string());
    assert_eq!(v["verification"]["digest"], good.digest().to_string());
    assert_eq!(
        tag_reads.load(Ordering::SeqCst),
        1,
        "the tag was resolved more than once"
    );
    // The registry's tag now names the poisoned image; the copy holds the good one.
    assert_eq!(
        store.get_manifest("v1").await.unwrap().unwrap().digest,
        *evil.digest()
    );
    let l = Layout::open(&dest).unwrap();
    assert_eq!(l.resolve_tag("v1").unwrap().as_ref(), Some(good.digest()));
    for layer in &good.layers {
        assert!(
            l.get_blob(&hallmark::digest::Digest::sha256(layer), 1 << 20)
                .unwrap()
                .is_some()
        );
    }
    // The signature came along: the copy verifies on its own, as the mirror it is.
    let o = run(&[
        "verify",
        &format!("oci:{}:v1", dest.display()),
        "--key",
        &k.public,
        "--identity",
        &identity,
    ]);
    expect_code(&o, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_sources_are_not_copied() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    push_random(&reg.store("app"), Some("v1"), "unsigned").await;
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("out");
    let o = run(&[
        "copy",
        &format!("{}/app:v1", reg.addr),
        &format!("oci:{}:v1", dest.display()),
        "--key",
        &k.public,
    ]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("no signature"), "{}", stderr(&o));
    assert!(
        !dest.exists(),
        "copy wrote a destination for an unverified source"
    );
    let o = run(&[
        "copy",
        &format!("{}/app:v1", reg.addr),
        &format!("{}/mirror:v1", reg.addr),
        "--key",
        &k.public,
    ]);
    expect_code(&o, 1);
    assert!(
        reg.store("mirror")
            .get_manifest("v1")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_platform_index_all_or_one() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let amd = push_random(&store, None, "amd64").await;
    let arm = push_random(&store, None, "arm64").await;
    let entry = |i: &Image, arch: &str| {
        serde_json::json!({"mediaType": i.manifest.media_type, "digest": i.digest().to_string(),
            "size": i.manifest.bytes.len(), "platform": {"os": "linux", "architecture": arch}})
    };
    let index = Manifest::new(
        serde_json::to_vec(
            &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [entry(&amd, "amd64"), entry(&arm, "arm64")]}),
        )
        .unwrap(),
        OCI_INDEX,
    );
    store.put_manifest(&index, Some("v1")).await.unwrap();
    expect_code(
        &sign(&[
            &format!("{}/app@{}", reg.addr, index.digest),
            "--key",
            &k.private,
        ]),
        0,
    );

    let o = run(&[
        "copy",
        &format!("{}/app:v1", reg.addr),
        &format!("{}/mirror:v1", reg.addr),
        "--key",
        &k.public,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["digest"], index.digest.to_string());
    let mirror = reg.store("mirror");
    assert_eq!(
        mirror.get_manifest("v1").await.unwrap().unwrap().bytes,
        index.bytes
    );
    for child in [&amd, &arm] {
        assert!(
            mirror
                .get_manifest(&child.digest().to_string())
                .await
                .unwrap()
                .is_some()
        );
    }
    expect_code(
        &run(&[
            "verify",
            &format!("{}/mirror:v1", reg.addr),
            "--key",
            &k.public,
            "--identity",
            &format!("{}/app", reg.addr),
        ]),
        0,
    );

    let o = run(&[
        "copy",
        &format!("{}/app:v1", reg.addr),
        &format!("{}/arm:v1", reg.addr),
        "--key",
        &k.public,
        "--platform",
        "linux/arm64",
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["digest"], arm.digest().to_string());
    assert_eq!(v["signature"], serde_json::Value::Null);
    assert_eq!(
        reg.store("arm")
            .get_manifest("v1")
            .await
            .unwrap()
            .unwrap()
            .digest,
        *arm.digest()
    );
    let o = run(&[
        "copy",
        &format!("{}/app:v1", reg.addr),
        &format!("{}/x:v1", reg.addr),
        "--key",
        &k.public,
        "--platform",
        "windows/amd64",
    ]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("available: linux/amd64, linux/arm64"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_thresholds_annotations_default_deny_and_allow_unsigned() {
    let reg = Registry::start();
    let release = keys("ecdsa-p256");
    let security = keys("ed25519");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&release.public, dir.path().join("release.pub")).unwrap();
    std::fs::copy(&security.public, dir.path().join("security.pub")).unwrap();
    let policy = write(
        dir.path(),
        "policy.toml",
        &format!(
            r#"version = 1

[[rule]]
name = "production"
match = ["{0}/prod/*"]
keys = ["release.pub", "security.pub"]
threshold = 2
annotations = {{ env = "prod" }}

[[rule]]
name = "sandbox"
match = ["{0}/sandbox/**"]
action = "allow-unsigned"

[[rule]]
name = "legacy"
match = ["{0}/legacy/*"]
action = "reject"
"#,
            reg.addr
        ),
    );
    // The result is on stdout, in the file's own words.
    let o = run(&["policy", "check", &policy]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "rule \"production\": match {}/prod/* action verify; keys ",
            reg.addr
        )) && out.contains("release.pub")
            && out.contains("threshold 2; annotation env=prod"),
        "{out}"
    );
    assert!(out.contains("action allow-unsigned"), "{out}");
    assert!(out.contains("action reject"), "{out}");
    assert!(out.contains("no catch-all rule"), "{out}");

    let img = push_random(&reg.store("prod/app"), Some("v1"), "prod").await;
    let pinned = format!("{}/prod/app@{}", reg.addr, img.digest());
    let verify = |extra: &[&str]| {
        let mut args = vec!["verify", pinned.as_str(), "--policy", policy.as_str()];
        args.extend_from_slice(extra);
        run(&args)
    };
    expect_code(
        &sign(&[&pinned, "--key", &release.private, "-a", "env=prod"]),
        0,
    );
    let o = verify(&[]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("1 distinct key(s) signed, 2 required"),
        "{}",
        stderr(&o)
    );
    // The second key signs, but for staging: it does not count.
    expect_code(
        &sign(&[&pinned, "--key", &security.private, "-a", "env=staging"]),
        0,
    );
    let o = verify(&[]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("annotation env is \"staging\", required \"prod\""),
        "{}",
        stderr(&o)
    );
    expect_code(
        &sign(&[&pinned, "--key", &security.private, "-a", "env=prod"]),
        0,
    );
    let o = verify(&["--output", "json"]);
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["policy"]["rule"], "production");
    assert_eq!(v["signatures"].as_array().unwrap().len(), 2);
    // Signing again with the same key replaces its signature: still one per key.
    expect_code(
        &sign(&[&pinned, "--key", &release.private, "-a", "env=prod"]),
        0,
    );
    expect_code(&verify(&[]), 0);

    // No rule matches: denied by default.
    let other = push_random(&reg.store("other/app"), None, "x").await;
    let o = run(&[
        "verify",
        &format!("{}/other/app@{}", reg.addr, other.digest()),
        "--policy",
        &policy,
    ]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("denied by default"), "{}", stderr(&o));
    // Reject, even when signed.
    let legacy = push_random(&reg.store("legacy/app"), None, "x").await;
    let legacy_ref = format!("{}/legacy/app@{}", reg.addr, legacy.digest());
    expect_code(&sign(&[&legacy_ref, "--key", &release.private]), 0);
    expect_code(&run(&["verify", &legacy_ref, "--policy", &policy]), 1);
    // Allow-unsigned passes, and says so.
    let sand = push_random(&reg.store("sandbox/team/tool"), None, "x").await;
    let o = run(&[
        "verify",
        &format!("{}/sandbox/team/tool@{}", reg.addr, sand.digest()),
        "--policy",
        &policy,
    ]);
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("allows") && stderr(&o).contains("unsigned"),
        "{}",
        stderr(&o)
    );
    // …and a script reading JSON is never told it verified: nothing was checked.
    let o = run(&[
        "verify",
        &format!("{}/sandbox/team/tool@{}", reg.addr, sand.digest()),
        "--policy",
        &policy,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_eq!(v["verified"], false, "{v}");
    assert_eq!(v["allowed"], true, "{v}");
    assert_eq!(v["policy"]["action"], "allow-unsigned");
    assert!(v["signatures"].as_array().unwrap().is_empty());

    // copy honours the policy too.
    let dest = dir.path().join("copy");
    expect_code(
        &run(&[
            "copy",
            &legacy_ref,
            &format!("oci:{}:v1", dest.display()),
            "--policy",
            &policy,
        ]),
        1,
    );
    assert!(!dest.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_max_age_identities_and_tag_binding() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&k.public, dir.path().join("k.pub")).unwrap();
    let policy = write(
        dir.path(),
        "policy.toml",
        &format!(
            "version = 1\n[[rule]]\nname = \"apps\"\nmatch = [\"{0}/apps/*\", \"{0}/mirror/*\"]\nkeys = [\"k.pub\"]\n\
             max-age = \"90d\"\nrequire-tag-binding = true\nidentities = [\"{0}/apps/*\"]\n",
            reg.addr
        ),
    );
    let key_pem = std::fs::read(&k.private).unwrap();
    let key =
        hallmark::keys::SigningKey::from_encrypted_pem(&key_pem, PASSWORD.as_bytes(), "k").unwrap();
    let store = reg.store("apps/svc");
    let sign_at = |img: Image, tag: &'static str, age_days: u64| {
        let store = store.clone();
        let key = &key;
        async move {
            let target = hallmark::store::Target {
                store: store.clone(),
                signatures: store.clone(),
                tag: None,
                digest: Some(img.digest().clone()),
            };
            let mut opts = hallmark::sign::SignOptions::default();
            opts.bind_tags = vec![tag.to_string()];
            opts.timestamp = SystemTime::now() - Duration::from_secs(age_days * 86400);
            hallmark::sign::sign(&target, key, &opts).await.unwrap();
            img
        }
    };
    sign_at(push_random(&store, Some("v1.0"), "old").await, "v1.0", 120).await;
    let new = sign_at(push_random(&store, Some("v1.1"), "new").await, "v1.1", 1).await;
    let tagged = |t: &str| format!("{}/apps/svc:{t}", reg.addr);
    expect_code(&run(&["verify", &tagged("v1.1"), "--policy", &policy]), 0);
    // Too old.
    let o = run(&["verify", &tagged("v1.0"), "--policy", &policy]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("older than the maximum age of 90d"),
        "{}",
        stderr(&o)
    );
    // A5 through the policy: v1.1 rolled back to a (fresh, validly signed) older build.
    let rolled = sign_at(push_random(&store, None, "older build").await, "v1.0", 2).await;
    rolled.push(&store, Some("v1.1")).await.unwrap();
    let o = run(&["verify", &tagged("v1.1"), "--policy", &policy]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("\"v1.1\" is not bound"),
        "{}",
        stderr(&o)
    );
    // Mirrored elsewhere, it verifies through the listed identity.
    new.push(&reg.store("mirror/svc"), Some("v1.1"))
        .await
        .unwrap();
    let o = run(&[
        "copy",
        &format!("{}/apps/svc@{}", reg.addr, new.digest()),
        &format!("{}/mirror/svc:v1.1", reg.addr),
        "--policy",
        &policy,
    ]);
    // A digest reference has no tag to bind: the policy's tag binding makes that a "no".
    expect_code(&o, 2);
    new.push(&store, Some("v1.1")).await.unwrap();
    expect_code(
        &run(&[
            "copy",
            &tagged("v1.1"),
            &format!("{}/mirror/svc:v1.1", reg.addr),
            "--policy",
            &policy,
        ]),
        0,
    );
    expect_code(
        &run(&[
            "verify",
            &format!("{}/mirror/svc:v1.1", reg.addr),
            "--policy",
            &policy,
        ]),
        0,
    );
}

#[test]
fn policy_check_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "p.toml",
        "version = 1\n\n[[rule]]\nmatch = [\"**\"]\naction = \"reject\"\nthreshhold = 2\n",
    );
    let o = run(&["policy", "check", &p]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).starts_with(&format!("error: {p}:6: unknown field `threshhold`")),
        "{}",
        stderr(&o)
    );
    let p = write(
        dir.path(),
        "ok.toml",
        "version = 1\n[[rule]]\nmatch = [\"**\"]\naction = \"reject\"\n",
    );
    let o = run(&["policy", "check", &p, "--output", "json"]);
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["rules"][0]["action"], "reject");
    let o = run(&[
        "verify",
        "reg.example.com/a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "--policy",
        "/nonexistent.toml",
    ]);
    expect_code(&o, 2);
}

/// A registry that swaps the signature manifest right after `copy` verified it gets
/// nothing of its own to the destination: the verified manifest is carried along and the
/// `.sig` tag is read exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_writes_the_signature_it_verified() {
    let reg = Registry::start();
    let release = keys("ecdsa-p256");
    let attacker = keys("ecdsa-p256");
    let store = reg.store("app");
    let img = signed_image(&reg, "app", Some("v1"), &release, &[]).await;
    let tag = signature_tag(img.digest());
    let verified = store.get_manifest(&tag).await.unwrap().unwrap();
    // The attacker's manifest: ours plus their own layer, all blobs present in the repository.
    let pinned = format!("{}/app@{}", reg.addr, img.digest());
    expect_code(&sign(&[&pinned, "--key", &attacker.private]), 0);
    let swapped = store.get_manifest(&tag).await.unwrap().unwrap();
    store.put_manifest(&verified, Some(&tag)).await.unwrap();

    let reads = Arc::new(AtomicUsize::new(0));
    let seen = reads.clone();
    let evil = swapped.bytes.to_vec();
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, resp| {
            if req.method == "GET"
                && req.path.ends_with(".sig")
                && seen.fetch_add(1, Ordering::SeqCst) >= 1
            {
                resp.status = 200;
                resp.headers = vec![("content-type".into(), OCI_MANIFEST.into())];
                resp.body = evil.clone();
            }
        })),
    })
    .await;
    let dest = tempfile::tempdir().unwrap();
    let o = run(&[
        "copy",
        &format!("{}/app:v1", proxy.addr),
        &format!("oci:{}:v1", dest.path().display()),
        "--key",
        &release.public,
        "--identity",
        &format!("{}/app", reg.addr),
    ]);
    expect_code(&o, 0);
    assert_eq!(
        reads.load(Ordering::SeqCst),
        1,
        "the .sig tag was read again"
    );
    let copied = Layout::open(dest.path())
        .unwrap()
        .get_manifest(&tag)
        .unwrap()
        .unwrap();
    assert_eq!(copied.bytes, verified.bytes);
    assert_ne!(copied.bytes, swapped.bytes);
}

/// A rule written for a registry under another of its names (`localhost:P` for
/// `127.0.0.1:P`, another host case) still decides: it does not silently fall through to
/// a catch-all `allow-unsigned`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_matches_however_the_registry_is_spelled() {
    let reg = Registry::start();
    push_random(&reg.store("app"), Some("v1"), "unsigned").await;
    let port = reg.addr.rsplit_once(':').unwrap().1;
    let dir = tempfile::tempdir().unwrap();
    for spelling in [
        format!("localhost:{port}/app"),
        format!("LOCALHOST:{port}/*"),
    ] {
        let policy = write(
            dir.path(),
            "p.toml",
            &format!(
                "version = 1\n[[rule]]\nname = \"ours\"\nmatch = [\"{spelling}\"]\naction = \"reject\"\n\
                 [[rule]]\nname = \"rest\"\nmatch = [\"**\"]\naction = \"allow-unsigned\"\n"
            ),
        );
        let o = run(&[
            "verify",
            &format!("{}/app:v1", reg.addr),
            "--policy",
            &policy,
            "--output",
            "json",
        ]);
        expect_code(&o, 1);
        let v = json_out(&o);
        assert_eq!(v["policy"]["rule"], "ours", "{spelling}: {v}");
    }
}

/// `policy check` points at rules that cannot be meant: a glob with a tag in it never
/// matches, and a rule after a broader one never applies.
#[test]
fn policy_check_warns_about_rules_that_never_apply() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "p.toml",
        "version = 1\n\
         [[rule]]\nname = \"team\"\nmatch = [\"reg.example.com/team/*\"]\naction = \"reject\"\n\
         [[rule]]\nname = \"app\"\nmatch = [\"reg.example.com/team/app\"]\naction = \"allow-unsigned\"\n\
         [[rule]]\nname = \"pinned\"\nmatch = [\"reg.example.com/other:latest\"]\naction = \"reject\"\n",
    );
    let o = run(&["policy", "check", &p]);
    expect_code(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains(r#"warning: rule "app" never applies: rule "team" before it"#),
        "{err}"
    );
    assert!(
        err.contains(
            r#"warning: rule "pinned": glob "reg.example.com/other:latest" can never match"#
        ),
        "{err}"
    );
    let o = run(&["policy", "check", &p, "--output", "json"]);
    let v = json_out(&o);
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(
        v["rules"][0]["matches_repositories"][0],
        "reg.example.com/team/*"
    );
}

/// Repeated `**` against a deep repository name once backtracked exponentially (minutes
/// for 12 of them); matching is now polynomial and the policy decision is immediate.
#[test]
fn many_double_stars_do_not_stall_verification() {
    let dir = tempfile::tempdir().unwrap();
    let stars = ["**"; 12].join("/");
    let policy = write(
        dir.path(),
        "p.toml",
        &format!(
            "version = 1\n[[rule]]\nmatch = [\"{stars}/b\"]\naction = \"reject\"\n\
             [[rule]]\nname = \"deep\"\nmatch = [\"{stars}/z\"]\naction = \"reject\"\n"
        ),
    );
    let deep = ["a"; 60].join("/") + "/z";
    let start = std::time::Instant::now();
    let o = run(&[
        "verify",
        &format!("127.0.0.1:{}/{deep}:v1", free_port()),
        "--policy",
        &policy,
        "--retries",
        "0",
    ]);
    // Nothing listens there: the rule was chosen, then the registry could not be reached.
    expect_code(&o, 3);
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "took {:?}",
        start.elapsed()
    );
}

/// A policy rule that requires a tag binding, given a digest reference: the error names
/// the rule and the reference, not a flag the user never passed, and says what to do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policys_tag_binding_on_a_digest_reference_names_the_rule() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = signed_image(&reg, "apps/svc", Some("v1"), &k, &["--bind-tag", "v1"]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&k.public, dir.path().join("k.pub")).unwrap();
    let policy = write(
        dir.path(),
        "policy.toml",
        &format!(
            "version = 1\n[[rule]]\nname = \"apps\"\nmatch = [\"{}/apps/*\"]\nkeys = [\"k.pub\"]\nrequire-tag-binding = true\n",
            reg.addr
        ),
    );
    let pinned = format!("{}/apps/svc@{}", reg.addr, img.digest());
    for command in ["verify", "copy"] {
        let mut args = vec![command, &pinned];
        let dest = format!("{}/mirror/svc:v1", reg.addr);
        if command == "copy" {
            args.push(&dest);
        }
        args.extend(["--policy", &policy]);
        let o = run(&args);
        expect_code(&o, 2);
        let err = stderr(&o);
        assert!(
            err.contains("rule \"apps\" requires a tag binding")
                && err.contains(&format!("{pinned} is a digest reference")),
            "{command}: {err}"
        );
        assert!(
            !err.contains("--require-tag-binding"),
            "{command}: blames a flag that was not given: {err}"
        );
        assert!(err.contains("hint: verify REPO:TAG"), "{command}: {err}");
    }
    // Under JSON, the same words in the error document.
    let o = run(&["verify", &pinned, "--policy", &policy, "--output", "json"]);
    expect_code(&o, 2);
    assert!(
        stdout(&o).contains("requires a tag binding"),
        "{}",
        stdout(&o)
    );
    // The tag the signature binds verifies, also beside the digest.
    let tagged = format!("{}/apps/svc:v1", reg.addr);
    expect_code(&run(&["verify", &tagged, "--policy", &policy]), 0);
    let both = format!("{}/apps/svc:v1@{}", reg.addr, img.digest());
    expect_code(&run(&["verify", &both, "--policy", &policy]), 0);
    // The flag, when it is given, is still what the message names.
    let o = run(&[
        "verify",
        &pinned,
        "--key",
        &k.public,
        "--require-tag-binding",
    ]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("--require-tag-binding"),
        "{}",
        stderr(&o)
    );
}
