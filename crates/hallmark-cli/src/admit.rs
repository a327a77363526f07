//! `hallmark admit --review`: one AdmissionReview answered offline, as the webhook would.

use hallmark::admit::{AdmitOptions, Decision, Endpoint, Verifier};

use crate::Outcome;
use crate::cli::{AdmitArgs, AdmitEndpoint};
use crate::commands::{Clients, client};
use crate::exit::CliError;
use crate::output::Ui;

/// Largest review read: the apiserver caps an object near 3 MiB, and a review of an
/// UPDATE carries the object twice.
const MAX_REVIEW: u64 = 8 * 1024 * 1024;

/// `hallmark admit --review`.
pub async fn run(args: &AdmitArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    let stdin = args.review.as_os_str() == "-";
    if stdin
        && (args.registry.password_stdin || args.trust.key.iter().any(|k| k.as_os_str() == "-"))
    {
        return Err(CliError::usage(
            "--review - and --password-stdin or --key - all want standard input",
            Some("pass the review as a file"),
        ));
    }
    let body = if stdin {
        hallmark::fsio::read_stream_bounded(
            std::io::stdin().lock(),
            std::path::Path::new("standard input"),
            MAX_REVIEW,
        )
    } else {
        hallmark::fsio::read_input(&args.review, MAX_REVIEW)
    }
    .map_err(|e| {
        CliError::usage(
            format!("cannot read the review: {e}"),
            Some("pass an AdmissionReview (JSON) file, or - for standard input"),
        )
    })?;
    crate::commands::stdin_once(&args.trust.key, &args.registry)?;
    let trust = crate::commands::trust(&args.trust)?;
    let verifier = Verifier::new(client(&args.registry, ui, clients)?, trust);
    let endpoint = match args.endpoint {
        AdmitEndpoint::Mutate => Endpoint::Mutate,
        AdmitEndpoint::Validate => Endpoint::Validate,
    };
    let options = AdmitOptions {
        deadline: args.deadline,
        pods_only: args.pods_only,
        ..AdmitOptions::default()
    };
    let answer = hallmark::admit::answer(&body, endpoint, &verifier, &options).await;
    // The response exactly as the webhook will send it (its text is hallmark's own,
    // already bounded and free of control characters).
    crate::output::stdout_raw(&String::from_utf8_lossy(&answer.body))?;
    let reason = answer.record.reason.as_deref().unwrap_or_default();
    match answer.record.decision {
        Decision::Allowed | Decision::Patched => Ok(Outcome::Ok),
        Decision::Denied => {
            if !ui.quiet {
                for line in reason.lines() {
                    eprintln!("{}", crate::sanitize::line(line));
                }
            }
            Ok(Outcome::Denied)
        }
        Decision::Unavailable => {
            let lines: Vec<&str> = reason
                .lines()
                .skip(1)
                .map(|l| l.trim_start_matches("- "))
                .collect();
            Ok(Outcome::Incomplete(crate::sanitize::line(&format!(
                "denied: {}; the request is denied until it can be checked: retry",
                lines.join("; ")
            ))))
        }
        Decision::Malformed => Err(CliError::usage(
            format!("not an AdmissionReview hallmark can answer: {reason}"),
            Some(
                "give the whole admission.k8s.io/v1 AdmissionReview the apiserver sends, with its request",
            ),
        )),
    }
}
