//! `hallmark pin`: a diff to review, or the files rewritten.

use hallmark::pin::{PinReport, PinStatus};

use crate::Outcome;
use crate::cli::PinArgs;
use crate::commands::client;
use crate::exit::CliError;
use crate::output::{Render, Ui};

impl Render for PinReport {
    fn text(&self, ui: &Ui) -> Option<String> {
        for e in &self.references {
            let head = format!("{}:{}:{}: ", e.path, e.line, e.column);
            match e.status {
                PinStatus::Pinned => ui.say_outside(
                    &head,
                    &format!(
                        "{} → {}",
                        e.reference,
                        e.pinned.as_deref().unwrap_or_default()
                    ),
                ),
                PinStatus::Verified => {
                    ui.say_outside(&head, &format!("{}: {}", e.reference, e.reason))
                }
                PinStatus::Refused => {
                    ui.say_outside(&head, &format!("NOT pinned {}: {}", e.reference, e.reason))
                }
            }
        }
        if self.written {
            ui.say(format!(
                "wrote {} file(s), {} reference(s) pinned",
                self.files.len(),
                self.files.iter().map(|f| f.pinned).sum::<usize>()
            ));
            return None;
        }
        let diff: String = self
            .files
            .iter()
            .map(|f| hallmark::pin::unified_diff(&f.path, &f.old, &f.new))
            .collect();
        // The diff is the result: on stdout, for `git apply` or review.
        (!diff.is_empty()).then(|| diff.trim_end_matches('\n').to_string())
    }
}

/// `hallmark pin`.
pub async fn run(args: &PinArgs, ui: Ui) -> anyhow::Result<Outcome> {
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
    let client = client(&args.registry, ui)?;
    let mut report = hallmark::pin::plan(&client, &args.paths, &trust).await?;
    if args.write {
        hallmark::pin::write(&mut report).map_err(hallmark::Error::from)?;
    }
    ui.emit(&report)?;
    let refused = report
        .references
        .iter()
        .any(|r| r.status == PinStatus::Refused);
    Ok(if refused {
        Outcome::Denied
    } else {
        Outcome::Ok
    })
}
