#![no_main]
//! Policy files: parse or fail with a line-numbered error; never panic.

use hallmark::policy::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match Policy::parse(text, std::path::Path::new("/nonexistent/policy.toml")) {
        Ok(p) => {
            let _ = p.rule_for("reg.example.com/team/app");
        }
        Err(e) => assert!(e.to_string().starts_with("/nonexistent/policy.toml:")),
    }
});
