//! The one registry client: OCI distribution API over reqwest + rustls.
//!
//! Every manifest and blob read through it is hashed while read and rejected when the bytes
//! do not match the digest they were asked for (attack A3). Bodies are size-bounded,
//! redirects are bounded, and transient failures are retried with backoff.
//!
//! - `http`: what every part shares apart from sending (URLs, where credentials may go,
//!   the registry's error text, transfer deadlines); a leaf;
//! - [`auth`]: challenges, the token cache, where credentials come from;
//! - `client`: the client and its options;
//! - `token`: a request's `Authorization`, and challenges answered with a token;
//! - `transport`: sending, retries, backoff, deadlines, size limits;
//! - `manifests`, `blobs`, `upload`, `tags`, `referrers`: the API, one concern
//!   each; `access`: whether the credentials may push, found out without writing.

mod access;
pub mod auth;
mod blobs;
mod client;
mod http;
mod manifests;
mod referrers;
mod tags;
mod token;
mod transport;
mod upload;

use std::path::PathBuf;
use std::sync::Arc;

pub use access::granted_actions;

pub(crate) use blobs::RegistryBlob;
pub use client::{Client, ClientOptions, Trace};
pub(crate) use tags::ListBudget;
pub use tags::{Cut, ListLimits, Listed};

use crate::class::ErrorClass;
use crate::digest::{Digest, DigestError};
use crate::oci::OciError;

/// Receives the number of bytes of a blob sent so far (restarting on a retry).
pub(crate) type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// How a blob came to be in the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobPush {
    /// It was already there.
    Present,
    /// Mounted from another repository of the same registry, without transfer.
    Mounted,
    /// Its bytes were sent.
    Uploaded,
}

