use std::time::Duration;

use super::fixtures::*;
use super::*;

const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
const ACTIONS: &str = "https://token.actions.githubusercontent.com";

#[test]
fn a_github_actions_leaf_validates_at_its_integrated_time_and_not_after_it_expires() {
    let Some(c) = case("happy-path-v0.3") else {
        return;
    };
    let leaf = parse_leaf(&c.leaf).unwrap();
    let at = c.integrated.unwrap();
    let issued = verify_chain(&leaf, &c.root, at).unwrap();
    // The leaf is from 2024: the second authority (intermediate + root) issued it, and
    // the key that signed it is the intermediate's, not the root's.
    assert_eq!(issued.authority, 1);
    let intermediate = &c.root.certificate_authorities[1].chain[0];
    assert_eq!(issued.issuer_spki, x509::spki_of(intermediate).unwrap());
    assert!(leaf.valid_at(leaf.not_after), "notAfter is inclusive");
    assert!(verify_chain(&leaf, &c.root, leaf.not_after).is_ok());

    let late = leaf.not_after + Duration::from_secs(1);
    let e = verify_chain(&leaf, &c.root, late).unwrap_err();
    assert!(matches!(e, CertificateError::LeafNotValid { .. }), "{e}");
    assert!(e.to_string().contains("2024-03-19T17:36:26Z"), "{e}");

    // At an instant no authority's window contains, nothing can issue it.
    let mut narrowed = c.root.clone();
    for ca in &mut narrowed.certificate_authorities {
        ca.valid.end = Some(at - Duration::from_secs(1));
    }
    let e = verify_chain(&leaf, &narrowed, at).unwrap_err();
    assert!(matches!(e, CertificateError::NoAuthorityAt(_)), "{e}");
    // The window is inclusive at its end.
    narrowed.certificate_authorities[1].valid.end = Some(at);
    assert!(verify_chain(&leaf, &narrowed, at).is_ok());

    // The other authority alone (the 2021 root) did not issue it.
    let mut other = c.root.clone();
    other.certificate_authorities.remove(1);
    other.certificate_authorities[0].valid.end = None;
    let e = verify_chain(&leaf, &other, at).unwrap_err();
    assert!(matches!(e, CertificateError::Untrusted { .. }), "{e}");
}

