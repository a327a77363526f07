#![no_main]
//! Sigstore bundles, DSSE envelopes and in-toto statements come from registries and from
//! files users are handed: parse or refuse, never panic.

use hallmark::bundle::intoto::Statement;
use hallmark::bundle::{Bundle, Content, MAX_BUNDLE_BYTES, dsse};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(b) = Bundle::parse(data) {
        assert!(data.len() as u64 <= MAX_BUNDLE_BYTES);
        let _ = b.unchecked();
        if let Ok(Content::Dsse(e)) = b.content()
            && let Ok(payload) = e.payload_bytes()
        {
            let _ = dsse::pae(&e.payload_type, &payload);
            let _ = e.signature_bytes();
            if let Ok(s) = Statement::parse(&payload) {
                let _ = s.is_statement();
            }
        }
        // What hallmark writes back is what it reads.
        assert_eq!(Bundle::parse(&b.to_bytes()).unwrap(), b);
    }
    if let Ok(s) = Statement::parse(data) {
        assert_eq!(Statement::parse(&s.to_bytes()).unwrap(), s);
    }
});
