//! Admission control: the answer to a Kubernetes AdmissionReview (v1) about a Pod or a
//! workload with a pod template. Every image in it is verified as `verify` does; the
//! mutating answer pins each unpinned image to the digest that verified, the validating
//! answer denies any image not pinned to a verified digest.
//!
//! Rules that hold whatever the registry or the request does:
//! - a patched digest is only ever the digest of the verification that said yes, for the
//!   repository the image names (`patch::Verified`); no tag is resolved for patching;
//! - an image already pinned to a digest is never rewritten: verified, it is left alone;
//!   not verified, the request is denied;
//! - anything not decided in time, or not decided at all (a registry down, a malformed
//!   request), is a denial, never an allow.
//!
//! Each image goes through a [`Check`], so that a cache can stand in front of the
//! [`Verifier`] without changing the decision.

mod metrics;
mod patch;
mod review;
pub mod server;
mod verifier;
mod workload;

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::ErrorClass;
use crate::reference::ImageRef;
use crate::verify::Verification;

pub use metrics::{Metrics, Refusal};
pub use verifier::Verifier;

/// Which webhook is answering.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Pins images to their verified digests (a JSON Patch), and denies what does not verify.
    Mutate,
    /// Denies any image not pinned to a verified digest; never patches.
    Validate,
}

impl Endpoint {
    /// `mutate` or `validate`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Mutate => "mutate",
            Self::Validate => "validate",
        }
    }
}

/// How reviews are answered.
#[derive(Debug, Clone)]
pub struct AdmitOptions {
    /// Time for one whole review; what is not decided by then is denied. Keep it under
    /// the webhook's `timeoutSeconds`, so the answer is hallmark's reason, not a timeout.
    pub deadline: Duration,
    /// Pin only Pods: controllers (Deployments, Jobs, …) are still checked, but left as
    /// written, so GitOps tools do not see drift; their Pods are pinned when created.
    pub pods_only: bool,
    /// Most images in one object; more is denied.
    pub max_images: usize,
}

impl Default for AdmitOptions {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(9),
            pods_only: false,
            max_images: 256,
        }
    }
}

/// Why an image could not be decided.
#[derive(Debug, Clone)]
pub struct Failure {
    /// One line.
    pub message: String,
    /// Unavailable: retrying may help; the rest will fail the same way again.
    pub class: ErrorClass,
}

/// One image reference → the verification of it. Implementations never decide "yes"
/// themselves: the answer is built from the returned verification's own report.
pub trait Check: Sync {
    /// Verifies `image` (as written in the object), by `deadline` if it can.
    fn check(
        &self,
        image: &str,
        deadline: tokio::time::Instant,
    ) -> impl Future<Output = Result<Arc<Verification>, Failure>> + Send;

    /// The cache's figures, for a check that has one.
    fn stats(&self) -> Option<CacheStats> {
        None
    }
}

/// What a caching [`Check`] reports to `/metrics`. Counts only grow; `entries` and
/// `in_flight` are the present.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Answered from the cache.
    pub hits: u64,
    /// Verified afresh.
    pub misses: u64,
    /// Waited for a verification of the same image already running.
    pub coalesced: u64,
    /// Found, but past its time.
    pub expired: u64,
    /// Verifications held now.
    pub entries: u64,
    /// Verifications running now.
    pub in_flight: u64,
}

/// Where one image is in the object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// JSON Pointer to the image string (what a patch replaces).
    pub pointer: String,
    /// `spec.template.spec.containers[0] (web)`: for people.
    pub path: String,
    /// The image as written; empty when the field is absent.
    pub image: String,
}

/// What was decided about a review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Allowed as it is.
    Allowed,
    /// Allowed with images pinned (mutate only).
    Patched,
    /// Denied: an image does not verify, or the object is not what its kind says.
    Denied,
    /// Denied because something could not be checked (a registry down, the deadline):
    /// the same request may pass when retried.
    Unavailable,
    /// Not an AdmissionReview hallmark can answer (HTTP 400).
    Malformed,
}

