//! `hallmark admit` with a policy that trusts keyless signers: images signed keyless by
//! hallmark on the real Sigstore stack (`harness/sigstack.rs`: Fulcio, Rekor v2, the TSA,
//! an OIDC issuer and a registry in a network namespace) are pinned to the digest that was
//! signed, by `--review` and by the HTTPS server, as `verify --policy` would verify them;
//! a policy naming another identity denies them, saying so; a tag moved afterwards to an
//! unsigned image is denied on the next review.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::harness::*;
use crate::keyless_sign_images::push_unsigned;

const SIGNER: &str = "alice@example.com";
const OTHER: &str = "mallory@example.com";

/// A policy trusting, for every repository under `reg/team/`, the keyless signer `subject`
/// of `issuer`, with the stack's trusted root.
fn keyless_policy(dir: &Path, stack: &SigStack, name: &str, subject: &str, issuer: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "version = 1\ntrusted-root = {:?}\n\n[[rule]]\nname = \"team\"\nmatch = [\"{}/team/**\"]\n\n\
             [[rule.keyless]]\nsubject = {subject:?}\nissuer = {issuer:?}\n",
            path_str(&stack.trusted_root),
            stack.registry,
        ),
    )
    .unwrap();
    path_str(&path)
}

/// `hallmark admit --review FILE --policy POLICY ARGS`, in the stack's namespace.
fn review(stack: &SigStack, file: &Path, policy: &str, extra: &[&str]) -> Output {
    let file = path_str(file);
    let mut args = vec!["admit", "--review", &file, "--policy", policy];
    args.extend_from_slice(extra);
    stack.hallmark_keyed(&args)
}

