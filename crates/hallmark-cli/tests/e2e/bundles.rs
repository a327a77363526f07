//! Sigstore bundles as OCI 1.1 referrers, proven against the real cosign on a registry
//! without the referrers API (Debian's docker-registry: the `sha256-<hex>` fallback tag)
//! and one with it (go-containerregistry's).

use std::process::Output;

use crate::harness::*;
use hallmark::bundle::dsse::Envelope;
use hallmark::bundle::intoto::{self, Statement};
use hallmark::bundle::{BUNDLE_V03, Bundle};
use hallmark::digest::Digest;
use hallmark::image::Image;
use hallmark::keys::{Algorithm, SigningKey};
use hallmark::oci::{Manifest, OCI_MANIFEST, referrers_tag};
use hallmark::store::Store;

/// Both kinds of registry.
fn registries() -> [(&'static str, Registry); 2] {
    [
        ("without referrers API", Registry::start()),
        ("with referrers API", Registry::start_with_referrers()),
    ]
}

/// `cosign sign` as cosign 3 does it by default, key-based and without a transparency log.
fn cosign_sign(key: &str, reference: &str, extra: &[&str]) {
    let mut args = vec![
        "sign",
        "--key",
        key,
        "--use-signing-config=false",
        "--tlog-upload=false",
        "--allow-insecure-registry",
    ];
    args.extend_from_slice(extra);
    args.push(reference);
    cosign_ok(&args);
}

fn cosign_verify(public: &str, reference: &str) -> Output {
    cosign_run(&[
        "verify",
        "--key",
        public,
        "--insecure-ignore-tlog",
        "--allow-insecure-registry",
        reference,
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign_signs_and_hallmark_verifies_on_both_registries() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    for (kind, reg) in registries() {
        let img = push_random(&reg.store("team/app"), Some("v1"), "x").await;
        let pinned = format!("{}/team/app@{}", reg.addr, img.digest());
        cosign_sign(&key, &pinned, &["-a", "env=prod"]);
        let o = run(&["verify", &pinned, "--key", &public, "--output", "json"]);
        expect_code(&o, 0);
        let v = json_out(&o);
        assert_eq!(v["signatures"][0]["format"], "bundle", "{kind}: {v}");
        assert_eq!(
            v["signatures"][0]["annotations"]["env"], "prod",
            "{kind}: {v}"
        );
        // A key cosign did not sign with verifies nothing.
        let other = keys("ecdsa-p256");
        expect_code(&run(&["verify", &pinned, "--key", &other.public]), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hallmark_signs_and_cosign_verifies_both_formats_on_both_registries() {
    let dir = tempfile::tempdir().unwrap();
    // A key made by cosign, used by hallmark.
    let (key, public) = cosign_keys(dir.path());
    for (kind, reg) in registries() {
        for format in ["bundle", "legacy"] {
            let repo = format!("team/{format}");
            let img = push_random(&reg.store(&repo), Some("v1"), format).await;
            let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
            let o = run(&[
                "sign",
                &pinned,
                "--key",
                &key,
                "--format",
                format,
                "--bind-tag",
                "v1",
            ]);
            expect_code(&o, 0);
            let o = cosign_verify(&public, &pinned);
            assert!(o.status.success(), "{kind} {format}: {}", stderr(&o));
            let o = run(&[
                "verify",
                &format!("{}/{repo}:v1", reg.addr),
                "--key",
                &public,
                "--require-tag-binding",
                "--output",
                "json",
            ]);
            expect_code(&o, 0);
            assert_eq!(json_out(&o)["signatures"][0]["format"], format);
        }
        // publish --format bundle: signed before the push, found by cosign afterwards.
        let file = dir.path().join("installer.sh");
        std::fs::write(&file, b"#!/bin/sh\necho install\n").unwrap();
        let o = run(&[
            "publish",
            &format!("file:{}", file.display()),
            &format!("{}/tools/installer:1.0", reg.addr),
            "--key",
            &key,
            "--format",
            "bundle",
            "--output",
            "json",
        ]);
        expect_code(&o, 0);
        let pinned = format!(
            "{}/tools/installer@{}",
            reg.addr,
            json_out(&o)["digest"].as_str().unwrap()
        );
        let o = cosign_verify(&public, &pinned);
        assert!(o.status.success(), "{kind} publish: {}", stderr(&o));
    }
}

/// Two signers appending to the fallback index at once: both survive.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_bundle_signers_both_survive_on_the_fallback_index() {
    let reg = Registry::start();
    let (a, b) = (keys("ecdsa-p256"), keys("ed25519"));
    let img = push_random(&reg.store("app"), Some("v1"), "x").await;
    let pinned = format!("{}/app@{}", reg.addr, img.digest());
    let spawn = |k: &Keys| {
        let mut c = hallmark();
        // Each run keeps the key's earlier signatures, so every referrer written must stay.
        c.args([
            "sign",
            &pinned,
            "--key",
            &k.private,
            "--format",
            "bundle",
            "--keep-existing",
        ])
        .env("HALLMARK_PASSWORD", PASSWORD)
        // Racing writers need the settle window the harness turns off for everything
        // else (see the races suite).
        .env("HALLMARK_SETTLE_MS", "2000")
        .stdout(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    // Each signer prints the referrer it wrote (REPO@sha256:…).
    let mut written = std::collections::BTreeSet::new();
    for i in 0..3 {
        let (x, y) = (spawn(&a), spawn(&b));
        for child in [x, y] {
            let o = child.wait_with_output().unwrap();
            assert!(o.status.success(), "run {i}");
            let line = stdout(&o);
            let (_, d) = line.trim().rsplit_once('@').unwrap();
            written.insert(d.parse::<Digest>().unwrap());
        }
    }
    for k in [&a, &b] {
        expect_code(&run(&["verify", &pinned, "--key", &k.public]), 0);
    }
    let index = reg
        .store("app")
        .get_manifest(&referrers_tag(img.digest()))
        .await
        .unwrap()
        .unwrap();
    let index = hallmark::oci::Index::parse(&index.bytes).unwrap();
    // Deterministic signatures make a re-signing within one second the same referrer.
    assert!(written.len() >= 2);
    for d in &written {
        assert!(index.find_digest(d).is_some(), "referrer {d} was lost");
    }
    assert_eq!(index.entries().len(), written.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_carries_bundle_referrers_to_any_destination() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let src = Registry::start();
    let dst = Registry::start_with_referrers();
    let img = push_random(&src.store("app"), Some("v1"), "x").await;
    cosign_sign(&key, &format!("{}/app@{}", src.addr, img.digest()), &[]);
    let identity = format!("{}/app", src.addr);
    for dest in [
        format!("{}/mirror/app:v1", dst.addr),
        format!("oci:{}:v1", dir.path().join("layout").display()),
    ] {
        let o = run(&[
            "copy",
            &format!("{}/app:v1", src.addr),
            &dest,
            "--key",
            &public,
        ]);
        expect_code(&o, 0);
        let o = run(&[
            "verify",
            &dest,
            "--key",
            &public,
            "--identity",
            &identity,
            "--output",
            "json",
        ]);
        expect_code(&o, 0);
        assert_eq!(json_out(&o)["signatures"][0]["format"], "bundle", "{dest}");
    }
    let o = cosign_verify(
        &public,
        &format!("{}/mirror/app@{}", dst.addr, img.digest()),
    );
    assert!(o.status.success(), "{}", stderr(&o));
}

// ---------------------------------------------------------------------------------------
// Negative cases: bundles a hostile writer plants next to an image.

struct Planted {
    reg: Registry,
    key: SigningKey,
    public: tempfile::NamedTempFile,
    img: Image,
}

impl Planted {
    async fn new() -> Planted {
        let reg = Registry::start();
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let public = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(public.path(), key.public_key().to_pem()).unwrap();
        let img = push_random(&reg.store("app"), Some("v1"), "x").await;
        Planted {
            reg,
            key,
            public,
            img,
        }
    }

    fn store(&self) -> Store {
        self.reg.store("app")
    }

    fn statement(&self, digest: &Digest, predicate_type: &str) -> Statement {
        Statement::new(
            &format!("{}/app", self.reg.addr),
            digest,
            predicate_type,
            serde_json::json!({}),
        )
    }

    fn bundle(&self, payload_type: &str, statement: &[u8]) -> Vec<u8> {
        let env = Envelope::sign(payload_type, statement, |pae| self.key.sign(pae).unwrap());
        Bundle::for_envelope(env, &self.key.public_key().bundle_hint()).to_bytes()
    }

    /// Stores `bundle` as a referrer of `subject` with the given layer media type.
    async fn plant(&self, subject: &Manifest, bundle: Vec<u8>, layer_media_type: &str) {
        let store = self.store();
        let empty = bytes::Bytes::from_static(hallmark::oci::EMPTY_JSON);
        store
            .put_blob(&Digest::sha256(&empty), empty)
            .await
            .unwrap();
        let d = Digest::sha256(&bundle);
        store.put_blob(&d, bundle.clone().into()).await.unwrap();
        let doc = serde_json::json!({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE_V03,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": Digest::sha256(b"{}").to_string()},
            "layers": [{"mediaType": layer_media_type, "size": bundle.len(), "digest": d.to_string()}],
            "subject": {"mediaType": subject.media_type, "size": subject.bytes.len(), "digest": subject.digest.to_string()},
        });
        let m = Manifest::from_json(&doc, OCI_MANIFEST);
        store
            .push_referrer(&m, self.img.digest(), BUNDLE_V03)
            .await
            .unwrap();
    }

    /// hallmark verify says no (exit 1), with `why` among the reasons.
    #[track_caller]
    fn refused(&self, why: &str) {
        let o = run(&[
            "verify",
            &format!("{}/app@{}", self.reg.addr, self.img.digest()),
            "--key",
            self.public.path().to_str().unwrap(),
        ]);
        expect_code(&o, 1);
        assert!(stderr(&o).contains(why), "want {why:?} in {}", stderr(&o));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_bundles_that_must_not_verify() {
    let p = Planted::new().await;
    let m = p.img.manifest.clone();
    let d = p.img.digest().clone();

    // The control: a well-formed bundle planted this way verifies.
    {
        let q = Planted::new().await;
        let st = q
            .statement(q.img.digest(), intoto::COSIGN_SIGN_V1)
            .to_bytes();
        q.plant(
            &q.img.manifest,
            q.bundle(intoto::PAYLOAD_TYPE, &st),
            BUNDLE_V03,
        )
        .await;
        let o = run(&[
            "verify",
            &format!("{}/app@{}", q.reg.addr, q.img.digest()),
            "--key",
            q.public.path().to_str().unwrap(),
        ]);
        expect_code(&o, 0);
    }

    let other = Digest::sha256(b"another image");
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "statement about another digest",
            p.bundle(
                intoto::PAYLOAD_TYPE,
                &p.statement(&other, intoto::COSIGN_SIGN_V1).to_bytes(),
            ),
            "copied from another image",
        ),
        (
            "DSSE payload type other than in-toto",
            p.bundle(
                "text/plain",
                &p.statement(&d, intoto::COSIGN_SIGN_V1).to_bytes(),
            ),
            "is not an in-toto statement",
        ),
        (
            "attestation presented as a signature",
            p.bundle(
                intoto::PAYLOAD_TYPE,
                &p.statement(&d, "https://slsa.dev/provenance/v1").to_bytes(),
            ),
            "also found 1 attestation of this digest (https://slsa.dev/provenance/v1)",
        ),
        (
            "two subjects, one of them this image",
            {
                let mut st = p.statement(&d, intoto::COSIGN_SIGN_V1);
                st.subject
                    .push(p.statement(&other, intoto::COSIGN_SIGN_V1).subject[0].clone());
                p.bundle(intoto::PAYLOAD_TYPE, &st.to_bytes())
            },
            "names 2 subjects",
        ),
        (
            "PAE signed over another payload",
            {
                let good = p.statement(&d, intoto::COSIGN_SIGN_V1).to_bytes();
                let signed_for_other = p.statement(&other, intoto::COSIGN_SIGN_V1).to_bytes();
                let mut env = Envelope::sign(intoto::PAYLOAD_TYPE, &signed_for_other, |pae| {
                    p.key.sign(pae).unwrap()
                });
                env.payload = <base64ct::Base64 as base64ct::Encoding>::encode_string(&good);
                Bundle::for_envelope(env, "x").to_bytes()
            },
            "not signed by any of the given keys",
        ),
        (
            "truncated bundle",
            p.bundle(
                intoto::PAYLOAD_TYPE,
                &p.statement(&d, intoto::COSIGN_SIGN_V1).to_bytes(),
            )[..40]
                .to_vec(),
            "not a Sigstore bundle",
        ),
        (
            "statement for another repository",
            {
                let st = Statement::new(
                    "evil.example.com/app",
                    &d,
                    intoto::COSIGN_SIGN_V1,
                    serde_json::json!({}),
                );
                p.bundle(intoto::PAYLOAD_TYPE, &st.to_bytes())
            },
            "copied from another repository",
        ),
    ];
    // Each planted bundle joins the ones before it: none may make the image verify, and
    // each is refused for its own reason.
    for (name, bundle, why) in cases {
        p.plant(&m, bundle, BUNDLE_V03).await;
        let _ = name;
        p.refused(why);
    }
    // Unknown bundle media type, and a bundle larger than any real one.
    let good = p.bundle(
        intoto::PAYLOAD_TYPE,
        &p.statement(&d, intoto::COSIGN_SIGN_V1).to_bytes(),
    );
    p.plant(&m, good, "application/vnd.dev.sigstore.bundle.v9+json")
        .await;
    p.refused("unknown bundle media type");
    let mut huge = p.bundle(
        intoto::PAYLOAD_TYPE,
        &p.statement(&d, intoto::COSIGN_SIGN_V1).to_bytes(),
    );
    huge.resize(hallmark::bundle::MAX_BUNDLE_BYTES as usize + 10, b' ');
    p.plant(&m, huge, BUNDLE_V03).await;
    p.refused("over the limit");
}

/// A referrer made for one image and listed under another image's fallback tag (moved)
/// does not count for the other image; a deleted or replaced fallback index fails closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moved_referrers_and_a_tampered_fallback_index_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let reg = Registry::start();
    let store = reg.store("app");
    let signed = push_random(&store, Some("v1"), "signed").await;
    let target = push_random(&store, Some("v2"), "unsigned").await;
    cosign_sign(&key, &format!("{}/app@{}", reg.addr, signed.digest()), &[]);
    let index = store
        .get_manifest(&referrers_tag(signed.digest()))
        .await
        .unwrap()
        .unwrap();
    // Moved: the signed image's referrers index, now under the other image's tag.
    store
        .put_manifest(&index, Some(&referrers_tag(target.digest())))
        .await
        .unwrap();
    let o = run(&[
        "verify",
        &format!("{}/app@{}", reg.addr, target.digest()),
        "--key",
        &public,
    ]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("not to this image"), "{}", stderr(&o));

    // Deleted: the signed image is then unsigned.
    store
        .put_manifest(
            &Manifest::new(br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}"#.to_vec(), hallmark::oci::OCI_INDEX),
            Some(&referrers_tag(signed.digest())),
        )
        .await
        .unwrap();
    let o = run(&[
        "verify",
        &format!("{}/app@{}", reg.addr, signed.digest()),
        "--key",
        &public,
    ]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("no signature"), "{}", stderr(&o));
}

/// A statement whose subject digest map repeats `sha256`, signed with the real key: a
/// last-wins reader sees this image, a stricter one refuses the document. hallmark
/// refuses it, as cosign does, so that no two verifiers disagree on the same bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_statement_repeating_a_key_verifies_nowhere() {
    let p = Planted::new().await;
    let d = p.img.digest().clone();
    let other = Digest::sha256(b"another image");
    let honest = String::from_utf8(p.statement(&d, intoto::COSIGN_SIGN_V1).to_bytes()).unwrap();
    let this = format!(r#""digest":{{"sha256":"{}"}}"#, d.hex());
    assert!(honest.contains(&this), "{honest}");
    let forged = honest.replace(
        &this,
        &format!(
            r#""digest":{{"sha256":"{}","sha256":"{}"}}"#,
            other.hex(),
            d.hex()
        ),
    );
    p.plant(
        &p.img.manifest,
        p.bundle(intoto::PAYLOAD_TYPE, forged.as_bytes()),
        BUNDLE_V03,
    )
    .await;
    p.refused("invalid in-toto statement: duplicate key \"sha256\"");
    let pinned = format!("{}/app@{}", p.reg.addr, p.img.digest());
    let o = run(&[
        "verify",
        &pinned,
        "--key",
        p.public.path().to_str().unwrap(),
        "--output",
        "json",
    ]);
    expect_code(&o, 1);
    assert!(
        json_out(&o)["errors"].to_string().contains("duplicate key"),
        "{}",
        stdout(&o)
    );
    let public = p.public.path().to_str().unwrap();
    assert!(!cosign_verify(public, &pinned).status.success());
    // The control: the same statement with each key once, planted the same way, verifies
    // in both.
    let q = Planted::new().await;
    let honest = q
        .statement(q.img.digest(), intoto::COSIGN_SIGN_V1)
        .to_bytes();
    q.plant(
        &q.img.manifest,
        q.bundle(intoto::PAYLOAD_TYPE, &honest),
        BUNDLE_V03,
    )
    .await;
    let pinned = format!("{}/app@{}", q.reg.addr, q.img.digest());
    let public = q.public.path().to_str().unwrap();
    expect_code(&run(&["verify", &pinned, "--key", public]), 0);
    let o = cosign_verify(public, &pinned);
    assert!(o.status.success(), "{}", stderr(&o));
}

/// A bundle whose envelope repeats a key around a valid signature is refused before
/// anything in it is believed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_repeating_a_key_is_refused() {
    let p = Planted::new().await;
    let st = p
        .statement(p.img.digest(), intoto::COSIGN_SIGN_V1)
        .to_bytes();
    let good = String::from_utf8(p.bundle(intoto::PAYLOAD_TYPE, &st)).unwrap();
    let forged = good.replacen(
        r#""payloadType":"#,
        r#""payloadType":"text/plain","payloadType":"#,
        1,
    );
    assert_ne!(forged, good);
    p.plant(&p.img.manifest, forged.into_bytes(), BUNDLE_V03)
        .await;
    p.refused("duplicate key \"payloadType\"");
}
