//! A real Sigstore stack for keyless signing: an OIDC issuer (`interop/oidc_issuer.py`),
//! Fulcio with a file CA, a CT log (TesseraCT), Rekor v2 (rekor-tiles, POSIX storage), the
//! timestamp authority and a registry, built from the Go module proxy at pinned versions
//! when missing, and started for one test inside a network namespace of its own.
//!
//! The namespace is what lets each test have its own stack on fixed ports: the timestamp
//! authority binds its metrics on `*:2112` whatever it is told, Fulcio its metrics on every
//! address, and Fulcio looks `localhost` up through the system resolver; inside a namespace
//! that has only a loopback, none of that reaches or collides with anything outside. So
//! everything that talks to the stack (hallmark, cosign, curl, skopeo) runs in the
//! namespace too, through [`SigStack::command`]. Creating one takes root, as CI has.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{cosign, python};

#[path = "rekor_v1.rs"]
mod rekor_v1;

pub const FULCIO_VERSION: &str = "v1.8.8";
pub const REKOR_TILES_VERSION: &str = "v2.3.0";
pub const TSA_VERSION: &str = "v2.1.3";
pub const TESSERACT_VERSION: &str = "v0.1.1";

const HOST: &str = "127.0.0.1";
const OIDC_PORT: u16 = 18080;
const FULCIO_PORT: u16 = 18081;
const REKOR_PORT: u16 = 18082;
const TSA_PORT: u16 = 18083;
const REGISTRY_PORT: u16 = 18084;
const CT_PORT: u16 = 18085;
/// Before every certificate the stack issues, for the trust files' validity windows.
const START: &str = "2020-01-01T00:00:00Z";

/// The stack's servers: (Go package, version, the binary `go install` makes, its name here).
/// Two of them are both called `posix`, hence a GOBIN of its own for each build.
pub(super) const SERVERS: [(&str, &str, &str, &str); 4] = [
    (
        "github.com/sigstore/fulcio",
        FULCIO_VERSION,
        "fulcio",
        "fulcio",
    ),
    (
        "github.com/sigstore/rekor-tiles/v2/cmd/rekor-server/posix",
        REKOR_TILES_VERSION,
        "posix",
        "rekor-server-posix",
    ),
    (
        "github.com/sigstore/timestamp-authority/v2/cmd/timestamp-server",
        TSA_VERSION,
        "timestamp-server",
        "timestamp-server",
    ),
    (
        "github.com/transparency-dev/tesseract/cmd/tesseract/posix",
        TESSERACT_VERSION,
        "posix",
        "tesseract-posix",
    ),
];

/// The directory holding the stack's servers, installed one at a time when missing.
pub fn sigstack_bin() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = super::peers::peers_dir().join(format!(
            "sigstack-fulcio-{FULCIO_VERSION}-rekor-tiles-{REKOR_TILES_VERSION}-tsa-{TSA_VERSION}-tesseract-{TESSERACT_VERSION}"
        ));
        for (package, version, built, name) in SERVERS {
            super::peers::go_install(package, version, built, &dir, name);
        }
        dir
    })
    .clone()
}

/// The repository of the GitHub Actions tokens [`github_claims`] describes.
pub const GITHUB_REPOSITORY: &str = "hallmark/test";
/// Their workflow (`job_workflow_ref`), which Fulcio certifies as
/// `https://github.com/` + this.
pub const GITHUB_WORKFLOW: &str = "hallmark/test/.github/workflows/release.yml@refs/heads/main";

/// The claims Fulcio's GitHub-workflow issuer type demands, for [`GITHUB_WORKFLOW`]; no
/// email, so that the proof of possession is over `sub`.
pub fn github_claims() -> String {
    serde_json::json!({
        "email": null,
        "email_verified": null,
        "job_workflow_ref": GITHUB_WORKFLOW,
        "job_workflow_sha": "0123456789abcdef0123456789abcdef01234567",
        "sha": "0123456789abcdef0123456789abcdef01234567",
        "event_name": "push",
        "repository": GITHUB_REPOSITORY,
        "repository_id": "1",
        "repository_owner": "hallmark",
        "repository_owner_id": "2",
        "repository_visibility": "public",
        "workflow": "release",
        "workflow_ref": GITHUB_WORKFLOW,
        "workflow_sha": "0123456789abcdef0123456789abcdef01234567",
        "ref": "refs/heads/main",
        "runner_environment": "github-hosted",
        "run_id": "3",
        "run_attempt": "1",
    })
    .to_string()
}

