//! `hallmark pin`: a diff to review, or the files rewritten.

use hallmark::pin::{PinReport, PinStatus};

use crate::Outcome;
use crate::cli::PinArgs;
use crate::commands::client;
use crate::exit::CliError;
use crate::output::{Render, Ui};

struct Pinned<'a>(&'a PinReport);

impl serde::Serialize for Pinned<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl Render for Pinned<'_> {
    fn text(&self, ui: &Ui) -> Option<String> {
        let r = self.0;
        for e in &r.references {
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
        if r.written {
            ui.say(format!(
                "wrote {} file(s), {} reference(s) pinned",
                r.files.len(),
                r.files.iter().map(|f| f.pinned).sum::<usize>()
            ));
            return None;
        }
        let diff: String = r
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
    ui.emit(&Pinned(&report))?;
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
