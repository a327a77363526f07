//! Interoperability with an independent implementation of the cosign formats
//! (tests/interop/cosign_py.py, Python `cryptography` + `pynacl`) and with keys written
//! by the real cosign.

use std::process::{Command, Output};

use crate::harness::*;
use hallmark::keys::PublicKey;

fn py(args: &[&str]) -> Output {
    Command::new(python())
        .arg(py_tool())
        .args(args)
        .output()
        .expect("run python")
}

fn same_key(a: &str, b: &str) -> bool {
    PublicKey::from_pem(a, "a").unwrap() == PublicKey::from_pem(b, "b").unwrap()
}

/// A key written by `cosign generate-key-pair` (empty password): sigstore-rs's test data,
/// read from the reference material beside the checkout.
#[test]
fn loads_a_key_written_by_cosign() {
    let Some(key) = shared(
        "loads_a_key_written_by_cosign",
        "fixtures/cosign-generated-empty-password.key",
    ) else {
        return;
    };
    let o = run_env(
        &["key", "public", "--key", key.to_str().unwrap()],
        &[("COSIGN_PASSWORD", "")],
    );
    expect_code(&o, 0);
    let expected = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    assert!(same_key(&stdout(&o), &expected), "{}", stdout(&o));
    // Non-interactive with no password set: the empty password is tried.
    expect_code(&run(&["key", "public", "--key", key.to_str().unwrap()]), 0);
    // A wrong password is a usage error with a hint, not a crypto trace.
    let o = run_env(
        &["key", "public", "--key", key.to_str().unwrap()],
        &[("HALLMARK_PASSWORD", "nope")],
    );
    expect_code(&o, 2);
    assert!(
        stderr(&o).contains("wrong password")
            && stderr(&o).contains("hint: the password came from HALLMARK_PASSWORD"),
        "{}",
        stderr(&o)
    );
}

/// Keys written by the independent implementation load, for every accepted N and both
/// algorithms; keys hallmark writes load there.
#[test]
fn keys_cross_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    for (alg, log_n) in [
        ("ecdsa-p256", "15"),
        ("ecdsa-p256", "16"),
        ("ed25519", "16"),
    ] {
        let prefix = dir.path().join(format!("py-{alg}-{log_n}"));
        let p = prefix.to_str().unwrap();
        let o = py(&["genkey", p, "pw", alg, log_n]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let o = run_env(
            &["key", "public", "--key", &format!("{p}.key")],
            &[("HALLMARK_PASSWORD", "pw")],
        );
        expect_code(&o, 0);
        assert!(same_key(
            &stdout(&o),
            &std::fs::read_to_string(format!("{p}.pub")).unwrap()
        ));
    }
    // N = 2^20 is outside the accepted set: refused before spending the memory.
    let p = dir.path().join("huge");
    let p = p.to_str().unwrap();
    assert!(
        py(&["genkey", p, "pw", "ecdsa-p256", "20"])
            .status
            .success()
    );
    let o = run_env(
        &["key", "public", "--key", &format!("{p}.key")],
        &[("HALLMARK_PASSWORD", "pw")],
    );
    expect_code(&o, 2);
    assert!(stderr(&o).contains("N=1048576"), "{}", stderr(&o));

    for alg in ["ecdsa-p256", "ed25519"] {
        let k = keys(alg);
        let o = py(&["pubkey", &k.private, PASSWORD]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(same_key(
            &String::from_utf8_lossy(&o.stdout),
            &std::fs::read_to_string(&k.public).unwrap()
        ));
        let o = py(&["pubkey", &k.private, "wrong"]);
        assert!(!o.status.success(), "python accepted a wrong password");
    }
}

/// Signatures hallmark stores verify with the independent verifier, and the other way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_cross_both_ways() {
    let reg = Registry::start();
    let store = reg.store("team/app");
    for alg in ["ecdsa-p256", "ed25519"] {
        let k = keys(alg);
        let img = push_random(&store, None, alg).await;
        let other = push_random(&store, None, "unsigned").await;
        let d = img.digest().to_string();
        expect_code(
            &sign(&[
                &format!("{}/team/app@{d}", reg.addr),
                "--key",
                &k.private,
                "-a",
                "x=y",
            ]),
            0,
        );
        let o = py(&["verify", &reg.addr, "team/app", &d, &k.public]);
        assert!(
            o.status.success(),
            "python verifier rejected hallmark's signature: {}",
            String::from_utf8_lossy(&o.stdout)
        );
        // The independent verifier can say no: an unsigned image, a wrong key.
        assert!(
            !py(&[
                "verify",
                &reg.addr,
                "team/app",
                &other.digest().to_string(),
                &k.public
            ])
            .status
            .success()
        );
        let stranger = keys(alg);
        assert!(
            !py(&["verify", &reg.addr, "team/app", &d, &stranger.public])
                .status
                .success()
        );
    }

    // Signed by Python, verified by hallmark.
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("py");
    let p = prefix.to_str().unwrap();
    assert!(
        py(&["genkey", p, "pw", "ecdsa-p256", "15"])
            .status
            .success()
    );
    let img = push_random(&store, Some("py"), "python-signed").await;
    let d = img.digest().to_string();
    let o = py(&["sign", &reg.addr, "team/app", &d, &format!("{p}.key"), "pw"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&[
        "verify",
        &format!("{}/team/app:py", reg.addr),
        "--key",
        &format!("{p}.pub"),
    ]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), format!("{}/team/app@{d}\n", reg.addr));
    let k = keys("ecdsa-p256");
    expect_code(
        &run(&[
            "verify",
            &format!("{}/team/app:py", reg.addr),
            "--key",
            &k.public,
        ]),
        1,
    );
}
