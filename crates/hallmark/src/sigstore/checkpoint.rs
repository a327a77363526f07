//! Log checkpoints: C2SP signed notes (`tlog-checkpoint`, `signed-note`) holding a log's
//! origin, tree size and root hash, signed by the log and possibly cosigned by witnesses.
//!
//! Only the log's own signature counts. Rekor v1 names its ECDSA key by the first four bytes
//! of the log id and lets the name be anything; Rekor v2 signs with Ed25519 under the name
//! of its host, which is also the note's origin, and names the key as C2SP does. Every other
//! line (witness cosignatures, other keys) is ignored wherever it stands, so adding one
//! cannot make a checkpoint fail, and none can make it pass.

use base64ct::{Base64, Encoding};
use sha2::{Digest as _, Sha256};

use super::root::{Log, LogKey};
use super::x509::{self, Hash};

/// Largest checkpoint read: real ones are a few hundred bytes, cosignatures included.
pub(crate) const MAX_NOTE_BYTES: usize = 64 * 1024;
/// Most signature lines read.
pub(crate) const MAX_SIGNATURE_LINES: usize = 64;
const SIGNATURE_PREFIX: &str = "\u{2014} ";
/// C2SP signed-note key type of an Ed25519 key.
const ED25519_KEY_TYPE: u8 = 0x01;

/// A checkpoint whose log signature verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The log's origin line, e.g. `rekor.sigstore.dev - 2605736670972794746`.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The tree's root hash.
    pub root_hash: [u8; 32],
    /// Extension lines after the root hash (Rekor v1 writes `Timestamp: …`).
    pub extensions: Vec<String>,
}

/// A checkpoint that does not parse or is not signed by the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// Larger than any real checkpoint.
    #[error("the log checkpoint is larger than {MAX_NOTE_BYTES} bytes")]
    TooLarge,
    /// No blank line between the note and its signatures.
    #[error("the log checkpoint has no blank line between its note and its signatures")]
    NoSeparator,
    /// An empty first line.
    #[error("the log checkpoint has no origin line")]
    NoOrigin,
    /// A Rekor v2 checkpoint whose origin is not the log's host.
    #[error("the log checkpoint is for origin {found:?}, not the log {expected:?}")]
    OriginMismatch {
        /// The note's first line.
        found: String,
        /// The trusted log's host.
        expected: String,
    },
    /// No tree size, or not a decimal number.
    #[error("the log checkpoint's second line is not a tree size: {0:?}")]
    Size(String),
    /// No root hash, or not base64 of 32 bytes.
    #[error("the log checkpoint's third line is not a base64 SHA-256 root hash: {0:?}")]
    RootHash(String),
    /// A line after the blank line that is not `— <name> <base64>`.
    #[error("the log checkpoint has a malformed signature line: {0:?}")]
    SignatureLine(String),
    /// More signature lines than any real checkpoint carries.
    #[error("the log checkpoint has more than {MAX_SIGNATURE_LINES} signature lines")]
    TooManySignatures,
    /// No signature line names the log's key.
    #[error("the log checkpoint carries no signature by the log's key (key id {key_hint})")]
    NoLogSignature {
        /// The 4-byte key hints looked for, hex.
        key_hint: String,
    },
    /// The line naming the log's key does not verify.
    #[error("the log's signature on the checkpoint does not verify")]
    Signature,
}

