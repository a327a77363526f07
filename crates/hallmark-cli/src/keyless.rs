//! Keyless flags: the trusted root (`--trusted-root`, `HALLMARK_TRUSTED_ROOT`, or the built-in
//! public-good root), the certificate identity policy (cosign's `--certificate-*` flags),
//! `trust-root show`, and the conformance suite's `verify-bundle` protocol.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hallmark::sigstore::identity::{IdentityPolicy, Matcher};
use hallmark::sigstore::root::{Authority, Log, TrustedRoot, Validity};
use hallmark::sigstore::verify::{LogRecord, VerifiedTime};
use serde::Serialize;

use crate::Outcome;
use crate::cli::{IdentityArgs, RootArgs, TrustRootShowArgs, VerifyBlobArgs, VerifyBundleArgs};
use crate::exit::CliError;
use crate::output::{Render, Ui};

/// The log entries and verified times of a Sigstore verification, one line each.
pub fn say_proofs(ui: &Ui, tlog: &[LogRecord], times: &[VerifiedTime]) {
    for l in tlog {
        let at = l
            .integrated_time
            .map(|t| format!(", integrated {}", humantime::format_rfc3339_seconds(t)))
            .unwrap_or_default();
        ui.say_outside(
            "  logged: ",
            &format!(
                "{} entry {} ({}){at}",
                l.log,
                l.log_index,
                l.proofs.join(", ")
            ),
        );
    }
    for t in times {
        ui.say_outside(
            "  signed at: ",
            &format!("{} ({})", humantime::format_rfc3339_seconds(t.at), t.source),
        );
    }
}

/// The trusted root a command uses, and how to name it.
pub fn trusted_root(path: Option<&Path>) -> anyhow::Result<(TrustedRoot, String)> {
    let Some(path) = path else {
        return Ok((
            TrustedRoot::production(),
            "built-in public-good production root".into(),
        ));
    };
    let what = path.display().to_string();
    let bytes = hallmark::fsio::read_bounded(path, None, hallmark::sigstore::root::MAX_ROOT_BYTES)
        .map_err(|e| CliError::usage(format!("cannot read the trusted root {what}: {e}"), None))?
        .ok_or_else(|| {
            CliError::usage(
                format!("trusted root {what} does not exist"),
                Some("pass a trusted_root.json (Sigstore TrustedRoot), or leave --trusted-root out for the public-good root"),
            )
        })?;
    let root = TrustedRoot::parse(&bytes)
        .map_err(|e| CliError::usage(format!("trusted root {what}: {e}"), None))?;
    Ok((root, what))
}

/// The identity policy the flags give, `None` when no keyless flag is given. An identity
/// without an issuer (or the reverse) is a usage error naming what is missing, as in cosign.
pub fn identity_policy(args: &IdentityArgs) -> anyhow::Result<Option<IdentityPolicy>> {
    if !args.given() {
        return Ok(None);
    }
    let regex = |flag: &str, pattern: &str| {
        Matcher::regex(pattern).map_err(|e| CliError::usage(format!("--{flag}: {e}"), None))
    };
    let subject = match (
        &args.certificate_identity,
        &args.certificate_identity_regexp,
    ) {
        (Some(exact), _) => Matcher::Exact(exact.clone()),
        (None, Some(r)) => regex("certificate-identity-regexp", r)?,
        (None, None) => {
            return Err(CliError::usage(
                "keyless verification needs the signer's identity: --certificate-identity or --certificate-identity-regexp",
                Some(
                    "for a GitHub Actions workflow: --certificate-identity https://github.com/OWNER/REPO/.github/workflows/FILE.yml@refs/heads/main",
                ),
            ));
        }
    };
    let issuer = match (
        &args.certificate_oidc_issuer,
        &args.certificate_oidc_issuer_regexp,
    ) {
        (Some(exact), _) => Matcher::Exact(exact.clone()),
        (None, Some(r)) => regex("certificate-oidc-issuer-regexp", r)?,
        (None, None) => {
            return Err(CliError::usage(
                "keyless verification needs the identity's issuer: --certificate-oidc-issuer or --certificate-oidc-issuer-regexp",
                Some(
                    "GitHub Actions: --certificate-oidc-issuer https://token.actions.githubusercontent.com",
                ),
            ));
        }
    };
    let mut policy = IdentityPolicy::new(subject, issuer);
    policy.github.workflow_repository = args.certificate_github_workflow_repository.clone();
    policy.github.workflow_ref = args.certificate_github_workflow_ref.clone();
    policy.github.workflow_sha = args.certificate_github_workflow_sha.clone();
    policy.github.workflow_trigger = args.certificate_github_workflow_trigger.clone();
    policy.github.workflow_name = args.certificate_github_workflow_name.clone();
    Ok(Some(policy))
}

#[derive(Serialize)]
struct Window {
    start: String,
    end: Option<String>,
    /// Whether the window holds the present instant.
    current: bool,
}

