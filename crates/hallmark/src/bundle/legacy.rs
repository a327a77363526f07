//! What cosign writes on a legacy `.sig` layer signed keyless or logged, read as bundle
//! material: the certificate and chain (PEM annotations), the Rekor entry with its signed
//! promise (`dev.sigstore.cosign/bundle`), and an RFC 3161 timestamp.

use base64ct::{Base64, Encoding};
use serde::{Deserialize, Serialize};

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

/// `dev.sigstore.cosign/bundle` as cosign writes it (fields in cosign's order).
#[derive(Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RekorBundle {
    signed_entry_timestamp: String,
    payload: RekorPayload,
}

#[derive(Deserialize, Serialize)]
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

/// A Rekor v1 entry as cosign's `dev.sigstore.cosign/bundle` annotation (the `RekorBundle`
/// JSON: the signed promise, the body, the time, index and hex log id); `None` for an entry
/// without a signed promise (Rekor v2), which that annotation cannot carry.
pub(crate) fn rekor_bundle_annotation(entry: &TlogEntry) -> Option<String> {
    let promise = entry.inclusion_promise.as_ref()?;
    let log_id = Base64::decode_vec(&entry.log_id.key_id).ok()?;
    let bundle = RekorBundle {
        signed_entry_timestamp: promise.signed_entry_timestamp.clone(),
        payload: RekorPayload {
            body: entry.canonicalized_body.clone(),
            integrated_time: entry.integrated_time,
            log_index: entry.log_index,
            log_id: log_id.iter().map(|b| format!("{b:02x}")).collect(),
        },
    };
    Some(serde_json::to_string(&bundle).expect("serialising a plain struct cannot fail"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Option<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(
            "../../../shared/fixtures/realworld/legacy/containers__image__dir-img-cosign-fulcio-rekor-valid__signature-1/rekor-bundle.json",
        );
        let text = std::fs::read_to_string(&path).ok();
        if text.is_none() {
            use std::io::Write;
            let _ = writeln!(
                std::io::stderr(),
                "rekor_bundle_annotation fixture test: not run: ../shared/fixtures is absent here"
            );
        }
        text
    }

    /// cosign's annotation, read as a log entry and written back, is what cosign wrote.
    #[test]
    fn a_v1_entry_is_written_as_cosign_writes_its_bundle_annotation() {
        let Some(text) = fixture() else { return };
        let annotations = SigstoreAnnotations {
            rekor_bundle: Some(text.trim().to_string()),
            ..SigstoreAnnotations::default()
        };
        let entry = LayerMaterial::read(&annotations)
            .unwrap()
            .tlog_entries
            .remove(0);
        let written = rekor_bundle_annotation(&entry).unwrap();
        assert_eq!(written, text.trim());
    }

    /// A Rekor v2 entry has no signed promise: no annotation can carry it.
    #[test]
    fn an_entry_without_a_promise_has_no_bundle_annotation() {
        let entry = TlogEntry {
            log_index: 1,
            log_id: LogId {
                key_id: Base64::encode_string(&[1, 2]),
            },
            kind_version: KindVersion {
                kind: "hashedrekord".into(),
                version: "0.0.2".into(),
            },
            integrated_time: 0,
            inclusion_promise: None,
            inclusion_proof: None,
            canonicalized_body: String::new(),
        };
        assert_eq!(rekor_bundle_annotation(&entry), None);
        let promised = TlogEntry {
            inclusion_promise: Some(InclusionPromise {
                signed_entry_timestamp: "U0VU".into(),
            }),
            ..entry
        };
        let written = rekor_bundle_annotation(&promised).unwrap();
        assert_eq!(
            written,
            r#"{"SignedEntryTimestamp":"U0VU","Payload":{"body":"","integratedTime":0,"logIndex":1,"logID":"0102"}}"#
        );
    }
}
