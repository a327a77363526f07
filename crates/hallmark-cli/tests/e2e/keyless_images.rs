//! Images signed keyless by real cosign: a legacy `.sig` layer carrying a Fulcio
//! certificate, its chain and the Rekor entry with its signed promise, verified offline
//! against the built-in production root, with every part of that proof attacked in turn.
//!
//! The signature is containers/image's test fixture (made by cosign against the public-good
//! Fulcio and Rekor); its image manifest comes with it but not the image's layers, so the
//! image is served from an `oci:` layout, which the registry path shares everything with
//! but the transport.

use std::path::{Path, PathBuf};

use crate::harness::*;

const FIXTURE: &str =
    "fixtures/realworld/legacy/containers__image__dir-img-cosign-fulcio-rekor-valid__signature-1";
const SIGNER: &str = "mitr@redhat.com";
const ISSUER: &str = "https://github.com/login/oauth";
const SIGNED_FOR: &str = "192.168.64.2:5000/cosign-signed/fulcio-rekor-1";

fn sha256_hex(bytes: &[u8]) -> String {
    hallmark::digest::Digest::sha256(bytes).hex().to_string()
}

/// The fixture's signature: payload bytes and the layer's annotations, as cosign wrote them.
fn cosign_signature(dir: &Path) -> (Vec<u8>, serde_json::Map<String, serde_json::Value>) {
    let raw = std::fs::read(dir.join("original-signature-1")).unwrap();
    let json_start = raw.iter().position(|b| *b == b'{').unwrap();
    let sig: serde_json::Value = serde_json::from_slice(&raw[json_start..]).unwrap();
    let payload = std::fs::read(dir.join("payload.json")).unwrap();
    let annotations = sig["annotations"].as_object().unwrap().clone();
    (payload, annotations)
}

struct Layout {
    _dir: tempfile::TempDir,
    path: PathBuf,
    digest: String,
}

impl Layout {
    fn reference(&self) -> String {
        format!("oci:{}@{}", self.path.display(), self.digest)
    }
}

