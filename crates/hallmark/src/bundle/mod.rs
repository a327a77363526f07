//! Sigstore bundles: the one codec for bundle JSON (read v0.1–v0.3, write v0.3), DSSE
//! envelopes ([`dsse`]) and in-toto statements ([`intoto`]). Data only; whether a bundle
//! counts is decided in `verify`.
//!
//! Key-based bundles are what hallmark checks: the signer's public key is given by the
//! verifier, `verificationMaterial.publicKey.hint` only names it. Certificates and
//! transparency-log entries cannot be checked offline; a bundle that carries them says so
//! instead of being silently accepted or refused for the wrong reason.

pub mod dsse;
pub mod intoto;
pub mod legacy;

use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};

use crate::class::ErrorClass;

/// Bundle v0.3, the version written.
pub const BUNDLE_V03: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Media types of bundles read, oldest first.
pub(crate) const BUNDLE_MEDIA_TYPES: [&str; 4] = [
    "application/vnd.dev.sigstore.bundle+json;version=0.1",
    "application/vnd.dev.sigstore.bundle+json;version=0.2",
    "application/vnd.dev.sigstore.bundle+json;version=0.3",
    BUNDLE_V03,
];
/// Largest bundle read: real ones are a few kilobytes, certificates and proofs included.
pub const MAX_BUNDLE_BYTES: u64 = 1024 * 1024;

/// A bundle that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Not bundle JSON.
    #[error("not a Sigstore bundle: {0}")]
    Json(#[source] serde_json::Error),
    /// A media type that is no bundle version hallmark reads.
    #[error("unknown bundle media type {0:?}")]
    MediaType(String),
    /// Neither a message signature nor a DSSE envelope, or both.
    #[error("a bundle holds exactly one of messageSignature and dsseEnvelope")]
    Content,
    /// A base64 field that is not base64.
    #[error("bundle field {0} is not base64")]
    Base64(&'static str),
    /// Larger than any real bundle.
    #[error("bundle larger than {MAX_BUNDLE_BYTES} bytes")]
    TooLarge,
    /// `x509CertificateChain` without a certificate.
    #[error("the bundle's certificate chain is empty")]
    EmptyChain,
    /// Both `certificate` and `x509CertificateChain`, or a key and a certificate.
    #[error("a bundle holds one of publicKey, certificate and x509CertificateChain")]
    Material,
}

impl BundleError {
    /// A bundle that cannot be read is bad input (a file given) or a rejected candidate
    /// (one found in a registry, judged in `verify`).
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Json(_)
            | Self::MediaType(_)
            | Self::Content
            | Self::Base64(_)
            | Self::TooLarge
            | Self::EmptyChain
            | Self::Material => ErrorClass::Usage,
        }
    }
}

/// A Sigstore bundle, as serialised (protobuf JSON: camelCase, bytes in base64).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bundle {
    /// One of `BUNDLE_MEDIA_TYPES`.
    pub media_type: String,
    /// How to find the signer's key, and evidence hallmark does not check offline.
    pub verification_material: VerificationMaterial,
    /// A signature over an artifact's bytes (blobs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_signature: Option<MessageSignature>,
    /// A signature over a DSSE envelope's payload (statements).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dsse_envelope: Option<dsse::Envelope>,
}

/// `verificationMaterial`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationMaterial {
    /// Names the key the verifier must supply (key-based bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyHint>,
    /// The signing certificate (keyless, v0.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<X509Certificate>,
    /// The signing certificate and its chain, leaf first (keyless, v0.1/v0.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x509_certificate_chain: Option<CertificateChain>,
    /// Transparency-log entries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tlog_entries: Vec<TlogEntry>,
    /// RFC 3161 timestamps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_verification_data: Option<TimestampVerificationData>,
}

/// An X.509 certificate, DER in base64.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct X509Certificate {
    /// Base64 DER.
    #[serde(default)]
    pub raw_bytes: String,
}

/// `x509CertificateChain`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateChain {
    /// Leaf first.
    #[serde(default)]
    pub certificates: Vec<X509Certificate>,
}

/// `timestampVerificationData`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimestampVerificationData {
    /// RFC 3161 timestamps of the signature.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rfc3161_timestamps: Vec<Rfc3161Timestamp>,
}

/// One RFC 3161 timestamp.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rfc3161Timestamp {
    /// Base64 DER: a TimeStampResp or a bare TimeStampToken.
    #[serde(default)]
    pub signed_timestamp: String,
}

