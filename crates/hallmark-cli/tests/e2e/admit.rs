//! `hallmark admit --review` against a real registry: the AdmissionReview fixtures of every
//! workload kind (with the registry's address put in) are answered as the webhook will,
//! and each patched digest is the one that verified, for that image.

use std::path::Path;
use std::process::Output;

use crate::harness::*;

fn admit(review: &Path, policy: &str, extra: &[&str]) -> Output {
    let mut c = hallmark();
    c.args(["admit", "--review", &path_str(review), "--policy", policy])
        .args(extra);
    c.output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_workload_kind_is_pinned_to_the_digests_that_verified() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let app = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let side = signed_image(&reg, "team/side", Some("v1"), &k, &[]).await;
    let r = &reg.addr;
    let dir = tempfile::tempdir().unwrap();
    let policy = team_policy(dir.path(), r, &k.public);
    let app = format!("{r}/team/app:v1@{}", app.digest());
    let side = format!("{r}/team/side:v1@{}", side.digest());
    let template = |root: &str| {
        vec![
            (format!("{root}/initContainers/0/image"), side.clone()),
            (format!("{root}/containers/0/image"), app.clone()),
            (format!("{root}/containers/1/image"), side.clone()),
        ]
    };
    let cases = [
        (
            "pod.json",
            vec![
                ("/spec/initContainers/0/image".to_string(), side.clone()),
                ("/spec/containers/0/image".to_string(), app.clone()),
                ("/spec/containers/1/image".to_string(), side.clone()),
                ("/spec/volumes/1/image/reference".to_string(), app.clone()),
            ],
        ),
        ("deployment.json", template("/spec/template/spec")),
        ("deployment-update.json", template("/spec/template/spec")),
        ("replicaset.json", template("/spec/template/spec")),
        ("statefulset.json", template("/spec/template/spec")),
        ("daemonset.json", template("/spec/template/spec")),
        ("job.json", template("/spec/template/spec")),
        (
            "replicationcontroller.json",
            template("/spec/template/spec"),
        ),
        (
            "cronjob.json",
            template("/spec/jobTemplate/spec/template/spec"),
        ),
        // `kubectl debug`: only the ephemeral container is checked and pinned (the Pod's
        // own containers were admitted when it was created).
        (
            "pod-ephemeral.json",
            vec![(
                "/spec/ephemeralContainers/0/image".to_string(),
                side.clone(),
            )],
        ),
    ];
    for (name, want) in cases {
        let file = review_file(dir.path(), name, r);
        let o = admit(&file, &policy, &[]);
        expect_code(&o, 0);
        let (resp, patch) = review_response(&stdout(&o));
        let mut sent = json_file(&file);
        assert_eq!(resp["uid"], sent["request"]["uid"], "{name}");
        assert_eq!(resp["allowed"], true, "{name}: {resp}");
        let pins = patch.unwrap_or_else(|| panic!("{name}: no patch: {resp}"));
        assert_eq!(replaced(&pins), want, "{name}");

        // Not pinned: the validating webhook denies it, and never patches.
        let o = admit(&file, &policy, &["--endpoint", "validate"]);
        expect_code(&o, 1);
        let (resp, patch) = review_response(&stdout(&o));
        assert!(patch.is_none() && resp.get("patchType").is_none(), "{name}");
        assert!(
            resp["status"]["message"]
                .as_str()
                .unwrap()
                .contains("not pinned to a digest; it verifies as"),
            "{name}: {resp}"
        );

        // The object as the apiserver patches it passes validation, and a second
        // mutation changes nothing.
        apply_patch(&mut sent["request"]["object"], &pins);
        let patched = dir.path().join(format!("patched-{name}"));
        std::fs::write(&patched, sent.to_string()).unwrap();
        for endpoint in ["validate", "mutate"] {
            let o = admit(&patched, &policy, &["--endpoint", endpoint]);
            expect_code(&o, 0);
            let (resp, patch) = review_response(&stdout(&o));
            assert_eq!(resp["allowed"], true, "{name} {endpoint}: {resp}");
            assert!(patch.is_none(), "{name} {endpoint}: already pinned");
        }
    }

    // --pods-only: a controller is checked but left as written (GitOps sees no drift);
    // a Pod is still pinned.
    let deployment = review_file(dir.path(), "deployment.json", r);
    for endpoint in ["mutate", "validate"] {
        let o = admit(
            &deployment,
            &policy,
            &["--pods-only", "--endpoint", endpoint],
        );
        expect_code(&o, 0);
        let (resp, patch) = review_response(&stdout(&o));
        assert_eq!(resp["allowed"], true, "{endpoint}");
        assert!(patch.is_none(), "{endpoint}");
    }
    let o = admit(
        &review_file(dir.path(), "pod.json", r),
        &policy,
        &["--pods-only"],
    );
    expect_code(&o, 0);
    assert_eq!(replaced(&review_response(&stdout(&o)).1.unwrap()).len(), 4);

    // The review on standard input.
    let text = std::fs::read(review_file(dir.path(), "job.json", r)).unwrap();
    let o = run_stdin(&["admit", "--review", "-", "--policy", &policy], &[], &text);
    expect_code(&o, 0);
    assert_eq!(
        replaced(&review_response(&stdout(&o)).1.unwrap()),
        template("/spec/template/spec")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_images_and_images_pinned_to_unverified_digests_are_denied() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let app = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    push_random(&reg.store("team/tool"), Some("v1"), "unsigned").await;
    let other = push_random(&reg.store("team/app"), None, "unsigned").await;
    let r = &reg.addr;
    let dir = tempfile::tempdir().unwrap();
    let policy = team_policy(dir.path(), r, &k.public);

    // The side image is swapped for an unsigned one: denied, saying where and why.
    let text = std::fs::read_to_string(review_file(dir.path(), "pod.json", r))
        .unwrap()
        .replace("team/side:v1", "team/tool:v1");
    let file = dir.path().join("unsigned.json");
    std::fs::write(&file, text).unwrap();
    let o = admit(&file, &policy, &[]);
    expect_code(&o, 1);
    let (resp, patch) = review_response(&stdout(&o));
    assert!(patch.is_none(), "a denial never patches");
    assert_eq!(resp["allowed"], false);
    assert_eq!(resp["uid"], "7d3f0c1e-pod");
    assert_eq!(resp["status"]["code"], 403);
    let message = resp["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "- spec.containers[1] (proxy) {r}/team/tool:v1: not verified: "
        )),
        "{message}"
    );
    assert!(message.contains(&format!(
        "- spec.initContainers[0] (migrate) {r}/team/tool:v1: not verified"
    )));
    assert_eq!(message.lines().count(), 3, "one line per image: {message}");
    assert!(
        stderr(&o).contains("spec.containers[1] (proxy)"),
        "{}",
        stderr(&o)
    );

    // `kubectl debug` with an unsigned debugging image: denied, naming the ephemeral container.
    let text = std::fs::read_to_string(review_file(dir.path(), "pod-ephemeral.json", r))
        .unwrap()
        .replace("team/side:v1", "team/tool:v1");
    let file = dir.path().join("debug.json");
    std::fs::write(&file, text).unwrap();
    let o = admit(&file, &policy, &[]);
    expect_code(&o, 1);
    let (resp, patch) = review_response(&stdout(&o));
    assert!(patch.is_none());
    let message = resp["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "- spec.ephemeralContainers[0] (debugger) {r}/team/tool:v1: not verified"
        )),
        "{message}"
    );
    assert_eq!(
        message.lines().count(),
        2,
        "only the ephemeral container: {message}"
    );

    // Pinned to the verified digest: untouched. Pinned to another digest of the same
    // repository, never signed: denied on both endpoints, never rewritten.
    let pod = |image: &str| {
        let mut v = review_json("pod.json", r);
        v["request"]["object"]["spec"] =
            serde_json::json!({"containers": [{"name": "app", "image": image}]});
        let path = dir.path().join("pinned.json");
        std::fs::write(&path, v.to_string()).unwrap();
        path
    };
    let good = pod(&format!("{r}/team/app@{}", app.digest()));
    for endpoint in ["mutate", "validate"] {
        let o = admit(&good, &policy, &["--endpoint", endpoint]);
        expect_code(&o, 0);
        let (resp, patch) = review_response(&stdout(&o));
        assert_eq!(resp["allowed"], true);
        assert!(patch.is_none());
    }
    let bad = pod(&format!("{r}/team/app:v1@{}", other.digest()));
    for endpoint in ["mutate", "validate"] {
        let o = admit(&bad, &policy, &["--endpoint", endpoint]);
        expect_code(&o, 1);
        let (resp, patch) = review_response(&stdout(&o));
        assert!(patch.is_none(), "{endpoint}");
        let message = resp["status"]["message"].as_str().unwrap();
        assert!(message.contains("not verified"), "{endpoint}: {message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_moved_between_two_reviews_gets_the_digest_verified_for_it() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let first = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    signed_image(&reg, "team/side", Some("v1"), &k, &[]).await;
    let r = &reg.addr;
    let dir = tempfile::tempdir().unwrap();
    let policy = team_policy(dir.path(), r, &k.public);
    let file = review_file(dir.path(), "deployment.json", r);
    let app_pin = |o: &Output| {
        let patch = review_response(&stdout(o)).1.unwrap();
        replaced(&patch)
            .into_iter()
            .find(|(p, _)| p.ends_with("/containers/0/image"))
            .unwrap()
            .1
    };
    let o = admit(&file, &policy, &[]);
    expect_code(&o, 0);
    assert_eq!(app_pin(&o), format!("{r}/team/app:v1@{}", first.digest()));

    // The tag moves to an unsigned image: denied, and the first digest is not handed out.
    let second = push_random(&reg.store("team/app"), Some("v1"), "moved").await;
    let o = admit(&file, &policy, &[]);
    expect_code(&o, 1);
    let (resp, patch) = review_response(&stdout(&o));
    assert!(patch.is_none());
    assert!(!stdout(&o).contains(&first.digest().to_string()), "{resp}");

    // Once the new image is signed: its own digest.
    expect_code(
        &sign(&[
            &format!("{r}/team/app@{}", second.digest()),
            "--key",
            &k.private,
        ]),
        0,
    );
    let o = admit(&file, &policy, &[]);
    expect_code(&o, 0);
    assert_eq!(app_pin(&o), format!("{r}/team/app:v1@{}", second.digest()));
}

#[test]
fn a_review_that_is_not_one_is_exit_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let k = keys("ecdsa-p256");
    let policy = team_policy(dir.path(), "127.0.0.1:1", &k.public);
    let mut beta = review_json("pod.json", "127.0.0.1:1");
    beta["apiVersion"] = "admission.k8s.io/v1beta1".into();
    let beta_file = dir.path().join("beta.json");
    std::fs::write(&beta_file, beta.to_string()).unwrap();
    for (file, uid, why) in [
        (
            review_file(dir.path(), "broken.json", "x"),
            "",
            "the body is not JSON",
        ),
        (
            review_file(dir.path(), "null-request.json", "x"),
            "",
            "the review has no request",
        ),
        (
            beta_file,
            "7d3f0c1e-pod",
            "apiVersion is \"admission.k8s.io/v1beta1\"",
        ),
    ] {
        let o = admit(&file, &policy, &[]);
        expect_code(&o, 2);
        let err = stderr(&o);
        let first = err.lines().next().unwrap();
        assert!(
            first.starts_with(&format!(
                "error: not an AdmissionReview hallmark can answer: {why}"
            )),
            "{err}"
        );
        assert_eq!(
            err.lines().filter(|l| l.starts_with("error:")).count(),
            1,
            "{err}"
        );
        let (resp, patch) = review_response(&stdout(&o));
        assert_eq!(resp["allowed"], false);
        assert_eq!(resp["uid"], uid, "the uid is echoed whatever else is wrong");
        assert_eq!(resp["status"]["code"], 400);
        assert!(patch.is_none());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_down_or_too_slow_is_a_denial_that_says_retry() {
    let mut reg = Registry::start();
    let k = keys("ecdsa-p256");
    signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    signed_image(&reg, "team/side", Some("v1"), &k, &[]).await;
    let r = reg.addr.clone();
    let dir = tempfile::tempdir().unwrap();
    let policy = team_policy(dir.path(), &r, &k.public);
    let file = review_file(dir.path(), "statefulset.json", &r);
    reg.kill();
    let o = admit(&file, &policy, &["--retries", "0"]);
    expect_code(&o, 3);
    let (resp, patch) = review_response(&stdout(&o));
    assert_eq!(resp["allowed"], false);
    assert!(patch.is_none());
    assert!(stderr(&o).contains("retry"), "{}", stderr(&o));

    // A registry that accepts connections and never answers: the review's deadline
    // denies, well before the registry's own timeouts.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap().to_string();
    let policy = policy_for(dir.path(), &addr, &k.public);
    let file = review_file(dir.path(), "statefulset.json", &addr);
    let start = std::time::Instant::now();
    let o = admit(&file, &policy, &["--deadline", "2s"]);
    expect_code(&o, 3);
    assert!(start.elapsed() < std::time::Duration::from_secs(20));
    let (resp, patch) = review_response(&stdout(&o));
    assert!(patch.is_none());
    let message = resp["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("not decided within the 2s deadline"),
        "{message}"
    );
    drop(silent);
}

/// [`team_policy`] in a directory of its own.
fn policy_for(dir: &Path, reg: &str, key: &str) -> String {
    let sub = dir.join("silent");
    std::fs::create_dir_all(&sub).unwrap();
    team_policy(&sub, reg, key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_the_policy_allows_unsigned_is_admitted_with_a_warning_and_not_pinned() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    push_random(&reg.store("sandbox/tool"), Some("v1"), "unsigned").await;
    let r = &reg.addr;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        dir.path(),
        &k.public,
        &format!(
            "[[rule]]\nname = \"sandbox\"\nmatch = [\"{r}/sandbox/**\"]\naction = \"allow-unsigned\"\n"
        ),
    );
    let mut v = review_json("pod.json", r);
    v["request"]["object"]["spec"] = serde_json::json!({"containers": [{"name": "tool", "image": format!("{r}/sandbox/tool:v1")}]});
    let file = dir.path().join("sandbox.json");
    std::fs::write(&file, v.to_string()).unwrap();
    for endpoint in ["mutate", "validate"] {
        let o = admit(&file, &policy, &["--endpoint", endpoint]);
        expect_code(&o, 0);
        let (resp, patch) = review_response(&stdout(&o));
        assert_eq!(resp["allowed"], true, "{endpoint}");
        assert!(
            patch.is_none(),
            "{endpoint}: nothing verified, nothing pinned"
        );
        assert!(
            resp["warnings"][0]
                .as_str()
                .unwrap()
                .contains("allowed unsigned by policy rule sandbox"),
            "{endpoint}: {resp}"
        );
    }
}
