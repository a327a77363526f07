#![no_main]
//! References must parse or fail cleanly, and whatever parses must print back to itself.

use hallmark::reference::{ImageRef, Source};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let _ = Source::parse(s);
    if let Ok(r) = ImageRef::parse(s) {
        let again = ImageRef::parse(&r.to_string()).expect("a printed reference parses");
        assert_eq!(again, r);
    }
});
