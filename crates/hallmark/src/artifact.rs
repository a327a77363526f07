//! Local artifacts: what `publish` pushes and `digest` measures, read without loading large
//! blobs into memory.
//!
//! - `oci:` layouts are taken byte for byte: the manifest digest is that of the file.
//! - `oci-archive:` tarballs (an OCI layout in a tar) are taken byte for byte too, read in
//!   place: nothing is extracted, each member is read at its offset in the tarball.
//! - `docker-archive:` tarballs in the OCI-layout-in-tar form are taken byte for byte too;
//!   the legacy `manifest.json` form is converted once, deterministically, to an OCI manifest.
//! - `dir:` directories (skopeo's) are taken byte for byte: `manifest.json` is the manifest.
//! - `file:` artifacts become an OCI artifact with one layer holding the file's bytes.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::class::ErrorClass;
use crate::digest::{Algorithm, Digest, DigestError, Hasher};
use crate::fsio::{self, FileError, FileRange};
use crate::layout::{Layout, LayoutError};
use crate::oci::{
    self, Blob, BlobData, Descriptor, EMPTY_MEDIA_TYPE, Index, MAX_MANIFEST_BYTES, MAX_REFERENCES,
    Manifest, OCI_CONFIG, OCI_LAYER_TAR, OCI_LAYER_TAR_GZIP, OCI_MANIFEST, OciError,
    TITLE_ANNOTATION, Walk,
};
use crate::reference::{LayoutRef, Source};

mod dir;

/// `artifactType` of a plain file published as an OCI artifact.
pub(crate) const FILE_ARTIFACT_TYPE: &str = "application/vnd.hallmark.file.v1";
/// Media type of the one layer of a file artifact.
pub(crate) const FILE_LAYER_MEDIA_TYPE: &str = "application/octet-stream";
const READ_BUF: usize = 1 << 20;
/// Members a tarball may have: every blob an artifact may reference, its manifests and
/// directories, with room to spare. The index of members is held in memory.
const MAX_MEMBERS: usize = 4 * MAX_REFERENCES;

/// A local artifact could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The path does not exist.
    #[error("{path}: no such file or directory")]
    Missing {
        /// The path given.
        path: PathBuf,
    },
    /// A file could not be read, or is not one hallmark reads.
    #[error(transparent)]
    File(#[from] FileError),
    /// The `oci:` layout could not be read.
    #[error(transparent)]
    Layout(LayoutError),
    /// A manifest or index of the artifact does not parse or breaks a limit.
    #[error("{source_name}: {source}")]
    Malformed {
        /// `oci:…`, `docker-archive:…`.
        source_name: String,
        /// What is wrong.
        #[source]
        source: OciError,
    },
    /// A tarball that cannot be read as one.
    #[error("{source_name}: not a readable tar archive: {source}")]
    Archive {
        /// `docker-archive:…`.
        source_name: String,
        /// The reader's complaint.
        #[source]
        source: std::io::Error,
    },
    /// A member whose name climbs out of the archive (`..`): a tarball made to be
    /// extracted over something else, or to have its members read under other names.
    #[error("{source_name}: member {entry:?} climbs out of the archive (a '..' in its name)")]
    UnsafeEntry {
        /// `oci-archive:…`.
        source_name: String,
        /// The member's name as written.
        entry: String,
    },
    /// More members than an artifact can reference.
    #[error("{source_name}: more than {MAX_MEMBERS} members")]
    TooManyMembers {
        /// `oci-archive:…`.
        source_name: String,
    },
    /// A tar feature hallmark does not read.
    #[error("{source_name}: {entry} is a sparse entry, which is not supported")]
    SparseEntry {
        /// `docker-archive:…`.
        source_name: String,
        /// The entry.
        entry: String,
    },
    /// Something the artifact's manifests name is not in it.
    #[error("{source_name}: {what} is missing")]
    MemberMissing {
        /// Where.
        source_name: String,
        /// What (`blob sha256:…`, `manifest.json`).
        what: String,
    },
    /// A legacy `docker save` archive whose `manifest.json` hallmark cannot convert.
    #[error("{source_name}: {problem}")]
    Legacy {
        /// `docker-archive:…`.
        source_name: String,
        /// What is wrong.
        problem: LegacyProblem,
    },
    /// Bytes that do not match the digest naming them.
    #[error("{source_name}: {source}")]
    Corrupt {
        /// Where.
        source_name: String,
        /// Expected and actual digest.
        #[source]
        source: DigestError,
    },
    /// A blob whose size is not the one its manifest declares.
    #[error("{source_name}: blob {digest} is {actual} bytes where the manifest says {declared}")]
    SizeMismatch {
        /// Where.
        source_name: String,
        /// The blob.
        digest: Digest,
        /// Its real size.
        actual: u64,
        /// What the manifest says.
        declared: u64,
    },
    /// A registry reference given where a local artifact belongs.
    #[error(
        "{0} cannot be published from (use oci:, oci-archive:, dir:, docker-archive: or file:)"
    )]
    NotLocal(String),
}

