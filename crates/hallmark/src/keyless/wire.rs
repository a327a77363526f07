//! What is sent to Fulcio, Rekor v2 and the timestamp authority, and what their answers are
//! read into. Pure: no request is made here, and nothing read here is trusted until the
//! `sigstore` verifiers have checked it.

use base64ct::{Base64, Encoding};
use serde::Deserialize;

use super::KeylessError;
use crate::bundle::TlogEntry;
use crate::sigstore::tlog::Verifier;

/// Most certificates read from Fulcio's chain.
const MAX_CHAIN: usize = 8;

/// `POST /api/v2/signingCert`: the token, the ephemeral public key (PEM) and the proof of
/// possession (its signature over the token's subject).
pub fn fulcio_request(token: &str, public_key_pem: &str, proof: &[u8]) -> Vec<u8> {
    serde_json::json!({
        "credentials": { "oidcIdentityToken": token },
        "publicKeyRequest": {
            "publicKey": { "algorithm": "ECDSA", "content": public_key_pem },
            "proofOfPossession": Base64::encode_string(proof),
        },
    })
    .to_string()
    .into_bytes()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct FulcioResponse {
    #[serde(default)]
    signed_certificate_embedded_sct: Option<FulcioChain>,
    #[serde(default)]
    signed_certificate_detached_sct: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct FulcioChain {
    chain: PemChain,
}

#[derive(Deserialize)]
struct PemChain {
    certificates: Vec<String>,
}

/// The chain Fulcio returned, DER, leaf first. Only certificates with their SCTs embedded
/// are taken: a detached SCT has no place in a v0.3 bundle.
pub fn fulcio_chain(body: &[u8]) -> Result<Vec<Vec<u8>>, KeylessError> {
    let bad = |why: &str| KeylessError::Garbage {
        service: "Fulcio",
        why: why.to_string(),
    };
    let r: FulcioResponse =
        serde_json::from_slice(body).map_err(|_| bad("its answer is not a signing certificate"))?;
    let chain = match (
        r.signed_certificate_embedded_sct,
        r.signed_certificate_detached_sct,
    ) {
        (Some(c), _) => c.chain.certificates,
        (None, Some(_)) => return Err(bad("the certificate's SCT is detached, not embedded")),
        (None, None) => return Err(bad("its answer holds no certificate")),
    };
    if chain.is_empty() || chain.len() > MAX_CHAIN {
        return Err(bad("its chain is empty or too long"));
    }
    chain
        .iter()
        .map(|pem| pem_certificate(pem).ok_or_else(|| bad("a certificate is not PEM")))
        .collect()
}

/// The one `CERTIFICATE` block of `pem`, DER.
fn pem_certificate(pem: &str) -> Option<Vec<u8>> {
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN CERTIFICATE-----")?
        .strip_suffix("-----END CERTIFICATE-----")?;
    let joined: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    Base64::decode_vec(&joined).ok()
}

/// `POST /api/v2/log/entries`: a hashedrekord 0.0.2 entry for `signature` over the artifact
/// whose SHA-256 is `sha256`, by `verifier` (ECDSA P-256).
pub fn rekor_request(sha256: &[u8; 32], signature: &[u8], verifier: &Verifier<'_>) -> Vec<u8> {
    let verifier = match verifier {
        Verifier::Certificate(der) => serde_json::json!({
            "x509Certificate": { "rawBytes": Base64::encode_string(der) },
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
        }),
        Verifier::Key(spki) => serde_json::json!({
            "publicKey": { "rawBytes": Base64::encode_string(spki) },
            "keyDetails": "PKIX_ECDSA_P256_SHA_256",
        }),
    };
    serde_json::json!({
        "hashedRekordRequestV002": {
            "digest": Base64::encode_string(sha256),
            "signature": {
                "content": Base64::encode_string(signature),
                "verifier": verifier,
            },
        }
    })
    .to_string()
    .into_bytes()
}

/// Rekor v2's answer: a `TransparencyLogEntry`, exactly the bundle's `tlogEntries[]` form.
pub fn rekor_entry(body: &[u8]) -> Result<TlogEntry, KeylessError> {
    serde_json::from_slice(body).map_err(|e| KeylessError::Garbage {
        service: "Rekor",
        why: format!("its answer is not a log entry: {e}"),
    })
}

/// Eight random bytes made a positive, minimal DER INTEGER's content (a first byte in
/// 1..=0x7f): sent as the request's nonce, and compared as they are with the token's.
pub fn request_nonce(random: [u8; 8]) -> [u8; 8] {
    let mut nonce = random;
    nonce[0] = (nonce[0] & 0x7f) | 0x01;
    nonce
}

/// An RFC 3161 `TimeStampReq` (DER) for the SHA-256 of `signature`, asking for the
/// authority's certificate, with `nonce` (eight bytes, through [`request_nonce`] here).
pub fn timestamp_request(signature_sha256: &[u8; 32], nonce: [u8; 8]) -> Vec<u8> {
    crate::sigstore::timestamp::request(signature_sha256, &request_nonce(nonce))
        .expect("a TimeStampReq of a 32-byte imprint and a minimal 8-byte nonce encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timestamp_request_is_der() {
        use der::{Decode, Tagged};
        let req = timestamp_request(&[7; 32], [0xff; 8]);
        // Parses as a SEQUENCE of exactly its length, with the imprint inside.
        let any = der::asn1::AnyRef::from_der(&req).unwrap();
        assert_eq!(any.tag(), der::Tag::Sequence);
        assert_eq!(req.len(), 2 + 67);
        assert!(req.windows(32).any(|w| w == [7; 32]));
        // version 1, then the imprint with sha256 and NULL parameters, the nonce made
        // positive, and certReq TRUE last.
        assert_eq!(&req[2..5], &[0x02, 0x01, 0x01]);
        assert_eq!(
            &req[5..22],
            &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00
            ]
        );
        assert_eq!(
            &req[56..66],
            &[0x02, 0x08, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(&req[66..], &[0x01, 0x01, 0xff]);
    }

    #[test]
    fn only_embedded_scts_are_taken() {
        let pem = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";
        let body =
            serde_json::json!({"signedCertificateEmbeddedSct": {"chain": {"certificates": [pem]}}});
        assert_eq!(
            fulcio_chain(body.to_string().as_bytes()).unwrap(),
            vec![vec![1, 2, 3]]
        );
        let detached = serde_json::json!({"signedCertificateDetachedSct": {}});
        assert!(fulcio_chain(detached.to_string().as_bytes()).is_err());
        assert!(fulcio_chain(b"<html>").is_err());
    }
}
