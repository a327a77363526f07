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