/// POSTs `body` to the server's `path` from inside the stack's namespace (where the server
/// listens), trusting only the server's CA: the status and the body as JSON.
fn post(
    stack: &SigStack,
    server: &AdmitServer,
    dir: &Path,
    path: &str,
    body: &Value,
) -> (u16, Value) {
    let file = dir.join("request.json");
    std::fs::write(&file, body.to_string()).unwrap();
    let o = stack
        .command(Command::new("curl").args([
            "-sS",
            "--max-time",
            "30",
            "--cacert",
            &path_str(&server.ca),
            "-H",
            "content-type: application/json",
            "--data-binary",
            &format!("@{}", path_str(&file)),
            "-w",
            "\n%{http_code}",
            &server.url(path),
        ]))
        .output()
        .unwrap();
    assert!(o.status.success(), "curl: {}\n{}", stderr(&o), server.log());
    let text = stdout(&o);
    let (body, status) = text.rsplit_once('\n').unwrap();
    (
        status.trim().parse().unwrap(),
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

/// The denial's message, from a response that must be a denial without a patch.
fn denial(response: &Value, patch: Option<&Vec<Value>>) -> String {
    assert_eq!(response["allowed"], false, "{response}");
    assert!(patch.is_none(), "a denial patched: {response}");
    response["status"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no message: {response}"))
        .to_string()
}

/// One stack for the whole story (its start is the slow part): sign `team/app:v1` and
/// `team/side:v1` keyless as alice, then admit the Pod fixture under policies naming alice
/// and naming mallory, by `--review` and over HTTPS, then move `team/app:v1` to an unsigned
/// image.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyless_identities_in_the_policy_decide_admission() {
    let stack = SigStack::start();
    let work = tempfile::tempdir().unwrap();
    let dir = work.path();
    let reg = stack.registry.clone();
    let app = push_unsigned(&stack, dir, "team/app", "v1").await;
    let side = push_unsigned(&stack, dir, "team/side", "v1").await;

    let token = stack.token(&stack.issuer, SIGNER, "{}");
    let token = format!("@{}", path_str(&token));
    let signing_config = path_str(&stack.signing_config);
    let root = path_str(&stack.trusted_root);
    for digest in [&app, &side] {
        let repo = if digest == &app { "app" } else { "side" };
        let pinned = format!("{reg}/team/{repo}@{digest}");
        let o = stack.hallmark_keyed(&[
            "sign",
            &pinned,
            "--identity-token",
            &token,
            "--signing-config",
            &signing_config,
            "--trusted-root",
            &root,
        ]);
        expect_code(&o, 0);
    }

    let alice = keyless_policy(dir, &stack, "alice.toml", SIGNER, &stack.issuer);
    let mallory = keyless_policy(dir, &stack, "mallory.toml", OTHER, &stack.issuer);
    // The right subject from another issuer is someone else too.
    let elsewhere = keyless_policy(
        dir,
        &stack,
        "elsewhere.toml",
        SIGNER,
        SigStack::GITHUB_ISSUER,
    );
    let app_pin = format!("{reg}/team/app:v1@{app}");
    let side_pin = format!("{reg}/team/side:v1@{side}");
    let want = vec![
        ("/spec/initContainers/0/image".to_string(), side_pin.clone()),
        ("/spec/containers/0/image".to_string(), app_pin.clone()),
        ("/spec/containers/1/image".to_string(), side_pin.clone()),
        (
            "/spec/volumes/1/image/reference".to_string(),
            app_pin.clone(),
        ),
    ];

    // `--review`: every image pinned to the digest alice signed; the patched Pod
    // validates.
    let pod = review_file(dir, "pod.json", &reg);
    let o = review(&stack, &pod, &alice, &[]);
    expect_code(&o, 0);
    let (resp, patch) = review_response(&stdout(&o));
    assert_eq!(resp["allowed"], true, "{resp}");
    let patch = patch.unwrap_or_else(|| panic!("no patch: {resp}"));
    assert_eq!(replaced(&patch), want);
    let mut sent = json_file(&pod);
    apply_patch(&mut sent["request"]["object"], &patch);
    let patched = dir.join("patched-pod.json");
    std::fs::write(&patched, sent.to_string()).unwrap();
    let o = review(&stack, &patched, &alice, &["--endpoint", "validate"]);
    expect_code(&o, 0);
    assert_eq!(review_response(&stdout(&o)).0["allowed"], true);

    // `--review` under a policy naming another subject, or alice of another issuer:
    // denied, the message naming who signed and who is trusted.
    let mismatches = [
        (&mallory, SIGNER.to_string(), OTHER.to_string()),
        (
            &elsewhere,
            format!("{:?}", stack.issuer),
            format!("{:?}", SigStack::GITHUB_ISSUER),
        ),
    ];
    for (policy, signed, trusted) in &mismatches {
        let o = review(&stack, &pod, policy, &[]);
        expect_code(&o, 1);
        let (resp, patch) = review_response(&stdout(&o));
        let message = denial(&resp, patch.as_ref());
        assert!(message.contains("team/app:v1"), "{message}");
        assert!(message.contains("identity"), "{message}");
        assert!(message.contains(signed.as_str()), "{message}");
        assert!(message.contains(trusted.as_str()), "{message}");
    }

    // The same over HTTPS, the server in the stack's namespace.
    let server = AdmitServer::start_through(&["--policy", &alice], |c| stack.command(&c));
    let request = review_json("pod.json", &reg);
    let (status, body) = post(&stack, &server, dir, "/mutate?timeout=10s", &request);
    assert_eq!(status, 200, "{body}\n{}", server.log());
    let (resp, patch) = review_response(&body.to_string());
    assert_eq!(resp["allowed"], true, "{resp}");
    assert_eq!(resp["uid"], request["request"]["uid"]);
    assert_eq!(replaced(&patch.unwrap()), want);

    let denying = AdmitServer::start_through(&["--policy", &mallory], |c| stack.command(&c));
    for path in ["/mutate?timeout=10s", "/validate?timeout=10s"] {
        let (status, body) = post(&stack, &denying, dir, path, &request);
        assert_eq!(status, 200, "{body}\n{}", denying.log());
        let (resp, patch) = review_response(&body.to_string());
        let message = denial(&resp, patch.as_ref());
        assert!(
            message.contains(OTHER) && message.contains(SIGNER),
            "{path}: {message}"
        );
    }

    // `team/app:v1` moved to an image nobody signed: the running server, which
    // admitted it a moment ago, denies it on the next review, and so does `--review`.
    let moved = tempfile::tempdir().unwrap();
    let unsigned = push_unsigned(&stack, moved.path(), "team/app", "v1").await;
    assert_ne!(unsigned, app);
    let (status, body) = post(&stack, &server, dir, "/mutate?timeout=10s", &request);
    assert_eq!(status, 200, "{body}\n{}", server.log());
    let (resp, patch) = review_response(&body.to_string());
    let message = denial(&resp, patch.as_ref());
    assert!(message.contains("team/app:v1"), "{message}");
    assert!(message.contains("no signature"), "{message}");
    assert!(
        message.contains(unsigned.trim_start_matches("sha256:")),
        "{message}"
    );
    assert!(!message.contains("team/side"), "{message}");
    assert!(!message.contains(&app), "the old digest offered: {message}");
    let o = review(&stack, &pod, &alice, &[]);
    expect_code(&o, 1);
    let (resp, patch) = review_response(&stdout(&o));
    let message = denial(&resp, patch.as_ref());
    assert!(message.contains("no signature"), "{message}");
    assert!(!message.contains("team/side"), "{message}");
}