/// A registry could not be reached or answered wrongly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No connection, or it broke.
    #[error("cannot reach {url}: {reason}{}", tries(*attempts))]
    Network {
        /// The request.
        url: String,
        /// What went wrong, for the one-line message.
        reason: String,
        /// What kind of failure it was.
        cause: NetworkCause,
        /// How many times the request was tried.
        attempts: u32,
        /// The client's error.
        #[source]
        source: reqwest::Error,
    },
    /// No answer in time.
    #[error("{url}: timed out after {secs}s{}", tries(*attempts))]
    Timeout {
        /// The request.
        url: String,
        /// The deadline that passed.
        secs: u64,
        /// How many times the request was tried.
        attempts: u32,
    },
    /// Something answers, but not the distribution API.
    #[error(
        "{host} is not a container registry: GET {url} answered {status} without the registry API"
    )]
    NotARegistry {
        /// The host.
        host: String,
        /// The API root asked.
        url: String,
        /// Its answer.
        status: u16,
    },
    /// Plain HTTP sent to a registry that serves HTTPS on that port.
    #[error(
        "{url}: the registry serves HTTPS on this port and answered 400 to plain HTTP (\"Client sent an HTTP request to an HTTPS server\")"
    )]
    HttpToHttps {
        /// The request.
        url: String,
    },
    /// An error status.
    #[error("{url}: registry answered {status}{message}")]
    Status {
        /// The request.
        url: String,
        /// HTTP status.
        status: u16,
        /// The registry's own error text, ` (CODE: message)`, or empty.
        message: String,
    },
    /// Credentials missing or refused.
    #[error("{registry}: authentication failed ({reason})")]
    Unauthorized {
        /// The registry.
        registry: String,
        /// Status and the registry's text.
        reason: String,
    },
    /// A body over its limit.
    #[error("{url}: response larger than the {limit}-byte limit")]
    TooLarge {
        /// The request.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// An answer that breaks the distribution protocol.
    #[error("{url}: {violation}")]
    Protocol {
        /// The request.
        url: String,
        /// What was wrong.
        violation: Violation,
    },
    /// A manifest that does not parse.
    #[error("{url}: {source}")]
    Malformed {
        /// The request.
        url: String,
        /// What is wrong with it.
        #[source]
        source: OciError,
    },
    /// Bytes that hash to another digest than the one asked for.
    #[error("registry served wrong bytes: {0}")]
    Served(#[source] DigestError),
    /// The registry stored something else than what was sent.
    #[error("registry stored other bytes than were sent: {0}")]
    Stored(#[source] DigestError),
    /// A blob's source (a local file, or the registry copied from) delivered bytes that
    /// do not match its digest: it is blamed, not the destination.
    #[error("{origin} does not hold what its digest says: {source}")]
    SourceMismatch {
        /// Where the bytes came from.
        origin: String,
        /// Expected and actual digest.
        #[source]
        source: DigestError,
    },
    /// A blob's source delivered another number of bytes than its size.
    #[error("{origin}: blob {digest} changed while reading: {read} bytes instead of {size}")]
    SourceLength {
        /// Where the bytes came from.
        origin: String,
        /// The blob.
        digest: Digest,
        /// Bytes read.
        read: u64,
        /// Its size.
        size: u64,
    },
    /// A blob's source could not be read.
    #[error("cannot read blob {digest} from {origin}: {source}")]
    SourceRead {
        /// Where the bytes come from.
        origin: String,
        /// The blob.
        digest: Digest,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// The CA file given for the registry's certificates is unusable.
    #[error("cannot use the CA file {path}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A host's certificate directory (`certs.d/HOST[:PORT]/`) is unusable.
    #[error("cannot use {path} (certificates for {host}): {reason}")]
    CertsDir {
        /// The registry host, as its directory is named.
        host: String,
        /// The file or directory.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The HTTP client could not be built.
    #[error("cannot set up the HTTP client: {0}")]
    Setup(String),
    /// No rustls crypto provider is installed for the process.
    #[error(
        "no TLS crypto provider is installed: install one before creating a client (rustls::crypto::ring::default_provider().install_default())"
    )]
    NoCryptoProvider,
    /// A manifest media type that cannot be sent as a header.
    #[error("invalid media type {0:?}")]
    MediaType(String),
}

/// How a registry's answer broke the protocol.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// An upload answer without `Location`.
    #[error("upload answer has no Location header")]
    NoLocation,
    /// An unparseable `Location` or `Link`.
    #[error("invalid URL {0:?} in the answer")]
    BadUrl(String),
    /// A token realm that does not parse.
    #[error("invalid token realm: {0}")]
    BadRealm(#[source] url::ParseError),
    /// A token realm over plain HTTP to a remote host.
    #[error("token realm is not HTTPS; refusing to send credentials")]
    InsecureRealm,
    /// A token answer that is not the JSON the protocol defines.
    #[error("invalid token response: {0}")]
    TokenResponse(#[source] serde_json::Error),
    /// A token answer without a token.
    #[error("token response has no token")]
    NoToken,
    /// A full body where a range was asked for.
    #[error("registry ignored the Range header")]
    RangeIgnored,
    /// A blob whose length is not the size the manifest gives.
    #[error("blob {digest} is {served} bytes, the manifest says {expected}")]
    Length {
        /// The blob.
        digest: Digest,
        /// What the registry declared.
        served: u64,
        /// What the manifest says.
        expected: u64,
    },
    /// A tag list that is not JSON.
    #[error("invalid tag list: {0}")]
    TagList(#[source] serde_json::Error),
    /// A list (tags, catalog) cut short by a bound or a loop.
    #[error("the list was read only in part: {0}")]
    Incomplete(#[source] Cut),
}

pub use crate::net::NetworkCause;

fn tries(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (tried {attempts} times)")
    } else {
        String::new()
    }
}

impl RegistryError {
    /// The same failure, after `n` attempts.
    pub(crate) fn after_attempts(mut self, n: u32) -> Self {
        if let Self::Network { attempts, .. } | Self::Timeout { attempts, .. } = &mut self {
            *attempts = n;
        }
        self
    }

    /// The exit class.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Network { .. }
            | Self::Timeout { .. }
            | Self::NotARegistry { .. }
            | Self::Status { .. }
            | Self::HttpToHttps { .. }
            | Self::Unauthorized { .. }
            | Self::TooLarge { .. }
            | Self::Protocol { .. }
            | Self::Malformed { .. }
            | Self::SourceRead { .. }
            | Self::Setup(_)
            | Self::NoCryptoProvider => ErrorClass::Unavailable,
            Self::Served(_)
            | Self::Stored(_)
            | Self::SourceMismatch { .. }
            | Self::SourceLength { .. } => ErrorClass::Denied,
            Self::CaFile { .. } | Self::CertsDir { .. } | Self::MediaType(_) => ErrorClass::Usage,
        }
    }

    /// True when the request may have reached the registry although no answer came
    /// back (a reset or timeout after sending): it may still take effect later.
    pub(crate) fn may_have_landed(&self) -> bool {
        match self {
            Self::Network { cause, .. } => !matches!(
                cause,
                NetworkCause::Refused | NetworkCause::UnknownHost | NetworkCause::PlainHttp
            ),
            Self::Timeout { .. } => true,
            _ => false,
        }
    }

    /// True for failures worth another attempt: not a certificate refused, nor a server
    /// that speaks another protocol, which stay so however often they are asked.
    pub(crate) fn is_transient(&self) -> bool {
        match self {
            Self::Network { cause, .. } => {
                !cause.is_certificate() && *cause != NetworkCause::PlainHttp
            }
            Self::Timeout { .. } => true,
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }
}
