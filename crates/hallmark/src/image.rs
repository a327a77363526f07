//! Building small images in memory: for the demo, for tests, and for artifacts made from
//! plain files. Manifests are serialised with sorted keys, so the same content always has
//! the same digest.

use bytes::Bytes;

use crate::Error;
use crate::digest::Digest;
use crate::oci::{Manifest, OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST};
use crate::store::Store;

/// A manifest with its config and layers, all in memory.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest.
    pub manifest: Manifest,
    /// The config blob.
    pub config: Bytes,
    /// The layer blobs.
    pub layers: Vec<Bytes>,
}

impl Image {
    /// An image with one config and the given layers (uncompressed tar media type).
    pub fn new(config: serde_json::Value, layers: Vec<Vec<u8>>) -> Self {
        let config =
            Bytes::from(serde_json::to_vec(&config).expect("serialising JSON values cannot fail"));
        let layers: Vec<Bytes> = layers.into_iter().map(Bytes::from).collect();
        let descriptor = |media_type: &str, b: &Bytes| serde_json::json!({"mediaType": media_type, "digest": Digest::sha256(b).to_string(), "size": b.len()});
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": descriptor(OCI_CONFIG, &config),
            "layers": layers.iter().map(|l| descriptor(OCI_LAYER_TAR, l)).collect::<Vec<_>>(),
        });
        let manifest = Manifest::from_json(&doc, OCI_MANIFEST);
        Self {
            manifest,
            config,
            layers,
        }
    }

    /// An image whose single layer holds `label` and random bytes: distinct every time.
    pub fn random(label: &str, size: usize) -> Result<Self, Error> {
        let mut layer = vec![0u8; size.max(16)];
        getrandom::fill(&mut layer).map_err(Error::Randomness)?;
        layer[..label.len().min(size)].copy_from_slice(&label.as_bytes()[..label.len().min(size)]);
        Ok(Self::new(
            serde_json::json!({"architecture": "amd64", "os": "linux", "config": {"Labels": {"org.example.content": label}},
                "rootfs": {"type": "layers", "diff_ids": [Digest::sha256(&layer).to_string()]}}),
            vec![layer],
        ))
    }

    /// The manifest digest.
    pub fn digest(&self) -> &Digest {
        &self.manifest.digest
    }

    /// Pushes blobs, then the manifest by digest, then (if given) moves `tag` to it.
    pub async fn push(&self, store: &Store, tag: Option<&str>) -> Result<(), Error> {
        store
            .put_blob(&Digest::sha256(&self.config), self.config.clone())
            .await?;
        for l in &self.layers {
            store.put_blob(&Digest::sha256(l), l.clone()).await?;
        }
        store.put_manifest(&self.manifest, None).await?;
        if let Some(tag) = tag {
            store.put_manifest(&self.manifest, Some(tag)).await?;
        }
        Ok(())
    }
}
