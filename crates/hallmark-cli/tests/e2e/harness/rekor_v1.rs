//! The stack's optional Rekor v1 (the REST API, over Trillian and PostgreSQL): built from the
//! Go module proxy at pinned versions once per machine, started only for the tests that ask
//! for it ([`SigStack::start_with_rekor_v1`]), in the stack's namespace like the rest.
//!
//! PostgreSQL is Debian's (installed with apt-get when missing); it refuses to run as root,
//! so its data directory belongs to `postgres` and it runs as that user, started directly
//! (not through `pg_ctl`) so that the stack owns its process.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use super::{HOST, SigStack};

pub const REKOR_V1_VERSION: &str = "v1.5.4";
pub const TRILLIAN_VERSION: &str = "v1.8.0";

const PG_PORT: u16 = 18086;
pub(super) const REKOR_V1_PORT: u16 = 18087;
const TRILLIAN_RPC_PORT: u16 = 18090;
const TRILLIAN_HTTP_PORT: u16 = 18096;
const SIGNER_RPC_PORT: u16 = 18097;
const SIGNER_HTTP_PORT: u16 = 18098;

/// Trillian's PostgreSQL schema, kept beside the binaries: the module cache may be cleaned.
const SCHEMA: &str = "trillian-postgresql.sql";

/// (Go package, version, the binary `go install` makes, its name here).
pub(in crate::harness) const SERVERS: [(&str, &str, &str, &str); 3] = [
    (
        "github.com/sigstore/rekor/cmd/rekor-server",
        REKOR_V1_VERSION,
        "rekor-server",
        "rekor-server-v1",
    ),
    (
        "github.com/google/trillian/cmd/trillian_log_server",
        TRILLIAN_VERSION,
        "trillian_log_server",
        "trillian_log_server",
    ),
    (
        "github.com/google/trillian/cmd/trillian_log_signer",
        TRILLIAN_VERSION,
        "trillian_log_signer",
        "trillian_log_signer",
    ),
];

/// The directory holding Rekor v1 and Trillian, built one at a time under the machine's Go
/// install lock when missing (minutes each), and Trillian's schema.
pub fn rekor_v1_bin() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        static LOCK: Mutex<()> = Mutex::new(());
        let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = super::super::peers::peers_dir().join(format!(
            "sigstack-rekor-{REKOR_V1_VERSION}-trillian-{TRILLIAN_VERSION}"
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let go_env = |name: &str| {
            let o = Command::new("go")
                .args(["env", name])
                .output()
                .expect("run go (Go is needed for the keyless stack)");
            String::from_utf8_lossy(&o.stdout).trim().to_string()
        };
        // The proxy alone, as for the rest of the stack.
        let proxy = go_env("GOPROXY")
            .trim_end_matches(",direct")
            .trim_end_matches("|direct")
            .to_string();
        for (package, version, built, name) in SERVERS {
            super::super::peers::go_install(package, version, built, &dir, name);
        }
        if !dir.join(SCHEMA).exists() {
            let status = Command::new("go")
                .args([
                    "mod",
                    "download",
                    &format!("github.com/google/trillian@{TRILLIAN_VERSION}"),
                ])
                .env("GOPROXY", &proxy)
                .env("GOTOOLCHAIN", "local")
                .current_dir(&dir)
                .status()
                .expect("run go mod download");
            assert!(status.success(), "go mod download trillian failed");
            let schema = Path::new(&go_env("GOMODCACHE"))
                .join(format!("github.com/google/trillian@{TRILLIAN_VERSION}"))
                .join("storage/postgresql/schema/storage.sql");
            let partial = dir.join(format!("{SCHEMA}.partial"));
            std::fs::copy(&schema, &partial).unwrap();
            std::fs::rename(&partial, dir.join(SCHEMA)).unwrap();
        }
        dir
    })
    .clone()
}

/// Debian's PostgreSQL server binaries (`initdb`, `postgres`), installed when missing.
fn postgres_bin() -> PathBuf {
    let find = || {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|b| b.join("postgres").exists() && b.join("initdb").exists())
            .collect();
        found.sort();
        found.pop()
    };
    if let Some(bin) = find() {
        return bin;
    }
    super::super::ensure_installed(
        "/usr/lib/postgresql",
        "ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql)",
    );
    find().expect("PostgreSQL installed, but no /usr/lib/postgresql/*/bin/postgres")
}

