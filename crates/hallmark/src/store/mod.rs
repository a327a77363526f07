//! One interface over the two places artifacts and their signatures live: a registry
//! repository or an OCI layout directory.

use std::sync::Arc;

use bytes::Bytes;

mod shared;

/// The shortest settle window a writer of a shared signature tag may use (see
/// [`ClientOptions::settle`](crate::registry::ClientOptions)).
pub use shared::SLOW as SETTLE_MIN;
pub(crate) use shared::{Change, FallbackIndex, SignatureLayers};

use crate::Error;
use crate::digest::Digest;
use crate::layout::Layout;
use crate::oci::{Blob, Descriptor, Index, IndexEntry, Manifest, referrers_tag};
use crate::reference::{DestinationRef, ImageRef, Location, Source};
use crate::registry::{BlobPush, Client, Progress, RegistryBlob};

/// What became of a shared tag that a removal emptied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EmptyTag {
    /// There is no such tag.
    Absent,
    /// It still holds members.
    Kept,
    /// Empty, and deleted (`reg/repo:tag`).
    Deleted(String),
    /// Empty, and left in place, with why.
    Left { tag: String, why: String },
}

/// A repository: the unit that holds manifests, blobs and tags.
#[derive(Clone)]
pub enum Store {
    /// A registry repository.
    Registry {
        /// The client to reach it with.
        client: Client,
        /// The repository (no tag, no digest).
        repo: ImageRef,
    },
    /// An OCI layout directory.
    Layout(Layout),
}

impl Store {
    /// A registry repository.
    pub fn registry(client: &Client, repo: &ImageRef) -> Result<Self, Error> {
        Ok(Self::Registry {
            client: client.clone(),
            repo: ImageRef::new(repo.registry(), repo.repository())?,
        })
    }

    /// A manifest by tag or digest (checked against the digest); `None` when absent.
    pub async fn get_manifest(&self, reference: &str) -> Result<Option<Manifest>, Error> {
        Ok(match self {
            Self::Registry { client, repo } => client.get_manifest(repo, reference).await?,
            Self::Layout(l) => l.get_manifest(reference)?,
        })
    }

    /// Like [`Store::get_manifest`], but a missing manifest is a [`Error::NotFound`] naming
    /// it as `what` (`reg/repo@digest` or `reg/repo:tag`).
    pub(crate) async fn require_manifest(
        &self,
        reference: &str,
        what: &'static str,
    ) -> Result<Manifest, Error> {
        self.get_manifest(reference)
            .await?
            .ok_or_else(|| Error::NotFound {
                what,
                reference: match reference.parse::<Digest>() {
                    Ok(d) => self.pinned(&d),
                    Err(_) => self.tagged(reference),
                },
            })
    }

    /// Stores `m` under `tag`, or under its digest alone when `tag` is `None`.
    pub async fn put_manifest(&self, m: &Manifest, tag: Option<&str>) -> Result<(), Error> {
        match self {
            Self::Registry { client, repo } => {
                let reference = tag.map_or_else(|| m.digest.to_string(), str::to_string);
                client.put_manifest(repo, &reference, m).await?
            }
            Self::Layout(l) => l.put_manifest(m, tag).await?,
        }
        Ok(())
    }

    /// A small blob read whole and verified; `None` when absent.
    pub async fn get_blob(&self, digest: &Digest, limit: u64) -> Result<Option<Bytes>, Error> {
        Ok(match self {
            Self::Registry { client, repo } => client.get_blob(repo, digest, limit).await?,
            Self::Layout(l) => l.get_blob(digest, limit)?,
        })
    }

    /// Stores a small blob held in memory.
    pub async fn put_blob(&self, digest: &Digest, bytes: Bytes) -> Result<(), Error> {
        match self {
            Self::Registry { client, repo } => client.put_blob(repo, digest, bytes).await?,
            Self::Layout(l) => l.put_blob(digest, &bytes).await?,
        }
        Ok(())
    }