/// Why a legacy archive's `manifest.json` cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LegacyProblem {
    /// Not the JSON `docker save` writes.
    #[error("invalid manifest.json: {0}")]
    ManifestJson(#[source] serde_json::Error),
    /// The image config is not JSON.
    #[error("image config is not JSON: {0}")]
    ConfigJson(#[source] serde_json::Error),
    /// `manifest.json` lists nothing.
    #[error("manifest.json lists no image")]
    NoImage,
    /// More than one image in one archive.
    #[error("the archive holds {0} images; save one image per archive")]
    ManyImages(usize),
    /// Too many layers.
    #[error("more than {MAX_REFERENCES} layers")]
    TooManyLayers,
}

impl ArtifactError {
    /// A local artifact that is broken is bad input; bytes that do not match their digest
    /// are a "no"; I/O failures are outages.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Missing { .. }
            | Self::Malformed { .. }
            | Self::Archive { .. }
            | Self::SparseEntry { .. }
            | Self::UnsafeEntry { .. }
            | Self::TooManyMembers { .. }
            | Self::MemberMissing { .. }
            | Self::Legacy { .. }
            | Self::NotLocal(_) => ErrorClass::Usage,
            Self::File(e) => e.class(),
            // A local layout that does not parse is bad input, not an outage.
            Self::Layout(LayoutError::Malformed { .. }) => ErrorClass::Usage,
            Self::Layout(e) => e.class(),
            Self::Corrupt { .. } | Self::SizeMismatch { .. } => ErrorClass::Denied,
        }
    }
}

impl From<LayoutError> for ArtifactError {
    fn from(e: LayoutError) -> Self {
        match e {
            LayoutError::Corrupt(source) => Self::Corrupt {
                source_name: "oci layout".into(),
                source,
            },
            other => Self::Layout(other),
        }
    }
}

/// Everything a publish pushes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Artifact {
    /// Human name of where it came from.
    pub source: String,
    /// Every manifest, children before the index that lists them; the last is the top.
    pub manifests: Vec<Manifest>,
    /// Every blob once.
    pub blobs: Vec<Blob>,
}

impl Artifact {
    /// The manifest that is signed and tagged.
    pub fn manifest(&self) -> &Manifest {
        self.manifests.last().expect("an artifact has a manifest")
    }

    /// The digest that is signed.
    pub fn digest(&self) -> &Digest {
        &self.manifest().digest
    }

    /// Bytes in all blobs.
    pub fn total_size(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }
}

