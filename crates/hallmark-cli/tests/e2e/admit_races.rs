//! `hallmark admit` over real HTTPS while tags move in a real registry. The digest patched
//! in is always one verified for the image's own repository and for what its tag named
//! when the request was answered: after a move the next request gets the new digest (or a
//! denial when it is unsigned), never the digest verified before; requests answered at
//! once never get another repository's digest, nor another request's uid.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use hallmark::image::Image;
use serde_json::{Value, json};

use crate::harness::*;

/// `/mutate`'s answer to `review`, as the apiserver asks it: the response, and the
/// (pointer, new value) of each replace in its patch.
async fn mutate(
    admit: &AdmitServer,
    http: &reqwest::Client,
    review: &Value,
) -> (Value, Vec<(String, String)>) {
    let (status, body) = admit
        .post(http, "/mutate?timeout=10s", review.to_string().as_bytes())
        .await;
    assert_eq!(status, 200, "{body}\n{}", admit.log());
    let (response, patch) = review_response(&body.to_string());
    let pinned = patch.as_deref().map(replaced).unwrap_or_default();
    (response, pinned)
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
    let admit = AdmitServer::start(&["--key", &k.public]);
    let http = admit.client();
    let pinned_to = |d: &Image| {
        vec![(
            "/spec/containers/0/image".to_string(),
            format!("{image}@{}", d.digest()),
        )]
    };

    let d1 = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let (first, pinned) = mutate(&admit, &http, &pod_review("first", &[&image])).await;
    assert_eq!(first["uid"], "first");
    assert_eq!(first["allowed"], true, "{first}");
    assert_eq!(pinned, pinned_to(&d1));

    // Moved to another signed digest: that one is pinned, though D1 is warm in the cache.
    let d2 = signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    let (second, pinned) = mutate(&admit, &http, &pod_review("second", &[&image])).await;
    assert_eq!(second["allowed"], true, "{second}");
    assert_eq!(pinned, pinned_to(&d2));

    // Moved to an unsigned digest: denied, saying why; D1 and D2 are both still warm.
    push_random(&reg.store("team/app"), Some("v1"), "unsigned").await;
    let (third, pinned) = mutate(&admit, &http, &pod_review("third", &[&image])).await;
    assert_eq!(third["uid"], "third");
    assert_eq!(third["allowed"], false, "{third}");
    assert!(pinned.is_empty(), "{third}");
    let message = third["status"]["message"].as_str().unwrap();
    assert!(message.contains("not verified"), "{message}");
    assert!(!message.contains(&d1.digest().to_string()), "{message}");

    // And back to D1: pinned to D1 again, as the tag names it now.
    move_tag(&reg, "team/app", "v1", &d1).await;
    let (fourth, pinned) = mutate(&admit, &http, &pod_review("fourth", &[&image])).await;
    assert_eq!(pinned, pinned_to(&d1), "{fourth}");
}

/// A rollback under a policy rule that binds tags: the tag moved back to an image signed for
/// another tag. `app:v1.1` is then denied, and so is `app:v1.1@NEW`, verified a moment ago
/// for v1.1 and still in the cache: under tag binding the tag is part of the decision, so a
/// pinned image is answered from the cache only while its tag names its digest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_tag_binding_a_rollback_is_denied_though_the_new_digest_is_cached() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let r = &reg.addr;
    let dir = tempfile::tempdir().unwrap();
    let policy = policy_file(
        dir.path(),
        &k.public,
        &format!(
            "[[rule]]\nname = \"team\"\nmatch = [\"{r}/team/**\"]\nkeys = [\"release.pub\"]\nrequire-tag-binding = true\n"
        ),
    );
    let old = signed_image(&reg, "team/app", Some("v1.0"), &k, &["--bind-tag", "v1.0"]).await;
    let new = signed_image(&reg, "team/app", Some("v1.1"), &k, &["--bind-tag", "v1.1"]).await;
    let admit = AdmitServer::start(&["--policy", &policy]);
    let http = admit.client();
    let tagged = format!("{r}/team/app:v1.1");
    let pinned_new = format!("{tagged}@{}", new.digest());

    let (first, pinned) = mutate(&admit, &http, &pod_review("tag", &[&tagged])).await;
    assert_eq!(first["allowed"], true, "{first}");
    assert_eq!(
        pinned,
        vec![("/spec/containers/0/image".to_string(), pinned_new.clone())]
    );
    let (second, pinned) = mutate(&admit, &http, &pod_review("pinned", &[&pinned_new])).await;
    assert_eq!(second["allowed"], true, "{second}");
    assert!(
        pinned.is_empty(),
        "an image pinned already is left as written: {second}"
    );

    move_tag(&reg, "team/app", "v1.1", &old).await;
    for (uid, image) in [("rolled-back", &tagged), ("pinned-after", &pinned_new)] {
        let (answer, pinned) = mutate(&admit, &http, &pod_review(uid, &[image])).await;
        assert_eq!(answer["uid"], uid);
        assert_eq!(answer["allowed"], false, "{image}: {answer}");
        assert!(pinned.is_empty(), "{answer}");
    }
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
    let admit = Arc::new(AdmitServer::start(&["--key", &k.public]));
    let http = admit.client();
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
            let (admit, moves, http) = (Arc::clone(&admit), Arc::clone(&moves), http.clone());
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
                let (response, pinned) = mutate(&admit, &http, &pod_review(&uid, &refs)).await;
                (uid, images, response, pinned)
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
    for (uid, images, response, patch) in &answers {
        assert_eq!(&response["uid"], uid, "{response}");
        if response["allowed"] != true {
            assert!(response.get("patch").is_none(), "{response}");
            denied += 1;
            continue;
        }
        allowed += 1;
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
    // And the cache was in the way: answers were shared or kept, not each verified afresh.
    let page = admit.metrics_page().await;
    let lookups = |result: &str| {
        sample(
            &page,
            &format!("hallmark_admit_cache_lookups_total{{result=\"{result}\"}}"),
        )
    };
    assert!(
        lookups("hit") + lookups("coalesced") > 0.0,
        "no answer came from the cache:\n{page}"
    );
}
