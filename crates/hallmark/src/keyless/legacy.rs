//! Legacy `.sig` signatures logged in Rekor v1, as cosign wrote them before bundles (and as
//! most deployed signatures are): the simple-signing payload signed by the Fulcio-certified
//! ephemeral key or by a key, logged as a `hashedrekord` 0.0.1 entry, optionally timestamped,
//! and carried by the layer's annotations — the certificate and chain, the entry with its
//! signed promise (`dev.sigstore.cosign/bundle`), the RFC 3161 timestamp. A layer carries a
//! log entry only as Rekor v1's signed promise: a Rekor v2 entry has none, so legacy needs v1.
//!
//! The annotations are read back by the legacy verifier and checked, as a consumer will check
//! them, before they are returned.

use base64ct::{Base64, Encoding};
use sha2::Digest as _;

use super::rekor_v1::pem;
use super::{IdentityToken, KeylessError, Services, certify_chain, token_identity};
use crate::bundle::legacy::{LayerMaterial, rekor_bundle_annotation};
use crate::keys::{Algorithm, SigningKey};
use crate::net::ServiceClient;
use crate::signature::SigstoreAnnotations;
use crate::sigstore::certificate::Identity;
use crate::sigstore::root::TrustedRoot;
use crate::sigstore::{tlog, verify};

/// Why a logged or keyless signature is not stored as a legacy `.sig` layer with Rekor v2.
pub const LEGACY_NEEDS_REKOR_V1: &str = "a legacy .sig signature can carry a log entry only from Rekor v1; Rekor v2 entries are stored in a Sigstore bundle";

/// Why an Ed25519 key's legacy signature is not logged.
const ED25519_NOT_LOGGABLE: &str = "an Ed25519 key's legacy signature cannot be logged in Rekor v1, which takes Ed25519 only over a SHA-512 prehash: sign with an ECDSA P-256 key, or use --format bundle";

/// Who signs a legacy payload.
#[derive(Clone, Copy)]
#[non_exhaustive]
pub enum LegacySigner<'a> {
    /// A key, its signature logged (`--tlog-upload`).
    Key(&'a SigningKey),
    /// An ephemeral key certified by Fulcio for the token's identity.
    Keyless(&'a IdentityToken),
}

/// A signature for a legacy `.sig` layer and the annotations the layer carries.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LegacySignature {
    /// The raw signature over the payload.
    pub signature: Vec<u8>,
    /// The certificate, chain, Rekor entry and timestamp, as cosign writes them; all empty
    /// for a key's unlogged signature.
    pub annotations: SigstoreAnnotations,
    /// For a keyless signature: who the certificate says signed.
    pub identity: Option<Identity>,
}

impl LegacySignature {
    /// A key's signature, logged nowhere.
    pub(crate) fn unlogged(signature: Vec<u8>) -> Self {
        Self {
            signature,
            annotations: SigstoreAnnotations::default(),
            identity: None,
        }
    }
}

/// Signs the simple-signing `payload` for a legacy layer with `signer`, logs the signature in
/// the Rekor v1 of `services` (timestamped too when a timestamp authority is named), every
/// answer verified against `root`, and returns the signature with the layer's annotations,
/// verified as the legacy verifier reads them. With Rekor v2, refused before anything is sent.
pub async fn sign_legacy(
    payload: &[u8],
    signer: LegacySigner<'_>,
    services: &Services,
    root: &TrustedRoot,
    client: &ServiceClient,
) -> Result<LegacySignature, KeylessError> {
    if services.rekor_version != 1 {
        return Err(KeylessError::SigningConfig(LEGACY_NEEDS_REKOR_V1.into()));
    }
    if let LegacySigner::Key(key) = signer
        && key.algorithm() == Algorithm::Ed25519
    {
        // Rekor v1 checks a hashedrekord's Ed25519 signature as Ed25519ph over a SHA-512
        // prehash; the layer's signature is plain Ed25519 over the payload.
        return Err(KeylessError::KeyNotLoggable(ED25519_NOT_LOGGABLE.into()));
    }
    let sha256: [u8; 32] = sha2::Sha256::digest(payload).into();
    let (signature, certified, secret) = match signer {
        // Hedged: the same payload logged again is a new entry, not one the log holds.
        LegacySigner::Key(key) => (key.sign_hedged(payload)?, None, None),
        LegacySigner::Keyless(token) => {
            let (key, leaf, chain) = certify_chain(token, services, root, client).await?;
            let signature = key.sign_prehashed(&sha256, "the ephemeral key")?;
            (signature, Some((token, leaf, chain)), Some(token.raw()))
        }
    };
    let spki = match signer {
        LegacySigner::Key(key) => key.public_key().spki_der(),
        LegacySigner::Keyless(_) => Vec::new(),
    };
    let verifier = match &certified {
        Some((_, leaf, _)) => tlog::Verifier::Certificate(leaf.der()),
        None => tlog::Verifier::Key(&spki),
    };
    let (stamp, entry, _) = super::stamp_and_log(
        tlog::Signed::Message {
            sha256,
            signature: &signature,
        },
        &signature,
        verifier,
        certified.as_ref().map(|(_, leaf, _)| leaf),
        services,
        root,
        client,
        secret,
    )
    .await?;
    let rekor_bundle = rekor_bundle_annotation(&entry)
        .ok_or_else(|| KeylessError::not_verified("Rekor", "the entry has no signed promise"))?;
    let (certificate, chain) = match &certified {
        Some((_, leaf, chain)) => (
            Some(pem("CERTIFICATE", leaf.der())),
            Some(chain_annotation(chain)),
        ),
        None => (None, None),
    };
    let annotations = SigstoreAnnotations {
        certificate,
        chain,
        rekor_bundle: Some(rekor_bundle),
        timestamp: stamp.as_deref().map(timestamp_annotation),
    };

    // The layer as a consumer reads it: the annotations parsed by the legacy reader and the
    // signature verified with them, for the identity the token names or the key.
    let layer = LayerMaterial::read(&annotations)
        .map_err(|e| KeylessError::not_verified("the signature layer", e))?;
    let material = verify::Material::of_layer(&layer, &signature);
    let keys;
    let policy;
    let who = match &certified {
        Some((token, leaf, _)) => {
            policy = token_identity(token, leaf)?;
            verify::Signer::Identity(&policy)
        }
        None => {
            let LegacySigner::Key(key) = signer else {
                unreachable!("a signature without a certificate is a key's")
            };
            keys = [key.public_key()];
            verify::Signer::Keys(&keys)
        }
    };
    verify::verify_material(&material, &sha256, who, root, verify::Options::default())
        .map_err(|e| KeylessError::not_verified("the signature layer", e))?;
    Ok(LegacySignature {
        signature,
        annotations,
        identity: certified.map(|(_, leaf, _)| leaf.identity),
    })
}