impl Decision {
    /// As in logs and metrics.
    pub fn name(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Patched => "patched",
            Self::Denied => "denied",
            Self::Unavailable => "unavailable",
            Self::Malformed => "malformed",
        }
    }
}

/// What happened to one image.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ImageRecord {
    /// Where it is.
    pub path: String,
    /// As written.
    pub image: String,
    /// The digest it runs as, when verified.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// `pinned`, `verified` (already pinned), `checked` (verified, left unpinned),
    /// `allowed-unsigned`, `denied`, `unavailable`.
    pub outcome: &'static str,
}

/// A review answered, for logs and metrics.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Record {
    /// The request's uid.
    pub uid: String,
    /// `mutate` or `validate`.
    pub endpoint: &'static str,
    /// The object's kind, when the request was read.
    pub kind: String,
    /// Its namespace, when given.
    pub namespace: String,
    /// Its name, when given.
    pub name: String,
    /// CREATE, UPDATE, …
    pub operation: String,
    /// What was decided.
    pub decision: Decision,
    /// Why, when denied or malformed (the message returned).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Each image.
    pub images: Vec<ImageRecord>,
}

/// The answer to one review.
#[derive(Debug, Clone)]
pub struct Answer {
    /// HTTP status: 200, or 400 for a body that is not a review hallmark can answer.
    pub status: u16,
    /// The AdmissionReview response (JSON), also for a 400, so the uid is echoed.
    pub body: Vec<u8>,
    /// What was decided, for logs and metrics.
    pub record: Record,
}

/// Most lines of a denial: the apiserver shows the whole message to the user.
const MAX_LINES: usize = 8;
/// Most characters of one line of it: a path, an image (at most `MAX_LINE / 4`), a reason.
const MAX_LINE: usize = 800;
/// Most characters of the reason an image is denied, before the advice that follows it.
const MAX_REASON: usize = 320;

