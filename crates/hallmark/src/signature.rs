//! Where signatures live: cosign's tag scheme (`sha256-<hex>.sig`, one layer per signature).

use std::collections::HashMap;

use base64ct::{Base64, Encoding};
use oci_spec::image::{Descriptor, ImageManifest, ImageManifestBuilder, MediaType};

use crate::class::ErrorClass;
use crate::digest::Digest;
use crate::oci::{Manifest, OCI_CONFIG, OCI_MANIFEST};

/// Media type of a simple-signing payload layer.
pub const SIMPLESIGNING_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// Layer annotation holding the base64 signature.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// A signature manifest with more layers than this is refused: the work per verify is bounded.
pub const MAX_SIGNATURE_LAYERS: usize = 256;

/// A signature manifest that cannot be read or extended.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// Not an image manifest.
    #[error("invalid signature manifest {digest}: {source}")]
    Malformed {
        /// The signature manifest.
        digest: Digest,
        /// The parser's complaint.
        #[source]
        source: oci_spec::OciSpecError,
    },
    /// More layers than verification reads.
    #[error("signature manifest {digest} has {count} layers (limit {MAX_SIGNATURE_LAYERS})")]
    TooManyLayers {
        /// The signature manifest.
        digest: Digest,
        /// How many it has (or would have).
        count: usize,
    },
}

impl SignatureError {
    /// A signature manifest is data a store served: when it is unusable, that store is
    /// the problem, not the command line.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Malformed { .. } | Self::TooManyLayers { .. } => ErrorClass::Unavailable,
        }
    }
}

/// Why one signature layer is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayerProblem {
    /// The layer has no signature annotation.
    #[error("no signature annotation")]
    NoAnnotation,
    /// The annotation is not base64.
    #[error("signature annotation is not base64")]
    NotBase64,
}

/// `sha256-<hex>.sig` for the artifact `digest`.
pub fn signature_tag(digest: &Digest) -> String {
    format!("{}.sig", digest.tag_form())
}

/// cosign's annotations on a signature layer made keyless or logged, as written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SigstoreAnnotations {
    /// `dev.sigstore.cosign/certificate`: the signing certificate, PEM.
    pub certificate: Option<String>,
    /// `dev.sigstore.cosign/chain`: the rest of the chain, PEM.
    pub chain: Option<String>,
    /// `dev.sigstore.cosign/bundle`: the Rekor entry and its signed promise, JSON.
    pub rekor_bundle: Option<String>,
    /// `dev.sigstore.cosign/rfc3161timestamp`: an RFC 3161 timestamp, JSON.
    pub timestamp: Option<String>,
}

/// The annotation names of [`SigstoreAnnotations`].
pub(crate) const CERTIFICATE_ANNOTATION: &str = "dev.sigstore.cosign/certificate";
/// See [`SigstoreAnnotations::chain`].
pub(crate) const CHAIN_ANNOTATION: &str = "dev.sigstore.cosign/chain";
/// See [`SigstoreAnnotations::rekor_bundle`].
pub(crate) const REKOR_BUNDLE_ANNOTATION: &str = "dev.sigstore.cosign/bundle";
/// See [`SigstoreAnnotations::timestamp`].
pub(crate) const TIMESTAMP_ANNOTATION: &str = "dev.sigstore.cosign/rfc3161timestamp";

/// One signature layer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// Position in the manifest (0-based).
    pub index: usize,
    /// Digest of the payload blob.
    pub payload_digest: Digest,
    /// Payload size as the manifest declares it.
    pub payload_size: u64,
    /// Raw signature bytes (decoded from the annotation), or why they are unusable.
    pub signature: Result<Vec<u8>, LayerProblem>,
    /// Certificate, chain, log entry and timestamp, when cosign wrote them.
    pub sigstore: SigstoreAnnotations,
}

fn parse_manifest(m: &Manifest) -> Result<ImageManifest, SignatureError> {
    ImageManifest::from_reader(&m.bytes[..]).map_err(|source| SignatureError::Malformed {
        digest: m.digest.clone(),
        source,
    })
}

