//! The sigstore-conformance cases about the transparency log, when they are beside the
//! checkout.

use super::*;
use crate::bundle::{Bundle, Content};
use std::path::{Path, PathBuf};

/// The conformance cases' folder, or `None` (said once) when it is not beside the checkout.
fn conformance() -> Option<PathBuf> {
    super::super::conformance_cases()
}

/// Runs `verify_entry` on a case's first entry as a verifier would call it: the artifact's
/// SHA-256 from its file, the signer from key.pub or the bundle's certificate. `None` when
/// the case fails before any log entry is read (its bundle, root or key does not parse).
fn run_case(dir: &Path) -> Option<Result<Logged, TlogError>> {
    let bundle = Bundle::parse(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap()).ok()?;
    let root = match std::fs::read(dir.join("trusted_root.json")) {
        Ok(b) => TrustedRoot::parse(&b).ok()?,
        Err(_) => TrustedRoot::production(),
    };
    let artifact = std::fs::read(dir.join("artifact"))
        .or_else(|_| std::fs::read(dir.join("../a.txt")))
        .unwrap();
    let sha256: [u8; 32] = Sha256::digest(&artifact).into();
    let key;
    let certs;
    let verifier = match std::fs::read(dir.join("key.pub")) {
        Ok(pem) => {
            key = crate::keys::decode_pem(&pem, "key.pub").ok()?.1;
            Verifier::Key(&key)
        }
        Err(_) => {
            certs = bundle.certificates().ok()??;
            Verifier::Certificate(&certs.leaf)
        }
    };
    let content = bundle.content().ok()?;
    let signed = match &content {
        Content::Message { signature, .. } => Signed::Message { sha256, signature },
        Content::Dsse(envelope) => Signed::Dsse { envelope },
    };
    let entry = bundle.verification_material.tlog_entries.first()?;
    Some(verify_entry(
        entry,
        &signed,
        &verifier,
        &root,
        bundle.minor_version(),
    ))
}

type Want = fn(&TlogError) -> bool;

/// Every case whose README is about the log is refused for that reason (its own variant),
/// whatever else is wrong with it.
const REFUSED: &[(&str, Want)] = &[
    ("bundle-from-wrong-instance_fail", |e| {
        matches!(e, TlogError::UnknownLog(_))
    }),
    ("bundle-negative-log-index_fail", |e| {
        matches!(e, TlogError::NegativeIndex(-1))
    }),
    ("checkpoint-bad-keyhint_fail", |e| {
        matches!(
            e,
            TlogError::Checkpoint(CheckpointError::NoLogSignature { .. })
        )
    }),
    ("checkpoint-wrong-roothash_fail", |e| {
        matches!(e, TlogError::CheckpointRoot)
    }),
    ("dsse-invalid-sig_fail", |e| {
        matches!(e, TlogError::SignatureMismatch)
    }),
    ("dsse-mismatch-envelope_fail", |e| {
        matches!(e, TlogError::DigestMismatch)
    }),
    ("dsse-mismatch-sig_fail", |e| {
        matches!(e, TlogError::SignatureMismatch)
    }),
    ("inclusion-proof-corrupted-hash_fail", |e| {
        matches!(e, TlogError::ProofRoot)
    }),
    ("incorrect-public-key_fail", |e| {
        matches!(e, TlogError::VerifierMismatch)
    }),
    ("intoto-log-entry-mismatch_fail", |e| {
        matches!(e, TlogError::SignatureMismatch)
    }),
    ("intoto-missing-inclusion-proof_fail", |e| {
        matches!(e, TlogError::NoProof(_))
    }),
    ("invalid-checkpoint-signature_fail", |e| {
        matches!(e, TlogError::Checkpoint(CheckpointError::Signature))
    }),
    ("invalid-inclusion-proof_fail", |e| {
        matches!(e, TlogError::ProofRoot)
    }),
    ("rekor2-checkpoint-missing-log-signature_fail", |e| {
        matches!(
            e,
            TlogError::Checkpoint(CheckpointError::NoLogSignature { .. })
        )
    }),
    // The size line now stands where the origin should: not the log's origin.
    (
        "rekor2-checkpoint-missing-origin_fail",
        |e| matches!(e, TlogError::Checkpoint(CheckpointError::OriginMismatch { found, .. }) if found == "736"),
    ),
    ("rekor2-checkpoint-missing-root-hash_fail", |e| {
        matches!(e, TlogError::Checkpoint(CheckpointError::RootHash(_)))
    }),
    ("rekor2-checkpoint-missing-size_fail", |e| {
        matches!(e, TlogError::Checkpoint(CheckpointError::Size(_)))
    }),
    (
        "rekor2-checkpoint-no-matching-signature_fail",
        |e| matches!(e, TlogError::Checkpoint(CheckpointError::OriginMismatch { found, .. }) if found.contains("github")),
    ),
    ("rekor2-dsse-invalid-sig_fail", |e| {
        matches!(e, TlogError::SignatureMismatch)
    }),
    ("rekor2-dsse-mismatch-envelope_fail", |e| {
        matches!(e, TlogError::DigestMismatch)
    }),
    ("rekor2-dsse-mismatch-sig_fail", |e| {
        matches!(e, TlogError::SignatureMismatch)
    }),
    ("rekor2-no-inclusion-proof_fail", |e| {
        matches!(e, TlogError::NoProof("a Rekor v2 entry"))
    }),
    ("set-invalid-signature_fail", |e| {
        matches!(e, TlogError::PromiseSignature)
    }),
    ("signature-mismatch_fail", |e| {
        matches!(e, TlogError::SignatureMismatch)
    }),
    ("wrong-hashedrekord-artifact_fail", |e| {
        matches!(e, TlogError::DigestMismatch)
    }),
    ("wrong-hashedrekord-cert-and-sig_fail", |e| {
        matches!(e, TlogError::SignatureMismatch)
    }),
    ("wrong-hashedrekord-entry_fail", |e| {
        matches!(e, TlogError::DigestMismatch)
    }),
    ("wrong-material_fail", |e| {
        matches!(e, TlogError::DigestMismatch)
    }),
];

