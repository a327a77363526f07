//! `sign-blob` and `verify-blob`: files signed and verified by their SHA-256, streamed.

use std::io::Write;
use std::path::Path;

use hallmark::blob::{self, Measured, Proof};

use crate::Outcome;
use crate::cli::{SignBlobArgs, VerifyBlobArgs};
use crate::exit::CliError;
use crate::keyfile;
use crate::output::Ui;
use crate::output::blob::{BlobSigned, BlobVerified};

/// Hashes FILE, or standard input for `-`, in one streaming pass.
fn measure(path: &Path) -> anyhow::Result<Measured> {
    let result = if path == Path::new("-") {
        blob::measure(std::io::stdin().lock())
    } else {
        match std::fs::metadata(path) {
            Ok(m) if !m.is_file() => {
                return Err(CliError::usage(
                    format!("{} is not a regular file", path.display()),
                    None,
                ));
            }
            Err(e) => {
                return Err(CliError::usage(
                    format!("cannot read {}: {e}", path.display()),
                    None,
                ));
            }
            Ok(_) => std::fs::File::open(path).and_then(blob::measure),
        }
    };
    result.map_err(|e| {
        anyhow::Error::new(hallmark::Error::File(hallmark::fsio::FileError::Io {
            path: path.to_path_buf(),
            source: e,
        }))
    })
}

/// Reads a small input file (bundle, signature) whole, bounded.
fn read_small(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    small_input(
        hallmark::fsio::read_bounded(path, None, hallmark::bundle::MAX_BUNDLE_BYTES),
        path,
        what,
    )
}

/// What reading a small input gave, or a usage error naming it.
fn small_input(
    read: Result<Option<Vec<u8>>, hallmark::fsio::FileError>,
    path: &Path,
    what: &str,
) -> anyhow::Result<Vec<u8>> {
    read.map_err(|e| {
        CliError::usage(
            format!("cannot read the {what} {}: {e}", path.display()),
            None,
        )
    })?
    .ok_or_else(|| CliError::usage(format!("{what} {} does not exist", path.display()), None))
}

/// True when `path` is this process's standard output: `-`, or another name for the same
/// file (`/dev/stdout`, `/proc/self/fd/1`), which is then written through stdout itself so
/// that the bytes are not interleaved with anything else printed there.
fn is_stdout(path: &Path) -> bool {
    use std::os::fd::AsFd;
    use std::os::unix::fs::MetadataExt;
    if path == Path::new("-") {
        return true;
    }
    let Ok(target) = std::fs::metadata(path) else {
        return false;
    };
    let Ok(fd) = std::io::stdout().as_fd().try_clone_to_owned() else {
        return false;
    };
    let Ok(out) = std::fs::File::from(fd).metadata() else {
        return false;
    };
    (target.dev(), target.ino()) == (out.dev(), out.ino())
}

/// Writes an output: standard output, or a file by the rules of
/// [`hallmark::fsio::write_output`] (special files and symlinks written through, regular
/// files replaced atomically).
fn write_out(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if is_stdout(path) {
        return crate::output::stdout_raw(&String::from_utf8_lossy(bytes));
    }
    hallmark::fsio::write_output(path, bytes).map_err(|e| {
        CliError {
            message: format!("cannot write {}: {e}", path.display()),
            hint: None,
            class: e.class(),
        }
        .into()
    })
}

