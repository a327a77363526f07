//! Local artifacts: what `publish` pushes and `digest` measures, read without loading large
//! blobs into memory.
//!
//! - `oci:` layouts are taken byte for byte: the manifest digest is that of the file.
//! - `docker-archive:` tarballs in the OCI-layout-in-tar form are taken byte for byte too;
//!   the legacy `manifest.json` form is converted once, deterministically, to an OCI manifest.
//! - `file:` artifacts become an OCI artifact with one layer holding the file's bytes.

use std::collections::{BTreeMap, HashMap};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Component, Path, PathBuf};

use bytes::Bytes;

use crate::digest::{Algorithm, Digest, Hasher};
use crate::layout::REF_NAME;
use crate::manifest::{MAX_REFERENCES, Manifest, OCI_CONFIG, OCI_MANIFEST};
use crate::reference::{LayoutRef, Source};
use crate::registry::MAX_MANIFEST_BYTES;

pub const FILE_ARTIFACT_TYPE: &str = "application/vnd.hallmark.file.v1";
pub const FILE_LAYER_MEDIA_TYPE: &str = "application/octet-stream";
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";
pub const TITLE_ANNOTATION: &str = "org.opencontainers.image.title";
const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const MAX_DEPTH: usize = 4;
const READ_BUF: usize = 1 << 20;
const STREAM_BUF: usize = 256 * 1024;

/// Blob bytes as they are read.
pub type ByteStream = futures_util::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// A local artifact could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{path}: no such file or directory")]
    Missing { path: PathBuf },
    #[error("{source_name}: {reason}")]
    Invalid { source_name: String, reason: String },
    #[error("{source_name}: {what} is corrupt: {reason}")]
    Corrupt {
        source_name: String,
        what: String,
        reason: String,
    },
    #[error("{0} cannot be published from (use oci:, docker-archive: or file:)")]
    NotLocal(String),
}

fn io_err(path: &Path, e: std::io::Error) -> ArtifactError {
    if e.kind() == std::io::ErrorKind::NotFound {
        ArtifactError::Missing {
            path: path.to_path_buf(),
        }
    } else {
        ArtifactError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    }
}

/// Where a blob's bytes are.
#[derive(Clone)]
pub enum BlobData {
    Memory(Bytes),
    /// `size` bytes at `offset` in a file (a layout blob, or an entry inside a tarball).
    File {
        path: PathBuf,
        offset: u64,
    },
    /// In a registry repository, read over HTTP when needed (copy).
    Registry {
        client: crate::registry::Client,
        repo: crate::reference::ImageRef,
    },
}

impl std::fmt::Debug for BlobData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BlobData::Memory(b) => write!(f, "Memory({} bytes)", b.len()),
            BlobData::File { path, offset } => write!(f, "File({}@{offset})", path.display()),
            BlobData::Registry { repo, .. } => write!(f, "Registry({repo})"),
        }
    }
}

/// A blob to push: its digest, size and where to read it from.
#[derive(Debug, Clone)]
pub struct Blob {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub data: BlobData,
}

impl Blob {
    /// An async stream over `len` bytes starting `start` bytes into the blob, read in
    /// bounded pieces so that memory does not grow with the blob.
    pub async fn stream_range(&self, start: u64, len: u64) -> std::io::Result<ByteStream> {
        use futures_util::StreamExt;
        use tokio::io::{AsyncReadExt, AsyncSeekExt};
        match &self.data {
            BlobData::Memory(b) => {
                let end = (start + len).min(b.len() as u64) as usize;
                let piece = b.slice((start as usize).min(end)..end);
                Ok(futures_util::stream::once(async move { Ok(piece) }).boxed())
            }
            BlobData::File { path, offset } => {
                let mut f = tokio::fs::File::open(path).await?;
                f.seek(SeekFrom::Start(offset + start)).await?;
                Ok(tokio_util::io::ReaderStream::with_capacity(f.take(len), STREAM_BUF).boxed())
            }
            BlobData::Registry { client, repo } => client
                .blob_stream(repo, &self.digest, self.size, start, len)
                .await
                .map_err(std::io::Error::other),
        }
    }

    /// A reader over `len` bytes starting `start` bytes into the blob.
    pub fn open_range(&self, start: u64, len: u64) -> std::io::Result<Box<dyn Read + Send>> {
        self.data.open_range(start, len)
    }

