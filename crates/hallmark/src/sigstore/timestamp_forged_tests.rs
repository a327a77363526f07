//! Timestamp tokens forged here, one rule broken at a time.

use super::tests::at;
use super::*;

/// (and without the conformance cases): a P-256 root CA, a TSA leaf it issues, tokens
/// signed by whichever key and naming whichever signer a test wants.
mod forge {
    use super::super::*;
    use super::at;
    use crate::sigstore::root::Validity;
    use cms::cert::IssuerAndSerialNumber;
    use cms::signed_data::SignedData;
    use der::asn1::{BitString, SetOfVec};
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::EncodePublicKey;
    use std::str::FromStr;
    use x509_cert::attr::Attribute;
    use x509_cert::ext::Extension;
    use x509_cert::name::Name;
    use x509_cert::serial_number::SerialNumber;
    use x509_cert::spki::SubjectPublicKeyInfoOwned;
    use x509_cert::time::Time;

    pub(super) const ROOT_NAME: &str = "CN=Forged Test TSA Root";
    pub(super) const LEAF_NAME: &str = "CN=Forged Test TSA";
    pub(super) const LEAF_SERIAL: u8 = 2;
    pub(super) const LEAF_SKI: [u8; 20] = [7; 20];

    pub(super) struct Key(p256::ecdsa::SigningKey);

    impl Key {
        pub(super) fn new(seed: u8) -> Self {
            Self(p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap())
        }
        fn spki(&self) -> SubjectPublicKeyInfoOwned {
            let der = self.0.verifying_key().to_public_key_der().unwrap();
            SubjectPublicKeyInfoOwned::from_der(der.as_bytes()).unwrap()
        }
        fn sign(&self, message: &[u8]) -> Vec<u8> {
            let sig: p256::ecdsa::Signature = self.0.sign(message);
            sig.to_der().as_bytes().to_vec()
        }
    }

    fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid: ECDSA_SHA256,
            parameters: None,
        }
    }

    fn alg(oid: ObjectIdentifier) -> AlgorithmIdentifierOwned {
        AlgorithmIdentifierOwned {
            oid,
            parameters: None,
        }
    }

    #[derive(Sequence)]
    struct CertValidity {
        not_before: Time,
        not_after: Time,
    }

    #[derive(Sequence)]
    struct Tbs {
        #[asn1(context_specific = "0", tag_mode = "EXPLICIT")]
        version: u8,
        serial: SerialNumber,
        signature: AlgorithmIdentifierOwned,
        issuer: Name,
        validity: CertValidity,
        subject: Name,
        spki: SubjectPublicKeyInfoOwned,
        #[asn1(context_specific = "3", tag_mode = "EXPLICIT")]
        extensions: Vec<Extension>,
    }

    #[derive(Sequence)]
    struct Cert {
        tbs: Tbs,
        algorithm: AlgorithmIdentifierOwned,
        signature: BitString,
    }

    fn extension(oid: &str, critical: bool, value: &[u8]) -> Extension {
        Extension {
            extn_id: ObjectIdentifier::new_unwrap(oid),
            critical,
            extn_value: OctetString::new(value).unwrap(),
        }
    }

    /// A v3 certificate. `leaf`: a TSA certificate (digitalSignature, and the
    /// timeStamping usage when `eku`); otherwise a CA.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn cert(
        subject: &str,
        serial: u8,
        key: &Key,
        issuer: &str,
        issuer_key: &Key,
        valid: (&str, &str),
        leaf: bool,
        eku: bool,
    ) -> Vec<u8> {
        let mut extensions = vec![];
        if leaf {
            extensions.push(extension("2.5.29.15", true, &[0x03, 0x02, 0x07, 0x80]));
            if eku {
                let time_stamping = [
                    0x30, 0x0a, 0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x08,
                ];
                extensions.push(extension("2.5.29.37", true, &time_stamping));
            }
            let ski = OctetString::new(LEAF_SKI).unwrap().to_der().unwrap();
            extensions.push(extension("2.5.29.14", false, &ski));
        } else {
            extensions.push(extension(
                "2.5.29.19",
                true,
                &[0x30, 0x03, 0x01, 0x01, 0xff],
            ));
            extensions.push(extension("2.5.29.15", true, &[0x03, 0x02, 0x01, 0x06]));
        }
        let tbs = Tbs {
            version: 2,
            serial: SerialNumber::new(&[serial]).unwrap(),
            signature: ecdsa_sha256(),
            issuer: Name::from_str(issuer).unwrap(),
            validity: CertValidity {
                not_before: Time::try_from(at(valid.0)).unwrap(),
                not_after: Time::try_from(at(valid.1)).unwrap(),
            },
            subject: Name::from_str(subject).unwrap(),
            spki: key.spki(),
            extensions,
        };
        let signature = issuer_key.sign(&tbs.to_der().unwrap());
        Cert {
            tbs,
            algorithm: ecdsa_sha256(),
            signature: BitString::from_bytes(&signature).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    pub(super) struct Tsa {
        pub root: TrustedRoot,
        pub key: Key,
        pub ca_key: Key,
    }

    /// A trusted root with one TSA: leaf valid 2024–2030 under a root CA valid
    /// 2020–2040, the authority trusted from 2024-01-01 on.
    pub(super) fn tsa(eku: bool) -> Tsa {
        let (key, ca_key) = (Key::new(2), Key::new(1));
        let ca = cert(
            ROOT_NAME,
            1,
            &ca_key,
            ROOT_NAME,
            &ca_key,
            ("2020-01-01T00:00:00Z", "2040-01-01T00:00:00Z"),
            false,
            false,
        );
        let leaf = cert(
            LEAF_NAME,
            LEAF_SERIAL,
            &key,
            ROOT_NAME,
            &ca_key,
            ("2024-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
            true,
            eku,
        );
        let authority = Authority {
            uri: "https://tsa.test".into(),
            name: "forged-test-tsa".into(),
            chain: vec![leaf, ca],
            valid: Validity {
                start: at("2024-01-01T00:00:00Z"),
                end: None,
            },
        };
        let mut root = TrustedRoot::production();
        root.timestamp_authorities = vec![authority];
        Tsa { root, key, ca_key }
    }

    pub(super) enum Sid {
        IssuerSerial(&'static str, u8),
        Ski(Vec<u8>),
    }

    /// A token's every part, each a test may change before [`Token::build`].
    pub(super) struct Token<'a> {
        pub signature: Vec<u8>,
        pub imprint_alg: ObjectIdentifier,
        pub gen_time: &'a str,
        pub sid: Sid,
        pub key: &'a Key,
        pub content_type: Option<ObjectIdentifier>,
        pub econtent_type: ObjectIdentifier,
        pub embed: Vec<Vec<u8>>,
        pub signers: usize,
        pub response: bool,
        pub nonce: Option<Vec<u8>>,
    }

    /// A valid token from `tsa` over `signature`, stamped 2025-06-12T12:02:20.25Z.
    pub(super) fn token<'a>(tsa: &'a Tsa, signature: &[u8]) -> Token<'a> {
        Token {
            signature: signature.to_vec(),
            imprint_alg: ID_SHA256,
            gen_time: "20250612120220.25Z",
            sid: Sid::IssuerSerial(ROOT_NAME, LEAF_SERIAL),
            key: &tsa.key,
            content_type: Some(ID_CT_TST_INFO),
            econtent_type: ID_CT_TST_INFO,
            embed: vec![],
            signers: 1,
            response: true,
            nonce: None,
        }
    }

    impl Token<'_> {
        pub(super) fn build(&self) -> Vec<u8> {
            let imprint_alg = alg(self.imprint_alg);
            let hashed =
                hash_with(&imprint_alg, &self.signature, "test").unwrap_or_else(|_| vec![0; 32]);
            let tst = TstInfo {
                version: 1,
                policy: ObjectIdentifier::new_unwrap("1.2.3.4"),
                message_imprint: MessageImprint {
                    hash_algorithm: imprint_alg,
                    hashed_message: OctetString::new(hashed).unwrap(),
                },
                serial_number: Int::new(&[9]).unwrap(),
                gen_time: GenTime(self.gen_time.as_bytes().to_vec()),
                accuracy: None,
                ordering: false,
                nonce: self.nonce.as_ref().map(|n| Int::new(n).unwrap()),
                tsa: None,
                extensions: None,
            }
            .to_der()
            .unwrap();
            let mut attrs = vec![Attribute {
                oid: ID_MESSAGE_DIGEST,
                values: SetOfVec::try_from(vec![
                    Any::encode_from(
                        &OctetString::new(sha2::Sha256::digest(&tst).to_vec()).unwrap(),
                    )
                    .unwrap(),
                ])
                .unwrap(),
            }];
            if let Some(ct) = self.content_type {
                attrs.push(Attribute {
                    oid: ID_CONTENT_TYPE,
                    values: SetOfVec::try_from(vec![Any::encode_from(&ct).unwrap()]).unwrap(),
                });
            }
            let attrs = SetOfVec::try_from(attrs).unwrap();
            let signature = self.key.sign(&attrs.to_der().unwrap());
            let sid = match &self.sid {
                Sid::IssuerSerial(issuer, serial) => {
                    SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
                        issuer: Name::from_str(issuer).unwrap(),
                        serial_number: SerialNumber::new(&[*serial]).unwrap(),
                    })
                }
                Sid::Ski(ski) => SignerIdentifier::SubjectKeyIdentifier(SubjectKeyIdentifier(
                    OctetString::new(ski.clone()).unwrap(),
                )),
            };
            let signers = (0..self.signers)
                .map(|i| SignerInfo {
                    version: CmsVersion::V1,
                    sid: sid.clone(),
                    digest_alg: alg(ID_SHA256),
                    signed_attrs: Some(attrs.clone()),
                    signature_algorithm: ecdsa_sha256(),
                    // Distinct signatures, so that a SET OF keeps every signer.
                    signature: OctetString::new(if i == 0 {
                        signature.clone()
                    } else {
                        vec![i as u8]
                    })
                    .unwrap(),
                    unsigned_attrs: None,
                })
                .collect::<Vec<_>>();
            let certificates = (!self.embed.is_empty()).then(|| {
                let certs = self
                    .embed
                    .iter()
                    .map(|c| {
                        cms::cert::CertificateChoices::Certificate(
                            Certificate::from_der(c).unwrap(),
                        )
                    })
                    .collect::<Vec<_>>();
                cms::signed_data::CertificateSet::try_from(certs).unwrap()
            });
            let signed = SignedData {
                version: CmsVersion::V3,
                digest_algorithms: SetOfVec::try_from(vec![alg(ID_SHA256)]).unwrap(),
                encap_content_info: EncapsulatedContentInfo {
                    econtent_type: self.econtent_type,
                    econtent: Some(Any::encode_from(&OctetString::new(tst).unwrap()).unwrap()),
                },
                certificates,
                crls: None,
                signer_infos: SignerInfos::try_from(signers).unwrap(),
            };
            let token = ContentInfo {
                content_type: ID_SIGNED_DATA,
                content: Any::encode_from(&signed).unwrap(),
            };
            if !self.response {
                return token.to_der().unwrap();
            }
            TimeStampResp {
                status: PkiStatusInfo {
                    status: 0,
                    status_string: None,
                    fail_info: None,
                },
                time_stamp_token: Some(token),
            }
            .to_der()
            .unwrap()
        }
    }
}

