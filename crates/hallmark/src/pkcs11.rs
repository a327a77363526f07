//! Signing keys held in a PKCS#11 token (a hardware security module, a smart card,
//! SoftHSM), named by an RFC 7512 URI as cosign names them:
//! `pkcs11:token=LABEL;object=KEY?module-path=/usr/lib/…/module.so`.
//!
//! The private key never leaves the token: the token signs a SHA-256 digest computed here
//! (CKM_ECDSA) and its raw `r || s` answer is checked against the key's public key and
//! written as ASN.1 DER, the form cosign's signatures take.
//!
//! Loading a module is `dlopen` of the path the user gave: the module's code runs inside
//! this process with its rights. Only an absolute path to a regular file is loaded, so a
//! bare name is never looked up in the library search path.

use std::fmt;
use std::path::Path;
use std::sync::Mutex;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
pub use cryptoki::types::AuthPin;

use p256::ecdsa::VerifyingKey;

use crate::class::ErrorClass;

/// The URI scheme of a PKCS#11 key.
pub const SCHEME: &str = "pkcs11:";

/// DER of the P-256 curve's OID (1.2.840.10045.3.1.7), as CKA_EC_PARAMS holds it.
const P256_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// A PKCS#11 key that could not be named, found or used. No variant carries a PIN.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs11Error {
    /// The URI is malformed or lacks what names a key.
    #[error("PKCS#11 URI {uri}: {reason}")]
    Uri {
        /// The URI without its query (which may hold a PIN).
        uri: String,
        /// What is wrong.
        reason: String,
    },
    /// The module could not be loaded or initialised.
    #[error("cannot load the PKCS#11 module {path}: {reason}")]
    Module {
        /// The module's path.
        path: String,
        /// Why.
        reason: String,
    },
    /// No token in the module matches the URI.
    #[error("no PKCS#11 token {wanted} in {module}; tokens there: {}", list(seen))]
    TokenNotFound {
        /// The token the URI names.
        wanted: String,
        /// The module's path.
        module: String,
        /// The tokens the module offers (label and slot).
        seen: Vec<String>,
    },
    /// No private key in the token matches the URI.
    #[error(
        "no private key {wanted} in the token {token:?}; keys there: {}",
        list(seen)
    )]
    ObjectNotFound {
        /// The key the URI names.
        wanted: String,
        /// The token's label.
        token: String,
        /// The private keys the token holds (label and id).
        seen: Vec<String>,
    },
    /// More than one private key matches.
    #[error(
        "{wanted} matches {count} private keys in the token {token:?}: {}",
        list(seen)
    )]
    Ambiguous {
        /// The key the URI names.
        wanted: String,
        /// The token's label.
        token: String,
        /// How many match.
        count: usize,
        /// The matching keys (label and id).
        seen: Vec<String>,
    },
    /// The token needs a PIN and none was given.
    #[error("the PKCS#11 token {token:?} needs a PIN to sign")]
    PinNeeded {
        /// The token's label.
        token: String,
    },
    /// The token refused the PIN.
    #[error("wrong PIN for the PKCS#11 token {token:?}")]
    WrongPin {
        /// The token's label.
        token: String,
    },
    /// The token refuses every PIN until its security officer unlocks it.
    #[error("the PIN of the PKCS#11 token {token:?} is locked after too many wrong tries")]
    PinLocked {
        /// The token's label.
        token: String,
    },
    /// The key is not one hallmark signs with.
    #[error("{what} is not an ECDSA P-256 key ({found})")]
    NotP256 {
        /// The key.
        what: String,
        /// What it is.
        found: String,
    },
    /// The token failed while it was asked something.
    #[error("the PKCS#11 token {token:?} failed to {op}: {reason}")]
    Token {
        /// The token's label (or the module's path before a token is chosen).
        token: String,
        /// What it was asked.
        op: &'static str,
        /// Its answer.
        reason: String,
    },
    /// The token's signature does not verify with the key's public key.
    #[error(
        "the signature the PKCS#11 token {token:?} made does not verify with its key's public key"
    )]
    BadSignature {
        /// The token's label.
        token: String,
    },
}

