//! `hallmark admit`: the admission webhook over HTTPS, or `--review`: one AdmissionReview
//! answered offline, as the webhook would.

use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;

use hallmark::admit::server::{Event, Identity, Log, Server, ServerOptions};
use hallmark::admit::{AdmitOptions, CacheOptions, CachingVerifier, Decision, Endpoint, Verifier};

use crate::Outcome;
use crate::cli::{AdmitArgs, AdmitEndpoint};
use crate::commands::{Clients, client};
use crate::exit::CliError;
use crate::output::Ui;

/// Largest review read: the apiserver caps an object near 3 MiB, and a review of an
/// UPDATE carries the object twice.
const MAX_REVIEW: u64 = 8 * 1024 * 1024;

/// `hallmark admit`.
pub async fn run(args: &AdmitArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    match (&args.review, &args.tls_cert, &args.tls_key) {
        (Some(review), _, _) => answer_one(review, args, ui, clients).await,
        (None, Some(cert), Some(key)) => serve(cert, key, args, ui, clients).await,
        // clap requires one or the other.
        _ => Err(CliError::usage(
            "give --tls-cert and --tls-key to serve, or --review FILE to answer one review",
            None,
        )),
    }
}

/// One JSON object per line on stderr, each with its time, as log collectors read them.
fn log_line(event: &serde_json::Value) {
    let mut line = serde_json::Map::new();
    line.insert(
        "time".into(),
        humantime::format_rfc3339_millis(std::time::SystemTime::now())
            .to_string()
            .into(),
    );
    if let serde_json::Value::Object(fields) = event {
        line.extend(fields.clone());
    }
    // A closed stderr must not stop the webhook: the answers still go out.
    let _ = writeln!(
        std::io::stderr().lock(),
        "{}",
        serde_json::Value::Object(line)
    );
}

/// `hallmark admit --tls-cert … --tls-key …`: serves until SIGTERM or Ctrl-C.
async fn serve(
    cert: &Path,
    key: &Path,
    args: &AdmitArgs,
    ui: Ui,
    clients: &Clients,
) -> anyhow::Result<Outcome> {
    crate::commands::stdin_once(&args.trust.key, &args.registry)?;
    let trust = crate::commands::trust(&args.trust)?;
    let cache = CacheOptions {
        cache_ttl: args.cache_ttl,
        deny_ttl: args.deny_ttl,
        tag_ttl: args.tag_ttl,
        max_entries: usize::try_from(args.cache_entries).unwrap_or(usize::MAX),
        ..CacheOptions::default()
    };
    let verifier = Arc::new(CachingVerifier::new(
        client(&args.registry, ui, clients)?,
        trust,
        cache,
    ));
    let log: Log = Arc::new(|event: &Event<'_>| {
        if let Ok(v) = serde_json::to_value(event) {
            log_line(&v);
        }
    });
    let identity = Identity::load(cert, key, log.clone()).map_err(|e| {
        CliError::usage(
            format!("cannot serve HTTPS: {e}"),
            Some(
                "give the PEM certificate and key of the webhook's Service name (e.g. from cert-manager, or openssl as docs/ADMIT.md shows)",
            ),
        )
    })?;
    let mut options = ServerOptions::new(args.listen);
    options.metrics_listen = args.metrics_listen;
    options.admit = AdmitOptions {
        deadline: args.deadline,
        pods_only: args.pods_only,
        ..AdmitOptions::default()
    };
    let server = Server::bind(options, identity, log).await.map_err(|e| {
        let hint = match &e {
            hallmark::admit::server::ServeError::Bind { .. } => {
                "another process may have the port: stop it, or pick another address with --listen"
            }
            _ => "check --tls-cert and --tls-key",
        };
        anyhow::Error::from(CliError {
            message: e.to_string(),
            hint: Some(hint.into()),
            class: e.class(),
        })
    })?;
    log_line(&serde_json::json!({
        "event": "listening",
        "address": server.address().to_string(),
        "metrics": server.metrics_address().map(|a| a.to_string()),
        "pods_only": args.pods_only,
        "deadline_ms": u64::try_from(args.deadline.as_millis()).unwrap_or(u64::MAX),
        "cache_ttl_s": args.cache_ttl.as_secs(),
        "tag_ttl_s": args.tag_ttl.as_secs(),
    }));
    server.run(verifier, stopped()).await;
    log_line(&serde_json::json!({"event": "stopped"}));
    Ok(Outcome::Ok)
}

/// SIGTERM (how Kubernetes stops a Pod) or Ctrl-C.
async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

/// `hallmark admit --review`.
async fn answer_one(
    review: &Path,
    args: &AdmitArgs,
    ui: Ui,
    clients: &Clients,
) -> anyhow::Result<Outcome> {
    let stdin = review.as_os_str() == "-";
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
        hallmark::fsio::read_input(review, MAX_REVIEW)
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
