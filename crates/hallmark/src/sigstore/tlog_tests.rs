use super::*;
use crate::bundle::{Checkpoint, InclusionPromise, KindVersion, LogId};
use crate::sigstore::checkpoint::tests as notes;
use crate::sigstore::merkle::tests::{audit_path, tree_root};

const ARTIFACT: &[u8] = b"the artifact";
const SIGNATURE: &[u8] = b"the artifact's signature";
const INTEGRATED: i64 = 1_700_000_000;
/// Where the entry sits in the tree built around it, and the tree's size.
const INDEX: usize = 3;
const SIZE: usize = 6;

fn b64(b: &[u8]) -> String {
    Base64::encode_string(b)
}

fn signer() -> Vec<u8> {
    use spki::EncodePublicKey;
    p256::ecdsa::SigningKey::from_slice(&[42; 32])
        .unwrap()
        .verifying_key()
        .to_public_key_der()
        .unwrap()
        .into_vec()
}

fn pem(label: &str, der: &[u8]) -> String {
    let lines: Vec<String> = b64(der)
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

/// A Rekor v2 hashedrekord 0.0.2 body.
fn body_v2(digest: &[u8; 32], signature: &[u8], key: &[u8]) -> String {
    format!(
        r#"{{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{{"hashedRekordV002":{{"data":{{"algorithm":"SHA2_256","digest":"{}"}},"signature":{{"content":"{}","verifier":{{"keyDetails":"PKIX_ECDSA_P256_SHA_256","publicKey":{{"rawBytes":"{}"}}}}}}}}}}}}"#,
        b64(digest),
        b64(signature),
        b64(key)
    )
}

/// A Rekor v1 hashedrekord 0.0.1 body.
fn body_v1(digest: &[u8; 32], signature: &[u8], key: &[u8]) -> String {
    format!(
        r#"{{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{{"data":{{"hash":{{"algorithm":"sha256","value":"{}"}}}},"signature":{{"content":"{}","publicKey":{{"content":"{}"}}}}}}}}"#,
        hex(digest),
        b64(signature),
        b64(pem("PUBLIC KEY", key).as_bytes())
    )
}

/// A tree of `SIZE` leaves holding `body` at `INDEX`: the proof and the root.
fn tree(body: &[u8]) -> (Vec<String>, [u8; 32]) {
    let mut leaves: Vec<Vec<u8>> = (0..SIZE)
        .map(|i| format!("entry {i}").into_bytes())
        .collect();
    leaves[INDEX] = body.to_vec();
    let path = audit_path(INDEX, &leaves).iter().map(|h| b64(h)).collect();
    (path, tree_root(&leaves))
}

fn entry(kind: &str, version: &str, log_id: &[u8], body: &str) -> TlogEntry {
    TlogEntry {
        log_index: 1234,
        log_id: LogId {
            key_id: b64(log_id),
        },
        kind_version: KindVersion {
            kind: kind.into(),
            version: version.into(),
        },
        integrated_time: 0,
        inclusion_promise: None,
        inclusion_proof: None,
        canonicalized_body: b64(body.as_bytes()),
    }
}

fn root_of(log: crate::sigstore::root::Log) -> TrustedRoot {
    TrustedRoot {
        tlogs: vec![log],
        ctlogs: Vec::new(),
        certificate_authorities: Vec::new(),
        timestamp_authorities: Vec::new(),
    }
}

/// A Rekor v2 entry of `body`, proved to a checkpoint signed by the log.
fn v2_entry(body: &str) -> (TlogEntry, TrustedRoot) {
    let (log, sk) = notes::ed25519_log(1);
    let (path, root_hash) = tree(body.as_bytes());
    let mut e = entry(HASHEDREKORD, "0.0.2", &log.log_id, body);
    e.log_index = INDEX as i64;
    e.inclusion_proof = Some(InclusionProof {
        log_index: INDEX as i64,
        root_hash: b64(&root_hash),
        tree_size: SIZE as i64,
        hashes: path,
        checkpoint: Some(Checkpoint {
            envelope: notes::ed25519_note(&sk, SIZE as u64, &root_hash),
        }),
    });
    (e, root_of(log))
}

/// A Rekor v1 entry of `body` with a SET and a proof to a checkpoint, both by the log.
fn v1_entry(body: &str) -> (TlogEntry, TrustedRoot, p256::ecdsa::SigningKey) {
    let (log, sk) = notes::p256_log(2);
    let (path, root_hash) = tree(body.as_bytes());
    let mut e = entry(HASHEDREKORD, "0.0.1", &log.log_id, body);
    e.integrated_time = INTEGRATED;
    e.inclusion_promise = Some(InclusionPromise {
        signed_entry_timestamp: b64(&set(&sk, &e)),
    });
    let note = format!(
        "log.example - 42\n{SIZE}\n{}\nTimestamp: 1\n",
        b64(&root_hash)
    );
    let sig = notes::p256_sign(&sk, note.as_bytes());
    e.inclusion_proof = Some(InclusionProof {
        log_index: INDEX as i64,
        root_hash: b64(&root_hash),
        tree_size: SIZE as i64,
        hashes: path,
        checkpoint: Some(Checkpoint {
            envelope: format!("{note}\n{}", notes::line("log.example", &log.log_id, &sig)),
        }),
    });
    (e, root_of(log), sk)
}

/// The SET as Rekor v1 signs it: RFC 8785 JSON, keys in order, integers bare.
fn set(sk: &p256::ecdsa::SigningKey, e: &TlogEntry) -> Vec<u8> {
    let log_id = Base64::decode_vec(&e.log_id.key_id).unwrap();
    let payload = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        e.canonicalized_body,
        e.integrated_time,
        hex(&log_id),
        e.log_index
    );
    notes::p256_sign(sk, payload.as_bytes())
}