impl Pkcs11Error {
    /// Naming a key that is not there, a wrong PIN and a module that cannot be loaded are
    /// bad input; a token that fails while it works is an outage.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Token { .. } | Self::BadSignature { .. } => ErrorClass::Unavailable,
            _ => ErrorClass::Usage,
        }
    }
}

fn list(seen: &[String]) -> String {
    if seen.is_empty() {
        "none".into()
    } else {
        seen.join(", ")
    }
}

/// A parsed `pkcs11:` URI: the path attributes naming the token and the key, the query
/// attributes naming the module and the PIN.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Pkcs11Uri {
    /// `token=`: the token's label.
    pub token: Option<String>,
    /// `slot-id=`: the slot's number.
    pub slot_id: Option<u64>,
    /// `object=`: the key's label (CKA_LABEL).
    pub object: Option<String>,
    /// `id=`: the key's id (CKA_ID), percent-decoded bytes.
    pub id: Option<Vec<u8>>,
    /// `module-path=`: the module's absolute path.
    pub module_path: Option<String>,
    /// `pin-value=`: the PIN itself.
    pub pin_value: Option<String>,
    /// `pin-source=`: a file holding the PIN (a path or a `file:` URI).
    pub pin_source: Option<String>,
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The path attributes read; any other could narrow the choice of token or key, and
/// ignoring it could sign with another key than the one meant.
const PATH_ATTRIBUTES: [&str; 5] = ["token", "slot-id", "object", "id", "type"];
const QUERY_ATTRIBUTES: [&str; 3] = ["module-path", "pin-value", "pin-source"];

impl Pkcs11Uri {
    /// Whether `spec` names a PKCS#11 key.
    pub fn is_uri(spec: &str) -> bool {
        spec.get(..SCHEME.len())
            .is_some_and(|s| s.eq_ignore_ascii_case(SCHEME))
    }

    /// Reads `pkcs11:ATTR=VALUE;…?ATTR=VALUE&…`. A token (`token` or `slot-id`) and a key
    /// (`object` or `id`) must be named; an attribute given twice or not known is refused.
    pub fn parse(spec: &str) -> Result<Self, Pkcs11Error> {
        let shown = redact(spec);
        let err = |reason: String| Pkcs11Error::Uri {
            uri: shown.clone(),
            reason,
        };
        if !Self::is_uri(spec) {
            return Err(err("does not start with pkcs11:".into()));
        }
        let rest = &spec[SCHEME.len()..];
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        let mut uri = Self {
            token: None,
            slot_id: None,
            object: None,
            id: None,
            module_path: None,
            pin_value: None,
            pin_source: None,
        };
        let mut seen: Vec<String> = Vec::new();
        // cosign also separates query attributes with ';'.
        let path_parts = path.split(';').map(|p| (p, true));
        let query_parts = query.split(['&', ';']).map(|p| (p, false));
        for (part, in_path) in path_parts.chain(query_parts) {
            if part.is_empty() {
                continue;
            }
            let (name, raw) = part
                .split_once('=')
                .ok_or_else(|| err(format!("{:?} is not ATTRIBUTE=VALUE", cut(part))))?;
            let known: &[&str] = if in_path {
                &PATH_ATTRIBUTES
            } else {
                &QUERY_ATTRIBUTES
            };
            if !known.contains(&name) {
                return Err(err(format!(
                    "the {} attribute {:?} is not supported (known: {})",
                    if in_path { "path" } else { "query" },
                    cut(name),
                    known.join(", ")
                )));
            }
            if seen.iter().any(|s| s == name) {
                return Err(err(format!("{name} is given twice")));
            }
            seen.push(name.to_string());
            let bytes = percent_decode(raw)
                .ok_or_else(|| err(format!("the value of {name} has a malformed %-escape")))?;
            if name == "id" {
                uri.id = Some(bytes);
                continue;
            }
            let text = String::from_utf8(bytes)
                .map_err(|_| err(format!("the value of {name} is not UTF-8")))?;
            match name {
                "token" => uri.token = Some(text),
                "slot-id" => {
                    uri.slot_id =
                        Some(text.parse().map_err(|_| {
                            err(format!("slot-id {:?} is not a number", cut(&text)))
                        })?)
                }
                "object" => uri.object = Some(text),
                "type" if text != "private" => {
                    return Err(err(format!(
                        "type={} names no signing key (use type=private or leave it out)",
                        cut(&text)
                    )));
                }
                "type" => {}
                "module-path" => uri.module_path = Some(text),
                "pin-value" => uri.pin_value = Some(text),
                _ => uri.pin_source = Some(text),
            }
        }
        if uri.token.is_none() && uri.slot_id.is_none() {
            return Err(err("name the token with token=LABEL or slot-id=N".into()));
        }
        if uri.object.is_none() && uri.id.is_none() {
            return Err(err("name the key with object=LABEL or id=%XX…".into()));
        }
        if uri.pin_value.is_some() && uri.pin_source.is_some() {
            return Err(err("give pin-value or pin-source, not both".into()));
        }
        Ok(uri)
    }

