#![no_main]
//! RFC 3161 timestamps arrive inside bundles: a token is verified over a signature against
//! the production root and either verifies or is refused with a reason, never a panic; a
//! whole bundle built around the same bytes goes through the keyless verifier too.

use hallmark::bundle::Bundle;
use hallmark::sigstore::identity::{IdentityPolicy, Matcher};
use hallmark::sigstore::root::TrustedRoot;
use hallmark::sigstore::timestamp::{verify, verify_all};
use hallmark::sigstore::verify::{Options, Signer};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let root = TrustedRoot::production();
    let _ = verify(data, b"signature", &root);
    let _ = verify_all(&[data.to_vec(), data.to_vec()], b"signature", &root);
    if let Ok(bundle) = Bundle::parse(data) {
        let policy = IdentityPolicy::new(
            Matcher::Exact("a@example.com".into()),
            Matcher::Exact("https://accounts.example.com".into()),
        );
        let _ = hallmark::sigstore::verify::verify(
            &bundle,
            &[0; 32],
            Signer::Identity(&policy),
            &root,
            Options::default(),
        );
    }
});
