//! OCI image layout directories (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`).
//!
//! Tags are `org.opencontainers.image.ref.name` annotations in `index.json`. Signatures are
//! stored under the same `sha256-<hex>.sig` tag names as in a registry. Every file is read
//! through [`crate::fsio`]: bounded, regular files only, never through a link that leaves
//! the layout.
//!
//! Several processes may write one layout at once (signers of one digest, publishers of
//! different tags). `index.json` is replaced by a rename, so every read-modify-write of it
//! holds an exclusive advisory lock (`flock`) on `oci-layout`: a file every layout has and
//! that is never replaced once made, so every writer locks the same inode. Updates that
//! span several index writes (a shared `.sig` tag) hold [`Layout::lock`], a lock on the
//! layout directory itself: a second file, so that index writes inside it do not wait for
//! their own caller. Both are advisory: they order hallmark processes, not other tools.
//!
//! cosign's `save` and `load` know a layout's entries by a `kind` annotation instead of
//! tags: one image (or index), its `.sig` manifest and its `.att` manifest. Read, such a
//! layout's signatures get the tags they have in a registry, so that it verifies as any
//! layout does. Written, every index update marks the entries so whenever the layout holds
//! one artifact, so that `cosign load` pushes it with its signatures; with several, none
//! is marked, as cosign's format cannot tell which signatures belong to which. `cosign save`
//! keeps the image's referrers (cosign 3's Sigstore bundles) only as loose blobs, listed
//! nowhere: `Layout::loose_referrers` finds them as `cosign load` does, by their subject.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::class::ErrorClass;
use crate::digest::{Digest, DigestError, Hasher};
use crate::fsio::{self, FileError, FileRange};
use crate::oci::{
    self, Blob, DOCKER_MANIFEST_LIST, Index, IndexEntry, MAX_MANIFEST_BYTES, Manifest, OCI_INDEX,
    OciError,
};
use crate::reference::is_signature_tag;

const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// Files of `blobs/sha256` looked at for loose referrers: a `cosign save` layout has an
/// image's blobs and its referrers', far fewer.
const MAX_LOOSE_BLOBS: usize = 4 * oci::MAX_REFERENCES;

/// The annotation cosign's layouts name an entry's role with, and its values.
const COSIGN_KIND: &str = "kind";
const COSIGN_KIND_PREFIX: &str = "dev.cosignproject.cosign/";
const COSIGN_IMAGE: &str = "dev.cosignproject.cosign/image";
const COSIGN_IMAGE_INDEX: &str = "dev.cosignproject.cosign/imageIndex";
const COSIGN_SIGS: &str = "dev.cosignproject.cosign/sigs";
const COSIGN_ATTS: &str = "dev.cosignproject.cosign/atts";