/// A transparency-log entry (`TransparencyLogEntry`). int64 fields are written as strings
/// in protobuf JSON; numbers are read too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlogEntry {
    /// The entry's global index in the log (what the SET signs).
    #[serde(default, with = "int64")]
    pub log_index: i64,
    /// Which log.
    pub log_id: LogId,
    /// The entry's kind and version, e.g. `hashedrekord` `0.0.1`.
    pub kind_version: KindVersion,
    /// When Rekor v1 integrated the entry (seconds since 1970); trusted only under a SET.
    #[serde(default, with = "int64")]
    pub integrated_time: i64,
    /// Rekor v1's signed promise of inclusion (SET).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_promise: Option<InclusionPromise>,
    /// A Merkle inclusion proof with its signed checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inclusion_proof: Option<InclusionProof>,
    /// Base64 of the entry body exactly as logged.
    #[serde(default)]
    pub canonicalized_body: String,
}

/// `logId`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogId {
    /// Base64 key id (SHA-256 of the log key's SPKI DER).
    #[serde(default)]
    pub key_id: String,
}

/// `kindVersion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KindVersion {
    /// `hashedrekord`, `dsse`, `intoto`, …
    #[serde(default)]
    pub kind: String,
    /// `0.0.1`, …
    #[serde(default)]
    pub version: String,
}

/// `inclusionPromise`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionPromise {
    /// Base64 signature of the log over the entry (SET).
    #[serde(default)]
    pub signed_entry_timestamp: String,
}

/// `inclusionProof`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InclusionProof {
    /// The entry's index in the tree the proof is for (not the global index).
    #[serde(default, with = "int64")]
    pub log_index: i64,
    /// Base64 root hash.
    #[serde(default)]
    pub root_hash: String,
    /// The tree's size.
    #[serde(default, with = "int64")]
    pub tree_size: i64,
    /// Base64 sibling hashes, leaf to root.
    #[serde(default)]
    pub hashes: Vec<String>,
    /// The signed checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<Checkpoint>,
}

/// `checkpoint`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The signed note, as text.
    #[serde(default)]
    pub envelope: String,
}

/// Base64 as Go's and Python's decoders read it: line breaks skipped, and stray low bits in
/// the last character (which encode nothing) ignored. The conformance suite holds a
/// timestamp written by `base64` with line breaks; other clients read it.
fn decode_lenient(text: &str) -> Option<Vec<u8>> {
    let joined: String = text.chars().filter(|c| *c != '\n' && *c != '\r').collect();
    let text = joined.as_str();
    if let Ok(bytes) = Base64::decode_vec(text) {
        return Some(bytes);
    }
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let body = text.trim_end_matches('=');
    let padding = text.len() - body.len();
    let last = *body.as_bytes().last()?;
    let value = ALPHABET.iter().position(|c| *c == last)?;
    // One '=' leaves 2 unused bits in the last character, two leave 4.
    let mask = match padding {
        1 => 0b11_1100,
        2 => 0b11_0000,
        _ => return None,
    };
    let mut fixed = body[..body.len() - 1].to_string();
    fixed.push(ALPHABET[value & mask] as char);
    fixed.push_str(&text[body.len()..]);
    Base64::decode_vec(&fixed).ok()
}

/// protobuf JSON int64: a string of digits (as written) or a number.
mod int64 {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(super) fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Text(String),
            Number(i64),
        }
        match Either::deserialize(d)? {
            Either::Number(n) => Ok(n),
            Either::Text(t) => t
                .parse()
                .map_err(|_| D::Error::custom(format!("{t:?} is not an int64"))),
        }
    }
}

/// `verificationMaterial.publicKey`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicKeyHint {
    /// Names the key (cosign: base64 SHA-256 of the key's DER); never trusted by itself.
    #[serde(default)]
    pub hint: String,
}

/// `messageSignature`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageSignature {
    /// The artifact's digest, as the signer saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_digest: Option<MessageDigest>,
    /// Base64 signature over the artifact's bytes.
    pub signature: String,
}

/// `messageSignature.messageDigest`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MessageDigest {
    /// `SHA2_256`, …
    pub algorithm: String,
    /// Base64 digest.
    pub digest: String,
}

/// A keyless bundle's certificates, DER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificates {
    /// The signing certificate.
    pub leaf: Vec<u8>,
    /// What the bundle's chain carries after it (never trusted as such).
    pub rest: Vec<Vec<u8>>,
}

/// What a bundle signs.
#[derive(Debug, Clone, PartialEq)]
pub enum Content<'a> {
    /// The artifact's bytes: the SHA-256 the bundle claims (if any) and the signature.
    Message {
        /// The claimed SHA-256 of the artifact, when the bundle records one.
        sha256: Option<Vec<u8>>,
        /// The signature over the artifact's bytes.
        signature: Vec<u8>,
    },
    /// A DSSE envelope.
    Dsse(&'a dsse::Envelope),
}

