//! The JSON documents of every command match their published schemas
//! (docs/schema/*.schema.json), for successes, judged "no"s, partial results and failures of
//! every class, one document each; the schemas refuse a renamed field; every schema is
//! used by a test and every command has one. Those of `verify` and `copy` are
//! snapshot-tested, so field names stay stable.

use std::path::Path;

use crate::harness::*;

fn schema(name: &str) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../docs/schema")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The errors of `doc` against `schema_name`, one line each.
fn schema_errors(schema_name: &str, doc: &serde_json::Value) -> Vec<String> {
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
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn validates(schema_name: &str, doc: &serde_json::Value) -> bool {
    schema_errors(schema_name, doc).is_empty()
}

#[track_caller]
pub(crate) fn assert_valid(schema_name: &str, doc: &serde_json::Value) {
    let errors = schema_errors(schema_name, doc);
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

    // One document for every outcome: the command's own when it judged (a "no", exit 1) or
    // its result is partial (exit 3); otherwise the error document of the failure's class,
    // whose `exit` is the process's.
    let dead = free_port();
    let stranger = keys("ecdsa-p256");
    let hello = format!("{}/tools/hello:1.0", reg.addr);
    let pinned = format!("{}/tools/hello@{digest}", reg.addr);
    let other = format!("sha256:{}", "0".repeat(64));
    let deploy = dir.path().join("docker-compose.yml");
    std::fs::write(
        &deploy,
        format!(
            "services:\n  down:\n    image: 127.0.0.1:{dead}/app:v1\n  up:\n    image: {hello}\n"
        ),
    )
    .unwrap();
    let deploy = path_str(&deploy);
    let key = k.private.clone();
    let (missing, unreachable) = (
        format!("{}/tools/hello:9.9", reg.addr),
        format!("127.0.0.1:{dead}/app:v1"),
    );
    let cases: Vec<(Vec<&str>, i32, &str, Option<&str>)> = vec![
        // Bad input, found by hallmark, by clap, and before parsing.
        (
            vec!["digest", "file:/nonexistent/x"],
            2,
            "error",
            Some("usage"),
        ),
        (vec!["verify", "Bad//Ref"], 2, "error", Some("usage")),
        (
            vec!["sign", "--tlog-upload=false", &pinned],
            2,
            "error",
            Some("usage"),
        ),
        (vec!["sign", &pinned], 2, "error", Some("usage")),
        // A "no" the command judged is its report; a failure before any judgment (no such
        // tag) is the error document of the denied class.
        (
            vec!["verify", &hello, "--key", &stranger.public],
            1,
            "verify",
            None,
        ),
        (
            vec!["verify", &missing, "--key", &k.public],
            1,
            "error",
            Some("denied"),
        ),
        // The registry cannot be reached.
        (
            vec!["digest", &unreachable, "--retries", "0"],
            3,
            "error",
            Some("unavailable"),
        ),
        // A partial result is still the command's document, saying which part is missing.
        (
            vec!["pin", &deploy, "--key", &k.public, "--retries", "0"],
            3,
            "pin",
            None,
        ),
        // The tag no longer names the digest the pipeline built.
        (
            vec!["sign", &hello, "--expect-digest", &other, "--key", &key],
            4,
            "error",
            Some("drift"),
        ),
    ];
    for (args, exit, schema_name, class) in cases {
        let mut all = args.clone();
        all.extend(["--output", "json"]);
        let o = run_env(&all, &[("HALLMARK_PASSWORD", PASSWORD)]);
        expect_code(&o, exit);
        let doc = one_document(&o);
        let schema_file = format!("{schema_name}.schema.json");
        assert_valid(&schema_file, &doc);
        assert_strict(&schema_file, &doc);
        assert!(
            stdout(&o).starts_with(r#"{"version":1,"#),
            "{args:?}: {}",
            stdout(&o)
        );
        let Some(class) = class else {
            assert!(doc.get("error").is_none(), "{args:?}: {doc}");
            if exit == 3 {
                // What is missing is named: a part not read, or a reference not checked.
                let unchecked = doc["references"]
                    .as_array()
                    .is_some_and(|r| r.iter().any(|r| r["status"] == "unavailable"));
                assert!(doc["partial"] == true || unchecked, "{args:?}: {doc}");
            }
            continue;
        };
        assert_eq!(doc["exit"], exit, "{args:?}: {doc}");
        assert_eq!(doc["class"], class, "{args:?}: {doc}");
        let first = stderr(&o).lines().next().unwrap_or_default().to_string();
        assert!(first.starts_with("error: "), "{args:?}: {first}");
        assert_eq!(
            doc["error"].as_str().unwrap(),
            first.trim_start_matches("error: "),
            "{args:?}: stdout and stderr say the same"
        );
    }
}

/// Runs a command with `--output json` (and the test password), checks its exit code, and
/// validates its one document against the command's schema; returns the document.
#[track_caller]
pub(crate) fn documented(schema_name: &str, args: &[&str], exit: i32) -> serde_json::Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let o = run_env(&all, &[("HALLMARK_PASSWORD", PASSWORD)]);
    expect_code(&o, exit);
    let doc = one_document(&o);
    assert_valid(schema_name, &doc);
    assert_strict(schema_name, &doc);
    // The version comes first, so that a reader can dispatch on it before the rest.
    let first = stdout(&o).trim_start().chars().take(12).collect::<String>();
    assert_eq!(first, r#"{"version":1"#, "{args:?}");
    doc
}

/// The JSON pointers of every object in `doc`, itself included.
fn object_pointers(doc: &serde_json::Value, at: String) -> Vec<String> {
    let mut out = Vec::new();
    match doc {
        serde_json::Value::Object(map) => {
            out.push(at.clone());
            for (k, v) in map {
                let k = k.replace('~', "~0").replace('/', "~1");
                out.extend(object_pointers(v, format!("{at}/{k}")));
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                out.extend(object_pointers(v, format!("{at}/{i}")));
            }
        }
        _ => {}
    }
    out
}

/// stdout is exactly one JSON document (not two, not one followed by text); returns it.
#[track_caller]
fn one_document(o: &std::process::Output) -> serde_json::Value {
    let out = stdout(o);
    let docs: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&out)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("not JSON documents only: {e}: {out}"));
    assert_eq!(docs.len(), 1, "{out}");
    docs.into_iter().next().unwrap()
}

