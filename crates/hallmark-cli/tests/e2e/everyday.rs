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

/// A server on loopback that answers every request with an HTML 404, as a web server
/// would; returns its address.
fn not_a_registry() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { return };
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let body = "<html><body>Not Found</body></html>";
            let _ = write!(
                s,
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_happened() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let missing = format!("oci:{}/nothing-here:v1", dir.path().display());
    let o = run(&["verify", &missing, "--key", &k.public]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("artifact not found"), "{}", stderr(&o));

    // Nothing listens: "refused", how often it was tried, and what to check.
    let port = free_port();
    let o = run(&[
        "verify",
        &format!("127.0.0.1:{port}/app:v1"),
        "--key",
        &k.public,
        "--retries",
        "2",
    ]);
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("connection refused (tried 3 times)"), "{err}");
    assert!(err.contains("nothing is listening there"), "{err}");
    assert!(!err.contains("--timeout"), "{err}");

    // A web server that is no registry is not "artifact not found".
    let web = not_a_registry();
    let o = run(&["verify", &format!("{web}/app:v1"), "--key", &k.public]);
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains("is not a container registry"),
        "{}",
        stderr(&o)
    );

    // --ca-file against a registry that speaks plain HTTP.
    let reg = Registry::start();
    let img = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let (_tls, real_ca) = Registry::start_tls();
    let o = run(&[
        "verify",
        &format!("{}/team/app:v1", reg.addr),
        "--key",
        &k.public,
        "--ca-file",
        real_ca.to_str().unwrap(),
        "--retries",
        "0",
    ]);
    expect_code(&o, 3);
    let err = stderr(&o);
    assert!(err.contains("does not serve HTTPS"), "{err}");
    assert!(err.contains("drop --ca-file"), "{err}");

    // A broken docker configuration is a warning, and the command goes on.
    let docker = dir.path().join("docker");
    std::fs::create_dir(&docker).unwrap();
    std::fs::write(docker.join("config.json"), "{\"auths\": {").unwrap();
    let o = run_env(
        &[
            "verify",
            &format!("{}/team/app:v1", reg.addr),
            "--key",
            &k.public,
        ],
        &[("DOCKER_CONFIG", docker.to_str().unwrap())],
    );
    expect_code(&o, 0);
    assert!(
        stderr(&o).contains("warning: ignoring the docker configuration"),
        "{}",
        stderr(&o)
    );

    // -v shows each request with its status and time.
    let o = run(&[
        "verify",
        &format!("{}/team/app:v1", reg.addr),
        "--key",
        &k.public,
        "-v",
    ]);
    expect_code(&o, 0);
    let err = stderr(&o);
    let manifest = format!("GET http://{}/v2/team/app/manifests/v1 → 200 in ", reg.addr);
    assert!(err.contains(&manifest), "{err}");
    assert!(
        err.contains(&format!("manifests/{}", img.digest())) || err.contains(".sig"),
        "{err}"
    );

    // Keys written where they cannot be: one line, exit 3, no temporary file names.
    let nowhere = dir.path().join("no/such/dir/k");
    let onto = dir.path().join("taken");
    std::fs::create_dir(dir.path().join("taken.key")).unwrap();
    for (prefix, why) in [(&nowhere, "does not exist"), (&onto, "is a directory")] {
        let o = run_env(
            &[
                "key",
                "generate",
                "--output-key-prefix",
                prefix.to_str().unwrap(),
            ],
            &[("HALLMARK_PASSWORD", PASSWORD)],
        );
        expect_code(&o, 3);
        let err = stderr(&o);
        assert!(err.contains(why), "{err}");
        // The only path named is the one given (the test's own directory is a .tmp one).
        let named = err.replace(&dir.path().display().to_string(), "DIR");
        assert!(!named.contains(".tmp"), "{err}");
        assert_eq!(err.lines().filter(|l| l.starts_with("error:")).count(), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbose_requests_never_show_credentials() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = signed_image(&reg, "app", Some("v1"), &k, &[]).await;
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: Some(ProxyAuth {
            user: "ci-bot".into(),
            password: "hunter2-S3cret".into(),
            basic: false,
        }),
        tamper: None,
    })
    .await;
    let o = run_stdin(
        &[
            "verify",
            &format!("{}/app@{}", proxy.addr, img.digest()),
            "--key",
            &k.public,
            "--identity",
            &format!("{}/app", reg.addr),
            "--username",
            "ci-bot",
            "--password-stdin",
            "-vv",
        ],
        &[],
        b"hunter2-S3cret\n",
    );
    expect_code(&o, 0);
    let err = stderr(&o);
    assert!(err.contains("auth: "), "{err}");
    assert!(err.contains("Bearer token from"), "{err}");
    assert!(err.contains(" → 401 in "), "{err}");
    assert!(err.contains(" → 200 in "), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
    for line in err
        .lines()
        .filter(|l| l.to_lowercase().contains("authorization:"))
    {
        assert!(line.ends_with("<redacted>"), "{line}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_repository_is_said_only_when_it_is_one() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("team/app"), Some("v1"), "alias").await;
    let port = reg.addr.rsplit(':').next().unwrap();
    // Signed as localhost, verified as 127.0.0.1: the same server.
    let o = sign(&[
        &format!("localhost:{port}/team/app@{}", img.digest()),
        "--key",
        &k.private,
    ]);
    expect_code(&o, 0);
    expect_code(
        &run(&[
            "verify",
            &format!("{}/team/app:v1", reg.addr),
            "--key",
            &k.public,
        ]),
        0,
    );

    // A layout moved after signing says so, and --identity accepts its old place.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool.sh");
    std::fs::write(&file, b"echo hi\n").unwrap();
    let old = dir.path().join("old");
    let o = publish(&[
        &format!("file:{}", file.display()),
        &format!("oci:{}:v1", old.display()),
        "--key",
        &k.private,
    ]);
    expect_code(&o, 0);
    let new = dir.path().join("new");
    std::fs::rename(&old, &new).unwrap();
    let moved = format!("oci:{}:v1", new.display());
    let o = run(&["verify", &moved, "--key", &k.public]);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(err.contains("the layout was moved or copied"), "{err}");
    assert!(!err.contains("copied from another repository"), "{err}");
    let old_identity = format!("oci:{}", old.display());
    assert!(err.contains(&format!("--identity {old_identity}")), "{err}");
    expect_code(
        &run(&[
            "verify",
            &moved,
            "--key",
            &k.public,
            "--identity",
            &old_identity,
        ]),
        0,
    );
}

#[test]
fn completions_and_man_pages() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let o = run(&["completions", shell]);
        expect_code(&o, 0);
        let out = stdout(&o);
        assert!(out.contains("hallmark"), "{shell}");
        assert!(
            out.contains("signatures") && out.contains("keep-existing"),
            "{shell}"
        );
    }
    expect_code(&run(&["completions", "tcsh"]), 2);
    let o = run(&["man"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains(".TH hallmark 1"), "{}", stdout(&o));
    let dir = tempfile::tempdir().unwrap();
    let o = run(&["man", "--dir", dir.path().to_str().unwrap()]);
    expect_code(&o, 0);
    let verify = std::fs::read_to_string(dir.path().join("hallmark-verify.1")).unwrap();
    assert!(verify.contains("require\\-tag\\-binding"), "{verify}");
    // A typo still gets clap's suggestion.
    let o = run(&["verfy"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("verify"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_between_repositories_of_one_registry_mounts_blobs() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let o = run(&[
        "copy",
        &format!("{}/team/app:v1", reg.addr),
        &format!("{}/prod/app:v1", reg.addr),
        "--key",
        &k.public,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_eq!(v["blobs"]["uploaded"], 0, "{v}");
    assert!(v["blobs"]["mounted"].as_u64().unwrap() >= 2, "{v}");
    // And the copy is whole: it verifies where it landed (signature copied along).
    let o = run(&[
        "verify",
        &format!("{}/prod/app:v1", reg.addr),
        "--key",
        &k.public,
        "--identity",
        &format!("{}/team/app", reg.addr),
    ]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains(&img.digest().to_string()));
    // With --tls-verify=false as skopeo users type it for a local registry: still works.
    let o = run(&[
        "verify",
        &format!("{}/team/app:v1", reg.addr),
        "--key",
        &k.public,
        "--tls-verify=false",
    ]);
    expect_code(&o, 0);
}

/// A tag to bind that is no tag is refused before anything is written; the error says what
/// is wrong with it, the hint what `--bind-tag` takes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_to_bind_that_is_no_tag_is_refused_with_a_hint() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = push_random(&reg.store("app"), Some("v1"), "x").await;
    let o = run_env(
        &[
            "sign",
            &format!("{}/app:v1", reg.addr),
            "--expect-digest",
            &img.digest().to_string(),
            "--key",
            &k.private,
            "--bind-tag",
            ".hidden",
        ],
        &[("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 2);
    let err = stderr(&o);
    let error = err
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_default();
    assert!(error.contains("the tag to bind \".hidden\""), "{err}");
    assert!(!error.contains("--"), "the error names a flag: {error}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("hint: --bind-tag takes a tag")),
        "{err}"
    );
    // Nothing was signed.
    let pinned = format!("{}/app@{}", reg.addr, img.digest());
    expect_code(&run(&["verify", &pinned, "--key", &k.public]), 1);
}

/// `--bind-tag` alone binds the reference's tag, `--bind-tag=TAG` the tag named; both work
/// before the reference or after it, and the reference is never taken as the tag. The space
/// form still takes a word that can only be a tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_tag_alone_or_with_a_value_works_before_or_after_the_reference() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    // (flags before the reference, flags after it, whether the reference names the tag)
    for (i, (before, after, by_tag)) in [
        (&["--bind-tag"][..], &[][..], true),
        (&[][..], &["--bind-tag"][..], true),
        (&["--bind-tag=v1"][..], &[][..], false),
        (&[][..], &["--bind-tag=v1"][..], false),
        (&["--bind-tag", "v1"][..], &[][..], false),
        (&[][..], &["--bind-tag", "v1"][..], false),
    ]
    .into_iter()
    .enumerate()
    {
        let repo = format!("{}/bind{i}", reg.addr);
        let img = push_random(&reg.store(&format!("bind{i}")), Some("v1"), "b").await;
        let digest = img.digest().to_string();
        // With a value, the reference names no tag: the tag bound is the value's.
        let reference = if by_tag {
            format!("{repo}:v1")
        } else {
            format!("{repo}@{digest}")
        };
        let mut args: Vec<&str> = before.to_vec();
        args.push(&reference);
        args.extend(["--expect-digest", &digest, "--key", &k.private]);
        args.extend(after);
        let o = sign(&args);
        expect_code(&o, 0);
        let o = run(&[
            "verify",
            &format!("{repo}:v1"),
            "--key",
            &k.public,
            "--require-tag-binding",
            "--output",
            "json",
        ]);
        expect_code(&o, 0);
        assert_eq!(
            json_out(&o)["signatures"][0]["bound_tags"],
            serde_json::json!(["v1"]),
            "{args:?}"
        );
    }
    // publish: --bind-tag before both positionals binds every destination tag.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool.sh");
    std::fs::write(&file, b"echo bound\n").unwrap();
    let repo = format!("{}/tools/bound", reg.addr);
    let o = publish(&[
        "--bind-tag",
        &format!("file:{}", file.display()),
        &format!("{repo}:v2,stable"),
        "--key",
        &k.private,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    for tag in ["v2", "stable"] {
        expect_code(
            &run(&[
                "verify",
                &format!("{repo}:{tag}"),
                "--key",
                &k.public,
                "--require-tag-binding",
            ]),
            0,
        );
    }
}
