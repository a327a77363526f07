//! Hostile `oci:` layouts: layouts arrive from others, in tarballs with symlinks. Every
//! file is read bounded, as a regular file, inside the layout; nothing is written through
//! a link, and nothing already in a destination is trusted by its name.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::*;
use hallmark::digest::Digest;
use hallmark::image::Image;
use hallmark::layout::Layout;
use hallmark::store::Store;

/// A layout holding one signed image tagged v1; returns the layout and the image.
async fn signed_layout(dir: &Path, k: &Keys) -> (Layout, Image) {
    let layout = Layout::create(dir).unwrap();
    let img = Image::random("layout", 4096).unwrap();
    img.push(&Store::Layout(layout.clone()), Some("v1"))
        .await
        .unwrap();
    let pinned = format!("oci:{}@{}", dir.display(), img.digest());
    expect_code(&sign(&[&pinned, "--key", &k.private]), 0);
    (layout, img)
}

/// Runs `args` and expects exit `code` with `want` in the one error line, quickly.
#[track_caller]
fn refused(args: &[&str], code: i32, want: &str) {
    let start = Instant::now();
    let o = run(args);
    expect_code(&o, code);
    let err = stderr(&o);
    assert!(
        err.lines()
            .any(|l| l.starts_with("error: ") && l.contains(want)),
        "{args:?}: {err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "{args:?} took {:?}",
        start.elapsed()
    );
}

fn replace_with_symlink(path: &Path, target: &Path) {
    std::fs::remove_file(path).unwrap();
    std::os::unix::fs::symlink(target, path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_linked_to_dev_zero_is_refused_not_read_forever() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let (layout, img) = signed_layout(dir.path(), &k).await;
    // The manifest (read whole) and a layer (streamed) both become endless.
    let layer = Digest::sha256(&img.layers[0]);
    replace_with_symlink(&layout.blob_path(&layer), Path::new("/dev/zero"));
    let src = format!("oci:{}:v1", dir.path().display());
    refused(&["digest", &src], 2, "is not a regular file");
    let out = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:v1", out.path().display());
    refused(
        &["copy", &src, &dest, "--key", &k.public],
        2,
        "is not a regular file",
    );
    replace_with_symlink(&layout.blob_path(img.digest()), Path::new("/dev/zero"));
    refused(
        &["verify", &src, "--key", &k.public],
        2,
        "is not a regular file",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signature_payload_linked_to_dev_zero_is_refused() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let (layout, img) = signed_layout(dir.path(), &k).await;
    let sig = layout
        .get_manifest(&hallmark::signature::signature_tag(img.digest()))
        .unwrap()
        .unwrap();
    let payload = &hallmark::signature::parse_layers(&sig).unwrap()[0].payload_digest;
    replace_with_symlink(&layout.blob_path(payload), Path::new("/dev/zero"));
    let src = format!("oci:{}:v1", dir.path().display());
    refused(
        &["verify", &src, "--key", &k.public],
        2,
        "is not a regular file",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_that_is_a_fifo_does_not_hang() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    signed_layout(dir.path(), &k).await;
    let index = dir.path().join("index.json");
    std::fs::remove_file(&index).unwrap();
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&index)
            .status()
            .unwrap()
            .success()
    );
    let src = format!("oci:{}:v1", dir.path().display());
    refused(&["digest", &src], 2, "is not a regular file");
    refused(
        &["verify", &src, "--key", &k.public],
        2,
        "is not a regular file",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_linking_out_of_the_layout_is_refused() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let (layout, img) = signed_layout(dir.path(), &k).await;
    // A link to a file outside that happens to hold the right bytes is still refused:
    // a layout must not make hallmark read (and push) files it was not given.
    let outside = tempfile::tempdir().unwrap();
    let layer = Digest::sha256(&img.layers[0]);
    let copy = outside.path().join("layer");
    std::fs::copy(layout.blob_path(&layer), &copy).unwrap();
    replace_with_symlink(&layout.blob_path(&layer), &copy);
    refused(
        &["digest", &format!("oci:{}:v1", dir.path().display())],
        2,
        "links outside",
    );
    // A link that stays inside the layout is fine.
    std::fs::copy(&copy, dir.path().join("layer-copy")).unwrap();
    replace_with_symlink(&layout.blob_path(&layer), &dir.path().join("layer-copy"));
    let o = run(&["digest", &format!("oci:{}:v1", dir.path().display())]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o).trim(), img.digest().to_string());
}

/// A destination layout that already has a file under a blob's name: it is hashed and,
/// since it does not match, replaced; a symlinked blob directory is never written through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_into_a_layout_trusts_no_existing_file_and_no_link() {
    let k = keys("ecdsa-p256");
    let src_dir = tempfile::tempdir().unwrap();
    let (_, img) = signed_layout(src_dir.path(), &k).await;
    let src = format!("oci:{}:v1", src_dir.path().display());
    let identity = format!(
        "oci:{}",
        std::fs::canonicalize(src_dir.path()).unwrap().display()
    );

    let dest_dir = tempfile::tempdir().unwrap();
    let dest = Layout::create(dest_dir.path()).unwrap();
    let layer = Digest::sha256(&img.layers[0]);
    std::fs::write(dest.blob_path(&layer), b"planted by someone else").unwrap();
    let o = run(&[
        "copy",
        &src,
        &format!("oci:{}:v1", dest_dir.path().display()),
        "--key",
        &k.public,
        "--identity",
        &identity,
    ]);
    expect_code(&o, 0);
    assert_eq!(
        std::fs::read(dest.blob_path(&layer)).unwrap(),
        img.layers[0]
    );
    let o = run(&[
        "verify",
        &format!("oci:{}:v1", dest_dir.path().display()),
        "--key",
        &k.public,
        "--identity",
        &identity,
    ]);
    expect_code(&o, 0);

    let linked = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    Layout::create(linked.path()).unwrap();
    std::fs::remove_dir(linked.path().join("blobs/sha256")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), linked.path().join("blobs/sha256")).unwrap();
    refused(
        &[
            "copy",
            &src,
            &format!("oci:{}:v1", linked.path().display()),
            "--key",
            &k.public,
            "--identity",
            &identity,
        ],
        2,
        "refusing to write through it",
    );
    assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
}

