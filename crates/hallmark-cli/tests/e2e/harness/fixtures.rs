//! Fixtures: keys made by the binary, images pushed with the library, the Python tools used
//! as independent implementations.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use hallmark::image::Image;
use hallmark::registry::{Client, ClientOptions};
use hallmark::store::Store;

use super::{Registry, expect_code, run_env, sign};

/// Python with `cryptography`, `pynacl` and `bcrypt` (pinned), for the independent
/// implementations and the test token server.
pub fn python() -> &'static str {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let ok = Command::new("python3")
            .args(["-c", "import cryptography, nacl, bcrypt"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let status = pip_install(["cryptography==48.0.0", "pynacl==1.6.2", "bcrypt==5.0.0"])
                .expect("run pip");
            assert!(
                status.success(),
                "pip install cryptography pynacl bcrypt failed"
            );
        }
    });
    "python3"
}

/// `pip install ARGS`, one install on the machine at a time (the lock every peer install
/// takes).
pub(super) fn pip_install<I, S>(args: I) -> std::io::Result<std::process::ExitStatus>
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new("flock")
        .args(["/tmp/hallmark-test-install.lock", "python3", "-m", "pip"])
        .args(["install", "-q", "--disable-pip-version-check"])
        .args(args)
        .stdout(Stdio::null())
        .status()
}

pub fn py_tool() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/interop/cosign_py.py")
}

/// A library client, as a CI pipeline or an attacker with registry write access uses it.
pub fn client() -> Client {
    // A program using the library installs a TLS crypto provider itself, as the binary does.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::new(ClientOptions {
        use_docker_config: false,
        retries: 0,
        ..ClientOptions::default()
    })
    .unwrap()
}

/// Builds and pushes an image with random layers; returns it.
pub async fn push_random(store: &Store, tag: Option<&str>, label: &str) -> Image {
    let img = Image::random(label, 2048).unwrap();
    img.push(store, tag).await.unwrap();
    img
}

/// An image pushed to `repo` of `reg` (tagged `tag`, if given) and signed by digest with
/// the binary and `keys`, passing `extra` to `hallmark sign`.
pub async fn signed_image(
    reg: &Registry,
    repo: &str,
    tag: Option<&str>,
    keys: &Keys,
    extra: &[&str],
) -> Image {
    let img = push_random(&reg.store(repo), tag, "signed").await;
    let pinned = format!("{}/{repo}@{}", reg.addr, img.digest());
    let mut args = vec![pinned.as_str(), "--key", &keys.private];
    args.extend_from_slice(extra);
    expect_code(&sign(&args), 0);
    img
}

/// A key pair made with the binary, password "test-pw".
pub struct Keys {
    _dir: tempfile::TempDir,
    pub private: String,
    pub public: String,
}

pub const PASSWORD: &str = "test-pw";

pub fn keys(algorithm: &str) -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let prefix = dir.path().join("k");
    let o = run_env(
        &[
            "key",
            "generate",
            "--output-key-prefix",
            prefix.to_str().unwrap(),
            "--algorithm",
            algorithm,
        ],
        &[("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 0);
    Keys {
        private: format!("{}.key", prefix.display()),
        public: format!("{}.pub", prefix.display()),
        _dir: dir,
    }
}
