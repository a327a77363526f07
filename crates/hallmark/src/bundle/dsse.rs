//! DSSE envelopes: a payload, its type, and signatures over the pre-authentication
//! encoding (PAE) of both, so that a signature over one payload type can never be
//! replayed as another.

use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};

use super::BundleError;

/// An envelope as serialised (payload and signatures in base64).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope {
    /// Base64 payload.
    pub payload: String,
    /// What the payload is (`application/vnd.in-toto+json`).
    pub payload_type: String,
    /// Signatures over the PAE.
    pub signatures: Vec<Signature>,
}

/// One signature of an envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signature {
    /// Base64 signature.
    pub sig: String,
    /// Names the key; never trusted by itself.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub keyid: String,
}

/// `DSSEv1 <len(type)> <type> <len(body)> <body>`: the bytes actually signed.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "DSSEv1 {} {payload_type} {} ",
        payload_type.len(),
        payload.len()
    )
    .into_bytes();
    out.extend_from_slice(payload);
    out
}

impl Envelope {
    /// An envelope of `payload`, signed with `sign` over its PAE.
    pub fn sign(payload_type: &str, payload: &[u8], sign: impl FnOnce(&[u8]) -> Vec<u8>) -> Self {
        Self {
            payload: Base64::encode_string(payload),
            payload_type: payload_type.to_string(),
            signatures: vec![Signature {
                sig: Base64::encode_string(&sign(&pae(payload_type, payload))),
                keyid: String::new(),
            }],
        }
    }

    /// The decoded payload.
    pub fn payload_bytes(&self) -> Result<Vec<u8>, BundleError> {
        Base64::decode_vec(&self.payload).map_err(|_| BundleError::Base64("dsseEnvelope.payload"))
    }

    /// The decoded signatures (undecodable ones are skipped: they verify nothing).
    pub fn signature_bytes(&self) -> Vec<Vec<u8>> {
        self.signatures
            .iter()
            .filter_map(|s| Base64::decode_vec(&s.sig).ok())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pae_is_the_specified_encoding() {
        // The example from the DSSE specification.
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
        assert_eq!(pae("", b""), b"DSSEv1 0  0 ".to_vec());
    }

    #[test]
    fn envelopes_sign_the_pae_not_the_payload() {
        let e = Envelope::sign("t", b"body", |m| m.to_vec());
        assert_eq!(e.payload_bytes().unwrap(), b"body");
        assert_eq!(e.signature_bytes(), vec![pae("t", b"body")]);
    }
}
