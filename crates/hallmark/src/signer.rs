//! Who signs an image: a key, a key whose signatures are also timestamped and logged
//! (`--tlog-upload`), or a keyless identity certified by Fulcio. `sign`, `attest` and
//! `publish` take a [`Signer`] and never ask which kind it is beyond what the stored form
//! needs.

use crate::Error;
use crate::bundle::Bundle;
use crate::bundle::dsse::Envelope;
use crate::bundle::intoto;
use crate::digest::Digest;
use crate::keyless::{IdentityToken, KeylessError, Services};
use crate::keys::SigningKey;
use crate::net::ServiceClient;
use crate::sigstore::certificate::Identity;
use crate::sigstore::root::TrustedRoot;

/// The Sigstore services a signature is certified, timestamped and logged by, the trusted
/// root every one of their answers is verified against, and the client that reaches them.
#[derive(Clone)]
#[non_exhaustive]
pub struct Sigstore {
    /// Fulcio, Rekor and the timestamp authority.
    pub services: Services,
    /// What their answers must verify against.
    pub root: TrustedRoot,
    /// How they are reached.
    pub client: ServiceClient,
}

impl Sigstore {
    /// The services, their root and the client reaching them.
    pub fn new(services: Services, root: TrustedRoot, client: ServiceClient) -> Self {
        Self {
            services,
            root,
            client,
        }
    }
}

/// What a signature is made with.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum Signer<'a> {
    /// A key; nothing is sent anywhere but the registry.
    Key(&'a SigningKey),
    /// A key, the signature also timestamped and logged in Rekor (cosign's `--tlog-upload`).
    LoggedKey(&'a SigningKey, &'a Sigstore),
    /// An ephemeral key certified by Fulcio for the token's identity, the signature
    /// timestamped and logged.
    Keyless(&'a IdentityToken, &'a Sigstore),
}

impl Signer<'_> {
    /// The long-lived key, whose earlier signatures a new one replaces; none for keyless
    /// signing (an ephemeral key has made no earlier signature).
    pub fn key(&self) -> Option<&SigningKey> {
        match self {
            Self::Key(k) | Self::LoggedKey(k, _) => Some(k),
            Self::Keyless(..) => None,
        }
    }

    /// Signs an in-toto `statement` about the artifact `subject` into a v0.3 bundle: a DSSE
    /// envelope, and for a logged or keyless signature the certificate, the timestamp and
    /// the log entry, each verified before use and the bundle verified whole. The bundle,
    /// and for a keyless signature who the certificate says signed.
    pub(crate) async fn sign_statement(
        &self,
        statement: &[u8],
        subject: &Digest,
    ) -> Result<(Vec<u8>, Option<Identity>), Error> {
        let bundle = |key: &SigningKey| sign_statement(statement, key);
        match self {
            Self::Key(key) => Ok((bundle(key), None)),
            Self::LoggedKey(key, sigstore) => Ok((
                crate::keyless::log_key_signature(
                    &bundle(key),
                    &sha256(subject)?,
                    &key.public_key(),
                    &sigstore.services,
                    &sigstore.root,
                    &sigstore.client,
                )
                .await?,
                None,
            )),
            Self::Keyless(token, sigstore) => {
                let signed = crate::keyless::sign_envelope(
                    intoto::PAYLOAD_TYPE,
                    statement,
                    &sha256(subject)?,
                    token,
                    &sigstore.services,
                    &sigstore.root,
                    &sigstore.client,
                )
                .await?;
                Ok((signed.bundle, Some(signed.identity)))
            }
        }
    }

    /// Signs a simple-signing payload for a legacy `.sig` layer. Only a key without a log
    /// can: a layer records a log entry only as a Rekor v1 signed promise, and the services
    /// spoken are Rekor v2, whose entries only a bundle carries (cosign 3 refuses the same).
    pub(crate) fn sign_payload(&self, payload: &[u8]) -> Result<Vec<u8>, Error> {
        match self {
            Self::Key(key) => Ok(key.sign(payload)),
            Self::LoggedKey(..) | Self::Keyless(..) => Err(legacy_refused()),
        }
    }
}

/// Signs `statement` into a Sigstore bundle (DSSE over its PAE, key named by its hint).
fn sign_statement(statement: &[u8], key: &SigningKey) -> Vec<u8> {
    let envelope = Envelope::sign(intoto::PAYLOAD_TYPE, statement, |pae| key.sign(pae));
    Bundle::for_envelope(envelope, &key.public_key().bundle_hint()).to_bytes()
}

/// The refusal of a logged or keyless legacy signature: a usage error, nothing sent.
fn legacy_refused() -> Error {
    KeylessError::SigningConfig(LEGACY_NEEDS_REKOR_V1.to_string()).into()
}

/// Why a logged or keyless signature is not stored as a legacy `.sig` layer.
pub const LEGACY_NEEDS_REKOR_V1: &str = "a legacy .sig signature can carry a log entry only from Rekor v1; Rekor v2 entries are stored in a Sigstore bundle";

/// The 32 bytes of a SHA-256 digest; an artifact named by another algorithm cannot be
/// signed through Sigstore here.
fn sha256(digest: &Digest) -> Result<[u8; 32], Error> {
    digest.to_bytes().try_into().map_err(|_| {
        KeylessError::SigningConfig(format!(
            "{digest} is not a SHA-256 digest, which Sigstore signing needs"
        ))
        .into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Algorithm;

    /// A key alone signs a legacy payload; a logged or keyless one is refused as bad
    /// input (exit 2), saying why.
    #[test]
    fn only_a_plain_key_signs_a_legacy_payload() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let sig = Signer::Key(&key).sign_payload(b"p").unwrap();
        assert!(key.public_key().verify(b"p", &sig));
        assert!(Signer::Key(&key).key().is_some());
        let e = legacy_refused();
        assert_eq!(e.class(), crate::ErrorClass::Usage, "{e}");
        assert!(e.to_string().contains("Rekor v1"), "{e}");
    }

    #[test]
    fn a_sha256_digest_is_its_32_bytes() {
        let d = Digest::sha256(b"x");
        assert_eq!(sha256(&d).unwrap().to_vec(), d.to_bytes());
    }
}
