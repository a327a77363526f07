//! `hallmark admit` behind a real Kubernetes API server (kube-apiserver v1.37.2 and etcd on
//! loopback), registered through the shipped webhook configurations, with objects created
//! by kubectl: what the cluster stores is what these tests read back. The images live in the
//! harness's registry; the apiserver never pulls them (no kubelet runs), hallmark does.

use std::path::Path;
use std::process::Output;

use serde_json::{Value, json};

use crate::harness::*;

/// A registry with `team/unsigned:v1` (never signed), a key, the policy trusting it, a
/// namespace, `hallmark admit ARGS` and the shipped webhook configuration `webhooks`
/// registered for that namespace alone.
struct Cluster {
    reg: Registry,
    keys: Keys,
    ns: String,
    admit: Option<AdmitServer>,
    _hooks: Webhooks,
    _dir: tempfile::TempDir,
}

async fn cluster(prefix: &str, webhooks: &str, args: &[&str]) -> Cluster {
    let reg = Registry::start();
    let keys = keys("ecdsa-p256");
    push_random(&reg.store("team/unsigned"), Some("v1"), "unsigned").await;
    let dir = tempfile::tempdir().unwrap();
    let policy = team_policy(dir.path(), &reg.addr, &keys.public);
    let k = kube();
    let ns = k.namespace(prefix);
    let mut all = vec!["--policy", policy.as_str()];
    all.extend_from_slice(args);
    let admit = start_admit(k, &all);
    let probe = format!("{}/team/unsigned:v1", reg.addr);
    let hooks = register_webhooks(webhooks, admit.port(), &ns, &probe);
    Cluster {
        reg,
        keys,
        ns,
        admit: Some(admit),
        _hooks: hooks,
        _dir: dir,
    }
}

impl Cluster {
    /// `kubectl create -o json` of `object` in the test's namespace.
    fn create(&self, object: &Value) -> Output {
        kube().kubectl_stdin(
            &["-n", &self.ns, "create", "-o", "json", "-f", "-"],
            &object.to_string(),
        )
    }

    /// [`Cluster::create`], which must succeed: the object as stored.
    #[track_caller]
    fn created(&self, object: &Value) -> Value {
        let o = self.create(object);
        expect_kubectl_ok(&o, self);
        serde_json::from_slice(&o.stdout).unwrap()
    }

    /// The stored object, read back with `kubectl get`.
    fn get(&self, kind: &str, name: &str) -> Value {
        let out = kube().kubectl_ok(&["-n", &self.ns, "get", kind, name, "-o", "json"]);
        serde_json::from_str(&out).unwrap()
    }

    /// Whether the namespace holds `kind/name`.
    fn exists(&self, kind: &str, name: &str) -> bool {
        let o = kube().kubectl(&[
            "-n",
            &self.ns,
            "get",
            kind,
            name,
            "--ignore-not-found",
            "-o",
            "name",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        !stdout(&o).trim().is_empty()
    }
}

#[track_caller]
fn expect_kubectl_ok(o: &Output, c: &Cluster) {
    assert!(
        o.status.success(),
        "kubectl: {}\nhallmark admit said:\n{}",
        stderr(o),
        c.admit.as_ref().map(AdmitServer::log).unwrap_or_default()
    );
}

/// A kubectl failure that says hallmark denied the object, through `webhook`.
#[track_caller]
fn expect_denied(o: &Output, webhook: &str) -> String {
    assert!(!o.status.success(), "admitted: {}", stdout(o));
    let err = stderr(o);
    assert!(
        err.contains(&format!(
            "admission webhook \"{webhook}\" denied the request"
        )),
        "{err}"
    );
    err
}

fn pod(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "initContainers": [{"name": "migrate", "image": image}],
            "containers": [{"name": "app", "image": image}],
        },
    })
}

fn deployment(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]},
            },
        },
    })
}

