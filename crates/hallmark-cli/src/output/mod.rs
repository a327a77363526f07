//! Everything the command line prints, in one place.
//!
//! stdout carries results only: in text mode the one line a script uses (a pinned
//! reference, a digest, a PEM key); under `--output json` one JSON document, also when
//! the command fails. People read stderr. A reader that closes stdout early (`| head`)
//! ends the command quietly.
//!
//! The JSON documents are this module's own types (one file per command or family), not
//! the library's: a rename inside the library cannot change what scripts read. Every
//! document starts with `"version": 1` and has a schema in `docs/schema/`. Each text
//! renderer writes to the writers it is given, so that it can be tested without a process.

pub mod audit;
pub mod blob;
pub mod copy;
pub mod demo;
pub mod error;
pub mod keys;
pub mod pin;
pub mod policy;
pub mod publish;
pub mod scan;
pub mod signatures;
pub mod trust_root;
pub mod verify;

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

/// The version of every JSON document: serialised as the number 1. A change that breaks
/// a script (a field renamed, removed or retyped) needs a new version.
#[derive(Debug, Clone, Copy, Default)]
pub struct V1;

impl serde::Serialize for V1 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(1)
    }
}

/// The writers a text renderer is given: stdout for the result, stderr for people.
pub struct Text<'a> {
    /// Results: what a script reads.
    pub out: &'a mut dyn Write,
    /// People: progress, detail, reasons.
    pub err: &'a mut dyn Write,
    /// Only errors on stderr.
    pub quiet: bool,
}

impl Text<'_> {
    /// A line for people, unless --quiet.
    pub fn say(&mut self, msg: impl std::fmt::Display) {
        if !self.quiet {
            // Nothing useful can be done when stderr itself cannot be written.
            let _ = writeln!(self.err, "{msg}");
        }
    }

    /// A line for people that carries text from outside, escaped, truncated and redacted.
    pub fn say_outside(&mut self, prefix: &str, text: &str) {
        self.say(format!("{prefix}{}", sanitize::line(text)));
    }

    /// A line for people even under --quiet: a "no" must say why.
    pub fn loud(&mut self, msg: impl std::fmt::Display) {
        let _ = writeln!(self.err, "{msg}");
    }

    /// [`Text::loud`] for text from outside.
    pub fn loud_outside(&mut self, prefix: &str, text: &str) {
        self.loud(format!("{prefix}{}", sanitize::line(text)));
    }

    /// The result on stdout, as it is (already sanitised by the caller where needed).
    pub fn result(&mut self, text: &str) -> std::io::Result<()> {
        writeln!(self.out, "{text}")
    }
}

/// A command's result: a JSON document (its own versioned type), and its text rendering.
pub trait Render: serde::Serialize {
    /// Writes the text rendering: detail for people on `t.err`, the result line on `t.out`.
    /// Only a failure to write stdout is an error.
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()>;
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
            Format::Text => self.text(|t| result.text(t)),
        }
    }

    /// Runs a text renderer on this process's stdout and stderr.
    pub fn text(
        &self,
        render: impl FnOnce(&mut Text<'_>) -> std::io::Result<()>,
    ) -> anyhow::Result<()> {
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        let mut t = Text {
            out: &mut out,
            err: &mut err,
            quiet: self.quiet,
        };
        let r = render(&mut t).and_then(|()| out.flush());
        closed_quietly(r)
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
    let doc = error::ErrorDocument::new(message, class, hint);
    // Nothing more can be reported if even this cannot be written.
    if let Ok(text) = serde_json::to_string(&doc) {
        let _ = stdout_line(&text);
    }
}

/// A closed stdout becomes [`ClosedStdout`]; other write failures stay errors.
fn closed_quietly(r: std::io::Result<()>) -> anyhow::Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Err(ClosedStdout.into()),
        other => Ok(other?),
    }
}

/// One line on stdout; a closed stdout becomes [`ClosedStdout`].
pub fn stdout_line(line: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    closed_quietly(writeln!(out, "{line}").and_then(|()| out.flush()))
}

/// Text that is already in its final form (a PEM key, a digest).
pub fn stdout_raw(text: &str) -> anyhow::Result<()> {
    stdout_line(text.trim_end_matches('\n'))
}

/// Renders text into memory, for unit tests: (stdout, stderr).
#[cfg(test)]
pub fn render_text(r: &impl Render, quiet: bool) -> (String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut t = Text {
        out: &mut out,
        err: &mut err,
        quiet,
    };
    r.text(&mut t).unwrap();
    (
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

#[cfg(test)]
mod schemas;