impl Bundle {
    /// Parses bundle JSON; the media type must be one hallmark reads, and no object in it
    /// (the DSSE envelope included) may repeat a key (see `crate::json`).
    pub fn parse(bytes: &[u8]) -> Result<Self, BundleError> {
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            return Err(BundleError::TooLarge);
        }
        let b: Self = crate::json::from_slice_unique(bytes).map_err(BundleError::Json)?;
        if !BUNDLE_MEDIA_TYPES.contains(&b.media_type.as_str()) {
            return Err(BundleError::MediaType(b.media_type));
        }
        if b.message_signature.is_some() == b.dsse_envelope.is_some() {
            return Err(BundleError::Content);
        }
        Ok(b)
    }

    /// A v0.3 bundle of a DSSE envelope, for the key named `hint`.
    pub fn for_envelope(envelope: dsse::Envelope, hint: &str) -> Self {
        Self {
            media_type: BUNDLE_V03.into(),
            verification_material: VerificationMaterial::key(hint),
            message_signature: None,
            dsse_envelope: Some(envelope),
        }
    }

    /// A v0.3 bundle of a signature over an artifact whose SHA-256 is `sha256`.
    pub(crate) fn for_message(sha256: &[u8], signature: &[u8], hint: &str) -> Self {
        Self {
            media_type: BUNDLE_V03.into(),
            verification_material: VerificationMaterial::key(hint),
            message_signature: Some(MessageSignature {
                message_digest: Some(MessageDigest {
                    algorithm: "SHA2_256".into(),
                    digest: Base64::encode_string(sha256),
                }),
                signature: Base64::encode_string(signature),
            }),
            dsse_envelope: None,
        }
    }

    /// The serialised bundle.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serialising a plain struct cannot fail")
    }

    /// What is signed, with its base64 decoded.
    pub fn content(&self) -> Result<Content<'_>, BundleError> {
        match (&self.message_signature, &self.dsse_envelope) {
            (Some(m), None) => {
                let sha256 = match &m.message_digest {
                    Some(d) if d.algorithm == "SHA2_256" => Some(
                        Base64::decode_vec(&d.digest)
                            .map_err(|_| BundleError::Base64("messageDigest.digest"))?,
                    ),
                    _ => None,
                };
                Ok(Content::Message {
                    sha256,
                    signature: Base64::decode_vec(&m.signature)
                        .map_err(|_| BundleError::Base64("messageSignature.signature"))?,
                })
            }
            (None, Some(e)) => Ok(Content::Dsse(e)),
            _ => Err(BundleError::Content),
        }
    }

    /// What the bundle carries that cannot be checked offline, for the report.
    pub fn unchecked(&self) -> Vec<&'static str> {
        let m = &self.verification_material;
        let mut out = Vec::new();
        if m.certificate.is_some() || m.x509_certificate_chain.is_some() {
            out.push("a signing certificate");
        }
        if !m.tlog_entries.is_empty() {
            out.push("a transparency-log entry");
        }
        if m.timestamp_verification_data.is_some() {
            out.push("RFC 3161 timestamps");
        }
        out
    }

    /// The signing certificate (DER) and the rest of the chain the bundle carries, from
    /// `certificate` (v0.3) or `x509CertificateChain` (v0.1/v0.2); `None` for key-based
    /// bundles. An empty chain or a certificate that is not base64 is an error.
    pub fn certificates(&self) -> Result<Option<Certificates>, BundleError> {
        let m = &self.verification_material;
        let decode = |c: &X509Certificate| {
            Base64::decode_vec(&c.raw_bytes)
                .ok()
                .filter(|d| !d.is_empty())
                .ok_or(BundleError::Base64(
                    "verificationMaterial certificate rawBytes",
                ))
        };
        match (&m.certificate, &m.x509_certificate_chain) {
            (Some(c), None) => Ok(Some(Certificates {
                leaf: decode(c)?,
                rest: Vec::new(),
            })),
            (None, Some(chain)) => {
                let mut all = chain
                    .certificates
                    .iter()
                    .map(decode)
                    .collect::<Result<Vec<_>, _>>()?;
                if all.is_empty() {
                    return Err(BundleError::EmptyChain);
                }
                let leaf = all.remove(0);
                Ok(Some(Certificates { leaf, rest: all }))
            }
            (None, None) => Ok(None),
            (Some(_), Some(_)) => Err(BundleError::Material),
        }
    }

    /// The bundle's version from its media type: 1, 2 or 3 (for 0.1, 0.2, 0.3).
    pub fn minor_version(&self) -> u8 {
        match BUNDLE_MEDIA_TYPES
            .iter()
            .position(|m| *m == self.media_type)
        {
            Some(0) => 1,
            Some(1) => 2,
            _ => 3,
        }
    }

    /// The RFC 3161 timestamps, DER.
    pub fn timestamps(&self) -> Result<Vec<Vec<u8>>, BundleError> {
        let Some(t) = &self.verification_material.timestamp_verification_data else {
            return Ok(Vec::new());
        };
        t.rfc3161_timestamps
            .iter()
            .map(|t| {
                decode_lenient(&t.signed_timestamp)
                    .ok_or(BundleError::Base64("rfc3161Timestamps.signedTimestamp"))
            })
            .collect()
    }
}

