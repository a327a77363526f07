//! RFC 3161 signed timestamps: a timestamp authority's word that a signature existed at a
//! time, which is what a keyless certificate (valid for minutes) is checked against when the
//! log gives no signed time (Rekor v2). A token counts only if it is over this bundle's
//! signature, signed by the leaf of a timestamp authority of the trusted root, and that
//! authority was trusted (chain and `validFor`) at the time it states.
//!
//! TimeStampResp and TSTInfo are decoded here (the `x509-tsp` crate is on an older `der`),
//! and so is the outline of the CMS SignedData around TSTInfo, so that the certificates a
//! token carries are skipped unread rather than parsed: they are never trusted, and one the
//! `x509-cert` crate finds fault with must not refuse a token the trusted root vouches for.
//! The parts that are read (the encapsulated content, the signer) are the `cms` crate's.

use std::time::{SystemTime, UNIX_EPOCH};

use cms::content_info::CmsVersion;
use cms::content_info::ContentInfo;
use cms::signed_data::{EncapsulatedContentInfo, SignerIdentifier, SignerInfo, SignerInfos};
use const_oid::ObjectIdentifier;
use der::asn1::{Any, Int, OctetString};
use der::{Decode, DecodeValue, Encode, EncodeValue, FixedTag, Header, Length, Reader, Sequence};
use der::{Tag, Writer};
use sha2::Digest as _;
use spki::AlgorithmIdentifierOwned;
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectKeyIdentifier;

use super::root::{Authority, TrustedRoot};
use super::x509::{self, EKU_TIME_STAMPING, Hash};
use crate::class::ErrorClass;

/// Most timestamps one bundle may carry (as sigstore-go and sigstore-python): each costs a
/// chain validation, and no real bundle has more than a few.
pub(crate) const MAX_TIMESTAMPS: usize = 32;
/// Largest token read: real ones, certificates included, are a few kilobytes.
pub(crate) const MAX_TOKEN_BYTES: usize = 64 * 1024;
/// Most digits of a second's fraction read in genTime: nanoseconds are all `SystemTime` keeps.
const MAX_FRACTION_DIGITS: usize = 9;

const ID_SIGNED_DATA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const ID_CT_TST_INFO: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.16.1.4");
const ID_CONTENT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.3");
const ID_MESSAGE_DIGEST: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");
const ID_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const ID_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const ID_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const ECDSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.4");
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const RSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const RSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const RSA_SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");

/// A verified timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stamp {
    /// The token's genTime, fraction of a second kept.
    pub time: SystemTime,
    /// Index in `root.timestamp_authorities` of the authority that signed it.
    pub authority: usize,
}

