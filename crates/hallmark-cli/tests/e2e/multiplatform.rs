//! Multi-platform images: indexes built by crane, signed recursively by hallmark and by
//! cosign and verified by the other, one platform verified and copied out of an index,
//! and the attacks on the link between an index and its platform manifests.

use std::process::Output;
use std::sync::Arc;

use crate::harness::*;
use crate::json_output::assert_valid;
use hallmark::oci::{Manifest, OCI_INDEX};

/// A two-platform index built by crane in `repo`, tagged `v1`: linux/amd64 and
/// linux/arm64/v8, each platform read by crane from its image's config.
struct Built {
    index: String,
    amd: String,
    arm: String,
}

async fn crane_index(reg: &Registry, repo: &str) -> Built {
    let store = reg.store(repo);
    let amd = push_random(&store, None, "amd64").await;
    let arm = push_random(&store, None, "arm64").await;
    let at = |d: &str| format!("{}/{repo}@{d}", reg.addr);
    let arm = crane_ok(&[
        "mutate",
        &at(&arm.digest().to_string()),
        "--set-platform",
        "linux/arm64/v8",
    ]);
    let arm = arm.rsplit('@').next().unwrap().to_string();
    crane_ok(&[
        "index",
        "append",
        "-m",
        &at(&amd.digest().to_string()),
        "-m",
        &at(&arm),
        "-t",
        &format!("{}/{repo}:v1", reg.addr),
    ]);
    let index = crane_ok(&["digest", &format!("{}/{repo}:v1", reg.addr)]);
    Built {
        index,
        amd: amd.digest().to_string(),
        arm,
    }
}

/// cosign verifies `reference` with the key `public`.
#[track_caller]
fn cosign_verifies(public: &str, reference: &str) {
    let o = cosign_verify_key(public, reference, &[]);
    peer_ok(&o, &format!("cosign verify {reference}"));
}

/// `verify --platform` of `reference`, as text.
fn verify_text(reference: &str, public: &str, platform: &str) -> Output {
    run(&["verify", reference, "--key", public, "--platform", platform])
}

/// `verify` of `reference` with the key `public` and `extra` arguments exits `want`.
#[track_caller]
fn verify_code(reference: &str, public: &str, extra: &[&str], want: i32) {
    let mut args = vec!["verify", reference, "--key", public];
    args.extend_from_slice(extra);
    expect_code(&run(&args), want);
}

/// `copy --platform` from `source` to `dest`, with `extra` arguments.
fn copy_platform(source: &str, dest: &str, public: &str, platform: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "copy",
        source,
        dest,
        "--key",
        public,
        "--platform",
        platform,
    ];
    args.extend_from_slice(extra);
    run(&args)
}

