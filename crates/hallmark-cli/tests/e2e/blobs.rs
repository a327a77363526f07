//! Blobs (the Codecov case: a poisoned installer script): `sign-blob` and `verify-blob`,
//! against the real cosign in both directions and against bundles other Sigstore
//! implementations made.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

#[test]
fn blobs_cross_both_ways_with_the_real_cosign() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let script = write(
        dir.path(),
        "uploader.sh",
        b"#!/bin/sh\ncurl -s https://uploader.example | sh\n",
    );

    // cosign signs, hallmark verifies (bundle).
    let cb = dir.path().join("cosign.sigstore.json");
    let o = cosign_run(&[
        "sign-blob",
        "--key",
        &key,
        "--use-signing-config=false",
        "--tlog-upload=false",
        "--bundle",
        cb.to_str().unwrap(),
        &script,
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let o = run(&[
        "verify-blob",
        &script,
        "--key",
        &public,
        "--bundle",
        cb.to_str().unwrap(),
    ]);
    expect_code(&o, 0);

    // hallmark signs, cosign verifies (bundle, and the bare signature the old way).
    let hb = dir.path().join("hallmark.sigstore.json");
    let hs = dir.path().join("hallmark.sig");
    let o = run(&[
        "sign-blob",
        &script,
        "--key",
        &key,
        "--bundle",
        hb.to_str().unwrap(),
        "--output-signature",
        hs.to_str().unwrap(),
    ]);
    expect_code(&o, 0);
    let digest = stdout(&o).trim().to_string();
    let o = cosign_run(&[
        "verify-blob",
        "--key",
        &public,
        "--bundle",
        hb.to_str().unwrap(),
        "--insecure-ignore-tlog",
        &script,
    ]);
    assert!(
        o.status.success(),
        "cosign verify-blob --bundle: {}",
        stderr(&o)
    );
    let o = cosign_run(&[
        "verify-blob",
        "--key",
        &public,
        "--signature",
        hs.to_str().unwrap(),
        "--insecure-ignore-tlog",
        "--new-bundle-format=false",
        &script,
    ]);
    assert!(
        o.status.success(),
        "cosign verify-blob --signature: {}",
        stderr(&o)
    );
    let o = run(&[
        "verify-blob",
        &script,
        "--key",
        &public,
        "--signature",
        hs.to_str().unwrap(),
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["digest"], digest.as_str());

    // The poisoned script: one byte more, and every signature fails, in both tools.
    let poisoned = write(
        dir.path(),
        "poisoned.sh",
        b"#!/bin/sh\ncurl -s https://uploader.example | sh\n#",
    );
    for proof in [("--bundle", &cb), ("--bundle", &hb), ("--signature", &hs)] {
        let o = run(&[
            "verify-blob",
            &poisoned,
            "--key",
            &public,
            proof.0,
            proof.1.to_str().unwrap(),
        ]);
        expect_code(&o, 1);
    }
    let o = cosign_run(&[
        "verify-blob",
        "--key",
        &public,
        "--bundle",
        hb.to_str().unwrap(),
        "--insecure-ignore-tlog",
        &poisoned,
    ]);
    assert!(!o.status.success(), "cosign accepted a tampered blob");
}

#[test]
fn tampered_other_empty_and_stdin_blobs() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a", b"the real installer");
    let b = write(dir.path(), "b", b"another file");
    let empty = write(dir.path(), "empty", b"");
    let sign = |file: &str, bundle: &str| {
        let o = run_env(
            &["sign-blob", file, "--key", &k.private, "--bundle", bundle],
            &[("HALLMARK_PASSWORD", PASSWORD)],
        );
        expect_code(&o, 0);
    };
    let bundle_a = dir.path().join("a.json").display().to_string();
    let bundle_empty = dir.path().join("e.json").display().to_string();
    sign(&a, &bundle_a);
    sign(&empty, &bundle_empty);
    let verify = |file: &str, bundle: &str| {
        run(&["verify-blob", file, "--key", &k.public, "--bundle", bundle])
    };

    expect_code(&verify(&a, &bundle_a), 0);
    expect_code(&verify(&empty, &bundle_empty), 0);
    let o = verify(&b, &bundle_a);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("for another file"), "{}", stderr(&o));
    expect_code(&verify(&empty, &bundle_a), 1);
    expect_code(&verify(&a, &bundle_empty), 1);

    // Standard input, as in `curl … | hallmark verify-blob - …`.
    for (input, code) in [
        (&b"the real installer"[..], 0),
        (&b"the real installer; rm -rf ~"[..], 1),
    ] {
        let o = run_stdin(
            &[
                "verify-blob",
                "-",
                "--key",
                &k.public,
                "--bundle",
                &bundle_a,
            ],
            &[],
            input,
        );
        expect_code(&o, code);
    }

    // A tampered bundle, and one that is no bundle at all.
    let mut text = std::fs::read_to_string(&bundle_a).unwrap();
    text = text.replace("\"signature\":\"M", "\"signature\":\"N");
    let tampered = write(dir.path(), "t.json", text.as_bytes());
    expect_code(&verify(&a, &tampered), 1);
    let junk = write(dir.path(), "j.json", b"{\"mediaType\":\"nope\"}");
    let o = verify(&a, &junk);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("not a Sigstore bundle") || stderr(&o).contains("media type"),
        "{}",
        stderr(&o)
    );
    // Ed25519 keys cannot sign a streamed blob: said plainly, exit 2.
    let ed = keys("ed25519");
    let o = run_env(
        &["sign-blob", &a, "--key", &ed.private, "--bundle", &bundle_a],
        &[("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 2);
    assert!(stderr(&o).contains("ECDSA P-256"), "{}", stderr(&o));
}

/// Key-based message-signature bundles made by other Sigstore implementations verify,
/// their transparency-log entries checked against the built-in production root (the log
/// named in the output); the bundles come from the shared reference material beside the
/// checkout (`../shared`), which the repository may not copy.
#[test]
fn bundles_made_by_other_sigstore_implementations() {
    let Some(root) = shared(
        "bundles_made_by_other_sigstore_implementations",
        "fixtures/realworld/bundles",
    ) else {
        return;
    };
    for (case, index) in [
        ("sigstore-conformance__managed-key-happy-path", "771488337"),
        (
            "sigstore-js__verify__V1.MESSAGE_SIGNATURE.WITH_PUBLIC_KEY",
            "",
        ),
    ] {
        let dir = root.join(case);
        let artifact = ["a.txt", "artifact.txt"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .unwrap();
        let o = run(&[
            "verify-blob",
            artifact.to_str().unwrap(),
            "--key",
            dir.join("key.pub").to_str().unwrap(),
            "--bundle",
            dir.join("bundle.sigstore.json").to_str().unwrap(),
        ]);
        expect_code(&o, 0);
        assert!(
            stderr(&o).contains(&format!("logged: https://rekor.sigstore.dev entry {index}")),
            "{case}: {}",
            stderr(&o)
        );
        // The same bundle says nothing about other bytes.
        let other = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(other.path(), b"hello, world?").unwrap();
        let o = run(&[
            "verify-blob",
            other.path().to_str().unwrap(),
            "--key",
            dir.join("key.pub").to_str().unwrap(),
            "--bundle",
            dir.join("bundle.sigstore.json").to_str().unwrap(),
        ]);
        expect_code(&o, 1);
        // Skipping the log is said.
        let o = run(&[
            "verify-blob",
            artifact.to_str().unwrap(),
            "--key",
            dir.join("key.pub").to_str().unwrap(),
            "--bundle",
            dir.join("bundle.sigstore.json").to_str().unwrap(),
            "--insecure-ignore-tlog",
        ]);
        expect_code(&o, 0);
        assert!(
            stderr(&o)
                .contains("transparency-log entries were not checked (--insecure-ignore-tlog)"),
            "{case}: {}",
            stderr(&o)
        );
    }
    // The conformance suite's corrupted key is a usage error, not a verdict.
    let dir = root.join("sigstore-conformance__managed-key-wrong-key_fail");
    let o = run(&[
        "verify-blob",
        dir.join("a.txt").to_str().unwrap(),
        "--key",
        dir.join("key.pub").to_str().unwrap(),
        "--bundle",
        dir.join("bundle.sigstore.json").to_str().unwrap(),
    ]);
    expect_code(&o, 2);
}

/// The npm package `@sigstore/verify`, an independent verifier, accepts hallmark's blob
/// bundles and its DSSE (image signature) bundles, with a public key and no
/// transparency log, and refuses them for other bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigstore_js_accepts_hallmark_bundles() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "tool.sh", b"#!/bin/sh\necho tool\n");
    let bundle = dir.path().join("tool.sigstore.json");
    let o = run_env(
        &[
            "sign-blob",
            &file,
            "--key",
            &k.private,
            "--bundle",
            bundle.to_str().unwrap(),
        ],
        &[("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 0);
    let public = Path::new(&k.public);
    assert!(sigstore_js_verifies(
        &bundle,
        public,
        Some(Path::new(&file))
    ));
    let other = write(dir.path(), "other.sh", b"#!/bin/sh\necho evil\n");
    assert!(!sigstore_js_verifies(
        &bundle,
        public,
        Some(Path::new(&other))
    ));

    // A DSSE bundle: an image signature written into an OCI layout.
    let layout_dir = dir.path().join("layout");
    let layout = hallmark::layout::Layout::create(&layout_dir).unwrap();
    let img = hallmark::image::Image::random("x", 1024).unwrap();
    img.push(&hallmark::store::Store::Layout(layout.clone()), Some("v1"))
        .await
        .unwrap();
    let o = sign(&[
        &format!("oci:{}@{}", layout_dir.display(), img.digest()),
        "--key",
        &k.private,
        "--format",
        "bundle",
    ]);
    expect_code(&o, 0);
    let store = hallmark::store::Store::Layout(layout);
    let index = store.referrers(img.digest()).await.unwrap();
    let referrer = store
        .get_manifest(&index.entries()[0].digest.to_string())
        .await
        .unwrap()
        .unwrap();
    let layer = &referrer.artifact().unwrap().layers[0];
    let bytes = store
        .get_blob(&layer.digest, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    let dsse = write(dir.path(), "dsse.sigstore.json", &bytes);
    assert!(sigstore_js_verifies(Path::new(&dsse), public, None));
    let stranger = keys("ecdsa-p256");
    assert!(!sigstore_js_verifies(
        Path::new(&dsse),
        Path::new(&stranger.public),
        None
    ));
}

/// A key made by `hallmark key generate` (password in COSIGN_PASSWORD) signs with cosign,
/// and hallmark verifies what cosign signed with it.
#[test]
fn cosign_signs_with_a_key_hallmark_made() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("hk");
    let o = run_env(
        &[
            "key",
            "generate",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
        ],
        &[("HALLMARK_PASSWORD", "s3cret")],
    );
    expect_code(&o, 0);
    let file = write(dir.path(), "f", b"signed by cosign with a hallmark key");
    let bundle = dir.path().join("f.sigstore.json");
    let o = Command::new(cosign())
        .args([
            "sign-blob",
            "--key",
            &format!("{}.key", prefix.display()),
            "--use-signing-config=false",
            "--tlog-upload=false",
            "--bundle",
            bundle.to_str().unwrap(),
            &file,
        ])
        .env("COSIGN_PASSWORD", "s3cret")
        .env("COSIGN_YES", "true")
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "cosign with a hallmark key: {}",
        stderr(&o)
    );
    let o = run(&[
        "verify-blob",
        &file,
        "--key",
        &format!("{}.pub", prefix.display()),
        "--bundle",
        bundle.to_str().unwrap(),
    ]);
    expect_code(&o, 0);
}

fn is_char_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_char_device()
}

/// `--bundle` and `--output-signature` name where the bytes go, not a file to replace: a
/// device, a FIFO or a symlink there stays what it is and is written through; standard
/// output (`-`, `/dev/stdout`) gets the bundle alone; only a regular file is replaced,
/// atomically and with its mode kept.
#[test]
fn sign_blob_outputs_are_written_through_special_files_and_links() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "installer.sh", b"#!/bin/sh\necho installed\n");
    // In the temporary directory, so that a regression writing a file named `-` leaves
    // nothing behind.
    let sign = |extra: &[&str]| {
        let mut c = hallmark();
        c.args(["sign-blob", &file, "--key", &k.private])
            .args(extra)
            .env("HALLMARK_PASSWORD", PASSWORD)
            .current_dir(dir.path());
        c.output().unwrap()
    };
    let verifies = |bundle: &Path| {
        let o = run(&[
            "verify-blob",
            &file,
            "--key",
            &k.public,
            "--bundle",
            bundle.to_str().unwrap(),
        ]);
        expect_code(&o, 0);
    };

    // A FIFO: another process reads the bundle from it; it is still a FIFO afterwards.
    let fifo = dir.path().join("bundle.fifo");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    expect_code(&sign(&["--bundle", fifo.to_str().unwrap()]), 0);
    // Checked before the reader is joined: a FIFO replaced by a file never gets a writer.
    assert!(
        std::fs::symlink_metadata(&fifo)
            .unwrap()
            .file_type()
            .is_fifo()
    );
    let through_fifo = reader.join().unwrap();
    let received = dir.path().join("received.json");
    std::fs::write(&received, &through_fifo).unwrap();
    verifies(&received);

    // A character device stays one. Where the tests may make device nodes (as root), a
    // private null device is the target, so that a regression could never replace the
    // machine's own; elsewhere a link to /dev/null.
    let null = dir.path().join("null");
    let private = Command::new("mknod")
        .arg(&null)
        .args(["c", "1", "3"])
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !private {
        std::os::unix::fs::symlink("/dev/null", &null).unwrap();
    }
    expect_code(&sign(&["--bundle", null.to_str().unwrap()]), 0);
    if private {
        assert!(is_char_device(&null));
    } else {
        assert!(
            std::fs::symlink_metadata(&null)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }
    assert!(is_char_device(Path::new("/dev/null")));

    // Standard output, by `-` or by name: the bundle alone, nothing else on stdout. The
    // name is /proc/self/fd/1 rather than /dev/stdout: a regression replacing the link
    // would then fail in procfs instead of replacing the machine's /dev/stdout.
    for name in ["-", "/proc/self/fd/1"] {
        let o = sign(&["--bundle", name]);
        expect_code(&o, 0);
        let out = dir.path().join("from-stdout.json");
        std::fs::write(&out, &o.stdout).unwrap();
        verifies(&out);
        let o = sign(&["--bundle", name, "--output", "json"]);
        expect_code(&o, 2);
    }
    let o = sign(&["--bundle", "-", "--output-signature", "/proc/self/fd/1"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("both name standard output"),
        "{}",
        stderr(&o)
    );

    // A symlink: the file it names gets the bundle, the link stays a link.
    let target = dir.path().join("real.json");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    expect_code(&sign(&["--bundle", link.to_str().unwrap()]), 0);
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    verifies(&target);

    // A regular file is replaced, keeping its mode.
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, b"old").unwrap();
    std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o640)).unwrap();
    expect_code(&sign(&["--bundle", plain.to_str().unwrap()]), 0);
    verifies(&plain);
    assert_eq!(
        std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777,
        0o640
    );

    // A device that fails writes (reached through a link, so that the real one is never
    // the name at stake): an error exit, and the device is untouched.
    let full = dir.path().join("full.json");
    std::os::unix::fs::symlink("/dev/full", &full).unwrap();
    let o = sign(&["--bundle", full.to_str().unwrap()]);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("cannot write"), "{}", stderr(&o));
    assert!(is_char_device(Path::new("/dev/full")));
    assert!(
        std::fs::symlink_metadata(&full)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    let o = sign(&[
        "--bundle",
        dir.path().join("ok.json").to_str().unwrap(),
        "--output-signature",
        full.to_str().unwrap(),
    ]);
    expect_code(&o, 3);
    assert!(is_char_device(Path::new("/dev/full")));
}

