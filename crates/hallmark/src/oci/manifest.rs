//! Manifests as bytes: the digest is always of the exact bytes, never of re-serialised JSON.

use bytes::Bytes;

use super::{
    DOCKER_MANIFEST_LIST, MAX_REFERENCES, OCI_INDEX, OCI_MANIFEST, OciError, is_manifest_type,
};
use crate::digest::{Digest, DigestError};

/// A manifest's exact bytes, its media type and the digest of those bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// The bytes as stored; never re-serialised.
    pub bytes: Bytes,
    /// The manifest media type.
    pub media_type: String,
    /// SHA-256 of `bytes`.
    pub digest: Digest,
}

/// A descriptor as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    /// Media type as written (may be empty in old manifests).
    pub media_type: String,
    /// Content digest.
    pub digest: Digest,
    /// Size in bytes, as the manifest claims it.
    pub size: u64,
}

/// What an artifact manifest says about itself: its type, the manifest it refers to, its
/// annotations and its layers (OCI 1.1 referrers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ArtifactInfo {
    /// `artifactType`.
    pub artifact_type: Option<String>,
    /// `subject`: the manifest this one refers to.
    pub subject: Option<Descriptor>,
    /// Manifest annotations.
    pub annotations: std::collections::BTreeMap<String, String>,
    /// Layer descriptors.
    pub layers: Vec<Descriptor>,
}

/// What a manifest points at: child manifests (of an index) and blobs (config, layers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    /// Child manifests, for an index.
    pub manifests: Vec<Descriptor>,
    /// Config and layers, for an image manifest.
    pub blobs: Vec<Descriptor>,
}

/// A descriptor as serialised.
#[derive(serde::Deserialize)]
struct RawDescriptor {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    size: u64,
}

impl RawDescriptor {
    fn parse(self) -> Result<Descriptor, OciError> {
        Ok(Descriptor {
            digest: self.digest.parse().map_err(OciError::Descriptor)?,
            media_type: self.media_type,
            size: self.size,
        })
    }
}

