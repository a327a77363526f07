//! `hallmark admit` against peers that misbehave, over real TLS on loopback: whoever can
//! reach the webhook's port (any Pod, without a NetworkPolicy) must not keep the apiserver
//! out, grow the log or the metrics page, or crash the server; and every answer to
//! something hostile is a denial.
//!
//! Loopback is a /8: hostile peers connect from 127.0.0.2 and up, the apiserver (the
//! test's own client) from 127.0.0.1, so the server sees them as different Pods.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::*;

/// A TCP connection to `server` from the loopback address `source`.
async fn connect_from(source: Ipv4Addr, server: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(IpAddr::V4(source), 0)).unwrap();
    socket.connect(server).await.unwrap()
}

/// A TLS client trusting the server's CA, offering `alpn`.
fn tls_connector(ca: &std::path::Path, alpn: &[&[u8]]) -> tokio_rustls::TlsConnector {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).unwrap();
    for c in rustls_pki_types_certs(&pem) {
        roots.add(c).unwrap();
    }
    let mut config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

fn rustls_pki_types_certs(pem: &[u8]) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .unwrap()
}

/// A review the apiserver might send, answered without a registry (its image is no
/// reference, so it is denied at once): what a caller waiting for an answer needs.
fn apiserver_review() -> Vec<u8> {
    review(
        "u-apiserver",
        "Pod",
        "web",
        json!([{"name": "app", "image": "not a reference"}]),
    )
}

fn server(dir: &std::path::Path) -> AdmitServer {
    let k = keys("ecdsa-p256");
    let policy = team_policy(dir, "127.0.0.1:1", &k.public);
    AdmitServer::start(&["--policy", &policy])
}

/// Asks for a review as the apiserver would, from 127.0.0.1: its uid comes back in a
/// denial, and how long that took.
async fn apiserver_asks(server: &AdmitServer) -> Duration {
    let client = server.client();
    let started = Instant::now();
    let (status, v) = server
        .post(&client, "/mutate?timeout=10s", &apiserver_review())
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["response"]["uid"], "u-apiserver", "{v}");
    assert_eq!(v["response"]["allowed"], false, "{v}");
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_peer_opening_every_connection_does_not_keep_the_apiserver_out() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let address: SocketAddr = server.address.parse().unwrap();
    // More connections than the server takes at once, none of which starts a handshake:
    // without a share per address they would hold every slot for the handshake timeout.
    let mut held = Vec::new();
    for _ in 0..1100 {
        held.push(connect_from(Ipv4Addr::new(127, 0, 0, 2), address).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let took = apiserver_asks(&server).await;
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    // Each refusal is counted; the log says a few of them a second, and how many it left
    // out, so that it cannot be flooded.
    let page = server.metrics_page().await;
    let counted = sample(
        &page,
        "hallmark_admit_refused_total{reason=\"too-many-connections\"}",
    );
    assert!(counted >= (1100 - 128) as f64, "{counted} refused");
    let lines = server.events("refused");
    assert!(lines.len() < 200, "{} refused lines", lines.len());
    let said: u64 = lines
        .iter()
        .map(|e| 1 + e["suppressed"].as_u64().unwrap_or(0))
        .sum();
    assert!(said as f64 <= counted, "{said} said, {counted} counted");
    drop(held);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_that_say_nothing_after_the_handshake_are_closed_and_free_their_slots() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let address: SocketAddr = server.address.parse().unwrap();
    let h2 = tls_connector(&server.ca, &[b"h2"]);
    let h1 = tls_connector(&server.ca, &[b"http/1.1"]);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    // Every connection the server takes, from eight Pods (each within its share), each
    // through the handshake and then silent; a few HTTP/2 ones send the preface and their
    // SETTINGS, and nothing else.
    let mut held = Vec::new();
    for i in 0..1024u16 {
        let source = Ipv4Addr::new(127, 0, 1, 2 + (i % 8) as u8);
        let tcp = connect_from(source, address).await;
        let connector = if i % 2 == 0 { &h2 } else { &h1 };
        let mut tls = connector.connect(name.clone(), tcp).await.unwrap();
        if i % 64 == 0 {
            tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
                .await
                .unwrap();
        }
        held.push(tls);
    }
    // The apiserver's connection waits for a slot; the silent ones are closed when they
    // have been idle for the handshake timeout (10 s).
    let took = tokio::time::timeout(Duration::from_secs(25), apiserver_asks(&server))
        .await
        .unwrap_or_else(|_| panic!("no answer while silent peers hold every connection"));
    assert!(took >= Duration::from_secs(5), "answered after {took:?}");
    // Each silent connection was closed by the server (end of stream or a GOAWAY, then
    // its end).
    for (i, mut tls) in held.into_iter().enumerate() {
        let mut buf = vec![0; 4096];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match tls.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "connection {i} is still open");
    }
}

