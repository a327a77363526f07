use std::time::{Duration, SystemTime, UNIX_EPOCH};

use der::Encode;
use der::asn1::ObjectIdentifier;
use p256::ecdsa::SigningKey;
use p256::ecdsa::signature::Signer;
use p256::pkcs8::EncodePublicKey;

use crate::bundle::Bundle;
use crate::sigstore::root::{Authority, Log, LogKey, TrustedRoot, Validity};

/// A conformance case: its bundle's leaf and chain, the integrated time of its first
/// log entry, and its trusted root (the production one when it has none). `None`, with
/// one line said, when the shared folder is absent.
pub(crate) struct Case {
    pub leaf: Vec<u8>,
    pub rest: Vec<Vec<u8>>,
    pub integrated: Option<SystemTime>,
    pub root: TrustedRoot,
}

pub(crate) fn case(name: &str) -> Option<Case> {
    let dir = crate::sigstore::conformance_cases()?.join(name);
    let bundle = Bundle::parse(&std::fs::read(dir.join("bundle.sigstore.json")).unwrap())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let certs = bundle.certificates().unwrap().expect("a keyless bundle");
    let integrated = bundle
        .verification_material
        .tlog_entries
        .first()
        .filter(|e| e.integrated_time > 0)
        .map(|e| UNIX_EPOCH + Duration::from_secs(e.integrated_time as u64));
    let root = match std::fs::read(dir.join("trusted_root.json")) {
        Ok(bytes) => TrustedRoot::parse(&bytes).unwrap(),
        Err(_) => TrustedRoot::production(),
    };
    Some(Case {
        leaf: certs.leaf,
        rest: certs.rest,
        integrated,
        root,
    })
}

// A minimal DER writer: enough to build certificates whose every field the tests choose.

pub(crate) fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = content.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let len: Vec<u8> = n
            .to_be_bytes()
            .into_iter()
            .skip_while(|b| *b == 0)
            .collect();
        out.push(0x80 | len.len() as u8);
        out.extend(len);
    }
    out.extend_from_slice(content);
    out
}

pub(crate) fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

pub(crate) fn oid(dotted: &str) -> Vec<u8> {
    ObjectIdentifier::new(dotted).unwrap().to_der().unwrap()
}

pub(crate) fn utf8(s: &str) -> Vec<u8> {
    tlv(0x0c, s.as_bytes())
}

/// An extension; `value` is the DER the OCTET STRING wraps.
pub(crate) fn ext(id: &str, critical: bool, value: &[u8]) -> Vec<u8> {
    let crit = if critical {
        tlv(0x01, &[0xff])
    } else {
        Vec::new()
    };
    seq(&[&oid(id), &crit, &tlv(0x04, value)])
}

pub(crate) fn san_email(s: &str) -> Vec<u8> {
    tlv(0x81, s.as_bytes())
}
pub(crate) fn san_uri(s: &str) -> Vec<u8> {
    tlv(0x86, s.as_bytes())
}
pub(crate) fn san_dns(s: &str) -> Vec<u8> {
    tlv(0x82, s.as_bytes())
}
pub(crate) fn san_username(s: &str) -> Vec<u8> {
    tlv(
        0xa0,
        &[oid("1.3.6.1.4.1.57264.1.7"), tlv(0xa0, &utf8(s))].concat(),
    )
}
pub(crate) fn sans(names: &[Vec<u8>]) -> Vec<u8> {
    ext(
        "2.5.29.17",
        true,
        &seq(&names.iter().map(Vec::as_slice).collect::<Vec<_>>()),
    )
}
/// KeyUsage with digitalSignature (bit 0) or keyCertSign (bit 5).
pub(crate) fn key_usage(digital_signature: bool) -> Vec<u8> {
    let bits = if digital_signature {
        [0x07, 0x80]
    } else {
        [0x02, 0x04]
    };
    ext("2.5.29.15", true, &tlv(0x03, &bits))
}
pub(crate) fn eku(usage: &str) -> Vec<u8> {
    ext("2.5.29.37", false, &seq(&[&oid(usage)]))
}
pub(crate) const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";

fn name(cn: &str) -> Vec<u8> {
    seq(&[&tlv(0x31, &seq(&[&oid("2.5.4.3"), &utf8(cn)]))])
}

fn generalized(t: SystemTime) -> Vec<u8> {
    let text = humantime::format_rfc3339_seconds(t).to_string();
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    tlv(0x18, format!("{digits}Z").as_bytes())
}

pub(crate) fn key(seed: u8) -> SigningKey {
    SigningKey::from_slice(&[seed; 32]).unwrap()
}

pub(crate) fn spki(key: &SigningKey) -> Vec<u8> {
    key.verifying_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
}

pub(crate) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The TBSCertificate of a certificate by `issuer` (CN) for `subject_key`.
pub(crate) fn tbs(
    issuer: &str,
    subject: &str,
    subject_key: &SigningKey,
    valid: (SystemTime, SystemTime),
    extensions: &[Vec<u8>],
) -> Vec<u8> {
    let exts: Vec<&[u8]> = extensions.iter().map(Vec::as_slice).collect();
    seq(&[
        &tlv(0xa0, &tlv(0x02, &[2])),
        &tlv(0x02, &[0x01, 0x23]),
        &seq(&[&oid("1.2.840.10045.4.3.2")]),
        &name(issuer),
        &seq(&[&generalized(valid.0), &generalized(valid.1)]),
        &name(subject),
        &spki(subject_key),
        &tlv(0xa3, &seq(&exts)),
    ])
}

