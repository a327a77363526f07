//! hallmark: artifact signing that cannot be tricked by a tag swap.
//!
//! The data flows reference → store (registry or OCI layout) → digest → signatures →
//! verify (gather, then decide) → policy → report. Nothing here writes to a terminal; the
//! `hallmark` binary does. Every operation returns a typed result or an [`Error`], whose
//! [`Error::class`] says whether it was a refusal, a usage error, something unavailable or
//! drift.
//!
//! # What a program uses
//!
//! - Where the artifact is: [`reference::Source::parse`] reads `REG/REPO[:TAG][@DIGEST]`,
//!   `oci:DIR[:TAG]` and the local forms; [`store::Target::open`] opens it (a registry
//!   needs a [`registry::Client`] made from [`registry::ClientOptions`]); a
//!   [`store::Target`] can also be built from a [`store::Store`] directly, as below.
//! - Keys: [`keys::SigningKey`] (generate, or read cosign's encrypted PEM) and
//!   [`keys::PublicKey`], named for reports by [`trust::NamedKey`].
//! - Signing: [`sign::sign`] with [`sign::SignOptions`] returns [`sign::Signed`]; it
//!   signs a digest, never a bare tag. [`sign::attest`] stores an in-toto attestation.
//!   [`sign::sign_with`], [`sign::attest_with`] and [`publish::publish_with`] take a
//!   [`signer::Signer`] instead of a key: a key, a key logged in Rekor, or keyless (an
//!   identity token and a [`signer::Sigstore`]: the services and the trusted root).
//! - Verifying: [`verify::verify`] with [`trust::VerifyOptions`] (keys, keyless identities,
//!   threshold, tag binding, age), or [`verify::verify_with_policy`] with a
//!   [`policy::Policy`]; both return a [`verify::Verification`] whose
//!   [`report::Report`] says whether it verified and which signatures counted.
//!   [`verify::verify_attestations`] does the same for attestations of one type.
//! - Files: [`blob::measure`], [`blob::sign`] and [`blob::verify`] (with
//!   [`blob::BlobTrust`]) sign and verify by a file's streamed SHA-256.
//! - Moving artifacts: [`publish::publish`] ([`publish::PublishOptions`]) signs a local
//!   [`artifact::Artifact`] and pushes it, tags last; [`copy::copy`]
//!   ([`copy::CopyOptions`]) copies a verified artifact with its signatures, to a
//!   [`store::Destination`].
//! - Whole estates: [`scan::scan`] ([`scan::ScanOptions`]) judges every tag of many
//!   repositories into a [`scan::ScanReport`]; [`pin::plan`] finds the image references of
//!   files, verifies each and returns a [`pin::PinReport`] that [`pin::write`] applies;
//!   [`audit::audit`] reads pipeline files into an [`audit::AuditReport`] without any
//!   network.
//!
//! Options and results that will grow are `#[non_exhaustive]`: start from their
//! `Default` (or constructor) and set the fields you need.
//!
//! # Example
//!
//! Sign an image in an OCI layout by its digest, verify it, and see that moving the tag to
//! another image does not carry the signature along (no network involved):
//!
//! ```
//! use hallmark::image::Image;
//! use hallmark::keys::{Algorithm, SigningKey};
//! use hallmark::layout::Layout;
//! use hallmark::sign::{self, SignOptions};
//! use hallmark::store::{Store, Target};
//! use hallmark::trust::{NamedKey, VerifyOptions};
//! use hallmark::verify;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let store = Store::Layout(Layout::create(dir.path())?);
//! let key = SigningKey::generate(Algorithm::EcdsaP256)?;
//!
//! tokio::runtime::Runtime::new()?.block_on(async {
//!     let image = Image::random("release 1.0", 1024)?;
//!     image.push(&store, Some("v1")).await?;
//!
//!     // Sign the digest that was built, not whatever the tag names by then.
//!     let pinned = Target {
//!         store: store.clone(),
//!         signatures: store.clone(),
//!         tag: None,
//!         digest: Some(image.digest().clone()),
//!     };
//!     let signed = sign::sign(&pinned, &key, &SignOptions::default()).await?;
//!     assert_eq!(&signed.digest, image.digest());
//!
//!     let mut opts = VerifyOptions::default();
//!     opts.keys = vec![NamedKey {
//!         name: "release.pub".into(),
//!         key: key.public_key(),
//!     }];
//!     let verification = verify::verify(&pinned, &opts).await?;
//!     let report = verification.report();
//!     assert!(report.verified());
//!     assert_eq!(report.signatures().len(), 1);
//!
//!     // Someone moves the tag to another image: verifying the tag finds no signature.
//!     let other = Image::random("not released", 1024)?;
//!     other.push(&store, Some("v1")).await?;
//!     let by_tag = Target {
//!         tag: Some("v1".into()),
//!         digest: None,
//!         ..pinned.clone()
//!     };
//!     let verification = verify::verify(&by_tag, &opts).await?;
//!     assert_eq!(verification.report().digest(), other.digest());
//!     assert!(!verification.report().verified());
//!     Ok::<_, hallmark::Error>(())
//! })?;
//! # Ok(())
//! # }
//! ```
//!
//! # Layers
//!
//! Layers, lowest first; a module uses only modules above it in this list:
//!
//! - `class` ([`ErrorClass`]), [`digest`], `glob`, `json`: leaves (the private ones serve
//!   the others: repository globs, JSON read with duplicate keys refused);
//! - [`oci`]: OCI data without I/O (media types, limits, manifests, `index.json`, the
//!   graph walker);
//! - [`reference`](mod@reference), [`keys`], [`payload`], [`signature`], [`bundle`]: names,
//!   keys, signed documents;
//! - [`sigstore`]: keyless Sigstore verification, offline and without I/O;
//! - [`keyless`]: keyless signing through Fulcio, Rekor (v2 or v1) and a timestamp authority, every
//!   answer verified with [`sigstore`] before use, reached through [`net::ServiceClient`];
//! - [`fsio`], [`registry`], [`layout`], [`artifact`]: where bytes come from; [`net`]:
//!   bounded HTTP both `registry` and `keyless` use;
//! - [`audit`]: pipeline files, on their own (it uses only `digest` and `fsio`);
//! - [`trust`], [`report`], [`policy`]: requirements and outcomes, as data;
//! - `error` ([`Error`]): the one error type of operations;
//! - [`signer`]: what images are signed with (a key, a key logged in Rekor, keyless);
//! - [`store`]: registry repository or layout, behind one interface;
//! - [`verify`], [`sign`], [`transfer`], [`blob`]: the operations on one digest;
//! - [`image`], [`publish`], [`copy`], [`inventory`], [`scan`], [`pin`], [`demo`]: whole
//!   commands (`image` builds small images in memory, for `demo` and tests).
//!
//! A program that talks to registries installs a rustls crypto provider first, as the
//! `hallmark` binary does (`rustls::crypto::ring::default_provider().install_default()`);
//! [`registry::Client::new`] and [`net::ServiceClient::new`] use whichever one is installed.
// rustls's lint set, less the ones about `no_std` (this library uses std throughout).
#![warn(
    clippy::manual_let_else,
    clippy::use_self,
    clippy::upper_case_acronyms,
    elided_lifetimes_in_paths,
    missing_docs,
    trivial_casts,
    trivial_numeric_casts,
    unreachable_pub,
    unused_import_braces,
    unused_extern_crates,
    unused_qualifications
)]
#![forbid(unsafe_code)]

pub mod admit;
pub mod artifact;
pub mod audit;
pub mod blob;
pub mod bundle;
mod class;
pub mod copy;
pub mod demo;
pub mod digest;
mod error;
pub mod fsio;
mod glob;
pub mod image;
pub mod inventory;
mod json;
pub mod keyless;
pub mod keys;
pub mod layout;
pub mod net;
pub mod oci;
pub mod payload;
pub mod pin;
pub mod pkcs11;
pub mod policy;
pub mod predicate_policy;
pub mod publish;
pub mod reference;
pub mod registry;
pub mod report;
pub mod scan;
pub mod sign;
pub mod signature;
pub mod signer;
pub mod sigstore;
pub mod store;
pub mod tls;
pub mod transfer;
pub mod trust;
pub mod verify;

pub use error::{Error, ErrorClass};