    /// The URI with its path attributes only: the query may hold the PIN.
    pub fn redacted(&self) -> String {
        let mut parts = Vec::new();
        if let Some(t) = &self.token {
            parts.push(format!("token={}", percent_encode(t.as_bytes())));
        }
        if let Some(s) = self.slot_id {
            parts.push(format!("slot-id={s}"));
        }
        if let Some(o) = &self.object {
            parts.push(format!("object={}", percent_encode(o.as_bytes())));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id={}", hex_escaped(id)));
        }
        format!("{SCHEME}{}", parts.join(";"))
    }

    fn wanted_key(&self) -> String {
        let mut parts = Vec::new();
        if let Some(o) = &self.object {
            parts.push(format!("object={o}"));
        }
        if let Some(id) = &self.id {
            parts.push(format!("id={}", hex_escaped(id)));
        }
        parts.join(";")
    }

    fn wanted_token(&self) -> String {
        match (&self.token, self.slot_id) {
            (Some(t), Some(s)) => format!("{t:?} in slot {s}"),
            (Some(t), None) => format!("{t:?}"),
            (None, Some(s)) => format!("in slot {s}"),
            (None, None) => "(none named)".into(),
        }
    }
}

/// A URI as it may be shown: the part before any query, where a PIN may be, and without
/// the value of a PIN misplaced among the path attributes.
pub fn redact(spec: &str) -> String {
    let path = spec.split_once('?').map_or(spec, |(p, _)| p);
    let parts: Vec<&str> = cut(path)
        .split(';')
        .map(|part| {
            if part.to_ascii_lowercase().contains("pin-value=") {
                "pin-value=…"
            } else {
                part
            }
        })
        .collect();
    parts.join(";")
}

/// At most 200 characters of something the user typed, for a message.
fn cut(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// RFC 7512's unreserved path characters stay, everything else is %-escaped.
fn percent_encode(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii_alphanumeric() || b"-._~:[]@!$'()*+,=&".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02x}")
            }
        })
        .collect()
}

fn hex_escaped(b: &[u8]) -> String {
    b.iter().map(|c| format!("%{c:02x}")).collect()
}

/// The first sentence of a PKCS#11 return code's description.
fn reason(e: &CkError) -> String {
    match e {
        CkError::Pkcs11(rv, _) => {
            let text = rv.to_string();
            match text.split_once(". ") {
                Some((first, _)) => first.trim_end_matches('.').to_string(),
                None => text.trim_end_matches('.').to_string(),
            }
        }
        other => other.to_string(),
    }
}

fn rv(e: &CkError) -> Option<RvError> {
    match e {
        CkError::Pkcs11(rv, _) => Some(*rv),
        _ => None,
    }
}

/// A private key in a token, with a session logged in to use it.
pub struct Pkcs11Key {
    session: Mutex<Option<Session>>,
    ctx: Pkcs11,
    handle: ObjectHandle,
    public: VerifyingKey,
    token: String,
    name: String,
}

