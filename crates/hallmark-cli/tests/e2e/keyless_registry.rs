//! Keyless image signatures over a real registry (Debian's docker-registry, so bundles are
//! found through the `sha256-<hex>` fallback tag), made by a private Sigstore instance
//! (`interop/sigstore_instance.py`): a Fulcio leaf with its SCT, a Rekor v1 entry with its
//! promise, inclusion proof and checkpoint. Both formats cosign writes: the legacy `.sig`
//! layer with its annotations, and a cosign 3 bundle referrer.

use std::time::SystemTime;

use crate::harness::*;
use hallmark::bundle::BUNDLE_V03;
use hallmark::bundle::intoto::{COSIGN_SIGN_V1, Statement};
use hallmark::digest::Digest;
use hallmark::image::Image;
use hallmark::oci::{Manifest, OCI_MANIFEST};
use hallmark::payload::SimpleSigning;
use hallmark::signature::signature_tag;
use hallmark::store::Store;

const SIGNER: &str = "https://github.com/acme/app/.github/workflows/release.yml@refs/heads/main";
const ISSUER: &str = "https://token.actions.githubusercontent.com";
const SLSA_V1: &str = "https://slsa.dev/provenance/v1";

#[derive(Clone, Copy, Debug)]
enum Format {
    Legacy,
    Bundle,
}

/// A registry, an instance, and an image `app:v1` on it.
struct Setup {
    inst: SigstoreInstance,
    reg: Registry,
    img: Image,
}

impl Setup {
    async fn new() -> Setup {
        let reg = Registry::start();
        let img = push_random(&reg.store("app"), Some("v1"), "keyless").await;
        Setup {
            inst: SigstoreInstance::new(),
            reg,
            img,
        }
    }

    fn repo(&self) -> String {
        format!("{}/app", self.reg.addr)
    }

    fn pinned(&self) -> String {
        format!("{}@{}", self.repo(), self.img.digest())
    }

    fn root(&self) -> &str {
        self.inst.trusted_root.to_str().unwrap()
    }

    /// The identity flags for `signer`, and this instance's trusted root.
    fn flags<'a>(&'a self, signer: &'a str) -> Vec<&'a str> {
        vec![
            "--certificate-identity",
            signer,
            "--certificate-oidc-issuer",
            ISSUER,
            "--trusted-root",
            self.root(),
        ]
    }

    /// Signs the image keyless as [`SIGNER`] in `format`, passing `extra` to the instance.
    async fn sign(&self, format: Format, extra: &[&str]) {
        sign_image(
            &self.inst,
            &self.reg.store("app"),
            &self.repo(),
            &self.img.manifest,
            format,
            extra,
        )
        .await;
    }

    fn hallmark(
        &self,
        command: &str,
        reference: &str,
        signer: &str,
        extra: &[&str],
    ) -> std::process::Output {
        let mut args = vec![command, reference];
        args.extend(self.flags(signer));
        args.extend_from_slice(extra);
        run(&args)
    }
}

async fn put_blob(store: &Store, bytes: &[u8]) -> Digest {
    let d = Digest::sha256(bytes);
    store.put_blob(&d, bytes.to_vec().into()).await.unwrap();
    d
}

/// Signs `subject` of `repo` keyless as cosign does: a `.sig` layer over a simple-signing
/// payload, or a bundle of a `cosign/sign/v1` statement stored as a referrer.
async fn sign_image(
    inst: &SigstoreInstance,
    store: &Store,
    repo: &str,
    subject: &Manifest,
    format: Format,
    extra: &[&str],
) {
    match format {
        Format::Legacy => {
            let payload = SimpleSigning::new(repo, &subject.digest, Default::default()).to_bytes();
            let annotations: serde_json::Value =
                serde_json::from_slice(&inst.sign("legacy", &payload, SIGNER, ISSUER, extra))
                    .unwrap();
            let payload_digest = put_blob(store, &payload).await;
            let config_digest = put_blob(store, b"{}").await;
            let doc = serde_json::json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest.to_string(), "size": 2},
                "layers": [{
                    "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                    "digest": payload_digest.to_string(),
                    "size": payload.len(),
                    "annotations": annotations,
                }],
            });
            store
                .put_manifest(
                    &Manifest::from_json(&doc, OCI_MANIFEST),
                    Some(&signature_tag(&subject.digest)),
                )
                .await
                .unwrap();
        }
        Format::Bundle => {
            let statement =
                Statement::new(repo, &subject.digest, COSIGN_SIGN_V1, serde_json::json!({}))
                    .to_bytes();
            let bundle = inst.sign("statement", &statement, SIGNER, ISSUER, extra);
            hallmark::sign::store_bundle(store, subject, bundle, SystemTime::now())
                .await
                .unwrap();
        }
    }
}

