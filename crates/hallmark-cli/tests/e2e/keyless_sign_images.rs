//! hallmark signing images keyless, and with `--tlog-upload`, against the real Sigstore stack
//! (`harness/sigstack.rs`): `sign`, `attest` and `publish` make what cosign 3 makes (a DSSE
//! bundle referrer with the Fulcio certificate, a Rekor v2 entry and an RFC 3161 timestamp),
//! which the real cosign 3.1.3 and hallmark verify; a service down leaves the registry as it
//! was; a tag moved before signing is refused before any service is asked.

use std::path::Path;
use std::process::{Command, Output};

use crate::harness::*;
use hallmark::image::Image;
use hallmark::layout::Layout;
use hallmark::store::Store;

const SIGNER: &str = "alice@example.com";
const PREDICATE_TYPE: &str = "https://example.com/hallmark/test-predicate/v1";

/// A fresh random image in an OCI layout under `work` (tag `tag`); the layout's path and
/// the image's digest.
pub(crate) async fn local_image(work: &Path, tag: &str) -> (std::path::PathBuf, String) {
    let dir = work.join(format!("layout-{tag}"));
    let layout = Layout::create(&dir).unwrap();
    let img = Image::random(tag, 2048).unwrap();
    img.push(&Store::Layout(layout), Some(tag)).await.unwrap();
    (dir, img.digest().to_string())
}

/// A random image pushed unsigned to the stack's registry as `REG/repo:tag` (skopeo, so
/// that nothing of hallmark's signs it); its digest.
pub(crate) async fn push_unsigned(stack: &SigStack, work: &Path, repo: &str, tag: &str) -> String {
    let (dir, digest) = local_image(work, tag).await;
    let o = stack
        .command(Command::new(skopeo()).args([
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-tls-verify=false",
            &format!("oci:{}:{tag}", dir.display()),
            &format!("docker://{}/{repo}:{tag}", stack.registry),
        ]))
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    digest
}

