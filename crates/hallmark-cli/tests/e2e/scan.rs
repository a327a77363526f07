//! `hallmark scan` against real registries: every status produced by a real scenario (the
//! seed attack replayed after the fact), pagination of tags and of the catalog, a
//! repository that disappears, and a registry that rate-limits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::harness::*;
use hallmark::keys::SigningKey;
use hallmark::reference::Source;
use hallmark::sign::SignOptions;
use hallmark::store::Target;

fn scan(args: &[&str]) -> std::process::Output {
    let mut all = vec!["scan"];
    all.extend_from_slice(args);
    run(&all)
}

/// The tag entries of a JSON scan, by `repo:tag`.
fn by_tag(v: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                format!(
                    "{}:{}",
                    t["repository"].as_str().unwrap(),
                    t["tag"].as_str().unwrap()
                ),
                t.clone(),
            )
        })
        .collect()
}

/// Signs `digest` in `repo` with a signature dated `age` ago that binds `bind_tags`,
/// through the library (the binary always signs "now").
async fn sign_dated(
    reg: &Registry,
    repo: &str,
    digest: &str,
    k: &Keys,
    age: Duration,
    bind_tags: &[&str],
) {
    sign_at(reg, repo, digest, k, SystemTime::now() - age, bind_tags).await;
}