/// `text` on one line of at most `max` characters: control characters (a newline in an
/// image name) become `?`, so a message cannot forge lines of its own.
pub(crate) fn bounded(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(max)
        .collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

/// Answers one AdmissionReview `body` at `endpoint`, checking each image with `check`.
pub async fn answer<C: Check>(
    body: &[u8],
    endpoint: Endpoint,
    check: &C,
    options: &AdmitOptions,
) -> Answer {
    let mut record = Record {
        uid: String::new(),
        endpoint: endpoint.name(),
        kind: String::new(),
        namespace: String::new(),
        name: String::new(),
        operation: String::new(),
        decision: Decision::Malformed,
        reason: None,
        images: Vec::new(),
    };
    let request = match review::parse(body) {
        Ok(r) => r,
        Err(m) => {
            let reason = bounded(&m.reason, MAX_LINE);
            record.uid.clone_from(&m.uid);
            record.reason = Some(reason.clone());
            let response = json!({
                "uid": m.uid,
                "allowed": false,
                "status": {"code": 400, "reason": "BadRequest", "message": format!("hallmark: {reason}")},
            });
            return Answer {
                status: 400,
                body: envelope(response),
                record,
            };
        }
    };
    record.uid.clone_from(&request.uid);
    record.kind.clone_from(&request.kind.kind);
    record.namespace = request.namespace.clone().unwrap_or_default();
    record.name = request.name.clone().unwrap_or_default();
    record.operation.clone_from(&request.operation);

    let mut denials = Vec::new();
    let mut unavailable = 0;
    let mut changes = Vec::new();
    let mut warnings = Vec::new();
    let object = match (&request.object, request.operation.as_str()) {
        (Some(o), _) if o.is_object() => Some(o),
        // DELETE and CONNECT carry no new object: nothing will run from them.
        (_, "DELETE" | "CONNECT") => None,
        _ => {
            denials.push(format!(
                "the {} request carries no object to check",
                bounded(&request.operation, 20)
            ));
            None
        }
    };
    if let Some(object) = object {
        let walk = workload::walk(&request, object);
        denials.extend(walk.problems);
        if walk.sites.len() > options.max_images {
            denials.push(format!(
                "{} images in one object; at most {} are checked",
                walk.sites.len(),
                options.max_images
            ));
        } else {
            // Pods are pinned always; controllers unless only Pods are, in which case their
            // images must verify but may stay as written.
            let pin = walk.pod || !options.pods_only;
            let results = check_all(&walk.sites, check, options.deadline).await;
            for site in &walk.sites {
                let verdict = judge(site, results.get(site.image.as_str()), endpoint, pin);
                record.images.push(ImageRecord {
                    path: site.path.clone(),
                    image: site.image.clone(),
                    digest: verdict.digest.clone(),
                    outcome: verdict.outcome,
                });
                match verdict.kind {
                    Kind::Fine => {}
                    Kind::Change(c) => changes.push(c),
                    Kind::Warn(w) => warnings.push(w),
                    Kind::Deny(line, class) => {
                        if class == ErrorClass::Unavailable {
                            unavailable += 1;
                        }
                        denials.push(line);
                    }
                }
            }
        }
    }

    let mut response = json!({"uid": request.uid, "allowed": denials.is_empty()});
    if !warnings.is_empty() {
        response["warnings"] = json!(warnings);
    }
    if denials.is_empty() {
        record.decision = Decision::Allowed;
        if endpoint == Endpoint::Mutate && !changes.is_empty() {
            record.decision = Decision::Patched;
            response["patchType"] = json!("JSONPatch");
            response["patch"] = json!(patch::encode(&changes));
        }
    } else {
        record.decision = if unavailable == denials.len() {
            Decision::Unavailable
        } else {
            Decision::Denied
        };
        let message = denial(&denials);
        record.reason = Some(message.clone());
        response["status"] = json!({"code": 403, "reason": "Forbidden", "message": message});
    }
    Answer {
        status: 200,
        body: envelope(response),
        record,
    }
}

/// The AdmissionReview around `response`.
fn envelope(response: Value) -> Vec<u8> {
    json!({"apiVersion": review::API_VERSION, "kind": review::KIND, "response": response})
        .to_string()
        .into_bytes()
}

/// The message of a denial: a line per image, bounded.
fn denial(lines: &[String]) -> String {
    let mut out = vec![format!(
        "hallmark denied {} image(s) or part(s) of the object:",
        lines.len()
    )];
    out.extend(
        lines
            .iter()
            .take(MAX_LINES)
            .map(|l| format!("- {}", bounded(l, MAX_LINE))),
    );
    if lines.len() > MAX_LINES {
        out.push(format!("- … and {} more", lines.len() - MAX_LINES));
    }
    out.join("\n")
}

/// Checks each distinct image once, all at once, each by the review's deadline. An image
/// not decided by then is a failure that says so.
async fn check_all<'a, C: Check>(
    sites: &'a [Site],
    check: &C,
    deadline: Duration,
) -> HashMap<&'a str, Result<Arc<Verification>, Failure>> {
    let until = tokio::time::Instant::now() + deadline;
    let mut images: Vec<&str> = sites
        .iter()
        .map(|s| s.image.as_str())
        .filter(|i| !i.is_empty())
        .collect();
    images.sort_unstable();
    images.dedup();
    let checks = images.iter().map(|image| async move {
        let result = match tokio::time::timeout_at(until, check.check(image, until)).await {
            Ok(r) => r,
            Err(_) => Err(Failure {
                message: format!(
                    "not decided within the {} deadline of a review (registry slow or unreachable); retry",
                    roughly(deadline)
                ),
                class: ErrorClass::Unavailable,
            }),
        };
        (*image, result)
    });
    futures_util::future::join_all(checks)
        .await
        .into_iter()
        .collect()
}

/// `2s` for 1.98 s (a deadline shortened by the time its body took to arrive), `800ms`.
fn roughly(d: Duration) -> String {
    let ms = d.as_millis();
    let s = (ms + 50) / 1000;
    if s > 0 && ms.abs_diff(s * 1000) <= 50 {
        format!("{s}s")
    } else {
        format!("{ms}ms")
    }
}

