//! Rekor v1, through its REST API (`POST /api/v1/log/entries`): a `hashedrekord` 0.0.1 entry
//! for a message signature, a `dsse` 0.0.1 entry for a DSSE envelope (what cosign 3 and
//! sigstore-go upload for a bundle's envelope), and the answer turned into the bundle's
//! `TlogEntry`, which [`log_v1`] verifies with the one log verifier before it is returned.
//!
//! Rekor v1 signs the time it integrated the entry (the SET), so, unlike Rekor v2, it needs
//! no timestamp authority to date a signature.

use std::collections::BTreeMap;
use std::time::SystemTime;

use base64ct::{Base64, Encoding};
use serde::Deserialize;

use super::KeylessError;
use super::transport::{self, checked, exchange};
use crate::bundle::{Checkpoint, InclusionPromise, InclusionProof, KindVersion, LogId, TlogEntry};
use crate::net::ServiceClient;
use crate::sigstore::root::TrustedRoot;
use crate::sigstore::tlog;

/// Most hashes read from an inclusion proof: a tree of 2^64 entries needs 64.
const MAX_PROOF_HASHES: usize = 64;

/// The entry Rekor v1 is asked to log for `signed` by `verifier`.
pub fn request(signed: &tlog::Signed<'_>, verifier: &tlog::Verifier<'_>) -> Vec<u8> {
    // Rekor v1 kinds name the signer as base64 of its PEM.
    let pem = match verifier {
        tlog::Verifier::Certificate(der) => pem("CERTIFICATE", der),
        tlog::Verifier::Key(spki) => pem("PUBLIC KEY", spki),
    };
    let verifier = Base64::encode_string(pem.as_bytes());
    let entry = match signed {
        tlog::Signed::Message { sha256, signature } => serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": { "hash": { "algorithm": "sha256", "value": hex(sha256) } },
                "signature": {
                    "content": Base64::encode_string(signature),
                    "publicKey": { "content": verifier },
                },
            },
        }),
        tlog::Signed::Dsse { envelope } => serde_json::json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "proposedContent": {
                    "envelope": serde_json::to_string(envelope)
                        .expect("an envelope of strings always serialises"),
                    "verifiers": [verifier],
                },
            },
        }),
    };
    entry.to_string().into_bytes()
}