fn message(digest: [u8; 32]) -> Signed<'static> {
    Signed::Message {
        sha256: digest,
        signature: SIGNATURE,
    }
}

#[test]
fn a_rekor_v2_entry_made_here_verifies_by_its_proof() {
    let key = signer();
    let body = body_v2(&sha256(ARTIFACT), SIGNATURE, &key);
    let (e, root) = v2_entry(&body);
    let l = verify_entry(
        &e,
        &message(sha256(ARTIFACT)),
        &Verifier::Key(&key),
        &root,
        3,
    )
    .unwrap();
    assert_eq!(
        l,
        Logged {
            log: 0,
            log_index: INDEX as i64,
            integrated_time: None,
            kind: "hashedrekord 0.0.2".into(),
            rekor_v2: true,
            inclusion_proof: true,
            promise: false,
        }
    );
    // A Rekor v2 entry needs its proof whatever the bundle's version.
    let mut no_proof = e.clone();
    no_proof.inclusion_proof = None;
    let e1 = verify_entry(
        &no_proof,
        &message(sha256(ARTIFACT)),
        &Verifier::Key(&key),
        &root,
        1,
    )
    .unwrap_err();
    assert_eq!(e1, TlogError::NoProof("a Rekor v2 entry"));
    let mut no_checkpoint = e.clone();
    no_checkpoint.inclusion_proof.as_mut().unwrap().checkpoint = None;
    let e2 = verify_entry(
        &no_checkpoint,
        &message(sha256(ARTIFACT)),
        &Verifier::Key(&key),
        &root,
        3,
    )
    .unwrap_err();
    assert_eq!(e2, TlogError::NoCheckpoint("a Rekor v2 entry"));
    // Another certificate or key than the logged one.
    let e3 = verify_entry(
        &e,
        &message(sha256(ARTIFACT)),
        &Verifier::Certificate(&key),
        &root,
        3,
    )
    .unwrap_err();
    assert_eq!(e3, TlogError::VerifierMismatch);
    // An index the proof does not prove: the log (or a hop before it) moved the entry.
    let mut moved = e.clone();
    moved.log_index += 1;
    let e4 = verify_entry(
        &moved,
        &message(sha256(ARTIFACT)),
        &Verifier::Key(&key),
        &root,
        3,
    )
    .unwrap_err();
    assert_eq!(
        e4,
        TlogError::IndexNotProved {
            entry: INDEX as i64 + 1,
            proof: INDEX as i64
        }
    );
}