/// A keyless attestation of `predicate_type` about `subject`, stored as cosign 3 stores it.
async fn attest(
    inst: &SigstoreInstance,
    store: &Store,
    repo: &str,
    subject: &Manifest,
    predicate_type: &str,
) {
    let statement = Statement::new(
        repo,
        &subject.digest,
        predicate_type,
        serde_json::json!({"buildDefinition": {"buildType": "https://example.com/build"}}),
    )
    .to_bytes();
    let bundle = inst.sign("statement", &statement, SIGNER, ISSUER, &[]);
    put_blob(store, hallmark::oci::EMPTY_JSON).await;
    let d = put_blob(store, &bundle).await;
    let doc = serde_json::json!({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": BUNDLE_V03,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "size": 2, "digest": Digest::sha256(b"{}").to_string()},
        "layers": [{"mediaType": BUNDLE_V03, "size": bundle.len(), "digest": d.to_string()}],
        "annotations": {"dev.sigstore.bundle.content": "dsse-envelope", "dev.sigstore.bundle.predicateType": predicate_type},
        "subject": {"mediaType": subject.media_type, "size": subject.bytes.len(), "digest": subject.digest.to_string()},
    });
    store
        .push_referrer(
            &Manifest::from_json(&doc, OCI_MANIFEST),
            &subject.digest,
            BUNDLE_V03,
        )
        .await
        .unwrap();
}

/// Signed keyless in either format, the image verifies for its identity under the
/// instance's root and prints the pinned reference; for anyone else, or under the public
/// root, it does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_image_signatures_verify_over_a_registry_in_both_formats() {
    for format in [Format::Legacy, Format::Bundle] {
        let s = Setup::new().await;
        s.sign(format, &[]).await;
        let tagged = format!("{}:v1", s.repo());
        let o = s.hallmark("verify", &tagged, SIGNER, &[]);
        expect_code(&o, 0);
        assert_eq!(stdout(&o).trim(), s.pinned(), "{format:?}");
        assert!(stderr(&o).contains(SIGNER), "{format:?}: {}", stderr(&o));

        let o = s.hallmark("verify", &s.pinned(), SIGNER, &["--output", "json"]);
        expect_code(&o, 0);
        let report = json_out(&o);
        crate::json_output::assert_valid("verify.schema.json", &report);
        let sig = &report["signatures"][0]["sigstore"];
        assert_eq!(sig["signed_by"]["subject"], SIGNER, "{format:?}: {report}");
        assert_eq!(
            sig["tlog"][0]["log"], "https://rekor.hallmark.test",
            "{report}"
        );
        if let Format::Bundle = format {
            assert_eq!(
                sig["tlog"][0]["proofs"],
                serde_json::json!(["inclusion proof", "signed checkpoint", "inclusion promise"]),
                "{report}"
            );
        }

        // Timestamped by the instance's TSA as well: a second verified time.
        let s2 = Setup::new().await;
        s2.sign(format, &["--timestamp"]).await;
        let o = s2.hallmark("verify", &s2.pinned(), SIGNER, &["--output", "json"]);
        expect_code(&o, 0);
        let report = json_out(&o);
        let times = &report["signatures"][0]["sigstore"]["times"];
        assert_eq!(
            times.as_array().map(Vec::len),
            Some(2),
            "{format:?}: {report}"
        );
        assert_eq!(
            times[1]["source"], "timestamp authority sigstore-tsa",
            "{report}"
        );

        let o = s.hallmark(
            "verify",
            &s.pinned(),
            "https://github.com/acme/app/.github/workflows/evil.yml@refs/heads/main",
            &[],
        );
        expect_code(&o, 1);
        assert!(
            stderr(&o).contains("evil.yml"),
            "{format:?}: {}",
            stderr(&o)
        );

        // The production root does not know the instance: its log entry is from an
        // unknown log.
        let o = run(&[
            "verify",
            &s.pinned(),
            "--certificate-identity",
            SIGNER,
            "--certificate-oidc-issuer",
            ISSUER,
        ]);
        expect_code(&o, 1);
        assert!(
            stderr(&o).contains("trusted root"),
            "{format:?}: {}",
            stderr(&o)
        );
    }
}