/// What one site comes to.
struct Verdict {
    kind: Kind,
    digest: Option<String>,
    outcome: &'static str,
}

enum Kind {
    Fine,
    Change(patch::Change),
    Warn(String),
    Deny(String, ErrorClass),
}

/// Decides one site from the verification of its image.
fn judge(
    site: &Site,
    result: Option<&Result<Arc<Verification>, Failure>>,
    endpoint: Endpoint,
    pin: bool,
) -> Verdict {
    let deny = |why: String, class: ErrorClass| Verdict {
        kind: Kind::Deny(
            format!(
                "{} {}: {why}",
                site.path,
                bounded(&site.image, MAX_LINE / 4)
            ),
            class,
        ),
        digest: None,
        outcome: if class == ErrorClass::Unavailable {
            "unavailable"
        } else {
            "denied"
        },
    };
    if site.image.is_empty() {
        return match endpoint {
            // Kubernetes refuses a container without an image itself; a mutation has
            // nothing to pin, the validation says so.
            Endpoint::Mutate => Verdict {
                kind: Kind::Fine,
                digest: None,
                outcome: "checked",
            },
            Endpoint::Validate => deny("has no image".into(), ErrorClass::Denied),
        };
    }
    let written = match ImageRef::parse(&site.image) {
        Ok(r) => r,
        Err(e) => {
            return deny(format!("not an image reference: {e}"), ErrorClass::Denied);
        }
    };
    let verification = match result {
        Some(Ok(v)) => v,
        Some(Err(f)) => return deny(bounded(&f.message, MAX_REASON), f.class),
        None => return deny("was not checked".into(), ErrorClass::Unavailable),
    };
    let report = verification.report();
    if !report.verified() {
        if let crate::report::Decision::AllowedUnsigned { rule } = report.decision() {
            return Verdict {
                kind: Kind::Warn(bounded(
                    &format!(
                        "allowed unsigned by policy rule {rule}, not pinned: {} ({})",
                        site.image, site.path
                    ),
                    120,
                )),
                digest: None,
                outcome: "allowed-unsigned",
            };
        }
        let findings = report.error_lines().join("; ");
        // The findings are bounded, not the advice after them: it must survive a long reason.
        return deny(
            format!(
                "not verified: {}; sign its digest (hallmark sign) or fix the policy",
                if findings.is_empty() {
                    "no trusted signature".to_string()
                } else {
                    bounded(&findings, MAX_REASON)
                }
            ),
            ErrorClass::Denied,
        );
    }
    let verified = match patch::Verified::new(verification, &written) {
        Ok(v) => v,
        Err(patch::NotPinnable::NotVerified) => {
            return deny("not verified".into(), ErrorClass::Denied);
        }
        Err(patch::NotPinnable::OtherRepository { verified }) => {
            return deny(
                format!(
                    "internal error: the verification is about {verified}, another repository; not pinned"
                ),
                ErrorClass::Denied,
            );
        }
    };
    let digest = verified.digest();
    if let Some(d) = written.digest() {
        // Pinned already: left exactly as written, and only if that digest is the one that
        // verified.
        return if d.to_string() == digest {
            Verdict {
                kind: Kind::Fine,
                digest: Some(digest),
                outcome: "verified",
            }
        } else {
            deny(
                format!("pinned to {d}, but {digest} is what verified; never rewritten"),
                ErrorClass::Denied,
            )
        };
    }
    if !pin {
        return Verdict {
            kind: Kind::Fine,
            digest: Some(digest),
            outcome: "checked",
        };
    }
    match endpoint {
        Endpoint::Mutate => Verdict {
            kind: Kind::Change(patch::Change {
                pointer: site.pointer.clone(),
                written: site.image.clone(),
                pinned: verified.pin(&site.image),
            }),
            digest: Some(digest),
            outcome: "pinned",
        },
        Endpoint::Validate => deny(
            format!(
                "not pinned to a digest; it verifies as {} (let the mutating webhook pin it, or write that)",
                verified.pin(&site.image)
            ),
            ErrorClass::Denied,
        ),
    }
}

#[cfg(test)]
mod tests;
