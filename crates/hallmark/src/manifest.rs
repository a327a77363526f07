//! Manifests as bytes: the digest is always of the exact bytes, never of re-serialised JSON.

use bytes::Bytes;

use crate::digest::Digest;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Accept header for manifest reads: every manifest kind hallmark can sign.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest's exact bytes, its media type and the digest of those bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: Digest,
}

impl Manifest {
    /// Wraps bytes read from somewhere; `content_type` is what the source claimed.
    /// The bytes must be a JSON object; the media type comes from the claim, else the
    /// document's own `mediaType`, else its shape.
    pub fn from_bytes(bytes: Bytes, content_type: Option<String>) -> Result<Manifest, String> {
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Option<serde::de::IgnoredAny>,
        }
        let probe: Probe = serde_json::from_slice(&bytes)
            .map_err(|e| format!("manifest is not valid JSON: {e}"))?;
        let media_type = content_type
            .filter(|c| is_manifest_type(c))
            .or(probe.media_type)
            .unwrap_or_else(|| {
                if probe.manifests.is_some() {
                    OCI_INDEX
                } else {
                    OCI_MANIFEST
                }
                .to_string()
            });
        if !is_manifest_type(&media_type) {
            return Err(format!("unsupported manifest media type {media_type:?}"));
        }
        let digest = Digest::sha256(&bytes);
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// A manifest hallmark writes itself.
    pub fn new(bytes: Vec<u8>, media_type: &str) -> Manifest {
        let digest = Digest::sha256(&bytes);
        Manifest {
            bytes: Bytes::from(bytes),
            media_type: media_type.to_string(),
            digest,
        }
    }

    pub fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }
}

fn is_manifest_type(t: &str) -> bool {
    matches!(
        t,
        OCI_MANIFEST | OCI_INDEX | DOCKER_MANIFEST | DOCKER_MANIFEST_LIST
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_type_sources() {
        let m = Manifest::from_bytes(
            Bytes::from_static(br#"{"schemaVersion":2,"manifests":[]}"#),
            None,
        )
        .unwrap();
        assert!(m.is_index());
        let m = Manifest::from_bytes(
            Bytes::from_static(br#"{"schemaVersion":2}"#),
            Some(DOCKER_MANIFEST.to_string()),
        )
        .unwrap();
        assert_eq!(m.media_type, DOCKER_MANIFEST);
        assert!(Manifest::from_bytes(Bytes::from_static(b"<html>"), None).is_err());
        assert!(
            Manifest::from_bytes(
                Bytes::from_static(
                    br#"{"mediaType":"application/vnd.docker.distribution.manifest.v1+json"}"#
                ),
                None
            )
            .is_err()
        );
        assert_eq!(m.digest, Digest::sha256(br#"{"schemaVersion":2}"#));
    }
}
