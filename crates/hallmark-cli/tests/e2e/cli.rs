//! The command line without a registry: input validation, keys, exit codes, help, demo.

use std::os::unix::fs::PermissionsExt;

use crate::harness::*;

const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

#[test]
fn malformed_references_are_exit_2_naming_the_bad_part() {
    let k = keys("ecdsa-p256");
    let cases: [(&[&str], &str); 7] = [
        (
            &["verify", "reg.example.com/App:v1", "--key", &k.public],
            "repository path component \"App\"",
        ),
        (
            &[
                "verify",
                "reg.example.com/app:v1@sha256:abc",
                "--key",
                &k.public,
            ],
            "exactly 64 hex digits",
        ),
        (
            &["verify", "reg.example.com:0x50/app", "--key", &k.public],
            "registry host \"reg.example.com:0x50\"",
        ),
        (
            &["sign", "reg.example.com/app:-x", "--key", &k.private],
            "tag \"-x\"",
        ),
        (&["digest", "oci:"], "layout path"),
        (&["digest", "ftp://reg/app"], "unknown transport \"ftp\""),
        (
            &[
                "sign",
                &format!("reg.example.com/app@{D}"),
                "--key",
                &k.private,
                "--expect-digest",
                "sha256:XYZ",
            ],
            "--expect-digest",
        ),
    ];
    for (args, want) in cases {
        let o = run(args);
        expect_code(&o, 2);
        let err = stderr(&o);
        assert!(err.contains(want), "{args:?}: {err}");
        assert!(!err.contains("panicked") && stdout(&o).is_empty(), "{err}");
    }
}

#[test]
fn a_bare_tag_is_refused_before_any_network_or_password() {
    let port = free_port(); // nothing listens here
    let o = run(&[
        "sign",
        &format!("127.0.0.1:{port}/app:v1"),
        "--key",
        "/nonexistent.key",
    ]);
    expect_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("refusing to sign")
            && err.contains(&format!(
                "hallmark sign 127.0.0.1:{port}/app@sha256:<digest>"
            )),
        "{err}"
    );
    let o = run(&[
        "sign",
        &format!("127.0.0.1:{port}/app@{D}"),
        "--key",
        "/nonexistent.key",
        "--format",
        "bundle",
    ]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("key file /nonexistent.key does not exist"),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "sign",
        &format!("127.0.0.1:{port}/app@{D}"),
        "--key",
        "/nonexistent.key",
        "-a",
        "tag=v9",
    ]);
    expect_code(&o, 2);
}

/// Flags that contradict the reference are refused when the flags are resolved, before a
/// key is read (or a password asked for) or the registry is contacted.
#[test]
fn a_bind_tag_naming_no_tag_is_refused_before_the_key_is_read() {
    let port = free_port(); // nothing listens here
    let o = run(&[
        "sign",
        &format!("127.0.0.1:{port}/app@{D}"),
        "--key",
        "/nonexistent.key",
        "--bind-tag",
    ]);
    expect_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("--bind-tag without a value binds the tag REF names, and REF names none"),
        "{err}"
    );
    assert!(!err.contains("/nonexistent.key"), "{err}");
}

