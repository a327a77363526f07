//! Reading the findings of `hallmark audit --output json`.

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

use super::hallmark;

/// The audit fixture tree `name` (`audit`, `audit-flow`, …) under `tests/e2e/fixtures`.
pub fn audit_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/fixtures")
        .join(name)
}

/// `hallmark audit ARGS` run in `dir`.
pub fn audit_at(dir: &Path, args: &[&str]) -> Output {
    let mut c = hallmark();
    c.arg("audit").args(args).current_dir(dir);
    c.output().unwrap()
}

/// One finding of a JSON audit report, its path without `./`.
#[derive(Debug, Clone)]
pub struct Found {
    pub path: String,
    pub line: u64,
    pub column: u64,
    pub rule: String,
    pub severity: String,
    pub message: String,
    pub suppressed: bool,
}

/// Every finding of a JSON audit report, in the report's order.
pub fn audit_findings(v: &Value) -> Vec<Found> {
    let text = |f: &Value, k: &str| f[k].as_str().unwrap_or_default().to_string();
    v["findings"]
        .as_array()
        .expect("a report with findings")
        .iter()
        .map(|f| Found {
            path: text(f, "path").trim_start_matches("./").to_string(),
            line: f["line"].as_u64().unwrap(),
            column: f["column"].as_u64().unwrap(),
            rule: text(f, "rule"),
            severity: text(f, "severity"),
            message: text(f, "message"),
            suppressed: f.get("suppressed").is_some_and(|s| !s.is_null()),
        })
        .collect()
}
