//! Test harness: a real registry (Debian's docker-registry, CNCF distribution) on a free
//! loopback port, the real `hallmark` binary, an in-test HTTP proxy that can lie like a
//! compromised registry, and the Python tools used as independent implementations.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::TcpListener as StdListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use hallmark::image::Image;
use hallmark::reference::ImageRef;
use hallmark::registry::{Client, ClientOptions};
use hallmark::store::Store;

pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// Installs a system package when its marker path is missing. Serialised across test
/// processes with flock, since apt cannot run twice at once.
fn ensure_installed(marker: &str, install: &str) {
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

pub fn ensure_registry_installed() {
    ensure_installed(
        REGISTRY_BIN,
        "test -x /usr/bin/docker-registry || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-registry)",
    );
}

/// Python with `cryptography` and `pynacl`, for the independent implementations.
pub fn python() -> &'static str {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        let ok = Command::new("python3")
            .args(["-c", "import cryptography, nacl"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let status = Command::new("flock")
                .args([
                    "/tmp/hallmark-test-install.lock",
                    "python3",
                    "-m",
                    "pip",
                    "install",
                    "-q",
                    "--disable-pip-version-check",
                    "cryptography",
                    "pynacl",
                ])
                .status()
                .expect("run pip");
            assert!(status.success(), "pip install cryptography pynacl failed");
        }
    });
    "python3"
}

pub fn py_tool() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/cosign_py.py")
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
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/make_cert.py");
        let status = Command::new(python())
            .arg(script)
            .arg(certs.path())
            .status()
            .unwrap();
        assert!(status.success(), "make_cert.py failed");
        for _ in 0..5 {
            if let Some(mut r) = Self::try_start_with(Some(certs.path())) {
                let ca = r._dir.path().join("ca.pem");
                std::fs::copy(certs.path().join("ca.pem"), &ca).unwrap();
                r.tls = true;
                return (r, ca);
            }
        }
        panic!("docker-registry with TLS did not start");
    }

    fn try_start() -> Option<Registry> {
        Self::try_start_with(None)
    }

    fn try_start_with(tls: Option<&Path>) -> Option<Registry> {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let addr = format!("127.0.0.1:{port}");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {addr}\n",
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
        std::fs::write(dir.path().join("config.yml"), config).unwrap();
        let child = spawn_ready(&dir.path().join("config.yml"), &addr, tls.is_some())?;
        Some(Registry {
            child,
            addr,
            _dir: dir,
            tls: tls.is_some(),
        })
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
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return None; // the port was taken in the meantime
        }
        // A TLS registry answers plain HTTP with 400; either answer means it is up.
        let ready = match http_get_status(addr, "/v2/") {
            Some(200) => true,
            Some(400) => tls,
            _ => false,
        };
        if ready {
            return Some(child);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
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

/// A library client, as a CI pipeline or an attacker with registry write access uses it.
pub fn client() -> Client {
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

/// The real binary.
pub fn hallmark() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hallmark"));
    c.env_remove("HALLMARK_PASSWORD")
        .env_remove("COSIGN_PASSWORD")
        .env("DOCKER_CONFIG", "/nonexistent-hallmark-test")
        .env("CI", "true")
        .stdin(Stdio::null());
    c
}

/// Runs the binary with arguments and returns its output (never panics on exit code).
pub fn run(args: &[&str]) -> Output {
    run_env(args, &[])
}

pub fn run_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = hallmark();
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    // Async tests call this from a runtime thread: run the child off it.
    c.output().expect("run hallmark")
}

/// Runs the binary with `input` on its standard input (for --password-stdin).
pub fn run_stdin(args: &[&str], env: &[(&str, &str)], input: &[u8]) -> Output {
    use std::io::Write;
    let mut c = hallmark();
    c.args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run hallmark");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait for hallmark")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts an exit code, showing the output when it differs.
#[track_caller]
pub fn expect_code(o: &Output, want: i32) {
    assert_eq!(
        code(o),
        want,
        "exit code {} (want {want})\nstdout: {}\nstderr: {}",
        code(o),
        stdout(o),
        stderr(o)
    );
}

/// A key pair made with the binary, password "test-pw".
pub struct Keys {
    pub dir: tempfile::TempDir,
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
        dir,
    }
}

/// `hallmark sign` with the test password.
pub fn sign(args: &[&str]) -> Output {
    let mut all = vec!["sign"];
    all.extend_from_slice(args);
    run_env(&all, &[("HALLMARK_PASSWORD", PASSWORD)])
}

// ---------------------------------------------------------------------------------------
// A small HTTP/1.1 proxy in front of the registry that can tamper with answers, or demand
// token authentication, like a compromised or strict registry would.

/// A request as the proxy saw it.
#[derive(Debug, Clone)]
pub struct SeenRequest {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
}

/// A response the proxy is about to send; tamper hooks may rewrite it.
#[derive(Debug, Clone)]
pub struct ProxyResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Send the body one byte per this interval (a slow-drip server).
    pub drip: Option<Duration>,
}

pub type Tamper = Arc<dyn Fn(&SeenRequest, &mut ProxyResponse) + Send + Sync>;

pub struct ProxyConfig {
    pub upstream: String,
    pub tamper: Option<Tamper>,
    /// Require authentication with these credentials.
    pub auth: Option<ProxyAuth>,
}

pub struct ProxyAuth {
    pub user: String,
    pub password: String,
    /// Basic auth on every request; otherwise Bearer tokens issued for Basic credentials.
    pub basic: bool,
}