/// What the registry holds: its catalog and every repository's tags, as it lists them.
pub(crate) fn registry_state(stack: &SigStack) -> String {
    let get = |path: &str| {
        let o = stack
            .command(
                Command::new("curl").args(["-s", &format!("http://{}/v2/{path}", stack.registry)]),
            )
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let catalog = get("_catalog");
    let repos: serde_json::Value = serde_json::from_str(&catalog).unwrap_or_default();
    let mut state = catalog.clone();
    for repo in repos["repositories"].as_array().into_iter().flatten() {
        let repo = repo.as_str().unwrap();
        let tags = get(&format!("{repo}/tags/list"));
        let listed: serde_json::Value = serde_json::from_str(&tags).unwrap_or_default();
        state.push_str(&tags);
        // Each tagged manifest's referrers, as the API lists them (Debian's registry has no
        // such API: its answer, whatever it is, must not change either; the fallback tag
        // shows in the tag list).
        for tag in listed["tags"].as_array().into_iter().flatten() {
            let tag = tag.as_str().unwrap();
            let o = stack
                .command(Command::new("curl").args([
                    "-sI",
                    "-H",
                    "Accept: application/vnd.oci.image.manifest.v1+json",
                    &format!("http://{}/v2/{repo}/manifests/{tag}", stack.registry),
                ]))
                .output()
                .unwrap();
            let head = String::from_utf8_lossy(&o.stdout).to_ascii_lowercase();
            if let Some(digest) = head
                .lines()
                .find_map(|l| l.strip_prefix("docker-content-digest:"))
            {
                state.push_str(&get(&format!("{repo}/referrers/{}", digest.trim())));
            }
        }
    }
    state
}

/// The keyless flags for the stack, with the token file `token`.
fn keyless_flags(stack: &SigStack, token: &Path) -> Vec<String> {
    vec![
        "--identity-token".into(),
        format!("@{}", path_str(token)),
        "--signing-config".into(),
        path_str(&stack.signing_config),
        "--trusted-root".into(),
        path_str(&stack.trusted_root),
    ]
}

fn cosign_verify(stack: &SigStack, reference: &str, identity: &str, issuer: &str) -> Output {
    stack.cosign(&[
        "verify",
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
        "--trusted-root",
        &path_str(&stack.trusted_root),
        reference,
    ])
}

fn hallmark_verify(
    stack: &SigStack,
    reference: &str,
    identity: &str,
    issuer: &str,
    extra: &[&str],
) -> Output {
    let root = path_str(&stack.trusted_root);
    let mut args = vec![
        "verify",
        reference,
        "--certificate-identity",
        identity,
        "--certificate-oidc-issuer",
        issuer,
        "--trusted-root",
        &root,
    ];
    args.extend_from_slice(extra);
    stack.hallmark_keyed(&args)
}

/// `sign` keyless (cosign 3's bundle, the default keyless) and `attest` keyless: the real
/// cosign verifies each for the signer and its issuer with the stack's root, and for no
/// other signer; hallmark verifies them too; a GitHub Actions identity's workflow claims
/// are checked by `--certificate-github-workflow-repository`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hallmark_signs_and_attests_images_keyless() {
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let digest = push_unsigned(&stack, work.path(), "app", "v1").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let flags = keyless_flags(&stack, &token);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();

    let mut args = vec!["sign", &pinned];
    args.extend_from_slice(&flags);
    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 0);
    let certified = format!("signed keyless as {SIGNER} ({})", stack.issuer);
    assert!(stderr(&o).contains(&certified), "{}", stderr(&o));

    peer_ok(
        &cosign_verify(&stack, &pinned, SIGNER, &stack.issuer),
        "cosign verify",
    );
    let o = cosign_verify(&stack, &pinned, "bob@example.com", &stack.issuer);
    assert!(!o.status.success(), "cosign verified another signer");
    let o = hallmark_verify(
        &stack,
        &format!("{}/app:v1", stack.registry),
        SIGNER,
        &stack.issuer,
        &[],
    );
    expect_code(&o, 0);
    assert_eq!(stdout(&o).trim(), pinned);
    expect_code(
        &hallmark_verify(&stack, &pinned, "bob@example.com", &stack.issuer, &[]),
        1,
    );

    // An attestation, keyless.
    let predicate = work.path().join("predicate.json");
    std::fs::write(&predicate, br#"{"built":"by the release workflow"}"#).unwrap();
    let predicate_arg = path_str(&predicate);
    let mut args = vec![
        "attest",
        &pinned,
        "--predicate",
        &predicate_arg,
        "--type",
        PREDICATE_TYPE,
    ];
    args.extend_from_slice(&flags);
    expect_code(&stack.hallmark_keyed(&args), 0);
    let o = stack.cosign(&[
        "verify-attestation",
        "--type",
        PREDICATE_TYPE,
        "--certificate-identity",
        SIGNER,
        "--certificate-oidc-issuer",
        &stack.issuer,
        "--trusted-root",
        &path_str(&stack.trusted_root),
        &pinned,
    ]);
    peer_ok(&o, "cosign verify-attestation");
    let root = path_str(&stack.trusted_root);
    let o = stack.hallmark_keyed(&[
        "verify-attestation",
        &pinned,
        "--type",
        PREDICATE_TYPE,
        "--certificate-identity",
        SIGNER,
        "--certificate-oidc-issuer",
        &stack.issuer,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);

    // A GitHub Actions identity on a second image: its workflow claims are in the
    // certificate, and checked.
    let digest2 = push_unsigned(&stack, work.path(), "app", "v2").await;
    let pinned2 = format!("{}/app@{digest2}", stack.registry);
    let gh = stack.token(
        SigStack::GITHUB_ISSUER,
        "repo:hallmark/test:ref:refs/heads/main",
        &github_claims(),
    );
    let gh_flags = keyless_flags(&stack, &gh);
    let mut args = vec!["sign", &pinned2];
    args.extend(gh_flags.iter().map(String::as_str));
    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 0);
    let identity = format!("https://github.com/{GITHUB_WORKFLOW}");
    // The certificate's identity, not the token's subject.
    assert!(stderr(&o).contains(&identity), "{}", stderr(&o));
    peer_ok(
        &cosign_verify(&stack, &pinned2, &identity, SigStack::GITHUB_ISSUER),
        "cosign verify (GitHub identity)",
    );
    let repo_flag = "--certificate-github-workflow-repository";
    let o = hallmark_verify(
        &stack,
        &pinned2,
        &identity,
        SigStack::GITHUB_ISSUER,
        &[repo_flag, GITHUB_REPOSITORY],
    );
    expect_code(&o, 0);
    let o = hallmark_verify(
        &stack,
        &pinned2,
        &identity,
        SigStack::GITHUB_ISSUER,
        &[repo_flag, "hallmark/other"],
    );
    expect_code(&o, 1);
}

