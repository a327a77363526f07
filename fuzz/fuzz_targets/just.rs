#![no_main]
//! Justfiles come from pull requests: the reader must end on any input, within its bounds,
//! and every byte of every script it returns must map back to a place in the file.

use hallmark::audit::read::just;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.split('\n').count();
    let file = just::parse(&text);
    assert!(file.scripts.len() <= just::MAX_SCRIPTS);
    assert!(file.vars.len() <= just::MAX_VARS);
    for script in &file.scripts {
        for (offset, _) in script.body.text.char_indices() {
            let pos = script.body.position(offset).expect("every character is mapped");
            assert!(pos.line >= 1 && pos.line <= lines && pos.column >= 1);
        }
    }
    for var in &file.vars {
        for (offset, _) in var.value.text.char_indices() {
            assert!(var.value.position(offset).is_some());
        }
    }
    // Wired into the audit: every finding is placed inside the file.
    let (found, _) = hallmark::audit::audit_text("fuzz", &text, hallmark::audit::Kind::Just);
    for f in found {
        assert!(f.line >= 1 && f.line <= lines && f.column >= 1);
    }
});
