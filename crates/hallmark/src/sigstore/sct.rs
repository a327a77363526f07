//! Signed certificate timestamps embedded in a Fulcio leaf (RFC 6962 §3.2–3.3): the CT log's
//! promise that it logged the precertificate. Each SCT is checked against the CT log of the
//! trusted root named by its log id, over the precertificate's signed data rebuilt from the
//! leaf: its TBSCertificate without the SCT list, and the key hash of the *verified* issuer
//! (never one looked up by name, which a same-named intermediate could answer).

use std::time::{Duration, UNIX_EPOCH};

use der::asn1::{AnyRef, ObjectIdentifier};
use der::{Decode, Encode, Header, Length, Reader, SliceReader, Tag, TagNumber, Tagged};
use x509_cert::Certificate;
use x509_cert::ext::pkix::sct::{
    HashAlgorithm, SignatureAlgorithm, SignedCertificateTimestamp, SignedCertificateTimestampList,
};

use super::certificate::{Leaf, show_time};
use super::root::TrustedRoot;
use super::x509::{self, Hash};
use crate::class::ErrorClass;
use crate::digest::Digest;

/// Most SCTs read from one certificate; Fulcio embeds one.
pub(crate) const MAX_SCTS: usize = 16;
const OID_SCT_LIST: ObjectIdentifier = const_oid::db::rfc6962::CT_PRECERT_SCTS;
const OID_EC: ObjectIdentifier = const_oid::db::rfc5912::ID_EC_PUBLIC_KEY;
const OID_RSA: ObjectIdentifier = const_oid::db::rfc5912::RSA_ENCRYPTION;
const OID_ED25519: ObjectIdentifier = const_oid::db::rfc8410::ID_ED_25519;

/// Why no SCT of a leaf verified. When several SCTs fail, the first one's reason is given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SctError {
    /// The leaf carries no SCT list.
    #[error(
        "the signing certificate carries no signed certificate timestamp (no proof it was logged in certificate transparency)"
    )]
    Missing,
    /// The SCT list, or an SCT, does not decode.
    #[error("the signing certificate's signed certificate timestamps do not parse: {0}")]
    Malformed(String),
    /// More SCTs than are read.
    #[error(
        "the signing certificate carries {0} signed certificate timestamps; at most {MAX_SCTS} are read"
    )]
    TooMany(usize),
    /// The leaf's TBSCertificate cannot be rebuilt as a precertificate.
    #[error("the signing certificate cannot be rebuilt as a precertificate: {0}")]
    Precertificate(String),
    /// An SCT from a CT log the trusted root does not list.
    #[error(
        "the signed certificate timestamp is from CT log {log_id}, which the trusted root does not list"
    )]
    UnknownLog {
        /// The log id, hex.
        log_id: String,
    },
    /// An SCT made when the log's key was not trusted.
    #[error(
        "the signed certificate timestamp of CT log {log} is dated {at}, outside the window the trusted root gives its key"
    )]
    OutsideKeyWindow {
        /// The log's base URL.
        log: String,
        /// The SCT's timestamp.
        at: String,
    },
    /// An SCT whose algorithm is not the log key's, or not one Sigstore uses.
    #[error(
        "the signed certificate timestamp of CT log {log} is signed with {algorithm}, which its key ({key}) cannot verify"
    )]
    Algorithm {
        /// The log's base URL.
        log: String,
        /// The SCT's hash and signature algorithm.
        algorithm: String,
        /// The key's algorithm.
        key: String,
    },
    /// An SCT whose signature does not verify.
    #[error(
        "the signed certificate timestamp of CT log {log} does not verify: its signature is not over this certificate and issuer"
    )]
    BadSignature {
        /// The log's base URL.
        log: String,
    },
}

impl SctError {
    /// An SCT that does not hold is a security "no".
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Denied
    }
}

