//! Test harness: real registries on loopback, the real `hallmark` binary, a proxy that can
//! lie like a compromised registry, and fixtures (keys, images, signed images).

mod admit;
mod audit;
mod cli;
mod fixtures;
mod hsm;
mod kube;
mod peers;
mod proxy;
mod registry;
mod sigstack;

pub use admit::*;
pub use audit::*;
pub use cli::*;
pub use fixtures::*;
pub use hsm::*;
pub use kube::*;
pub use peers::*;
pub use proxy::*;
pub use registry::*;
pub use sigstack::*;

/// A folder of `../shared/` (reference material beside the checkout, which the repository
/// may not copy), or `None` after one line saying which test was not run because it is
/// absent.
pub fn shared(test: &str, path: &str) -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared")
        .join(path);
    if dir.exists() {
        Some(dir)
    } else {
        // Written past libtest's capture (which takes `eprintln!`), so that a run without
        // the reference material says what it skipped even when every test passes.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "{test}: not run: it reads ../shared/{path} beside the checkout, which is absent here"
        );
        None
    }
}
