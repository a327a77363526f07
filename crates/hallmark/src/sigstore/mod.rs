//! Keyless Sigstore verification, offline, to the client specification: the trusted root
//! ([`root`]), the two certificate primitives ([`x509`]), and one module per proof. Every
//! function here is pure: bytes and a trusted root in, a verdict out.

pub mod checkpoint;
pub mod merkle;
pub mod root;
pub mod tlog;
pub mod x509;
