//! The real [`Check`]: each image verified in its registry as `verify` does, with keys or
//! under a policy. It keeps nothing between calls, so every answer is a fresh decision.

use std::sync::Arc;

use super::{Check, Failure};
use crate::policy::Trust;
use crate::registry::Client;
use crate::verify::Verification;

/// Verifies images with `client` and `trust`.
pub struct Verifier {
    client: Client,
    trust: Trust,
}

impl Verifier {
    /// A verifier that reaches registries through `client` and trusts what `trust` says.
    pub fn new(client: Client, trust: Trust) -> Self {
        Self { client, trust }
    }
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier").finish_non_exhaustive()
    }
}

impl Check for Verifier {
    async fn check(
        &self,
        image: &str,
        _deadline: tokio::time::Instant,
    ) -> Result<Arc<Verification>, Failure> {
        crate::verify::verify_reference(&self.client, image, &self.trust)
            .await
            .map(Arc::new)
            .map_err(|e| Failure {
                message: e.to_string(),
                class: e.class(),
            })
    }
}