#[test]
fn key_generate_writes_private_0600_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("release");
    let p = prefix.to_str().unwrap();
    let o = run_env(
        &[
            "key",
            "generate",
            "--output-key-prefix",
            p,
            "--output",
            "json",
        ],
        &[("HALLMARK_PASSWORD", "pw")],
    );
    expect_code(&o, 0);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["algorithm"], "ecdsa-p256");
    let mode = std::fs::metadata(format!("{p}.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600);
    let key_text = std::fs::read_to_string(format!("{p}.key")).unwrap();
    assert!(key_text.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"));

    let o = run_env(
        &["key", "generate", "--output-key-prefix", p],
        &[("HALLMARK_PASSWORD", "pw")],
    );
    expect_code(&o, 2);
    assert!(stderr(&o).contains("already exists") && stderr(&o).contains("hint: pass --force"));
    assert_eq!(
        std::fs::read_to_string(format!("{p}.key")).unwrap(),
        key_text,
        "key was overwritten"
    );

    let o = run_env(
        &["key", "generate", "--output-key-prefix", p, "--force"],
        &[("HALLMARK_PASSWORD", "pw")],
    );
    expect_code(&o, 0);
    assert_ne!(
        std::fs::read_to_string(format!("{p}.key")).unwrap(),
        key_text
    );

    // No password source and no terminal: refuse instead of writing an unprotected key.
    let o = run(&[
        "key",
        "generate",
        "--output-key-prefix",
        dir.path().join("x").to_str().unwrap(),
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("hint: set HALLMARK_PASSWORD"));
    assert!(!dir.path().join("x.key").exists());

    // key public prints what key generate wrote.
    let o = run_env(
        &["key", "public", "--key", &format!("{p}.key")],
        &[("HALLMARK_PASSWORD", "pw")],
    );
    expect_code(&o, 0);
    assert_eq!(
        stdout(&o),
        std::fs::read_to_string(format!("{p}.pub")).unwrap()
    );
}

#[test]
fn bad_key_files_are_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pub");
    std::fs::write(&junk, "hello").unwrap();
    let o = run(&[
        "verify",
        &format!("127.0.0.1:1/app@{D}"),
        "--key",
        junk.to_str().unwrap(),
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("is not a PEM file"), "{}", stderr(&o));
    let k = keys("ed25519");
    // A private key where a public key belongs.
    let o = run(&[
        "verify",
        &format!("127.0.0.1:1/app@{D}"),
        "--key",
        &k.private,
    ]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("expected a PEM block \"PUBLIC KEY\""),
        "{}",
        stderr(&o)
    );
    let o = run(&[
        "verify",
        &format!("127.0.0.1:1/app@{D}"),
        "--key",
        "/nonexistent.pub",
    ]);
    expect_code(&o, 2);
}

#[test]
fn help_documents_commands_and_exit_codes() {
    let o = run(&["--help"]);
    expect_code(&o, 0);
    insta::assert_snapshot!("help", stdout(&o));
    let o = run(&["sign", "--help"]);
    expect_code(&o, 0);
    insta::assert_snapshot!("sign_help", stdout(&o));
    let o = run(&["verify", "--help"]);
    expect_code(&o, 0);
    insta::assert_snapshot!("verify_help", stdout(&o));
}

#[test]
fn demo_runs_without_a_server_and_passes() {
    let o = run(&["demo"]);
    expect_code(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains("Act 1") && err.contains("the POISONED image"),
        "{err}"
    );
    assert!(err.contains("Every step behaved as expected"), "{err}");
    assert!(!err.contains("!! "), "{err}");
    let o = run(&["demo", "--output", "json", "--quiet"]);
    expect_code(&o, 0);
    assert!(stderr(&o).is_empty());
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["passed"], true);
    let steps = v["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 11);
    assert!(steps.iter().all(|s| s["as_expected"] == true));
}

#[test]
fn demo_runs_against_a_live_registry() {
    let reg = Registry::start();
    let tags_of = |repo: &str| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let store = hallmark::store::Store::registry(
            &client(),
            &hallmark::reference::ImageRef::parse(repo).unwrap(),
        )
        .unwrap();
        rt.block_on(store.list_tags()).unwrap_or_default()
    };
    for keep in [false, true] {
        let mut args = vec!["demo", "--registry", reg.addr.as_str(), "--output", "json"];
        if keep {
            args.push("--keep");
        }
        let o = run(&args);
        expect_code(&o, 0);
        assert!(
            stderr(&o).contains(&format!("registry {}", reg.addr)),
            "{}",
            stderr(&o)
        );
        let v = json_out(&o);
        let repos: Vec<String> = v["repositories"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap().to_string())
            .collect();
        assert_eq!(repos.len(), 2, "{v}");
        assert!(stderr(&o).contains(&format!("The demo created {}", repos[0])));
        assert_eq!(v["removed"], !keep, "{v}");
        for r in &repos {
            // Removed: nothing is left to pull. Kept: the tags are still there.
            assert_eq!(tags_of(r).is_empty(), !keep, "{r}");
        }
    }
    // The registry was used: an unreachable one fails the demo.
    let o = run(&[
        "demo",
        "--registry",
        &format!("127.0.0.1:{}", free_port()),
        "--retries",
        "0",
    ]);
    expect_code(&o, 3);
}

/// A reader that closes stdout early (`| head -c0`) ends the command quietly: no panic,
/// no error, exit 0.
#[test]
fn a_closed_stdout_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, b"content").unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let o = hallmark()
        .args(["digest", &format!("file:{}", file.display())])
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

/// The library says what is wrong; which flag to change is the command line's to say, in
/// the hint. So the error line names no flag, and the hint names the one that matters.
#[test]
fn library_errors_name_no_flag_and_the_hint_names_it() {
    let k = keys("ecdsa-p256");
    let port = free_port(); // nothing listens here
    let other = "sha256:0000000000000000000000000000000000000000000000000000000000000001";
    let cases: [(&[&str], &str, &str); 3] = [
        (
            &[
                "sign",
                &format!("127.0.0.1:{port}/app@{D}"),
                "--key",
                &k.private,
                "--expect-digest",
                other,
            ],
            "but the digest expected is",
            "--expect-digest",
        ),
        (
            &[
                "verify",
                &format!("127.0.0.1:{port}/app@{D}"),
                "--key",
                &k.public,
                "--require-tag-binding",
            ],
            "a tag binding is required, but the reference names no tag",
            "--require-tag-binding",
        ),
        (
            &[
                "verify",
                &format!("127.0.0.1:{port}/app:v1"),
                "--key",
                &k.public,
                "--ca-file",
                "/dev/zero",
            ],
            "cannot use the CA file /dev/zero",
            "--ca-file",
        ),
    ];
    for (args, error, flag) in cases {
        let o = run_env(args, &[("HALLMARK_PASSWORD", PASSWORD)]);
        expect_code(&o, 2);
        let err = stderr(&o);
        let line = |prefix: &str| {
            err.lines()
                .find(|l| l.starts_with(prefix))
                .unwrap_or_else(|| panic!("{args:?}: no {prefix:?} line in {err}"))
                .to_string()
        };
        let (e, hint) = (line("error: "), line("hint: "));
        assert!(e.contains(error), "{args:?}: {err}");
        assert!(!e.contains(" --"), "the error names a flag: {e}");
        assert!(hint.contains(flag), "{args:?}: {err}");
    }
}

/// cosign's names pasted into hallmark: those hallmark has under another name are read as
/// hallmark's, the others refused in one line that says what to use instead (exit 2, no
/// clap suggestion of a hallmark flag that only looks alike).
#[test]
fn cosign_names_are_read_as_hallmarks_or_pointed_to_what_to_use() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("c");
    let p = prefix.to_str().unwrap();
    let pw = [("HALLMARK_PASSWORD", "pw")];
    // generate-key-pair and public-key are key generate and key public, flags and all.
    expect_code(
        &run_env(&["generate-key-pair", "--output-key-prefix", p], &pw),
        0,
    );
    let key = format!("{p}.key");
    let o = run_env(&["public-key", "--key", &key], &pw);
    expect_code(&o, 0);
    assert_eq!(
        stdout(&o),
        std::fs::read_to_string(format!("{p}.pub")).unwrap()
    );
    // cosign's signing flags of the same meaning: the key is read and the registry asked
    // (nothing listens there: exit 3), so every flag was taken.
    let port = free_port();
    let pinned = format!("127.0.0.1:{port}/app@{D}");
    let o = run_env(
        &[
            "sign",
            &pinned,
            "--key",
            &key,
            "-y",
            "--tlog-upload=false",
            "--use-signing-config=false",
            "--new-bundle-format=false",
            "--allow-http-registry",
            "--registry-username",
            "u",
            "--password-stdin",
            "--annotations",
            "env=prod",
            "--retries",
            "0",
        ],
        &pw,
    );
    expect_code(&o, 3);
    assert!(!stderr(&o).contains("cosign"), "{}", stderr(&o));

    for (args, words) in [
        (
            vec!["sign", &pinned, "--key", &key, "--insecure-ignore-tlog"],
            "--insecure-ignore-tlog is cosign's flag; only verification reads the log",
        ),
        (
            vec!["verify", &pinned, "--key", &key, "--recursive"],
            "--recursive is cosign's flag; sign --recursive and publish sign an index",
        ),
        (
            vec!["copy", &pinned, "oci:out", "--key", &key, "-a", "env=prod"],
            "-a is cosign's flag; only verify checks annotations (verify -a key=value",
        ),
        (
            vec!["verify", &pinned, "--key", &key, "--k8s-keychain"],
            "--k8s-keychain is cosign's flag; hallmark has no Kubernetes keychain",
        ),
        (
            vec![
                "sign",
                &pinned,
                "--key",
                &key,
                "--registry-password",
                "hunter2",
            ],
            "--registry-password is cosign's flag; a secret on the command line",
        ),
        (
            vec![
                "sign",
                &pinned,
                "--key",
                &key,
                "--output-signature",
                "s.sig",
            ],
            "sign-blob takes --output-signature",
        ),
        (
            vec!["sign", &pinned, "--certificate-identity", "ci@example.com"],
            "it names who must have signed, when verifying",
        ),
        (
            vec![
                "verify",
                &pinned,
                "--key",
                &key,
                "--type",
                "slsaprovenance1",
            ],
            "hallmark verify-attestation REF --type TYPE",
        ),
        (
            vec!["clean", &pinned],
            "clean is cosign's command; hallmark signatures REF --all",
        ),
        (
            vec!["triangulate", &pinned],
            "triangulate is cosign's command; hallmark signatures REF lists",
        ),
        (
            vec!["login", "reg.example.com"],
            "login is cosign's command; hallmark reads docker's credentials",
        ),
        (
            vec!["save", &pinned, "--dir", "x"],
            "hallmark copy REG/REPO:TAG oci:DIR",
        ),
    ] {
        let o = run(&args);
        expect_code(&o, 2);
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with("error: ") && err.contains(words),
            "{args:?}: {err}"
        );
        assert!(!err.contains("tip:") && !err.contains("hunter2"), "{err}");
        assert!(stdout(&o).is_empty(), "{}", stdout(&o));
    }
    // Under --output json, the refusal is the error document too.
    let o = run(&["clean", &pinned, "--output", "json"]);
    expect_code(&o, 2);
    let v = json_out(&o);
    assert_eq!(v["class"], "usage");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .starts_with("clean is cosign's command"),
        "{v}"
    );
    // A name cosign does not have either is clap's to refuse, suggestion and all.
    let o = run(&["sign", &pinned, "--key", &key, "--signature-repositry", "x"]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("--signature-repository"),
        "{}",
        stderr(&o)
    );
}

