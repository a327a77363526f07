//! `hallmark scan`: a table a person reads at a glance, or one JSON document.

use std::io::IsTerminal;

use hallmark::scan::{ScanOptions, ScanReport, Status};

use crate::cli::ScanArgs;
use crate::commands::client;
use crate::output::{Render, Ui};
use crate::{Outcome, progress};

/// Colours on a terminal, unless NO_COLOR says otherwise.
fn colour_wanted() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn paint(status: Status, text: &str, colour: bool) -> String {
    if !colour {
        return text.to_string();
    }
    let code = match status {
        Status::Verified => "32",
        Status::Allowed | Status::Stale | Status::Orphaned | Status::Ambiguous => "33",
        Status::Unsigned | Status::Invalid | Status::Error => "31",
        Status::Drifted => "1;31",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

fn short(d: &hallmark::digest::Digest) -> String {
    let hex = d.hex();
    format!("{}:{}…", d.algorithm(), &hex[..hex.len().min(12)])
}

/// The table: status first, problems first, and a summary line.
impl Render for ScanReport {
    fn text(&self, ui: &Ui) -> Option<String> {
        let colour = colour_wanted();
        let mut rows: Vec<(Status, String, String, String)> = self
            .tags
            .iter()
            .map(|t| {
                (
                    t.status,
                    format!("{}:{}", t.repository, t.tag),
                    t.digest.as_ref().map_or_else(|| "-".into(), short),
                    t.reason.clone(),
                )
            })
            .collect();
        rows.extend(self.orphaned.iter().map(|o| {
            (
                Status::Orphaned,
                format!("{}@{}", o.repository, short(&o.digest)),
                short(&o.digest),
                o.reason.clone(),
            )
        }));
        // Problems first, so that a long scan's news is at the top.
        rows.sort_by(|a, b| {
            let rank = |s: Status| match s {
                Status::Drifted => 0,
                Status::Ambiguous => 1,
                Status::Invalid => 2,
                Status::Unsigned => 3,
                Status::Stale => 4,
                Status::Orphaned => 5,
                Status::Error => 6,
                Status::Allowed => 7,
                Status::Verified => 8,
            };
            rank(a.0).cmp(&rank(b.0)).then_with(|| a.1.cmp(&b.1))
        });
        let width = rows
            .iter()
            .map(|row| row.1.chars().count())
            .max()
            .unwrap_or(0);
        let mut lines = Vec::new();
        for (status, name, digest, why) in &rows {
            let label = format!("{:<9}", status.name());
            // Outside text is made safe first; the colour, ours, is added after.
            let row = crate::sanitize::line(&format!("{label} {name:<width$}  {digest:<20} {why}"));
            let rest = row.get(label.len()..).unwrap_or_default();
            lines.push(format!("{}{rest}", paint(*status, &label, colour)));
        }
        let mut writable = 0;
        for a in &self.access {
            let verdict = match a.can_push {
                Some(true) => {
                    writable += 1;
                    "can push"
                }
                Some(false) => "read only",
                None => "unknown",
            };
            lines.push(crate::sanitize::line(&format!(
                "access    {:<width$}  {verdict:<20} {}",
                a.repository, a.how
            )));
        }
        if !self.access.is_empty() {
            lines.push(format!(
                "the credentials in use can push to {writable} of {} repositories",
                self.access.len()
            ));
        }
        for e in &self.errors {
            ui.say_outside(&format!("error: {}: ", e.scope), &e.error);
        }
        let counts: Vec<String> = Status::ALL
            .iter()
            .filter_map(|s| self.summary.get(s).map(|n| format!("{n} {}", s.name())))
            .collect();
        let tags = self.tags.len();
        lines.push(format!(
            "{}scanned {tags} tags in {} repositories in {:.2} s ({:.0} tags/s, {:.2} requests/tag){}{}",
            if self.partial { "PARTIAL: " } else { "" },
            self.repositories.len(),
            self.seconds,
            tags as f64 / self.seconds.max(1e-9),
            self.requests as f64 / tags.max(1) as f64,
            if counts.is_empty() {
                String::new()
            } else {
                format!(": {}", counts.join(", "))
            },
            if self.partial {
                format!("; {} part(s) could not be read", self.errors.len().max(1))
            } else {
                String::new()
            }
        ));
        Some(lines.join("\n"))
    }
}

const MIB: u64 = 1024 * 1024;

/// `hallmark scan`.
pub async fn run(args: &ScanArgs, ui: Ui) -> anyhow::Result<Outcome> {
    crate::commands::stdin_once(&args.trust.key, &args.registry)?;
    let trust = crate::commands::trust(&args.trust)?;
    let client = client(&args.registry, ui)?;
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
    ui.emit(&report)?;
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