impl fmt::Debug for Pkcs11Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pkcs11Key({})", self.name)
    }
}

impl Drop for Pkcs11Key {
    fn drop(&mut self) {
        let session = match self.session.get_mut() {
            Ok(s) => s.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        drop(session);
        // Unloading a module that was not finalised leaves its threads and locks behind.
        let _ = self.ctx.clone().finalize();
    }
}

impl Pkcs11Key {
    /// Loads `module`, finds the token and the private key `uri` names, and logs in with
    /// the PIN `pin` gives when the token needs one (`pin` is asked with the token's label,
    /// and only then). The key must be ECDSA P-256 with its public key beside it.
    pub fn open(
        uri: &Pkcs11Uri,
        module: &Path,
        pin: &mut dyn FnMut(&str) -> Option<AuthPin>,
    ) -> Result<Self, Pkcs11Error> {
        let module_name = module.display().to_string();
        let module_err = |reason: String| Pkcs11Error::Module {
            path: module_name.clone(),
            reason,
        };
        if !module.is_absolute() {
            return Err(module_err(
                "not an absolute path (a bare name would be searched for in the library path)"
                    .into(),
            ));
        }
        match std::fs::metadata(module) {
            Ok(m) if m.is_file() => {}
            Ok(_) => return Err(module_err("not a regular file".into())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(module_err("no such file".into()));
            }
            Err(e) => return Err(module_err(e.kind().to_string())),
        }
        let ctx = Pkcs11::new(module).map_err(|e| module_err(loading_reason(&e)))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            Ok(()) => {}
            Err(e) if rv(&e) == Some(RvError::CryptokiAlreadyInitialized) => {}
            Err(e) => return Err(module_err(format!("C_Initialize: {}", reason(&e)))),
        }
        // From here the module is initialised: finalise it on every way out.
        let finalize = |e: Pkcs11Error| {
            let _ = ctx.clone().finalize();
            e
        };
        let (slot, token) = find_token(&ctx, uri, &module_name).map_err(finalize)?;
        match open_key(&ctx, slot, &token, uri, pin) {
            Ok((session, handle, public)) => Ok(Self {
                session: Mutex::new(Some(session)),
                ctx,
                handle,
                public,
                name: uri.redacted(),
                token,
            }),
            Err(e) => Err(finalize(e)),
        }
    }

    /// The key's public half.
    pub fn public_key(&self) -> VerifyingKey {
        self.public
    }

    /// The URI naming it, without its query.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Signs a SHA-256 digest: ECDSA in the token, checked with the public key, as DER.
    /// A token's ECDSA draws a fresh nonce each time, so two signatures of one digest
    /// differ, as a transparency log needs.
    pub fn sign_digest(&self, sha256: &[u8; 32]) -> Result<Vec<u8>, Pkcs11Error> {
        let guard = match self.session.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let failed = |op, reason| Pkcs11Error::Token {
            token: self.token.clone(),
            op,
            reason,
        };
        let session = guard
            .as_ref()
            .ok_or_else(|| failed("sign", "the session is closed".into()))?;
        let raw = session
            .sign(&Mechanism::Ecdsa, self.handle, sha256)
            .map_err(|e| failed("sign", reason(&e)))?;
        drop(guard);
        let bad = || Pkcs11Error::BadSignature {
            token: self.token.clone(),
        };
        let signature = p256::ecdsa::Signature::from_slice(&raw).map_err(|_| bad())?;
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        self.public
            .verify_prehash(sha256, &signature)
            .map_err(|_| bad())?;
        Ok(signature.to_der().as_bytes().to_vec())
    }
}

/// libloading's message names the path and the loader's reason; the path is said already.
fn loading_reason(e: &CkError) -> String {
    let text = e.to_string();
    match text.rsplit_once(": ") {
        Some((_, why)) if !why.is_empty() => why.to_string(),
        _ => text,
    }
}