/// `--tlog-upload` without `--key` says in one line what to do, not only that `--key` is
/// missing: keyless signing always logs, so `=false` needs a key.
#[test]
fn tlog_upload_without_a_key_says_what_to_do() {
    let pinned = format!("reg.example.com/app@{D}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool.sh");
    std::fs::write(&file, b"echo hi\n").unwrap();
    let file = path_str(&file);
    let predicate = dir.path().join("p.json");
    std::fs::write(&predicate, b"{}").unwrap();
    let predicate = path_str(&predicate);
    for args in [
        vec!["sign", "--tlog-upload=false", pinned.as_str()],
        vec!["sign-blob", file.as_str(), "--tlog-upload=false"],
        vec![
            "attest",
            pinned.as_str(),
            "--predicate",
            predicate.as_str(),
            "--type",
            "spdx",
            "--tlog-upload=false",
        ],
    ] {
        let o = run(&args);
        expect_code(&o, 2);
        let err = stderr(&o);
        let lines: Vec<&str> = err.lines().collect();
        assert_eq!(
            lines,
            [
                "error: --tlog-upload=false needs --key: keyless signing always logs the signature in Rekor",
                "hint: pass --key FILE to sign without logging, or leave --tlog-upload=false out to sign keyless",
            ],
            "{args:?}"
        );
    }
    let o = run(&["sign", "--tlog-upload", &pinned]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).starts_with(
            "error: --tlog-upload is for --key: keyless signing always logs the signature in Rekor\nhint: "
        ),
        "{}",
        stderr(&o)
    );
    let o = run(&["sign", "--tlog-upload=false", &pinned, "--output", "json"]);
    expect_code(&o, 2);
    let doc = json_out(&o);
    crate::json_output::assert_valid("error.schema.json", &doc);
    assert_eq!(doc["class"], "usage");
    // With a key the flag parses: what fails then is the key file, not the flag.
    let o = run(&[
        "sign",
        "--tlog-upload=false",
        &pinned,
        "--key",
        "/nonexistent/k.key",
    ]);
    expect_code(&o, 2);
    assert!(!stderr(&o).contains("tlog-upload"), "{}", stderr(&o));
}
