#![no_main]
//! `WWW-Authenticate` headers and the tokens a token server returns come from whoever
//! answers on the registry's address: parse or refuse, never panic, and never invent a
//! realm.

use hallmark::registry::auth::{Challenge, parse_challenge};
use hallmark::registry::granted_actions;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(token) = std::str::from_utf8(data) {
        let _ = granted_actions(token, "team/app");
    }
    if let Ok(header) = std::str::from_utf8(data)
        && let Some(Challenge::Bearer { realm, .. }) = parse_challenge(header)
    {
        assert!(!realm.is_empty() || header.to_ascii_lowercase().contains("realm"));
    }
});
