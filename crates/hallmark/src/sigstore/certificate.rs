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
pub(crate) const MAX_BUNDLE_CHAIN: usize = 8;
/// Most extensions read from one certificate; Fulcio writes about thirty.
pub(crate) const MAX_EXTENSIONS: usize = 64;

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
// Deliberately exhaustive, like `Claims`: new facts about a signer are new claims.
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
// Deliberately exhaustive: the command line names every claim, so a new one cannot be
// left out of its output unnoticed.
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
    pub(crate) fn valid_at(&self, t: SystemTime) -> bool {
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

/// Why an extension's value is not the DER string it must be.
#[derive(Debug, thiserror::Error)]
enum DerStringError {
    #[error("{0}")]
    Der(der::Error),
    #[error("not UTF-8")]
    NotUtf8,
    #[error("{0} that is not ASCII")]
    NotAscii(Tag),
    #[error("a {0} where a string is expected")]
    NotAString(Tag),
}

/// A DER string extension value, as Go's `asn1.Unmarshal` into a string reads it (the
/// reference verifiers): UTF8String, PrintableString or IA5String, nothing after it.
fn der_string(value: &[u8]) -> Result<String, DerStringError> {
    let any = AnyRef::from_der(value).map_err(DerStringError::Der)?;
    match any.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String => {
            let s = std::str::from_utf8(any.value()).map_err(|_| DerStringError::NotUtf8)?;
            if any.tag() != Tag::Utf8String && !s.is_ascii() {
                return Err(DerStringError::NotAscii(any.tag()));
            }
            Ok(s.to_string())
        }
        other => Err(DerStringError::NotAString(other)),
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
                Err(e) => why = Some(e.to_string()),
            },
            Err(e) => why = Some(e.to_string()),
        }
    }
    match why {
        None => Err(CertificateError::NoAuthorityAt(show(at))),
        Some(why) => Err(CertificateError::Untrusted { at: show(at), why }),
    }
}

/// Why an authority's chain does not vouch for its issuing certificate at a time.
#[derive(Debug, thiserror::Error)]
enum ChainError {
    #[error("the issuing certificate is not in the authority's chain")]
    IssuerNotInChain,
    #[error("{0}")]
    Der(der::Error),
    #[error(
        "the authority's certificate {subject} was not valid at that time (valid from {from} to {to})"
    )]
    NotValidAt {
        subject: String,
        from: String,
        to: String,
    },
}

/// Whether the authority's certificates from the one with key `issuer_spki` to the root are
/// all valid at `at`.
fn chain_valid_from(
    chain: &[Vec<u8>],
    issuer_spki: &[u8],
    at: SystemTime,
) -> Result<(), ChainError> {
    let mut from = None;
    for (i, der) in chain.iter().enumerate() {
        if x509::spki_of(der).is_ok_and(|s| s == issuer_spki) {
            from = Some(i);
            break;
        }
    }
    let from = from.ok_or(ChainError::IssuerNotInChain)?;
    for der in chain.iter().skip(from) {
        let cert = Certificate::from_der(der).map_err(ChainError::Der)?;
        let v = cert.tbs_certificate().validity();
        let (nb, na) = (v.not_before.to_system_time(), v.not_after.to_system_time());
        if at < nb || na < at {
            return Err(ChainError::NotValidAt {
                subject: cert.tbs_certificate().subject().to_string(),
                from: show(nb),
                to: show(na),
            });
        }
    }
    Ok(())
}

/// Test material shared by the keyless modules' tests: the conformance cases (read from
/// `../shared` beside the checkout, never copied into the repository) and certificates made
/// here with keys of the tests' own.
#[cfg(test)]
#[path = "certificate_fixtures.rs"]
pub(crate) mod fixtures;

#[cfg(test)]
#[path = "certificate_tests.rs"]
mod tests;
