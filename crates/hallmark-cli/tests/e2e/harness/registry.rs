//! A real registry (Debian's docker-registry, CNCF distribution) on a free loopback port,
//! with its own storage, installed when missing.

use std::io::{BufRead, BufReader};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hallmark::reference::ImageRef;
use hallmark::store::Store;

use super::{client, python};

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// Installs a system package when its marker path is missing. Serialised across test
/// processes with flock, since apt cannot run twice at once.
pub(super) fn ensure_installed(marker: &str, install: &str) {
    static LOCK: Mutex<()> = Mutex::new(());
    let _g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if Path::new(marker).exists() {
        return;
    }
    let status = Command::new("flock")
        .args(["/tmp/hallmark-test-install.lock", "sh", "-c", install])
        .stdout(Stdio::null())
        .status()
        .expect("run the package installer");
    assert!(status.success(), "installing with `{install}` failed");
}

/// skopeo, the containers/image reader of registries and layouts.
pub fn skopeo() -> &'static str {
    ensure_installed(
        "/usr/bin/skopeo",
        "test -x /usr/bin/skopeo || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq skopeo)",
    );
    "/usr/bin/skopeo"
}

pub fn ensure_registry_installed() {
    ensure_installed(
        REGISTRY_BIN,
        "test -x /usr/bin/docker-registry || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry)",
    );
}

pub fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A throwaway registry with its own storage; stopped when dropped.
pub struct Registry {
    child: Child,
    pub addr: String,
    _dir: tempfile::TempDir,
    tls: bool,
}

impl Registry {
    /// go-containerregistry's registry with the OCI 1.1 referrers API switched on (Debian's
    /// docker-registry 2.8 has no such API, and `crane registry serve` leaves it off).
    pub fn start_with_referrers() -> Registry {
        let bin = super::referrers_registry();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let addr = format!("127.0.0.1:{}", free_port());
            let mut child = Command::new(&bin)
                .arg(&addr)
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn referrers-registry");
            if wait_ready(&mut child, &addr, false) {
                return Registry {
                    child,
                    addr,
                    _dir: dir,
                    tls: false,
                };
            }
        }
        panic!("referrers-registry did not start");
    }

    pub fn start() -> Registry {
        ensure_registry_installed();
        for _ in 0..5 {
            if let Some(r) = Self::try_start() {
                return r;
            }
        }
        panic!("docker-registry did not start");
    }

    /// A registry serving HTTPS with a certificate for 127.0.0.1 from a fresh test CA;
    /// returns it and the CA's PEM file.
    pub fn start_tls() -> (Registry, PathBuf) {
        ensure_registry_installed();
        let certs = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/interop/make_cert.py");
        let status = Command::new(python())
            .arg(script)
            .arg(certs.path())
            .status()
            .unwrap();
        assert!(status.success(), "make_cert.py failed");
        for _ in 0..5 {
            if let Some(mut r) = Self::try_start_with(Some(certs.path()), "") {
                let ca = r._dir.path().join("ca.pem");
                std::fs::copy(certs.path().join("ca.pem"), &ca).unwrap();
                r.tls = true;
                return (r, ca);
            }
        }
        panic!("docker-registry with TLS did not start");
    }

    fn try_start() -> Option<Registry> {
        Self::try_start_with(None, "")
    }

    /// A registry that demands authentication: `auth` is the `auth:` section of its
    /// configuration (htpasswd or token).
    pub fn start_with_auth(auth: &str) -> Registry {
        ensure_registry_installed();
        for _ in 0..5 {
            if let Some(r) = Self::try_start_with(None, auth) {
                return r;
            }
        }
        panic!("docker-registry with authentication did not start");
    }

    /// A registry with deletion off (distribution's default): DELETE is refused.
    pub fn start_without_delete() -> Registry {
        ensure_registry_installed();
        for _ in 0..5 {
            if let Some(r) = Self::try_start_config(None, "", false) {
                return r;
            }
        }
        panic!("docker-registry without deletion did not start");
    }

    fn try_start_with(tls: Option<&Path>, auth: &str) -> Option<Registry> {
        Self::try_start_config(tls, auth, true)
    }

    fn try_start_config(tls: Option<&Path>, auth: &str, delete: bool) -> Option<Registry> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: {delete}\nhttp:\n  addr: {addr}\n",
            dir.path().join("data").display()
        );
        if let Some(certs) = tls {
            for f in ["server.pem", "server.key"] {
                std::fs::copy(certs.join(f), dir.path().join(f)).unwrap();
            }
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("server.pem").display(),
                dir.path().join("server.key").display()
            ));
        }
        config.push_str(auth);
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = spawn_ready(&dir.path().join("config.yml"), &addr, tls.is_some())?;
        Some(Registry {
            child,
            addr,
            _dir: dir,
            tls: tls.is_some(),
        })
    }

    /// Where the registry keeps its data (to check what it holds, from outside).
    pub fn storage(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    /// Starts the registry again on the same port and storage after [`Registry::kill`].
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn_ready(&self._dir.path().join("config.yml"), &self.addr, self.tls)
            .expect("registry restarts");
    }

    /// Kills the registry process now (for interruption tests).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn repo(&self, name: &str) -> ImageRef {
        ImageRef::parse(&format!("{}/{name}", self.addr)).unwrap()
    }

    pub fn store(&self, name: &str) -> Store {
        Store::Registry {
            client: client(),
            repo: self.repo(name),
        }
    }
}

