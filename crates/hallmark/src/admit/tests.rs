//! `answer` with a fake [`Check`]: every kind, every place an image can be, and the
//! rules about which digest may be patched in.

use std::collections::HashMap;

use base64ct::{Base64, Encoding};
use serde_json::{Value, json};

use super::*;
use crate::digest::Digest;
use crate::report::{Finding, Rejection, Report};

fn digest(seed: &str) -> Digest {
    Digest::sha256(seed.as_bytes())
}

/// The verification `report` stands for.
fn verified(report: Report) -> Arc<Verification> {
    Arc::new(Verification::from_report(report))
}

/// A verification of `repo@digest` that said yes.
fn yes(repo: &str, d: &Digest) -> Arc<Verification> {
    verified(Report::new(format!("{repo}@{d}"), d.clone(), None).judged_for_tests(true))
}

/// A verification of `repo@digest` that said no.
fn no(repo: &str, d: &Digest) -> Arc<Verification> {
    verified(Report::new(format!("{repo}@{d}"), d.clone(), None).judged_for_tests(false))
}

/// What the fake registry holds: each image as written → its answer.
#[derive(Default)]
struct Fake {
    answers: HashMap<String, Result<Arc<Verification>, Failure>>,
    slow: bool,
}

impl Fake {
    fn with(mut self, image: &str, answer: Result<Arc<Verification>, Failure>) -> Self {
        self.answers.insert(image.to_string(), answer);
        self
    }
}

impl Check for Fake {
    async fn check(
        &self,
        image: &str,
        _deadline: tokio::time::Instant,
    ) -> Result<Arc<Verification>, Failure> {
        if self.slow {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        self.answers.get(image).cloned().unwrap_or_else(|| {
            Err(Failure {
                message: format!("fake: {image} unknown"),
                class: ErrorClass::Unavailable,
            })
        })
    }
}

const APP: &str = "reg.test/team/app";
const SIDE: &str = "reg.test/team/side";

/// app:1 and side:2 signed, bad:3 not, down:4 in a registry that does not answer.
fn registry() -> Fake {
    Fake::default()
        .with("reg.test/team/app:1", Ok(yes(APP, &digest("app"))))
        .with(
            &format!("reg.test/team/app:1@{}", digest("app")),
            Ok(yes(APP, &digest("app"))),
        )
        .with(
            &format!("reg.test/team/app@{}", digest("old")),
            Ok(no(APP, &digest("old"))),
        )
        .with("reg.test/team/side:2", Ok(yes(SIDE, &digest("side"))))
        .with(
            "reg.test/team/bad:3",
            Ok(no("reg.test/team/bad", &digest("bad"))),
        )
        .with(
            "reg.test/team/down:4",
            Err(Failure {
                message: "could not be verified: registry reg.test unreachable".into(),
                class: ErrorClass::Unavailable,
            }),
        )
}

fn review(kind: (&str, &str, &str), sub: Option<&str>, op: &str, object: Value) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "uid-42", "kind": {"group": kind.0, "version": "v1", "kind": kind.1},
            "resource": {"group": kind.0, "version": "v1", "resource": kind.2},
            "subResource": sub, "namespace": "ns", "name": "x", "operation": op,
            "object": object, "oldObject": null, "dryRun": false
        }
    })
    .to_string()
    .into_bytes()
}

fn pod_spec(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, im)| json!({"name": format!("c{i}"), "image": im}))
        .collect();
    json!({"containers": containers})
}

/// The response, and its patch decoded.
fn parts(a: &Answer) -> (Value, Option<Value>) {
    let v: Value = serde_json::from_slice(&a.body).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    let r = v["response"].clone();
    let patch = r.get("patch").map(|p| {
        assert_eq!(r["patchType"], "JSONPatch");
        serde_json::from_slice(&Base64::decode_vec(p.as_str().unwrap()).unwrap()).unwrap()
    });
    (r, patch)
}