/// Signs `digest` in `repo` with a signature dated `at` that binds `bind_tags`.
async fn sign_at(
    reg: &Registry,
    repo: &str,
    digest: &str,
    k: &Keys,
    at: SystemTime,
    bind_tags: &[&str],
) {
    let pem = std::fs::read(&k.private).unwrap();
    let key = SigningKey::from_encrypted_pem(&pem, PASSWORD.as_bytes(), "k").unwrap();
    let source = Source::parse(&format!("{}/{repo}@{digest}", reg.addr)).unwrap();
    let target = Target::open(&source, &client(), false).unwrap();
    let mut opts = SignOptions::default();
    opts.timestamp = at;
    opts.bind_tags = bind_tags.iter().map(|t| t.to_string()).collect();
    hallmark::sign::sign(&target, &key, &opts).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_status_comes_from_a_real_scenario() {
    let reg = Registry::start();
    let (k, other) = (keys("ecdsa-p256"), keys("ecdsa-p256"));
    let repo = "team/app";
    let store = reg.store(repo);
    let pinned = |d: &hallmark::digest::Digest| format!("{}/{repo}@{d}", reg.addr);

    let v1 = signed_image(&reg, repo, Some("v1"), &k, &["--bind-tag", "v1"]).await;
    // Another tag on the same digest: its signatures are read once.
    v1.push(&store, Some("stable")).await.unwrap();
    push_random(&store, Some("v2"), "unsigned").await;
    let v3 = push_random(&store, Some("v3"), "other key").await;
    expect_code(&sign(&[&pinned(v3.digest()), "--key", &other.private]), 0);
    // The seed attack, replayed: the pipeline signed `release` bound to its build; then
    // someone with write access moved the tag to their own image.
    let good = push_random(&store, Some("release"), "good").await;
    expect_code(
        &sign(&[
            &pinned(good.digest()),
            "--key",
            &k.private,
            "--bind-tag",
            "release",
        ]),
        0,
    );
    let evil = push_random(&store, None, "evil").await;
    evil.push(&store, Some("release")).await.unwrap();

    let target = format!("{}/{repo}", reg.addr);
    let o = scan(&[&target, "--key", &k.public, "--output", "json"]);
    // Unsigned, invalid and drifted are in the default --fail-on.
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_valid_scan(&v);
    let tags = by_tag(&v);
    let status = |t: &str| {
        tags[&format!("{target}:{t}")]["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("v1"), "verified");
    assert_eq!(status("stable"), "verified");
    assert_eq!(status("v2"), "unsigned");
    assert_eq!(status("v3"), "invalid");
    assert_eq!(status("release"), "drifted");
    let release = &tags[&format!("{target}:release")];
    assert_eq!(release["digest"], evil.digest().to_string().as_str());
    assert_eq!(
        release["bound_to"]["digest"],
        good.digest().to_string().as_str()
    );
    // Where it went: the signed digest no tag names any more, bound to `release`.
    let orphans = v["orphaned"].as_array().unwrap();
    assert_eq!(orphans.len(), 1, "{v:#}");
    assert_eq!(orphans[0]["digest"], good.digest().to_string().as_str());
    assert_eq!(orphans[0]["bound_tags"], serde_json::json!(["release"]));
    // Signature tags are never reported as artifacts.
    assert!(tags.keys().all(|t| !t.contains("sha256-")), "{tags:?}");
    assert_eq!(tags.len(), 5);
    assert_eq!(v["partial"], false);
    assert_eq!(v["summary"]["drifted"], 1);

    // The table: status first, problems first, one summary line.
    let o = scan(&[&target, "--key", &k.public]);
    expect_code(&o, 1);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("drifted "), "{out}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("verified ") && l.contains(":v1 "))
    );
    assert!(lines.iter().any(|l| l.starts_with("orphaned ")));
    let summary = lines.last().unwrap();
    assert!(
        summary.starts_with("scanned 5 tags in 1 repositories") && summary.contains("1 drifted"),
        "{summary}"
    );
    assert!(
        !out.contains('\x1b'),
        "no colour when stdout is not a terminal"
    );
    // --fail-on decides the exit code.
    expect_code(
        &scan(&[&target, "--key", &k.public, "--fail-on", "stale"]),
        0,
    );
    expect_code(
        &scan(&[&target, "--key", &k.public, "--fail-on", "orphaned"]),
        1,
    );
    let o = scan(&[&target, "--key", &k.public, "--fail-on", "sideways"]);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("is not a status"), "{}", stderr(&o));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_and_policy_statuses_come_from_the_policy() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let old = push_random(&reg.store("prod/old"), Some("v1"), "old").await;
    sign_dated(
        &reg,
        "prod/old",
        &old.digest().to_string(),
        &k,
        Duration::from_secs(40 * 86400),
        &[],
    )
    .await;
    signed_image(&reg, "prod/fresh", Some("v1"), &k, &[]).await;
    push_random(&reg.store("sandbox/tool"), Some("v1"), "sandbox").await;
    push_random(&reg.store("legacy/app"), Some("v1"), "legacy").await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(&k.public, dir.path().join("release.pub")).unwrap();
    let policy = dir.path().join("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n\n[[rule]]\nname = \"prod\"\nmatch = [\"{0}/prod/*\"]\nkeys = [\"release.pub\"]\nmax-age = \"30d\"\n\n\
             [[rule]]\nname = \"sandbox\"\nmatch = [\"{0}/sandbox/**\"]\naction = \"allow-unsigned\"\n\n\
             [[rule]]\nname = \"legacy\"\nmatch = [\"{0}/legacy/*\"]\naction = \"reject\"\n",
            reg.addr
        ),
    )
    .unwrap();
    // The whole registry, through its catalog.
    let o = scan(&[
        &reg.addr,
        "--policy",
        policy.to_str().unwrap(),
        "--output",
        "json",
    ]);
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_valid_scan(&v);
    let tags = by_tag(&v);
    let status = |r: &str| {
        tags[&format!("{}/{r}:v1", reg.addr)]["status"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(status("prod/old"), "stale");
    assert_eq!(status("prod/fresh"), "verified");
    assert_eq!(status("sandbox/tool"), "allowed");
    assert_eq!(status("legacy/app"), "invalid");
    // Only stale and invalid are problems here; without invalid in --fail-on, only stale.
    let o = scan(&[
        &reg.addr,
        "--policy",
        policy.to_str().unwrap(),
        "--fail-on",
        "unsigned",
    ]);
    expect_code(&o, 0);
    // A glob target takes the matching repositories only.
    let o = scan(&[
        &format!("{}/prod/**", reg.addr),
        "--policy",
        policy.to_str().unwrap(),
        "--output",
        "json",
        "--fail-on",
        "invalid",
    ]);
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["repositories"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_tags_and_a_catalog_of_several_pages() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let img = signed_image(&reg, "big/app", None, &k, &[]).await;
    let store = reg.store("big/app");
    let manifest = store
        .get_manifest(&img.digest().to_string())
        .await
        .unwrap()
        .unwrap();
    let tags: Vec<String> = (0..1100).map(|i| format!("t{i:04}")).collect();
    futures_util::future::try_join_all(tags.iter().map(|t| store.put_manifest(&manifest, Some(t))))
        .await
        .unwrap();
    for i in 0..5 {
        push_random(&reg.store(&format!("small/r{i}")), Some("v1"), "small").await;
    }
    let o = scan(&[
        &reg.addr,
        "--key",
        &k.public,
        "--page-size",
        "2",
        "--output",
        "json",
        "--fail-on",
        "invalid",
    ]);
    expect_code(&o, 0);
    let v = json_out(&o);
    assert_eq!(
        v["repositories"].as_array().unwrap().len(),
        6,
        "{}",
        v["repositories"]
    );
    assert_eq!(v["summary"]["verified"], 1100);
    assert_eq!(v["summary"]["unsigned"], 5);
    // The 1 100 tags share a digest: its signatures are read once, so a tag costs little
    // more than reading its manifest.
    let requests = v["requests"].as_u64().unwrap();
    assert!(requests < 1105 + 600 + 20, "{requests} requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_that_disappears_makes_the_scan_partial_never_clean() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    signed_image(&reg, "team/gone", Some("v1"), &k, &[]).await;
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(|req, resp| {
            // Listed in the catalog, gone by the time its tags are asked for.
            if req.path.starts_with("/v2/team/gone/") {
                resp.status = 404;
                resp.body = br#"{"errors":[{"code":"NAME_UNKNOWN","message":"repository name not known to registry"}]}"#.to_vec();
            }
        })),
    })
    .await;
    let o = scan(&[
        &proxy.addr,
        "--key",
        &k.public,
        "--identity",
        &format!("{}/**", reg.addr),
    ]);
    expect_code(&o, 3);
    let out = stdout(&o);
    assert!(
        out.lines().last().unwrap().starts_with("PARTIAL: "),
        "{out}"
    );
    assert!(stderr(&o).contains("team/gone"), "{}", stderr(&o));
    let o = scan(&[
        &proxy.addr,
        "--key",
        &k.public,
        "--identity",
        &format!("{}/**", reg.addr),
        "--output",
        "json",
    ]);
    expect_code(&o, 3);
    let v = json_out(&o);
    assert_eq!(v["partial"], true);
    assert_eq!(v["summary"]["verified"], 1);
    assert!(
        v["errors"][0]["scope"]
            .as_str()
            .unwrap()
            .ends_with("team/gone")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_that_rate_limits_is_waited_for_then_reported() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    for i in 0..4 {
        signed_image(&reg, "team/app", Some(&format!("v{i}")), &k, &[]).await;
    }
    let limited = Arc::new(AtomicUsize::new(0));
    let seen = limited.clone();
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, resp| {
            // Every other manifest request is told to come back in a second.
            if req.path.contains("/manifests/")
                && seen.fetch_add(1, Ordering::SeqCst).is_multiple_of(2)
            {
                resp.status = 429;
                resp.headers.push(("Retry-After".into(), "1".into()));
                resp.body =
                    br#"{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}"#.to_vec();
            }
        })),
    })
    .await;
    let target = format!("{}/team/app", proxy.addr);
    let identity = format!("{}/team/app", reg.addr);
    let start = std::time::Instant::now();
    let o = scan(&[
        &target,
        "--key",
        &k.public,
        "--identity",
        &identity,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["summary"]["verified"], 4);
    assert!(start.elapsed() < Duration::from_secs(60));
    assert!(limited.load(Ordering::SeqCst) > 4);

    // A registry that never stops saying 429: the scan ends, partial, not clean.
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(|req, resp| {
            if req.path.contains("/manifests/v") {
                resp.status = 429;
                resp.headers.push(("Retry-After".into(), "1".into()));
            }
        })),
    })
    .await;
    let o = scan(&[
        &format!("{}/team/app", proxy.addr),
        "--key",
        &k.public,
        "--identity",
        &identity,
        "--retries",
        "1",
        "--output",
        "json",
        "--fail-on",
        "unsigned",
    ]);
    expect_code(&o, 3);
    let v = json_out(&o);
    assert_eq!(v["partial"], true);
    assert_eq!(v["summary"]["error"], 4);
}