/// Reads a local source. Blocking: call it off the async runtime for large files.
pub fn load(source: &Source) -> Result<Artifact, ArtifactError> {
    match source {
        Source::Layout(l) => load_layout(l),
        Source::OciArchive(l) => load_oci_archive(l),
        Source::Dir(p) => dir::load(p),
        Source::DockerArchive(p) => load_docker_archive(p),
        Source::File(p) => load_file(p),
        other => Err(ArtifactError::NotLocal(other.to_string())),
    }
}

/// Hashes `len` bytes of `r` in one streaming pass.
fn hash_reader(mut r: impl Read, len: u64, path: &Path) -> Result<Digest, ArtifactError> {
    let mut h = Hasher::new(Algorithm::Sha256);
    let mut buf = vec![0u8; READ_BUF];
    loop {
        let n = r.read(&mut buf).map_err(fsio::io_error(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    if h.len() != len {
        return Err(FileError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!("expected {len} bytes, read {}", h.len())),
        }
        .into());
    }
    Ok(h.finish())
}

/// A container of blobs addressed by digest: a layout directory or a tarball.
trait BlobIndex {
    fn name(&self) -> String;
    /// The manifest `d`, verified against its digest.
    fn manifest(&self, d: &Descriptor) -> Result<Manifest, ArtifactError>;
    /// The blob `d`, checked against its declared size.
    fn blob(&self, d: &Descriptor) -> Result<Blob, ArtifactError>;
}

/// Walks from `top` through the container and collects everything.
fn collect(
    index: &dyn BlobIndex,
    top: &Digest,
    media_type: Option<String>,
    source: String,
) -> Result<Artifact, ArtifactError> {
    let malformed = |source| ArtifactError::Malformed {
        source_name: index.name(),
        source,
    };
    let top = index.manifest(&Descriptor {
        media_type: media_type.unwrap_or_default(),
        digest: top.clone(),
        size: 0,
    })?;
    let mut walk = Walk::new(top).map_err(malformed)?;
    while let Some(child) = walk.next() {
        walk.add(index.manifest(&child)?).map_err(malformed)?;
    }
    let graph = walk.finish();
    let blobs = graph
        .blobs
        .iter()
        .map(|d| index.blob(d))
        .collect::<Result<_, _>>()?;
    Ok(Artifact {
        source,
        manifests: graph.manifests,
        blobs,
    })
}

fn content_type(d: &Descriptor) -> Option<String> {
    (!d.media_type.is_empty()).then(|| d.media_type.clone())
}

/// Refuses a member whose size is not the one the manifest declares for `d`, before its
/// bytes are hashed.
fn check_size(index: &dyn BlobIndex, d: &Descriptor, actual: u64) -> Result<(), ArtifactError> {
    if actual != d.size {
        return Err(ArtifactError::SizeMismatch {
            source_name: index.name(),
            digest: d.digest.clone(),
            actual,
            declared: d.size,
        });
    }
    Ok(())
}

/// The blob `d` names, its bytes in `data`, once their `size` is the declared one.
fn sized_blob(
    index: &dyn BlobIndex,
    d: &Descriptor,
    size: u64,
    data: Arc<dyn BlobData>,
) -> Result<Blob, ArtifactError> {
    check_size(index, d, size)?;
    Ok(Blob {
        digest: d.digest.clone(),
        size,
        media_type: d.media_type.clone(),
        data,
    })
}

impl BlobIndex for Layout {
    fn name(&self) -> String {
        format!("oci:{}", self.path().display())
    }

    fn manifest(&self, d: &Descriptor) -> Result<Manifest, ArtifactError> {
        let bytes = self
            .get_blob(&d.digest, MAX_MANIFEST_BYTES)
            .map_err(|e| match e {
                LayoutError::Corrupt(source) => ArtifactError::Corrupt {
                    source_name: BlobIndex::name(self),
                    source,
                },
                other => other.into(),
            })?
            .ok_or_else(|| ArtifactError::MemberMissing {
                source_name: BlobIndex::name(self),
                what: format!("manifest {}", d.digest),
            })?;
        Manifest::from_bytes(bytes, content_type(d))
            .map_err(|source| ArtifactError::Malformed {
                source_name: BlobIndex::name(self),
                source,
            })?
            .named(&d.digest)
            .map_err(|source| ArtifactError::Corrupt {
                source_name: BlobIndex::name(self),
                source,
            })
    }

    fn blob(&self, d: &Descriptor) -> Result<Blob, ArtifactError> {
        let blob = Self::blob(self, d)?.ok_or_else(|| ArtifactError::MemberMissing {
            source_name: BlobIndex::name(self),
            what: format!("blob {}", d.digest),
        })?;
        let actual =
            fsio::check_regular(&self.blob_path(&d.digest), Some(self.path()))?.unwrap_or_default();
        check_size(self, d, actual)?;
        Ok(blob)
    }
}

fn load_layout(l: &LayoutRef) -> Result<Artifact, ArtifactError> {
    if !l.path.exists() {
        return Err(ArtifactError::Missing {
            path: l.path.clone(),
        });
    }
    let layout = Layout::open(&l.path)?;
    let (top, media_type) = layout
        .read_index()?
        .pick(l.tag.as_deref(), l.digest.as_ref())
        .map_err(|source| ArtifactError::Malformed {
            source_name: BlobIndex::name(&layout),
            source,
        })?;
    collect(&layout, &top, media_type, l.to_string())
}

/// A tarball's regular files by normalised path: (offset of the data, size).
struct TarIndex {
    /// `oci-archive:` or `docker-archive:`, for messages.
    transport: &'static str,
    path: PathBuf,
    files: HashMap<String, (u64, u64)>,
}

fn normalise(p: &Path) -> String {
    let mut parts: Vec<String> = Vec::new();
    for c in p.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::ParentDir => {
                parts.pop();
            }
            _ => {}
        }
    }
    parts.join("/")
}