impl VerificationMaterial {
    fn key(hint: &str) -> Self {
        Self {
            public_key: Some(PublicKeyHint {
                hint: hint.to_string(),
            }),
            certificate: None,
            x509_certificate_chain: None,
            tlog_entries: Vec::new(),
            timestamp_verification_data: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let b = Bundle::for_message(&[1; 32], b"sig", "hint");
        let back = Bundle::parse(&b.to_bytes()).unwrap();
        assert_eq!(back, b);
        assert!(matches!(
            back.content().unwrap(),
            Content::Message { sha256: Some(d), signature } if d == vec![1; 32] && signature == b"sig"
        ));
        let text = String::from_utf8(b.to_bytes()).unwrap();
        assert!(
            text.contains(r#""verificationMaterial":{"publicKey":{"hint":"hint"}}"#),
            "{text}"
        );
        for (bad, want) in [
            (
                text.replace(BUNDLE_V03, "application/x-other"),
                "unknown bundle media type",
            ),
            (
                text.replace(r#""messageSignature""#, r#""other""#),
                "exactly one",
            ),
            ("[]".to_string(), "not a Sigstore bundle"),
        ] {
            let e = Bundle::parse(bad.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
        assert!(matches!(
            Bundle::parse(&vec![b' '; MAX_BUNDLE_BYTES as usize + 1]),
            Err(BundleError::TooLarge)
        ));
    }

    #[test]
    fn stray_bits_in_the_last_base64_character_are_ignored_and_nothing_else() {
        let strict = Base64::encode_string(b"timestamp");
        assert_eq!(strict, "dGltZXN0YW1w");
        let two = Base64::encode_string(b"ts");
        assert_eq!(two, "dHM=");
        assert_eq!(decode_lenient("dHN=").unwrap(), b"ts");
        assert_eq!(decode_lenient(&two).unwrap(), b"ts");
        assert_eq!(decode_lenient("dA==").unwrap(), b"t");
        assert_eq!(decode_lenient("dB==").unwrap(), b"t");
        assert_eq!(decode_lenient("dGlt\nZXN0\r\nYW1w").unwrap(), b"timestamp");
        for bad in ["dH!=", "dHM", "d===", "*A==", ""] {
            assert!(decode_lenient(bad).is_none_or(|b| b.is_empty()), "{bad}");
        }
    }

    #[test]
    fn repeated_keys_anywhere_in_a_bundle_are_refused() {
        let env = dsse::Envelope::sign("t", b"body", |m| m.to_vec());
        let text = String::from_utf8(Bundle::for_envelope(env.clone(), "hint").to_bytes()).unwrap();
        assert!(Bundle::parse(text.as_bytes()).is_ok());
        let other = dsse::Envelope::sign("t", b"other body", |m| m.to_vec());
        for (from, to) in [
            (
                r#""dsseEnvelope":{"#.to_string(),
                format!(r#""dsseEnvelope":{{"payload":"{}","#, other.payload),
            ),
            (
                r#""payloadType":"t""#.to_string(),
                r#""payloadType":"x","payloadType":"t""#.to_string(),
            ),
            (
                r#""hint":"hint""#.to_string(),
                r#""hint":"evil","hint":"hint""#.to_string(),
            ),
            (
                r#""mediaType""#.to_string(),
                format!(r#""mediaType":"{BUNDLE_V03}","mediaType""#),
            ),
            (
                r#""sig":"#.to_string(),
                r#""keyid":"a","keyid":"b","sig":"#.to_string(),
            ),
        ] {
            let forged = text.replacen(&from, &to, 1);
            assert_ne!(forged, text, "{from}");
            let err = Bundle::parse(forged.as_bytes()).unwrap_err().to_string();
            assert!(err.contains("duplicate key"), "{forged}: {err}");
        }
    }
}
