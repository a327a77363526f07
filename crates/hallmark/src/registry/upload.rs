//! Uploading blobs: monolithic from memory, streamed from anywhere (chunked above the
//! chunk size), cross-repository mounts, and cancelling a session that went wrong.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue, LOCATION};
use reqwest::{Method, StatusCode};

use super::http::{resolve_url, with_query};
use super::manifests::header_digest;
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

/// How often one blob's upload may start a new session because the registry lost the
/// old one while the client authenticated again.
const MAX_SESSION_RESTARTS: u32 = 2;

/// How one upload session ended.
enum Attempt {
    Done(BlobPush),
    /// The session is gone; a new one may succeed (the error says why, if none does).
    Restart(RegistryError),
}

/// What one request of a session got.
enum Sent {
    Answer(reqwest::Response),
    /// The registry no longer knows the session after a re-authentication.
    SessionLost(RegistryError),
}

/// The bytes of one session on their way: hashed and counted as they are sent.
struct Sending<'a> {
    blob: &'a Blob,
    state: Arc<Mutex<Hashed>>,
    progress: Progress,
}

/// What has been hashed so far, and by which attempt at sending the current part. A
/// connection whose request was refused may still pull bytes from its body for a moment:
/// only the current attempt's bytes count, so nothing is hashed twice.
#[derive(Clone)]
struct Hashed {
    hasher: Hasher,
    sent: u64,
    attempt: u64,
}