fn window(v: &Validity, now: SystemTime) -> Window {
    // Whole seconds unless the root says otherwise (`…59.999Z` ends are common).
    let fmt = |t: SystemTime| {
        let whole = t
            .duration_since(SystemTime::UNIX_EPOCH)
            .is_ok_and(|d| d.subsec_nanos() == 0);
        if whole {
            humantime::format_rfc3339_seconds(t).to_string()
        } else {
            humantime::format_rfc3339_millis(t).to_string()
        }
    };
    Window {
        start: fmt(v.start),
        end: v.end.map(fmt),
        current: v.contains(now),
    }
}

#[derive(Serialize)]
struct LogOut {
    url: String,
    key: String,
    log_id: String,
    valid: Window,
}

#[derive(Serialize)]
struct AuthorityOut {
    uri: String,
    name: String,
    certificates: usize,
    valid: Window,
}

#[derive(Serialize)]
struct RootShown {
    source: String,
    certificate_authorities: Vec<AuthorityOut>,
    tlogs: Vec<LogOut>,
    ctlogs: Vec<LogOut>,
    timestamp_authorities: Vec<AuthorityOut>,
}

impl Render for RootShown {
    fn text(&self, ui: &Ui) -> Option<String> {
        let until = |w: &Window| {
            let end = w.end.as_deref().unwrap_or("no end");
            let state = if w.current { "" } else { " (not current)" };
            format!("{} until {end}{state}", w.start)
        };
        let mut out = format!("trusted root: {}\n", self.source);
        for (title, items) in [
            (
                "certificate authorities (Fulcio)",
                &self.certificate_authorities,
            ),
            ("timestamp authorities", &self.timestamp_authorities),
        ] {
            out.push_str(&format!("{title}:\n"));
            for a in items {
                out.push_str(&format!("  {} ({}): {}\n", a.uri, a.name, until(&a.valid)));
            }
        }
        for (title, items) in [
            ("transparency logs (Rekor)", &self.tlogs),
            ("certificate transparency logs", &self.ctlogs),
        ] {
            out.push_str(&format!("{title}:\n"));
            for l in items {
                out.push_str(&format!("  {} ({}): {}\n", l.url, l.key, until(&l.valid)));
            }
        }
        let _ = ui;
        Some(out.trim_end().to_string())
    }
}

/// `hallmark trust-root show`.
pub fn show(args: &TrustRootShowArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let (root, source) = trusted_root(args.trusted_root.as_deref())?;
    let now = SystemTime::now();
    let logs = |logs: &[Log]| {
        logs.iter()
            .map(|l| LogOut {
                url: l.base_url.clone(),
                key: l.key.details.clone(),
                log_id: l.log_id.iter().map(|b| format!("{b:02x}")).collect(),
                valid: window(&l.key.valid, now),
            })
            .collect()
    };
    let authorities = |a: &[Authority]| {
        a.iter()
            .map(|a| AuthorityOut {
                uri: a.uri.clone(),
                name: a.name.clone(),
                certificates: a.chain.len(),
                valid: window(&a.valid, now),
            })
            .collect()
    };
    ui.emit(&RootShown {
        source,
        certificate_authorities: authorities(&root.certificate_authorities),
        tlogs: logs(&root.tlogs),
        ctlogs: logs(&root.ctlogs),
        timestamp_authorities: authorities(&root.timestamp_authorities),
    })?;
    Ok(Outcome::Ok)
}

/// `hallmark verify-bundle`: the sigstore-conformance protocol, as `verify-blob`.
pub fn verify_bundle(args: &VerifyBundleArgs, ui: Ui) -> anyhow::Result<Outcome> {
    if args.staging && args.trusted_root.is_none() {
        return Err(CliError::usage(
            "--staging: the staging root is not built in",
            Some("pass the staging trusted_root.json with --trusted-root"),
        ));
    }
    let blob = VerifyBlobArgs {
        file: args.input.clone(),
        key: args.key.iter().cloned().collect::<Vec<PathBuf>>(),
        identity: IdentityArgs {
            certificate_identity: args.certificate_identity.clone(),
            certificate_oidc_issuer: args.certificate_oidc_issuer.clone(),
            ..IdentityArgs::default()
        },
        root: RootArgs {
            trusted_root: args.trusted_root.clone(),
            insecure_ignore_tlog: false,
        },
        bundle: Some(args.bundle.clone()),
        signature: None,
    };
    // The protocol has one answer for anything past its flags that does not verify: exit 1.
    // A key or trusted root that does not load is bad input (exit 2) in `verify-blob`; here it
    // is a refusal like any other, as the suite's cases with a broken key or root expect.
    crate::blobs::verify(&blob, ui).map_err(|e| match crate::exit::class(&e) {
        hallmark::ErrorClass::Denied => e,
        _ => CliError {
            message: e.to_string(),
            hint: crate::exit::hint(&e),
            class: hallmark::ErrorClass::Denied,
        }
        .into(),
    })
}
