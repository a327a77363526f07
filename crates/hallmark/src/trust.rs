//! What makes signatures count: keys, threshold, tag binding, identities, annotations,
//! maximum age. Plain data, filled from flags or a policy rule.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::keys::PublicKey;
use crate::sigstore::identity::IdentityPolicy;
use crate::sigstore::root::TrustedRoot;

/// A public key and the name the user knows it by (its file path).
#[derive(Debug, Clone)]
pub struct NamedKey {
    /// How the user named it (file path as given).
    pub name: String,
    /// The key.
    pub key: PublicKey,
}

/// The requirements a verification checks.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Keys whose signatures count.
    pub keys: Vec<NamedKey>,
    /// Distinct keys that must each have a counting signature (1: any key suffices).
    pub threshold: usize,
    /// The tag in the reference must be named by the signature (rollback defence).
    pub require_tag_binding: bool,
    /// Accepted `docker-reference` values besides the repository itself (mirrors).
    pub identities: Vec<String>,
    /// Signed `optional` fields that must be present with exactly these values.
    pub annotations: BTreeMap<String, String>,
    /// The signed timestamp must be no older than this.
    pub max_age: Option<Duration>,
    /// Keyless signers whose signatures count (Fulcio certificate identities).
    pub keyless: Vec<IdentityPolicy>,
    /// The Sigstore trusted root certificates, logs and timestamps are checked against.
    pub root: Arc<TrustedRoot>,
    /// Skip transparency-log entries (`--insecure-ignore-tlog`).
    pub ignore_tlog: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        Self {
            keys: Vec::new(),
            threshold: 1,
            require_tag_binding: false,
            identities: Vec::new(),
            annotations: BTreeMap::new(),
            max_age: None,
            keyless: Vec::new(),
            root: TrustedRoot::shared_production(),
            ignore_tlog: false,
        }
    }
}

/// An age that is not `<number><s|m|h|d>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum AgeError {
    /// Not a number followed by a unit.
    #[error("max-age {0:?} is not a number followed by s, m, h or d")]
    Malformed(String),
    /// Zero.
    #[error("max-age {0:?} must be positive")]
    Zero(String),
}

/// `90d`, `12h`, `30m`, `45s`.
pub(crate) fn parse_age(s: &str) -> Result<Duration, AgeError> {
    let bad = || AgeError::Malformed(s.to_string());
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: u64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(AgeError::Zero(s.to_string()));
    }
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

/// The inverse of `parse_age`, in the largest whole unit.
pub fn format_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s.is_multiple_of(86400) => format!("{}d", s / 86400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_age("2h").unwrap(), Duration::from_secs(7200));
        for a in ["90d", "2h", "30m", "45s"] {
            assert_eq!(format_age(parse_age(a).unwrap()), a);
        }
        for bad in [
            "",
            "d",
            "5",
            "5w",
            "-1d",
            "0d",
            "99999999999999999999d",
            "5é",
        ] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
