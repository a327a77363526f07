//! The Sigstore trusted root (`trusted_root.json`): the certificate authorities, transparency
//! logs, CT logs and timestamp authorities a keyless signature is checked against, each with
//! the window in which it may be trusted. Every window is inclusive at both ends and must have
//! a start (protobuf-specs `TimeRange`); a root that lacks one is refused as a whole.

use std::time::SystemTime;

use base64ct::{Base64, Encoding};
use serde::Deserialize;

use crate::class::ErrorClass;

/// The public-good production root, embedded so that keyless verification works offline.
/// Refresh it from a Sigstore client's copy (see the README) when production rotates keys.
pub(crate) const PRODUCTION: &[u8] = include_bytes!("../../data/trusted_root.json");
/// Largest trusted root read: real ones are a few tens of kilobytes.
pub const MAX_ROOT_BYTES: u64 = 4 * 1024 * 1024;
const MEDIA_TYPE_PREFIX: &str = "application/vnd.dev.sigstore.trustedroot";

/// A trusted root that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RootError {
    /// Not trusted-root JSON.
    #[error("not a Sigstore trusted root: {0}")]
    Json(#[source] serde_json::Error),
    /// A media type that is not a trusted root's.
    #[error("unknown trusted root media type {0:?}")]
    MediaType(String),
    /// A field that does not decode.
    #[error("trusted root field {field} is invalid: {why}")]
    Field {
        /// Where, e.g. `tlogs[1].publicKey.validFor.start`.
        field: String,
        /// What is wrong with it.
        why: String,
    },
    /// Larger than any real root.
    #[error("trusted root larger than {MAX_ROOT_BYTES} bytes")]
    TooLarge,
}

impl RootError {
    /// A root the user names is bad input.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Usage
    }
}

/// A window of trust, inclusive at both ends; no end means still trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// First instant the material may be trusted.
    pub start: SystemTime,
    /// Last instant, if it has one.
    pub end: Option<SystemTime>,
}

impl Validity {
    /// Whether `t` lies in the window (both ends included).
    pub fn contains(&self, t: SystemTime) -> bool {
        self.start <= t && self.end.is_none_or(|end| t <= end)
    }
}

/// A public key with its algorithm and window (a log's or CT log's key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// `keyDetails` as written, e.g. `PKIX_ECDSA_P256_SHA_256`, `PKIX_ED25519`.
    pub details: String,
    /// When the key may be trusted.
    pub valid: Validity,
}

/// A transparency log (Rekor) or certificate-transparency log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// `baseUrl`; for Rekor v2 its host is the checkpoint origin.
    pub base_url: String,
    /// The log's key.
    pub key: LogKey,
    /// `logId.keyId`: SHA-256 of the key's SPKI DER for every log seen in practice.
    pub log_id: Vec<u8>,
    /// `checkpointKeyId.keyId`, when the root names one (C2SP signed-note key id).
    pub checkpoint_key_id: Option<Vec<u8>>,
}

/// A certificate authority (Fulcio) or timestamp authority.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// `uri` (may be empty).
    pub uri: String,
    /// `subject.commonName`, for people.
    pub name: String,
    /// DER certificates as listed: the issuing certificate first, the root last.
    pub chain: Vec<Vec<u8>>,
    /// When the authority may be trusted.
    pub valid: Validity,
}

/// A parsed trusted root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedRoot {
    /// Rekor logs.
    pub tlogs: Vec<Log>,
    /// Certificate-transparency logs (SCTs).
    pub ctlogs: Vec<Log>,
    /// Fulcio certificate authorities.
    pub certificate_authorities: Vec<Authority>,
    /// RFC 3161 timestamp authorities.
    pub timestamp_authorities: Vec<Authority>,
}