/// The happy paths: (case, Rekor v2, SET verified, proof verified to a checkpoint).
const VERIFIED: &[(&str, bool, bool, bool)] = &[
    ("happy-path-v0.1", false, true, true),
    ("happy-path-v0.2", false, true, true),
    ("happy-path-v0.3", false, true, true),
    ("happy-path-v0.3-new-mediaType", false, true, true),
    ("happy-path-intoto-in-dsse-v3", false, true, true),
    ("intoto-with-custom-trust-root", false, true, true),
    ("rekor2-checkpoint-cosigned", true, false, true),
    ("rekor2-checkpoint-multiple-cosigs", true, false, true),
    ("rekor2-checkpoint-origin-not-first", true, false, true),
    ("rekor2-checkpoint-two-sigs-cosigned", true, false, true),
    ("rekor2-checkpoint-two-sigs-from-origin", true, false, true),
    ("rekor2-dsse-happy-path", true, false, true),
    ("rekor2-happy-path", true, false, true),
    // integratedTime equals the end of the log key's window: inclusive.
    ("trust-root-tlog-validity-end-inclusive", false, true, true),
    ("managed-key-happy-path", false, true, true),
    ("bundle-with-sct-with-extensions", true, false, true),
];

#[test]
fn conformance_cases_about_the_log_are_refused_for_their_reason() {
    let Some(dir) = conformance() else { return };
    for (case, want) in REFUSED {
        let got = run_case(&dir.join(case)).unwrap_or_else(|| panic!("{case} did not run"));
        match got {
            Err(e) => {
                assert!(want(&e), "{case}: refused for another reason: {e:?}");
                assert_eq!(e.class(), ErrorClass::Denied);
                assert!(!e.to_string().is_empty());
            }
            Ok(l) => panic!("{case}: verified: {l:?}"),
        }
    }
}

#[test]
fn conformance_happy_paths_verify() {
    let Some(dir) = conformance() else { return };
    for (case, v2, promise, proof) in VERIFIED {
        let got = run_case(&dir.join(case)).unwrap_or_else(|| panic!("{case} did not run"));
        let l = got.unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_eq!(
            (l.rekor_v2, l.promise, l.inclusion_proof),
            (*v2, *promise, *proof),
            "{case}"
        );
        assert_eq!(l.integrated_time.is_some(), *promise, "{case}");
    }
}

/// Cases that fail for reasons outside the log (certificates, timestamps, identities)
/// carry good entries: refusing them here would be refusing for the wrong reason.
#[test]
fn every_other_conformance_entry_verifies() {
    let Some(dir) = conformance() else { return };
    let mut ran = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let e = e.unwrap();
        let case = e.file_name().into_string().unwrap();
        if !e.path().is_dir() || REFUSED.iter().any(|(c, _)| *c == case) {
            continue;
        }
        if let Some(got) = run_case(&e.path()) {
            if let Err(err) = got {
                panic!("{case}: {err}");
            }
            ran += 1;
        }
    }
    assert!(ran >= 35, "only {ran} cases ran");
}
