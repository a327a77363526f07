//! digest, sign, publish, verify, copy and policy check.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use hallmark::copy::{Copied, CopyOptions};
use hallmark::keys::SigningKey;
use hallmark::policy::{Policy, Trust};
use hallmark::publish::{PublishOptions, Published};
use hallmark::reference::Source;
use hallmark::registry::auth::Credentials;
use hallmark::registry::{Client, ClientOptions};
use hallmark::report::Report;
use hallmark::sign::{SignOptions, Signed};
use hallmark::store::{Destination, Target};
use hallmark::transfer::{Quiet, TransferProgress};
use hallmark::trust::VerifyOptions;
use hallmark::verify::Verification;
use serde::Serialize;

use crate::cli::{
    AttestArgs, CopyArgs, DigestArgs, PolicyCheckArgs, PublishArgs, RegistryArgs, SignArgs,
    SigningArgs, TrustArgs, VerifyArgs, VerifyAttestationArgs,
};
use crate::exit::CliError;
use crate::output::{Render, Ui};
use crate::{Outcome, keyfile, progress};

/// Every client made in this process, so that a command that runs out of time can say
/// which requests were still pending.
static CLIENTS: std::sync::Mutex<Vec<Client>> = std::sync::Mutex::new(Vec::new());

/// `METHOD url` of every registry request still under way.
pub fn pending_requests() -> Vec<String> {
    CLIENTS
        .lock()
        .map(|c| c.iter().flat_map(Client::pending).collect())
        .unwrap_or_default()
}