/// A layout copied with `cp -al` shares its files with the original: signing the copy
/// must leave the original as it was (its index.json is replaced, not rewritten through
/// the shared inode, which would also be seen half-written while it is).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signing_a_hard_linked_copy_of_a_layout_leaves_the_original_alone() {
    let (k, other) = (keys("ecdsa-p256"), keys("ed25519"));
    let work = tempfile::tempdir().unwrap();
    let (original, copy) = (work.path().join("original"), work.path().join("copy"));
    let (_, img) = signed_layout(&original, &k).await;
    let status = std::process::Command::new("cp")
        .arg("-al")
        .args([&original, &copy])
        .status()
        .unwrap();
    assert!(status.success());
    let before = std::fs::read(original.join("index.json")).unwrap();
    let pinned = format!("oci:{}@{}", copy.display(), img.digest());
    expect_code(&sign(&[&pinned, "--key", &other.private]), 0);
    assert_eq!(std::fs::read(original.join("index.json")).unwrap(), before);
    assert_ne!(std::fs::read(copy.join("index.json")).unwrap(), before);
    let identity = |dir: &Path| format!("oci:{}", std::fs::canonicalize(dir).unwrap().display());
    let verify = |dir: &Path, key: &str| {
        run(&[
            "verify",
            &format!("oci:{}:v1", dir.display()),
            "--key",
            key,
            "--identity",
            &identity(dir),
        ])
    };
    expect_code(&verify(&copy, &other.public), 0);
    expect_code(&verify(&original, &other.public), 1);
    expect_code(&verify(&original, &k.public), 0);
}

fn sha512(bytes: &[u8]) -> Digest {
    let mut h = hallmark::digest::Hasher::new(hallmark::digest::Algorithm::Sha512);
    h.update(bytes);
    h.finish()
}