/// Parses a signature manifest and returns its simple-signing layers; other layers
/// (certificates, bundles, anything unknown) are ignored, never trusted.
pub fn parse_layers(m: &Manifest) -> Result<Vec<SignatureLayer>, SignatureError> {
    let parsed = parse_manifest(m)?;
    let layers = parsed.layers();
    if layers.len() > MAX_SIGNATURE_LAYERS {
        return Err(SignatureError::TooManyLayers {
            digest: m.digest.clone(),
            count: layers.len(),
        });
    }
    let mut out = Vec::new();
    for (index, l) in layers.iter().enumerate() {
        if l.media_type().to_string() != SIMPLESIGNING_MEDIA_TYPE {
            continue;
        }
        let Ok(payload_digest) = l.digest().to_string().parse::<Digest>() else {
            continue;
        };
        let signature = match l
            .annotations()
            .as_ref()
            .and_then(|a| a.get(SIGNATURE_ANNOTATION))
        {
            None => Err(LayerProblem::NoAnnotation),
            Some(b64) => Base64::decode_vec(b64.trim()).map_err(|_| LayerProblem::NotBase64),
        };
        let annotation = |name: &str| l.annotations().as_ref().and_then(|a| a.get(name)).cloned();
        out.push(SignatureLayer {
            index,
            payload_digest,
            payload_size: l.size(),
            signature,
            sigstore: SigstoreAnnotations {
                certificate: annotation(CERTIFICATE_ANNOTATION),
                chain: annotation(CHAIN_ANNOTATION),
                rekor_bundle: annotation(REKOR_BUNDLE_ANNOTATION),
                timestamp: annotation(TIMESTAMP_ANNOTATION),
            },
        });
    }
    Ok(out)
}

/// The decoded signature of a layer, if it has a readable one.
fn layer_signature(l: &Descriptor) -> Option<Vec<u8>> {
    let b64 = l.annotations().as_ref()?.get(SIGNATURE_ANNOTATION)?;
    Base64::decode_vec(b64.trim()).ok()
}

/// Every layer of a signature manifest, as it is (layers hallmark does not read are kept
/// when the manifest is rewritten), and the manifest it says it was made from.
pub(crate) fn layers_of(m: &Manifest) -> Result<(Vec<Descriptor>, Option<Digest>), SignatureError> {
    let parsed = parse_manifest(m)?;
    let previous = parsed
        .annotations()
        .as_ref()
        .and_then(|a| a.get(crate::oci::PREVIOUS_ANNOTATION))
        .and_then(|d| d.parse().ok());
    Ok((parsed.layers().clone(), previous))
}

/// The layer cosign writes for one signature over `payload`.
pub fn layer(payload: &[u8], signature: &[u8]) -> Descriptor {
    layer_with(payload, signature, &SigstoreAnnotations::default())
}

/// The layer cosign writes for one signature over `payload` made keyless or logged: with
/// the certificate, chain, Rekor entry and timestamp annotations it has.
pub fn layer_with(payload: &[u8], signature: &[u8], sigstore: &SigstoreAnnotations) -> Descriptor {
    let mut layer = Descriptor::new(
        MediaType::from(SIMPLESIGNING_MEDIA_TYPE),
        payload.len() as u64,
        oci_digest(&Digest::sha256(payload)),
    );
    let mut annotations = HashMap::from([(
        SIGNATURE_ANNOTATION.to_string(),
        Base64::encode_string(signature),
    )]);
    for (name, value) in [
        (CERTIFICATE_ANNOTATION, &sigstore.certificate),
        (CHAIN_ANNOTATION, &sigstore.chain),
        (REKOR_BUNDLE_ANNOTATION, &sigstore.rekor_bundle),
        (TIMESTAMP_ANNOTATION, &sigstore.timestamp),
    ] {
        if let Some(value) = value {
            annotations.insert(name.to_string(), value.clone());
        }
    }
    layer.set_annotations(Some(annotations));
    layer
}

/// What names a layer: its payload digest and its signature bytes. Signature bytes alone
/// do not: the same bytes can verify over another payload under another key.
pub(crate) fn layer_id(l: &Descriptor) -> (String, Option<Vec<u8>>) {
    (l.digest().to_string(), layer_signature(l))
}

/// True when `l` is the layer of `signature` over the payload `payload_digest`.
pub(crate) fn is_layer(l: &Descriptor, payload_digest: &Digest, signature: &[u8]) -> bool {
    l.digest().to_string() == payload_digest.to_string()
        && layer_signature(l).as_deref() == Some(signature)
}

/// The new signature manifest and its config blob, after appending one signature to
/// `existing` (whose layers are all kept). Returns `None` if the exact layer is present.
pub fn append(
    existing: Option<&Manifest>,
    payload: &[u8],
    signature: &[u8],
) -> Result<Option<(Manifest, Vec<u8>)>, SignatureError> {
    let (mut layers, _) = match existing {
        Some(m) => layers_of(m)?,
        None => (Vec::new(), None),
    };
    let new = layer(payload, signature);
    if layers.iter().any(|l| layer_id(l) == layer_id(&new)) {
        return Ok(None);
    }
    layers.push(new);
    manifest_of(layers, existing.map(|m| &m.digest)).map(Some)
}

