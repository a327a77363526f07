//! The library's error type. Every variant knows its [`ErrorClass`]; there is no catch-all
//! and no wildcard in the classification, so a new variant must be classified to compile.
//! Exit numbers and hints are the command line's business.

pub use crate::class::ErrorClass;
use crate::digest::{Digest, DigestError};

/// Any failure of a library operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A malformed reference.
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    /// A malformed digest, or bytes that do not match one.
    #[error(transparent)]
    Digest(#[from] DigestError),
    /// A registry failure.
    #[error(transparent)]
    Registry(#[from] crate::registry::RegistryError),
    /// An OCI layout failure.
    #[error(transparent)]
    Layout(#[from] crate::layout::LayoutError),
    /// A local file failure.
    #[error(transparent)]
    File(#[from] crate::fsio::FileError),
    /// A key that cannot be made, read or used.
    #[error(transparent)]
    Key(#[from] crate::keys::KeyError),
    /// A local artifact that cannot be read.
    #[error(transparent)]
    Artifact(#[from] crate::artifact::ArtifactError),
    /// A policy that cannot be used.
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// A signature manifest that cannot be read or extended.
    #[error(transparent)]
    Signature(#[from] crate::signature::SignatureError),
    /// A keyless signature that cannot be made.
    #[error(transparent)]
    Keyless(#[from] crate::keyless::KeylessError),
    /// A manifest a store served that does not parse or breaks a limit.
    #[error("{source_name}: {source}")]
    Malformed {
        /// The store (`reg/repo`, `oci:DIR`).
        source_name: String,
        /// What is wrong.
        #[source]
        source: crate::oci::OciError,
    },
    /// Something that must exist does not.
    #[error("{what} not found: {reference}")]
    NotFound {
        /// What was looked for (`artifact`, `tag`, `manifest`).
        what: &'static str,
        /// Where.
        reference: String,
    },
    /// A tag names another digest than the one expected.
    #[error("{reference} resolved to {actual}, expected {expected}")]
    Drift {
        /// The tag reference.
        reference: String,
        /// The digest that was built or published.
        expected: Digest,
        /// The digest the tag names now.
        actual: Digest,
    },
    /// Entries this command wrote to a tag other writers change too (a `.sig` manifest, a
    /// fallback referrers index) were overwritten by writers that had not seen them, and
    /// stayed lost after every repair.
    #[error(
        "{tag} was overwritten by concurrent writers {attempts} times; lost: {}",
        missing.join(", ")
    )]
    Overwritten {
        /// `reg/repo:tag`.
        tag: String,
        /// How many writes were made.
        attempts: u32,
        /// What is missing (or back after removal): each entry named.
        missing: Vec<String>,
    },
    /// This command's write to a shared tag may have landed after the moment other writers
    /// stopped watching theirs (it took longer than they watch, or it got no answer and may
    /// still land), so an entry another writer stored may be overwritten. What this command
    /// wrote is stored.
    #[error(
        "{tag}: {why}: an entry another signer stored meanwhile may be overwritten (this \
         command's own change is stored)"
    )]
    Unsettled {
        /// `reg/repo:tag`.
        tag: String,
        /// What happened to the write.
        why: String,
    },
    /// Signing by tag without the digest that was built.
    #[error(
        "refusing to sign {reference} by tag: a tag can be moved to another image between push and sign"
    )]
    TagRefused {
        /// `reg/repo:tag`.
        reference: String,
        /// `reg/repo`, for the hint.
        repository: String,
    },
    /// The reference and the digest expected name different digests.
    #[error("the reference names {named} but the digest expected is {expected}")]
    DigestConflict {
        /// The digest in the reference.
        named: Digest,
        /// The digest expected.
        expected: Digest,
    },
    /// A reference with neither a tag nor a digest.
    #[error("the reference names neither a tag nor a digest")]
    NoTagOrDigest,
    /// `-a` for a field hallmark writes itself.
    #[error("annotation {0:?} is reserved")]
    ReservedAnnotation(String),
    /// A tag to bind that is not a valid tag.
    #[error("the tag to bind {tag:?} {reason}")]
    BindTag {
        /// The tag.
        tag: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A local file given where a registry reference or layout belongs.
    #[error("{0} cannot be signed or verified in place")]
    NotInPlace(String),
    /// Verification without any key.
    #[error("no public key to verify with")]
    NoKeys,
    /// A tag binding required of a digest reference.
    #[error("a tag binding is required, but the reference names no tag")]
    TagBindingNeedsTag,
    /// `copy` of a report that did not verify.
    #[error("{0} is not verified; nothing was copied")]
    NotVerified(String),
    /// `copy` from another place than the one verified: the verification says nothing
    /// about the signatures there.
    #[error("the verification is of {verified}, not of {source_name}; nothing was copied")]
    VerifiedElsewhere {
        /// What was verified (`reg/repo@sha256:…`).
        verified: String,
        /// The same digest at the source given.
        source_name: String,
    },
    /// A platform asked of a single-platform manifest.
    #[error("platform {platform} asked for, but {digest} is a single-platform manifest")]
    SinglePlatform {
        /// The platform asked for.
        platform: String,
        /// The manifest.
        digest: Digest,
    },
    /// `--platform` that the index does not list.
    #[error("no {platform} manifest in index {digest}")]
    NoPlatform {
        /// The platform asked for.
        platform: String,
        /// The index.
        digest: Digest,
        /// What it lists.
        available: Vec<String>,
    },
    /// The index has no signature that counts, so the platform manifest's own signature
    /// would decide; but which platform it is for is then only the unsigned index's word,
    /// and the manifest's own content does not confirm it.
    #[error(
        "index {index} has no signature that counts and lists {digest} as {platform}, but that manifest {found}: its own signature does not vouch for {platform}"
    )]
    PlatformUnconfirmed {
        /// The platform asked for.
        platform: String,
        /// The unsigned index.
        index: Digest,
        /// The platform manifest it lists.
        digest: Digest,
        /// What the manifest is instead (`is linux/arm64/v8 by its image config`).
        found: String,
    },
    /// The operating system has no randomness to give.
    #[error("cannot get random bytes from the operating system: {0}")]
    Randomness(#[source] getrandom::Error),
    /// A policy rule that requires a tag binding, and a reference without a tag.
    #[error(
        "policy {policy}: rule {rule:?} requires a tag binding, but {reference} is a digest reference and names no tag for a signature to bind"
    )]
    PolicyTagBindingNeedsTag {
        /// The policy file.
        policy: String,
        /// The rule that requires it.
        rule: String,
        /// The reference verified (`reg/repo@sha256:…`).
        reference: String,
    },
}

