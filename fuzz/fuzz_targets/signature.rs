#![no_main]
//! Registry answers: manifests, signature manifests and simple-signing payloads.

use bytes::Bytes;
use hallmark::oci::Manifest;
use hallmark::payload::SimpleSigning;
use hallmark::signature;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = SimpleSigning::parse(data) {
        let _ = p.bound_tags();
        let _ = p.signed_repository();
    }
    if let Ok(m) = Manifest::from_bytes(Bytes::copy_from_slice(data), None) {
        if let Ok(layers) = signature::parse_layers(&m) {
            assert!(layers.len() <= signature::MAX_SIGNATURE_LAYERS);
        }
        let _ = signature::append(Some(&m), b"payload", b"sig");
    }
});
