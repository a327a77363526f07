//! Fulcio signing certificates: the leaf's profile (key usage, code signing, one subject
//! alternative name), the identity it carries (subject, OIDC issuer, GitHub Actions claims),
//! and its path to a certificate authority of the trusted root at a verified instant.
//!
//! Only the trusted root's certificates are anchors; what a bundle carries after the leaf is
//! never used to build a path, and a bundle that carries a root is refused outright (the
//! protobuf-specs `VerificationMaterial` rule: signers must not include root certificates).

use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use der::asn1::{AnyRef, ObjectIdentifier, Utf8StringRef};
use der::{Decode, Encode, Tag, Tagged};
use x509_cert::Certificate;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAltName};

use super::root::TrustedRoot;
use super::x509;
use crate::class::ErrorClass;

/// Most certificates a bundle's chain may carry after the leaf; real chains carry one or two.
pub const MAX_BUNDLE_CHAIN: usize = 8;
/// Most extensions read from one certificate; Fulcio writes about thirty.
pub const MAX_EXTENSIONS: usize = 64;

/// The deprecated OIDC issuer extension: the issuer's bytes, not DER.
const OID_ISSUER_V1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.1");
const OID_GITHUB_WORKFLOW_TRIGGER: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.2");
const OID_GITHUB_WORKFLOW_SHA: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.3");
const OID_GITHUB_WORKFLOW_NAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.4");
const OID_GITHUB_WORKFLOW_REPOSITORY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.5");
const OID_GITHUB_WORKFLOW_REF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.6");
/// The otherName type of a username subject.
const OID_OTHERNAME_USERNAME: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.7");
/// The OIDC issuer extension, a DER string.
const OID_ISSUER_V2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.8");
const OID_BUILD_SIGNER_URI: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.9");
const OID_BUILD_SIGNER_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.10");
const OID_RUNNER_ENVIRONMENT: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.11");
const OID_SOURCE_REPOSITORY_URI: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.12");
const OID_SOURCE_REPOSITORY_DIGEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.13");
const OID_SOURCE_REPOSITORY_REF: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.14");
const OID_BUILD_TRIGGER: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.20");
const OID_RUN_INVOCATION_URI: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.3.6.1.4.1.57264.1.21");
const OID_CODE_SIGNING: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.5.5.7.3.3");

/// Why a signing certificate, or the chain a bundle carries, is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    /// Not a DER X.509 certificate.
    #[error("the signing certificate does not parse: {0}")]
    Malformed(String),
    /// An extension that appears twice (RFC 5280 §4.2 allows one of each).
    #[error("the signing certificate repeats extension {0}")]
    DuplicateExtension(String),
    /// More extensions than any Fulcio certificate has.
    #[error("the signing certificate has more than {MAX_EXTENSIONS} extensions")]
    TooManyExtensions,
    /// An extension whose value does not decode.
    #[error("the signing certificate's extension {oid} is malformed: {why}")]
    BadExtension {
        /// The extension's OID.
        oid: String,
        /// What is wrong with it.
        why: String,
    },
    /// No key usage, or one without digitalSignature.
    #[error("the signing certificate's key usage does not allow digital signatures")]
    KeyUsage,
    /// No extended key usage, or one without codeSigning.
    #[error("the signing certificate is not for code signing (extended key usage)")]
    ExtendedKeyUsage,
    /// A CA certificate where a leaf is expected.
    #[error("the signing certificate is a certificate authority, not a leaf")]
    IsCa,
    /// No subject alternative name extension.
    #[error("the signing certificate has no subject alternative name")]
    NoSubject,
    /// Not exactly one subject alternative name.
    #[error("the signing certificate has {0} subject alternative names; Fulcio writes exactly one")]
    SubjectCount(usize),
    /// A subject alternative name of a kind Fulcio does not issue.
    #[error(
        "the signing certificate's subject is a {0}; Fulcio issues an email, a URI or a username"
    )]
    SubjectKind(&'static str),
    /// The bundle's chain carries a self-signed certificate authority.
    #[error(
        "the bundle's certificate chain carries a root certificate ({0}); a root must come from the trusted root, never from the bundle"
    )]
    RootInBundle(String),
    /// The bundle's chain is longer than any real one.
    #[error(
        "the bundle's certificate chain carries {0} certificates after the leaf; at most {MAX_BUNDLE_CHAIN} are read"
    )]
    ChainTooLong(usize),
    /// A certificate of the bundle's chain does not parse.
    #[error("certificate {index} of the bundle's chain does not parse: {why}")]
    ChainMalformed {
        /// Its position after the leaf, from 1.
        index: usize,
        /// The parser's reason.
        why: String,
    },
    /// The leaf was not valid at the instant checked.
    #[error(
        "the signing certificate was not valid at {at} (valid from {not_before} to {not_after})"
    )]
    LeafNotValid {
        /// The instant checked.
        at: String,
        /// Its notBefore.
        not_before: String,
        /// Its notAfter.
        not_after: String,
    },
    /// No certificate authority of the root was trusted at that instant.
    #[error("no certificate authority of the trusted root was valid at {0}")]
    NoAuthorityAt(String),
    /// No trusted certificate authority issued the leaf at that instant.
    #[error(
        "the signing certificate does not chain to a certificate authority of the trusted root at {at}: {why}"
    )]
    Untrusted {
        /// The instant checked.
        at: String,
        /// Why the last authority tried refused it.
        why: String,
    },
}

