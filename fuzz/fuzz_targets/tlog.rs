#![no_main]
//! Transparency-log entries and checkpoints arrive inside bundles from anywhere: every
//! entry of a bundle is judged against the production root (and a checkpoint against its
//! first log), and either verifies or is refused with a reason, never a panic.

use hallmark::bundle::{Bundle, Content};
use hallmark::sigstore::checkpoint::verify_note;
use hallmark::sigstore::root::TrustedRoot;
use hallmark::sigstore::tlog::{Signed, Verifier, verify_entry};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = TrustedRoot::production();
    if let Ok(text) = std::str::from_utf8(data) {
        for log in &root.tlogs {
            let _ = verify_note(text, log);
        }
    }
    let Ok(b) = Bundle::parse(data) else { return };
    let Ok(content) = b.content() else { return };
    let signed = match &content {
        Content::Message { signature, .. } => Signed::Message {
            sha256: [0; 32],
            signature,
        },
        Content::Dsse(envelope) => Signed::Dsse { envelope },
    };
    let leaf = match b.certificates() {
        Ok(Some(c)) => c.leaf,
        _ => Vec::new(),
    };
    for entry in &b.verification_material.tlog_entries {
        for verifier in [Verifier::Certificate(&leaf), Verifier::Key(&leaf)] {
            let _ = verify_entry(entry, &signed, &verifier, &root, b.minor_version());
        }
    }
});
