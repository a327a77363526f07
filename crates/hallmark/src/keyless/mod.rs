//! Keyless signing: an OIDC identity token, an ephemeral P-256 key certified by Fulcio, the
//! signature logged in Rekor v2 and timestamped by an RFC 3161 authority, all in a v0.3
//! bundle. Everything a service returns is checked with the `sigstore` verifiers against the
//! trusted root before it is used: the certificate chain and its SCT before anything is
//! signed with the key, the timestamp and the log entry (inclusion proof, checkpoint) before
//! the bundle exists, and the finished bundle once more, whole, as a verifier will read it.
//!
//! `token`, `config` and `wire` are pure; the requests are made here, through the registry
//! client's HTTP stack (the same TLS, proxy and timeout settings).

pub mod config;
pub mod envelope;
pub mod token;
pub mod wire;

use std::time::SystemTime;

use base64ct::{Base64, Encoding};
use reqwest::header::{CONTENT_TYPE, HeaderValue};

use crate::bundle::{
    BUNDLE_V03, Bundle, MessageDigest, MessageSignature, Rfc3161Timestamp,
    TimestampVerificationData, VerificationMaterial, X509Certificate,
};
use crate::class::ErrorClass;
use crate::keys::{Algorithm, KeyError, SigningKey};
use crate::registry::Client;
use crate::sigstore::certificate::{self, Identity};
use crate::sigstore::identity::{IdentityPolicy, Matcher};
use crate::sigstore::root::TrustedRoot;
use crate::sigstore::{sct, timestamp, tlog, verify};

pub use config::Services;
pub use envelope::sign_envelope;
pub use token::IdentityToken;

/// Largest answer read from a signing service.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// Why a keyless signature was not made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeylessError {
    /// The identity token cannot be read.
    #[error("identity token: {0}")]
    TokenSource(String),
    /// The identity token is not a JWT with the claims Fulcio needs.
    #[error("the identity token is malformed: {0}")]
    TokenMalformed(String),
    /// The identity token has expired.
    #[error("the identity token expired at {at}")]
    TokenExpired {
        /// Its `exp`.
        at: String,
    },
    /// The identity token is for another audience.
    #[error("the identity token is for audience {0:?}, not \"sigstore\"")]
    TokenAudience(String),
    /// The signing config cannot be used.
    #[error("signing config: {0}")]
    SigningConfig(String),
    /// A service could not be reached.
    #[error("{service} ({url}) is unavailable: {reason}")]
    Unreachable {
        /// `Fulcio`, `Rekor`, `the timestamp authority`.
        service: &'static str,
        /// The URL requested.
        url: String,
        /// What failed.
        reason: String,
    },
    /// A service answered with an error status.
    #[error("{service} ({url}) answered {status}: {text}")]
    Status {
        /// Which service.
        service: &'static str,
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of its answer.
        text: String,
    },
    /// A service answered something that cannot be read.
    #[error("{service} answered garbage: {why}")]
    Garbage {
        /// Which service.
        service: &'static str,
        /// What is wrong.
        why: String,
    },
    /// What a service returned does not verify against the trusted root: nothing is signed
    /// or written with it.
    #[error("{service}'s answer does not verify: {why}")]
    NotVerified {
        /// Which service.
        service: &'static str,
        /// Why.
        why: String,
    },
    /// The ephemeral key cannot be made or used.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl KeylessError {
    /// A token or configuration the user gave is a usage error (nothing was sent); a
    /// service down, lying or unverifiable is unavailability.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::TokenSource(_)
            | Self::TokenMalformed(_)
            | Self::TokenExpired { .. }
            | Self::TokenAudience(_)
            | Self::SigningConfig(_) => ErrorClass::Usage,
            Self::Unreachable { .. }
            | Self::Status { .. }
            | Self::Garbage { .. }
            | Self::NotVerified { .. } => ErrorClass::Unavailable,
            Self::Key(e) => e.class(),
        }
    }
}

/// A keyless signature over an artifact, verified.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeylessSignature {
    /// The v0.3 bundle: certificate, Rekor v2 entry, RFC 3161 timestamp.
    pub bundle: Vec<u8>,
    /// The raw signature (DER).
    pub signature: Vec<u8>,
    /// Who the certificate says signed.
    pub identity: Identity,
    /// The entry's index in the log.
    pub log_index: i64,
}

impl KeylessSignature {
    /// The bare signature as cosign's `--output-signature` writes it: base64.
    pub fn signature_base64(&self) -> String {
        Base64::encode_string(&self.signature)
    }
}

