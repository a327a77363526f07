//! `hallmark admit` over real HTTPS while tags move in a real registry. The digest patched
//! in is always one verified for the image's own repository and for what its tag named
//! when the request was answered: after a move the next request gets the new digest (or a
//! denial when it is unsigned), never the digest verified before; requests answered at
//! once never get another repository's digest, nor another request's uid.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64ct::{Base64, Encoding};
use hallmark::image::Image;
use serde_json::{Value, json};

use crate::harness::*;

/// A CA and a certificate it issued for 127.0.0.1, as a cluster's webhook has: the client
/// trusts the CA only.
fn server_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-days",
            "1",
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-subj",
            "/CN=admit-test-ca",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-keyout",
            "tls.key",
            "-out",
            "tls.csr",
            "-subj",
            "/CN=admit",
        ],
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "tls.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
            "-sha256",
            "-extfile",
            "ext.cnf",
            "-out",
            "tls.crt",
        ],
    );
    (dir.join("ca.crt"), dir.join("tls.crt"), dir.join("tls.key"))
}

/// `hallmark admit` serving HTTPS on a free loopback port; stopped when dropped.
struct Admit {
    child: Child,
    url: String,
    http: reqwest::Client,
    log: Arc<Mutex<Vec<String>>>,
    _dir: tempfile::TempDir,
}

impl Admit {
    fn start(key: &str) -> Admit {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, tls_key) = server_certificate(dir.path());
        let mut child = hallmark()
            .args(["admit", "--key", key, "--tls-cert"])
            .arg(&cert)
            .arg("--tls-key")
            .arg(&tls_key)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run hallmark admit");
        // The first line says where it listens; the rest (a line per admission) is kept
        // for failure messages, and read so that the server never blocks on a full pipe.
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let first = lines.next().and_then(Result::ok).unwrap_or_default();
        let address = serde_json::from_str::<Value>(&first)
            .ok()
            .filter(|v| v["event"] == "listening")
            .and_then(|v| v["address"].as_str().map(str::to_string))
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("hallmark admit did not say where it listens: {first}")
            });
        let log = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                kept.lock().unwrap().push(line);
            }
        });
        let ca = reqwest::Certificate::from_pem(&std::fs::read(ca).unwrap()).unwrap();
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Admit {
            child,
            url: format!("https://{address}"),
            http,
            log,
            _dir: dir,
        }
    }

    /// The AdmissionReview response to `review` at `/mutate`, as the apiserver asks it.
    async fn mutate(&self, review: &Value) -> Value {
        let r = self
            .http
            .post(format!("{}/mutate?timeout=10s", self.url))
            .header("content-type", "application/json")
            .body(review.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST /mutate: {e}\n{}", self.log()));
        assert_eq!(r.status(), 200, "{}", self.log());
        let v: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
        assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(v["kind"], "AdmissionReview");
        v["response"].clone()
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Admit {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A review of creating a Pod running `images`, under `uid`.
fn pod_review(uid: &str, images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": "races", "name": uid, "operation": "CREATE",
            "userInfo": {"username": "test"},
            "object": {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": uid, "namespace": "races"},
                "spec": {"containers": containers}
            },
            "oldObject": null, "dryRun": false
        }
    })
}