/// `copy --platform --output json`, which succeeds; its result, checked against the schema.
#[track_caller]
fn copied_json(source: &str, dest: &str, public: &str, platform: &str) -> serde_json::Value {
    let o = copy_platform(source, dest, public, platform, &["--output", "json"]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_valid("copy.schema.json", &v);
    v
}

/// The digests a JSON result lists under `manifests`, in its order.
fn manifest_digests(v: &serde_json::Value) -> Vec<&str> {
    v["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["digest"].as_str().unwrap())
        .collect()
}

/// `verify --platform` of `reference`, as JSON (checked against the schema when the
/// command decided).
fn verify_platform(reference: &str, public: &str, platform: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "verify",
        reference,
        "--key",
        public,
        "--platform",
        platform,
        "--output",
        "json",
    ];
    args.extend_from_slice(extra);
    let o = run(&args);
    if matches!(code(&o), 0 | 1) {
        assert_valid("verify.schema.json", &json_out(&o));
    }
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hallmark_signs_a_crane_index_recursively_and_cosign_verifies_every_manifest() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let reg = Registry::start();
    for format in ["legacy", "bundle"] {
        let repo = format!("team/{format}");
        let b = crane_index(&reg, &repo).await;
        let pinned = |d: &str| format!("{}/{repo}@{d}", reg.addr);
        let o = run(&[
            "sign",
            &pinned(&b.index),
            "--key",
            &key,
            "--recursive",
            "--format",
            format,
            "--output",
            "json",
        ]);
        expect_code(&o, 0);
        let v = json_out(&o);
        assert_valid("sign.schema.json", &v);
        assert_eq!(v["digest"], b.index);
        let listed: Vec<(String, String)> = v["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["digest"].as_str().unwrap().to_string(),
                    m["platform"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            listed,
            [
                (b.amd.clone(), "linux/amd64".to_string()),
                (b.arm.clone(), "linux/arm64/v8".to_string())
            ],
            "{format}"
        );
        for d in [&b.index, &b.amd, &b.arm] {
            cosign_verifies(&public, &pinned(d));
        }

        // One platform, by the index's signature: the platform manifest's reference is
        // printed, and which signature counted is said.
        let o = verify_platform(
            &format!("{}/{repo}:v1", reg.addr),
            &public,
            "linux/arm64",
            &[],
        );
        expect_code(&o, 0);
        let v = json_out(&o);
        assert_eq!(v["platform"]["reference"], pinned(&b.arm));
        assert_eq!(v["platform"]["platform"], "linux/arm64");
        assert_eq!(v["platform"]["signed_by"], "index");
        assert_eq!(v["platform"]["index"], b.index);
        let o = verify_text(&format!("{}/{repo}:v1", reg.addr), &public, "linux/amd64");
        expect_code(&o, 0);
        assert_eq!(stdout(&o), format!("{}\n", pinned(&b.amd)));
        expect_stderr(&o, "listed by the verified index");
    }

    // Without --recursive, the index alone is signed, as before.
    let b = crane_index(&reg, "single").await;
    let o = run(&[
        "sign",
        &format!("{}/single@{}", reg.addr, b.index),
        "--key",
        &key,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    assert!(json_out(&o).get("manifests").is_none());
    verify_code(&format!("{}/single@{}", reg.addr, b.arm), &public, &[], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hallmark_verifies_what_cosign_signed_recursively() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let reg = Registry::start();
    let b = crane_index(&reg, "app").await;
    let pinned = |d: &str| format!("{}/app@{d}", reg.addr);
    cosign_ok(&[
        "sign",
        "--key",
        &key,
        "--use-signing-config=false",
        "--tlog-upload=false",
        "--allow-insecure-registry",
        "--recursive",
        &pinned(&b.index),
    ]);
    for d in [&b.index, &b.amd, &b.arm] {
        verify_code(&pinned(d), &public, &[], 0);
    }
    let o = verify_platform(
        &format!("{}/app:v1", reg.addr),
        &public,
        "linux/arm64/v8",
        &[],
    );
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["platform"]["reference"], pinned(&b.arm));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_platform_falls_back_to_the_platform_signature_and_says_which() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let b = crane_index(&reg, "app").await;
    let tagged = format!("{}/app:v1", reg.addr);
    let pinned = |d: &str| format!("{}/app@{d}", reg.addr);
    // Only the arm64 manifest is signed; the index is not.
    expect_code(&sign(&[&pinned(&b.arm), "--key", &k.private]), 0);

    let o = verify_platform(&tagged, &k.public, "linux/arm64", &[]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_eq!(v["platform"]["signed_by"], "platform");
    assert_eq!(v["platform"]["reference"], pinned(&b.arm));
    assert_eq!(v["digest"], b.arm, "the report is the platform manifest's");
    let o = verify_text(&tagged, &k.public, "linux/arm64");
    expect_code(&o, 0);
    expect_stderr(&o, "its own signature counts");

    // The other platform has no signature, nor has the index.
    let o = verify_platform(&tagged, &k.public, "linux/amd64", &[]);
    expect_code(&o, 1);
    assert_eq!(
        json_out(&o)["platform"]["signed_by"],
        serde_json::Value::Null
    );
    let o = verify_text(&tagged, &k.public, "linux/amd64");
    expect_code(&o, 1);
    assert!(stdout(&o).is_empty());
    expect_stderr(&o, "nor does the linux/amd64 manifest");

    // Only the index can bind the tag: no fallback when a binding is required.
    let o = verify_platform(
        &tagged,
        &k.public,
        "linux/arm64",
        &["--require-tag-binding"],
    );
    expect_code(&o, 1);

    // A platform the index does not list: a usage error naming those it lists.
    let o = verify_text(&tagged, &k.public, "windows/amd64");
    expect_code(&o, 2);
    expect_stderr(&o, "available: linux/amd64, linux/arm64/v8");
    // A single-platform manifest has no platforms to choose from.
    let o = verify_text(&pinned(&b.arm), &k.public, "linux/arm64");
    expect_code(&o, 2);
    expect_stderr(&o, "single-platform");
}

/// A platform manifest swapped under a signed index: the swap makes a new index, which
/// no signature covers; the old index's signature moved onto it does not count either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_swapped_under_a_signed_index_is_refused() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let b = crane_index(&reg, "app").await;
    let tagged = format!("{}/app:v1", reg.addr);
    expect_code(
        &sign(&[
            &format!("{}/app@{}", reg.addr, b.index),
            "--key",
            &k.private,
        ]),
        0,
    );
    expect_code(&verify_platform(&tagged, &k.public, "linux/arm64", &[]), 0);

    // The attacker lists their own image as linux/arm64 and moves the tag.
    let good = store.get_manifest(&b.index).await.unwrap().unwrap();
    let evil = push_random(&store, None, "evil").await;
    let mut doc: serde_json::Value = serde_json::from_slice(&good.bytes).unwrap();
    let entry = &mut doc["manifests"][1];
    assert_eq!(entry["digest"], b.arm);
    entry["digest"] = evil.digest().to_string().into();
    entry["size"] = evil.manifest.bytes.len().into();
    let swapped = Manifest::new(serde_json::to_vec(&doc).unwrap(), &good.media_type);
    store.put_manifest(&swapped, Some("v1")).await.unwrap();
    let o = verify_platform(&tagged, &k.public, "linux/arm64", &[]);
    expect_code(&o, 1);
    assert_eq!(
        json_out(&o)["platform"]["digest"],
        evil.digest().to_string()
    );

    // The good index's signature manifest, put where the swapped index's would be.
    let sig = store
        .get_manifest(&format!(
            "sha256-{}.sig",
            b.index.trim_start_matches("sha256:")
        ))
        .await
        .unwrap()
        .unwrap();
    let tag = format!("sha256-{}.sig", swapped.digest.hex());
    store.put_manifest(&sig, Some(&tag)).await.unwrap();
    let o = verify_platform(&tagged, &k.public, "linux/arm64", &[]);
    expect_code(&o, 1);
    let o = copy_platform(
        &tagged,
        &format!("{}/mirror:v1", reg.addr),
        &k.public,
        "linux/arm64",
        &[],
    );
    expect_code(&o, 1);
    assert!(
        reg.store("mirror")
            .get_manifest(&evil.digest().to_string())
            .await
            .unwrap()
            .is_none()
    );
}

/// A13. When the index is unsigned, the platform name is the index's word alone: an attacker
/// who can push lists the signed arm64 manifest as linux/amd64. The platform manifest's
/// own signature decides then only if its image config says it is for that platform.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_index_cannot_rename_a_signed_platform() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let b = crane_index(&reg, "app").await;
    let pinned = |d: &str| format!("{}/app@{d}", reg.addr);
    // Only the arm64 manifest is signed, as when the platforms alone were.
    expect_code(&sign(&[&pinned(&b.arm), "--key", &k.private]), 0);

    // The honest fallback still holds, by either name of the platform.
    for platform in ["linux/arm64", "linux/arm64/v8"] {
        let o = verify_platform(&format!("{}/app:v1", reg.addr), &k.public, platform, &[]);
        expect_code(&o, 0);
        assert_eq!(json_out(&o)["platform"]["signed_by"], "platform");
    }

    // The crafted index: crane's, with the arm64 manifest under the amd64 entry.
    let good = store.get_manifest(&b.index).await.unwrap().unwrap();
    let arm = store.get_manifest(&b.arm).await.unwrap().unwrap();
    let mut doc: serde_json::Value = serde_json::from_slice(&good.bytes).unwrap();
    let entry = &mut doc["manifests"][0];
    assert_eq!(entry["platform"]["architecture"], "amd64");
    entry["digest"] = b.arm.clone().into();
    entry["size"] = arm.bytes.len().into();
    entry["mediaType"] = arm.media_type.clone().into();
    let crafted = Manifest::new(serde_json::to_vec(&doc).unwrap(), &good.media_type);
    store.put_manifest(&crafted, Some("v2")).await.unwrap();
    let tagged = format!("{}/app:v2", reg.addr);

    let o = verify_text(&tagged, &k.public, "linux/amd64");
    expect_code(&o, 1);
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("lists {} as linux/amd64", b.arm))
            && err.contains("is linux/arm64/v8 by its image config")
            && err.contains("sign --recursive"),
        "{err}"
    );
    let o = run(&[
        "verify",
        &tagged,
        "--key",
        &k.public,
        "--platform",
        "linux/amd64",
        "--output",
        "json",
    ]);
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_valid("error.schema.json", &v);
    assert_eq!(v["class"], "denied");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("is linux/arm64/v8 by its image config"),
        "{v}"
    );

    // copy --platform of the crafted index: refused, nothing written.
    let o = copy_platform(
        &tagged,
        &format!("{}/mirror:amd", reg.addr),
        &k.public,
        "linux/amd64",
        &[],
    );
    expect_code(&o, 1);
    expect_stderr(&o, "is linux/arm64/v8 by its image config");
    let mirror = reg.store("mirror");
    assert!(mirror.get_manifest(&b.arm).await.unwrap().is_none());
    assert!(mirror.get_manifest("amd").await.unwrap().is_none());

    // A signed artifact (no image config) listed as a platform: nothing names its
    // platform but the index, so its signature is not taken for one.
    let empty = hallmark::digest::Digest::sha256(b"{}");
    store
        .put_blob(&empty, bytes::Bytes::from_static(b"{}"))
        .await
        .unwrap();
    let artifact = Manifest::from_json(
        &serde_json::json!({"schemaVersion": 2, "mediaType": hallmark::oci::OCI_MANIFEST,
            "artifactType": "application/vnd.example.sbom",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                "digest": empty.to_string(), "size": 2},
            "layers": [{"mediaType": "application/vnd.oci.empty.v1+json",
                "digest": empty.to_string(), "size": 2}]}),
        hallmark::oci::OCI_MANIFEST,
    );
    store.put_manifest(&artifact, None).await.unwrap();
    let artifact_digest = artifact.digest.to_string();
    expect_code(&sign(&[&pinned(&artifact_digest), "--key", &k.private]), 0);
    let mut doc: serde_json::Value = serde_json::from_slice(&good.bytes).unwrap();
    doc["manifests"][0]["digest"] = artifact_digest.clone().into();
    doc["manifests"][0]["size"] = artifact.bytes.len().into();
    doc["manifests"][0]["mediaType"] = artifact.media_type.clone().into();
    let listed = Manifest::new(serde_json::to_vec(&doc).unwrap(), &good.media_type);
    store.put_manifest(&listed, Some("v3")).await.unwrap();
    let o = verify_text(&format!("{}/app:v3", reg.addr), &k.public, "linux/amd64");
    expect_code(&o, 1);
    expect_stderr(
        &o,
        "is an artifact of type \"application/vnd.example.sbom\"",
    );
    verify_code(&pinned(&artifact_digest), &k.public, &[], 0);

    // Once the index is signed, its platform entries are its signer's claim.
    expect_code(
        &sign(&[&pinned(&crafted.digest.to_string()), "--key", &k.private]),
        0,
    );
    let o = verify_platform(&tagged, &k.public, "linux/amd64", &[]);
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["platform"]["signed_by"], "index");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_platform_carries_the_platform_signature_or_says_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let reg = Registry::start();

    // Signed recursively: the arm64 manifest's own signature travels with it, and the
    // copy verifies in its new repository for cosign and hallmark alike.
    let b = crane_index(&reg, "app").await;
    let o = run(&[
        "sign",
        &format!("{}/app@{}", reg.addr, b.index),
        "--key",
        &key,
        "--recursive",
    ]);
    expect_code(&o, 0);
    let v = copied_json(
        &format!("{}/app:v1", reg.addr),
        &format!("{}/mirror:arm", reg.addr),
        &public,
        "linux/arm64",
    );
    assert_eq!(v["digest"], b.arm);
    assert_eq!(v["platform"]["signed_by"], "index");
    assert_eq!(v["platform"]["signature_copied"], true);
    assert!(v["signature"].is_string(), "{v}");
    let copied = format!("{}/mirror@{}", reg.addr, b.arm);
    cosign_verifies(&public, &copied);
    verify_code(
        &format!("{}/mirror:arm", reg.addr),
        &public,
        &["--identity", &format!("{}/app", reg.addr)],
        0,
    );

    // Only the index signed: the copy is made (the index verified) but holds no
    // signature, and the command says so and what to do.
    let b = crane_index(&reg, "solo").await;
    expect_code(
        &run(&[
            "sign",
            &format!("{}/solo@{}", reg.addr, b.index),
            "--key",
            &key,
        ]),
        0,
    );
    let o = copy_platform(
        &format!("{}/solo:v1", reg.addr),
        &format!("{}/mirror2:arm", reg.addr),
        &public,
        "linux/arm64",
        &[],
    );
    expect_code(&o, 0);
    expect_stderr(&o, "has no signature: only its index");
    expect_stderr(&o, "sign --recursive");
    let v = copied_json(
        &format!("{}/solo:v1", reg.addr),
        &format!("{}/mirror3:arm", reg.addr),
        &public,
        "linux/arm64",
    );
    assert_eq!(v["signature"], serde_json::Value::Null);
    assert_eq!(v["platform"]["signature_copied"], false);
    verify_code(
        &format!("{}/mirror3@{}", reg.addr, b.arm),
        &public,
        &["--identity", &format!("{}/solo", reg.addr)],
        1,
    );
}

