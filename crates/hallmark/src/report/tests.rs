use super::*;

fn signature(key_id: &str) -> ValidSignature {
    ValidSignature {
        key: format!("{key_id}.pub"),
        key_id: key_id.into(),
        algorithm: Algorithm::EcdsaP256,
        format: SignatureFormat::Legacy,
        annotations: BTreeMap::new(),
        bound_tags: Vec::new(),
        timestamp: None,
        sigstore: None,
    }
}

fn report() -> Report {
    Report::new(
        "reg.example.com/app@sha256:00".into(),
        Digest::sha256(b"image"),
        None,
    )
}

#[test]
fn a_new_report_is_rejected_until_decided() {
    let r = report();
    assert_eq!(r.decision(), &Decision::Rejected);
    assert!(!r.verified() && !r.allowed());
}

#[test]
fn verified_means_enough_distinct_keys() {
    let mut r = report();
    r.count(signature("a"));
    assert!(
        r.decide_by_threshold(0).is_none(),
        "a threshold of 0 means 1"
    );
    assert_eq!(r.decision(), &Decision::Verified);
    assert!(r.verified() && r.allowed());

    // The same key twice is one key.
    r.count(signature("a"));
    let short = r.decide_by_threshold(2).expect("one key of two");
    assert_eq!(short.to_string(), "1 distinct key(s) signed, 2 required");
    assert_eq!(r.decision(), &Decision::Rejected);
    assert!(!r.verified() && !r.allowed());

    r.count(signature("b"));
    assert!(r.decide_by_threshold(2).is_none());
    assert!(r.verified());

    // Nothing counted: rejected, with nothing to say about a threshold.
    let mut none = report();
    assert!(none.decide_by_threshold(1).is_none());
    assert_eq!(none.decision(), &Decision::Rejected);
}

#[test]
fn allowed_unsigned_is_allowed_and_not_verified() {
    let mut r = report();
    r.allow_unsigned("vendor".into());
    assert_eq!(
        r.decision(),
        &Decision::AllowedUnsigned {
            rule: "vendor".into()
        }
    );
    assert!(r.allowed() && !r.verified());
}

#[test]
fn a_decision_taken_back_is_rejected() {
    let mut r = report();
    r.count(signature("a"));
    r.decide_by_threshold(1);
    r.reject();
    assert!(!r.allowed() && r.signatures().len() == 1);
    r.decide_by_threshold(1);
    r.reject_all();
    assert!(!r.allowed() && r.signatures().is_empty());
}

#[test]
fn json_keeps_its_shape() {
    let mut r = report();
    r.find(Finding::new(About::Signature(2), Rejection::NoTrustedKey));
    r.allow_unsigned("vendor".into());
    r.set_policy(PolicyDecision {
        rule: Some("vendor".into()),
        action: Some(Action::AllowUnsigned),
    });
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "reference": "reg.example.com/app@sha256:00",
            "digest": Digest::sha256(b"image").to_string(),
            "tag": null,
            "verified": false,
            "allowed": true,
            "signatures": [],
            "errors": [
                "signature 2: not signed by any of the given keys (or the payload was altered)"
            ],
            "policy": {"rule": "vendor", "action": "allow-unsigned"},
        })
    );
    // Fields in the order they were always written.
    let text = serde_json::to_string(&r).unwrap();
    let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
    let order = [
        "reference",
        "digest",
        "tag",
        "verified",
        "allowed",
        "signatures",
        "errors",
        "policy",
    ];
    let mut written = order;
    written.sort_by_key(|k| at(k));
    assert_eq!(written, order);
    assert!(
        serde_json::to_value(report())
            .unwrap()
            .get("policy")
            .is_none()
    );
}

