//! What cosign writes on a legacy `.sig` layer signed keyless or logged, read as bundle
//! material: the certificate and chain (PEM annotations), the Rekor entry with its signed
//! promise (`dev.sigstore.cosign/bundle`), and an RFC 3161 timestamp.

use base64ct::{Base64, Encoding};
use serde::Deserialize;

use super::{BundleError, Certificates, InclusionPromise, KindVersion, LogId, TlogEntry};
use crate::signature::SigstoreAnnotations;

/// Most certificates read from a chain annotation.
const MAX_CHAIN: usize = 8;

/// A legacy layer's Sigstore material.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LayerMaterial {
    /// The certificate and chain, when the layer was signed keyless.
    pub certificates: Option<Certificates>,
    /// The Rekor entry, when the signature was logged.
    pub tlog_entries: Vec<TlogEntry>,
    /// RFC 3161 timestamps, DER.
    pub timestamps: Vec<Vec<u8>>,
}

/// `dev.sigstore.cosign/bundle` as cosign writes it.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RekorBundle {
    signed_entry_timestamp: String,
    payload: RekorPayload,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RekorPayload {
    body: String,
    integrated_time: i64,
    log_index: i64,
    #[serde(rename = "logID")]
    log_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EntryKind {
    kind: String,
    api_version: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Rfc3161 {
    #[serde(rename = "SignedRFC3161Timestamp")]
    signed: String,
}

/// The DER certificates of every `CERTIFICATE` PEM block in `text`.
pub(crate) fn pem_certificates(
    text: &str,
    what: &'static str,
) -> Result<Vec<Vec<u8>>, BundleError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let body = &rest[start + BEGIN.len()..];
        let end = body.find(END).ok_or(BundleError::Base64(what))?;
        let b64: String = body[..end]
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        out.push(Base64::decode_vec(&b64).map_err(|_| BundleError::Base64(what))?);
        if out.len() > MAX_CHAIN {
            return Err(BundleError::Base64(what));
        }
        rest = &body[end + END.len()..];
    }
    Ok(out)
}

impl LayerMaterial {
    /// Reads a layer's annotations; a present annotation that does not parse is an error.
    pub(crate) fn read(a: &SigstoreAnnotations) -> Result<Self, BundleError> {
        let mut m = Self::default();
        if let Some(cert) = &a.certificate {
            let mut leaf = pem_certificates(cert, "dev.sigstore.cosign/certificate")?;
            if leaf.len() != 1 {
                return Err(BundleError::Base64("dev.sigstore.cosign/certificate"));
            }
            // cosign writes Fulcio's whole chain here, root included. It is read, so that a
            // malformed one is refused, and then set aside: only the trusted root's
            // authorities are ever trusted, and a bundle's rule against carrying a root is
            // about bundles, which cosign never wrote that way.
            if let Some(chain) = &a.chain {
                pem_certificates(chain, "dev.sigstore.cosign/chain")?;
            }
            m.certificates = Some(Certificates {
                leaf: leaf.remove(0),
                rest: Vec::new(),
            });
        }
        if let Some(text) = &a.rekor_bundle {
            let b: RekorBundle =
                crate::json::from_slice_unique(text.as_bytes()).map_err(BundleError::Json)?;
            let body = Base64::decode_vec(&b.payload.body)
                .map_err(|_| BundleError::Base64("dev.sigstore.cosign/bundle Payload.body"))?;
            let kind: EntryKind =
                crate::json::from_slice_unique(&body).map_err(BundleError::Json)?;
            let log_id = crate::digest::from_hex(&b.payload.log_id).ok_or(BundleError::Base64(
                "dev.sigstore.cosign/bundle Payload.logID",
            ))?;
            m.tlog_entries.push(TlogEntry {
                log_index: b.payload.log_index,
                log_id: LogId {
                    key_id: Base64::encode_string(&log_id),
                },
                kind_version: KindVersion {
                    kind: kind.kind,
                    version: kind.api_version,
                },
                integrated_time: b.payload.integrated_time,
                inclusion_promise: Some(InclusionPromise {
                    signed_entry_timestamp: b.signed_entry_timestamp,
                }),
                inclusion_proof: None,
                canonicalized_body: b.payload.body,
            });
        }
        if let Some(text) = &a.timestamp {
            let t: Rfc3161 =
                crate::json::from_slice_unique(text.as_bytes()).map_err(BundleError::Json)?;
            m.timestamps.push(
                Base64::decode_vec(&t.signed)
                    .map_err(|_| BundleError::Base64("dev.sigstore.cosign/rfc3161timestamp"))?,
            );
        }
        Ok(m)
    }
}
