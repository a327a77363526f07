//! Verification pinned to one digest: resolve once, check every signature against that
//! digest and repository, and report the exact `repo@sha256:…` that was verified.

use std::collections::BTreeMap;

use crate::Error;
use crate::digest::Digest;
use crate::keys::{Algorithm, PublicKey};
use crate::payload::{self, SimpleSigning};
use crate::signature;
use crate::store::Target;

/// A public key and the name the user knows it by (its file path).
#[derive(Debug, Clone)]
pub struct NamedKey {
    pub name: String,
    pub key: PublicKey,
}

#[derive(Debug, Clone)]
pub struct VerifyOptions {
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
    pub max_age: Option<std::time::Duration>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            keys: Vec::new(),
            threshold: 1,
            require_tag_binding: false,
            identities: Vec::new(),
            annotations: BTreeMap::new(),
            max_age: None,
        }
    }
}

/// Clock skew tolerated for signed timestamps from the future.
const MAX_FUTURE_SKEW: std::time::Duration = std::time::Duration::from_secs(300);

/// One valid signature.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ValidSignature {
    /// The key file that verified it.
    pub key: String,
    pub key_id: String,
    pub algorithm: Algorithm,
    /// The payload's `optional` fields.
    pub annotations: BTreeMap<String, serde_json::Value>,
    pub bound_tags: Vec<String>,
    pub timestamp: Option<String>,
}

/// The outcome; `verified` is the decision, `errors` say why not (or what was ignored).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    /// `reg/repo@sha256:…`: pull this, nothing else.
    pub reference: String,
    pub digest: Digest,
    pub tag: Option<String>,
    pub verified: bool,
    pub signatures: Vec<ValidSignature>,
    pub errors: Vec<String>,
    /// The policy rule that decided, when a policy was used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyDecision>,
}

/// Which policy rule applied and what it said.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PolicyDecision {
    /// None when no rule matched (default deny).
    pub rule: Option<String>,
    pub action: Option<crate::policy::Action>,
}

/// The one resolution of a reference: by digest if it has one, else by tag.
pub async fn resolve(target: &Target) -> Result<crate::manifest::Manifest, Error> {
    let reference = match (&target.digest, &target.tag) {
        (Some(d), _) => d.to_string(),
        (None, Some(t)) => t.clone(),
        (None, None) => {
            return Err(Error::Usage {
                message: "the reference names neither a tag nor a digest".into(),
                hint: None,
            });
        }
    };
    target.store.require_manifest(&reference, "artifact").await
}

impl Report {
    /// A report on `digest` with nothing verified yet.
    pub fn new(target: &Target, digest: Digest) -> Report {
        Report {
            reference: target.store.pinned(&digest),
            digest,
            tag: target.tag.clone(),
            verified: false,
            signatures: Vec::new(),
            errors: Vec::new(),
            policy: None,
        }
    }
}