use forge::{LEAF_NAME, LEAF_SERIAL, LEAF_SKI, ROOT_NAME, Sid, token, tsa};

const SIG: &[u8] = b"the bundle's signature";

#[test]
fn a_token_of_a_trusted_authority_verifies_by_issuer_serial_or_key_identifier() {
    let tsa = tsa(true);
    let mut t = token(&tsa, SIG);
    let want = Ok(Stamp {
        time: at("2025-06-12T12:02:20.25Z"),
        authority: 0,
    });
    assert_eq!(verify(&t.build(), SIG, &tsa.root), want);
    t.response = false;
    assert_eq!(verify(&t.build(), SIG, &tsa.root), want);
    t.sid = Sid::Ski(LEAF_SKI.to_vec());
    assert_eq!(verify(&t.build(), SIG, &tsa.root), want);
    for alg in [ID_SHA384, ID_SHA512] {
        t.imprint_alg = alg;
        assert_eq!(verify(&t.build(), SIG, &tsa.root), want);
    }
    t.imprint_alg = ObjectIdentifier::new_unwrap("1.3.14.3.2.26");
    assert!(matches!(
        verify(&t.build(), SIG, &tsa.root),
        Err(TimestampError::UnsupportedAlgorithm {
            what: "message imprint",
            ..
        })
    ));
}

