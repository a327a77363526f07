//! `hallmark admit` serving the webhook on loopback, over HTTPS with a certificate of its
//! own, and a client that trusts only that certificate.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};
use serde_json::Value;

use super::{hallmark, json_file, openssl, path_str};

/// A CA (`ca.crt`, what a webhook configuration's `caBundle` holds) and a server
/// certificate it signed for 127.0.0.1 and localhost (`NAME.crt`, `NAME.key`), as
/// cert-manager would issue: not a CA itself, `serverAuth` only.
pub fn webhook_pki(dir: &Path, name: &str) -> (PathBuf, PathBuf, PathBuf) {
    if !dir.join("ca.crt").exists() {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "2",
                "-subj",
                "/CN=hallmark test webhook CA",
            ],
        );
    }
    let ext = format!("{name}.ext");
    std::fs::write(
        dir.join(&ext),
        "basicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nsubjectAltName = IP:127.0.0.1, DNS:localhost\n",
    )
    .unwrap();
    let (crt, key, csr) = (
        format!("{name}.crt"),
        format!("{name}.key"),
        format!("{name}.csr"),
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            "/CN=localhost",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &ext,
            "-out",
            &crt,
        ],
    );
    (dir.join("ca.crt"), dir.join(crt), dir.join(key))
}

