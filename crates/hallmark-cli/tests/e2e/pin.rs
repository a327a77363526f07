//! `hallmark pin` against a real registry: a signed image is pinned, an unsigned one is
//! refused with its reason, only the references' bytes change, and a second run changes
//! nothing.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_rewrites_only_verified_references_and_only_their_bytes() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let app = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let tool = push_random(&reg.store("team/tool"), Some("v2"), "unsigned").await;
    let r = &reg.addr;
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "deploy/app.yaml",
            format!(
                "# production deployment\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app\nspec:\n  template:\n    spec:\n      containers:\n        - name: app\n          image: \"{r}/team/app:v1\"   # the release\n        - name: tool\n          image: {r}/team/tool:v2\n"
            ),
        ),
        (
            "docker-compose.yml",
            format!("services:\n  web:\n    image: '{r}/team/app:v1'\n    ports: [\"80:80\"]\n"),
        ),
        (
            "Dockerfile",
            format!("FROM {r}/team/app:v1 AS base\nRUN true\n"),
        ),
        (
            ".github/workflows/ci.yml",
            format!(
                "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n    container: {r}/team/app:v1\n    steps:\n      - run: make test\n"
            ),
        ),
    ];
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    std::fs::create_dir_all(dir.path().join(".github/workflows")).unwrap();
    for (name, text) in &files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let pin = |extra: &[&str]| {
        let mut c = hallmark();
        c.args(["pin", ".", "--key", &k.public])
            .args(extra)
            .current_dir(dir.path());
        c.output().unwrap()
    };
    let pinned = format!("{r}/team/app:v1@{}", app.digest());

    // Without --write: a diff, and nothing changes on disk.
    let o = pin(&[]);
    expect_code(&o, 1);
    let diff = stdout(&o);
    assert!(
        diff.contains(&format!(
            "-          image: \"{r}/team/app:v1\"   # the release\n+          image: \"{pinned}\"   # the release\n"
        )),
        "{diff}"
    );
    assert!(
        diff.contains("--- a/./Dockerfile\n+++ b/./Dockerfile\n"),
        "{diff}"
    );
    assert!(!diff.contains("team/tool:v2@"), "{diff}");
    assert!(
        stderr(&o).contains(&format!("NOT pinned {r}/team/tool:v2: not verified")),
        "{}",
        stderr(&o)
    );
    for (name, text) in &files {
        assert_eq!(
            &std::fs::read_to_string(dir.path().join(name)).unwrap(),
            text
        );
    }

    // --write: exactly the references' bytes change.
    let o = pin(&["--write", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_eq!(v["written"], true);
    let refs = v["references"].as_array().unwrap();
    assert_eq!(refs.len(), 5, "{v:#}");
    assert_eq!(refs.iter().filter(|x| x["status"] == "pinned").count(), 4);
    let refused: Vec<_> = refs.iter().filter(|x| x["status"] == "refused").collect();
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0]["reference"], format!("{r}/team/tool:v2"));
    let app_ref = format!("{r}/team/app:v1");
    for (name, text) in &files {
        let now = std::fs::read_to_string(dir.path().join(name)).unwrap();
        assert_eq!(now, text.replace(&app_ref, &pinned), "{name}");
    }

    // Again: the pinned references are verified again and nothing changes.
    let before: Vec<String> = files
        .iter()
        .map(|(n, _)| std::fs::read_to_string(dir.path().join(n)).unwrap())
        .collect();
    let o = pin(&["--write", "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_eq!(
        v["references"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|x| x["status"] == "verified")
            .count(),
        4
    );
    for ((n, _), b) in files.iter().zip(&before) {
        assert_eq!(&std::fs::read_to_string(dir.path().join(n)).unwrap(), b);
    }

    // Signed, the last one is pinned too, and the exit code is 0.
    let tool_pinned = format!("{r}/team/tool@{}", tool.digest());
    expect_code(&sign(&[&tool_pinned, "--key", &k.private]), 0);
    expect_code(&pin(&["--write"]), 0);
    let manifest = std::fs::read_to_string(dir.path().join("deploy/app.yaml")).unwrap();
    assert!(manifest.contains(&format!("image: {r}/team/tool:v2@{}\n", tool.digest())));
    expect_code(&pin(&[]), 0);
    assert_eq!(stdout(&pin(&[])), "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_tag_is_pinned_to_what_verifies_or_not_at_all() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    // The attack: the tag now names an unsigned image.
    push_random(&reg.store("team/app"), Some("v1"), "evil").await;
    let dir = tempfile::tempdir().unwrap();
    let text = format!("services:\n  web:\n    image: {}/team/app:v1\n", reg.addr);
    std::fs::write(dir.path().join("compose.yaml"), &text).unwrap();
    let mut c = hallmark();
    c.args(["pin", ".", "--key", &k.public, "--write"])
        .current_dir(dir.path());
    let o = c.output().unwrap();
    expect_code(&o, 1);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("compose.yaml")).unwrap(),
        text
    );
}