impl CertificateError {
    /// A certificate that does not hold is a security "no".
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Denied
    }
}

/// The kind of subject alternative name a leaf names its signer with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubjectKind {
    /// rfc822Name.
    Email,
    /// uniformResourceIdentifier (workloads: CI workflows, SPIFFE IDs).
    Uri,
    /// otherName 1.3.6.1.4.1.57264.1.7 (a username).
    Username,
}

/// What the leaf says about its signer (serialised for reports).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Identity {
    /// The one subject alternative name: an email, a URI or a username.
    pub subject: String,
    /// Which kind `subject` is.
    pub kind: SubjectKind,
    /// The OIDC issuer: extension 1.3.6.1.4.1.57264.1.8 (a DER string), else the deprecated
    /// 1.3.6.1.4.1.57264.1.1 (raw bytes).
    pub issuer: Option<String>,
    /// The CI claims Fulcio copied from the OIDC token.
    pub claims: Claims,
}

/// CI claims of the leaf. The `github_workflow_*` fields are the deprecated extensions
/// 1.3.6.1.4.1.57264.1.2–.6 read as raw bytes: exactly what cosign's
/// `--certificate-github-workflow-{trigger,sha,name,repository,ref}` compare against (cosign
/// and sigstore-go do not fall back to the newer extensions). The rest are the newer
/// extensions (DER strings), for reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Claims {
    /// 1.3.6.1.4.1.57264.1.2, e.g. `push`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_workflow_trigger: Option<String>,
    /// 1.3.6.1.4.1.57264.1.3: the commit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_workflow_sha: Option<String>,
    /// 1.3.6.1.4.1.57264.1.4: the workflow's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_workflow_name: Option<String>,
    /// 1.3.6.1.4.1.57264.1.5: `owner/repository`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_workflow_repository: Option<String>,
    /// 1.3.6.1.4.1.57264.1.6: e.g. `refs/heads/main`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub github_workflow_ref: Option<String>,
    /// 1.3.6.1.4.1.57264.1.9.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_signer_uri: Option<String>,
    /// 1.3.6.1.4.1.57264.1.10.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_signer_digest: Option<String>,
    /// 1.3.6.1.4.1.57264.1.11, e.g. `github-hosted`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runner_environment: Option<String>,
    /// 1.3.6.1.4.1.57264.1.12.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_uri: Option<String>,
    /// 1.3.6.1.4.1.57264.1.13.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_digest: Option<String>,
    /// 1.3.6.1.4.1.57264.1.14.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_repository_ref: Option<String>,
    /// 1.3.6.1.4.1.57264.1.20.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build_trigger: Option<String>,
    /// 1.3.6.1.4.1.57264.1.21.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_invocation_uri: Option<String>,
}

/// A parsed signing certificate that holds to the Fulcio profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leaf {
    der: Vec<u8>,
    /// notBefore.
    pub not_before: SystemTime,
    /// notAfter.
    pub not_after: SystemTime,
    /// DER SubjectPublicKeyInfo of the leaf key.
    pub spki: Vec<u8>,
    /// Who signed, as the certificate says.
    pub identity: Identity,
}

impl Leaf {
    /// The certificate as given, DER.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// Whether `t` lies in the certificate's validity (both ends included, as RFC 5280).
    pub fn valid_at(&self, t: SystemTime) -> bool {
        self.not_before <= t && t <= self.not_after
    }
}

