//! The real peers hallmark must interoperate with, built from the Go module proxy at
//! pinned versions when missing: cosign (the reference implementation), and a registry
//! with the referrers API (go-containerregistry's, which `crane registry serve` runs with
//! that API off).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::Instant;

/// The cosign release the interop tests run against.
pub const COSIGN_VERSION: &str = "v3.1.3";
/// cosign's Go package.
pub(super) const COSIGN_PACKAGE: &str = "github.com/sigstore/cosign/v3/cmd/cosign";

/// Installs `module@version` into a directory of its own (so the pinned version is what
/// runs, whatever else is on the machine) and returns the binary.
fn go_tool(module: &str, version: &str, name: &str) -> PathBuf {
    let dir = peers_dir().join(format!("{name}-{version}"));
    go_install(module, version, name, &dir, name)
}

/// `~/.cache/hallmark-test-peers`, where the peers are installed once per machine.
pub(super) fn peers_dir() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    PathBuf::from(home).join(".cache/hallmark-test-peers")
}

/// `dir/name`, made when missing by `go install module@version` (whose binary is called
/// `built`: two of the Sigstore servers are both `posix`) from the Go module proxy alone.
/// One build on the machine at a time: the builds take minutes and most of its memory, and
/// a process that waited for another's lock finds the binary made and builds nothing.
pub(super) fn go_install(
    module: &str,
    version: &str,
    built: &str,
    dir: &Path,
    name: &str,
) -> PathBuf {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let bin = dir.join(name);
    if bin.exists() {
        return bin;
    }
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open("/tmp/hallmark-test-go-install.lock")
        .expect("open the go install lock");
    lock.lock().expect("take the go install lock");
    if bin.exists() {
        return bin;
    }
    std::fs::create_dir_all(dir).unwrap();
    // The proxy alone: with `direct` after it, a module it lacks would be fetched from its
    // origin, which is out of reach here.
    let proxy = Command::new("go")
        .args(["env", "GOPROXY"])
        .output()
        .expect("run go (Go is needed for the interop tests)");
    let proxy = String::from_utf8_lossy(&proxy.stdout)
        .trim()
        .trim_end_matches(",direct")
        .trim_end_matches("|direct")
        .to_string();
    // Written past libtest's capture: a build takes minutes, and the run should say why.
    let _ = writeln!(
        std::io::stderr(),
        "building {module}@{version} (once per machine, into {})",
        dir.display()
    );
    let started = Instant::now();
    let gobin = tempfile::tempdir_in(dir).unwrap();
    let status = Command::new("go")
        .args(["install", &format!("{module}@{version}")])
        .env("GOBIN", gobin.path())
        .env("GOPROXY", &proxy)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "-mod=mod -buildvcs=false")
        .stdout(Stdio::null())
        .status()
        .expect("run go install (Go is needed for the interop tests)");
    assert!(
        status.success() && gobin.path().join(built).exists(),
        "go install {module}@{version} failed"
    );
    // Renamed into place, so that an interrupted build is never taken for one.
    std::fs::rename(gobin.path().join(built), &bin).unwrap();
    let _ = writeln!(
        std::io::stderr(),
        "built {module}@{version} in {:.0?}",
        started.elapsed()
    );
    bin
}

/// The real cosign.
pub fn cosign() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| go_tool(COSIGN_PACKAGE, COSIGN_VERSION, "cosign"))
        .clone()
}

/// go-containerregistry's crane, at the version the referrers registry is built from.
pub(super) const CRANE_PACKAGE: &str = "github.com/google/go-containerregistry/cmd/crane";
/// crane's version.
pub(super) const CRANE_VERSION: &str = "v0.22.1";

/// The real crane (multi-platform indexes as users build them: `crane index append`).
pub fn crane() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| go_tool(CRANE_PACKAGE, CRANE_VERSION, "crane"))
        .clone()
}

