//! `hallmark scan`: a table a person reads at a glance, or one JSON document.

use std::io::IsTerminal;

use hallmark::scan::{ScanOptions, Status};

use crate::cli::ScanArgs;
use crate::commands::{Clients, client};
use crate::output::Ui;
use crate::output::scan::ScanResult;
use crate::{Outcome, progress};

/// Colours on a terminal, unless NO_COLOR says otherwise.
fn colour_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

const MIB: u64 = 1024 * 1024;

/// `hallmark scan`.
pub async fn run(args: &ScanArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    crate::commands::stdin_once(&args.trust.key, &args.registry)?;
    let trust = crate::commands::trust(&args.trust)?;
    let client = client(&args.registry, ui, clients)?;
    let opts = ScanOptions {
        trust,
        concurrency: args.concurrency.into(),
        page_size: args.page_size.into(),
        access: args.access,
        repository_limits: hallmark::registry::ListLimits {
            names: args.max_tags,
            bytes: args.max_list_mib * MIB,
        },
        scan_limits: hallmark::registry::ListLimits {
            names: args.max_scan_tags,
            bytes: args.max_scan_list_mib * MIB,
        },
    };
    let bar = progress::wanted(ui).then(|| {
        let b = indicatif::ProgressBar::new(0);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "scanning [{bar:30}] {pos}/{len} tags {per_sec}",
            )
            .expect("static template")
            .progress_chars("=> "),
        );
        b
    });
    let report = hallmark::scan::scan(&client, &args.targets, &opts, &|done, known| {
        if let Some(b) = &bar {
            b.set_length(known as u64);
            b.set_position(done as u64);
        }
    })
    .await?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    ui.emit(&ScanResult::new(&report, colour_wanted()))?;
    if report.statuses().any(|s| args.fail_on.0.contains(&s)) {
        return Ok(Outcome::Denied);
    }
    if report.partial {
        // Never clean when part of it could not be read; the report already says so.
        let unread = report.errors.len()
            + report
                .tags
                .iter()
                .filter(|t| t.status == Status::Error)
                .count();
        return Ok(Outcome::Incomplete(format!(
            "the scan is partial: {unread} part(s) could not be read; run again, or with -v to see each request"
        )));
    }
    let ambiguous = report.summary.get(&Status::Ambiguous).copied().unwrap_or(0);
    if ambiguous > 0 {
        // Neither proven moved nor proven in place: not clean, so not 0; not drift either.
        return Ok(Outcome::Incomplete(format!(
            "{ambiguous} tag(s) are ambiguous: signatures made in the same second bind them to more than one digest; sign the digest each tag should name again"
        )));
    }
    Ok(Outcome::Ok)
}
