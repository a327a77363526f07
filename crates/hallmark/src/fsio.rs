//! Local files, read the one careful way: bounded by bytes actually read, regular files
//! only, never through a symlink that leaves the directory being read, and written
//! atomically.
//!
//! Layouts and archives arrive from others, so a blob may be a symlink to `/dev/zero`, a
//! FIFO, or a link to `/etc/shadow`; every read of them goes through here.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::class::ErrorClass;
use crate::digest::Digest;
use crate::oci::{BlobData, RangeFuture};

const STREAM_BUF: usize = 256 * 1024;

/// A local file could not be read or written, or is not one hallmark will read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FileError {
    /// The operating system refused.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The system error.
        #[source]
        source: std::io::Error,
    },
    /// A FIFO, device, socket or directory where a regular file belongs.
    #[error("{path} is not a regular file")]
    NotRegular {
        /// The file.
        path: PathBuf,
    },
    /// A symlink that points outside the directory being read.
    #[error("{path} links outside {root}")]
    OutsideRoot {
        /// The link.
        path: PathBuf,
        /// The directory it must stay in.
        root: PathBuf,
    },
    /// More bytes than the limit for this kind of file.
    #[error("{path} is larger than the {limit}-byte limit")]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
}

impl FileError {
    /// I/O failures are outages; files that are not what a layout may hold are bad input.
    pub fn class(&self) -> ErrorClass {
        match self {
            FileError::Io { .. } => ErrorClass::Unavailable,
            FileError::NotRegular { .. }
            | FileError::OutsideRoot { .. }
            | FileError::TooLarge { .. } => ErrorClass::Usage,
        }
    }
}

pub(crate) fn io_error(path: &Path) -> impl Fn(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Checks that `path` is a regular file that, through any symlinks, stays inside `root`
/// (when given). A missing file is `Ok(None)`; otherwise its size.
pub fn check_regular(path: &Path, root: Option<&Path>) -> Result<Option<u64>, FileError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_error(path)(e)),
    };
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    if let Some(root) = root {
        let real = std::fs::canonicalize(path).map_err(io_error(path))?;
        let real_root = std::fs::canonicalize(root).map_err(io_error(root))?;
        if !real.starts_with(&real_root) {
            return Err(FileError::OutsideRoot {
                path: path.to_path_buf(),
                root: root.to_path_buf(),
            });
        }
    }
    Ok(Some(meta.len()))
}

/// Reads a whole small file, refusing more than `limit` bytes however large it claims
/// to be. `Ok(None)` when it does not exist.
pub fn read_bounded(
    path: &Path,
    root: Option<&Path>,
    limit: u64,
) -> Result<Option<Vec<u8>>, FileError> {
    if check_regular(path, root)?.is_none() {
        return Ok(None);
    }
    let f = std::fs::File::open(path).map_err(io_error(path))?;
    let mut bytes = Vec::new();
    f.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error(path))?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge {
            path: path.to_path_buf(),
            limit,
        });
    }
    Ok(Some(bytes))
}

/// Writes a file so that readers see the old or the new content, never half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io_error(dir))?;
    tmp.write_all(bytes).map_err(io_error(path))?;
    tmp.as_file().sync_all().map_err(io_error(path))?;
    tmp.persist(path).map_err(|e| io_error(path)(e.error))?;
    Ok(())
}

/// Bytes at `offset` in a local file: a layout blob, or an entry inside a tarball.
#[derive(Debug, Clone)]
pub struct FileRange {
    /// The file.
    pub path: PathBuf,
    /// Where the blob starts in it.
    pub offset: u64,
}

impl FileRange {
    /// A blocking reader over `len` bytes starting `start` bytes in.
    pub fn open(&self, start: u64, len: u64) -> std::io::Result<impl Read + Send + use<>> {
        let mut f = std::fs::File::open(&self.path)?;
        f.seek(SeekFrom::Start(self.offset + start))?;
        Ok(f.take(len))
    }
}

impl BlobData for FileRange {
    fn stream_range(&self, _: &Digest, start: u64, len: u64) -> RangeFuture {
        use futures_util::StreamExt;
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        let (path, offset) = (self.path.clone(), self.offset);
        Box::pin(async move {
            let mut f = tokio::fs::File::open(&path).await?;
            f.seek(SeekFrom::Start(offset + start)).await?;
            Ok(tokio_util::io::ReaderStream::with_capacity(f.take(len), STREAM_BUF).boxed())
        })
    }

    fn origin(&self) -> String {
        if self.offset == 0 {
            format!("file {}", self.path.display())
        } else {
            format!("file {} at offset {}", self.path.display(), self.offset)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_reads_refuse_devices_fifos_escapes_and_excess() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::write(root.join("ok"), b"12345").unwrap();
        assert_eq!(
            read_bounded(&root.join("ok"), Some(root), 5)
                .unwrap()
                .unwrap(),
            b"12345"
        );
        assert!(matches!(
            read_bounded(&root.join("ok"), Some(root), 4),
            Err(FileError::TooLarge { limit: 4, .. })
        ));
        assert!(
            read_bounded(&root.join("none"), Some(root), 4)
                .unwrap()
                .is_none()
        );
        std::os::unix::fs::symlink("/dev/zero", root.join("zero")).unwrap();
        assert!(matches!(
            read_bounded(&root.join("zero"), Some(root), 4),
            Err(FileError::NotRegular { .. })
        ));
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        assert!(matches!(
            read_bounded(&root.join("out"), Some(root), 4),
            Err(FileError::OutsideRoot { .. })
        ));
        std::os::unix::fs::symlink(root.join("ok"), root.join("in")).unwrap();
        assert!(read_bounded(&root.join("in"), Some(root), 5).is_ok());
        let fifo = root.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        assert!(matches!(
            read_bounded(&fifo, Some(root), 4),
            Err(FileError::NotRegular { .. })
        ));
    }
}
