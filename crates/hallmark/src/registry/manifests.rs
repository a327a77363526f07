//! Manifests: read (hashed, checked against the digest asked for), write, delete.

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderValue};

use super::{Client, RegistryError};
use crate::digest::Digest;
use crate::oci::{MANIFEST_ACCEPT, MAX_MANIFEST_BYTES, Manifest};
use crate::reference::ImageRef;

pub(super) const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// The digest a registry says it stored, when it says one that parses and that can be
/// compared with `ours`: registries name content by their canonical algorithm (SHA-256),
/// which says nothing about a SHA-512 name.
pub(super) fn header_digest(h: &HeaderMap, ours: &Digest) -> Option<Digest> {
    let d: Digest = h.get(DOCKER_CONTENT_DIGEST)?.to_str().ok()?.parse().ok()?;
    (d.algorithm() == ours.algorithm()).then_some(d)
}

impl Client {
    /// Fetches a manifest by tag or digest and hashes it. `None` when the registry has none.
    /// When `reference` is a digest, bytes that hash to anything else are an error.
    pub async fn get_manifest(
        &self,
        r: &ImageRef,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let url = self.repo_url(r, &format!("manifests/{reference}")).await;
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_static(MANIFEST_ACCEPT));
        let Some(resp) = self.get_found(r, &url, headers).await? else {
            return Ok(None);
        };
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let bytes = self.read_small(resp, MAX_MANIFEST_BYTES, &url).await?;
        let m = Manifest::from_bytes(bytes, content_type)
            .map_err(|source| RegistryError::Malformed { url, source })?;
        match reference.parse::<Digest>() {
            Ok(expected) => Ok(Some(m.named(&expected).map_err(RegistryError::Served)?)),
            Err(_) => Ok(Some(m)),
        }
    }

    /// Stores a manifest under a tag or its digest. Fails if the registry reports a
    /// different digest than the bytes we sent.
    pub async fn put_manifest(
        &self,
        r: &ImageRef,
        reference: &str,
        m: &Manifest,
    ) -> Result<(), RegistryError> {
        self.store_manifest(r, reference, m, true).await
    }

    /// [`Client::put_manifest`], not sent again after a failure that may have reached the
    /// registry: a write to a tag other writers share must not land twice, late.
    pub(crate) async fn put_manifest_once(
        &self,
        r: &ImageRef,
        reference: &str,
        m: &Manifest,
    ) -> Result<(), RegistryError> {
        self.store_manifest(r, reference, m, false).await
    }

    async fn store_manifest(
        &self,
        r: &ImageRef,
        reference: &str,
        m: &Manifest,
        resend_unanswered: bool,
    ) -> Result<(), RegistryError> {
        let url = self.repo_url(r, &format!("manifests/{reference}")).await;
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            m.media_type
                .parse()
                .map_err(|_| RegistryError::MediaType(m.media_type.clone()))?,
        );
        let body = m.bytes.clone();
        let resp = if resend_unanswered {
            self.put(r, &url, headers, body).await?
        } else {
            self.put_once(r, &url, headers, body).await?
        };
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        if let Some(d) = header_digest(resp.headers(), &m.digest) {
            d.expect(&m.digest, &format!("manifest stored at {url}"))
                .map_err(RegistryError::Stored)?;
        }
        Ok(())
    }

    /// Deletes a manifest by digest (registries must have deletion enabled).
    pub async fn delete_manifest(
        &self,
        r: &ImageRef,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        self.delete_manifest_at(r, &digest.to_string()).await
    }

    /// Deletes what a tag or digest names (deleting by tag is not in every registry).
    pub(crate) async fn delete_manifest_at(
        &self,
        r: &ImageRef,
        reference: &str,
    ) -> Result<(), RegistryError> {
        let url = self.repo_url(r, &format!("manifests/{reference}")).await;
        let resp = self.call(r, reqwest::Method::DELETE, &url).await?;
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_digests_are_compared_only_in_the_same_algorithm() {
        let ours = Digest::sha256(b"x");
        let mut h = HeaderMap::new();
        h.insert(DOCKER_CONTENT_DIGEST, ours.to_string().parse().unwrap());
        assert_eq!(header_digest(&h, &ours), Some(ours.clone()));
        let mut hasher = crate::digest::Hasher::new(crate::digest::Algorithm::Sha512);
        hasher.update(b"x");
        assert_eq!(header_digest(&h, &hasher.finish()), None);
        h.insert(DOCKER_CONTENT_DIGEST, "garbage".parse().unwrap());
        assert_eq!(header_digest(&h, &ours), None);
    }
}