/// Each typed reason reads as the text it had when reasons were strings (the
/// command line and scripts match on it), with the producing error's text inside.
#[test]
fn typed_reasons_read_as_before() {
    let json_error = || serde_json::from_slice::<serde_json::Value>(b"{").unwrap_err();
    let bundle_error = || crate::bundle::Bundle::parse(b"{}").unwrap_err();
    let digest = Digest::sha256(b"image");
    let manifest_error = crate::signature::SignatureError::TooManyLayers {
        digest: digest.clone(),
        count: 9999,
    };
    let manifest_text = manifest_error.to_string();
    let io = std::io::Error::other("blob sha256:ab does not match its digest");
    let cases: Vec<(Rejection, String)> = vec![
        (
            Rejection::UnusableManifest(Arc::new(manifest_error)),
            manifest_text,
        ),
        (
            Rejection::PayloadCorrupt(Arc::new(io)),
            "blob sha256:ab does not match its digest".into(),
        ),
        (
            Rejection::PayloadInvalid(Arc::new(json_error())),
            format!("invalid simple-signing payload: {}", json_error()),
        ),
        (
            Rejection::StatementInvalid(Arc::new(json_error())),
            format!("invalid in-toto statement: {}", json_error()),
        ),
        (
            Rejection::BundleInvalid(Arc::new(bundle_error())),
            bundle_error().to_string(),
        ),
        (
            Rejection::Annotations(Arc::new(bundle_error())),
            format!("cosign's Sigstore annotations: {}", bundle_error()),
        ),
        (
            Rejection::Sigstore(Arc::new(
                crate::sigstore::verify::Refusal::NotSignedByKeys,
            )),
            "not signed by any of the given keys (or the artifact was altered)".into(),
        ),
        (
            Rejection::KeylessNeedsSha256,
            "keyless statements are verified for sha256 digests only".into(),
        ),
        (
            Rejection::BlobNeedsDigestKey,
            "an Ed25519 key cannot verify a streamed blob; blobs are signed with ECDSA P-256 keys".into(),
        ),
        (
            Rejection::Keyless("ci@example.com".into()),
            "signed keyless (a Fulcio certificate for ci@example.com)".into(),
        ),
        (
            Rejection::WrongRepository {
                signed: "evil.example.com/app".into(),
                identity: "reg.example.com/app".into(),
            },
            "signed for evil.example.com/app, not reg.example.com/app: the signature was copied from another repository".into(),
        ),
        (
            Rejection::WrongRepository {
                signed: "oci:/old".into(),
                identity: "oci:/new".into(),
            },
            "signed for oci:/old, not oci:/new: the layout was moved or copied since it was signed".into(),
        ),
        (
            Rejection::TagMoved {
                tag: "v1".into(),
                names: Digest::sha256(b"other"),
                verified: digest.clone(),
            },
            format!(
                "tag v1 names {}, not the verified {digest}; the tag is not reported and binds nothing",
                Digest::sha256(b"other")
            ),
        ),
        (
            Rejection::TagAbsent("v1".into()),
            "tag v1 does not exist; the tag is not reported and binds nothing".into(),
        ),
        (
            Rejection::NoAttestation("https://slsa.dev/provenance/v1".into()),
            "no attestation of type https://slsa.dev/provenance/v1".into(),
        ),
        (
            Rejection::AttestationRequired {
                rule: "prod".into(),
                predicate_type: "https://slsa.dev/provenance/v1".into(),
                keys: vec!["a.pub".into(), "b.pub".into()],
                findings: Vec::new(),
            },
            "rule \"prod\" requires an attestation of type https://slsa.dev/provenance/v1 by a.pub or b.pub; none verified".into(),
        ),
        (
            Rejection::AttestationRequired {
                rule: "prod".into(),
                predicate_type: "t".into(),
                keys: vec!["a.pub".into()],
                findings: vec![
                    Finding::new(About::Referrer(0), Rejection::NoTrustedKey),
                    Finding::new(About::AttestedBy("a.pub".into()), Rejection::NoTimestamp),
                ],
            },
            "rule \"prod\" requires an attestation of type t by a.pub; none verified (referrer 0: not signed by any of the given keys (or the payload was altered); attestation by a.pub: no signed timestamp, and a maximum age is required)".into(),
        ),
        (
            Rejection::NoRule {
                policy: "/etc/hallmark/policy.toml".into(),
                repository: "reg.example.com/app".into(),
            },
            "no rule of /etc/hallmark/policy.toml matches reg.example.com/app; denied by default".into(),
        ),
        (
            Rejection::RuleRejects {
                rule: "x".into(),
                repository: "reg.example.com/app".into(),
            },
            "rule \"x\" rejects reg.example.com/app".into(),
        ),
        (
            Rejection::UnsignedAllowed {
                rule: "x".into(),
                repository: "reg.example.com/app".into(),
            },
            "rule \"x\" allows reg.example.com/app unsigned: no signature was checked".into(),
        ),
    ];
    for (reason, text) in cases {
        assert_eq!(reason.to_string(), text, "{reason:?}");
    }
}

#[test]
fn a_finding_names_its_signature_before_its_reason() {
    let lines: Vec<String> = [
        Finding::artifact(Rejection::NoSignatureLayer),
        Finding::new(About::Signature(1), Rejection::NoTrustedKey),
        Finding::new(About::SignedBy("a.pub".into()), Rejection::NoTimestamp),
        Finding::new(About::Referrer(4), Rejection::NotAStatement),
        Finding::new(About::AttestedBy("b.pub".into()), Rejection::NoTimestamp),
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        lines,
        [
            "no signature: the signature manifest has no simple-signing layer",
            "signature 1: not signed by any of the given keys (or the payload was altered)",
            "signature by a.pub: no signed timestamp, and a maximum age is required",
            "referrer 4: the bundle signs a blob's bytes, not a statement about this image",
            "attestation by b.pub: no signed timestamp, and a maximum age is required",
        ]
    );
}
