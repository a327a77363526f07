//! OCI image layout directories (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`).
//!
//! Tags are `org.opencontainers.image.ref.name` annotations in `index.json`. Signatures are
//! stored under the same `sha256-<hex>.sig` tag names as in a registry.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use oci_spec::image::{Descriptor, ImageIndex, MediaType};

use crate::digest::{Digest, DigestError};
use crate::manifest::Manifest;

pub const REF_NAME: &str = "org.opencontainers.image.ref.name";
const LAYOUT_FILE: &str = "oci-layout";
const LAYOUT_CONTENT: &str = r#"{"imageLayoutVersion":"1.0.0"}"#;

/// An OCI layout could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayoutError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{path} is not an OCI image layout (no oci-layout file)")]
    NotLayout { path: PathBuf },
    #[error("{path}: invalid index.json: {reason}")]
    Index { path: PathBuf, reason: String },
    #[error("{path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("layout blob is corrupt: {0}")]
    Digest(#[from] DigestError),
    #[error("{path}: blob larger than the {limit}-byte limit")]
    TooLarge { path: PathBuf, limit: u64 },
}

/// An OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Opens an existing layout.
    pub fn open(path: &Path) -> Result<Layout, LayoutError> {
        if !path.join(LAYOUT_FILE).is_file() {
            return Err(LayoutError::NotLayout {
                path: path.to_path_buf(),
            });
        }
        Ok(Layout {
            root: path.to_path_buf(),
        })
    }

    /// Opens a layout, creating an empty one if the directory has none.
    pub fn create(path: &Path) -> Result<Layout, LayoutError> {
        if path.join(LAYOUT_FILE).is_file() {
            return Layout::open(path);
        }
        let io = |e: std::io::Error| LayoutError::Io {
            path: path.to_path_buf(),
            reason: e.to_string(),
        };
        std::fs::create_dir_all(path.join("blobs").join("sha256")).map_err(io)?;
        let layout = Layout {
            root: path.to_path_buf(),
        };
        layout.write_atomic(
            &path.join("index.json"),
            br#"{"schemaVersion":2,"manifests":[]}"#,
        )?;
        layout.write_atomic(&path.join(LAYOUT_FILE), LAYOUT_CONTENT.as_bytes())?;
        Ok(layout)
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    fn io(&self, path: &Path) -> impl Fn(std::io::Error) -> LayoutError {
        let path = path.to_path_buf();
        move |e| LayoutError::Io {
            path: path.clone(),
            reason: e.to_string(),
        }
    }

    /// Writes a file so that readers see the old or the new content, never half of it.
    fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<(), LayoutError> {
        let dir = path.parent().unwrap_or(&self.root);
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(self.io(dir))?;
        tmp.write_all(bytes).map_err(self.io(path))?;
        tmp.as_file().sync_all().map_err(self.io(path))?;
        tmp.persist(path).map_err(|e| self.io(path)(e.error))?;
        Ok(())
    }

    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        let s = digest.to_string();
        let (alg, hex) = s.split_once(':').expect("a digest has a colon");
        self.root.join("blobs").join(alg).join(hex)
    }

    fn read_index(&self) -> Result<ImageIndex, LayoutError> {
        let path = self.root.join("index.json");
        let bytes = std::fs::read(&path).map_err(self.io(&path))?;
        ImageIndex::from_reader(&bytes[..]).map_err(|e| LayoutError::Index {
            path,
            reason: e.to_string(),
        })
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), LayoutError> {
        let path = self.root.join("index.json");
        let text = index.to_string().map_err(|e| LayoutError::Index {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        self.write_atomic(&path, text.as_bytes())
    }

    /// The digest a tag names, if any.
    pub fn resolve_tag(&self, tag: &str) -> Result<Option<Digest>, LayoutError> {
        let index = self.read_index()?;
        let found = index.manifests().iter().find(|d| ref_name(d) == Some(tag));
        found.map(|d| self.descriptor_digest(d)).transpose()
    }

    fn descriptor_digest(&self, d: &Descriptor) -> Result<Digest, LayoutError> {
        d.digest()
            .to_string()
            .parse()
            .map_err(|e: DigestError| LayoutError::Index {
                path: self.root.join("index.json"),
                reason: e.to_string(),
            })
    }

    /// Every tag in the layout.
    pub fn list_tags(&self) -> Result<Vec<String>, LayoutError> {
        let index = self.read_index()?;
        Ok(index
            .manifests()
            .iter()
            .filter_map(|d| ref_name(d).map(str::to_string))
            .collect())
    }

    /// Reads a blob whole, verified against its digest.
    pub fn get_blob(&self, digest: &Digest, limit: u64) -> Result<Option<Bytes>, LayoutError> {
        let path = self.blob_path(digest);
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io(&path)(e)),
        };
        if meta.len() > limit {
            return Err(LayoutError::TooLarge { path, limit });
        }
        let bytes = std::fs::read(&path).map_err(self.io(&path))?;
        digest.verify(&bytes, &path.display().to_string())?;
        Ok(Some(Bytes::from(bytes)))
    }

    pub fn blob_exists(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// Stores a blob held in memory (verified first).
    pub fn put_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<(), LayoutError> {
        digest.verify(bytes, "blob to store")?;
        if self.blob_exists(digest) {
            return Ok(());
        }
        let path = self.blob_path(digest);
        let dir = path.parent().expect("blob path has a parent");
        std::fs::create_dir_all(dir).map_err(self.io(dir))?;
        self.write_atomic(&path, bytes)
    }

    /// Copies a blob into the layout, hashing it on the way; a blob whose bytes do not
    /// match its digest never appears under that digest. Returns false if it was present.
    pub async fn put_blob_stream(
        &self,
        blob: &crate::artifact::Blob,
        progress: &dyn Fn(u64),
    ) -> Result<bool, LayoutError> {
        use futures_util::StreamExt;
        if self.blob_exists(&blob.digest) {
            return Ok(false);
        }
        let path = self.blob_path(&blob.digest);
        let dir = path.parent().expect("blob path has a parent");
        std::fs::create_dir_all(dir).map_err(self.io(dir))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(self.io(dir))?;
        let mut stream = blob
            .stream_range(0, blob.size)
            .await
            .map_err(self.io(&path))?;
        let mut hasher = crate::digest::Hasher::new(blob.digest.algorithm());
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.io(&path))?;
            hasher.update(&chunk);
            if hasher.len() > blob.size {
                return Err(LayoutError::TooLarge {
                    path,
                    limit: blob.size,
                });
            }
            tmp.write_all(&chunk).map_err(self.io(&path))?;
            progress(hasher.len());
        }
        hasher
            .finish()
            .expect(&blob.digest, &format!("blob {}", blob.digest))?;
        tmp.as_file().sync_all().map_err(self.io(&path))?;
        tmp.persist(&path).map_err(|e| self.io(&path)(e.error))?;
        Ok(true)
    }

    /// Reads a manifest by tag or digest.
    pub fn get_manifest(&self, reference: &str) -> Result<Option<Manifest>, LayoutError> {
        let (digest, media_type) = match reference.parse::<Digest>() {
            Ok(d) => {
                let index = self.read_index()?;
                let mt = index
                    .manifests()
                    .iter()
                    .find(|x| x.digest().to_string() == d.to_string())
                    .map(|x| x.media_type().to_string());
                (d, mt)
            }
            Err(_) => {
                let index = self.read_index()?;
                let Some(desc) = index
                    .manifests()
                    .iter()
                    .find(|d| ref_name(d) == Some(reference))
                else {
                    return Ok(None);
                };
                (
                    self.descriptor_digest(desc)?,
                    Some(desc.media_type().to_string()),
                )
            }
        };
        let Some(bytes) = self.get_blob(&digest, crate::registry::MAX_MANIFEST_BYTES)? else {
            return Ok(None);
        };
        let m =
            Manifest::from_bytes(bytes, media_type).map_err(|reason| LayoutError::Manifest {
                path: self.blob_path(&digest),
                reason,
            })?;
        Ok(Some(m))
    }

    /// Stores a manifest and, with `tag`, points the tag at it (moving it if it existed).
    /// Without a tag the manifest is listed untagged so that it is reachable.
    pub fn put_manifest(&self, m: &Manifest, tag: Option<&str>) -> Result<(), LayoutError> {
        self.put_blob(&m.digest, &m.bytes)?;
        let mut index = self.read_index()?;
        let mut manifests = index.manifests().clone();
        let digest_str = m.digest.to_string();
        match tag {
            Some(tag) => manifests.retain(|d| ref_name(d) != Some(tag)),
            None => {
                if manifests
                    .iter()
                    .any(|d| d.digest().to_string() == digest_str)
                {
                    return Ok(());
                }
            }
        }
        let oci_digest: oci_spec::image::Digest =
            digest_str
                .parse()
                .map_err(|e: oci_spec::OciSpecError| LayoutError::Index {
                    path: self.root.join("index.json"),
                    reason: e.to_string(),
                })?;
        let mut desc = Descriptor::new(
            MediaType::from(m.media_type.as_str()),
            m.bytes.len() as u64,
            oci_digest,
        );
        if let Some(tag) = tag {
            desc.set_annotations(Some(HashMap::from([(
                REF_NAME.to_string(),
                tag.to_string(),
            )])));
        }
        manifests.push(desc);
        index.set_manifests(manifests);
        self.write_index(&index)
    }
}