/// Signs the artifact whose SHA-256 is `sha256` keyless with `token`, through `services`,
/// every answer verified against `root`.
pub async fn sign_digest(
    sha256: &[u8; 32],
    token: &IdentityToken,
    services: &Services,
    root: &TrustedRoot,
    client: &Client,
) -> Result<KeylessSignature, KeylessError> {
    let (key, leaf) = certify(token, services, root, client).await?;
    let not_verified =
        |service: &'static str, why: String| KeylessError::NotVerified { service, why };
    let signature = key.sign_prehashed(sha256, "the ephemeral key")?;
    let (stamp, entry, log_index) = stamp_and_log(
        tlog::Signed::Message {
            sha256: *sha256,
            signature: &signature,
        },
        &signature,
        wire::LogVerifier::Certificate(leaf.der()),
        Some(&leaf),
        services,
        root,
        client,
    )
    .await?;

    let bundle = Bundle {
        media_type: BUNDLE_V03.into(),
        verification_material: VerificationMaterial {
            public_key: None,
            certificate: Some(X509Certificate {
                raw_bytes: Base64::encode_string(leaf.der()),
            }),
            x509_certificate_chain: None,
            tlog_entries: vec![entry],
            timestamp_verification_data: Some(TimestampVerificationData {
                rfc3161_timestamps: vec![Rfc3161Timestamp {
                    signed_timestamp: Base64::encode_string(&stamp),
                }],
            }),
        },
        message_signature: Some(MessageSignature {
            message_digest: Some(MessageDigest {
                algorithm: "SHA2_256".into(),
                digest: Base64::encode_string(sha256),
            }),
            signature: Base64::encode_string(&signature),
        }),
        dsse_envelope: None,
    };
    // The whole bundle as a verifier reads it, for the identity Fulcio certified.
    let bytes = bundle.to_bytes();
    let reread = Bundle::parse(&bytes).map_err(|e| not_verified("the bundle", e.to_string()))?;
    let policy = IdentityPolicy::new(
        Matcher::Exact(leaf.identity.subject.clone()),
        Matcher::Exact(token.claims.issuer.clone()),
    );
    verify::verify(
        &reread,
        sha256,
        verify::Signer::Identity(&policy),
        root,
        verify::Options::default(),
    )
    .map_err(|e| not_verified("the signed bundle", e.to_string()))?;
    Ok(KeylessSignature {
        bundle: bytes,
        signature,
        identity: leaf.identity,
        log_index,
    })
}

/// An ephemeral P-256 key and Fulcio's certificate for it, the certificate checked before
/// the key signs anything but the proof of possession: for this key, for the token's
/// issuer, chaining to the root, with a valid SCT.
async fn certify(
    token: &IdentityToken,
    services: &Services,
    root: &TrustedRoot,
    client: &Client,
) -> Result<(SigningKey, certificate::Leaf), KeylessError> {
    let key = SigningKey::generate(Algorithm::EcdsaP256)?;
    let public = key.public_key();

    // Fulcio: a certificate for the key, checked before the key signs anything else.
    let proof = key.sign(token.claims.subject.as_bytes());
    let url = format!("{}/api/v2/signingCert", services.fulcio);
    let body = wire::fulcio_request(token.raw(), &public.to_pem(), &proof);
    let answer = post(client, "Fulcio", &url, "application/json", body).await?;
    let chain = wire::fulcio_chain(&answer)?;
    let not_verified =
        |service: &'static str, why: String| KeylessError::NotVerified { service, why };
    let leaf =
        certificate::parse_leaf(&chain[0]).map_err(|e| not_verified("Fulcio", e.to_string()))?;
    if leaf.spki != public.spki_der() {
        return Err(not_verified(
            "Fulcio",
            "the certificate is for another key".into(),
        ));
    }
    if leaf.identity.issuer.as_deref() != Some(token.claims.issuer.as_str()) {
        return Err(not_verified(
            "Fulcio",
            format!(
                "the certificate names issuer {:?}, the token {:?}",
                leaf.identity.issuer.as_deref().unwrap_or(""),
                token.claims.issuer
            ),
        ));
    }
    let issued = certificate::verify_chain(&leaf, root, SystemTime::now())
        .map_err(|e| not_verified("Fulcio", e.to_string()))?;
    sct::verify_scts(&leaf, &issued.issuer_spki, root)
        .map_err(|e| not_verified("Fulcio", e.to_string()))?;
    Ok((key, leaf))
}

