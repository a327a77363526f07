//! What `sign`, `attest` and `publish` sign with, from their flags: `--key` alone, `--key`
//! with `--tlog-upload`, or keyless (no `--key`: an identity token and the Sigstore
//! services). Every flag is checked, and the key loaded or the token read, before the
//! library is called; the services are first called by the library, once the digest is
//! decided.

use std::path::Path;

use hallmark::keys::SigningKey;
use hallmark::sign::SignatureFormat;
use hallmark::signer::{Signer, Sigstore};

use crate::cli::KeylessSignArgs;
use crate::exit::CliError;
use crate::keyfile;
use hallmark::keyless::IdentityToken;
use hallmark::net::ServiceClient;

/// A signer made from the flags, owning what the library's [`Signer`] borrows.
pub enum Made {
    /// `--key`.
    Key(SigningKey),
    /// `--key` and `--tlog-upload`.
    LoggedKey(SigningKey, Sigstore),
    /// No `--key`: the identity token and the services.
    Keyless(IdentityToken, Sigstore),
}

impl Made {
    /// The library's view of it.
    pub fn signer(&self) -> Signer<'_> {
        match self {
            Made::Key(key) => Signer::Key(key),
            Made::LoggedKey(key, sigstore) => Signer::LoggedKey(key, sigstore),
            Made::Keyless(token, sigstore) => Signer::Keyless(token, sigstore),
        }
    }

    /// The API version of the Rekor a logged or keyless signature goes to; none for a key
    /// alone.
    pub fn rekor_version(&self) -> Option<u32> {
        match self {
            Made::Key(_) => None,
            Made::LoggedKey(_, s) | Made::Keyless(_, s) => Some(s.services.rekor_version),
        }
    }
}

/// Says who a keyless signature's certificate names (nothing for a key's signature);
/// `done` is what was done ("signed", "attested").
pub fn say_certified(
    ui: crate::output::Ui,
    done: &str,
    keyless: Option<&hallmark::sigstore::certificate::Identity>,
) {
    if let Some(id) = keyless {
        ui.say(format!(
            "{done} keyless as {} ({})",
            crate::sanitize::line(&id.subject),
            crate::sanitize::line(id.issuer.as_deref().unwrap_or(""))
        ));
    }
}

/// The signature format: the one given, else legacy for a key alone and cosign 3's bundle
/// for a logged or keyless signature. `logged` is the Rekor version a logged or keyless
/// signer speaks (none for a key alone). A legacy layer can carry a log entry only as a
/// Rekor v1 promise, so legacy with a Rekor v2 log is refused, as cosign 3 refuses
/// `--new-bundle-format=false` with a signing config.
pub fn format(
    given: Option<crate::cli::SignatureFormat>,
    made: &Made,
) -> anyhow::Result<SignatureFormat> {
    let logged = made.rekor_version();
    match given.map(crate::cli::SignatureFormat::lib) {
        Some(SignatureFormat::Legacy) if logged.is_some_and(|v| v != 1) => Err(CliError::usage(
            format!(
                "--format legacy {}: {}",
                match made {
                    Made::LoggedKey(..) => "with --tlog-upload",
                    _ => "when signing keyless",
                },
                hallmark::signer::LEGACY_NEEDS_REKOR_V1
            ),
            Some(
                "use --format bundle (cosign 3's default), or name a Rekor v1 log (--rekor-url URL --rekor-version 1, or a signing config naming one)",
            ),
        )),
        Some(f) => Ok(f),
        None if logged.is_some() => Ok(SignatureFormat::Bundle),
        None => Ok(SignatureFormat::Legacy),
    }
}

/// Refuses the signing-service flags with `--key` but without `--tlog-upload`: nothing is
/// logged then, so a user who named the services meant to log and would get no entry and
/// exit 0, leaving consumers to switch their log checks off. `sign-blob` and the image
/// commands share it.
pub fn refuse_unused_service_flags(
    key: bool,
    tlog_upload: bool,
    k: &KeylessSignArgs,
) -> anyhow::Result<()> {
    if !key || tlog_upload {
        return Ok(());
    }
    let given = [
        (k.signing_config.is_some(), "--signing-config"),
        (k.fulcio_url.is_some(), "--fulcio-url"),
        (k.rekor_url.is_some(), "--rekor-url"),
        (k.timestamp_server_url.is_some(), "--timestamp-server-url"),
        (k.rekor_version.is_some(), "--rekor-version"),
        (k.oidc_client_id != "sigstore", "--oidc-client-id"),
        // HALLMARK_TRUSTED_ROOT, set for verification, is no request to log.
        (
            k.trusted_root.is_some() && std::env::var_os("HALLMARK_TRUSTED_ROOT").is_none(),
            "--trusted-root",
        ),
    ];
    match given.iter().find(|(set, _)| *set) {
        Some((_, flag)) => Err(CliError::usage(
            format!("{flag} names the signing services, which --key uses only with --tlog-upload"),
            Some("add --tlog-upload to log the signature, or leave the service flags out"),
        )),
        None => Ok(()),
    }
}