/// A tag moved to a release whose own signature binds it is not drift; a tag moved back
/// to an older release is (a rollback), though that release is signed and bound it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_move_is_not_drift_but_a_rollback_is() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let repo = "team/app";
    let store = reg.store(repo);
    let old = push_random(&store, Some("latest"), "old").await;
    let new = push_random(&store, None, "new").await;
    let pin = |d: &hallmark::digest::Digest| format!("{}/{repo}@{d}", reg.addr);
    // The old release was signed (binding latest) a day ago, the new one now.
    let old_digest = old.digest().to_string();
    sign_dated(
        &reg,
        repo,
        &old_digest,
        &k,
        Duration::from_secs(86400),
        &["latest"],
    )
    .await;
    expect_code(
        &sign(&[
            &pin(new.digest()),
            "--key",
            &k.private,
            "--bind-tag",
            "latest",
        ]),
        0,
    );
    new.push(&store, Some("latest")).await.unwrap();
    let target = format!("{}/{repo}", reg.addr);
    let scan_json = |code: i32| {
        let o = scan(&[
            &target,
            "--key",
            &k.public,
            "--output",
            "json",
            "--fail-on",
            "drifted",
        ]);
        expect_code(&o, code);
        json_out(&o)
    };
    let v = scan_json(0);
    assert_eq!(v["tags"][0]["status"], "verified", "{v:#}");
    assert_eq!(
        v["orphaned"][0]["bound_tags"],
        serde_json::json!(["latest"])
    );
    // Rolled back: the newest binding of latest is the new release.
    old.push(&store, Some("latest")).await.unwrap();
    let v = scan_json(1);
    assert_eq!(v["tags"][0]["status"], "drifted", "{v:#}");
    assert_eq!(
        v["tags"][0]["bound_to"]["digest"],
        new.digest().to_string().as_str()
    );
}

/// On a terminal the table is coloured, unless NO_COLOR says otherwise.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_is_coloured_on_a_terminal_unless_no_color() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    push_random(&reg.store("team/app"), Some("v1"), "colour").await;
    let command = format!(
        "{} scan {}/team/app --key {} --fail-on error",
        env!("CARGO_BIN_EXE_hallmark"),
        reg.addr,
        k.public
    );
    let on_tty = |no_color: bool| {
        let mut c = std::process::Command::new("script");
        c.args(["-qec", &command, "/dev/null"])
            .env("DOCKER_CONFIG", "/nonexistent-hallmark-test")
            .env("CI", "true");
        if no_color {
            c.env("NO_COLOR", "1");
        } else {
            c.env_remove("NO_COLOR");
        }
        String::from_utf8_lossy(&c.output().unwrap().stdout).into_owned()
    };
    let coloured = on_tty(false);
    assert!(coloured.contains("\x1b[31munsigned"), "{coloured:?}");
    let plain = on_tty(true);
    assert!(
        plain.contains("unsigned") && !plain.contains('\x1b'),
        "{plain:?}"
    );
}

/// Bundles are found through the referrers API where the registry has one, and through
/// the fallback tag where it has not; there (where an untagged digest's bundles stay
/// listed in the tag list) a bundle's binding shows a moved tag as well as a legacy one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bundle_signatures_are_scanned_on_both_kinds_of_registry() {
    let k = keys("ecdsa-p256");
    for (kind, reg) in [
        ("with referrers API", Registry::start_with_referrers()),
        ("without referrers API", Registry::start()),
    ] {
        let repo = "team/app";
        let store = reg.store(repo);
        let good = push_random(&store, Some("v1"), "good").await;
        let pinned = format!("{}/{repo}@{}", reg.addr, good.digest());
        expect_code(
            &sign(&[
                &pinned,
                "--key",
                &k.private,
                "--format",
                "bundle",
                "--bind-tag",
                "v1",
            ]),
            0,
        );
        let other = signed_image(&reg, repo, Some("v2"), &k, &["--format", "bundle"]).await;
        let target = format!("{}/{repo}", reg.addr);
        let o = scan(&[&target, "--key", &k.public, "--output", "json"]);
        expect_code(&o, 0);
        let v = json_out(&o);
        assert_eq!(v["summary"]["verified"], 2, "{kind}: {v:#}");
        assert_eq!(v["tags"][0]["signatures"][0]["format"], "bundle");
        if kind == "without referrers API" {
            other.push(&store, Some("v1")).await.unwrap();
            let o = scan(&[&target, "--key", &k.public, "--output", "json"]);
            expect_code(&o, 1);
            let v = json_out(&o);
            let tags = by_tag(&v);
            assert_eq!(tags[&format!("{target}:v1")]["status"], "drifted", "{v:#}");
            assert_eq!(
                v["orphaned"][0]["digest"],
                good.digest().to_string().as_str()
            );
        }
    }
}

/// The JSON document follows docs/schema/scan.schema.json.
#[track_caller]
fn assert_valid_scan(doc: &serde_json::Value) {
    crate::json_output::assert_valid("scan.schema.json", doc);
}

/// Runs `scan --access --output json` with credentials on stdin.
fn scan_access(targets: &[&str], k: &Keys, user_password: (&str, &str)) -> serde_json::Value {
    let o = scan_access_run(targets, k, user_password);
    expect_code(&o, 0);
    json_out(&o)
}

fn scan_access_run(
    targets: &[&str],
    k: &Keys,
    user_password: (&str, &str),
) -> std::process::Output {
    let mut args = vec!["scan"];
    args.extend_from_slice(targets);
    args.extend_from_slice(&[
        "--key",
        &k.public,
        "--access",
        "--fail-on",
        "invalid",
        "--output",
        "json",
        "--username",
        user_password.0,
        "--password-stdin",
    ]);
    run_stdin(&args, &[], format!("{}\n", user_password.1).as_bytes())
}