/// The signature timestamped (RFC 3161) and logged in Rekor v2, each answer verified: the
/// token over the signature, inside the certificate's validity when there is one, and the
/// entry with its inclusion proof and checkpoint. The token, the entry and its index. A DSSE
/// envelope is logged as Rekor v2 asks (and cosign does): a hashedrekord of its PAE's SHA-256.
async fn stamp_and_log(
    signed: tlog::Signed<'_>,
    signature: &[u8],
    verifier: wire::LogVerifier<'_>,
    leaf: Option<&certificate::Leaf>,
    services: &Services,
    root: &TrustedRoot,
    client: &Client,
) -> Result<(Vec<u8>, crate::bundle::TlogEntry, i64), KeylessError> {
    let not_verified =
        |service: &'static str, why: String| KeylessError::NotVerified { service, why };
    // Rekor v2 gives no time, so the timestamp is what dates the signature.
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(KeyError::Random)?;
    let signature_sha256: [u8; 32] = {
        use sha2::Digest as _;
        sha2::Sha256::digest(signature).into()
    };
    let request = wire::timestamp_request(&signature_sha256, nonce);
    let stamp = post(
        client,
        "the timestamp authority",
        &services.tsa,
        "application/timestamp-query",
        request,
    )
    .await?;
    let stamped = timestamp::verify(&stamp, signature, root)
        .map_err(|e| not_verified("the timestamp authority", e.to_string()))?;
    if leaf.is_some_and(|l| !l.valid_at(stamped.time)) {
        return Err(not_verified(
            "the timestamp authority",
            "its time lies outside the certificate's validity".into(),
        ));
    }
    let logged_sha256: [u8; 32] = match &signed {
        tlog::Signed::Message { sha256, .. } => *sha256,
        tlog::Signed::Dsse { envelope } => {
            use sha2::Digest as _;
            let payload = envelope
                .payload_bytes()
                .map_err(|e| not_verified("the envelope", e.to_string()))?;
            sha2::Sha256::digest(crate::bundle::dsse::pae(&envelope.payload_type, &payload)).into()
        }
    };
    let url = format!("{}/api/v2/log/entries", services.rekor);
    let body = wire::rekor_request(&logged_sha256, signature, &verifier);
    let answer = post(client, "Rekor", &url, "application/json", body).await?;
    let entry = wire::rekor_entry(&answer)?;
    let logged = tlog::verify_entry(
        &entry,
        &signed,
        &match verifier {
            wire::LogVerifier::Certificate(der) => tlog::Verifier::Certificate(der),
            wire::LogVerifier::Key(spki) => tlog::Verifier::Key(spki),
        },
        root,
        3,
    )
    .map_err(|e| not_verified("Rekor", e.to_string()))?;
    Ok((stamp, entry, logged.log_index))
}

/// A key-based bundle (as [`crate::blob::sign`] makes, or a DSSE bundle of a statement about
/// the artifact whose SHA-256 is `sha256`) whose signature is also timestamped and logged in
/// Rekor v2 (cosign's `--tlog-upload`), so that verifiers keep their default log checks;
/// verified whole against `root` and the key before it is returned.
pub async fn log_key_signature(
    bundle: &[u8],
    sha256: &[u8; 32],
    key: &crate::keys::PublicKey,
    services: &Services,
    root: &TrustedRoot,
    client: &Client,
) -> Result<Vec<u8>, KeylessError> {
    let not_verified =
        |service: &'static str, why: String| KeylessError::NotVerified { service, why };
    let mut parsed =
        Bundle::parse(bundle).map_err(|e| not_verified("the bundle", e.to_string()))?;
    let signature = match parsed
        .content()
        .map_err(|e| not_verified("the bundle", e.to_string()))?
    {
        crate::bundle::Content::Message { signature, .. } => signature,
        crate::bundle::Content::Dsse(envelope) => {
            let [signature] = envelope.signature_bytes().try_into().map_err(|_| {
                not_verified("the bundle", "not one signature in the envelope".into())
            })?;
            signature
        }
    };
    let envelope = parsed.dsse_envelope.clone();
    let signed = match &envelope {
        Some(envelope) => tlog::Signed::Dsse { envelope },
        None => tlog::Signed::Message {
            sha256: *sha256,
            signature: &signature,
        },
    };
    let spki = key.spki_der();
    let (stamp, entry, _) = stamp_and_log(
        signed,
        &signature,
        wire::LogVerifier::Key(&spki),
        None,
        services,
        root,
        client,
    )
    .await?;
    parsed.verification_material.tlog_entries = vec![entry];
    parsed.verification_material.timestamp_verification_data = Some(TimestampVerificationData {
        rfc3161_timestamps: vec![Rfc3161Timestamp {
            signed_timestamp: Base64::encode_string(&stamp),
        }],
    });
    let bytes = parsed.to_bytes();
    let reread = Bundle::parse(&bytes).map_err(|e| not_verified("the bundle", e.to_string()))?;
    verify::verify(
        &reread,
        sha256,
        verify::Signer::Keys(std::slice::from_ref(key)),
        root,
        verify::Options::default(),
    )
    .map_err(|e| not_verified("the logged bundle", e.to_string()))?;
    Ok(bytes)
}

