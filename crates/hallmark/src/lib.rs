//! hallmark: artifact signing that cannot be tricked by a tag swap.
//!
//! The data flows reference → store (registry or OCI layout) → digest → signatures →
//! verify (gather, then decide) → policy → report. Nothing here writes to a terminal; the
//! `hallmark` binary does.
//!
//! Layers, lowest first; a module uses only modules above it in this list:
//!
//! - [`class`], [`digest`], [`glob`], [`json`]: leaves;
//! - [`oci`]: OCI data without I/O (media types, limits, manifests, `index.json`, the
//!   graph walker);
//! - [`reference`](mod@reference), [`keys`], [`payload`], [`signature`], [`bundle`]: names, keys, signed
//!   documents;
//! - [`fsio`], [`registry`], [`layout`], [`artifact`]: where bytes come from;
//! - [`trust`], [`report`], [`policy`]: requirements and outcomes, as data;
//! - [`error`]: the one error type of operations;
//! - [`store`]: registry repository or layout, behind one interface;
//! - [`verify`], [`sign`], [`transfer`], [`blob`]: the operations on one digest;
//! - [`publish`], [`copy`], [`image`], [`inventory`], [`scan`], [`pin`], [`demo`]: whole
//!   commands;
//! - [`audit`]: pipeline files, on their own (it uses only `digest` and `fsio`).
//!
//! A program that talks to registries installs a rustls crypto provider first, as the
//! `hallmark` binary does (`rustls::crypto::ring::default_provider().install_default()`);
//! [`registry::Client::new`] uses whichever one is installed.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod artifact;
pub mod audit;
pub mod blob;
pub mod bundle;
pub mod class;
pub mod copy;
pub mod demo;
pub mod digest;
pub mod error;
pub mod fsio;
pub mod glob;
pub mod image;
pub mod inventory;
pub mod json;
pub mod keys;
pub mod layout;
pub mod oci;
pub mod payload;
pub mod pin;
pub mod policy;
pub mod publish;
pub mod reference;
pub mod registry;
pub mod report;
pub mod scan;
pub mod sign;
pub mod signature;
pub mod sigstore;
pub mod store;
pub mod transfer;
pub mod trust;
pub mod verify;

pub use error::{Error, ErrorClass};
