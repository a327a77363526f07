//! Keyless signing: an OIDC identity token, an ephemeral P-256 key certified by Fulcio, the
//! signature logged in Rekor v2 (or v1) and timestamped by an RFC 3161 authority, all in a v0.3
//! bundle. Everything a service returns is checked with the `sigstore` verifiers against the
//! trusted root before it is used: the certificate chain and its SCT before anything is
//! signed with the key, the timestamp and the log entry (inclusion proof, checkpoint) before
//! the bundle exists, and the finished bundle once more, whole, as a verifier will read it.
//!
//! `token`, `config` and `wire` are pure; the requests go through `transport`, on the
//! signing services' own client ([`crate::net::ServiceClient`]: no redirects, HTTPS unless
//! loopback or opted in, a deadline per request, a size cap).

pub mod config;
pub mod envelope;
pub mod legacy;
pub mod rekor_v1;
pub mod token;
pub mod transport;
pub mod wire;

use std::time::SystemTime;

use base64ct::{Base64, Encoding};

use crate::bundle::{
    BUNDLE_V03, Bundle, MessageDigest, MessageSignature, Rfc3161Timestamp,
    TimestampVerificationData, VerificationMaterial, X509Certificate,
};
use crate::class::ErrorClass;
use crate::keys::{Algorithm, KeyError, SigningKey};
use crate::net::ServiceClient;
use crate::sigstore::certificate::{self, Identity};
use crate::sigstore::identity::{IdentityPolicy, Matcher};
use crate::sigstore::root::TrustedRoot;
use crate::sigstore::{sct, timestamp, tlog, verify};

pub use config::Services;
pub use envelope::sign_envelope;
pub use token::{IdentityToken, TokenClaims};
pub use transport::ambient_token;
use transport::post;

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
    /// The identity token is for another audience: the one it names, the one expected.
    #[error("the identity token is for audience {0:?}, not {1:?}")]
    TokenAudience(String, String),
    /// The signing config cannot be used.
    #[error("signing config: {0}")]
    SigningConfig(String),
    /// A service's URL is not one a token or signature may be sent to: not HTTP(S), or
    /// plain HTTP to a host other than loopback without `allow_http`.
    #[error("{service}: {why}")]
    ServiceUrl {
        /// Which service.
        service: &'static str,
        /// What is wrong with its URL.
        why: String,
    },
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
    /// The signing key makes signatures the log cannot take: nothing was sent.
    #[error("{0}")]
    KeyNotLoggable(String),
    /// Rekor v2 already holds this exact signature (a deterministic one, signed before),
    /// and its API returns no entry it holds: nothing can be written for it.
    #[error(
        "Rekor already holds this exact signature{}, and Rekor v2 does not return an entry it holds: the earlier signature of this artifact stands; to log a new one, sign with an ECDSA P-256 key, whose logged signatures differ each time",
        .index.map(|i| format!(" (entry {i})")).unwrap_or_default()
    )]
    AlreadyLogged {
        /// The index of the entry, when the log named it.
        index: Option<u64>,
    },
}

impl KeylessError {
    /// A token or configuration the user gave is a usage error (nothing was sent); a
    /// service down, lying or unverifiable is unavailability.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::TokenSource(_)
            | Self::TokenMalformed(_)
            | Self::TokenExpired { .. }
            | Self::TokenAudience(..)
            | Self::SigningConfig(_)
            | Self::ServiceUrl { .. }
            | Self::KeyNotLoggable(_) => ErrorClass::Usage,
            Self::Unreachable { .. }
            | Self::Status { .. }
            | Self::Garbage { .. }
            | Self::NotVerified { .. }
            | Self::AlreadyLogged { .. } => ErrorClass::Unavailable,
            Self::Key(e) => e.class(),
        }
    }

    /// What `service` returned does not verify.
    pub fn not_verified(service: &'static str, why: impl std::fmt::Display) -> Self {
        Self::NotVerified {
            service,
            why: why.to_string(),
        }
    }
}