/// A running `hallmark admit` server; killed when dropped.
pub struct AdmitServer {
    child: Child,
    /// `127.0.0.1:PORT` of the HTTPS webhook.
    pub address: String,
    /// `127.0.0.1:PORT` of the plain-HTTP metrics, when asked for.
    pub metrics: Option<String>,
    /// The CA that signed the certificate the server presents (for 127.0.0.1 and
    /// localhost): the only root the [`client`](Self::client) trusts.
    pub ca: PathBuf,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl AdmitServer {
    /// Starts `hallmark admit ARGS --tls-cert … --tls-key … --listen 127.0.0.1:0` and waits
    /// for the line that says where it listens.
    pub fn start(args: &[&str]) -> AdmitServer {
        let dir = tempfile::tempdir().unwrap();
        let (_ca, cert, key) = webhook_pki(dir.path(), "webhook");
        Self::start_with(dir, cert, key, args)
    }

    /// As [`start`](Self::start), serving the given certificate and key (`ca.crt` beside
    /// them signed the certificate).
    pub fn start_with(
        dir: tempfile::TempDir,
        cert: PathBuf,
        key: PathBuf,
        args: &[&str],
    ) -> AdmitServer {
        Self::spawn(dir, cert, key, args, |c| c)
    }

    /// As [`start`](Self::start), the command run as `wrap` makes it: in the keyless
    /// stack's network namespace (`|c| stack.command(&c)`), where its registry is, and
    /// where the server's address is then reached.
    pub fn start_through(args: &[&str], wrap: impl FnOnce(Command) -> Command) -> AdmitServer {
        let dir = tempfile::tempdir().unwrap();
        let (_ca, cert, key) = webhook_pki(dir.path(), "webhook");
        Self::spawn(dir, cert, key, args, wrap)
    }

    fn spawn(
        dir: tempfile::TempDir,
        cert: PathBuf,
        key: PathBuf,
        args: &[&str],
        wrap: impl FnOnce(Command) -> Command,
    ) -> AdmitServer {
        let log = dir.path().join("admit.log");
        let mut c = hallmark();
        c.args([
            "admit",
            "--tls-cert",
            &path_str(&cert),
            "--tls-key",
            &path_str(&key),
        ])
        .args(["--listen", "127.0.0.1:0"])
        .args(args);
        let mut child = wrap(c)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let started = Instant::now();
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("\"event\":\"listening\"")) {
                let v: Value = serde_json::from_str(line).unwrap();
                return AdmitServer {
                    child,
                    address: v["address"].as_str().unwrap().to_string(),
                    metrics: v["metrics"].as_str().map(str::to_string),
                    ca: cert.with_file_name("ca.crt"),
                    log,
                    _dir: dir,
                };
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("hallmark admit exited ({status}) before listening:\n{text}");
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "hallmark admit did not listen within 30 s:\n{text}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// An HTTPS client trusting only this server's certificate.
    pub fn client(&self) -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let pem = std::fs::read(&self.ca).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([reqwest::Certificate::from_pem(&pem).unwrap()])
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// `https://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("https://{}{path}", self.address)
    }

    /// POSTs `body` to `path` (e.g. `/mutate?timeout=10s`): the status and the body as JSON
    /// (`Null` when it is not JSON).
    pub async fn post(&self, client: &reqwest::Client, path: &str, body: &[u8]) -> (u16, Value) {
        let r = client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_vec())
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        let bytes = r.bytes().await.unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The `/metrics` page, over HTTPS.
    pub async fn metrics_page(&self) -> String {
        self.client()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Everything the server wrote on stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The JSON log lines of `event`.
    pub fn events(&self, event: &str) -> Vec<Value> {
        self.log()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["event"] == event)
            .collect()
    }

    /// Sends SIGTERM, as Kubernetes stops a Pod, and waits for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        let pid = i32::try_from(self.child.id()).unwrap();
        // SAFETY: signals our own child, by its pid, which has not been waited for.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let started = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "hallmark admit did not stop within 30 s of SIGTERM:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for AdmitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dir/policy.toml` of version 1 with `rules` (TOML), beside `key` copied as
/// `release.pub` for the rules to name; its path.
pub fn policy_file(dir: &Path, key: &str, rules: &str) -> String {
    std::fs::copy(key, dir.join("release.pub")).unwrap();
    let path = dir.join("policy.toml");
    std::fs::write(&path, format!("version = 1\n\n{rules}")).unwrap();
    path_str(&path)
}

/// A policy trusting `key` for every repository under `reg/team/`.
pub fn team_policy(dir: &Path, reg: &str, key: &str) -> String {
    policy_file(
        dir,
        key,
        &format!(
            "[[rule]]\nname = \"team\"\nmatch = [\"{reg}/team/**\"]\nkeys = [\"release.pub\"]\n"
        ),
    )
}

/// The fixture `name`, with `reg` for its registry, written into `dir`.
pub fn review_file(dir: &Path, name: &str, reg: &str) -> PathBuf {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/fixtures/admit")
        .join(name);
    let text = std::fs::read_to_string(fixture)
        .unwrap()
        .replace("REGISTRY", reg);
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// A fixture's JSON with `reg` put in.
pub fn review_json(name: &str, reg: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    json_file(&review_file(dir.path(), name, reg))
}

/// The response of an AdmissionReview answer, and its JSON Patch decoded.
pub fn review_response(text: &str) -> (Value, Option<Vec<Value>>) {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    let r = v["response"].clone();
    let patch = r.get("patch").map(|p| {
        assert_eq!(r["patchType"], "JSONPatch");
        let bytes = Base64::decode_vec(p.as_str().unwrap()).unwrap();
        serde_json::from_slice::<Vec<Value>>(&bytes).unwrap()
    });
    (r, patch)
}

/// Applies a test+replace patch to `object` as the apiserver does, failing on a failed test.
pub fn apply_patch(object: &mut Value, patch: &[Value]) {
    for op in patch {
        let target = object.pointer_mut(op["path"].as_str().unwrap()).unwrap();
        match op["op"].as_str().unwrap() {
            "test" => assert_eq!(target, &op["value"]),
            "replace" => *target = op["value"].clone(),
            other => panic!("unexpected op {other}"),
        }
    }
}

/// The replaced pointers of a patch and their new values.
pub fn replaced(patch: &[Value]) -> Vec<(String, String)> {
    patch
        .iter()
        .filter(|op| op["op"] == "replace")
        .map(|op| {
            (
                op["path"].as_str().unwrap().to_string(),
                op["value"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The value of `series` (name and labels, as written) on a Prometheus page.
pub fn sample(page: &str, series: &str) -> f64 {
    page.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} is not on the page:\n{page}"))
        .parse()
        .unwrap()
}

/// Points the `current` link in `dir` at `target`, in one rename, as the kubelet updates a
/// Secret volume (its `..data` link).
pub fn swap_link(dir: &Path, target: &str) {
    let next = dir.join("current.next");
    let _ = std::fs::remove_file(&next);
    std::os::unix::fs::symlink(target, &next).unwrap();
    std::fs::rename(&next, dir.join("current")).unwrap();
}