#[test]
fn the_answer_to_a_request_carries_its_nonce() {
    let tsa = tsa(true);
    let mut t = token(&tsa, SIG);
    let sent = [0x11, 2, 3, 4, 5, 6, 7, 8];
    assert_eq!(
        verify_with_nonce(&t.build(), SIG, &tsa.root, &sent),
        Err(TimestampError::Nonce("it has none"))
    );
    t.nonce = Some(vec![0x11, 2, 3, 4, 5, 6, 7, 9]);
    assert_eq!(
        verify_with_nonce(&t.build(), SIG, &tsa.root, &sent),
        Err(TimestampError::Nonce("it has another"))
    );
    t.nonce = Some(sent.to_vec());
    assert!(verify_with_nonce(&t.build(), SIG, &tsa.root, &sent).is_ok());
    // The nonce is no part of what a bundle's verifier checks.
    assert!(verify(&t.build(), SIG, &tsa.root).is_ok());
}

#[test]
fn a_certificate_in_the_token_is_not_even_read() {
    let tsa = tsa(true);
    let mut t = token(&tsa, SIG);
    let leaf = tsa.root.timestamp_authorities[0].chain[0].clone();
    t.embed = vec![leaf.clone()];
    let mut token = t.build();
    // The embedded copy of the leaf, made a version 8 certificate, which no X.509
    // parser takes.
    let start = token.windows(leaf.len()).position(|w| w == leaf).unwrap();
    let version = [0xa0, 0x03, 0x02, 0x01, 0x02];
    let byte = start + leaf.windows(5).position(|w| w == version).unwrap() + 4;
    token[byte] = 0x07;
    let content = TimeStampResp::from_der(&token)
        .unwrap()
        .time_stamp_token
        .unwrap();
    assert!(
        content
            .content
            .decode_as::<cms::signed_data::SignedData>()
            .is_err()
    );
    assert_eq!(
        verify(&token, SIG, &tsa.root),
        Ok(Stamp {
            time: at("2025-06-12T12:02:20.25Z"),
            authority: 0
        })
    );
}

#[test]
fn a_certificate_in_the_token_never_makes_its_signer_trusted() {
    let tsa = tsa(true);
    // Another TSA certificate, issued by the trusted root CA itself, embedded in the token.
    let impostor_key = forge::Key::new(3);
    let impostor = forge::cert(
        "CN=Impostor TSA",
        LEAF_SERIAL + 1,
        &impostor_key,
        ROOT_NAME,
        &tsa.ca_key,
        ("2024-01-01T00:00:00Z", "2030-01-01T00:00:00Z"),
        true,
        true,
    );
    let mut t = token(&tsa, SIG);
    t.key = &impostor_key;
    t.sid = Sid::IssuerSerial(ROOT_NAME, LEAF_SERIAL + 1);
    t.embed = vec![impostor.clone()];
    assert_eq!(
        verify(&t.build(), SIG, &tsa.root),
        Err(TimestampError::UntrustedAuthority)
    );
    t.sid = Sid::Ski(vec![8; 20]);
    assert_eq!(
        verify(&t.build(), SIG, &tsa.root),
        Err(TimestampError::UntrustedAuthority)
    );
    // Naming the trusted leaf does not lend the impostor's key its trust.
    t.sid = Sid::IssuerSerial(ROOT_NAME, LEAF_SERIAL);
    assert!(matches!(
        verify(&t.build(), SIG, &tsa.root),
        Err(TimestampError::BadSignature { .. })
    ));
    // Nor does a name alone: the leaf's subject as issuer.
    t.key = &tsa.key;
    t.sid = Sid::IssuerSerial(LEAF_NAME, LEAF_SERIAL);
    assert_eq!(
        verify(&t.build(), SIG, &tsa.root),
        Err(TimestampError::UntrustedAuthority)
    );
}