impl TarIndex {
    /// Indexes the tarball's members in one streaming pass; no member is extracted.
    fn read(path: &Path, transport: &'static str) -> Result<Self, ArtifactError> {
        let source_name = format!("{transport}{}", path.display());
        let corrupt = |source: std::io::Error| ArtifactError::Archive {
            source_name: source_name.clone(),
            source,
        };
        if fsio::check_regular(path, None)?.is_none() {
            return Err(ArtifactError::Missing {
                path: path.to_path_buf(),
            });
        }
        let f = std::fs::File::open(path).map_err(fsio::io_error(path))?;
        let mut archive = tar::Archive::new(f);
        let mut files = HashMap::new();
        // A name written twice is what its last entry makes it, as when the tarball is
        // extracted: a link after a file (or a file after a link) replaces it.
        let mut links: HashMap<String, String> = HashMap::new();
        for (n, entry) in archive.entries_with_seek().map_err(corrupt)?.enumerate() {
            if n >= MAX_MEMBERS {
                return Err(ArtifactError::TooManyMembers { source_name });
            }
            let entry = entry.map_err(corrupt)?;
            let raw = entry.path().map_err(corrupt)?;
            // Normalising `a/../index.json` to `index.json` would let a member stand in for
            // another under a name no extractor would give it.
            if raw.components().any(|c| c == Component::ParentDir) {
                return Err(ArtifactError::UnsafeEntry {
                    source_name,
                    entry: raw.display().to_string(),
                });
            }
            let name = normalise(&raw);
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    links.remove(&name);
                    files.insert(name, (entry.raw_file_position(), entry.size()));
                }
                tar::EntryType::Symlink => {
                    let target = entry.link_name().map_err(corrupt)?.unwrap_or_default();
                    let base = Path::new(&name)
                        .parent()
                        .unwrap_or(Path::new(""))
                        .to_path_buf();
                    let target = normalise(&base.join(target));
                    files.remove(&name);
                    links.insert(name, target);
                }
                tar::EntryType::Link => {
                    let target = entry.link_name().map_err(corrupt)?.unwrap_or_default();
                    files.remove(&name);
                    links.insert(name, normalise(&target));
                }
                tar::EntryType::GNUSparse => {
                    return Err(ArtifactError::SparseEntry {
                        source_name,
                        entry: name,
                    });
                }
                _ => {}
            }
        }
        // Links may point at links; resolve a bounded number of rounds. They resolve
        // only to members of the archive, never to files outside it.
        for _ in 0..8 {
            let mut changed = false;
            for (name, target) in &links {
                if !files.contains_key(name)
                    && let Some(&v) = files.get(target)
                {
                    files.insert(name.clone(), v);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        Ok(Self {
            transport,
            path: path.to_path_buf(),
            files,
        })
    }

    fn data(&self, name: &str) -> Option<(FileRange, u64)> {
        self.files.get(name).map(|&(offset, size)| {
            (
                FileRange {
                    path: self.path.clone(),
                    offset,
                },
                size,
            )
        })
    }

    fn member_missing(&self, what: String) -> ArtifactError {
        ArtifactError::MemberMissing {
            source_name: self.name(),
            what,
        }
    }

    /// A small member read whole (manifests, configs, `index.json`).
    fn read_small(&self, name: &str) -> Result<Vec<u8>, ArtifactError> {
        let (data, size) = self
            .data(name)
            .ok_or_else(|| self.member_missing(name.to_string()))?;
        if size > MAX_MANIFEST_BYTES {
            return Err(FileError::TooLarge {
                path: PathBuf::from(format!("{}!{name}", self.path.display())),
                limit: MAX_MANIFEST_BYTES,
            }
            .into());
        }
        let mut out = Vec::new();
        data.open(0, size)
            .and_then(|mut r| r.read_to_end(&mut out))
            .map_err(fsio::io_error(&self.path))?;
        Ok(out)
    }
}

impl BlobIndex for TarIndex {
    fn name(&self) -> String {
        format!("{}{}", self.transport, self.path.display())
    }

    fn manifest(&self, d: &Descriptor) -> Result<Manifest, ArtifactError> {
        let bytes = self.read_small(&oci::blob_path(&d.digest))?;
        d.digest
            .verify(&bytes, &format!("manifest {}", d.digest))
            .map_err(|source| ArtifactError::Corrupt {
                source_name: self.name(),
                source,
            })?;
        let m = Manifest::from_bytes(Bytes::from(bytes), content_type(d)).map_err(|source| {
            ArtifactError::Malformed {
                source_name: self.name(),
                source,
            }
        })?;
        Ok(m.named(&d.digest)
            .expect("the bytes were verified against this digest above"))
    }

    fn blob(&self, d: &Descriptor) -> Result<Blob, ArtifactError> {
        let (data, size) = self
            .data(&oci::blob_path(&d.digest))
            .ok_or_else(|| self.member_missing(format!("blob {}", d.digest)))?;
        sized_blob(self, d, size, Arc::new(data))
    }
}

/// The manifest `tag` or `digest` names in the OCI layout inside `tar` (the only one when
/// neither is given), and everything it references.
fn collect_archived_layout(
    tar: &TarIndex,
    tag: Option<&str>,
    digest: Option<&Digest>,
    source: String,
) -> Result<Artifact, ArtifactError> {
    let malformed = |source| ArtifactError::Malformed {
        source_name: tar.name(),
        source,
    };
    let index = Index::parse(&tar.read_small("index.json")?).map_err(malformed)?;
    let (top, media_type) = index.pick(tag, digest).map_err(malformed)?;
    collect(tar, &top, media_type, source)
}

fn load_oci_archive(l: &LayoutRef) -> Result<Artifact, ArtifactError> {
    let tar = TarIndex::read(&l.path, "oci-archive:")?;
    if !tar.files.contains_key("oci-layout") {
        return Err(tar.member_missing("the oci-layout file of an OCI layout".into()));
    }
    collect_archived_layout(
        &tar,
        l.tag.as_deref(),
        l.digest.as_ref(),
        Source::OciArchive(l.clone()).to_string(),
    )
}

fn load_docker_archive(path: &Path) -> Result<Artifact, ArtifactError> {
    let tar = TarIndex::read(path, "docker-archive:")?;
    if tar.files.contains_key("oci-layout") && tar.files.contains_key("index.json") {
        return collect_archived_layout(&tar, None, None, tar.name());
    }
    convert_legacy_archive(&tar)
}

/// `manifest.json` of `docker save` before the OCI layout form.
#[derive(serde::Deserialize)]
struct LegacyEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn convert_legacy_archive(tar: &TarIndex) -> Result<Artifact, ArtifactError> {
    let legacy = |problem| ArtifactError::Legacy {
        source_name: tar.name(),
        problem,
    };
    let doc = tar.read_small("manifest.json")?;
    let entries: Vec<LegacyEntry> =
        serde_json::from_slice(&doc).map_err(|e| legacy(LegacyProblem::ManifestJson(e)))?;
    let entry = match entries.as_slice() {
        [one] => one,
        [] => return Err(legacy(LegacyProblem::NoImage)),
        many => return Err(legacy(LegacyProblem::ManyImages(many.len()))),
    };
    if entry.layers.len() > MAX_REFERENCES {
        return Err(legacy(LegacyProblem::TooManyLayers));
    }
    let config = Bytes::from(tar.read_small(&normalise(Path::new(&entry.config)))?);
    serde_json::from_slice::<serde::de::IgnoredAny>(&config)
        .map_err(|e| legacy(LegacyProblem::ConfigJson(e)))?;
    let config = Blob::in_memory(config, OCI_CONFIG);
    let mut blobs = vec![config.clone()];
    let mut layers: Vec<Blob> = Vec::new();
    // A member listed many times is hashed once: 10,000 listings of one large layer would
    // otherwise be 10,000 full reads of it.
    let mut hashed: HashMap<String, Blob> = HashMap::new();
    for name in &entry.layers {
        let name = normalise(Path::new(name));
        if let Some(layer) = hashed.get(&name) {
            layers.push(layer.clone());
            continue;
        }
        let (data, size) = tar
            .data(&name)
            .ok_or_else(|| tar.member_missing(format!("layer {name}")))?;
        let mut magic = [0u8; 2];
        let gz = data
            .open(0, 2)
            .and_then(|mut r| r.read_exact(&mut magic))
            .is_ok_and(|_| magic == [0x1f, 0x8b]);
        let digest = hash_reader(
            data.open(0, size).map_err(fsio::io_error(&tar.path))?,
            size,
            &tar.path,
        )?;
        let layer = Blob {
            digest,
            size,
            media_type: if gz {
                OCI_LAYER_TAR_GZIP
            } else {
                OCI_LAYER_TAR
            }
            .into(),
            data: Arc::new(data),
        };
        if !blobs.iter().any(|b| b.digest == layer.digest) {
            blobs.push(layer.clone());
        }
        hashed.insert(name, layer.clone());
        layers.push(layer);
    }
    let descriptor = |b: &Blob| serde_json::json!({"mediaType": b.media_type, "digest": b.digest.to_string(), "size": b.size});
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(&config),
        "layers": layers.iter().map(descriptor).collect::<Vec<_>>(),
    });
    Ok(Artifact {
        source: tar.name(),
        manifests: vec![Manifest::from_json(&doc, OCI_MANIFEST)],
        blobs,
    })
}