/// Why a timestamp does not count.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// Neither a TimeStampResp nor a TimeStampToken, or a part of one that does not decode.
    #[error("the RFC 3161 timestamp does not decode: {0}")]
    NotAToken(String),
    /// Larger than any real token.
    #[error("the RFC 3161 timestamp is larger than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    /// A TimeStampResp whose status is not "granted", or that carries no token.
    #[error("the timestamp authority did not grant the timestamp (status {0})")]
    NotGranted(String),
    /// The token's content is not CMS SignedData, or SignedData that does not hold TSTInfo.
    #[error("the RFC 3161 timestamp is not a signed TSTInfo: {0}")]
    NotTstInfo(&'static str),
    /// Not exactly one signer: RFC 3161 allows the TSA's signature only.
    #[error("the RFC 3161 timestamp has {0} signers; exactly one (the TSA) is allowed")]
    SignerCount(usize),
    /// The signer signed no attributes, or not the content-type attribute TSTInfo needs.
    #[error("the RFC 3161 timestamp's signed attributes are invalid: {0}")]
    SignedAttributes(&'static str),
    /// A hash or signature algorithm not used by Sigstore timestamp authorities.
    #[error("the RFC 3161 timestamp uses an unsupported {what} algorithm {oid}")]
    UnsupportedAlgorithm {
        /// `message imprint`, `digest` or `signature`.
        what: &'static str,
        /// The algorithm's OID, dotted.
        oid: String,
    },
    /// The token timestamps some other signature than the bundle's.
    #[error(
        "the RFC 3161 timestamp is over another signature than the bundle's (message imprint mismatch)"
    )]
    ImprintMismatch,
    /// The signed message-digest attribute is not the hash of the TSTInfo it signs.
    #[error("the RFC 3161 timestamp's message-digest attribute does not match its TSTInfo")]
    MessageDigestMismatch,
    /// No timestamp authority of the trusted root is the token's signer.
    #[error("the RFC 3161 timestamp was not signed by a timestamp authority of the trusted root")]
    UntrustedAuthority,
    /// The CMS signature does not verify with the authority's key.
    #[error("the RFC 3161 timestamp's signature does not verify with {authority}'s key")]
    BadSignature {
        /// The authority's name in the trusted root.
        authority: String,
    },
    /// The authority's certificate chain did not validate at genTime.
    #[error("timestamp authority {authority}'s certificates were not valid at {time}: {why}")]
    ChainInvalid {
        /// The authority's name in the trusted root.
        authority: String,
        /// genTime, RFC 3339.
        time: String,
        /// What path validation said.
        why: String,
    },
    /// genTime lies outside the window in which the trusted root trusts the authority.
    #[error(
        "the RFC 3161 timestamp's time {time} is outside the window in which the trusted root trusts {authority}"
    )]
    OutsideWindow {
        /// The authority's name in the trusted root.
        authority: String,
        /// genTime, RFC 3339.
        time: String,
    },
    /// More tokens than any bundle needs.
    #[error("the bundle has {0} RFC 3161 timestamps; at most {MAX_TIMESTAMPS} are allowed")]
    TooMany(usize),
    /// The token does not carry the nonce of the request it answers.
    #[error("the RFC 3161 timestamp does not carry the request's nonce ({0})")]
    Nonce(&'static str),
    /// One token given twice, which would count one authority's word twice.
    #[error("RFC 3161 timestamps {first} and {second} are the same timestamp")]
    Duplicate {
        /// Index of the first occurrence.
        first: usize,
        /// Index of the repeat.
        second: usize,
    },
}

impl TimestampError {
    /// Every reason is a timestamp that does not count: a security "no".
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Denied
    }
}

/// Verifies one token (a DER TimeStampResp with status granted, or a bare TimeStampToken
/// ContentInfo) over `signature` (the bundle's signature bytes: messageSignature.signature, or
/// the DSSE envelope's first signature), signed by a timestamp authority of `root` that was
/// trusted at the token's genTime. Each authority whose leaf certificate the signer names is
/// tried; the first under which the token verifies is the one returned.
pub fn verify(token: &[u8], signature: &[u8], root: &TrustedRoot) -> Result<Stamp, TimestampError> {
    verify_token(token, signature, root).map(|(stamp, _)| stamp)
}

/// [`verify`], for the answer to a request of ours: the token must also carry the nonce
/// the request sent (`nonce`, the INTEGER's content octets as sent), as RFC 3161 §2.4.2
/// asks of the requester, so that an earlier token for the same signature is not taken
/// for the answer.
pub fn verify_with_nonce(
    token: &[u8],
    signature: &[u8],
    root: &TrustedRoot,
    nonce: &[u8],
) -> Result<Stamp, TimestampError> {
    let (stamp, tst_der) = verify_token(token, signature, root)?;
    let tst = TstInfo::from_der(&tst_der).map_err(|e| not_a_token("TSTInfo", e))?;
    match tst.nonce {
        None => Err(TimestampError::Nonce("it has none")),
        Some(n) if n.as_bytes() != nonce => Err(TimestampError::Nonce("it has another")),
        Some(_) => Ok(stamp),
    }
}

