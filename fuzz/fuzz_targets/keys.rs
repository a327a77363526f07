#![no_main]
//! Key files from anywhere: parse or fail cleanly, and never spend unbounded memory.

use hallmark::keys::{PublicKey, SigningKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = SigningKey::from_encrypted_pem(data, b"", "fuzz.key");
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = PublicKey::from_pem(s, "fuzz.pub");
    }
});
