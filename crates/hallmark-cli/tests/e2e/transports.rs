//! containers-transports(5) names as skopeo users write them: the layouts skopeo makes
//! (`oci-archive:`, `dir:`) are read where local artifacts are taken, `docker://` is the
//! registry, and the transports hallmark cannot read are refused by name instead of being
//! taken for Docker Hub repositories.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::*;
use hallmark::digest::Digest;

/// `skopeo copy SRC DEST` from or to the plain-HTTP test registry, which must succeed.
#[track_caller]
fn skopeo_copy(src: &str, dest: &str) {
    let o = Command::new(skopeo())
        .args(["copy", "--quiet", "--src-tls-verify=false"])
        .args(["--dest-tls-verify=false", src, dest])
        .output()
        .unwrap();
    peer_ok(&o, &format!("skopeo copy {src} {dest}"));
}

/// The digest skopeo gives `image`: of the manifest bytes as skopeo reads them.
fn skopeo_digest(image: &str) -> Digest {
    let o = Command::new(skopeo())
        .args(["inspect", "--raw", "--tls-verify=false", image])
        .output()
        .unwrap();
    peer_ok(&o, &format!("skopeo inspect --raw {image}"));
    Digest::sha256(&o.stdout)
}

fn digest_of(source: &str) -> String {
    let o = run(&["digest", source]);
    expect_code(&o, 0);
    stdout(&o).trim().to_string()
}

/// Exit 2 with one `error:` line that says `want`, nothing panicked.
#[track_caller]
fn refused(o: &Output, want: &str) {
    expect_code(o, 2);
    let err = stderr(o);
    let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{err}");
    assert!(errors[0].contains(want), "want {want:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skopeo_archives_and_dirs_are_measured_and_published_as_skopeo_reads_them() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("app"), Some("v1"), "skopeo").await;
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("app.tar");
    let dir = work.path().join("app-dir");
    let remote = format!("docker://{}/app:v1", reg.addr);
    skopeo_copy(&remote, &format!("oci-archive:{}:v1", archive.display()));
    skopeo_copy(&remote, &format!("dir:{}", dir.display()));

    // docker:// is the registry, as skopeo means it.
    assert_eq!(digest_of(&remote), img.digest().to_string());
    for (i, source) in [
        format!("oci-archive:{}:v1", archive.display()),
        format!("oci-archive:{}", archive.display()),
        format!("dir:{}", dir.display()),
    ]
    .iter()
    .enumerate()
    {
        let want = skopeo_digest(source);
        assert_eq!(digest_of(source), want.to_string(), "{source}");
        // Published byte for byte: what is pushed and signed is what skopeo read.
        let dest = format!("{}/pub{i}:v1", reg.addr);
        expect_code(&publish(&[source, &dest, "--key", &k.private]), 0);
        let o = run(&["verify", &dest, "--key", &k.public, "--output", "json"]);
        expect_code(&o, 0);
        assert_eq!(json_out(&o)["digest"], want.to_string(), "{source}");
        // skopeo reads the pushed image back unchanged.
        assert_eq!(skopeo_digest(&format!("docker://{dest}")), want);
    }
    let o = run(&["digest", &format!("oci-archive:{}:v2", archive.display())]);
    refused(&o, "no manifest tagged \"v2\"");
}

/// An archive whose `index.json` is written twice: first as the file naming `first`'s
/// image, then as a link to an index naming `second`'s. Extraction, as skopeo reads an
/// archive, keeps the last; hallmark must read the same one, or it would measure and sign
/// another image than every other tool takes from the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_archive_member_written_twice_is_read_as_skopeo_reads_it() {
    let reg = Registry::start();
    push_random(&reg.store("app"), Some("v1"), "first").await;
    push_random(&reg.store("app"), Some("v2"), "second").await;
    let work = tempfile::tempdir().unwrap();
    let (a, b, twice) = (
        work.path().join("a.tar"),
        work.path().join("b.tar"),
        work.path().join("twice.tar"),
    );
    skopeo_copy(
        &format!("docker://{}/app:v1", reg.addr),
        &format!("oci-archive:{}", a.display()),
    );
    skopeo_copy(
        &format!("docker://{}/app:v2", reg.addr),
        &format!("oci-archive:{}", b.display()),
    );
    let script = "import sys, tarfile\n\
        a, b, out = sys.argv[1:4]\n\
        with tarfile.open(out, 'w') as t:\n\
        \x20   with tarfile.open(a) as s:\n\
        \x20       for m in s.getmembers():\n\
        \x20           t.addfile(m, s.extractfile(m) if m.isfile() else None)\n\
        \x20   with tarfile.open(b) as s:\n\
        \x20       for m in s.getmembers():\n\
        \x20           if m.name.startswith('blobs/') and m.isfile():\n\
        \x20               t.addfile(m, s.extractfile(m))\n\
        \x20       i = s.getmember('index.json'); f = s.extractfile(i); i.name = 'second.json'\n\
        \x20       t.addfile(i, f)\n\
        \x20   l = tarfile.TarInfo('index.json'); l.type = tarfile.SYMTYPE; l.linkname = 'second.json'\n\
        \x20   t.addfile(l)\n";
    let status = Command::new(python())
        .args(["-c", script])
        .args([&a, &b, &twice])
        .status()
        .unwrap();
    assert!(status.success());
    // skopeo writes archives in OCI form: their digests are its own, not the registry's.
    let first = skopeo_digest(&format!("oci-archive:{}", a.display()));
    let second = skopeo_digest(&format!("oci-archive:{}", b.display()));
    assert_ne!(first, second);
    let source = format!("oci-archive:{}", twice.display());
    assert_eq!(skopeo_digest(&source), second);
    assert_eq!(digest_of(&source), second.to_string());
}

