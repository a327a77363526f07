//! Uploading blobs: monolithic from memory, streamed from anywhere (chunked above the
//! chunk size), cross-repository mounts, and cancelling a session that went wrong.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};

use super::manifests::header_digest;
use super::transport::{resolve_url, with_query};
use super::{BlobPush, Client, Progress, RegistryError, Violation};
use crate::digest::{Digest, Hasher};
use crate::oci::Blob;
use crate::reference::ImageRef;

fn octets(len: u64) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(CONTENT_LENGTH, len.into());
    h
}

/// Where the next request of an upload session goes.
pub(super) fn upload_location(url: &str, headers: &HeaderMap) -> Result<String, RegistryError> {
    let violation = |violation| RegistryError::Protocol {
        url: url.to_string(),
        violation,
    };
    let loc = headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| violation(Violation::NoLocation))?;
    resolve_url(url, loc).map_err(violation)
}

/// One blob to push, as every attempt sees it.
struct Upload<'a> {
    r: &'a ImageRef,
    blob: &'a Blob,
    mount_from: &'a [String],
    progress: Progress,
}

impl Client {
    /// Uploads a blob held in memory (monolithic POST + PUT), unless already present.
    pub async fn put_blob(
        &self,
        r: &ImageRef,
        digest: &Digest,
        bytes: Bytes,
    ) -> Result<(), RegistryError> {
        digest.verify(&bytes, "blob to upload").map_err(|source| {
            RegistryError::SourceMismatch {
                origin: "memory".into(),
                source,
            }
        })?;
        if self.blob_exists(r, digest).await? {
            return Ok(());
        }
        let location = self.start_upload(r).await?;
        let url = with_query(&location, "digest", &digest.to_string());
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        let resp = self.put(r, &url, headers, bytes).await?;
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        if let Some(d) = header_digest(resp.headers(), digest) {
            d.expect(digest, "uploaded blob")
                .map_err(RegistryError::Stored)?;
        }
        Ok(())
    }

    /// Uploads a blob from wherever its bytes are, streamed and hashed on the way, unless
    /// the repository has it or can mount it from one of `mount_from` (same registry).
    /// `progress` receives the number of bytes sent so far in the current attempt.
    pub async fn push_blob(
        &self,
        r: &ImageRef,
        blob: &Blob,
        mount_from: &[String],
        progress: Progress,
    ) -> Result<BlobPush, RegistryError> {
        if self.blob_exists(r, &blob.digest).await? {
            return Ok(BlobPush::Present);
        }
        let job = Upload {
            r,
            blob,
            mount_from,
            progress,
        };
        let mut attempt = 0;
        loop {
            match self.upload_once(&job).await {
                Err(e) if attempt < self.opts.retries && e.is_transient() => {
                    attempt += 1;
                    self.pause(attempt).await;
                }
                other => return other,
            }
        }
    }