/// Verifies the SCTs embedded in the leaf (RFC 6962 §3.2 precert signed data; issuer key hash
/// from `issuer_spki`, the *verified* issuer; CT log by log id in `root.ctlogs`; SCT timestamp
/// within the CT key's window; SCT extensions carried into the signed struct). At least one
/// must verify, else an error saying why (no SCT, unknown log, bad signature, …). Returns how
/// many verified.
pub fn verify_scts(leaf: &Leaf, issuer_spki: &[u8], root: &TrustedRoot) -> Result<usize, SctError> {
    let malformed = |e: &dyn std::fmt::Debug| SctError::Malformed(format!("{e:?}"));
    let cert = Certificate::from_der(leaf.der()).map_err(|e| malformed(&e))?;
    let list = cert
        .tbs_certificate()
        .get_extension::<SignedCertificateTimestampList>()
        .map_err(|e| malformed(&e))?
        .ok_or(SctError::Missing)?
        .1;
    let serialized = list.parse_timestamps().map_err(|e| malformed(&e))?;
    if serialized.is_empty() {
        return Err(SctError::Missing);
    }
    if serialized.len() > MAX_SCTS {
        return Err(SctError::TooMany(serialized.len()));
    }
    let tbs = precert_tbs(leaf.der()).map_err(|e| SctError::Precertificate(e.to_string()))?;
    let issuer_key_hash = Digest::sha256(issuer_spki).to_bytes();

    let mut verified = 0;
    let mut first_error = None;
    for s in &serialized {
        let result = s
            .parse_timestamp()
            .map_err(|e| malformed(&e))
            .and_then(|sct| verify_one(&sct, &tbs, &issuer_key_hash, root));
        match result {
            Ok(()) => verified += 1,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    match (verified, first_error) {
        (0, Some(e)) => Err(e),
        (0, None) => Err(SctError::Missing),
        (n, _) => Ok(n),
    }
}

fn verify_one(
    sct: &SignedCertificateTimestamp,
    tbs: &[u8],
    issuer_key_hash: &[u8],
    root: &TrustedRoot,
) -> Result<(), SctError> {
    let log = root
        .ctlog(&sct.log_id.key_id)
        .ok_or_else(|| SctError::UnknownLog {
            log_id: hex(&sct.log_id.key_id),
        })?;
    let at = UNIX_EPOCH
        .checked_add(Duration::from_millis(sct.timestamp))
        .unwrap_or(UNIX_EPOCH);
    if !log.key.valid.contains(at) {
        return Err(SctError::OutsideKeyWindow {
            log: log.base_url.clone(),
            at: show_time(at, true),
        });
    }
    let algorithm_error = || SctError::Algorithm {
        log: log.base_url.clone(),
        algorithm: format!(
            "{:?}/{:?}",
            sct.signature.algorithm.signature, sct.signature.algorithm.hash
        ),
        key: log.key.details.clone(),
    };
    let key_oid = spki::SubjectPublicKeyInfoRef::from_der(&log.key.spki)
        .map(|k| k.algorithm.oid)
        .map_err(|_| algorithm_error())?;
    let hash = match sct.signature.algorithm.hash {
        HashAlgorithm::Sha256 => Hash::Sha256,
        HashAlgorithm::Sha384 => Hash::Sha384,
        HashAlgorithm::Sha512 => Hash::Sha512,
        // Ed25519 hashes internally; the hash passed is ignored for it.
        HashAlgorithm::Intrinsic => Hash::Sha256,
        _ => return Err(algorithm_error()),
    };
    // The SCT names its algorithm; it must be the key's, so that a log's key is only ever
    // used the way the log uses it.
    let fits = match sct.signature.algorithm.signature {
        SignatureAlgorithm::Ecdsa => key_oid == OID_EC && hash != Hash::Sha512,
        SignatureAlgorithm::Rsa => key_oid == OID_RSA,
        SignatureAlgorithm::Ed25519 => {
            key_oid == OID_ED25519 && sct.signature.algorithm.hash == HashAlgorithm::Intrinsic
        }
        _ => false,
    };
    if !fits {
        return Err(algorithm_error());
    }
    let signed = signed_data(
        sct.timestamp,
        issuer_key_hash,
        tbs,
        sct.extensions.as_slice(),
    )
    .ok_or_else(|| SctError::Precertificate("the certificate is too large".into()))?;
    if x509::verify_signature(
        &log.key.spki,
        hash,
        &signed,
        sct.signature.signature.as_slice(),
    ) {
        Ok(())
    } else {
        Err(SctError::BadSignature {
            log: log.base_url.clone(),
        })
    }
}

/// RFC 6962 §3.2 `digitally-signed` struct of a precertificate entry; `None` when a length
/// does not fit its field.
fn signed_data(
    timestamp_ms: u64,
    issuer_key_hash: &[u8],
    tbs: &[u8],
    extensions: &[u8],
) -> Option<Vec<u8>> {
    let tbs_len = u32::try_from(tbs.len()).ok().filter(|n| *n < 1 << 24)?;
    let ext_len = u16::try_from(extensions.len()).ok()?;
    let mut out = Vec::with_capacity(tbs.len() + extensions.len() + 48);
    out.push(0); // version v1
    out.push(0); // signature_type certificate_timestamp
    out.extend_from_slice(&timestamp_ms.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes()); // entry_type precert_entry
    out.extend_from_slice(issuer_key_hash);
    out.extend_from_slice(&tbs_len.to_be_bytes()[1..]);
    out.extend_from_slice(tbs);
    out.extend_from_slice(&ext_len.to_be_bytes());
    out.extend_from_slice(extensions);
    Some(out)
}

/// The leaf's TBSCertificate with the SCT list extension removed, DER. Every other element is
/// kept byte for byte; only the lengths of the enclosing structures change.
fn precert_tbs(cert: &[u8]) -> der::Result<Vec<u8>> {
    let outer = AnyRef::from_der(cert)?;
    let tbs: AnyRef<'_> = SliceReader::new(outer.value())?.decode()?;
    let mut fields = Vec::new();
    let mut r = SliceReader::new(tbs.value())?;
    let extensions_tag = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(3),
    };
    while !r.is_finished() {
        let field: AnyRef<'_> = r.decode()?;
        if field.tag() != extensions_tag {
            fields.extend(field.to_der()?);
            continue;
        }
        let list = AnyRef::from_der(field.value())?;
        let mut kept = Vec::new();
        let mut e = SliceReader::new(list.value())?;
        while !e.is_finished() {
            let ext: AnyRef<'_> = e.decode()?;
            let mut inner = SliceReader::new(ext.value())?;
            let oid: ObjectIdentifier = inner.decode()?;
            if oid != OID_SCT_LIST {
                kept.extend(ext.to_der()?);
            }
        }
        let list = wrap(Tag::Sequence, &kept)?;
        fields.extend(wrap(extensions_tag, &list)?);
    }
    wrap(Tag::Sequence, &fields)
}

fn wrap(tag: Tag, content: &[u8]) -> der::Result<Vec<u8>> {
    let mut out = Header::new(tag, Length::try_from(content.len())?).to_der()?;
    out.extend_from_slice(content);
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, SystemTime};

    use super::*;
    use crate::sigstore::certificate::fixtures::*;
    use crate::sigstore::certificate::{parse_leaf, verify_chain};

    /// The leaf and its verified issuer's key for a conformance case, checked at `at`
    /// (its integrated time when not given).
    fn verified(name: &str, at: Option<SystemTime>) -> Option<(Leaf, Vec<u8>, TrustedRoot)> {
        let c = case(name)?;
        let leaf = parse_leaf(&c.leaf).unwrap();
        let at = at.or(c.integrated).unwrap_or(leaf.not_before);
        let issued = verify_chain(&leaf, &c.root, at).unwrap_or_else(|e| panic!("{name}: {e}"));
        Some((leaf, issued.issuer_spki, c.root))
    }

    #[test]
    fn the_sct_of_a_production_leaf_verifies_and_a_flipped_signature_byte_does_not() {
        let Some((leaf, issuer, root)) = verified("happy-path-v0.3", None) else {
            return;
        };
        assert_eq!(verify_scts(&leaf, &issuer, &root), Ok(1));

        // The SCT list ends with the SCT's signature: flip its last byte.
        let cert = Certificate::from_der(leaf.der()).unwrap();
        let list = cert
            .tbs_certificate()
            .extensions()
            .unwrap()
            .iter()
            .find(|e| e.extn_id == OID_SCT_LIST)
            .unwrap()
            .extn_value
            .as_bytes()
            .to_vec();
        let der = leaf.der();
        let start = der
            .windows(list.len())
            .position(|w| w == list.as_slice())
            .unwrap();
        let mut flipped = der.to_vec();
        flipped[start + list.len() - 1] ^= 0x01;
        let forged = parse_leaf(&flipped).unwrap();
        let e = verify_scts(&forged, &issuer, &root).unwrap_err();
        assert!(matches!(e, SctError::BadSignature { .. }), "{e}");
        assert!(e.to_string().contains("ctfe.sigstore.dev/2022"), "{e}");

        // The issuer key hash is the verified issuer's: the root's key does not do.
        let root_spki =
            x509::spki_of(root.certificate_authorities[1].chain.last().unwrap()).unwrap();
        assert!(matches!(
            verify_scts(&leaf, &root_spki, &root),
            Err(SctError::BadSignature { .. })
        ));
    }

    #[test]
    fn an_sct_from_a_log_the_root_does_not_list_fails() {
        // That case's root carries staging CT keys only; the leaf is from production.
        let Some(c) = case("invalid-ct-key_fail") else {
            return;
        };
        let leaf = parse_leaf(&c.leaf).unwrap();
        let issued = verify_chain(&leaf, &c.root, c.integrated.unwrap()).unwrap();
        let e = verify_scts(&leaf, &issued.issuer_spki, &c.root).unwrap_err();
        assert!(matches!(e, SctError::UnknownLog { .. }), "{e}");
        assert_eq!(
            verify_scts(&leaf, &issued.issuer_spki, &TrustedRoot::production()),
            Ok(1)
        );
    }

    #[test]
    fn an_sct_with_extensions_under_an_rsa_fulcio_root_verifies() {
        let Some(c) = case("bundle-with-sct-with-extensions") else {
            return;
        };
        let leaf = parse_leaf(&c.leaf).unwrap();
        let at = leaf.not_before + Duration::from_secs(1);
        let issued = verify_chain(&leaf, &c.root, at).unwrap();
        // The case is about extensions: make sure it still has some.
        let cert = Certificate::from_der(leaf.der()).unwrap();
        let list = cert
            .tbs_certificate()
            .get_extension::<SignedCertificateTimestampList>()
            .unwrap()
            .unwrap()
            .1;
        let sct = list.parse_timestamps().unwrap()[0]
            .parse_timestamp()
            .unwrap();
        assert!(!sct.extensions.as_slice().is_empty());
        assert_eq!(verify_scts(&leaf, &issued.issuer_spki, &c.root), Ok(1));
    }

    #[test]
    fn scts_of_our_own_with_and_without_extensions() {
        for extensions in [&b""[..], &[0x00, 0x00, 0x05, 0x01, 0x02, 0x03, 0x04, 0x05]] {
            let p = pki(san_email("who@example.com"), &[], extensions);
            let leaf = parse_leaf(&p.leaf).unwrap();
            assert_eq!(verify_scts(&leaf, &spki(&p.ca_key), &p.root), Ok(1));
            // Another issuer's key hash is another precertificate.
            assert!(matches!(
                verify_scts(&leaf, &spki(&key(8)), &p.root),
                Err(SctError::BadSignature { .. })
            ));
        }
    }

    #[test]
    fn each_reason_an_sct_fails() {
        let p = pki(san_email("who@example.com"), &[], &[]);
        let leaf = parse_leaf(&p.leaf).unwrap();
        let issuer = spki(&p.ca_key);

        let mut no_logs = p.root.clone();
        no_logs.ctlogs.clear();
        let e = verify_scts(&leaf, &issuer, &no_logs).unwrap_err();
        assert_eq!(
            e,
            SctError::UnknownLog {
                log_id: hex(&Digest::sha256(&spki(&p.ct_key)).to_bytes())
            }
        );

        // The SCT is dated START + 1 s; a key trusted only from START + 2 s did not make it,
        // and one trusted until exactly then did (inclusive).
        let mut later = p.root.clone();
        later.ctlogs[0].key.valid.start = at(START + 2);
        assert!(matches!(
            verify_scts(&leaf, &issuer, &later),
            Err(SctError::OutsideKeyWindow { .. })
        ));
        let mut until = p.root.clone();
        until.ctlogs[0].key.valid.end = Some(at(START + 1));
        assert_eq!(verify_scts(&leaf, &issuer, &until), Ok(1));
        until.ctlogs[0].key.valid.end = Some(at(START + 1) - Duration::from_millis(1));
        assert!(matches!(
            verify_scts(&leaf, &issuer, &until),
            Err(SctError::OutsideKeyWindow { .. })
        ));

        // An ECDSA SCT is not checked with an Ed25519 key of the same log id.
        let mut ed = p.root.clone();
        let mut ed_spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        ed_spki.extend([7; 32]);
        ed.ctlogs[0].key.spki = ed_spki;
        assert!(matches!(
            verify_scts(&leaf, &issuer, &ed),
            Err(SctError::Algorithm { .. })
        ));

        // A leaf with no SCT at all.
        let exts = [
            key_usage(true),
            eku(CODE_SIGNING),
            sans(&[san_email("who@example.com")]),
        ];
        let bare = sign(
            &tbs("test-ca", "", &key(3), (at(START), at(START + 600)), &exts),
            &p.ca_key,
        );
        let bare = parse_leaf(&bare).unwrap();
        assert_eq!(verify_scts(&bare, &issuer, &p.root), Err(SctError::Missing));
    }

    #[test]
    fn an_sct_dated_far_outside_any_window_is_refused_without_a_panic() {
        for ms in [u64::MAX, 0] {
            let p = pki_sct_at(san_email("who@example.com"), &[], &[], ms);
            let leaf = parse_leaf(&p.leaf).unwrap();
            let mut root = p.root.clone();
            root.ctlogs[0].key.valid.end = Some(at(START + 100));
            let e = verify_scts(&leaf, &spki(&p.ca_key), &root).unwrap_err();
            assert!(matches!(e, SctError::OutsideKeyWindow { .. }), "{e}");
            assert!(e.to_string().contains("1970"), "{e}");
        }
    }

    #[test]
    fn the_precertificate_drops_only_the_sct_list() {
        let p = pki(san_email("who@example.com"), &[], &[]);
        let pre = precert_tbs(&p.leaf).unwrap();
        let exts = [
            key_usage(true),
            eku(CODE_SIGNING),
            sans(&[san_email("who@example.com")]),
        ];
        let want = tbs("test-ca", "", &key(3), (at(START), at(START + 600)), &exts);
        assert_eq!(pre, want);
        assert!(precert_tbs(b"\x30\x00").is_err());
        assert!(precert_tbs(b"").is_err());
    }
}

