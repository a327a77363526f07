//! What kind of "no" an error is. The command line maps each class to one documented exit
//! code; the library only says which class an error belongs to.

/// The class of a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
// Deliberately exhaustive: the command line must give every class an exit code.
pub enum ErrorClass {
    /// A security "no": not verified, content not what it claims to be, not there.
    Denied,
    /// Bad input or usage: fix the command, the file or the flag.
    Usage,
    /// Registry, network or I/O failure, or data a store served that does not parse.
    Unavailable,
    /// A tag resolved to another digest than expected.
    Drift,
}
