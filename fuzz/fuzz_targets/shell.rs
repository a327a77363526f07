#![no_main]
//! Pipeline files come from pull requests: the shell tokenizer and the YAML reader must end
//! on any input, and the audit of any file must not panic.

use hallmark::audit::{shell, yaml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    for cmd in shell::tokenize(text) {
        let _ = cmd.name();
        let _ = cmd.args();
        let _ = cmd.assignments().count();
    }
    let _ = yaml::parse(text);
});