/// An `oci:` layout holding the fixture's image manifest, tagged `v1`, and its signature
/// manifest under cosign's `.sig` tag, its annotations changed by `edit`.
fn layout(
    fixture: &Path,
    edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
) -> Layout {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("image");
    let blobs = path.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |bytes: &[u8]| {
        let hex = sha256_hex(bytes);
        std::fs::write(blobs.join(&hex), bytes).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let manifest = std::fs::read(fixture.join("manifest.json")).unwrap();
    let media_type = serde_json::from_slice::<serde_json::Value>(&manifest).unwrap()["mediaType"]
        .as_str()
        .unwrap()
        .to_string();
    let (digest, size) = put(&manifest);
    let (payload, mut annotations) = cosign_signature(fixture);
    edit(&mut annotations);
    let (payload_digest, payload_size) = put(&payload);
    let (config_digest, config_size) = put(b"{}");
    let sig_manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{
            "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
            "digest": payload_digest,
            "size": payload_size,
            "annotations": annotations,
        }],
    }))
    .unwrap();
    let (sig_digest, sig_size) = put(&sig_manifest);
    let sig_tag = format!("{}.sig", digest.replace(':', "-"));
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [
            {"mediaType": media_type, "digest": digest, "size": size,
             "annotations": {"org.opencontainers.image.ref.name": "v1"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sig_digest, "size": sig_size,
             "annotations": {"org.opencontainers.image.ref.name": sig_tag}},
        ],
    });
    std::fs::write(path.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(
        path.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    Layout {
        _dir: dir,
        path,
        digest,
    }
}

fn verify(l: &Layout, extra: &[&str]) -> std::process::Output {
    let reference = l.reference();
    let mut args = vec!["verify", reference.as_str(), "--identity", SIGNED_FOR];
    args.extend_from_slice(extra);
    run(&args)
}

const IDENTITY: [&str; 4] = [
    "--certificate-identity",
    SIGNER,
    "--certificate-oidc-issuer",
    ISSUER,
];

/// cosign's keyless legacy signature verifies for its identity and issuer, offline; the
/// report names who signed, the log entry and the verified time, and prints the pinned
/// reference.
#[test]
fn a_keyless_cosign_signature_verifies_for_its_identity() {
    let Some(fixture) = shared(
        "a_keyless_cosign_signature_verifies_for_its_identity",
        FIXTURE,
    ) else {
        return;
    };
    let l = layout(&fixture, |_| {});
    let o = verify(&l, &IDENTITY);
    expect_code(&o, 0);
    assert_eq!(stdout(&o).trim(), l.reference());
    assert!(stderr(&o).contains(SIGNER), "{}", stderr(&o));

    let mut args = IDENTITY.to_vec();
    args.extend(["--output", "json"]);
    let o = verify(&l, &args);
    expect_code(&o, 0);
    let report = json_out(&o);
    crate::json_output::assert_valid("verify.schema.json", &report);
    let sig = &report["signatures"][0];
    assert_eq!(
        sig["sigstore"]["signed_by"]["type"], "certificate",
        "{report}"
    );
    assert_eq!(sig["sigstore"]["signed_by"]["subject"], SIGNER, "{report}");
    assert_eq!(sig["sigstore"]["signed_by"]["issuer"], ISSUER, "{report}");
    let entry = &sig["sigstore"]["tlog"][0];
    assert_eq!(entry["log"], "https://rekor.sigstore.dev", "{report}");
    assert!(entry["log_index"].as_i64().unwrap() > 0, "{report}");
    assert!(
        sig["sigstore"]["times"][0]["at"]
            .as_str()
            .unwrap()
            .starts_with("2023-01-20T"),
        "{report}"
    );

    // The same identity as a regular expression (unanchored, as cosign's).
    let o = verify(
        &l,
        &[
            "--certificate-identity-regexp",
            "@redhat\\.com$",
            "--certificate-oidc-issuer-regexp",
            "^https://github\\.com/",
        ],
    );
    expect_code(&o, 0);
}

/// Someone else's identity, another issuer, or no identity at all: not verified, each
/// saying why; an identity without an issuer is a usage error, as in cosign.
#[test]
fn a_keyless_signature_counts_only_for_the_identity_trusted() {
    let Some(fixture) = shared(
        "a_keyless_signature_counts_only_for_the_identity_trusted",
        FIXTURE,
    ) else {
        return;
    };
    let l = layout(&fixture, |_| {});
    for (flags, reason) in [
        (
            vec![
                "--certificate-identity",
                "attacker@example.com",
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            "attacker@example.com",
        ),
        (
            vec![
                "--certificate-identity",
                SIGNER,
                "--certificate-oidc-issuer",
                "https://accounts.google.com",
            ],
            "https://accounts.google.com",
        ),
        (
            vec![
                "--certificate-identity-regexp",
                "^redhat",
                "--certificate-oidc-issuer",
                ISSUER,
            ],
            "^redhat",
        ),
    ] {
        let o = verify(&l, &flags);
        expect_code(&o, 1);
        assert!(stderr(&o).contains(reason), "{flags:?}: {}", stderr(&o));
    }
    let k = keys("ecdsa-p256");
    let o = verify(&l, &["--key", &k.public]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("signed keyless"), "{}", stderr(&o));
    assert!(stderr(&o).contains(SIGNER), "{}", stderr(&o));
    // The fact is the library's; the flags that would trust the signer are the command line's.
    assert!(
        stderr(&o).contains(
            "); trust it with --certificate-identity and --certificate-oidc-issuer, or a policy rule's identities"
        ),
        "{}",
        stderr(&o)
    );

    let o = verify(&l, &["--certificate-identity", SIGNER]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("--certificate-oidc-issuer"),
        "{}",
        stderr(&o)
    );
    let o = verify(
        &l,
        &[
            "--certificate-identity-regexp",
            "(",
            "--certificate-oidc-issuer",
            ISSUER,
        ],
    );
    expect_code(&o, 2);
}

fn flip_base64(text: &str) -> String {
    let mut b = text.as_bytes().to_vec();
    let i = b.len() / 2;
    b[i] = if b[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(b).unwrap()
}

/// Each part of the proof attacked in turn: the Rekor promise, the entry it promises (the
/// signature logged for another key), the certificate (replaced by its issuer) and the
/// chain (a root slipped in). Skipping the log leaves no verified time, which refuses too.
#[test]
fn every_part_of_a_keyless_proof_is_checked() {
    let Some(fixture) = shared("every_part_of_a_keyless_proof_is_checked", FIXTURE) else {
        return;
    };
    let bundle_key = "dev.sigstore.cosign/bundle";
    fn edit_bundle(
        f: impl Fn(&mut serde_json::Value),
    ) -> impl FnOnce(&mut serde_json::Map<String, serde_json::Value>) {
        move |a| {
            let key = "dev.sigstore.cosign/bundle";
            let mut b: serde_json::Value = serde_json::from_str(a[key].as_str().unwrap()).unwrap();
            f(&mut b);
            a.insert(key.into(), b.to_string().into());
        }
    }
    let cases: Vec<(&str, Layout, &str)> = vec![
        (
            "a tampered promise",
            layout(
                &fixture,
                edit_bundle(|b| {
                    let set = b["SignedEntryTimestamp"].as_str().unwrap().to_string();
                    b["SignedEntryTimestamp"] = flip_base64(&set).into();
                }),
            ),
            "transparency log",
        ),
        (
            "a promise for another time",
            layout(
                &fixture,
                edit_bundle(|b| {
                    let t = b["Payload"]["integratedTime"].as_i64().unwrap();
                    b["Payload"]["integratedTime"] = (t + 1).into();
                }),
            ),
            "transparency log",
        ),
        (
            "no log entry",
            layout(&fixture, |a| {
                a.remove(bundle_key);
            }),
            // The fact, then the command line's advice.
            "no transparency-log entry; keyless signatures must be logged; --insecure-ignore-tlog skips this check",
        ),
        (
            "the issuer's certificate as the signer's",
            layout(&fixture, |a| {
                let chain = a["dev.sigstore.cosign/chain"].as_str().unwrap().to_string();
                let first = chain
                    .split_inclusive("-----END CERTIFICATE-----\n")
                    .next()
                    .unwrap();
                a.insert(
                    "dev.sigstore.cosign/certificate".into(),
                    first.to_string().into(),
                );
            }),
            "certificate",
        ),
    ];
    for (what, l, reason) in &cases {
        let o = verify(l, &IDENTITY);
        expect_code(&o, 1);
        assert!(stderr(&o).contains(reason), "{what}: {}", stderr(&o));
        assert!(!stderr(&o).contains("panicked"), "{what}: {}", stderr(&o));
    }
    let l = layout(&fixture, |_| {});
    let mut args = IDENTITY.to_vec();
    args.push("--insecure-ignore-tlog");
    let o = verify(&l, &args);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("no verified time"), "{}", stderr(&o));
}

/// A policy rule trusts keyless signers beside keys: the identity verifies under it, a
/// rule for another identity denies, and `policy check` refuses a regexp that does not
/// compile, naming its line.
#[test]
fn policy_rules_trust_keyless_identities() {
    let Some(fixture) = shared("policy_rules_trust_keyless_identities", FIXTURE) else {
        return;
    };
    let l = layout(&fixture, |_| {});
    let dir = tempfile::tempdir().unwrap();
    let policy = |subject: &str| {
        let p = dir
            .path()
            .join(format!("policy-{}.toml", sha256_hex(subject.as_bytes())));
        std::fs::write(
            &p,
            format!(
                r#"version = 1

[[rule]]
name = "ci builds"
match = ["**"]
identities = ["{SIGNED_FOR}"]

[[rule.keyless]]
issuer = "{ISSUER}"
{subject}
"#
            ),
        )
        .unwrap();
        p.display().to_string()
    };
    let reference = l.reference();
    let good = policy(&format!("subject = \"{SIGNER}\""));
    let o = run(&["verify", &reference, "--policy", &good]);
    expect_code(&o, 0);
    let o = run(&["policy", "check", &good]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains(&format!("keyless subject \"{SIGNER}\" issuer \"{ISSUER}\"")),
        "{}",
        stdout(&o)
    );
    let other = policy("subject-regexp = \"^release@\"");
    let o = run(&["verify", &reference, "--policy", &other]);
    expect_code(&o, 1);
    let broken = policy("subject-regexp = \"(\"");
    let o = run(&["policy", "check", &broken]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains(":8: ci builds: keyless: subject-regexp"),
        "{}",
        stderr(&o)
    );
}