/// All of a bundle's tokens: more than `MAX_TIMESTAMPS` or a repeated token is an error;
/// every token must verify (a token that does not verify refuses the bundle, with its reason).
/// A token counts as repeated when its bytes are, or when it signs the same TSTInfo as an
/// earlier one (the same token wrapped differently, e.g. bare and in a TimeStampResp).
pub fn verify_all(
    tokens: &[Vec<u8>],
    signature: &[u8],
    root: &TrustedRoot,
) -> Result<Vec<Stamp>, TimestampError> {
    if tokens.len() > MAX_TIMESTAMPS {
        return Err(TimestampError::TooMany(tokens.len()));
    }
    for (second, token) in tokens.iter().enumerate() {
        if let Some(first) = tokens[..second].iter().position(|t| t == token) {
            return Err(TimestampError::Duplicate { first, second });
        }
    }
    let mut signed: Vec<Vec<u8>> = Vec::with_capacity(tokens.len());
    let mut stamps = Vec::with_capacity(tokens.len());
    for (second, token) in tokens.iter().enumerate() {
        let (stamp, tst_info) = verify_token(token, signature, root)?;
        if let Some(first) = signed.iter().position(|t| *t == tst_info) {
            return Err(TimestampError::Duplicate { first, second });
        }
        signed.push(tst_info);
        stamps.push(stamp);
    }
    Ok(stamps)
}

/// [`verify`], also returning the DER TSTInfo the authority signed.
fn verify_token(
    token: &[u8],
    signature: &[u8],
    root: &TrustedRoot,
) -> Result<(Stamp, Vec<u8>), TimestampError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(TimestampError::TooLarge);
    }
    let signed_data = signed_data(token)?;
    let info = &signed_data.encap_content_info;
    if info.econtent_type != ID_CT_TST_INFO {
        return Err(TimestampError::NotTstInfo(
            "its content type is not TSTInfo",
        ));
    }
    let tst_der = info
        .econtent
        .as_ref()
        .ok_or(TimestampError::NotTstInfo("it does not carry its TSTInfo"))?
        .decode_as::<OctetString>()
        .map_err(|e| not_a_token("eContent", e))?
        .into_bytes()
        .into_vec();
    let tst = TstInfo::from_der(&tst_der).map_err(|e| not_a_token("TSTInfo", e))?;
    if tst.version != 1 {
        return Err(TimestampError::NotTstInfo("its TSTInfo version is not 1"));
    }
    let time = tst.gen_time.time()?;

    // The token must be about this bundle's signature before anything else about it matters.
    let imprint = &tst.message_imprint;
    let hashed = hash_with(&imprint.hash_algorithm, signature, "message imprint")?;
    if hashed != imprint.hashed_message.as_bytes() {
        return Err(TimestampError::ImprintMismatch);
    }

    let signers = signed_data.signer_infos.0.as_slice();
    let [signer] = signers else {
        return Err(TimestampError::SignerCount(signers.len()));
    };
    let message = signed_attributes(signer, &tst_der)?;
    let hash = signature_hash(signer)?;

    let mut first_error = None;
    for (index, authority) in root.timestamp_authorities.iter().enumerate() {
        if !names_leaf(&signer.sid, authority) {
            continue;
        }
        match check_authority(authority, signer, hash, &message, time) {
            Ok(()) => {
                let stamp = Stamp {
                    time,
                    authority: index,
                };
                return Ok((stamp, tst_der));
            }
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or(TimestampError::UntrustedAuthority))
}

fn not_a_token(what: &str, e: der::Error) -> TimestampError {
    TimestampError::NotAToken(format!("{what}: {e}"))
}

/// The SignedData of a TimeStampResp (status granted) or of a bare token.
fn signed_data(token: &[u8]) -> Result<SignedData, TimestampError> {
    // Both are SEQUENCEs; a response starts with its status (a SEQUENCE), a token with its
    // content type (an OID).
    let first = der::SliceReader::new(token)
        .and_then(|mut reader| {
            Header::decode(&mut reader)?;
            Tag::peek(&reader)
        })
        .map_err(|e| not_a_token("token", e))?;
    let content = if first == Tag::Sequence {
        let resp = TimeStampResp::from_der(token).map_err(|e| not_a_token("TimeStampResp", e))?;
        // 0 granted, 1 granted with modifications (RFC 3161 §2.4.2).
        let status = match resp.status.status {
            0 | 1 => None,
            2 => Some("rejection"),
            3 => Some("waiting"),
            4 => Some("revocation warning"),
            5 => Some("revocation notification"),
            _ => Some("unknown"),
        };
        if let Some(status) = status {
            let code = resp.status.status;
            return Err(TimestampError::NotGranted(format!("{code}, {status}")));
        }
        resp.time_stamp_token
            .ok_or_else(|| TimestampError::NotGranted("granted, but no token".into()))?
    } else {
        ContentInfo::from_der(token).map_err(|e| not_a_token("TimeStampToken", e))?
    };
    if content.content_type != ID_SIGNED_DATA {
        return Err(TimestampError::NotTstInfo(
            "its content is not CMS SignedData",
        ));
    }
    content
        .content
        .decode_as::<SignedData>()
        .map_err(|e| not_a_token("SignedData", e))
}