#[test]
fn a_dsse_envelope_on_rekor_v2_is_logged_by_the_hash_of_its_pae() {
    let key = signer();
    let envelope = dsse::Envelope::sign("application/vnd.in-toto+json", b"{}", |_| {
        SIGNATURE.to_vec()
    });
    let pae = dsse::pae("application/vnd.in-toto+json", b"{}");
    let (e, root) = v2_entry(&body_v2(&sha256(&pae), SIGNATURE, &key));
    let signed = Signed::Dsse {
        envelope: &envelope,
    };
    verify_entry(&e, &signed, &Verifier::Key(&key), &root, 3).unwrap();
    // The payload's own hash is not what Rekor v2 logs.
    let (e, root) = v2_entry(&body_v2(&sha256(b"{}"), SIGNATURE, &key));
    let err = verify_entry(&e, &signed, &Verifier::Key(&key), &root, 3).unwrap_err();
    assert_eq!(err, TlogError::DigestMismatch);
    let mut two = envelope.clone();
    two.signatures.push(two.signatures[0].clone());
    let err = verify_entry(
        &e,
        &Signed::Dsse { envelope: &two },
        &Verifier::Key(&key),
        &root,
        3,
    )
    .unwrap_err();
    assert_eq!(err, TlogError::EnvelopeSignatures(2));
}

#[test]
fn a_dsse_entry_on_rekor_v2_records_the_payload_hash_and_signer() {
    let key = signer();
    let envelope = dsse::Envelope::sign("application/vnd.in-toto+json", b"{}", |_| {
        SIGNATURE.to_vec()
    });
    let signed = Signed::Dsse {
        envelope: &envelope,
    };
    let body = |digest: &[u8; 32], sig: &[u8], key: &[u8]| {
        format!(
            r#"{{"apiVersion":"0.0.2","kind":"dsse","spec":{{"dsseV002":{{"payloadHash":{{"algorithm":"SHA2_256","digest":"{}"}},"signatures":[{{"content":"{}","verifier":{{"keyDetails":"PKIX_ECDSA_P256_SHA_256","x509Certificate":{{"rawBytes":"{}"}}}}}}]}}}}}}"#,
            b64(digest),
            b64(sig),
            b64(key)
        )
    };
    let run = |b: &str| {
        let (mut e, root) = v2_entry(b);
        e.kind_version.kind = "dsse".into();
        verify_entry(&e, &signed, &Verifier::Certificate(&key), &root, 3)
    };
    let l = run(&body(&sha256(b"{}"), SIGNATURE, &key)).unwrap();
    assert_eq!((l.rekor_v2, l.kind.as_str()), (true, "dsse 0.0.2"));
    for (b, want) in [
        (
            body(&sha256(b"[]"), SIGNATURE, &key),
            TlogError::DigestMismatch,
        ),
        (
            body(&sha256(b"{}"), b"other", &key),
            TlogError::SignatureMismatch,
        ),
        (
            body(&sha256(b"{}"), SIGNATURE, b"other"),
            TlogError::VerifierMismatch,
        ),
    ] {
        assert_eq!(run(&b).unwrap_err(), want);
    }
}

