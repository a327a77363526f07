#![no_main]
//! Jenkinsfiles and Dockerfiles come from pull requests: their readers (a Groovy lexer for
//! `sh` steps and interpolation, heredocs and the escape directive of Dockerfiles) must
//! end on any input without a panic, and every finding must point at a line of the file
//! (a Groovy `\n` escape may add lines to a script, so its findings only start there).

use hallmark::audit::{self, Kind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let lines = text.lines().count().max(1);
    for kind in [Kind::Jenkins, Kind::Dockerfile] {
        let (findings, _) = audit::audit_text("fuzz", &text, kind);
        for f in &findings {
            assert!(f.line >= 1, "{f:?}");
            assert!(kind == Kind::Jenkins || f.line <= lines, "{f:?}");
        }
    }
});
