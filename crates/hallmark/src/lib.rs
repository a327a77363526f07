//! hallmark: artifact signing that cannot be tricked by a tag swap.
//!
//! The data flows reference → store (registry or OCI layout) → digest → sign/verify →
//! report. Nothing here writes to a terminal; the `hallmark` binary does.

pub mod artifact;
pub mod copy;
pub mod demo;
pub mod digest;
pub mod error;
pub mod image;
pub mod keys;
pub mod layout;
pub mod manifest;
pub mod payload;
pub mod policy;
pub mod publish;
pub mod reference;
pub mod registry;
pub mod sign;
pub mod signature;
pub mod store;
pub mod transfer;
pub mod verify;

pub use error::{Error, ErrorClass};
