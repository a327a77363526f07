//! Sign before push: the registry never holds the artifact unsigned under a tag, and the
//! tags are written last and read back.
//!
//! Order: digest locally → sign → push blobs (skip present, mount when possible) → push
//! manifests by digest → push the signature → set tags → re-resolve every tag.

use std::sync::Arc;

use crate::Error;
use crate::artifact::Artifact;
use crate::digest::Digest;
use crate::keys::SigningKey;
use crate::layout::Layout;
use crate::reference::{ImageRef, validate_tag};
use crate::registry::Client;
use crate::sign::{self, SignOptions};
use crate::signature;
use crate::store::Store;
use crate::transfer::{self, BlobCounts, TransferProgress};

/// Where to publish: a repository and the tags to set there.
#[derive(Clone)]
pub struct Destination {
    pub store: Store,
    pub tags: Vec<String>,
}

impl Destination {
    /// `[docker://]REG/REPO[:TAG[,TAG…]]` or `oci:DIR[:TAG[,TAG…]]`; a missing layout is created.
    pub fn parse(input: &str, client: &Client) -> Result<Destination, Error> {
        let usage = |message: String| Error::Usage {
            message,
            hint: Some("DEST is REG/REPO:TAG[,TAG…] or oci:DIR[:TAG]".into()),
        };
        if input.contains('@') {
            return Err(usage(format!(
                "destination {input:?} names a digest; the digest comes from the source"
            )));
        }
        let (base, tags) = split_tags(input.strip_prefix("docker://").unwrap_or(input));
        for t in &tags {
            validate_tag(t).map_err(|reason| usage(format!("tag {t:?} in {input:?} {reason}")))?;
        }
        let store = match base.strip_prefix("oci:") {
            Some(path) if !path.is_empty() => {
                Store::Layout(Layout::create(std::path::Path::new(path))?)
            }
            Some(_) => return Err(usage(format!("destination {input:?} has no layout path"))),
            None => Store::Registry {
                client: client.clone(),
                repo: ImageRef::parse(base)?,
            },
        };
        Ok(Destination { store, tags })
    }
}

/// Splits `name:t1,t2` at the ':' after the last '/', the way references separate tags.
fn split_tags(s: &str) -> (&str, Vec<String>) {
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[last_slash..].rfind(':') {
        Some(i) => {
            let i = last_slash + i;
            (
                &s[..i],
                s[i + 1..]
                    .split(',')
                    .map(|t| t.trim().to_string())
                    .collect(),
            )
        }
        None => (s, Vec::new()),
    }
}

#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub sign: SignOptions,
    /// Record the destination tags in the signed payload.
    pub bind_tags: bool,
    /// Blobs uploaded at once.
    pub concurrency: usize,
    /// Repositories of the same registry to mount blobs from instead of uploading.
    pub mount_from: Vec<String>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        PublishOptions {
            sign: SignOptions::default(),
            bind_tags: false,
            concurrency: 4,
            mount_from: Vec::new(),
        }
    }
}

/// What was published.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Published {
    /// `reg/repo@sha256:…`
    pub reference: String,
    pub digest: Digest,
    pub tags: Vec<String>,
    pub signature: String,
    pub blobs: BlobCounts,
}

/// Publishes `artifact` to `dest`, signed with `key`. See the module docs for the order.
pub async fn publish(
    artifact: &Artifact,
    dest: &Destination,
    key: &SigningKey,
    opts: &PublishOptions,
    progress: Arc<dyn TransferProgress>,
) -> Result<Published, Error> {
    let digest = artifact.digest().clone();
    // Signed before the registry sees a byte: no window for a swap.
    let mut sign_opts = opts.sign.clone();
    if opts.bind_tags {
        sign_opts.bind_tags.extend(dest.tags.iter().cloned());
    }
    let payload = sign::build_payload(&dest.store, &digest, &sign_opts)?;
    let sig = key.sign(&payload);

    let counts = transfer::push_blobs(
        &artifact.blobs,
        &dest.store,
        &opts.mount_from,
        opts.concurrency,
        &progress,
    )
    .await?;

    progress.step("pushing manifests by digest");
    for m in &artifact.manifests {
        dest.store.put_manifest(m, None).await?;
    }
    progress.step("pushing the signature");
    sign::store_signature(&dest.store, &digest, &payload, &sig).await?;

    progress.step("setting tags");
    transfer::set_tags(&dest.store, artifact.manifest(), &dest.tags).await?;
    Ok(Published {
        reference: dest.store.pinned(&digest),
        signature: dest.store.tagged(&signature::signature_tag(&digest)),
        digest,
        tags: dest.tags.clone(),
        blobs: counts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_tags() {
        assert_eq!(
            split_tags("reg:5000/app:v1,latest"),
            ("reg:5000/app", vec!["v1".into(), "latest".into()])
        );
        assert_eq!(split_tags("reg:5000/app"), ("reg:5000/app", vec![]));
        assert_eq!(
            split_tags("oci:/tmp/x:v1"),
            ("oci:/tmp/x", vec!["v1".to_string()])
        );
    }
}