/// The signer the flags describe, reaching the services through `client`. With
/// `--tlog-upload` the services are read before the key's password is asked for; keyless,
/// the token is read and checked (expiry, audience) here, and nothing is sent to any
/// signing service (an ambient CI token is fetched, once the flags are known to be usable).
pub async fn make(
    key: Option<&Path>,
    tlog_upload: bool,
    keyless: &KeylessSignArgs,
    client: ServiceClient,
) -> anyhow::Result<Made> {
    refuse_unused_service_flags(key.is_some(), tlog_upload, keyless)?;
    match key {
        Some(path) if tlog_upload => {
            let (services, root) = crate::keyless::services(keyless, &client, false)?;
            let key = keyfile::load_signing_key(path)?;
            Ok(Made::LoggedKey(key, Sigstore::new(services, root, client)))
        }
        Some(path) => Ok(Made::Key(keyfile::load_signing_key(path)?)),
        None => {
            let signer = crate::keyless::signer(keyless, client)?;
            let token = signer.token().await?;
            Ok(Made::Keyless(token, signer.sigstore()))
        }
    }
}

/// The client an image command reaches the signing services with: its `--sigstore-*`
/// flags, never the registry's (a registry's plain HTTP must not extend to the token), kept
/// for the deadline's report.
pub fn service_client(
    args: &crate::cli::SigstoreArgs,
    clients: &crate::commands::Clients,
) -> anyhow::Result<ServiceClient> {
    let client = crate::keyless::service_client(
        args.sigstore_allow_http,
        args.sigstore_ca_file.as_deref(),
        std::time::Duration::from_secs(args.sigstore_timeout),
    )?;
    clients.add_service(&client);
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::SignatureFormat as Flag;
    use hallmark::keyless::Services;

    /// A key alone keeps the legacy default; anything logged is a bundle by default, and a
    /// legacy layer is refused as bad input with a Rekor v2 log (as cosign 3 refuses it),
    /// taken with a Rekor v1 log, whose signed promise a layer carries.
    #[test]
    fn the_format_follows_the_signer() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let key = || SigningKey::generate(hallmark::keys::Algorithm::EcdsaP256).unwrap();
        let sigstore = |services| {
            let client = ServiceClient::new(Default::default()).unwrap();
            Sigstore::new(
                services,
                hallmark::sigstore::root::TrustedRoot::production(),
                client,
            )
        };
        let v2 = || sigstore(Services::new("http://f", "http://r", "http://t"));
        let v1 = || sigstore(Services::with_rekor_v1("http://f", "http://r", None));
        let alone = Made::Key(key());
        assert_eq!(format(None, &alone).unwrap(), SignatureFormat::Legacy);
        assert_eq!(
            format(Some(Flag::Bundle), &alone).unwrap(),
            SignatureFormat::Bundle
        );
        assert_eq!(
            format(Some(Flag::Legacy), &alone).unwrap(),
            SignatureFormat::Legacy
        );
        for made in [Made::LoggedKey(key(), v2()), Made::LoggedKey(key(), v1())] {
            assert_eq!(format(None, &made).unwrap(), SignatureFormat::Bundle);
        }
        let e = format(Some(Flag::Legacy), &Made::LoggedKey(key(), v2())).unwrap_err();
        assert_eq!(crate::exit::class(&e), hallmark::ErrorClass::Usage);
        assert!(e.to_string().contains("Rekor v1"), "{e}");
        assert!(e.to_string().contains("--tlog-upload"), "{e}");
        assert_eq!(
            format(Some(Flag::Legacy), &Made::LoggedKey(key(), v1())).unwrap(),
            SignatureFormat::Legacy
        );
    }
}
