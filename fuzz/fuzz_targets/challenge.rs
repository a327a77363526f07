#![no_main]
//! `WWW-Authenticate` headers come from whoever answers on the registry's address: parse
//! or refuse, never panic, and never invent a realm.

use hallmark::registry::auth::{Challenge, parse_challenge};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data)
        && let Some(Challenge::Bearer { realm, .. }) = parse_challenge(header)
    {
        assert!(!realm.is_empty() || header.to_ascii_lowercase().contains("realm"));
    }
});
