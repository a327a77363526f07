//! Keyless flags: the trusted root (`--trusted-root`, `HALLMARK_TRUSTED_ROOT`, or the built-in
//! public-good root), the certificate identity policy (cosign's `--certificate-*` flags),
//! `trust-root show`, and the conformance suite's `verify-bundle` protocol.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
/// (refused here when expired or for another audience), the services, the trusted root.
pub struct KeylessSigner {
    token: hallmark::keyless::IdentityToken,
    services: hallmark::keyless::Services,
    root: TrustedRoot,
}

/// The token, services and root of `args`; every refusal is a usage error (exit 2), before
/// any request.
pub async fn signer(args: &crate::cli::KeylessSignArgs) -> anyhow::Result<KeylessSigner> {
    use hallmark::keyless::{IdentityToken, token};
    let raw = match &args.identity_token {
        Some(spec) => token::read(spec).map_err(hallmark::Error::from)?,
        None => hallmark::keyless::ambient_token(&service_client()?)
            .await
            .map_err(hallmark::Error::from)?
            .ok_or_else(|| {
                CliError::usage(
                    "nothing to sign with: no --key, and no identity token for keyless signing",
                    Some(
                        "pass --key FILE, or --identity-token TOKEN|@FILE|env://VAR (in CI, SIGSTORE_ID_TOKEN or GitHub Actions' id-token permission)",
                    ),
                )
            })?,
    };
    let token = IdentityToken::parse(&raw, SystemTime::now()).map_err(hallmark::Error::from)?;
    let (services, root) = services(args)?;
    Ok(KeylessSigner {
        token,
        services,
        root,
    })
}

/// The signing services and the trusted root their answers are verified against.
pub fn services(
    args: &crate::cli::KeylessSignArgs,
) -> anyhow::Result<(hallmark::keyless::Services, TrustedRoot)> {
    use hallmark::keyless::{Services, config};
    let now = SystemTime::now();
    let services = match (&args.signing_config, &args.fulcio_url) {
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
            config::parse(&bytes, now).map_err(hallmark::Error::from)?
        }
        (None, Some(fulcio)) => Services::new(
            fulcio,
            args.rekor_url.as_deref().unwrap_or_default(),
            args.timestamp_server_url.as_deref().unwrap_or_default(),
        ),
        (None, None) => {
            return Err(CliError::usage(
                "keyless signing needs the Sigstore services",
                Some(
                    "pass --signing-config FILE, or --fulcio-url, --rekor-url and --timestamp-server-url",
                ),
            ));
        }
    };
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
) -> anyhow::Result<Vec<u8>> {
    Ok(hallmark::keyless::log_key_signature(
        bundle,
        sha256,
        key,
        services,
        root,
        &service_client()?,
    )
    .await
    .map_err(hallmark::Error::from)?)
}

impl KeylessSigner {
    /// The identity token, as the library's image signer takes it.
    pub fn token(&self) -> &hallmark::keyless::IdentityToken {
        &self.token
    }

    /// The services, the root and a client reaching them, as the library's image signer
    /// takes them.
    pub fn sigstore(&self) -> anyhow::Result<hallmark::signer::Sigstore> {
        Ok(hallmark::signer::Sigstore::new(
            self.services.clone(),
            self.root.clone(),
            service_client()?,
        ))
    }

    /// Signs the artifact whose SHA-256 is `sha256`; every answer verified before use.
    pub async fn sign(
        &self,
        sha256: &[u8; 32],
    ) -> anyhow::Result<hallmark::keyless::KeylessSignature> {
        let client = service_client()?;
        Ok(
            hallmark::keyless::sign_digest(
                sha256,
                &self.token,
                &self.services,
                &self.root,
                &client,
            )
            .await
            .map_err(hallmark::Error::from)?,
        )
    }
}

/// The HTTP client the signing services are reached with: the registry client's defaults.
pub(crate) fn service_client() -> anyhow::Result<hallmark::registry::Client> {
    Ok(
        hallmark::registry::Client::new(hallmark::registry::ClientOptions::default())
            .map_err(hallmark::Error::from)?,
    )
}
