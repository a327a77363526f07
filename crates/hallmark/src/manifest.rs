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
        // A claim that contradicts the document, or that is not a manifest type at all,
        // means the source is confused or lying: refuse rather than guess.
        if let Some(c) = &content_type {
            if is_manifest_type(c) {
                if let Some(b) = &probe.media_type
                    && b != c
                {
                    return Err(format!("served as {c} but the document says {b}"));
                }
            } else if !matches!(c.as_str(), "application/json" | "application/octet-stream") {
                return Err(format!(
                    "served with Content-Type {c}, which is not a manifest"
                ));
            }
        }
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

/// Most descriptors one manifest may list: bounds the work a hostile manifest can cause.
pub const MAX_REFERENCES: usize = 10_000;

/// A descriptor as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
}

/// What a manifest points at: child manifests (of an index) and blobs (config, layers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    pub manifests: Vec<Reference>,
    pub blobs: Vec<Reference>,
}

impl Manifest {
    /// The descriptors this manifest references.
    pub fn references(&self) -> Result<References, String> {
        #[derive(serde::Deserialize)]
        struct Desc {
            #[serde(rename = "mediaType", default)]
            media_type: String,
            digest: String,
            size: u64,
        }
        #[derive(serde::Deserialize)]
        struct Doc {
            config: Option<Desc>,
            #[serde(default)]
            layers: Vec<Desc>,
            #[serde(default)]
            manifests: Vec<Desc>,
        }
        let doc: Doc = serde_json::from_slice(&self.bytes)
            .map_err(|e| format!("invalid manifest {}: {e}", self.digest))?;
        if doc.layers.len() + doc.manifests.len() > MAX_REFERENCES {
            return Err(format!(
                "manifest {} lists more than {MAX_REFERENCES} descriptors",
                self.digest
            ));
        }
        let convert = |d: Desc| -> Result<Reference, String> {
            Ok(Reference {
                digest: d
                    .digest
                    .parse()
                    .map_err(|e: crate::digest::DigestError| e.to_string())?,
                media_type: d.media_type,
                size: d.size,
            })
        };
        let mut out = References::default();
        if self.is_index() {
            if doc.config.is_some() || !doc.layers.is_empty() {
                return Err(format!("index {} also has a config or layers", self.digest));
            }
            out.manifests = doc
                .manifests
                .into_iter()
                .map(convert)
                .collect::<Result<_, _>>()?;
        } else {
            let config = doc
                .config
                .ok_or_else(|| format!("manifest {} has no config", self.digest))?;
            out.blobs.push(convert(config)?);
            for l in doc.layers {
                out.blobs.push(convert(l)?);
            }
        }
        Ok(out)
    }
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
        let doc = Bytes::from_static(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        );
        let err = Manifest::from_bytes(doc.clone(), Some("text/html".into())).unwrap_err();
        assert!(err.contains("text/html"), "{err}");
        let err = Manifest::from_bytes(doc.clone(), Some(OCI_INDEX.into())).unwrap_err();
        assert!(err.contains("document says"), "{err}");
        assert!(Manifest::from_bytes(doc, Some("application/json".into())).is_ok());
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

    #[test]
    fn references_of_manifests_and_indexes() {
        let d = Digest::sha256(b"x").to_string();
        let m = Manifest::new(
            format!(r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{d}","size":1}},"layers":[{{"mediaType":"l","digest":"{d}","size":1}}]}}"#).into_bytes(),
            OCI_MANIFEST,
        );
        let r = m.references().unwrap();
        assert_eq!((r.blobs.len(), r.manifests.len()), (2, 0));
        let i = Manifest::new(format!(r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{d}","size":1}}]}}"#).into_bytes(), OCI_INDEX);
        assert_eq!(i.references().unwrap().manifests[0].digest.to_string(), d);
        let bad = Manifest::new(
            br#"{"schemaVersion":2,"config":{"digest":"md5:1","size":1}}"#.to_vec(),
            OCI_MANIFEST,
        );
        assert!(bad.references().is_err());
        let no_config = Manifest::new(br#"{"schemaVersion":2,"layers":[]}"#.to_vec(), OCI_MANIFEST);
        assert!(no_config.references().is_err());
    }
}
