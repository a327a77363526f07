//! Keyless flags: the trusted root (`--trusted-root`, `HALLMARK_TRUSTED_ROOT`, or the built-in
//! public-good root), the certificate identity policy (cosign's `--certificate-*` flags),
//! `trust-root show`, and the conformance suite's `verify-bundle` protocol; on the signing
//! side, the services and their client from the flags, and the keyless signer of
//! `sign-blob` and the demo (the image commands' signer is made in `signers.rs`).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use hallmark::net::{ServiceClient, ServiceOptions};

use hallmark::sigstore::identity::{IdentityPolicy, Matcher};
use hallmark::sigstore::root::TrustedRoot;

use crate::Outcome;
use crate::cli::{IdentityArgs, RootArgs, TrustRootShowArgs, VerifyBlobArgs, VerifyBundleArgs};
use crate::exit::CliError;
use crate::output::Ui;
use crate::output::trust_root::RootShown;

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

/// `hallmark trust-root show`.
pub fn show(args: &TrustRootShowArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let (root, source) = trusted_root(args.trusted_root.as_deref())?;
    ui.emit(&RootShown::new(&root, source, SystemTime::now()))?;
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

/// A keyless signer the flags describe, made before anything is read or sent: the token
/// when the flags give it (refused here when expired or for another audience), the
/// services (their URLs checked), the trusted root, and the one client of the command.
pub struct KeylessSigner {
    token: Option<hallmark::keyless::IdentityToken>,
    audience: String,
    services: hallmark::keyless::Services,
    root: TrustedRoot,
    client: ServiceClient,
}

/// The one client a command reaches the signing services with.
pub fn service_client(
    allow_http: bool,
    ca_file: Option<&Path>,
    timeout: std::time::Duration,
) -> anyhow::Result<ServiceClient> {
    let mut opts = ServiceOptions::default();
    opts.allow_http = allow_http;
    opts.ca_file = ca_file.map(Path::to_path_buf);
    opts.timeout = timeout;
    ServiceClient::new(opts).map_err(|e| match e {
        hallmark::net::NetError::CaFile { .. } => CliError::usage(e.to_string(), None),
        e => anyhow::Error::new(e),
    })
}

/// The client `sign-blob`'s flags describe.
pub fn blob_service_client(args: &crate::cli::ServiceArgs) -> anyhow::Result<ServiceClient> {
    service_client(
        args.allow_http,
        args.ca_file.as_deref(),
        std::time::Duration::from_secs(args.timeout),
    )
}

/// The services, the root and the token of `args`; every refusal is a usage error (exit 2),
/// before any request. An ambient token (a request to GitHub Actions) is fetched only when
/// signing, once everything else is known to be usable.
pub fn signer(
    args: &crate::cli::KeylessSignArgs,
    client: ServiceClient,
) -> anyhow::Result<KeylessSigner> {
    use hallmark::keyless::{IdentityToken, token};
    let (services, root) = services(args, &client, true)?;
    let token = match &args.identity_token {
        Some(spec) => {
            if token::is_literal(&spec.0) {
                // Even under --quiet: the token is exposed while the command runs.
                let _ = writeln!(
                    std::io::stderr(),
                    "warning: the identity token is on the command line, where other users (ps) and shell history see it; pass @FILE or env://VAR"
                );
            }
            let raw = token::read(&spec.0).map_err(hallmark::Error::from)?;
            Some(
                IdentityToken::parse_for(&raw, SystemTime::now(), &args.oidc_client_id)
                    .map_err(hallmark::Error::from)?,
            )
        }
        None => {
            ambient_source(&client)?;
            None
        }
    };
    Ok(KeylessSigner {
        token,
        audience: args.oidc_client_id.clone(),
        services,
        root,
        client,
    })
}

/// Refuses, before any request, a command with no token at all, and a GitHub Actions token
/// endpoint its bearer token may not be sent to.
fn ambient_source(client: &ServiceClient) -> anyhow::Result<()> {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    if set("SIGSTORE_ID_TOKEN") {
        return Ok(());
    }
    match std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL") {
        Ok(url) if std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN").is_ok() => {
            client.check_url(&url).map_err(|e| {
                CliError::usage(
                    format!("ACTIONS_ID_TOKEN_REQUEST_URL: {e}"),
                    Some("GitHub Actions' token endpoint is reached over https"),
                )
            })?;
            Ok(())
        }
        _ => Err(nothing_to_sign_with()),
    }
}

/// No key and no identity token: said the same whether found from the flags and the
/// environment or after GitHub Actions' endpoint gave nothing.
fn nothing_to_sign_with() -> anyhow::Error {
    CliError::usage(
        "nothing to sign with: no --key, and no identity token for keyless signing",
        Some(
            "pass --key FILE, or --identity-token @FILE|env://VAR (in CI, SIGSTORE_ID_TOKEN or GitHub Actions' id-token permission)",
        ),
    )
}