/// `copy` carries the keyless signature, in either format, and the copy verifies where it
/// landed (for the repository it was signed for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_keeps_a_keyless_signature() {
    for format in [Format::Legacy, Format::Bundle] {
        let s = Setup::new().await;
        s.sign(format, &[]).await;
        let mirror = format!("{}/mirror:v1", s.reg.addr);
        let o = s.hallmark("copy", &s.pinned(), SIGNER, &[&mirror]);
        expect_code(&o, 0);
        let copied = format!("{}/mirror@{}", s.reg.addr, s.img.digest());
        let o = s.hallmark("verify", &copied, SIGNER, &["--identity", &s.repo()]);
        expect_code(&o, 0);
        let o = s.hallmark(
            "verify",
            &copied,
            "someone@example.com",
            &["--identity", &s.repo()],
        );
        expect_code(&o, 1);
    }
}

/// `scan` with identity flags: the keyless-signed tag verified, an unsigned tag unsigned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_judges_keyless_signatures() {
    let s = Setup::new().await;
    s.sign(Format::Legacy, &[]).await;
    let other = push_random(&s.reg.store("app"), Some("v2"), "unsigned").await;
    let bundled = push_random(&s.reg.store("app"), Some("v3"), "bundled").await;
    sign_image(
        &s.inst,
        &s.reg.store("app"),
        &s.repo(),
        &bundled.manifest,
        Format::Bundle,
        &[],
    )
    .await;
    assert_ne!(other.digest(), s.img.digest());
    let o = s.hallmark("scan", &s.repo(), SIGNER, &["--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    crate::json_output::assert_valid("scan.schema.json", &v);
    let status = |tag: &str| {
        v["tags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["tag"] == tag)
            .map(|t| t["status"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert_eq!(status("v1"), "verified", "{v}");
    assert_eq!(status("v3"), "verified", "{v}");
    assert_eq!(status("v2"), "unsigned", "{v}");
}

/// `pin --write` rewrites a reference to the digest verified keyless, and leaves one
/// signed by someone else alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_rewrites_to_the_keyless_verified_digest() {
    let s = Setup::new().await;
    s.sign(Format::Bundle, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    let text = format!("services:\n  web:\n    image: {}:v1\n", s.repo());
    std::fs::write(&file, &text).unwrap();
    let o = s.hallmark(
        "pin",
        file.to_str().unwrap(),
        "someone@example.com",
        &["--write"],
    );
    expect_code(&o, 1);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), text);
    let o = s.hallmark("pin", file.to_str().unwrap(), SIGNER, &["--write"]);
    expect_code(&o, 0);
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        format!(
            "services:\n  web:\n    image: {}:v1@{}\n",
            s.repo(),
            s.img.digest()
        )
    );
}

/// A keyless attestation verifies with `verify-attestation --type` and prints its
/// predicate; another type is not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_attestations_verify() {
    let s = Setup::new().await;
    attest(
        &s.inst,
        &s.reg.store("app"),
        &s.repo(),
        &s.img.manifest,
        SLSA_V1,
    )
    .await;
    let o = s.hallmark(
        "verify-attestation",
        &s.pinned(),
        SIGNER,
        &["--type", "slsaprovenance1"],
    );
    expect_code(&o, 0);
    let predicate: serde_json::Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        predicate["buildDefinition"]["buildType"],
        "https://example.com/build"
    );
    let o = s.hallmark(
        "verify-attestation",
        &s.pinned(),
        SIGNER,
        &["--type", "cyclonedx"],
    );
    expect_code(&o, 1);
    let o = s.hallmark(
        "verify-attestation",
        &s.pinned(),
        "someone@example.com",
        &["--type", "slsaprovenance1"],
    );
    expect_code(&o, 1);
}