impl TrustedRoot {
    /// Parses `trusted_root.json`.
    pub fn parse(bytes: &[u8]) -> Result<Self, RootError> {
        if bytes.len() as u64 > MAX_ROOT_BYTES {
            return Err(RootError::TooLarge);
        }
        let raw: wire::Root = crate::json::from_slice_unique(bytes).map_err(RootError::Json)?;
        if !raw.media_type.starts_with(MEDIA_TYPE_PREFIX) {
            return Err(RootError::MediaType(raw.media_type));
        }
        Ok(Self {
            tlogs: logs(&raw.tlogs, "tlogs")?,
            ctlogs: logs(&raw.ctlogs, "ctlogs")?,
            certificate_authorities: authorities(
                &raw.certificate_authorities,
                "certificateAuthorities",
            )?,
            timestamp_authorities: authorities(&raw.timestamp_authorities, "timestampAuthorities")?,
        })
    }

    /// The embedded public-good production root.
    pub fn production() -> Self {
        Self::parse(PRODUCTION).expect("the embedded production root parses")
    }

    /// The embedded production root, parsed once per process.
    pub fn shared_production() -> std::sync::Arc<Self> {
        static ROOT: std::sync::LazyLock<std::sync::Arc<TrustedRoot>> =
            std::sync::LazyLock::new(|| std::sync::Arc::new(TrustedRoot::production()));
        ROOT.clone()
    }

    /// The Rekor log whose `logId` is `id`.
    pub fn tlog(&self, id: &[u8]) -> Option<&Log> {
        self.tlogs.iter().find(|l| l.log_id == id)
    }

    /// The CT log whose `logId` is `id`.
    pub fn ctlog(&self, id: &[u8]) -> Option<&Log> {
        self.ctlogs.iter().find(|l| l.log_id == id)
    }
}

fn bad(field: String, why: impl Into<String>) -> RootError {
    RootError::Field {
        field,
        why: why.into(),
    }
}

fn b64(field: String, text: &str) -> Result<Vec<u8>, RootError> {
    Base64::decode_vec(text).map_err(|_| bad(field, "not base64"))
}

/// An RFC 3339 timestamp as protobuf JSON writes them (`Z`, optional fraction).
pub(crate) fn parse_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

fn validity(v: Option<&wire::TimeRange>, field: String) -> Result<Validity, RootError> {
    let v = v.ok_or_else(|| bad(field.clone(), "missing; every window needs a start"))?;
    let start = v.start.as_deref().ok_or_else(|| {
        bad(
            format!("{field}.start"),
            "missing; every window needs a start",
        )
    })?;
    let start =
        parse_time(start).ok_or_else(|| bad(format!("{field}.start"), "not an RFC 3339 time"))?;
    let end = match v.end.as_deref() {
        Some(e) => {
            Some(parse_time(e).ok_or_else(|| bad(format!("{field}.end"), "not an RFC 3339 time"))?)
        }
        None => None,
    };
    if end.is_some_and(|e| e < start) {
        return Err(bad(field, "ends before it starts"));
    }
    Ok(Validity { start, end })
}

fn logs(raw: &[wire::Log], what: &str) -> Result<Vec<Log>, RootError> {
    raw.iter()
        .enumerate()
        .map(|(i, l)| {
            let at = format!("{what}[{i}]");
            let key = l
                .public_key
                .as_ref()
                .ok_or_else(|| bad(format!("{at}.publicKey"), "missing"))?;
            let raw_bytes = key
                .raw_bytes
                .as_deref()
                .ok_or_else(|| bad(format!("{at}.publicKey.rawBytes"), "missing"))?;
            let log_id = l
                .log_id
                .as_ref()
                .ok_or_else(|| bad(format!("{at}.logId"), "missing"))?;
            Ok(Log {
                base_url: l.base_url.clone(),
                key: LogKey {
                    spki: b64(format!("{at}.publicKey.rawBytes"), raw_bytes)?,
                    details: key.key_details.clone(),
                    valid: validity(key.valid_for.as_ref(), format!("{at}.publicKey.validFor"))?,
                },
                log_id: b64(format!("{at}.logId.keyId"), &log_id.key_id)?,
                checkpoint_key_id: match &l.checkpoint_key_id {
                    Some(k) => Some(b64(format!("{at}.checkpointKeyId.keyId"), &k.key_id)?),
                    None => None,
                },
            })
        })
        .collect()
}