/// A Pod `op` of `spec`.
fn pod(op: &str, spec: Value) -> Vec<u8> {
    review(("", "Pod", "pods"), None, op, json!({"spec": spec}))
}

/// A Pod created with one container running app:1.
fn app_pod() -> Vec<u8> {
    pod("CREATE", pod_spec(&["reg.test/team/app:1"]))
}

/// The response's status message.
fn status_message(r: &Value) -> &str {
    r["status"]["message"].as_str().unwrap()
}

async fn ask(fake: &Fake, endpoint: Endpoint, body: &[u8]) -> Answer {
    answer(body, endpoint, fake, &AdmitOptions::default()).await
}

async fn mutate(fake: &Fake, body: &[u8]) -> Answer {
    ask(fake, Endpoint::Mutate, body).await
}

#[tokio::test]
async fn every_workload_kind_is_pinned_where_its_pod_template_is() {
    let app = || pod_spec(&["reg.test/team/app:1"]);
    let mut cases = vec![(("", "Pod", "pods"), json!({"spec": app()}), "/spec")];
    // The controllers that hold a Pod template at spec.template.
    cases.extend(
        [
            ("apps", "Deployment", "deployments"),
            ("apps", "ReplicaSet", "replicasets"),
            ("apps", "StatefulSet", "statefulsets"),
            ("apps", "DaemonSet", "daemonsets"),
            ("batch", "Job", "jobs"),
            ("", "ReplicationController", "replicationcontrollers"),
        ]
        .map(|kind| {
            (
                kind,
                json!({"spec": {"template": {"spec": app()}}}),
                "/spec/template/spec",
            )
        }),
    );
    cases.extend([
        (
            ("batch", "CronJob", "cronjobs"),
            json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": app()}}}}}),
            "/spec/jobTemplate/spec/template/spec",
        ),
        (
            ("", "PodTemplate", "podtemplates"),
            json!({"template": {"spec": app()}}),
            "/template/spec",
        ),
    ]);
    let fake = registry();
    for op in ["CREATE", "UPDATE"] {
        for (kind, object, root) in &cases {
            let a = mutate(&fake, &review(*kind, None, op, object.clone())).await;
            let (r, patch) = parts(&a);
            assert_eq!(a.status, 200);
            assert_eq!(r["uid"], "uid-42", "{kind:?}");
            assert_eq!(r["allowed"], true, "{kind:?}: {r}");
            assert_eq!(a.record.decision, Decision::Patched);
            let path = format!("{root}/containers/0/image");
            assert_eq!(
                patch.unwrap(),
                json!([
                    {"op": "test", "path": path, "value": "reg.test/team/app:1"},
                    {"op": "replace", "path": path, "value": format!("reg.test/team/app:1@{}", digest("app"))},
                ]),
                "{kind:?}"
            );
        }
    }
}

