//! Local files hallmark reads or writes that are not what they should be: every input the
//! user names (keys, policies, predicates, CA files, the password on stdin, docker's
//! config) is read bounded and never from a FIFO or device where a file is meant, and an
//! output path that is a device, FIFO or symlink is never replaced by a regular file.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::harness::*;

/// Runs `c`, killing it if it has not finished within a generous minute, with its memory
/// capped at 2 GiB: reading a FIFO or `/dev/zero` would otherwise hang the suite or fill
/// the machine's memory instead of failing the test.
fn run_watched(mut c: Command) -> Output {
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit is async-signal-safe and changes only the child's own limits.
    unsafe {
        c.pre_exec(|| {
            let cap = libc::rlimit {
                rlim_cur: 2 << 30,
                rlim_max: 2 << 30,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &cap) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = child.id();
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if rx.recv_timeout(Duration::from_secs(60)).is_err() {
            let _ = Command::new("kill").args(["-9", &id.to_string()]).status();
            return true;
        }
        false
    });
    let out = child.wait_with_output().unwrap();
    let _ = tx.send(());
    assert!(
        !watchdog.join().unwrap(),
        "hallmark hung on an input it should have refused\nstderr: {}",
        stderr(&out)
    );
    out
}

fn fifo(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    assert!(Command::new("mkfifo").arg(&p).status().unwrap().success());
    p
}

/// A regular file of `len` zero bytes, sparse so that it costs nothing.
fn big(dir: &Path, name: &str, len: u64) -> PathBuf {
    let p = dir.join(name);
    std::fs::File::create(&p).unwrap().set_len(len).unwrap();
    p
}

#[track_caller]
fn refused(o: &Output, code: i32, says: &str) {
    expect_code(o, code);
    assert!(stderr(o).contains(says), "want {says:?} in: {}", stderr(o));
    assert_eq!(
        stderr(o)
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );
}

#[test]
fn keys_are_read_bounded_and_never_from_a_fifo_or_device() {
    let dir = tempfile::tempdir().unwrap();
    let blob = dir.path().join("blob");
    std::fs::write(&blob, b"x").unwrap();
    std::fs::write(dir.path().join("b.json"), b"{}").unwrap();
    let verify_blob = |key: &str| {
        let mut c = hallmark();
        c.args(["verify-blob", blob.to_str().unwrap(), "--key", key])
            .args(["--bundle", dir.path().join("b.json").to_str().unwrap()]);
        c
    };
    let o = run_watched(verify_blob("/dev/zero"));
    refused(&o, 2, "is not a regular file");
    let f = fifo(dir.path(), "key.fifo");
    let o = run_watched(verify_blob(f.to_str().unwrap()));
    refused(&o, 2, "is not a regular file");
    let huge = big(dir.path(), "huge.pub", 100 << 20);
    let o = run_watched(verify_blob(huge.to_str().unwrap()));
    refused(&o, 2, "larger than 65536 bytes");

    // `--key -` reads standard input, bounded too.
    let mut c = verify_blob("-");
    c.stdin(std::fs::File::open(&huge).unwrap());
    let o = run_watched(c);
    refused(&o, 2, "the key on standard input is larger than");

    // A private key the same way.
    let mut c = hallmark();
    c.args(["sign-blob", blob.to_str().unwrap(), "--key", "/dev/zero"])
        .args(["--bundle", dir.path().join("out.json").to_str().unwrap()]);
    let o = run_watched(c);
    refused(&o, 2, "is not a regular file");
    assert!(!dir.path().join("out.json").exists());
}

#[test]
fn policies_predicates_ca_files_passwords_and_docker_config_are_bounded() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let nowhere = format!("127.0.0.1:{}/team/app:v1", free_port());
    let pinned = format!(
        "127.0.0.1:{}/team/app@sha256:{}",
        free_port(),
        "ab".repeat(32)
    );
    let huge = big(dir.path(), "huge", 50 << 20);
    let pipe = fifo(dir.path(), "pipe");
    let cmd = |args: &[&str]| {
        let mut c = hallmark();
        c.args(args).env("HALLMARK_PASSWORD", PASSWORD);
        c
    };

    // Policies: `policy check` and `--policy`.
    for p in [&huge, &pipe] {
        let o = run_watched(cmd(&["policy", "check", p.to_str().unwrap()]));
        expect_code(&o, 2);
        let o = run_watched(cmd(&["verify", &nowhere, "--policy", p.to_str().unwrap()]));
        expect_code(&o, 2);
    }
    let o = run_watched(cmd(&["policy", "check", huge.to_str().unwrap()]));
    refused(&o, 2, "larger than the 1048576-byte limit");
    let o = run_watched(cmd(&["policy", "check", "/dev/zero"]));
    refused(&o, 2, "is not a regular file");

    // Predicates.
    for p in [huge.to_str().unwrap(), pipe.to_str().unwrap(), "/dev/zero"] {
        let o = run_watched(cmd(&[
            "attest",
            &pinned,
            "--predicate",
            p,
            "--type",
            "custom",
            "--key",
            &k.private,
        ]));
        expect_code(&o, 2);
        assert!(
            stderr(&o).contains("cannot read the predicate"),
            "{}",
            stderr(&o)
        );
    }

    // CA files.
    for p in [huge.to_str().unwrap(), pipe.to_str().unwrap(), "/dev/zero"] {
        let o = run_watched(cmd(&[
            "verify",
            &nowhere,
            "--key",
            &k.public,
            "--ca-file",
            p,
        ]));
        refused(&o, 2, "cannot use the CA file");
    }

    // The password on standard input.
    let mut c = cmd(&[
        "verify",
        &nowhere,
        "--key",
        &k.public,
        "--username",
        "ci",
        "--password-stdin",
    ]);
    c.stdin(std::fs::File::open(&huge).unwrap());
    let o = run_watched(c);
    refused(&o, 2, "larger than the 65536-byte limit");

    // Docker's config.json as a FIFO: warned about and ignored, never waited on.
    let config = tempfile::tempdir().unwrap();
    fifo(config.path(), "config.json");
    let mut c = cmd(&["verify", &nowhere, "--key", &k.public, "--retries", "0"]);
    c.env("DOCKER_CONFIG", config.path());
    let o = run_watched(c);
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("ignoring the docker configuration")
            && stderr(&o).contains("is not a regular file"),
        "{}",
        stderr(&o)
    );
}

