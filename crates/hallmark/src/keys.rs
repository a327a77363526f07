//! Signing keys in cosign's encrypted format, and public keys as SPKI PEM.
//!
//! The private key file is a PEM block whose body is JSON: scrypt parameters and salt,
//! a NaCl secretbox nonce, and the secretbox of the PKCS#8 DER private key.

use std::fmt;

use base64ct::{Base64, Encoding};
use pkcs8::der::pem::{self, LineEnding};
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use serde::{Deserialize, Serialize};
use spki::{DecodePublicKey, EncodePublicKey};

use crate::class::ErrorClass;
use crate::digest::Digest;

/// The PEM label cosign writes for encrypted private keys.
pub(crate) const PRIVATE_KEY_LABEL: &str = "ENCRYPTED SIGSTORE PRIVATE KEY";
const LEGACY_PRIVATE_KEY_LABEL: &str = "ENCRYPTED COSIGN PRIVATE KEY";
/// cosign >= 2.2 writes N = 2^16; older versions 2^15.
const WRITE_LOG_N: u8 = 16;
/// A hostile key file must not make us spend unbounded memory: N <= 2^17 (128 MiB at r=8).
const ACCEPTED_LOG_N: [u8; 3] = [15, 16, 17];
const SECRETBOX_TAG_LEN: usize = 16;
/// SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING (32) } }
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// A key that could not be made, read or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// Not PEM at all.
    #[error("{what} is not a PEM file: {reason}")]
    Pem {
        /// The key file.
        what: String,
        /// The decoder's complaint.
        reason: String,
    },
    /// PEM of another kind (a public key where a private key belongs, say).
    #[error("{what}: expected a PEM block {expected:?}, found {found:?}")]
    Label {
        /// The key file.
        what: String,
        /// The label wanted.
        expected: &'static str,
        /// The label found.
        found: String,
    },
    /// The encrypted key's JSON or fields are malformed.
    #[error("{what}: malformed encrypted key: {reason}")]
    Format {
        /// The key file.
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// KDF or cipher parameters hallmark does not accept.
    #[error("{what}: unsupported key parameters: {reason}")]
    Unsupported {
        /// The key file.
        what: String,
        /// Which parameter.
        reason: String,
    },
    /// Decryption failed.
    #[error("{what}: wrong password (or the key file was modified)")]
    WrongPassword {
        /// The key file.
        what: String,
    },
    /// A key of another algorithm.
    #[error("{what}: not an ECDSA P-256 or Ed25519 key")]
    UnknownAlgorithm {
        /// The key file.
        what: String,
    },
    /// No randomness for generating a key or salt.
    #[error("cannot get random bytes from the operating system: {0}")]
    Random(#[source] getrandom::Error),
    /// Ed25519 signs the whole message, so it cannot sign a blob streamed by its digest.
    #[error(
        "{what}: an Ed25519 key signs whole messages and cannot sign or verify a streamed blob; use an ECDSA P-256 key (cosign's default) for blobs"
    )]
    NotPrehashable {
        /// The key file.
        what: String,
    },
    /// A key in a PKCS#11 token that could not be found or used.
    #[error(transparent)]
    Pkcs11(#[from] crate::pkcs11::Pkcs11Error),
    /// A key held in a token cannot be written to a file.
    #[error("{what} stays in its PKCS#11 token and cannot be written to a file")]
    NotExportable {
        /// The key.
        what: String,
    },
}

impl KeyError {
    /// A key that cannot be read or used is bad input; no randomness is an outage.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Pem { .. }
            | Self::Label { .. }
            | Self::Format { .. }
            | Self::Unsupported { .. }
            | Self::WrongPassword { .. }
            | Self::UnknownAlgorithm { .. }
            | Self::NotPrehashable { .. }
            | Self::NotExportable { .. } => ErrorClass::Usage,
            Self::Random(_) => ErrorClass::Unavailable,
            Self::Pkcs11(e) => e.class(),
        }
    }
}

/// Signature algorithms hallmark signs and verifies with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Algorithm {
    /// ECDSA over P-256 with SHA-256 (cosign's default).
    EcdsaP256,
    /// Ed25519.
    Ed25519,
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EcdsaP256 => "ecdsa-p256",
            Self::Ed25519 => "ed25519",
        })
    }
}