/// A signature manifest of these layers, made from `previous`, and its config blob. A
/// manifest that verification would refuse (too many layers) is never produced; an empty
/// one is (it means "no signatures", to every reader).
pub(crate) fn manifest_of(
    layers: Vec<Descriptor>,
    previous: Option<&Digest>,
) -> Result<(Manifest, Vec<u8>), SignatureError> {
    if layers.len() > MAX_SIGNATURE_LAYERS {
        return Err(SignatureError::TooManyLayers {
            digest: previous.cloned().unwrap_or_else(|| Digest::sha256(b"")),
            count: layers.len(),
        });
    }
    let config = config_for(&layers);
    let config_desc = Descriptor::new(
        MediaType::from(OCI_CONFIG),
        config.len() as u64,
        oci_digest(&Digest::sha256(&config)),
    );
    let mut manifest = ImageManifestBuilder::default()
        .schema_version(2u32)
        .media_type(MediaType::ImageManifest)
        .config(config_desc)
        .layers(layers)
        .build()
        .expect("every required field of the signature manifest is set");
    if let Some(p) = previous {
        manifest.set_annotations(Some(HashMap::from([(
            crate::oci::PREVIOUS_ANNOTATION.to_string(),
            p.to_string(),
        )])));
    }
    let bytes = manifest
        .to_string()
        .expect("serialising a built manifest cannot fail");
    Ok((Manifest::new(bytes.into_bytes(), OCI_MANIFEST), config))
}

/// The small image config cosign writes for signature manifests.
fn config_for(layers: &[Descriptor]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.digest().to_string()).collect();
    let history: Vec<serde_json::Value> = layers
        .iter()
        .map(|_| serde_json::json!({"created": "0001-01-01T00:00:00Z"}))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": history,
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .expect("serialising JSON values cannot fail")
}

pub(crate) fn oci_digest(d: &Digest) -> oci_spec::image::Digest {
    d.to_string()
        .parse()
        .expect("a valid digest is a valid OCI digest")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_keeps_other_layers_and_is_idempotent() {
        let (m1, _) = append(None, b"payload-1", b"sig-1").unwrap().unwrap();
        let (m2, config) = append(Some(&m1), b"payload-2", b"sig-2").unwrap().unwrap();
        let layers = parse_layers(&m2).unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(layers[0].signature.as_deref().unwrap(), b"sig-1");
        assert_eq!(layers[1].payload_digest, Digest::sha256(b"payload-2"));
        assert!(append(Some(&m2), b"payload-2", b"sig-2").unwrap().is_none());
        // Appending never produces a manifest that verification refuses.
        let mut full = m2;
        for i in 2..MAX_SIGNATURE_LAYERS {
            full = append(Some(&full), format!("p{i}").as_bytes(), b"s")
                .unwrap()
                .unwrap()
                .0;
        }
        assert_eq!(parse_layers(&full).unwrap().len(), MAX_SIGNATURE_LAYERS);
        assert!(matches!(
            append(Some(&full), b"one more", b"s"),
            Err(SignatureError::TooManyLayers { count: 257, .. })
        ));
        let c: serde_json::Value = serde_json::from_slice(&config).unwrap();
        assert_eq!(c["rootfs"]["diff_ids"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn layers_are_named_by_payload_and_signature_and_record_their_origin() {
        let (m1, _) = append(None, b"p1", b"s1").unwrap().unwrap();
        let (m2, _) = append(Some(&m1), b"p2", b"s1").unwrap().unwrap();
        // The same signature bytes over another payload are another layer.
        let (layers, previous) = layers_of(&m2).unwrap();
        assert_eq!(layers.len(), 2);
        assert_eq!(previous.as_ref(), Some(&m1.digest));
        assert!(is_layer(&layers[0], &Digest::sha256(b"p1"), b"s1"));
        assert!(!is_layer(&layers[0], &Digest::sha256(b"p2"), b"s1"));
        assert_ne!(layer_id(&layers[0]), layer_id(&layers[1]));
        assert_eq!(layers_of(&m1).unwrap().1, None);
        let (empty, _) = manifest_of(Vec::new(), Some(&m2.digest)).unwrap();
        assert!(parse_layers(&empty).unwrap().is_empty());
    }

    #[test]
    fn unknown_layers_are_skipped_and_layer_count_is_bounded() {
        let many: Vec<serde_json::Value> = (0..=MAX_SIGNATURE_LAYERS)
            .map(|_| serde_json::json!({"mediaType": SIMPLESIGNING_MEDIA_TYPE, "size": 1,
                "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}))
            .collect();
        let doc = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "size": 2, "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
            "layers": many});
        let m = Manifest::new(serde_json::to_vec(&doc).unwrap(), OCI_MANIFEST);
        assert!(matches!(
            parse_layers(&m),
            Err(SignatureError::TooManyLayers { count: 257, .. })
        ));
        let doc = serde_json::json!({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "size": 2, "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
            "layers": [{"mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json", "size": 1,
                "digest": "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]});
        let m = Manifest::new(serde_json::to_vec(&doc).unwrap(), OCI_MANIFEST);
        assert!(parse_layers(&m).unwrap().is_empty());
    }
}