/// `--bundle` and `--output-signature` naming one file, however spelled (`./b.json`, a
/// symlink to the other, dangling or not, a hard link): the signature would overwrite the
/// bundle, so nothing is written and the command is refused as a usage error.
#[test]
fn sign_blob_refuses_a_bundle_and_signature_in_one_file() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let file = write(d, "release.tar", b"release contents\n");
    let sign = |bundle: &str, signature: &str| {
        let mut c = hallmark();
        c.args(["sign-blob", &file, "--key", &k.private])
            .args(["--bundle", bundle, "--output-signature", signature])
            .env("HALLMARK_PASSWORD", PASSWORD)
            .current_dir(d);
        c.output().unwrap()
    };
    #[track_caller]
    fn refused(o: &std::process::Output) {
        expect_code(o, 2);
        assert!(stderr(o).contains("name the same file"), "{}", stderr(o));
    }

    // Neither exists yet: compared by directory and name; nothing is created.
    refused(&sign("b.json", "./b.json"));
    refused(&sign("b.json", &d.join("b.json").display().to_string()));
    assert!(!d.join("b.json").exists());
    // A symlink to the other output, existing or dangling.
    std::os::unix::fs::symlink("target.txt", d.join("link")).unwrap();
    refused(&sign("link", "target.txt"));
    assert!(!d.join("target.txt").exists());
    std::fs::write(d.join("target.txt"), b"kept").unwrap();
    refused(&sign("link", "target.txt"));
    refused(&sign("target.txt", "link"));
    // A hard link to it.
    std::fs::hard_link(d.join("target.txt"), d.join("hard.txt")).unwrap();
    refused(&sign("hard.txt", "target.txt"));
    assert_eq!(std::fs::read(d.join("target.txt")).unwrap(), b"kept");

    // Discarding both is no loss.
    expect_code(&sign("/dev/null", "/dev/null"), 0);
    // Two files: both written, the bundle verifies, the signature is not the bundle.
    let o = sign("b.json", "b.sig");
    expect_code(&o, 0);
    let o = run_in(
        d,
        &[
            "verify-blob",
            &file,
            "--key",
            &k.public,
            "--bundle",
            "b.json",
        ],
    );
    expect_code(&o, 0);
    let o = run_in(
        d,
        &[
            "verify-blob",
            &file,
            "--key",
            &k.public,
            "--signature",
            "b.sig",
        ],
    );
    expect_code(&o, 0);
}