/// The legacy `.sig` format keyless: cosign 3.1.3 refuses it with a signing config (a legacy
/// layer carries a log entry only as a Rekor v1 promise, and the stack's log is Rekor v2),
/// and so does hallmark, with a usage error before anything is sent or written. An expired
/// token or one for another audience is exit 2 too, and a bare tag is refused before the
/// token is even read; the registry is unchanged by all of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_keyless_bad_tokens_and_bare_tags_are_refused_before_anything_is_written() {
    let mut stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let digest = push_unsigned(&stack, work.path(), "app", "v1").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let token = stack.token(&stack.issuer, SIGNER, "{}");

    let o = stack.cosign(&[
        "sign",
        "--new-bundle-format=false",
        "--identity-token",
        &path_str(&token),
        "--signing-config",
        &path_str(&stack.signing_config),
        "--trusted-root",
        &path_str(&stack.trusted_root),
        &pinned,
    ]);
    assert!(!o.status.success(), "cosign signed legacy keyless");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--new-bundle-format"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let before = registry_state(&stack);
    let flags = keyless_flags(&stack, &token);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut args = vec!["sign", &pinned, "--format", "legacy"];
    args.extend_from_slice(&flags);
    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("Rekor v1"), "{}", stderr(&o));
    let keys = keys("ecdsa-p256");
    let sc = path_str(&stack.signing_config);
    let o = stack.hallmark_keyed(&[
        "sign",
        &pinned,
        "--key",
        &keys.private,
        "--tlog-upload",
        "--format",
        "legacy",
        "--signing-config",
        &sc,
    ]);
    expect_code(&o, 2);
    // The services named with a key but no --tlog-upload: refused, not silently unlogged.
    let o = stack.hallmark_keyed(&[
        "sign",
        &pinned,
        "--key",
        &keys.private,
        "--signing-config",
        &sc,
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--tlog-upload"), "{}", stderr(&o));

    // An expired token, a token for another audience: exit 2 before any request, for each
    // image command. Every service is a stand-in that records what it is sent; a good token
    // reaches it, so its silence for the bad ones is the refusal's doing.
    let (dir, _) = local_image(work.path(), "new").await;
    let source = format!("oci:{}:new", dir.display());
    let dest = format!("{}/released:v1", stack.registry);
    let predicate = work.path().join("predicate.json");
    std::fs::write(&predicate, br#"{"built":"here"}"#).unwrap();
    let predicate = path_str(&predicate);
    let stand_in = "http://127.0.0.1:18095";
    crate::keyless_guard::misbehave(&mut stack, "counting", 18095, work.path());
    let services = [
        format!("--fulcio-url={stand_in}/fulcio"),
        format!("--rekor-url={stand_in}/rekor"),
        format!("--timestamp-server-url={stand_in}/tsa"),
        format!("--trusted-root={}", path_str(&stack.trusted_root)),
    ];
    let commands = [
        vec!["sign", &pinned],
        vec![
            "attest",
            &pinned,
            "--predicate",
            &predicate,
            "--type",
            PREDICATE_TYPE,
        ],
        vec!["publish", &source, &dest],
    ];
    let through_stand_in = |command: &[&str], token: &Path| {
        let token = format!("--identity-token=@{}", path_str(token));
        let mut args = command.to_vec();
        args.push(&token);
        args.extend(services.iter().map(String::as_str));
        stack.hallmark_keyed(&args)
    };
    let o = through_stand_in(&commands[0], &token);
    expect_code(&o, 3);
    assert!(
        !crate::keyless_guard::hits(work.path(), 18095).is_empty(),
        "the stand-in recorded nothing: {}",
        stderr(&o)
    );
    std::fs::remove_file(work.path().join("hits-18095")).unwrap();
    for claims in [r#"{"exp": 1000}"#, r#"{"aud": "api"}"#] {
        let bad = stack.token(&stack.issuer, SIGNER, claims);
        for command in &commands {
            let o = through_stand_in(command, &bad);
            expect_code(&o, 2);
            let err = stderr(&o);
            assert!(
                err.contains("expired") || err.contains("audience"),
                "{claims} {command:?}: {err}"
            );
            assert_eq!(
                crate::keyless_guard::hits(work.path(), 18095),
                Vec::<String>::new(),
                "{claims} {command:?}: a request was sent"
            );
        }
    }

    // A bare tag: refused first, the token never read (it names no file).
    let tagged = format!("{}/app:v1", stack.registry);
    let sc = path_str(&stack.signing_config);
    let o = stack.hallmark_keyed(&[
        "sign",
        &tagged,
        "--identity-token",
        "@/nonexistent/token",
        "--signing-config",
        &sc,
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("tag"), "{}", stderr(&o));
    assert!(!stderr(&o).contains("/nonexistent/token"), "{}", stderr(&o));
    assert_eq!(registry_state(&stack), before, "the registry changed");
}

/// `publish` keyless: signed (certificate, timestamp, log entry) before the registry sees a
/// byte, the bundle stored as cosign 3 stores it; cosign and hallmark verify the tag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hallmark_publishes_keyless() {
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let (dir, digest) = local_image(work.path(), "v1").await;
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let flags = keyless_flags(&stack, &token);
    let source = format!("oci:{}:v1", dir.display());
    let dest = format!("{}/released:v1", stack.registry);
    let mut args = vec!["publish", &source, &dest];
    args.extend(flags.iter().map(String::as_str));
    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 0);
    assert!(stderr(&o).contains("signed keyless as"), "{}", stderr(&o));
    let pinned = format!("{}/released@{digest}", stack.registry);
    peer_ok(
        &cosign_verify(&stack, &pinned, SIGNER, &stack.issuer),
        "cosign verify",
    );
    let o = hallmark_verify(&stack, &dest, SIGNER, &stack.issuer, &[]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o).trim(), pinned);
}

