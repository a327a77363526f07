//! `sign --recursive`: an index and every manifest it lists, each by its own digest.
//!
//! A consumer that pulls one platform resolves the index to the platform manifest and then
//! checks *that* digest's signature (`cosign verify REPO@sha256:<platform>`,
//! admission controllers after platform resolution): an index signature alone leaves
//! them nothing to find.

use std::collections::HashMap;

use futures_util::{StreamExt, TryStreamExt, stream};

use crate::Error;
use crate::digest::Digest;
use crate::oci::{Manifest, Walk};
use crate::store::{Store, Target};

use super::{SignOptions, Signed, Signer, resolve_digest_to_sign, sign_with};

/// Manifests signed (or their signatures stored) at once.
pub(crate) const AT_ONCE: usize = 4;

/// One manifest signed by [`sign_recursive`].
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct SignedManifest {
    /// The signature made.
    #[serde(flatten)]
    pub signed: Signed,
    /// The platform its index lists it for (`os/arch[/variant]`); none for an index, or
    /// an entry without a platform (as buildx's attestation manifests).
    pub platform: Option<String>,
}

/// Everything [`sign_recursive`] signed.
#[derive(Debug, Clone, serde::Serialize)]
#[non_exhaustive]
pub struct SignedRecursively {
    /// The artifact named: the index (or a single manifest, which lists nothing).
    pub top: Signed,
    /// Every manifest it lists, nested indexes' included, each once, in the order they
    /// were signed (children before the index listing them).
    pub manifests: Vec<SignedManifest>,
}

/// Every manifest `top` lists, through nested indexes (bounded as every walk is), each
/// checked against the digest its parent names, children first; `top` itself last.
async fn manifests_of(store: &Store, top: Manifest) -> Result<Vec<Manifest>, Error> {
    let malformed = |source| Error::Malformed {
        source_name: store.name(),
        source,
    };
    let mut walk = Walk::new(top).map_err(malformed)?;
    while let Some(child) = walk.next() {
        let m = store
            .require_manifest(&child.digest.to_string(), "manifest")
            .await?;
        walk.add(m).map_err(malformed)?;
    }
    Ok(walk.finish().manifests)
}

/// The platform each listed manifest is listed for, by the indexes among `manifests`.
pub(crate) fn platforms_of(manifests: &[Manifest]) -> HashMap<Digest, String> {
    let mut out = HashMap::new();
    for m in manifests.iter().filter(|m| m.is_index()) {
        // The walk already parsed every index: a malformed one never gets here.
        for (name, digest) in crate::oci::platforms(m).unwrap_or_default() {
            out.entry(digest).or_insert(name);
        }
    }
    out
}

/// Signs the artifact `target` names (decided as for [`sign_with`]: never by a bare tag)
/// and, when it is an index, every manifest it lists. The listed manifests are signed
/// first and the index last, so that an index's signature never stands over a partly
/// signed set. Tags in `opts.bind_tags` are bound by the index's signature only: the
/// manifests it lists are not tagged.
pub async fn sign_recursive(
    target: &Target,
    signer: Signer<'_>,
    opts: &SignOptions,
) -> Result<SignedRecursively, Error> {
    let digest = resolve_digest_to_sign(target, opts.expect_digest.as_ref()).await?;
    let top = target
        .store
        .require_manifest(&digest.to_string(), "manifest")
        .await?;
    let all = manifests_of(&target.store, top).await?;
    let platforms = platforms_of(&all);
    let pinned = |digest: &Digest| Target {
        store: target.store.clone(),
        signatures: target.signatures.clone(),
        tag: None,
        digest: Some(digest.clone()),
    };
    let mut child_opts = opts.clone();
    child_opts.bind_tags.clear();
    child_opts.expect_digest = None;
    // Each manifest's signature lives under its own tag, so they are written side by side:
    // one after another, every write's settle window would add up.
    let manifests: Vec<SignedManifest> = stream::iter(all.iter().filter(|m| m.digest != digest))
        .map(|m| {
            let target = pinned(&m.digest);
            let platform = platforms.get(&m.digest).cloned();
            let opts = &child_opts;
            async move {
                let signed = sign_with(&target, signer, opts).await?;
                Ok::<_, Error>(SignedManifest { signed, platform })
            }
        })
        .buffered(AT_ONCE)
        .try_collect()
        .await?;
    let mut top_opts = opts.clone();
    top_opts.expect_digest = None;
    let top = sign_with(&pinned(&digest), signer, &top_opts).await?;
    Ok(SignedRecursively { top, manifests })
}