/// A running stack; every process of it (and its namespace) is stopped when dropped.
pub struct SigStack {
    /// Holds the namespace open: `unshare -n sleep infinity`.
    holder: Child,
    servers: Vec<(&'static str, Child)>,
    dir: tempfile::TempDir,
    /// The stack's `trusted_root.json`: Fulcio's chain, the CT log, Rekor v2 and the TSA.
    pub trusted_root: PathBuf,
    /// The stack's `signing_config.json`, as cosign 3 takes it.
    pub signing_config: PathBuf,
    /// The email issuer; [`SigStack::GITHUB_ISSUER`] is the GitHub-workflow one.
    pub issuer: String,
    /// The registry inside the namespace, `127.0.0.1:PORT`.
    pub registry: String,
    /// Whether Rekor v1 runs too ([`SigStack::start_with_rekor_v1`]).
    with_rekor_v1: bool,
}

impl SigStack {
    /// The issuer whose tokens Fulcio reads as GitHub Actions ones.
    pub const GITHUB_ISSUER: &'static str = "http://127.0.0.1:18080/gha";

    pub fn start() -> SigStack {
        Self::start_with(false)
    }

    /// The stack with Rekor v1 (over Trillian and PostgreSQL) as well, in the trusted root
    /// and in a second signing config, [`SigStack::signing_config_v1`].
    pub fn start_with_rekor_v1() -> SigStack {
        Self::start_with(true)
    }

    fn start_with(with_rekor_v1: bool) -> SigStack {
        let bin = sigstack_bin();
        if with_rekor_v1 {
            rekor_v1::rekor_v1_bin();
        }
        let _ = cosign(); // installed before the stack's clock starts
        python();
        super::ensure_registry_installed();
        let started = Instant::now();
        let dir = tempfile::tempdir().unwrap();
        let holder = Command::new("unshare")
            .args(["--net", "sleep", "infinity"])
            .stdin(Stdio::null())
            .spawn()
            .expect("run unshare (the keyless stack needs a network namespace)");
        let mut stack = SigStack {
            holder,
            servers: Vec::new(),
            trusted_root: dir.path().join("trusted_root.json"),
            signing_config: dir.path().join("signing_config.json"),
            issuer: format!("http://{HOST}:{OIDC_PORT}"),
            registry: format!("{HOST}:{REGISTRY_PORT}"),
            dir,
            with_rekor_v1,
        };
        stack.wait_for_namespace();
        stack.ok(Command::new("ip").args(["link", "set", "lo", "up"]));
        stack.keys();
        stack.serve(&bin);
        if with_rekor_v1 {
            stack.serve_rekor_v1();
        }
        stack.trust_files();
        // Shown with a failing test's output: a slow start is the first suspect of a timeout.
        eprintln!("keyless stack up in {:.1?}", started.elapsed());
        stack
    }

    fn netns(&self) -> String {
        format!("--net=/proc/{}/ns/net", self.holder.id())
    }

