//! `hallmark admit` serving the webhook over real HTTPS on loopback: every fixture answered
//! as `--review` answers it, what is not a review refused with the right status, the
//! metrics page counting what happened, a renewed certificate served without a restart,
//! and SIGTERM draining.

use std::time::Duration;

use serde_json::Value;

use crate::harness::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fixture_over_https_gets_the_answer_review_gives() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let app = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    signed_image(&reg, "team/side", Some("v1"), &k, &[]).await;
    let r = &reg.addr;
    let dir = tempfile::tempdir().unwrap();
    let policy = team_policy(dir.path(), r, &k.public);
    let server = AdmitServer::start(&["--policy", &policy]);
    let client = server.client();
    for name in [
        "pod.json",
        "deployment.json",
        "deployment-update.json",
        "replicaset.json",
        "statefulset.json",
        "daemonset.json",
        "job.json",
        "replicationcontroller.json",
        "cronjob.json",
        "pod-ephemeral.json",
    ] {
        let file = review_file(dir.path(), name, r);
        let body = std::fs::read(&file).unwrap();
        for endpoint in ["mutate", "validate"] {
            // What the apiserver sends: its timeout as a query.
            let (status, served) = server
                .post(&client, &format!("/{endpoint}?timeout=10s"), &body)
                .await;
            assert_eq!(status, 200, "{name} {endpoint}: {served}");
            let offline = hallmark()
                .args(["admit", "--review", &path_str(&file), "--policy", &policy])
                .args(["--endpoint", endpoint])
                .output()
                .unwrap();
            let (want, _) = review_response(&stdout(&offline));
            let (got, patch) = review_response(&served.to_string());
            assert_eq!(
                got, want,
                "{name} {endpoint}: the server and --review differ"
            );
            assert_eq!(got["uid"], json_file(&file)["request"]["uid"]);
            if endpoint == "mutate" {
                let pins = replaced(&patch.unwrap_or_else(|| panic!("{name}: {got}")));
                assert!(!pins.is_empty());
                for (_, image) in pins {
                    assert!(image.contains("@sha256:"), "{name}: {image}");
                }
            } else {
                assert!(patch.is_none(), "validate never patches");
                assert_eq!(got["allowed"], false, "{name}: not pinned: {got}");
            }
        }
    }
    // The apiserver speaks HTTP/2 when offered (Go's client does by default).
    let r2 = client.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(r2.version(), reqwest::Version::HTTP_2);
    assert_eq!(r2.text().await.unwrap(), "ok\n");

    // Each answer is one JSON log line, naming the decision and each image's digest.
    let answered = server.events("answered");
    assert_eq!(answered.len(), 20, "{}", server.log());
    let pod = answered
        .iter()
        .find(|e| e["kind"] == "Pod" && e["endpoint"] == "mutate" && e["decision"] == "patched")
        .unwrap_or_else(|| panic!("{}", server.log()));
    assert_eq!(pod["uid"], "7d3f0c1e-pod");
    assert!(pod["ms"].as_f64().unwrap() > 0.0);
    assert!(pod["time"].as_str().unwrap().ends_with('Z'));
    assert!(
        pod["images"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["digest"] == app.digest().to_string() && i["outcome"] == "pinned"),
        "{pod}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_review_is_refused_and_counted() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let policy = team_policy(dir.path(), "127.0.0.1:1", &k.public);
    let server = AdmitServer::start(&["--policy", &policy, "--metrics-listen", "127.0.0.1:0"]);
    let client = server.client();

    // Not JSON, and a review without a request: 400 with an AdmissionReview that denies,
    // so the apiserver's failurePolicy (Fail) denies too.
    for (name, why) in [
        ("broken.json", "the body is not JSON"),
        ("null-request.json", "the review has no request"),
    ] {
        let body = std::fs::read(review_file(dir.path(), name, "x")).unwrap();
        let (status, v) = server.post(&client, "/mutate", &body).await;
        assert_eq!(status, 400, "{name}");
        assert_eq!(v["response"]["allowed"], false);
        assert!(
            v["response"]["status"]["message"]
                .as_str()
                .unwrap()
                .contains(why),
            "{v}"
        );
    }
    // Too large: refused before it is read, not parsed.
    let huge = vec![b' '; 8 * 1024 * 1024 + 1];
    let (status, _) = server.post(&client, "/validate", &huge).await;
    assert_eq!(status, 413);
    // Not a route, and not a method.
    let (status, _) = server.post(&client, "/mutate/extra", b"{}").await;
    assert_eq!(status, 404);
    let get = client.get(server.url("/mutate")).send().await.unwrap();
    assert_eq!(get.status().as_u16(), 405);
    let post = client.post(server.url("/healthz")).send().await.unwrap();
    assert_eq!(post.status().as_u16(), 405);

    // Plain HTTP to the HTTPS port is no request at all; the log says what it was.
    let plain = reqwest::Client::new()
        .get(format!("http://{}/healthz", server.address))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    // The metrics page, over HTTPS and on the plain-HTTP metrics port, counts all of it.
    let page = server.metrics_page().await;
    let metrics = server.metrics.clone().unwrap();
    let plain_page = reqwest::get(format!("http://{metrics}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for page in [&page, &plain_page] {
        for (series, want) in [
            (
                "hallmark_admit_decisions_total{endpoint=\"mutate\",decision=\"malformed\"}",
                2.0,
            ),
            ("hallmark_admit_refused_total{reason=\"too-large\"}", 1.0),
            ("hallmark_admit_refused_total{reason=\"not-found\"}", 1.0),
            ("hallmark_admit_refused_total{reason=\"method\"}", 2.0),
            (
                "hallmark_admit_refused_total{reason=\"tls-handshake\"}",
                1.0,
            ),
            (
                "hallmark_admit_request_duration_seconds_count{endpoint=\"mutate\"}",
                2.0,
            ),
        ] {
            assert_eq!(sample(page, series), want, "{series}");
        }
    }
    // The metrics port serves nothing else.
    let r = reqwest::Client::new()
        .post(format!("http://{metrics}/mutate"))
        .body(std::fs::read(review_file(dir.path(), "pod.json", "x")).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    assert_eq!(
        reqwest::get(format!("http://{metrics}/healthz"))
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    let refused = server.events("refused");
    assert!(
        refused.iter().any(|e| e["reason"] == "tls-handshake"
            && e["detail"].as_str().unwrap().contains("plain HTTP")),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_cannot_be_reached_is_a_denial_within_the_apiserver_timeout() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    // A registry that accepts connections and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let r = silent.local_addr().unwrap().to_string();
    let policy = team_policy(dir.path(), &r, &k.public);
    let server = AdmitServer::start(&["--policy", &policy, "--allow-http"]);
    let client = server.client();
    let body = std::fs::read(review_file(dir.path(), "pod.json", &r)).unwrap();
    let started = std::time::Instant::now();
    // The apiserver gives up after 3 s: the answer (a denial) comes a second before.
    let (status, v) = server.post(&client, "/mutate?timeout=3s", &body).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    assert_eq!(v["response"]["allowed"], false, "{v}");
    assert!(v["response"].get("patch").is_none());
    let message = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains("not decided within the 2s deadline"),
        "{message}"
    );
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
    let answered = server.events("answered");
    assert_eq!(answered[0]["decision"], "unavailable", "{}", server.log());
    drop(silent);
}

/// A client trusting only the CA in `ca_pem`, opening a new connection for each request:
/// the certificate is chosen at the handshake.
fn fresh_client(ca_pem: &[u8]) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca_pem).unwrap()])
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renewed_certificate_is_served_without_a_restart_and_a_broken_one_is_not() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let policy = team_policy(dir.path(), "127.0.0.1:1", &k.public);
    let secret = tempfile::tempdir().unwrap();
    let s = secret.path();
    for d in ["first", "renewed", "broken"] {
        std::fs::create_dir(s.join(d)).unwrap();
    }
    webhook_pki(&s.join("first"), "webhook");
    webhook_pki(&s.join("renewed"), "webhook");
    let (_, _, wrong_key) = webhook_pki(&s.join("broken"), "other");
    // A half-written renewal: the renewed certificate with a key that is not its own.
    std::fs::copy(s.join("renewed/webhook.crt"), s.join("broken/webhook.crt")).unwrap();
    std::fs::copy(&wrong_key, s.join("broken/webhook.key")).unwrap();
    swap_link(s, "first");
    let server = AdmitServer::start_with(
        tempfile::tempdir().unwrap(),
        s.join("current/webhook.crt"),
        s.join("current/webhook.key"),
        &["--policy", &policy],
    );
    let first_ca = std::fs::read(s.join("first/ca.crt")).unwrap();
    let renewed_ca = std::fs::read(s.join("renewed/ca.crt")).unwrap();
    let healthy = |ca: &[u8]| {
        let client = fresh_client(ca);
        let url = server.url("/healthz");
        async move { client.get(url).send().await.is_ok() }
    };
    assert!(healthy(&first_ca).await);
    assert!(!healthy(&renewed_ca).await);

    // cert-manager renews (from another CA here, so the change is visible to a client).
    swap_link(s, "renewed");
    let mut served = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        if healthy(&renewed_ca).await {
            served = true;
            break;
        }
    }
    assert!(
        served,
        "the renewed certificate was not served:\n{}",
        server.log()
    );
    assert_eq!(
        server.events("certificate-reloaded").len(),
        1,
        "{}",
        server.log()
    );
    assert!(
        !healthy(&first_ca).await,
        "the old certificate is no longer served"
    );

    // The broken pair is refused, said once, and the renewed one is still served.
    swap_link(s, "broken");
    let mut kept = Vec::new();
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(healthy(&renewed_ca).await, "{}", server.log());
        kept = server.events("certificate-kept");
        if !kept.is_empty() {
            break;
        }
    }
    assert_eq!(kept.len(), 1, "{}", server.log());
    assert!(
        kept[0]["reason"]
            .as_str()
            .unwrap()
            .contains("is not the key of the certificate"),
        "{}",
        kept[0]
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(healthy(&renewed_ca).await);
    assert_eq!(
        server.events("certificate-kept").len(),
        1,
        "said once: {}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_being_answered_finish_then_exits_0() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let r = silent.local_addr().unwrap().to_string();
    let policy = team_policy(dir.path(), &r, &k.public);
    let mut server = AdmitServer::start(&["--policy", &policy, "--allow-http", "--deadline", "2s"]);
    let client = server.client();
    let body = std::fs::read(review_file(dir.path(), "job.json", &r)).unwrap();
    // A review that takes its whole deadline (the registry never answers) is in flight
    // when the signal comes: it still gets its answer.
    let pending = {
        let client = client.clone();
        let url = server.url("/validate");
        tokio::spawn(async move {
            let r = client.post(url).body(body).send().await.unwrap();
            let status = r.status().as_u16();
            let body = r.bytes().await.unwrap();
            (status, serde_json::from_slice::<Value>(&body).unwrap())
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = tokio::task::spawn_blocking(move || {
        let s = server.terminate();
        (s, server.log())
    })
    .await
    .unwrap();
    let (code, answer) = pending.await.unwrap();
    assert_eq!(code, 200);
    assert_eq!(answer["response"]["allowed"], false);
    assert!(status.0.success(), "{}", status.1);
    let log = status.1;
    let draining = log
        .find("\"event\":\"draining\"")
        .unwrap_or_else(|| panic!("{log}"));
    let answered = log.find("\"event\":\"answered\"").unwrap();
    let stopped = log.find("\"event\":\"stopped\"").unwrap();
    assert!(draining < answered && answered < stopped, "{log}");
    drop(silent);
}

#[test]
fn serving_needs_a_certificate_that_goes_with_its_key() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let (_, cert, key) = webhook_pki(dir.path(), "webhook");
    let (_, _, other_key) = webhook_pki(dir.path(), "other");
    let policy = team_policy(dir.path(), "127.0.0.1:1", &k.public);
    let run = |extra: &[&str]| {
        hallmark()
            .args(["admit", "--policy", &policy, "--listen", "127.0.0.1:0"])
            .args(extra)
            .output()
            .unwrap()
    };
    let o = run(&[
        "--tls-cert",
        &path_str(&cert),
        "--tls-key",
        &path_str(&other_key),
    ]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("is not the key of the certificate in"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--tls-cert", &path_str(&key), "--tls-key", &path_str(&key)]);
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("holds no PEM certificate"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--tls-cert", &path_str(&cert)]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--tls-key"), "{}", stderr(&o));
    let o = run(&[]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("--tls-cert"), "{}", stderr(&o));
    let o = run(&[
        "--review",
        "x.json",
        "--tls-cert",
        &path_str(&cert),
        "--tls-key",
        &path_str(&key),
    ]);
    expect_code(&o, 2);
    // The port is taken: exit 3, saying so.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let o = hallmark()
        .args(["admit", "--policy", &policy, "--listen", &addr])
        .args(["--tls-cert", &path_str(&cert), "--tls-key", &path_str(&key)])
        .output()
        .unwrap();
    expect_code(&o, 3);
    assert!(
        stderr(&o).contains(&format!("cannot listen on {addr}")),
        "{}",
        stderr(&o)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_no_policy_rule_admits_is_denied_without_a_request_to_its_host() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    // Pods can reach the webhook; an image name must not make it call a host of their
    // choosing. This "registry" counts the connections it is offered.
    let bait = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    bait.set_nonblocking(true).unwrap();
    let host = bait.local_addr().unwrap().to_string();
    let policy = team_policy(dir.path(), "127.0.0.1:1", &k.public);
    let server = AdmitServer::start(&["--policy", &policy, "--allow-http"]);
    let client = server.client();
    let body = std::fs::read(review_file(dir.path(), "pod.json", &host)).unwrap();
    let (status, v) = server.post(&client, "/mutate", &body).await;
    assert_eq!(status, 200);
    assert_eq!(v["response"]["allowed"], false, "{v}");
    let message = v["response"]["status"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "{host}/team/app:v1: not verified: no rule of {policy} matches {host}/team/app; denied by default"
        )),
        "{message}"
    );
    let offline = hallmark()
        .args([
            "admit",
            "--review",
            &path_str(&review_file(dir.path(), "pod.json", &host)),
        ])
        .args(["--policy", &policy, "--allow-http"])
        .output()
        .unwrap();
    expect_code(&offline, 1);
    assert!(
        matches!(bait.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the webhook connected to a host no rule names"
    );
}