/// Spawns docker-registry with `config` and waits until it answers on `addr`.
fn spawn_ready(config: &Path, addr: &str, tls: bool) -> Option<Child> {
    let mut child = Command::new(REGISTRY_BIN)
        .arg("serve")
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn docker-registry");
    wait_ready(&mut child, addr, tls).then_some(child)
}

/// Waits until a registry process answers on `addr`; false (and the process killed) when
/// it exits or does not answer in time.
fn wait_ready(child: &mut Child, addr: &str, tls: bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return false; // the port was taken in the meantime
        }
        // A TLS registry answers plain HTTP with 400, one that demands credentials 401; any
        // of these answers means it is up.
        let ready = match http_get_status(addr, "/v2/") {
            Some(200 | 401) => true,
            Some(400) => tls,
            _ => false,
        };
        if ready {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    false
}

/// A blocking HTTP PUT straight to a registry, as a concurrent writer would do it.
pub fn raw_put(addr: &str, path: &str, content_type: &str, body: &[u8]) -> Option<u16> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    write!(
        s,
        "PUT {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .ok()?;
    s.write_all(body).ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Minimal blocking HTTP GET for readiness checks.
fn http_get_status(addr: &str, path: &str) -> Option<u16> {
    use std::io::Write;
    let mut s =
        std::net::TcpStream::connect_timeout(&addr.parse().ok()?, Duration::from_millis(200))
            .ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut line = String::new();
    BufReader::new(s).read_line(&mut line).ok()?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Registry {
    /// A registry listening on the IPv6 loopback, `[::1]:PORT`.
    pub fn start_ipv6() -> Registry {
        ensure_registry_installed();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let port = StdListener::bind("[::1]:0")
                .expect("the IPv6 loopback is available")
                .local_addr()
                .unwrap()
                .port();
            let addr = format!("[::1]:{port}");
            let config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: \"{addr}\"\n",
                dir.path().join("data").display()
            );
            std::fs::write(dir.path().join("config.yml"), config).unwrap();
            if let Some(child) = spawn_ready(&dir.path().join("config.yml"), &addr, false) {
                return Registry {
                    child,
                    addr,
                    _dir: dir,
                    tls: false,
                };
            }
        }
        panic!("docker-registry on [::1] did not start");
    }
}

/// Runs openssl in `dir`; panics when it fails.
pub fn openssl(dir: &Path, args: &[&str]) {
    let o = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A certificate made by Docker's documented recipe for a self-signed registry
/// (`openssl req -newkey rsa -nodes -sha256 -x509 -addext subjectAltName=…`): a CA:TRUE
/// certificate that is the server's own. RSA 2048 rather than the recipe's 4096 keeps the
/// tests fast; the size changes nothing checked here. Returns `NAME.crt` and `NAME.key`.
pub fn docker_self_signed(dir: &Path, name: &str, san: &str) -> (PathBuf, PathBuf) {
    let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-keyout",
            &key,
            "-addext",
            &format!("subjectAltName = {san}"),
            "-x509",
            "-days",
            "365",
            "-out",
            &crt,
            "-subj",
            "/CN=registry",
        ],
    );
    (dir.join(crt), dir.join(key))
}

impl Registry {
    /// A registry serving HTTPS with the given certificate and key; with `client_cas`, it
    /// demands a client certificate signed by one of them (`http.tls.clientcas`).
    pub fn start_tls_files(cert: &Path, key: &Path, client_cas: Option<&Path>) -> Registry {
        ensure_registry_installed();
        for _ in 0..5 {
            let dir = tempfile::tempdir().unwrap();
            let addr = format!("127.0.0.1:{}", free_port());
            let mut config = format!(
                "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n  tls:\n    certificate: {}\n    key: {}\n",
                dir.path().join("data").display(),
                cert.display(),
                key.display()
            );
            if let Some(cas) = client_cas {
                config.push_str(&format!("    clientcas:\n      - {}\n", cas.display()));
            }
            std::fs::write(dir.path().join("config.yml"), config).unwrap();
            if let Some(child) = spawn_ready(&dir.path().join("config.yml"), &addr, true) {
                return Registry {
                    child,
                    addr,
                    _dir: dir,
                    tls: true,
                };
            }
        }
        panic!("docker-registry with the given certificate did not start");
    }
}
