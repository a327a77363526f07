//! Signers racing on one digest. The registry API has no compare-and-swap, so signers that
//! read the `.sig` manifest (or the fallback referrers index) at the same time each write
//! back a version without the others' signatures. No signature may be lost silently: after
//! every round, each signer that exited 0 has its signature there, unless another signer of
//! the round failed saying that a signature may have been overwritten.

use std::process::{Child, Output, Stdio};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::Duration;

use crate::harness::*;

/// Rounds per case, and how many run at once (each on a digest of its own).
const ROUNDS: usize = 20;
const AT_ONCE: usize = 5;
/// The settle window signers use: the default.
const SETTLE_MS: &str = "2000";

fn spawn(args: &[&str]) -> Child {
    hallmark()
        .args(args)
        .env("HALLMARK_PASSWORD", PASSWORD)
        .env("HALLMARK_SETTLE_MS", SETTLE_MS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hallmark")
}

/// What one round left: each signer's output, and whether its signature is there.
struct Round {
    reference: String,
    outputs: Vec<Output>,
    present: Vec<bool>,
}

impl Round {
    /// Panics when a signature is gone and nobody said so.
    fn check(&self, case: &str) {
        let told = self
            .outputs
            .iter()
            .any(|o| !o.status.success() && stderr(o).contains("overwritten"));
        for (i, (o, present)) in self.outputs.iter().zip(&self.present).enumerate() {
            if o.status.success() {
                assert!(
                    *present || told,
                    "{case}: signer {i} exited 0 but its signature of {} is gone, and no \
                     signer said so:\n{}",
                    self.reference,
                    self.told()
                );
            } else {
                // A signer that fails says why, in one of the documented ways.
                assert_eq!(code(o), 3, "{case}: {}", stderr(o));
                assert!(stderr(o).contains("overwritten"), "{case}: {}", stderr(o));
            }
        }
    }

    /// Every signer's exit code and message.
    fn told(&self) -> String {
        self.outputs
            .iter()
            .map(|o| format!("exit {}: {}", code(o), stderr(o)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn all_kept(&self) -> bool {
        self.present.iter().all(|p| *p)
    }
}

/// Runs `rounds` rounds: in each, every key signs a fresh image at once (through `via`,
/// the registry or a proxy in front of it), then, `linger` after the signers are done,
/// each key's signature is looked for.
async fn race(
    reg: &Registry,
    via: &str,
    keys: &[Keys],
    format: &str,
    rounds: usize,
    linger: Duration,
) -> Vec<Round> {
    let mut done = Vec::new();
    let mut n = 0;
    while n < rounds {
        let batch = AT_ONCE.min(rounds - n);
        let mut started = Vec::new();
        for _ in 0..batch {
            let img = push_random(&reg.store("race/app"), None, "race").await;
            let reference = format!("{via}/race/app@{}", img.digest());
            let children: Vec<Child> = keys
                .iter()
                .map(|k| spawn(&["sign", &reference, "--key", &k.private, "--format", format]))
                .collect();
            started.push((reference, children));
        }
        let mut finished = Vec::new();
        for (reference, children) in started {
            let outputs: Vec<Output> = children
                .into_iter()
                .map(|c| c.wait_with_output().expect("wait for hallmark"))
                .collect();
            finished.push((reference, outputs));
        }
        tokio::time::sleep(linger).await;
        for (reference, outputs) in finished {
            let present = keys
                .iter()
                .map(|k| {
                    run(&["verify", &reference, "--key", &k.public])
                        .status
                        .success()
                })
                .collect();
            done.push(Round {
                reference,
                outputs,
                present,
            });
        }
        n += batch;
    }
    done
}

fn three_keys() -> Vec<Keys> {
    vec![keys("ecdsa-p256"), keys("ed25519"), keys("ecdsa-p256")]
}

/// Every case, through `via`: two and three signers, legacy (`ROUNDS` rounds) and bundle (a
/// quarter as many: each bundle signer also writes the referrer itself).
async fn every_case(reg: &Registry, via: &str, keys: &[Keys]) -> Vec<(String, Round)> {
    let mut out = Vec::new();
    for signers in [2, 3] {
        for (format, rounds) in [("legacy", ROUNDS), ("bundle", ROUNDS / 4)] {
            for r in race(reg, via, &keys[..signers], format, rounds, Duration::ZERO).await {
                out.push((format!("{signers} signers, {format}, via {via}"), r));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_signers_lose_no_signature_silently() {
    let reg = Registry::start();
    let rounds = every_case(&reg, &reg.addr, &three_keys()).await;
    for (case, r) in &rounds {
        r.check(case);
    }
    // Left alone, racing signers repair each other's losses.
    assert!(
        rounds.iter().any(|(_, r)| r.all_kept()),
        "no round kept every signature"
    );
}

/// A proxy that holds the first write to each shared signature tag (`sha256-<hex>.sig`,
/// `sha256-<hex>`) for 3 s: that writer's manifest lands after the other signers have
/// written and checked theirs. With `hang_up`, the writer gets no answer at all (its
/// connection is reset) while the write still lands 3 s later.
async fn holding_proxy(reg: &Registry, hang_up: bool) -> Proxy {
    let held = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
    Proxy::start_holding(
        ProxyConfig {
            upstream: reg.addr.clone(),
            tamper: None,
            auth: None,
        },
        Some(Arc::new(move |req: &SeenRequest| {
            let shared_tag = req.method == "PUT"
                && req
                    .path
                    .rsplit_once("/manifests/")
                    .is_some_and(|(_, r)| r.starts_with("sha256-"));
            (shared_tag && held.lock().unwrap().insert(req.path.clone())).then_some(Held {
                delay: Duration::from_secs(3),
                hang_up,
            })
        })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_whose_write_is_held_says_a_signature_may_be_lost() {
    let reg = Registry::start();
    let proxy = holding_proxy(&reg, false).await;
    for (case, r) in every_case(&reg, &proxy.addr, &three_keys()).await {
        r.check(&case);
        // The held writer took longer than every signer watches: whatever else happened,
        // it cannot rule out an overwrite, and says so.
        assert!(
            r.outputs.iter().any(|o| code(o) == 3
                && stderr(o).contains("longer than the 2.0 s every signer watches")),
            "{case}: {}",
            r.told()
        );
    }
}

/// A write whose connection was reset is not sent again as if it had not happened: it may
/// land later (here 3 s later) over whatever the others wrote meanwhile. Its writer writes
/// again, merged, and says that it cannot vouch for the first one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_whose_write_got_no_answer_says_a_signature_may_be_lost() {
    let reg = Registry::start();
    let proxy = holding_proxy(&reg, true).await;
    let keys = three_keys();
    for (format, rounds) in [("legacy", AT_ONCE), ("bundle", 2)] {
        // Looked at once the late write has surely landed.
        let linger = Duration::from_secs(3);
        for r in race(&reg, &proxy.addr, &keys[..2], format, rounds, linger).await {
            let case = format!("2 signers, {format}, one write reset and landing 3 s later");
            r.check(&case);
            assert!(
                r.outputs
                    .iter()
                    .any(|o| code(o) == 3 && stderr(o).contains("may still land")),
                "{case}: {}",
                r.told()
            );
        }
    }
}

/// Signers whose settle windows differ: one watching as little as it may, one whose write
/// the registry takes 1.5 s to store. No signature is lost silently.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_settle_window_is_refused_and_the_shortest_allowed_still_protects() {
    let k = keys("ecdsa-p256");
    let zeros = "0".repeat(64);
    let reference = format!("127.0.0.1:1/a@sha256:{zeros}");
    let o = run(&["sign", &reference, "--key", &k.private, "--settle", "200"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("2000"), "{}", stderr(&o));

    let reg = Registry::start();
    let slow = Proxy::start_holding(
        ProxyConfig {
            upstream: reg.addr.clone(),
            tamper: None,
            auth: None,
        },
        Some(Arc::new(|req: &SeenRequest| {
            (req.method == "PUT" && req.path.contains("/manifests/sha256-")).then_some(Held {
                delay: Duration::from_millis(1500),
                hang_up: false,
            })
        })),
    )
    .await;
    let keys = three_keys();
    for round in 0..AT_ONCE {
        let img = push_random(&reg.store("race/mixed"), None, "mixed").await;
        let slow_ref = format!("{}/race/mixed@{}", slow.addr, img.digest());
        let fast_ref = format!("{}/race/mixed@{}", reg.addr, img.digest());
        let b = spawn(&["sign", &slow_ref, "--key", &keys[0].private]);
        // A starts while B's write is held.
        tokio::time::sleep(Duration::from_millis(700)).await;
        let a = spawn(&[
            "sign",
            &fast_ref,
            "--key",
            &keys[1].private,
            "--settle",
            "2000",
        ]);
        let outputs = vec![b.wait_with_output().unwrap(), a.wait_with_output().unwrap()];
        let present = vec![
            run(&["verify", &slow_ref, "--key", &keys[0].public])
                .status
                .success(),
            run(&["verify", &fast_ref, "--key", &keys[1].public])
                .status
                .success(),
        ];
        Round {
            reference: fast_ref,
            outputs,
            present,
        }
        .check(&format!(
            "round {round}, windows of 2000 ms and the default"
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_one_keys_signatures_while_another_signs_keeps_the_new_one() {
    let reg = Registry::start();
    let keys = three_keys();
    for round in 0..AT_ONCE {
        let img = push_random(&reg.store("race/rm"), None, "rm").await;
        let reference = format!("{}/race/rm@{}", reg.addr, img.digest());
        let o = spawn(&["sign", &reference, "--key", &keys[0].private])
            .wait_with_output()
            .unwrap();
        expect_code(&o, 0);
        let key0 = hallmark::keys::PublicKey::from_pem(
            &std::fs::read_to_string(&keys[0].public).unwrap(),
            &keys[0].public,
        )
        .unwrap()
        .key_id();
        let remover = spawn(&[
            "signatures",
            &reference,
            "--key",
            &keys[0].public,
            "--remove",
            &key0,
            "--yes",
        ]);
        let signer = spawn(&["sign", &reference, "--key", &keys[1].private]);
        let (r, s) = (
            remover.wait_with_output().unwrap(),
            signer.wait_with_output().unwrap(),
        );
        let verifies = |k: &Keys| {
            run(&["verify", &reference, "--key", &k.public])
                .status
                .success()
        };
        let told = |o: &Output| code(o) == 3 && stderr(o).contains("overwritten");
        if s.status.success() {
            assert!(
                verifies(&keys[1]) || told(&r),
                "round {round}: {}",
                stderr(&r)
            );
        }
        if r.status.success() {
            assert!(
                !verifies(&keys[0]) || told(&s),
                "round {round}: {}",
                stderr(&s)
            );
        }
    }
}