    /// `unshare` makes the namespace and then becomes `sleep`: until it has, its namespace
    /// is still this process's.
    fn wait_for_namespace(&mut self) {
        let ours = std::fs::read_link("/proc/self/ns/net").unwrap();
        let path = format!("/proc/{}/ns/net", self.holder.id());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.holder.try_wait() {
                panic!("unshare --net failed ({status}): the keyless stack needs root");
            }
            if std::fs::read_link(&path).is_ok_and(|ns| ns != ours) {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        panic!("unshare --net made no namespace");
    }

    /// `command` to run inside the stack's namespace, with its program, arguments and
    /// environment (a removed variable stays removed).
    pub fn command(&self, command: &Command) -> Command {
        let mut c = Command::new("nsenter");
        c.arg(self.netns())
            .arg("--")
            .arg(command.get_program())
            .args(command.get_args());
        for (k, v) in command.get_envs() {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        if let Some(d) = command.get_current_dir() {
            c.current_dir(d);
        }
        c
    }

    /// Runs `command` in the namespace; it must succeed. Its standard output.
    #[track_caller]
    fn ok(&self, command: &Command) -> Vec<u8> {
        let o = self
            .command(command)
            .stdin(Stdio::null())
            .output()
            .expect("run nsenter");
        assert!(
            o.status.success(),
            "{command:?}: {}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    }

    /// The real binary in the namespace, with `args`.
    pub fn hallmark(&self, args: &[&str]) -> Output {
        let mut c = super::hallmark();
        c.args(args);
        self.command(&c).output().expect("run hallmark")
    }

    /// The real binary in the namespace, with the fixtures' key password and no trusted root
    /// from the environment (each test names its own).
    pub fn hallmark_keyed(&self, args: &[&str]) -> Output {
        let mut c = super::hallmark();
        c.args(args)
            .env("HALLMARK_PASSWORD", super::PASSWORD)
            .env_remove("HALLMARK_TRUSTED_ROOT");
        self.command(&c).output().expect("run hallmark")
    }

    /// The real cosign in the namespace, with `args`.
    pub fn cosign(&self, args: &[&str]) -> Output {
        let mut c = Command::new(cosign());
        c.args(args)
            .env("COSIGN_YES", "true")
            .env("SIGSTORE_NO_CACHE", "1")
            .env("TUF_ROOT", self.dir.path().join("tuf"));
        self.command(&c)
            .stdin(Stdio::null())
            .output()
            .expect("run cosign")
    }

    /// An ID token from `issuer` (the email one or [`SigStack::GITHUB_ISSUER`]) for `sub`,
    /// with `claims` (a JSON object) merged in; written to a file, whose path is returned.
    pub fn token(&self, issuer: &str, sub: &str, claims: &str) -> PathBuf {
        let url = format!(
            "{issuer}/token?sub={}&claims={}",
            percent(sub),
            percent(claims)
        );
        let jwt = self.ok(Command::new("curl").args(["-sf", &url]));
        let n = std::fs::read_dir(self.dir.path()).unwrap().count();
        let path = self.dir.path().join(format!("token-{n}.jwt"));
        std::fs::write(&path, jwt).unwrap();
        path
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// Fulcio's root and intermediate (the intermediate with codeSigning, which Fulcio
    /// demands of a chain's first certificate), the CT log's key (SEC1, the only form
    /// TesseraCT reads) and Rekor's Ed25519 key.
    fn keys(&self) {
        let openssl = |args: &[&str]| {
            let o = Command::new("openssl")
                .args(args)
                .current_dir(self.dir.path())
                .output()
                .expect("run openssl");
            assert!(
                o.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        };
        for name in ["fulcio-root", "fulcio-int"] {
            openssl(&[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-384",
                "-out",
                &format!("{name}.key"),
            ]);
        }
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            "fulcio-root.key",
            "-sha384",
            "-days",
            "3650",
            "-subj",
            "/O=hallmark-test/CN=fulcio-root",
            "-addext",
            "basicConstraints=critical,CA:TRUE,pathlen:1",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            "fulcio-root.pem",
        ]);
        openssl(&[
            "req",
            "-new",
            "-key",
            "fulcio-int.key",
            "-subj",
            "/O=hallmark-test/CN=fulcio-intermediate",
            "-out",
            "fulcio-int.csr",
        ]);
        std::fs::write(
            self.dir.path().join("int.ext"),
            "basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\n\
             extendedKeyUsage=codeSigning\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n",
        )
        .unwrap();
        openssl(&[
            "x509",
            "-req",
            "-in",
            "fulcio-int.csr",
            "-CA",
            "fulcio-root.pem",
            "-CAkey",
            "fulcio-root.key",
            "-CAcreateserial",
            "-sha384",
            "-days",
            "3650",
            "-extfile",
            "int.ext",
            "-out",
            "fulcio-int.pem",
        ]);
        let chain = [
            std::fs::read(self.dir.path().join("fulcio-int.pem")).unwrap(),
            std::fs::read(self.dir.path().join("fulcio-root.pem")).unwrap(),
        ]
        .concat();
        std::fs::write(self.dir.path().join("fulcio-chain.pem"), chain).unwrap();
        openssl(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "ct.key",
        ]);
        openssl(&["ec", "-in", "ct.key", "-pubout", "-out", "ct-pub.pem"]);
        openssl(&["genpkey", "-algorithm", "ed25519", "-out", "rekor.key"]);
        openssl(&[
            "pkey",
            "-in",
            "rekor.key",
            "-pubout",
            "-out",
            "rekor-pub.pem",
        ]);
        let config = serde_json::json!({"OIDCIssuers": {
            self.issuer.clone(): {"IssuerURL": self.issuer, "ClientID": "sigstore", "Type": "email"},
            Self::GITHUB_ISSUER: {"IssuerURL": Self::GITHUB_ISSUER, "ClientID": "sigstore", "Type": "github-workflow"},
        }});
        std::fs::write(
            self.dir.path().join("fulcio-config.json"),
            config.to_string(),
        )
        .unwrap();
    }

    /// Stops the stack's server `name` (`fulcio`, `rekor`, `tsa`, `ct`, `oidc`, `registry`, or
    /// one started with [`SigStack::spawn`]): a service down, for the failure tests.
    pub fn stop(&mut self, name: &str) {
        let (_, child) = self
            .servers
            .iter_mut()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no server {name} in the stack"));
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The stack's working directory (keys, configs, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Starts `program` with `args` in the namespace as the server `name`, its output in
    /// `name.log`; it is killed with the stack, so a failing test leaves nothing running.
    pub fn spawn(&mut self, name: &'static str, program: &Path, args: &[String]) {
        let log = std::fs::File::create(self.dir.path().join(format!("{name}.log"))).unwrap();
        let mut c = Command::new(program);
        c.args(args).current_dir(self.dir.path());
        // nsenter execs the server, so the child is the server itself.
        let child = self
            .command(&c)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start a stack server");
        self.servers.push((name, child));
    }

    fn serve(&mut self, bin: &Path) {
        for data in ["ct-data", "rekor-data", "registry-data"] {
            std::fs::create_dir_all(self.dir.path().join(data)).unwrap();
        }
        let p = |name: &str| self.path(name);
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        let issuer_script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/e2e/interop/oidc_issuer.py")
            .display()
            .to_string();
        let oidc = s(&[&issuer_script, HOST, &OIDC_PORT.to_string()]);
        let ct = s(&[
            &format!("--private_key={}", p("ct.key")),
            &format!("--origin={HOST}"),
            &format!("--storage_dir={}", p("ct-data")),
            &format!("--roots_pem_file={}", p("fulcio-root.pem")),
            "--ext_key_usages=CodeSigning",
            &format!("--http_endpoint={HOST}:{CT_PORT}"),
        ]);
        let fulcio = s(&[
            "serve",
            "--ca",
            "fileca",
            "--fileca-cert",
            &p("fulcio-chain.pem"),
            "--fileca-key",
            &p("fulcio-int.key"),
            // Must be set, even empty, for an unencrypted key.
            "--fileca-key-passwd",
            "",
            "--fileca-watch=false",
            "--ct-log-url",
            &format!("http://{HOST}:{CT_PORT}"),
            "--config-path",
            &p("fulcio-config.json"),
            "--host",
            HOST,
            "--port",
            &FULCIO_PORT.to_string(),
            "--grpc-host",
            HOST,
            "--grpc-port",
            "18071",
            "--metrics-port",
            "18091",
            // Its default is an abstract socket, one per machine rather than per namespace.
            "--legacy-unix-domain-socket",
            &p("fulcio-legacy.sock"),
            "--log_type",
            "prod",
        ]);
        // The checkpoint's origin is the hostname, which verifiers take from the log's URL.
        let rekor = s(&[
            "serve",
            "--hostname",
            HOST,
            "--http-address",
            HOST,
            "--http-port",
            &REKOR_PORT.to_string(),
            "--grpc-address",
            HOST,
            "--grpc-port",
            "18072",
            "--http-metrics-port",
            "18092",
            "--storage-dir",
            &p("rekor-data"),
            "--signer-filepath",
            &p("rekor.key"),
            "--checkpoint-interval",
            "1s",
        ]);
        // NTP monitoring would ask public time servers.
        let tsa = s(&[
            "serve",
            "--host",
            HOST,
            "--port",
            &TSA_PORT.to_string(),
            "--timestamp-signer",
            "memory",
            "--disable-ntp-monitoring",
            "--log-type",
            "prod",
        ]);
        std::fs::write(
            self.dir.path().join("registry.yml"),
            format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {HOST}:{REGISTRY_PORT}\n",
                p("registry-data")
            ),
        )
        .unwrap();
        let registry = s(&["serve", &p("registry.yml")]);

        // Fulcio reads its issuers' discovery documents as it starts, and needs the CT log
        // for every certificate: those two first.
        self.spawn("oidc", Path::new(python()), &oidc);
        self.spawn("ct", &bin.join("tesseract-posix"), &ct);
        self.wait_ready(
            "oidc",
            &format!("http://{HOST}:{OIDC_PORT}/.well-known/openid-configuration"),
        );
        self.wait_ready("ct", &format!("http://{HOST}:{CT_PORT}/healthz"));
        self.spawn("fulcio", &bin.join("fulcio"), &fulcio);
        self.spawn("rekor", &bin.join("rekor-server-posix"), &rekor);
        self.spawn("tsa", &bin.join("timestamp-server"), &tsa);
        self.spawn("registry", Path::new(super::REGISTRY_BIN), &registry);
        for (name, path) in [
            ("fulcio", format!("{FULCIO_PORT}/healthz")),
            ("rekor", format!("{REKOR_PORT}/healthz")),
            ("tsa", format!("{TSA_PORT}/ping")),
            ("registry", format!("{REGISTRY_PORT}/v2/")),
        ] {
            self.wait_ready(name, &format!("http://{HOST}:{path}"));
        }
    }

    /// Waits until `url` answers 2xx inside the namespace; panics with the log of `name`
    /// (a server in the stack) if it exits or does not answer within 20 s.
    pub fn wait_ready(&mut self, name: &str, url: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let up = self
                .command(Command::new("curl").args([
                    "-sf",
                    "-o",
                    "/dev/null",
                    "--max-time",
                    "1",
                    url,
                ]))
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return;
            }
            let (_, child) = self.servers.iter_mut().find(|(n, _)| *n == name).unwrap();
            if let Ok(Some(status)) = child.try_wait() {
                panic!("{name} exited ({status}): {}", self.log(name));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("{name} did not answer {url}: {}", self.log(name));
    }

    /// What a server wrote, for a failure's message.
    pub fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("{name}.log"))).unwrap_or_default()
    }

