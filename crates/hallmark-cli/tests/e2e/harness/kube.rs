//! A real Kubernetes API server on loopback: kube-apiserver, etcd and kubectl v1.37.2, built
//! once per machine from the Go module proxy by `scripts/prefetch-kube`, started once per
//! test binary, with a namespace of its own per test. No controller-manager, scheduler or
//! kubelet runs: objects are admitted and stored, Pods stay Pending, Deployments make no
//! ReplicaSets.

use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};
use serde_json::Value;

use super::{AdmitServer, free_port, openssl, path_str};

/// The Kubernetes release the cluster tests run (`scripts/prefetch-kube` pins the same).
pub const KUBE_VERSION: &str = "v1.37.2";

/// The bearer token of the cluster's one user, a member of `system:masters`.
const TOKEN: &str = "hallmark-test-token";

/// The directory holding `kube-apiserver`, `etcd` and `kubectl`, built when missing.
fn kube_bin() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = super::peers::peers_dir().join(format!("kube-{KUBE_VERSION}"));
        let complete = || ["kube-apiserver", "etcd", "kubectl"].iter().all(|b| dir.join(b).exists());
        if !complete() {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/prefetch-kube");
            // Written past libtest's capture: a cold build takes minutes.
            let _ = writeln!(
                std::io::stderr(),
                "building kube-apiserver, etcd and kubectl {KUBE_VERSION} (once per machine, 5-15 min cold, into {})",
                dir.display()
            );
            let started = Instant::now();
            let o = Command::new("bash")
                .arg(&script)
                .stdin(Stdio::null())
                .output()
                .expect("run scripts/prefetch-kube (Go is needed for the cluster tests)");
            assert!(
                o.status.success() && complete(),
                "scripts/prefetch-kube failed:\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            let _ = writeln!(
                std::io::stderr(),
                "built the Kubernetes binaries in {:.0?}",
                started.elapsed()
            );
        }
        dir
    })
}

/// The processes of the running cluster and their state directory, stopped and removed at
/// exit (a `static` is never dropped, so [`stop_cluster`] is registered with `atexit`).
struct Processes {
    etcd: Child,
    apiserver: Child,
    state: Option<tempfile::TempDir>,
}

impl Drop for Processes {
    fn drop(&mut self) {
        // The apiserver first, so that it does not spend its last seconds retrying etcd.
        for child in [&mut self.apiserver, &mut self.etcd] {
            terminate(child);
        }
        if let Some(state) = self.state.take() {
            let _ = state.close();
        }
    }
}

/// SIGTERM to this child alone (by its pid, which is still ours: it is not yet reaped),
/// then SIGKILL if it has not exited within 10 s.
fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let pid = child.id() as libc::pid_t;
    // SAFETY: kill(2) with the pid of a child this process has not reaped.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if !matches!(child.try_wait(), Ok(None)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}

static PROCESSES: Mutex<Option<Processes>> = Mutex::new(None);

extern "C" fn stop_cluster() {
    let taken = PROCESSES.lock().map(|mut p| p.take());
    drop(taken);
}

/// The cluster of this test binary.
pub struct Kube {
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// The throwaway CA that signed the apiserver's and the webhook's serving certificates.
    pub ca: PathBuf,
    /// The webhook's serving certificate and key (SAN 127.0.0.1, localhost), for `hallmark
    /// admit --tls-cert/--tls-key`.
    pub webhook_cert: PathBuf,
    pub webhook_key: PathBuf,
    kubeconfig: PathBuf,
    cache: PathBuf,
    namespaces: AtomicUsize,
}

/// The cluster, started on first use: one per test binary (about 3 s and 330 MB).
pub fn kube() -> &'static Kube {
    static KUBE: OnceLock<Kube> = OnceLock::new();
    KUBE.get_or_init(|| {
        let bin = kube_bin();
        let mut last = String::new();
        // Free ports are picked before the servers bind them; another process can take one
        // in between, so a failed start is tried again on new ports.
        for _ in 0..3 {
            match start(bin) {
                Ok(k) => return k,
                Err(why) => last = why,
            }
        }
        panic!("the Kubernetes API server did not start:\n{last}");
    })
}