fn access_of(v: &serde_json::Value, repo: &str) -> serde_json::Value {
    v["access"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["repository"].as_str().unwrap().ends_with(repo))
        .unwrap_or_else(|| panic!("{repo}: {v:#}"))
        .clone()
}

/// Who can write, against token authentication: the token server's `access` claim for
/// `pull,push` says, per repository, without a byte written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_is_read_from_the_token_servers_grant() {
    let dir = tempfile::tempdir().unwrap();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e2e/interop/token_server.py");
    let mut server = std::process::Command::new(python())
        .arg(script)
        .arg(dir.path())
        .arg("ci:s3cret")
        .arg(r#"{"team/app": ["pull", "push"], "team/other": ["pull"]}"#)
        .arg("admin:setup")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.stdout.take().unwrap()),
        &mut port,
    )
    .unwrap();
    let _server = KillOnDrop(server);
    let reg = Registry::start_with_auth(&format!(
        "auth:\n  token:\n    realm: http://127.0.0.1:{}/token\n    service: hallmark-test\n    issuer: hallmark-test\n    rootcertbundle: {}\n",
        port.trim(),
        dir.path().join("token.pem").display()
    ));
    let k = keys("ecdsa-p256");
    for repo in ["team/app", "team/other"] {
        push_authed(&reg, repo, "admin", "setup").await;
    }
    let targets = [
        format!("{}/team/app", reg.addr),
        format!("{}/team/other", reg.addr),
    ];
    let targets: Vec<&str> = targets.iter().map(String::as_str).collect();
    let v = scan_access(&targets, &k, ("ci", "s3cret"));
    let app = access_of(&v, "team/app");
    assert_eq!(app["can_push"], true, "{v:#}");
    assert!(app["how"].as_str().unwrap().contains("pull,push"));
    let other = access_of(&v, "team/other");
    assert_eq!(other["can_push"], false, "{v:#}");
    assert!(other["how"].as_str().unwrap().contains("grants pull"));
    // Wrong credentials: the token server refuses them, so nothing can be pushed.
    let v = json_out(&scan_access_run(&[targets[0]], &k, ("ci", "wrong")));
    assert_eq!(access_of(&v, "team/app")["can_push"], false, "{v:#}");
    // The whole registry through its catalog, which token servers grant under its own
    // scope (`registry:catalog:*`): the admin may, and can push everywhere.
    let v = scan_access(&[&reg.addr], &k, ("admin", "setup"));
    assert_eq!(v["repositories"].as_array().unwrap().len(), 2, "{v:#}");
    assert!(
        v["access"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["can_push"] == true),
        "{v:#}"
    );
}

/// Kills a helper process however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Pushes an unsigned image to `repo` of a registry that demands credentials.
async fn push_authed(reg: &Registry, repo: &str, user: &str, password: &str) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = hallmark::registry::Client::new(hallmark::registry::ClientOptions {
        credentials: Some(hallmark::registry::auth::Credentials {
            username: user.into(),
            password: password.into(),
        }),
        use_docker_config: false,
        ..hallmark::registry::ClientOptions::default()
    })
    .unwrap();
    let r = hallmark::reference::ImageRef::parse(&format!("{}/{repo}", reg.addr)).unwrap();
    let store = hallmark::store::Store::registry(&client, &r).unwrap();
    hallmark::image::Image::random("authed", 512)
        .unwrap()
        .push(&store, Some("v1"))
        .await
        .unwrap();
}

/// Who can write, against htpasswd: an upload session opened and cancelled at once; the
/// registry holds nothing more afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_against_basic_auth_opens_and_cancels_an_upload() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let o = std::process::Command::new(python())
        .args([
            "-c",
            "import bcrypt,sys; open(sys.argv[1],'w').write('ci:' + bcrypt.hashpw(b's3cret', bcrypt.gensalt(rounds=4)).decode() + '\\n')",
            htpasswd.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(o.success());
    let reg = Registry::start_with_auth(&format!(
        "auth:\n  htpasswd:\n    realm: hallmark-test\n    path: {}\n",
        htpasswd.display()
    ));
    let k = keys("ecdsa-p256");
    push_authed(&reg, "team/app", "ci", "s3cret").await;
    let target = format!("{}/team/app", reg.addr);
    let blobs_before = count_files(&reg.storage().join("docker/registry/v2/blobs"));
    let before = std::fs::read_dir(reg.storage().join("docker/registry/v2/repositories"))
        .map(|d| d.count())
        .unwrap_or(0);
    let v = scan_access(&[&target], &k, ("ci", "s3cret"));
    let app = access_of(&v, "team/app");
    assert_eq!(app["can_push"], true, "{v:#}");
    assert!(
        app["how"]
            .as_str()
            .unwrap()
            .contains("opened and cancelled")
    );
    // Nothing committed: no repository appeared, no blob was added, and the session was
    // cancelled (the registry keeps only an empty hash state of it, no data, no start time).
    let repos = reg.storage().join("docker/registry/v2/repositories");
    let after = std::fs::read_dir(&repos).map(|d| d.count()).unwrap_or(0);
    assert_eq!(after, before);
    let uploads = repos.join("team/app/_uploads");
    let live = files_named(&uploads, &["data", "startedat"]);
    assert_eq!(live, 0, "an upload session was left open");
    assert_eq!(
        count_files(&reg.storage().join("docker/registry/v2/blobs")),
        blobs_before
    );
}

fn files_named(dir: &std::path::Path, names: &[&str]) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    files_named(&e.path(), names)
                } else {
                    usize::from(names.iter().any(|n| e.file_name() == *n))
                }
            })
            .sum()
    })
}

fn count_files(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .flatten()
            .map(|e| {
                if e.path().is_dir() {
                    count_files(&e.path())
                } else {
                    1
                }
            })
            .sum()
    })
}

