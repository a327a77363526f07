//! Everything the command line prints, in one place.
//!
//! stdout carries results only: in text mode the one line a script uses (a pinned
//! reference, a digest, a PEM key); under `--output json` one JSON document, also when
//! the command fails. People read stderr. A reader that closes stdout early (`| head`)
//! ends the command quietly.

use std::io::Write;

use crate::exit::{self, ClosedStdout};
use crate::sanitize;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    // A line for scripts on stdout, detail for people on stderr.
    Text,
    // One JSON document on stdout.
    Json,
    // SARIF 2.1.0 on stdout (audit only).
    Sarif,
}

/// Where output goes and how much of it.
#[derive(Clone, Copy)]
pub struct Ui {
    /// Only errors on stderr.
    pub quiet: bool,
    /// More detail on stderr.
    pub verbose: u8,
    /// Result format.
    pub format: Format,
}

/// A command's result: a JSON document, and for text mode the lines for people and the
/// line for scripts.
pub trait Render: serde::Serialize {
    /// Writes the human detail with `ui.say` and returns the stdout line, if any.
    fn text(&self, ui: &Ui) -> Option<String>;
}

impl Ui {
    /// A line for people, unless --quiet.
    pub fn say(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{msg}");
        }
    }

    /// A line for people that carries text from outside (reasons, registry messages):
    /// escaped, truncated and redacted first.
    pub fn say_outside(&self, prefix: &str, text: &str) {
        self.say(format!("{prefix}{}", sanitize::line(text)));
    }

    /// A line for people with -v.
    pub fn detail(&self, msg: impl std::fmt::Display) {
        if !self.quiet && self.verbose > 0 {
            let _ = writeln!(std::io::stderr(), "{msg}");
        }
    }

    /// True under --output json (and sarif, whose failures are JSON error documents too).
    pub fn json(&self) -> bool {
        matches!(self.format, Format::Json | Format::Sarif)
    }

    /// Prints a result the way the user asked for.
    pub fn emit<R: Render>(&self, result: &R) -> anyhow::Result<()> {
        match self.format {
            Format::Json | Format::Sarif => stdout_line(&serde_json::to_string(result)?),
            Format::Text => match result.text(self) {
                Some(line) => stdout_line(&line),
                None => Ok(()),
            },
        }
    }

    /// Reports a failure: the line (and hint) on stderr, and under --output json an
    /// error document on stdout. Returns the exit code.
    pub fn fail(&self, e: &anyhow::Error) -> u8 {
        let class = exit::class(e);
        let code = exit::code(class);
        // Messages carry text from registries and files: printed only sanitised.
        let message = sanitize::line(&e.to_string());
        let hint = exit::hint(e).map(|h| sanitize::line(&h));
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "error: {message}");
        if self.verbose > 0 {
            for cause in e.chain().skip(1) {
                let _ = writeln!(err, "  caused by: {}", sanitize::line(&cause.to_string()));
            }
        }
        if let Some(h) = &hint {
            let _ = writeln!(err, "hint: {h}");
        }
        if self.json() {
            error_document(&message, class, hint.as_deref());
        }
        code
    }
}

/// The JSON error document (docs/schema/error.schema.json) on stdout.
pub fn error_document(message: &str, class: hallmark::ErrorClass, hint: Option<&str>) {
    let doc = serde_json::json!({
        "error": message, "class": class, "exit": exit::code(class), "hint": hint,
    });
    // Nothing more can be reported if even this cannot be written.
    let _ = stdout_line(&doc.to_string());
}

/// One line on stdout; a closed stdout becomes [`ClosedStdout`].
pub fn stdout_line(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    let r = writeln!(out, "{line}").and_then(|()| out.flush());
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ClosedStdout.into()),
        other => Ok(other?),
    }
}

/// Text that is already in its final form (a PEM key, a digest).
pub fn stdout_raw(text: &str) -> anyhow::Result<()> {
    stdout_line(text.trim_end_matches('\n'))
}