fn start(bin: &Path) -> Result<Kube, String> {
    let state = tempfile::Builder::new()
        .prefix("hallmark-kube-")
        .tempdir()
        .map_err(|e| e.to_string())?;
    let dir = state.path().to_path_buf();
    let pki = dir.join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    make_pki(&pki);
    std::fs::write(
        pki.join("tokens.csv"),
        format!("{TOKEN},admin,admin-uid,\"system:masters\"\n"),
    )
    .unwrap();

    let (client, peer, secure) = (free_port(), free_port(), free_port());
    let log = |name: &str| std::fs::File::create(dir.join(name)).unwrap();
    let client_url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let mut etcd = Command::new(bin.join("etcd"));
    etcd.args(["--name", "hallmark-test"])
        .arg("--data-dir")
        .arg(dir.join("etcd"))
        .args(["--listen-client-urls", &client_url])
        .args(["--advertise-client-urls", &client_url])
        .args(["--listen-peer-urls", &peer_url])
        .args(["--initial-advertise-peer-urls", &peer_url])
        .args(["--initial-cluster", &format!("hallmark-test={peer_url}")])
        // A test cluster's data need not survive a crash; fsync would make every write wait
        // for the disk the whole machine shares.
        .arg("--unsafe-no-fsync")
        .arg("--quota-backend-bytes=268435456")
        .arg("--log-level=warn");
    let mut apiserver = Command::new(bin.join("kube-apiserver"));
    apiserver
        .args(["--etcd-servers", &client_url])
        .args([
            "--bind-address",
            "127.0.0.1",
            "--advertise-address",
            "127.0.0.1",
        ])
        .args(["--secure-port", &secure.to_string()])
        .arg("--tls-cert-file")
        .arg(pki.join("apiserver.crt"))
        .arg("--tls-private-key-file")
        .arg(pki.join("apiserver.key"))
        .arg("--cert-dir")
        .arg(dir.join("certs"))
        .arg("--token-auth-file")
        .arg(pki.join("tokens.csv"))
        .args(["--authorization-mode", "RBAC"])
        .args(["--service-account-issuer", "https://kubernetes.default.svc"])
        .arg("--service-account-key-file")
        .arg(pki.join("sa.pub"))
        .arg("--service-account-signing-key-file")
        .arg(pki.join("sa.key"))
        .args(["--service-cluster-ip-range", "10.0.0.0/24"])
        // No kube-proxy routes to the `kubernetes` Service: publishing 127.0.0.1 as its
        // endpoint would only make the apiserver retry.
        .args(["--endpoint-reconciler-type", "none"]);
    for (c, name) in [(&mut etcd, "etcd.log"), (&mut apiserver, "apiserver.log")] {
        // etcd reads every ETCD_* variable as a flag: the test's environment must not set any.
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("ETCD_") {
                c.env_remove(k);
            }
        }
        c.current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(log(name))
            .stderr(log(name));
        // SAFETY: prctl(2) only, between fork and exec. If this test process dies without
        // reaching its exit handler (killed by a timeout), the servers get SIGTERM too. The
        // signal follows the thread that forked, hence the spawning thread below never ends.
        unsafe {
            c.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
    }
    let (etcd, apiserver) = spawn_on_keeper(etcd, apiserver)?;
    let started = Instant::now();
    {
        let mut p = PROCESSES.lock().unwrap_or_else(|e| e.into_inner());
        // A failed earlier attempt's servers are stopped here, when replaced.
        *p = Some(Processes {
            etcd,
            apiserver,
            state: Some(state),
        });
    }
    static AT_EXIT: OnceLock<()> = OnceLock::new();
    AT_EXIT.get_or_init(|| {
        // SAFETY: registers a plain function with no arguments.
        unsafe {
            libc::atexit(stop_cluster);
        }
    });

    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: https://127.0.0.1:{secure}\n    certificate-authority: {}\nusers:\n- name: admin\n  user:\n    token: {TOKEN}\ncontexts:\n- name: test\n  context:\n    cluster: test\n    user: admin\ncurrent-context: test\n",
            pki.join("ca.crt").display()
        ),
    )
    .unwrap();
    let kube = Kube {
        server: format!("https://127.0.0.1:{secure}"),
        ca: pki.join("ca.crt"),
        webhook_cert: pki.join("webhook.crt"),
        webhook_key: pki.join("webhook.key"),
        kubeconfig,
        cache: dir.join("kube-cache"),
        namespaces: AtomicUsize::new(0),
    };
    let deadline = started + Duration::from_secs(120);
    loop {
        if kube.kubectl(&["get", "--raw", "/readyz"]).status.success() {
            let _ = writeln!(
                std::io::stderr(),
                "kube-apiserver {KUBE_VERSION} ready on {} in {:.1?}",
                kube.server,
                started.elapsed()
            );
            return Ok(kube);
        }
        let exited = {
            let mut p = PROCESSES.lock().unwrap_or_else(|e| e.into_inner());
            let p = p.as_mut().expect("the cluster's processes");
            [("etcd", &mut p.etcd), ("kube-apiserver", &mut p.apiserver)]
                .into_iter()
                .find_map(|(n, c)| {
                    c.try_wait()
                        .ok()
                        .flatten()
                        .map(|s| format!("{n} exited ({s})"))
                })
        };
        if exited.is_some() || Instant::now() > deadline {
            let why = exited.unwrap_or_else(|| "not ready after 120 s".into());
            let report = format!(
                "{why}\n--- etcd.log (tail)\n{}\n--- apiserver.log (tail)\n{}",
                tail(&dir.join("etcd.log"), 15),
                tail(&dir.join("apiserver.log"), 30)
            );
            stop_cluster();
            return Err(report);
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Spawns both servers from a thread that lives as long as the process (see the
/// PR_SET_PDEATHSIG above), and hands back their handles.
fn spawn_on_keeper(mut etcd: Command, mut apiserver: Command) -> Result<(Child, Child), String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let spawned = etcd.spawn().and_then(|mut e| match apiserver.spawn() {
            Ok(a) => Ok((e, a)),
            Err(err) => {
                let _ = e.kill();
                let _ = e.wait();
                Err(err)
            }
        });
        let _ = tx.send(spawned.map_err(|e| format!("spawn the servers: {e}")));
        loop {
            std::thread::park();
        }
    });
    rx.recv().map_err(|e| e.to_string())?
}