fn load_file(path: &Path) -> Result<Artifact, ArtifactError> {
    let size = fsio::check_regular(path, None)?.ok_or_else(|| ArtifactError::Missing {
        path: path.to_path_buf(),
    })?;
    let title = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".into());
    let f = std::fs::File::open(path).map_err(fsio::io_error(path))?;
    let digest = hash_reader(f, size, path)?;
    let empty = Blob::in_memory(Bytes::from_static(b"{}"), EMPTY_MEDIA_TYPE);
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": FILE_ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty.digest.to_string(), "size": 2},
        "layers": [{
            "mediaType": FILE_LAYER_MEDIA_TYPE,
            "digest": digest.to_string(),
            "size": size,
            "annotations": {TITLE_ANNOTATION: title},
        }],
    });
    Ok(Artifact {
        source: format!("file:{}", path.display()),
        manifests: vec![Manifest::from_json(&doc, OCI_MANIFEST)],
        blobs: vec![
            empty,
            Blob {
                digest,
                size,
                media_type: FILE_LAYER_MEDIA_TYPE.into(),
                data: Arc::new(FileRange {
                    path: path.to_path_buf(),
                    offset: 0,
                }),
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn append(
        b: &mut tar::Builder<Vec<u8>>,
        name: &str,
        kind: tar::EntryType,
        data: &[u8],
        link: Option<&str>,
    ) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        if let Some(l) = link {
            h.set_link_name(l).unwrap();
        }
        b.append_data(&mut h, name, data).unwrap();
    }

    fn content(t: &TarIndex, name: &str) -> Vec<u8> {
        let (data, size) = t.data(name).unwrap();
        let mut out = Vec::new();
        data.open(0, size).unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn a_name_written_twice_is_its_last_entry_as_when_extracted() {
        let mut b = tar::Builder::new(Vec::new());
        append(&mut b, "first", tar::EntryType::Regular, b"first", None);
        append(&mut b, "second", tar::EntryType::Regular, b"second", None);
        // A file, then a link of the same name: extraction leaves the link.
        append(&mut b, "index.json", tar::EntryType::Regular, b"file", None);
        append(
            &mut b,
            "index.json",
            tar::EntryType::Symlink,
            b"",
            Some("first"),
        );
        // A link, then a file of the same name: extraction leaves the file.
        append(
            &mut b,
            "oci-layout",
            tar::EntryType::Link,
            b"",
            Some("first"),
        );
        append(
            &mut b,
            "oci-layout",
            tar::EntryType::Regular,
            b"layout",
            None,
        );
        // Two files: the second.
        append(&mut b, "twice", tar::EntryType::Regular, b"one", None);
        append(&mut b, "twice", tar::EntryType::Regular, b"two", None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.tar");
        std::fs::write(&path, b.into_inner().unwrap()).unwrap();
        let t = TarIndex::read(&path, "oci-archive:").unwrap();
        assert_eq!(content(&t, "index.json"), b"first");
        assert_eq!(content(&t, "oci-layout"), b"layout");
        assert_eq!(content(&t, "twice"), b"two");
    }

    #[test]
    fn a_legacy_layer_listed_many_times_is_read_once() {
        let layer = vec![7u8; 4 << 20];
        let listed = vec!["layer.tar"; MAX_REFERENCES];
        let manifest = serde_json::json!([{"Config": "config.json", "Layers": listed}]);
        let mut b = tar::Builder::new(Vec::new());
        let manifest = serde_json::to_vec(&manifest).unwrap();
        append(
            &mut b,
            "manifest.json",
            tar::EntryType::Regular,
            &manifest,
            None,
        );
        append(&mut b, "config.json", tar::EntryType::Regular, b"{}", None);
        append(&mut b, "layer.tar", tar::EntryType::Regular, &layer, None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("legacy.tar");
        std::fs::write(&path, b.into_inner().unwrap()).unwrap();
        // 40 GB of hashing when each listing is read; 4 MB when the layer is read once.
        let start = std::time::Instant::now();
        let a = load_docker_archive(&path).unwrap();
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(a.blobs.len(), 2);
        assert_eq!(a.blobs[1].digest, Digest::sha256(&layer));
    }
}