    /// A blob of this store, to stream elsewhere; whoever reads it hashes it.
    pub fn blob(&self, d: &Descriptor) -> Result<Blob, Error> {
        match self {
            Self::Registry { client, repo } => Ok(Blob {
                digest: d.digest.clone(),
                size: d.size,
                media_type: d.media_type.clone(),
                data: Arc::new(RegistryBlob {
                    client: client.clone(),
                    repo: repo.clone(),
                    size: d.size,
                }),
            }),
            Self::Layout(l) => l.blob(d)?.ok_or_else(|| Error::NotFound {
                what: "blob",
                reference: self.pinned(&d.digest),
            }),
        }
    }

    /// Pushes a blob (streamed), unless present or mountable from `mount_from`.
    pub(crate) async fn push_blob(
        &self,
        blob: &Blob,
        mount_from: &[String],
        progress: Progress,
    ) -> Result<BlobPush, Error> {
        match self {
            Self::Registry { client, repo } => {
                Ok(client.push_blob(repo, blob, mount_from, progress).await?)
            }
            Self::Layout(l) => {
                let copied = l.put_blob_stream(blob, &*progress).await?;
                Ok(if copied {
                    BlobPush::Uploaded
                } else {
                    BlobPush::Present
                })
            }
        }
    }

    /// Every referrer of `digest` this store lists: through the referrers API where the
    /// registry has one, and through the `sha256-<hex>` fallback tag (both are read: a
    /// registry may have gained the API after referrers were written the old way).
    pub async fn referrers(&self, digest: &Digest) -> Result<Index, Error> {
        self.referrers_from(digest, true, true).await
    }

    /// [`Store::referrers`], asking the referrers API only when `api` and reading the
    /// fallback tag only when `fallback` (a scan knows both from the tag list already).
    pub(crate) async fn referrers_from(
        &self,
        digest: &Digest,
        api: bool,
        fallback: bool,
    ) -> Result<Index, Error> {
        let mut index = match self {
            Self::Registry { client, repo } if api => client.referrers(repo, digest).await?,
            // `cosign save` keeps referrers as loose blobs, listed nowhere.
            Self::Layout(l) if api => Some(l.loose_referrers(digest)?),
            _ => None,
        }
        .unwrap_or_else(Index::empty);
        if !fallback {
            return Ok(index);
        }
        if let Some(fallback) = self.fallback_index(digest).await? {
            for e in fallback.entries() {
                if index.find_digest(&e.digest).is_none() {
                    index.push(e.clone());
                }
            }
        }
        Ok(index)
    }

    /// The index under the fallback tag, if there is one.
    async fn fallback_index(&self, digest: &Digest) -> Result<Option<Index>, Error> {
        let Some(m) = self.get_manifest(&referrers_tag(digest)).await? else {
            return Ok(None);
        };
        Index::parse(&m.bytes)
            .map(Some)
            .map_err(|source| Error::Malformed {
                source_name: self.tagged(&referrers_tag(digest)),
                source,
            })
    }

    /// Stores a referrer of `subject` and makes it findable: a registry with the referrers
    /// API lists it by itself; otherwise it is added to the fallback index, which other
    /// writers change too (see `Store::update_shared`).
    pub async fn push_referrer(
        &self,
        m: &Manifest,
        subject: &Digest,
        artifact_type: &str,
    ) -> Result<(), Error> {
        self.put_manifest(m, None).await?;
        if let Self::Registry { client, repo } = self
            && let Some(listed) = client.referrers(repo, subject).await?
            && listed.find_digest(&m.digest).is_some()
        {
            return Ok(());
        }
        self.update_shared::<FallbackIndex>(
            &referrers_tag(subject),
            Change {
                add: vec![IndexEntry::referrer(m, artifact_type)],
                remove: &|_| false,
                create: true,
            },
        )
        .await?;
        Ok(())
    }