    async fn upload_once(&self, job: &Upload<'_>) -> Result<BlobPush, RegistryError> {
        let Upload {
            r,
            blob,
            mount_from,
            progress,
        } = job;
        let mut location = None;
        for from in mount_from.iter().filter(|f| f.as_str() != r.repository()) {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("mount", &blob.digest.to_string())
                .append_pair("from", from)
                .finish();
            let (url, resp) = self.post_upload(r, &format!("?{q}")).await?;
            match resp.status() {
                StatusCode::CREATED => return Ok(BlobPush::Mounted),
                // The registry could not mount and opened an ordinary upload instead.
                StatusCode::ACCEPTED => {
                    location = Some(upload_location(&url, resp.headers())?);
                    break;
                }
                _ => continue,
            }
        }
        let mut location = match location {
            Some(l) => l,
            None => self.start_upload(r).await?,
        };
        let hasher = Arc::new(Mutex::new(Hasher::new(blob.digest.algorithm())));
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let body = |start: u64, len: u64| {
            let hasher = hasher.clone();
            let sent = sent.clone();
            let progress = progress.clone();
            async move {
                use futures_util::StreamExt;
                let stream = blob.stream_range(start, len).await.map_err(|source| {
                    RegistryError::SourceRead {
                        origin: blob.data.origin(),
                        digest: blob.digest.clone(),
                        source,
                    }
                })?;
                let stream = stream.map(move |chunk| {
                    if let Ok(c) = &chunk {
                        hasher.lock().expect("hasher lock").update(c);
                        let total = sent
                            .fetch_add(c.len() as u64, std::sync::atomic::Ordering::Relaxed)
                            + c.len() as u64;
                        progress(total);
                    }
                    chunk
                });
                Ok::<_, RegistryError>(reqwest::Body::wrap_stream(stream))
            }
        };
        let chunk_size = self.opts.chunk_size.max(1);
        let resp = if blob.size <= chunk_size {
            // Monolithic: the bytes go with the closing PUT.
            let final_url = with_query(&location, "digest", &blob.digest.to_string());
            let body = body(0, blob.size).await?;
            let resp = self
                .send_stream(r, Method::PUT, &final_url, octets(blob.size), body)
                .await?;
            self.check_streamed(&hasher, blob, &location, r).await?;
            resp
        } else {
            let mut start = 0;
            while start < blob.size {
                let len = chunk_size.min(blob.size - start);
                let mut headers = octets(len);
                let range = format!("{start}-{}", start + len - 1);
                headers.insert(
                    "content-range",
                    range.parse().expect("a range of numbers is a valid header"),
                );
                let body = body(start, len).await?;
                let resp = self
                    .send_stream(r, Method::PATCH, &location, headers, body)
                    .await?;
                if resp.status() != StatusCode::ACCEPTED {
                    return Err(self.fail(&location, resp).await);
                }
                location = upload_location(&location, resp.headers())?;
                start += len;
            }
            self.check_streamed(&hasher, blob, &location, r).await?;
            let final_url = with_query(&location, "digest", &blob.digest.to_string());
            let empty = reqwest::Body::from(Vec::new());
            self.send_stream(r, Method::PUT, &final_url, octets(0), empty)
                .await?
        };
        if resp.status() != StatusCode::CREATED {
            return Err(self.fail(&location, resp).await);
        }
        if let Some(d) = header_digest(resp.headers(), &blob.digest) {
            d.expect(&blob.digest, "uploaded blob")
                .map_err(RegistryError::Stored)?;
        }
        Ok(BlobPush::Uploaded)
    }

    /// After the bytes were sent: they must hash to the digest the manifest names, or the
    /// upload is cancelled so that nothing half-right is committed. The blob's source is
    /// blamed, not the registry.
    async fn check_streamed(
        &self,
        hasher: &Arc<Mutex<Hasher>>,
        blob: &Blob,
        location: &str,
        r: &ImageRef,
    ) -> Result<(), RegistryError> {
        let h = std::mem::replace(
            &mut *hasher.lock().expect("hasher lock"),
            Hasher::new(blob.digest.algorithm()),
        );
        if h.len() != blob.size {
            self.cancel_upload(r, location).await;
            return Err(RegistryError::SourceLength {
                origin: blob.data.origin(),
                digest: blob.digest.clone(),
                read: h.len(),
                size: blob.size,
            });
        }
        let actual = h.finish();
        if actual != blob.digest {
            self.cancel_upload(r, location).await;
            return actual
                .expect(&blob.digest, &format!("blob {}", blob.digest))
                .map_err(|source| RegistryError::SourceMismatch {
                    origin: blob.data.origin(),
                    source,
                });
        }
        Ok(())
    }

    /// Abandons an upload session; best effort, the registry expires it anyway.
    async fn cancel_upload(&self, r: &ImageRef, location: &str) {
        let _ = self.call(r, Method::DELETE, location).await;
    }

    /// POST to the upload endpoint (`query` may ask for a cross-repository mount).
    async fn post_upload(
        &self,
        r: &ImageRef,
        query: &str,
    ) -> Result<(String, reqwest::Response), RegistryError> {
        let url = self.repo_url(r, &format!("blobs/uploads/{query}"));
        let resp = self.call(r, Method::POST, &url).await?;
        Ok((url, resp))
    }

    async fn start_upload(&self, r: &ImageRef) -> Result<String, RegistryError> {
        let (url, resp) = self.post_upload(r, "").await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.fail(&url, resp).await);
        }
        upload_location(&url, resp.headers())
    }
}