/// The authority that issued a leaf at the instant checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// Index in `root.certificate_authorities`.
    pub authority: usize,
    /// DER SubjectPublicKeyInfo of the certificate that signed the leaf (for the SCT's
    /// issuer key hash).
    pub issuer_spki: Vec<u8>,
}

fn malformed(e: impl std::fmt::Display) -> CertificateError {
    CertificateError::Malformed(e.to_string())
}

fn bad_extension(oid: &ObjectIdentifier, why: impl std::fmt::Display) -> CertificateError {
    CertificateError::BadExtension {
        oid: oid.to_string(),
        why: why.to_string(),
    }
}

/// Parses a leaf and checks the Fulcio profile: KeyUsage digitalSignature, EKU codeSigning,
/// exactly one SAN of an allowed kind. Error on anything else.
pub fn parse_leaf(der: &[u8]) -> Result<Leaf, CertificateError> {
    let cert = Certificate::from_der(der).map_err(malformed)?;
    let tbs = cert.tbs_certificate();
    let extensions = tbs.extensions().map(Vec::as_slice).unwrap_or(&[]);
    if extensions.len() > MAX_EXTENSIONS {
        return Err(CertificateError::TooManyExtensions);
    }
    let mut seen = BTreeSet::new();
    for e in extensions {
        if !seen.insert(e.extn_id) {
            return Err(CertificateError::DuplicateExtension(e.extn_id.to_string()));
        }
    }
    // Uniqueness is checked above, so `get_extension` cannot fail for a repeat.
    let ku = tbs
        .get_extension::<KeyUsage>()
        .map_err(|e| bad_extension(&const_oid::db::rfc5280::ID_CE_KEY_USAGE, e))?;
    if !ku.is_some_and(|(_, ku)| ku.digital_signature()) {
        return Err(CertificateError::KeyUsage);
    }
    let eku = tbs
        .get_extension::<ExtendedKeyUsage>()
        .map_err(|e| bad_extension(&const_oid::db::rfc5280::ID_CE_EXT_KEY_USAGE, e))?;
    if !eku.is_some_and(|(_, eku)| eku.0.contains(&OID_CODE_SIGNING)) {
        return Err(CertificateError::ExtendedKeyUsage);
    }
    let bc = tbs
        .get_extension::<BasicConstraints>()
        .map_err(|e| bad_extension(&const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS, e))?;
    if bc.is_some_and(|(_, bc)| bc.ca) {
        return Err(CertificateError::IsCa);
    }
    let san = tbs
        .get_extension::<SubjectAltName>()
        .map_err(|e| bad_extension(&const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME, e))?
        .ok_or(CertificateError::NoSubject)?
        .1;
    let (subject, kind) = match san.0.as_slice() {
        [one] => subject_of(one)?,
        many => return Err(CertificateError::SubjectCount(many.len())),
    };

    let mut issuer_v1 = None;
    let mut issuer_v2 = None;
    let mut claims = Claims::default();
    for e in extensions {
        let id = &e.extn_id;
        let value = e.extn_value.as_bytes();
        let raw = || {
            String::from_utf8(value.to_vec())
                .map(Some)
                .map_err(|_| bad_extension(id, "not UTF-8"))
        };
        let string = || {
            der_string(value)
                .map(Some)
                .map_err(|why| bad_extension(id, why))
        };
        match *id {
            OID_ISSUER_V1 => issuer_v1 = raw()?,
            OID_ISSUER_V2 => issuer_v2 = string()?,
            OID_GITHUB_WORKFLOW_TRIGGER => claims.github_workflow_trigger = raw()?,
            OID_GITHUB_WORKFLOW_SHA => claims.github_workflow_sha = raw()?,
            OID_GITHUB_WORKFLOW_NAME => claims.github_workflow_name = raw()?,
            OID_GITHUB_WORKFLOW_REPOSITORY => claims.github_workflow_repository = raw()?,
            OID_GITHUB_WORKFLOW_REF => claims.github_workflow_ref = raw()?,
            OID_BUILD_SIGNER_URI => claims.build_signer_uri = string()?,
            OID_BUILD_SIGNER_DIGEST => claims.build_signer_digest = string()?,
            OID_RUNNER_ENVIRONMENT => claims.runner_environment = string()?,
            OID_SOURCE_REPOSITORY_URI => claims.source_repository_uri = string()?,
            OID_SOURCE_REPOSITORY_DIGEST => claims.source_repository_digest = string()?,
            OID_SOURCE_REPOSITORY_REF => claims.source_repository_ref = string()?,
            OID_BUILD_TRIGGER => claims.build_trigger = string()?,
            OID_RUN_INVOCATION_URI => claims.run_invocation_uri = string()?,
            _ => {}
        }
    }

    let validity = tbs.validity();
    Ok(Leaf {
        der: der.to_vec(),
        not_before: validity.not_before.to_system_time(),
        not_after: validity.not_after.to_system_time(),
        spki: tbs.subject_public_key_info().to_der().map_err(malformed)?,
        identity: Identity {
            subject,
            kind,
            // The newer extension wins: it is the one Fulcio specifies today.
            issuer: issuer_v2.or(issuer_v1),
            claims,
        },
    })
}