/// `dev.sigstore.cosign/chain`: the certificates after the leaf (the intermediates and root
/// of the trusted root's authority that verified it), PEM after PEM, as cosign writes them.
fn chain_annotation(chain: &[Vec<u8>]) -> String {
    chain
        .iter()
        .skip(1)
        .map(|der| pem("CERTIFICATE", der))
        .collect()
}

/// `dev.sigstore.cosign/rfc3161timestamp`: cosign's JSON around the token.
fn timestamp_annotation(token: &[u8]) -> String {
    serde_json::json!({ "SignedRFC3161Timestamp": Base64::encode_string(token) }).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The chain annotation leaves the leaf out (it has its own) and keeps Fulcio's order.
    #[test]
    fn the_chain_is_what_follows_the_leaf_in_pem() {
        let text = chain_annotation(&[vec![1], vec![2], vec![3]]);
        assert_eq!(
            text,
            "-----BEGIN CERTIFICATE-----\nAg==\n-----END CERTIFICATE-----\n\
             -----BEGIN CERTIFICATE-----\nAw==\n-----END CERTIFICATE-----\n"
        );
        assert_eq!(chain_annotation(&[vec![1]]), "");
    }

    /// A Rekor v2 log, or an Ed25519 key with Rekor v1, is refused as bad input before any
    /// service is asked (nothing listens on port 9: a request would be unavailability).
    #[tokio::test]
    async fn rekor_v2_and_ed25519_are_refused_before_anything_is_sent() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = ServiceClient::new(Default::default()).unwrap();
        let root = TrustedRoot::production();
        let ecdsa = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let ed25519 = SigningKey::generate(Algorithm::Ed25519).unwrap();
        let (f, r, t) = (
            "http://127.0.0.1:9/f",
            "http://127.0.0.1:9/r",
            "http://127.0.0.1:9/t",
        );
        let cases = [
            (Services::new(f, r, t), &ecdsa, "Rekor v1"),
            (Services::with_rekor_v1(f, r, None), &ed25519, "Ed25519"),
        ];
        for (services, key, why) in cases {
            let e = sign_legacy(b"p", LegacySigner::Key(key), &services, &root, &client)
                .await
                .unwrap_err();
            assert_eq!(e.class(), crate::ErrorClass::Usage, "{e}");
            assert!(e.to_string().contains(why), "{e}");
        }
        let e = sign_legacy(
            b"p",
            LegacySigner::Key(&ecdsa),
            &Services::with_rekor_v1(f, r, None),
            &root,
            &client,
        )
        .await
        .unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Unavailable, "{e}");
    }

    /// The timestamp annotation is what the legacy reader takes back.
    #[test]
    fn the_timestamp_annotation_reads_back() {
        let text = timestamp_annotation(&[0x30, 0x03]);
        assert_eq!(text, r#"{"SignedRFC3161Timestamp":"MAM="}"#);
        let read = LayerMaterial::read(&SigstoreAnnotations {
            timestamp: Some(text),
            ..SigstoreAnnotations::default()
        })
        .unwrap();
        assert_eq!(read.timestamps, vec![vec![0x30, 0x03]]);
    }
}