    pub fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        self.data.open_range(0, self.size)
    }
}

impl BlobData {
    /// A blocking reader over `len` bytes starting `start` bytes in; registry data is only
    /// read asynchronously, through [`Blob::stream_range`].
    pub fn open_range(&self, start: u64, len: u64) -> std::io::Result<Box<dyn Read + Send>> {
        match self {
            BlobData::Memory(b) => {
                let end = (start + len).min(b.len() as u64) as usize;
                Ok(Box::new(std::io::Cursor::new(
                    b.slice((start as usize).min(end)..end),
                )))
            }
            BlobData::File { path, offset } => {
                let mut f = std::fs::File::open(path)?;
                f.seek(SeekFrom::Start(offset + start))?;
                Ok(Box::new(f.take(len)))
            }
            BlobData::Registry { .. } => Err(std::io::Error::other(
                "a registry blob is read with stream_range",
            )),
        }
    }
}

/// Everything a publish pushes.
#[derive(Debug, Clone)]
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

    pub fn digest(&self) -> &Digest {
        &self.manifest().digest
    }

    pub fn total_size(&self) -> u64 {
        self.blobs.iter().map(|b| b.size).sum()
    }
}

/// Reads a local source. Blocking: call it off the async runtime for large files.
pub fn load(source: &Source) -> Result<Artifact, ArtifactError> {
    match source {
        Source::Layout(l) => load_layout(l),
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
        let n = r.read(&mut buf).map_err(|e| io_err(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    if h.len() != len {
        return Err(ArtifactError::Io {
            path: path.to_path_buf(),
            reason: format!("expected {len} bytes, read {}", h.len()),
        });
    }
    Ok(h.finish())
}

/// Looks up blobs by digest in some container (a layout directory, a tarball).
trait BlobIndex {
    fn name(&self) -> String;
    /// Where the blob with this digest is, and its actual size.
    fn locate(&self, digest: &Digest) -> Result<Option<(BlobData, u64)>, ArtifactError>;
}

/// Reads a small blob (a manifest) whole and checks its digest.
fn read_small(index: &dyn BlobIndex, d: &Digest, what: &str) -> Result<Bytes, ArtifactError> {
    let (data, size) = index.locate(d)?.ok_or_else(|| ArtifactError::Invalid {
        source_name: index.name(),
        reason: format!("{what} {d} is missing"),
    })?;
    if size > MAX_MANIFEST_BYTES {
        return Err(ArtifactError::Invalid {
            source_name: index.name(),
            reason: format!("{what} {d} is larger than {MAX_MANIFEST_BYTES} bytes"),
        });
    }
    let mut bytes = Vec::with_capacity(size as usize);
    let path = PathBuf::from(index.name());
    data.open_range(0, size)
        .and_then(|mut r| r.read_to_end(&mut bytes))
        .map_err(|e| io_err(&path, e))?;
    d.verify(&bytes, what).map_err(|e| ArtifactError::Corrupt {
        source_name: index.name(),
        what: format!("{what} {d}"),
        reason: e.to_string(),
    })?;
    Ok(Bytes::from(bytes))
}

/// Collects a manifest, its children and all their blobs, children first.
fn walk(
    index: &dyn BlobIndex,
    top: &Digest,
    media_type: Option<String>,
    out: &mut Artifact,
    depth: usize,
) -> Result<(), ArtifactError> {
    let invalid = |reason: String| ArtifactError::Invalid {
        source_name: index.name(),
        reason,
    };
    if depth > MAX_DEPTH {
        return Err(invalid(format!("indexes nested deeper than {MAX_DEPTH}")));
    }
    let bytes = read_small(index, top, "manifest")?;
    let m = Manifest::from_bytes(bytes, media_type).map_err(&invalid)?;
    let refs = m.references().map_err(&invalid)?;
    for child in refs.manifests {
        if !out.manifests.iter().any(|x| x.digest == child.digest) {
            walk(
                index,
                &child.digest,
                Some(child.media_type.clone()),
                out,
                depth + 1,
            )?;
        }
    }
    for b in refs.blobs {
        if out.blobs.iter().any(|x| x.digest == b.digest) {
            continue;
        }
        if out.blobs.len() >= MAX_REFERENCES {
            return Err(invalid(format!("more than {MAX_REFERENCES} blobs")));
        }
        let (data, size) = index
            .locate(&b.digest)?
            .ok_or_else(|| invalid(format!("blob {} is missing", b.digest)))?;
        if size != b.size {
            return Err(ArtifactError::Corrupt {
                source_name: index.name(),
                what: format!("blob {}", b.digest),
                reason: format!("{size} bytes where the manifest says {}", b.size),
            });
        }
        out.blobs.push(Blob {
            digest: b.digest,
            size,
            media_type: b.media_type,
            data,
        });
    }
    out.manifests.push(m);
    Ok(())
}

#[derive(serde::Deserialize)]
struct IndexDoc {
    #[serde(default)]
    manifests: Vec<IndexEntry>,
}

#[derive(serde::Deserialize)]
struct IndexEntry {
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    digest: String,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// Picks the entry of an `index.json` named by tag or digest, or the only one.
fn pick_entry(
    name: &str,
    index_json: &[u8],
    tag: Option<&str>,
    digest: Option<&Digest>,
) -> Result<(Digest, Option<String>), ArtifactError> {
    let invalid = |reason: String| ArtifactError::Invalid {
        source_name: name.to_string(),
        reason,
    };
    let doc: IndexDoc = serde_json::from_slice(index_json)
        .map_err(|e| invalid(format!("invalid index.json: {e}")))?;
    let parse = |e: &IndexEntry| -> Result<Digest, ArtifactError> {
        e.digest
            .parse()
            .map_err(|err: crate::digest::DigestError| invalid(err.to_string()))
    };
    if let Some(d) = digest {
        let mt = doc
            .manifests
            .iter()
            .find(|e| e.digest == d.to_string())
            .and_then(|e| e.media_type.clone());
        return Ok((d.clone(), mt));
    }
    let candidates: Vec<&IndexEntry> = match tag {
        Some(t) => doc
            .manifests
            .iter()
            .filter(|e| e.annotations.get(REF_NAME).map(String::as_str) == Some(t))
            .collect(),
        // Signature tags stored next to the image are not candidates.
        None => doc
            .manifests
            .iter()
            .filter(|e| {
                !e.annotations
                    .get(REF_NAME)
                    .is_some_and(|r| r.ends_with(".sig"))
            })
            .collect(),
    };
    match candidates.as_slice() {
        [one] => Ok((parse(one)?, one.media_type.clone())),
        [] => Err(invalid(match tag {
            Some(t) => format!("no manifest tagged {t:?}"),
            None => "index.json lists no manifest".into(),
        })),
        many => {
            let tags: Vec<&str> = many
                .iter()
                .filter_map(|e| e.annotations.get(REF_NAME).map(String::as_str))
                .collect();
            Err(invalid(format!(
                "{} manifests; name one with :TAG or @DIGEST (tags: {})",
                many.len(),
                if tags.is_empty() {
                    "none".into()
                } else {
                    tags.join(", ")
                }
            )))
        }
    }
}

struct LayoutDir {
    root: PathBuf,
}

impl BlobIndex for LayoutDir {
    fn name(&self) -> String {
        format!("oci:{}", self.root.display())
    }

    fn locate(&self, d: &Digest) -> Result<Option<(BlobData, u64)>, ArtifactError> {
        let s = d.to_string();
        let (alg, hex) = s.split_once(':').expect("a digest has a colon");
        let path = self.root.join("blobs").join(alg).join(hex);
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => Ok(Some((BlobData::File { path, offset: 0 }, m.len()))),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path, e)),
        }
    }
}

fn load_layout(l: &LayoutRef) -> Result<Artifact, ArtifactError> {
    let dir = LayoutDir {
        root: l.path.clone(),
    };
    if !l.path.join("oci-layout").is_file() {
        return Err(if l.path.exists() {
            ArtifactError::Invalid {
                source_name: dir.name(),
                reason: "not an OCI image layout (no oci-layout file)".into(),
            }
        } else {
            ArtifactError::Missing {
                path: l.path.clone(),
            }
        });
    }
    let index_path = l.path.join("index.json");
    let index_json = std::fs::read(&index_path).map_err(|e| io_err(&index_path, e))?;
    let (top, media_type) = pick_entry(
        &dir.name(),
        &index_json,
        l.tag.as_deref(),
        l.digest.as_ref(),
    )?;
    let mut out = Artifact {
        source: l.to_string(),
        manifests: Vec::new(),
        blobs: Vec::new(),
    };
    walk(&dir, &top, media_type, &mut out, 0)?;
    Ok(out)
}

/// A tarball's regular files by normalised path: (offset of the data, size).
struct TarIndex {
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
    fn read(path: &Path) -> Result<TarIndex, ArtifactError> {
        let corrupt = |reason: String| ArtifactError::Invalid {
            source_name: format!("docker-archive:{}", path.display()),
            reason: format!("not a readable tar archive: {reason}"),
        };
        let f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
        let mut archive = tar::Archive::new(f);
        let mut files = HashMap::new();
        let mut links: Vec<(String, String)> = Vec::new();
        for entry in archive
            .entries_with_seek()
            .map_err(|e| corrupt(e.to_string()))?
        {
            let entry = entry.map_err(|e| corrupt(e.to_string()))?;
            let name = normalise(&entry.path().map_err(|e| corrupt(e.to_string()))?);
            match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    files.insert(name, (entry.raw_file_position(), entry.size()));
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name()
                        .map_err(|e| corrupt(e.to_string()))?
                        .unwrap_or_default();
                    let base = Path::new(&name)
                        .parent()
                        .unwrap_or(Path::new(""))
                        .to_path_buf();
                    links.push((name, normalise(&base.join(target))));
                }
                tar::EntryType::Link => {
                    let target = entry
                        .link_name()
                        .map_err(|e| corrupt(e.to_string()))?
                        .unwrap_or_default();
                    links.push((name, normalise(&target)));
                }
                tar::EntryType::GNUSparse => {
                    return Err(corrupt(format!("sparse entry {name} is not supported")));
                }
                _ => {}
            }
        }
        // Links may point at links; resolve a bounded number of rounds.
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
        Ok(TarIndex {
            path: path.to_path_buf(),
            files,
        })
    }

    fn name(&self) -> String {
        format!("docker-archive:{}", self.path.display())
    }

    fn data(&self, name: &str) -> Option<(BlobData, u64)> {
        self.files.get(name).map(|&(offset, size)| {
            (
                BlobData::File {
                    path: self.path.clone(),
                    offset,
                },
                size,
            )
        })
    }

    fn read_small(&self, name: &str) -> Result<Vec<u8>, ArtifactError> {
        let invalid = |reason: String| ArtifactError::Invalid {
            source_name: self.name(),
            reason,
        };
        let (data, size) = self
            .data(name)
            .ok_or_else(|| invalid(format!("{name} is missing")))?;
        if size > MAX_MANIFEST_BYTES {
            return Err(invalid(format!(
                "{name} is larger than {MAX_MANIFEST_BYTES} bytes"
            )));
        }
        let mut out = Vec::new();
        data.open_range(0, size)
            .and_then(|mut r| r.read_to_end(&mut out))
            .map_err(|e| io_err(&self.path, e))?;
        Ok(out)
    }
}

