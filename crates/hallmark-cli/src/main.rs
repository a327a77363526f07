//! `hallmark`: a thin command line over the hallmark library.

mod cli;
mod commands;
mod demo;
mod keyfile;
mod progress;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, KeyCommand, PolicyCommand};

/// How a command ended when it did not fail outright.
pub enum Outcome {
    Ok,
    /// A security "no" that was already reported (exit 1).
    Denied,
}

/// Where human-readable detail goes: stderr, unless --quiet.
#[derive(Clone, Copy)]
pub struct Ui {
    pub quiet: bool,
    pub verbose: u8,
    pub json: bool,
}

impl Ui {
    pub fn say(&self, msg: impl std::fmt::Display) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "{msg}");
        }
    }

    pub fn detail(&self, msg: impl std::fmt::Display) {
        if !self.quiet && self.verbose > 0 {
            let _ = writeln!(std::io::stderr(), "{msg}");
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let ui = Ui {
        quiet: cli.quiet,
        verbose: cli.verbose,
        json: cli.output == cli::OutputFormat::Json,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Key(KeyCommand::Generate(a)) => keyfile::generate(&a, ui),
            Command::Key(KeyCommand::Public(a)) => keyfile::public(&a),
            Command::Digest(a) => commands::digest(&a).await,
            Command::Sign(a) => commands::sign(&a, ui).await,
            Command::Publish(a) => commands::publish(&a, ui).await,
            Command::Verify(a) => commands::verify(&a, ui).await,
            Command::Copy(a) => commands::copy(&a, ui).await,
            Command::Policy(PolicyCommand::Check(a)) => commands::policy_check(&a, ui),
            Command::Demo(a) => demo::run(&a, ui).await,
        }
    });
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Denied) => ExitCode::from(1),
        Err(e) => report_error(&e, ui),
    }
}

/// One `error:` line, an optional `hint:` line, and the exit code for the error's class.
fn report_error(e: &anyhow::Error, ui: Ui) -> ExitCode {
    let lib = e.chain().find_map(|c| c.downcast_ref::<hallmark::Error>());
    let code = lib.map_or(2, |l| l.class().exit_code());
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: {e}");
    if ui.verbose > 0 {
        for cause in e.chain().skip(1) {
            let _ = writeln!(err, "  caused by: {cause}");
        }
    }
    if let Some(hint) = lib.and_then(hallmark::Error::hint) {
        let _ = writeln!(err, "hint: {hint}");
    }
    ExitCode::from(code as u8)
}