/// A tarball of `members` (name, bytes), written by Python's tarfile: names are taken as
/// given, `..` included.
fn tarball(path: &Path, members: &[(&str, &[u8])]) {
    let script = "import sys, tarfile, io, json\n\
        members = json.loads(sys.argv[2])\n\
        with tarfile.open(sys.argv[1], 'w') as t:\n\
        \x20   for name, data in members:\n\
        \x20       b = bytes.fromhex(data)\n\
        \x20       i = tarfile.TarInfo(name); i.size = len(b)\n\
        \x20       t.addfile(i, io.BytesIO(b))\n";
    let members: Vec<(String, String)> = members
        .iter()
        .map(|(n, b)| {
            (
                n.to_string(),
                b.iter().map(|x| format!("{x:02x}")).collect(),
            )
        })
        .collect();
    let status = Command::new(python())
        .args(["-c", script])
        .arg(path)
        .arg(serde_json::to_string(&members).unwrap())
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn malformed_archives_and_dirs_are_one_line_errors() {
    let work = tempfile::tempdir().unwrap();
    let w = |name: &str| work.path().join(name);
    std::fs::write(w("garbage.tar"), b"this is not a tarball at all").unwrap();
    refused(
        &run(&[
            "digest",
            &format!("oci-archive:{}", w("garbage.tar").display()),
        ]),
        "not a readable tar archive",
    );
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    let index = br#"{"schemaVersion":2,"manifests":[]}"#;
    // A member named through `..` would stand in for index.json under another name.
    tarball(
        &w("climb.tar"),
        &[("oci-layout", layout), ("blobs/../index.json", index)],
    );
    refused(
        &run(&[
            "digest",
            &format!("oci-archive:{}", w("climb.tar").display()),
        ]),
        "climbs out of the archive",
    );
    tarball(&w("plain.tar"), &[("hello.txt", b"hi")]);
    refused(
        &run(&[
            "digest",
            &format!("oci-archive:{}", w("plain.tar").display()),
        ]),
        "the oci-layout file of an OCI layout is missing",
    );
    tarball(
        &w("empty.tar"),
        &[("oci-layout", layout), ("index.json", index)],
    );
    refused(
        &run(&[
            "digest",
            &format!("oci-archive:{}", w("empty.tar").display()),
        ]),
        "oci-archive:",
    );
    std::fs::create_dir(w("notdir")).unwrap();
    refused(
        &run(&["digest", &format!("dir:{}", w("notdir").display())]),
        "the version file of a skopeo dir: layout is missing",
    );
    refused(
        &run(&[
            "digest",
            &format!("oci-archive:{}", w("absent.tar").display()),
        ]),
        "no such file or directory",
    );
}

#[test]
fn transports_hallmark_cannot_read_are_refused_by_name_not_sent_to_docker_hub() {
    for (source, place) in [
        ("docker-daemon:app:v1", "a Docker daemon"),
        ("docker-daemon:app", "a Docker daemon"),
        ("containers-storage:localhost/app:v1", "containers storage"),
    ] {
        // Refused before any request: a Docker Hub lookup here would fail with a DNS or
        // network error (exit 3) instead.
        for args in [
            vec!["digest", source],
            vec!["verify", source, "--key", "k.pub"],
            vec!["publish", source, "reg.example/app:v1", "--key", "k.key"],
        ] {
            let o = run(&args);
            refused(&o, place);
            assert!(
                stderr(&o).contains(&format!("skopeo copy {source} oci:./build:latest")),
                "{}",
                stderr(&o)
            );
        }
    }
    // Nor places to keep signatures in.
    for repo in ["dir:sigs", "oci-archive:sigs.tar"] {
        let o = run(&[
            "verify",
            "reg.example/app:v1",
            "--key",
            "k.pub",
            "--signature-repository",
            repo,
        ]);
        refused(&o, "not a local path");
    }
    // Read-only sources are not places to sign in or copy to.
    let o = run(&["sign", "oci-archive:app.tar", "--key", "k.key"]);
    expect_code(&o, 2);
    let o = run(&["copy", "reg.example/app:v1", "dir:out", "--key", "k.pub"]);
    refused(&o, "is not a destination");
}

/// `cosign save` of a fresh image signed by cosign with `sign_flags`: the layout and the
/// image's digest.
async fn cosign_saved(
    reg: &Registry,
    work: &Path,
    key: &str,
    repo: &str,
    sign_flags: &[&str],
) -> (String, String) {
    let img = push_random(&reg.store(repo), Some("v1"), repo).await;
    let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
    let mut args = vec![
        "sign",
        "--key",
        key,
        "--use-signing-config=false",
        "--tlog-upload=false",
        "--allow-insecure-registry",
    ];
    args.extend_from_slice(sign_flags);
    args.push(&pinned);
    cosign_ok(&args);
    let saved = work.join(repo);
    cosign_ok(&[
        "save",
        "--allow-insecure-registry",
        "--dir",
        saved.to_str().unwrap(),
        &pinned,
    ]);
    (format!("oci:{}", saved.display()), img.digest().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cosign_save_layout_verifies_with_the_signatures_inside_it() {
    let reg = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(work.path());
    let stranger = keys("ecdsa-p256");

    // cosign 3's default: a Sigstore bundle, which cosign save keeps as a loose blob that
    // index.json does not list; found by its subject, as cosign load finds it.
    let (layout, digest) = cosign_saved(&reg, work.path(), &key, "bundled", &[]).await;
    // cosign's layout tags nothing: its one image is what oci:DIR names.
    assert_eq!(digest_of(&layout), digest);
    let at = format!("{layout}@{digest}");
    let o = run(&["verify", &at, "--key", &public, "--output", "json"]);
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["digest"], digest);
    expect_code(&run(&["verify", &at, "--key", &stranger.public]), 1);

    // The legacy format: a `.sig` image, marked with cosign's kind and tagged nowhere.
    let (layout, digest) = cosign_saved(
        &reg,
        work.path(),
        &key,
        "legacy",
        &["--new-bundle-format=false"],
    )
    .await;
    assert_eq!(digest_of(&layout), digest);
    let at = format!("{layout}@{digest}");
    let signed_for = format!("{}/legacy", reg.addr);
    let o = run(&["verify", &at, "--key", &public, "--identity", &signed_for]);
    expect_code(&o, 0);
    // Signed for the registry repository, not for the layout: said, not accepted silently.
    let o = run(&["verify", &at, "--key", &public]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains(&format!("signed for {signed_for}")),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "verify",
        &at,
        "--key",
        &stranger.public,
        "--identity",
        &signed_for,
    ]);
    expect_code(&o, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign_load_pushes_a_layout_hallmark_signed_and_cosign_verifies_it() {
    let k = keys("ecdsa-p256");
    let work = tempfile::tempdir().unwrap();
    // cosign load pushes a bundle's manifest before its layer, which distribution's
    // registry refuses (MANIFEST_BLOB_UNKNOWN, cosign's own save and load included): the
    // bundle goes to go-containerregistry's registry.
    for (format, reg) in [
        ("legacy", Registry::start()),
        ("bundle", Registry::start_with_referrers()),
    ] {
        let dir = work.path().join(format);
        let img = push_random(
            &hallmark::store::Store::Layout(hallmark::layout::Layout::create(&dir).unwrap()),
            Some("v1"),
            format,
        )
        .await;
        let pinned = format!("oci:{}@{}", dir.display(), img.digest());
        expect_code(
            &sign(&[&pinned, "--key", &k.private, "--format", format]),
            0,
        );
        let dest = format!("{}/{format}:v1", reg.addr);
        cosign_ok(&[
            "load",
            "--allow-insecure-registry",
            "--dir",
            dir.to_str().unwrap(),
            &dest,
        ]);
        let o = cosign_run(&[
            "verify",
            "--key",
            &k.public,
            "--insecure-ignore-tlog",
            "--allow-insecure-registry",
            &dest,
        ]);
        peer_ok(
            &o,
            &format!("cosign verify of the {format} signature cosign load pushed"),
        );
        assert!(
            stdout(&o).contains(&img.digest().to_string()),
            "{}",
            stdout(&o)
        );
        // hallmark verifies it there too, as signed for the layout it was signed in.
        let layout = format!("oci:{}", dir.display());
        let o = run(&["verify", &dest, "--key", &k.public, "--identity", &layout]);
        expect_code(&o, 0);
    }
}

#[test]
fn the_files_that_install_hallmark_pass_its_own_audit() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let o = run_in(
        &root,
        &["audit", "action.yml", "Dockerfile", "scripts/build-image"],
    );
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains("0 findings") && stdout(&o).contains("in 3 files"),
        "{}",
        stdout(&o)
    );
}