impl SigStack {
    /// PostgreSQL, Trillian's log server and signer, and Rekor v1 (which makes its own
    /// Trillian tree on first start); then Rekor v1's public key, for the trust files.
    pub(super) fn serve_rekor_v1(&mut self) {
        let bin = rekor_v1_bin();
        let pg = postgres_bin();
        let data = self.dir().join("pg");
        std::fs::create_dir_all(&data).unwrap();
        // postgres must reach its data directory inside the stack's (root-only) one.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(self.dir(), std::fs::Permissions::from_mode(0o711)).unwrap();
        self.ok(Command::new("chown").args(["postgres:postgres", &data.display().to_string()]));
        let as_postgres = |program: PathBuf| {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
                .arg(program);
            c
        };
        let pgdata = data.join("data").display().to_string();
        let o = as_postgres(pg.join("initdb"))
            .args(["-D", &pgdata, "-A", "trust", "-U", "postgres", "--no-sync"])
            .output()
            .expect("run initdb");
        assert!(
            o.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        // setpriv execs: the stack's child is the postmaster itself. fsync off: the data
        // lives as long as the test.
        let postgres = as_postgres(pg.join("postgres"));
        let mut args: Vec<String> = postgres
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        args.extend(
            [
                "-D",
                &pgdata,
                "-p",
                &PG_PORT.to_string(),
                "-k",
                &data.display().to_string(),
                "-c",
                &format!("listen_addresses={HOST}"),
                "-c",
                "fsync=off",
            ]
            .map(String::from),
        );
        self.spawn("postgres", Path::new("/usr/bin/setpriv"), &args);
        self.wait_for_postgres();
        let psql = |args: &[&str]| {
            let mut c = Command::new("psql");
            c.args([
                "-q",
                "-h",
                HOST,
                "-p",
                &PG_PORT.to_string(),
                "-U",
                "postgres",
            ])
            .args(args);
            self.ok(&c);
        };
        psql(&["-c", "create database trillian"]);
        psql(&[
            "-d",
            "trillian",
            "-f",
            &bin.join(SCHEMA).display().to_string(),
        ]);
        let uri = format!(
            "--postgresql_uri=postgresql:///trillian?host={HOST}&port={PG_PORT}&user=postgres&sslmode=disable"
        );
        let trillian = |rpc: u16, http: u16| {
            vec![
                "--storage_system=postgresql".to_string(),
                uri.clone(),
                "--quota_system=noop".into(),
                format!("--rpc_endpoint={HOST}:{rpc}"),
                format!("--http_endpoint={HOST}:{http}"),
            ]
        };
        let mut signer = trillian(SIGNER_RPC_PORT, SIGNER_HTTP_PORT);
        signer.push("--force_master".into());
        self.spawn(
            "trillian-server",
            &bin.join("trillian_log_server"),
            &trillian(TRILLIAN_RPC_PORT, TRILLIAN_HTTP_PORT),
        );
        self.spawn("trillian-signer", &bin.join("trillian_log_signer"), &signer);
        self.wait_ready(
            "trillian-server",
            &format!("http://{HOST}:{TRILLIAN_HTTP_PORT}/healthz"),
        );
        self.wait_ready(
            "trillian-signer",
            &format!("http://{HOST}:{SIGNER_HTTP_PORT}/healthz"),
        );
        // No search index (it needs Redis): every endpoint but searchIndex.
        let rekor = [
            "serve".to_string(),
            format!("--trillian_log_server.address={HOST}"),
            format!("--trillian_log_server.port={TRILLIAN_RPC_PORT}"),
            format!("--rekor_server.address={HOST}"),
            format!("--port={REKOR_V1_PORT}"),
            format!("--rekor_server.hostname={HOST}"),
            "--rekor_server.signer=memory".into(),
            "--enabled_api_endpoints=getLogInfo,getPublicKey,getLogProof,createLogEntry,getLogEntryByIndex,getLogEntryByUUID,searchLogQuery".into(),
            "--enable_retrieve_api=false".into(),
            "--log_type=prod".into(),
        ];
        self.spawn("rekor-v1", &bin.join("rekor-server-v1"), &rekor);
        let url = self.rekor_v1_url();
        self.wait_ready("rekor-v1", &format!("{url}/api/v1/log"));
        let key =
            self.ok(Command::new("curl").args(["-sf", &format!("{url}/api/v1/log/publicKey")]));
        std::fs::write(self.dir().join("rekor-v1-pub.pem"), key).unwrap();
    }

    /// The postmaster accepts connections (it has no HTTP endpoint to poll).
    fn wait_for_postgres(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::time::Instant::now() < deadline {
            let up = self
                .command(Command::new("psql").args([
                    "-h",
                    HOST,
                    "-p",
                    &PG_PORT.to_string(),
                    "-U",
                    "postgres",
                    "-c",
                    "select 1",
                ]))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if up {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("postgres did not start: {}", self.log("postgres"));
    }

    /// Runs `f` on a thread of this process moved into the stack's namespace, for the
    /// library's own requests (a current-thread runtime keeps every socket on that thread).
    pub fn in_namespace<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        use std::os::fd::AsRawFd;
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", self.holder.id())).unwrap();
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    // SAFETY: a valid descriptor of a network namespace; setns moves only
                    // the calling thread, which is this scoped one.
                    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
                    assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
                    f()
                })
                .join()
                .unwrap()
        })
    }

    /// Rekor v1's base URL in the namespace.
    pub fn rekor_v1_url(&self) -> String {
        format!("http://{HOST}:{REKOR_V1_PORT}")
    }

    /// The signing config naming Rekor v1 (and no timestamp authority: the log's signed
    /// time dates the signature), made with the trusted root when the stack has Rekor v1.
    pub fn signing_config_v1(&self) -> PathBuf {
        self.dir().join("signing_config_rekor_v1.json")
    }
}