pub struct Proxy {
    pub addr: String,
    pub requests: Arc<Mutex<Vec<SeenRequest>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const TOKEN: &str = "test-token-5f2a";

impl Proxy {
    pub async fn start(cfg: ProxyConfig) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let requests = Arc::new(Mutex::new(Vec::new()));
        // Building a hallmark client installs the TLS crypto provider reqwest needs.
        let _ = client();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let cfg = Arc::new(cfg);
        let seen = requests.clone();
        let my_addr = addr.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = listener.accept().await else {
                    return;
                };
                let (http, cfg, seen, my_addr) =
                    (http.clone(), cfg.clone(), seen.clone(), my_addr.clone());
                tokio::spawn(async move {
                    let _ = serve_one(sock, &http, &cfg, &seen, &my_addr).await;
                });
            }
        });
        Proxy {
            addr,
            requests,
            task,
        }
    }
}

async fn serve_one(
    mut sock: tokio::net::TcpStream,
    http: &reqwest::Client,
    cfg: &ProxyConfig,
    seen: &Mutex<Vec<SeenRequest>>,
    my_addr: &str,
) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 8192];
        let n = sock.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or_default().split_whitespace();
    let method = first.next().unwrap_or_default().to_string();
    let path = first.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut body = buf[head_end..].to_vec();
    if let Some(len) = header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        while body.len() < len {
            let mut chunk = vec![0u8; 65536];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        body = read_chunked(&mut sock, body).await?;
    }
    let req = SeenRequest {
        method: method.clone(),
        path: path.clone(),
        headers: headers.clone(),
    };
    seen.lock().unwrap().push(req.clone());

    let mut resp = if let Some(a) = &cfg.auth {
        auth_gate(&req, a, my_addr)
    } else {
        None
    }
    .unwrap_or(ProxyResponse {
        status: 0,
        headers: Vec::new(),
        body: Vec::new(),
        drip: None,
    });
    if resp.status == 0 {
        let url = format!("http://{}{}", cfg.upstream, path);
        let mut r = http
            .request(method.parse().unwrap(), url)
            .header("host", my_addr);
        for (k, v) in &headers {
            if !matches!(
                k.as_str(),
                "host" | "connection" | "content-length" | "transfer-encoding" | "authorization"
            ) {
                r = r.header(k, v);
            }
        }
        let upstream = match r.body(body).send().await {
            Ok(u) => u,
            Err(_) => return Ok(()),
        };
        let status = upstream.status().as_u16();
        let headers = upstream
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect();
        let body = upstream.bytes().await.unwrap_or_default().to_vec();
        resp = ProxyResponse {
            status,
            headers,
            body,
            drip: None,
        };
    }
    if let Some(t) = &cfg.tamper {
        t(&req, &mut resp);
    }
    let mut out = format!("HTTP/1.1 {} X\r\n", resp.status);
    for (k, v) in &resp.headers {
        if !matches!(
            k.as_str(),
            "content-length" | "transfer-encoding" | "connection"
        ) {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    out.push_str(&format!(
        "content-length: {}\r\nconnection: close\r\n\r\n",
        resp.body.len()
    ));
    sock.write_all(out.as_bytes()).await?;
    if method != "HEAD" {
        match resp.drip {
            None => sock.write_all(&resp.body).await?,
            Some(every) => {
                for b in &resp.body {
                    sock.write_all(&[*b]).await?;
                    tokio::time::sleep(every).await;
                }
            }
        }
    }
    sock.shutdown().await
}

async fn read_chunked(
    sock: &mut tokio::net::TcpStream,
    mut buf: Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut out = Vec::new();
    loop {
        while !buf.windows(2).any(|w| w == b"\r\n") {
            let mut chunk = [0u8; 8192];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(out);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let i = buf.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&buf[..i]).trim(), 16).unwrap_or(0);
        buf.drain(..i + 2);
        while buf.len() < size + 2 {
            let mut chunk = vec![0u8; 65536];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(out);
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        if size == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..size]);
        buf.drain(..size + 2);
    }
}

/// Token auth: `/token` trades Basic credentials for a token; `/v2/…` needs the token.
fn auth_gate(req: &SeenRequest, auth: &ProxyAuth, my_addr: &str) -> Option<ProxyResponse> {
    let (user, pass) = (&auth.user, &auth.password);
    use base64ct::{Base64, Encoding};
    let encode = |b: &[u8]| Base64::encode_string(b);
    let authz = req
        .headers
        .iter()
        .find(|(k, _)| k == "authorization")
        .map(|(_, v)| v.as_str());
    if auth.basic {
        let want = format!("Basic {}", encode(format!("{user}:{pass}").as_bytes()));
        return (authz != Some(want.as_str())).then(|| ProxyResponse {
            status: 401,
            headers: vec![(
                "www-authenticate".into(),
                r#"Basic realm="test-registry""#.into(),
            )],
            body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
                .to_vec(),
            drip: None,
        });
    }
    if req.path.starts_with("/token") {
        let want = format!("Basic {}", encode(format!("{user}:{pass}").as_bytes()));
        return Some(if authz == Some(want.as_str()) {
            ProxyResponse {
                status: 200,
                headers: vec![("content-type".into(), "application/json".into())],
                body: format!(r#"{{"token":"{TOKEN}"}}"#).into_bytes(),
                drip: None,
            }
        } else {
            ProxyResponse {
                status: 401,
                headers: vec![],
                body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#
                    .to_vec(),
                drip: None,
            }
        });
    }
    if authz == Some(&format!("Bearer {TOKEN}")) {
        return None;
    }
    Some(ProxyResponse {
        status: 401,
        headers: vec![(
            "www-authenticate".into(),
            format!(
                r#"Bearer realm="http://{my_addr}/token",service="test-registry",scope="repository:x:pull""#
            ),
        )],
        body: br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#
            .to_vec(),
        drip: None,
    })
}