    /// The trusted root and signing config, made by cosign's own commands from the keys
    /// and the chain the TSA made for itself at start.
    fn trust_files(&self) {
        let chain = self.ok(Command::new("curl").args([
            "-sf",
            &format!("http://{HOST}:{TSA_PORT}/api/v1/timestamp/certchain"),
        ]));
        std::fs::write(self.dir.path().join("tsa-chain.pem"), chain).unwrap();
        let fulcio = format!("http://{HOST}:{FULCIO_PORT}");
        let rekor = format!("http://{HOST}:{REKOR_PORT}");
        let tsa = format!("http://{HOST}:{TSA_PORT}/api/v1/timestamp");
        let ct = format!("http://{HOST}:{CT_PORT}");
        // In the namespace too: composing the files needs no network, and gets none.
        let run = |args: &[String]| {
            self.ok(Command::new(cosign()).args(args));
        };
        // Rekor v1's checkpoints name their own origin: none is given for it.
        let rekor_v1 = self.with_rekor_v1.then(|| {
            format!(
                "--rekor=url={},public-key={},start-time={START}",
                self.rekor_v1_url(),
                self.path("rekor-v1-pub.pem")
            )
        });
        run(&[
            "trusted-root".into(),
            "create".into(),
            format!(
                "--fulcio=url={fulcio},certificate-chain={},start-time={START}",
                self.path("fulcio-chain.pem")
            ),
            format!(
                "--ctfe=url={ct},public-key={},start-time={START}",
                self.path("ct-pub.pem")
            ),
            format!(
                "--rekor=url={rekor},public-key={},start-time={START},origin={HOST}",
                self.path("rekor-pub.pem")
            ),
            format!(
                "--tsa=url={tsa},certificate-chain={},start-time={START}",
                self.path("tsa-chain.pem")
            ),
            "--out".into(),
            self.trusted_root.display().to_string(),
        ]
        .into_iter()
        .chain(rekor_v1)
        .collect::<Vec<_>>());
        let service = |url: &str, version: u8| {
            format!("url={url},api-version={version},start-time={START},operator=local")
        };
        run(&[
            "signing-config".into(),
            "create".into(),
            format!("--fulcio={}", service(&fulcio, 1)),
            // Rekor v2 gives no signed time of its own: the TSA's is what a verifier uses.
            format!("--rekor={}", service(&rekor, 2)),
            "--rekor-config=ANY".into(),
            format!("--oidc-provider={}", service(&self.issuer, 1)),
            format!("--tsa={}", service(&tsa, 1)),
            "--tsa-config=ANY".into(),
            "--out".into(),
            self.signing_config.display().to_string(),
        ]);
        if self.with_rekor_v1 {
            // No timestamp authority: Rekor v1's signed time dates the signature.
            run(&[
                "signing-config".into(),
                "create".into(),
                format!("--fulcio={}", service(&fulcio, 1)),
                format!("--rekor={}", service(&self.rekor_v1_url(), 1)),
                "--rekor-config=ANY".into(),
                format!("--oidc-provider={}", service(&self.issuer, 1)),
                "--out".into(),
                self.signing_config_v1().display().to_string(),
            ]);
        }
    }
}

impl Drop for SigStack {
    fn drop(&mut self) {
        // PostgreSQL is asked to stop (a fast shutdown), so that it leaves no shared memory
        // behind; everything else is killed (Trillian ignores SIGTERM).
        if let Some((_, pg)) = self.servers.iter_mut().find(|(n, _)| *n == "postgres") {
            let _ = Command::new("kill")
                .args(["-INT", &pg.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(pg.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        for (_, child) in self.servers.iter_mut().rev() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

/// Percent-encodes a query value.
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Port of [`SigStack::liar`] in the namespace.
// Apart from every port Rekor v1 and Trillian take (18086-18098), so both can run in one stack.
const LIAR_PORT: u16 = 18094;

impl SigStack {
    /// Starts the tampering proxy `interop/lying_service.py` in front of the stack's real
    /// Fulcio, Rekor and timestamp authority; its base URL. `BASE/SERVICE/MODE` then stands
    /// for that service (`fulcio`, `rekor`, `tsa`, and `rekor1` in a stack with Rekor v1),
    /// whose genuine answers it alters by MODE.
    pub fn liar(&mut self) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/e2e/interop/lying_service.py")
            .display()
            .to_string();
        let mut args = vec![
            script,
            HOST.to_string(),
            LIAR_PORT.to_string(),
            self.dir.path().display().to_string(),
            format!("fulcio=http://{HOST}:{FULCIO_PORT}"),
            format!("rekor=http://{HOST}:{REKOR_PORT}"),
            format!("tsa=http://{HOST}:{TSA_PORT}"),
        ];
        if self.with_rekor_v1 {
            args.push(format!("rekor1={}", self.rekor_v1_url()));
        }
        self.spawn("liar", Path::new(python()), &args);
        let base = format!("http://{HOST}:{LIAR_PORT}");
        self.wait_ready("liar", &format!("{base}/healthz"));
        base
    }
}

/// `.ci/run` builds the Go peers early from `go-peers.txt`: a program the harness installs
/// but the list lacks would be built during the tests instead, cold, and CI would slow down
/// unnoticed; one listed but no longer installed would be built for nothing.
#[test]
fn every_go_peer_is_listed_for_ci() {
    let listed: std::collections::BTreeSet<(String, String)> = include_str!("go-peers.txt")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split_whitespace();
            let (p, v) = (f.next().unwrap(), f.next().unwrap());
            assert_eq!(f.next(), None, "go-peers.txt: {l}");
            (p.to_string(), v.to_string())
        })
        .collect();
    let installed: std::collections::BTreeSet<(String, String)> = SERVERS
        .iter()
        .chain(rekor_v1::SERVERS.iter())
        .map(|(p, v, _, _)| (p.to_string(), v.to_string()))
        .chain([
            (
                super::peers::COSIGN_PACKAGE.to_string(),
                super::peers::COSIGN_VERSION.to_string(),
            ),
            (
                super::peers::CRANE_PACKAGE.to_string(),
                super::peers::CRANE_VERSION.to_string(),
            ),
        ])
        .collect();
    assert_eq!(listed, installed);
}

impl SigStack {
    /// Starts `interop/replaying_service.py` in the namespace on `port`: every request is
    /// answered with what the file `answer` holds at that moment (201 to a POST), so that a
    /// test makes a service replay a genuine answer for another signature, or garbage. Its
    /// base URL.
    pub fn replaying(&mut self, port: u16, answer: &Path) -> String {
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/e2e/interop/replaying_service.py")
            .display()
            .to_string();
        let url = format!("http://{HOST}:{port}");
        self.spawn(
            "replaying",
            Path::new(python()),
            &[script, port.to_string(), answer.display().to_string()],
        );
        self.wait_ready("replaying", &url);
        url
    }
}