#[test]
fn a_rekor_v1_entry_made_here_verifies_by_its_promise_and_proof() {
    let key = signer();
    let body = body_v1(&sha256(ARTIFACT), SIGNATURE, &key);
    let (e, root, sk) = v1_entry(&body);
    let signed = message(sha256(ARTIFACT));
    let v = Verifier::Key(&key);
    let at = UNIX_EPOCH + Duration::from_secs(INTEGRATED as u64);
    for minor in [1, 2, 3] {
        let l = verify_entry(&e, &signed, &v, &root, minor).unwrap();
        assert_eq!(
            (l.integrated_time, l.promise, l.inclusion_proof, l.rekor_v2),
            (Some(at), true, true, false)
        );
    }
    // v0.1 needs only the promise; a proof without a checkpoint proves nothing more.
    let mut promise_only = e.clone();
    promise_only.inclusion_proof.as_mut().unwrap().checkpoint = None;
    let l = verify_entry(&promise_only, &signed, &v, &root, 1).unwrap();
    assert_eq!((l.promise, l.inclusion_proof), (true, false));
    assert_eq!(
        verify_entry(&promise_only, &signed, &v, &root, 2).unwrap_err(),
        TlogError::NoCheckpoint("a v0.2 or later bundle")
    );
    promise_only.inclusion_proof = None;
    assert!(verify_entry(&promise_only, &signed, &v, &root, 1).is_ok());
    assert_eq!(
        verify_entry(&promise_only, &signed, &v, &root, 3).unwrap_err(),
        TlogError::NoProof("a v0.2 or later bundle")
    );
    let mut proof_only = e.clone();
    proof_only.inclusion_promise = None;
    let l = verify_entry(&proof_only, &signed, &v, &root, 3).unwrap();
    assert_eq!((l.integrated_time, l.promise), (None, false));
    assert_eq!(
        verify_entry(&proof_only, &signed, &v, &root, 1).unwrap_err(),
        TlogError::NoPromise
    );

    // The SET covers the integrated time and the index.
    let changes: [fn(&mut TlogEntry); 2] = [|e| e.integrated_time += 1, |e| e.log_index += 1];
    for change in changes {
        let mut forged = e.clone();
        change(&mut forged);
        assert_eq!(
            verify_entry(&forged, &signed, &v, &root, 3).unwrap_err(),
            TlogError::PromiseSignature
        );
    }
    let (_, other) = notes::p256_log(9);
    let mut by_other = e.clone();
    by_other.inclusion_promise = Some(InclusionPromise {
        signed_entry_timestamp: b64(&set(&other, &e)),
    });
    assert_eq!(
        verify_entry(&by_other, &signed, &v, &root, 3).unwrap_err(),
        TlogError::PromiseSignature
    );
    // A negative time, validly promised, is no time.
    let mut negative = e.clone();
    negative.integrated_time = -5;
    negative.inclusion_promise = Some(InclusionPromise {
        signed_entry_timestamp: b64(&set(&sk, &negative)),
    });
    assert_eq!(
        verify_entry(&negative, &signed, &v, &root, 3).unwrap_err(),
        TlogError::IntegratedTime(-5)
    );

    // The log key's window: inclusive at its end, nothing after it.
    let mut window = root.clone();
    window.tlogs[0].key.valid.end = Some(at);
    assert!(verify_entry(&e, &signed, &v, &window, 3).is_ok());
    window.tlogs[0].key.valid.end = Some(at - Duration::from_secs(1));
    assert!(matches!(
        verify_entry(&e, &signed, &v, &window, 3).unwrap_err(),
        TlogError::PromiseOutsideKeyWindow(_)
    ));
    assert!(
        verify_entry(&e, &signed, &v, &window, 3)
            .unwrap_err()
            .to_string()
            .contains("2023-11-14T22:13:20Z")
    );
    // Far beyond what RFC 3339 writes, validly promised: refused, said, no panic.
    let mut far = e.clone();
    far.integrated_time = i64::MAX;
    far.inclusion_promise = Some(InclusionPromise {
        signed_entry_timestamp: b64(&set(&sk, &far)),
    });
    let err = verify_entry(&far, &signed, &v, &window, 3).unwrap_err();
    assert!(
        matches!(
            err,
            TlogError::PromiseOutsideKeyWindow(i64::MAX) | TlogError::IntegratedTime(i64::MAX)
        ),
        "{err:?}"
    );
    assert!(!err.to_string().is_empty());
    window.tlogs[0].key.valid.end = None;
    window.tlogs[0].key.valid.start = at + Duration::from_secs(1);
    assert!(matches!(
        verify_entry(&e, &signed, &v, &window, 3).unwrap_err(),
        TlogError::PromiseOutsideKeyWindow(_)
    ));
}