/// The text `pin` read is not written back over an edit made while the references were
/// checked: that file is left with the edit and reported not written (exit 3); the other
/// files are pinned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_write_keeps_an_edit_made_while_it_runs() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let edited = dir.path().join("compose.yaml");
    let other = dir.path().join("Dockerfile");
    let done = Arc::new(AtomicBool::new(false));
    let proxy = {
        let (edited, done) = (edited.clone(), done.clone());
        Proxy::start(ProxyConfig {
            upstream: reg.addr.clone(),
            auth: None,
            // Someone saves the file while pin waits for the registry.
            tamper: Some(Arc::new(move |req, _resp| {
                if req.path.contains("/manifests/") && !done.swap(true, Ordering::SeqCst) {
                    let mut text = std::fs::read_to_string(&edited).unwrap();
                    text.push_str("# edited meanwhile\n");
                    std::fs::write(&edited, text).unwrap();
                }
            })),
        })
        .await
    };
    let p = &proxy.addr;
    let img = push_random(&reg.store("team/app"), Some("v1"), "app").await;
    done.store(true, Ordering::SeqCst);
    expect_code(
        &sign(&[
            &format!("{p}/team/app@{}", img.digest()),
            "--key",
            &k.private,
        ]),
        0,
    );
    let compose = format!("services:\n  web:\n    image: {p}/team/app:v1\n");
    let dockerfile = format!("FROM {p}/team/app:v1\n");
    std::fs::write(&edited, &compose).unwrap();
    std::fs::write(&other, &dockerfile).unwrap();
    done.store(false, Ordering::SeqCst);

    let mut c = hallmark();
    c.args([
        "pin", ".", "--key", &k.public, "--write", "--output", "json",
    ])
    .current_dir(dir.path());
    let o = c.output().unwrap();
    expect_code(&o, 3);
    assert!(done.load(Ordering::SeqCst), "the edit was never made");
    assert_eq!(
        std::fs::read_to_string(&edited).unwrap(),
        format!("{compose}# edited meanwhile\n")
    );
    let pinned = format!("{p}/team/app:v1@{}", img.digest());
    assert_eq!(
        std::fs::read_to_string(&other).unwrap(),
        format!("FROM {pinned}\n")
    );
    let v = json_out(&o);
    let files = v["files"].as_array().unwrap();
    let not_written: Vec<_> = files.iter().filter(|f| f["error"].is_string()).collect();
    assert_eq!(not_written.len(), 1, "{v:#}");
    assert!(
        not_written[0]["error"]
            .as_str()
            .unwrap()
            .contains("changed while"),
        "{v:#}"
    );
    assert!(stderr(&o).contains("not written"), "{}", stderr(&o));
}