/// Signs a TBSCertificate into a certificate (ECDSA P-256 with SHA-256).
pub(crate) fn sign(tbs: &[u8], issuer_key: &SigningKey) -> Vec<u8> {
    let sig: p256::ecdsa::Signature = issuer_key.sign(tbs);
    let mut bits = vec![0];
    bits.extend_from_slice(sig.to_der().as_bytes());
    seq(&[tbs, &seq(&[&oid("1.2.840.10045.4.3.2")]), &tlv(0x03, &bits)])
}

/// A self-signed CA certificate.
pub(crate) fn ca(cn: &str, key: &SigningKey, valid: (SystemTime, SystemTime)) -> Vec<u8> {
    let bc = ext("2.5.29.19", true, &seq(&[&tlv(0x01, &[0xff])]));
    sign(&tbs(cn, cn, key, valid, &[bc, key_usage(false)]), key)
}

/// An SCT list extension holding one SCT by `ct` over the precertificate `tbs` (the leaf's
/// TBSCertificate without this extension) issued by the key with SPKI `issuer_spki`.
pub(crate) fn sct_extension(
    ct: &SigningKey,
    timestamp_ms: u64,
    extensions: &[u8],
    issuer_spki: &[u8],
    tbs: &[u8],
) -> Vec<u8> {
    use crate::digest::Digest;
    let mut signed = vec![0, 0];
    signed.extend_from_slice(&timestamp_ms.to_be_bytes());
    signed.extend_from_slice(&[0, 1]);
    signed.extend(Digest::sha256(issuer_spki).to_bytes());
    signed.extend_from_slice(&(tbs.len() as u32).to_be_bytes()[1..]);
    signed.extend_from_slice(tbs);
    signed.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    signed.extend_from_slice(extensions);
    let sig: p256::ecdsa::Signature = ct.sign(&signed);
    let sig = sig.to_der().as_bytes().to_vec();
    let mut sct = vec![0];
    sct.extend(Digest::sha256(&spki(ct)).to_bytes());
    sct.extend_from_slice(&timestamp_ms.to_be_bytes());
    sct.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
    sct.extend_from_slice(extensions);
    sct.extend_from_slice(&[4, 3]);
    sct.extend_from_slice(&(sig.len() as u16).to_be_bytes());
    sct.extend(sig);
    let mut one = (sct.len() as u16).to_be_bytes().to_vec();
    one.extend(sct);
    let mut list = (one.len() as u16).to_be_bytes().to_vec();
    list.extend(one);
    ext("1.3.6.1.4.1.11129.2.4.2", false, &tlv(0x04, &list))
}

/// A little PKI of the tests' own: a root, a Fulcio-profile leaf for `subject` issued by
/// it with one SCT, and a trusted root naming the CA and the CT log.
pub(crate) struct Pki {
    pub ca_key: SigningKey,
    pub ct_key: SigningKey,
    pub leaf_key: SigningKey,
    pub leaf: Vec<u8>,
    pub root: TrustedRoot,
}

pub(crate) const START: u64 = 1_700_000_000;

pub(crate) fn pki(subject: Vec<u8>, extra: &[Vec<u8>], sct_extensions: &[u8]) -> Pki {
    pki_sct_at(subject, extra, sct_extensions, (START + 1) * 1000)
}

/// As [`pki`], with the SCT dated `sct_ms` (milliseconds since 1970).
pub(crate) fn pki_sct_at(
    subject: Vec<u8>,
    extra: &[Vec<u8>],
    sct_extensions: &[u8],
    sct_ms: u64,
) -> Pki {
    let ca_key = key(1);
    let ct_key = key(2);
    let leaf_key = key(3);
    let ca = ca("test-ca", &ca_key, (at(START - 1000), at(START + 100_000)));
    let mut exts = vec![key_usage(true), eku(CODE_SIGNING), sans(&[subject])];
    exts.extend_from_slice(extra);
    let valid = (at(START), at(START + 600));
    let pre = tbs("test-ca", "", &leaf_key, valid, &exts);
    exts.push(sct_extension(
        &ct_key,
        sct_ms,
        sct_extensions,
        &spki(&ca_key),
        &pre,
    ));
    let leaf = sign(&tbs("test-ca", "", &leaf_key, valid, &exts), &ca_key);
    let root = TrustedRoot {
        tlogs: Vec::new(),
        ctlogs: vec![Log {
            base_url: "https://ct.test".into(),
            key: LogKey {
                spki: spki(&ct_key),
                details: "PKIX_ECDSA_P256_SHA_256".into(),
                valid: Validity {
                    start: at(START - 1000),
                    end: None,
                },
            },
            log_id: crate::digest::Digest::sha256(&spki(&ct_key)).to_bytes(),
            checkpoint_key_id: None,
        }],
        certificate_authorities: vec![Authority {
            uri: "https://ca.test".into(),
            name: "test-ca".into(),
            chain: vec![ca.clone()],
            valid: Validity {
                start: at(START - 1000),
                end: None,
            },
        }],
        timestamp_authorities: Vec::new(),
    };
    Pki {
        ca_key,
        ct_key,
        leaf_key,
        leaf,
        root,
    }
}