#[test]
fn entries_from_elsewhere_or_with_broken_proofs_are_refused() {
    let key = signer();
    let body = body_v1(&sha256(ARTIFACT), SIGNATURE, &key);
    let (e, root, sk) = v1_entry(&body);
    let signed = message(sha256(ARTIFACT));
    let v = Verifier::Key(&key);
    let check = |e: &TlogEntry, root: &TrustedRoot| verify_entry(e, &signed, &v, root, 3);

    let (other_log, _) = notes::p256_log(7);
    assert!(matches!(
        check(&e, &root_of(other_log)).unwrap_err(),
        TlogError::UnknownLog(id) if id == hex(&root.tlogs[0].log_id)
    ));
    let mut bad_id = e.clone();
    bad_id.log_id.key_id = "not base64!".into();
    assert_eq!(
        check(&bad_id, &root).unwrap_err(),
        TlogError::Base64("logId.keyId")
    );
    let mut negative = e.clone();
    negative.log_index = -1;
    assert_eq!(
        check(&negative, &root).unwrap_err(),
        TlogError::NegativeIndex(-1)
    );

    let proof = |f: fn(&mut InclusionProof)| {
        let mut forged = e.clone();
        f(forged.inclusion_proof.as_mut().unwrap());
        check(&forged, &root).unwrap_err()
    };
    assert_eq!(
        proof(|p| {
            let mut h = Base64::decode_vec(&p.hashes[0]).unwrap();
            h[0] ^= 1;
            p.hashes[0] = Base64::encode_string(&h);
        }),
        TlogError::ProofRoot
    );
    assert_eq!(proof(|p| p.log_index += 1), TlogError::ProofRoot);
    assert_eq!(
        proof(|p| p.log_index = p.tree_size),
        TlogError::ProofIndex {
            index: SIZE as i64,
            size: SIZE as i64
        }
    );
    assert_eq!(
        proof(|p| p.log_index = -1),
        TlogError::ProofIndex {
            index: -1,
            size: SIZE as i64
        }
    );
    assert_eq!(
        proof(|p| p.hashes = vec![p.root_hash.clone(); MAX_PROOF_HASHES + 1]),
        TlogError::ProofTooLong(MAX_PROOF_HASHES + 1)
    );
    assert_eq!(
        proof(|p| p.hashes[0] = "AAAA".into()),
        TlogError::ProofHash("hashes")
    );
    assert_eq!(
        proof(|p| p.root_hash = "!".into()),
        TlogError::ProofHash("root hash")
    );
    assert!(matches!(
        proof(|p| p.checkpoint.as_mut().unwrap().envelope.push_str("junk")),
        TlogError::Checkpoint(CheckpointError::SignatureLine(_))
    ));

    // Checkpoints the log really signed, for another tree.
    let signed_note = |size: usize, root_hash: &[u8]| {
        let note = format!("log.example - 42\n{size}\n{}\n", b64(root_hash));
        let sig = notes::p256_sign(&sk, note.as_bytes());
        Checkpoint {
            envelope: format!("{note}\n{}", notes::line("x", &root.tlogs[0].log_id, &sig)),
        }
    };
    let proof_root = Base64::decode_vec(&e.inclusion_proof.as_ref().unwrap().root_hash).unwrap();
    let mut other_size = e.clone();
    other_size.inclusion_proof.as_mut().unwrap().checkpoint =
        Some(signed_note(SIZE + 1, &proof_root));
    assert_eq!(
        check(&other_size, &root).unwrap_err(),
        TlogError::CheckpointSize {
            checkpoint: SIZE as u64 + 1,
            proof: SIZE as i64
        }
    );
    let mut other_root = e.clone();
    other_root.inclusion_proof.as_mut().unwrap().checkpoint = Some(signed_note(SIZE, &[1; 32]));
    assert_eq!(
        check(&other_root, &root).unwrap_err(),
        TlogError::CheckpointRoot
    );
}

