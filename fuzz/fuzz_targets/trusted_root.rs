#![no_main]
//! A trusted root is a file users are handed (`--trusted-root`, a policy's `trusted-root`):
//! it parses or is refused with a reason naming the field, never a panic; a root that parses
//! answers every lookup.

use hallmark::sigstore::root::TrustedRoot;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(root) = TrustedRoot::parse(data) {
        for log in root.tlogs.iter().chain(&root.ctlogs) {
            assert!(root.tlog(&log.log_id).is_some() || root.ctlog(&log.log_id).is_some());
            let _ = log.key.valid.contains(log.key.valid.start);
        }
    }
});
