#![no_main]
//! Pipeline files come from pull requests: the shell parser and the YAML reader must end
//! on any input, within their bounds, and the audit of any script must not panic and place
//! its findings inside the file.

use hallmark::audit::{shell, yaml};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for cmd in shell::tokenize(text) {
        let _ = cmd.name();
        let _ = cmd.args();
        let _ = cmd.wrappers();
        let _ = cmd.assignments().count();
    }
    let script = shell::parse(text);
    let commands = script.commands();
    assert!(commands.len() <= shell::MAX_COMMANDS);
    for cmd in commands {
        for w in cmd
            .words
            .iter()
            .chain(cmd.redirects.iter().map(|r| &r.target))
        {
            assert!(w.line >= 1 && w.column >= 1);
        }
    }
    let _ = yaml::parse(text);
    // Wired into the audit: every finding of a shell script is placed inside the file.
    let lines = text.split('\n').count();
    let (found, _) = hallmark::audit::audit_text("fuzz.sh", text, hallmark::audit::Kind::Shell);
    for f in found {
        assert!(f.line >= 1 && f.line <= lines && f.column >= 1, "{f:?}");
    }
});