/// The bytes the signer signed: the DER SET OF its signed attributes, after checking that they
/// name TSTInfo as the content type and carry its hash as the message digest.
fn signed_attributes(signer: &SignerInfo, tst_der: &[u8]) -> Result<Vec<u8>, TimestampError> {
    let attrs = signer
        .signed_attrs
        .as_ref()
        .ok_or(TimestampError::SignedAttributes("there are none"))?;
    let single = |oid: ObjectIdentifier, name: &'static str| -> Result<&Any, TimestampError> {
        let mut found = attrs.iter().filter(|a| a.oid == oid);
        let (Some(attr), None) = (found.next(), found.next()) else {
            return Err(TimestampError::SignedAttributes(name));
        };
        match attr.values.as_slice() {
            [value] => Ok(value),
            _ => Err(TimestampError::SignedAttributes(name)),
        }
    };
    let content_type = single(ID_CONTENT_TYPE, "not exactly one content-type attribute")?
        .decode_as::<ObjectIdentifier>()
        .map_err(|e| not_a_token("content-type attribute", e))?;
    if content_type != ID_CT_TST_INFO {
        return Err(TimestampError::SignedAttributes(
            "the content-type attribute is not TSTInfo",
        ));
    }
    let digest = single(
        ID_MESSAGE_DIGEST,
        "not exactly one message-digest attribute",
    )?
    .decode_as::<OctetString>()
    .map_err(|e| not_a_token("message-digest attribute", e))?;
    if hash_with(&signer.digest_alg, tst_der, "digest")? != digest.as_bytes() {
        return Err(TimestampError::MessageDigestMismatch);
    }
    // RFC 5652 §5.4: the signature is over the DER of the attributes with the SET OF tag,
    // not the [0] IMPLICIT tag they are written with. Decoding kept them in DER order.
    attrs
        .to_der()
        .map_err(|e| not_a_token("signed attributes", e))
}

fn hash_with(
    alg: &AlgorithmIdentifierOwned,
    bytes: &[u8],
    what: &'static str,
) -> Result<Vec<u8>, TimestampError> {
    Ok(match alg.oid {
        ID_SHA256 => sha2::Sha256::digest(bytes).to_vec(),
        ID_SHA384 => sha2::Sha384::digest(bytes).to_vec(),
        ID_SHA512 => sha2::Sha512::digest(bytes).to_vec(),
        other => {
            return Err(TimestampError::UnsupportedAlgorithm {
                what,
                oid: other.to_string(),
            });
        }
    })
}

/// The hash the signer's signature algorithm signs with.
fn signature_hash(signer: &SignerInfo) -> Result<Hash, TimestampError> {
    let from_digest = || match signer.digest_alg.oid {
        ID_SHA256 => Some(Hash::Sha256),
        ID_SHA384 => Some(Hash::Sha384),
        ID_SHA512 => Some(Hash::Sha512),
        _ => None,
    };
    let hash = match signer.signature_algorithm.oid {
        ECDSA_SHA256 | RSA_SHA256 => Some(Hash::Sha256),
        ECDSA_SHA384 | RSA_SHA384 => Some(Hash::Sha384),
        ECDSA_SHA512 | RSA_SHA512 => Some(Hash::Sha512),
        // PKCS#1 named by the key alone: the digest algorithm says the hash.
        RSA_ENCRYPTION => from_digest(),
        _ => None,
    };
    hash.ok_or_else(|| TimestampError::UnsupportedAlgorithm {
        what: "signature",
        oid: signer.signature_algorithm.oid.to_string(),
    })
}