/// A private key, decrypted in memory or held in a PKCS#11 token.
pub enum SigningKey {
    /// ECDSA P-256.
    EcdsaP256(p256::ecdsa::SigningKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::SigningKey),
    /// ECDSA P-256 in a PKCS#11 token, which signs digests computed here.
    Pkcs11(Box<crate::pkcs11::Pkcs11Key>),
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({})", self.algorithm())
    }
}

fn sha256_of(message: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(message).into()
}

fn random_bytes<const N: usize>() -> Result<[u8; N], KeyError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(KeyError::Random)?;
    Ok(b)
}

impl SigningKey {
    /// A fresh random key.
    pub fn generate(algorithm: Algorithm) -> Result<Self, KeyError> {
        Ok(match algorithm {
            Algorithm::EcdsaP256 => loop {
                // Rejection sampling: a random 32-byte string is a valid scalar with
                // overwhelming probability.
                if let Ok(k) = p256::ecdsa::SigningKey::from_slice(&random_bytes::<32>()?) {
                    break Self::EcdsaP256(k);
                }
            },
            Algorithm::Ed25519 => {
                Self::Ed25519(ed25519_dalek::SigningKey::from_bytes(&random_bytes()?))
            }
        })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::EcdsaP256(_) | Self::Pkcs11(_) => Algorithm::EcdsaP256,
            Self::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// Signs `message`: ECDSA P-256 over SHA-256 (ASN.1 DER), or pure Ed25519. Only a key
    /// in a token can fail here.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        use p256::ecdsa::signature::Signer;
        match self {
            Self::EcdsaP256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(message);
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Self::Ed25519(k) => Ok(k.sign(message).to_bytes().to_vec()),
            Self::Pkcs11(k) => Ok(k.sign_digest(&sha256_of(message))?),
        }
    }

