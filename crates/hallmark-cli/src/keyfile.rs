//! Key files on disk and the password that unlocks them.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use hallmark::keys::{Algorithm, PublicKey, SigningKey};
use hallmark::trust::NamedKey;

use crate::Outcome;
use crate::cli::{KeyAlgorithm, KeyGenerateArgs, KeyPublicArgs};
use crate::exit::CliError;
use crate::output::Ui;
use crate::output::keys::{Generated, Public};

fn usage(message: String, hint: Option<&str>) -> anyhow::Error {
    CliError::usage(message, hint)
}

/// The password variables, in the order they are read.
const PASSWORD_VARS: [&str; 2] = ["HALLMARK_PASSWORD", "COSIGN_PASSWORD"];

/// HALLMARK_PASSWORD, else COSIGN_PASSWORD, with the variable's name; `None` when
/// neither is set.
fn password_from_env() -> Option<(&'static str, String)> {
    PASSWORD_VARS
        .iter()
        .find_map(|v| std::env::var(v).ok().map(|p| (*v, p)))
}

/// A key's text and the name it goes by: a file, `env://VAR` (the PEM in a variable, as
/// cosign reads it) or `-` (standard input).
fn read_key(path: &Path) -> anyhow::Result<(Vec<u8>, String)> {
    let given = path.to_string_lossy();
    if let Some(var) = given.strip_prefix("env://") {
        return match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok((v.into_bytes(), format!("env://{var}"))),
            Ok(_) => Err(usage(
                format!("--key {given}: the variable {var} is empty"),
                Some("put the key's PEM text in it"),
            )),
            Err(_) => Err(usage(
                format!("--key {given}: the variable {var} is not set"),
                Some("export the key's PEM text in it, or pass the key's file"),
            )),
        };
    }
    if given == "-" {
        let text = hallmark::fsio::read_stream_bounded(
            std::io::stdin().lock(),
            Path::new("standard input"),
            hallmark::fsio::limits::KEY,
        )
        .map_err(|e| key_read_error("the key on standard input", e))?;
        return Ok((text, "standard input".into()));
    }
    let what = path.display().to_string();
    match hallmark::fsio::read_bounded(path, None, hallmark::fsio::limits::KEY) {
        Ok(Some(text)) => Ok((text, what)),
        Ok(None) => Err(usage(
            format!("key file {what} does not exist"),
            Some(
                "pass the path of a key made by `hallmark key generate` or `cosign generate-key-pair`",
            ),
        )),
        Err(_) if path.is_dir() => Err(usage(
            format!("{what} is a directory, not a key file"),
            None,
        )),
        Err(e) => Err(key_read_error(&format!("key {what}"), e)),
    }
}

/// A key that could not be read, in one line without repeating its path.
fn key_read_error(what: &str, e: hallmark::fsio::FileError) -> anyhow::Error {
    use hallmark::fsio::FileError;
    match e {
        FileError::NotRegular { .. } => usage(
            format!("{what} is not a regular file (a FIFO, device or directory)"),
            Some("pass the key's file, or --key - for standard input"),
        ),
        FileError::TooLarge { limit, .. } => usage(
            format!("{what} is larger than {limit} bytes: not a key"),
            None,
        ),
        FileError::Io { source, .. } => usage(format!("cannot read {what}: {source}"), None),
        other => usage(format!("cannot read {what}: {other}"), None),
    }
}

/// The key schemes cosign reads from a KMS or a secret store, and what they name.
const KMS_SCHEMES: [(&str, &str); 6] = [
    ("awskms://", "KMS keys"),
    ("gcpkms://", "KMS keys"),
    ("azurekms://", "KMS keys"),
    ("hashivault://", "KMS keys"),
    ("k8s://", "Keys in Kubernetes secrets"),
    ("gitlab://", "Keys in GitLab CI variables"),
];

/// Refuses a key cosign would fetch from a KMS or secret store, by its scheme, before
/// anything is read or sent: without this the URI is taken for a file name that does not
/// exist. `signing` chooses the advice.
pub fn refuse_kms(key: &Path, signing: bool) -> anyhow::Result<()> {
    let given = key.to_string_lossy();
    let Some((scheme, what)) = KMS_SCHEMES.iter().find(|(scheme, _)| {
        given
            .get(..scheme.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(scheme))
    }) else {
        return Ok(());
    };
    Err(usage(
        format!("{what} ({scheme}) are not supported in this version"),
        Some(if signing {
            "sign with a key file (hallmark key generate, or cosign's) or a key in a PKCS#11 token (--key pkcs11:token=…;object=…?module-path=…)"
        } else {
            "export the public key as PEM (cosign public-key --key URI > key.pub) and pass its file with --key"
        }),
    ))
}

