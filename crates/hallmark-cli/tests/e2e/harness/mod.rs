//! Test harness: real registries on loopback, the real `hallmark` binary, a proxy that can
//! lie like a compromised registry, and fixtures (keys, images, signed images).

mod cli;
mod fixtures;
mod peers;
mod proxy;
mod registry;

pub use cli::*;
pub use fixtures::*;
pub use peers::*;
pub use proxy::*;
pub use registry::*;