/// A registry that refuses to cancel the upload session `--access` opened: the report says
/// so, and that the session may remain open, instead of claiming it was cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_says_when_the_registry_refused_to_cancel() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    push_random(&reg.store("team/app"), Some("v1"), "app").await;
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(|req, resp| {
            if req.method == "DELETE" && req.path.contains("/blobs/uploads/") {
                resp.status = 405;
                resp.body = br#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#.to_vec();
            }
        })),
    })
    .await;
    let o = scan(&[
        &format!("{}/team/app", proxy.addr),
        "--key",
        &k.public,
        "--access",
        "--fail-on",
        "invalid",
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let v = json_out(&o);
    let app = access_of(&v, "team/app");
    assert_eq!(app["can_push"], true, "{v:#}");
    let how = app["how"].as_str().unwrap();
    assert!(
        how.contains("refused to cancel it (405") && how.contains("may remain open"),
        "{how}"
    );
    assert!(!how.contains("opened and cancelled"), "{how}");
    assert!(
        proxy
            .requests
            .lock()
            .unwrap()
            .iter()
            .any(|r| r.method == "DELETE")
    );
}

/// A registry on the IPv6 loopback is a target like any other: a repository, the whole
/// registry, a glob, in any spelling of the address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_registry_is_scanned() {
    let reg = Registry::start_ipv6();
    assert!(reg.addr.starts_with("[::1]:"));
    let k = keys("ecdsa-p256");
    signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    for target in [
        format!("{}/team/app", reg.addr),
        reg.addr.clone(),
        format!("{}/team/**", reg.addr),
    ] {
        let o = scan(&[&target, "--key", &k.public, "--output", "json"]);
        expect_code(&o, 0);
        let v = json_out(&o);
        assert_eq!(v["summary"]["verified"], 1, "{target}: {v:#}");
        assert_eq!(
            v["repositories"],
            serde_json::json!([format!("{}/team/app", reg.addr)])
        );
    }
    // Another spelling of the same loopback is as local (plain HTTP), like 127.0.0.2.
    let port = reg.addr.rsplit(':').next().unwrap();
    let o = scan(&[
        &format!("[0:0:0:0:0:0:0:1]:{port}/team/app"),
        "--key",
        &k.public,
        "--identity",
        &format!("{}/team/app", reg.addr),
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    assert_eq!(json_out(&o)["summary"]["verified"], 1);
}

/// A tag-list answer from a lying registry: `tags`, any `extra` JSON fields, and a `Link`
/// to `next` when given.
fn tag_page(resp: &mut ProxyResponse, tags: &[String], extra: &str, next: Option<String>) {
    resp.status = 200;
    resp.headers = vec![
        ("content-type".into(), "application/json".into()),
        (
            "docker-distribution-api-version".into(),
            "registry/2.0".into(),
        ),
    ];
    if let Some(n) = next {
        resp.headers
            .push(("link".into(), format!("<{n}>; rel=\"next\"")));
    }
    resp.body = format!(
        r#"{{"name":"x","tags":{}{extra}}}"#,
        serde_json::to_string(tags).unwrap()
    )
    .into_bytes();
}

/// Tag lists that never end (a `Link` back to the page itself, the same page under ever new
/// addresses, new names without end, pages of padding without end) are cut off by a bound
/// or as a loop: the repository is reported partial, the rest of the scan is intact, and
/// the scan ends (before these bounds, such a list grew the process to gigabytes).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_tag_lists_are_cut_off_and_reported_partial() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    for repo in ["team/loop", "team/repeat", "team/many", "team/padded"] {
        push_random(&reg.store(repo), Some("v1"), repo).await;
    }
    let counter = Arc::new(AtomicUsize::new(0));
    let count = counter.clone();
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, resp| {
            let Some((repo, _)) = req.path.split_once("/tags/list") else {
                return;
            };
            let n = count.fetch_add(1, Ordering::SeqCst);
            let v1 = vec!["v1".to_string()];
            match repo {
                "/v2/team/loop" => tag_page(resp, &v1, "", Some(req.path.clone())),
                "/v2/team/repeat" => tag_page(
                    resp,
                    &v1,
                    "",
                    Some(format!("{repo}/tags/list?n=1000&last=v{n}")),
                ),
                "/v2/team/many" => {
                    let names: Vec<String> = (0..1000).map(|i| format!("p{n}-{i}")).collect();
                    tag_page(
                        resp,
                        &names,
                        "",
                        Some(format!("{repo}/tags/list?n=1000&last=p{n}")),
                    )
                }
                "/v2/team/padded" => tag_page(
                    resp,
                    &v1,
                    &format!(r#","pad":"{n}{}""#, "x".repeat(600 * 1024)),
                    Some(format!("{repo}/tags/list?n=1000&last=v{n}")),
                ),
                _ => {}
            }
        })),
    })
    .await;
    let o = scan(&[
        &format!("{}/team/**", proxy.addr),
        "--key",
        &k.public,
        "--identity",
        &format!("{}/**", reg.addr),
        "--max-tags",
        "10",
        "--max-list-mib",
        "1",
        "--fail-on",
        "drifted",
        "--output",
        "json",
    ]);
    expect_code(&o, 3);
    let v = json_out(&o);
    assert_valid_scan(&v);
    assert_eq!(v["partial"], true);
    let tags = by_tag(&v);
    assert_eq!(
        tags[&format!("{}/team/app:v1", proxy.addr)]["status"],
        "verified",
        "{v:#}"
    );
    let error_of = |repo: &str| {
        v["errors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["scope"].as_str().unwrap().ends_with(repo))
            .unwrap_or_else(|| panic!("no error for {repo}: {v:#}"))["error"]
            .as_str()
            .unwrap()
            .to_string()
    };
    for (repo, why) in [
        ("team/loop", "leads back to a page already read"),
        ("team/repeat", "same page again"),
        ("team/many", "more than 10 names"),
        ("team/padded", "exceed 1048576 bytes"),
    ] {
        let e = error_of(repo);
        assert!(
            e.contains("read only in part") && e.contains(why),
            "{repo}: {e}"
        );
    }
    // What was read is still scanned: the first ten names of the endless list, no more.
    let many = tags.keys().filter(|t| t.contains("/team/many:")).count();
    assert_eq!(many, 10, "{v:#}");
    assert_eq!(
        tags[&format!("{}/team/loop:v1", proxy.addr)]["status"],
        "unsigned"
    );
    // A list cut short never yields orphans: the unread part may name any digest.
    assert!(v["orphaned"].as_array().unwrap().is_empty());
    assert!(counter.load(Ordering::SeqCst) < 100);

    // The text report says it too, and the bound of the whole scan holds across
    // repositories.
    let o = scan(&[
        &reg.addr,
        "--key",
        &k.public,
        "--max-scan-tags",
        "3",
        "--concurrency",
        "1",
        "--fail-on",
        "drifted",
    ]);
    expect_code(&o, 3);
    assert!(
        stdout(&o).lines().last().unwrap().starts_with("PARTIAL: "),
        "{}",
        stdout(&o)
    );
    assert!(
        stderr(&o).contains("the scan's bound of 3 names in all is reached"),
        "{}",
        stderr(&o)
    );
}