#[test]
fn the_identity_and_github_claims_of_a_real_leaf() {
    let Some(c) = case("happy-path-v0.3") else {
        return;
    };
    let id = parse_leaf(&c.leaf).unwrap().identity;
    assert_eq!(id.subject, BEACON);
    assert_eq!(id.kind, SubjectKind::Uri);
    assert_eq!(id.issuer.as_deref(), Some(ACTIONS));
    let cl = &id.claims;
    assert_eq!(
        cl.github_workflow_trigger.as_deref(),
        Some("workflow_dispatch")
    );
    assert_eq!(
        cl.github_workflow_sha.as_deref(),
        Some("c7b3dfb335f051e1c86bda4c716fac97df62ad81")
    );
    assert_eq!(
        cl.github_workflow_name.as_deref(),
        Some("Extremely dangerous OIDC beacon")
    );
    assert_eq!(
        cl.github_workflow_repository.as_deref(),
        Some("sigstore-conformance/extremely-dangerous-public-oidc-beacon")
    );
    assert_eq!(cl.github_workflow_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(cl.build_trigger.as_deref(), Some("workflow_dispatch"));
    assert_eq!(cl.runner_environment.as_deref(), Some("github-hosted"));
    assert_eq!(cl.source_repository_ref.as_deref(), Some("refs/heads/main"));
    assert_eq!(cl.build_signer_uri.as_deref(), Some(BEACON));
    let json = serde_json::to_value(&id).unwrap();
    assert_eq!(json["subject"], BEACON);
    assert_eq!(json["kind"], "uri");
    assert_eq!(json["issuer"], ACTIONS);
    assert_eq!(json["claims"]["github_workflow_ref"], "refs/heads/main");
    let none = serde_json::to_value(Claims::default()).unwrap();
    assert_eq!(none, serde_json::json!({}));
}

#[test]
fn a_bundle_chain_carrying_the_root_is_refused() {
    let Some(c) = case("bundle-with-root-cert_fail") else {
        return;
    };
    let e = check_bundle_chain(&c.rest).unwrap_err();
    assert!(matches!(e, CertificateError::RootInBundle(_)), "{e}");
    assert!(e.to_string().contains("CN=sigstore"), "{e}");
    // Its leaf is an email identity, issued by the production intermediate.
    let leaf = parse_leaf(&c.leaf).unwrap();
    assert_eq!(leaf.identity.subject, "a@tny.town");
    assert_eq!(leaf.identity.kind, SubjectKind::Email);
    assert!(verify_chain(&leaf, &c.root, c.integrated.unwrap()).is_ok());
    // The intermediate alone is not a root.
    let intermediate: Vec<Vec<u8>> = c.rest.iter().skip(1).cloned().collect();
    assert!(check_bundle_chain(&intermediate).is_ok());
    assert!(check_bundle_chain(&[]).is_ok());
}

#[test]
fn a_self_signed_authority_of_our_own_is_a_root_and_garbage_is_an_error() {
    let key = key(9);
    let root = ca("mine", &key, (at(0), at(START)));
    assert!(matches!(
        check_bundle_chain(&[root]),
        Err(CertificateError::RootInBundle(n)) if n == "CN=mine"
    ));
    assert!(matches!(
        check_bundle_chain(&[b"junk".to_vec()]),
        Err(CertificateError::ChainMalformed { index: 1, .. })
    ));
    let many = vec![b"junk".to_vec(); MAX_BUNDLE_CHAIN + 1];
    assert!(matches!(
        check_bundle_chain(&many),
        Err(CertificateError::ChainTooLong(9))
    ));
}

#[test]
fn subjects_of_each_kind_and_the_issuer_extensions() {
    let issuer_v2 = ext("1.3.6.1.4.1.57264.1.8", false, &utf8("https://v2.example"));
    let issuer_v1 = ext("1.3.6.1.4.1.57264.1.1", false, b"https://v1.example");
    for (san, extra, subject, kind, issuer) in [
        (
            san_email("who@example.com"),
            vec![issuer_v1.clone()],
            "who@example.com",
            SubjectKind::Email,
            Some("https://v1.example"),
        ),
        (
            san_uri("spiffe://example/ns/x"),
            vec![issuer_v1.clone(), issuer_v2.clone()],
            "spiffe://example/ns/x",
            SubjectKind::Uri,
            Some("https://v2.example"),
        ),
        (
            san_username("octo"),
            vec![issuer_v2.clone(), issuer_v1.clone()],
            "octo",
            SubjectKind::Username,
            Some("https://v2.example"),
        ),
        (
            san_email("who@example.com"),
            vec![],
            "who@example.com",
            SubjectKind::Email,
            None,
        ),
    ] {
        let p = pki(san, &extra, &[]);
        let leaf = parse_leaf(&p.leaf).unwrap();
        assert_eq!(leaf.identity.subject, subject);
        assert_eq!(leaf.identity.kind, kind);
        assert_eq!(leaf.identity.issuer.as_deref(), issuer);
        assert_eq!(leaf.spki, spki(&p.leaf_key));
        assert_eq!(leaf.der(), p.leaf);
        assert_eq!(leaf.not_before, at(START));
        assert_eq!(leaf.not_after, at(START + 600));
        let issued = verify_chain(&leaf, &p.root, at(START + 1)).unwrap();
        assert_eq!(issued.authority, 0);
        assert_eq!(issued.issuer_spki, spki(&p.ca_key));
    }
}

/// A leaf of the tests' own with these extensions (no SCT), parsed.
fn leaf_with(extensions: &[Vec<u8>]) -> Result<Leaf, CertificateError> {
    let k = key(3);
    let der = sign(
        &tbs("test-ca", "", &k, (at(START), at(START + 600)), extensions),
        &key(1),
    );
    parse_leaf(&der)
}

#[test]
fn the_fulcio_profile_is_enforced() {
    let ku = key_usage(true);
    let code = eku(CODE_SIGNING);
    let one = sans(&[san_email("a@example.com")]);
    assert!(leaf_with(&[ku.clone(), code.clone(), one.clone()]).is_ok());
    let bc_ca = ext("2.5.29.19", true, &seq(&[&tlv(0x01, &[0xff])]));
    for (exts, want) in [
        (vec![code.clone(), one.clone()], CertificateError::KeyUsage),
        (
            vec![key_usage(false), code.clone(), one.clone()],
            CertificateError::KeyUsage,
        ),
        (
            vec![ku.clone(), one.clone()],
            CertificateError::ExtendedKeyUsage,
        ),
        (
            vec![ku.clone(), eku("1.3.6.1.5.5.7.3.1"), one.clone()],
            CertificateError::ExtendedKeyUsage,
        ),
        (vec![ku.clone(), code.clone()], CertificateError::NoSubject),
        (
            vec![
                ku.clone(),
                code.clone(),
                sans(&[san_email("a@example.com"), san_uri("https://x")]),
            ],
            CertificateError::SubjectCount(2),
        ),
        (
            vec![ku.clone(), code.clone(), sans(&[])],
            CertificateError::SubjectCount(0),
        ),
        (
            vec![ku.clone(), code.clone(), sans(&[san_dns("example.com")])],
            CertificateError::SubjectKind("DNS name"),
        ),
        (
            vec![ku.clone(), code.clone(), one.clone(), bc_ca],
            CertificateError::IsCa,
        ),
        (
            vec![ku.clone(), code.clone(), one.clone(), ku.clone()],
            CertificateError::DuplicateExtension("2.5.29.15".into()),
        ),
    ] {
        assert_eq!(leaf_with(&exts).unwrap_err(), want);
    }
    // An otherName of another type is not a Fulcio username.
    let other = tlv(0xa0, &[oid("1.2.3.4"), tlv(0xa0, &utf8("x"))].concat());
    assert!(matches!(
        leaf_with(&[ku.clone(), code.clone(), sans(&[other])]),
        Err(CertificateError::SubjectKind(_))
    ));
    // The newer issuer extension must be a DER string.
    let bad = ext("1.3.6.1.4.1.57264.1.8", false, b"https://raw");
    assert!(matches!(
        leaf_with(&[ku.clone(), code.clone(), one.clone(), bad]),
        Err(CertificateError::BadExtension { oid, .. }) if oid == "1.3.6.1.4.1.57264.1.8"
    ));
    assert!(matches!(
        parse_leaf(b"\x30\x03\x02\x01\x01"),
        Err(CertificateError::Malformed(_))
    ));
    assert!(matches!(
        parse_leaf(&[]),
        Err(CertificateError::Malformed(_))
    ));
}

#[test]
fn instants_outside_what_rfc_3339_can_write_are_still_refused_in_words() {
    let p = pki(san_email("who@example.com"), &[], &[]);
    let leaf = parse_leaf(&p.leaf).unwrap();
    let past = UNIX_EPOCH - Duration::from_secs(5);
    let far = UNIX_EPOCH + Duration::from_secs(300_000_000_000);
    for (t, want) in [
        (past, "5 seconds before 1970"),
        (far, "300000000000 seconds after 1970"),
    ] {
        let e = verify_chain(&leaf, &p.root, t).unwrap_err();
        assert!(e.to_string().contains(want), "{e}");
    }
    let mut open = leaf.clone();
    open.not_before = past;
    open.not_after = far;
    let mut none = p.root.clone();
    none.certificate_authorities.clear();
    for t in [past, far] {
        let e = verify_chain(&open, &none, t).unwrap_err();
        assert!(matches!(e, CertificateError::NoAuthorityAt(_)), "{e}");
    }
}

#[test]
fn a_chain_needs_the_authoritys_certificates_valid_and_the_right_usage() {
    let p = pki(san_email("who@example.com"), &[], &[]);
    let leaf = parse_leaf(&p.leaf).unwrap();
    let t = at(START + 10);
    assert!(verify_chain(&leaf, &p.root, t).is_ok());

    // An authority whose own certificate had expired by then issues nothing, even as
    // an anchor.
    let mut expired = p.root.clone();
    expired.certificate_authorities[0].chain = vec![ca("test-ca", &p.ca_key, (at(0), at(START)))];
    let e = verify_chain(&leaf, &expired, t).unwrap_err();
    assert!(e.to_string().contains("not valid at that time"), "{e}");

    // Another key under the same name does not issue it.
    let mut forged = p.root.clone();
    forged.certificate_authorities[0].chain =
        vec![ca("test-ca", &key(7), (at(0), at(START + 100_000)))];
    assert!(matches!(
        verify_chain(&leaf, &forged, t),
        Err(CertificateError::Untrusted { .. })
    ));

    // A leaf for server authentication is not for code signing, whatever its profile.
    let ku = key_usage(true);
    let one = sans(&[san_email("a@example.com")]);
    let tls = eku("1.3.6.1.5.5.7.3.1");
    let der = sign(
        &tbs(
            "test-ca",
            "",
            &key(3),
            (at(START), at(START + 600)),
            &[ku, tls, one],
        ),
        &p.ca_key,
    );
    assert!(parse_leaf(&der).is_err());
}