    /// Signs a message known by its SHA-256 (a blob streamed from disk): ECDSA P-256 over
    /// that digest, exactly as signing the whole message would. Ed25519 cannot.
    pub(crate) fn sign_prehashed(
        &self,
        sha256: &[u8; 32],
        what: &str,
    ) -> Result<Vec<u8>, KeyError> {
        use p256::ecdsa::signature::hazmat::PrehashSigner;
        match self {
            Self::EcdsaP256(k) => {
                let sig: p256::ecdsa::Signature =
                    k.sign_prehash(sha256).map_err(|e| KeyError::Format {
                        what: what.to_string(),
                        reason: e.to_string(),
                    })?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Self::Ed25519(_) => Err(KeyError::NotPrehashable {
                what: what.to_string(),
            }),
            Self::Pkcs11(k) => Ok(k.sign_digest(sha256)?),
        }
    }

    /// Signs `message` as [`sign`](Self::sign) does, but hedged: ECDSA's nonce is RFC 6979's
    /// with fresh randomness mixed in, so signing the same message twice gives two
    /// signatures. A transparency log refuses an entry it already holds, and a release job
    /// run again must log a new one. Ed25519 stays deterministic: it has no hedged form.
    pub fn sign_hedged(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        use p256::ecdsa::signature::RandomizedSigner;
        match self {
            Self::EcdsaP256(k) => {
                let sig: p256::ecdsa::Signature = k
                    .try_sign_with_rng(&mut getrandom::SysRng, message)
                    .map_err(|_| KeyError::Random(getrandom::Error::UNEXPECTED))?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Self::Ed25519(_) => self.sign(message),
            // A token's ECDSA draws its own nonce: every signature is new already.
            Self::Pkcs11(_) => self.sign(message),
        }
    }

    /// [`sign_prehashed`](Self::sign_prehashed), hedged as [`sign_hedged`](Self::sign_hedged).
    pub(crate) fn sign_prehashed_hedged(
        &self,
        sha256: &[u8; 32],
        what: &str,
    ) -> Result<Vec<u8>, KeyError> {
        use p256::ecdsa::signature::hazmat::RandomizedPrehashSigner;
        match self {
            Self::EcdsaP256(k) => {
                let sig: p256::ecdsa::Signature = k
                    .sign_prehash_with_rng(&mut getrandom::SysRng, sha256)
                    .map_err(|e| KeyError::Format {
                        what: what.to_string(),
                        reason: e.to_string(),
                    })?;
                Ok(sig.to_der().as_bytes().to_vec())
            }
            Self::Ed25519(_) | Self::Pkcs11(_) => self.sign_prehashed(sha256, what),
        }
    }

    /// The matching public key.
    pub fn public_key(&self) -> PublicKey {
        match self {
            Self::EcdsaP256(k) => PublicKey::EcdsaP256(*k.verifying_key()),
            Self::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            Self::Pkcs11(k) => PublicKey::EcdsaP256(k.public_key()),
        }
    }

    fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        Ok(match self {
            Self::EcdsaP256(k) => k
                .to_pkcs8_der()
                .expect("encoding an in-memory key as PKCS#8 cannot fail")
                .as_bytes()
                .to_vec(),
            // PKCS#8 v1 (RFC 8410 section 7) without the optional public key: the v2 form
            // is not read by every implementation (Python's cryptography, for one).
            Self::Ed25519(k) => [ED25519_PKCS8_V1_PREFIX.as_slice(), k.as_bytes()].concat(),
            Self::Pkcs11(k) => {
                return Err(KeyError::NotExportable {
                    what: k.name().to_string(),
                });
            }
        })
    }

    fn from_pkcs8_der(der: &[u8], what: &str) -> Result<Self, KeyError> {
        if let Ok(k) = p256::ecdsa::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::EcdsaP256(k));
        }
        if let Ok(k) = ed25519_dalek::SigningKey::from_pkcs8_der(der) {
            return Ok(Self::Ed25519(k));
        }
        Err(KeyError::UnknownAlgorithm {
            what: what.to_string(),
        })
    }

    /// Writes the key in cosign's encrypted PEM format.
    pub fn to_encrypted_pem(&self, password: &[u8]) -> Result<String, KeyError> {
        let der = self.to_pkcs8_der()?;
        let salt = random_bytes::<32>()?;
        let nonce = random_bytes::<24>()?;
        let key = derive_key(password, &salt, WRITE_LOG_N)?;
        let ciphertext = secretbox::seal(&key, &nonce, &der);
        let doc = EncryptedKey {
            kdf: Kdf {
                name: "scrypt".into(),
                params: ScryptParams {
                    n: 1 << WRITE_LOG_N,
                    r: 8,
                    p: 1,
                },
                salt: Base64::encode_string(&salt),
            },
            cipher: Cipher {
                name: "nacl/secretbox".into(),
                nonce: Base64::encode_string(&nonce),
            },
            ciphertext: Base64::encode_string(&ciphertext),
        };
        let json = serde_json::to_vec(&doc).expect("serialising a plain struct cannot fail");
        pem::encode_string(PRIVATE_KEY_LABEL, LineEnding::LF, &json).map_err(|e| KeyError::Pem {
            what: "new key".into(),
            reason: e.to_string(),
        })
    }

    /// Reads a cosign encrypted private key. `what` names the file in errors.
    pub fn from_encrypted_pem(text: &[u8], password: &[u8], what: &str) -> Result<Self, KeyError> {
        let (label, body) = decode_pem(text, what)?;
        if label != PRIVATE_KEY_LABEL && label != LEGACY_PRIVATE_KEY_LABEL {
            return Err(KeyError::Label {
                what: what.to_string(),
                expected: PRIVATE_KEY_LABEL,
                found: label.to_string(),
            });
        }
        let format = |reason: String| KeyError::Format {
            what: what.to_string(),
            reason,
        };
        let unsupported = |reason: String| KeyError::Unsupported {
            what: what.to_string(),
            reason,
        };
        let doc: EncryptedKey = serde_json::from_slice(&body).map_err(|e| format(e.to_string()))?;
        if doc.kdf.name != "scrypt" {
            return Err(unsupported(format!("kdf {:?} (only scrypt)", doc.kdf.name)));
        }
        if doc.cipher.name != "nacl/secretbox" {
            return Err(unsupported(format!(
                "cipher {:?} (only nacl/secretbox)",
                doc.cipher.name
            )));
        }
        let ScryptParams { n, r, p } = doc.kdf.params;
        let log_n = ACCEPTED_LOG_N
            .into_iter()
            .find(|&l| n == 1u64 << l)
            .filter(|_| r == 8 && p == 1)
            .ok_or_else(|| {
                unsupported(format!(
                    "scrypt N={n} r={r} p={p} (accepted: N in 32768, 65536, 131072 with r=8, p=1)"
                ))
            })?;
        let b64 = |field: &str, value: &str| {
            Base64::decode_vec(value).map_err(|_| format(format!("{field} is not base64")))
        };
        let salt = b64("salt", &doc.kdf.salt)?;
        let nonce: [u8; 24] = b64("nonce", &doc.cipher.nonce)?
            .try_into()
            .map_err(|_| format("nonce is not 24 bytes".into()))?;
        let ciphertext = b64("ciphertext", &doc.ciphertext)?;
        let key = derive_key(password, &salt, log_n)?;
        let der =
            secretbox::open(&key, &nonce, &ciphertext).ok_or_else(|| KeyError::WrongPassword {
                what: what.to_string(),
            })?;
        Self::from_pkcs8_der(&der, what)
    }
}

