//! Keyless Sigstore verification, offline, to the client specification: the trusted root
//! ([`root`]), the two certificate primitives ([`x509`]), one module per proof (the
//! certificate and its SCTs, the transparency-log entry with its inclusion proof and
//! checkpoint, RFC 3161 timestamps), the identity policy, and [`verify`], which combines
//! them in the specification's order. Every function here is pure: bytes, a trusted root and
//! instants in, a verdict out.

pub mod certificate;
pub mod checkpoint;
pub mod identity;
pub mod merkle;
pub mod root;
pub mod sct;
pub mod timestamp;
pub mod tlog;
pub mod verify;
pub mod x509;

/// The sigstore-conformance verify cases, read from the reference material beside the
/// checkout (`../shared`, never copied into it); `None`, said in one line, where it is absent.
#[cfg(test)]
pub(crate) fn conformance_cases() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/fixtures/conformance-assets/sigstore-conformance/bundle-verify");
    if dir.is_dir() {
        Some(dir)
    } else {
        // libtest names each test's thread after the test. The line is written past its
        // capture (which takes `println!`), so that a passing run says what it skipped.
        use std::io::Write;
        let thread = std::thread::current();
        let test = thread.name().unwrap_or("a test");
        let _ = writeln!(
            std::io::stderr(),
            "{test}: not run: it reads ../shared/fixtures/conformance-assets beside the checkout, which is absent here"
        );
        None
    }
}