/// A review of a Pod named `name`, with `uid`, `kind` and the containers given.
fn review(uid: &str, kind: &str, name: &str, containers: Value) -> Vec<u8> {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": kind},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": name,
            "namespace": "shop",
            "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod", "spec": {"containers": containers}},
        }
    })
    .to_string()
    .into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_reviews_are_denied_with_bounded_answers_log_lines_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let client = server.client();
    let page = || server.metrics_page();
    let labels = |page: &str| -> Vec<String> {
        page.lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| l.rsplit_once(' ').unwrap().0.to_string())
            .collect()
    };
    let before = labels(&page().await);

    // Nested past serde_json's recursion limit: a 400 that denies, not a crash.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let (status, v) = server.post(&client, "/validate", deep.as_bytes()).await;
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["response"]["allowed"], false);

    // Ten thousand containers: denied for their number, none of them looked up.
    let many: Vec<Value> = (0..10_000)
        .map(|i| json!({"name": format!("c{i}"), "image": format!("127.0.0.1:1/team/app:{i}")}))
        .collect();
    let started = Instant::now();
    let (status, v) = server
        .post(
            &client,
            "/mutate",
            &review("u-many", "Pod", "web", json!(many)),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(v["response"]["allowed"], false);
    let message = v["response"]["status"]["message"].as_str().unwrap();
    assert!(message.contains("10000 images"), "{message}");
    assert!(started.elapsed() < Duration::from_secs(3));

    // A megabyte in every field a request names, with line breaks that would forge a log
    // line and a label value that would start a series.
    let forged = "\n{\"event\":\"forged\"}\n";
    let mega = |c: &str| format!("{forged}{}", c.repeat(1024 * 1024));
    let uid = mega("u");
    let body = review(
        &uid,
        "Pod",
        &mega("n"),
        json!([
            {"name": mega("a"), "image": format!("127.0.0.1:1/team/{}:v1", mega("x"))},
            {"name": "b", "image": mega("y")},
        ]),
    );
    for endpoint in ["/mutate", "/validate"] {
        let (status, v) = server.post(&client, endpoint, &body).await;
        assert_eq!(status, 200, "{v}");
        let r = &v["response"];
        // The uid is echoed whole: the apiserver refuses an answer with another one.
        assert_eq!(r["uid"], uid.as_str());
        assert_eq!(r["allowed"], false);
        let message = r["status"]["message"].as_str().unwrap();
        assert!(message.len() < 16 * 1024, "{} bytes", message.len());
        assert!(!message.lines().any(|l| l.starts_with('{')), "{message}");
    }
    // A kind that would close a label value and start a series of its own.
    let body = review(
        "u-kind",
        &format!("Pod\"}} 1\nhallmark_admit_forged{forged}"),
        "web",
        json!([]),
    );
    let (status, v) = server.post(&client, "/validate", &body).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["response"]["allowed"], false, "{v}");
    let log = server.log();
    for line in log.lines() {
        assert!(line.len() < 32 * 1024, "a log line of {} bytes", line.len());
        let v: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}"));
        assert_ne!(v["event"], "forged");
    }
    assert_eq!(server.events("answered").len(), 5, "{log}");
    // The page has the same series as before: nothing a request says becomes a label.
    let after = page().await;
    assert_eq!(labels(&after), before);
    assert!(!after.contains("forged"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_refused_and_the_server_answers_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let client = server.client();
    let h1 = {
        let pem = std::fs::read(&server.ca).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .http1_only()
            .build()
            .unwrap()
    };
    for (which, c) in [("HTTP/2", &client), ("HTTP/1.1", &h1)] {
        // One header of 1 MiB (HTTP/1 reads a head of about 400 KiB, HTTP/2 a header list
        // of 16 KiB), and 200 headers of 100 bytes (HTTP/1 allows 100 headers).
        let big = c
            .post(server.url("/mutate"))
            .header("x-big", "a".repeat(1024 * 1024))
            .body(apiserver_review())
            .send()
            .await;
        assert!(
            big.as_ref().map_or(true, |r| r.status().is_client_error()),
            "{which}: {big:?}"
        );
        let mut many = c.post(server.url("/mutate"));
        for i in 0..200 {
            many = many.header(format!("x-h{i}"), "v".repeat(100));
        }
        let many = many.body(apiserver_review()).send().await;
        if let Ok(r) = &many {
            assert!(r.status().is_client_error(), "{which}: {r:?}");
        }
    }
    let took = apiserver_asks(&server).await;
    assert!(took < Duration::from_secs(3), "answered after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_swapped_for_a_fifo_or_a_device_is_kept_and_handshakes_go_on() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let policy = team_policy(dir.path(), "127.0.0.1:1", &k.public);
    let secret = tempfile::tempdir().unwrap();
    let s = secret.path();
    std::fs::create_dir(s.join("first")).unwrap();
    std::fs::create_dir(s.join("hostile")).unwrap();
    webhook_pki(&s.join("first"), "webhook");
    // The certificate a FIFO nobody writes to, the key a device without end.
    let fifo = std::ffi::CString::new(path_str(&s.join("hostile/webhook.crt"))).unwrap();
    // SAFETY: a NUL-terminated path, a mode.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink("/dev/zero", s.join("hostile/webhook.key")).unwrap();
    swap_link(s, "first");
    let server = AdmitServer::start_with(
        tempfile::tempdir().unwrap(),
        s.join("current/webhook.crt"),
        s.join("current/webhook.key"),
        &["--policy", &policy],
    );
    let ca = std::fs::read(s.join("first/ca.crt")).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    swap_link(s, "hostile");
    let mut kept = Vec::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(8) {
        // A fresh connection each time: every handshake asks for the certificate.
        let client = reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&ca).unwrap()])
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(2))
            .build()
            .unwrap();
        let r = client.get(server.url("/healthz")).send().await;
        assert!(r.is_ok(), "{r:?}\n{}", server.log());
        kept = server.events("certificate-kept");
        if !kept.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(kept.len(), 1, "{}", server.log());
    assert!(
        kept[0]["reason"].as_str().unwrap().contains("webhook.crt"),
        "{}",
        kept[0]
    );
}

