//! The JSON Patch a mutation returns. Its digests come from one place only: a
//! [`Verified`], made from a verification that said yes, for the repository the image
//! names. No code here resolves a tag.

use std::sync::Arc;

use base64ct::{Base64, Encoding};
use serde_json::{Value, json};

use crate::reference::ImageRef;
use crate::verify::Verification;

/// A verification that said yes, and whose reference is in the image's repository.
#[derive(Debug, Clone)]
pub(crate) struct Verified(Arc<Verification>);

/// Why a verification cannot pin an image.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum NotPinnable {
    /// The verification did not say yes.
    NotVerified,
    /// It is about another repository than the image names (never expected: it would be
    /// another request's, or another image's, answer).
    OtherRepository { verified: String },
}

impl Verified {
    /// `verification` for `image`, when it verified `image`'s repository.
    pub(crate) fn new(
        verification: &Arc<Verification>,
        image: &ImageRef,
    ) -> Result<Self, NotPinnable> {
        let report = verification.report();
        if !report.verified() {
            return Err(NotPinnable::NotVerified);
        }
        if report.reference() != format!("{}@{}", image.name(), report.digest()) {
            return Err(NotPinnable::OtherRepository {
                verified: report.reference().to_string(),
            });
        }
        Ok(Self(Arc::clone(verification)))
    }

    /// The verified digest, `sha256:…`.
    pub(crate) fn digest(&self) -> String {
        self.0.report().digest().to_string()
    }

    /// The image as written, pinned to the verified digest: the tag stays for people,
    /// the runtime pulls by digest.
    pub(crate) fn pin(&self, written: &str) -> String {
        format!("{written}@{}", self.digest())
    }
}

/// One image to rewrite.
#[derive(Debug)]
pub(crate) struct Change {
    pub pointer: String,
    pub written: String,
    pub pinned: String,
}

/// The JSON Patch for `changes`, base64 as Kubernetes wants it. Each replace is preceded
/// by a test of the value as received: if another webhook changed the image meanwhile,
/// the patch fails, and so does the request, rather than pinning an image nobody checked.
pub(crate) fn encode(changes: &[Change]) -> String {
    let ops: Vec<Value> = changes
        .iter()
        .flat_map(|c| {
            [
                json!({"op": "test", "path": c.pointer, "value": c.written}),
                json!({"op": "replace", "path": c.pointer, "value": c.pinned}),
            ]
        })
        .collect();
    Base64::encode_string(Value::Array(ops).to_string().as_bytes())
}
