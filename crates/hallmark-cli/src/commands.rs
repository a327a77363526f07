//! digest, sign and verify.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use hallmark::publish::{Destination, PublishOptions};
use hallmark::reference::Source;
use hallmark::registry::auth::Credentials;
use hallmark::registry::{Client, ClientOptions};
use hallmark::sign::SignOptions;
use hallmark::store::Target;
use hallmark::transfer::{Quiet, TransferProgress};
use hallmark::verify::VerifyOptions;

use std::io::Write;

use hallmark::copy::CopyOptions;
use hallmark::policy::Policy;

use crate::cli::{
    CopyArgs, DigestArgs, PolicyCheckArgs, PublishArgs, RegistryArgs, SignArgs, SignatureFormat,
    TrustArgs, VerifyArgs,
};
use crate::{Outcome, Ui};
use crate::{keyfile, progress};

pub fn client(args: &RegistryArgs) -> anyhow::Result<Client> {
    let credentials = match &args.username {
        Some(username) if args.password_stdin => {
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .map_err(|e| hallmark::Error::Usage {
                    message: format!("cannot read the password from stdin: {e}"),
                    hint: None,
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
        credentials,
        timeout: Duration::from_secs(args.timeout),
        retries: args.retries,
        ..ClientOptions::default()
    };
    Ok(Client::new(opts).map_err(hallmark::Error::from)?)
}

/// Reads a local artifact off the async runtime (it may hash gigabytes).
async fn load_local(source: &Source) -> anyhow::Result<hallmark::artifact::Artifact> {
    let source = source.clone();
    let artifact = tokio::task::spawn_blocking(move || hallmark::artifact::load(&source))
        .await?
        .map_err(hallmark::Error::from)?;
    Ok(artifact)
}

pub async fn digest(args: &DigestArgs) -> anyhow::Result<Outcome> {
    if !matches!(args.source, Source::Registry(_)) {
        println!("{}", load_local(&args.source).await?.digest());
        return Ok(Outcome::Ok);
    }
    let client = client(&args.registry)?;
    let target = Target::open(&args.source, &client, false)?;
    let m = hallmark::verify::resolve(&target).await?;
    println!("{}", m.digest);
    Ok(Outcome::Ok)
}

pub async fn publish(args: &PublishArgs, ui: Ui) -> anyhow::Result<Outcome> {
    if matches!(args.source, Source::Registry(_)) {
        return Err(hallmark::Error::Usage {
            message: format!(
                "{} is already in a registry; publish signs local artifacts before they are pushed",
                args.source
            ),
            hint: Some(
                "sign it by digest instead: hallmark sign REG/REPO@sha256:<digest> --key KEY"
                    .into(),
            ),
        }
        .into());
    }
    let client = client(&args.registry)?;
    let dest = Destination::parse(&args.destination, &client)?;
    if args.bind_tag && dest.tags.is_empty() {
        return Err(hallmark::Error::Usage {
            message: format!(
                "--bind-tag needs tags in the destination, and {} names none",
                args.destination
            ),
            hint: Some("name them: REG/REPO:TAG[,TAG…]".into()),
        }
        .into());
    }
    let key = keyfile::load_signing_key(&args.key)?;
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
    let opts = PublishOptions {
        sign: SignOptions {
            annotations: args.annotations.iter().cloned().collect(),
            ..SignOptions::default()
        },
        bind_tags: args.bind_tag,
        concurrency: args.concurrency.into(),
        mount_from: args.mount_from.clone(),
    };
    let progress: Arc<dyn TransferProgress> = if progress::wanted(ui) {
        Arc::new(progress::Bars::new())
    } else {
        Arc::new(Quiet)
    };
    let published = hallmark::publish::publish(&artifact, &dest, &key, &opts, progress).await?;
    if ui.json {
        println!("{}", serde_json::to_string(&published)?);
    } else {
        let b = &published.blobs;
        ui.say(format!(
            "published {} ({} uploaded, {} already present, {} mounted; {} bytes sent), signature {}{}",
            published.digest,
            b.uploaded,
            b.present,
            b.mounted,
            b.bytes_uploaded,
            published.signature,
            if published.tags.is_empty() { String::new() } else { format!(", tags {}", published.tags.join(", ")) }
        ));
        println!("{}", published.reference);
    }
    Ok(Outcome::Ok)
}

pub async fn sign(args: &SignArgs, ui: Ui) -> anyhow::Result<Outcome> {
    if args.format == SignatureFormat::Bundle {
        return Err(hallmark::Error::Usage {
            message: "--format bundle is not available in this version".into(),
            hint: Some("use --format legacy (the default), which cosign 1.x-3.x verify".into()),
        }
        .into());
    }
    let client = client(&args.registry)?;
    let mut target = Target::open(&args.reference, &client, false)?;
    if let Some(repo) = &args.signature_repository {
        target = target.with_signature_repository(repo, &client)?;
    }
    // Refuse a bare tag before asking for a password.
    if target.digest.is_none() && args.expect_digest.is_none() {
        hallmark::sign::resolve_digest_to_sign(&target, None).await?;
    }
    let key = keyfile::load_signing_key(&args.key)?;
    let opts = SignOptions {
        annotations: args.annotations.iter().cloned().collect(),
        bind_tags: args.bind_tag.clone(),
        expect_digest: args.expect_digest.clone(),
        ..SignOptions::default()
    };
    let signed = hallmark::sign::sign(&target, &key, &opts).await?;
    if ui.json {
        println!("{}", serde_json::to_string(&signed)?);
    } else {
        ui.say(format!(
            "signed {}{}",
            signed.reference,
            if signed.added {
                ""
            } else {
                " (this signature was already present)"
            }
        ));
        println!("{}", signed.signature);
    }
    Ok(Outcome::Ok)
}

/// Verifies with the keys or the policy the user gave; a "no" is reported, not an error.
async fn run_verification(
    reference: &Source,
    trust: &TrustArgs,
    client: &Client,
) -> anyhow::Result<(Target, hallmark::verify::Report)> {
    if let Source::DockerArchive(_) | Source::File(_) = reference {
        return Err(hallmark::Error::Usage {
            message: format!("{reference} is a local file; verify what was published"),
            hint: Some("verify the registry reference or oci: layout it was published to".into()),
        }
        .into());
    }
    let mut target = Target::open(reference, client, false)?;
    if let Some(repo) = &trust.signature_repository {
        target = target.with_signature_repository(repo, client)?;
    }
    let report = match &trust.policy {
        Some(path) => {
            let mut policy = Policy::load(path).map_err(hallmark::Error::from)?;
            if trust.require_tag_binding {
                for r in &mut policy.rules {
                    r.verify.require_tag_binding = true;
                }
            }
            if trust.require_tag_binding && target.tag.is_none() {
                return Err(hallmark::Error::Usage {
                    message: "--require-tag-binding needs a reference with a tag".into(),
                    hint: None,
                }
                .into());
            }
            hallmark::policy::verify(&target, &policy).await?
        }
        None => {
            let opts = VerifyOptions {
                keys: keyfile::load_public_keys(&trust.key)?,
                require_tag_binding: trust.require_tag_binding,
                identities: trust.identity.clone(),
                ..VerifyOptions::default()
            };
            hallmark::verify::verify(&target, &opts).await?
        }
    };
    Ok((target, report))
}

/// Prints why a verification said no (stderr), for verify and copy alike.
fn report_denied(report: &hallmark::verify::Report) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "error: not verified: {}", report.reference);
    for e in &report.errors {
        let _ = writeln!(err, "  {e}");
    }
}

fn report_verified(report: &hallmark::verify::Report, ui: Ui) {
    for s in &report.signatures {
        ui.say(format!(
            "verified {} — signed by {} ({}, key id {}){}",
            report.digest,
            s.key,
            s.algorithm,
            s.key_id,
            s.timestamp
                .as_ref()
                .map(|t| format!(" at {t}"))
                .unwrap_or_default()
        ));
    }
    for e in &report.errors {
        ui.say(format!("note: {e}"));
    }
}

pub async fn verify(args: &VerifyArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let client = client(&args.registry)?;
    let (_, report) = run_verification(&args.reference, &args.trust, &client).await?;
    if ui.json {
        println!("{}", serde_json::to_string(&report)?);
    } else if report.verified {
        println!("{}", report.reference);
    }
    if report.verified {
        report_verified(&report, ui);
        Ok(Outcome::Ok)
    } else {
        report_denied(&report);
        Ok(Outcome::Denied)
    }
}

pub async fn copy(args: &CopyArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let client = client(&args.registry)?;
    let (source, report) = run_verification(&args.source, &args.trust, &client).await?;
    if !report.verified {
        if ui.json {
            println!(
                "{}",
                serde_json::json!({"verification": report, "copied": false})
            );
        }
        report_denied(&report);
        return Ok(Outcome::Denied);
    }
    report_verified(&report, ui);
    let dest = Destination::parse(&args.destination, &client)?;
    let opts = CopyOptions {
        platform: args.platform.clone(),
        concurrency: args.concurrency.into(),
    };
    let progress: Arc<dyn TransferProgress> = if progress::wanted(ui) {
        Arc::new(progress::Bars::new())
    } else {
        Arc::new(Quiet)
    };
    let copied = hallmark::copy::copy(&source, &report, &dest, &opts, progress).await?;
    if ui.json {
        let mut doc = serde_json::to_value(&copied)?;
        doc["copied"] = true.into();
        println!("{doc}");
    } else {
        ui.say(format!(
            "copied {} ({} blobs uploaded, {} already present; {} bytes){}",
            copied.digest,
            copied.blobs.uploaded,
            copied.blobs.present,
            copied.blobs.bytes_uploaded,
            match &copied.signature {
                Some(s) => format!(", signature {s}"),
                None => " (one platform of a signed index: the signature covers the index and was not copied)".into(),
            }
        ));
        println!("{}", copied.reference);
    }
    Ok(Outcome::Ok)
}

pub fn policy_check(args: &PolicyCheckArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let policy = Policy::load(&args.file).map_err(hallmark::Error::from)?;
    if ui.json {
        let rules: Vec<serde_json::Value> = policy
            .rules
            .iter()
            .map(|r| {
                serde_json::json!({
                    "name": r.name, "match": r.matches, "action": r.action,
                    "keys": r.verify.keys.iter().map(|k| &k.name).collect::<Vec<_>>(),
                    "threshold": r.verify.threshold, "require_tag_binding": r.verify.require_tag_binding,
                    "max_age_seconds": r.verify.max_age.map(|d| d.as_secs()),
                    "annotations": r.verify.annotations, "identities": r.verify.identities,
                })
            })
            .collect();
        println!("{}", serde_json::json!({"valid": true, "rules": rules}));
    } else {
        ui.say(format!(
            "{}: valid, {} rule(s)",
            args.file.display(),
            policy.rules.len()
        ));
        for r in &policy.rules {
            ui.say(format!(
                "  {} → {:?} for {}",
                r.name,
                r.action,
                r.matches.join(", ")
            ));
        }
        if !policy
            .rules
            .iter()
            .any(|r| r.matches.iter().any(|m| m == "**"))
        {
            ui.say("  (no catch-all rule: anything unmatched is denied)");
        }
    }
    Ok(Outcome::Ok)
}
