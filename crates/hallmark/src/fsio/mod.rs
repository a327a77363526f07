//! Local files, read the one careful way: bounded by bytes actually read, regular files
//! only, never through a symlink that leaves the directory being read, and written
//! atomically.
//!
//! Layouts and archives arrive from others, so a blob may be a symlink to `/dev/zero`, a
//! FIFO, or a link to `/etc/shadow`; every read of them goes through here. The paths a
//! user names for `audit` and `pin` are walked here too (`walk`), and their files read here.

pub mod walk;

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
    /// A file that changed between being read and being rewritten: the edit is kept.
    #[error("{path} changed while hallmark was working; nothing was written to it")]
    Changed {
        /// The file.
        path: PathBuf,
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
            Self::Io { .. } | Self::Changed { .. } => ErrorClass::Unavailable,
            Self::NotRegular { .. } | Self::OutsideRoot { .. } | Self::TooLarge { .. } => {
                ErrorClass::Usage
            }
        }
    }

    /// What is wrong, without the path: for messages that already name the file.
    pub fn reason(&self) -> String {
        match self {
            Self::Io { source, .. } => source.to_string(),
            Self::NotRegular { .. } => "not a regular file".into(),
            Self::OutsideRoot { root, .. } => format!("links outside {}", root.display()),
            Self::TooLarge { limit, .. } => format!("larger than the {limit}-byte limit"),
            Self::Changed { .. } => "changed while hallmark was working".into(),
        }
    }
}

pub(crate) fn io_error(path: &Path) -> impl Fn(std::io::Error) -> FileError + '_ {
    move |source| FileError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// The most bytes read of each kind of local input: each far above any real one of its
/// kind, and small enough that `/dev/zero` or a runaway generator is refused at once.
pub mod limits {
    /// A PEM key, public or encrypted private (cosign's are under 1 KiB).
    pub const KEY: u64 = 64 * 1024;
    /// A TOML policy file.
    pub(crate) const POLICY: u64 = 1024 * 1024;
    /// An attestation's predicate: its statement, base64-encoded in a bundle, must stay
    /// under the 1 MiB bundle limit that verification applies.
    pub const PREDICATE: u64 = 512 * 1024;
    /// A `--ca-file` PEM bundle (a whole system bundle is about 250 KiB).
    pub(crate) const CA_FILE: u64 = 4 * 1024 * 1024;
    /// A registry password or token on standard input.
    pub const PASSWORD: u64 = 64 * 1024;
    /// Docker's `config.json`.
    pub const DOCKER_CONFIG: u64 = 4 * 1024 * 1024;
}

/// Opens `path` for reading without blocking on a FIFO, and checks what was opened (not
/// what was there a moment before) is a regular file.
pub(crate) fn open_regular(path: &Path) -> Result<std::fs::File, FileError> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io_error(path))?;
    let meta = f.metadata().map_err(io_error(path))?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    Ok(f)
}

/// Checks that `path` is a regular file that, through any symlinks, stays inside `root`
/// (when given). A missing file is `Ok(None)`; otherwise its size.
pub(crate) fn check_regular(path: &Path, root: Option<&Path>) -> Result<Option<u64>, FileError> {
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
    let f = open_regular(path)?;
    read_stream_bounded(f, path, limit).map(Some)
}

/// Reads a local input the user named: a regular file (FIFOs, devices and directories
/// are refused, so nothing blocks or runs without end), at most `limit` bytes.
pub fn read_input(path: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    read_bounded(path, None, limit)?.ok_or_else(|| FileError::Io {
        path: path.to_path_buf(),
        source: std::io::ErrorKind::NotFound.into(),
    })
}

/// Reads a stream (standard input) to its end, refusing more than `limit` bytes; `name`
/// says what it is in the error.
pub fn read_stream_bounded(r: impl Read, name: &Path, limit: u64) -> Result<Vec<u8>, FileError> {
    let mut bytes = Vec::new();
    r.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(io_error(name))?;
    if bytes.len() as u64 > limit {
        return Err(FileError::TooLarge {
            path: name.to_path_buf(),
            limit,
        });
    }
    Ok(bytes)
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Writes a file inside a directory hallmark manages (an OCI layout) so that readers see
/// the old or the new content, never half of it. Only a regular file is replaced: a
/// symlink, device or FIFO under the name is refused, so nothing is written outside the
/// directory and no special file is ever turned into a regular one.
///
/// The file is always replaced by a rename, never rewritten in place: not when it has
/// other hard links (a layout copied with `cp -al`, whose twin must not change with it,
/// nor be seen half-written), nor when its owner cannot be kept.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    let existing = replaceable(path)?;
    replace_regular(path, existing.as_ref(), bytes, None, false)
}