/// The variables naming the PKCS#11 module when the URI has no module-path, and holding
/// the PIN when it has no pin-value or pin-source; read in this order.
const MODULE_VARS: [&str; 2] = ["HALLMARK_PKCS11_MODULE_PATH", "COSIGN_PKCS11_MODULE_PATH"];
const PIN_VARS: [&str; 2] = ["HALLMARK_PKCS11_PIN", "COSIGN_PKCS11_PIN"];

/// Opens the key a `pkcs11:` URI names. The PIN is the URI's pin-value (warned about:
/// visible in ps and shell history), else the file its pin-source names, else
/// HALLMARK_PKCS11_PIN or COSIGN_PKCS11_PIN, else typed on a terminal, and is asked for
/// only when the token needs one. It is never shown.
fn load_pkcs11_key(spec: &str) -> anyhow::Result<SigningKey> {
    use hallmark::keys::KeyError;
    use hallmark::pkcs11::{AuthPin, Pkcs11Error, Pkcs11Key, Pkcs11Uri};
    let lib = |e: Pkcs11Error| -> anyhow::Error { hallmark::Error::from(KeyError::from(e)).into() };
    let uri = Pkcs11Uri::parse(spec).map_err(lib)?;
    let shown = uri.redacted();
    let module = match &uri.module_path {
        Some(m) => PathBuf::from(m),
        None => match MODULE_VARS
            .iter()
            .find_map(|v| std::env::var_os(v).filter(|m| !m.is_empty()))
        {
            Some(m) => PathBuf::from(m),
            None => {
                return Err(usage(
                    format!("--key {shown}: no PKCS#11 module is named"),
                    Some(
                        "add ?module-path=/absolute/path/to/module.so to the URI (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so), or set COSIGN_PKCS11_MODULE_PATH",
                    ),
                ));
            }
        },
    };
    let (pin, source): (Option<String>, String) = if let Some(p) = &uri.pin_value {
        // Even under --quiet: the PIN is exposed while the command runs.
        let _ = writeln!(
            std::io::stderr(),
            "warning: the PKCS#11 PIN is on the command line (pin-value), where other users (ps) and shell history see it; use pin-source=FILE or COSIGN_PKCS11_PIN"
        );
        (Some(p.clone()), "the URI's pin-value".into())
    } else if let Some(src) = &uri.pin_source {
        let path = Path::new(src.strip_prefix("file:").unwrap_or(src));
        let text = match hallmark::fsio::read_bounded(path, None, hallmark::fsio::limits::KEY) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Err(usage(
                    format!(
                        "--key {shown}: the pin-source file {} does not exist",
                        path.display()
                    ),
                    Some("name a file holding the token's PIN"),
                ));
            }
            Err(e) => {
                return Err(key_read_error(
                    &format!("the pin-source file {}", path.display()),
                    e,
                ));
            }
        };
        let text = String::from_utf8(text).map_err(|_| {
            usage(
                format!(
                    "--key {shown}: the pin-source file {} is not text",
                    path.display()
                ),
                None,
            )
        })?;
        let pin = text.strip_suffix('\n').unwrap_or(&text);
        let pin = pin.strip_suffix('\r').unwrap_or(pin);
        (
            Some(pin.to_string()),
            format!("the pin-source file {}", path.display()),
        )
    } else {
        match PIN_VARS
            .iter()
            .find_map(|v| std::env::var(v).ok().map(|p| (*v, p)))
        {
            Some((var, p)) => (Some(p), var.to_string()),
            None => (None, String::new()),
        }
    };
    let mut typed = false;
    let mut ask = |token: &str| -> Option<AuthPin> {
        if let Some(p) = &pin {
            return Some(AuthPin::from(p.clone()));
        }
        if !std::io::stdin().is_terminal() {
            return None;
        }
        typed = true;
        rpassword::prompt_password(format!("PIN for the PKCS#11 token {token}: "))
            .ok()
            .map(AuthPin::from)
    };
    match Pkcs11Key::open(&uri, &module, &mut ask) {
        Ok(key) => Ok(SigningKey::Pkcs11(Box::new(key))),
        Err(Pkcs11Error::WrongPin { token }) => Err(CliError {
            message: format!("wrong PIN for the PKCS#11 token {token:?}"),
            hint: Some(if typed {
                "the PIN typed is not the token's user PIN; too many wrong tries lock the token".into()
            } else {
                format!("the PIN came from {source}; set it to the token's user PIN (too many wrong tries lock the token)")
            }),
            class: hallmark::ErrorClass::Usage,
        }
        .into()),
        Err(Pkcs11Error::PinNeeded { token }) => Err(usage(
            format!("the PKCS#11 token {token:?} needs a PIN and none was given"),
            Some("set COSIGN_PKCS11_PIN (or HALLMARK_PKCS11_PIN), add pin-source=FILE to the URI's query, or run in a terminal to type it"),
        )),
        Err(e) => Err(lib(e)),
    }
}