/// An image hidden under a signature-shaped tag (`.att`, `.sbom`, `.sig`, or the bare
/// `sha256-<hex>` the referrers fallback uses) is an artifact, scanned and reported;
/// real signature and referrer tags are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_hidden_under_signature_tags_are_reported() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let repo = "team/app";
    let store = reg.store(repo);
    signed_image(&reg, repo, Some("v1"), &k, &[]).await;
    // Bundle-signed on a registry without the referrers API: a real fallback index tag.
    signed_image(&reg, repo, Some("v2"), &k, &["--format", "bundle"]).await;
    let hidden: Vec<String> = [".att", ".sbom", ".sig", ""]
        .iter()
        .enumerate()
        .map(|(i, suffix)| format!("sha256-{}{suffix}", format!("{i:x}").repeat(64)))
        .collect();
    for t in &hidden {
        push_random(&store, Some(t), "hidden").await;
    }
    let target = format!("{}/{repo}", reg.addr);
    let o = scan(&[&target, "--key", &k.public, "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_valid_scan(&v);
    let tags = by_tag(&v);
    for t in &hidden {
        assert_eq!(
            tags[&format!("{target}:{t}")]["status"],
            "unsigned",
            "{v:#}"
        );
    }
    assert_eq!(tags[&format!("{target}:v1")]["status"], "verified");
    assert_eq!(tags[&format!("{target}:v2")]["status"], "verified");
    // The real .sig and fallback tags of v1 and v2 are not artifacts.
    assert_eq!(tags.len(), 6, "{v:#}");
    assert_eq!(v["partial"], false);
}

/// A failed referrers-API probe is not an answer: it is not remembered as "no API" for the
/// registry, the repository it failed for is partial, and the next repository asks again
/// and finds its bundle signatures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_referrers_probe_is_not_taken_for_no_api() {
    let reg = Registry::start_with_referrers();
    let k = keys("ecdsa-p256");
    for repo in ["team/a", "team/b"] {
        signed_image(&reg, repo, Some("v1"), &k, &["--format", "bundle"]).await;
    }
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(|req, resp| {
            if req.path.starts_with("/v2/team/a/referrers/") {
                resp.status = 500;
                resp.body = br#"{"errors":[{"code":"UNKNOWN","message":"backend down"}]}"#.to_vec();
            }
        })),
    })
    .await;
    let targets = [
        format!("{}/team/a", proxy.addr),
        format!("{}/team/b", proxy.addr),
    ];
    let o = scan(&[
        &targets[0],
        &targets[1],
        "--key",
        &k.public,
        "--identity",
        &format!("{}/**", reg.addr),
        "--concurrency",
        "1",
        "--retries",
        "0",
        "--output",
        "json",
    ]);
    expect_code(&o, 3);
    let v = json_out(&o);
    assert_valid_scan(&v);
    let tags = by_tag(&v);
    assert_eq!(
        tags[&format!("{}:v1", targets[1])]["status"],
        "verified",
        "{v:#}"
    );
    assert_ne!(
        tags[&format!("{}:v1", targets[0])]["status"],
        "unsigned",
        "{v:#}"
    );
    assert_eq!(v["partial"], true);
    assert!(
        v["errors"].as_array().unwrap().iter().any(|e| e["scope"]
            .as_str()
            .unwrap()
            .ends_with("team/a")
            && e["error"].as_str().unwrap().contains("referrers")),
        "{v:#}"
    );
}

/// A rollback whose two bindings carry the same second cannot be told from a tag left in
/// place: `ambiguous`, exit 3 (or 1 with it in --fail-on), never `verified`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_signed_in_the_same_second_is_ambiguous() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let repo = "team/app";
    let store = reg.store(repo);
    let old = push_random(&store, Some("latest"), "old").await;
    let new = push_random(&store, None, "new").await;
    let at = SystemTime::now() - Duration::from_secs(60);
    for d in [old.digest(), new.digest()] {
        sign_at(&reg, repo, &d.to_string(), &k, at, &["latest"]).await;
    }
    // `latest` still (or again) names the old release.
    let target = format!("{}/{repo}", reg.addr);
    let o = scan(&[&target, "--key", &k.public, "--output", "json"]);
    expect_code(&o, 3);
    let v = json_out(&o);
    assert_valid_scan(&v);
    assert_eq!(v["tags"][0]["status"], "ambiguous", "{v:#}");
    assert_eq!(
        v["tags"][0]["bound_to"]["digest"],
        new.digest().to_string().as_str()
    );
    assert_eq!(v["summary"]["ambiguous"], 1);
    assert!(stderr(&o).contains("ambiguous"), "{}", stderr(&o));
    let o = scan(&[&target, "--key", &k.public, "--fail-on", "ambiguous"]);
    expect_code(&o, 1);
    assert!(stdout(&o).starts_with("ambiguous "), "{}", stdout(&o));
}

