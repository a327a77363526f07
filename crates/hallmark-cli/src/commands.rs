//! digest, sign, publish, verify, copy and policy check.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use hallmark::copy::CopyOptions;
use hallmark::policy::{Policy, Trust};
use hallmark::publish::PublishOptions;
use hallmark::reference::Source;
use hallmark::registry::auth::Credentials;
use hallmark::registry::{Client, ClientOptions};
use hallmark::sign::SignOptions;
use hallmark::store::{Destination, Target};
use hallmark::transfer::{Quiet, TransferProgress};
use hallmark::trust::VerifyOptions;
use hallmark::verify::Verification;

use crate::cli::{
    AttestArgs, CopyArgs, DigestArgs, PolicyCheckArgs, PublishArgs, RegistryArgs, SignArgs,
    SigningArgs, TrustArgs, VerifyArgs, VerifyAttestationArgs,
};
use crate::exit::CliError;
use crate::output::{self, Ui};
use crate::{Outcome, keyfile, progress};

/// Every registry client a command made, so that a command that runs out of time can say
/// which requests were still pending. `main` owns it and hands it to the command; the
/// clients share their state with the copies kept here.
#[derive(Default)]
pub struct Clients(
    std::sync::Mutex<Vec<Client>>,
    std::sync::Mutex<Vec<hallmark::net::ServiceClient>>,
);

impl Clients {
    /// `METHOD url` of every registry request still under way.
    pub fn pending(&self) -> Vec<String> {
        let mut pending: Vec<String> = self
            .0
            .lock()
            .map(|c| c.iter().flat_map(Client::pending).collect())
            .unwrap_or_default();
        if let Ok(services) = self.1.lock() {
            pending.extend(
                services
                    .iter()
                    .flat_map(hallmark::net::ServiceClient::pending),
            );
        }
        pending
    }

    /// Keeps a signing services' client, for [`Clients::pending`].
    pub fn add_service(&self, client: &hallmark::net::ServiceClient) {
        if let Ok(mut all) = self.1.lock() {
            all.push(client.clone());
        }
    }

    fn add(&self, client: &Client) {
        if let Ok(mut all) = self.0.lock() {
            all.push(client.clone());
        }
    }
}