/// `--key --tlog-upload` on `sign`, `attest` and `publish`: the key's bundle is also
/// timestamped and logged, so the real cosign verifies it with the key and the stack's root
/// without `--insecure-ignore-tlog`; a key signature without the flag needs that flag.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_signed_images_are_logged_with_tlog_upload() {
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let keys = keys("ecdsa-p256");
    let sc = path_str(&stack.signing_config);
    let root = path_str(&stack.trusted_root);
    let cosign_key_verify = |reference: &str, ignore_tlog: bool| {
        let mut args = vec![
            "verify",
            "--key",
            &keys.public,
            "--trusted-root",
            &root,
            "--new-bundle-format",
        ];
        if ignore_tlog {
            args.push("--insecure-ignore-tlog");
        }
        args.push(reference);
        stack.cosign(&args)
    };

    // Without --tlog-upload: nothing logged, cosign needs --insecure-ignore-tlog.
    let plain = push_unsigned(&stack, work.path(), "app", "plain").await;
    let plain = format!("{}/app@{plain}", stack.registry);
    let o = stack.hallmark_keyed(&["sign", &plain, "--key", &keys.private, "--format", "bundle"]);
    expect_code(&o, 0);
    assert!(!cosign_key_verify(&plain, false).status.success());
    peer_ok(&cosign_key_verify(&plain, true), "cosign verify (no log)");

    // With it (the bundle format is then the default).
    let logged = push_unsigned(&stack, work.path(), "app", "logged").await;
    let logged = format!("{}/app@{logged}", stack.registry);
    let o = stack.hallmark_keyed(&[
        "sign",
        &logged,
        "--key",
        &keys.private,
        "--tlog-upload",
        "--signing-config",
        &sc,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    peer_ok(&cosign_key_verify(&logged, false), "cosign verify (logged)");
    let o = stack.hallmark_keyed(&[
        "verify",
        &logged,
        "--key",
        &keys.public,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);

    // attest, logged.
    let predicate = work.path().join("predicate.json");
    std::fs::write(&predicate, br#"{"built":"here"}"#).unwrap();
    let o = stack.hallmark_keyed(&[
        "attest",
        &logged,
        "--predicate",
        &path_str(&predicate),
        "--type",
        PREDICATE_TYPE,
        "--key",
        &keys.private,
        "--tlog-upload",
        "--signing-config",
        &sc,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    let o = stack.cosign(&[
        "verify-attestation",
        "--type",
        PREDICATE_TYPE,
        "--key",
        &keys.public,
        "--trusted-root",
        &root,
        &logged,
    ]);
    peer_ok(&o, "cosign verify-attestation (logged)");

    // publish, logged.
    let (dir, digest) = local_image(work.path(), "pub").await;
    let source = format!("oci:{}:pub", dir.display());
    let dest = format!("{}/released:pub", stack.registry);
    let o = stack.hallmark_keyed(&[
        "publish",
        &source,
        &dest,
        "--key",
        &keys.private,
        "--tlog-upload",
        "--signing-config",
        &sc,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    let pinned = format!("{}/released@{digest}", stack.registry);
    peer_ok(
        &cosign_key_verify(&pinned, false),
        "cosign verify (published)",
    );
}

/// Fulcio, Rekor and the timestamp authority each stopped in turn: `sign`, `attest` and
/// `publish` keyless (and `sign --tlog-upload` where the service is one it uses) fail with
/// exit 3 naming the service, and the registry's catalog and tags are exactly as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_down_leaves_the_registry_untouched() {
    for (service, named) in [
        ("fulcio", "Fulcio"),
        ("rekor", "Rekor"),
        ("tsa", "timestamp authority"),
    ] {
        let mut stack = SigStack::start();
        let work = tempfile::tempdir().unwrap();
        let digest = push_unsigned(&stack, work.path(), "app", "v1").await;
        let pinned = format!("{}/app@{digest}", stack.registry);
        let (dir, new_digest) = local_image(work.path(), "new").await;
        let token = stack.token(&stack.issuer, SIGNER, "{}");
        let flags = keyless_flags(&stack, &token);
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let predicate = work.path().join("predicate.json");
        std::fs::write(&predicate, b"{}").unwrap();
        let predicate = path_str(&predicate);
        let source = format!("oci:{}:new", dir.display());
        let dest = format!("{}/released:v1", stack.registry);
        let before = registry_state(&stack);
        stack.stop(service);

        let mut runs: Vec<Vec<&str>> = vec![
            vec!["sign", &pinned],
            vec![
                "attest",
                &pinned,
                "--predicate",
                &predicate,
                "--type",
                PREDICATE_TYPE,
            ],
            vec!["publish", &source, &dest],
        ];
        for r in &mut runs {
            r.extend_from_slice(&flags);
        }
        let keys = keys("ecdsa-p256");
        if service != "fulcio" {
            runs.push(vec![
                "sign",
                &pinned,
                "--key",
                &keys.private,
                "--tlog-upload",
                flags[2],
                flags[3],
                flags[4],
                flags[5],
            ]);
        }
        for args in runs {
            let o = stack.hallmark_keyed(&args);
            expect_code(&o, 3);
            assert!(stderr(&o).contains(named), "{args:?}: {}", stderr(&o));
            assert_eq!(
                registry_state(&stack),
                before,
                "{service} down, {args:?} wrote to the registry"
            );
            // Not even by digest, which no tag list shows.
            let o = stack
                .command(Command::new("curl").args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    &format!(
                        "http://{}/v2/released/manifests/{new_digest}",
                        stack.registry
                    ),
                ]))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&o.stdout), "404", "{args:?}");
        }
    }
}

/// The seed's race, keyless: the tag moved to another image between the pipeline's push and
/// its signing step. `sign TAG --expect-digest BUILT` refuses with exit 4 (drift), as with a
/// key, before any service is asked: Fulcio stopped changes nothing (a request to it would
/// be exit 3), and nothing is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_tag_is_not_signed_keyless() {
    let mut stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let built = push_unsigned(&stack, work.path(), "app", "latest").await;
    // The attacker's image under the same tag.
    let _swapped = push_unsigned(&stack, work.path(), "app", "latest").await;
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let flags = keyless_flags(&stack, &token);
    let tagged = format!("{}/app:latest", stack.registry);
    let mut args = vec!["sign", &tagged, "--expect-digest", &built];
    args.extend(flags.iter().map(String::as_str));
    let before = registry_state(&stack);

    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 4);
    assert_eq!(registry_state(&stack), before);

    stack.stop("fulcio");
    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 4);
    assert!(!stderr(&o).contains("Fulcio"), "{}", stderr(&o));
    assert_eq!(registry_state(&stack), before);

    // The same with the digest it was built as: signed only once Fulcio answers, so with
    // Fulcio down, exit 3.
    let pinned = format!("{}/app@{built}", stack.registry);
    let mut args = vec!["sign", &pinned];
    args.extend(flags.iter().map(String::as_str));
    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 3);
    assert!(stderr(&o).contains("Fulcio"), "{}", stderr(&o));
}

