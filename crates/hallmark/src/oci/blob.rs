//! Blobs to move: what they are (digest, size, media type) and where their bytes come from.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;

use crate::digest::Digest;

/// Blob bytes as they are read, in bounded pieces.
pub(crate) type ByteStream = futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// What [`BlobData::stream_range`] returns.
pub(crate) type RangeFuture = BoxFuture<'static, std::io::Result<ByteStream>>;

/// Where a blob's bytes can be read from: a local file, memory, or another store.
///
/// Readers hash what they get; an implementation only has to deliver bytes.
pub trait BlobData: Send + Sync {
    /// A stream over `len` bytes starting `start` bytes into the blob `digest`.
    fn stream_range(&self, digest: &Digest, start: u64, len: u64) -> RangeFuture;

    /// Where the bytes come from, for messages (`file /a/b`, `registry r/app`): a blob
    /// that does not match its digest is blamed on this place.
    fn origin(&self) -> String;
}

/// A blob to push: its digest, size and where to read it from.
#[derive(Clone)]
pub struct Blob {
    /// Content digest the bytes must hash to.
    pub digest: Digest,
    /// Exact size in bytes.
    pub size: u64,
    /// Media type from the manifest that lists it.
    pub media_type: String,
    /// Where the bytes are.
    pub data: Arc<dyn BlobData>,
}

impl fmt::Debug for Blob {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Blob({}, {} bytes, from {})",
            self.digest,
            self.size,
            self.data.origin()
        )
    }
}

impl Blob {
    /// A stream over `len` bytes starting `start` bytes into the blob.
    pub(crate) async fn stream_range(&self, start: u64, len: u64) -> std::io::Result<ByteStream> {
        self.data.stream_range(&self.digest, start, len).await
    }
}

/// Bytes held in memory (small configs, signature payloads).
#[derive(Clone)]
pub(super) struct InMemory(pub Bytes);

impl BlobData for InMemory {
    fn stream_range(&self, _: &Digest, start: u64, len: u64) -> RangeFuture {
        use futures_util::StreamExt;
        let end = start.saturating_add(len).min(self.0.len() as u64) as usize;
        let piece = self.0.slice((start as usize).min(end)..end);
        Box::pin(async move { Ok(futures_util::stream::once(async move { Ok(piece) }).boxed()) })
    }

    fn origin(&self) -> String {
        "memory".into()
    }
}

impl Blob {
    /// A blob whose bytes are in memory; the digest is computed here.
    pub(crate) fn in_memory(bytes: Bytes, media_type: &str) -> Self {
        Self {
            digest: Digest::sha256(&bytes),
            size: bytes.len() as u64,
            media_type: media_type.to_string(),
            data: Arc::new(InMemory(bytes)),
        }
    }
}