/// The last `n` lines of a log.
fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The CA and the apiserver's and webhook's serving certificates it signs (both for
/// 127.0.0.1: the webhook is called by `url:` with an IP, so the SAN must hold it), and the
/// service-account signing key.
fn make_pki(dir: &Path) {
    for name in ["apiserver", "webhook"] {
        super::webhook_pki(dir, name);
    }
    openssl(dir, &["genrsa", "-out", "sa.key", "2048"]);
    openssl(dir, &["rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub"]);
}

impl Kube {
    /// kubectl v1.37.2 against this cluster.
    pub fn kubectl_command(&self) -> Command {
        let mut c = Command::new(kube_bin().join("kubectl"));
        c.env_remove("KUBECONFIG")
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            // Its discovery cache stays with the cluster, not in ~/.kube.
            .arg("--cache-dir")
            .arg(&self.cache)
            .stdin(Stdio::null());
        c
    }

    /// Runs kubectl (never panics on its exit code).
    pub fn kubectl(&self, args: &[&str]) -> Output {
        self.kubectl_command()
            .args(args)
            .output()
            .expect("run kubectl")
    }

    /// Runs kubectl with `input` on its standard input (`-f -`).
    pub fn kubectl_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .kubectl_command()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kubectl");
        child
            .stdin
            .take()
            .expect("piped stdin")
            .write_all(input.as_bytes())
            .expect("write kubectl's stdin");
        child.wait_with_output().expect("wait for kubectl")
    }

    /// Runs kubectl, which must succeed; its stdout.
    #[track_caller]
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        let o = self.kubectl(args);
        assert!(
            o.status.success(),
            "kubectl {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    /// A fresh namespace named after `prefix`, with the `default` ServiceAccount that Pods
    /// name (the controller-manager that would make it does not run). A deleted namespace
    /// would stay Terminating for the same reason, so namespaces are never reused.
    pub fn namespace(&self, prefix: &str) -> String {
        let n = self.namespaces.fetch_add(1, Ordering::Relaxed);
        let name = format!("{prefix}-{n}");
        self.kubectl_ok(&["create", "namespace", &name]);
        self.kubectl_ok(&["-n", &name, "create", "serviceaccount", "default"]);
        name
    }

    /// The base64 of the CA, as a webhook's `caBundle`.
    pub fn ca_bundle(&self) -> String {
        Base64::encode_string(&std::fs::read(&self.ca).unwrap())
    }
}

/// A shipped manifest of `deploy/kubernetes/`.
pub fn manifest_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy/kubernetes")
        .join(name)
}