fn authorities(raw: &[wire::Authority], what: &str) -> Result<Vec<Authority>, RootError> {
    raw.iter()
        .enumerate()
        .map(|(i, a)| {
            let at = format!("{what}[{i}]");
            let chain = a
                .cert_chain
                .certificates
                .iter()
                .enumerate()
                .map(|(j, c)| b64(format!("{at}.certChain.certificates[{j}]"), &c.raw_bytes))
                .collect::<Result<Vec<_>, _>>()?;
            if chain.is_empty() {
                return Err(bad(format!("{at}.certChain"), "no certificates"));
            }
            Ok(Authority {
                uri: a.uri.clone(),
                name: a.subject.common_name.clone(),
                chain,
                valid: validity(a.valid_for.as_ref(), format!("{at}.validFor"))?,
            })
        })
        .collect()
}

/// The JSON as written (protobuf JSON: camelCase, bytes in base64).
mod wire {
    use super::Deserialize;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Root {
        pub media_type: String,
        #[serde(default)]
        pub tlogs: Vec<Log>,
        #[serde(default)]
        pub certificate_authorities: Vec<Authority>,
        #[serde(default)]
        pub ctlogs: Vec<Log>,
        #[serde(default)]
        pub timestamp_authorities: Vec<Authority>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Log {
        #[serde(default)]
        pub base_url: String,
        pub public_key: Option<Key>,
        pub log_id: Option<KeyId>,
        pub checkpoint_key_id: Option<KeyId>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Key {
        pub raw_bytes: Option<String>,
        #[serde(default)]
        pub key_details: String,
        pub valid_for: Option<TimeRange>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct KeyId {
        pub key_id: String,
    }

    #[derive(Deserialize)]
    pub(super) struct TimeRange {
        pub start: Option<String>,
        pub end: Option<String>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Authority {
        #[serde(default)]
        pub subject: Subject,
        #[serde(default)]
        pub uri: String,
        pub cert_chain: Chain,
        pub valid_for: Option<TimeRange>,
    }

    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Subject {
        #[serde(default)]
        pub common_name: String,
    }

    #[derive(Deserialize)]
    pub(super) struct Chain {
        #[serde(default)]
        pub certificates: Vec<Cert>,
    }

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(super) struct Cert {
        pub raw_bytes: String,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_embedded_production_root_parses() {
        let r = TrustedRoot::production();
        assert_eq!(r.tlogs.len(), 2);
        assert_eq!(r.certificate_authorities.len(), 2);
        assert!(r.tlog(&r.tlogs[0].log_id).is_some());
        assert!(r.tlog(&[0; 32]).is_none());
        let ca = &r.certificate_authorities[0];
        let end = ca.valid.end.unwrap();
        assert!(ca.valid.contains(end), "the end is inclusive");
        assert!(!ca.valid.contains(end + Duration::from_millis(1)));
        assert!(ca.valid.contains(ca.valid.start));
        assert!(!ca.valid.contains(ca.valid.start - Duration::from_millis(1)));
    }

    #[test]
    fn a_window_without_start_or_a_bad_field_refuses_the_root() {
        let text = std::str::from_utf8(PRODUCTION).unwrap();
        for (from, to, want) in [
            (r#""start": "2021-01-12T11:53:27Z""#, r#""x": 1"#, "start"),
            (
                r#""start": "2021-01-12T11:53:27Z""#,
                r#""start": "yesterday""#,
                "RFC 3339",
            ),
            (r#""keyId": "wNI9"#, r#""keyId": "!!"#, "base64"),
            ("trustedroot+json", "other+json", "media type"),
        ] {
            let forged = text.replacen(from, to, 1);
            assert_ne!(forged, text, "{from}");
            let e = TrustedRoot::parse(forged.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{e}");
        }
    }
}