/// Pushes `v` as a manifest of `media_type`, tagged `tag` when given; returns its
/// descriptor.
async fn put_raw(
    store: &hallmark::store::Store,
    v: serde_json::Value,
    media_type: &str,
    tag: Option<&str>,
) -> serde_json::Value {
    let m = hallmark::oci::Manifest::new(serde_json::to_vec(&v).unwrap(), media_type);
    store.put_manifest(&m, None).await.unwrap();
    if let Some(t) = tag {
        store.put_manifest(&m, Some(t)).await.unwrap();
    }
    serde_json::json!({"mediaType": media_type, "digest": m.digest.to_string(), "size": m.bytes.len()})
}

/// A manifest of one `layer_type` layer holding `content`, with an empty config, naming
/// `subject` when given; its blobs are pushed.
async fn one_layer_manifest(
    store: &hallmark::store::Store,
    layer_type: &str,
    content: &[u8],
    subject: Option<&hallmark::digest::Digest>,
) -> serde_json::Value {
    let blob = |b: &[u8]| {
        let d = hallmark::digest::Digest::sha256(b);
        let b = bytes::Bytes::copy_from_slice(b);
        let store = store.clone();
        async move {
            store.put_blob(&d, b.clone()).await.unwrap();
            (d.to_string(), b.len())
        }
    };
    let (config, config_size) = blob(b"{}").await;
    let (layer, layer_size) = blob(content).await;
    let mut v = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": hallmark::oci::OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config, "size": config_size},
        "layers": [{"mediaType": layer_type, "digest": layer, "size": layer_size}],
    });
    if let Some(s) = subject {
        v["artifactType"] = layer_type.into();
        v["subject"] = serde_json::json!({"mediaType": hallmark::oci::OCI_MANIFEST, "digest": s.to_string(), "size": 1});
    }
    v
}

/// A runnable image under a bare `sha256-<hex>` tag, in an index whose only entry has no
/// platform (skopeo and containerd resolve it to the image), with or without an
/// `artifactType` claimed for it, and a plain file under an `.sbom` tag are artifacts:
/// scanned and reported. Real fallback indexes and a real SBOM are not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_in_platformless_indexes_and_files_under_sbom_tags_are_reported() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let repo = "team/app";
    let store = reg.store(repo);
    signed_image(&reg, repo, Some("v1"), &k, &["--format", "bundle"]).await;
    let index = |entry: serde_json::Value| {
        serde_json::json!({"schemaVersion": 2, "mediaType": hallmark::oci::OCI_INDEX,
            "manifests": [entry]})
    };
    let hidden_image = push_random(&store, None, "evil").await;
    let entry = serde_json::json!({"mediaType": hallmark::oci::OCI_MANIFEST,
        "digest": hidden_image.digest().to_string(), "size": hidden_image.manifest.bytes.len()});
    let bare = format!("sha256-{}", "a".repeat(64));
    put_raw(
        &store,
        index(entry.clone()),
        hallmark::oci::OCI_INDEX,
        Some(&bare),
    )
    .await;
    let mut claimed = entry;
    claimed["artifactType"] = "application/vnd.dev.sigstore.bundle.v0.3+json".into();
    let claiming = format!("sha256-{}", "c".repeat(64));
    put_raw(
        &store,
        index(claimed),
        hallmark::oci::OCI_INDEX,
        Some(&claiming),
    )
    .await;
    let file = format!("sha256-{}.sbom", "b".repeat(64));
    let v = one_layer_manifest(&store, "application/octet-stream", b"#!/bin/sh\n", None).await;
    put_raw(&store, v, hallmark::oci::OCI_MANIFEST, Some(&file)).await;
    let sbom = format!("sha256-{}.sbom", "d".repeat(64));
    let v = one_layer_manifest(
        &store,
        "text/spdx+json",
        br#"{"spdxVersion":"SPDX-2.3"}"#,
        None,
    )
    .await;
    put_raw(&store, v, hallmark::oci::OCI_MANIFEST, Some(&sbom)).await;

    let target = format!("{}/{repo}", reg.addr);
    let o = scan(&[&target, "--key", &k.public, "--output", "json"]);
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_valid_scan(&v);
    let tags = by_tag(&v);
    for t in [&bare, &claiming, &file] {
        assert_eq!(
            tags[&format!("{target}:{t}")]["status"],
            "unsigned",
            "{t}: {v:#}"
        );
    }
    assert_eq!(tags[&format!("{target}:v1")]["status"], "verified");
    // v1's own fallback index and the SPDX document are what their tags say.
    assert_eq!(tags.len(), 4, "{v:#}");
    assert_eq!(v["partial"], false);
}

/// A fallback referrers index left for a digest no tag names is orphaned, as a `.sig` is,
/// even when what it lists is no signature.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_orphaned_fallback_index_is_reported() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let repo = "team/app";
    let store = reg.store(repo);
    signed_image(&reg, repo, Some("v1"), &k, &[]).await;
    let gone = hallmark::digest::Digest::sha256(b"an image no longer in the repository");
    let v = one_layer_manifest(
        &store,
        "text/spdx+json",
        br#"{"spdxVersion":"SPDX-2.3"}"#,
        Some(&gone),
    )
    .await;
    let mut entry = put_raw(&store, v, hallmark::oci::OCI_MANIFEST, None).await;
    entry["artifactType"] = "text/spdx+json".into();
    let fallback = hallmark::oci::referrers_tag(&gone);
    put_raw(
        &store,
        serde_json::json!({"schemaVersion": 2, "mediaType": hallmark::oci::OCI_INDEX,
            "manifests": [entry]}),
        hallmark::oci::OCI_INDEX,
        Some(&fallback),
    )
    .await;

    let target = format!("{}/{repo}", reg.addr);
    let o = scan(&[
        &target,
        "--key",
        &k.public,
        "--fail-on",
        "orphaned",
        "--output",
        "json",
    ]);
    expect_code(&o, 1);
    let v = json_out(&o);
    assert_valid_scan(&v);
    let orphans = v["orphaned"].as_array().unwrap();
    assert_eq!(orphans.len(), 1, "{v:#}");
    assert_eq!(orphans[0]["digest"], gone.to_string().as_str());
    assert!(
        orphans[0]["reason"].as_str().unwrap().contains(&fallback),
        "{v:#}"
    );
    // The index is a referrers index, not an artifact.
    assert_eq!(by_tag(&v).len(), 1, "{v:#}");
    assert_eq!(v["partial"], false);
}