#[tokio::test]
async fn init_ephemeral_and_volume_images_of_a_pod_are_pinned_each_with_its_own_digest() {
    let spec = json!({
        "initContainers": [{"name": "init", "image": "reg.test/team/side:2"}],
        "containers": [{"name": "a", "image": "reg.test/team/app:1"}, {"name": "b", "image": "reg.test/team/side:2"}],
        "ephemeralContainers": [{"name": "dbg", "image": "reg.test/team/side:2"}],
        "volumes": [{"name": "cfg", "configMap": {"name": "c"}}, {"name": "data", "image": {"reference": "reg.test/team/app:1"}}],
    });
    let a = mutate(&registry(), &pod("CREATE", spec)).await;
    let (_, patch) = parts(&a);
    let replaced: Vec<(String, String)> = patch
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .filter(|op| op["op"] == "replace")
        .map(|op| {
            (
                op["path"].as_str().unwrap().into(),
                op["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    let app = format!("reg.test/team/app:1@{}", digest("app"));
    let side = format!("reg.test/team/side:2@{}", digest("side"));
    assert_eq!(
        replaced,
        [
            ("/spec/initContainers/0/image".into(), side.clone()),
            ("/spec/containers/0/image".into(), app.clone()),
            ("/spec/containers/1/image".into(), side.clone()),
            ("/spec/ephemeralContainers/0/image".into(), side),
            ("/spec/volumes/1/image/reference".into(), app),
        ]
    );

    // `kubectl debug`: only the ephemeral containers are looked at (the rest were
    // admitted when the Pod was created), and only they are patched.
    let spec = json!({
        "containers": [{"name": "a", "image": "reg.test/team/bad:3"}],
        "ephemeralContainers": [{"name": "dbg", "image": "reg.test/team/side:2"}],
    });
    let a = mutate(
        &registry(),
        &review(
            ("", "Pod", "pods"),
            Some("ephemeralcontainers"),
            "UPDATE",
            json!({"spec": spec}),
        ),
    )
    .await;
    let (r, patch) = parts(&a);
    assert_eq!(r["allowed"], true, "{r}");
    let patch = patch.unwrap();
    assert_eq!(patch.as_array().unwrap().len(), 2);
    assert_eq!(patch[1]["path"], "/spec/ephemeralContainers/0/image");
}

#[tokio::test]
async fn a_template_never_yields_ephemeral_containers() {
    let spec = json!({"containers": [], "ephemeralContainers": [{"name": "dbg", "image": "reg.test/team/bad:3"}]});
    let a = mutate(
        &registry(),
        &review(
            ("apps", "Deployment", "deployments"),
            None,
            "CREATE",
            json!({"spec": {"template": {"spec": spec}}}),
        ),
    )
    .await;
    assert_eq!(a.record.decision, Decision::Allowed);
    assert!(a.record.images.is_empty());
}

#[tokio::test]
async fn a_broken_body_or_a_null_request_is_a_400_that_echoes_the_uid() {
    let fake = registry();
    let a = mutate(&fake, b"\x00not json").await;
    assert_eq!(a.status, 400);
    let (r, patch) = parts(&a);
    assert!(patch.is_none());
    assert_eq!(r["allowed"], false);
    assert_eq!(r["uid"], "");
    assert_eq!(a.record.decision, Decision::Malformed);
    let a = mutate(
        &fake,
        br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}"#,
    )
    .await;
    assert_eq!(a.status, 400);
    assert_eq!(
        parts(&a).0["status"]["message"],
        "hallmark: the review has no request"
    );
    let a = mutate(&fake, br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"abc"}}"#).await;
    assert_eq!(a.status, 400);
    let (r, _) = parts(&a);
    assert_eq!(r["uid"], "abc");
    assert!(!status_message(&r).contains('\n'));
    // CREATE without an object is a denial, not an allow.
    let a = mutate(
        &fake,
        &review(("", "Pod", "pods"), None, "CREATE", Value::Null),
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(parts(&a).0["allowed"], false);
}

#[tokio::test]
async fn unsigned_and_unavailable_images_are_denied_with_one_line_each() {
    let spec = pod_spec(&[
        "reg.test/team/app:1",
        "reg.test/team/bad:3",
        "reg.test/team/down:4",
    ]);
    let a = mutate(&registry(), &pod("CREATE", spec)).await;
    let (r, patch) = parts(&a);
    assert!(patch.is_none(), "a denial never patches");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    let message = status_message(&r);
    let lines: Vec<&str> = message.lines().collect();
    assert_eq!(lines.len(), 3, "{message}");
    assert!(
        lines[1].starts_with("- spec.containers[1] (c1) reg.test/team/bad:3: not verified: "),
        "{message}"
    );
    assert!(
        lines[2].contains("spec.containers[2] (c2) reg.test/team/down:4: could not be verified"),
        "{message}"
    );
    // A "no" outweighs an outage: retrying will not help.
    assert_eq!(a.record.decision, Decision::Denied);

    let spec = pod_spec(&["reg.test/team/app:1", "reg.test/team/down:4"]);
    let a = mutate(&registry(), &pod("CREATE", spec)).await;
    assert_eq!(a.record.decision, Decision::Unavailable);
}

#[tokio::test]
async fn a_denial_is_bounded_and_cannot_forge_lines() {
    let images: Vec<String> = (0..20).map(|i| format!("reg.test/team/x{i}:1")).collect();
    let mut spec = pod_spec(&images.iter().map(String::as_str).collect::<Vec<_>>());
    spec["containers"][0]["name"] = json!("evil\n- everything is fine");
    let a = mutate(&Fake::default(), &pod("CREATE", spec)).await;
    let message = status_message(&parts(&a).0).to_string();
    assert_eq!(message.lines().count(), 1 + MAX_LINES + 1, "{message}");
    assert!(message.ends_with("- … and 12 more"), "{message}");
    assert!(message.contains("(evil?- everything is fine)"), "{message}");

    // A long reason is cut, the advice after it is not.
    let d = digest("long");
    let mut report = Report::new(format!("reg.test/long@{d}"), d, None);
    for _ in 0..50 {
        report.find(Finding::artifact(Rejection::NoTrustedKey));
    }
    let fake = Fake::default().with("reg.test/long:1", Ok(verified(report)));
    let a = mutate(&fake, &pod("CREATE", pod_spec(&["reg.test/long:1"]))).await;
    let message = status_message(&parts(&a).0).to_string();
    let line = message.lines().nth(1).unwrap();
    assert!(line.chars().count() < MAX_LINE, "{line}");
    assert!(
        line.ends_with("…; sign its digest (hallmark sign) or fix the policy"),
        "{line}"
    );
}

#[tokio::test]
async fn pinned_images_are_never_rewritten() {
    let fake = registry();
    let good = format!("reg.test/team/app:1@{}", digest("app"));
    let a = mutate(&fake, &pod("CREATE", pod_spec(&[&good]))).await;
    let (r, patch) = parts(&a);
    assert_eq!(r["allowed"], true);
    assert!(
        patch.is_none(),
        "already pinned to the verified digest: untouched"
    );
    assert_eq!(a.record.decision, Decision::Allowed);

    let old = format!("reg.test/team/app@{}", digest("old"));
    for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
        let a = ask(&fake, endpoint, &pod("CREATE", pod_spec(&[&old]))).await;
        let (r, patch) = parts(&a);
        assert_eq!(r["allowed"], false, "{endpoint:?}");
        assert!(
            patch.is_none(),
            "pinned to an unverified digest: denied, never rewritten"
        );
    }
}

#[tokio::test]
async fn a_verification_of_another_repository_is_never_patched_in() {
    // A check that answers with another image's verification (a cache mixing up keys,
    // a race between requests): the image is denied, not pinned to that digest.
    let fake = Fake::default().with("reg.test/team/app:1", Ok(yes(SIDE, &digest("side"))));
    let a = mutate(&fake, &app_pod()).await;
    let (r, patch) = parts(&a);
    assert!(patch.is_none());
    assert_eq!(r["allowed"], false);
    assert!(status_message(&r).contains("another repository"), "{r}");
    // Nor is a digest-pinned image accepted on another repository's verification.
    let pinned = format!("reg.test/team/app@{}", digest("side"));
    let fake = Fake::default().with(&pinned, Ok(yes(SIDE, &digest("side"))));
    let a = mutate(&fake, &pod("CREATE", pod_spec(&[&pinned]))).await;
    assert_eq!(parts(&a).0["allowed"], false);
}

#[tokio::test]
async fn validate_never_patches_and_denies_what_is_not_pinned() {
    let fake = registry();
    let tagged = app_pod();
    let a = ask(&fake, Endpoint::Validate, &tagged).await;
    let (r, patch) = parts(&a);
    assert!(patch.is_none() && r.get("patchType").is_none());
    assert_eq!(r["allowed"], false);
    let message = status_message(&r);
    assert!(
        message.contains(&format!(
            "not pinned to a digest; it verifies as reg.test/team/app:1@{}",
            digest("app")
        )),
        "{message}"
    );
    let pinned = format!("reg.test/team/app:1@{}", digest("app"));
    let a = ask(
        &fake,
        Endpoint::Validate,
        &pod("UPDATE", pod_spec(&[&pinned])),
    )
    .await;
    assert_eq!(parts(&a).0["allowed"], true);
    // A container without an image has nothing verified.
    let a = ask(
        &fake,
        Endpoint::Validate,
        &pod("CREATE", json!({"containers": [{"name": "a"}]})),
    )
    .await;
    assert!(status_message(&parts(&a).0).contains("has no image"));
}

#[tokio::test]
async fn pods_only_leaves_controllers_as_written_but_still_checks_them() {
    let fake = registry();
    let options = AdmitOptions {
        pods_only: true,
        ..AdmitOptions::default()
    };
    let deployment = |image: &str| {
        review(
            ("apps", "Deployment", "deployments"),
            None,
            "CREATE",
            json!({"spec": {"template": {"spec": pod_spec(&[image])}}}),
        )
    };
    for endpoint in [Endpoint::Mutate, Endpoint::Validate] {
        let a = answer(
            &deployment("reg.test/team/app:1"),
            endpoint,
            &fake,
            &options,
        )
        .await;
        let (r, patch) = parts(&a);
        assert_eq!(r["allowed"], true, "{endpoint:?}: {r}");
        assert!(patch.is_none());
        assert_eq!(a.record.images[0].outcome, "checked");
        let a = answer(
            &deployment("reg.test/team/bad:3"),
            endpoint,
            &fake,
            &options,
        )
        .await;
        assert_eq!(parts(&a).0["allowed"], false, "{endpoint:?}");
    }
    // Pods are pinned still.
    let a = answer(&app_pod(), Endpoint::Mutate, &fake, &options).await;
    assert_eq!(a.record.decision, Decision::Patched);
}

#[tokio::test]
async fn a_review_not_decided_in_time_is_denied_naming_the_deadline() {
    let fake = Fake {
        slow: true,
        ..registry()
    };
    let options = AdmitOptions {
        deadline: Duration::from_millis(50),
        ..AdmitOptions::default()
    };
    let a = answer(&app_pod(), Endpoint::Mutate, &fake, &options).await;
    let (r, patch) = parts(&a);
    assert!(patch.is_none());
    assert_eq!(r["allowed"], false);
    assert!(
        status_message(&r).contains("not decided within the 50ms deadline"),
        "{r}"
    );
    assert_eq!(a.record.decision, Decision::Unavailable);
}

#[tokio::test]
async fn an_image_a_policy_allows_unsigned_is_admitted_with_a_warning_and_not_pinned() {
    let d = digest("free");
    let mut report = Report::new(format!("reg.test/free@{d}"), d, None);
    report.allow_unsigned("open".into());
    let fake = Fake::default().with("reg.test/free:1", Ok(verified(report)));
    let a = mutate(&fake, &pod("CREATE", pod_spec(&["reg.test/free:1"]))).await;
    let (r, patch) = parts(&a);
    assert_eq!(r["allowed"], true);
    assert!(patch.is_none());
    assert!(
        r["warnings"][0]
            .as_str()
            .unwrap()
            .contains("allowed unsigned by policy rule open"),
        "{r}"
    );
}

#[tokio::test]
async fn many_containers_with_one_image_check_it_once_and_delete_is_allowed() {
    let spec = pod_spec(&["reg.test/team/app:1"; 5]);
    let a = mutate(&registry(), &pod("CREATE", spec)).await;
    assert_eq!(parts(&a).1.unwrap().as_array().unwrap().len(), 10);
    let a = mutate(
        &registry(),
        &review(("", "Pod", "pods"), None, "DELETE", Value::Null),
    )
    .await;
    assert_eq!(a.record.decision, Decision::Allowed);
    let too_many = pod_spec(&["reg.test/team/app:1"; 300]);
    let a = mutate(&registry(), &pod("CREATE", too_many)).await;
    assert!(status_message(&parts(&a).0).contains("300 images"));
}
