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