/// A `Link` to another registry is not followed, for a tag list or the catalog: what it
/// lists is not this repository's (or registry's). The list ends there, and the scan says
/// it was read only in part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_another_registry_is_not_followed() {
    let reg = Registry::start();
    let other = Registry::start();
    let k = keys("ecdsa-p256");
    signed_image(&reg, "team/app", Some("v1"), &k, &[]).await;
    push_random(&other.store("team/app"), Some("planted"), "planted").await;
    push_random(&other.store("team/elsewhere"), Some("v1"), "elsewhere").await;
    let elsewhere = other.addr.clone();
    let proxy = Proxy::start(ProxyConfig {
        upstream: reg.addr.clone(),
        auth: None,
        tamper: Some(Arc::new(move |req, resp| {
            let next = if req.path.starts_with("/v2/_catalog") {
                format!("http://{elsewhere}/v2/_catalog?n=1000")
            } else if req.path.starts_with("/v2/team/app/tags/list") {
                format!("http://{elsewhere}/v2/team/app/tags/list?n=1000")
            } else {
                return;
            };
            resp.headers
                .push(("link".into(), format!("<{next}>; rel=\"next\"")));
        })),
    })
    .await;
    let o = scan(&[
        &proxy.addr,
        "--key",
        &k.public,
        "--identity",
        &format!("{}/**", reg.addr),
        "--output",
        "json",
    ]);
    expect_code(&o, 3);
    let v = json_out(&o);
    assert_valid_scan(&v);
    assert_eq!(v["partial"], true);
    let tags = by_tag(&v);
    assert_eq!(
        tags.keys().collect::<Vec<_>>(),
        [&format!("{}/team/app:v1", proxy.addr)],
        "{v:#}"
    );
    assert_eq!(
        v["repositories"],
        serde_json::json!([format!("{}/team/app", proxy.addr)])
    );
    let errors = v["errors"].as_array().unwrap();
    for scope in [proxy.addr.clone(), format!("{}/team/app", proxy.addr)] {
        assert!(
            errors.iter().any(|e| e["scope"] == scope.as_str()
                && e["error"]
                    .as_str()
                    .unwrap()
                    .contains("leads to another registry")),
            "{scope}: {v:#}"
        );
    }
}

/// The fallback index cosign writes on a registry without the referrers API is what it
/// says: it lists bundle referrers of its digest, so it is no artifact of its own, and the
/// image cosign signed is verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fallback_index_cosign_writes_is_a_referrers_index() {
    let dir = tempfile::tempdir().unwrap();
    let (key, public) = cosign_keys(dir.path());
    let reg = Registry::start();
    let img = push_random(&reg.store("team/app"), Some("v1"), "x").await;
    let pinned = format!("{}/team/app@{}", reg.addr, img.digest());
    cosign_ok(&[
        "sign",
        "--key",
        &key,
        "--use-signing-config=false",
        "--tlog-upload=false",
        "--allow-insecure-registry",
        &pinned,
    ]);
    let target = format!("{}/team/app", reg.addr);
    let o = scan(&[&target, "--key", &public, "--output", "json"]);
    expect_code(&o, 0);
    let v = json_out(&o);
    let tags = by_tag(&v);
    assert_eq!(tags.len(), 1, "{v:#}");
    assert_eq!(tags[&format!("{target}:v1")]["status"], "verified", "{v:#}");
}

/// An attestation is no rejected signature, in scan as in verify: a tag with attestations
/// only is unsigned and says so, and an untrusted signature's reason does not list them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attestations_are_not_reasons_a_signature_was_rejected() {
    let reg = Registry::start();
    let (k, stranger) = (keys("ecdsa-p256"), keys("ecdsa-p256"));
    let repo = "team/attested";
    let store = reg.store(repo);
    let only = push_random(&store, Some("only"), "attested only").await;
    let foreign = signed_image(&reg, repo, Some("foreign"), &stranger, &[]).await;
    let dir = tempfile::tempdir().unwrap();
    let predicate = dir.path().join("provenance.json");
    std::fs::write(&predicate, br#"{"builder":{"id":"https://ci.example/1"}}"#).unwrap();
    for img in [&only, &foreign] {
        let o = run_env(
            &[
                "attest",
                &format!("{}/{repo}@{}", reg.addr, img.digest()),
                "--key",
                &k.private,
                "--predicate",
                &path_str(&predicate),
                "--type",
                "slsaprovenance1",
            ],
            &[("HALLMARK_PASSWORD", PASSWORD)],
        );
        expect_code(&o, 0);
    }

    let o = scan(&[
        &format!("{}/{repo}", reg.addr),
        "--key",
        &k.public,
        "--output",
        "json",
    ]);
    let v = json_out(&o);
    crate::json_output::assert_valid("scan.schema.json", &v);
    let tags = by_tag(&v);
    let only = &tags[&format!("{}/{repo}:only", reg.addr)];
    assert_eq!(only["status"], "unsigned", "{only}");
    assert_eq!(
        only["reason"], "no signature, only 1 attestation (https://slsa.dev/provenance/v1)",
        "{only}"
    );
    let foreign = &tags[&format!("{}/{repo}:foreign", reg.addr)];
    assert_eq!(foreign["status"], "invalid", "{foreign}");
    let reason = foreign["reason"].as_str().unwrap();
    assert!(!reason.contains("attestation"), "{reason}");
    assert!(
        reason.contains("not signed by any of the given keys"),
        "{reason}"
    );

    // verify says the same of the same tags.
    let o = run(&[
        "verify",
        &format!("{}/{repo}:foreign", reg.addr),
        "--key",
        &k.public,
        "--output",
        "json",
    ]);
    expect_code(&o, 1);
    let errors = json_out(&o)["errors"].to_string();
    assert!(!errors.contains("attestation"), "{errors}");
}