/// Loads and decrypts a private key, or opens one in a PKCS#11 token (`pkcs11:` URI).
/// Without a password in the environment, an interactive terminal is asked; elsewhere the
/// empty password is tried. A wrong password says where the password came from.
pub fn load_signing_key(path: &Path) -> anyhow::Result<SigningKey> {
    refuse_kms(path, true)?;
    if let Some(spec) = path
        .to_str()
        .filter(|s| hallmark::pkcs11::Pkcs11Uri::is_uri(s))
    {
        return load_pkcs11_key(spec);
    }
    if path.as_os_str() == "-" {
        return Err(usage(
            "a private key cannot be read from standard input".into(),
            Some("pass its file, or env://VAR with the encrypted PEM in VAR"),
        ));
    }
    let (text, what) = read_key(path)?;
    let (password, source) = match password_from_env() {
        Some((var, p)) => (p, Some(var)),
        None if std::io::stdin().is_terminal() => (
            rpassword::prompt_password(format!("Password for {what}: "))
                .context("cannot read the password")?,
            None,
        ),
        None => (String::new(), None),
    };
    match SigningKey::from_encrypted_pem(&text, password.as_bytes(), &what) {
        Ok(k) => Ok(k),
        Err(hallmark::keys::KeyError::WrongPassword { .. }) => Err(CliError {
            message: format!("wrong password for the key {what}"),
            hint: Some(match source {
                Some(var) => format!(
                    "the password came from {var}{}; set it to the key's password",
                    if var == PASSWORD_VARS[1] {
                        " (HALLMARK_PASSWORD is not set)"
                    } else {
                        " (read before COSIGN_PASSWORD)"
                    }
                ),
                None if std::io::stdin().is_terminal() => {
                    "the password typed does not unlock this key".into()
                }
                None => "neither HALLMARK_PASSWORD nor COSIGN_PASSWORD is set, so the empty password was tried; set one of them to the key's password".into(),
            }),
            class: hallmark::ErrorClass::Usage,
        }
        .into()),
        Err(e) => Err(hallmark::Error::from(e).into()),
    }
}

/// Loads public keys; at most one of them from standard input. A `pkcs11:` URI gives the
/// public key of the token's key.
pub fn load_public_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<NamedKey>> {
    for p in paths {
        refuse_kms(p, false)?;
    }
    if paths.iter().filter(|p| p.as_os_str() == "-").count() > 1 {
        return Err(usage(
            "--key - is given more than once; standard input holds one key".into(),
            None,
        ));
    }
    paths
        .iter()
        .map(|p| {
            if let Some(spec) = p
                .to_str()
                .filter(|s| hallmark::pkcs11::Pkcs11Uri::is_uri(s))
            {
                let key = load_pkcs11_key(spec)?;
                return Ok(NamedKey {
                    name: hallmark::pkcs11::redact(spec),
                    key: key.public_key(),
                });
            }
            let (text, what) = read_key(p)?;
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
    for p in [&key_path, &pub_path] {
        writable(p)?;
    }
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
        Some((_, p)) => p,
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
    ui.emit(&Generated::new(key_path, pub_path, &key.public_key()))?;
    Ok(Outcome::Ok)
}

/// Refuses, in one line and before a password is asked for, a key path that cannot be
/// written: its directory is missing, or the path is a directory.
fn writable(path: &Path) -> anyhow::Result<()> {
    let io = |message: String| -> anyhow::Error {
        CliError {
            message,
            hint: Some("choose another --output-key-prefix".into()),
            class: hallmark::ErrorClass::Unavailable,
        }
        .into()
    };
    if path.is_dir() {
        return Err(io(format!(
            "cannot write {}: it is a directory",
            path.display()
        )));
    }
    // A key goes into a regular file of its own: written through a symlink or into a
    // device it would not keep its 0600 mode, and replacing either is not ours to do.
    if let Ok(m) = std::fs::symlink_metadata(path)
        && !m.is_file()
    {
        return Err(io(format!(
            "cannot write {}: it is not a regular file (a symlink, device or FIFO)",
            path.display()
        )));
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(io(format!(
            "cannot write {}: the directory {} does not exist",
            path.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// Writes a file completely or not at all, with `mode` from the start.
fn write_new(path: &Path, bytes: &[u8], mode: u32, force: bool) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    // The temporary file's name means nothing to the user: only the kind of failure.
    let fail = |e: std::io::Error| -> anyhow::Error {
        CliError {
            message: format!("cannot write {}: {}", path.display(), io_reason(&e)),
            hint: None,
            class: hallmark::ErrorClass::Unavailable,
        }
        .into()
    };
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

/// An I/O error's kind in words, without the paths some errors carry.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::AlreadyExists => "it already exists".into(),
        std::io::ErrorKind::NotFound => "its directory does not exist".into(),
        kind => kind.to_string(),
    }
}

/// `hallmark key public`.
pub fn public(args: &KeyPublicArgs, ui: Ui) -> anyhow::Result<Outcome> {
    let key = load_signing_key(&args.key)?.public_key();
    ui.emit(&Public::new(&key))?;
    Ok(Outcome::Ok)
}