/// Parses the signed note `text` strictly and verifies the signature `log` made on it.
pub fn verify_note(text: &str, log: &Log) -> Result<Note, CheckpointError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(CheckpointError::TooLarge);
    }
    let split = text.find("\n\n").ok_or(CheckpointError::NoSeparator)?;
    // The signed text is the note up to and including the newline before the blank line.
    let (signed, signatures) = (&text[..split + 1], &text[split + 2..]);
    let mut lines = signed[..split].split('\n');
    let origin = lines.next().unwrap_or_default();
    if origin.is_empty() {
        return Err(CheckpointError::NoOrigin);
    }
    let ed25519 = is_ed25519(&log.key);
    let host = host_of(&log.base_url);
    if ed25519 && origin != host {
        return Err(CheckpointError::OriginMismatch {
            found: origin.to_string(),
            expected: host.to_string(),
        });
    }
    let size_line = lines.next().unwrap_or_default();
    let size = parse_size(size_line).ok_or_else(|| CheckpointError::Size(size_line.into()))?;
    let root_line = lines.next().unwrap_or_default();
    let root_hash: [u8; 32] = Base64::decode_vec(root_line)
        .ok()
        .and_then(|r| r.try_into().ok())
        .ok_or_else(|| CheckpointError::RootHash(root_line.into()))?;
    let extensions: Vec<String> = lines.map(str::to_string).collect();

    let hints = key_hints(log, host);
    let mut found = false;
    for line in signature_lines(signatures)? {
        let (name, hint, signature) = parse_signature_line(line)?;
        if !hints.contains(&hint) || (ed25519 && name != host) {
            continue;
        }
        if !x509::verify_signature(
            &log.key.spki,
            hash_of(&log.key),
            signed.as_bytes(),
            &signature,
        ) {
            return Err(CheckpointError::Signature);
        }
        found = true;
    }
    if !found {
        return Err(CheckpointError::NoLogSignature {
            key_hint: hints.iter().map(|h| hex(h)).collect::<Vec<_>>().join(", "),
        });
    }
    Ok(Note {
        origin: origin.to_string(),
        size,
        root_hash,
        extensions,
    })
}

/// The signature lines, each of which must end in a newline (the last one too).
fn signature_lines(text: &str) -> Result<Vec<&str>, CheckpointError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let body = text.strip_suffix('\n').ok_or_else(|| {
        CheckpointError::SignatureLine(text.rsplit('\n').next().unwrap_or_default().into())
    })?;
    let lines: Vec<&str> = body.split('\n').take(MAX_SIGNATURE_LINES + 1).collect();
    if lines.len() > MAX_SIGNATURE_LINES {
        return Err(CheckpointError::TooManySignatures);
    }
    Ok(lines)
}

/// `— <name> <base64(key hint ‖ signature)>`.
fn parse_signature_line(line: &str) -> Result<(&str, [u8; 4], Vec<u8>), CheckpointError> {
    let bad = || CheckpointError::SignatureLine(line.chars().take(200).collect());
    let rest = line.strip_prefix(SIGNATURE_PREFIX).ok_or_else(bad)?;
    let (name, b64) = rest.split_once(' ').ok_or_else(bad)?;
    if name.is_empty() || b64.contains(' ') {
        return Err(bad());
    }
    let mut bytes = Base64::decode_vec(b64).map_err(|_| bad())?;
    if bytes.len() < 5 {
        return Err(bad());
    }
    let signature = bytes.split_off(4);
    let hint: [u8; 4] = bytes.try_into().map_err(|_| bad())?;
    Ok((name, hint, signature))
}