fn derive_key(password: &[u8], salt: &[u8], log_n: u8) -> Result<[u8; 32], KeyError> {
    let params = scrypt::Params::new(log_n, 8, 1).map_err(|e| KeyError::Unsupported {
        what: "key".into(),
        reason: e.to_string(),
    })?;
    let mut out = [0u8; 32];
    scrypt::scrypt(password, salt, &params, &mut out)
        .expect("32 bytes is a valid scrypt output length");
    Ok(out)
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EncryptedKey {
    kdf: Kdf,
    cipher: Cipher,
    ciphertext: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Kdf {
    name: String,
    params: ScryptParams,
    salt: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScryptParams {
    #[serde(rename = "N")]
    n: u64,
    r: u32,
    p: u32,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cipher {
    name: String,
    nonce: String,
}

/// NaCl `crypto_secretbox` (XSalsa20-Poly1305), output `tag || ciphertext` as Go's
/// `secretbox.Seal` writes it.
mod secretbox {
    use poly1305::Poly1305;
    use poly1305::universal_hash::KeyInit;
    use salsa20::XSalsa20;
    use salsa20::cipher::{KeyIvInit, StreamCipher};
    use subtle::ConstantTimeEq;

    use super::SECRETBOX_TAG_LEN;

    fn start(key: &[u8; 32], nonce: &[u8; 24]) -> (XSalsa20, Poly1305) {
        let mut cipher = XSalsa20::new(key.into(), nonce.into());
        // The first 32 bytes of keystream are the one-time Poly1305 key.
        let mut mac_key = [0u8; 32];
        cipher.apply_keystream(&mut mac_key);
        (cipher, Poly1305::new(&mac_key.into()))
    }

    pub(super) fn seal(key: &[u8; 32], nonce: &[u8; 24], plaintext: &[u8]) -> Vec<u8> {
        let (mut cipher, mac) = start(key, nonce);
        let mut out = vec![0u8; SECRETBOX_TAG_LEN];
        out.extend_from_slice(plaintext);
        cipher.apply_keystream(&mut out[SECRETBOX_TAG_LEN..]);
        let tag = mac.compute_unpadded(&out[SECRETBOX_TAG_LEN..]);
        out[..SECRETBOX_TAG_LEN].copy_from_slice(&tag);
        out
    }

    pub(super) fn open(key: &[u8; 32], nonce: &[u8; 24], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < SECRETBOX_TAG_LEN {
            return None;
        }
        let (tag, ciphertext) = sealed.split_at(SECRETBOX_TAG_LEN);
        let (mut cipher, mac) = start(key, nonce);
        let expected = mac.compute_unpadded(ciphertext);
        if !bool::from(expected.as_slice().ct_eq(tag)) {
            return None;
        }
        let mut plaintext = ciphertext.to_vec();
        cipher.apply_keystream(&mut plaintext);
        Some(plaintext)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn hex(s: &str) -> Vec<u8> {
            (0..s.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
                .collect()
        }

        // NaCl's published secretbox test vector (tests/secretbox.c): the 131-byte message
        // and the whole 147-byte box, tag first. libsodium produces the same bytes.
        #[test]
        fn known_answer() {
            let key: [u8; 32] =
                hex("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
                    .try_into()
                    .unwrap();
            let nonce: [u8; 24] = hex("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37")
                .try_into()
                .unwrap();
            let m = hex(concat!(
                "be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a",
                "1ac728d45e6c61296cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057",
                "e2f6556ad6b1318a024a838f21af1fde048977eb48f59ffd4924ca1c60902e52f0a089bc76897040",
                "e082f937763848645e0705"
            ));
            let expected = hex(concat!(
                "f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4",
                "476fb8c531a1186ac0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738",
                "b48eeee314a7cc8ab932164548e526ae90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de",
                "56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74e355a5"
            ));
            assert_eq!(m.len(), 131);
            let sealed = seal(&key, &nonce, &m);
            assert_eq!(sealed, expected);
            assert_eq!(open(&key, &nonce, &expected).unwrap(), m);
            // Any flipped bit, in the tag or the ciphertext, and a short box are refused.
            for i in [0, 15, 16, 100, expected.len() - 1] {
                let mut tampered = expected.clone();
                tampered[i] ^= 1;
                assert!(open(&key, &nonce, &tampered).is_none(), "byte {i}");
            }
            assert!(open(&key, &nonce, &expected[..10]).is_none());
        }
    }
}

/// A public key that signatures are checked against.
#[derive(Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// ECDSA P-256.
    EcdsaP256(p256::ecdsa::VerifyingKey),
    /// Ed25519.
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// Reads the one PEM block of a key file as leniently as Go's decoder, which cosign uses:
/// text before the block, any line length (one line included), CRLF, trailing spaces and
/// `Key: value` headers are fine. An empty file, a file without a block, a block without
/// its end line, and a second block are refused with a message that says which.
pub(crate) fn decode_pem(text: &[u8], what: &str) -> Result<(String, Vec<u8>), KeyError> {
    let fail = |reason: &str| KeyError::Pem {
        what: what.to_string(),
        reason: reason.to_string(),
    };
    let text = std::str::from_utf8(text).map_err(|_| fail("it is not text"))?;
    if text.trim().is_empty() {
        return Err(fail("the file is empty"));
    }
    let start = text
        .find("-----BEGIN ")
        .ok_or_else(|| fail("no -----BEGIN line"))?;
    let rest = &text[start + "-----BEGIN ".len()..];
    let label_end = rest
        .find("-----")
        .ok_or_else(|| fail("the -----BEGIN line is not closed by -----"))?;
    let label = &rest[..label_end];
    if label.contains(['\n', '\r']) {
        return Err(fail("the -----BEGIN line is not closed by -----"));
    }
    let body_and_rest = &rest[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body_and_rest
        .find(&end_marker)
        .ok_or_else(|| fail(&format!("no {end_marker} line")))?;
    if body_and_rest[end + end_marker.len()..].contains("-----BEGIN ") {
        return Err(fail(
            "it holds more than one PEM block; keep only the key in the file",
        ));
    }
    let body: String = body_and_rest[..end]
        .lines()
        .filter(|l| !l.contains(':'))
        .flat_map(|l| l.chars().filter(|c| !c.is_ascii_whitespace()))
        .collect();
    let der = Base64::decode_vec(&body).map_err(|_| fail("the block is not base64"))?;
    Ok((label.to_string(), der))
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} {})", self.algorithm(), self.key_id())
    }
}

impl PublicKey {
    /// Reads an SPKI `PUBLIC KEY` PEM. `what` names the file in errors.
    pub fn from_pem(text: &str, what: &str) -> Result<Self, KeyError> {
        let (label, der) = decode_pem(text.as_bytes(), what)?;
        if label != "PUBLIC KEY" {
            return Err(KeyError::Label {
                what: what.to_string(),
                expected: "PUBLIC KEY",
                found: label.to_string(),
            });
        }
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(&der) {
            return Ok(Self::EcdsaP256(k));
        }
        if let Ok(k) = ed25519_dalek::VerifyingKey::from_public_key_der(&der) {
            return Ok(Self::Ed25519(k));
        }
        Err(KeyError::UnknownAlgorithm {
            what: what.to_string(),
        })
    }

    /// The key as SPKI PEM.
    pub fn to_pem(&self) -> String {
        let pem = match self {
            Self::EcdsaP256(k) => k.to_public_key_pem(LineEnding::LF),
            Self::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
        };
        pem.expect("encoding an in-memory public key cannot fail")
    }

    /// A key from its DER SubjectPublicKeyInfo (a certificate's key); `None` for an
    /// algorithm hallmark does not verify with.
    pub(crate) fn from_spki_der(der: &[u8]) -> Option<Self> {
        if let Ok(k) = p256::ecdsa::VerifyingKey::from_public_key_der(der) {
            return Some(Self::EcdsaP256(k));
        }
        ed25519_dalek::VerifyingKey::from_public_key_der(der)
            .ok()
            .map(PublicKey::Ed25519)
    }

    /// The key as DER SubjectPublicKeyInfo.
    pub(crate) fn spki_der(&self) -> Vec<u8> {
        self.to_der()
    }

    fn to_der(&self) -> Vec<u8> {
        let doc = match self {
            Self::EcdsaP256(k) => k.to_public_key_der(),
            Self::Ed25519(k) => k.to_public_key_der(),
        };
        doc.expect("encoding an in-memory public key cannot fail")
            .into_vec()
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::EcdsaP256(_) => Algorithm::EcdsaP256,
            Self::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// A stable short name: the first 16 hex digits of SHA-256 over the SPKI DER.
    pub fn key_id(&self) -> String {
        let d = Digest::sha256(&self.to_der());
        d.hex()[..16].to_string()
    }

    /// The key's name in a Sigstore bundle (`verificationMaterial.publicKey.hint`), as
    /// cosign writes it: base64 of the SHA-256 of the DER public key.
    pub fn bundle_hint(&self) -> String {
        use sha2::Digest as _;
        Base64::encode_string(&sha2::Sha256::digest(self.to_der()))
    }

    /// The [`PublicKey::key_id`] a bundle hint names, when it is one cosign would write.
    pub(crate) fn key_id_of_hint(hint: &str) -> Option<String> {
        let raw = Base64::decode_vec(hint.trim()).ok()?;
        (raw.len() == 32).then(|| crate::digest::to_hex(&raw[..8]))
    }

    /// Whether `signature` is a valid signature of the message whose SHA-256 is `sha256`;
    /// `None` for a key that cannot verify by digest (Ed25519).
    pub(crate) fn verify_prehashed(&self, sha256: &[u8; 32], signature: &[u8]) -> Option<bool> {
        use p256::ecdsa::signature::hazmat::PrehashVerifier;
        match self {
            Self::EcdsaP256(k) => {
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(signature));
                Some(sig.is_ok_and(|s| k.verify_prehash(sha256, &s).is_ok()))
            }
            Self::Ed25519(_) => None,
        }
    }

    /// True when `signature` is a valid signature of `message` by this key.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        use p256::ecdsa::signature::Verifier;
        match self {
            Self::EcdsaP256(k) => {
                // cosign writes ASN.1 DER; accept the fixed-width r||s form too.
                let sig = p256::ecdsa::Signature::from_der(signature)
                    .or_else(|_| p256::ecdsa::Signature::from_slice(signature));
                sig.is_ok_and(|s| k.verify(message, &s).is_ok())
            }
            Self::Ed25519(k) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify_strict(message, &s).is_ok()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_is_read_as_leniently_as_go_does() {
        let k = SigningKey::generate(Algorithm::EcdsaP256)
            .unwrap()
            .public_key();
        let pem = k.to_pem();
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        let variants = [
            pem.replace('\n', "\r\n"),
            format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----"),
            format!("-----BEGIN PUBLIC KEY-----{body}-----END PUBLIC KEY-----"),
            pem.replace('\n', "   \n"),
            format!("Here is the key from the vault:\n{pem}"),
            format!(
                "-----BEGIN PUBLIC KEY-----\nComment: ours\n\n{body}\n-----END PUBLIC KEY-----\n"
            ),
        ];
        for v in &variants {
            let read = PublicKey::from_pem(v, "k.pub").unwrap_or_else(|e| panic!("{v:?}: {e}"));
            assert_eq!(read.key_id(), k.key_id());
        }
        let refused = [
            ("", "the file is empty"),
            ("  \n", "the file is empty"),
            ("just text", "no -----BEGIN line"),
            (
                "-----BEGIN PUBLIC KEY-----\nAAAA\n",
                "no -----END PUBLIC KEY----- line",
            ),
            (&*format!("{pem}{pem}"), "more than one PEM block"),
            (
                "-----BEGIN PUBLIC KEY-----\n!!!\n-----END PUBLIC KEY-----",
                "not base64",
            ),
        ];
        for (text, why) in refused {
            let e = PublicKey::from_pem(text, "k.pub").unwrap_err().to_string();
            assert!(
                e.starts_with("k.pub is not a PEM file") && e.contains(why),
                "{text:?}: {e}"
            );
        }
    }

    #[test]
    fn encrypted_round_trip_both_algorithms() {
        for alg in [Algorithm::EcdsaP256, Algorithm::Ed25519] {
            let k = SigningKey::generate(alg).unwrap();
            let pem = k.to_encrypted_pem(b"pw").unwrap();
            assert!(pem.starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"));
            let back = SigningKey::from_encrypted_pem(pem.as_bytes(), b"pw", "k").unwrap();
            assert_eq!(back.public_key(), k.public_key());
            let err = SigningKey::from_encrypted_pem(pem.as_bytes(), b"wrong", "k").unwrap_err();
            assert!(matches!(err, KeyError::WrongPassword { .. }), "{err}");
            let sig = back.sign(b"payload").unwrap();
            assert!(k.public_key().verify(b"payload", &sig));
            assert!(!k.public_key().verify(b"payloaD", &sig));
            let pubpem = k.public_key().to_pem();
            assert_eq!(PublicKey::from_pem(&pubpem, "p").unwrap(), k.public_key());
        }
    }

    #[test]
    fn prehashed_ecdsa_equals_signing_the_message() {
        use sha2::Digest as _;
        let k = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let message = b"a blob streamed from disk";
        let d: [u8; 32] = sha2::Sha256::digest(message).into();
        let sig = k.sign_prehashed(&d, "k").unwrap();
        assert!(k.public_key().verify(message, &sig));
        assert_eq!(k.public_key().verify_prehashed(&d, &sig), Some(true));
        assert_eq!(k.public_key().verify_prehashed(&[0; 32], &sig), Some(false));
        let e = SigningKey::generate(Algorithm::Ed25519).unwrap();
        assert!(matches!(
            e.sign_prehashed(&d, "e"),
            Err(KeyError::NotPrehashable { .. })
        ));
        assert_eq!(e.public_key().verify_prehashed(&d, b"x"), None);
    }

    /// A logged signature must differ each time (a log refuses an entry it holds), yet
    /// verify as any other; the plain signature stays the same each time.
    #[test]
    fn hedged_ecdsa_verifies_and_differs_each_time() {
        use sha2::Digest as _;
        let k = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let message = b"the same release, signed again";
        let (a, b) = (
            k.sign_hedged(message).unwrap(),
            k.sign_hedged(message).unwrap(),
        );
        assert_ne!(a, b);
        assert!(k.public_key().verify(message, &a));
        assert!(k.public_key().verify(message, &b));
        assert!(!k.public_key().verify(b"another release", &a));
        assert_eq!(k.sign(message).unwrap(), k.sign(message).unwrap());

        let d: [u8; 32] = sha2::Sha256::digest(message).into();
        let (a, b) = (
            k.sign_prehashed_hedged(&d, "k").unwrap(),
            k.sign_prehashed_hedged(&d, "k").unwrap(),
        );
        assert_ne!(a, b);
        assert!(k.public_key().verify(message, &a));
        assert_eq!(k.public_key().verify_prehashed(&d, &b), Some(true));
        assert_eq!(k.public_key().verify_prehashed(&[0; 32], &b), Some(false));
        assert_eq!(
            k.sign_prehashed(&d, "k").unwrap(),
            k.sign_prehashed(&d, "k").unwrap()
        );
    }

    #[test]
    fn hostile_scrypt_parameters_are_refused_before_work() {
        let k = SigningKey::generate(Algorithm::EcdsaP256).unwrap();
        let pem_text = k.to_encrypted_pem(b"").unwrap();
        let (_, body) = pem::decode_vec(pem_text.as_bytes()).unwrap();
        let json = String::from_utf8(body)
            .unwrap()
            .replace("\"N\":65536", "\"N\":1073741824");
        let evil = pem::encode_string(PRIVATE_KEY_LABEL, LineEnding::LF, json.as_bytes()).unwrap();
        let err = SigningKey::from_encrypted_pem(evil.as_bytes(), b"", "evil.key").unwrap_err();
        assert!(err.to_string().contains("N=1073741824"), "{err}");
    }

    #[test]
    fn wrong_labels_and_garbage_are_clear_errors() {
        let err = SigningKey::from_encrypted_pem(b"not a key", b"", "x.key").unwrap_err();
        assert!(
            err.to_string().starts_with("x.key is not a PEM file"),
            "{err}"
        );
        let pubpem = SigningKey::generate(Algorithm::Ed25519)
            .unwrap()
            .public_key()
            .to_pem();
        let err = SigningKey::from_encrypted_pem(pubpem.as_bytes(), b"", "x.key").unwrap_err();
        assert!(matches!(err, KeyError::Label { .. }), "{err}");
    }
}