fn subject_of(name: &GeneralName) -> Result<(String, SubjectKind), CertificateError> {
    match name {
        GeneralName::Rfc822Name(s) => Ok((s.to_string(), SubjectKind::Email)),
        GeneralName::UniformResourceIdentifier(s) => Ok((s.to_string(), SubjectKind::Uri)),
        GeneralName::OtherName(o) if o.type_id == OID_OTHERNAME_USERNAME => {
            let s = Utf8StringRef::try_from(&o.value)
                .map_err(|e| bad_extension(&const_oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME, e))?;
            Ok((s.as_str().to_string(), SubjectKind::Username))
        }
        GeneralName::OtherName(_) => {
            Err(CertificateError::SubjectKind("otherName of another type"))
        }
        GeneralName::DnsName(_) => Err(CertificateError::SubjectKind("DNS name")),
        GeneralName::DirectoryName(_) => Err(CertificateError::SubjectKind("directory name")),
        GeneralName::EdiPartyName(_) => Err(CertificateError::SubjectKind("EDI party name")),
        GeneralName::IpAddress(_) => Err(CertificateError::SubjectKind("IP address")),
        GeneralName::RegisteredId(_) => Err(CertificateError::SubjectKind("registered ID")),
    }
}

/// A DER string extension value, as Go's `asn1.Unmarshal` into a string reads it (the
/// reference verifiers): UTF8String, PrintableString or IA5String, nothing after it.
fn der_string(value: &[u8]) -> Result<String, String> {
    let any = AnyRef::from_der(value).map_err(|e| e.to_string())?;
    match any.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            let s = std::str::from_utf8(any.value()).map_err(|_| "not UTF-8".to_string())?;
            if any.tag() != Tag::Utf8String && !s.is_ascii() {
                return Err(format!("{} that is not ASCII", any.tag()));
            }
            Ok(s.to_string())
        }
        other => Err(format!("a {other} where a string is expected")),
    }
}

/// A bundle's chain after the leaf must not carry a root (self-signed CA) certificate.
pub fn check_bundle_chain(rest: &[Vec<u8>]) -> Result<(), CertificateError> {
    if rest.len() > MAX_BUNDLE_CHAIN {
        return Err(CertificateError::ChainTooLong(rest.len()));
    }
    for (i, der) in rest.iter().enumerate() {
        let chain_err = |why: String| CertificateError::ChainMalformed { index: i + 1, why };
        let cert = Certificate::from_der(der).map_err(|e| chain_err(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        // Self-issued is enough: whether its signature verifies, a self-issued authority in a
        // bundle is either a root or a forgery of one, and neither may be offered by a signer.
        if tbs.subject() != tbs.issuer() {
            continue;
        }
        let ca = tbs
            .get_extension::<BasicConstraints>()
            .map_err(|e| chain_err(e.to_string()))?
            .is_some_and(|(_, bc)| bc.ca);
        if ca {
            return Err(CertificateError::RootInBundle(tbs.subject().to_string()));
        }
    }
    Ok(())
}

fn show(t: SystemTime) -> String {
    show_time(t, false)
}

/// An instant for people, RFC 3339 where it can be (humantime's formatter panics before
/// 1970 and fails after 9999, and instants here may come from outside data).
pub(crate) fn show_time(t: SystemTime, millis: bool) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) if d.as_secs() < 253_402_300_800 => {
            if millis {
                humantime::format_rfc3339_millis(t).to_string()
            } else {
                humantime::format_rfc3339_seconds(t).to_string()
            }
        }
        Ok(d) => format!("{} seconds after 1970", d.as_secs()),
        Err(e) => format!("{} seconds before 1970", e.duration().as_secs()),
    }
}

