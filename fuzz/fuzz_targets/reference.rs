#![no_main]
//! References (and destinations, scan targets) must parse or fail cleanly, and whatever
//! parses as an image reference must print back to itself.

use hallmark::reference::{DestinationRef, ImageRef, Source};
use hallmark::scan::ScanTarget;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = Source::parse(s);
    let _ = DestinationRef::parse(s);
    let _ = ScanTarget::parse(s);
    if let Ok(r) = ImageRef::parse(s) {
        let again = ImageRef::parse(&r.to_string()).expect("a printed reference parses");
        assert_eq!(again, r);
    }
});
