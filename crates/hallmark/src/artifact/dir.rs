//! skopeo's `dir:` layout (containers/image's directory transport): `manifest.json` is
//! the image's manifest, byte for byte; every blob is a file named by its sha256 hex
//! digest; the manifests an index lists (`skopeo copy --all`) are `<hex>.manifest.json`;
//! a `version` file says `Directory Transport Version: 1.x`. Files are read as a layout's
//! are: bounded, regular files only, never through a link that leaves the directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use super::{Artifact, ArtifactError, BlobIndex, collect, content_type, sized_blob};
use crate::digest::{Algorithm, Digest};
use crate::fsio::{self, FileRange};
use crate::oci::{Blob, Descriptor, MAX_MANIFEST_BYTES, Manifest};

const VERSION_FILE: &str = "version";
const VERSION_PREFIX: &[u8] = b"Directory Transport Version: ";
const TOP_MANIFEST: &str = "manifest.json";

struct DirLayout {
    root: PathBuf,
    top: Digest,
    top_bytes: Bytes,
}

impl DirLayout {
    fn member(&self, name: &str) -> PathBuf {
        self.root.join(name)
    }

    /// The file a sha256 blob is stored in; other algorithms are never stored by hex alone.
    fn blob_name(&self, d: &Digest) -> Option<String> {
        (d.algorithm() == Algorithm::Sha256).then(|| d.hex().to_string())
    }

    fn missing(&self, what: String) -> ArtifactError {
        ArtifactError::MemberMissing {
            source_name: self.name(),
            what,
        }
    }
}

impl BlobIndex for DirLayout {
    fn name(&self) -> String {
        format!("dir:{}", self.root.display())
    }

    fn manifest(&self, d: &Descriptor) -> Result<Manifest, ArtifactError> {
        let bytes = if d.digest == self.top {
            self.top_bytes.clone()
        } else {
            let name = self
                .blob_name(&d.digest)
                .map(|hex| format!("{hex}.manifest.json"))
                .ok_or_else(|| self.missing(format!("manifest {}", d.digest)))?;
            let bytes =
                fsio::read_bounded(&self.member(&name), Some(&self.root), MAX_MANIFEST_BYTES)?
                    .ok_or_else(|| self.missing(format!("manifest {} ({name})", d.digest)))?;
            Bytes::from(bytes)
        };
        let corrupt = |source| ArtifactError::Corrupt {
            source_name: self.name(),
            source,
        };
        d.digest
            .verify(&bytes, &format!("manifest {}", d.digest))
            .map_err(corrupt)?;
        Manifest::from_bytes(bytes, content_type(d))
            .map_err(|source| ArtifactError::Malformed {
                source_name: self.name(),
                source,
            })?
            .named(&d.digest)
            .map_err(corrupt)
    }

    fn blob(&self, d: &Descriptor) -> Result<Blob, ArtifactError> {
        let name = self
            .blob_name(&d.digest)
            .ok_or_else(|| self.missing(format!("blob {}", d.digest)))?;
        let path = self.member(&name);
        let size = fsio::check_regular(&path, Some(&self.root))?
            .ok_or_else(|| self.missing(format!("blob {}", d.digest)))?;
        // The bytes are hashed as they are streamed, like a layout's.
        sized_blob(self, d, size, Arc::new(FileRange { path, offset: 0 }))
    }
}

/// Reads `dir:PATH`: its manifest and everything it references.
pub(super) fn load(root: &Path) -> Result<Artifact, ArtifactError> {
    if !root.is_dir() {
        return Err(ArtifactError::Missing {
            path: root.to_path_buf(),
        });
    }
    let not_dir = |what: &str| ArtifactError::MemberMissing {
        source_name: format!("dir:{}", root.display()),
        what: format!("{what} of a skopeo dir: layout"),
    };
    let version = fsio::read_bounded(&root.join(VERSION_FILE), Some(root), 256)?
        .ok_or_else(|| not_dir("the version file"))?;
    if !version.starts_with(VERSION_PREFIX) {
        return Err(not_dir("the version line"));
    }
    let top_bytes = fsio::read_bounded(&root.join(TOP_MANIFEST), Some(root), MAX_MANIFEST_BYTES)?
        .ok_or_else(|| not_dir(TOP_MANIFEST))?;
    let dir = DirLayout {
        root: root.to_path_buf(),
        top: Digest::sha256(&top_bytes),
        top_bytes: Bytes::from(top_bytes),
    };
    let top = dir.top.clone();
    collect(&dir, &top, None, dir.name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_dir(root: &Path, manifest: &[u8], blobs: &[&[u8]]) {
        std::fs::write(root.join("version"), "Directory Transport Version: 1.1\n").unwrap();
        std::fs::write(root.join("manifest.json"), manifest).unwrap();
        for b in blobs {
            std::fs::write(root.join(Digest::sha256(b).hex()), b).unwrap();
        }
    }

    fn manifest_for(config: &[u8], layer: &[u8]) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": Digest::sha256(config).to_string(), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": Digest::sha256(layer).to_string(), "size": layer.len()}],
        }))
        .unwrap()
    }

    #[test]
    fn the_manifest_is_taken_byte_for_byte() {
        let d = tempfile::tempdir().unwrap();
        let m = manifest_for(b"{}", b"layer");
        write_dir(d.path(), &m, &[b"{}", b"layer"]);
        let a = load(d.path()).unwrap();
        assert_eq!(a.digest(), &Digest::sha256(&m));
        assert_eq!(a.blobs.len(), 2);
    }

    #[test]
    fn a_directory_without_the_version_file_is_not_taken_for_one() {
        let d = tempfile::tempdir().unwrap();
        let m = manifest_for(b"{}", b"layer");
        write_dir(d.path(), &m, &[b"{}", b"layer"]);
        std::fs::write(d.path().join("version"), "something else\n").unwrap();
        let e = load(d.path()).unwrap_err().to_string();
        assert!(
            e.contains("the version line of a skopeo dir: layout"),
            "{e}"
        );
        std::fs::remove_file(d.path().join("version")).unwrap();
        let e = load(d.path()).unwrap_err().to_string();
        assert!(e.contains("the version file"), "{e}");
    }

    #[test]
    fn a_blob_of_the_wrong_size_or_missing_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let m = manifest_for(b"{}", b"layer");
        write_dir(d.path(), &m, &[b"{}"]);
        assert!(matches!(
            load(d.path()),
            Err(ArtifactError::MemberMissing { .. })
        ));
        std::fs::write(d.path().join(Digest::sha256(b"layer").hex()), b"layer!").unwrap();
        assert!(matches!(
            load(d.path()),
            Err(ArtifactError::SizeMismatch { .. })
        ));
    }

    #[test]
    fn a_blob_linking_out_of_the_directory_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let m = manifest_for(b"{}", b"layer");
        write_dir(d.path(), &m, &[b"{}"]);
        std::fs::write(outside.path().join("l"), b"layer").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("l"),
            d.path().join(Digest::sha256(b"layer").hex()),
        )
        .unwrap();
        assert!(matches!(load(d.path()), Err(ArtifactError::File(_))));
    }
}