/// Whether the signer identifier names the authority's own leaf certificate. Only the trusted
/// root's certificate can match: certificates embedded in the token are never consulted.
fn names_leaf(sid: &SignerIdentifier, authority: &Authority) -> bool {
    let Some(leaf) = authority
        .chain
        .first()
        .and_then(|der| Certificate::from_der(der).ok())
    else {
        return false;
    };
    let tbs = leaf.tbs_certificate();
    match sid {
        SignerIdentifier::IssuerAndSerialNumber(isn) => {
            isn.issuer == *tbs.issuer() && isn.serial_number == *tbs.serial_number()
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => {
            matches!(tbs.get_extension::<SubjectKeyIdentifier>(), Ok(Some((_, own))) if own == *ski)
        }
    }
}

/// The signature by the authority's leaf, its chain at `time`, and its window.
fn check_authority(
    authority: &Authority,
    signer: &SignerInfo,
    hash: Hash,
    message: &[u8],
    time: SystemTime,
) -> Result<(), TimestampError> {
    let Some((leaf, above)) = authority.chain.split_first() else {
        return Err(TimestampError::UntrustedAuthority);
    };
    let name = || authority_name(authority);
    let spki = x509::spki_of(leaf).map_err(|e| TimestampError::ChainInvalid {
        authority: name(),
        time: rfc3339(time),
        why: e.to_string(),
    })?;
    if !x509::verify_signature(&spki, hash, message, signer.signature.as_bytes()) {
        return Err(TimestampError::BadSignature { authority: name() });
    }
    // Every certificate the root lists above the leaf is trusted as it is, like a Fulcio
    // root's intermediates; a root that lists the leaf alone trusts that certificate itself.
    let anchors = if above.is_empty() {
        &authority.chain[..]
    } else {
        above
    };
    x509::validate(leaf, above, anchors, time, EKU_TIME_STAMPING).map_err(|e| {
        TimestampError::ChainInvalid {
            authority: name(),
            time: rfc3339(time),
            why: e.to_string(),
        }
    })?;
    if !authority.valid.contains(time) {
        return Err(TimestampError::OutsideWindow {
            authority: name(),
            time: rfc3339(time),
        });
    }
    Ok(())
}

fn authority_name(authority: &Authority) -> String {
    match (authority.name.is_empty(), authority.uri.is_empty()) {
        (false, true) => authority.name.clone(),
        (false, false) => format!("{} ({})", authority.name, authority.uri),
        (true, false) => authority.uri.clone(),
        (true, true) => "an unnamed timestamp authority".into(),
    }
}

fn rfc3339(t: SystemTime) -> String {
    let whole = t
        .duration_since(UNIX_EPOCH)
        .is_ok_and(|d| d.subsec_nanos() == 0);
    if whole {
        humantime::format_rfc3339(t).to_string()
    } else {
        humantime::format_rfc3339_nanos(t).to_string()
    }
}

/// CMS `SignedData` (RFC 5652 §5.1), with the certificates and revocation data kept unread.
#[derive(Sequence)]
struct SignedData {
    version: CmsVersion,
    digest_algorithms: der::asn1::SetOfVec<AlgorithmIdentifierOwned>,
    encap_content_info: EncapsulatedContentInfo,
    #[asn1(
        context_specific = "0",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    certificates: Option<Unread>,
    #[asn1(
        context_specific = "1",
        tag_mode = "IMPLICIT",
        constructed = "true",
        optional = "true"
    )]
    crls: Option<Unread>,
    signer_infos: SignerInfos,
}

/// The contents of a SET OF, skipped: their bytes kept, nothing in them decoded.
struct Unread(Vec<u8>);

impl FixedTag for Unread {
    const TAG: Tag = Tag::Set;
}

impl<'a> DecodeValue<'a> for Unread {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        Ok(Self(reader.read_vec(header.length())?))
    }
}

impl EncodeValue for Unread {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.0)
    }
}

/// `TimeStampResp` (RFC 3161 §2.4.2).
#[derive(Sequence)]
struct TimeStampResp {
    status: PkiStatusInfo,
    #[asn1(optional = "true")]
    time_stamp_token: Option<ContentInfo>,
}

/// `PKIStatusInfo`: the status, and the free text and failure bits it may carry.
#[derive(Sequence)]
struct PkiStatusInfo {
    status: u32,
    #[asn1(optional = "true")]
    status_string: Option<Vec<String>>,
    #[asn1(optional = "true")]
    fail_info: Option<der::asn1::BitString>,
}