/// The documents of a shipped manifest as JSON, converted by kubectl (no apiserver call).
pub fn manifest_json(name: &str) -> Vec<Value> {
    let out = kube().kubectl_ok(&[
        "create",
        "--dry-run=client",
        "-o",
        "json",
        "-f",
        &path_str(&manifest_path(name)),
    ]);
    // One JSON document per object, one after the other.
    serde_json::Deserializer::from_str(&out)
        .into_iter::<Value>()
        .map(|v| v.unwrap_or_else(|e| panic!("{e}: {out}")))
        .collect()
}

/// The JSON Pointers at which `a` and `b` differ: a value changed, added or removed.
pub fn json_differences(a: &Value, b: &Value) -> Vec<String> {
    fn walk(a: Option<&Value>, b: Option<&Value>, at: &str, out: &mut Vec<String>) {
        match (a, b) {
            (Some(Value::Object(x)), Some(Value::Object(y))) => {
                let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
                keys.sort();
                keys.dedup();
                for k in keys {
                    let p = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
                    walk(x.get(k), y.get(k), &p, out);
                }
            }
            (Some(Value::Array(x)), Some(Value::Array(y))) if x.len() == y.len() => {
                for (i, (u, v)) in x.iter().zip(y).enumerate() {
                    walk(Some(u), Some(v), &format!("{at}/{i}"), out);
                }
            }
            (x, y) if x == y => {}
            _ => out.push(at.to_string()),
        }
    }
    let mut out = Vec::new();
    walk(Some(a), Some(b), "", &mut out);
    out
}

/// The shipped webhook configurations (`webhooks.yaml` or `webhooks-pods-only.yaml`)
/// pointed at a `hallmark admit` on `127.0.0.1:port` and limited to `namespace`, changing
/// nothing else: the service becomes a `url:` (no kube-proxy or DNS here), the `caBundle`
/// the test CA, the `namespaceSelector` that namespace alone.
pub fn localised_webhooks(kube: &Kube, file: &str, port: u16, namespace: &str) -> Vec<Value> {
    let shipped = manifest_json(file);
    let mut docs = shipped.clone();
    for doc in &mut docs {
        for hook in doc["webhooks"].as_array_mut().expect("webhooks") {
            let config = hook["clientConfig"].as_object_mut().expect("clientConfig");
            let service = config.remove("service").expect("clientConfig.service");
            let path = service["path"].as_str().expect("clientConfig.service.path");
            config.insert(
                "url".into(),
                format!("https://127.0.0.1:{port}{path}").into(),
            );
            config.insert("caBundle".into(), kube.ca_bundle().into());
            hook["namespaceSelector"] = serde_json::json!({
                "matchExpressions": [{
                    "key": "kubernetes.io/metadata.name",
                    "operator": "In",
                    "values": [namespace],
                }]
            });
        }
    }
    for (before, after) in shipped.iter().zip(&docs) {
        for p in json_differences(before, after) {
            let mut parts = p.split('/').skip(1);
            let ok = parts.next() == Some("webhooks")
                && parts.next().is_some_and(|i| i.parse::<usize>().is_ok())
                && matches!(
                    (parts.next(), parts.next()),
                    (Some("clientConfig"), Some("service" | "url" | "caBundle"))
                        | (Some("namespaceSelector"), _)
                );
            assert!(
                ok,
                "{file}: the test changed {p}, which must stay as shipped"
            );
        }
    }
    docs
}

