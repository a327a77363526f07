//! One platform of a multi-platform index: the index is verified as any artifact is, and
//! the platform manifest is taken from the verified index by the digest the index lists,
//! so a manifest swapped under the index changes the index's digest and its signature no
//! longer counts.
//!
//! The platform manifest's own signatures are verified too: they decide when the index
//! has none that count (as when only the platform images were signed), and they are what
//! a copy of the platform alone can carry along (the index's signature means nothing to
//! a repository that will not hold the index).
//!
//! When they decide, the platform name would be the unsigned index's word alone: anyone
//! who can push could list, as `linux/amd64`, any manifest the key ever signed (another
//! architecture's, an old release's). So the platform must then be confirmed by the
//! manifest's image config, which the signed manifest names by digest. A signed index's
//! platform entries are left as they are: its signature covers them, so they are the
//! signer's own claim, and configs that leave out a variant the index names are common.

use crate::Error;
use crate::digest::Digest;
use crate::oci::{Manifest, PlatformSource};
use crate::policy::Trust;
use crate::report::Report;
use crate::store::{Store, Target};

use super::{Verification, verify_trusted};

/// Whose signature made a platform manifest trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignedBy {
    /// The index that lists it.
    Index,
    /// The platform manifest itself.
    Platform,
}

/// The verification of one platform of an index. Made only here, so that a holder has a
/// real decision (as for [`Verification`]).
#[derive(Debug, Clone)]
pub struct PlatformVerification {
    index: Verification,
    child: Option<Verification>,
    platform: String,
    manifest: Manifest,
    reference: String,
    signed_by: Option<SignedBy>,
}

impl PlatformVerification {
    /// The platform manifest may be used.
    pub fn allowed(&self) -> bool {
        self.signed_by.is_some()
    }

    /// Whose signature decided; `None` when neither verified.
    pub fn signed_by(&self) -> Option<SignedBy> {
        self.signed_by
    }

    /// The report that decided: the platform manifest's when its own signature made it
    /// trusted, else the index's (which says why not, when nothing did).
    pub fn report(&self) -> &Report {
        match (&self.signed_by, &self.child) {
            (Some(SignedBy::Platform), Some(child)) => child.report(),
            _ => self.index.report(),
        }
    }

    /// The index's verification.
    pub fn index(&self) -> &Verification {
        &self.index
    }

    /// The platform manifest's own verification, when it was looked at (not when the index
    /// failed under a tag-binding requirement: only the index can bind the tag).
    pub fn child(&self) -> Option<&Verification> {
        self.child.as_ref()
    }

    /// The platform asked for.
    pub fn platform(&self) -> &str {
        &self.platform
    }

    /// The platform manifest, as the index lists it (its bytes hash to that digest).
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The platform manifest, pinned: `reg/repo@sha256:…`.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The index's digest.
    pub fn index_digest(&self) -> &Digest {
        self.index.report().digest()
    }
}

/// The manifest an index lists for `platform` (`os/arch[/variant]`), fetched by the digest
/// the index names (so checked against it). An index that lists no such platform is an
/// error naming those it lists.
pub(crate) async fn select_platform(
    store: &Store,
    index: &Manifest,
    platform: &str,
) -> Result<Manifest, Error> {
    if !index.is_index() {
        return Err(Error::SinglePlatform {
            platform: platform.to_string(),
            digest: index.digest.clone(),
        });
    }
    let listed = crate::oci::platforms(index).map_err(|source| Error::Malformed {
        source_name: store.name(),
        source,
    })?;
    match crate::oci::pick_platform(&listed, platform) {
        Some(digest) => {
            store
                .require_manifest(&digest.to_string(), "platform manifest")
                .await
        }
        None => Err(Error::NoPlatform {
            platform: platform.to_string(),
            digest: index.digest.clone(),
            available: listed.into_iter().map(|(name, _)| name).collect(),
        }),
    }
}

/// The same trust without the tag-binding requirement: a platform manifest is never
/// tagged, so only its index can bind a tag.
fn untagged(trust: &Trust) -> Trust {
    let mut trust = trust.clone();
    match &mut trust {
        Trust::Keys(opts) => opts.require_tag_binding = false,
        Trust::Policy(p) => {
            for r in &mut p.rules {
                r.verify.require_tag_binding = false;
            }
        }
    }
    trust
}

fn binds_tags(trust: &Trust, identity: &str) -> bool {
    match trust {
        Trust::Keys(opts) => opts.require_tag_binding,
        Trust::Policy(p) => match p.ruling(identity).rule() {
            Some(r) => r.verify.require_tag_binding,
            None => false,
        },
    }
}

/// Verifies the index `target` names (resolved once), then the manifest it lists for
/// `platform`. The index's signature decides when it verifies; otherwise the platform
/// manifest's own signature may, except when a tag binding is required (the platform
/// manifest's signature cannot bind the index's tag).
pub async fn verify_platform(
    target: &Target,
    trust: &Trust,
    platform: &str,
) -> Result<PlatformVerification, Error> {
    let index = verify_trusted(target, trust).await?;
    let index_digest = index.report().digest().clone();
    let top = target
        .store
        .require_manifest(&index_digest.to_string(), "index")
        .await?;
    let manifest = select_platform(&target.store, &top, platform).await?;
    let pinned = Target {
        store: target.store.clone(),
        signatures: target.signatures.clone(),
        tag: None,
        digest: Some(manifest.digest.clone()),
    };
    let child = if index.report().allowed() || !binds_tags(trust, &target.store.identity()) {
        Some(verify_trusted(&pinned, &untagged(trust)).await?)
    } else {
        None
    };
    let signed_by = if index.report().allowed() {
        Some(SignedBy::Index)
    } else if child.as_ref().is_some_and(|c| c.report().allowed()) {
        confirm_platform(&target.store, &manifest, platform, &index_digest).await?;
        Some(SignedBy::Platform)
    } else {
        None
    };
    Ok(PlatformVerification {
        reference: target.store.pinned(&manifest.digest),
        index,
        child,
        platform: platform.to_string(),
        manifest,
        signed_by,
    })
}

/// Refuses `manifest` as the `platform` an unsigned index lists it for unless its image
/// config (read by the digest the signed manifest names, so checked against it) says it
/// is for that platform.
async fn confirm_platform(
    store: &Store,
    manifest: &Manifest,
    platform: &str,
    index: &Digest,
) -> Result<(), Error> {
    let unconfirmed = |found: String| Error::PlatformUnconfirmed {
        platform: platform.to_string(),
        index: index.clone(),
        digest: manifest.digest.clone(),
        found,
    };
    let malformed = |source| Error::Malformed {
        source_name: store.name(),
        source,
    };
    let config = match crate::oci::platform_source(manifest).map_err(malformed)? {
        PlatformSource::Config(config) => config,
        PlatformSource::None(what) => {
            return Err(unconfirmed(format!("{what} to name its platform")));
        }
    };
    let bytes = store
        .get_blob(&config.digest, crate::oci::MAX_CONFIG_BYTES)
        .await?
        .ok_or_else(|| Error::NotFound {
            what: "image config",
            reference: store.pinned(&config.digest),
        })?;
    let what = format!("image config {}", config.digest);
    match crate::oci::config_platform(&bytes, &what).map_err(malformed)? {
        Some(found) if crate::oci::platform_matches(platform, &found) => Ok(()),
        Some(found) => Err(unconfirmed(format!("is {found} by its image config"))),
        None => Err(unconfirmed(
            "has an image config that names no platform".into(),
        )),
    }
}