/// Runs crane against plain-HTTP registries; it must succeed. Returns its stdout.
#[track_caller]
pub fn crane_ok(args: &[&str]) -> String {
    let o = Command::new(crane())
        .args(args)
        .arg("--insecure")
        .output()
        .expect("run crane");
    assert!(
        o.status.success(),
        "crane {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Runs the real cosign non-interactively, with the empty password its test keys have.
pub fn cosign_run(args: &[&str]) -> std::process::Output {
    Command::new(cosign())
        .args(args)
        .env("COSIGN_PASSWORD", "")
        .env("COSIGN_YES", "true")
        .output()
        .expect("run cosign")
}

/// The real cosign's `verify` of the image `reference` with the key `public` and `extra`
/// flags, with no transparency log, on a plain-HTTP registry.
pub fn cosign_verify_key(public: &str, reference: &str, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "verify",
        "--key",
        public,
        "--insecure-ignore-tlog",
        "--allow-insecure-registry",
    ];
    args.extend_from_slice(extra);
    args.push(reference);
    cosign_run(&args)
}

/// [`cosign_run`], which must succeed.
#[track_caller]
pub fn cosign_ok(args: &[&str]) -> std::process::Output {
    let o = cosign_run(args);
    assert!(
        o.status.success(),
        "cosign {args:?}: {}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

/// A key pair made by `cosign generate-key-pair` (empty password) in `dir`: the private
/// and public key paths.
pub fn cosign_keys(dir: &std::path::Path) -> (String, String) {
    let prefix = dir.join("ck");
    cosign_ok(&[
        "generate-key-pair",
        "--output-key-prefix",
        prefix.to_str().unwrap(),
    ]);
    (
        format!("{}.key", prefix.display()),
        format!("{}.pub", prefix.display()),
    )
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

/// The npm package `@sigstore/verify` (an independent Sigstore verifier) at a pinned
/// version, installed when missing; returns the `node_modules` directory to run
/// `tests/e2e/interop/sigstore_verify.js` with.
pub fn sigstore_js() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        static LOCK: Mutex<()> = Mutex::new(());
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let prefix = PathBuf::from(home).join(".cache/hallmark-test-peers/sigstore-js-3.1.1");
        let modules = prefix.join("node_modules");
        if !modules.join("@sigstore/verify").exists() {
            std::fs::create_dir_all(&prefix).unwrap();
            let status = Command::new("flock")
                .arg("/tmp/hallmark-test-npm-install.lock")
                .args([
                    "npm",
                    "install",
                    "--silent",
                    "--no-audit",
                    "--no-fund",
                    "--prefix",
                ])
                .arg(&prefix)
                .args(["@sigstore/verify@3.1.1", "@sigstore/bundle@4.0.0"])
                .stdout(Stdio::null())
                .status()
                .expect("run npm (Node.js is needed for the interop tests)");
            assert!(status.success(), "npm install @sigstore/verify failed");
        }
        modules
    })
    .clone()
}

/// Runs the `@sigstore/verify` script on a bundle; true when it verifies.
pub fn sigstore_js_verifies(
    bundle: &std::path::Path,
    public_key: &std::path::Path,
    artifact: Option<&std::path::Path>,
) -> bool {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/interop/sigstore_verify.js");
    let mut c = Command::new("node");
    c.arg(script)
        .arg(bundle)
        .arg(public_key)
        .env("NODE_PATH", sigstore_js());
    if let Some(a) = artifact {
        c.arg(a);
    }
    let o = c.output().expect("run node");
    o.status.success() && String::from_utf8_lossy(&o.stdout).trim() == "verified"
}

/// A private Sigstore instance (`tests/e2e/interop/sigstore_instance.py`): a Fulcio, a CT
/// log, a Rekor v1 and a TSA chain with keys of its own, so that tests make real keyless
/// signatures offline and verify them against its `trusted_root.json`.
pub struct SigstoreInstance {
    dir: tempfile::TempDir,
    /// The instance's trusted root.
    pub trusted_root: PathBuf,
}

impl SigstoreInstance {
    pub fn new() -> SigstoreInstance {
        let dir = tempfile::tempdir().unwrap();
        let inst = SigstoreInstance {
            trusted_root: dir.path().join("trusted_root.json"),
            dir,
        };
        inst.run(&["init"], &[]);
        inst
    }

    fn run(&self, command: &[&str], extra: &[&str]) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/e2e/interop/sigstore_instance.py");
        let o = Command::new(super::python())
            .arg(script)
            .arg(command[0])
            .arg(self.dir.path())
            .args(&command[1..])
            .args(extra)
            .output()
            .expect("run sigstore_instance.py");
        assert!(
            o.status.success(),
            "sigstore_instance.py {command:?} {extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
    }

    /// Signs `what` (`blob`, `legacy` or `statement`: a file, a simple-signing payload, an
    /// in-toto statement) as `identity` of `issuer`, with the tool's flags `extra`; the JSON
    /// written (a bundle, or the `.sig` layer's annotations).
    pub fn sign(
        &self,
        what: &str,
        input: &[u8],
        identity: &str,
        issuer: &str,
        extra: &[&str],
    ) -> Vec<u8> {
        let work = tempfile::tempdir().unwrap();
        let (input_path, out) = (work.path().join("input"), work.path().join("out.json"));
        std::fs::write(&input_path, input).unwrap();
        let mut args = vec![
            "--identity",
            identity,
            "--issuer",
            issuer,
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        self.run(&[what, input_path.to_str().unwrap()], &args);
        std::fs::read(out).unwrap()
    }
}

/// The sigstore-python release the keyless differential test runs against.
pub const SIGSTORE_PYTHON_VERSION: &str = "4.5.1";

/// sigstore-python (an independent Sigstore verifier) from PyPI at a pinned version,
/// installed when missing into a directory of its own rather than the interpreter's
/// site-packages, whose `cryptography` the interop tests pin to another version. Returns
/// the directory to put on `PYTHONPATH`.
pub fn sigstore_python() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        static LOCK: Mutex<()> = Mutex::new(());
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let dir = PathBuf::from(home)
            .join(".cache/hallmark-test-peers")
            .join(format!("sigstore-python-{SIGSTORE_PYTHON_VERSION}"));
        if dir.join("sigstore/__main__.py").exists() {
            return dir;
        }
        // Installed beside the final name and renamed into place, so that an interrupted
        // install is never taken for a complete one.
        let partial = PathBuf::from(format!("{}.partial-{}", dir.display(), std::process::id()));
        let status = super::fixtures::pip_install([
            "--no-warn-conflicts".as_ref(),
            "--target".as_ref(),
            partial.as_os_str(),
            format!("sigstore=={SIGSTORE_PYTHON_VERSION}").as_ref(),
        ])
        .expect("run pip (Python is needed for the keyless differential test)");
        assert!(
            status.success(),
            "pip install sigstore=={SIGSTORE_PYTHON_VERSION} failed"
        );
        if std::fs::rename(&partial, &dir).is_err() {
            // Another test process installed it first.
            let _ = std::fs::remove_dir_all(&partial);
        }
        assert!(
            dir.join("sigstore/__main__.py").exists(),
            "sigstore-python is missing from {}",
            dir.display()
        );
        dir
    })
    .clone()
}