/// The registry client the flags describe. With `-v`, every request, retry and
/// authentication step is reported on stderr.
pub fn client(args: &RegistryArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Client> {
    let credentials = match &args.username {
        Some(username) if args.password_stdin => {
            let bytes = hallmark::fsio::read_stream_bounded(
                std::io::stdin().lock(),
                std::path::Path::new("standard input"),
                hallmark::fsio::limits::PASSWORD,
            )
            .map_err(|e| CliError::usage(format!("cannot read the password: {e}"), None))?;
            let password = String::from_utf8(bytes).map_err(|_| {
                CliError::usage("the password on standard input is not UTF-8 text", None)
            })?;
            Some(Credentials {
                username: username.clone(),
                password: password.trim_end_matches(['\n', '\r']).to_string(),
            })
        }
        _ => None,
    };
    let opts = ClientOptions {
        allow_http: args.allow_http,
        ca_file: args.ca_file.clone(),
        accept_invalid_certs: args.insecure(),
        credentials,
        timeout: Duration::from_secs(args.timeout),
        retries: args.retries,
        settle: Duration::from_millis(args.settle),
        trace: (ui.verbose > 0 && !ui.quiet).then(|| {
            hallmark::registry::Trace(Arc::new(|line: &str| {
                let _ = writeln!(std::io::stderr(), "{}", crate::sanitize::line(line));
            }))
        }),
        trace_headers: ui.verbose > 1,
        ..ClientOptions::default()
    };
    if args.insecure() {
        // Even under --quiet: the user must not forget that this is on.
        let _ = writeln!(
            std::io::stderr(),
            "warning: TLS certificates are not checked (--tls-verify=false / --allow-insecure-registry): \
anyone on the network path can pose as the registry and read your credentials; \
signatures still decide what verifies"
        );
    }
    if opts.credentials.is_none()
        && let Some(problem) = hallmark::registry::auth::docker_config_problem()
    {
        ui.say_outside(
            "warning: ignoring the docker configuration, registries are accessed without its credentials: ",
            &problem,
        );
    }
    let client = Client::new(opts).map_err(hallmark::Error::from)?;
    clients.add(&client);
    Ok(client)
}

fn transfer_progress(ui: Ui) -> Arc<dyn TransferProgress> {
    if progress::wanted(ui) {
        Arc::new(progress::Bars::new())
    } else {
        Arc::new(Quiet)
    }
}

/// Reads a local artifact off the async runtime (it may hash gigabytes).
async fn load_local(source: &Source) -> anyhow::Result<hallmark::artifact::Artifact> {
    let source = source.clone();
    let artifact = tokio::task::spawn_blocking(move || hallmark::artifact::load(&source))
        .await?
        .map_err(hallmark::Error::from)?;
    Ok(artifact)
}

/// `hallmark digest`.
pub async fn digest(args: &DigestArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    let digest = if matches!(args.source, Source::Registry(_)) {
        let client = client(&args.registry, ui, clients)?;
        let target = Target::open(&args.source, &client, false)?;
        hallmark::verify::resolve(&target).await?.digest
    } else {
        load_local(&args.source).await?.digest().clone()
    };
    ui.emit(&output::publish::DigestResult::new(
        args.source.to_string(),
        &digest,
    ))?;
    Ok(Outcome::Ok)
}

/// A destination layout directory this command is about to create: removed again when
/// the command fails, so that a failure leaves nothing behind.
struct NewLayout(Option<std::path::PathBuf>);

impl NewLayout {
    fn note(dest: &hallmark::reference::DestinationRef) -> NewLayout {
        NewLayout(match &dest.location {
            hallmark::reference::Location::Layout(p) if !p.exists() => Some(p.clone()),
            _ => None,
        })
    }

    fn kept_if<T>(self, result: Result<T, hallmark::Error>) -> anyhow::Result<T> {
        if result.is_err()
            && let Some(p) = self.0
        {
            // Best effort: the error being reported matters more than this one.
            let _ = std::fs::remove_dir_all(p);
        }
        Ok(result?)
    }
}

/// `hallmark publish`.
pub async fn publish(args: &PublishArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    if matches!(args.source, Source::Registry(_)) {
        return Err(CliError::usage(
            format!(
                "{} is already in a registry; publish signs local artifacts before they are pushed",
                args.source
            ),
            Some("sign it by digest instead: hallmark sign REG/REPO@sha256:<digest> --key KEY"),
        ));
    }
    let bind_all = args.bind_tag.iter().any(String::is_empty);
    if bind_all && args.destination.tags.is_empty() {
        return Err(CliError::usage(
            "--bind-tag without a value binds the destination's tags, and it names none",
            Some("name them: oci:DIR:TAG[,TAG…], or give the tag: --bind-tag TAG"),
        ));
    }
    if cosign_repository()?.is_some() {
        ui.say(
            "warning: COSIGN_REPOSITORY is not used by publish: the signature is stored beside the artifact it publishes",
        );
    }
    let client = client(&args.registry, ui, clients)?;
    let made = crate::signers::make(
        args.key.as_deref(),
        args.tlog_upload,
        &args.keyless,
        crate::signers::service_client(&args.sigstore, clients)?,
    )
    .await?;
    let format = crate::signers::format(args.format, &made)?;
    let created = NewLayout::note(&args.destination);
    let dest = Destination::open(&args.destination, &client)?;
    if progress::wanted(ui) {
        ui.say(format!("computing the digest of {}…", args.source));
    }
    let artifact = load_local(&args.source).await?;
    ui.detail(format!(
        "{}: {} ({} blobs, {} bytes)",
        artifact.source,
        artifact.digest(),
        artifact.blobs.len(),
        artifact.total_size()
    ));
    let mut opts = PublishOptions::default();
    opts.sign.annotations = args.annotations.iter().cloned().collect();
    opts.sign.format = format;
    opts.sign.replace = !args.keep_existing;
    opts.sign.bind_tags = args
        .bind_tag
        .iter()
        .filter(|t| !t.is_empty())
        .cloned()
        .collect();
    opts.bind_tags = bind_all;
    opts.concurrency = args.concurrency.into();
    opts.mount_from = args.mount_from.clone();
    opts.recursive = args.recursive;
    let published = created.kept_if(
        hallmark::publish::publish_with(
            &artifact,
            &dest,
            made.signer(),
            &opts,
            transfer_progress(ui),
        )
        .await,
    )?;
    crate::signers::say_certified(ui, "signed", published.keyless.as_ref());
    ui.emit(&output::publish::PublishResult::from(&published))?;
    Ok(Outcome::Ok)
}

/// Opens `reference` for reading, with signatures where `--signature-repository` says,
/// else where `COSIGN_REPOSITORY` says (as cosign reads it), else beside the artifact.
pub fn open_target(
    reference: &Source,
    signature_repository: Option<&hallmark::reference::ImageRef>,
    client: &Client,
) -> anyhow::Result<Target> {
    let mut target = Target::open(reference, client, false)?;
    let from_env = match signature_repository {
        Some(_) => None,
        None => cosign_repository()?,
    };
    if let Some(repo) = signature_repository.or(from_env.as_ref()) {
        target = target.with_signature_repository(repo, client)?;
    }
    Ok(target)
}

/// `COSIGN_REPOSITORY`, when set: checked as strictly as `--signature-repository`.
pub fn cosign_repository() -> anyhow::Result<Option<hallmark::reference::ImageRef>> {
    match std::env::var("COSIGN_REPOSITORY") {
        Ok(v) if !v.trim().is_empty() => crate::cli::parse_signature_repository(&v)
            .map(Some)
            .map_err(|e| {
                CliError::usage(
                    format!("COSIGN_REPOSITORY: {e}"),
                    Some("set it to REG/REPO, or unset it to keep signatures beside the artifact"),
                )
            }),
        _ => Ok(None),
    }
}

/// The trust that `--key`/`--identity`, the keyless flags or `--policy` describe.
pub fn trust(args: &crate::cli::KeysOrPolicy) -> anyhow::Result<Trust> {
    trust_from(
        &args.key,
        args.policy.as_deref(),
        &args.identity,
        &args.keyless,
        &args.root,
    )
}

/// A policy file when one is given, else the public keys, keyless identities and accepted
/// repository identities. Someone must be trusted: a key, a keyless identity or a policy.
fn trust_from(
    keys: &[std::path::PathBuf],
    policy: Option<&std::path::Path>,
    identities: &[String],
    keyless: &crate::cli::IdentityArgs,
    root: &crate::cli::RootArgs,
) -> anyhow::Result<Trust> {
    Ok(match policy {
        Some(_) if keyless.given() => {
            return Err(CliError::usage(
                "--policy and the --certificate-* flags exclude each other",
                Some("put keyless signers in the policy's [[rule.keyless]] tables"),
            ));
        }
        Some(path) => {
            let mut policy = Policy::load(path).map_err(hallmark::Error::from)?;
            // The policy's own root wins over the flag's (or HALLMARK_TRUSTED_ROOT's).
            let given = match (&root.trusted_root, &policy.trusted_root) {
                (Some(path), None) => Some(std::sync::Arc::new(
                    crate::keyless::trusted_root(Some(path))?.0,
                )),
                _ => None,
            };
            for r in &mut policy.rules {
                if let Some(given) = &given {
                    r.verify.root = given.clone();
                }
                r.verify.ignore_tlog = root.insecure_ignore_tlog;
            }
            Trust::Policy(policy)
        }
        None if keys.is_empty() && !keyless.given() => {
            return Err(CliError::usage(
                "say who must have signed: --key FILE, --certificate-identity and --certificate-oidc-issuer (keyless), or --policy FILE",
                None,
            ));
        }
        None => Trust::Keys(options_from(keys, identities, keyless, root)?),
    })
}

/// The requirements of keys and keyless identities given as flags; at least one is needed.
fn options_from(
    keys: &[std::path::PathBuf],
    identities: &[String],
    keyless: &crate::cli::IdentityArgs,
    root: &crate::cli::RootArgs,
) -> anyhow::Result<VerifyOptions> {
    let signer = crate::keyless::identity_policy(keyless)?;
    if keys.is_empty() && signer.is_none() {
        return Err(CliError::usage(
            "say who must have signed: --key FILE, or --certificate-identity and --certificate-oidc-issuer (keyless)",
            None,
        ));
    }
    let mut opts = VerifyOptions::default();
    opts.keys = keyfile::load_public_keys(keys)?;
    opts.identities = identities.to_vec();
    opts.keyless = signer.into_iter().collect();
    if let Some(path) = &root.trusted_root {
        opts.root = std::sync::Arc::new(crate::keyless::trusted_root(Some(path))?.0);
    }
    opts.ignore_tlog = root.insecure_ignore_tlog;
    Ok(opts)
}

/// Standard input can be read once: for `--password-stdin` or for `--key -`.
pub fn stdin_once(keys: &[std::path::PathBuf], registry: &RegistryArgs) -> anyhow::Result<()> {
    if registry.password_stdin && keys.iter().any(|k| k.as_os_str() == "-") {
        return Err(CliError::usage(
            "--key - and --password-stdin both want standard input",
            Some("pass the key as a file or env://VAR"),
        ));
    }
    Ok(())
}

/// What `sign` and `attest` act on, resolved from the flags before any network work: the
/// target opened and the options (for `sign`, with the tags to bind).
struct Signing {
    target: Target,
    opts: SignOptions,
    /// The signing services' client (used only with `--tlog-upload` or keyless).
    services: hallmark::net::ServiceClient,
}

impl Signing {
    /// Opens the target; nothing is read from the registry yet.
    fn resolve(
        args: &SigningArgs,
        registry: &RegistryArgs,
        ui: Ui,
        clients: &Clients,
    ) -> anyhow::Result<Signing> {
        if let Some(key) = &args.key {
            crate::keyfile::refuse_kms(key, true)?;
        }
        let client = client(registry, ui, clients)?;
        let target = open_target(&args.reference, args.signature_repository.as_ref(), &client)?;
        let mut opts = SignOptions::default();
        opts.annotations = args.annotations.iter().cloned().collect();
        opts.expect_digest = args.expect_digest.clone();
        opts.replace = !args.keep_existing;
        let services = crate::signers::service_client(&args.sigstore, clients)?;
        Ok(Signing {
            target,
            opts,
            services,
        })
    }

    /// A bare tag is refused, and a tag that moved away from `--expect-digest` is drift,
    /// before a password is asked for or a token read (a CI system's token is minted on
    /// request: none for a command that cannot sign); then the key is loaded, or the
    /// keyless signer made. The signing itself resolves the tag again, so a move after this
    /// check is caught there. The signature's time is taken then, not when the flags were
    /// read: a password prompt can take minutes, and earlier signatures are judged at that
    /// time.
    async fn signer(&mut self, args: &SigningArgs) -> anyhow::Result<crate::signers::Made> {
        if self.target.digest.is_none() {
            hallmark::sign::resolve_digest_to_sign(&self.target, args.expect_digest.as_ref())
                .await?;
        }
        let made = crate::signers::make(
            args.key.as_deref(),
            args.tlog_upload,
            &args.keyless,
            self.services.clone(),
        )
        .await?;
        self.opts.timestamp = std::time::SystemTime::now();
        Ok(made)
    }
}

/// The tags `--bind-tag` names; an empty value names the tag of the reference.
fn bind_tags(given: &[String], tag: Option<&str>) -> anyhow::Result<Vec<String>> {
    let mut bind_tags = Vec::new();
    for t in given {
        match (t.as_str(), tag) {
            ("", Some(tag)) => bind_tags.push(tag.to_string()),
            ("", None) => {
                return Err(CliError::usage(
                    "--bind-tag without a value binds the tag REF names, and REF names none",
                    Some("give the tag: --bind-tag TAG"),
                ));
            }
            (t, _) => bind_tags.push(t.to_string()),
        }
    }
    bind_tags.dedup();
    Ok(bind_tags)
}

/// `hallmark sign`.
pub async fn sign(args: &SignArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    let mut signing = Signing::resolve(&args.signing, &args.registry, ui, clients)?;
    signing.opts.bind_tags = bind_tags(&args.bind_tag, signing.target.tag.as_deref())?;
    let made = signing.signer(&args.signing).await?;
    signing.opts.format = crate::signers::format(args.format, &made)?;
    if args.recursive {
        let all =
            hallmark::sign::sign_recursive(&signing.target, made.signer(), &signing.opts).await?;
        crate::signers::say_certified(ui, "signed", all.top.keyless.as_ref());
        ui.emit(&output::publish::SignResult::recursive(&all))?;
        return Ok(Outcome::Ok);
    }
    let signed = hallmark::sign::sign_with(&signing.target, made.signer(), &signing.opts).await?;
    crate::signers::say_certified(ui, "signed", signed.keyless.as_ref());
    ui.emit(&output::publish::SignResult::from(&signed))?;
    Ok(Outcome::Ok)
}

/// `hallmark attest`.
pub async fn attest(args: &AttestArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    let text = hallmark::fsio::read_input(&args.predicate, hallmark::fsio::limits::PREDICATE)
        .map_err(|e| CliError::usage(format!("cannot read the predicate: {e}"), None))?;
    let predicate: serde_json::Value = serde_json::from_slice(&text).map_err(|e| {
        CliError::usage(
            format!(
                "the predicate {} is not JSON: {e}",
                args.predicate.display()
            ),
            Some("a predicate is a JSON document (SLSA provenance, CycloneDX, SPDX JSON, …)"),
        )
    })?;
    let mut signing = Signing::resolve(&args.signing, &args.registry, ui, clients)?;
    let made = signing.signer(&args.signing).await.map_err(attest_words)?;
    let (target, opts) = (&signing.target, &signing.opts);
    let signed =
        hallmark::sign::attest_with(target, made.signer(), &args.predicate_type, predicate, opts)
            .await
            .map_err(|e| attest_words(e.into()))?;
    crate::signers::say_certified(ui, "attested", signed.keyless.as_ref());
    ui.emit(&output::publish::SignResult::attested(
        &signed,
        &args.predicate_type,
    ))?;
    Ok(Outcome::Ok)
}

/// The failures `attest` shares with `sign` (the library names them after signing), in
/// attest's words: the command to run again is `hallmark attest`.
fn attest_words(e: anyhow::Error) -> anyhow::Error {
    match e.downcast_ref::<hallmark::Error>() {
        Some(hallmark::Error::TagRefused {
            reference,
            repository,
        }) => CliError {
            message: format!(
                "refusing to attest {reference} by tag: a tag can be moved to another image between push and attest"
            ),
            hint: Some(format!(
                "attest the digest your pipeline built: hallmark attest {repository}@sha256:<digest>, the other flags unchanged (or add --expect-digest sha256:<digest>)"
            )),
            class: hallmark::ErrorClass::Usage,
        }
        .into(),
        // sign's hint points to --bind-tag, which attest does not have.
        Some(hallmark::Error::ReservedAnnotation(_)) => CliError {
            message: e.to_string(),
            hint: Some(
                "the timestamp and creator are written by hallmark, and an attestation binds no tag (sign --bind-tag does)".into(),
            ),
            class: hallmark::ErrorClass::Usage,
        }
        .into(),
        _ => e,
    }
}

/// `hallmark verify-attestation`.
pub async fn verify_attestation(
    args: &VerifyAttestationArgs,
    ui: Ui,
    clients: &Clients,
) -> anyhow::Result<Outcome> {
    stdin_once(&args.key, &args.registry)?;
    let policy = predicate_policy(args.policy.as_deref())?;
    let client = client(&args.registry, ui, clients)?;
    let target = open_target(&args.reference, args.signature_repository.as_ref(), &client)?;
    let opts = options_from(&args.key, &args.identity, &args.keyless, &args.root)?;
    let (report, attested) = hallmark::verify::verify_attestations_under(
        &target,
        &opts,
        &args.predicate_type,
        policy.as_ref(),
    )
    .await?;
    let result = output::verify::AttestationsVerified::new(&report, &attested);
    ui.emit(&result)?;
    if report.verified() {
        Ok(Outcome::Ok)
    } else {
        if ui.json() {
            ui.text(|t| {
                result.denied(t);
                Ok(())
            })?;
        }
        Ok(Outcome::Denied)
    }
}

/// `verify-attestation --policy`, read and parsed before any request: a broken policy is
/// the command line's fault, not the attestation's.
fn predicate_policy(
    path: Option<&std::path::Path>,
) -> anyhow::Result<Option<hallmark::predicate_policy::PredicatePolicy>> {
    use hallmark::predicate_policy::{PredicatePolicy, PredicatePolicyError};
    let Some(path) = path else {
        return Ok(None);
    };
    PredicatePolicy::load(path).map(Some).map_err(|e| {
        let hint = match &e {
            PredicatePolicyError::Cue(_) => {
                "write the policy in Rego (package signature, an allow rule), as cosign also reads"
            }
            PredicatePolicyError::Toml(_) => {
                "give the keys with --key (or the identity flags), and the Rego policy as --policy FILE.rego"
            }
            PredicatePolicyError::Extension(_) => {
                "name the Rego policy FILE.rego (cosign reads the same files)"
            }
            PredicatePolicyError::Invalid { .. } => {
                "check it with `opa check --v0-compatible FILE.rego`; cosign evaluates data.signature.allow"
            }
            _ => "check that the file exists and is readable",
        };
        CliError {
            message: e.to_string(),
            hint: Some(hint.to_string()),
            class: e.class(),
        }
        .into()
    })
}

/// What `verify` and `copy` check, resolved from the flags before any registry request:
/// the target opened and the trust (keys, keyless identities or policy, trusted root)
/// loaded, the flags that contradict the reference refused.
struct Verifying {
    target: Target,
    trust: Trust,
}

impl Verifying {
    fn resolve(reference: &Source, trust: &TrustArgs, client: &Client) -> anyhow::Result<Self> {
        if let Source::DockerArchive(_) | Source::File(_) = reference {
            return Err(CliError::usage(
                format!("{reference} is a local file; verify what was published"),
                Some("verify the registry reference or oci: layout it was published to"),
            ));
        }
        let target = open_target(reference, trust.signature_repository.as_ref(), client)?;
        let mut how = trust_from(
            &trust.key,
            trust.policy.as_deref(),
            &trust.identity,
            &trust.keyless,
            &trust.root,
        )?;
        if trust.require_tag_binding {
            // A policy rule that does not verify would not say so itself.
            if target.tag.is_none() {
                return Err(hallmark::Error::TagBindingNeedsTag.into());
            }
            how.require_tag_binding();
        }
        Ok(Verifying { target, trust: how })
    }

    /// Only signatures with these signed annotations count (`verify -a`, as cosign).
    fn require_annotations(&mut self, pairs: &[(String, String)]) -> anyhow::Result<()> {
        let mut wanted = std::collections::BTreeMap::new();
        for (k, v) in pairs {
            if wanted
                .insert(k.clone(), v.clone())
                .is_some_and(|earlier| earlier != *v)
            {
                return Err(CliError::usage(
                    format!("-a {k} is given twice with different values"),
                    Some("a signature has one value per annotation: give each key once"),
                ));
            }
        }
        self.trust.require_annotations(&wanted).map_err(|e| {
            CliError::usage(
                e.to_string(),
                Some("drop the -a flag, or change the rule's annotations in the policy file"),
            )
        })?;
        Ok(())
    }

    /// Verifies; a "no" is the report's to say, not an error.
    async fn run(&self) -> anyhow::Result<Verification> {
        Ok(hallmark::verify::verify_trusted(&self.target, &self.trust).await?)
    }
}

/// `hallmark verify`.
pub async fn verify(args: &VerifyArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    stdin_once(&args.trust.key, &args.registry)?;
    let client = client(&args.registry, ui, clients)?;
    let mut verifying = Verifying::resolve(&args.reference, &args.trust, &client)?;
    verifying.require_annotations(&args.annotations)?;
    if let Some(platform) = &args.platform {
        let verification =
            hallmark::verify::verify_platform(&verifying.target, &verifying.trust, platform)
                .await?;
        let result = output::verify::Verified::platform(&verification);
        return verdict(ui, &result, verification.allowed());
    }
    let verification = verifying.run().await?;
    let result = output::verify::Verified::new(verification.report());
    verdict(ui, &result, verification.report().allowed())
}

/// Emits `verify`'s result; a refusal is also said on stderr under `--output json`.
fn verdict(
    ui: Ui,
    result: &output::verify::Verified<'_>,
    allowed: bool,
) -> anyhow::Result<Outcome> {
    ui.emit(result)?;
    if allowed {
        Ok(Outcome::Ok)
    } else {
        if ui.json() {
            ui.text(|t| {
                result.denied(t);
                Ok(())
            })?;
        }
        Ok(Outcome::Denied)
    }
}

/// What `copy` verified: a whole image, or one platform of an index (verified by the
/// index's signature or its own).
enum Verified {
    Image(Box<Verification>),
    Platform(Box<hallmark::verify::PlatformVerification>),
}

/// `hallmark copy`; with `--platform`, the platform manifest is copied with the signatures
/// of its own that verified.
pub async fn copy(args: &CopyArgs, ui: Ui, clients: &Clients) -> anyhow::Result<Outcome> {
    stdin_once(&args.trust.key, &args.registry)?;
    let client = client(&args.registry, ui, clients)?;
    let verifying = Verifying::resolve(&args.source, &args.trust, &client)?;
    let verified = match &args.platform {
        Some(platform) => Verified::Platform(Box::new(
            hallmark::verify::verify_platform(&verifying.target, &verifying.trust, platform)
                .await?,
        )),
        None => Verified::Image(Box::new(verifying.run().await?)),
    };
    let (report, allowed) = match &verified {
        Verified::Image(v) => (v.report(), v.report().allowed()),
        Verified::Platform(v) => (v.report(), v.allowed()),
    };
    if !allowed {
        let refused = output::copy::CopyResult::refused(report);
        ui.emit(&refused)?;
        if ui.json() {
            ui.text(|t| {
                refused.denied(t);
                Ok(())
            })?;
        }
        return Ok(Outcome::Denied);
    }
    ui.text(|t| {
        output::verify::ReportOut::new(report).verified(t);
        Ok(())
    })?;
    let created = NewLayout::note(&args.destination);
    let dest = Destination::open(&args.destination, &client)?;
    let opts = CopyOptions {
        concurrency: args.concurrency.into(),
    };
    let progress = transfer_progress(ui);
    let copied = match &verified {
        Verified::Image(v) => {
            hallmark::copy::copy(&verifying.target, v, &dest, &opts, progress).await
        }
        Verified::Platform(v) => {
            hallmark::copy::copy_platform(&verifying.target, v, &dest, &opts, progress).await
        }
    };
    let copied = created.kept_if(copied)?;
    ui.emit(&output::copy::CopyResult::copied(&copied))?;
    Ok(Outcome::Ok)
}

/// `hallmark policy check`.
pub fn policy_check(args: &PolicyCheckArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let policy = Policy::load(&args.file).map_err(hallmark::Error::from)?;
    let warnings = policy.warnings();
    ui.emit(&output::policy::PolicyChecked::new(
        &args.file, &policy, &warnings,
    ))?;
    Ok(Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::bind_tags;

    #[test]
    fn an_empty_bind_tag_names_the_reference_tag_once() {
        let given = ["".to_string(), "v1".to_string(), "stable".to_string()];
        assert_eq!(
            bind_tags(&given, Some("v1")).unwrap(),
            ["v1".to_string(), "stable".to_string()]
        );
        assert!(bind_tags(&given, None).is_err());
        assert_eq!(
            bind_tags(&["prod".to_string()], None).unwrap(),
            ["prod".to_string()]
        );
    }
}