/// `hallmark demo --keyless` against the stack: the naive pipeline signs the poisoned image
/// keyless, hallmark refuses the bare tag and the moved tag and signs the built digest, and
/// the consumer's keyless verification tells them apart; every step is as the story needs,
/// and, in the stack's registry, the real cosign agrees: the built digest verifies for the
/// signer, the poisoned one does not. The Sigstore flags without `--keyless` are refused.
#[test]
fn the_demo_runs_keyless_against_the_stack() {
    let stack = SigStack::start();
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let flags = keyless_flags(&stack, &token);
    let mut args = vec!["demo", "--keyless", "--output", "json"];
    args.extend(flags.iter().map(String::as_str));
    for registry in [None, Some(stack.registry.as_str())] {
        let mut args = args.clone();
        if let Some(r) = registry {
            args.extend(["--registry", r]);
        }
        let o = stack.hallmark_keyed(&args);
        expect_code(&o, 0);
        let doc = json_out(&o);
        let steps = doc["steps"].as_array().expect("steps");
        assert!(!steps.is_empty(), "{doc}");
        assert!(
            steps.iter().all(|s| s["as_expected"] == true),
            "{registry:?}: {doc}"
        );
        assert!(stderr(&o).contains(SIGNER), "{}", stderr(&o));
        // Keyless signatures were made: the guarded act signed the built digest as a bundle.
        assert!(
            steps
                .iter()
                .any(|s| s["act"] == 2 && s["outcome"]["kind"] == "signed"),
            "{doc}"
        );
        if registry.is_none() {
            // The demo's own registry is gone once it ends: nothing for cosign to read.
            continue;
        }
        // Not only the demo's word for it: the real cosign, reading the stack's registry,
        // verifies the built digest for the signer and not the poisoned one that the
        // attacker pushed to the same repository.
        let guarded = |kind: &str| {
            steps
                .iter()
                .find(|s| s["act"] == 2 && s["outcome"]["kind"] == kind)
                .map(|s| &s["outcome"])
                .unwrap_or_else(|| panic!("no {kind} step in act 2: {doc}"))
        };
        let built = guarded("signed")["digest"].as_str().unwrap();
        let verified = guarded("verified")["reference"].as_str().unwrap();
        let repository = verified.split('@').next().unwrap();
        assert_eq!(verified, format!("{repository}@{built}"), "{doc}");
        assert!(repository.starts_with(&stack.registry), "{doc}");
        let poisoned = steps
            .iter()
            .find(|s| s["act"] == 2 && s["outcome"]["poisoned"] == true)
            .and_then(|s| s["outcome"]["digest"].as_str())
            .unwrap_or_else(|| panic!("no poisoned digest in act 2: {doc}"));
        assert_ne!(built, poisoned);
        peer_ok(
            &cosign_verify(&stack, verified, SIGNER, &stack.issuer),
            "cosign verify (the demo's built image)",
        );
        let o = cosign_verify(
            &stack,
            &format!("{repository}@{poisoned}"),
            SIGNER,
            &stack.issuer,
        );
        assert!(
            !o.status.success(),
            "cosign verified the poisoned image: {doc}"
        );
    }
    // A GitHub Actions identity: the consumer trusts the workflow the certificate names.
    let gh = stack.token(
        SigStack::GITHUB_ISSUER,
        "repo:hallmark/test:ref:refs/heads/main",
        &github_claims(),
    );
    let mut args = vec!["demo", "--keyless", "--output", "json"];
    let gh_flags = keyless_flags(&stack, &gh);
    args.extend(gh_flags.iter().map(String::as_str));
    let o = stack.hallmark_keyed(&args);
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["passed"], true, "{}", stdout(&o));

    let o = stack.hallmark_keyed(&[
        "demo",
        "--identity-token",
        &format!("@{}", path_str(&token)),
    ]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--keyless"), "{}", stderr(&o));
}

