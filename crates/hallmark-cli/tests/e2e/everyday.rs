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
