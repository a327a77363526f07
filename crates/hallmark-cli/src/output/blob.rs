//! `sign-blob` and `verify-blob` (docs/schema/sign-blob.schema.json,
//! verify-blob.schema.json).

use std::path::Path;

use hallmark::blob::{BlobReport, Measured};
use serde::Serialize;

use super::verify::{IdentityOut, LogOut, TimeOut};
use super::{Render, Text, V1};

/// `sign-blob`'s document.
#[derive(Serialize)]
pub struct BlobSigned<'a> {
    version: V1,
    digest: String,
    size: Option<u64>,
    bundle: &'a Path,
    signature: Option<&'a Path>,
    /// Standard output holds the bundle or signature, so it gets no result line.
    #[serde(skip)]
    stdout_taken: bool,
}

impl<'a> BlobSigned<'a> {
    pub fn new(
        blob: &Measured,
        bundle: &'a Path,
        signature: Option<&'a Path>,
        stdout_taken: bool,
    ) -> Self {
        BlobSigned {
            version: V1,
            digest: blob.digest.to_string(),
            size: blob.size,
            bundle,
            signature,
            stdout_taken,
        }
    }
}

impl Render for BlobSigned<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        t.say(format!(
            "signed {} ({} bytes); bundle written to {}",
            self.digest,
            self.size.unwrap_or_default(),
            self.bundle.display()
        ));
        if self.stdout_taken {
            return Ok(());
        }
        t.result(&self.digest)
    }
}

/// `verify-blob`'s document.
#[derive(Serialize)]
pub struct BlobVerified<'a> {
    version: V1,
    digest: String,
    size: Option<u64>,
    verified: bool,
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    identity: Option<IdentityOut<'a>>,
    format: &'a str,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tlog: Vec<LogOut<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    times: Vec<TimeOut<'a>>,
    checks: &'a [String],
    errors: Vec<String>,
    #[serde(skip)]
    report: &'a BlobReport,
    #[serde(skip)]
    path: &'a Path,
    /// `errors` with the command line's advice, for people.
    #[serde(skip)]
    advised: Vec<String>,
}

impl<'a> BlobVerified<'a> {
    pub fn new(r: &'a BlobReport, path: &'a Path) -> Self {
        BlobVerified {
            version: V1,
            digest: r.blob().digest.to_string(),
            size: r.blob().size,
            verified: r.verified(),
            key: r.key(),
            identity: r.identity().map(super::verify::identity),
            format: r.format(),
            tlog: super::verify::logs(r.tlog()),
            times: super::verify::times(r.times()),
            checks: r.checks(),
            errors: r.error_lines(),
            report: r,
            path,
            advised: crate::advice::blob_lines(r),
        }
    }

    /// Why it did not verify, on stderr even under --quiet.
    pub fn denied(&self, t: &mut Text<'_>) {
        t.loud(format!("error: not verified: {}", self.path.display()));
        for e in &self.advised {
            t.loud_outside("  ", e);
        }
    }
}

impl Render for BlobVerified<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        let r = self.report;
        if !r.verified() {
            self.denied(t);
            return Ok(());
        }
        let size = r
            .blob()
            .size
            .map(|n| format!(", {n} bytes"))
            .unwrap_or_default();
        let signer = match (r.key(), r.identity()) {
            (Some(k), _) => k.to_string(),
            (None, Some(id)) => format!(
                "{} (issuer {})",
                id.subject,
                id.issuer.as_deref().unwrap_or("unknown")
            ),
            (None, None) => String::new(),
        };
        t.say_outside(
            &format!(
                "verified {} ({}{size}, {}) — signed by ",
                self.path.display(),
                r.blob().digest,
                r.format()
            ),
            &signer,
        );
        super::verify::proofs(t, r.tlog(), r.times());
        for e in &self.advised {
            t.say_outside("note: ", e);
        }
        t.result(&self.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::super::render_text;
    use super::*;

    /// A real verification of the bytes `tool` against a signature of `signed`.
    fn report(signed: &[u8]) -> BlobReport {
        use hallmark::blob::{self, BlobTrust, Proof};
        use hallmark::keys::{Algorithm, SigningKey};
        let key = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let sig = blob::sign(&blob::measure(signed).unwrap(), &key, "test").unwrap();
        let keys = [hallmark::trust::NamedKey {
            name: "vendor.pub".into(),
            key: key.public_key(),
        }];
        let root = hallmark::sigstore::root::TrustedRoot::shared_production();
        let trust = BlobTrust::new(&keys, &root);
        let tool = blob::measure(&b"tool"[..]).unwrap();
        blob::verify(&tool, Proof::Bundle(&sig.bundle), &trust)
    }

    #[test]
    fn a_verified_blob_prints_its_digest_and_signer() {
        let r = report(b"tool");
        let (out, err) = render_text(&BlobVerified::new(&r, Path::new("tool.sh")), false);
        assert_eq!(out, format!("{}\n", r.blob().digest));
        assert_eq!(
            err,
            format!(
                "verified tool.sh ({}, 4 bytes, bundle) — signed by vendor.pub\n",
                r.blob().digest
            )
        );
    }

    #[test]
    fn a_refused_blob_says_why_even_quiet() {
        let r = report(b"another tool");
        let (out, err) = render_text(&BlobVerified::new(&r, Path::new("tool.sh")), true);
        assert_eq!(out, "");
        assert!(
            err.starts_with("error: not verified: tool.sh\n  ") && err.lines().count() == 2,
            "{err}"
        );
    }
}
