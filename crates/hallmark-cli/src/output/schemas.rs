//! Every command that prints JSON has a schema in `docs/schema/`, and every schema is a
//! valid JSON Schema that requires `"version": 1`.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::CommandFactory;

/// Each command (its words, as typed) and the schema of its `--output json` document;
/// `None` for a command whose output is not JSON. A new command must be added here.
const SCHEMAS: &[(&str, Option<&str>)] = &[
    ("key generate", Some("key-generate")),
    ("key public", Some("key-public")),
    ("digest", Some("digest")),
    ("sign", Some("sign")),
    ("publish", Some("publish")),
    ("verify", Some("verify")),
    ("copy", Some("copy")),
    ("attest", Some("attest")),
    ("verify-attestation", Some("verify-attestation")),
    ("sign-blob", Some("sign-blob")),
    ("verify-blob", Some("verify-blob")),
    // The conformance protocol's command answers as verify-blob does.
    ("verify-bundle", Some("verify-blob")),
    ("signatures", Some("signatures")),
    ("scan", Some("scan")),
    ("audit", Some("audit")),
    ("pin", Some("pin")),
    ("policy check", Some("policy-check")),
    ("trust-root show", Some("trust-root-show")),
    ("demo", Some("demo")),
    // Shell code and roff, whatever --output says.
    ("completions", None),
    ("man", None),
    // Kubernetes' AdmissionReview response, whatever --output says: its format is
    // Kubernetes', not hallmark's.
    ("admit", None),
];

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/schema")
}

fn leaves(cmd: &clap::Command, prefix: &str, out: &mut BTreeSet<String>) {
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        let name = format!("{prefix}{}", sub.get_name());
        if sub.has_subcommands() {
            leaves(sub, &format!("{name} "), out);
        } else {
            out.insert(name);
        }
    }
}

#[test]
fn every_command_is_listed_with_its_schema_or_none() {
    let mut commands = BTreeSet::new();
    leaves(&crate::cli::Cli::command(), "", &mut commands);
    let listed: BTreeSet<String> = SCHEMAS.iter().map(|(c, _)| c.to_string()).collect();
    assert_eq!(
        commands, listed,
        "a command was added or removed: list it in SCHEMAS, with a schema in docs/schema/"
    );
}

#[test]
fn every_schema_is_valid_and_requires_version_1() {
    let mut names: BTreeSet<&str> = SCHEMAS.iter().filter_map(|(_, s)| *s).collect();
    names.insert("error");
    for name in &names {
        let path = dir().join(format!("{name}.schema.json"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let schema: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: not JSON: {e}"));
        if let Err(e) = jsonschema::meta::validate(&schema) {
            panic!("{name}: not a valid JSON Schema: {e}");
        }
        assert_eq!(
            schema["$id"],
            format!("https://hallmark.invalid/schema/{name}.schema.json"),
            "{name}"
        );
        assert_eq!(schema["properties"]["version"]["const"], 1, "{name}");
        let required = schema["required"].as_array().unwrap();
        assert!(required.iter().any(|r| r == "version"), "{name}");
    }
    // No schema is left behind for a command that no longer exists.
    for entry in std::fs::read_dir(dir()).unwrap() {
        let file = entry.unwrap().file_name().to_string_lossy().to_string();
        let name = file.trim_end_matches(".schema.json");
        assert!(names.contains(name), "{file} belongs to no command");
    }
}

#[test]
fn a_schema_without_version_is_caught() {
    let mut schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir().join("digest.schema.json")).unwrap())
            .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let doc =
        serde_json::json!({"source": "file:x", "digest": format!("sha256:{}", "0".repeat(64))});
    assert!(
        !validator.is_valid(&doc),
        "a document without version passes"
    );
    schema["required"] = serde_json::json!([]);
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&serde_json::json!({"version": 1})));
}