/// `sha512:` digests are read end to end: a layout whose manifest and blobs are named by
/// SHA-512 is measured, signed, verified and copied under those names.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sha512_layouts_work_end_to_end() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::create(dir.path()).unwrap();
    let config = br#"{"architecture":"amd64","os":"linux"}"#.to_vec();
    let layer = b"a layer named by sha512".to_vec();
    std::fs::create_dir_all(dir.path().join("blobs/sha512")).unwrap();
    for b in [&config, &layer] {
        std::fs::write(layout.blob_path(&sha512(b)), b).unwrap();
    }
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha512(&config).to_string(), "size": config.len()},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha512(&layer).to_string(), "size": layer.len()}],
    }))
    .unwrap();
    let name = sha512(&manifest);
    std::fs::write(layout.blob_path(&name), &manifest).unwrap();
    std::fs::write(
        dir.path().join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": name.to_string(),
            "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": "v1"}}]}))
        .unwrap(),
    )
    .unwrap();

    let src = format!("oci:{}:v1", dir.path().display());
    let o = run(&["digest", &src]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o).trim(), name.to_string());
    let pinned = format!("oci:{}@{name}", dir.path().display());
    expect_code(&sign(&[&pinned, "--key", &k.private]), 0);
    let o = run(&["verify", &src, "--key", &k.public]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).trim().ends_with(&format!("@{name}")),
        "{}",
        stdout(&o)
    );

    let out = tempfile::tempdir().unwrap();
    let identity = format!(
        "oci:{}",
        std::fs::canonicalize(dir.path()).unwrap().display()
    );
    let dest = format!("oci:{}:v1", out.path().display());
    let o = run(&[
        "copy",
        &src,
        &dest,
        "--key",
        &k.public,
        "--identity",
        &identity,
    ]);
    expect_code(&o, 0);
    let copied = Layout::open(out.path()).unwrap();
    assert_eq!(
        std::fs::read(copied.blob_path(&sha512(&layer))).unwrap(),
        layer
    );
    expect_code(
        &run(&["verify", &dest, "--key", &k.public, "--identity", &identity]),
        0,
    );
    // A sha512 name whose bytes are something else is still a mismatch.
    std::fs::write(layout.blob_path(&sha512(&layer)), b"swapped").unwrap();
    let fresh = tempfile::tempdir().unwrap();
    let o = run(&[
        "copy",
        &src,
        &format!("oci:{}:v1", fresh.path().display()),
        "--key",
        &k.public,
        "--identity",
        &identity,
    ]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("digest mismatch"), "{}", stderr(&o));
}

/// skopeo (containers/image) reads the layouts hallmark writes: each image is listed once,
/// so `oci:DIR` without a tag names the image when it is the only one, and `oci:DIR:TAG`
/// names it beside its signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_reads_layouts_hallmark_wrote() {
    let skopeo = skopeo();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let (_, img) = signed_layout(&dir.path().join("src"), &k).await;
    let src = format!("oci:{}:v1", dir.path().join("src").display());
    let out = dir.path().join("out");
    let o = run(&[
        "copy",
        &src,
        &format!("oci:{}:v1", out.display()),
        "--key",
        &k.public,
        "--identity",
        &format!("oci:{}", dir.path().join("src").display()),
    ]);
    expect_code(&o, 0);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).unwrap()).unwrap();
    let listed = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["digest"] == img.digest().to_string().as_str())
        .count();
    assert_eq!(listed, 1, "{index:#}");
    let inspect = |name: &str| {
        std::process::Command::new(skopeo)
            .args(["inspect", "--raw", name])
            .output()
            .unwrap()
    };
    let o = inspect(&format!("oci:{}:v1", out.display()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(Digest::sha256(&o.stdout), *img.digest());

    // Allowed unsigned by a policy: the layout holds the image alone, and oci:DIR names it.
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        "version = 1\n[[rule]]\nmatch = [\"**\"]\naction = \"allow-unsigned\"\n",
    )
    .unwrap();
    let alone = dir.path().join("alone");
    let o = run(&[
        "copy",
        &src,
        &format!("oci:{}:v1", alone.display()),
        "--policy",
        policy.to_str().unwrap(),
    ]);
    expect_code(&o, 0);
    let o = inspect(&format!("oci:{}", alone.display()));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(Digest::sha256(&o.stdout), *img.digest());
}

