//! The library's error type and how each failure maps onto the CLI's exit codes.

use crate::digest::{Digest, DigestError};

/// What kind of "no" an error is; each maps to one documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorClass {
    /// A security "no": not verified, content not what it claims to be. Exit 1.
    Denied,
    /// Bad input or usage. Exit 2.
    Usage,
    /// Registry, network or I/O failure. Exit 3.
    Unavailable,
    /// A tag resolved to another digest than expected. Exit 4.
    Drift,
}

impl ErrorClass {
    pub fn exit_code(self) -> i32 {
        match self {
            ErrorClass::Denied => 1,
            ErrorClass::Usage => 2,
            ErrorClass::Unavailable => 3,
            ErrorClass::Drift => 4,
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error(transparent)]
    Digest(#[from] DigestError),
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    #[error(transparent)]
    Layout(#[from] crate::layout::LayoutError),
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Artifact(#[from] crate::artifact::ArtifactError),
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    #[error("{message}")]
    Usage {
        message: String,
        hint: Option<String>,
    },
    #[error("{what} not found: {reference}")]
    NotFound {
        what: &'static str,
        reference: String,
    },
    #[error("{reference} resolved to {actual}, expected {expected}")]
    Drift {
        reference: String,
        expected: Digest,
        actual: Digest,
    },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "signature manifest changed underneath {attempts} times in a row; another signer is racing"
    )]
    Contention { attempts: u32 },
}

impl Error {
    pub fn class(&self) -> ErrorClass {
        use crate::artifact::ArtifactError as A;
        use crate::registry::RegistryError as R;
        match self {
            Error::Reference(_)
            | Error::Key(_)
            | Error::Usage { .. }
            | Error::Invalid(_)
            | Error::Policy(_) => ErrorClass::Usage,
            Error::Digest(DigestError::Invalid { .. }) | Error::Registry(R::CaFile { .. }) => {
                ErrorClass::Usage
            }
            Error::Digest(_)
            | Error::Registry(R::Digest(_))
            | Error::Layout(crate::layout::LayoutError::Digest(_)) => ErrorClass::Denied,
            Error::NotFound { .. } => ErrorClass::Denied,
            Error::Drift { .. } => ErrorClass::Drift,
            Error::Layout(crate::layout::LayoutError::NotLayout { .. }) => ErrorClass::Usage,
            Error::Artifact(A::Io { .. }) => ErrorClass::Unavailable,
            Error::Artifact(A::Corrupt { .. }) => ErrorClass::Denied,
            Error::Artifact(_) => ErrorClass::Usage,
            Error::Registry(_) | Error::Layout(_) | Error::Contention { .. } => {
                ErrorClass::Unavailable
            }
        }
    }

    /// What to do about it, when there is something to say.
    pub fn hint(&self) -> Option<String> {
        use crate::registry::RegistryError as R;
        match self {
            Error::Usage { hint, .. } => hint.clone(),
            Error::Registry(R::Unauthorized { registry, .. }) => Some(format!(
                "log in with `docker login {registry}`, or pass --username and --password-stdin"
            )),
            Error::Registry(R::Network { .. } | R::Timeout { .. }) => {
                Some("check the registry address and that it is up; raise --timeout for slow links".into())
            }
            Error::Registry(R::Digest(_)) | Error::Digest(DigestError::Mismatch { .. }) => Some(
                "the registry (or something between you and it) served content that does not match its digest; do not use it"
                    .into(),
            ),
            Error::Drift { reference, .. } => Some(format!(
                "someone moved {reference} after your pipeline built it; investigate before signing or deploying"
            )),
            Error::Key(crate::keys::KeyError::WrongPassword { .. }) => {
                Some("set HALLMARK_PASSWORD (or COSIGN_PASSWORD) to the key's password".into())
            }
            _ => None,
        }
    }
}