    /// Makes the referrers `gone` of `subject` unfindable: they leave the fallback index
    /// (as in [`Store::push_referrer`]), and where the registry lists referrers itself,
    /// their manifests are deleted.
    pub(crate) async fn remove_referrers(
        &self,
        subject: &Digest,
        gone: &[Digest],
    ) -> Result<(), Error> {
        if gone.is_empty() {
            return Ok(());
        }
        self.update_shared::<FallbackIndex>(
            &referrers_tag(subject),
            Change {
                add: Vec::new(),
                remove: &|e: &IndexEntry| gone.contains(&e.digest),
                create: false,
            },
        )
        .await?;
        if let Self::Registry { client, repo } = self
            && let Some(listed) = client.referrers(repo, subject).await?
        {
            for g in gone {
                if listed.find_digest(g).is_some() {
                    client.delete_manifest(repo, g).await?;
                }
            }
        }
        Ok(())
    }

    /// Deletes the manifest under the shared `tag` when it holds no member any more, so
    /// that a removal leaves no empty `.sig` manifest or fallback index behind. Deleted by
    /// the digest read, so a member written meanwhile by another signer (a new manifest)
    /// keeps its tag.
    pub(crate) async fn delete_if_empty<S: shared::SharedSet>(
        &self,
        tag: &str,
    ) -> Result<EmptyTag, Error> {
        let Some(m) = self.get_manifest(tag).await? else {
            return Ok(EmptyTag::Absent);
        };
        if !S::is_empty(self, tag, &m)? {
            return Ok(EmptyTag::Kept);
        }
        let (client, repo) = match self {
            Self::Registry { client, repo } => (client, repo),
            Self::Layout(l) => {
                return Ok(if l.untag(tag, &m.digest)? {
                    EmptyTag::Deleted(self.tagged(tag))
                } else {
                    EmptyTag::Kept
                });
            }
        };
        let refused = |e: crate::registry::RegistryError| match e {
            // Deletion is off on many registries (distribution's default): say so rather
            // than fail a removal that otherwise took effect.
            crate::registry::RegistryError::Status {
                status: 400 | 403 | 404 | 405,
                message,
                ..
            } => Ok(EmptyTag::Left {
                tag: self.tagged(tag),
                why: format!("the registry refused to delete it{message}"),
            }),
            e => Err(Error::from(e)),
        };
        if let Err(e) = client.delete_manifest(repo, &m.digest).await {
            return refused(e);
        }
        // go-containerregistry's registry deletes the digest but keeps the tag. Only the
        // same empty manifest is deleted by tag; a signer that wrote in between would see
        // its tag gone when it checks its write, and write it again.
        match self.get_manifest(tag).await? {
            None => return Ok(EmptyTag::Deleted(self.tagged(tag))),
            Some(again) if again.digest != m.digest => return Ok(EmptyTag::Kept),
            Some(_) => {}
        }
        if let Err(e) = client.delete_manifest_at(repo, tag).await {
            return refused(e);
        }
        Ok(match self.get_manifest(tag).await? {
            Some(again) if again.digest == m.digest => EmptyTag::Left {
                tag: self.tagged(tag),
                why: "the registry kept the tag after deleting it".into(),
            },
            _ => EmptyTag::Deleted(self.tagged(tag)),
        })
    }

    /// Deletes everything a registry repository lists (every tagged manifest, signatures
    /// and referrer indexes included), so that nothing of it is left to pull; returns how
    /// many manifests went. Registries without deletion enabled refuse it. Layouts are left
    /// alone (they are directories the user removes).
    pub async fn delete_all(&self) -> Result<usize, Error> {
        let Self::Registry { client, repo } = self else {
            return Ok(0);
        };
        let mut digests = Vec::new();
        for tag in self.list_tags().await? {
            if let Some(m) = self.get_manifest(&tag).await?
                && !digests.contains(&m.digest)
            {
                digests.push(m.digest);
            }
        }
        for d in &digests {
            client.delete_manifest(repo, d).await?;
        }
        Ok(digests.len())
    }

    /// Every tag.
    pub async fn list_tags(&self) -> Result<Vec<String>, Error> {
        Ok(match self {
            Self::Registry { client, repo } => client.list_tags(repo).await?,
            Self::Layout(l) => l.list_tags()?,
        })
    }

    /// `reg/repo` or `oci:PATH`: how the user names this repository.
    pub fn name(&self) -> String {
        match self {
            Self::Registry { repo, .. } => repo.name(),
            Self::Layout(l) => format!("oci:{}", l.path().display()),
        }
    }