/// Validates the leaf to a Fulcio CA of the root at instant `at`: tries each CA whose `valid`
/// contains `at`, with only that CA's certificates as anchors (intermediates included; bundle
/// intermediates are never used), EKU codeSigning (via `x509::validate`).
///
/// Anchors are not time-checked by path validation, so the certificates of the authority's
/// chain from the leaf's issuer up must also be valid at `at` (protobuf-specs: check the time
/// against both the authority's window and the entire chain).
pub fn verify_chain(
    leaf: &Leaf,
    root: &TrustedRoot,
    at: SystemTime,
) -> Result<Issued, CertificateError> {
    if !leaf.valid_at(at) {
        return Err(CertificateError::LeafNotValid {
            at: show(at),
            not_before: show(leaf.not_before),
            not_after: show(leaf.not_after),
        });
    }
    let mut why = None;
    for (i, ca) in root.certificate_authorities.iter().enumerate() {
        if !ca.valid.contains(at) {
            continue;
        }
        match x509::validate(&leaf.der, &[], &ca.chain, at, x509::EKU_CODE_SIGNING) {
            Ok(path) => match chain_valid_from(&ca.chain, &path.issuer_spki, at) {
                Ok(()) => {
                    return Ok(Issued {
                        authority: i,
                        issuer_spki: path.issuer_spki,
                    });
                }
                Err(e) => why = Some(e),
            },
            Err(e) => why = Some(e.to_string()),
        }
    }
    match why {
        None => Err(CertificateError::NoAuthorityAt(show(at))),
        Some(why) => Err(CertificateError::Untrusted { at: show(at), why }),
    }
}

/// Whether the authority's certificates from the one with key `issuer_spki` to the root are
/// all valid at `at`.
fn chain_valid_from(chain: &[Vec<u8>], issuer_spki: &[u8], at: SystemTime) -> Result<(), String> {
    let mut from = None;
    for (i, der) in chain.iter().enumerate() {
        if x509::spki_of(der).is_ok_and(|s| s == issuer_spki) {
            from = Some(i);
            break;
        }
    }
    let from = from.ok_or("the issuing certificate is not in the authority's chain")?;
    for der in chain.iter().skip(from) {
        let cert = Certificate::from_der(der).map_err(|e| e.to_string())?;
        let v = cert.tbs_certificate().validity();
        let (nb, na) = (v.not_before.to_system_time(), v.not_after.to_system_time());
        if at < nb || na < at {
            return Err(format!(
                "the authority's certificate {} was not valid at that time (valid from {} to {})",
                cert.tbs_certificate().subject(),
                show(nb),
                show(na)
            ));
        }
    }
    Ok(())
}