/// The most memory the process `pid` has held, in bytes.
fn peak_memory(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .unwrap()
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kib * 1024
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_reviews_at_once_from_one_peer_hold_bounded_memory_and_leave_room() {
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    // A registry that never answers: each review is held for its whole deadline.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let r = silent.local_addr().unwrap().to_string();
    let policy = team_policy(dir.path(), &r, &k.public);
    let server = AdmitServer::start(&["--policy", &policy, "--allow-http"]);
    let before = peak_memory(server.pid());
    // Just under the body limit, and as costly to parse as JSON gets: a value of 32
    // bytes for every two bytes of text.
    let body = String::from_utf8(review(
        "u-big",
        "Pod",
        "web",
        json!([{"name": "app", "image": format!("{r}/team/app:v1"), "args": "JUNK"}]),
    ))
    .unwrap();
    let zeros = ",0".repeat((8 * 1024 * 1024 - body.len() - 64) / 2);
    let body = body
        .replace("\"JUNK\"", &format!("[0{zeros}]"))
        .into_bytes();
    assert!(body.len() < 8 * 1024 * 1024);
    serde_json::from_slice::<Value>(&body).unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pem = std::fs::read(&server.ca).unwrap();
    let hostile = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .http1_only()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let url = server.url("/validate?timeout=4s");
    let attacks: Vec<_> = (0..12)
        .map(|_| {
            let (client, url, body) = (hostile.clone(), url.clone(), body.clone());
            tokio::spawn(async move {
                client
                    .post(url)
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            })
        })
        .collect();
    // While they are held, the apiserver's review is answered.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let took = apiserver_asks(&server).await;
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    let mut statuses = Vec::new();
    for a in attacks {
        statuses.push(a.await.unwrap());
    }
    let peak = peak_memory(server.pid());
    assert!(
        peak - before < 700 * 1024 * 1024,
        "{} MiB more held for {statuses:?}",
        (peak - before) >> 20
    );
    // Those within the peer's share are answered, the others refused at once.
    let answered = statuses.iter().filter(|s| matches!(s, Ok(200))).count();
    assert!(answered >= 1, "{statuses:?}");
    assert!(
        statuses.iter().all(|s| matches!(s, Ok(200 | 503) | Err(_))),
        "{statuses:?}"
    );
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunked_body_over_the_limit_is_refused_while_it_arrives() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path());
    let address: SocketAddr = server.address.parse().unwrap();
    let connector = tls_connector(&server.ca, &[b"http/1.1"]);
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tcp = connect_from(Ipv4Addr::new(127, 0, 0, 2), address).await;
    let mut tls = connector.connect(name, tcp).await.unwrap();
    // No length declared: the limit is only seen as the chunks arrive.
    tls.write_all(
        b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n",
    )
    .await
    .unwrap();
    let chunk = format!("100000\r\n{}\r\n", " ".repeat(0x100000));
    let mut sent = 0;
    for _ in 0..16 {
        if tls.write_all(chunk.as_bytes()).await.is_err() {
            break;
        }
        sent += 1;
    }
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "after {sent} MiB: {answer}"
    );
    let took = apiserver_asks(&server).await;
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
}
