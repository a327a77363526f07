//! `hallmark`: a thin command line over the hallmark library.

mod admit;
mod advice;
mod audit;
mod blobs;
mod cli;
mod commands;
mod cosign;
mod demo;
mod exit;
mod generated;
mod keyfile;
mod keyless;
mod output;
mod pin;
mod progress;
mod sanitize;
mod scan;
mod signatures;
mod signers;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, KeyCommand, PolicyCommand, TrustRootCommand};
use output::Ui;

/// How a command ended when it did not fail outright.
pub enum Outcome {
    /// Success.
    Ok,
    /// A security "no" that was already reported (exit 1).
    Denied,
    /// The result (already printed, and saying so) is incomplete: exit 3, with this line
    /// on stderr but no second JSON document.
    Incomplete(String),
}

fn main() -> ExitCode {
    // The application chooses the TLS crypto provider for the process; the library uses
    // whichever is installed. Installing can only fail when one already is.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let ui = Ui {
        quiet: cli.quiet,
        verbose: cli.verbose,
        format: cli.output,
    };
    if cli.output == output::Format::Sarif && !matches!(cli.command, Command::Audit(_)) {
        let e = exit::CliError::usage(
            "--output sarif is for hallmark audit; other commands speak text or json",
            Some("use --output json"),
        );
        return ExitCode::from(ui.fail(&e));
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let e = anyhow::Error::new(e).context("cannot start the async runtime");
            return ExitCode::from(ui.fail(&e));
        }
    };
    let deadline = cli.command.deadline();
    let clients = commands::Clients::default();
    let clients = &clients;
    let command = async {
        match cli.command {
            Command::Key(KeyCommand::Generate(a)) => keyfile::generate(&a, ui),
            Command::Key(KeyCommand::Public(a)) => keyfile::public(&a, ui),
            Command::Digest(a) => commands::digest(&a, ui, clients).await,
            Command::Sign(a) => commands::sign(&a, ui, clients).await,
            Command::Publish(a) => commands::publish(&a, ui, clients).await,
            Command::Verify(a) => commands::verify(&a, ui, clients).await,
            Command::Copy(a) => commands::copy(&a, ui, clients).await,
            Command::Policy(PolicyCommand::Check(a)) => commands::policy_check(&a, ui),
            Command::Attest(a) => commands::attest(&a, ui, clients).await,
            Command::VerifyAttestation(a) => commands::verify_attestation(&a, ui, clients).await,
            Command::SignBlob(a) => blobs::sign(&a, ui, clients).await,
            Command::VerifyBlob(a) => blobs::verify(&a, ui),
            Command::TrustRoot(TrustRootCommand::Show(a)) => keyless::show(&a, ui),
            Command::VerifyBundle(a) => keyless::verify_bundle(&a, ui),
            Command::Demo(a) => demo::run(&a, ui, clients).await,
            Command::Signatures(a) => signatures::run(&a, ui, clients).await,
            Command::Scan(a) => scan::run(&a, ui, clients).await,
            Command::Audit(a) => audit::run(&a, ui),
            Command::Pin(a) => pin::run(&a, ui, clients).await,
            Command::Admit(a) => admit::run(&a, ui, clients).await,
            Command::Completions(a) => generated::completions(&a),
            Command::Man(a) => generated::man(&a, ui),
        }
    };
    let result = runtime.block_on(async {
        match deadline {
            None => command.await,
            Some(limit) => {
                // The command stays alive while the deadline is reported, so that what
                // it was waiting for can still be named.
                tokio::pin!(command);
                tokio::select! {
                    r = &mut command => r,
                    () = tokio::time::sleep(limit) => Err(deadline_exceeded(limit, clients)),
                }
            }
        }
    });
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::Denied) => ExitCode::from(exit::code(hallmark::ErrorClass::Denied)),
        Ok(Outcome::Incomplete(why)) => {
            eprintln!("error: {why}");
            ExitCode::from(exit::code(hallmark::ErrorClass::Unavailable))
        }
        Err(e) if e.is::<exit::ClosedStdout>() => ExitCode::SUCCESS,
        Err(e) => ExitCode::from(ui.fail(&e)),
    }
}

/// The command ran out of time: say how long it had and what it was still waiting for.
fn deadline_exceeded(limit: std::time::Duration, clients: &commands::Clients) -> anyhow::Error {
    let pending = clients.pending();
    exit::CliError {
        message: format!(
            "gave up after the --deadline of {}s; still pending: {}",
            limit.as_secs(),
            if pending.is_empty() {
                "local work".to_string()
            } else {
                pending.join(", ")
            }
        ),
        hint: Some(
            "a registry or signing service that answers very slowly keeps a command waiting; check it, or raise --deadline for very large artifacts".into(),
        ),
        class: hallmark::ErrorClass::Unavailable,
    }
    .into()
}

/// The command line, with cosign's names of hallmark's flags and commands read as
/// hallmark's (a few rounds: one name each), and cosign's names without an equivalent
/// refused in one line saying what to use instead.
fn parse_args() -> Result<Cli, ExitCode> {
    use clap::CommandFactory;
    let mut args = cli::bind_tag_values(std::env::args_os().collect());
    let commands: Vec<String> = Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .collect();
    let mut rounds = 0;
    loop {
        let e = match Cli::try_parse_from(&args) {
            Ok(cli) => return Ok(cli),
            Err(e) => e,
        };
        rounds += 1;
        if e.kind() == clap::error::ErrorKind::MissingRequiredArgument
            && let Some((line, hint)) = cli::tlog_upload_without_key(&args)
        {
            return Err(refuse(exit::CliError::usage(line, Some(hint))));
        }
        match cosign::translate(&e, &args, &commands) {
            Some(cosign::Cosign::Retry(next)) if rounds < 16 => args = next,
            Some(cosign::Cosign::Refused(line)) => {
                return Err(refuse(exit::CliError::usage(line, None)));
            }
            _ => return Err(usage_error(e)),
        }
    }
}

/// A command line refused in hallmark's own words, before it parsed: the line (and under
/// `--output json` the error document), exit 2.
fn refuse(e: anyhow::Error) -> ExitCode {
    let ui = Ui {
        quiet: false,
        verbose: 0,
        format: if json_wanted() {
            output::Format::Json
        } else {
            output::Format::Text
        },
    };
    ExitCode::from(ui.fail(&e))
}

/// `--output json` among the process's arguments, read before they parse.
fn json_wanted() -> bool {
    // args_os: an argument that is not UTF-8 must not make this panic.
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    args.windows(2)
        .any(|w| w[0] == "--output" && w[1] == "json")
        || args.iter().any(|a| a == "--output=json")
}

/// Flags that do not parse: clap's message, and under `--output json` the error document
/// too. `--help` and `--version` are not errors.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        return match output::stdout_raw(&e.to_string()) {
            Ok(()) | Err(_) => ExitCode::SUCCESS,
        };
    }
    let json = json_wanted();
    let code = exit::code(hallmark::ErrorClass::Usage);
    let _ = e.print();
    if json {
        // clap's message up to its usage, on one line and without its own "error: " prefix:
        // the missing arguments are on the lines after the first.
        let rendered = e.to_string();
        let message = rendered
            .lines()
            .take_while(|l| !l.trim().is_empty())
            .map(str::trim)
            .collect::<Vec<_>>()
            .join(" ")
            .trim_start_matches("error: ")
            .to_string();
        output::error_document(
            &message,
            hallmark::ErrorClass::Usage,
            Some("run with --help for the usage"),
        );
    }
    ExitCode::from(code)
}