/// A pinned file keeps its mode, its owner (where the process may give it) and its hard
/// links: it is the same file, with new content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_write_keeps_mode_owner_and_hard_links() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let file = dir.path().join("compose.yaml");
    std::fs::write(
        &file,
        format!("services:\n  web:\n    image: {}/team/app:v1\n", reg.addr),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = elsewhere.path().join("compose.yaml");
    std::fs::hard_link(&file, &link).unwrap();
    // A second name inside the tree is found too: one rewrite serves both.
    std::fs::create_dir(dir.path().join("again")).unwrap();
    let inside = dir.path().join("again/compose.yaml");
    std::fs::hard_link(&file, &inside).unwrap();
    let root = std::fs::metadata(&file).unwrap().uid() == 0;
    if root {
        std::os::unix::fs::chown(&file, Some(4242), Some(4243)).unwrap();
    }
    let mut c = hallmark();
    c.args(["pin", ".", "--key", &k.public, "--write"])
        .current_dir(dir.path());
    expect_code(&c.output().unwrap(), 0);
    let want = format!(
        "services:\n  web:\n    image: {}/team/app:v1@{}\n",
        reg.addr,
        img.digest()
    );
    assert_eq!(std::fs::read_to_string(&file).unwrap(), want);
    assert_eq!(std::fs::read_to_string(&link).unwrap(), want);
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.nlink(), 3);
    assert_eq!(meta.mode() & 0o777, 0o640);
    if root {
        assert_eq!((meta.uid(), meta.gid()), (4242, 4243));
    }

    // Without a second link, and as its owner, the file is replaced whole: mode kept.
    std::fs::remove_file(&link).unwrap();
    std::fs::remove_file(&inside).unwrap();
    std::fs::write(
        &file,
        format!("services:\n  web:\n    image: {}/team/app:v1\n", reg.addr),
    )
    .unwrap();
    if root {
        std::os::unix::fs::chown(&file, Some(4242), Some(4243)).unwrap();
    }
    let ino = std::fs::metadata(&file).unwrap().ino();
    let mut c = hallmark();
    c.args(["pin", ".", "--key", &k.public, "--write"])
        .current_dir(dir.path());
    expect_code(&c.output().unwrap(), 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), want);
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o640);
    if root {
        assert_ne!(
            meta.ino(),
            ino,
            "replaced by rename, not rewritten in place"
        );
        assert_eq!((meta.uid(), meta.gid()), (4242, 4243));
    }
}

/// A reference pin cannot rewrite byte for byte (a YAML alias, an escaped string) is
/// reported as not pinned, and fails the run unless `--allow-unpinned`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_reports_references_it_cannot_rewrite() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let r = &reg.addr;
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        "x-base: &base {r}/team/app:v1\nservices:\n  a:\n    image: *base\n  b:\n    image: \"{r}/team/app\\x3av1\"\n  c:\n    image: {r}/team/app:v1\n  d:\n    image: ${{IMAGE}}\n"
    );
    std::fs::write(dir.path().join("compose.yaml"), &text).unwrap();
    let pin = |extra: &[&str]| {
        let mut c = hallmark();
        c.args(["pin", ".", "--key", &k.public])
            .args(extra)
            .current_dir(dir.path());
        c.output().unwrap()
    };
    let o = pin(&["--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    let refs = v["references"].as_array().unwrap();
    let status = |line: u64| {
        refs.iter()
            .find(|x| x["line"] == line)
            .unwrap_or_else(|| panic!("nothing on line {line}: {v:#}"))["status"]
            .clone()
    };
    assert_eq!(refs.len(), 3, "{v:#}");
    assert_eq!(status(4), "unpinnable");
    assert_eq!(status(6), "unpinnable");
    assert_eq!(status(8), "pinned");
    let o = pin(&["--write"]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("NOT pinned *base"), "{}", stderr(&o));
    let o = pin(&["--allow-unpinned"]);
    expect_code(&o, 0);
    let now = std::fs::read_to_string(dir.path().join("compose.yaml")).unwrap();
    assert!(now.contains(&format!("    image: {r}/team/app:v1@{}\n", img.digest())));
    assert!(now.contains("image: *base\n"));
}

/// An outage decides nothing: a registry that cannot be reached or answers 503 is exit
/// 3 ("unavailable"), not exit 1; what did verify is still pinned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_treats_an_outage_as_unavailable_not_denied() {
    use std::sync::Arc;
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(|req, resp| {
            if req.path.contains("/team/down/") {
                resp.status = 503;
                resp.body =
                    br#"{"errors":[{"code":"UNAVAILABLE","message":"maintenance"}]}"#.to_vec();
            }
        })),
    })
    .await;
    let gone = format!("127.0.0.1:{}/team/gone:v1", free_port());
    let down = format!("{}/team/down:v1", proxy.addr);
    let dir = tempfile::tempdir().unwrap();
    for (name, image) in [
        ("Dockerfile", format!("{}/team/app:v1", reg.addr)),
        ("compose.yaml", gone.clone()),
        ("docker-compose.yml", down.clone()),
    ] {
        let text = if name == "Dockerfile" {
            format!("FROM {image}\n")
        } else {
            format!("services:\n  web:\n    image: {image}\n")
        };
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let mut c = hallmark();
    c.args([
        "pin",
        ".",
        "--key",
        &k.public,
        "--write",
        "--retries",
        "0",
        "--output",
        "json",
    ])
    .current_dir(dir.path());
    let o = c.output().unwrap();
    expect_code(&o, 3);
    let v = json_out(&o);
    for r in v["references"].as_array().unwrap() {
        let want = if r["reference"] == gone || r["reference"] == down {
            "unavailable"
        } else {
            "pinned"
        };
        assert_eq!(r["status"], want, "{v:#}");
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(),
        format!("FROM {}/team/app:v1@{}\n", reg.addr, img.digest())
    );
    assert!(
        stderr(&o).contains("could not be checked"),
        "{}",
        stderr(&o)
    );
}

