use super::*;
use crate::bundle::{Bundle, Content};
use base64ct::{Base64, Encoding};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The sigstore-conformance verify cases, read from the project's reference material
/// beside the checkout (never copied into it).
fn cases() -> Option<PathBuf> {
    super::super::conformance_cases()
}

/// A case's tokens, the bundle's signature and its trusted root (the embedded production
/// root when the case has none).
struct Case {
    tokens: Vec<Vec<u8>>,
    signature: Vec<u8>,
    root: TrustedRoot,
}

fn case(dir: &Path, name: &str) -> Case {
    let dir = dir.join(name);
    let bundle = Bundle::parse(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let signature = match bundle.content().unwrap() {
        Content::Message { signature, .. } => signature,
        Content::Dsse(e) => Base64::decode_vec(&e.signatures[0].sig).unwrap(),
    };
    let root = match std::fs::read(dir.join("trusted_root.json")) {
        Ok(bytes) => TrustedRoot::parse(&bytes).unwrap(),
        Err(_) => TrustedRoot::production(),
    };
    Case {
        tokens: bundle.timestamps().unwrap(),
        signature,
        root,
    }
}

pub(super) fn at(text: &str) -> SystemTime {
    humantime::parse_rfc3339(text).unwrap()
}

fn one(c: &Case) -> Result<Stamp, TimestampError> {
    assert_eq!(c.tokens.len(), 1);
    verify(&c.tokens[0], &c.signature, &c.root)
}

#[test]
fn a_rekor_v2_bundle_timestamp_verifies_with_its_time_and_authority() {
    let Some(dir) = cases() else { return };
    let c = case(&dir, "rekor2-happy-path");
    let stamp = one(&c).unwrap();
    assert_eq!(stamp.time, at("2025-06-12T12:02:20Z"));
    assert_eq!(stamp.authority, 0);
    assert_eq!(
        verify_all(&c.tokens, &c.signature, &c.root).unwrap(),
        vec![stamp]
    );
}

#[test]
fn timestamps_that_must_verify_do() {
    let Some(dir) = cases() else { return };
    for name in [
        "rekor2-timestamp-with-embedded-cert",
        "rekor2-timestamp-without-embedded-cert",
        // Expired now, valid at genTime: the chain is judged at the time stamped.
        "rekor2-timestamp-with-expired-cert-chain",
        // genTime equals the authority's validFor.end: the window is closed.
        "trust-root-tsa-validity-end-inclusive",
        "intoto-with-custom-trust-root",
    ] {
        let c = case(&dir, name);
        one(&c).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let c = case(&dir, "trust-root-tsa-validity-end-inclusive");
    assert_eq!(
        Some(one(&c).unwrap().time),
        c.root.timestamp_authorities[0].valid.end
    );
}

#[test]
fn the_production_timestamp_authority_verifies_against_the_embedded_root() {
    let Some(dir) = cases() else { return };
    let c = case(&dir, "managed-key-happy-path");
    let stamp = one(&c).unwrap();
    let authority = &c.root.timestamp_authorities[stamp.authority];
    assert!(
        authority.uri.contains("timestamp.sigstore.dev"),
        "{authority:?}"
    );
}

#[test]
fn timestamps_that_must_fail_fail_for_their_own_reason() {
    let Some(dir) = cases() else { return };
    let reason = |name: &str| one(&case(&dir, name)).unwrap_err();
    assert_eq!(
        reason("rekor2-timestamp-payload-mismatch_fail"),
        TimestampError::ImprintMismatch
    );
    assert!(
        matches!(
            reason("rekor2-timestamp-outside-trust-root-tsa-validity_fail"),
            TimestampError::OutsideWindow { .. }
        ),
        "{}",
        reason("rekor2-timestamp-outside-trust-root-tsa-validity_fail")
    );
    let e = reason("rekor2-timestamp-outside-tsa-cert-validity_fail");
    assert!(matches!(e, TimestampError::ChainInvalid { .. }), "{e}");
    assert!(e.to_string().contains("expired"), "{e}");
    for name in [
        "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail",
    ] {
        assert_eq!(reason(name), TimestampError::UntrustedAuthority, "{name}");
    }
}

/// Every case whose failure is about something else has a timestamp that verifies, and
/// exactly the timestamp cases fail: the module neither misses nor invents a reason.
#[test]
fn every_conformance_timestamp_is_judged_as_its_case_says() {
    let Some(dir) = cases() else { return };
    let timestamp_failures = [
        "rekor2-timestamp-payload-mismatch_fail",
        "rekor2-timestamp-outside-trust-root-tsa-validity_fail",
        "rekor2-timestamp-outside-tsa-cert-validity_fail",
        "rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail",
        "rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail",
    ];
    let mut judged = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let Ok(bytes) = std::fs::read(dir.join(&name).join("bundle.sigstore.json")) else {
            continue;
        };
        let Ok(bundle) = Bundle::parse(&bytes) else {
            continue;
        };
        if bundle.timestamps().map_or(true, |t| t.is_empty())
            || std::fs::read(dir.join(&name).join("trusted_root.json"))
                .is_ok_and(|r| TrustedRoot::parse(&r).is_err())
        {
            continue;
        }
        let c = case(&dir, &name);
        let result = verify_all(&c.tokens, &c.signature, &c.root);
        assert_eq!(
            result.is_err(),
            timestamp_failures.contains(&name.as_str()),
            "{name}: {result:?}"
        );
        judged += 1;
    }
    assert!(judged >= 30, "only {judged} cases with timestamps");
}

#[test]
fn a_token_over_another_signature_fails() {
    let Some(dir) = cases() else { return };
    let c = case(&dir, "rekor2-happy-path");
    let mut other = c.signature.clone();
    other[10] ^= 1;
    assert_eq!(
        verify(&c.tokens[0], &other, &c.root),
        Err(TimestampError::ImprintMismatch)
    );
    assert_eq!(
        verify(&c.tokens[0], b"", &c.root),
        Err(TimestampError::ImprintMismatch)
    );
}

/// The SignerInfo's signature: the last OCTET STRING of the token, at its end.
fn signature_range(token: &[u8]) -> std::ops::Range<usize> {
    let signed = signed_data(token).unwrap();
    let sig = signed.signer_infos.0.as_slice()[0]
        .signature
        .as_bytes()
        .to_vec();
    let start = token
        .windows(sig.len())
        .rposition(|w| w == sig.as_slice())
        .unwrap();
    start..start + sig.len()
}

#[test]
fn a_flipped_byte_in_the_cms_signature_fails() {
    let Some(dir) = cases() else { return };
    for name in ["rekor2-happy-path", "managed-key-happy-path"] {
        let c = case(&dir, name);
        let range = signature_range(&c.tokens[0]);
        // The middle of r or s of the DER ECDSA signature, not its structure.
        let mut forged = c.tokens[0].clone();
        forged[range.start + 10] ^= 0x40;
        assert!(
            matches!(
                verify(&forged, &c.signature, &c.root),
                Err(TimestampError::BadSignature { .. })
            ),
            "{name}"
        );
    }
}

#[test]
fn a_changed_tst_info_no_longer_matches_its_signed_digest() {
    let Some(dir) = cases() else { return };
    let c = case(&dir, "rekor2-happy-path");
    // genTime one second later: the TSA's signature is not over that time.
    let token = &c.tokens[0];
    let from = b"20250612120220Z";
    let start = token.windows(from.len()).position(|w| w == from).unwrap();
    let mut forged = token.clone();
    forged[start + 13] = b'1';
    assert_eq!(
        verify(&forged, &c.signature, &c.root),
        Err(TimestampError::MessageDigestMismatch)
    );
}

#[test]
fn a_token_repeated_or_too_many_refuses_the_bundle() {
    let Some(dir) = cases() else { return };
    let c = case(&dir, "rekor2-happy-path");
    let token = c.tokens[0].clone();
    assert_eq!(
        verify_all(&[token.clone(), token.clone()], &c.signature, &c.root),
        Err(TimestampError::Duplicate {
            first: 0,
            second: 1
        })
    );
    // The same token bare and wrapped in its TimeStampResp is still one timestamp.
    let bare = bare_token(&token);
    assert_eq!(verify(&bare, &c.signature, &c.root), one(&c));
    assert_eq!(
        verify_all(&[token.clone(), bare], &c.signature, &c.root),
        Err(TimestampError::Duplicate {
            first: 0,
            second: 1
        })
    );
    let many = vec![token; MAX_TIMESTAMPS + 1];
    assert_eq!(
        verify_all(&many, &c.signature, &c.root),
        Err(TimestampError::TooMany(MAX_TIMESTAMPS + 1))
    );
    assert_eq!(verify_all(&[], &c.signature, &c.root), Ok(vec![]));
}

/// The TimeStampToken inside a TimeStampResp, re-encoded alone.
fn bare_token(response: &[u8]) -> Vec<u8> {
    TimeStampResp::from_der(response)
        .unwrap()
        .time_stamp_token
        .unwrap()
        .to_der()
        .unwrap()
}

#[test]
fn a_token_of_another_authority_fails_even_when_it_is_otherwise_valid() {
    let Some(dir) = cases() else { return };
    let c = case(&dir, "rekor2-happy-path");
    let production = TrustedRoot::production();
    assert_eq!(
        verify(&c.tokens[0], &c.signature, &production),
        Err(TimestampError::UntrustedAuthority)
    );
    let mut none = c.root.clone();
    none.timestamp_authorities.clear();
    assert_eq!(
        verify(&c.tokens[0], &c.signature, &none),
        Err(TimestampError::UntrustedAuthority)
    );
}

#[test]
fn the_authority_that_signed_is_the_one_whose_window_counts() {
    let Some(dir) = cases() else { return };
    let c = case(&dir, "rekor2-happy-path");
    let time = one(&c).unwrap().time;
    // An authority with the right window but another certificate does not lend it to
    // the signer, whose own window has closed.
    let mut root = TrustedRoot::production();
    let mut signer = c.root.timestamp_authorities[0].clone();
    signer.valid.end = Some(time - Duration::from_secs(1));
    root.timestamp_authorities.push(signer.clone());
    assert!(matches!(
        verify(&c.tokens[0], &c.signature, &root),
        Err(TimestampError::OutsideWindow { .. })
    ));
    // The same certificate listed again for a later window is tried too.
    let mut later = signer;
    later.valid.start = time;
    later.valid.end = None;
    root.timestamp_authorities.push(later);
    let stamp = verify(&c.tokens[0], &c.signature, &root).unwrap();
    assert_eq!(stamp.authority, root.timestamp_authorities.len() - 1);
}

#[test]
fn a_response_not_granted_or_not_a_token_is_refused() {
    // TimeStampResp { status { 2 (rejection) } }
    let rejected = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02];
    assert_eq!(
        verify(&rejected, b"sig", &TrustedRoot::production()),
        Err(TimestampError::NotGranted("2, rejection".into()))
    );
    let granted_empty = [0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00];
    assert!(matches!(
        verify(&granted_empty, b"sig", &TrustedRoot::production()),
        Err(TimestampError::NotGranted(_))
    ));
    for garbage in [&b""[..], b"\x30", b"hello", &[0x30, 0x00]] {
        assert!(matches!(
            verify(garbage, b"sig", &TrustedRoot::production()),
            Err(TimestampError::NotAToken(_))
        ));
    }
    assert_eq!(
        verify(
            &vec![0; MAX_TOKEN_BYTES + 1],
            b"sig",
            &TrustedRoot::production()
        ),
        Err(TimestampError::TooLarge)
    );
}

#[test]
fn gen_time_reads_fractions_and_refuses_what_is_not_a_time() {
    let t = |s: &str| parse_gen_time(s.as_bytes());
    assert_eq!(t("20250612120220Z"), Some(at("2025-06-12T12:02:20Z")));
    assert_eq!(t("20250612120220.5Z"), Some(at("2025-06-12T12:02:20.5Z")));
    assert_eq!(
        t("20240229235959.123456789Z"),
        Some(at("2024-02-29T23:59:59.123456789Z"))
    );
    assert_eq!(t("19700101000000Z"), Some(UNIX_EPOCH));
    for bad in [
        "20250612120220",
        "2025061212022Z",
        "20250612120220.Z",
        "20250612120220.1234567890Z",
        "20250612120260Z",
        "20230229000000Z",
        "20251301000000Z",
        "20250600000000Z",
        "19691231235959Z",
        "2025061212022+Z",
        "20250612120220.-1Z",
        "",
    ] {
        assert_eq!(t(bad), None, "{bad}");
    }
}
