//! Signatures that do not accumulate: re-signing replaces the same key's earlier signature
//! (both formats, both kinds of registry, cosign's too), and `hallmark signatures` lists
//! and removes them, scoped to one key.

use crate::harness::*;

/// Both kinds of registry.
fn registries() -> [(&'static str, Registry); 2] {
    [
        ("without referrers API", Registry::start()),
        ("with referrers API", Registry::start_with_referrers()),
    ]
}

/// `hallmark signatures REF --key … --output json` entries.
fn listing(reference: &str, keys: &[&str], extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["signatures", reference, "--output", "json"];
    for k in keys {
        args.extend_from_slice(&["--key", k]);
    }
    args.extend_from_slice(extra);
    let o = run(&args);
    expect_code(&o, 0);
    json_out(&o)["entries"].as_array().unwrap().clone()
}

fn key_id(public: &str) -> String {
    let text = std::fs::read_to_string(public).unwrap();
    hallmark::keys::PublicKey::from_pem(&text, public)
        .unwrap()
        .key_id()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_signing_replaces_the_same_keys_signature_and_keeps_the_others() {
    let (a, b) = (keys("ecdsa-p256"), keys("ed25519"));
    for (kind, reg) in registries() {
        for format in ["legacy", "bundle"] {
            let repo = format!("team/{format}");
            let img = push_random(&reg.store(&repo), Some("v1"), format).await;
            let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
            let sign_with = |k: &Keys, extra: &[&str]| {
                let mut args = vec![pinned.as_str(), "--key", &k.private, "--format", format];
                args.extend_from_slice(extra);
                let o = sign(&args);
                expect_code(&o, 0);
                o
            };
            sign_with(&b, &[]);
            sign_with(&a, &["--bind-tag", "v1"]);
            // The same claims a second later: only the signed timestamp differs.
            std::thread::sleep(std::time::Duration::from_millis(1100));
            let third = sign_with(&a, &["--bind-tag", "v1"]);
            assert!(
                stderr(&third).contains("replacing this key's earlier signature"),
                "{kind} {format}: {}",
                stderr(&third)
            );
            let entries = listing(&pinned, &[&a.public, &b.public], &[]);
            assert_eq!(entries.len(), 2, "{kind} {format}: {entries:#?}");
            let of_a: Vec<_> = entries
                .iter()
                .filter(|e| e["key_id"] == key_id(&a.public).as_str())
                .collect();
            assert_eq!(of_a.len(), 1, "{kind} {format}");
            // The survivor is the newest: the one that binds v1.
            assert_eq!(of_a[0]["bound_tags"], serde_json::json!(["v1"]));
            assert_eq!(of_a[0]["format"], format);
            assert_eq!(of_a[0]["key_id_verified"], true);
            assert_eq!(of_a[0]["valid_for"], serde_json::json!([a.public]));
            // Another key's signature was left alone and still verifies.
            expect_code(&run(&["verify", &pinned, "--key", &b.public]), 0);

            // --keep-existing accumulates, as before.
            sign_with(&a, &["--keep-existing"]);
            assert_eq!(
                listing(&pinned, &[&a.public], &[]).len(),
                3,
                "{kind} {format}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_remove_is_scoped_to_one_key_and_all_removes_everything() {
    let (a, b) = (keys("ecdsa-p256"), keys("ecdsa-p256"));
    for (kind, reg) in registries() {
        let repo = "team/remove";
        let img = push_random(&reg.store(repo), Some("v1"), kind).await;
        let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
        let tagged = format!("{}/{repo}:v1", reg.addr);
        for (k, format) in [
            (&a, "legacy"),
            (&a, "bundle"),
            (&b, "legacy"),
            (&b, "bundle"),
        ] {
            expect_code(
                &sign(&[&pinned, "--key", &k.private, "--format", format]),
                0,
            );
        }
        // Without keys the bundles name their key (unchecked), legacy layers do not.
        let unkeyed = listing(&tagged, &[], &[]);
        assert_eq!(unkeyed.len(), 4, "{kind}");
        assert!(unkeyed.iter().all(|e| e["key_id_verified"] == false));
        assert_eq!(
            unkeyed
                .iter()
                .filter(|e| e["key_id"] == key_id(&a.public).as_str())
                .count(),
            1,
            "{kind}: the bundle names its key"
        );

        // Removing A's signatures with A's public key given takes both formats.
        let o = run(&[
            "signatures",
            &tagged,
            "--key",
            &a.public,
            "--remove",
            &key_id(&a.public),
            "--yes",
        ]);
        expect_code(&o, 0);
        assert!(stderr(&o).contains("removed 2 "), "{kind}: {}", stderr(&o));
        let left = listing(&pinned, &[&a.public, &b.public], &[]);
        assert_eq!(left.len(), 2, "{kind}: {left:#?}");
        assert!(
            left.iter()
                .all(|e| e["key_id"] == key_id(&b.public).as_str())
        );
        let o = run(&["verify", &pinned, "--key", &a.public]);
        expect_code(&o, 1);
        expect_code(&run(&["verify", &pinned, "--key", &b.public]), 0);

        // --all: nothing verifies any more.
        let o = run(&["signatures", &pinned, "--all", "--yes"]);
        expect_code(&o, 0);
        assert!(listing(&pinned, &[], &[]).is_empty(), "{kind}");
        // Nothing empty is left behind: the `.sig` manifest and the fallback index went.
        let store = reg.store(repo);
        for tag in [
            hallmark::signature::signature_tag(img.digest()),
            hallmark::oci::referrers_tag(img.digest()),
        ] {
            assert!(
                store.get_manifest(&tag).await.unwrap().is_none(),
                "{kind}: {tag} left: {}",
                stderr(&o)
            );
        }
        assert!(
            stderr(&o).contains(&format!("deleted {}/{repo}:", reg.addr)),
            "{kind}: {}",
            stderr(&o)
        );
        expect_code(&run(&["verify", &pinned, "--key", &b.public]), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_lists_attestations_and_problems_and_refuses_a_bad_key_id() {
    let reg = Registry::start();
    let (a, other) = (keys("ecdsa-p256"), keys("ecdsa-p256"));
    let img = signed_image(&reg, "team/app", Some("v1"), &a, &["--bind-tag", "v1"]).await;
    let pinned = format!("{}/team/app@{}", reg.addr, img.digest());
    let dir = tempfile::tempdir().unwrap();
    let predicate = dir.path().join("p.json");
    std::fs::write(&predicate, br#"{"builder":{"id":"ci"}}"#).unwrap();
    let o = run_env(
        &[
            "attest",
            &pinned,
            "--key",
            &a.private,
            "--predicate",
            predicate.to_str().unwrap(),
            "--type",
            "slsaprovenance1",
        ],
        &[("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 0);
    let entries = listing(&pinned, &[&other.public], &[]);
    assert_eq!(entries.len(), 2, "{entries:#?}");
    let att = entries.iter().find(|e| e["kind"] == "attestation").unwrap();
    assert_eq!(att["predicate_type"], "https://slsa.dev/provenance/v1");
    // Not made by the given key: said so, and nothing is claimed valid.
    for e in &entries {
        assert_eq!(e["valid_for"], serde_json::json!([]));
        assert!(
            e["problem"].as_str().unwrap().contains("no given key")
                || e["problem"].as_str().unwrap().contains("key"),
            "{e}"
        );
    }

    // Text: one line per entry on stdout.
    let o = run(&["signatures", &pinned, "--key", &a.public]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.lines().any(|l| l.starts_with("legacy  signature")
        && l.contains("tags v1")
        && l.contains("valid for")));
    assert!(out.contains("attestation https://slsa.dev/provenance/v1"));

    let o = run(&["signatures", &pinned, "--remove", "not-a-key"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("16 hex digits"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hallmark_re_signing_replaces_cosigns_bundle_made_with_the_same_key() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let reg = Registry::start_with_referrers();
    let img = push_random(&reg.store("team/app"), Some("v1"), "cosign").await;
    let pinned = format!("{}/team/app@{}", reg.addr, img.digest());
    cosign_ok(&[
        "sign",
        "--key",
        &key,
        "--use-signing-config=false",
        "--tlog-upload=false",
        "--allow-insecure-registry",
        &pinned,
    ]);
    let before = listing(&pinned, &[&public], &[]);
    assert_eq!(before.len(), 1);
    assert_eq!(before[0]["valid_for"], serde_json::json!([public]));
    let o = run_env(
        &["sign", &pinned, "--key", &key, "--format", "bundle"],
        &[("COSIGN_PASSWORD", "")],
    );
    expect_code(&o, 0);
    let after = listing(&pinned, &[&public], &[]);
    assert_eq!(after.len(), 1, "{after:#?}");
    assert_ne!(after[0]["location"], before[0]["location"]);
    // cosign verifies the replacement.
    cosign_ok(&[
        "verify",
        "--key",
        &public,
        "--insecure-ignore-tlog",
        "--allow-insecure-registry",
        &pinned,
    ]);
}

#[test]
fn signatures_in_a_layout_are_listed_and_removed() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool.sh");
    std::fs::write(&file, b"echo hi\n").unwrap();
    let layout = format!("oci:{}/out", dir.path().display());
    let o = publish(&[
        &format!("file:{}", file.display()),
        &format!("{layout}:v1"),
        "--key",
        &k.private,
    ]);
    expect_code(&o, 0);
    let again = publish(&[
        &format!("file:{}", file.display()),
        &format!("{layout}:v1"),
        "--key",
        &k.private,
    ]);
    expect_code(&again, 0);
    let reference = format!("{layout}:v1");
    assert_eq!(listing(&reference, &[&k.public], &[]).len(), 1);
    let index = dir.path().join("out/index.json");
    assert!(std::fs::read_to_string(&index).unwrap().contains(".sig\""));
    let o = run(&[
        "signatures",
        &reference,
        "--key",
        &k.public,
        "--remove",
        &key_id(&k.public),
        "--yes",
    ]);
    expect_code(&o, 0);
    assert!(listing(&reference, &[&k.public], &[]).is_empty());
    // The emptied `.sig` tag left the layout's index.
    let left = std::fs::read_to_string(&index).unwrap();
    assert!(!left.contains(".sig\""), "{left}");
    assert!(stderr(&o).contains("deleted "), "{}", stderr(&o));
    expect_code(&run(&["verify", &reference, "--key", &k.public]), 1);
}

/// An attacker plants a layer carrying K2's signature bytes over another payload, valid
/// under a key made for it by ECDSA key substitution. Removing that key's signatures must
/// remove only the planted layer, never K2's genuine one with the same signature bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_a_substituted_keys_layer_keeps_the_genuine_layer_with_the_same_bytes() {
    use hallmark::signature;
    let reg = Registry::start();
    let k2 = keys("ecdsa-p256");
    let store = reg.store("team/subst");
    let img = push_random(&store, None, "subst").await;
    let pinned = format!("{}/team/subst@{}", reg.addr, img.digest());
    expect_code(&sign(&[&pinned, "--key", &k2.private]), 0);

    let tag = signature::signature_tag(img.digest());
    let m = store.get_manifest(&tag).await.unwrap().unwrap();
    let genuine = signature::parse_layers(&m).unwrap().remove(0);
    let sig = genuine.signature.clone().unwrap();
    let payload = store
        .get_blob(&genuine.payload_digest, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    // The same claim about the same image, worded differently: another payload.
    let mut doc: serde_json::Value = serde_json::from_slice(&payload).unwrap();
    doc["optional"]["creator"] = "planted".into();
    let planted = serde_json::to_vec(&doc).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (sig_file, msg_file) = (dir.path().join("sig.der"), dir.path().join("msg"));
    std::fs::write(&sig_file, &sig).unwrap();
    std::fs::write(&msg_file, &planted).unwrap();
    let out = std::process::Command::new(python())
        .arg(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/e2e/interop/substitute_key.py"),
        )
        .args([&sig_file, &msg_file])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let substituted = dir.path().join("subst.pub");
    std::fs::write(&substituted, &out.stdout).unwrap();
    let substituted = substituted.to_str().unwrap();

    let d = hallmark::digest::Digest::sha256(&planted);
    store.put_blob(&d, planted.clone().into()).await.unwrap();
    let (with_planted, config) = signature::append(Some(&m), &planted, &sig)
        .unwrap()
        .unwrap();
    store
        .put_blob(&hallmark::digest::Digest::sha256(&config), config.into())
        .await
        .unwrap();
    store.put_manifest(&with_planted, Some(&tag)).await.unwrap();
    // The planted layer is valid under the substituted key, the genuine one under K2.
    expect_code(&run(&["verify", &pinned, "--key", substituted]), 0);
    expect_code(&run(&["verify", &pinned, "--key", &k2.public]), 0);

    let o = run(&[
        "signatures",
        &pinned,
        "--key",
        substituted,
        "--remove",
        &key_id(substituted),
        "--yes",
    ]);
    expect_code(&o, 0);
    expect_code(&run(&["verify", &pinned, "--key", substituted]), 1);
    expect_code(&run(&["verify", &pinned, "--key", &k2.public]), 0);
    let left = signature::parse_layers(&store.get_manifest(&tag).await.unwrap().unwrap()).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].payload_digest, genuine.payload_digest);
}

/// What a registry holds for `digest`'s signatures: its tags, the `.sig` manifest, the
/// fallback index and every listed referrer.
async fn held(store: &hallmark::store::Store, digest: &hallmark::digest::Digest) -> String {
    let mut tags = store.list_tags().await.unwrap();
    tags.sort();
    let mut out = format!("{tags:?}\n");
    for tag in [
        hallmark::signature::signature_tag(digest),
        hallmark::oci::referrers_tag(digest),
    ] {
        let m = store.get_manifest(&tag).await.unwrap();
        out.push_str(&format!("{tag} {:?}\n", m.map(|m| m.digest.to_string())));
    }
    for e in store.referrers(digest).await.unwrap().entries() {
        out.push_str(&format!("referrer {}\n", e.digest));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_needs_yes_off_a_terminal_and_a_dry_run_changes_nothing() {
    let k = keys("ecdsa-p256");
    // Nothing listens there: a refusal before any request is still a usage error.
    let nowhere = format!("127.0.0.1:{}/team/app:v1", free_port());
    let o = run(&["signatures", &nowhere, "--all"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--yes"), "{}", stderr(&o));
    // --dry-run and --yes mean nothing without a removal: refused, not ignored.
    for flag in ["--dry-run", "--yes"] {
        let o = run(&["signatures", &nowhere, flag]);
        expect_code(&o, 2);
        assert!(stderr(&o).contains("go with --remove"), "{}", stderr(&o));
    }
    for (kind, reg) in registries() {
        let repo = "team/guard";
        let store = reg.store(repo);
        let img = push_random(&store, Some("v1"), kind).await;
        let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
        for format in ["legacy", "bundle"] {
            expect_code(
                &sign(&[&pinned, "--key", &k.private, "--format", format]),
                0,
            );
        }
        let before = held(&store, img.digest()).await;
        let id = key_id(&k.public);

        for selection in [&["--all"][..], &["--key", &k.public, "--remove", &id][..]] {
            let mut args = vec!["signatures", &pinned];
            args.extend_from_slice(selection);
            let o = run(&args);
            expect_code(&o, 2);
            assert!(
                stderr(&o).contains("without confirmation") && stderr(&o).contains("--dry-run"),
                "{kind}: {}",
                stderr(&o)
            );

            args.push("--dry-run");
            let text = run(&args);
            expect_code(&text, 0);
            let lines: Vec<_> = stdout(&text).lines().map(String::from).collect();
            assert_eq!(lines.len(), 2, "{kind}: {lines:?}");
            assert!(lines.iter().any(|l| l.starts_with("legacy signature ")));
            assert!(lines.iter().any(|l| l.starts_with("bundle signature ")));
            assert!(
                stderr(&text).contains("would remove 2 ")
                    && stderr(&text).contains("nothing was changed"),
                "{kind}: {}",
                stderr(&text)
            );

            args.extend_from_slice(&["--output", "json"]);
            let json = run(&args);
            expect_code(&json, 0);
            let removal = &json_out(&json)["removal"];
            assert_eq!(removal["dry_run"], true, "{kind}: {removal}");
            assert_eq!(removal["removed"], 0);
            let locations = removal["locations"].as_array().unwrap();
            let mut formats: Vec<_> = locations
                .iter()
                .map(|l| l["format"].as_str().unwrap())
                .collect();
            formats.sort();
            assert_eq!(formats, ["bundle", "legacy"], "{kind}: {removal}");
            // The locations are those of the listing.
            let entries = listing(&pinned, &[], &[]);
            for l in locations {
                assert!(
                    entries.iter().any(|e| e["location"] == l["location"]),
                    "{l}"
                );
            }
        }
        assert_eq!(held(&store, img.digest()).await, before, "{kind}");
        expect_code(&run(&["verify", &pinned, "--key", &k.public]), 0);
    }
}

/// A bundle signed by B, its key hint rewritten to name A: it claims A's key id but does not
/// verify with A, so removing A's signatures must keep it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_by_key_takes_only_what_verifies_not_what_claims_the_key_id() {
    let (a, b) = (keys("ecdsa-p256"), keys("ecdsa-p256"));
    for (kind, reg) in registries() {
        let repo = "team/claims";
        let store = reg.store(repo);
        let img = push_random(&store, Some("v1"), kind).await;
        let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
        for k in [&a, &b] {
            expect_code(
                &sign(&[&pinned, "--key", &k.private, "--format", "bundle"]),
                0,
            );
        }
        // Each referrer's bundle, by the key id its hint names.
        let mut bundles = Vec::new();
        for e in store.referrers(img.digest()).await.unwrap().entries() {
            let m = store
                .get_manifest(&e.digest.to_string())
                .await
                .unwrap()
                .unwrap();
            let doc: serde_json::Value = serde_json::from_slice(&m.bytes).unwrap();
            let layer = doc["layers"][0]["digest"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            let blob = store.get_blob(&layer, 1 << 20).await.unwrap().unwrap();
            let bundle: serde_json::Value = serde_json::from_slice(&blob).unwrap();
            bundles.push((m, doc, bundle, e.artifact_type.clone()));
        }
        assert_eq!(bundles.len(), 2, "{kind}");
        let entries = listing(&pinned, &[&a.public], &[]);
        let of_a = entries
            .iter()
            .find(|e| e["key_id_verified"] == true)
            .unwrap()["location"]
            .as_str()
            .unwrap()
            .to_string();
        let (a_bundle, b_bundle): (Vec<_>, Vec<_>) = bundles
            .into_iter()
            .partition(|(m, ..)| of_a.ends_with(&m.digest.to_string()));
        let hint = a_bundle[0].2["verificationMaterial"]["publicKey"]["hint"].clone();
        let (_, mut doc, mut forged, artifact_type) = b_bundle.into_iter().next().unwrap();
        forged["verificationMaterial"]["publicKey"]["hint"] = hint;
        let forged = serde_json::to_vec(&forged).unwrap();
        let d = hallmark::digest::Digest::sha256(&forged);
        store.put_blob(&d, forged.clone().into()).await.unwrap();
        doc["layers"][0]["digest"] = d.to_string().into();
        doc["layers"][0]["size"] = forged.len().into();
        let m = hallmark::oci::Manifest::new(
            serde_json::to_vec(&doc).unwrap(),
            doc["mediaType"].as_str().unwrap(),
        );
        store
            .push_referrer(&m, img.digest(), artifact_type.as_deref().unwrap_or(""))
            .await
            .unwrap();
        let id = key_id(&a.public);
        let claiming = |entries: &[serde_json::Value]| {
            entries
                .iter()
                .filter(|e| e["key_id"] == id.as_str() && e["key_id_verified"] == false)
                .count()
        };
        assert_eq!(claiming(&listing(&pinned, &[&a.public], &[])), 1, "{kind}");

        // A claimed key id alone selects nothing: the key must be given.
        let o = run(&["signatures", &pinned, "--remove", &id, "--yes"]);
        expect_code(&o, 2);
        assert!(stderr(&o).contains("--key"), "{kind}: {}", stderr(&o));

        let o = run(&[
            "signatures",
            &pinned,
            "--key",
            &a.public,
            "--remove",
            &id,
            "--yes",
            "--output",
            "json",
        ]);
        expect_code(&o, 0);
        let removal = &json_out(&o)["removal"];
        assert_eq!(removal["removed"], 1, "{kind}: {removal}");
        assert_eq!(removal["unknown_key"], 2, "{kind}: {removal}");
        let left = listing(&pinned, &[&a.public], &[]);
        assert_eq!(left.len(), 2, "{kind}: {left:#?}");
        assert_eq!(claiming(&left), 1, "{kind}: the forged claim is kept");
        expect_code(&run(&["verify", &pinned, "--key", &a.public]), 1);
        expect_code(&run(&["verify", &pinned, "--key", &b.public]), 0);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_emptied_manifest_a_registry_will_not_delete_is_named() {
    let reg = Registry::start_without_delete();
    let k = keys("ecdsa-p256");
    let repo = "team/nodelete";
    let store = reg.store(repo);
    let img = push_random(&store, Some("v1"), "nodelete").await;
    let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
    for format in ["legacy", "bundle"] {
        expect_code(
            &sign(&[&pinned, "--key", &k.private, "--format", format]),
            0,
        );
    }
    let o = run(&["signatures", &pinned, "--all", "--yes", "--output", "json"]);
    expect_code(&o, 0);
    let removal = &json_out(&o)["removal"];
    assert_eq!(removal["removed"], 2, "{removal}");
    assert_eq!(removal["deleted_manifests"], serde_json::json!([]));
    let left: Vec<_> = removal["left_empty"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            assert!(l["why"].as_str().unwrap().contains("refused"), "{l}");
            l["manifest"].as_str().unwrap().to_string()
        })
        .collect();
    let sig = hallmark::signature::signature_tag(img.digest());
    let index = hallmark::oci::referrers_tag(img.digest());
    assert_eq!(
        left,
        [
            format!("{}/{repo}:{sig}", reg.addr),
            format!("{}/{repo}:{index}", reg.addr)
        ]
    );
    assert!(listing(&pinned, &[], &[]).is_empty());
    expect_code(&run(&["verify", &pinned, "--key", &k.public]), 1);

    // In text, a warning names each (even under --quiet).
    expect_code(&sign(&[&pinned, "--key", &k.private]), 0);
    let o = run(&["signatures", &pinned, "--all", "--yes", "--quiet"]);
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains(&format!("warning: {}/{repo}:{sig} is left empty", reg.addr)),
        "{}",
        stderr(&o)
    );
}

/// On a terminal a removal shows what goes and asks: anything but yes removes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_a_removal_asks_first() {
    use std::io::Write;
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("team/ask"), Some("v1"), "ask").await;
    let pinned = format!("{}/team/ask@{}", reg.addr, img.digest());
    expect_code(&sign(&[&pinned, "--key", &k.private]), 0);
    let command = format!(
        "{} signatures {pinned} --all",
        env!("CARGO_BIN_EXE_hallmark")
    );
    let on_tty = |answer: &str| {
        let mut c = std::process::Command::new("script")
            .args(["-qec", &command, "/dev/null"])
            .env("DOCKER_CONFIG", "/nonexistent-hallmark-test")
            .env("CI", "true")
            .env("HALLMARK_SETTLE_MS", "0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin
            .take()
            .unwrap()
            .write_all(answer.as_bytes())
            .unwrap();
        let o = c.wait_with_output().unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let declined = on_tty("n\n");
    assert!(
        declined.contains("about to remove from")
            && declined.contains(".sig layer 0")
            && declined.contains("[y/N]")
            && declined.contains("not confirmed"),
        "{declined:?}"
    );
    assert_eq!(listing(&pinned, &[], &[]).len(), 1);
    let accepted = on_tty("y\n");
    assert!(accepted.contains("removed 1 "), "{accepted:?}");
    assert!(listing(&pinned, &[], &[]).is_empty());
}