fn is_char_device(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_char_device()
}

fn is_symlink(path: &Path) -> bool {
    std::fs::symlink_metadata(path)
        .unwrap()
        .file_type()
        .is_symlink()
}

/// `man --dir` writes through a symlink or device under a page's name; a layout refuses
/// one where its own files go, and leaves it as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn man_pages_and_layouts_never_replace_links_or_devices() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("kept.1");
    std::fs::write(&real, b"old").unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("hallmark.1")).unwrap();
    std::os::unix::fs::symlink("/dev/null", dir.path().join("hallmark-sign.1")).unwrap();
    let o = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    expect_code(&o, 0);
    assert!(is_symlink(&dir.path().join("hallmark.1")));
    assert!(is_symlink(&dir.path().join("hallmark-sign.1")));
    assert!(
        std::fs::read_to_string(&real)
            .unwrap()
            .contains(".TH hallmark")
    );
    assert!(is_char_device(Path::new("/dev/null")));

    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let layout = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink("/dev/null", layout.path().join("index.json")).unwrap();
    let o = run(&[
        "copy",
        &format!("{}/team/app:v1", reg.addr),
        &format!("oci:{}:v1", layout.path().display()),
        "--key",
        &k.public,
    ]);
    refused(&o, 2, "is not a regular file");
    assert!(is_symlink(&layout.path().join("index.json")));
    assert!(is_char_device(Path::new("/dev/null")));
}

/// `key generate --force` never writes a private key through a symlink (where it would
/// take the mode of whatever the link names) nor replaces one.
#[test]
fn key_generate_refuses_a_link_or_device_where_a_key_goes() {
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = dir.path().join("shared.txt");
    std::fs::write(&elsewhere, b"someone else's file").unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.path().join("k.key")).unwrap();
    std::os::unix::fs::symlink("/dev/null", dir.path().join("n.pub")).unwrap();
    for prefix in ["k", "n"] {
        let o = run_env(
            &[
                "key",
                "generate",
                "--output-key-prefix",
                dir.path().join(prefix).to_str().unwrap(),
                "--force",
            ],
            &[("HALLMARK_PASSWORD", PASSWORD)],
        );
        refused(&o, 3, "is not a regular file");
    }
    assert!(is_symlink(&dir.path().join("k.key")));
    assert!(is_symlink(&dir.path().join("n.pub")));
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"someone else's file");
    assert!(!dir.path().join("k.pub").exists());
    assert!(is_char_device(Path::new("/dev/null")));
}

/// Containers' `auth.json` (`REGISTRY_AUTH_FILE`) is read like docker's config: bounded,
/// and never from a FIFO or device. Its credentials are then simply not there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn containers_auth_file_is_read_bounded_and_never_from_a_fifo_or_device() {
    let reg = Registry::start();
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
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("team/auth"), None, "auth").await;
    let pinned = format!("{}/team/auth@{}", proxy.addr, img.digest());
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        fifo(dir.path(), "fifo.json"),
        PathBuf::from("/dev/zero"),
        big(dir.path(), "huge.json", 1 << 30),
    ];
    for auth_file in &bad {
        let mut c = hallmark();
        c.args(["verify", &pinned, "--key", &k.public, "--retries", "0"])
            .env("REGISTRY_AUTH_FILE", auth_file);
        let o = run_watched(c);
        assert_ne!(code(&o), 0, "{}", stderr(&o));
        assert!(
            stderr(&o).contains("authentication failed"),
            "{auth_file:?}: {}",
            stderr(&o)
        );
    }
    // The same credentials in a regular file are used.
    let good = dir.path().join("auth.json");
    use base64ct::{Base64, Encoding};
    std::fs::write(
        &good,
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{}"}}}}}}"#,
            proxy.addr,
            Base64::encode_string(b"ci-bot:hunter2")
        ),
    )
    .unwrap();
    let mut c = hallmark();
    c.args(["verify", &pinned, "--key", &k.public, "--retries", "0"])
        .env("REGISTRY_AUTH_FILE", &good);
    let o = run_watched(c);
    // Unsigned, but read: the registry let it in.
    expect_code(&o, 1);
}
