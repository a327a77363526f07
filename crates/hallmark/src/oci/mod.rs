//! OCI data, without I/O: media types, limits, manifests as exact bytes, `index.json`,
//! blob descriptors and the one manifest-graph walker.
//!
//! Everything that reads artifacts (the registry client, layouts, local artifacts, copy)
//! shares these definitions, so a limit or a media type has exactly one home.

mod blob;
mod index;
mod manifest;
mod walk;

pub use blob::{Blob, BlobData};

pub(crate) use blob::{ByteStream, RangeFuture};
pub use index::{Index, IndexEntry, pick_platform, platform_matches, platforms};
pub(crate) use index::{MAX_CONFIG_BYTES, PlatformSource, config_platform, platform_source};
pub use manifest::{ArtifactInfo, Descriptor, Manifest, References};
pub use walk::{Graph, Walk};

use crate::class::ErrorClass;
use crate::digest::DigestError;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker schema 2 manifest.
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub(crate) const DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// OCI image configuration.
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
/// Uncompressed layer.
pub(crate) const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// Gzip-compressed layer.
pub(crate) const OCI_LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The empty descriptor's media type (`{}`), for artifacts without a real config.
pub(crate) const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
/// Annotation naming a file artifact's original file name.
pub(crate) const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
/// Annotation that carries a tag in an OCI layout's `index.json`.
pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// Annotation of a manifest kept under a tag that several writers change (a `.sig`
/// manifest, a fallback referrers index): the digest of the manifest it was made from, so
/// that a writer can tell a later writer that saw its write from one that overwrote it.
pub(crate) const PREVIOUS_ANNOTATION: &str = "dev.hallmark.previous";

/// Accept header for manifest reads: every manifest kind hallmark can sign.
pub(crate) const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// Largest manifest (or `index.json`) accepted from anywhere.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
/// Most descriptors one manifest may list, and most blobs one artifact may have: bounds
/// the work a hostile manifest can cause.
pub(crate) const MAX_REFERENCES: usize = 10_000;
/// Deepest nesting of indexes followed.
pub(crate) const MAX_DEPTH: usize = 4;

/// OCI data that does not parse or breaks a limit. Where the data came from decides how
/// bad that is, so every reader wraps this with the place it read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OciError {
    /// Not JSON, or JSON of the wrong shape.
    #[error("{what} is not valid JSON of its kind: {source}")]
    Json {
        /// What was being read (`manifest sha256:…`, `index.json`).
        what: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// The source's Content-Type contradicts the document's own `mediaType`.
    #[error("served as {served} but the document says {document}")]
    ContentTypeMismatch {
        /// The Content-Type header.
        served: String,
        /// The document's `mediaType`.
        document: String,
    },
    /// The source claimed a Content-Type that is no manifest type at all.
    #[error("served with Content-Type {0}, which is not a manifest")]
    NotAManifestType(String),
    /// A manifest media type hallmark does not read (schema 1, for example).
    #[error("unsupported manifest media type {0:?}")]
    UnsupportedMediaType(String),
    /// An index that also lists a config or layers.
    #[error("index {0} also has a config or layers")]
    IndexWithBlobs(crate::digest::Digest),
    /// An image manifest without a config descriptor.
    #[error("manifest {0} has no config")]
    NoConfig(crate::digest::Digest),
    /// A descriptor's digest does not parse.
    #[error("a descriptor's digest is invalid: {0}")]
    Descriptor(#[source] DigestError),
    /// More descriptors or blobs than `MAX_REFERENCES`.
    #[error("{what} lists more than {MAX_REFERENCES} descriptors")]
    TooManyReferences {
        /// The manifest or artifact.
        what: String,
    },
    /// Indexes nested deeper than `MAX_DEPTH`.
    #[error("indexes nested deeper than {MAX_DEPTH}")]
    TooDeep,
    /// A manifest handed to the walker is not the one it asked for.
    #[error("expected manifest {expected}, got {actual}")]
    UnexpectedManifest {
        /// The digest the walker asked for.
        expected: crate::digest::Digest,
        /// The digest of what it got.
        actual: crate::digest::Digest,
    },
    /// No `index.json` entry has this tag.
    #[error("no manifest tagged {0:?}")]
    NoSuchTag(String),
    /// `index.json` lists nothing.
    #[error("index.json lists no manifest")]
    EmptyIndex,
    /// Several candidates and nothing to choose between them.
    #[error("{count} manifests; name one with :TAG or @DIGEST (tags: {tags})")]
    Ambiguous {
        /// How many candidates.
        count: usize,
        /// Their tags, comma-separated, or "none".
        tags: String,
    },
}

impl OciError {
    /// Malformed data from a store is an outage of that store: it is not a verdict on the
    /// artifact, and retrying elsewhere may help.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Json { .. }
            | Self::ContentTypeMismatch { .. }
            | Self::NotAManifestType(_)
            | Self::UnsupportedMediaType(_)
            | Self::IndexWithBlobs(_)
            | Self::NoConfig(_)
            | Self::Descriptor(_)
            | Self::TooManyReferences { .. }
            | Self::TooDeep
            | Self::UnexpectedManifest { .. }
            | Self::EmptyIndex => ErrorClass::Unavailable,
            Self::NoSuchTag(_) => ErrorClass::Denied,
            Self::Ambiguous { .. } => ErrorClass::Usage,
        }
    }
}

/// True for the manifest media types hallmark reads and signs.
pub(crate) fn is_manifest_type(t: &str) -> bool {
    matches!(
        t,
        OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST
    )
}

/// The OCI 1.1 referrers fallback tag of `digest` (`sha256-<hex>`): where a registry
/// without the referrers API keeps the index of a manifest's referrers.
pub fn referrers_tag(digest: &crate::digest::Digest) -> String {
    digest.tag_form()
}

/// The config of artifacts that need none: `{}`.
pub const EMPTY_JSON: &[u8] = b"{}";

/// `blobs/<algorithm>/<hex>`: where a layout (or a layout inside a tarball) keeps a blob.
pub fn blob_path(digest: &crate::digest::Digest) -> String {
    format!("blobs/{}/{}", digest.algorithm(), digest.hex())
}
