//! What a cosign or skopeo user trips over in the first hour: keys as CI hands them over,
//! where signatures are kept, passwords, naming mistakes and error messages.

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_read_as_ci_hands_them_over() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let pinned = format!("{}/team/app@{}", reg.addr, img.digest());
    let pem = std::fs::read_to_string(&k.public).unwrap();
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let dir = tempfile::tempdir().unwrap();
    let variants = [
        ("crlf", pem.replace('\n', "\r\n")),
        (
            "one-line",
            format!("-----BEGIN PUBLIC KEY-----{body}-----END PUBLIC KEY-----"),
        ),
        ("trailing-spaces", pem.replace('\n', "  \n")),
        ("leading-text", format!("key from vault:\n{pem}")),
    ];
    for (name, text) in &variants {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let o = run(&["verify", &pinned, "--key", path.to_str().unwrap()]);
        expect_code(&o, 0);
    }
    // The key in a variable, and on standard input.
    expect_code(
        &run_env(
            &["verify", &pinned, "--key", "env://PUB_KEY"],
            &[("PUB_KEY", &pem)],
        ),
        0,
    );
    expect_code(
        &run_stdin(&["verify", &pinned, "--key", "-"], &[], pem.as_bytes()),
        0,
    );
    let private = std::fs::read_to_string(&k.private).unwrap();
    let o = run_env(
        &["sign", &pinned, "--key", "env://SIGNING_KEY"],
        &[("SIGNING_KEY", &private), ("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 0);

    // What cannot be a key says which way it is wrong, exit 2.
    let empty = dir.path().join("empty.pub");
    std::fs::write(&empty, "").unwrap();
    let two = dir.path().join("two.pub");
    std::fs::write(&two, format!("{pem}{pem}")).unwrap();
    for (path, why) in [
        (empty.to_str().unwrap(), "the file is empty"),
        (two.to_str().unwrap(), "more than one PEM block"),
        ("/nonexistent/k.pub", "does not exist"),
        (dir.path().to_str().unwrap(), "is a directory"),
        ("env://HALLMARK_TEST_UNSET", "is not set"),
    ] {
        let o = run(&["verify", &pinned, "--key", path]);
        expect_code(&o, 2);
        let err = stderr(&o);
        assert!(err.contains(why), "{path}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let o = run_stdin(
        &[
            "verify",
            &pinned,
            "--key",
            "-",
            "--username",
            "u",
            "--password-stdin",
        ],
        &[],
        pem.as_bytes(),
    );
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("both want standard input"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_says_where_the_password_came_from() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("team/app"), None, "pw").await;
    let pinned = format!("{}/team/app@{}", reg.addr, img.digest());
    let o = run(&["sign", &pinned, "--key", &k.private]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("neither HALLMARK_PASSWORD nor COSIGN_PASSWORD is set"),
        "{}",
        stderr(&o)
    );
    let o = run_env(
        &["sign", &pinned, "--key", &k.private],
        &[("COSIGN_PASSWORD", "nope")],
    );
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("came from COSIGN_PASSWORD"),
        "{}",
        stderr(&o)
    );
    let o = run_env(
        &["sign", &pinned, "--key", &k.private],
        &[("HALLMARK_PASSWORD", "nope"), ("COSIGN_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("came from HALLMARK_PASSWORD"),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cosign_repository_is_honoured_and_bad_signature_repositories_are_refused() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("team/app"), None, "sigrepo").await;
    let pinned = format!("{}/team/app@{}", reg.addr, img.digest());
    let sigs = format!("{}/team/sigs", reg.addr);
    let env = [
        ("COSIGN_REPOSITORY", sigs.as_str()),
        ("HALLMARK_PASSWORD", PASSWORD),
    ];
    expect_code(&run_env(&["sign", &pinned, "--key", &k.private], &env), 0);
    // The signature is in team/sigs, not beside the image.
    expect_code(&run(&["verify", &pinned, "--key", &k.public]), 1);
    expect_code(&run_env(&["verify", &pinned, "--key", &k.public], &env), 0);
    expect_code(
        &run(&[
            "verify",
            &pinned,
            "--key",
            &k.public,
            "--signature-repository",
            &sigs,
        ]),
        0,
    );
    // Values that would be dropped or sent elsewhere are refused before any work.
    for bad in [
        format!("{sigs}:latest"),
        format!("{sigs}@{}", img.digest()),
        "oci:./sigs".to_string(),
        "team/sigs".to_string(),
    ] {
        let o = run(&[
            "verify",
            &pinned,
            "--key",
            &k.public,
            "--signature-repository",
            &bad,
        ]);
        expect_code(&o, 2);
        let o = run_env(
            &["verify", &pinned, "--key", &k.public],
            &[("COSIGN_REPOSITORY", bad.as_str())],
        );
        expect_code(&o, 2);
        assert!(
            stderr(&o).contains("COSIGN_REPOSITORY"),
            "{bad}: {}",
            stderr(&o)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn naming_mistakes_get_a_hint_before_any_request() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("build")).unwrap();
    std::fs::write(dir.path().join("app.tar"), b"not really").unwrap();
    // Nothing listens on port 1: any request would be a network error (exit 3), not 2.
    let nowhere = "127.0.0.1:1/team/app";
    let tagged = format!("{nowhere}:v1");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["publish", "build", nowhere, "--key", &k.private],
            "did you mean oci:build?",
        ),
        (
            vec!["publish", "build:v1", nowhere, "--key", &k.private],
            "did you mean oci:build:v1?",
        ),
        (vec!["digest", "build"], "did you mean oci:build?"),
        (
            vec!["publish", "app.tar", nowhere, "--key", &k.private],
            "did you mean docker-archive:app.tar",
        ),
        (
            vec!["demo", "--registry", "http://127.0.0.1:5000"],
            "drop the scheme and write 127.0.0.1:5000",
        ),
        (
            vec![
                "copy",
                &tagged,
                "oci:out",
                "--key",
                &k.public,
                "--platform",
                "linux",
            ],
            "OS/ARCH",
        ),
        (
            vec![
                "verify",
                &tagged,
                "--key",
                &k.public,
                "--identity",
                "mirror.io/app:v1",
            ],
            "without a tag or digest",
        ),
        (
            vec!["verify", &tagged, "--key", &k.public, "--identity", "app"],
            "an identity is REG/REPO",
        ),
        (
            vec![
                "publish",
                "oci:build",
                "127.0.0.1:1/team/app:sha256-0123456789012345678901234567890123456789012345678901234567890123.sig",
                "--key",
                &k.private,
            ],
            "where signatures or referrers of a digest are kept",
        ),
    ];
    for (args, want) in cases {
        let o = run_in(dir.path(), &args);
        expect_code(&o, 2);
        assert!(stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
    }
    // docker:// says "the registry, really".
    let o = run_in(dir.path(), &["digest", "docker://127.0.0.1:1/build"]);
    expect_code(&o, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_without_a_tag_sets_latest_and_bind_tag_has_one_shape() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool.sh");
    std::fs::write(&file, b"echo hi\n").unwrap();
    let src = format!("file:{}", file.display());
    let repo = format!("{}/tools/t", reg.addr);
    let o = publish(&[
        &src,
        &repo,
        "--key",
        &k.private,
        "--bind-tag",
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["tags"], serde_json::json!(["latest"]));
    let latest = format!("{repo}:latest");
    expect_code(
        &run(&[
            "verify",
            &latest,
            "--key",
            &k.public,
            "--require-tag-binding",
        ]),
        0,
    );
    // --bind-tag TAG on publish, --bind-tag alone on sign: the same shape both ways.
    let o = publish(&[
        &src,
        &format!("{repo}:v1,v2"),
        "--key",
        &k.private,
        "--bind-tag",
        "v2",
    ]);
    expect_code(&o, 0);
    let v1 = format!("{repo}:v1");
    expect_code(
        &run(&["verify", &v1, "--key", &k.public, "--require-tag-binding"]),
        1,
    );
    expect_code(
        &run(&[
            "verify",
            &format!("{repo}:v2"),
            "--key",
            &k.public,
            "--require-tag-binding",
        ]),
        0,
    );
    let digest = stdout(&run(&["digest", &v1])).trim().to_string();
    let o = sign(&[
        &v1,
        "--expect-digest",
        &digest,
        "--key",
        &k.private,
        "--bind-tag",
    ]);
    expect_code(&o, 0);
    expect_code(
        &run(&["verify", &v1, "--key", &k.public, "--require-tag-binding"]),
        0,
    );
    let o = sign(&[
        &format!("{repo}@{digest}"),
        "--key",
        &k.private,
        "--bind-tag",
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("REF names none"), "{}", stderr(&o));
}