/// The slot whose token the URI names, and the token's label.
fn find_token(ctx: &Pkcs11, uri: &Pkcs11Uri, module: &str) -> Result<(Slot, String), Pkcs11Error> {
    let failed = |op, e: CkError| Pkcs11Error::Token {
        token: module.to_string(),
        op,
        reason: reason(&e),
    };
    let slots = ctx
        .get_slots_with_token()
        .map_err(|e| failed("list its slots", e))?;
    let mut seen = Vec::new();
    for slot in slots {
        let info = ctx
            .get_token_info(slot)
            .map_err(|e| failed("describe a token", e))?;
        let label = info.label().trim_end().to_string();
        let label_matches = uri.token.as_deref().is_none_or(|t| t == label);
        let slot_matches = uri.slot_id.is_none_or(|s| s == slot.id());
        if label_matches && slot_matches {
            return Ok((slot, label));
        }
        seen.push(if info.token_initialized() {
            format!("{label:?} (slot {})", slot.id())
        } else {
            format!("an uninitialised token (slot {})", slot.id())
        });
    }
    Err(Pkcs11Error::TokenNotFound {
        wanted: uri.wanted_token(),
        module: module.to_string(),
        seen,
    })
}

type Opened = (Session, ObjectHandle, VerifyingKey);

/// Opens a session on the token, logs in if it needs a PIN, and finds the key.
fn open_key(
    ctx: &Pkcs11,
    slot: Slot,
    token: &str,
    uri: &Pkcs11Uri,
    pin: &mut dyn FnMut(&str) -> Option<AuthPin>,
) -> Result<Opened, Pkcs11Error> {
    let failed = |op, e: CkError| Pkcs11Error::Token {
        token: token.to_string(),
        op,
        reason: reason(&e),
    };
    let info = ctx
        .get_token_info(slot)
        .map_err(|e| failed("describe itself", e))?;
    let session = ctx
        .open_ro_session(slot)
        .map_err(|e| failed("open a session", e))?;
    let token_name = || token.to_string();
    if info.login_required() {
        if info.user_pin_locked() {
            return Err(Pkcs11Error::PinLocked {
                token: token_name(),
            });
        }
        let pin = pin(token).ok_or_else(|| Pkcs11Error::PinNeeded {
            token: token_name(),
        })?;
        match session.login(UserType::User, Some(&pin)) {
            Ok(()) => {}
            Err(e) => match rv(&e) {
                Some(RvError::UserAlreadyLoggedIn) => {}
                Some(RvError::PinIncorrect | RvError::PinLenRange | RvError::PinInvalid) => {
                    return Err(Pkcs11Error::WrongPin {
                        token: token_name(),
                    });
                }
                Some(RvError::PinLocked) => {
                    return Err(Pkcs11Error::PinLocked {
                        token: token_name(),
                    });
                }
                _ => return Err(failed("log in", e)),
            },
        }
    }
    let mut template = vec![Attribute::Class(ObjectClass::PRIVATE_KEY)];
    if let Some(id) = &uri.id {
        template.push(Attribute::Id(id.clone()));
    }
    if let Some(label) = &uri.object {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| failed("search for keys", e))?;
    let handle = match found.as_slice() {
        [one] => *one,
        [] => {
            return Err(Pkcs11Error::ObjectNotFound {
                wanted: uri.wanted_key(),
                token: token_name(),
                seen: describe_keys(&session, &[Attribute::Class(ObjectClass::PRIVATE_KEY)]),
            });
        }
        many => {
            return Err(Pkcs11Error::Ambiguous {
                wanted: uri.wanted_key(),
                token: token_name(),
                count: many.len(),
                seen: describe_keys(&session, &template),
            });
        }
    };
    let what = || format!("the key {} in the token {token:?}", uri.wanted_key());
    let attrs = session
        .get_attributes(
            handle,
            &[
                AttributeType::KeyType,
                AttributeType::Id,
                AttributeType::Label,
            ],
        )
        .map_err(|e| failed("describe the key", e))?;
    let mut key_id = None;
    let mut key_label = None;
    for a in attrs {
        match a {
            Attribute::KeyType(t) if t != KeyType::EC => {
                return Err(Pkcs11Error::NotP256 {
                    what: what(),
                    found: format!("a {t} key"),
                });
            }
            Attribute::Id(id) if !id.is_empty() => key_id = Some(id),
            Attribute::Label(l) if !l.is_empty() => key_label = Some(l),
            _ => {}
        }
    }
    let public = public_key(&session, key_id, key_label).map_err(|e| match e {
        Lookup::Failed(op, e) => failed(op, e),
        Lookup::Missing(found) => Pkcs11Error::NotP256 {
            what: what(),
            found,
        },
    })?;
    Ok((session, handle, public))
}

