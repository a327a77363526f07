//! Key files on disk and the password that unlocks them.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use hallmark::keys::{Algorithm, PublicKey, SigningKey};
use hallmark::trust::NamedKey;
use serde::Serialize;

use crate::Outcome;
use crate::cli::{KeyAlgorithm, KeyGenerateArgs, KeyPublicArgs};
use crate::exit::CliError;
use crate::output::{Render, Ui};

fn usage(message: String, hint: Option<&str>) -> anyhow::Error {
    CliError::usage(message, hint)
}

/// HALLMARK_PASSWORD, else COSIGN_PASSWORD; `None` when neither is set.
fn password_from_env() -> Option<String> {
    std::env::var("HALLMARK_PASSWORD")
        .ok()
        .or_else(|| std::env::var("COSIGN_PASSWORD").ok())
}

fn read_key_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| usage(format!("cannot read key {}: {e}", path.display()), None))
}

/// Loads and decrypts a private key. Without a password in the environment, an
/// interactive terminal is asked; elsewhere the empty password is tried.
pub fn load_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    let text = read_key_file(path)?;
    let what = path.display().to_string();
    let password = match password_from_env() {
        Some(p) => p,
        None if std::io::stdin().is_terminal() => {
            rpassword::prompt_password(format!("Password for {what}: "))
                .context("cannot read the password")?
        }
        None => String::new(),
    };
    Ok(
        SigningKey::from_encrypted_pem(&text, password.as_bytes(), &what)
            .map_err(hallmark::Error::from)?,
    )
}

pub fn load_public_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<NamedKey>> {
    paths
        .iter()
        .map(|p| {
            let text = read_key_file(p)?;
            let what = p.display().to_string();
            let text = String::from_utf8(text)
                .map_err(|_| usage(format!("{what} is not a PEM text file"), None))?;
            let key = PublicKey::from_pem(&text, &what).map_err(hallmark::Error::from)?;
            Ok(NamedKey { name: what, key })
        })
        .collect()
}

/// `hallmark key generate`.
pub fn generate(args: &KeyGenerateArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let prefix = args.output_key_prefix.display().to_string();
    let key_path = PathBuf::from(format!("{prefix}.key"));
    let pub_path = PathBuf::from(format!("{prefix}.pub"));
    if !args.force {
        for p in [&key_path, &pub_path] {
            if p.exists() {
                return Err(usage(
                    format!(
                        "{} already exists; refusing to overwrite a key",
                        p.display()
                    ),
                    Some("pass --force to replace it, or choose another --output-key-prefix"),
                ));
            }
        }
    }
    let password = match password_from_env() {
        Some(p) => p,
        None if std::io::stdin().is_terminal() => {
            let a = rpassword::prompt_password("Password for the new key: ")
                .context("cannot read the password")?;
            let b = rpassword::prompt_password("Repeat the password: ")
                .context("cannot read the password")?;
            if a != b {
                return Err(usage("the passwords differ".into(), None));
            }
            a
        }
        None => {
            return Err(usage(
                "no password for the new key".into(),
                Some("set HALLMARK_PASSWORD (it may be empty) or run in a terminal"),
            ));
        }
    };
    let algorithm = match args.algorithm {
        KeyAlgorithm::EcdsaP256 => Algorithm::EcdsaP256,
        KeyAlgorithm::Ed25519 => Algorithm::Ed25519,
    };
    let key = SigningKey::generate(algorithm).map_err(hallmark::Error::from)?;
    let pem = key
        .to_encrypted_pem(password.as_bytes())
        .map_err(hallmark::Error::from)?;
    write_new(&key_path, pem.as_bytes(), 0o600, args.force)?;
    write_new(
        &pub_path,
        key.public_key().to_pem().as_bytes(),
        0o644,
        args.force,
    )?;
    ui.emit(&Generated {
        private_key: key_path,
        public_key: pub_path,
        algorithm,
        key_id: key.public_key().key_id(),
    })?;
    Ok(Outcome::Ok)
}

#[derive(Serialize)]
struct Generated {
    private_key: PathBuf,
    public_key: PathBuf,
    algorithm: Algorithm,
    key_id: String,
}

impl Render for Generated {
    fn text(&self, ui: &Ui) -> Option<String> {
        ui.say(format!(
            "Private key written to {}",
            self.private_key.display()
        ));
        ui.say(format!(
            "Public key written to {}",
            self.public_key.display()
        ));
        None
    }
}

#[derive(Serialize)]
struct Public {
    public_key: String,
    algorithm: Algorithm,
    key_id: String,
}

impl Render for Public {
    fn text(&self, _ui: &Ui) -> Option<String> {
        Some(self.public_key.trim_end().to_string())
    }
}

/// Writes a file completely or not at all, with `mode` from the start.
fn write_new(path: &Path, bytes: &[u8], mode: u32, force: bool) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fail = |e: std::io::Error| usage(format!("cannot write {}: {e}", path.display()), None);
    let mut tmp = tempfile::Builder::new()
        .permissions(std::os::unix::fs::PermissionsExt::from_mode(mode))
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    if force {
        tmp.persist(path).map_err(|e| fail(e.error))?;
    } else {
        tmp.persist_noclobber(path).map_err(|e| fail(e.error))?;
    }
    Ok(())
}

/// `hallmark key public`.
pub fn public(args: &KeyPublicArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let key = load_signing_key(&args.key)?.public_key();
    ui.emit(&Public {
        public_key: key.to_pem(),
        algorithm: key.algorithm(),
        key_id: key.key_id(),
    })?;
    Ok(Outcome::Ok)
}