impl Sending<'_> {
    /// A body of `len` bytes of the blob from `start`, hashed and counted as it goes.
    async fn body(&self, start: u64, len: u64) -> Result<reqwest::Body, RegistryError> {
        use futures_util::StreamExt;
        if len == 0 {
            return Ok(reqwest::Body::from(Vec::new()));
        }
        let blob = self.blob;
        let stream =
            blob.stream_range(start, len)
                .await
                .map_err(|source| RegistryError::SourceRead {
                    origin: blob.data.origin(),
                    digest: blob.digest.clone(),
                    source,
                })?;
        let (state, progress) = (self.state.clone(), self.progress.clone());
        let attempt = state.lock().expect("hash lock").attempt;
        let stream = stream.map(move |chunk| {
            if let Ok(c) = &chunk {
                let mut st = state.lock().expect("hash lock");
                if st.attempt == attempt {
                    st.hasher.update(c);
                    st.sent += c.len() as u64;
                    progress(st.sent);
                }
            }
            chunk
        });
        Ok(reqwest::Body::wrap_stream(stream))
    }
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
    pub(crate) async fn push_blob(
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
        let (mut attempt, mut restarts) = (0, 0);
        loop {
            match self.upload_once(&job).await {
                Err(e) if attempt < self.opts.retries && e.is_transient() => {
                    attempt += 1;
                    self.pause(attempt).await;
                }
                Ok(Attempt::Restart(_)) if restarts < MAX_SESSION_RESTARTS => {
                    restarts += 1;
                    self.trace(|| {
                        format!(
                            "upload of {} lost its session after re-authenticating; starting a new one ({restarts} of {MAX_SESSION_RESTARTS})",
                            blob.digest
                        )
                    });
                }
                Ok(Attempt::Restart(e)) => return Err(e),
                Ok(Attempt::Done(pushed)) => return Ok(pushed),
                Err(e) => return Err(e),
            }
        }
    }

    async fn upload_once(&self, job: &Upload<'_>) -> Result<Attempt, RegistryError> {
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
                StatusCode::CREATED => return Ok(Attempt::Done(BlobPush::Mounted)),
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
        let sending = Sending {
            blob,
            state: Arc::new(Mutex::new(Hashed {
                hasher: Hasher::new(blob.digest.algorithm()),
                sent: 0,
                attempt: 0,
            })),
            progress: progress.clone(),
        };
        let chunk_size = self.opts.chunk_size.max(1);
        let resp = if blob.size <= chunk_size {
            // Monolithic: the bytes go with the closing PUT.
            let final_url = with_query(&location, "digest", &blob.digest.to_string());
            let resp = match self
                .send_part(r, &sending, Method::PUT, &final_url, None, 0, blob.size)
                .await?
            {
                Sent::Answer(resp) => resp,
                Sent::SessionLost(e) => return Ok(Attempt::Restart(e)),
            };
            self.check_streamed(&sending.state, blob, &location, r)
                .await?;
            resp
        } else {
            let mut start = 0;
            while start < blob.size {
                let len = chunk_size.min(blob.size - start);
                let range = format!("{start}-{}", start + len - 1);
                let resp = match self
                    .send_part(
                        r,
                        &sending,
                        Method::PATCH,
                        &location,
                        Some(&range),
                        start,
                        len,
                    )
                    .await?
                {
                    Sent::Answer(resp) => resp,
                    Sent::SessionLost(e) => return Ok(Attempt::Restart(e)),
                };
                if resp.status() != StatusCode::ACCEPTED {
                    return Err(self.fail(&location, resp).await);
                }
                location = upload_location(&location, resp.headers())?;
                start += len;
            }
            self.check_streamed(&sending.state, blob, &location, r)
                .await?;
            let final_url = with_query(&location, "digest", &blob.digest.to_string());
            match self
                .send_part(r, &sending, Method::PUT, &final_url, None, blob.size, 0)
                .await?
            {
                Sent::Answer(resp) => resp,
                Sent::SessionLost(e) => return Ok(Attempt::Restart(e)),
            }
        };
        if resp.status() != StatusCode::CREATED {
            return Err(self.fail(&location, resp).await);
        }
        if let Some(d) = header_digest(resp.headers(), &blob.digest) {
            d.expect(&blob.digest, "uploaded blob")
                .map_err(RegistryError::Stored)?;
        }
        Ok(Attempt::Done(BlobPush::Uploaded))
    }

    /// Sends one streamed request of an upload session carrying bytes `start..start+len`
    /// of the blob (`range`: the `Content-Range` of a PATCH). A token can expire between
    /// the requests of a long upload, so a 401 is answered by authenticating again and
    /// sending the same bytes once more, to the same place: the registry refused the
    /// request before reading it. Bytes of a refused attempt are taken back out of the hash
    /// and the progress, so the hash covers what was accepted, once. If the registry had
    /// taken the bytes after all, the session no longer stands where its `Location` says
    /// (distribution answers 400 and cancels it, others 404 or 416): a new session is
    /// needed, and the caller starts one.
    #[allow(clippy::too_many_arguments)]
    async fn send_part(
        &self,
        r: &ImageRef,
        sending: &Sending<'_>,
        method: Method,
        url: &str,
        range: Option<&str>,
        start: u64,
        len: u64,
    ) -> Result<Sent, RegistryError> {
        let mut reauthenticated = false;
        loop {
            let before = sending.state.lock().expect("hash lock").clone();
            let mut headers = octets(len);
            if let Some(range) = range {
                headers.insert(
                    "content-range",
                    range.parse().expect("a range of numbers is a valid header"),
                );
            }
            let body = sending.body(start, len).await?;
            let resp = self
                .send_stream(r, method.clone(), url, headers, body)
                .await?;
            let status = resp.status();
            if status == StatusCode::UNAUTHORIZED && !reauthenticated {
                reauthenticated = true;
                *sending.state.lock().expect("hash lock") = Hashed {
                    attempt: before.attempt + 1,
                    ..before.clone()
                };
                (sending.progress)(before.sent);
                self.trace(|| {
                    format!("{method} {url} was refused (401) mid-upload; authenticating again")
                });
                self.reauthenticate(r, &resp).await?;
                continue;
            }
            if reauthenticated
                && matches!(
                    status,
                    StatusCode::BAD_REQUEST
                        | StatusCode::NOT_FOUND
                        | StatusCode::RANGE_NOT_SATISFIABLE
                )
            {
                return Ok(Sent::SessionLost(self.fail(url, resp).await));
            }
            return Ok(Sent::Answer(resp));
        }
    }

    /// After the bytes were sent: they must hash to the digest the manifest names, or the
    /// upload is cancelled so that nothing half-right is committed. The blob's source is
    /// blamed, not the registry.
    async fn check_streamed(
        &self,
        state: &Arc<Mutex<Hashed>>,
        blob: &Blob,
        location: &str,
        r: &ImageRef,
    ) -> Result<(), RegistryError> {
        let h = {
            let mut st = state.lock().expect("hash lock");
            // Whatever a body still yields after this is not what was sent.
            st.attempt += 1;
            std::mem::replace(&mut st.hasher, Hasher::new(blob.digest.algorithm()))
        };
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
        let url = self.repo_url(r, &format!("blobs/uploads/{query}")).await;
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
