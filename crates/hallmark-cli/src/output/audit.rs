//! `audit`: findings for people (text), scripts (JSON, docs/schema/audit.schema.json) and
//! code scanning (SARIF 2.1.0, which carries its own version).

use std::collections::BTreeMap;

use hallmark::audit::{AuditReport, RULES, Severity};
use serde::Serialize;
use serde_sarif::sarif;

use super::{Render, Text, V1};

/// `audit`'s document.
#[derive(Serialize)]
pub struct AuditResult<'a> {
    version: V1,
    files: usize,
    findings: Vec<FindingOut<'a>>,
    suppressed: usize,
    inventory: Vec<InventoryOut<'a>>,
    errors: Vec<ProblemOut<'a>>,
    warnings: Vec<ProblemOut<'a>>,
    partial: bool,
    #[serde(skip)]
    report: &'a AuditReport,
}

#[derive(Serialize)]
struct FindingOut<'a> {
    rule: &'a str,
    severity: &'static str,
    path: &'a str,
    line: usize,
    column: usize,
    message: &'a str,
    fingerprint: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    suppressed: Option<&'a str>,
}

#[derive(Serialize)]
struct InventoryOut<'a> {
    path: &'a str,
    pushes: &'a [String],
    pulls: &'a [String],
    credentials: &'a [String],
}

#[derive(Serialize)]
struct ProblemOut<'a> {
    path: &'a str,
    error: &'a str,
}

fn problems(p: &[hallmark::audit::FileProblem]) -> Vec<ProblemOut<'_>> {
    p.iter()
        .map(|p| ProblemOut {
            path: &p.path,
            error: &p.error,
        })
        .collect()
}

impl<'a> AuditResult<'a> {
    pub fn new(r: &'a AuditReport) -> Self {
        AuditResult {
            version: V1,
            files: r.files,
            findings: r
                .findings
                .iter()
                .map(|f| FindingOut {
                    rule: f.rule,
                    severity: f.severity.name(),
                    path: &f.path,
                    line: f.line,
                    column: f.column,
                    message: &f.message,
                    fingerprint: &f.fingerprint,
                    suppressed: f.suppressed.as_deref(),
                })
                .collect(),
            suppressed: r.suppressed,
            inventory: r
                .inventory
                .iter()
                .map(|i| InventoryOut {
                    path: &i.path,
                    pushes: &i.pushes,
                    pulls: &i.pulls,
                    credentials: &i.credentials,
                })
                .collect(),
            errors: problems(&r.errors),
            warnings: problems(&r.warnings),
            partial: r.partial,
            report: r,
        }
    }
}

impl Render for AuditResult<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        let report = self.report;
        for w in &report.warnings {
            t.say_outside("warning: ", &format!("{}: {}", w.path, w.error));
        }
        let mut lines: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.suppressed.is_none())
            .map(|f| {
                crate::sanitize::line(&format!(
                    "{}:{}:{}: {} {}: {}",
                    f.path,
                    f.line,
                    f.column,
                    f.severity.name(),
                    f.rule,
                    f.message
                ))
            })
            .collect();
        for inv in &report.inventory {
            let list = |v: &[String]| {
                if v.is_empty() {
                    "-".to_string()
                } else {
                    v.join(", ")
                }
            };
            lines.push(crate::sanitize::line(&format!(
                "inventory {}: pushes {}; pulls {}; credentials {}",
                inv.path,
                list(&inv.pushes),
                list(&inv.pulls),
                list(&inv.credentials)
            )));
        }
        // What was not audited is part of the result, beside the findings, so that neither
        // --quiet nor a reader of stdout alone can miss it.
        lines.extend(
            report
                .errors
                .iter()
                .map(|e| crate::sanitize::line(&format!("{}: {}", e.path, e.error))),
        );
        let open: Vec<_> = report
            .findings
            .iter()
            .filter(|f| f.suppressed.is_none())
            .collect();
        let count = |s: Severity| open.iter().filter(|f| f.severity == s).count();
        lines.push(format!(
            "{}{} findings ({} critical, {} high, {} medium, {} low), {} suppressed, in {} files{}",
            if report.partial { "PARTIAL: " } else { "" },
            open.len(),
            count(Severity::Critical),
            count(Severity::High),
            count(Severity::Medium),
            count(Severity::Low),
            report.suppressed,
            report.files,
            if report.partial {
                format!(
                    "; {} file(s) or part(s) not audited, {} warning(s)",
                    report.errors.len(),
                    report.warnings.len()
                )
            } else {
                String::new()
            }
        ));
        t.result(&lines.join("\n"))
    }
}

