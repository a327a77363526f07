//! The two certificate primitives every keyless check shares: path validation to anchors at a
//! given instant for a given extended key usage (rustls-webpki), and a signature check by a
//! DER SubjectPublicKeyInfo of any algorithm Sigstore uses (ECDSA P-256/P-384, Ed25519,
//! RSA PKCS#1 v1.5).

use std::time::{SystemTime, UNIX_EPOCH};

use rustls_pki_types::{CertificateDer, SignatureVerificationAlgorithm, TrustAnchor, UnixTime};
use webpki::{EndEntityCert, KeyUsage};

/// `id-kp-codeSigning` (1.3.6.1.5.5.7.3.3), DER contents.
pub(crate) const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];
/// `id-kp-timeStamping` (1.3.6.1.5.5.7.3.8), DER contents.
pub(crate) const EKU_TIME_STAMPING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08];

/// Why a path did not validate.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The certificate does not parse.
    #[error("the certificate does not parse: {0}")]
    Malformed(String),
    /// No path to the anchors at that time, or a wrong usage; webpki's reason.
    #[error("{0}")]
    Invalid(String),
}

/// A validated path: the DER SubjectPublicKeyInfo of the certificate that issued the leaf
/// (an intermediate, or the anchor itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path {
    /// The issuer's SPKI, DER (with its outer SEQUENCE).
    pub issuer_spki: Vec<u8>,
}

/// Validates `leaf` to one of `anchors` through `intermediates` at instant `at`, requiring
/// the extended key usage `eku` (one of the `EKU_*` constants). Every anchor is trusted as it
/// is: a trusted root's intermediates are anchors too, so a path may end at one.
pub fn validate(
    leaf: &[u8],
    intermediates: &[Vec<u8>],
    anchors: &[Vec<u8>],
    at: SystemTime,
    eku: &'static [u8],
) -> Result<Path, PathError> {
    let leaf_der = CertificateDer::from(leaf);
    let ee = EndEntityCert::try_from(&leaf_der).map_err(|e| PathError::Malformed(e.to_string()))?;
    let anchor_ders: Vec<CertificateDer<'_>> = anchors
        .iter()
        .map(|a| CertificateDer::from(a.as_slice()))
        .collect();
    let anchors: Vec<TrustAnchor<'_>> = anchor_ders
        .iter()
        .filter_map(|a| webpki::anchor_from_trusted_cert(a).ok())
        .collect();
    let intermediates: Vec<CertificateDer<'_>> = intermediates
        .iter()
        .map(|c| CertificateDer::from(c.as_slice()))
        .collect();
    let secs = at
        .duration_since(UNIX_EPOCH)
        .map_err(|_| PathError::Invalid("the time is before 1970".into()))?;
    let path = ee
        .verify_for_usage(
            webpki::ALL_VERIFICATION_ALGS,
            &anchors,
            &intermediates,
            UnixTime::since_unix_epoch(secs),
            KeyUsage::required(eku),
            None,
            None,
        )
        .map_err(|e| PathError::Invalid(webpki_reason(&e)))?;
    let issuer_spki = match path.intermediate_certificates().next() {
        Some(issuer) => spki_of(issuer.der().as_ref())?,
        None => wrap_sequence(path.anchor().subject_public_key_info.as_ref()),
    };
    Ok(Path { issuer_spki })
}

fn webpki_reason(e: &webpki::Error) -> String {
    match e {
        webpki::Error::CertExpired { .. } => "the certificate had expired at that time".into(),
        webpki::Error::CertNotValidYet { .. } => {
            "the certificate was not yet valid at that time".into()
        }
        webpki::Error::UnknownIssuer => {
            "it does not chain to a trusted certificate authority".into()
        }
        webpki::Error::RequiredEkuNotFoundContext(_) => {
            "the certificate is not for this usage (extended key usage)".into()
        }
        webpki::Error::InvalidSignatureForPublicKey => {
            "a signature in the chain does not verify".into()
        }
        other => format!("the chain does not validate ({other:?})"),
    }
}

/// The SubjectPublicKeyInfo of a DER certificate, DER.
pub(crate) fn spki_of(cert: &[u8]) -> Result<Vec<u8>, PathError> {
    use der::{Decode, Encode};
    let c =
        x509_cert::Certificate::from_der(cert).map_err(|e| PathError::Malformed(e.to_string()))?;
    c.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| PathError::Malformed(e.to_string()))
}

fn wrap_sequence(contents: &[u8]) -> Vec<u8> {
    let mut out = vec![0x30];
    let n = contents.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let bytes: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend(bytes);
    }
    out.extend_from_slice(contents);
    out
}

/// The hash a signature was made over the message with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// Whether `signature` is a valid signature of `message` (not prehashed) under the key
/// `spki` (DER SubjectPublicKeyInfo), with hash `hash` for ECDSA and RSA (Ed25519 ignores
/// it). ECDSA signatures are ASN.1 DER, as every Sigstore service writes them.
pub(crate) fn verify_signature(spki: &[u8], hash: Hash, message: &[u8], signature: &[u8]) -> bool {
    use der::Decode;
    let Ok(info) = spki::SubjectPublicKeyInfoRef::from_der(spki) else {
        return false;
    };
    let key = info.subject_public_key.raw_bytes();
    let oid = info.algorithm.oid;
    let curve = info
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
    const EC: der::asn1::ObjectIdentifier = const_oid::db::rfc5912::ID_EC_PUBLIC_KEY;
    const P256: der::asn1::ObjectIdentifier = const_oid::db::rfc5912::SECP_256_R_1;
    const P384: der::asn1::ObjectIdentifier = const_oid::db::rfc5912::SECP_384_R_1;
    const RSA: der::asn1::ObjectIdentifier = const_oid::db::rfc5912::RSA_ENCRYPTION;
    const ED25519: der::asn1::ObjectIdentifier = const_oid::db::rfc8410::ID_ED_25519;
    use webpki::ring as algs;
    let alg: &dyn SignatureVerificationAlgorithm = match (oid, curve, hash) {
        (EC, Some(P256), Hash::Sha256) => algs::ECDSA_P256_SHA256,
        (EC, Some(P256), Hash::Sha384) => algs::ECDSA_P256_SHA384,
        (EC, Some(P384), Hash::Sha256) => algs::ECDSA_P384_SHA256,
        (EC, Some(P384), Hash::Sha384) => algs::ECDSA_P384_SHA384,
        (RSA, _, Hash::Sha256) => algs::RSA_PKCS1_2048_8192_SHA256,
        (RSA, _, Hash::Sha384) => algs::RSA_PKCS1_2048_8192_SHA384,
        (RSA, _, Hash::Sha512) => algs::RSA_PKCS1_2048_8192_SHA512,
        (ED25519, _, _) => algs::ED25519,
        _ => return false,
    };
    // The bit string holds what ring takes: the EC point, the RSAPublicKey, the Ed25519 key.
    alg.verify_signature(key, message, signature).is_ok()
}