/// The images of a pod spec, init containers first.
fn images(spec: &Value) -> Vec<String> {
    ["initContainers", "containers"]
        .iter()
        .flat_map(|k| spec[k].as_array().cloned().unwrap_or_default())
        .map(|c| c["image"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_pod_is_stored_pinned_to_the_verified_digest_and_stays_so_when_the_tag_moves() {
    let c = cluster("signed-pod", "webhooks.yaml", &[]).await;
    let r = c.reg.addr.clone();
    let app = signed_image(&c.reg, "team/app", Some("v1"), &c.keys, &[]).await;
    let pinned = format!("{r}/team/app:v1@{}", app.digest());

    let stored = c.created(&pod("web", &format!("{r}/team/app:v1")));
    assert_eq!(images(&stored["spec"]), [pinned.clone(), pinned.clone()]);
    assert_eq!(
        images(&c.get("pod", "web")["spec"]),
        [pinned.clone(), pinned.clone()]
    );
    // The validating webhook, called after the mutation, saw the pinned images and
    // verified them as they are.
    let admit = c.admit.as_ref().unwrap();
    let validated = admit.events("answered").iter().any(|v| {
        v["endpoint"] == "validate"
            && v["name"] == "web"
            && v["decision"] == "allowed"
            && v["images"].as_array().is_some_and(|i| {
                i.len() == 2
                    && i.iter().all(|i| {
                        i["image"] == pinned.as_str()
                            && i["outcome"] == "verified"
                            && i["digest"] == app.digest().to_string()
                    })
            })
    });
    assert!(validated, "{}", admit.log());
    // An UPDATE of the admitted Pod (a label) goes through both webhooks again and passes:
    // its images are pinned to digests that verify.
    let o = kube().kubectl(&["-n", &c.ns, "label", "pod", "web", "tier=frontend"]);
    expect_kubectl_ok(&o, &c);
    assert!(
        admit
            .events("answered")
            .iter()
            .any(|v| v["operation"] == "UPDATE"
                && v["endpoint"] == "validate"
                && v["name"] == "web"),
        "{}",
        admit.log()
    );

    // The tag moves to an unsigned image after admission: the stored Pod still names the
    // digest that verified (nothing resolves the tag again), and a new Pod by that tag is
    // denied rather than given either digest.
    let moved = push_random(&c.reg.store("team/app"), Some("v1"), "moved").await;
    assert_eq!(
        images(&c.get("pod", "web")["spec"]),
        [pinned.clone(), pinned.clone()]
    );
    let o = c.create(&pod("web-again", &format!("{r}/team/app:v1")));
    let err = expect_denied(&o, "mutate.hallmark.dev");
    assert!(!err.contains(&app.digest().to_string()), "{err}");
    assert!(!c.exists("pod", "web-again"));

    // By the digest that verified: admitted unchanged. By the unsigned one: denied, never
    // rewritten to the signed one.
    let by_digest = format!("{r}/team/app@{}", app.digest());
    let stored = c.created(&pod("by-digest", &by_digest));
    assert_eq!(images(&stored["spec"]), [by_digest.clone(), by_digest]);
    let o = c.create(&pod(
        "unverified",
        &format!("{r}/team/app@{}", moved.digest()),
    ));
    expect_denied(&o, "mutate.hallmark.dev");
    assert!(!c.exists("pod", "unverified"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_deployment_is_stored_with_its_template_pinned() {
    let c = cluster("signed-deploy", "webhooks.yaml", &[]).await;
    let r = c.reg.addr.clone();
    let app = signed_image(&c.reg, "team/app", Some("v1"), &c.keys, &[]).await;
    let stored = c.created(&deployment("web", &format!("{r}/team/app:v1")));
    let want = [format!("{r}/team/app:v1@{}", app.digest())];
    assert_eq!(images(&stored["spec"]["template"]["spec"]), want);
    assert_eq!(
        images(&c.get("deployment", "web")["spec"]["template"]["spec"]),
        want
    );

    // An UPDATE that puts an unsigned image in the template is denied; the stored one stays.
    let mut changed = c.get("deployment", "web");
    changed["spec"]["template"]["spec"]["containers"][0]["image"] =
        format!("{r}/team/unsigned:v1").into();
    let o = kube().kubectl_stdin(&["-n", &c.ns, "replace", "-f", "-"], &changed.to_string());
    expect_denied(&o, "mutate.hallmark.dev");
    assert_eq!(
        images(&c.get("deployment", "web")["spec"]["template"]["spec"]),
        want
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_image_is_denied_with_hallmarks_reason() {
    let c = cluster("unsigned", "webhooks.yaml", &[]).await;
    let r = c.reg.addr.clone();
    let image = format!("{r}/team/unsigned:v1");
    let o = c.create(&pod("tool", &image));
    let err = expect_denied(&o, "mutate.hallmark.dev");
    // hallmark's own reason, naming the container and the image, reaches the user.
    assert!(
        err.contains(&format!("spec.containers[0] (app) {image}: not verified")),
        "{err}"
    );
    assert!(!c.exists("pod", "tool"));

    let o = c.create(&deployment("tool", &image));
    let err = expect_denied(&o, "mutate.hallmark.dev");
    assert!(
        err.contains(&format!(
            "spec.template.spec.containers[0] (app) {image}: not verified"
        )),
        "{err}"
    );
    assert!(!c.exists("deployment", "tool"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_hallmark_down_the_apiserver_admits_nothing() {
    let mut c = cluster("down", "webhooks.yaml", &[]).await;
    let r = c.reg.addr.clone();
    signed_image(&c.reg, "team/app", Some("v1"), &c.keys, &[]).await;
    drop(c.admit.take());
    // A signed image too: failurePolicy Fail means no answer is a denial.
    let o = c.create(&pod("web", &format!("{r}/team/app:v1")));
    assert!(!o.status.success(), "admitted: {}", stdout(&o));
    let err = stderr(&o);
    assert!(
        err.contains("failed calling webhook \"mutate.hallmark.dev\""),
        "{err}"
    );
    assert!(!c.exists("pod", "web"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_gitops_mode_deployments_are_stored_as_written_and_their_pods_pinned() {
    let c = cluster("gitops", "webhooks-pods-only.yaml", &["--pods-only"]).await;
    let r = c.reg.addr.clone();
    let app = signed_image(&c.reg, "team/app", Some("v1"), &c.keys, &[]).await;
    let tag = format!("{r}/team/app:v1");
    let stored = c.created(&deployment("web", &tag));
    assert_eq!(images(&stored["spec"]["template"]["spec"]), [tag.as_str()]);

    // The Pod its ReplicaSet would create (no controller runs here): pinned.
    let template = &c.get("deployment", "web")["spec"]["template"];
    let mut p = json!({"apiVersion": "v1", "kind": "Pod", "metadata": template["metadata"].clone(), "spec": template["spec"].clone()});
    p["metadata"]["name"] = "web-7d4b9c-x2x9q".into();
    let stored = c.created(&p);
    assert_eq!(images(&stored["spec"]), [format!("{tag}@{}", app.digest())]);

    // The webhooks never see controllers in this mode, so an unsigned image in a template
    // is stored; its Pods are what is denied.
    let unsigned = format!("{r}/team/unsigned:v1");
    c.created(&deployment("tool", &unsigned));
    let o = c.create(&pod("tool-5f6d8-abcde", &unsigned));
    expect_denied(&o, "mutate.hallmark.dev");
}

#[test]
fn the_shipped_manifests_are_valid_and_keep_the_webhooks_failing_closed() {
    let k = kube();
    // Every manifest, validated by the apiserver itself (a server-side dry run runs the
    // same validation and defaulting as a real create); the namespaced ones need their
    // namespace, which is made for real.
    k.kubectl_ok(&["apply", "-f", &path_str(&manifest_path("namespace.yaml"))]);
    for entry in std::fs::read_dir(manifest_path("")).unwrap() {
        let path = entry.unwrap().path();
        let o = k.kubectl(&["apply", "--dry-run=server", "-f", &path_str(&path)]);
        assert!(o.status.success(), "{}: {}", path.display(), stderr(&o));
    }

    for file in ["webhooks.yaml", "webhooks-pods-only.yaml"] {
        let docs = manifest_json(file);
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            [
                "MutatingWebhookConfiguration",
                "ValidatingWebhookConfiguration"
            ],
            "{file}"
        );
        for doc in &docs {
            for hook in doc["webhooks"].as_array().unwrap() {
                let name = hook["name"].as_str().unwrap();
                assert_eq!(hook["failurePolicy"], "Fail", "{file} {name}");
                assert_eq!(hook["sideEffects"], "None", "{file} {name}");
                assert_eq!(hook["timeoutSeconds"], 10, "{file} {name}");
                assert_eq!(hook["admissionReviewVersions"], json!(["v1"]));
                assert_eq!(
                    hook["namespaceSelector"]["matchExpressions"],
                    json!([{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["hallmark-system", "kube-system"]}]),
                    "{file} {name}: the webhook must never gate its own Pods"
                );
                assert!(
                    hook.get("objectSelector").is_none(),
                    "{file} {name}: an opt-out label anyone could set"
                );
                let service = &hook["clientConfig"]["service"];
                assert_eq!(service["namespace"], "hallmark-system");
                assert_eq!(service["name"], "hallmark-admit");
                assert_eq!(service["port"], 443);
                if doc["kind"] == "MutatingWebhookConfiguration" {
                    assert_eq!(name, "mutate.hallmark.dev");
                    assert_eq!(service["path"], "/mutate");
                    assert_eq!(hook["reinvocationPolicy"], "IfNeeded", "{file}");
                } else {
                    assert_eq!(name, "validate.hallmark.dev");
                    assert_eq!(service["path"], "/validate");
                }
            }
        }
    }
    // The GitOps configuration is the full one with fewer rules: nothing else differs.
    let (full, pods) = (
        manifest_json("webhooks.yaml"),
        manifest_json("webhooks-pods-only.yaml"),
    );
    for (a, b) in full.iter().zip(&pods) {
        for p in json_differences(a, b) {
            assert!(
                p.starts_with("/webhooks/0/rules"),
                "webhooks-pods-only.yaml differs at {p}"
            );
        }
        let resources = |d: &Value| -> Vec<String> {
            d["webhooks"][0]["rules"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|r| r["resources"].as_array().unwrap().clone())
                .map(|r| r.as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            resources(a),
            [
                "pods",
                "pods/ephemeralcontainers",
                "replicationcontrollers",
                "deployments",
                "replicasets",
                "statefulsets",
                "daemonsets",
                "jobs",
                "cronjobs"
            ]
        );
        assert_eq!(resources(b), ["pods", "pods/ephemeralcontainers"]);
    }

    // The Deployment: two replicas, probes on /healthz over HTTPS on the serving port, an
    // image pinned by digest, hallmark's own audit finds nothing.
    let d = &manifest_json("deployment.yaml")[0];
    assert_eq!(d["spec"]["replicas"], 2);
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(
            container[probe]["httpGet"],
            json!({"scheme": "HTTPS", "path": "/healthz", "port": "https"})
        );
    }
    assert!(container["image"].as_str().unwrap().contains("@sha256:"));
    let o = run(&["audit", &path_str(&manifest_path(""))]);
    expect_code(&o, 0);

    // The shipped policy is one hallmark loads, once a real key stands in for the placeholder.
    let data = &manifest_json("configmap-policy.yaml")[0]["data"];
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("policy.toml"),
        data["policy.toml"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::copy(&keys("ecdsa-p256").public, dir.path().join("release.pub")).unwrap();
    let o = run(&[
        "policy",
        "check",
        &path_str(&dir.path().join("policy.toml")),
    ]);
    expect_code(&o, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_deployment_runs_a_server_that_its_probes_and_prometheus_reach() {
    let k = kube();
    let d = &manifest_json("deployment.yaml")[0];
    let spec = &d["spec"]["template"]["spec"];
    let container = &spec["containers"][0];
    let port_of = |name: &str| {
        container["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no container port {name}"))["containerPort"]
            .as_u64()
            .unwrap()
    };
    // The Service sends to the container's named ports.
    let service = &manifest_json("service.yaml")[0];
    for p in service["spec"]["ports"].as_array().unwrap() {
        port_of(p["targetPort"].as_str().unwrap());
    }

    // The volumes as the kubelet would mount them: the ConfigMap's keys (a real key for
    // the placeholder) and the TLS Secret's, under the manifest's mount paths.
    let root = tempfile::tempdir().unwrap();
    let mount = |volume: &str| {
        let m = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == volume)
            .unwrap();
        let path = m["mountPath"].as_str().unwrap().to_string();
        let local = root.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(&local).unwrap();
        (path, local)
    };
    let (policy_at, policy_dir) = mount("policy");
    let data = &manifest_json("configmap-policy.yaml")[0]["data"];
    std::fs::write(
        policy_dir.join("policy.toml"),
        data["policy.toml"].as_str().unwrap(),
    )
    .unwrap();
    std::fs::copy(&keys("ecdsa-p256").public, policy_dir.join("release.pub")).unwrap();
    let (tls_at, tls_dir) = mount("tls");
    std::fs::copy(&k.webhook_cert, tls_dir.join("tls.crt")).unwrap();
    std::fs::copy(&k.webhook_key, tls_dir.join("tls.key")).unwrap();
    assert_eq!(
        manifest_json("secret-tls.yaml")[0]["type"],
        "kubernetes.io/tls"
    );

    let metrics = free_port();
    let args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let a = a.as_str().unwrap();
            if a == format!("0.0.0.0:{}", port_of("https")) {
                "127.0.0.1:0".to_string()
            } else if a == format!("0.0.0.0:{}", port_of("metrics")) {
                format!("127.0.0.1:{metrics}")
            } else if let Some(rest) = a.strip_prefix(&format!("{policy_at}/")) {
                path_str(&policy_dir.join(rest))
            } else if let Some(rest) = a.strip_prefix(&format!("{tls_at}/")) {
                path_str(&tls_dir.join(rest))
            } else {
                a.to_string()
            }
        })
        .collect();
    // The serving certificate and address are the mounted Secret's and the https port.
    let mut rest: Vec<&str> = Vec::new();
    let mut it = args.iter().map(String::as_str);
    while let Some(a) = it.next() {
        match a {
            "--tls-cert" => {
                assert_eq!(it.next(), Some(path_str(&tls_dir.join("tls.crt")).as_str()))
            }
            "--tls-key" => assert_eq!(it.next(), Some(path_str(&tls_dir.join("tls.key")).as_str())),
            "--listen" => assert_eq!(it.next(), Some("127.0.0.1:0")),
            _ => rest.push(a),
        }
    }
    assert_eq!(rest[0], "admit");
    std::fs::copy(&k.ca, tls_dir.join("ca.crt")).unwrap();
    let server = AdmitServer::start_with(
        tempfile::tempdir().unwrap(),
        tls_dir.join("tls.crt"),
        tls_dir.join("tls.key"),
        &rest[1..],
    );
    assert_eq!(
        server.metrics.as_deref(),
        Some(format!("127.0.0.1:{metrics}").as_str())
    );

    let client = server.client();
    let probe = &container["readinessProbe"]["httpGet"];
    let url = format!(
        "{}://{}{}",
        probe["scheme"].as_str().unwrap().to_lowercase(),
        server.address,
        probe["path"].as_str().unwrap()
    );
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 200, "{url}");

    // Every metric docs/ADMIT.md lists is exported.
    let text = client
        .get(format!("http://127.0.0.1:{metrics}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let guide =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/ADMIT.md"))
            .unwrap();
    let listed: Vec<&str> = guide
        .lines()
        .filter_map(|l| l.strip_prefix("| `hallmark_admit_"))
        .map(|l| l.split(['{', '`']).next().unwrap())
        .collect();
    assert!(listed.len() >= 6, "{listed:?}");
    for name in listed {
        assert!(
            text.contains(&format!("hallmark_admit_{name}")),
            "docs/ADMIT.md lists hallmark_admit_{name}, which /metrics lacks:\n{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_debug_gets_its_image_verified_and_pinned() {
    let c = cluster("debug", "webhooks.yaml", &[]).await;
    let r = c.reg.addr.clone();
    let app = signed_image(&c.reg, "team/app", Some("v1"), &c.keys, &[]).await;
    let tools = signed_image(&c.reg, "team/tools", Some("v1"), &c.keys, &[]).await;
    c.created(&pod("web", &format!("{r}/team/app:v1")));

    // `kubectl debug web --image IMAGE --container NAME`.
    let debug = |image: &str, name: &str| {
        kube().kubectl(&[
            "-n",
            &c.ns,
            "debug",
            "web",
            "--image",
            image,
            "--container",
            name,
        ])
    };
    // An unsigned debugging image: the pods/ephemeralcontainers update is denied.
    let unsigned = format!("{r}/team/unsigned:v1");
    let o = debug(&unsigned, "bad");
    let err = expect_denied(&o, "mutate.hallmark.dev");
    assert!(err.contains("spec.ephemeralContainers"), "{err}");

    // A signed one: added, pinned; the Pod's own containers are left as admitted.
    let o = debug(&format!("{r}/team/tools:v1"), "debugger");
    expect_kubectl_ok(&o, &c);
    let stored = c.get("pod", "web");
    let ephemeral = stored["spec"]["ephemeralContainers"].as_array().unwrap();
    assert_eq!(ephemeral.len(), 1, "{stored}");
    assert_eq!(ephemeral[0]["name"], "debugger");
    assert_eq!(
        ephemeral[0]["image"],
        format!("{r}/team/tools:v1@{}", tools.digest())
    );
    assert_eq!(
        images(&stored["spec"]),
        vec![format!("{r}/team/app:v1@{}", app.digest()); 2]
    );
}