/// A policy naming keyless signers in `[[rule.keyless]]` and the instance's trusted root
/// verifies the image; the same policy with another subject denies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_with_keyless_signers_verifies() {
    let s = Setup::new().await;
    s.sign(Format::Legacy, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let policy = |subject: &str| {
        let path = dir.path().join("policy.toml");
        std::fs::write(
            &path,
            format!(
                "version = 1\ntrusted-root = {:?}\n\n[[rule]]\nname = \"release\"\nmatch = [\"{}\"]\n\n\
                 [[rule.keyless]]\nsubject = {subject:?}\nissuer = {ISSUER:?}\n",
                s.root(),
                s.repo()
            ),
        )
        .unwrap();
        path
    };
    let path = policy(SIGNER);
    let o = run(&["verify", &s.pinned(), "--policy", path.to_str().unwrap()]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o).trim(), s.pinned());
    let path = policy("someone@example.com");
    let o = run(&["verify", &s.pinned(), "--policy", path.to_str().unwrap()]);
    expect_code(&o, 1);
}

/// Signatures whose certificate had expired when the log integrated them, that carry no
/// SCT, or that the log integrated before the trusted root trusts its key, are refused with
/// their reason, in either format.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_or_unlogged_certificates_are_refused() {
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (from, to) = ((now - 3600).to_string(), (now - 3000).to_string());
    for format in [Format::Legacy, Format::Bundle] {
        let s = Setup::new().await;
        s.sign(format, &["--not-before", &from, "--not-after", &to])
            .await;
        let o = s.hallmark("verify", &s.pinned(), SIGNER, &[]);
        expect_code(&o, 1);
        assert!(
            stderr(&o).contains("the signing certificate was not valid at"),
            "{format:?}: {}",
            stderr(&o)
        );

        let s = Setup::new().await;
        s.sign(format, &["--no-sct"]).await;
        let o = s.hallmark("verify", &s.pinned(), SIGNER, &[]);
        expect_code(&o, 1);
        assert!(
            stderr(&o).contains("no signed certificate timestamp"),
            "{format:?}: {}",
            stderr(&o)
        );

        // Logged two days ago, before the trusted root trusts the instance's log key (from
        // one day ago), by a certificate valid then: the log's word does not count.
        let then = now - 2 * 86_400;
        let (at, from, to) = (
            then.to_string(),
            (then - 60).to_string(),
            (then + 540).to_string(),
        );
        let s = Setup::new().await;
        s.sign(
            format,
            &[
                "--integrated-time",
                &at,
                "--not-before",
                &from,
                "--not-after",
                &to,
            ],
        )
        .await;
        let o = s.hallmark("verify", &s.pinned(), SIGNER, &[]);
        expect_code(&o, 1);
        assert!(
            stderr(&o)
                .contains("outside the window in which the trusted root trusts the log's key"),
            "{format:?}: {}",
            stderr(&o)
        );
    }
}

/// The real cosign verifies, offline against the instance's root, the keyless image
/// signature hallmark verified, in either format (the bundle through the fallback tag), and
/// refuses it for another identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign_verifies_the_keyless_image_signatures_hallmark_verified() {
    for format in [Format::Legacy, Format::Bundle] {
        let s = Setup::new().await;
        s.sign(format, &[]).await;
        expect_code(&s.hallmark("verify", &s.pinned(), SIGNER, &[]), 0);
        let cosign = |signer: &str| {
            cosign_run(&[
                "verify",
                "--certificate-identity",
                signer,
                "--certificate-oidc-issuer",
                ISSUER,
                "--trusted-root",
                s.root(),
                "--offline",
                "--allow-insecure-registry",
                &s.pinned(),
            ])
        };
        let o = cosign(SIGNER);
        assert!(
            o.status.success(),
            "{format:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            !cosign("someone@example.com").status.success(),
            "{format:?}"
        );
    }
}