/// The ambient identity token of a CI system, when there is one: GitLab's (and any
/// system's) `SIGSTORE_ID_TOKEN`, else GitHub Actions' (a GET of
/// `ACTIONS_ID_TOKEN_REQUEST_URL` for the audience `sigstore`, with
/// `ACTIONS_ID_TOKEN_REQUEST_TOKEN` as its bearer token).
pub async fn ambient_token(client: &Client) -> Result<Option<String>, KeylessError> {
    if let Ok(token) = std::env::var("SIGSTORE_ID_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(Some(token.trim().to_string()));
    }
    let (Ok(url), Ok(bearer)) = (
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL"),
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) else {
        return Ok(None);
    };
    let service = "GitHub Actions' token endpoint";
    let mut url = url::Url::parse(&url).map_err(|e| {
        KeylessError::TokenSource(format!("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: {e}"))
    })?;
    url.query_pairs_mut()
        .append_pair("audience", token::AUDIENCE);
    // The request URL carries no secret, the bearer token does: only the URL is ever shown.
    let shown = url.as_str().to_string();
    let request = client.http().get(url).bearer_auth(bearer);
    let answer = receive(service, &shown, request).await?;
    #[derive(serde::Deserialize)]
    struct Answer {
        value: String,
    }
    let a: Answer = serde_json::from_slice(&answer).map_err(|_| KeylessError::Garbage {
        service,
        why: "its answer holds no token".into(),
    })?;
    Ok(Some(a.value))
}

/// One POST, through [`receive`].
async fn post(
    client: &Client,
    service: &'static str,
    url: &str,
    content_type: &'static str,
    body: Vec<u8>,
) -> Result<Vec<u8>, KeylessError> {
    let request = client
        .http()
        .post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
        .body(body);
    receive(service, url, request).await
}

/// Sends `request`; the answer's body when the status is a success, bounded in size.
async fn receive(
    service: &'static str,
    url: &str,
    request: reqwest::RequestBuilder,
) -> Result<Vec<u8>, KeylessError> {
    let unreachable = |reason: String| KeylessError::Unreachable {
        service,
        url: url.to_string(),
        reason,
    };
    let mut resp = request
        .send()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?;
    let status = resp.status();
    let mut answer = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| unreachable(error_chain(&e)))?
    {
        if answer.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(KeylessError::Garbage {
                service,
                why: format!("its answer is over {MAX_ANSWER_BYTES} bytes"),
            });
        }
        answer.extend_from_slice(&chunk);
    }
    if !status.is_success() {
        let text: String = String::from_utf8_lossy(&answer)
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        return Err(KeylessError::Status {
            service,
            url: url.to_string(),
            status: status.as_u16(),
            text,
        });
    }
    Ok(answer)
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the user gave is exit 2, nothing having been sent; what a service did is exit 3.
    #[test]
    fn token_and_config_faults_are_usage_service_faults_unavailability() {
        for e in [
            KeylessError::TokenExpired { at: "then".into() },
            KeylessError::TokenAudience("api".into()),
            KeylessError::TokenMalformed("x".into()),
            KeylessError::SigningConfig("x".into()),
        ] {
            assert_eq!(e.class(), ErrorClass::Usage, "{e}");
        }
        for e in [
            KeylessError::Unreachable {
                service: "Fulcio",
                url: "u".into(),
                reason: "r".into(),
            },
            KeylessError::Garbage {
                service: "Rekor",
                why: "w".into(),
            },
            KeylessError::NotVerified {
                service: "Rekor",
                why: "w".into(),
            },
        ] {
            assert_eq!(e.class(), ErrorClass::Unavailable, "{e}");
        }
    }
}