/// Hostile certificates: whatever bytes a bundle carries, each check answers, never panics.
#[cfg(test)]
mod hostile {
    use proptest::prelude::*;

    use super::*;
    use crate::sigstore::certificate::fixtures::*;
    use crate::sigstore::certificate::{check_bundle_chain, parse_leaf, verify_chain};

    /// Whether the leaf holds: it parses, chains at its notBefore and has a verified SCT.
    fn all_checks(der: &[u8], root: &TrustedRoot, issuer: &[u8]) -> bool {
        let _ = check_bundle_chain(&[der.to_vec()]);
        let Ok(leaf) = parse_leaf(der) else {
            return false;
        };
        let chain = verify_chain(&leaf, root, leaf.not_before);
        let sct = verify_scts(&leaf, issuer, root);
        chain.is_ok() && sct.is_ok()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn a_leaf_with_any_byte_changed(at in any::<prop::sample::Index>(), to in any::<u8>()) {
            let p = pki(san_email("who@example.com"), &[], &[1, 2, 3]);
            let mut der = p.leaf.clone();
            let i = at.index(der.len());
            let changed = der[i] != to;
            der[i] = to;
            // Every byte is signed by the authority or is the signature itself.
            prop_assert_eq!(all_checks(&der, &p.root, &spki(&p.ca_key)), !changed);
        }

        #[test]
        fn a_leaf_cut_short(at in any::<prop::sample::Index>()) {
            let p = pki(san_email("who@example.com"), &[], &[]);
            prop_assert!(!all_checks(&p.leaf[..at.index(p.leaf.len())], &p.root, &spki(&p.ca_key)));
        }

        #[test]
        fn any_bytes(data in proptest::collection::vec(any::<u8>(), 0..512)) {
            prop_assert!(!all_checks(&data, &TrustedRoot::production(), &data));
        }
    }
}
