//! The OCI 1.1 referrers API.

use reqwest::StatusCode;
use reqwest::header::{ACCEPT, HeaderMap, HeaderValue};

use super::{Client, RegistryError};
use crate::digest::Digest;
use crate::oci::{Index, MAX_MANIFEST_BYTES, OCI_INDEX};
use crate::reference::ImageRef;

impl Client {
    /// The referrers of `digest` through the referrers API; `None` when the registry has no
    /// such API (it answers 404, as Debian's docker-registry 2.8 does), so that the caller
    /// falls back to the `sha256-<hex>` tag.
    pub async fn referrers(
        &self,
        r: &ImageRef,
        digest: &Digest,
    ) -> Result<Option<Index>, RegistryError> {
        let url = self.repo_url(r, &format!("referrers/{digest}")).await;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(OCI_INDEX));
        let resp = self.get(r, &url, headers).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        let body = self.read_small(resp, MAX_MANIFEST_BYTES, &url).await?;
        Index::parse(&body)
            .map(Some)
            .map_err(|source| RegistryError::Malformed { url, source })
    }
}
