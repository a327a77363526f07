//! `hallmark audit`: findings for people (text), scripts (JSON) and code scanning (SARIF).

use crate::Outcome;
use crate::cli::AuditArgs;
use crate::output::audit::{AuditResult, sarif};
use crate::output::{Format, Ui};

/// `hallmark audit`.
pub fn run(args: &AuditArgs, ui: Ui) -> anyhow::Result<Outcome> {
    for p in &args.paths {
        if !p.exists() {
            return Err(crate::exit::CliError::usage(
                format!("{} does not exist", p.display()),
                Some("give the files or directories to audit"),
            ));
        }
    }
    let report = hallmark::audit::audit(&args.paths, args.strict);
    if ui.format == Format::Sarif {
        crate::output::stdout_line(&serde_json::to_string(&sarif(&report))?)?;
    } else {
        ui.emit(&AuditResult::new(&report))?;
    }
    let failing = report
        .findings
        .iter()
        .any(|f| f.suppressed.is_none() && f.severity >= args.severity);
    Ok(if failing {
        Outcome::Denied
    } else if report.partial {
        // Never clean about what was not read: the report lists each file or part.
        Outcome::Incomplete(format!(
            "the audit is partial: {} file(s) or part(s) not audited{}",
            report.errors.len(),
            if args.strict && !report.warnings.is_empty() {
                format!(
                    ", and {} warning(s) that --strict counts",
                    report.warnings.len()
                )
            } else {
                String::new()
            }
        ))
    } else {
        Outcome::Ok
    })
}