/// The registry serves other bytes for the platform manifest than the index lists: the
/// copy stops before anything of it reaches the destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_manifest_served_with_wrong_bytes_is_not_copied() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let b = crane_index(&reg, "app").await;
    expect_code(
        &sign(&[
            &format!("{}/app@{}", reg.addr, b.index),
            "--key",
            &k.private,
            "--recursive",
        ]),
        0,
    );
    let evil = push_random(&reg.store("app"), None, "evil").await;
    let evil_bytes = evil.manifest.bytes.to_vec();
    let arm_path = format!("/v2/app/manifests/{}", b.arm);
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, resp| {
            if req.method == "GET" && req.path == arm_path {
                resp.body = evil_bytes.clone();
            }
        })),
    })
    .await;
    let o = copy_platform(
        &format!("{}/app:v1", proxy.addr),
        &format!("{}/mirror:arm", reg.addr),
        &k.public,
        "linux/arm64",
        &["--retries", "0"],
    );
    expect_code(&o, 1);
    expect_stderr(&o, "digest mismatch");
    let mirror = reg.store("mirror");
    for d in [b.arm.as_str(), &evil.digest().to_string()] {
        assert!(mirror.get_manifest(d).await.unwrap().is_none());
    }
    assert!(mirror.get_manifest("arm").await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_signs_every_platform_of_a_layout_before_pushing() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let reg = Registry::start();
    // A multi-platform oci: layout, as skopeo writes one from crane's index.
    crane_index(&reg, "build").await;
    let layout = dir.path().join("layout");
    let o = std::process::Command::new(skopeo())
        .args([
            "copy",
            "--all",
            "--src-tls-verify=false",
            &format!("docker://{}/build:v1", reg.addr),
            &format!("oci:{}:v1", layout.display()),
        ])
        .output()
        .unwrap();
    peer_ok(&o, "skopeo copy --all");

    let o = run(&[
        "publish",
        &format!("oci:{}:v1", layout.display()),
        &format!("{}/release:v1", reg.addr),
        "--key",
        &key,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_valid("publish.schema.json", &v);
    // skopeo writes the layout anew (its digests are not the registry's): the layout's
    // own are what was published.
    let index = v["digest"].as_str().unwrap().to_string();
    let manifests = v["manifests"].as_array().unwrap();
    let platforms: Vec<&str> = manifests
        .iter()
        .map(|m| m["platform"].as_str().unwrap())
        .collect();
    assert_eq!(platforms, ["linux/amd64", "linux/arm64/v8"]);
    let arm = manifests[1]["digest"].as_str().unwrap().to_string();
    let amd = manifests[0]["digest"].as_str().unwrap().to_string();
    for d in [&index, &amd, &arm] {
        cosign_verifies(&public, &format!("{}/release@{d}", reg.addr));
    }

    // --recursive=false: the index alone.
    let o = run(&[
        "publish",
        &format!("oci:{}:v1", layout.display()),
        &format!("{}/indexonly:v1", reg.addr),
        "--key",
        &key,
        "--recursive=false",
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    assert!(json_out(&o).get("manifests").is_none());
    cosign_verifies(&public, &format!("{}/indexonly@{index}", reg.addr));
    verify_code(&format!("{}/indexonly@{arm}", reg.addr), &public, &[], 1);
}

/// The index JSON hallmark reads is the one crane wrote: a nested index is walked too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_recursive_walks_nested_indexes() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("app");
    let b = crane_index(&reg, "app").await;
    let inner = store.get_manifest(&b.index).await.unwrap().unwrap();
    let outer = Manifest::from_json(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": inner.media_type, "digest": inner.digest.to_string(),
             "size": inner.bytes.len()}]}),
        OCI_INDEX,
    );
    store.put_manifest(&outer, Some("nested")).await.unwrap();
    let o = sign(&[
        &format!("{}/app@{}", reg.addr, outer.digest),
        "--key",
        &k.private,
        "-r",
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v = json_out(&o);
    let signed = manifest_digests(&v);
    assert_eq!(signed, [b.amd.as_str(), &b.arm, &b.index]);
    for d in [&b.index, &b.amd, &b.arm, &outer.digest.to_string()] {
        verify_code(&format!("{}/app@{d}", reg.addr), &k.public, &[], 0);
    }
}

/// Keyless, against the real Sigstore stack: `publish` of a multi-platform layout
/// certifies, timestamps and logs a signature for every platform and the index before the
/// first push, and `sign --recursive` does the same for an index already in the registry;
/// cosign verifies each platform manifest for the signer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_signatures_cover_every_platform() {
    const SIGNER: &str = "alice@example.com";
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("layout");
    let store = hallmark::store::Store::Layout(hallmark::layout::Layout::create(&dir).unwrap());
    let mut entries = Vec::new();
    let mut children = Vec::new();
    for arch in ["amd64", "arm64"] {
        let img = hallmark::image::Image::random(arch, 2048).unwrap();
        img.push(&store, None).await.unwrap();
        entries.push(serde_json::json!({"mediaType": img.manifest.media_type,
            "digest": img.digest().to_string(), "size": img.manifest.bytes.len(),
            "platform": {"os": "linux", "architecture": arch}}));
        children.push(img.digest().to_string());
    }
    let index = Manifest::from_json(
        &serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}),
        OCI_INDEX,
    );
    store.put_manifest(&index, Some("v1")).await.unwrap();

    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let keyless = [
        "--identity-token".to_string(),
        format!("@{}", path_str(&token)),
        "--signing-config".to_string(),
        path_str(&stack.signing_config),
        "--trusted-root".to_string(),
        path_str(&stack.trusted_root),
    ];
    let source = format!("oci:{}:v1", dir.display());
    let cosign_verifies_signer = |reference: &str| {
        peer_ok(
            &stack.cosign(&[
                "verify",
                "--certificate-identity",
                SIGNER,
                "--certificate-oidc-issuer",
                &stack.issuer,
                "--trusted-root",
                &path_str(&stack.trusted_root),
                reference,
            ]),
            &format!("cosign verify {reference}"),
        );
    };

    let dest = format!("{}/released:v1", stack.registry);
    let mut args = vec!["publish", &source, &dest, "--output", "json"];
    args.extend(keyless.iter().map(String::as_str));
    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_valid("publish.schema.json", &v);
    let published = manifest_digests(&v);
    assert_eq!(published, children);
    for d in children.iter().chain([&index.digest.to_string()]) {
        cosign_verifies_signer(&format!("{}/released@{d}", stack.registry));
    }

    // The index alone published, then signed recursively where it is.
    let dest = format!("{}/later:v1", stack.registry);
    let mut args = vec!["publish", &source, &dest, "--recursive=false"];
    args.extend(keyless.iter().map(String::as_str));
    expect_code(&stack.hallmark_keyed(&args), 0);
    let pinned = format!("{}/later@{}", stack.registry, index.digest);
    let mut args = vec!["sign", &pinned, "--recursive"];
    args.extend(keyless.iter().map(String::as_str));
    expect_code(&stack.hallmark_keyed(&args), 0);
    for d in &children {
        cosign_verifies_signer(&format!("{}/later@{d}", stack.registry));
    }
}