impl Manifest {
    /// Wraps bytes read from somewhere; `content_type` is what the source claimed.
    /// The bytes must be a JSON object; the media type comes from the claim, else the
    /// document's own `mediaType`, else its shape.
    pub fn from_bytes(bytes: Bytes, content_type: Option<String>) -> Result<Self, OciError> {
        #[derive(serde::Deserialize)]
        struct Probe {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Option<serde::de::IgnoredAny>,
        }
        let digest = Digest::sha256(&bytes);
        let probe: Probe = serde_json::from_slice(&bytes).map_err(|source| OciError::Json {
            what: format!("manifest {digest}"),
            source,
        })?;
        // A claim that contradicts the document, or that is not a manifest type at all,
        // means the source is confused or lying: refuse rather than guess.
        if let Some(c) = &content_type {
            if is_manifest_type(c) {
                if let Some(b) = &probe.media_type
                    && b != c
                {
                    return Err(OciError::ContentTypeMismatch {
                        served: c.clone(),
                        document: b.clone(),
                    });
                }
            } else if !matches!(c.as_str(), "application/json" | "application/octet-stream") {
                return Err(OciError::NotAManifestType(c.clone()));
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
            return Err(OciError::UnsupportedMediaType(media_type));
        }
        Ok(Self {
            bytes,
            media_type,
            digest,
        })
    }

    /// The same manifest under the name it was asked for: a reader that fetched it by
    /// `digest` (of any algorithm) checks the bytes against that digest, and from then on
    /// the manifest is known by that name.
    pub fn named(mut self, digest: &Digest) -> Result<Self, DigestError> {
        if &self.digest != digest {
            digest.verify(&self.bytes, &format!("manifest {digest}"))?;
            self.digest = digest.clone();
        }
        Ok(self)
    }

    /// A manifest hallmark writes itself.
    pub fn new(bytes: Vec<u8>, media_type: &str) -> Self {
        let digest = Digest::sha256(&bytes);
        Self {
            bytes: Bytes::from(bytes),
            media_type: media_type.to_string(),
            digest,
        }
    }

    /// A manifest hallmark writes itself, from a JSON document.
    pub fn from_json(doc: &serde_json::Value, media_type: &str) -> Self {
        Self::new(
            serde_json::to_vec(doc).expect("serialising JSON values cannot fail"),
            media_type,
        )
    }

    /// True for an OCI index or a Docker manifest list.
    pub(crate) fn is_index(&self) -> bool {
        self.media_type == OCI_INDEX || self.media_type == DOCKER_MANIFEST_LIST
    }

    /// The artifact fields of an image manifest (referrers).
    pub fn artifact(&self) -> Result<ArtifactInfo, OciError> {
        #[derive(serde::Deserialize)]
        struct Doc {
            #[serde(rename = "artifactType")]
            artifact_type: Option<String>,
            subject: Option<RawDescriptor>,
            #[serde(default)]
            annotations: std::collections::BTreeMap<String, String>,
            #[serde(default)]
            layers: Vec<RawDescriptor>,
        }
        let doc: Doc = serde_json::from_slice(&self.bytes).map_err(|source| OciError::Json {
            what: format!("manifest {}", self.digest),
            source,
        })?;
        if doc.layers.len() > MAX_REFERENCES {
            return Err(OciError::TooManyReferences {
                what: format!("manifest {}", self.digest),
            });
        }
        let convert = RawDescriptor::parse;
        Ok(ArtifactInfo {
            artifact_type: doc.artifact_type,
            subject: doc.subject.map(convert).transpose()?,
            annotations: doc.annotations,
            layers: doc
                .layers
                .into_iter()
                .map(convert)
                .collect::<Result<_, _>>()?,
        })
    }

    /// The descriptors this manifest references.
    pub fn references(&self) -> Result<References, OciError> {
        #[derive(serde::Deserialize)]
        struct Doc {
            config: Option<RawDescriptor>,
            #[serde(default)]
            layers: Vec<RawDescriptor>,
            #[serde(default)]
            manifests: Vec<RawDescriptor>,
        }
        let doc: Doc = serde_json::from_slice(&self.bytes).map_err(|source| OciError::Json {
            what: format!("manifest {}", self.digest),
            source,
        })?;
        if doc.layers.len() + doc.manifests.len() > MAX_REFERENCES {
            return Err(OciError::TooManyReferences {
                what: format!("manifest {}", self.digest),
            });
        }
        let convert = RawDescriptor::parse;
        let mut out = References::default();
        if self.is_index() {
            if doc.config.is_some() || !doc.layers.is_empty() {
                return Err(OciError::IndexWithBlobs(self.digest.clone()));
            }
            out.manifests = doc
                .manifests
                .into_iter()
                .map(convert)
                .collect::<Result<_, _>>()?;
        } else {
            let config = doc
                .config
                .ok_or_else(|| OciError::NoConfig(self.digest.clone()))?;
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
    use crate::oci::DOCKER_MANIFEST;

    #[test]
    fn media_type_comes_from_claim_document_or_shape() {
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
        assert_eq!(m.digest, Digest::sha256(br#"{"schemaVersion":2}"#));
    }

    #[test]
    fn contradictions_and_non_manifests_are_refused() {
        assert!(matches!(
            Manifest::from_bytes(Bytes::from_static(b"<html>"), None),
            Err(OciError::Json { .. })
        ));
        let doc = Bytes::from_static(
            br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}"#,
        );
        assert!(matches!(
            Manifest::from_bytes(doc.clone(), Some("text/html".into())),
            Err(OciError::NotAManifestType(t)) if t == "text/html"
        ));
        assert!(matches!(
            Manifest::from_bytes(doc.clone(), Some(OCI_INDEX.into())),
            Err(OciError::ContentTypeMismatch { .. })
        ));
        assert!(Manifest::from_bytes(doc, Some("application/json".into())).is_ok());
        assert!(matches!(
            Manifest::from_bytes(
                Bytes::from_static(
                    br#"{"mediaType":"application/vnd.docker.distribution.manifest.v1+json"}"#
                ),
                None
            ),
            Err(OciError::UnsupportedMediaType(_))
        ));
    }

    #[test]
    fn a_manifest_is_known_by_the_digest_it_was_fetched_by() {
        let bytes = br#"{"schemaVersion":2}"#;
        let m = Manifest::new(bytes.to_vec(), OCI_MANIFEST);
        let mut h = crate::digest::Hasher::new(crate::digest::Algorithm::Sha512);
        h.update(bytes);
        let sha512 = h.finish();
        assert_eq!(m.clone().named(&sha512).unwrap().digest, sha512);
        assert!(m.clone().named(&Digest::sha256(b"other")).is_err());
        let mut h = crate::digest::Hasher::new(crate::digest::Algorithm::Sha512);
        h.update(b"other");
        assert!(m.named(&h.finish()).is_err());
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
        assert!(matches!(bad.references(), Err(OciError::Descriptor(_))));
        let no_config = Manifest::new(br#"{"schemaVersion":2,"layers":[]}"#.to_vec(), OCI_MANIFEST);
        assert!(matches!(no_config.references(), Err(OciError::NoConfig(_))));
        let mixed = Manifest::new(
            format!(r#"{{"manifests":[],"layers":[{{"digest":"{d}","size":1}}]}}"#).into_bytes(),
            OCI_INDEX,
        );
        assert!(matches!(
            mixed.references(),
            Err(OciError::IndexWithBlobs(_))
        ));
    }
}