/// `hallmark sign-blob`.
pub async fn sign(
    args: &SignBlobArgs,
    ui: Ui,
    clients: &crate::commands::Clients,
) -> anyhow::Result<Outcome> {
    let to_stdout = std::iter::once(args.bundle.as_path())
        .chain(args.output_signature.as_deref())
        .filter(|p| is_stdout(p))
        .count();
    if to_stdout > 1 {
        return Err(CliError::usage(
            "--bundle and --output-signature both name standard output",
            Some("write one of them to a file"),
        ));
    }
    if to_stdout == 1 && ui.json() {
        return Err(CliError::usage(
            "--output json prints its result on standard output, which --bundle or --output-signature also names",
            Some("write the bundle and signature to files"),
        ));
    }
    // Both outputs in one file would leave only the signature, the bundle overwritten.
    if let Some(sig) = &args.output_signature
        && to_stdout == 0
        && hallmark::fsio::same_output(&args.bundle, sig)
    {
        return Err(CliError::usage(
            format!(
                "--bundle {} and --output-signature {} name the same file",
                args.bundle.display(),
                sig.display()
            ),
            Some("write the bundle and the signature to different files"),
        ));
    }
    crate::signers::refuse_unused_service_flags(
        args.key.is_some(),
        args.tlog_upload,
        &args.keyless,
    )?;
    let (bundle, signature_base64, measured, said) = match &args.key {
        Some(key_path) => {
            let logging = if args.tlog_upload {
                let client = crate::keyless::blob_service_client(&args.service)?;
                clients.add_service(&client);
                let (services, root) = crate::keyless::services(&args.keyless, &client, false)?;
                Some((services, root, client))
            } else {
                None
            };
            let key = keyfile::load_signing_key(key_path)?;
            let measured = measure(&args.file)?;
            // A logged signature is hedged: the same file signed again is a new log entry,
            // where a deterministic signature would be one the log already holds.
            let sign = if logging.is_some() {
                blob::sign_hedged
            } else {
                blob::sign
            };
            let signed = sign(&measured, &key, &key_path.display().to_string())
                .map_err(hallmark::Error::from)?;
            let signature = signed.signature_base64();
            let bundle = match &logging {
                Some((services, root, client)) => {
                    crate::keyless::log_key_signature(
                        &signed.bundle,
                        &measured.sha256(),
                        &key.public_key(),
                        services,
                        root,
                        client,
                    )
                    .await?
                }
                None => signed.bundle,
            };
            (bundle, signature, measured, None)
        }
        None => {
            // Flags, services and input first: a token is fetched only for a command that
            // can go through.
            let client = crate::keyless::blob_service_client(&args.service)?;
            clients.add_service(&client);
            let signer = crate::keyless::signer(&args.keyless, client)?;
            let measured = measure(&args.file)?;
            let signed = signer.sign(&measured.sha256()).await?;
            let said = format!(
                "signed keyless as {} ({}); logged at index {}",
                crate::sanitize::line(&signed.identity.subject),
                crate::sanitize::line(signed.identity.issuer.as_deref().unwrap_or("")),
                signed.log_index
            );
            let signature = signed.signature_base64();
            (signed.bundle, signature, measured, Some(said))
        }
    };
    // Written only once every service's answer has verified, and together: the bundle is
    // not left without the signature file, nor the reverse.
    let mut files: Vec<(&Path, &[u8])> = Vec::new();
    for (path, bytes) in std::iter::once((args.bundle.as_path(), bundle.as_slice())).chain(
        args.output_signature
            .as_deref()
            .map(|p| (p, signature_base64.as_bytes())),
    ) {
        if !is_stdout(path) {
            files.push((path, bytes));
        }
    }
    hallmark::fsio::write_outputs(&files).map_err(|e| CliError {
        message: format!("cannot write the outputs: {e}"),
        hint: None,
        class: e.class(),
    })?;
    if is_stdout(&args.bundle) {
        write_out(&args.bundle, &bundle)?;
    }
    if let Some(path) = args.output_signature.as_deref().filter(|p| is_stdout(p)) {
        write_out(path, signature_base64.as_bytes())?;
    }
    if let Some(said) = said {
        ui.say(said);
    }
    ui.emit(&BlobSigned::new(
        &measured,
        &args.bundle,
        args.output_signature.as_deref(),
        to_stdout > 0,
    ))?;
    Ok(Outcome::Ok)
}

/// The blob a `verify-blob` argument names: `sha256:<hex>` is a digest when no such file
/// exists (the conformance protocol's rule), anything else a file to hash.
fn measure_input(path: &Path) -> anyhow::Result<Measured> {
    let text = path.to_string_lossy();
    if text.starts_with("sha256:") && !path.exists() {
        let digest: hallmark::digest::Digest = text.parse().map_err(|e| {
            CliError::usage(
                format!("{text} is neither a file nor a valid digest: {e}"),
                None,
            )
        })?;
        return Measured::of_digest(digest).ok_or_else(|| {
            CliError::usage(format!("{text}: only sha256 digests name a blob"), None)
        });
    }
    measure(path)
}

/// `hallmark verify-blob`.
pub fn verify(args: &VerifyBlobArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let identity = crate::keyless::identity_policy(&args.identity)?;
    match (args.key.is_empty(), identity.is_some()) {
        (true, false) => {
            return Err(CliError::usage(
                "say who must have signed: --key FILE, or --certificate-identity and --certificate-oidc-issuer (keyless)",
                None,
            ));
        }
        (false, true) => {
            return Err(CliError::usage(
                "--key and the --certificate-* flags exclude each other: a bundle is signed by a key or keyless",
                None,
            ));
        }
        _ => {}
    }
    if identity.is_some() && args.signature.is_some() {
        return Err(CliError::usage(
            "a bare --signature carries no certificate; keyless verification needs --bundle",
            None,
        ));
    }
    let (root, _) = crate::keyless::trusted_root(args.root.trusted_root.as_deref())?;
    let keys = keyfile::load_public_keys(&args.key)?;
    let (proof_bytes, is_bundle) = match (&args.bundle, &args.signature) {
        // A bundle larger than any real one is a bundle refused (exit 1), like a truncated
        // one: it is judged, with its reason, not taken for a file that cannot be read.
        (Some(b), _) => {
            match hallmark::fsio::read_bounded(b, None, hallmark::bundle::MAX_BUNDLE_BYTES) {
                Err(hallmark::fsio::FileError::TooLarge { .. }) => (
                    vec![b' '; hallmark::bundle::MAX_BUNDLE_BYTES as usize + 1],
                    true,
                ),
                read => (small_input(read, b, "bundle")?, true),
            }
        }
        (None, Some(s)) => (read_small(s, "signature")?, false),
        (None, None) => {
            return Err(CliError::usage(
                "give the signature to check: --bundle FILE or --signature FILE",
                None,
            ));
        }
    };
    let measured = measure_input(&args.file)?;
    let proof = if is_bundle {
        Proof::Bundle(&proof_bytes)
    } else {
        Proof::Signature(&proof_bytes)
    };
    let mut trust = blob::BlobTrust::new(&keys, &root);
    trust.identity = identity.as_ref();
    trust.ignore_tlog = args.root.insecure_ignore_tlog;
    let report = blob::verify(&measured, proof, &trust);
    let result = BlobVerified::new(&report, &args.file);
    ui.emit(&result)?;
    let _ = std::io::stderr().flush();
    Ok(if report.verified() {
        Outcome::Ok
    } else {
        if ui.json() {
            ui.text(|t| {
                result.denied(t);
                Ok(())
            })?;
        }
        Outcome::Denied
    })
}