    /// `reg/repo@sha256:…` or `oci:PATH@sha256:…`: the one name for verified content.
    pub fn pinned(&self, digest: &Digest) -> String {
        format!("{}@{digest}", self.name())
    }

    /// `reg/repo:tag` or `oci:PATH:tag`.
    pub fn tagged(&self, tag: &str) -> String {
        format!("{}:{tag}", self.name())
    }

    /// The repository's identity for comparisons and policy matching: the normalised
    /// repository name for a registry, `oci:<absolute path>` for a layout.
    pub fn identity(&self) -> String {
        match self {
            Self::Registry { repo, .. } => repo.name(),
            Self::Layout(l) => {
                let p = std::fs::canonicalize(l.path()).unwrap_or_else(|_| l.path().to_path_buf());
                format!("oci:{}", p.display())
            }
        }
    }

    /// The identity written as `docker-reference` when signing: as cosign writes it, so
    /// that cosign accepts it (Docker Hub repositories are `index.docker.io/…`).
    pub(crate) fn signed_identity(&self) -> String {
        match self {
            Self::Registry { repo, .. } if repo.registry() == crate::reference::DOCKER_HUB => {
                format!("index.docker.io/{}", repo.repository())
            }
            _ => self.identity(),
        }
    }
}

/// A parsed reference opened for work: where the artifact lives, where its signatures
/// live, and what the user named (tag and/or digest).
#[derive(Clone)]
pub struct Target {
    /// Where the artifact is.
    pub store: Store,
    /// Where its signatures are (usually the same repository).
    pub signatures: Store,
    /// The tag named, if any.
    pub tag: Option<String>,
    /// The digest named, if any.
    pub digest: Option<Digest>,
}

impl Target {
    /// Opens a registry reference or an `oci:` layout. `create` makes a missing layout.
    pub fn open(source: &Source, client: &Client, create: bool) -> Result<Self, Error> {
        match source {
            Source::Registry(r) => {
                let store = Store::registry(client, r)?;
                // As docker does, a name alone means its `latest` tag.
                let tag = match (r.tag(), r.digest()) {
                    (None, None) => Some("latest".to_string()),
                    (t, _) => t.map(str::to_string),
                };
                Ok(Self {
                    signatures: store.clone(),
                    store,
                    tag,
                    digest: r.digest().cloned(),
                })
            }
            Source::Layout(l) => {
                let layout = if create {
                    Layout::create(&l.path)?
                } else {
                    Layout::open(&l.path)?
                };
                let store = Store::Layout(layout);
                Ok(Self {
                    signatures: store.clone(),
                    store,
                    tag: l.tag.clone(),
                    digest: l.digest.clone(),
                })
            }
            other => Err(Error::NotInPlace(other.to_string())),
        }
    }

    /// Keeps signatures in another repository (cosign's `COSIGN_REPOSITORY`).
    pub fn with_signature_repository(
        mut self,
        repo: &ImageRef,
        client: &Client,
    ) -> Result<Self, Error> {
        self.signatures = Store::registry(client, repo)?;
        Ok(self)
    }
}

/// Where to publish or copy to: a repository and the tags to set there.
#[derive(Clone)]
pub struct Destination {
    /// The repository or layout (a missing layout is created).
    pub store: Store,
    /// Tags to set last.
    pub tags: Vec<String>,
}

impl Destination {
    /// Opens a parsed destination; a missing layout is created.
    pub fn open(d: &DestinationRef, client: &Client) -> Result<Self, Error> {
        let store = match &d.location {
            Location::Layout(path) => Store::Layout(Layout::create(path)?),
            Location::Registry(repo) => Store::registry(client, repo)?,
        };
        Ok(Self {
            store,
            tags: d.tags.clone(),
        })
    }

    /// `[docker://]REG/REPO[:TAG[,TAG…]]` or `oci:DIR[:TAG[,TAG…]]`.
    pub fn parse(input: &str, client: &Client) -> Result<Self, Error> {
        Self::open(&DestinationRef::parse(input)?, client)
    }
}