/// Rekor v1's answer: one entry, keyed by its UUID.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEntry {
    body: String,
    integrated_time: i64,
    #[serde(rename = "logID")]
    log_id: String,
    log_index: i64,
    verification: Verification,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Verification {
    signed_entry_timestamp: String,
    inclusion_proof: Option<Proof>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proof {
    checkpoint: String,
    hashes: Vec<String>,
    log_index: i64,
    root_hash: String,
    tree_size: i64,
}

/// The bundle's `TlogEntry` for Rekor v1's answer, with its SET, integrated time and
/// inclusion proof (hex in the answer, base64 in a bundle). Nothing here is trusted: the
/// caller verifies the entry.
pub fn entry(answer: &[u8]) -> Result<TlogEntry, KeylessError> {
    let bad = |why: String| KeylessError::Garbage {
        service: "Rekor",
        why,
    };
    let entries: BTreeMap<String, LogEntry> = crate::json::from_slice_unique(answer)
        .map_err(|e| bad(format!("its answer is not a log entry: {e}")))?;
    let mut entries = entries.into_values();
    let (Some(e), None) = (entries.next(), entries.next()) else {
        return Err(bad("its answer is not exactly one log entry".into()));
    };
    let body = Base64::decode_vec(&e.body).map_err(|_| bad("the body is not base64".into()))?;
    let kind: KindOf = serde_json::from_slice(&body)
        .map_err(|_| bad("the body names no kind and version".into()))?;
    let log_id = unhex(&e.log_id).ok_or_else(|| bad("the log id is not hex".into()))?;
    let proof = e
        .verification
        .inclusion_proof
        .ok_or_else(|| bad("it gave no inclusion proof".into()))?;
    if proof.hashes.len() > MAX_PROOF_HASHES {
        return Err(bad("the inclusion proof is too long".into()));
    }
    let b64_of_hex = |h: &str, what: &str| {
        unhex(h)
            .map(|b| Base64::encode_string(&b))
            .ok_or_else(|| bad(format!("the proof's {what} is not hex")))
    };
    Ok(TlogEntry {
        log_index: e.log_index,
        log_id: LogId {
            key_id: Base64::encode_string(&log_id),
        },
        kind_version: KindVersion {
            kind: kind.kind,
            version: kind.api_version,
        },
        integrated_time: e.integrated_time,
        inclusion_promise: Some(InclusionPromise {
            signed_entry_timestamp: e.verification.signed_entry_timestamp,
        }),
        inclusion_proof: Some(InclusionProof {
            log_index: proof.log_index,
            root_hash: b64_of_hex(&proof.root_hash, "root hash")?,
            tree_size: proof.tree_size,
            hashes: proof
                .hashes
                .iter()
                .map(|h| b64_of_hex(h, "hashes"))
                .collect::<Result<_, _>>()?,
            checkpoint: Some(Checkpoint {
                envelope: proof.checkpoint,
            }),
        }),
        canonicalized_body: e.body,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct KindOf {
    kind: String,
    api_version: String,
}

/// An entry logged in Rekor v1 and verified: the entry, its index and the time the log
/// signed for it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LoggedV1 {
    /// The bundle's `tlogEntries[]` item.
    pub entry: TlogEntry,
    /// The entry's global index.
    pub log_index: i64,
    /// When the log integrated it, under its verified SET.
    pub integrated_time: SystemTime,
}

/// Logs `signed` by `verifier` in the Rekor v1 at `rekor` (its base URL) and verifies the
/// answer against `root` (the body against what was signed, the SET, the inclusion proof
/// and its checkpoint) before returning it. For message signatures and DSSE envelopes alike.
pub async fn log_v1(
    signed: &tlog::Signed<'_>,
    verifier: tlog::Verifier<'_>,
    rekor: &str,
    root: &TrustedRoot,
    client: &ServiceClient,
    secret: Option<&str>,
) -> Result<LoggedV1, KeylessError> {
    let url = format!("{rekor}/api/v1/log/entries");
    let (status, answer) = exchange(
        client,
        "Rekor",
        &url,
        Some(("application/json", request(signed, &verifier))),
        None,
    )
    .await?;
    // A signature already logged (the same key signing the same thing deterministically,
    // as Ed25519 does) is answered 409 with the UUID of the entry the log holds. That entry
    // is fetched from this same log, never from where the answer points, and verified
    // below exactly as a fresh one: it must be for this very signature.
    let answer = match existing_uuid(status, &answer) {
        Some(uuid) => {
            let url = format!("{url}/{uuid}");
            transport::request(client, "Rekor", &url, None, None, secret).await?
        }
        None => checked("Rekor", &url, status, answer, secret)?,
    };
    let entry = entry(&answer)?;
    let logged = tlog::verify_entry(&entry, signed, &verifier, root, 3)
        .map_err(|e| KeylessError::not_verified("Rekor", e))?;
    // A Rekor v2 entry or one without a verified SET has no signed time: with no timestamp
    // authority, nothing would date the signature.
    let (false, Some(integrated_time)) = (logged.rekor_v2, logged.integrated_time) else {
        return Err(KeylessError::not_verified(
            "Rekor",
            "the entry carries no signed time",
        ));
    };
    Ok(LoggedV1 {
        entry,
        log_index: logged.log_index,
        integrated_time,
    })
}

/// The UUID of the entry Rekor v1 already holds, when `status` and `answer` are its 409
/// (`{"code":409,"message":"an equivalent entry already exists in the transparency log
/// with UUID <hex>"}`). Only hex is taken: it becomes part of a URL.
fn existing_uuid(status: u16, answer: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Conflict {
        message: String,
    }
    if status != 409 {
        return None;
    }
    let conflict: Conflict = serde_json::from_slice(answer).ok()?;
    let (_, uuid) = conflict.message.rsplit_once("with UUID ")?;
    let uuid = uuid.trim();
    // 64 hex digits, or 80 with the tree id in front (sharded logs).
    let valid = matches!(uuid.len(), 64 | 80) && uuid.bytes().all(|b| b.is_ascii_hexdigit());
    valid.then(|| uuid.to_ascii_lowercase())
}

/// `der` as PEM, lines of 64 characters, as Go writes it.
pub(crate) fn pem(label: &str, der: &[u8]) -> String {
    let b64 = Base64::encode_string(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashedrekord_request_names_the_digest_signature_and_key_pem() {
        let signed = tlog::Signed::Message {
            sha256: [0xab; 32],
            signature: &[1, 2, 3],
        };
        let body = request(&signed, &tlog::Verifier::Key(&[9; 70]));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["kind"], "hashedrekord");
        assert_eq!(v["apiVersion"], "0.0.1");
        assert_eq!(v["spec"]["data"]["hash"]["value"], "ab".repeat(32));
        assert_eq!(v["spec"]["signature"]["content"], "AQID");
        let pem = Base64::decode_vec(
            v["spec"]["signature"]["publicKey"]["content"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        let (label, der) = crate::keys::decode_pem(&pem, "k").unwrap();
        assert_eq!((label.as_str(), der), ("PUBLIC KEY", vec![9; 70]));
    }

    #[test]
    fn a_dsse_request_carries_the_envelope_as_json_text_and_the_certificate_pem() {
        let envelope = crate::bundle::dsse::Envelope {
            payload: "e30=".into(),
            payload_type: "application/vnd.in-toto+json".into(),
            signatures: vec![crate::bundle::dsse::Signature {
                sig: "AQID".into(),
                keyid: String::new(),
            }],
        };
        let signed = tlog::Signed::Dsse {
            envelope: &envelope,
        };
        let body = request(&signed, &tlog::Verifier::Certificate(&[7; 100]));
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            (v["kind"].as_str(), v["apiVersion"].as_str()),
            (Some("dsse"), Some("0.0.1"))
        );
        let content = &v["spec"]["proposedContent"];
        let logged: crate::bundle::dsse::Envelope =
            serde_json::from_str(content["envelope"].as_str().unwrap()).unwrap();
        assert_eq!(logged, envelope);
        let pem = Base64::decode_vec(content["verifiers"][0].as_str().unwrap()).unwrap();
        let (label, der) = crate::keys::decode_pem(&pem, "c").unwrap();
        assert_eq!((label.as_str(), der), ("CERTIFICATE", vec![7; 100]));
    }

    fn answer(proof: serde_json::Value) -> Vec<u8> {
        let body =
            Base64::encode_string(br#"{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}"#);
        serde_json::json!({"24296fb24b8ad77a": {
            "body": body, "integratedTime": 1700000000, "logID": "c0ffee", "logIndex": 7,
            "verification": {"signedEntryTimestamp": "U0VU", "inclusionProof": proof}}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn an_answer_becomes_a_bundle_entry_with_base64_hashes() {
        let e = entry(&answer(
            serde_json::json!({"checkpoint": "note", "hashes": ["00ff"],
            "logIndex": 3, "rootHash": "0102", "treeSize": 4}),
        ))
        .unwrap();
        assert_eq!(e.log_index, 7);
        assert_eq!(e.log_id.key_id, Base64::encode_string(&[0xc0, 0xff, 0xee]));
        assert_eq!(
            (
                e.kind_version.kind.as_str(),
                e.kind_version.version.as_str()
            ),
            ("hashedrekord", "0.0.1")
        );
        assert_eq!(e.integrated_time, 1700000000);
        let p = e.inclusion_proof.unwrap();
        assert_eq!((p.log_index, p.tree_size), (3, 4));
        assert_eq!(p.root_hash, "AQI=");
        assert_eq!(p.hashes, vec!["AP8=".to_string()]);
        assert_eq!(p.checkpoint.unwrap().envelope, "note");
        assert_eq!(e.inclusion_promise.unwrap().signed_entry_timestamp, "U0VU");
    }

    #[test]
    fn a_conflict_names_the_entry_held_by_its_uuid() {
        let uuid = "108e9186e8c5677a".to_string() + &"ab".repeat(32);
        let conflict = |message: &str| {
            serde_json::json!({"code": 409, "message": message})
                .to_string()
                .into_bytes()
        };
        let held = conflict(&format!(
            "an equivalent entry already exists in the transparency log with UUID {uuid}"
        ));
        assert_eq!(existing_uuid(409, &held), Some(uuid.clone()));
        assert_eq!(
            existing_uuid(409, &conflict(&format!("with UUID {}", &uuid[16..]))),
            Some(uuid[16..].to_string())
        );
        // Another status, no UUID, or one that is not hex (it becomes part of a URL).
        assert_eq!(existing_uuid(400, &held), None);
        assert_eq!(existing_uuid(409, b"<html>conflict</html>"), None);
        assert_eq!(existing_uuid(409, &conflict("already exists")), None);
        let slashed = format!("with UUID ../../{}", &uuid[6..]);
        assert_eq!(existing_uuid(409, &conflict(&slashed)), None);
        assert_eq!(existing_uuid(409, &conflict("with UUID abc")), None);
    }

    #[test]
    fn a_malformed_answer_is_garbage() {
        let bad_hex = answer(serde_json::json!({"checkpoint": "n", "hashes": ["zz"],
            "logIndex": 0, "rootHash": "00", "treeSize": 1}));
        let no_proof = answer(serde_json::Value::Null);
        for a in [&b"{}"[..], b"<html>", &bad_hex, &no_proof] {
            assert!(
                matches!(entry(a), Err(KeylessError::Garbage { .. })),
                "{}",
                String::from_utf8_lossy(a)
            );
        }
    }
}