/// The signing services and the trusted root their answers are verified against; every
/// service URL checked against the client's transport rules. Fulcio is needed only when
/// `keyless`: a key's signature is logged without a certificate.
pub fn services(
    args: &crate::cli::KeylessSignArgs,
    client: &ServiceClient,
    keyless: bool,
) -> anyhow::Result<(hallmark::keyless::Services, TrustedRoot)> {
    use hallmark::keyless::{Services, config};
    let now = SystemTime::now();
    let (services, from) = match (&args.signing_config, &args.rekor_url) {
        (Some(path), _) => {
            let bytes = hallmark::fsio::read_input(path, config::MAX_SIGNING_CONFIG_BYTES)
                .map_err(|e| {
                    CliError::usage(
                        format!(
                            "cannot read the signing config {}: {}",
                            path.display(),
                            e.reason()
                        ),
                        None,
                    )
                })?;
            (
                config::parse(&bytes, now).map_err(hallmark::Error::from)?,
                Some(path),
            )
        }
        (None, Some(rekor)) => {
            let fulcio = match args.fulcio_url.as_deref() {
                Some(f) => f,
                None if keyless => {
                    return Err(CliError::usage(
                        "keyless signing needs Fulcio: --fulcio-url",
                        Some(
                            "pass --fulcio-url URL, or --key FILE --tlog-upload to log a key's signature",
                        ),
                    ));
                }
                None => "",
            };
            let services = match (args.rekor_version, args.timestamp_server_url.as_deref()) {
                (Some(1), tsa) => Services::with_rekor_v1(fulcio, rekor, tsa),
                (_, Some(tsa)) => Services::new(fulcio, rekor, tsa),
                (_, None) => {
                    return Err(CliError::usage(
                        "Rekor v2 gives no signed time: a timestamp authority is needed",
                        Some(
                            "pass --timestamp-server-url URL, or --rekor-version 1 for a Rekor v1 log",
                        ),
                    ));
                }
            };
            // A key's signature needs no certificate, so no Fulcio.
            let services = match args.fulcio_url {
                Some(_) => services,
                None => services.without_fulcio(),
            };
            (services, None)
        }
        (None, None) => {
            return Err(CliError::usage(
                "keyless signing needs the Sigstore services",
                Some(
                    "pass --signing-config FILE, or --fulcio-url, --rekor-url and --timestamp-server-url",
                ),
            ));
        }
    };
    for (what, flag, url) in [
        ("Fulcio", "--fulcio-url", services.fulcio.as_ref()),
        ("Rekor", "--rekor-url", Some(&services.rekor)),
        (
            "the timestamp authority",
            "--timestamp-server-url",
            services.tsa.as_ref(),
        ),
    ] {
        let Some(url) = url else { continue };
        if let Err(e) = client.check_url(url) {
            let source = match from {
                Some(path) => format!("the signing config {}", path.display()),
                None => flag.to_string(),
            };
            let hint = matches!(e, hallmark::net::NetError::PlainHttp { .. }).then_some(
                "use https, or, if plain HTTP to this host is really meant, pass --sigstore-allow-http (sign-blob: --allow-http)",
            );
            return Err(CliError::usage(format!("{what} ({source}): {e}"), hint));
        }
    }
    let (root, _) = trusted_root(args.trusted_root.as_deref())?;
    Ok((services, root))
}

/// Timestamps and logs a key-based bundle's signature (`--tlog-upload`).
pub async fn log_key_signature(
    bundle: &[u8],
    sha256: &[u8; 32],
    key: &hallmark::keys::PublicKey,
    services: &hallmark::keyless::Services,
    root: &TrustedRoot,
    client: &ServiceClient,
) -> anyhow::Result<Vec<u8>> {
    Ok(
        hallmark::keyless::log_key_signature(bundle, sha256, key, services, root, client)
            .await
            .map_err(hallmark::Error::from)?,
    )
}

impl KeylessSigner {
    /// The identity token: the one the flags gave, else the CI system's, fetched now (so
    /// only once everything else is known to be usable).
    pub async fn token(&self) -> anyhow::Result<hallmark::keyless::IdentityToken> {
        use hallmark::keyless::IdentityToken;
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let raw = hallmark::keyless::ambient_token(&self.client, &self.audience)
            .await
            .map_err(hallmark::Error::from)?
            .ok_or_else(nothing_to_sign_with)?;
        Ok(
            IdentityToken::parse_for(&raw, SystemTime::now(), &self.audience)
                .map_err(hallmark::Error::from)?,
        )
    }

    /// The services, the root and the command's client, as the library's image signer
    /// takes them.
    pub fn sigstore(&self) -> hallmark::signer::Sigstore {
        hallmark::signer::Sigstore::new(
            self.services.clone(),
            self.root.clone(),
            self.client.clone(),
        )
    }

    /// Signs the artifact whose SHA-256 is `sha256`; every answer verified before use.
    /// Without a token from the flags, the CI system's is fetched now.
    pub async fn sign(
        &self,
        sha256: &[u8; 32],
    ) -> anyhow::Result<hallmark::keyless::KeylessSignature> {
        let token = self.token().await?;
        let token = &token;
        Ok(
            hallmark::keyless::sign_digest(sha256, token, &self.services, &self.root, &self.client)
                .await
                .map_err(hallmark::Error::from)?,
        )
    }
}
