//! Reading blobs: existence, small blobs whole (verified), large ones streamed.

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;

use super::http::transfer_deadline;
use super::{Client, RegistryError, Violation};
use crate::digest::Digest;
use crate::oci::{BlobData, ByteStream, RangeFuture};
use crate::reference::ImageRef;

impl Client {
    /// True when the repository already holds the blob.
    pub(crate) async fn blob_exists(
        &self,
        r: &ImageRef,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let url = self.repo_url(r, &format!("blobs/{digest}")).await;
        let resp = self.head(r, &url).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.fail(&url, resp).await),
        }
    }

    /// Reads a whole (small) blob, verified against its digest.
    pub async fn get_blob(
        &self,
        r: &ImageRef,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<Bytes>, RegistryError> {
        let url = self.repo_url(r, &format!("blobs/{digest}")).await;
        let Some(resp) = self.get_found(r, &url, HeaderMap::new()).await? else {
            return Ok(None);
        };
        let bytes = self.read_small(resp, limit, &url).await?;
        digest
            .verify(&bytes, &format!("blob {}", r.pinned(digest)))
            .map_err(RegistryError::Served)?;
        Ok(Some(bytes))
    }

    /// Streams `len` bytes of a blob from `start` (a Range request when partial). The
    /// stream fails if the registry sends more than asked; the caller hashes what it gets.
    pub(crate) async fn blob_stream(
        &self,
        r: &ImageRef,
        digest: &Digest,
        size: u64,
        start: u64,
        len: u64,
    ) -> Result<ByteStream, RegistryError> {
        use futures_util::StreamExt;
        let url = self.repo_url(r, &format!("blobs/{digest}")).await;
        let partial = start > 0 || len < size;
        let mut headers = HeaderMap::new();
        if partial {
            headers.insert(
                reqwest::header::RANGE,
                format!("bytes={start}-{}", start + len - 1)
                    .parse()
                    .expect("a range of numbers is a valid header"),
            );
        }
        let resp = self.get(r, &url, headers).await?;
        let violation = |url: String, violation| RegistryError::Protocol { url, violation };
        let expected = match resp.status() {
            StatusCode::OK if !partial || start == 0 => size,
            StatusCode::PARTIAL_CONTENT if partial => len,
            StatusCode::OK => return Err(violation(url, Violation::RangeIgnored)),
            _ => return Err(self.fail(&url, resp).await),
        };
        if let Some(n) = resp.content_length()
            && n != expected
        {
            return Err(violation(
                url,
                Violation::Length {
                    digest: digest.clone(),
                    served: n,
                    expected,
                },
            ));
        }
        // The body is read after this function returns: the request stays in flight, and
        // the minimum rate applies, until the stream ends.
        let pending = self.track(format!("GET {url} (body)"));
        let limit = transfer_deadline(self.opts.timeout, len);
        let deadline = tokio::time::Instant::now() + limit;
        let mut seen = 0u64;
        let stream = resp.bytes_stream().map(move |chunk| {
            let _ = &pending;
            let chunk = chunk.map_err(std::io::Error::other)?;
            seen += chunk.len() as u64;
            if seen > len {
                return Err(std::io::Error::other(format!(
                    "{url}: more bytes than the {len} declared"
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!(
                        "{url}: {seen} of {len} bytes after {}s, slower than the minimum of {} KiB/s",
                        limit.as_secs(),
                        super::http::MIN_RATE / 1024
                    ),
                ));
            }
            Ok(chunk)
        });
        Ok(stream.boxed())
    }
}

/// A blob in a registry repository, read over HTTP when it is needed (copy).
#[derive(Clone)]
pub(crate) struct RegistryBlob {
    /// The client to read with.
    pub client: Client,
    /// The repository holding the blob.
    pub repo: ImageRef,
    /// The blob's size, for deciding whether a read is partial.
    pub size: u64,
}

impl BlobData for RegistryBlob {
    fn stream_range(&self, digest: &Digest, start: u64, len: u64) -> RangeFuture {
        let (this, digest) = (self.clone(), digest.clone());
        Box::pin(async move {
            this.client
                .blob_stream(&this.repo, &digest, this.size, start, len)
                .await
                .map_err(std::io::Error::other)
        })
    }

    fn origin(&self) -> String {
        format!("registry {}", self.repo.name())
    }
}