/// The webhook configurations registered by [`register_webhooks`]; deleted when dropped.
/// Their names are the shipped ones, which are cluster-wide: one test at a time holds them.
pub struct Webhooks {
    names: Vec<(String, String)>,
    _turn: MutexGuard<'static, ()>,
}

impl Drop for Webhooks {
    fn drop(&mut self) {
        for (kind, name) in &self.names {
            let _ = kube().kubectl(&["delete", kind, name, "--ignore-not-found", "--wait=false"]);
        }
    }
}

/// Registers the shipped `file` (see [`localised_webhooks`]) for `namespace`, and returns
/// once the apiserver consults both webhooks. A configuration takes effect asynchronously
/// (an informer picks it up), so each is proved in use by a server-side dry run of a Pod
/// running `probe_image`, which hallmark must deny: first with only the validating
/// configuration registered, then with the mutating one, which is called first.
pub fn register_webhooks(file: &str, port: u16, namespace: &str, probe_image: &str) -> Webhooks {
    static TURN: Mutex<()> = Mutex::new(());
    let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    let k = kube();
    let docs = localised_webhooks(k, file, port, namespace);
    let mut hooks = Webhooks {
        names: Vec::new(),
        _turn: turn,
    };
    let mut ordered: Vec<&Value> = docs.iter().collect();
    ordered.sort_by_key(|d| d["kind"] != "ValidatingWebhookConfiguration");
    let probe = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "webhook-probe", "namespace": namespace},
        "spec": {"containers": [{"name": "probe", "image": probe_image}]},
    })
    .to_string();
    for doc in ordered {
        let kind = doc["kind"].as_str().unwrap().to_string();
        let name = doc["metadata"]["name"].as_str().unwrap().to_string();
        let o = k.kubectl_stdin(&["apply", "-f", "-"], &doc.to_string());
        assert!(
            o.status.success(),
            "kubectl apply {kind}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        hooks.names.push((kind.to_lowercase(), name));
        let webhook = doc["webhooks"][0]["name"].as_str().unwrap();
        let wanted = format!("admission webhook \"{webhook}\" denied the request");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let o = k.kubectl_stdin(&["create", "--dry-run=server", "-f", "-"], &probe);
            let err = String::from_utf8_lossy(&o.stderr).into_owned();
            if err.contains(&wanted) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{webhook} not consulted within 30 s of its registration; the last dry run said: {err}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    hooks
}

/// `hallmark admit ARGS` serving with the cluster's webhook certificate (the CA beside it is
/// the cluster's, which the webhook configurations' `caBundle` names).
pub fn start_admit(kube: &Kube, args: &[&str]) -> AdmitServer {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (
        dir.path().join("webhook.crt"),
        dir.path().join("webhook.key"),
    );
    std::fs::copy(&kube.webhook_cert, &cert).unwrap();
    std::fs::copy(&kube.webhook_key, &key).unwrap();
    std::fs::copy(&kube.ca, dir.path().join("ca.crt")).unwrap();
    AdmitServer::start_with(dir, cert, key, args)
}

impl AdmitServer {
    /// The port of its HTTPS webhook.
    pub fn port(&self) -> u16 {
        self.address
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .expect("127.0.0.1:PORT")
    }
}

/// The tests would otherwise build another release, cold, while `.ci/run` built this one.
#[test]
fn the_cluster_runs_the_release_prefetch_kube_builds() {
    let script = include_str!("../../../../../scripts/prefetch-kube");
    assert!(
        script
            .lines()
            .any(|l| l == format!("K8S_VERSION={}", KUBE_VERSION.trim_start_matches('v'))),
        "scripts/prefetch-kube does not build kube-apiserver {KUBE_VERSION}"
    );
}