#[test]
fn a_body_for_another_artifact_signature_signer_or_kind_is_refused() {
    let key = signer();
    let other_key = signer_other();
    let digest = sha256(ARTIFACT);
    let v = Verifier::Key(&key);
    let run = |body: &str, kind: &str, version: &str, signed: &Signed<'_>| {
        let (mut e, root, _) = v1_entry(body);
        e.kind_version = KindVersion {
            kind: kind.into(),
            version: version.into(),
        };
        verify_entry(&e, signed, &v, &root, 3)
    };
    let good = body_v1(&digest, SIGNATURE, &key);
    assert!(run(&good, HASHEDREKORD, "0.0.1", &message(digest)).is_ok());
    for (body, want) in [
        (
            body_v1(&sha256(b"other"), SIGNATURE, &key),
            TlogError::DigestMismatch,
        ),
        (
            body_v1(&digest, b"other", &key),
            TlogError::SignatureMismatch,
        ),
        (
            body_v1(&digest, SIGNATURE, &other_key),
            TlogError::VerifierMismatch,
        ),
        (
            good.replace("\"sha256\"", "\"sha512\""),
            TlogError::DigestMismatch,
        ),
    ] {
        assert_eq!(
            run(&body, HASHEDREKORD, "0.0.1", &message(digest)).unwrap_err(),
            want
        );
    }
    // Upper-case hex is the same digest.
    let upper = good.replace(&hex(&digest), &hex(&digest).to_uppercase());
    assert!(run(&upper, HASHEDREKORD, "0.0.1", &message(digest)).is_ok());
    // The logged key as a certificate PEM is another signer.
    let as_cert = good.replace(
        &b64(pem("PUBLIC KEY", &key).as_bytes()),
        &b64(pem("CERTIFICATE", &key).as_bytes()),
    );
    assert_eq!(
        run(&as_cert, HASHEDREKORD, "0.0.1", &message(digest)).unwrap_err(),
        TlogError::VerifierMismatch
    );
    // The entry says one kind, its body another.
    assert!(matches!(
        run(&good, HASHEDREKORD, "0.0.2", &message(digest)).unwrap_err(),
        TlogError::KindMismatch { .. }
    ));
    let rekord = good.replace("hashedrekord", "rekord");
    assert_eq!(
        run(&rekord, "rekord", "0.0.1", &message(digest)).unwrap_err(),
        TlogError::UnsupportedKind("rekord 0.0.1".into())
    );
    let as_dsse = good.replace("hashedrekord", "dsse");
    assert!(matches!(
        run(&as_dsse, "dsse", "0.0.1", &message(digest)).unwrap_err(),
        TlogError::WrongContent {
            content: "message signature",
            ..
        }
    ));
    let envelope = dsse::Envelope::sign("t", b"{}", |_| SIGNATURE.to_vec());
    assert!(matches!(
        run(
            &good,
            HASHEDREKORD,
            "0.0.1",
            &Signed::Dsse {
                envelope: &envelope
            }
        )
        .unwrap_err(),
        TlogError::WrongContent {
            content: "DSSE envelope",
            ..
        }
    ));
    // A body two readers could read two ways, or no body at all.
    let repeated = good.replacen("{\"apiVersion\"", "{\"kind\":\"x\",\"apiVersion\"", 1);
    assert!(matches!(
        run(&repeated, HASHEDREKORD, "0.0.1", &message(digest)).unwrap_err(),
        TlogError::Body { .. }
    ));
    assert!(matches!(
        run("[]", HASHEDREKORD, "0.0.1", &message(digest)).unwrap_err(),
        TlogError::KindMismatch { .. }
    ));
    let no_key = good.replace("publicKey", "key");
    assert!(matches!(
        run(&no_key, HASHEDREKORD, "0.0.1", &message(digest)).unwrap_err(),
        TlogError::Body { .. }
    ));
    let huge = format!("{good}{}", " ".repeat(MAX_BODY_BYTES));
    assert_eq!(
        run(&huge, HASHEDREKORD, "0.0.1", &message(digest)).unwrap_err(),
        TlogError::BodyTooLarge
    );
}

fn signer_other() -> Vec<u8> {
    use spki::EncodePublicKey;
    p256::ecdsa::SigningKey::from_slice(&[43; 32])
        .unwrap()
        .verifying_key()
        .to_public_key_der()
        .unwrap()
        .into_vec()
}