/// A tree size: decimal digits only, no sign, no leading zero (but `0`).
fn parse_size(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// The host of a log's base URL: a Rekor v2 log's checkpoint origin and key name.
pub(crate) fn host_of(base_url: &str) -> &str {
    let rest = base_url
        .split_once("://")
        .map(|(_, r)| r)
        .unwrap_or(base_url);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

fn is_ed25519(key: &LogKey) -> bool {
    key.details == "PKIX_ED25519"
}

/// The hash a log signs with, from its key details (`PKIX_ECDSA_P384_SHA_384`, …).
pub(crate) fn hash_of(key: &LogKey) -> Hash {
    if key.details.ends_with("SHA_384") {
        Hash::Sha384
    } else if key.details.ends_with("SHA_512") {
        Hash::Sha512
    } else {
        Hash::Sha256
    }
}

/// The key hints the log's signature line may carry.
fn key_hints(log: &Log, host: &str) -> Vec<[u8; 4]> {
    let mut hints = Vec::new();
    let mut add = |id: &[u8]| {
        if let Ok(h) = <[u8; 4]>::try_from(id.get(..4).unwrap_or_default())
            && !hints.contains(&h)
        {
            hints.push(h);
        }
    };
    if is_ed25519(&log.key) {
        if let Some(raw) = raw_key(&log.key.spki) {
            let mut h = Sha256::new();
            h.update(host.as_bytes());
            h.update([0x0a, ED25519_KEY_TYPE]);
            h.update(raw);
            add(&h.finalize());
        }
    } else {
        add(&log.log_id);
    }
    if let Some(id) = &log.checkpoint_key_id {
        add(id);
    }
    hints
}

fn raw_key(spki: &[u8]) -> Option<Vec<u8>> {
    use der::Decode;
    spki::SubjectPublicKeyInfoRef::from_der(spki)
        .ok()
        .map(|i| i.subject_public_key.raw_bytes().to_vec())
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sigstore::root::Validity;
    use std::time::UNIX_EPOCH;

    pub(crate) const HOST: &str = "log.example";

    /// An Ed25519 Rekor v2-style log and its signing key.
    pub(crate) fn ed25519_log(seed: u8) -> (Log, ed25519_dalek::SigningKey) {
        use spki::EncodePublicKey;
        let sk = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let spki = sk.verifying_key().to_public_key_der().unwrap().into_vec();
        (log(spki, "PKIX_ED25519"), sk)
    }

    /// A P-256 Rekor v1-style log and its signing key.
    pub(crate) fn p256_log(seed: u8) -> (Log, p256::ecdsa::SigningKey) {
        use spki::EncodePublicKey;
        let sk = p256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
        let spki = sk.verifying_key().to_public_key_der().unwrap().into_vec();
        (log(spki, "PKIX_ECDSA_P256_SHA_256"), sk)
    }

    fn log(spki: Vec<u8>, details: &str) -> Log {
        Log {
            base_url: format!("https://{HOST}"),
            log_id: Sha256::digest(&spki).to_vec(),
            key: LogKey {
                spki,
                details: details.into(),
                valid: Validity {
                    start: UNIX_EPOCH,
                    end: None,
                },
            },
            checkpoint_key_id: None,
        }
    }

    /// `— name base64(hint ‖ sig)\n`
    pub(crate) fn line(name: &str, hint: &[u8], sig: &[u8]) -> String {
        let mut b = hint[..4].to_vec();
        b.extend_from_slice(sig);
        format!("\u{2014} {name} {}\n", Base64::encode_string(&b))
    }

    pub(crate) fn ed25519_hint(sk: &ed25519_dalek::SigningKey, name: &str) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0x0a, 0x01]);
        h.update(sk.verifying_key().as_bytes());
        h.finalize()[..4].to_vec()
    }

    pub(crate) fn ed25519_sign(sk: &ed25519_dalek::SigningKey, text: &[u8]) -> Vec<u8> {
        use ed25519_dalek::Signer;
        sk.sign(text).to_bytes().to_vec()
    }

    pub(crate) fn p256_sign(sk: &p256::ecdsa::SigningKey, text: &[u8]) -> Vec<u8> {
        use p256::ecdsa::signature::Signer;
        let sig: p256::ecdsa::Signature = sk.sign(text);
        sig.to_der().as_bytes().to_vec()
    }

    /// A Rekor v2-style checkpoint of `size` and `root`, signed by `sk`, with `before` and
    /// `after` lines around the log's line.
    pub(crate) fn ed25519_note(
        sk: &ed25519_dalek::SigningKey,
        size: u64,
        root: &[u8; 32],
    ) -> String {
        let note = format!("{HOST}\n{size}\n{}\n", Base64::encode_string(root));
        let sig = ed25519_sign(sk, note.as_bytes());
        format!("{note}\n{}", line(HOST, &ed25519_hint(sk, HOST), &sig))
    }

    fn witness() -> String {
        let other = ed25519_dalek::SigningKey::from_bytes(&[99; 32]);
        line(
            "witness.example/w1",
            &ed25519_hint(&other, "witness.example/w1"),
            &[7; 72],
        )
    }

    #[test]
    fn ed25519_checkpoints_verify_with_cosignatures_anywhere() {
        let (log, sk) = ed25519_log(1);
        let root = [5u8; 32];
        let text = ed25519_note(&sk, 12, &root);
        let note = verify_note(&text, &log).unwrap();
        assert_eq!(
            (note.origin.as_str(), note.size, note.root_hash),
            (HOST, 12, root)
        );
        let (head, sig) = text.split_once("\n\n").unwrap();
        for t in [
            format!("{head}\n\n{}{sig}", witness()),
            format!("{head}\n\n{sig}{}", witness()),
            format!("{head}\n\n{}{sig}{}", witness(), witness()),
            // Another key under the log's own name is not the log's: ignored.
            format!("{head}\n\n{sig}{}", line(HOST, &[1, 2, 3, 4], &[9; 64])),
        ] {
            assert_eq!(verify_note(&t, &log).unwrap(), note, "{t}");
        }
    }

    #[test]
    fn ed25519_checkpoints_missing_a_part_or_signed_by_another_are_refused() {
        let (log, sk) = ed25519_log(1);
        let text = ed25519_note(&sk, 12, &[5; 32]);
        let (head, sig) = text.split_once("\n\n").unwrap();
        let lines: Vec<&str> = head.split('\n').collect();
        type Want = fn(&CheckpointError) -> bool;
        let cases: Vec<(String, Want)> = vec![
            (format!("{}\n{}\n\n{sig}", lines[1], lines[2]), |e| {
                matches!(e, CheckpointError::OriginMismatch { .. })
            }),
            (format!("\n{}\n{}\n\n{sig}", lines[1], lines[2]), |e| {
                matches!(e, CheckpointError::NoOrigin)
            }),
            (format!("{}\n{}\n\n{sig}", lines[0], lines[2]), |e| {
                matches!(e, CheckpointError::Size(_))
            }),
            (format!("{}\n+12\n{}\n\n{sig}", lines[0], lines[2]), |e| {
                matches!(e, CheckpointError::Size(_))
            }),
            (format!("{}\n{}\n\n{sig}", lines[0], lines[1]), |e| {
                matches!(e, CheckpointError::RootHash(_))
            }),
            (format!("{head}\n\n"), |e| {
                matches!(e, CheckpointError::NoLogSignature { .. })
            }),
            (format!("{head}\n\n{}", witness()), |e| {
                matches!(e, CheckpointError::NoLogSignature { .. })
            }),
            (format!("{head}\n{sig}"), |e| {
                matches!(e, CheckpointError::NoSeparator)
            }),
            (format!("{head}\n\n\n{sig}"), |e| {
                matches!(e, CheckpointError::SignatureLine(_))
            }),
            (format!("{head}\n\n{}", sig.trim_end()), |e| {
                matches!(e, CheckpointError::SignatureLine(_))
            }),
            (format!("{head}\n\n{sig}-- not a signature\n"), |e| {
                matches!(e, CheckpointError::SignatureLine(_))
            }),
            // The right name and hint, another size: the signature no longer holds.
            (text.replacen("\n12\n", "\n13\n", 1), |e| {
                matches!(e, CheckpointError::Signature)
            }),
            // The log's key under another name (the origin renamed with it).
            (text.replace(HOST, "log.other"), |e| {
                matches!(e, CheckpointError::OriginMismatch { .. })
            }),
            ("x".repeat(MAX_NOTE_BYTES + 1), |e| {
                matches!(e, CheckpointError::TooLarge)
            }),
            (
                format!("{head}\n\n{}", witness().repeat(MAX_SIGNATURE_LINES + 1)),
                |e| matches!(e, CheckpointError::TooManySignatures),
            ),
        ];
        for (t, want) in cases {
            let e = verify_note(&t, &log).unwrap_err();
            assert!(want(&e), "{t:?}: {e:?}");
        }
        // Signed by another Ed25519 key claiming the log's name: no line of the log's key.
        let (_, stranger) = ed25519_log(2);
        let e = verify_note(&ed25519_note(&stranger, 12, &[5; 32]), &log).unwrap_err();
        assert!(matches!(e, CheckpointError::NoLogSignature { .. }), "{e:?}");
        // The name under the log's key hint, renamed: not the log's line.
        let renamed = format!("{head}\n\n{}", sig.replacen(HOST, "log.other", 1));
        let e = verify_note(&renamed, &log).unwrap_err();
        assert!(matches!(e, CheckpointError::NoLogSignature { .. }), "{e:?}");
    }

    #[test]
    fn p256_checkpoints_use_the_log_id_hint_and_any_name() {
        let (log, sk) = p256_log(3);
        let note = format!(
            "{HOST} - 2605736670972794746\n7\n{}\nTimestamp: 1689177396617352539\n",
            Base64::encode_string(&[6u8; 32])
        );
        let sig = p256_sign(&sk, note.as_bytes());
        let good = format!("{note}\n{}", line("rekor.sigstore.dev", &log.log_id, &sig));
        let n = verify_note(&good, &log).unwrap();
        assert_eq!((n.size, n.root_hash), (7, [6; 32]));
        assert_eq!(n.extensions, vec!["Timestamp: 1689177396617352539"]);
        let cosigned = format!("{note}\n{}{}", witness(), line("any", &log.log_id, &sig));
        assert_eq!(verify_note(&cosigned, &log).unwrap(), n);

        let mut hint = log.log_id.clone();
        hint[0] ^= 1;
        let bad_hint = format!("{note}\n{}", line("rekor.sigstore.dev", &hint, &sig));
        let e = verify_note(&bad_hint, &log).unwrap_err();
        assert!(matches!(e, CheckpointError::NoLogSignature { .. }), "{e:?}");

        let (_, other) = p256_log(4);
        let forged = p256_sign(&other, note.as_bytes());
        let by_other = format!(
            "{note}\n{}",
            line("rekor.sigstore.dev", &log.log_id, &forged)
        );
        let e = verify_note(&by_other, &log).unwrap_err();
        assert!(matches!(e, CheckpointError::Signature), "{e:?}");
        // The extension lines are signed too.
        let changed = good.replace("Timestamp: 1", "Timestamp: 2");
        let e = verify_note(&changed, &log).unwrap_err();
        assert!(matches!(e, CheckpointError::Signature), "{e:?}");
    }

    #[test]
    fn hosts_of_base_urls() {
        for (url, host) in [
            (
                "https://log2025-alpha1.rekor.sigstage.dev",
                "log2025-alpha1.rekor.sigstage.dev",
            ),
            ("http://rekor-local", "rekor-local"),
            ("http://localhost:8000/api", "localhost"),
            ("https://u@[::1]:3000", "::1"),
            ("rekor.example", "rekor.example"),
        ] {
            assert_eq!(host_of(url), host);
        }
    }

    mod hostile {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            /// A checkpoint with any span of it replaced by anything is refused or, if the
            /// log's signed text survived, verifies: never a panic, never another note.
            #[test]
            fn any_splice_of_a_checkpoint_is_refused_or_the_same(
                at in 0usize..200,
                len in 0usize..20,
                with in "(\\PC|\n|\u{2014}| ){0,12}",
            ) {
                let (log, sk) = ed25519_log(1);
                let text = ed25519_note(&sk, 12, &[5; 32]);
                let chars: Vec<char> = text.chars().collect();
                let at = at.min(chars.len());
                let end = (at + len).min(chars.len());
                let spliced: String = chars[..at]
                    .iter()
                    .chain(with.chars().collect::<Vec<_>>().iter())
                    .chain(chars[end..].iter())
                    .collect();
                if let Ok(n) = verify_note(&spliced, &log) {
                    prop_assert_eq!((n.size, n.root_hash), (12, [5; 32]));
                }
            }
        }
    }
}
