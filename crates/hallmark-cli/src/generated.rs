//! What is generated from the command-line definitions: shell completions and man pages.

use std::path::Path;

use clap::CommandFactory;

use crate::Outcome;
use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::CliError;
use crate::output::Ui;

/// `hallmark completions SHELL`.
pub fn completions(args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "hallmark", &mut out);
    crate::output::stdout_raw(&String::from_utf8_lossy(&out))?;
    Ok(Outcome::Ok)
}

/// One man page: its name (`hallmark-key-generate`) and its command.
struct Page {
    name: String,
    cmd: clap::Command,
    /// The page of the command it belongs to (`hallmark-key`), none for `hallmark`.
    parent: Option<String>,
}

/// Every page, `hallmark` first, then each visible command and nested command. The
/// command is built first: that is what gives a nested command its full name in the
/// synopsis (`hallmark key generate`) and the global flags in its options.
fn pages() -> Vec<Page> {
    let mut root = Cli::command().disable_help_subcommand(true);
    root.build();
    let mut out = Vec::new();
    collect(&root, None, &mut out);
    out
}

fn collect(cmd: &clap::Command, parent: Option<String>, out: &mut Vec<Page>) {
    let name = cmd
        .get_display_name()
        .unwrap_or_else(|| cmd.get_name())
        .to_string();
    out.push(Page {
        name: name.clone(),
        cmd: cmd.clone(),
        parent,
    });
    for sub in cmd.get_subcommands() {
        // A hidden command has no page, so no page may name one.
        if sub.is_hide_set() || sub.get_name() == "help" {
            continue;
        }
        collect(sub, Some(name.clone()), out);
    }
}

/// Text for a roff line: a leading control character would be read as a request, and a
/// bare `-` may be set as a hyphen.
fn roff_text(text: &str) -> String {
    let escaped = text.replace('\\', "\\e").replace('-', "\\-");
    if escaped.starts_with(['.', '\'']) {
        format!("\\&{escaped}")
    } else {
        escaped
    }
}

/// The sections clap_mangen does not write: EXIT STATUS (the same on every page, since
/// every command maps its failures through the same classes) and SEE ALSO (the pages
/// related to this one, all of them written).
fn extra_sections(page: &Page, pages: &[Page]) -> String {
    let mut roff = String::from(".SH \"EXIT STATUS\"\n");
    for (code, meaning) in crate::exit::MEANINGS {
        roff.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", roff_text(meaning)));
    }
    let mut related: Vec<&str> = Vec::new();
    if page.parent.is_none() {
        related.extend(
            pages
                .iter()
                .filter(|p| p.parent.as_deref() == Some(page.name.as_str()))
                .map(|p| p.name.as_str()),
        );
    } else {
        related.push("hallmark");
        if let Some(parent) = page.parent.as_deref().filter(|p| *p != "hallmark") {
            related.push(parent);
        }
        related.extend(
            pages
                .iter()
                .filter(|p| p.parent.as_deref() == Some(page.name.as_str()))
                .map(|p| p.name.as_str()),
        );
    }
    if !related.is_empty() {
        roff.push_str(".SH \"SEE ALSO\"\n");
        let last = related.len() - 1;
        for (i, name) in related.iter().enumerate() {
            let sep = if i == last { "" } else { " ," };
            roff.push_str(&format!(".BR {} (1){sep}\n", roff_text(name)));
        }
    }
    roff
}

/// The date in the pages' footer: SOURCE_DATE_EPOCH's when a package build sets it (so
/// that the pages are reproducible), else today's.
fn page_date() -> String {
    let now = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map_or_else(std::time::SystemTime::now, |secs| {
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs)
        });
    humantime::format_rfc3339_seconds(now)
        .to_string()
        .chars()
        .take(10)
        .collect()
}

fn render(page: &Page, pages: &[Page]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    let source = format!("hallmark {}", env!("CARGO_PKG_VERSION"));
    clap_mangen::Man::new(page.cmd.clone())
        .title(page.name.clone())
        .date(page_date())
        .source(source)
        .manual("hallmark manual")
        .render(&mut out)?;
    // Characters beyond ASCII (…, ’) as groff's named escapes: a page read without a
    // UTF-8 preprocessor (plain groff, older man) shows them instead of warning.
    let text = String::from_utf8(out)?
        .chars()
        .map(|c| {
            if c.is_ascii() {
                c.to_string()
            } else {
                format!("\\[u{:04X}]", u32::from(c))
            }
        })
        .collect::<String>();
    // clap_mangen puts line breaks around the blank line before an option's possible
    // values; the blank line alone is that paragraph break (mandoc warns about the others).
    let mut text = text;
    for (from, to) in [("\n.br\n\n", "\n\n"), ("\n\n.br\n", "\n\n")] {
        while text.contains(from) {
            text = text.replace(from, to);
        }
    }
    let extra = extra_sections(page, pages);
    // Before the version section, where a man page's trailing sections usually go last.
    let text = match text.find("\n.SH VERSION\n") {
        Some(at) => format!("{}\n{extra}{}", &text[..at], &text[at + 1..]),
        None => format!("{text}{extra}"),
    };
    Ok(text.into_bytes())
}

/// `hallmark man [--dir DIR]`.
pub fn man(args: &ManArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let pages = pages();
    let Some(dir) = &args.dir else {
        crate::output::stdout_raw(&String::from_utf8_lossy(&render(&pages[0], &pages)?))?;
        return Ok(Outcome::Ok);
    };
    if !Path::new(dir).is_dir() {
        return Err(CliError::usage(
            format!("{} is not a directory", dir.display()),
            Some("create it first"),
        ));
    }
    for page in &pages {
        let path = dir.join(format!("{}.1", page.name));
        hallmark::fsio::write_output(&path, &render(page, &pages)?).map_err(|e| {
            anyhow::Error::from(CliError {
                message: format!("cannot write {}: {e}", path.display()),
                hint: None,
                class: e.class(),
            })
        })?;
    }
    ui.say(format!(
        "wrote {} man pages to {}",
        pages.len(),
        dir.display()
    ));
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The EXIT STATUS section and `--help` say the same: both come from one table, and the
    /// help text is written out by hand.
    #[test]
    fn the_help_lists_every_exit_code_of_the_man_pages() {
        let help = Cli::command().render_long_help().to_string();
        let help = help.split_whitespace().collect::<Vec<_>>().join(" ");
        for (code, meaning) in crate::exit::MEANINGS {
            assert!(
                help.contains(&format!("{code} {meaning}")),
                "{code}: {help}"
            );
        }
    }

    #[test]
    fn roff_text_cannot_start_a_request() {
        assert_eq!(roff_text(".x-y"), "\\&.x\\-y");
        assert_eq!(roff_text("'q"), "\\&'q");
        assert_eq!(roff_text("a\\b"), "a\\eb");
    }
}
