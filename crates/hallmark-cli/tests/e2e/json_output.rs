//! The JSON documents of every command match their published schemas
//! (docs/schema/*.schema.json), and those of `verify` and `copy` are snapshot-tested, so
//! field names stay stable.

use std::path::Path;

use crate::harness::*;

fn schema(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schema")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[track_caller]
pub(crate) fn assert_valid(schema_name: &str, doc: &serde_json::Value) {
    // Schemas refer to each other (copy's `verification` is verify's report): every one is
    // registered under its `$id`.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema");
    let mut registry = jsonschema::Registry::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().to_string();
        registry = registry
            .add(
                format!("https://hallmark.invalid/schema/{name}"),
                schema(&name),
            )
            .unwrap();
    }
    let registry = registry.prepare().unwrap();
    let validator = jsonschema::options()
        .with_registry(&registry)
        .build(&schema(schema_name))
        .unwrap();
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{schema_name}: {errors:?}\n{doc:#}");
}

/// Replaces the values that change from run to run.
fn normalise(doc: &serde_json::Value, pairs: &[(&str, &str)]) -> String {
    let mut text = serde_json::to_string_pretty(doc).unwrap();
    for (from, to) in pairs {
        text = text.replace(from, to);
    }
    text.replace(
        concat!("hallmark ", env!("CARGO_PKG_VERSION")),
        "hallmark <version>",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_and_copy_json_follow_the_schemas() {
    let reg = Registry::start();
    let k = keys("ecdsa-p256");
    let store = reg.store("team/app");
    let img = signed_image(
        &reg,
        "team/app",
        Some("v1"),
        &k,
        &["-a", "env=prod", "--bind-tag", "v1"],
    )
    .await;
    let unsigned = push_random(&store, Some("v2"), "unsigned").await;
    let d = img.digest().to_string();

    let o = run(&[
        "verify",
        &format!("{}/team/app:v1", reg.addr),
        "--key",
        &k.public,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let ok: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_valid("verify.schema.json", &ok);
    let ts = ok["signatures"][0]["timestamp"]
        .as_str()
        .unwrap()
        .to_string();
    let key_id = ok["signatures"][0]["key_id"].as_str().unwrap().to_string();
    let unsigned_d = unsigned.digest().to_string();
    let (d_tag, unsigned_tag) = (d.replace(':', "-"), unsigned_d.replace(':', "-"));
    let pairs = [
        (reg.addr.as_str(), "REGISTRY"),
        (d.as_str(), "sha256:<signed>"),
        (d_tag.as_str(), "sha256-<signed>"),
        (unsigned_d.as_str(), "sha256:<unsigned>"),
        (unsigned_tag.as_str(), "sha256-<unsigned>"),
        (ts.as_str(), "<timestamp>"),
        (key_id.as_str(), "<key-id>"),
        (k.public.as_str(), "<key.pub>"),
    ];
    insta::assert_snapshot!("verify_ok", normalise(&ok, &pairs));

    let o = run(&[
        "verify",
        &format!("{}/team/app:v2", reg.addr),
        "--key",
        &k.public,
        "--output",
        "json",
    ]);
    expect_code(&o, 1);
    let denied: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_valid("verify.schema.json", &denied);
    insta::assert_snapshot!("verify_denied", normalise(&denied, &pairs));

    let dir = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}/out:v1", dir.path().display());
    let o = run(&[
        "copy",
        &format!("{}/team/app:v1", reg.addr),
        &dest,
        "--key",
        &k.public,
        "--output",
        "json",
    ]);
    expect_code(&o, 0);
    let copied: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_valid("copy.schema.json", &copied);
    let dir_s = dir.path().display().to_string();
    let mut pairs = pairs.to_vec();
    pairs.push((dir_s.as_str(), "<dir>"));
    insta::assert_snapshot!("copy_ok", normalise(&copied, &pairs));

    let o = run(&[
        "copy",
        &format!("{}/team/app:v2", reg.addr),
        &dest,
        "--key",
        &k.public,
        "--output",
        "json",
    ]);
    expect_code(&o, 1);
    let refused: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_valid("copy.schema.json", &refused);
    assert_eq!(refused["copied"], false);

    // The schemas can fail: a renamed field is caught.
    let mut broken = ok.clone();
    broken["verified_ok"] = broken["verified"].take();
    broken.as_object_mut().unwrap().remove("verified");
    let validator = jsonschema::validator_for(&schema("verify.schema.json")).unwrap();
    assert!(!validator.is_valid(&broken));
}

/// Every command answers `--output json` with one document on stdout, and a failure is a
/// document too: the error schema, with the same exit code as the process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_speaks_json_and_so_do_its_failures() {
    let reg = Registry::start();
    let k = keys("ed25519");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tool.sh");
    std::fs::write(&file, b"echo hello\n").unwrap();
    let src = format!("file:{}", file.display());
    let json = json_out;

    let o = run(&["digest", &src, "--output", "json"]);
    expect_code(&o, 0);
    let digest = json(&o)["digest"].as_str().unwrap().to_string();
    let o = run(&["digest", &src]);
    assert_eq!(stdout(&o).trim(), digest);

    let o = run_env(
        &["key", "public", "--key", &k.private, "--output", "json"],
        &[("HALLMARK_PASSWORD", PASSWORD)],
    );
    expect_code(&o, 0);
    let doc = json(&o);
    assert_eq!(
        doc["public_key"].as_str().unwrap(),
        std::fs::read_to_string(&k.public).unwrap()
    );
    assert_eq!(doc["algorithm"], "ed25519");

    let dest = format!("{}/tools/hello:1.0", reg.addr);
    let o = publish(&[&src, &dest, "--key", &k.private, "--output", "json"]);
    expect_code(&o, 0);
    assert_eq!(json(&o)["digest"].as_str().unwrap(), digest);
    let o = run(&[
        "digest",
        &format!("{}/tools/hello:1.0", reg.addr),
        "--output",
        "json",
    ]);
    assert_eq!(json(&o)["digest"].as_str().unwrap(), digest);

    // Failures of each class: usage, denied, unavailable, and flags clap refuses.
    let dead = free_port();
    let stranger = keys("ecdsa-p256");
    let cases: Vec<(Vec<String>, i32, &str)> = vec![
        (
            vec!["digest".into(), "file:/nonexistent/x".into()],
            2,
            "usage",
        ),
        (
            vec![
                "verify".into(),
                format!("{}/tools/hello:1.0", reg.addr),
                "--key".into(),
                stranger.public.clone(),
            ],
            1,
            "denied",
        ),
        (
            vec![
                "digest".into(),
                format!("127.0.0.1:{dead}/app:v1"),
                "--retries".into(),
                "0".into(),
            ],
            3,
            "unavailable",
        ),
        (vec!["verify".into(), "Bad//Ref".into()], 2, "usage"),
    ];
    for (args, exit, class) in cases {
        let mut all: Vec<&str> = args.iter().map(String::as_str).collect();
        all.extend(["--output", "json"]);
        let o = run(&all);
        expect_code(&o, exit);
        let doc = json(&o);
        if exit == 1 {
            // A verification "no" is the report itself, not an error document.
            assert_eq!(doc["verified"], false, "{doc}");
            assert_valid("verify.schema.json", &doc);
            continue;
        }
        assert_valid("error.schema.json", &doc);
        assert!(
            stdout(&o).starts_with(r#"{"version":1,"error":"#),
            "{args:?}: {}",
            stdout(&o)
        );
        assert_eq!(doc["exit"], exit, "{args:?}: {doc}");
        assert_eq!(doc["class"], class, "{args:?}: {doc}");
        let first = stderr(&o).lines().next().unwrap_or_default().to_string();
        assert!(first.starts_with("error: "), "{args:?}: {first}");
    }
}

/// Runs a command with `--output json` (and the test password), checks its exit code, and
/// validates its one document against the command's schema; returns the document.
#[track_caller]
fn documented(schema_name: &str, args: &[&str], exit: i32) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let o = run_env(&all, &[("HALLMARK_PASSWORD", PASSWORD)]);
    expect_code(&o, exit);
    let doc = json_out(&o);
    assert_valid(schema_name, &doc);
    // The version comes first, so that a reader can dispatch on it before the rest.
    let first = stdout(&o).trim_start().chars().take(12).collect::<String>();
    assert_eq!(first, r#"{"version":1"#, "{args:?}");
    doc
}

/// Every command that prints JSON, run through the binary against a loopback registry and
/// local files, prints a document its schema in docs/schema accepts, `"version": 1` first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_follows_its_schema() {
    let reg = Registry::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let path = |name: &str| d.join(name).display().to_string();

    let prefix = path("k");
    documented(
        "key-generate.schema.json",
        &["key", "generate", "--output-key-prefix", &prefix],
        0,
    );
    let (private, public) = (format!("{prefix}.key"), format!("{prefix}.pub"));
    documented(
        "key-public.schema.json",
        &["key", "public", "--key", &private],
        0,
    );

    let file = path("tool.sh");
    std::fs::write(&file, b"echo hello\n").unwrap();
    let src = format!("file:{file}");
    documented("digest.schema.json", &["digest", &src], 0);

    let tagged = format!("{}/tools/hello:1.0", reg.addr);
    let published = documented(
        "publish.schema.json",
        &["publish", &src, &tagged, "--key", &private],
        0,
    );
    let pinned = published["reference"].as_str().unwrap().to_string();
    documented(
        "sign.schema.json",
        &["sign", &pinned, "--key", &private, "--format", "bundle"],
        0,
    );
    documented(
        "verify.schema.json",
        &["verify", &tagged, "--key", &public],
        0,
    );
    let copy_to = format!("oci:{}:1.0", path("copy"));
    documented(
        "copy.schema.json",
        &["copy", &tagged, &copy_to, "--key", &public],
        0,
    );

    let predicate = path("provenance.json");
    std::fs::write(&predicate, br#"{"builder":{"id":"https://ci.example/1"}}"#).unwrap();
    documented(
        "attest.schema.json",
        &[
            "attest",
            &pinned,
            "--key",
            &private,
            "--predicate",
            &predicate,
            "--type",
            "slsaprovenance1",
        ],
        0,
    );
    let attested = documented(
        "verify-attestation.schema.json",
        &[
            "verify-attestation",
            &tagged,
            "--key",
            &public,
            "--type",
            "slsaprovenance1",
        ],
        0,
    );
    assert_eq!(attested["attestations"].as_array().unwrap().len(), 1);
    let listed = documented(
        "signatures.schema.json",
        &["signatures", &tagged, "--key", &public],
        0,
    );
    assert!(listed["entries"].as_array().unwrap().len() >= 2, "{listed}");

    let bundle = path("tool.sigstore.json");
    documented(
        "sign-blob.schema.json",
        &["sign-blob", &file, "--key", &private, "--bundle", &bundle],
        0,
    );
    documented(
        "verify-blob.schema.json",
        &["verify-blob", &file, "--key", &public, "--bundle", &bundle],
        0,
    );
    documented(
        "verify-blob.schema.json",
        &[
            "verify-bundle",
            &file,
            "--key",
            &public,
            "--bundle",
            &bundle,
        ],
        0,
    );

    documented(
        "scan.schema.json",
        &[
            &["scan", &format!("{}/tools/hello", reg.addr)][..],
            &["--key", &public],
        ]
        .concat(),
        0,
    );

    let deploy = d.join("deploy");
    std::fs::create_dir(&deploy).unwrap();
    std::fs::write(
        deploy.join("app.yaml"),
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: app\nspec:\n  containers:\n    - name: app\n      image: {tagged}\n"
        ),
    )
    .unwrap();
    let deploy_s = deploy.display().to_string();
    let pinned_doc = documented("pin.schema.json", &["pin", &deploy_s, "--key", &public], 0);
    assert_eq!(
        pinned_doc["references"][0]["status"], "pinned",
        "{pinned_doc}"
    );
    let workflows = d.join("ci");
    std::fs::create_dir(&workflows).unwrap();
    std::fs::write(
        workflows.join("release.sh"),
        format!("#!/bin/sh\ncosign sign --key k {tagged}\n"),
    )
    .unwrap();
    documented(
        "audit.schema.json",
        &["audit", &workflows.display().to_string()],
        1,
    );

    let policy = path("policy.toml");
    std::fs::write(
        &policy,
        format!(
            "version = 1\n[[rule]]\nname = \"tools\"\nmatch = [\"{}/tools/*\"]\naction = \"verify\"\nkeys = [\"{public}\"]\n\
             [[rule]]\nname = \"shadowed\"\nmatch = [\"{}/tools/hello\"]\naction = \"reject\"\n",
            reg.addr, reg.addr
        ),
    )
    .unwrap();
    let checked = documented("policy-check.schema.json", &["policy", "check", &policy], 0);
    assert_eq!(checked["warnings"][0]["kind"], "shadowed", "{checked}");
    documented("trust-root-show.schema.json", &["trust-root", "show"], 0);
    documented("demo.schema.json", &["demo"], 0);

    // Removing is the last step: it changes what the commands above saw.
    let key_id = listed["entries"][0]["key_id"].as_str().unwrap().to_string();
    let would = documented(
        "signatures.schema.json",
        &[
            "signatures",
            &tagged,
            "--key",
            &public,
            "--remove",
            &key_id,
            "--dry-run",
        ],
        0,
    );
    assert_eq!(would["removal"]["dry_run"], true, "{would}");
    let removed = documented(
        "signatures.schema.json",
        &[
            "signatures",
            &tagged,
            "--key",
            &public,
            "--remove",
            &key_id,
            "--yes",
        ],
        0,
    );
    assert!(
        removed["removal"]["removed"].as_u64().unwrap() >= 1,
        "{removed}"
    );
}