/// Images signed with the Rekor v1 signing config (no timestamp authority: the log's SET
/// dates the certificate): `sign` and `attest` keyless, in the bundle format, are verified
/// by the real cosign with the identity flags and the stack's root, and for no other
/// identity, and by hallmark; `sign --key --tlog-upload` is verified by cosign with the key
/// and without `--insecure-ignore-tlog`, and not with another key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_signed_with_rekor_v1_verify_with_cosign() {
    let stack = SigStack::start_with_rekor_v1();
    let work = tempfile::tempdir().unwrap();
    let digest = push_unsigned(&stack, work.path(), "app", "v1").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let (config, root) = (
        path_str(&stack.signing_config_v1()),
        path_str(&stack.trusted_root),
    );
    let token_arg = format!("@{}", path_str(&token));
    let flags = [
        "--identity-token",
        &token_arg,
        "--signing-config",
        &config,
        "--trusted-root",
        &root,
    ];

    let mut args = vec!["sign", &pinned, "--format", "bundle"];
    args.extend_from_slice(&flags);
    expect_code(&stack.hallmark_keyed(&args), 0);
    peer_ok(
        &cosign_verify(&stack, &pinned, SIGNER, &stack.issuer),
        "cosign verify (Rekor v1)",
    );
    let o = cosign_verify(&stack, &pinned, "bob@example.com", &stack.issuer);
    assert!(!o.status.success(), "cosign verified another signer");
    let o = hallmark_verify(
        &stack,
        &pinned,
        SIGNER,
        &stack.issuer,
        &["--output", "json"],
    );
    expect_code(&o, 0);
    // Logged in Rekor v1 and dated by its promise: no other service was asked.
    let report = json_out(&o);
    let entry = &report["signatures"][0]["sigstore"]["tlog"][0];
    assert_eq!(entry["log"], stack.rekor_v1_url(), "{report}");
    // cosign 3's image bundle signs a statement: a DSSE envelope.
    assert_eq!(entry["kind"], "dsse 0.0.1", "{report}");
    assert!(
        entry["proofs"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("inclusion promise")),
        "{report}"
    );
    expect_code(
        &hallmark_verify(&stack, &pinned, "bob@example.com", &stack.issuer, &[]),
        1,
    );

    let predicate = work.path().join("predicate.json");
    std::fs::write(&predicate, br#"{"built":"by the release workflow"}"#).unwrap();
    let predicate_arg = path_str(&predicate);
    let mut args = vec![
        "attest",
        &pinned,
        "--predicate",
        &predicate_arg,
        "--type",
        PREDICATE_TYPE,
    ];
    args.extend_from_slice(&flags);
    expect_code(&stack.hallmark_keyed(&args), 0);
    let cosign_attestation = |identity: &str| {
        stack.cosign(&[
            "verify-attestation",
            "--type",
            PREDICATE_TYPE,
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &stack.issuer,
            "--trusted-root",
            &root,
            &pinned,
        ])
    };
    peer_ok(
        &cosign_attestation(SIGNER),
        "cosign verify-attestation (Rekor v1)",
    );
    assert!(
        !cosign_attestation("bob@example.com").status.success(),
        "cosign verified another signer's attestation"
    );
    let hallmark_attestation = |identity: &str| {
        stack.hallmark_keyed(&[
            "verify-attestation",
            &pinned,
            "--type",
            PREDICATE_TYPE,
            "--certificate-identity",
            identity,
            "--certificate-oidc-issuer",
            &stack.issuer,
            "--trusted-root",
            &root,
        ])
    };
    expect_code(&hallmark_attestation(SIGNER), 0);
    expect_code(&hallmark_attestation("bob@example.com"), 1);

    // A key signature logged in Rekor v1.
    let other = keys("ecdsa-p256");
    let keys = keys("ecdsa-p256");
    let logged = push_unsigned(&stack, work.path(), "app", "keyed").await;
    let logged = format!("{}/app@{logged}", stack.registry);
    let o = stack.hallmark_keyed(&[
        "sign",
        &logged,
        "--key",
        &keys.private,
        "--tlog-upload",
        "--signing-config",
        &config,
        "--trusted-root",
        &root,
    ]);
    expect_code(&o, 0);
    let cosign_key = |public: &str| {
        stack.cosign(&[
            "verify",
            "--key",
            public,
            "--trusted-root",
            &root,
            "--new-bundle-format",
            &logged,
        ])
    };
    peer_ok(&cosign_key(&keys.public), "cosign verify --key (Rekor v1)");
    assert!(
        !cosign_key(&other.public).status.success(),
        "cosign verified with another key"
    );
}