impl BlobIndex for TarIndex {
    fn name(&self) -> String {
        TarIndex::name(self)
    }

    fn locate(&self, d: &Digest) -> Result<Option<(BlobData, u64)>, ArtifactError> {
        let s = d.to_string();
        let (alg, hex) = s.split_once(':').expect("a digest has a colon");
        Ok(self.data(&format!("blobs/{alg}/{hex}")))
    }
}

fn load_docker_archive(path: &Path) -> Result<Artifact, ArtifactError> {
    let tar = TarIndex::read(path)?;
    let mut out = Artifact {
        source: tar.name(),
        manifests: Vec::new(),
        blobs: Vec::new(),
    };
    if tar.files.contains_key("oci-layout") && tar.files.contains_key("index.json") {
        let index_json = tar.read_small("index.json")?;
        let (top, media_type) = pick_entry(&tar.name(), &index_json, None, None)?;
        walk(&tar, &top, media_type, &mut out, 0)?;
        return Ok(out);
    }
    convert_legacy_archive(&tar, &mut out)?;
    Ok(out)
}

/// `manifest.json` of `docker save` before the OCI layout form.
#[derive(serde::Deserialize)]
struct LegacyEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

fn convert_legacy_archive(tar: &TarIndex, out: &mut Artifact) -> Result<(), ArtifactError> {
    let invalid = |reason: String| ArtifactError::Invalid {
        source_name: tar.name(),
        reason,
    };
    let doc = tar.read_small("manifest.json")?;
    let entries: Vec<LegacyEntry> =
        serde_json::from_slice(&doc).map_err(|e| invalid(format!("invalid manifest.json: {e}")))?;
    let entry = match entries.as_slice() {
        [one] => one,
        [] => return Err(invalid("manifest.json lists no image".into())),
        many => {
            return Err(invalid(format!(
                "the archive holds {} images; save one image per archive",
                many.len()
            )));
        }
    };
    if entry.layers.len() > MAX_REFERENCES {
        return Err(invalid(format!("more than {MAX_REFERENCES} layers")));
    }
    let config = Bytes::from(tar.read_small(&normalise(Path::new(&entry.config)))?);
    serde_json::from_slice::<serde::de::IgnoredAny>(&config)
        .map_err(|e| invalid(format!("image config is not JSON: {e}")))?;
    let config_digest = Digest::sha256(&config);
    let mut layers = Vec::new();
    for name in &entry.layers {
        let name = normalise(Path::new(name));
        let (data, size) = tar
            .data(&name)
            .ok_or_else(|| invalid(format!("layer {name} is missing")))?;
        let mut magic = [0u8; 2];
        let gz = data
            .open_range(0, 2)
            .and_then(|mut r| r.read_exact(&mut magic))
            .is_ok_and(|_| magic == [0x1f, 0x8b]);
        let digest = hash_reader(
            data.open_range(0, size).map_err(|e| io_err(&tar.path, e))?,
            size,
            &tar.path,
        )?;
        let media_type = if gz { LAYER_TAR_GZIP } else { LAYER_TAR };
        layers.push(Blob {
            digest,
            size,
            media_type: media_type.into(),
            data,
        });
    }
    let descriptor = |mt: &str, d: &Digest, size: u64| serde_json::json!({"mediaType": mt, "digest": d.to_string(), "size": size});
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, &config_digest, config.len() as u64),
        "layers": layers.iter().map(|l| descriptor(&l.media_type, &l.digest, l.size)).collect::<Vec<_>>(),
    });
    out.blobs.push(Blob {
        digest: config_digest,
        size: config.len() as u64,
        media_type: OCI_CONFIG.into(),
        data: BlobData::Memory(config),
    });
    for l in layers {
        if !out.blobs.iter().any(|b| b.digest == l.digest) {
            out.blobs.push(l);
        }
    }
    out.manifests.push(Manifest::new(
        serde_json::to_vec(&doc).expect("serialising JSON values cannot fail"),
        OCI_MANIFEST,
    ));
    Ok(())
}