/// The (pointer, new value) of each replace in a response's patch.
fn pinned(response: &Value) -> Vec<(String, String)> {
    let Some(patch) = response.get("patch") else {
        return Vec::new();
    };
    assert_eq!(response["patchType"], "JSONPatch");
    let bytes = Base64::decode_vec(patch.as_str().unwrap()).unwrap();
    let ops: Vec<Value> = serde_json::from_slice(&bytes).unwrap();
    ops.iter()
        .filter(|op| op["op"] == "replace")
        .map(|op| {
            (
                op["path"].as_str().unwrap().to_string(),
                op["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// Moves `tag` of `repo` to `image` (already pushed).
async fn move_tag(reg: &Registry, repo: &str, tag: &str, image: &Image) {
    reg.store(repo)
        .put_manifest(&image.manifest, Some(tag))
        .await
        .unwrap();
}

/// Kyverno GHSA-2r43-6962-xcw5: a tag moved between two requests. The second request gets
/// the digest verified for the tag now, or a denial when that digest is unsigned; never the
/// digest the first request verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_moved_between_two_requests_pins_what_it_names_now() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let r = &reg.addr;
    let image = format!("{r}/team/app:v1");
    let admit = Admit::start(&k.public);

    let d1 = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let first = admit.mutate(&pod_review("first", &[&image])).await;
    assert_eq!(first["uid"], "first");
    assert_eq!(first["allowed"], true, "{first}");
    let want = vec![(
        "/spec/containers/0/image".to_string(),
        format!("{image}@{}", d1.digest()),
    )];
    assert_eq!(pinned(&first), want);

    // Moved to another signed digest: that one is pinned, though D1 is warm in the cache.
    let d2 = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let second = admit.mutate(&pod_review("second", &[&image])).await;
    assert_eq!(second["allowed"], true, "{second}");
    assert_eq!(
        pinned(&second),
        vec![(
            "/spec/containers/0/image".to_string(),
            format!("{image}@{}", d2.digest())
        )]
    );

    // Moved to an unsigned digest: denied, saying why; D1 and D2 are both still warm.
    let d3 = push_random(&reg.store("team/app"), Some("v1"), "unsigned").await;
    let third = admit.mutate(&pod_review("third", &[&image])).await;
    assert_eq!(third["uid"], "third");
    assert_eq!(third["allowed"], false, "{third}");
    assert!(third.get("patch").is_none(), "{third}");
    let message = third["status"]["message"].as_str().unwrap();
    assert!(message.contains("not verified"), "{message}");
    assert!(!message.contains(&d1.digest().to_string()), "{message}");

    // And back to D1: pinned to D1 again, as the tag names it now.
    move_tag(&reg, "team/app", "v1", &d1).await;
    let fourth = admit.mutate(&pod_review("fourth", &[&image])).await;
    assert_eq!(pinned(&fourth), want, "{fourth}");
    let _ = d3;
}

/// What one repository holds for the race: signed digests, and one unsigned.
struct Repo {
    name: &'static str,
    signed: Vec<Image>,
    unsigned: Image,
}

/// Connaisseur #583 and Kyverno's tag cache at once: 40 requests, each for one or both of
/// two repositories under the same tag, while both tags keep moving between signed and
/// unsigned digests. Every allowed patch pins each image to a digest signed in that
/// image's own repository; every response carries its own request's uid; an unsigned
/// digest is never allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forty_requests_while_tags_flip_get_only_their_own_repositorys_signed_digests() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let r = reg.addr.clone();
    let mut repos = Vec::new();
    for name in ["team/app", "team/side"] {
        let mut signed = Vec::new();
        for _ in 0..2 {
            signed.push(signed_image(&reg, name, None, &k, &[]).await);
        }
        let unsigned = push_random(&reg.store(name), None, "unsigned").await;
        move_tag(&reg, name, "v1", &signed[0]).await;
        repos.push(Repo {
            name,
            signed,
            unsigned,
        });
    }
    let admit = Arc::new(Admit::start(&k.public));
    let image = |repo: &Repo| format!("{r}/{}:v1", repo.name);

    // Both tags cycle signed, unsigned, signed as fast as the registry takes it, for as long
    // as the requests run, on a thread of their own so that the requests never hold them up.
    let stop = Arc::new(AtomicBool::new(false));
    let moves = Arc::new(AtomicUsize::new(0));
    let flipper = {
        let (stop, moves) = (Arc::clone(&stop), Arc::clone(&moves));
        let cycles: Vec<_> = repos
            .iter()
            .map(|repo| {
                let mut cycle = repo.signed.clone();
                cycle.insert(1, repo.unsigned.clone());
                (reg.store(repo.name), cycle)
            })
            .collect();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) {
                    n += 1;
                    for (store, cycle) in &cycles {
                        let next = &cycle[n % cycle.len()];
                        store
                            .put_manifest(&next.manifest, Some("v1"))
                            .await
                            .unwrap();
                    }
                    moves.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
        })
    };

    // 40 requests in flight together, four started after each move of the tags, so that
    // the tags move between and during them however fast or slow the machine is.
    let first = moves.load(Ordering::SeqCst);
    let requests: Vec<_> = (0..40)
        .map(|i| {
            let (admit, moves) = (Arc::clone(&admit), Arc::clone(&moves));
            // A third of the Pods run both images; the rest one, alternating.
            let images: Vec<String> = match i % 3 {
                0 => vec![image(&repos[0]), image(&repos[1])],
                1 => vec![image(&repos[0])],
                _ => vec![image(&repos[1])],
            };
            let uid = format!("uid-{i:02}");
            tokio::spawn(async move {
                while moves.load(Ordering::SeqCst) < first + 1 + i / 4 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                let refs: Vec<&str> = images.iter().map(String::as_str).collect();
                let response = admit.mutate(&pod_review(&uid, &refs)).await;
                (uid, images, response)
            })
        })
        .collect();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }
    let moved = moves.load(Ordering::SeqCst) - first;
    stop.store(true, Ordering::SeqCst);
    flipper.join().unwrap();

    let signed_in = |name: &str| -> HashSet<String> {
        repos
            .iter()
            .find(|repo| name.ends_with(&format!("{}:v1", repo.name)))
            .unwrap()
            .signed
            .iter()
            .map(|s| s.digest().to_string())
            .collect()
    };
    let (mut allowed, mut denied) = (0, 0);
    for (uid, images, response) in &answers {
        assert_eq!(&response["uid"], uid, "{response}");
        if response["allowed"] != true {
            assert!(response.get("patch").is_none(), "{response}");
            denied += 1;
            continue;
        }
        allowed += 1;
        let patch = pinned(response);
        assert_eq!(patch.len(), images.len(), "{uid}: {response}");
        for (i, written) in images.iter().enumerate() {
            let (pointer, value) = &patch[i];
            assert_eq!(pointer, &format!("/spec/containers/{i}/image"));
            let digest = value
                .strip_prefix(&format!("{written}@"))
                .unwrap_or_else(|| panic!("{uid}: {written} pinned as {value}"));
            assert!(
                signed_in(written).contains(digest),
                "{uid}: {written} pinned to {digest}, not signed in its repository\n{}",
                admit.log()
            );
        }
    }
    // Both outcomes happened: some requests met a signed digest, some the unsigned one.
    assert!(
        allowed > 0 && denied > 0,
        "{allowed} allowed, {denied} denied, the tags moved {moved} times:\n{}",
        admit.log()
    );
}