/// The registry client the flags describe. With `-v`, every request, retry and
/// authentication step is reported on stderr.
pub fn client(args: &RegistryArgs, ui: Ui) -> anyhow::Result<Client> {
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
    if let Ok(mut all) = CLIENTS.lock() {
        all.push(client.clone());
    }
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

#[derive(Serialize)]
struct DigestResult {
    source: String,
    digest: hallmark::digest::Digest,
}

impl Render for DigestResult {
    fn text(&self, _ui: &Ui) -> Option<String> {
        Some(self.digest.to_string())
    }
}

/// `hallmark digest`.
pub async fn digest(args: &DigestArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let digest = if matches!(args.source, Source::Registry(_)) {
        let client = client(&args.registry, ui)?;
        let target = Target::open(&args.source, &client, false)?;
        hallmark::verify::resolve(&target).await?.digest
    } else {
        load_local(&args.source).await?.digest().clone()
    };
    ui.emit(&DigestResult {
        source: args.source.to_string(),
        digest,
    })?;
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

/// Says how many earlier signatures of the same key a new one replaced.
fn replaced_note(replaced: usize) -> String {
    match replaced {
        0 => String::new(),
        1 => " (replacing this key's earlier signature; --keep-existing keeps it)".into(),
        n => format!(" (replacing this key's {n} earlier signatures; --keep-existing keeps them)"),
    }
}

impl Render for Published {
    fn text(&self, ui: &Ui) -> Option<String> {
        let b = &self.blobs;
        ui.say(format!(
            "published {} ({} uploaded, {} already present, {} mounted; {} bytes sent), signature {}{}{}",
            self.digest,
            b.uploaded,
            b.present,
            b.mounted,
            b.bytes_uploaded,
            self.signature,
            replaced_note(self.replaced),
            if self.tags.is_empty() {
                String::new()
            } else {
                format!(", tags {}", self.tags.join(", "))
            }
        ));
        Some(self.reference.clone())
    }
}

/// `hallmark publish`.
pub async fn publish(args: &PublishArgs, ui: Ui) -> anyhow::Result<Outcome> {
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
    let client = client(&args.registry, ui)?;
    let key = keyfile::load_signing_key(&args.key)?;
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
    opts.sign.format = args.format.lib();
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
    let published = created.kept_if(
        hallmark::publish::publish(&artifact, &dest, &key, &opts, transfer_progress(ui)).await,
    )?;
    ui.emit(&published)?;
    Ok(Outcome::Ok)
}

impl Render for Signed {
    fn text(&self, ui: &Ui) -> Option<String> {
        ui.say(format!(
            "signed {}{}{}",
            self.reference,
            if self.added {
                ""
            } else {
                " (this signature was already present)"
            },
            replaced_note(self.replaced)
        ));
        Some(self.signature.clone())
    }
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

/// Opens what `sign` and `attest` sign: a bare tag is refused before a password is asked
/// for, then the key is loaded.
async fn signing(
    args: &SigningArgs,
    registry: &RegistryArgs,
    ui: Ui,
) -> anyhow::Result<(Target, SigningKey, SignOptions)> {
    let client = client(registry, ui)?;
    let target = open_target(&args.reference, args.signature_repository.as_ref(), &client)?;
    if target.digest.is_none() && args.expect_digest.is_none() {
        hallmark::sign::resolve_digest_to_sign(&target, None).await?;
    }
    let key = keyfile::load_signing_key(&args.key)?;
    let mut opts = SignOptions::default();
    opts.annotations = args.annotations.iter().cloned().collect();
    opts.expect_digest = args.expect_digest.clone();
    opts.replace = !args.keep_existing;
    Ok((target, key, opts))
}

/// `hallmark sign`.
pub async fn sign(args: &SignArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let (target, key, mut opts) = signing(&args.signing, &args.registry, ui).await?;
    let mut bind_tags = Vec::new();
    for t in &args.bind_tag {
        match (t.as_str(), &target.tag) {
            ("", Some(tag)) => bind_tags.push(tag.clone()),
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
    opts.bind_tags = bind_tags;
    opts.format = args.format.lib();
    let signed = hallmark::sign::sign(&target, &key, &opts).await?;
    ui.emit(&signed)?;
    Ok(Outcome::Ok)
}

/// `hallmark attest`.
pub async fn attest(args: &AttestArgs, ui: Ui) -> anyhow::Result<Outcome> {
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
    let (target, key, opts) = signing(&args.signing, &args.registry, ui).await?;
    let predicate_type = hallmark::bundle::intoto::predicate_type(&args.predicate_type);
    let signed = hallmark::sign::attest(&target, &key, predicate_type, predicate, &opts).await?;
    ui.emit(&signed)?;
    Ok(Outcome::Ok)
}

#[derive(Serialize)]
struct AttestationsVerified<'a> {
    #[serde(flatten)]
    report: &'a Report,
    attestations: &'a [hallmark::verify::Attested],
}

impl Render for AttestationsVerified<'_> {
    fn text(&self, ui: &Ui) -> Option<String> {
        if self.report.verified {
            report_verified(self.report, ui);
            // One verified predicate per line, for scripts (jq reads them in turn).
            Some(
                self.attestations
                    .iter()
                    .map(|a| a.predicate.to_string())
                    .collect::<Vec<_>>()
                    .join("\n"),
            )
        } else {
            report_denied(self.report, ui);
            None
        }
    }
}

/// `hallmark verify-attestation`.
pub async fn verify_attestation(args: &VerifyAttestationArgs, ui: Ui) -> anyhow::Result<Outcome> {
    stdin_once(&args.key, &args.registry)?;
    let client = client(&args.registry, ui)?;
    let target = open_target(&args.reference, args.signature_repository.as_ref(), &client)?;
    let opts = options_from(&args.key, &args.identity, &args.keyless, &args.root)?;
    let predicate_type = hallmark::bundle::intoto::predicate_type(&args.predicate_type);
    let (report, attested) =
        hallmark::verify::verify_attestations(&target, &opts, predicate_type).await?;
    let result = AttestationsVerified {
        report: &report,
        attestations: &attested,
    };
    ui.emit(&result)?;
    if report.verified {
        Ok(Outcome::Ok)
    } else {
        if ui.json() {
            report_denied(&report, &ui);
        }
        Ok(Outcome::Denied)
    }
}

/// Verifies with the keys or the policy the user gave; a "no" is reported, not an error.
async fn run_verification(
    reference: &Source,
    trust: &TrustArgs,
    client: &Client,
) -> anyhow::Result<(Target, Verification)> {
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
    let verification = hallmark::verify::verify_trusted(&target, &how).await?;
    Ok((target, verification))
}

/// Why a verification said no, on stderr.
fn report_denied(report: &Report, ui: &Ui) {
    // Even under --quiet: a "no" must say why.
    let quiet = Ui {
        quiet: false,
        ..*ui
    };
    quiet.say(format!("error: not verified: {}", report.reference));
    for e in &report.errors {
        quiet.say(format!("  {e}"));
    }
}

fn report_verified(report: &Report, ui: &Ui) {
    for s in &report.signatures {
        let format = match s.format {
            hallmark::report::SignatureFormat::Legacy => "legacy .sig",
            hallmark::report::SignatureFormat::Bundle => "Sigstore bundle",
        };
        let at = s
            .timestamp
            .as_ref()
            .map(|t| format!(" at {t}"))
            .unwrap_or_default();
        let keyless = s.sigstore.as_ref().filter(|v| {
            matches!(
                v.signed_by,
                hallmark::sigstore::verify::SignedBy::Certificate(_)
            )
        });
        let line = match keyless {
            Some(_) => format!(
                "verified {} — signed keyless by {} ({format} signature){at}",
                report.digest, s.key
            ),
            None => format!(
                "verified {} — signed by {} ({}, key id {}, {format} signature){at}",
                report.digest, s.key, s.algorithm, s.key_id
            ),
        };
        ui.say_outside("", &line);
        if let Some(v) = &s.sigstore {
            crate::keyless::say_proofs(ui, &v.tlog, &v.times);
        }
    }
    for e in &report.errors {
        ui.say_outside("note: ", e);
    }
}

/// `verify`'s result.
impl Render for Report {
    fn text(&self, ui: &Ui) -> Option<String> {
        if self.allowed {
            report_verified(self, ui);
            Some(self.reference.clone())
        } else {
            report_denied(self, ui);
            None
        }
    }
}

/// `hallmark verify`.
pub async fn verify(args: &VerifyArgs, ui: Ui) -> anyhow::Result<Outcome> {
    stdin_once(&args.trust.key, &args.registry)?;
    let client = client(&args.registry, ui)?;
    let (_, verification) = run_verification(&args.reference, &args.trust, &client).await?;
    let report = &verification.report;
    ui.emit(report)?;
    if report.allowed {
        Ok(Outcome::Ok)
    } else {
        if ui.json() {
            report_denied(report, &ui);
        }
        Ok(Outcome::Denied)
    }
}

/// `copy`'s result: what was copied, or the verification that stopped it.
#[derive(Serialize)]
#[serde(untagged)]
enum CopyResult<'a> {
    Copied {
        #[serde(flatten)]
        copied: &'a Copied,
        #[serde(rename = "copied")]
        done: bool,
    },
    Refused {
        verification: &'a Report,
        copied: bool,
    },
}

impl Render for CopyResult<'_> {
    fn text(&self, ui: &Ui) -> Option<String> {
        match self {
            CopyResult::Refused { verification, .. } => {
                report_denied(verification, ui);
                None
            }
            CopyResult::Copied { copied, .. } => {
                ui.say(format!(
                    "copied {} ({} blobs uploaded, {} mounted, {} already present; {} bytes){}",
                    copied.digest,
                    copied.blobs.uploaded,
                    copied.blobs.mounted,
                    copied.blobs.present,
                    copied.blobs.bytes_uploaded,
                    match &copied.signature {
                        Some(s) => format!(", signature {s}"),
                        None => " (no signature copied: none was checked, or one platform of a signed index was taken and the signature covers the index)".into(),
                    }
                ));
                Some(copied.reference.clone())
            }
        }
    }
}

/// `hallmark copy`.
pub async fn copy(args: &CopyArgs, ui: Ui) -> anyhow::Result<Outcome> {
    stdin_once(&args.trust.key, &args.registry)?;
    let client = client(&args.registry, ui)?;
    let (source, verification) = run_verification(&args.source, &args.trust, &client).await?;
    if !verification.report.allowed {
        ui.emit(&CopyResult::Refused {
            verification: &verification.report,
            copied: false,
        })?;
        if ui.json() {
            report_denied(&verification.report, &ui);
        }
        return Ok(Outcome::Denied);
    }
    report_verified(&verification.report, &ui);
    let created = NewLayout::note(&args.destination);
    let dest = Destination::open(&args.destination, &client)?;
    let opts = CopyOptions {
        platform: args.platform.clone(),
        concurrency: args.concurrency.into(),
    };
    let copied = created.kept_if(
        hallmark::copy::copy(&source, &verification, &dest, &opts, transfer_progress(ui)).await,
    )?;
    ui.emit(&CopyResult::Copied {
        copied: &copied,
        done: true,
    })?;
    Ok(Outcome::Ok)
}

#[derive(Serialize)]
struct PolicyChecked<'a> {
    valid: bool,
    #[serde(skip)]
    path: &'a std::path::Path,
    rules: Vec<serde_json::Value>,
    warnings: Vec<hallmark::policy::PolicyWarning>,
    #[serde(skip)]
    policy: &'a Policy,
}