impl Error {
    /// The class of this failure; the command line maps it to an exit code.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Reference(e) => e.class(),
            Self::Digest(e) => e.class(),
            Self::Registry(e) => e.class(),
            Self::Layout(e) => e.class(),
            Self::File(e) => e.class(),
            Self::Key(e) => e.class(),
            Self::Artifact(e) => e.class(),
            Self::Policy(e) => e.class(),
            Self::Signature(e) => e.class(),
            Self::Keyless(e) => e.class(),
            Self::Malformed { source, .. } => source.class(),
            Self::NotFound { .. } | Self::PlatformUnconfirmed { .. } => ErrorClass::Denied,
            Self::Drift { .. } => ErrorClass::Drift,
            Self::Overwritten { .. } | Self::Unsettled { .. } | Self::Randomness(_) => {
                ErrorClass::Unavailable
            }
            Self::TagRefused { .. }
            | Self::DigestConflict { .. }
            | Self::NoTagOrDigest
            | Self::ReservedAnnotation(_)
            | Self::BindTag { .. }
            | Self::NotInPlace(_)
            | Self::NoKeys
            | Self::TagBindingNeedsTag
            | Self::NotVerified(_)
            | Self::VerifiedElsewhere { .. }
            | Self::SinglePlatform { .. }
            | Self::NoPlatform { .. } => ErrorClass::Usage,
            Self::PolicyTagBindingNeedsTag { .. } => ErrorClass::Usage,
        }
    }
}