enum Lookup {
    Failed(&'static str, CkError),
    Missing(String),
}

/// The public key stored beside the private one (same CKA_ID, else same label).
fn public_key(
    session: &Session,
    id: Option<Vec<u8>>,
    label: Option<Vec<u8>>,
) -> Result<VerifyingKey, Lookup> {
    let mut template = vec![Attribute::Class(ObjectClass::PUBLIC_KEY)];
    match (id, label) {
        (Some(id), _) => template.push(Attribute::Id(id)),
        (None, Some(label)) => template.push(Attribute::Label(label)),
        (None, None) => {
            return Err(Lookup::Missing(
                "it has neither id nor label to find its public key by".into(),
            ));
        }
    }
    let found = session
        .find_objects(&template)
        .map_err(|e| Lookup::Failed("search for the public key", e))?;
    let Some(&handle) = found.first() else {
        return Err(Lookup::Missing(
            "no public key object beside it in the token".into(),
        ));
    };
    let attrs = session
        .get_attributes(handle, &[AttributeType::EcParams, AttributeType::EcPoint])
        .map_err(|e| Lookup::Failed("read the public key", e))?;
    let (mut params, mut point) = (None, None);
    for a in attrs {
        match a {
            Attribute::EcParams(p) => params = Some(p),
            Attribute::EcPoint(p) => point = Some(p),
            _ => {}
        }
    }
    if params.as_deref() != Some(P256_PARAMS.as_slice()) {
        return Err(Lookup::Missing("an EC key on another curve".into()));
    }
    let point = point.ok_or_else(|| Lookup::Missing("its public point is unreadable".into()))?;
    decode_point(&point).ok_or_else(|| Lookup::Missing("its public point is malformed".into()))
}

/// CKA_EC_POINT is a DER OCTET STRING around the SEC1 point; some modules give the bare
/// point.
fn decode_point(bytes: &[u8]) -> Option<VerifyingKey> {
    let sec1 = match bytes {
        [0x04, 65, rest @ ..] if rest.len() == 65 => rest,
        _ => bytes,
    };
    VerifyingKey::from_sec1_bytes(sec1).ok()
}

/// The keys matching `template`, each as its label and id, for a message.
fn describe_keys(session: &Session, template: &[Attribute]) -> Vec<String> {
    let Ok(found) = session.find_objects(template) else {
        return Vec::new();
    };
    found
        .iter()
        .take(20)
        .map(|&h| {
            let attrs = session
                .get_attributes(h, &[AttributeType::Label, AttributeType::Id])
                .unwrap_or_default();
            let mut parts = Vec::new();
            for a in attrs {
                match a {
                    Attribute::Label(l) if !l.is_empty() => {
                        parts.push(format!("object={}", String::from_utf8_lossy(&l)))
                    }
                    Attribute::Id(id) if !id.is_empty() => {
                        parts.push(format!("id={}", hex_escaped(&id)))
                    }
                    _ => {}
                }
            }
            if parts.is_empty() {
                "(a key with neither label nor id)".into()
            } else {
                parts.join(";")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uri_names_its_token_key_module_and_pin() {
        let uri = Pkcs11Uri::parse(
            "pkcs11:token=my%20token;slot-id=3;id=%01%ab;object=signing?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234",
        )
        .unwrap();
        assert_eq!(uri.token.as_deref(), Some("my token"));
        assert_eq!(uri.slot_id, Some(3));
        assert_eq!(uri.id.as_deref(), Some([1u8, 0xab].as_slice()));
        assert_eq!(uri.object.as_deref(), Some("signing"));
        assert_eq!(
            uri.module_path.as_deref(),
            Some("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert_eq!(uri.pin_value.as_deref(), Some("1234"));
        // Neither the shown form nor Debug carries the PIN.
        assert_eq!(
            uri.redacted(),
            "pkcs11:token=my%20token;slot-id=3;object=signing;id=%01%ab"
        );
        assert!(!format!("{uri:?}").contains("1234"));
        // cosign's ';' between query attributes is read too.
        let semi =
            Pkcs11Uri::parse("pkcs11:token=t;object=k?module-path=/m.so;pin-source=/p").unwrap();
        assert_eq!(semi.pin_source.as_deref(), Some("/p"));
        assert!(Pkcs11Uri::is_uri("PKCS11:token=t"));
        assert!(!Pkcs11Uri::is_uri("pkcs1"));
    }

    /// A URI that leaves out the token or the key, repeats or misspells an attribute, or
    /// narrows by one not read, is refused, and the message never shows the query.
    #[test]
    fn a_uri_that_names_no_single_key_is_refused() {
        for (spec, words) in [
            ("pkcs11:object=k?pin-value=SECRET", "token=LABEL"),
            ("pkcs11:token=t?pin-value=SECRET", "object=LABEL"),
            ("pkcs11:token=t;token=u;object=k", "twice"),
            (
                "pkcs11:token=t;serial=42;object=k",
                "\"serial\" is not supported",
            ),
            (
                "pkcs11:token=t;object=k?pin=SECRET",
                "\"pin\" is not supported",
            ),
            (
                "pkcs11:token=t;pin-value=SECRET;object=k",
                "\"pin-value\" is not supported",
            ),
            ("pkcs11:token=t;object=k;type=public", "type=private"),
            ("pkcs11:token=t;slot-id=x;object=k", "not a number"),
            ("pkcs11:token=t;object=%zz", "%-escape"),
            ("pkcs11:token=t;object", "ATTRIBUTE=VALUE"),
            (
                "pkcs11:token=t;object=k?pin-value=SECRET&pin-source=/f",
                "not both",
            ),
        ] {
            let e = Pkcs11Uri::parse(spec).unwrap_err();
            let shown = e.to_string();
            assert!(shown.contains(words), "{spec}: {shown}");
            assert!(!shown.contains("SECRET"), "{spec}: {shown}");
            assert_eq!(e.class(), ErrorClass::Usage);
        }
    }

    #[test]
    fn an_ec_point_is_read_wrapped_or_bare() {
        let vk = *p256::ecdsa::SigningKey::from_slice(&[7; 32])
            .unwrap()
            .verifying_key();
        let bare = vk.to_sec1_bytes().to_vec();
        let wrapped = [[0x04, 65].as_slice(), &bare].concat();
        assert_eq!(decode_point(&bare), Some(vk));
        assert_eq!(decode_point(&wrapped), Some(vk));
        assert_eq!(decode_point(&[0x04, 65, 1, 2]), None);
    }

    /// A module is loaded only from an absolute path to a regular file: a bare name would
    /// be looked up in the library search path.
    #[test]
    fn a_module_path_must_be_absolute_and_a_file() {
        let uri = Pkcs11Uri::parse("pkcs11:token=t;object=k").unwrap();
        let mut no_pin = |_: &str| None;
        for (path, words) in [
            ("libsofthsm2.so", "absolute"),
            ("/", "regular file"),
            ("/nonexistent/module.so", "no such file"),
        ] {
            let e = Pkcs11Key::open(&uri, Path::new(path), &mut no_pin).unwrap_err();
            assert!(e.to_string().contains(words), "{path}: {e}");
            assert_eq!(e.class(), ErrorClass::Usage);
        }
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.so");
        std::fs::write(&junk, b"not a library").unwrap();
        let e = Pkcs11Key::open(&uri, &junk, &mut no_pin).unwrap_err();
        assert!(matches!(e, Pkcs11Error::Module { .. }), "{e}");
    }
}
