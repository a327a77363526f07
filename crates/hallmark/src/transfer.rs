//! Moving blobs and tags into a destination: shared by `publish` and `copy`.

use std::sync::Arc;

use futures_util::{StreamExt, TryStreamExt};

use crate::Error;
use crate::oci::{Blob, Manifest};
use crate::registry::BlobPush;
use crate::store::Store;

/// Hooks for progress display; every method has a do-nothing default.
pub trait TransferProgress: Send + Sync {
    /// How many blobs will be moved, and their total size.
    fn blobs(&self, _count: usize, _total_bytes: u64) {}
    /// A blob started.
    fn blob_started(&self, _blob: &Blob) {}
    /// Bytes of a blob sent so far.
    fn blob_progress(&self, _blob: &Blob, _sent: u64) {}
    /// A blob is in place.
    fn blob_finished(&self, _blob: &Blob, _how: BlobPush) {}
    /// The next step of the command.
    fn step(&self, _message: &str) {}
}

/// No progress display.
pub struct Quiet;
impl TransferProgress for Quiet {}

/// What happened to the blobs of a transfer.
#[derive(Debug, Clone, Default, serde::Serialize)]
#[non_exhaustive]
pub struct BlobCounts {
    /// Sent.
    pub uploaded: usize,
    /// Already at the destination.
    pub present: usize,
    /// Mounted from another repository.
    pub mounted: usize,
    /// Bytes sent.
    pub bytes_uploaded: u64,
}

/// Pushes every blob, `concurrency` at a time, each streamed and digest-checked.
pub(crate) async fn push_blobs(
    blobs: &[Blob],
    dest: &Store,
    mount_from: &[String],
    concurrency: usize,
    progress: &Arc<dyn TransferProgress>,
) -> Result<BlobCounts, Error> {
    progress.blobs(blobs.len(), blobs.iter().map(|b| b.size).sum());
    let results: Vec<(BlobPush, u64)> = futures_util::stream::iter(blobs.iter())
        .map(|blob| {
            let progress = progress.clone();
            async move {
                progress.blob_started(blob);
                let hook = {
                    let (progress, blob) = (progress.clone(), blob.clone());
                    Arc::new(move |sent| progress.blob_progress(&blob, sent))
                };
                let how = dest.push_blob(blob, mount_from, hook).await?;
                progress.blob_finished(blob, how);
                Ok::<_, Error>((how, blob.size))
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect()
        .await?;
    let mut counts = BlobCounts::default();
    for (how, size) in results {
        match how {
            BlobPush::Uploaded => {
                counts.uploaded += 1;
                counts.bytes_uploaded += size;
            }
            BlobPush::Present => counts.present += 1,
            BlobPush::Mounted => counts.mounted += 1,
        }
    }
    Ok(counts)
}

/// Points every tag at `manifest`, then reads every tag back: a tag that someone else
/// moved in the meantime is drift, naming both digests.
pub(crate) async fn set_tags(
    dest: &Store,
    manifest: &Manifest,
    tags: &[String],
) -> Result<(), Error> {
    for tag in tags {
        dest.put_manifest(manifest, Some(tag)).await?;
    }
    for tag in tags {
        let actual = dest.get_manifest(tag).await?.map(|m| m.digest);
        if actual.as_ref() != Some(&manifest.digest) {
            return Err(match actual {
                Some(actual) => Error::Drift {
                    reference: dest.tagged(tag),
                    expected: manifest.digest.clone(),
                    actual,
                },
                None => Error::NotFound {
                    what: "tag just written",
                    reference: dest.tagged(tag),
                },
            });
        }
    }
    Ok(())
}