#[test]
fn what_the_signer_signed_must_say_tst_info() {
    let tsa = tsa(true);
    let mut t = token(&tsa, SIG);
    t.content_type = None;
    assert!(matches!(
        verify(&t.build(), SIG, &tsa.root),
        Err(TimestampError::SignedAttributes(_))
    ));
    t.content_type = Some(ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1"));
    assert_eq!(
        verify(&t.build(), SIG, &tsa.root),
        Err(TimestampError::SignedAttributes(
            "the content-type attribute is not TSTInfo"
        ))
    );
    let mut t = token(&tsa, SIG);
    t.econtent_type = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.1");
    assert!(matches!(
        verify(&t.build(), SIG, &tsa.root),
        Err(TimestampError::NotTstInfo(_))
    ));
    let mut t = token(&tsa, SIG);
    t.signers = 2;
    assert_eq!(
        verify(&t.build(), SIG, &tsa.root),
        Err(TimestampError::SignerCount(2))
    );
}

#[test]
fn the_authority_is_judged_at_the_time_it_stamped() {
    let tsa = tsa(true);
    let mut t = token(&tsa, SIG);
    // The authority's window opens at 2024-01-01T00:00:00Z, included, to the nanosecond.
    t.gen_time = "20240101000000Z";
    assert!(verify(&t.build(), SIG, &tsa.root).is_ok());
    let mut early = tsa.root.clone();
    early.timestamp_authorities[0].valid.start = at("2024-01-01T00:00:00.000000001Z");
    assert!(matches!(
        verify(&t.build(), SIG, &early),
        Err(TimestampError::OutsideWindow { .. })
    ));
    // The leaf expired at 2030: a later stamp is refused however long the root trusts.
    t.gen_time = "20300101000001Z";
    let e = verify(&t.build(), SIG, &tsa.root).unwrap_err();
    assert!(matches!(e, TimestampError::ChainInvalid { .. }), "{e}");
    assert!(e.to_string().contains("2030-01-01T00:00:01Z"), "{e}");
    t.gen_time = "20231231235959Z";
    assert!(matches!(
        verify(&t.build(), SIG, &tsa.root),
        Err(TimestampError::ChainInvalid { .. })
    ));
}

#[test]
fn a_tsa_certificate_without_the_time_stamping_usage_is_refused() {
    let tsa = tsa(false);
    let e = verify(&token(&tsa, SIG).build(), SIG, &tsa.root).unwrap_err();
    assert!(matches!(e, TimestampError::ChainInvalid { .. }), "{e}");
    assert!(e.to_string().contains("usage"), "{e}");
}

#[test]
fn forged_tokens_are_checked_against_the_signature_they_name() {
    let tsa = tsa(true);
    let good = token(&tsa, SIG).build();
    assert_eq!(
        verify(&good, b"another signature", &tsa.root),
        Err(TimestampError::ImprintMismatch)
    );
    let other = token(&tsa, b"another signature").build();
    assert_eq!(
        verify_all(&[good.clone(), other], SIG, &tsa.root).unwrap_err(),
        TimestampError::ImprintMismatch
    );
    let mut later = token(&tsa, SIG);
    later.gen_time = "20250612120221Z";
    let stamps = verify_all(&[good, later.build()], SIG, &tsa.root).unwrap();
    assert_eq!(
        stamps.iter().map(|s| s.time).collect::<Vec<_>>(),
        [at("2025-06-12T12:02:20.25Z"), at("2025-06-12T12:02:21Z")]
    );
}

proptest::proptest! {
    /// Truncated, extended or altered tokens are refused with a reason, never a panic,
    /// and an altered token that still verifies still says what the original said.
    #[test]
    fn any_damage_to_a_token_is_refused_without_panic(
        cut in 0usize..4000,
        at_byte in 0usize..4000,
        xor in 1u8..=255,
        junk in proptest::collection::vec(proptest::num::u8::ANY, 1..64),
        response in proptest::bool::ANY,
    ) {
        let tsa = tsa(true);
        let mut t = token(&tsa, SIG);
        t.response = response;
        t.embed = tsa.root.timestamp_authorities[0].chain.clone();
        let token = t.build();
        let original = verify(&token, SIG, &tsa.root).unwrap();
        let truncated = &token[..cut % token.len()];
        proptest::prop_assert!(verify(truncated, SIG, &tsa.root).is_err());
        let mut extended = token.clone();
        extended.extend_from_slice(&junk);
        proptest::prop_assert!(verify(&extended, SIG, &tsa.root).is_err());
        let mut flipped = token.clone();
        flipped[at_byte % token.len()] ^= xor;
        if let Ok(stamp) = verify(&flipped, SIG, &tsa.root) {
            proptest::prop_assert_eq!(stamp, original);
        }
        let _ = verify(&junk, SIG, &tsa.root);
    }
}
