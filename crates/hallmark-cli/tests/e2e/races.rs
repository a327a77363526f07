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
/// the registry or a proxy in front of it), then each key's signature is looked for.
async fn race(reg: &Registry, via: &str, keys: &[Keys], format: &str, rounds: usize) -> Vec<Round> {
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
        for (reference, children) in started {
            let outputs: Vec<Output> = children
                .into_iter()
                .map(|c| c.wait_with_output().expect("wait for hallmark"))
                .collect();
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
            for r in race(reg, via, &keys[..signers], format, rounds).await {
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
/// written and checked theirs.
async fn holding_proxy(reg: &Registry) -> Proxy {
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
            (shared_tag && held.lock().unwrap().insert(req.path.clone()))
                .then_some(Duration::from_secs(3))
        })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signer_whose_write_is_held_says_a_signature_may_be_lost() {
    let reg = Registry::start();
    let proxy = holding_proxy(&reg).await;
    for (case, r) in every_case(&reg, &proxy.addr, &three_keys()).await {
        r.check(&case);
        // The held writer took longer than the settle window: whatever else happened, it
        // cannot rule out an overwrite, and says so.
        assert!(
            r.outputs
                .iter()
                .any(|o| code(o) == 3 && stderr(o).contains("longer than the 2.0 s settle window")),
            "{case}: {}",
            r.told()
        );
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