/// Test material shared by the keyless modules' tests: the conformance cases (read from
/// `../shared` beside the checkout, never copied into the repository) and certificates made
/// here with keys of the tests' own.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::path::PathBuf;
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
    pub struct Case {
        pub leaf: Vec<u8>,
        pub rest: Vec<Vec<u8>>,
        pub integrated: Option<SystemTime>,
        pub root: TrustedRoot,
    }

    pub fn case(name: &str) -> Option<Case> {
        let dir = PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/fixtures/conformance-assets/sigstore-conformance/bundle-verify"
        ));
        if !dir.is_dir() {
            println!(
                "not run: ../shared/fixtures/conformance-assets beside the checkout is absent ({})",
                dir.display()
            );
            return None;
        }
        let dir = dir.join(name);
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

    pub fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
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

    pub fn seq(parts: &[&[u8]]) -> Vec<u8> {
        tlv(0x30, &parts.concat())
    }

    pub fn oid(dotted: &str) -> Vec<u8> {
        ObjectIdentifier::new(dotted).unwrap().to_der().unwrap()
    }

    pub fn utf8(s: &str) -> Vec<u8> {
        tlv(0x0c, s.as_bytes())
    }

    /// An extension; `value` is the DER the OCTET STRING wraps.
    pub fn ext(id: &str, critical: bool, value: &[u8]) -> Vec<u8> {
        let crit = if critical {
            tlv(0x01, &[0xff])
        } else {
            Vec::new()
        };
        seq(&[&oid(id), &crit, &tlv(0x04, value)])
    }

    pub fn san_email(s: &str) -> Vec<u8> {
        tlv(0x81, s.as_bytes())
    }
    pub fn san_uri(s: &str) -> Vec<u8> {
        tlv(0x86, s.as_bytes())
    }
    pub fn san_dns(s: &str) -> Vec<u8> {
        tlv(0x82, s.as_bytes())
    }
    pub fn san_username(s: &str) -> Vec<u8> {
        tlv(
            0xa0,
            &[oid("1.3.6.1.4.1.57264.1.7"), tlv(0xa0, &utf8(s))].concat(),
        )
    }
    pub fn sans(names: &[Vec<u8>]) -> Vec<u8> {
        ext(
            "2.5.29.17",
            true,
            &seq(&names.iter().map(Vec::as_slice).collect::<Vec<_>>()),
        )
    }
    /// KeyUsage with digitalSignature (bit 0) or keyCertSign (bit 5).
    pub fn key_usage(digital_signature: bool) -> Vec<u8> {
        let bits = if digital_signature {
            [0x07, 0x80]
        } else {
            [0x02, 0x04]
        };
        ext("2.5.29.15", true, &tlv(0x03, &bits))
    }
    pub fn eku(usage: &str) -> Vec<u8> {
        ext("2.5.29.37", false, &seq(&[&oid(usage)]))
    }
    pub const CODE_SIGNING: &str = "1.3.6.1.5.5.7.3.3";

    fn name(cn: &str) -> Vec<u8> {
        seq(&[&tlv(0x31, &seq(&[&oid("2.5.4.3"), &utf8(cn)]))])
    }

    fn generalized(t: SystemTime) -> Vec<u8> {
        let text = humantime::format_rfc3339_seconds(t).to_string();
        let digits: String = text.chars().filter(char::is_ascii_digit).collect();
        tlv(0x18, format!("{digits}Z").as_bytes())
    }

    pub fn key(seed: u8) -> SigningKey {
        SigningKey::from_slice(&[seed; 32]).unwrap()
    }

    pub fn spki(key: &SigningKey) -> Vec<u8> {
        key.verifying_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes()
            .to_vec()
    }

    pub fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    /// The TBSCertificate of a certificate by `issuer` (CN) for `subject_key`.
    pub fn tbs(
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
    pub fn sign(tbs: &[u8], issuer_key: &SigningKey) -> Vec<u8> {
        let sig: p256::ecdsa::Signature = issuer_key.sign(tbs);
        let mut bits = vec![0];
        bits.extend_from_slice(sig.to_der().as_bytes());
        seq(&[tbs, &seq(&[&oid("1.2.840.10045.4.3.2")]), &tlv(0x03, &bits)])
    }

    /// A self-signed CA certificate.
    pub fn ca(cn: &str, key: &SigningKey, valid: (SystemTime, SystemTime)) -> Vec<u8> {
        let bc = ext("2.5.29.19", true, &seq(&[&tlv(0x01, &[0xff])]));
        sign(&tbs(cn, cn, key, valid, &[bc, key_usage(false)]), key)
    }

    /// An SCT list extension holding one SCT by `ct` over the precertificate `tbs` (the leaf's
    /// TBSCertificate without this extension) issued by the key with SPKI `issuer_spki`.
    pub fn sct_extension(
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
    pub struct Pki {
        pub ca_key: SigningKey,
        pub ct_key: SigningKey,
        pub leaf_key: SigningKey,
        pub leaf: Vec<u8>,
        pub root: TrustedRoot,
    }

    pub const START: u64 = 1_700_000_000;

    pub fn pki(subject: Vec<u8>, extra: &[Vec<u8>], sct_extensions: &[u8]) -> Pki {
        pki_sct_at(subject, extra, sct_extensions, (START + 1) * 1000)
    }

    /// As [`pki`], with the SCT dated `sct_ms` (milliseconds since 1970).
    pub fn pki_sct_at(
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
}

#[cfg(test)]
mod tests {
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
        let past = UNIX_EPOCH - std::time::Duration::from_secs(5);
        let far = UNIX_EPOCH + std::time::Duration::from_secs(300_000_000_000);
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
        expired.certificate_authorities[0].chain =
            vec![ca("test-ca", &p.ca_key, (at(0), at(START)))];
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
}