/// Resolves `target` once and verifies its signatures. Registry failures are errors;
/// a security "no" is a report with `verified: false`.
pub async fn verify(target: &Target, opts: &VerifyOptions) -> Result<Report, Error> {
    if opts.keys.is_empty() {
        return Err(Error::Usage {
            message: "no public key to verify with".into(),
            hint: Some("pass --key PUB.pem (repeatable) or --policy FILE".into()),
        });
    }
    if opts.require_tag_binding && target.tag.is_none() {
        return Err(Error::Usage {
            message: "--require-tag-binding needs a reference with a tag".into(),
            hint: Some(
                "verify repo:tag, or drop --require-tag-binding for a digest reference".into(),
            ),
        });
    }
    // The one resolution: everything below is about this digest.
    let digest = resolve(target).await?.digest;
    let mut report = Report::new(target, digest.clone());

    let sig_tag = signature::signature_tag(&digest);
    let Some(sig_manifest) = target.signatures.get_manifest(&sig_tag).await? else {
        report.errors.push(format!(
            "no signature: {} does not exist",
            target.signatures.tagged(&sig_tag)
        ));
        return Ok(report);
    };
    let layers = match signature::parse_layers(&sig_manifest) {
        Ok(l) => l,
        Err(e) => {
            report.errors.push(e);
            return Ok(report);
        }
    };
    if layers.is_empty() {
        report
            .errors
            .push("no signature: the signature manifest has no simple-signing layer".into());
    }
    let identity = target.store.identity();
    for layer in &layers {
        match check_layer(target, layer, &digest, &identity, opts).await? {
            Ok(valid) => report.signatures.push(valid),
            Err(why) => report
                .errors
                .push(format!("signature {}: {why}", layer.index)),
        }
    }
    // Signatures are valid; now which of them count under the options.
    let now = std::time::SystemTime::now();
    let mut counting = Vec::new();
    for sig in std::mem::take(&mut report.signatures) {
        match disqualify(&sig, target.tag.as_deref(), opts, now) {
            None => counting.push(sig),
            Some(why) => report
                .errors
                .push(format!("signature by {}: {why}", sig.key)),
        }
    }
    let mut distinct: Vec<&str> = counting.iter().map(|s| s.key_id.as_str()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    let threshold = opts.threshold.max(1);
    report.verified = distinct.len() >= threshold;
    if !report.verified && !counting.is_empty() {
        report.errors.push(format!(
            "{} distinct key(s) signed, {threshold} required",
            distinct.len()
        ));
    }
    report.signatures = counting;
    Ok(report)
}

/// Why a valid signature does not count under `opts`, if it does not.
fn disqualify(
    sig: &ValidSignature,
    tag: Option<&str>,
    opts: &VerifyOptions,
    now: std::time::SystemTime,
) -> Option<String> {
    if opts.require_tag_binding
        && let Some(tag) = tag
        && !sig.bound_tags.iter().any(|t| t == tag)
    {
        return Some(format!(
            "tag {tag:?} is not bound (signed tags: {}); the tag may have been rolled back to an older image",
            if sig.bound_tags.is_empty() {
                "none".into()
            } else {
                sig.bound_tags.join(", ")
            }
        ));
    }
    for (k, want) in &opts.annotations {
        match sig.annotations.get(k) {
            Some(serde_json::Value::String(v)) if v == want => {}
            Some(v) => return Some(format!("annotation {k} is {v}, required {want:?}")),
            None => return Some(format!("annotation {k} is missing, required {want:?}")),
        }
    }
    if let Some(max_age) = opts.max_age {
        let Some(ts) = &sig.timestamp else {
            return Some("no signed timestamp, and a maximum age is required".into());
        };
        let Ok(signed) = humantime::parse_rfc3339_weak(ts) else {
            return Some(format!("signed timestamp {ts:?} is not RFC 3339"));
        };
        if signed > now + MAX_FUTURE_SKEW {
            return Some(format!("signed timestamp {ts} is in the future"));
        }
        if now.duration_since(signed).is_ok_and(|age| age > max_age) {
            return Some(format!(
                "signed at {ts}, older than the maximum age of {}",
                crate::policy::format_age(max_age)
            ));
        }
    }
    None
}

/// Checks one layer. The outer `Result` is for registry failures, the inner one is the
/// verdict on this signature.
async fn check_layer(
    target: &Target,
    layer: &signature::SignatureLayer,
    digest: &Digest,
    identity: &str,
    opts: &VerifyOptions,
) -> Result<Result<ValidSignature, String>, Error> {
    let sig = match &layer.signature {
        Ok(s) => s,
        Err(e) => return Ok(Err(e.clone())),
    };
    if layer.payload_size > payload::MAX_PAYLOAD_BYTES {
        return Ok(Err(format!(
            "payload of {} bytes is over the limit",
            layer.payload_size
        )));
    }
    let payload = match target
        .signatures
        .get_blob(&layer.payload_digest, payload::MAX_PAYLOAD_BYTES)
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Ok(Err(format!(
                "payload blob {} is missing",
                layer.payload_digest
            )));
        }
        Err(e) if e.class() == crate::ErrorClass::Denied => return Ok(Err(e.to_string())),
        Err(e) => return Err(e),
    };
    // The signature must be over these exact bytes, before anything in them is believed.
    let Some(key) = opts.keys.iter().find(|k| k.key.verify(&payload, sig)) else {
        return Ok(Err(
            "not signed by any of the given keys (or the payload was altered)".into(),
        ));
    };
    let parsed = match SimpleSigning::parse(&payload) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e)),
    };
    if parsed.critical.kind != payload::SIGNATURE_TYPE {
        return Ok(Err(format!(
            "payload type {:?} is not {:?}",
            parsed.critical.kind,
            payload::SIGNATURE_TYPE
        )));
    }
    let signed_digest = &parsed.critical.image.docker_manifest_digest;
    if signed_digest != &digest.to_string() {
        return Ok(Err(format!(
            "signed for {signed_digest}, not for {digest}: the signature was copied from another image"
        )));
    }
    let signed_repo = parsed.signed_repository();
    if signed_repo != identity
        && !opts
            .identities
            .iter()
            .any(|i| identity_matches(i, &signed_repo))
    {
        return Ok(Err(format!(
            "signed for repository {signed_repo}, not {identity}: the signature was copied from another repository"
        )));
    }
    Ok(Ok(ValidSignature {
        key: key.name.clone(),
        key_id: key.key.key_id(),
        algorithm: key.key.algorithm(),
        timestamp: parsed
            .optional_str(payload::TIMESTAMP_FIELD)
            .map(str::to_string),
        bound_tags: parsed.bound_tags(),
        annotations: parsed.optional.clone().unwrap_or_default(),
    }))
}

/// `pattern` is a repository name or a glob where `*` is one path segment and `**` any.
pub fn identity_matches(pattern: &str, repo: &str) -> bool {
    fn go(p: &[&str], r: &[&str]) -> bool {
        match (p.first(), r.first()) {
            (None, None) => true,
            (Some(&"**"), _) => go(&p[1..], r) || (!r.is_empty() && go(p, &r[1..])),
            (Some(ps), Some(rs)) => segment_matches(ps, rs) && go(&p[1..], &r[1..]),
            _ => false,
        }
    }
    let p: Vec<&str> = pattern.split('/').collect();
    let r: Vec<&str> = repo.split('/').collect();
    go(&p, &r)
}

/// `*` within a segment matches any run of characters except `/`.
fn segment_matches(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((prefix, rest)) => {
            let Some(tail) = s.strip_prefix(prefix) else {
                return false;
            };
            (0..=tail.len()).any(|i| tail.is_char_boundary(i) && segment_matches(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(identity_matches("reg.io/team/*", "reg.io/team/app"));
        assert!(!identity_matches("reg.io/team/*", "reg.io/team/a/b"));
        assert!(identity_matches("reg.io/**", "reg.io/team/a/b"));
        assert!(identity_matches("**", "reg.io/x"));
        assert!(identity_matches("reg.io/team/app-*", "reg.io/team/app-1"));
        assert!(!identity_matches("reg.io/team/app", "reg.io/team/app2"));
        assert!(!identity_matches("reg.io/*", "other.io/x"));
    }
}