/// The image commands through the tampering proxy (`SigStack::liar`), which alters the
/// genuine answer made for *this* signature: `sign`, `attest` and `publish` keyless refuse
/// a certificate from another CA, a flipped Rekor proof hash and a timestamp from an
/// untrusted authority with exit 3, the service named, and the registry's catalog, tags and
/// the published digest exactly as before. The proxy's `pass` mode signs, so the refusals
/// are the lies' doing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lying_services_leave_the_registry_untouched() {
    let mut stack = SigStack::start();
    let liar = stack.liar();
    let work = tempfile::tempdir().unwrap();
    let digest = push_unsigned(&stack, work.path(), "app", "v1").await;
    let pinned = format!("{}/app@{digest}", stack.registry);
    let (dir, new_digest) = local_image(work.path(), "new").await;
    let token = format!("@{}", path_str(&stack.token(&stack.issuer, SIGNER, "{}")));
    let predicate = work.path().join("predicate.json");
    std::fs::write(&predicate, b"{}").unwrap();
    let predicate = path_str(&predicate);
    let source = format!("oci:{}:new", dir.display());
    let dest = format!("{}/released:v1", stack.registry);
    let root = path_str(&stack.trusted_root);
    let commands: [Vec<&str>; 3] = [
        vec!["sign", &pinned],
        vec![
            "attest",
            &pinned,
            "--predicate",
            &predicate,
            "--type",
            PREDICATE_TYPE,
        ],
        vec!["publish", &source, &dest],
    ];
    let through = |command: &[&str], fulcio: &str, rekor: &str, tsa: &str| {
        let services = [
            format!("--fulcio-url={liar}/fulcio/{fulcio}"),
            format!("--rekor-url={liar}/rekor/{rekor}"),
            format!("--timestamp-server-url={liar}/tsa/{tsa}/api/v1/timestamp"),
        ];
        let mut args = command.to_vec();
        args.extend(["--identity-token", &token, "--trusted-root", &root]);
        args.extend(services.iter().map(String::as_str));
        stack.hallmark_keyed(&args)
    };
    let before = registry_state(&stack);
    for command in &commands {
        for (lies, named) in [
            (
                ["foreign-ca", "pass", "pass"],
                "Fulcio's answer does not verify",
            ),
            (["pass", "proof", "pass"], "Rekor's answer does not verify"),
            (
                ["pass", "pass", "untrusted"],
                "timestamp authority's answer does not verify",
            ),
        ] {
            let o = through(command, lies[0], lies[1], lies[2]);
            expect_code(&o, 3);
            assert!(
                stderr(&o).contains(named),
                "{command:?} {lies:?}: {}",
                stderr(&o)
            );
            assert_eq!(
                registry_state(&stack),
                before,
                "{command:?} {lies:?} wrote to the registry"
            );
            // Not even by digest, which no tag list shows.
            let o = stack
                .command(Command::new("curl").args([
                    "-s",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    &format!(
                        "http://{}/v2/released/manifests/{new_digest}",
                        stack.registry
                    ),
                ]))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&o.stdout), "404", "{command:?}");
        }
    }
    for command in &commands {
        expect_code(&through(command, "pass", "pass", "pass"), 0);
    }
    peer_ok(
        &cosign_verify(&stack, &pinned, SIGNER, &stack.issuer),
        "cosign verify (signed through the faithful proxy)",
    );
}

