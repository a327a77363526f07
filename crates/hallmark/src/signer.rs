//! Who signs an image: a key, a key whose signatures are also timestamped and logged
//! (`--tlog-upload`), or a keyless identity certified by Fulcio. `sign`, `attest` and
//! `publish` take a [`Signer`] and never ask which kind it is beyond what the stored form
//! needs.

use crate::Error;
use crate::bundle::Bundle;
use crate::bundle::dsse::{self, Envelope};
use crate::bundle::intoto;
use crate::digest::Digest;
use crate::keyless::legacy::{LegacySignature, LegacySigner};
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
        match self {
            Self::Key(key) => Ok((sign_statement(statement, key)?, None)),
            Self::LoggedKey(key, sigstore) => Ok((
                crate::keyless::log_key_signature(
                    &sign_statement_hedged(statement, key)?,
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

    /// Signs a simple-signing payload for a legacy `.sig` layer: a key's signature alone, or
    /// logged in Rekor v1 (keyless or `--tlog-upload`) with the annotations cosign writes,
    /// verified before they are returned. A layer records a log entry only as Rekor v1's
    /// signed promise, so with Rekor v2 this is refused before anything is sent (cosign 3
    /// refuses the same).
    pub(crate) async fn sign_payload(&self, payload: &[u8]) -> Result<LegacySignature, Error> {
        let (signer, sigstore) = match self {
            Self::Key(key) => {
                return Ok(LegacySignature::unlogged(
                    key.sign(payload).map_err(Error::from)?,
                ));
            }
            Self::LoggedKey(key, sigstore) => (LegacySigner::Key(key), sigstore),
            Self::Keyless(token, sigstore) => (LegacySigner::Keyless(token), sigstore),
        };
        Ok(crate::keyless::legacy::sign_legacy(
            payload,
            signer,
            &sigstore.services,
            &sigstore.root,
            &sigstore.client,
        )
        .await?)
    }
}

/// Signs `statement` into a Sigstore bundle (DSSE over its PAE, key named by its hint).
fn sign_statement(statement: &[u8], key: &SigningKey) -> Result<Vec<u8>, Error> {
    let signature = key
        .sign(&dsse::pae(intoto::PAYLOAD_TYPE, statement))
        .map_err(Error::from)?;
    let envelope = Envelope::sign(intoto::PAYLOAD_TYPE, statement, |_| signature);
    Ok(Bundle::for_envelope(envelope, &key.public_key().bundle_hint()).to_bytes())
}

pub use crate::keyless::legacy::LEGACY_NEEDS_REKOR_V1;

/// [`sign_statement`] with a hedged signature ([`SigningKey::sign_hedged`]): a statement
/// signed and logged again is a new log entry, not one the log already holds.
fn sign_statement_hedged(statement: &[u8], key: &SigningKey) -> Result<Vec<u8>, Error> {
    let signature = key
        .sign_hedged(&dsse::pae(intoto::PAYLOAD_TYPE, statement))
        .map_err(Error::from)?;
    let envelope = Envelope::sign(intoto::PAYLOAD_TYPE, statement, |_| signature);
    Ok(Bundle::for_envelope(envelope, &key.public_key().bundle_hint()).to_bytes())
}

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

    /// A key alone signs a legacy payload with no annotations; a logged or keyless one with
    /// Rekor v2 is refused as bad input (exit 2), saying why, before any service is asked.
    #[tokio::test]
    async fn a_legacy_payload_is_logged_only_in_rekor_v1() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let signed = Signer::Key(&key).sign_payload(b"p").await.unwrap();
        assert!(key.public_key().verify(b"p", &signed.signature));
        assert_eq!(signed.annotations, Default::default());
        assert!(Signer::Key(&key).key().is_some());
        // Nothing listens on port 9: an attempt to reach a service would fail as unavailable.
        let services = Services::new(
            "http://127.0.0.1:9/fulcio",
            "http://127.0.0.1:9/rekor",
            "http://127.0.0.1:9/tsa",
        );
        assert_eq!(services.rekor_version, 2);
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ServiceClient::new(Default::default()).unwrap();
        let sigstore = Sigstore::new(services, TrustedRoot::production(), client);
        let e = Signer::LoggedKey(&key, &sigstore)
            .sign_payload(b"p")
            .await
            .err()
            .unwrap();
        assert_eq!(e.class(), crate::ErrorClass::Usage, "{e}");
        assert!(e.to_string().contains("Rekor v1"), "{e}");
    }

    /// A statement about to be logged is signed anew each time (a log refuses an entry it
    /// holds), and verifies as the plain bundle does, which stays the same each time.
    #[test]
    fn a_statement_to_be_logged_is_signed_anew_each_time() {
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let statement = br#"{"_type":"https://in-toto.io/Statement/v1"}"#;
        let (a, b) = (
            sign_statement_hedged(statement, &key).unwrap(),
            sign_statement_hedged(statement, &key).unwrap(),
        );
        assert_ne!(a, b);
        assert_eq!(
            sign_statement(statement, &key).unwrap(),
            sign_statement(statement, &key).unwrap()
        );
        let pae = dsse::pae(intoto::PAYLOAD_TYPE, statement);
        for bundle in [a, b, sign_statement(statement, &key).unwrap()] {
            let parsed = Bundle::parse(&bundle).unwrap();
            let envelope = parsed.dsse_envelope.unwrap();
            assert_eq!(envelope.payload_bytes().unwrap(), statement);
            let [sig] = envelope.signature_bytes().try_into().unwrap();
            assert!(key.public_key().verify(&pae, &sig));
        }
    }

    #[test]
    fn a_sha256_digest_is_its_32_bytes() {
        let d = Digest::sha256(b"x");
        assert_eq!(sha256(&d).unwrap().to_vec(), d.to_bytes());
    }
}