/// Creates `path` holding `bytes`, complete, unless something is already there: then
/// nothing is written and the answer is false. For files several processes may create
/// at once (a new layout's `index.json`): the first one stands, whatever came after.
pub fn write_new(path: &Path, bytes: &[u8]) -> Result<bool, FileError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".hallmark-")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(io_error(dir))?;
    tmp.write_all(bytes).map_err(io_error(path))?;
    tmp.as_file().sync_all().map_err(io_error(path))?;
    match tmp.persist_noclobber(path) {
        Ok(_) => Ok(true),
        Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(io_error(path)(e.error)),
    }
}

/// What a file hallmark manages may be replaced by a rename: nothing, or a regular file
/// (not followed through a symlink). Anything else under the name is refused.
pub(crate) fn replaceable(path: &Path) -> Result<Option<std::fs::Metadata>, FileError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_file() => Ok(Some(m)),
        Ok(_) => Err(FileError::NotRegular {
            path: path.to_path_buf(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

/// Writes an output file the user named (`--bundle`, `--output-signature`, `man --dir`).
///
/// A regular file, or a name that does not exist yet, is replaced atomically. A character
/// device or a FIFO (`/dev/null`, a pipe to another process) is written through, never
/// replaced; so is a symlink (`/dev/stdout`, a link into a shared directory): the file it
/// names is written in place and the link stays. A directory, block device or socket is
/// refused.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            replace_regular(path, None, bytes, None, true)
        }
        Err(e) => Err(io_error(path)(e)),
        Ok(m) if m.is_file() => replace_regular(path, Some(&m), bytes, None, true),
        Ok(m) if m.file_type().is_symlink() => write_through(path, bytes),
        Ok(m) if m.file_type().is_char_device() || m.file_type().is_fifo() => {
            write_through(path, bytes)
        }
        Ok(_) => Err(FileError::NotRegular {
            path: path.to_path_buf(),
        }),
    }
}

/// Writes several outputs as one: every plain file (absent, or regular with one link) is
/// written to a temporary sibling first, and only once all are complete are they renamed
/// into place; the others (devices, FIFOs, symlinks, hard-linked files) are then written
/// as [`write_output`] does. When any step fails, the outputs already renamed into place
/// are removed, so that no output is left without the others.
pub fn write_outputs(outputs: &[(&Path, &[u8])]) -> Result<(), FileError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let mut staged = Vec::new();
    let mut through = Vec::new();
    for &(path, bytes) in outputs {
        let existing = match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_error(path)(e)),
            Ok(m) if m.is_file() && m.nlink() == 1 => Some(m),
            Ok(_) => {
                through.push((path, bytes));
                continue;
            }
        };
        let dir = parent_dir(path);
        let mut tmp = tempfile::Builder::new()
            .prefix(".hallmark-")
            .permissions(std::fs::Permissions::from_mode(0o666))
            .tempfile_in(dir)
            .map_err(io_error(dir))?;
        if let Some(m) = &existing {
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))
                .map_err(io_error(path))?;
        }
        tmp.write_all(bytes).map_err(io_error(path))?;
        tmp.as_file().sync_all().map_err(io_error(path))?;
        staged.push((path, tmp));
    }
    let mut placed: Vec<&Path> = Vec::new();
    let undo = |placed: &[&Path]| {
        for p in placed {
            let _ = std::fs::remove_file(p);
        }
    };
    for (path, tmp) in staged {
        if let Err(e) = tmp.persist(path) {
            undo(&placed);
            return Err(io_error(path)(e.error));
        }
        placed.push(path);
    }
    for (path, bytes) in through {
        if let Err(e) = write_output(path, bytes) {
            undo(&placed);
            return Err(e);
        }
    }
    Ok(())
}

/// True when two output names would land in one file, so that the second write would
/// destroy the first: the same regular file when both exist (hard links, symlinks, `./x`
/// and `x`), else the same canonical directory and name once symlinks, dangling ones
/// included, are followed as [`write_output`] would follow them. A device both name
/// (`/dev/null` twice) is written through twice and keeps nothing to destroy.
pub fn same_output(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    if let (Ok(ma), Ok(mb)) = (std::fs::metadata(a), std::fs::metadata(b)) {
        return ma.is_file() && (ma.dev(), ma.ino()) == (mb.dev(), mb.ino());
    }
    matches!((output_name(a), output_name(b)), (Some(x), Some(y)) if x == y)
}