/// A file pin did not read or could not parse is named with the reason and makes the run
/// partial (exit 3), never "nothing pinned": a YAML file nested 40 000 deep, a byte that
/// is not UTF-8 (never rewritten lossily), YAML that does not parse, a symlink leaving the
/// tree. What could be read is still pinned and written; a symlink inside the tree is
/// followed, a loop is not followed twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_names_every_file_it_did_not_read() {
    use std::os::unix::fs::symlink;
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let r = &reg.addr;
    let image = format!("{r}/team/app:v1");
    let pinned = format!("{image}@{}", img.digest());
    let top = tempfile::tempdir().unwrap();
    let repo = top.path().join("repo");
    let outside = top.path().join("outside");
    for d in [repo.join("deploy"), repo.join("real"), outside.clone()] {
        std::fs::create_dir_all(d).unwrap();
    }
    let service = format!("services:\n  web:\n    image: {image}\n");
    std::fs::write(repo.join("compose.yaml"), &service).unwrap();
    std::fs::write(
        repo.join("real/app.yaml"),
        format!("kind: Pod\nspec:\n  containers:\n    - image: {image}\n"),
    )
    .unwrap();
    symlink("real", repo.join("linked")).unwrap();
    symlink("..", repo.join("real/up")).unwrap();
    let deep = format!("{}image: {image}\n", "- ".repeat(40_000));
    std::fs::write(repo.join("deploy/deep.yaml"), &deep).unwrap();
    let mut latin1 = b"# caf\xe9\n".to_vec();
    latin1.extend_from_slice(service.as_bytes());
    std::fs::write(repo.join("docker-compose.yml"), &latin1).unwrap();
    let broken = format!("kind: Pod\nspec: [unclosed\n  image: {image}\n");
    std::fs::write(repo.join("deploy/broken.yaml"), &broken).unwrap();
    std::fs::write(
        outside.join("app.yaml"),
        format!("kind: Pod\nimage: {image}\n"),
    )
    .unwrap();
    symlink(outside.join("app.yaml"), repo.join("deploy/outside.yaml")).unwrap();

    let pin = |extra: &[&str]| {
        let mut c = hallmark();
        c.args(["pin", ".", "--key", &k.public])
            .args(extra)
            .current_dir(&repo);
        c.output().unwrap()
    };
    let o = pin(&["--write", "--output", "json"]);
    expect_code(&o, 3);
    let v = json_out(&o);
    assert_eq!(v["partial"], true, "{v:#}");
    let errors: Vec<String> = v["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{}: {}",
                e["path"].as_str().unwrap(),
                e["error"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(errors.len(), 4, "{errors:#?}");
    assert!(
        errors[0].starts_with("./deploy/broken.yaml: ")
            && errors[0].ends_with(": not parsed, nothing in it pinned"),
        "{errors:#?}"
    );
    assert_eq!(
        errors[1],
        "./deploy/deep.yaml: line 1: nested deeper than 256 levels: not parsed, nothing in it pinned"
    );
    assert_eq!(
        errors[2],
        "./deploy/outside.yaml: a symlink that leads outside the tree given: not followed, nothing pinned"
    );
    assert!(
        errors[3].starts_with("./docker-compose.yml: not UTF-8 (from line 1): not rewritten"),
        "{errors:#?}"
    );
    // What was read is pinned and written: each file once, though reached by two names.
    let refs = v["references"].as_array().unwrap();
    assert_eq!(refs.len(), 2, "{v:#}");
    assert!(refs.iter().all(|x| x["status"] == "pinned"), "{v:#}");
    assert_eq!(
        std::fs::read_to_string(repo.join("compose.yaml")).unwrap(),
        service.replace(&image, &pinned)
    );
    assert!(
        std::fs::read_to_string(repo.join("real/app.yaml"))
            .unwrap()
            .contains(&pinned)
    );
    // Nothing not read is touched.
    assert_eq!(
        std::fs::read(repo.join("docker-compose.yml")).unwrap(),
        latin1
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("deploy/deep.yaml")).unwrap(),
        deep
    );
    assert_eq!(
        std::fs::read_to_string(repo.join("deploy/broken.yaml")).unwrap(),
        broken
    );
    assert!(
        !std::fs::read_to_string(outside.join("app.yaml"))
            .unwrap()
            .contains('@')
    );

    // In text, each is named on stderr and the diff on stdout stays a diff.
    let o = pin(&[]);
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(
        err.contains("./docker-compose.yml: NOT read: not UTF-8 (from line 1)"),
        "{err}"
    );
    assert!(err.contains("4 file(s) not read or not parsed"), "{err}");
    assert_eq!(stdout(&o), "");

    // A denial still decides: exit 1, with what was not read still named.
    push_random(&reg.store("team/tool"), Some("v2"), "unsigned").await;
    std::fs::write(
        repo.join("compose.yaml"),
        format!("services:\n  t:\n    image: {r}/team/tool:v2\n"),
    )
    .unwrap();
    let o = pin(&["--output", "json"]);
    expect_code(&o, 1);
    assert_eq!(json_out(&o)["errors"].as_array().unwrap().len(), 4);
}