/// The drift check comes before any token is asked for: with GitHub Actions' token
/// endpoint as the only token source (a recording stand-in), `sign TAG --expect-digest
/// BUILT` on a moved tag is exit 4 and the endpoint got no request, so no token is minted
/// for a command that cannot sign. The same flags on the tag where it belongs do ask it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_moved_tag_asks_no_ci_system_for_a_token() {
    use crate::keyless_guard::{BAD, hits, misbehave};
    let mut stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    misbehave(&mut stack, "github", BAD, work.path());
    let built = push_unsigned(&stack, work.path(), "app", "latest").await;
    let _swapped = push_unsigned(&stack, work.path(), "app", "latest").await;
    let tagged = format!("{}/app:latest", stack.registry);
    let run = |expect: &str| {
        let mut c = hallmark();
        c.args(["sign", &tagged, "--expect-digest", expect])
            .args(["--signing-config", &path_str(&stack.signing_config)])
            .args(["--trusted-root", &path_str(&stack.trusted_root)])
            .env_remove("SIGSTORE_ID_TOKEN")
            .env(
                "ACTIONS_ID_TOKEN_REQUEST_URL",
                format!("http://127.0.0.1:{BAD}/garbage"),
            )
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "bearer");
        stack.command(&c).output().unwrap()
    };
    let before = registry_state(&stack);
    let o = run(&built);
    expect_code(&o, 4);
    assert!(
        hits(work.path(), BAD).is_empty(),
        "a token was asked for: {:?}",
        hits(work.path(), BAD)
    );
    assert_eq!(registry_state(&stack), before);

    // The tag's current digest passes the check, and then the token is asked for (the
    // stand-in's garbage ends the command).
    let current = {
        let o = stack.hallmark(&["digest", &tagged]);
        expect_code(&o, 0);
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let o = run(&current);
    expect_code(&o, 3);
    assert_eq!(
        hits(work.path(), BAD).len(),
        1,
        "{:?}",
        hits(work.path(), BAD)
    );
}