fn ref_name(d: &Descriptor) -> Option<&str> {
    d.annotations().as_ref()?.get(REF_NAME).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_move_and_blobs_verify() {
        let dir = tempfile::tempdir().unwrap();
        let l = Layout::create(dir.path()).unwrap();
        let a = Manifest::new(
            br#"{"schemaVersion":2,"a":1}"#.to_vec(),
            crate::manifest::OCI_MANIFEST,
        );
        let b = Manifest::new(
            br#"{"schemaVersion":2,"b":1}"#.to_vec(),
            crate::manifest::OCI_MANIFEST,
        );
        l.put_manifest(&a, Some("v1")).unwrap();
        assert_eq!(l.resolve_tag("v1").unwrap(), Some(a.digest.clone()));
        l.put_manifest(&b, Some("v1")).unwrap();
        assert_eq!(l.resolve_tag("v1").unwrap(), Some(b.digest.clone()));
        assert_eq!(l.list_tags().unwrap(), vec!["v1".to_string()]);
        assert_eq!(l.get_manifest(&a.digest.to_string()).unwrap().unwrap(), a);
        // A blob file whose bytes were swapped on disk is detected.
        std::fs::write(l.blob_path(&a.digest), b"tampered").unwrap();
        assert!(matches!(
            l.get_manifest(&a.digest.to_string()),
            Err(LayoutError::Digest(_))
        ));
        assert!(Layout::open(&dir.path().join("nope")).is_err());
    }
}