/// The schema would catch a renamed field in this real document: one more top-level field,
/// or a required one missing, is refused.
#[track_caller]
fn assert_strict(schema_name: &str, doc: &serde_json::Value) {
    let schema = schema(schema_name);
    let mut added = doc.clone();
    added["renamed_field"] = serde_json::json!(1);
    assert!(
        !validates(schema_name, &added),
        "{schema_name} accepts an unknown field"
    );
    // Nested objects too, but for the maps whose keys are data (annotations, claims,
    // counts by status, a predicate as signed).
    let mut lax = Vec::new();
    for pointer in object_pointers(doc, String::new()) {
        let key = pointer.rsplit('/').next().unwrap_or_default();
        if pointer.is_empty()
            || ["annotations", "claims", "summary", "predicate", "inventory"].contains(&key)
            || pointer.contains("/predicate/")
        {
            continue;
        }
        let mut added = doc.clone();
        added.pointer_mut(&pointer).unwrap()["renamed_field"] = serde_json::json!(1);
        if validates(schema_name, &added) {
            lax.push(pointer);
        }
    }
    assert!(
        lax.is_empty(),
        "{schema_name} accepts unknown fields in {lax:?}"
    );
    for field in schema["required"].as_array().unwrap() {
        let field = field.as_str().unwrap();
        let mut removed = doc.clone();
        removed.as_object_mut().unwrap().remove(field);
        assert!(
            !validates(schema_name, &removed),
            "{schema_name} accepts a document without {field}"
        );
    }
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

    // A "no" is the command's own document too, with exit 1: a stranger's key, an
    // attestation type nobody made, a file that is not what was signed.
    let stranger = keys("ecdsa-p256");
    let denied = documented(
        "verify-attestation.schema.json",
        &[
            "verify-attestation",
            &tagged,
            "--key",
            &stranger.public,
            "--type",
            "slsaprovenance1",
        ],
        1,
    );
    assert_eq!(denied["verified"], false, "{denied}");
    assert_eq!(denied["attestations"].as_array().unwrap().len(), 0);
    let untyped = documented(
        "verify-attestation.schema.json",
        &[
            "verify-attestation",
            &tagged,
            "--key",
            &public,
            "--type",
            "cyclonedx",
        ],
        1,
    );
    assert_eq!(untyped["verified"], false, "{untyped}");
    documented(
        "verify.schema.json",
        &["verify", &tagged, "--key", &stranger.public],
        1,
    );
    let refused = documented(
        "copy.schema.json",
        &[
            "copy",
            &tagged,
            &format!("oci:{}:1.0", path("refused")),
            "--key",
            &stranger.public,
        ],
        1,
    );
    assert_eq!(refused["copied"], false, "{refused}");
    let tampered = path("tampered.sh");
    std::fs::write(&tampered, b"echo owned\n").unwrap();
    let other = documented(
        "verify-blob.schema.json",
        &[
            "verify-blob",
            &tampered,
            "--key",
            &public,
            "--bundle",
            &bundle,
        ],
        1,
    );
    assert_eq!(other["verified"], false, "{other}");
    documented(
        "scan.schema.json",
        &[
            "scan",
            &format!("{}/tools/hello", reg.addr),
            "--key",
            &stranger.public,
        ],
        1,
    );
    let unpinned = documented(
        "pin.schema.json",
        &["pin", &deploy_s, "--key", &stranger.public],
        1,
    );
    assert_eq!(unpinned["references"][0]["status"], "refused", "{unpinned}");

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

/// The schema files the e2e tests validate real output against: each `"NAME.schema.json"`
/// passed to `assert_valid` or `documented`.
fn schemas_used_in(sources: &[String]) -> std::collections::BTreeSet<String> {
    let mut used = std::collections::BTreeSet::new();
    for text in sources {
        let mut rest = text.as_str();
        while let Some(end) = rest.find(".schema.json\"") {
            let before = &rest[..end];
            let start = before.rfind('"').map_or(0, |i| i + 1);
            let name = format!("{}.schema.json", &before[start..]);
            let call = before[..start.saturating_sub(1)].trim_end();
            if call.ends_with("assert_valid(") || call.ends_with("documented(") {
                used.insert(name);
            }
            rest = &rest[end + ".schema.json\"".len()..];
        }
    }
    used
}

/// Every schema in docs/schema is validated against real output by some test, and every
/// command `--help` lists that prints JSON has a schema named after it.
#[test]
fn every_schema_is_tested_and_every_command_has_one() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Vec::new();
    let mut todo = vec![dir.join("tests/e2e")];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                todo.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push(std::fs::read_to_string(path).unwrap());
            }
        }
    }
    let used = schemas_used_in(&sources);
    let files: std::collections::BTreeSet<String> =
        std::fs::read_dir(dir.join("../../docs/schema"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
    let untested: Vec<&String> = files.difference(&used).collect();
    assert!(
        untested.is_empty(),
        "no test validates real output against {untested:?}"
    );
    let missing: Vec<&String> = used.difference(&files).collect();
    assert!(missing.is_empty(), "tests name absent schemas {missing:?}");

    let commands = crate::manpages::every_command();
    let leaves = commands.iter().filter(|c| {
        !c.is_empty()
            && !commands
                .iter()
                .any(|o| o.len() > c.len() && o.starts_with(c))
    });
    let mut checked = 0;
    for words in leaves {
        // Shell code and roff, whatever --output says; and Kubernetes' own AdmissionReview
        // (admit), whose format is Kubernetes', not hallmark's.
        if matches!(words[0].as_str(), "completions" | "man" | "admit") {
            continue;
        }
        let file = format!("{}.schema.json", words.join("-"));
        assert!(files.contains(&file), "{words:?} has no {file}");
        checked += 1;
    }
    assert!(checked >= 18, "{checked} commands");

    // The finder itself tells a validating call from a mere mention.
    let found = schemas_used_in(&[concat!(
        "assert_valid(\"a.schema.json\", &d); documented(\n  \"b.schema.json\",\n",
        "let s = schema(\"c.schema.json\");"
    )
    .to_string()]);
    assert_eq!(
        found.into_iter().collect::<Vec<_>>(),
        ["a.schema.json", "b.schema.json"]
    );
}

/// The strictness probe reaches every nested object, so a lax one cannot hide in an array.
#[test]
fn the_strictness_probe_reaches_nested_objects() {
    let doc = serde_json::json!({"a": {"b": [{"c": 1}, 2]}, "d/e": {}});
    assert_eq!(
        object_pointers(&doc, String::new()),
        ["", "/a", "/a/b/0", "/d~1e"]
    );
}