/// The tags a registry keeps `image`'s signatures and attestations under, with the
/// cosign kind of each.
fn cosign_roles(image: &Digest) -> [(String, &'static str); 2] {
    let base = format!("{}-{}", image.algorithm(), image.hex());
    [
        (format!("{base}.sig"), COSIGN_SIGS),
        (format!("{base}.att"), COSIGN_ATTS),
    ]
}

fn cosign_kind(e: &IndexEntry) -> Option<&str> {
    e.annotation(COSIGN_KIND)
        .filter(|k| k.starts_with(COSIGN_KIND_PREFIX))
}

/// Gives the signatures and attestations of a `cosign save` layout's one image the tags
/// they would have in a registry (cosign writes none). A tag already in the index wins.
fn tag_cosign_entries(index: &mut Index) {
    let mut images = index
        .entries()
        .iter()
        .filter(|e| matches!(cosign_kind(e), Some(COSIGN_IMAGE | COSIGN_IMAGE_INDEX)))
        .map(|e| &e.digest);
    let (Some(image), None) = (images.next(), images.next()) else {
        return;
    };
    let roles = cosign_roles(image);
    let mut entries = index.entries().to_vec();
    for (tag, kind) in roles {
        if entries
            .iter()
            .any(|e| e.tag.as_deref() == Some(tag.as_str()))
        {
            continue;
        }
        if let Some(e) = entries
            .iter_mut()
            .find(|e| e.tag.is_none() && cosign_kind(e) == Some(kind))
        {
            e.tag = Some(tag);
        }
    }
    index.set_entries(entries);
}

/// Marks the entries with cosign's kinds when the layout holds one artifact (its
/// signatures, attestations and the untagged `dependents` of other entries aside), and takes
/// cosign's marks off otherwise.
fn mark_cosign_entries(index: &mut Index, dependents: &[Digest]) {
    let belongs_to_another = |e: &IndexEntry| {
        e.tag.as_deref().is_some_and(is_signature_tag)
            || matches!(cosign_kind(e), Some(COSIGN_SIGS | COSIGN_ATTS))
            || (e.tag.is_none() && dependents.contains(&e.digest))
    };
    let mut artifacts = index
        .entries()
        .iter()
        .filter(|e| !belongs_to_another(e))
        .map(|e| &e.digest);
    let first = artifacts.next();
    let roles = first
        .filter(|first| artifacts.all(|d| d == *first))
        .map(cosign_roles);
    let mut entries = index.entries().to_vec();
    for e in &mut entries {
        // A `kind` of another tool's is the user's data, not a mark of ours to move.
        if e.annotation(COSIGN_KIND).is_some() && cosign_kind(e).is_none() {
            continue;
        }
        let kind = match &roles {
            None => None,
            Some(_) if !belongs_to_another(e) => Some(
                if matches!(
                    e.media_type.as_deref(),
                    Some(OCI_INDEX | DOCKER_MANIFEST_LIST)
                ) {
                    COSIGN_IMAGE_INDEX
                } else {
                    COSIGN_IMAGE
                },
            ),
            Some(roles) => roles
                .iter()
                .find(|(tag, _)| e.tag.as_deref() == Some(tag.as_str()))
                .map(|(_, kind)| *kind),
        };
        if kind.is_some() || cosign_kind(e).is_some() {
            e.set_annotation(COSIGN_KIND, kind);
        }
    }
    index.set_entries(entries);
}

/// An OCI layout could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    /// There is no such directory: the artifact is missing, as a missing tag would be.
    #[error("artifact not found: there is no layout at {path}")]
    Missing {
        /// The directory.
        path: PathBuf,
    },
    /// The directory has no `oci-layout` file.
    #[error("{path} is not an OCI image layout (no oci-layout file)")]
    NotLayout {
        /// The directory.
        path: PathBuf,
    },
    /// A file of the layout could not be read or written, or is not acceptable.
    #[error(transparent)]
    File(#[from] FileError),
    /// `index.json` or a manifest does not parse.
    #[error("{path}: {source}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        #[source]
        source: OciError,
    },
    /// A blob's bytes do not match its name.
    #[error("layout blob is corrupt: {0}")]
    Corrupt(#[source] DigestError),
    /// `blobs/<alg>` is a symlink or not a directory: writing there could land anywhere.
    #[error("{path} is not a directory inside the layout; refusing to write through it")]
    UnsafeBlobDirectory {
        /// The directory.
        path: PathBuf,
    },
}

impl LayoutError {
    /// The exit class.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::NotLayout { .. } | Self::UnsafeBlobDirectory { .. } => ErrorClass::Usage,
            Self::Missing { .. } => ErrorClass::Denied,
            Self::File(e) => e.class(),
            Self::Malformed { source, .. } => source.class(),
            Self::Corrupt(_) => ErrorClass::Denied,
        }
    }
}

/// An exclusive lock on a layout's shared-tag updates, held until dropped (see
/// [`Layout::lock`]).
#[derive(Debug)]
#[must_use = "the lock is released when the guard is dropped"]
pub struct LayoutLock {
    _file: std::fs::File,
}

/// Takes an exclusive `flock` on `file` (opened from `path`), waiting for other holders;
/// released when the file is closed. flock is per open file: a second lock of the same
/// file, even by this process, waits for the first.
fn lock_file(file: std::fs::File, path: &Path) -> Result<std::fs::File, LayoutError> {
    file.lock().map_err(fsio::io_error(path))?;
    Ok(file)
}

