#![no_main]
//! Signing certificates come inside bundles from registries and from files users are handed:
//! the Fulcio profile, the chain checks and the SCT checks answer, never panic.

use hallmark::sigstore::certificate::{check_bundle_chain, parse_leaf, verify_chain};
use hallmark::sigstore::root::TrustedRoot;
use hallmark::sigstore::sct::verify_scts;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = check_bundle_chain(&[data.to_vec()]);
    if let Ok(leaf) = parse_leaf(data) {
        let root = TrustedRoot::production();
        assert_eq!(leaf.der(), data);
        if let Ok(issued) = verify_chain(&leaf, &root, leaf.not_before) {
            let _ = verify_scts(&leaf, &issued.issuer_spki, &root);
        }
        let _ = verify_scts(&leaf, &leaf.spki, &root);
    }
});