/// Starts `hallmark ARGS` with the test password, its output captured.
fn start(args: &[&str]) -> std::process::Child {
    hallmark()
        .args(args)
        .env("HALLMARK_PASSWORD", PASSWORD)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run hallmark")
}

/// Starts every command at once and waits for them all; each must exit 0.
fn all_at_once(commands: &[Vec<String>]) {
    let children: Vec<_> = commands
        .iter()
        .map(|c| start(&c.iter().map(String::as_str).collect::<Vec<_>>()))
        .collect();
    for (c, child) in commands.iter().zip(children) {
        let o = child.wait_with_output().unwrap();
        assert_eq!(code(&o), 0, "{c:?}: {}", stderr(&o));
    }
}

/// Signers of one digest in one layout each read `index.json` and the `.sig` manifest,
/// change them and write them back: each round, every signer that exits 0 has its
/// signature there, none overwritten by another's write.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_signers_into_one_layout_keep_every_signature() {
    const ROUNDS: usize = 6;
    let signers: Vec<Keys> = (0..5)
        .map(|i| keys(if i % 2 == 0 { "ecdsa-p256" } else { "ed25519" }))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        let layout = dir.path().join(format!("round-{round}"));
        let file = dir.path().join(format!("artifact-{round}.txt"));
        std::fs::write(&file, format!("round {round}\n")).unwrap();
        let o = publish(&[
            &format!("file:{}", file.display()),
            &format!("oci:{}:v1", layout.display()),
            "--key",
            &signers[0].private,
        ]);
        expect_code(&o, 0);
        let o = run(&["digest", &format!("oci:{}:v1", layout.display())]);
        expect_code(&o, 0);
        let pinned = format!("oci:{}@{}", layout.display(), stdout(&o).trim());
        // Legacy `.sig` layers in even rounds, bundle referrers (the fallback index) in odd.
        let format = if round % 2 == 0 { "legacy" } else { "bundle" };
        let commands: Vec<Vec<String>> = signers[1..]
            .iter()
            .map(|k| {
                ["sign", &pinned, "--key", &k.private, "--format", format]
                    .map(String::from)
                    .to_vec()
            })
            .collect();
        all_at_once(&commands);
        for (i, k) in signers.iter().enumerate() {
            let o = run(&["verify", &pinned, "--key", &k.public]);
            assert_eq!(
                code(&o),
                0,
                "round {round} ({format}): the signature of signer {i} is gone: {}",
                stderr(&o)
            );
        }
    }
}

/// Publishers of different tags into one layout, created by whichever comes first: every
/// tag is there afterwards, each naming its own artifact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_publishers_into_one_layout_keep_every_tag() {
    const ROUNDS: usize = 3;
    const PUBLISHERS: usize = 6;
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        let layout = dir.path().join(format!("round-{round}"));
        let mut commands = Vec::new();
        let mut digests = Vec::new();
        for n in 0..PUBLISHERS {
            let file = dir.path().join(format!("artifact-{round}-{n}.txt"));
            std::fs::write(&file, format!("round {round}, artifact {n}\n")).unwrap();
            let o = run(&["digest", &format!("file:{}", file.display())]);
            expect_code(&o, 0);
            digests.push(stdout(&o).trim().to_string());
            commands.push(
                [
                    "publish",
                    &format!("file:{}", file.display()),
                    &format!("oci:{}:tag{n}", layout.display()),
                    "--key",
                    &k.private,
                ]
                .map(String::from)
                .to_vec(),
            );
        }
        all_at_once(&commands);
        for (n, want) in digests.iter().enumerate() {
            let o = run(&["digest", &format!("oci:{}:tag{n}", layout.display())]);
            assert_eq!(code(&o), 0, "round {round}: tag{n} is gone: {}", stderr(&o));
            assert_eq!(stdout(&o).trim(), want, "round {round}: tag{n}");
        }
    }
}