/// The instance itself, judged by the real cosign: a blob bundle and a DSSE statement
/// bundle it makes verify with both cosign and hallmark for their identity under its root,
/// and one without an SCT is refused by both.
#[test]
fn the_real_cosign_accepts_what_the_instance_makes() {
    let inst = SigstoreInstance::new();
    let root = inst.trusted_root.to_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("artifact.txt");
    std::fs::write(&file, b"release notes\n").unwrap();
    let file = file.to_str().unwrap();
    let digest = Digest::sha256(b"release notes\n");
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p.to_str().unwrap().to_string()
    };
    let identity = [
        "--certificate-identity",
        SIGNER,
        "--certificate-oidc-issuer",
        ISSUER,
        "--trusted-root",
        root,
    ];
    let both = |cosign_command: &str, bundle: &str, extra: &[&str]| {
        let mut args = vec![cosign_command, "--bundle", bundle];
        args.extend_from_slice(extra);
        args.extend(identity);
        args.push(file);
        let cosign = cosign_run(&args);
        let mut args = vec!["verify-blob", file, "--bundle", bundle];
        args.extend(identity);
        (cosign, run(&args))
    };

    let bundle = write(
        "blob.json",
        &inst.sign("blob", b"release notes\n", SIGNER, ISSUER, &[]),
    );
    let (cosign, ours) = both("verify-blob", &bundle, &[]);
    assert!(
        cosign.status.success(),
        "{}",
        String::from_utf8_lossy(&cosign.stderr)
    );
    expect_code(&ours, 0);

    let statement =
        Statement::new("artifact.txt", &digest, SLSA_V1, serde_json::json!({})).to_bytes();
    let bundle = write(
        "statement.json",
        &inst.sign("statement", &statement, SIGNER, ISSUER, &[]),
    );
    let (cosign, ours) = both(
        "verify-blob-attestation",
        &bundle,
        &["--type", "slsaprovenance1"],
    );
    assert!(
        cosign.status.success(),
        "{}",
        String::from_utf8_lossy(&cosign.stderr)
    );
    expect_code(&ours, 0);

    // With an RFC 3161 timestamp from the instance's TSA: cosign checks it when told to,
    // hallmark always, and counts it as a second verified time.
    let bundle = write(
        "timestamped.json",
        &inst.sign("blob", b"release notes\n", SIGNER, ISSUER, &["--timestamp"]),
    );
    let (cosign, _) = both("verify-blob", &bundle, &["--use-signed-timestamps"]);
    assert!(
        cosign.status.success(),
        "{}",
        String::from_utf8_lossy(&cosign.stderr)
    );
    let mut args = vec!["verify-blob", file, "--bundle", &bundle, "--output", "json"];
    args.extend(identity);
    let o = run(&args);
    expect_code(&o, 0);
    let report = json_out(&o);
    assert!(
        report
            .to_string()
            .contains("timestamp authority sigstore-tsa"),
        "{report}"
    );

    let bundle = write(
        "no-sct.json",
        &inst.sign("blob", b"release notes\n", SIGNER, ISSUER, &["--no-sct"]),
    );
    let (cosign, ours) = both("verify-blob", &bundle, &[]);
    assert!(!cosign.status.success());
    expect_code(&ours, 1);
}

/// On a registry with the OCI referrers API, a keyless bundle is found through the API (no
/// fallback tag is written) and verifies for its identity only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_bundles_are_found_through_the_referrers_api() {
    let reg = Registry::start_with_referrers();
    let store = reg.store("app");
    let img = push_random(&store, Some("v1"), "keyless-referrers").await;
    let s = Setup {
        inst: SigstoreInstance::new(),
        reg,
        img,
    };
    s.sign(Format::Bundle, &[]).await;
    let fallback = hallmark::oci::referrers_tag(s.img.digest());
    assert!(
        s.reg
            .store("app")
            .get_manifest(&fallback)
            .await
            .unwrap()
            .is_none(),
        "a registry with the referrers API needs no fallback tag"
    );
    let o = s.hallmark("verify", &s.pinned(), SIGNER, &[]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o).trim(), s.pinned());
    let o = s.hallmark(
        "verify",
        &s.pinned(),
        "https://github.com/acme/app/.github/workflows/evil.yml@refs/heads/main",
        &[],
    );
    expect_code(&o, 1);
}

/// `copy` into a repository whose `.sig` manifest for the digest already holds a key's
/// signature merges the keyless legacy layer in with its certificate, chain and log entry,
/// so that it still verifies there for the keyless signer; the key's signature stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_merges_a_keyless_legacy_layer_with_its_annotations() {
    let s = Setup::new().await;
    s.sign(Format::Legacy, &[]).await;
    s.img
        .push(&s.reg.store("mirror"), Some("v0"))
        .await
        .unwrap();
    let copied = format!("{}/mirror@{}", s.reg.addr, s.img.digest());
    let k = keys("ecdsa-p256");
    let o = run_env(
        &["sign", &copied, "--key", &k.private],
        &[("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 0);
    let mirror = format!("{}/mirror:v1", s.reg.addr);
    expect_code(&s.hallmark("copy", &s.pinned(), SIGNER, &[&mirror]), 0);
    let o = s.hallmark("verify", &copied, SIGNER, &["--identity", &s.repo()]);
    expect_code(&o, 0);
    expect_code(&run(&["verify", &copied, "--key", &k.public]), 0);
}