/// An OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens an existing layout.
    pub fn open(path: &Path) -> Result<Self, LayoutError> {
        if !path.exists() {
            return Err(LayoutError::Missing {
                path: path.to_path_buf(),
            });
        }
        if fsio::check_regular(&path.join(LAYOUT_FILE), Some(path))
            .ok()
            .flatten()
            .is_none()
        {
            return Err(LayoutError::NotLayout {
                path: path.to_path_buf(),
            });
        }
        Ok(Self {
            root: path.to_path_buf(),
        })
    }

    /// Opens a layout, creating an empty one if the directory has none.
    pub fn create(path: &Path) -> Result<Self, LayoutError> {
        if path.join(LAYOUT_FILE).is_file() {
            return Self::open(path);
        }
        let dir = path.join("blobs").join("sha256");
        std::fs::create_dir_all(&dir).map_err(fsio::io_error(&dir))?;
        // Another process may be creating the same layout, or already writing tags into
        // it: neither file is replaced if it appeared meanwhile. The index comes first, so
        // that a layout with an `oci-layout` file always has one to read.
        fsio::write_new(&path.join("index.json"), &Index::empty().to_bytes())?;
        fsio::write_new(&path.join(LAYOUT_FILE), LAYOUT_CONTENT.as_bytes())?;
        Self::open(path)
    }

    /// The layout directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` is (or would be) stored.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root.join(oci::blob_path(digest))
    }

    /// Reads `index.json`.
    pub(crate) fn read_index(&self) -> Result<Index, LayoutError> {
        let path = self.root.join("index.json");
        let bytes =
            fsio::read_bounded(&path, Some(&self.root), MAX_MANIFEST_BYTES)?.ok_or_else(|| {
                FileError::Io {
                    path: path.clone(),
                    source: std::io::ErrorKind::NotFound.into(),
                }
            })?;
        let mut index =
            Index::parse(&bytes).map_err(|source| LayoutError::Malformed { path, source })?;
        tag_cosign_entries(&mut index);
        Ok(index)
    }

    fn write_index(&self, index: &Index) -> Result<(), LayoutError> {
        Ok(fsio::write_atomic(
            &self.root.join("index.json"),
            &index.to_bytes(),
        )?)
    }

    /// Reads `index.json`, applies `change` and writes it back, holding the index lock
    /// throughout so that no other writer's change in between is lost. Synchronous, so
    /// that the lock is never held across an await.
    fn update_index(&self, change: impl FnOnce(&mut Index)) -> Result<(), LayoutError> {
        // Opened as every file of a layout is: a FIFO swapped in there does not block.
        let path = self.root.join(LAYOUT_FILE);
        let _lock = lock_file(fsio::open_regular(&path)?, &path)?;
        let mut index = self.read_index()?;
        change(&mut index);
        let dependents = self.untagged_dependents(&index);
        mark_cosign_entries(&mut index, &dependents);
        self.write_index(&index)
    }

    /// The untagged entries that belong to another: referrers (a bundle signature is
    /// listed so, to be reachable), and the platform manifests of an index in the layout.
    /// Only a few manifests are read; past them the layout is taken to hold several
    /// artifacts, and is not marked.
    fn untagged_dependents(&self, index: &Index) -> Vec<Digest> {
        const MAX_READ: usize = 64;
        if index.entries().len() > MAX_READ {
            return Vec::new();
        }
        let manifest = |d: &Digest| {
            self.get_blob(d, MAX_MANIFEST_BYTES)
                .ok()
                .flatten()
                .and_then(|b| Manifest::from_bytes(b, None).ok())
        };
        let mut dependents = Vec::new();
        for e in index.entries() {
            let Some(m) = manifest(&e.digest) else {
                continue;
            };
            if m.is_index() {
                let children = m.references().map(|r| r.manifests).unwrap_or_default();
                dependents.extend(children.into_iter().map(|c| c.digest));
            } else if e.tag.is_none() && m.artifact().is_ok_and(|a| a.subject.is_some()) {
                dependents.push(e.digest.clone());
            }
        }
        dependents
    }

    /// Locks the layout for an update that reads and writes it several times (the shared
    /// `.sig` tag): every other hallmark process taking this lock waits until the guard is
    /// dropped. Index writes made while holding it take their own lock (on `oci-layout`),
    /// so they do not wait for it. Not nestable: a second `lock` of the same layout in one
    /// process, before the first guard is dropped, waits forever. It blocks the calling
    /// thread while it waits; holders keep it for as long as a few local writes take.
    pub fn lock(&self) -> Result<LayoutLock, LayoutError> {
        let dir = std::fs::File::open(&self.root).map_err(fsio::io_error(&self.root))?;
        Ok(LayoutLock {
            _file: lock_file(dir, &self.root)?,
        })
    }

    /// The referrers of `subject` that a `cosign save` layout (one image marked with
    /// cosign's kind) holds as loose blobs: small regular files of `blobs/sha256` that are
    /// manifests naming `subject`, verified against their names. Any other layout lists its
    /// referrers itself, and this is empty.
    pub(crate) fn loose_referrers(&self, subject: &Digest) -> Result<Index, LayoutError> {
        let mut found = Index::empty();
        let index = self.read_index()?;
        let mut images = index
            .entries()
            .iter()
            .filter(|e| matches!(cosign_kind(e), Some(COSIGN_IMAGE | COSIGN_IMAGE_INDEX)));
        if !(images.next().is_some_and(|e| &e.digest == subject) && images.next().is_none()) {
            return Ok(found);
        }
        let dir = self.root.join("blobs").join("sha256");
        let listing = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(found),
            Err(e) => return Err(fsio::io_error(&dir)(e).into()),
        };
        for entry in listing.take(MAX_LOOSE_BLOBS) {
            let entry = entry.map_err(fsio::io_error(&dir))?;
            let Ok(digest) = format!("sha256:{}", entry.file_name().to_string_lossy()).parse()
            else {
                continue;
            };
            // Layers and links are not manifests: only small regular files are read.
            let small = matches!(
                fsio::check_regular(&entry.path(), Some(&self.root)),
                Ok(Some(size)) if size <= MAX_MANIFEST_BYTES
            );
            if !small || index.find_digest(&digest).is_some() {
                continue;
            }
            let Some(bytes) = self.get_blob(&digest, MAX_MANIFEST_BYTES)? else {
                continue;
            };
            let Ok(m) = Manifest::from_bytes(bytes, None) else {
                continue;
            };
            let Ok(info) = m.artifact() else { continue };
            if let (Some(s), Some(kind)) = (&info.subject, &info.artifact_type)
                && &s.digest == subject
                && found.entries().len() < oci::MAX_REFERENCES
            {
                found.push(IndexEntry::referrer(&m, kind));
            }
        }
        Ok(found)
    }

    /// The digest a tag names, if any.
    pub fn resolve_tag(&self, tag: &str) -> Result<Option<Digest>, LayoutError> {
        Ok(self.read_index()?.find_tag(tag).map(|e| e.digest.clone()))
    }

    /// Every tag in the layout.
    pub fn list_tags(&self) -> Result<Vec<String>, LayoutError> {
        Ok(self.read_index()?.tags())
    }

    /// Reads a small blob whole, verified against its digest.
    pub fn get_blob(&self, digest: &Digest, limit: u64) -> Result<Option<Bytes>, LayoutError> {
        let path = self.blob_path(digest);
        let Some(bytes) = fsio::read_bounded(&path, Some(&self.root), limit)? else {
            return Ok(None);
        };
        digest
            .verify(&bytes, &path.display().to_string())
            .map_err(LayoutError::Corrupt)?;
        Ok(Some(Bytes::from(bytes)))
    }

    /// A blob of this layout to stream elsewhere; the reader hashes it on the way.
    pub fn blob(&self, d: &oci::Descriptor) -> Result<Option<Blob>, LayoutError> {
        let path = self.blob_path(&d.digest);
        if fsio::check_regular(&path, Some(&self.root))?.is_none() {
            return Ok(None);
        }
        Ok(Some(Blob {
            digest: d.digest.clone(),
            size: d.size,
            media_type: d.media_type.clone(),
            data: Arc::new(FileRange { path, offset: 0 }),
        }))
    }

    /// True when the blob is stored and its bytes hash to its digest. A file under the
    /// blob's name that does not is not trusted: it will be replaced.
    async fn holds_intact(&self, digest: &Digest, path: &Path) -> Result<bool, LayoutError> {
        use futures_util::StreamExt;
        let Some(size) = fsio::check_regular(path, Some(&self.root))? else {
            return Ok(false);
        };
        let data = FileRange {
            path: path.to_path_buf(),
            offset: 0,
        };
        let mut stream = oci::BlobData::stream_range(&data, digest, 0, size)
            .await
            .map_err(fsio::io_error(path))?;
        let mut h = Hasher::new(digest.algorithm());
        while let Some(chunk) = stream.next().await {
            h.update(&chunk.map_err(fsio::io_error(path))?);
        }
        Ok(&h.finish() == digest)
    }

    /// The directory a blob goes into, made if missing; never a symlink.
    fn blob_dir(&self, digest: &Digest) -> Result<PathBuf, LayoutError> {
        let blobs = self.root.join("blobs");
        let dir = blobs.join(digest.algorithm().to_string());
        for d in [&blobs, &dir] {
            match std::fs::symlink_metadata(d) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => {
                    return Err(LayoutError::UnsafeBlobDirectory {
                        path: d.to_path_buf(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    std::fs::create_dir(d).map_err(fsio::io_error(d))?;
                }
                Err(e) => return Err(fsio::io_error(d)(e).into()),
            }
        }
        Ok(dir)
    }

    /// Stores a blob held in memory (verified first).
    pub async fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), LayoutError> {
        digest
            .verify(bytes, "blob to store")
            .map_err(LayoutError::Corrupt)?;
        let path = self.blob_path(digest);
        self.blob_dir(digest)?;
        if self.holds_intact(digest, &path).await? {
            return Ok(());
        }
        Ok(fsio::write_atomic(&path, bytes)?)
    }

    /// Copies a blob into the layout, hashing it on the way; a blob whose bytes do not
    /// match its digest never appears under that digest. Returns false if it was present.
    pub(crate) async fn put_blob_stream(
        &self,
        blob: &Blob,
        progress: &dyn Fn(u64),
    ) -> Result<bool, LayoutError> {
        use futures_util::StreamExt;
        use std::io::Write;
        let path = self.blob_path(&blob.digest);
        let dir = self.blob_dir(&blob.digest)?;
        if self.holds_intact(&blob.digest, &path).await? {
            return Ok(false);
        }
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(fsio::io_error(&dir))?;
        let origin = PathBuf::from(blob.data.origin());
        let mut stream = blob
            .stream_range(0, blob.size)
            .await
            .map_err(fsio::io_error(&origin))?;
        let mut hasher = Hasher::new(blob.digest.algorithm());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(fsio::io_error(&origin))?;
            hasher.update(&chunk);
            if hasher.len() > blob.size {
                return Err(FileError::TooLarge {
                    path: origin,
                    limit: blob.size,
                }
                .into());
            }
            tmp.write_all(&chunk).map_err(fsio::io_error(&path))?;
            progress(hasher.len());
        }
        hasher
            .finish()
            .expect(
                &blob.digest,
                &format!("blob {} from {}", blob.digest, blob.data.origin()),
            )
            .map_err(LayoutError::Corrupt)?;
        tmp.as_file().sync_all().map_err(fsio::io_error(&path))?;
        // Only a regular file (or nothing) is replaced: a link or device stays and is refused.
        fsio::replaceable(&path)?;
        tmp.persist(&path)
            .map_err(|e| fsio::io_error(&path)(e.error))?;
        Ok(true)
    }

    /// Reads a manifest by tag or digest.
    pub fn get_manifest(&self, reference: &str) -> Result<Option<Manifest>, LayoutError> {
        let index = self.read_index()?;
        let (digest, media_type) = match reference.parse::<Digest>() {
            Ok(d) => {
                let mt = index.find_digest(&d).and_then(|e| e.media_type.clone());
                (d, mt)
            }
            Err(_) => match index.find_tag(reference) {
                Some(e) => (e.digest.clone(), e.media_type.clone()),
                None => return Ok(None),
            },
        };
        let Some(bytes) = self.get_blob(&digest, MAX_MANIFEST_BYTES)? else {
            return Ok(None);
        };
        let m =
            Manifest::from_bytes(bytes, media_type).map_err(|source| LayoutError::Malformed {
                path: self.blob_path(&digest),
                source,
            })?;
        // get_blob checked the bytes against `digest`, whatever its algorithm.
        Ok(Some(m.named(&digest).map_err(LayoutError::Corrupt)?))
    }

    /// Removes `tag` if it still names `digest` (checked under the index lock, so a tag
    /// another writer moved meanwhile stays); true when it went. The manifest's blob is
    /// left: other entries may name it.
    pub(crate) fn untag(&self, tag: &str, digest: &Digest) -> Result<bool, LayoutError> {
        let mut gone = false;
        self.update_index(|index| {
            let kept: Vec<_> = index
                .entries()
                .iter()
                .filter(|e| !(e.tag.as_deref() == Some(tag) && e.digest == *digest))
                .cloned()
                .collect();
            gone = kept.len() != index.entries().len();
            if gone {
                index.set_entries(kept);
            }
        })?;
        Ok(gone)
    }

    /// Stores a manifest and, with `tag`, points the tag at it (moving it if it existed).
    /// Without a tag the manifest is listed untagged so that it is reachable.
    pub async fn put_manifest(&self, m: &Manifest, tag: Option<&str>) -> Result<(), LayoutError> {
        self.put_blob(&m.digest, &m.bytes).await?;
        self.update_index(|index| index.set(&m.digest, &m.media_type, m.bytes.len() as u64, tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::OCI_MANIFEST;

    #[tokio::test]
    async fn tags_move_and_blobs_verify() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let a = Manifest::new(br#"{"schemaVersion":2,"a":1}"#.to_vec(), OCI_MANIFEST);
        let b = Manifest::new(br#"{"schemaVersion":2,"b":1}"#.to_vec(), OCI_MANIFEST);
        l.put_manifest(&a, Some("v1")).await.unwrap();
        assert_eq!(l.resolve_tag("v1").unwrap(), Some(a.digest.clone()));
        l.put_manifest(&b, Some("v1")).await.unwrap();
        assert_eq!(l.resolve_tag("v1").unwrap(), Some(b.digest.clone()));
        assert_eq!(l.list_tags().unwrap(), vec!["v1".to_string()]);
        assert_eq!(l.get_manifest(&a.digest.to_string()).unwrap().unwrap(), a);
        // A blob file whose bytes were swapped on disk is detected on read...
        std::fs::write(l.blob_path(&a.digest), b"tampered").unwrap();
        assert!(matches!(
            l.get_manifest(&a.digest.to_string()),
            Err(LayoutError::Corrupt(_))
        ));
        // ...and replaced, not trusted, when the blob is stored again.
        l.put_manifest(&a, None).await.unwrap();
        assert_eq!(l.get_manifest(&a.digest.to_string()).unwrap().unwrap(), a);
        assert!(matches!(
            Layout::open(&dir.path().join("nope")),
            Err(LayoutError::Missing { .. })
        ));
        std::fs::create_dir(dir.path().join("plain")).unwrap();
        assert!(matches!(
            Layout::open(&dir.path().join("plain")),
            Err(LayoutError::NotLayout { .. })
        ));
    }

    #[tokio::test]
    async fn untag_removes_a_tag_only_while_it_names_the_digest() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let a = Manifest::new(br#"{"schemaVersion":2,"a":1}"#.to_vec(), OCI_MANIFEST);
        let b = Manifest::new(br#"{"schemaVersion":2,"b":1}"#.to_vec(), OCI_MANIFEST);
        l.put_manifest(&a, Some("x.sig")).await.unwrap();
        l.put_manifest(&b, Some("x.sig")).await.unwrap();
        // Moved to b by another writer: untagging a leaves it.
        assert!(!l.untag("x.sig", &a.digest).unwrap());
        assert_eq!(l.resolve_tag("x.sig").unwrap(), Some(b.digest.clone()));
        assert!(l.untag("x.sig", &b.digest).unwrap());
        assert_eq!(l.resolve_tag("x.sig").unwrap(), None);
    }

    #[test]
    fn concurrent_index_writers_lose_no_tag() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let writers: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .build()
                        .unwrap();
                    // Each writer creates the layout too, as parallel publishers would.
                    let l = Layout::create(&path).unwrap();
                    for j in 0..10 {
                        let m = Manifest::new(
                            format!(r#"{{"schemaVersion":2,"w":{i},"n":{j}}}"#).into_bytes(),
                            OCI_MANIFEST,
                        );
                        rt.block_on(l.put_manifest(&m, Some(&format!("w{i}-{j}"))))
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert_eq!(Layout::open(&path).unwrap().list_tags().unwrap().len(), 80);
    }

    #[tokio::test]
    async fn index_writes_go_on_under_the_layout_lock() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let guard = l.lock().unwrap();
        let m = Manifest::new(br#"{"schemaVersion":2}"#.to_vec(), OCI_MANIFEST);
        l.put_manifest(&m, Some("v1")).await.unwrap();
        drop(guard);
        assert_eq!(l.resolve_tag("v1").unwrap(), Some(m.digest.clone()));
        drop(l.lock().unwrap());
    }

    fn kinds(l: &Layout) -> Vec<(Option<String>, Option<String>)> {
        l.read_index()
            .unwrap()
            .entries()
            .iter()
            .map(|e| (e.tag.clone(), e.annotation(COSIGN_KIND).map(str::to_string)))
            .collect()
    }

    #[tokio::test]
    async fn one_artifact_is_marked_for_cosign_load_and_several_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let a = Manifest::new(br#"{"schemaVersion":2,"a":1}"#.to_vec(), OCI_MANIFEST);
        let sig = Manifest::new(br#"{"schemaVersion":2,"s":1}"#.to_vec(), OCI_MANIFEST);
        let [(sig_tag, _), _] = cosign_roles(&a.digest);
        l.put_manifest(&a, Some("v1")).await.unwrap();
        l.put_manifest(&sig, Some(&sig_tag)).await.unwrap();
        assert_eq!(
            kinds(&l),
            vec![
                (Some("v1".into()), Some(COSIGN_IMAGE.into())),
                (Some(sig_tag.clone()), Some(COSIGN_SIGS.into())),
            ]
        );
        // A referrer listed untagged (a bundle signature) is not a second artifact.
        let bundle = Manifest::new(
            format!(
                r#"{{"schemaVersion":2,"artifactType":"x","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}}}}"#,
                a.digest
            )
            .into_bytes(),
            OCI_MANIFEST,
        );
        l.put_manifest(&bundle, None).await.unwrap();
        assert_eq!(kinds(&l)[0].1.as_deref(), Some(COSIGN_IMAGE));
        assert_eq!(kinds(&l)[2], (None, None));
        // A second artifact: cosign load would push the first image with either's
        // signatures, so nothing is marked.
        let b = Manifest::new(br#"{"schemaVersion":2,"b":1}"#.to_vec(), OCI_MANIFEST);
        l.put_manifest(&b, Some("v2")).await.unwrap();
        assert!(
            kinds(&l).iter().all(|(_, k)| k.is_none()),
            "{:?}",
            kinds(&l)
        );
        assert!(l.untag("v2", &b.digest).unwrap());
        assert_eq!(kinds(&l)[0].1.as_deref(), Some(COSIGN_IMAGE));
    }

    #[tokio::test]
    async fn a_kind_annotation_of_another_tool_is_kept() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let a = Manifest::new(br#"{"schemaVersion":2,"a":1}"#.to_vec(), OCI_MANIFEST);
        l.put_blob(&a.digest, &a.bytes).await.unwrap();
        std::fs::write(
            dir.path().join("index.json"),
            format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"annotations":{{"kind":"release","org.opencontainers.image.ref.name":"v1"}}}}]}}"#,
                a.digest,
                a.bytes.len()
            ),
        )
        .unwrap();
        let sig = Manifest::new(br#"{"schemaVersion":2,"s":1}"#.to_vec(), OCI_MANIFEST);
        let [(sig_tag, _), _] = cosign_roles(&a.digest);
        l.put_manifest(&sig, Some(&sig_tag)).await.unwrap();
        assert_eq!(
            kinds(&l),
            vec![
                (Some("v1".into()), Some("release".into())),
                (Some(sig_tag), Some(COSIGN_SIGS.into())),
            ]
        );
    }

    #[tokio::test]
    async fn a_multi_platform_index_is_one_artifact_with_its_platform_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let amd = Manifest::new(br#"{"schemaVersion":2,"amd64":1}"#.to_vec(), OCI_MANIFEST);
        let arm = Manifest::new(br#"{"schemaVersion":2,"arm64":1}"#.to_vec(), OCI_MANIFEST);
        let index = Manifest::new(
            format!(
                r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}},{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":1}}]}}"#,
                amd.digest, arm.digest
            )
            .into_bytes(),
            OCI_INDEX,
        );
        l.put_manifest(&amd, None).await.unwrap();
        l.put_manifest(&arm, None).await.unwrap();
        l.put_manifest(&index, Some("v1")).await.unwrap();
        assert_eq!(
            kinds(&l),
            vec![
                (None, None),
                (None, None),
                (Some("v1".into()), Some(COSIGN_IMAGE_INDEX.into())),
            ]
        );
    }

    #[test]
    fn a_cosign_save_layout_has_its_signatures_under_registry_tags() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let image = Digest::sha256(b"image");
        let sigs = Digest::sha256(b"sigs");
        let atts = Digest::sha256(b"atts");
        let entry = |d: &Digest, kind: &str| {
            format!(
                r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":5,"annotations":{{"kind":"{kind}"}}}}"#
            )
        };
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{},{},{}]}}"#,
            entry(&image, COSIGN_IMAGE),
            entry(&sigs, COSIGN_SIGS),
            entry(&atts, COSIGN_ATTS)
        );
        std::fs::write(dir.path().join("index.json"), index).unwrap();
        let [(sig_tag, _), (att_tag, _)] = cosign_roles(&image);
        assert_eq!(l.resolve_tag(&sig_tag).unwrap(), Some(sigs));
        assert_eq!(l.resolve_tag(&att_tag).unwrap(), Some(atts));
        // The image is the one artifact a reference without tag or digest names.
        assert_eq!(l.read_index().unwrap().pick(None, None).unwrap().0, image);
    }

    #[tokio::test]
    async fn loose_referrers_are_read_only_for_the_one_image_of_a_cosign_save_layout() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let image = Manifest::new(br#"{"schemaVersion":2,"i":1}"#.to_vec(), OCI_MANIFEST);
        let other = Digest::sha256(b"other");
        let referrer = |subject: &Digest| {
            Manifest::new(
                format!(
                    r#"{{"schemaVersion":2,"artifactType":"t","subject":{{"mediaType":"{OCI_MANIFEST}","digest":"{subject}","size":1}}}}"#
                )
                .into_bytes(),
                OCI_MANIFEST,
            )
        };
        let mine = referrer(&image.digest);
        for m in [&image, &mine, &referrer(&other)] {
            l.put_blob(&m.digest, &m.bytes).await.unwrap();
        }
        let listed = |d: &Digest| {
            l.loose_referrers(d)
                .unwrap()
                .entries()
                .iter()
                .map(|e| e.digest.clone())
                .collect::<Vec<_>>()
        };
        // Not a cosign save layout: referrers are what its index lists.
        std::fs::write(
            dir.path().join("index.json"),
            br#"{"schemaVersion":2,"manifests":[]}"#,
        )
        .unwrap();
        assert!(listed(&image.digest).is_empty());
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{},"annotations":{{"kind":"{COSIGN_IMAGE}"}}}}]}}"#,
            image.digest,
            image.bytes.len()
        );
        std::fs::write(dir.path().join("index.json"), index).unwrap();
        assert_eq!(listed(&image.digest), vec![mine.digest.clone()]);
        // Only for the image the layout was saved for.
        assert!(listed(&other).is_empty());
    }

    #[tokio::test]
    async fn a_symlinked_blob_directory_is_not_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        std::fs::remove_dir(dir.path().join("blobs/sha256")).unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("blobs/sha256")).unwrap();
        let m = Manifest::new(br#"{"schemaVersion":2}"#.to_vec(), OCI_MANIFEST);
        assert!(matches!(
            l.put_manifest(&m, Some("v1")).await,
            Err(LayoutError::UnsafeBlobDirectory { .. })
        ));
        assert_eq!(std::fs::read_dir(elsewhere.path()).unwrap().count(), 0);
    }
}