/// A keyless signature over an artifact, verified.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct KeylessSignature {
    /// The v0.3 bundle: certificate, Rekor entry, RFC 3161 timestamp (none with Rekor v1 and
    /// no timestamp authority).
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

/// Fulcio's answer checked before the ephemeral key signs anything with it: the leaf is
/// for `public_spki` (our key, not a replayed certificate), names the token's issuer and
/// a subject the token's issuer type maps to ([`TokenClaims::expected_subjects`]), chains
/// to a certificate authority of `root` at `now`, and carries an SCT of a log of `root`.
pub fn check_certificate(
    chain: &[Vec<u8>],
    public_spki: &[u8],
    claims: &TokenClaims,
    root: &TrustedRoot,
    now: SystemTime,
) -> Result<certificate::Leaf, KeylessError> {
    let fulcio = |why: String| KeylessError::not_verified("Fulcio", why);
    let first = chain
        .first()
        .ok_or_else(|| fulcio("it returned no certificate".into()))?;
    let leaf = certificate::parse_leaf(first).map_err(|e| fulcio(e.to_string()))?;
    if leaf.spki != public_spki {
        return Err(fulcio("the certificate is for another key".into()));
    }
    let issuer = leaf.identity.issuer.as_deref().unwrap_or("");
    if issuer != claims.issuer {
        let why = match &claims.federated_issuer {
            // A federating issuer (Dex) is not what Fulcio certifies: its upstream is.
            Some(upstream) => format!(
                "the certificate names issuer {issuer:?}, the token {:?}: the token comes from a federating issuer (for {upstream:?}), and hallmark signs only with a token from the issuer the certificate names",
                claims.issuer
            ),
            None => format!(
                "the certificate names issuer {issuer:?}, the token {:?}",
                claims.issuer
            ),
        };
        return Err(fulcio(why));
    }
    let expected = claims.expected_subjects();
    if !expected.contains(&leaf.identity.subject) {
        return Err(fulcio(format!(
            "the certificate is for {:?}, the token for {}",
            leaf.identity.subject,
            expected
                .iter()
                .map(|e| format!("{e:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        )));
    }
    let issued = certificate::verify_chain(&leaf, root, now).map_err(|e| fulcio(e.to_string()))?;
    sct::verify_scts(&leaf, &issued.issuer_spki, root).map_err(|e| fulcio(e.to_string()))?;
    Ok(leaf)
}

/// Signs the artifact whose SHA-256 is `sha256` keyless with `token`, through `services`,
/// every answer verified against `root`.
pub async fn sign_digest(
    sha256: &[u8; 32],
    token: &IdentityToken,
    services: &Services,
    root: &TrustedRoot,
    client: &ServiceClient,
) -> Result<KeylessSignature, KeylessError> {
    let secret = Some(token.raw());
    let (key, leaf) = certify(token, services, root, client).await?;
    let signature = key.sign_prehashed(sha256, "the ephemeral key")?;
    let (stamp, entry, log_index) = stamp_and_log(
        tlog::Signed::Message {
            sha256: *sha256,
            signature: &signature,
        },
        &signature,
        tlog::Verifier::Certificate(leaf.der()),
        Some(&leaf),
        services,
        root,
        client,
        secret,
    )
    .await?;

    let content = Content {
        message_signature: Some(MessageSignature {
            message_digest: Some(MessageDigest {
                algorithm: "SHA2_256".into(),
                digest: Base64::encode_string(sha256),
            }),
            signature: Base64::encode_string(&signature),
        }),
        dsse_envelope: None,
    };
    let logged = Logged {
        leaf,
        entry,
        stamp,
        log_index,
    };
    keyless_bundle(content, signature, logged, sha256, token, root)
}

/// What a keyless bundle signs: a message signature or a DSSE envelope.
pub(crate) struct Content {
    pub(crate) message_signature: Option<MessageSignature>,
    pub(crate) dsse_envelope: Option<crate::bundle::dsse::Envelope>,
}

/// The certificate, the log entry, its index and the timestamp of a keyless signature.
pub(crate) struct Logged {
    pub(crate) leaf: certificate::Leaf,
    pub(crate) entry: crate::bundle::TlogEntry,
    pub(crate) stamp: Option<Vec<u8>>,
    pub(crate) log_index: i64,
}

/// The v0.3 bundle of a keyless signature, verified whole as a verifier reads it, for the
/// artifact whose SHA-256 is `subject` and the identity the token names (not the
/// certificate's own, which would make the check circular).
pub(crate) fn keyless_bundle(
    content: Content,
    signature: Vec<u8>,
    logged: Logged,
    subject: &[u8; 32],
    token: &IdentityToken,
    root: &TrustedRoot,
) -> Result<KeylessSignature, KeylessError> {
    let Logged {
        leaf,
        entry,
        stamp,
        log_index,
    } = logged;
    let bundle = Bundle {
        media_type: BUNDLE_V03.into(),
        verification_material: VerificationMaterial {
            public_key: None,
            certificate: Some(X509Certificate {
                raw_bytes: Base64::encode_string(leaf.der()),
            }),
            x509_certificate_chain: None,
            tlog_entries: vec![entry],
            timestamp_verification_data: stamp.map(timestamps),
        },
        message_signature: content.message_signature,
        dsse_envelope: content.dsse_envelope,
    };
    let bytes = bundle.to_bytes();
    let reread = Bundle::parse(&bytes).map_err(|e| KeylessError::not_verified("the bundle", e))?;
    let policy = token_identity(token, &leaf)?;
    verify::verify(
        &reread,
        subject,
        verify::Signer::Identity(&policy),
        root,
        verify::Options::default(),
    )
    .map_err(|e| KeylessError::not_verified("the signed bundle", e))?;
    Ok(KeylessSignature {
        bundle: bytes,
        signature,
        identity: leaf.identity,
        log_index,
    })
}

/// An ephemeral P-256 key and Fulcio's certificate for it, the certificate checked (see
/// [`check_certificate`]) before the key signs anything but the proof of possession.
pub(crate) async fn certify(
    token: &IdentityToken,
    services: &Services,
    root: &TrustedRoot,
    client: &ServiceClient,
) -> Result<(SigningKey, certificate::Leaf), KeylessError> {
    let (key, leaf, _) = certify_chain(token, services, root, client).await?;
    Ok((key, leaf))
}

/// [`certify`], with the chain that verified the leaf (leaf first, then the issuing
/// authority's certificates from the trusted root), which a legacy layer carries.
pub(crate) async fn certify_chain(
    token: &IdentityToken,
    services: &Services,
    root: &TrustedRoot,
    client: &ServiceClient,
) -> Result<(SigningKey, certificate::Leaf, Vec<Vec<u8>>), KeylessError> {
    let key = SigningKey::generate(Algorithm::EcdsaP256)?;
    let public = key.public_key();
    let proof = key.sign(token.claims.subject.as_bytes())?;
    let fulcio = services.fulcio.as_deref().ok_or(KeylessError::ServiceUrl {
        service: "Fulcio",
        why: "none is named, and keyless signing needs one".into(),
    })?;
    let url = format!("{fulcio}/api/v2/signingCert");
    let body = wire::fulcio_request(token.raw(), &public.to_pem(), &proof);
    let answer = post(
        client,
        "Fulcio",
        &url,
        "application/json",
        body,
        Some(token.raw()),
    )
    .await?;
    let chain = wire::fulcio_chain(&answer)?;
    let now = SystemTime::now();
    let leaf = check_certificate(&chain, &public.spki_der(), &token.claims, root, now)?;
    // The rest of the chain as the trusted root has it for the authority that issued the
    // leaf, never as Fulcio sent it: a legacy layer carries it, and what Fulcio sent after
    // the leaf was not what verified it.
    let issued = certificate::verify_chain(&leaf, root, now)
        .map_err(|e| KeylessError::not_verified("Fulcio", e))?;
    let authority = root
        .certificate_authorities
        .get(issued.authority)
        .ok_or_else(|| KeylessError::not_verified("Fulcio", "no issuing authority"))?;
    let verified = std::iter::once(leaf.der().to_vec())
        .chain(authority.chain.iter().cloned())
        .collect();
    Ok((key, leaf, verified))
}

/// The identity the token names that the certificate certifies, for the final check of a
/// bundle: the token's, never the certificate's own (which would make the check circular).
pub(crate) fn token_identity(
    token: &IdentityToken,
    leaf: &certificate::Leaf,
) -> Result<IdentityPolicy, KeylessError> {
    let identity = token
        .claims
        .expected_subjects()
        .into_iter()
        .find(|s| *s == leaf.identity.subject)
        .ok_or_else(|| KeylessError::not_verified("Fulcio", "the certificate's subject"))?;
    Ok(IdentityPolicy::new(
        Matcher::Exact(identity),
        Matcher::Exact(token.claims.issuer.clone()),
    ))
}

/// The bundle's timestamps: the one RFC 3161 token.
fn timestamps(stamp: Vec<u8>) -> TimestampVerificationData {
    TimestampVerificationData {
        rfc3161_timestamps: vec![Rfc3161Timestamp {
            signed_timestamp: Base64::encode_string(&stamp),
        }],
    }
}

/// The signature timestamped (RFC 3161) and logged in Rekor (v2, or v1 through
/// [`rekor_v1::log_v1`]), each answer verified: the token over the signature, inside the
/// certificate's validity when there is one, and the entry with its inclusion proof and
/// checkpoint (and with Rekor v1 its SET). The token (none with Rekor v1 and no timestamp
/// authority), the entry and its index.
#[allow(clippy::too_many_arguments)]
async fn stamp_and_log(
    signed: tlog::Signed<'_>,
    signature: &[u8],
    verifier: tlog::Verifier<'_>,
    leaf: Option<&certificate::Leaf>,
    services: &Services,
    root: &TrustedRoot,
    client: &ServiceClient,
    secret: Option<&str>,
) -> Result<(Option<Vec<u8>>, crate::bundle::TlogEntry, i64), KeylessError> {
    const TSA: &str = "the timestamp authority";
    // Rekor v2 gives no time, so the timestamp is what dates the signature; Rekor v1's SET
    // does, and a timestamp authority is then asked only when one is named (as cosign does).
    let Some(tsa) = services.tsa.as_deref() else {
        if services.rekor_version != 1 {
            return Err(KeylessError::SigningConfig(
                "Rekor v2 needs a timestamp authority".into(),
            ));
        }
        let (entry, log_index) =
            log_v1_dated(&signed, verifier, leaf, services, root, client, secret).await?;
        return Ok((None, entry, log_index));
    };
    let mut random = [0u8; 8];
    getrandom::fill(&mut random).map_err(KeyError::Random)?;
    let nonce = wire::request_nonce(random);
    let signature_sha256: [u8; 32] = {
        use sha2::Digest as _;
        sha2::Sha256::digest(signature).into()
    };
    let request = wire::timestamp_request(&signature_sha256, nonce);
    let stamp = post(
        client,
        TSA,
        tsa,
        "application/timestamp-query",
        request,
        secret,
    )
    .await?;
    // The nonce we sent must come back: a token made for an earlier request of the same
    // signature (deterministic ECDSA signs a blob the same way twice) is not this answer.
    let stamped = timestamp::verify_with_nonce(&stamp, signature, root, &nonce)
        .map_err(|e| KeylessError::not_verified(TSA, e))?;
    if leaf.is_some_and(|l| !l.valid_at(stamped.time)) {
        return Err(KeylessError::not_verified(
            TSA,
            "its time lies outside the certificate's validity",
        ));
    }
    if services.rekor_version == 1 {
        let (entry, log_index) =
            log_v1_dated(&signed, verifier, leaf, services, root, client, secret).await?;
        return Ok((Some(stamp), entry, log_index));
    }
    // Rekor v2 takes a DSSE envelope as a hashedrekord 0.0.2 of its PAE's SHA-256, not as a
    // dsse 0.0.2 entry: the Rekor v2 specification was revised so (sigstore/architecture-docs
    // #63), sigstore-go, sigstore-python and sigstore-rust followed, and the public log
    // refuses dsseRequestV002. Not to be "fixed" back to the issue's dsse 0.0.2.
    let logged_sha256: [u8; 32] = match &signed {
        tlog::Signed::Message { sha256, .. } => *sha256,
        tlog::Signed::Dsse { envelope } => {
            use sha2::Digest as _;
            let payload = envelope
                .payload_bytes()
                .map_err(|e| KeylessError::not_verified("the envelope", e))?;
            sha2::Sha256::digest(crate::bundle::dsse::pae(&envelope.payload_type, &payload)).into()
        }
    };
    let url = format!("{}/api/v2/log/entries", services.rekor);
    let body = wire::rekor_request(&logged_sha256, signature, &verifier);
    let answer = post(client, "Rekor", &url, "application/json", body, secret)
        .await
        .map_err(already_logged)?;
    let entry = wire::rekor_entry(&answer)?;
    let logged = tlog::verify_entry(&entry, &signed, &verifier, root, 3)
        .map_err(|e| KeylessError::not_verified("Rekor", e))?;
    Ok((Some(stamp), entry, logged.log_index))
}

/// Rekor v2's 409 (rekor-tiles: "an equivalent entry already exists in the transparency
/// log with index N") as [`KeylessError::AlreadyLogged`]; any other failure as it is.
fn already_logged(e: KeylessError) -> KeylessError {
    match e {
        KeylessError::Status {
            service: "Rekor",
            status: 409,
            text,
            ..
        } => KeylessError::AlreadyLogged {
            index: text.split_once("with index ").and_then(|(_, n)| {
                let digits: String = n.chars().take_while(char::is_ascii_digit).collect();
                digits.parse().ok()
            }),
        },
        e => e,
    }
}

/// A message signature or DSSE envelope logged in Rekor v1, its SET's time inside the certificate's validity.
#[allow(clippy::too_many_arguments)]
async fn log_v1_dated(
    signed: &tlog::Signed<'_>,
    verifier: tlog::Verifier<'_>,
    leaf: Option<&certificate::Leaf>,
    services: &Services,
    root: &TrustedRoot,
    client: &ServiceClient,
    secret: Option<&str>,
) -> Result<(crate::bundle::TlogEntry, i64), KeylessError> {
    let logged = rekor_v1::log_v1(signed, verifier, &services.rekor, root, client, secret).await?;
    if leaf.is_some_and(|l| !l.valid_at(logged.integrated_time)) {
        return Err(KeylessError::not_verified(
            "Rekor",
            "its integrated time lies outside the certificate's validity",
        ));
    }
    Ok((logged.entry, logged.log_index))
}

/// A key-based bundle (as [`crate::blob::sign`] makes, or a DSSE bundle of a statement about
/// the artifact whose SHA-256 is `sha256`) whose signature is also timestamped and logged in
/// Rekor (cosign's `--tlog-upload`), so that verifiers keep their default log checks;
/// verified whole against `root` and the key before it is returned.
pub async fn log_key_signature(
    bundle: &[u8],
    sha256: &[u8; 32],
    key: &crate::keys::PublicKey,
    services: &Services,
    root: &TrustedRoot,
    client: &ServiceClient,
) -> Result<Vec<u8>, KeylessError> {
    let mut parsed =
        Bundle::parse(bundle).map_err(|e| KeylessError::not_verified("the bundle", e))?;
    let signature = match parsed
        .content()
        .map_err(|e| KeylessError::not_verified("the bundle", e))?
    {
        crate::bundle::Content::Message { signature, .. } => signature,
        crate::bundle::Content::Dsse(envelope) => {
            let [signature] = envelope.signature_bytes().try_into().map_err(|_| {
                KeylessError::not_verified("the bundle", "not one signature in the envelope")
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
        tlog::Verifier::Key(&spki),
        None,
        services,
        root,
        client,
        None,
    )
    .await?;
    parsed.verification_material.tlog_entries = vec![entry];
    if let Some(stamp) = stamp {
        parsed.verification_material.timestamp_verification_data = Some(timestamps(stamp));
    }
    let bytes = parsed.to_bytes();
    let reread = Bundle::parse(&bytes).map_err(|e| KeylessError::not_verified("the bundle", e))?;
    verify::verify(
        &reread,
        sha256,
        verify::Signer::Keys(std::slice::from_ref(key)),
        root,
        verify::Options::default(),
    )
    .map_err(|e| KeylessError::not_verified("the logged bundle", e))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the user gave is exit 2, nothing having been sent; what a service did is exit 3.
    #[test]
    fn token_and_config_faults_are_usage_service_faults_unavailability() {
        for e in [
            KeylessError::TokenExpired { at: "then".into() },
            KeylessError::TokenAudience("api".into(), "sigstore".into()),
            KeylessError::TokenMalformed("x".into()),
            KeylessError::SigningConfig("x".into()),
            KeylessError::ServiceUrl {
                service: "Fulcio",
                why: "plain HTTP".into(),
            },
            KeylessError::KeyNotLoggable("x".into()),
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
            KeylessError::Status {
                service: "Fulcio",
                url: "u".into(),
                status: 307,
                text: "a redirect".into(),
            },
            KeylessError::AlreadyLogged { index: Some(7) },
        ] {
            assert_eq!(e.class(), ErrorClass::Unavailable, "{e}");
        }
    }

    /// Rekor v2's 409 says what happened and what to do, with the entry's index when
    /// given; another status, or another service's 409, stays as it was.
    #[test]
    fn rekor_v2_conflict_is_already_logged() {
        let status = |service, status, text: &str| KeylessError::Status {
            service,
            url: "http://rekor/api/v2/log/entries".into(),
            status,
            text: text.into(),
        };
        let held = r#"{"code":6,"message":"an equivalent entry already exists in the transparency log with index 41"}"#;
        let e = already_logged(status("Rekor", 409, held));
        assert!(
            matches!(e, KeylessError::AlreadyLogged { index: Some(41) }),
            "{e:?}"
        );
        let line = e.to_string();
        assert!(
            line.contains("already holds this exact signature (entry 41)"),
            "{line}"
        );
        assert!(line.contains("ECDSA P-256"), "{line}");
        assert!(!line.contains('\n'));
        assert!(matches!(
            already_logged(status("Rekor", 409, "conflict")),
            KeylessError::AlreadyLogged { index: None }
        ));
        for other in [status("Rekor", 500, held), status("Fulcio", 409, held)] {
            assert!(matches!(already_logged(other), KeylessError::Status { .. }));
        }
    }

    mod fulcio_answer {
        use super::*;
        use crate::sigstore::certificate::fixtures::{
            CODE_SIGNING, START, at, eku, ext, key, key_usage, pki, san_email, san_uri, sans, sign,
            spki, tbs, utf8,
        };

        const ISSUER: &str = "https://issuer.example";

        fn claims(email: &str) -> TokenClaims {
            TokenClaims {
                issuer: ISSUER.into(),
                subject: email.into(),
                audience: vec!["sigstore".into()],
                expires: at(START + 600),
                email: Some(email.into()),
                sub: Some("123".into()),
                job_workflow_ref: None,
                ci_config_ref_uri: None,
                federated_issuer: None,
            }
        }

        fn issuer_ext() -> Vec<u8> {
            ext("1.3.6.1.4.1.57264.1.8", false, &utf8(ISSUER))
        }

        fn refusal(r: Result<certificate::Leaf, KeylessError>) -> String {
            match r {
                Err(
                    e @ KeylessError::NotVerified {
                        service: "Fulcio", ..
                    },
                ) => {
                    assert_eq!(e.class(), ErrorClass::Unavailable);
                    e.to_string()
                }
                other => panic!("not refused: {other:?}"),
            }
        }

        #[test]
        fn a_certificate_for_our_key_and_identity_is_taken() {
            let p = pki(san_email("who@example.com"), &[issuer_ext()], &[]);
            let now = at(START + 10);
            let ours = spki(&p.leaf_key);
            let leaf = check_certificate(
                std::slice::from_ref(&p.leaf),
                &ours,
                &claims("who@example.com"),
                &p.root,
                now,
            )
            .unwrap();
            assert_eq!(leaf.identity.subject, "who@example.com");

            let why = refusal(check_certificate(
                std::slice::from_ref(&p.leaf),
                &spki(&key(9)),
                &claims("who@example.com"),
                &p.root,
                now,
            ));
            assert!(why.contains("another key"), "{why}");

            let why = refusal(check_certificate(
                std::slice::from_ref(&p.leaf),
                &ours,
                &claims("someone@example.com"),
                &p.root,
                now,
            ));
            assert!(
                why.contains("the certificate is for \"who@example.com\""),
                "{why}"
            );

            let mut other_issuer = claims("who@example.com");
            other_issuer.issuer = "https://other.example".into();
            let why = refusal(check_certificate(
                std::slice::from_ref(&p.leaf),
                &ours,
                &other_issuer,
                &p.root,
                now,
            ));
            assert!(why.contains("names issuer"), "{why}");
            other_issuer.federated_issuer = Some("https://github.com/login/oauth".into());
            let why = refusal(check_certificate(
                std::slice::from_ref(&p.leaf),
                &ours,
                &other_issuer,
                &p.root,
                now,
            ));
            assert!(why.contains("federating issuer"), "{why}");

            // Outside the chain's validity, and with nothing at all.
            assert!(
                check_certificate(
                    std::slice::from_ref(&p.leaf),
                    &ours,
                    &claims("who@example.com"),
                    &p.root,
                    at(START + 100_000),
                )
                .is_err()
            );
            refusal(check_certificate(
                &[],
                &ours,
                &claims("who@example.com"),
                &p.root,
                now,
            ));
        }

        #[test]
        fn a_certificate_without_an_sct_is_refused() {
            let p = pki(san_email("who@example.com"), &[issuer_ext()], &[]);
            let exts = vec![
                key_usage(true),
                eku(CODE_SIGNING),
                sans(&[san_email("who@example.com")]),
                issuer_ext(),
            ];
            let valid = (at(START), at(START + 600));
            let bare = sign(&tbs("test-ca", "", &p.leaf_key, valid, &exts), &p.ca_key);
            let why = refusal(check_certificate(
                &[bare],
                &spki(&p.leaf_key),
                &claims("who@example.com"),
                &p.root,
                at(START + 10),
            ));
            assert!(why.contains("signed certificate timestamp"), "{why}");
        }

        #[test]
        fn a_workflow_certificate_names_the_workflow() {
            let workflow = "o/r/.github/workflows/release.yml@refs/heads/main";
            let uri = format!("https://github.com/{workflow}");
            let p = pki(san_uri(&uri), &[issuer_ext()], &[]);
            let mut c = claims("x");
            c.email = None;
            c.sub = Some("repo:o/r:ref:refs/heads/main".into());
            c.subject = "repo:o/r:ref:refs/heads/main".into();
            c.job_workflow_ref = Some(workflow.into());
            assert!(
                check_certificate(
                    std::slice::from_ref(&p.leaf),
                    &spki(&p.leaf_key),
                    &c,
                    &p.root,
                    at(START + 10)
                )
                .is_ok()
            );
            c.job_workflow_ref = Some("o/r/.github/workflows/other.yml@refs/heads/main".into());
            refusal(check_certificate(
                std::slice::from_ref(&p.leaf),
                &spki(&p.leaf_key),
                &c,
                &p.root,
                at(START + 10),
            ));
        }
    }
}