fn level(s: Severity) -> sarif::ResultLevel {
    match s {
        Severity::Critical | Severity::High => sarif::ResultLevel::Error,
        Severity::Medium => sarif::ResultLevel::Warning,
        Severity::Low => sarif::ResultLevel::Note,
    }
}

/// The report as SARIF 2.1.0: every rule with its help, every finding with a stable
/// partial fingerprint, suppressed findings as in-source suppressions.
pub fn sarif(r: &AuditReport) -> sarif::Sarif {
    let rules: Vec<sarif::ReportingDescriptor> = RULES
        .iter()
        .map(|rule| {
            sarif::ReportingDescriptor::builder()
                .id(rule.id)
                .name(rule.id)
                .short_description(
                    sarif::MultiformatMessageString::builder()
                        .text(rule.title)
                        .build(),
                )
                .full_description(
                    sarif::MultiformatMessageString::builder()
                        .text(rule.help)
                        .build(),
                )
                .help(
                    sarif::MultiformatMessageString::builder()
                        .text(rule.help)
                        .build(),
                )
                .default_configuration(
                    sarif::ReportingConfiguration::builder()
                        .level(serde_json::to_value(level(rule.severity)).unwrap_or_default())
                        .build(),
                )
                .properties(
                    sarif::PropertyBag::builder()
                        .tags(vec!["security".to_string(), "supply-chain".to_string()])
                        .additional_properties(BTreeMap::from([(
                            "security-severity".to_string(),
                            serde_json::Value::from(match rule.severity {
                                Severity::Critical => "9.5",
                                Severity::High => "8.0",
                                Severity::Medium => "5.5",
                                Severity::Low => "3.0",
                            }),
                        )]))
                        .build(),
                )
                .build()
        })
        .collect();
    let results: Vec<sarif::Result> = r
        .findings
        .iter()
        .map(|f| {
            let location = sarif::Location::builder()
                .physical_location(
                    sarif::PhysicalLocation::builder()
                        .artifact_location(
                            sarif::ArtifactLocation::builder()
                                .uri(f.path.trim_start_matches("./").to_string())
                                .build(),
                        )
                        .region(
                            sarif::Region::builder()
                                .start_line(f.line as i64)
                                .start_column(f.column as i64)
                                .build(),
                        )
                        .build(),
                )
                .build();
            let index = RULES
                .iter()
                .position(|x| x.id == f.rule)
                .unwrap_or_default();
            let result = sarif::Result::builder()
                .rule_id(f.rule)
                .rule_index(index as i64)
                .level(level(f.severity))
                .message(sarif::Message::builder().text(f.message.clone()).build())
                .locations(vec![location])
                .partial_fingerprints(BTreeMap::from([(
                    "hallmark/v1".to_string(),
                    f.fingerprint.clone(),
                )]));
            match &f.suppressed {
                Some(reason) => result
                    .suppressions(vec![
                        sarif::Suppression::builder()
                            .kind("inSource")
                            .justification(reason.clone())
                            .build(),
                    ])
                    .build(),
                None => result.build(),
            }
        })
        .collect();
    let driver = sarif::ToolComponent::builder()
        .name("hallmark")
        .version(env!("CARGO_PKG_VERSION"))
        .information_uri("https://github.com/hallmark-dev/hallmark")
        .rules(rules)
        .build();
    // What was not audited, as notifications: code scanning shows them beside the results,
    // and `executionSuccessful` is false when the results are partial.
    let notifications: Vec<sarif::Notification> = r
        .errors
        .iter()
        .map(|e| (e, sarif::NotificationLevel::Error))
        .chain(
            r.warnings
                .iter()
                .map(|w| (w, sarif::NotificationLevel::Warning)),
        )
        .map(|(p, level)| {
            let location = sarif::Location::builder()
                .physical_location(
                    sarif::PhysicalLocation::builder()
                        .artifact_location(
                            sarif::ArtifactLocation::builder()
                                .uri(p.path.trim_start_matches("./").to_string())
                                .build(),
                        )
                        .build(),
                )
                .build();
            sarif::Notification::builder()
                .level(serde_json::to_value(level).unwrap_or_default())
                .message(
                    sarif::Message::builder()
                        .text(format!("{}: {}", p.path, p.error))
                        .build(),
                )
                .locations(vec![location])
                .build()
        })
        .collect();
    let invocation = sarif::Invocation::builder()
        .execution_successful(!r.partial)
        .tool_execution_notifications(notifications)
        .build();
    let run = sarif::Run::builder()
        .tool(sarif::Tool::builder().driver(driver).build())
        .results(results)
        .invocations(vec![invocation])
        .build();
    sarif::Sarif::builder()
        .schema("https://json.schemastore.org/sarif-2.1.0.json")
        .version(serde_json::Value::from("2.1.0"))
        .runs(vec![run])
        .build()
}