/// A FIFO is never opened (it would block) and never passed over: given as PATH, or met
/// in the tree under a name pin reads, it is named and the run is partial.
#[test]
fn pin_names_a_fifo_instead_of_skipping_it() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("deploy.yaml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    for path in ["deploy.yaml", "."] {
        let mut c = hallmark();
        c.args(["pin", path, "--key", &k.public, "--output", "json"])
            .current_dir(dir.path());
        let o = c.output().unwrap();
        expect_code(&o, 3);
        let v = json_out(&o);
        let errors = v["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{v:#}");
        let want = if path == "." {
            "not a regular file (a FIFO, socket or device): not pinned"
        } else {
            "not a regular file or a directory: not read, nothing pinned"
        };
        assert_eq!(errors[0]["error"], want, "{v:#}");
    }

    // Beside an outage, both are named: one reason for exit 3 does not hide the other.
    let gone = format!("127.0.0.1:{}/team/gone:v1", free_port());
    std::fs::write(
        dir.path().join("compose.yaml"),
        format!("services:\n  web:\n    image: {gone}\n"),
    )
    .unwrap();
    let mut c = hallmark();
    c.args(["pin", ".", "--key", &k.public, "--retries", "0"])
        .current_dir(dir.path());
    let o = c.output().unwrap();
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(
        err.contains("1 file(s) not read or not parsed, ./deploy.yaml the first")
            && err.contains("1 reference(s) could not be checked"),
        "{err}"
    );
}