fn load_file(path: &Path) -> Result<Artifact, ArtifactError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    if !meta.is_file() {
        return Err(ArtifactError::Invalid {
            source_name: format!("file:{}", path.display()),
            reason: "not a regular file".into(),
        });
    }
    let title = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".into());
    let f = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    let digest = hash_reader(f, meta.len(), path)?;
    let empty = Bytes::from_static(b"{}");
    let empty_digest = Digest::sha256(&empty);
    let doc = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": FILE_ARTIFACT_TYPE,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty_digest.to_string(), "size": 2},
        "layers": [{
            "mediaType": FILE_LAYER_MEDIA_TYPE,
            "digest": digest.to_string(),
            "size": meta.len(),
            "annotations": {TITLE_ANNOTATION: title},
        }],
    });
    Ok(Artifact {
        source: format!("file:{}", path.display()),
        manifests: vec![Manifest::new(
            serde_json::to_vec(&doc).expect("serialising JSON values cannot fail"),
            OCI_MANIFEST,
        )],
        blobs: vec![
            Blob {
                digest: empty_digest,
                size: 2,
                media_type: EMPTY_MEDIA_TYPE.into(),
                data: BlobData::Memory(empty),
            },
            Blob {
                digest,
                size: meta.len(),
                media_type: FILE_LAYER_MEDIA_TYPE.into(),
                data: BlobData::File {
                    path: path.to_path_buf(),
                    offset: 0,
                },
            },
        ],
    })
}
