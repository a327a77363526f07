//! `hallmark pin`: a diff to review, or the files rewritten.

use hallmark::pin::PinStatus;

use crate::Outcome;
use crate::cli::PinArgs;
use crate::commands::{Clients, client};
use crate::exit::CliError;
use crate::output::Ui;
use crate::output::pin::PinResult;

/// `hallmark pin`.
pub async fn run(args: &PinArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    for p in &args.paths {
        if !p.exists() {
            return Err(CliError::usage(
                format!("{} does not exist", p.display()),
                None,
            ));
        }
    }
    crate::commands::stdin_once(&args.trust.key, &args.registry)?;
    let trust = crate::commands::trust(&args.trust)?;
    let client = client(&args.registry, ui, clients)?;
    let mut report = hallmark::pin::plan(&client, &args.paths, &trust).await?;
    let not_written = if args.write {
        hallmark::pin::write(&mut report)
    } else {
        0
    };
    ui.emit(&PinResult::new(&report))?;
    let count = |s: PinStatus| report.references.iter().filter(|r| r.status == s).count();
    let unpinnable = if args.allow_unpinned {
        0
    } else {
        count(PinStatus::Unpinnable)
    };
    // A "no" is exit 1; an outage, a file that changed meanwhile or a file not read
    // decides nothing: 3, naming each of these that happened, so one does not hide another.
    if count(PinStatus::Refused) + unpinnable > 0 {
        return Ok(Outcome::Denied);
    }
    let mut incomplete = Vec::new();
    if !report.errors.is_empty() {
        incomplete.push(format!(
            "{} file(s) not read or not parsed, {} the first: nothing in them is pinned or checked",
            report.errors.len(),
            crate::sanitize::line(&report.errors[0].path)
        ));
    }
    if not_written > 0 {
        incomplete.push(format!(
            "{not_written} file(s) not written: each changed while its references were checked, or could not be written; run pin again"
        ));
    }
    if count(PinStatus::Unavailable) > 0 {
        incomplete.push(format!(
            "{} reference(s) could not be checked: their registry was unavailable; run again, or with -v to see each request",
            count(PinStatus::Unavailable)
        ));
    }
    Ok(if incomplete.is_empty() {
        Outcome::Ok
    } else {
        Outcome::Incomplete(incomplete.join("; "))
    })
}