/// `TSTInfo` (RFC 3161 §2.4.2).
#[derive(Sequence)]
struct TstInfo {
    version: u8,
    policy: ObjectIdentifier,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: GenTime,
    #[asn1(optional = "true")]
    accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    ordering: bool,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    tsa: Option<Any>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    extensions: Option<x509_cert::ext::Extensions>,
}

/// `TimeStampReq` (RFC 3161 §2.4.1), as a signer sends it.
#[derive(Sequence)]
struct TimeStampReq {
    version: u8,
    message_imprint: MessageImprint,
    #[asn1(optional = "true")]
    req_policy: Option<ObjectIdentifier>,
    #[asn1(optional = "true")]
    nonce: Option<Int>,
    #[asn1(default = "Default::default")]
    cert_req: bool,
}

/// A DER `TimeStampReq` for `imprint`, the SHA-256 of a signature, asking for the
/// authority's certificate, with `nonce` (the content octets of a positive, minimal
/// INTEGER: what [`verify_with_nonce`] then compares).
pub fn request(imprint: &[u8; 32], nonce: &[u8]) -> Result<Vec<u8>, der::Error> {
    TimeStampReq {
        version: 1,
        message_imprint: MessageImprint {
            hash_algorithm: AlgorithmIdentifierOwned {
                oid: ID_SHA256,
                parameters: Some(Any::from(der::asn1::Null)),
            },
            hashed_message: OctetString::new(imprint.as_slice())?,
        },
        req_policy: None,
        nonce: Some(Int::new(nonce)?),
        cert_req: true,
    }
    .to_der()
}

#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

#[derive(Sequence)]
struct Accuracy {
    #[asn1(optional = "true")]
    seconds: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "IMPLICIT", optional = "true")]
    millis: Option<u16>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    micros: Option<u16>,
}

/// genTime as written. RFC 3161 allows a fraction of a second, which `der`'s
/// GeneralizedTime refuses, so the text is kept and read by [`GenTime::time`].
struct GenTime(Vec<u8>);

impl FixedTag for GenTime {
    const TAG: Tag = Tag::GeneralizedTime;
}

impl<'a> DecodeValue<'a> for GenTime {
    type Error = der::Error;

    fn decode_value<R: Reader<'a>>(reader: &mut R, header: Header) -> der::Result<Self> {
        Ok(Self(reader.read_vec(header.length())?))
    }
}

impl EncodeValue for GenTime {
    fn value_len(&self) -> der::Result<Length> {
        Length::try_from(self.0.len())
    }

    fn encode_value(&self, writer: &mut impl Writer) -> der::Result<()> {
        writer.write(&self.0)
    }
}

impl GenTime {
    /// `YYYYMMDDhhmmss[.f+]Z`, UTC (RFC 3161 §2.4.2).
    fn time(&self) -> Result<SystemTime, TimestampError> {
        parse_gen_time(&self.0).ok_or_else(|| {
            TimestampError::NotAToken(format!(
                "genTime {:?} is not YYYYMMDDhhmmss[.fraction]Z",
                String::from_utf8_lossy(&self.0)
            ))
        })
    }
}

fn parse_gen_time(text: &[u8]) -> Option<SystemTime> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let (whole, fraction) = match text.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (text, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    // humantime reads second 60 as a leap second; no timestamp authority writes one.
    if whole.len() != 14 || !digits(whole) || whole.get(12..14)? > "59" {
        return None;
    }
    if let Some(f) = fraction
        && (f.is_empty() || f.len() > MAX_FRACTION_DIGITS || !digits(f))
    {
        return None;
    }
    // Rewritten as RFC 3339, whose parser checks the calendar (month lengths, leap years).
    let rfc3339 = format!(
        "{}-{}-{}T{}:{}:{}{}Z",
        whole.get(0..4)?,
        whole.get(4..6)?,
        whole.get(6..8)?,
        whole.get(8..10)?,
        whole.get(10..12)?,
        whole.get(12..14)?,
        fraction.map(|f| format!(".{f}")).unwrap_or_default()
    );
    humantime::parse_rfc3339(&rfc3339).ok()
}

#[cfg(test)]
#[path = "timestamp_forged_tests.rs"]
mod forged_tests;
#[cfg(test)]
#[path = "timestamp_tests.rs"]
mod tests;
