//! The real peers hallmark must interoperate with, built from the Go module proxy at
//! pinned versions when missing: cosign (the reference implementation), and a registry
//! with the referrers API (go-containerregistry's, which `crane registry serve` runs with
//! that API off).

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The cosign release the interop tests run against.
pub const COSIGN_VERSION: &str = "v3.1.3";

/// Installs `module@version` into a directory of its own (so the pinned version is what
/// runs, whatever else is on the machine) and returns the binary.
fn go_tool(module: &str, version: &str, name: &str) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let dir = PathBuf::from(home)
        .join(".cache/hallmark-test-peers")
        .join(format!("{name}-{version}"));
    let bin = dir.join(name);
    if bin.exists() {
        return bin;
    }
    let status = Command::new("flock")
        .arg("/tmp/hallmark-test-go-install.lock")
        .args(["go", "install", &format!("{module}@{version}")])
        .env("GOBIN", &dir)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod")
        .stdout(Stdio::null())
        .status()
        .expect("run go install (Go is needed for the interop tests)");
    assert!(
        status.success() && bin.exists(),
        "go install {module}@{version} failed"
    );
    bin
}

/// The real cosign.
pub fn cosign() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        go_tool(
            "github.com/sigstore/cosign/v3/cmd/cosign",
            COSIGN_VERSION,
            "cosign",
        )
    })
    .clone()
}

/// The referrers-capable registry (`tests/e2e/peers/referrers-registry`), built once per
/// version of its source.
pub fn referrers_registry() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        static LOCK: Mutex<()> = Mutex::new(());
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/e2e/peers/referrers-registry");
        let mut text = Vec::new();
        for f in ["main.go", "go.mod", "go.sum"] {
            text.extend(std::fs::read(src.join(f)).expect("referrers-registry source"));
        }
        let digest = hallmark::digest::Digest::sha256(&text);
        let version = &digest.hex()[..12];
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let bin = PathBuf::from(home)
            .join(".cache/hallmark-test-peers")
            .join(format!("referrers-registry-{version}"));
        if !bin.exists() {
            let status = Command::new("flock")
                .arg("/tmp/hallmark-test-go-install.lock")
                .args(["go", "build", "-o"])
                .arg(&bin)
                .arg(".")
                .current_dir(&src)
                .env("GOTOOLCHAIN", "local")
                .env("GOFLAGS", "-mod=mod")
                .stdout(Stdio::null())
                .status()
                .expect("run go build (Go is needed for the interop tests)");
            assert!(
                status.success() && bin.exists(),
                "building referrers-registry failed"
            );
        }
        bin
    })
    .clone()
}