/// One rule in the policy file's own words: `match`, `action`, `keys`, `threshold`, …
fn rule_line(r: &hallmark::policy::Rule) -> String {
    let action = serde_json::to_value(r.action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    let mut parts = vec![format!(
        "rule {:?}: match {} action {action}",
        r.name,
        r.patterns.join(", ")
    )];
    if r.action == hallmark::report::Action::Verify {
        let v = &r.verify;
        parts.push(format!(
            "keys {}",
            v.keys
                .iter()
                .map(|k| k.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for k in &v.keyless {
            parts.push(format!(
                "keyless subject {} issuer {}",
                k.subject.describe(),
                k.issuer.describe()
            ));
        }
        parts.push(format!("threshold {}", v.threshold));
        if v.require_tag_binding {
            parts.push("require-tag-binding".into());
        }
        if let Some(age) = v.max_age {
            parts.push(format!("max-age {}", hallmark::trust::format_age(age)));
        }
        if !v.identities.is_empty() {
            parts.push(format!("identities {}", v.identities.join(", ")));
        }
        for (k, want) in &v.annotations {
            parts.push(format!("annotation {k}={want}"));
        }
        for a in &r.attestations {
            parts.push(format!(
                "attestation {} by {}",
                a.predicate_type,
                a.keys
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
    }
    parts.join("; ")
}

impl Render for PolicyChecked<'_> {
    fn text(&self, ui: &Ui) -> Option<String> {
        for w in &self.warnings {
            ui.say(format!("warning: {w}"));
        }
        // The result is on stdout, one rule per line, for scripts and reviews alike.
        let mut lines = vec![format!(
            "{}: valid, {} rule(s)",
            self.path.display(),
            self.policy.rules.len()
        )];
        lines.extend(self.policy.rules.iter().map(rule_line));
        if !self
            .policy
            .rules
            .iter()
            .any(|r| r.matches.iter().any(|m| m == "**"))
        {
            lines.push("no catch-all rule: anything unmatched is denied".into());
        }
        Some(lines.join("\n"))
    }
}

/// `hallmark policy check`.
pub fn policy_check(args: &PolicyCheckArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let policy = Policy::load(&args.file).map_err(hallmark::Error::from)?;
    let rules = policy
        .rules
        .iter()
        .map(|r| {
            serde_json::json!({
                "name": r.name, "match": r.matches, "matches_repositories": r.patterns,
                "action": r.action,
                "keys": r.verify.keys.iter().map(|k| &k.name).collect::<Vec<_>>(),
                "keyless": r.verify.keyless.iter().map(|k| serde_json::json!({
                    "subject": k.subject.describe(), "issuer": k.issuer.describe(),
                })).collect::<Vec<_>>(),
                "threshold": r.verify.threshold, "require_tag_binding": r.verify.require_tag_binding,
                "max_age_seconds": r.verify.max_age.map(|d| d.as_secs()),
                "annotations": r.verify.annotations, "identities": r.verify.identities,
                "attestations": r.attestations.iter().map(|a| serde_json::json!({
                    "type": a.predicate_type,
                    "keys": a.keys.iter().map(|k| &k.name).collect::<Vec<_>>(),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    ui.emit(&PolicyChecked {
        valid: true,
        path: &args.file,
        rules,
        warnings: policy.warnings(),
        policy: &policy,
    })?;
    Ok(Outcome::Ok)
}
