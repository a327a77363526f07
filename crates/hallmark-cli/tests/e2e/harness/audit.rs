//! Reading the findings of `hallmark audit --output json`.

use serde_json::Value;

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