/// Where a write to `path` lands, by name, for a file that may not exist yet: its
/// symlinks followed (a bounded number of times), its directory made canonical.
fn output_name(path: &Path) -> Option<PathBuf> {
    // As many links as the kernel itself follows before giving up (ELOOP).
    const MAX_LINKS: usize = 40;
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match std::fs::read_link(&path) {
            Ok(target) => path = parent_dir(&path).join(target),
            Err(_) => {
                let dir = std::fs::canonicalize(parent_dir(&path)).ok()?;
                return match path.file_name() {
                    Some(name) => Some(dir.join(name)),
                    None => std::fs::canonicalize(&path).ok(),
                };
            }
        }
    }
    None
}

/// Rewrites a file the user keeps (a deployment file `pin` updates) from `old`, the text
/// read before, to `new`, unless it changed since ([`FileError::Changed`]): an edit made
/// meanwhile is never reverted. A file that already holds `new` (a second name of a file
/// just rewritten) is left as it is. A symlink is followed and the file it names is replaced;
/// mode and owner are kept; a file with several hard links, or whose owner this process
/// cannot give a new file, is rewritten in place (keeping its links and owner, though not
/// atomically).
pub(crate) fn rewrite_unchanged(path: &Path, old: &[u8], new: &[u8]) -> Result<(), FileError> {
    let real = std::fs::canonicalize(path).map_err(io_error(path))?;
    let meta = std::fs::metadata(&real).map_err(io_error(path))?;
    if !meta.is_file() {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    let limit = (new.len() as u64).saturating_add(1);
    if matches!(read_bounded(&real, None, limit), Ok(Some(now)) if now == new) {
        return Ok(());
    }
    replace_regular(&real, Some(&meta), new, Some((path, old)), true)
}

/// Fails with [`FileError::Changed`] unless `path` still holds exactly `old`.
fn ensure_unchanged(path: &Path, shown: &Path, old: &[u8]) -> Result<(), FileError> {
    let limit = (old.len() as u64).saturating_add(1);
    let now = match read_bounded(path, None, limit) {
        Ok(Some(now)) => now,
        Ok(None) | Err(FileError::TooLarge { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    if Digest::sha256(&now) != Digest::sha256(old) {
        return Err(FileError::Changed {
            path: shown.to_path_buf(),
        });
    }
    Ok(())
}

/// Replaces the regular file `path` (described by `existing`, or absent) with `bytes`
/// through a temporary file and a rename, keeping mode and owner; in place when a rename
/// would cut hard links or change the owner. With `unchanged`, the file must still hold
/// those bytes just before the switch.
fn replace_regular(
    path: &Path,
    existing: Option<&std::fs::Metadata>,
    bytes: &[u8],
    unchanged: Option<(&Path, &[u8])>,
    may_write_in_place: bool,
) -> Result<(), FileError> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = parent_dir(path);
    let mut tmp = tempfile::Builder::new()
        .prefix(".hallmark-")
        .permissions(std::fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
        .map_err(io_error(dir))?;
    let mut in_place = false;
    if let Some(m) = existing {
        // fchmod ignores the umask, so the mode is the old file's exactly.
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(m.mode() & 0o7777))
            .map_err(io_error(path))?;
        let mine = tmp.as_file().metadata().map_err(io_error(path))?;
        let owner_kept = (mine.uid(), mine.gid()) == (m.uid(), m.gid())
            || std::os::unix::fs::fchown(tmp.as_file(), Some(m.uid()), Some(m.gid())).is_ok();
        in_place = may_write_in_place && (m.nlink() > 1 || !owner_kept);
    }
    if in_place {
        drop(tmp);
        if let Some((shown, old)) = unchanged {
            ensure_unchanged(path, shown, old)?;
        }
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_error(path))?;
        f.set_len(0).map_err(io_error(path))?;
        f.write_all(bytes).map_err(io_error(path))?;
        return f.sync_all().map_err(io_error(path));
    }
    tmp.write_all(bytes).map_err(io_error(path))?;
    tmp.as_file().sync_all().map_err(io_error(path))?;
    if let Some((shown, old)) = unchanged {
        ensure_unchanged(path, shown, old)?;
    }
    tmp.persist(path).map_err(|e| io_error(path)(e.error))?;
    Ok(())
}

/// Writes into the file `path` names (through symlinks) without replacing it: a device or
/// FIFO stays what it is; a regular file is truncated and rewritten. A block device is
/// refused: its contents are a disk's, not an output's.
fn write_through(path: &Path, bytes: &[u8]) -> Result<(), FileError> {
    use std::os::unix::fs::FileTypeExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(io_error(path))?;
    let meta = f.metadata().map_err(io_error(path))?;
    let kind = meta.file_type();
    if meta.is_file() {
        f.set_len(0).map_err(io_error(path))?;
    } else if !(kind.is_char_device() || kind.is_fifo()) {
        return Err(FileError::NotRegular {
            path: path.to_path_buf(),
        });
    }
    f.write_all(bytes).map_err(io_error(path))?;
    f.flush().map_err(io_error(path))?;
    if meta.is_file() {
        f.sync_all().map_err(io_error(path))?;
    }
    Ok(())
}

/// Bytes at `offset` in a local file: a layout blob, or an entry inside a tarball.
#[derive(Debug, Clone)]
pub(crate) struct FileRange {
    /// The file.
    pub path: PathBuf,
    /// Where the blob starts in it.
    pub offset: u64,
}

impl FileRange {
    /// A blocking reader over `len` bytes starting `start` bytes in.
    pub(crate) fn open(&self, start: u64, len: u64) -> std::io::Result<impl Read + Send + use<>> {
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
    fn outputs_are_written_together_or_not_at_all() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::write(&a, b"old").unwrap();
        std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_outputs(&[(&a, b"new a"), (&b, b"new b")]).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), b"new a");
        assert_eq!(std::fs::read(&b).unwrap(), b"new b");
        let mode = std::fs::metadata(&a).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);

        let c = dir.path().join("c");
        let nowhere = dir.path().join("missing").join("d");
        assert!(write_outputs(&[(&c, b"c"), (&nowhere, b"d")]).is_err());
        assert!(!c.exists(), "the first output was left without the second");
        // A directory in place of an output: refused, and the first output not left.
        let e = dir.path().join("e");
        std::fs::create_dir(dir.path().join("f")).unwrap();
        assert!(write_outputs(&[(&e, b"e"), (&dir.path().join("f"), b"f")]).is_err());
        assert!(!e.exists());
    }

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

    fn kind(p: &Path) -> std::fs::FileType {
        std::fs::symlink_metadata(p).unwrap().file_type()
    }

    #[test]
    fn outputs_replace_regular_files_and_write_through_everything_else() {
        use std::os::unix::fs::{FileTypeExt, PermissionsExt};
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        // New and regular: replaced, mode kept.
        let plain = root.join("plain");
        write_output(&plain, b"one").unwrap();
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_output(&plain, b"two").unwrap();
        assert_eq!(std::fs::read(&plain).unwrap(), b"two");
        assert_eq!(
            std::fs::metadata(&plain).unwrap().permissions().mode() & 0o777,
            0o640
        );
        // A symlink: written through, still a link.
        let link = root.join("link");
        std::os::unix::fs::symlink(&plain, &link).unwrap();
        write_output(&link, b"three").unwrap();
        assert!(kind(&link).is_symlink());
        assert_eq!(std::fs::read(&plain).unwrap(), b"three");
        // A character device: still one; a failing one is an error.
        let null = root.join("null");
        std::os::unix::fs::symlink("/dev/null", &null).unwrap();
        write_output(&null, b"x").unwrap();
        assert!(kind(Path::new("/dev/null")).is_char_device());
        let full = root.join("full");
        std::os::unix::fs::symlink("/dev/full", &full).unwrap();
        assert!(matches!(
            write_output(&full, b"x"),
            Err(FileError::Io { .. })
        ));
        assert!(kind(Path::new("/dev/full")).is_char_device());
        // A FIFO: a reader gets the bytes, and it stays a FIFO.
        let fifo = root.join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_output(&fifo, b"piped").unwrap();
        assert!(kind(&fifo).is_fifo());
        assert_eq!(reader.join().unwrap(), b"piped");
        // A directory is refused.
        assert!(write_output(root, b"x").is_err());
        // Inside a managed directory, links and devices are refused and left alone.
        assert!(matches!(
            write_atomic(&null, b"x"),
            Err(FileError::NotRegular { .. })
        ));
        assert!(kind(&null).is_symlink());
        write_atomic(&plain, b"four").unwrap();
        assert_eq!(std::fs::read(&plain).unwrap(), b"four");
    }

    #[test]
    fn a_managed_file_with_another_link_is_renamed_over_not_rewritten() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let (f, twin) = (dir.path().join("index.json"), dir.path().join("twin.json"));
        std::fs::write(&f, b"old").unwrap();
        std::fs::hard_link(&f, &twin).unwrap();
        write_atomic(&f, b"new").unwrap();
        assert_eq!(std::fs::read(&f).unwrap(), b"new");
        assert_eq!(std::fs::read(&twin).unwrap(), b"old");
        assert_eq!(std::fs::metadata(&f).unwrap().nlink(), 1);
    }

    #[test]
    fn rewrites_refuse_a_changed_file_and_keep_hard_links() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("deploy.yaml");
        std::fs::write(&f, b"image: a:1\n").unwrap();
        assert!(matches!(
            rewrite_unchanged(&f, b"image: a:0\n", b"image: a:1@sha256:x\n"),
            Err(FileError::Changed { .. })
        ));
        assert_eq!(std::fs::read(&f).unwrap(), b"image: a:1\n");
        let other = dir.path().join("other.yaml");
        std::fs::hard_link(&f, &other).unwrap();
        rewrite_unchanged(&f, b"image: a:1\n", b"image: a:1@sha256:x\n").unwrap();
        assert_eq!(std::fs::read(&other).unwrap(), b"image: a:1@sha256:x\n");
        assert_eq!(std::fs::metadata(&f).unwrap().nlink(), 2);
        // The second name of a file just rewritten already holds the new text.
        rewrite_unchanged(&other, b"image: a:1\n", b"image: a:1@sha256:x\n").unwrap();
        let link = dir.path().join("link.yaml");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        std::fs::remove_file(&other).unwrap();
        rewrite_unchanged(&link, b"image: a:1@sha256:x\n", b"image: b\n").unwrap();
        assert!(kind(&link).is_symlink());
        assert_eq!(std::fs::read(&f).unwrap(), b"image: b\n");
    }

    #[test]
    fn new_files_never_replace_existing_ones() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("index.json");
        assert!(write_new(&f, b"first").unwrap());
        assert!(!write_new(&f, b"second").unwrap());
        assert_eq!(std::fs::read(&f).unwrap(), b"first");
        // Nothing is left behind by the write that lost.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn outputs_naming_one_file_are_recognised() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let (a, b) = (d.join("a.json"), d.join("b.json"));
        // Neither exists: by name, whatever way the directory is spelled.
        assert!(same_output(&a, &d.join(".").join("a.json")));
        assert!(!same_output(&a, &b));
        std::fs::create_dir(d.join("sub")).unwrap();
        assert!(same_output(&a, &d.join("sub/../a.json")));
        // A dangling link lands where it points.
        std::os::unix::fs::symlink("a.json", d.join("link")).unwrap();
        assert!(same_output(&d.join("link"), &a));
        assert!(!same_output(&d.join("link"), &b));
        // Existing files: by inode, through links and hard links.
        std::fs::write(&a, b"x").unwrap();
        std::fs::write(&b, b"x").unwrap();
        assert!(same_output(&d.join("link"), &a));
        std::fs::hard_link(&a, d.join("hard")).unwrap();
        assert!(same_output(&d.join("hard"), &a));
        assert!(!same_output(&a, &b));
        // A device written twice loses nothing.
        assert!(!same_output(Path::new("/dev/null"), Path::new("/dev/null")));
        // A loop of links is no file at all.
        std::os::unix::fs::symlink("loop2", d.join("loop1")).unwrap();
        std::os::unix::fs::symlink("loop1", d.join("loop2")).unwrap();
        assert!(!same_output(&d.join("loop1"), &d.join("loop2")));
    }

    #[test]
    fn streams_are_bounded() {
        let name = Path::new("standard input");
        assert_eq!(
            read_stream_bounded(&b"abc"[..], name, 3).unwrap(),
            b"abc".to_vec()
        );
        assert!(matches!(
            read_stream_bounded(std::io::repeat(0), name, 1024),
            Err(FileError::TooLarge { limit: 1024, .. })
        ));
    }
}
