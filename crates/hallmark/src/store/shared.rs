//! Tags that several writers change: cosign's `sha256-<hex>.sig` manifest (one layer per
//! signature) and the `sha256-<hex>` fallback referrers index (one entry per referrer).
//!
//! The distribution API has no compare-and-swap, so two signers that read the same
//! manifest, each add their entry and write it back, race: the later write drops the
//! earlier one's entry. A re-read right after writing does not see that, because the
//! other write can land later. So every write here is
//!
//! 1. *merged* with what the tag holds when it is read, and records the manifest it was
//!    made from (`dev.hallmark.previous`);
//! 2. *watched*: after a settle window the writer reads the tag again. Its write stands if
//!    everything it wrote is there, or if the manifest there descends from its write (a
//!    later writer saw it, so what that writer left out was left out on purpose);
//! 3. otherwise *repaired*: the writer that overwrote it had not seen the write, so every
//!    entry of the write that writer's own starting point did not have either is added
//!    back (a three-way merge), a bounded number of times; then the entries still lost
//!    are named in an error ([`Error::Overwritten`]).
//!
//! An overwrite is always seen by the writer it hurts, unless the overwriting write took
//! longer, from its read to the registry's answer, than the settle window. That writer
//! measures it and fails with [`Error::Unsettled`]: a signature can be lost, but never with
//! every writer exiting successfully.

use std::time::{Duration, Instant};

use bytes::Bytes;
use oci_spec::image::Descriptor;

use super::Store;
use crate::Error;
use crate::digest::Digest;
use crate::oci::{Index, IndexEntry, Manifest, OCI_INDEX, PREVIOUS_ANNOTATION};
use crate::registry::RegistryError;
use crate::signature;

/// Writes after the first, to repair an overwritten one.
const REPAIRS: u32 = 4;
/// The least any writer watches its write, and so the longest a write may take before its
/// writer must say it cannot rule out an overwrite. The same for every writer, whatever its
/// settle window: a writer cannot know how long the writer it overwrote watched.
pub const SLOW: Duration = Duration::from_secs(2);
/// How far back a writer looks for its own write among the manifests a later one was
/// made from.
const LINEAGE_DEPTH: usize = 8;

/// One kind of set kept in a manifest under a shared tag.
pub(crate) trait SharedSet {
    /// One member.
    type Entry: Clone;
    /// The members of a stored manifest, and the manifest it says it was made from.
    fn read(store: &Store, tag: &str, m: &Manifest) -> Result<Members<Self::Entry>, Error>;
    /// A manifest of `entries` made from `previous`, and blobs it needs stored first.
    fn build(entries: &[Self::Entry], previous: Option<&Digest>) -> Result<Built, Error>;
    /// Whether two members are the same one.
    fn same(a: &Self::Entry, b: &Self::Entry) -> bool;
    /// How a member is named in an error.
    fn name(e: &Self::Entry) -> String;
    /// Whether a stored manifest holds no member.
    fn is_empty(store: &Store, tag: &str, m: &Manifest) -> Result<bool, Error> {
        Ok(Self::read(store, tag, m)?.entries.is_empty())
    }
}

/// What a stored manifest holds.
pub(crate) struct Members<E> {
    entries: Vec<E>,
    previous: Option<Digest>,
}

/// A manifest to write and the blobs it needs.
pub(crate) struct Built {
    manifest: Manifest,
    blobs: Vec<Bytes>,
}

/// A change: members to add, and which members to remove.
pub(crate) struct Change<'a, E> {
    /// Added unless present.
    pub add: Vec<E>,
    /// Removed wherever found.
    pub remove: &'a (dyn Fn(&E) -> bool + Sync),
    /// Whether a missing tag is created (else nothing is done).
    pub create: bool,
}

/// cosign's `.sig` manifest: one simple-signing layer per signature.
pub(crate) struct SignatureLayers;

impl SharedSet for SignatureLayers {
    type Entry = Descriptor;

    fn read(_: &Store, _: &str, m: &Manifest) -> Result<Members<Descriptor>, Error> {
        let (entries, previous) = signature::layers_of(m)?;
        Ok(Members { entries, previous })
    }

    fn build(entries: &[Descriptor], previous: Option<&Digest>) -> Result<Built, Error> {
        let (manifest, config) = signature::manifest_of(entries.to_vec(), previous)?;
        Ok(Built {
            manifest,
            blobs: vec![Bytes::from(config)],
        })
    }

    fn same(a: &Descriptor, b: &Descriptor) -> bool {
        signature::layer_id(a) == signature::layer_id(b)
    }

    fn name(e: &Descriptor) -> String {
        let (payload, sig) = signature::layer_id(e);
        match sig {
            Some(s) => format!("signature layer {payload} ({})", Digest::sha256(&s)),
            None => format!("layer {payload}"),
        }
    }
}

/// The fallback referrers index under `sha256-<hex>`: one entry per referrer.
pub(crate) struct FallbackIndex;

impl SharedSet for FallbackIndex {
    type Entry = IndexEntry;

    fn read(store: &Store, tag: &str, m: &Manifest) -> Result<Members<IndexEntry>, Error> {
        let index = Index::parse(&m.bytes).map_err(|source| Error::Malformed {
            source_name: store.tagged(tag),
            source,
        })?;
        Ok(Members {
            previous: index
                .annotation(PREVIOUS_ANNOTATION)
                .and_then(|d| d.parse().ok()),
            entries: index.entries().to_vec(),
        })
    }

    fn build(entries: &[IndexEntry], previous: Option<&Digest>) -> Result<Built, Error> {
        let mut index = Index::empty();
        index.set_entries(entries.to_vec());
        if let Some(p) = previous {
            index.set_annotation(PREVIOUS_ANNOTATION, &p.to_string());
        }
        Ok(Built {
            manifest: Manifest::new(index.to_bytes(), OCI_INDEX),
            blobs: Vec::new(),
        })
    }

    fn same(a: &IndexEntry, b: &IndexEntry) -> bool {
        a.digest == b.digest
    }

    fn name(e: &IndexEntry) -> String {
        format!("referrer {}", e.digest)
    }
}

fn has<S: SharedSet>(set: &[S::Entry], e: &S::Entry) -> bool {
    set.iter().any(|x| S::same(x, e))
}

fn same<S: SharedSet>(a: &[S::Entry], b: &[S::Entry]) -> bool {
    a.len() == b.len() && a.iter().all(|e| has::<S>(b, e))
}

/// What a write left behind, to check it later.
struct Written<E> {
    digest: Digest,
    entries: Vec<E>,
}

impl Store {
    /// How long a writer of a shared tag waits before it checks that its write stood: at
    /// least [`SLOW`], or zero when switched off.
    fn settle_window(&self) -> Duration {
        match self {
            Self::Registry { client, .. } => match client.options().settle {
                Duration::ZERO => Duration::ZERO,
                d => d.max(SLOW),
            },
            // Writers of a layout hold its lock for the whole update: no other write can
            // land while this one is watched.
            Self::Layout(_) => Duration::ZERO,
        }
    }

    /// The members under `tag`, and the stored manifest; empty when there is none.
    async fn shared_members<S: SharedSet>(
        &self,
        tag: &str,
    ) -> Result<(Option<Manifest>, Members<S::Entry>), Error> {
        Ok(match self.get_manifest(tag).await? {
            Some(m) => {
                let members = S::read(self, tag, &m)?;
                (Some(m), members)
            }
            None => (
                None,
                Members {
                    entries: Vec::new(),
                    previous: None,
                },
            ),
        })
    }

    /// Applies `change` to the set under `tag` so that no other writer's member is lost
    /// silently (see the module documentation). False when nothing had to change.
    pub(crate) async fn update_shared<S: SharedSet>(
        &self,
        tag: &str,
        change: Change<'_, S::Entry>,
    ) -> Result<bool, Error> {
        // Writers of one layout take turns: the read, change and write below happen as one.
        let _turn = match self {
            Self::Layout(l) => Some(l.lock()?),
            Self::Registry { .. } => None,
        };
        let window = self.settle_window();
        let mut written: Option<Written<S::Entry>> = None;
        let mut slowest = Duration::ZERO;
        let mut unanswered = None;
        let mut writes = 0;
        loop {
            let started = Instant::now();
            let (stored, now) = self.shared_members::<S>(tag).await?;
            let mut next = now.entries.clone();
            if let Some(w) = &written {
                let Some(base) = self
                    .overwritten::<S>(tag, w, stored.as_ref(), &now, &change)
                    .await?
                else {
                    break;
                };
                if writes > REPAIRS {
                    return Err(Error::Overwritten {
                        tag: self.tagged(tag),
                        attempts: writes,
                        missing: lost::<S>(w, &now, &change),
                    });
                }
                // Overwritten by a writer that had not seen this write: add back what
                // its starting point lacked too; what it had and dropped, it dropped on
                // purpose.
                for e in &w.entries {
                    if !has::<S>(&next, e) && !has::<S>(&base, e) {
                        next.push(e.clone());
                    }
                }
            } else if stored.is_none() && !change.create {
                return Ok(false);
            }
            next.retain(|e| !(change.remove)(e));
            for a in &change.add {
                if !has::<S>(&next, a) {
                    next.push(a.clone());
                }
            }
            if stored.is_some() && same::<S>(&next, &now.entries) {
                if written.is_none() {
                    return Ok(false);
                }
                break;
            }
            let built = S::build(&next, stored.as_ref().map(|m| &m.digest))?;
            if let Err(e) = self.write_built(tag, &built).await? {
                // It may still land: write again (merging with what is there then), and
                // say in the end that this write cannot be vouched for.
                unanswered = Some(e);
            }
            writes += 1;
            slowest = slowest.max(started.elapsed());
            written = Some(Written {
                digest: built.manifest.digest,
                entries: next,
            });
            tokio::time::sleep(window).await;
        }
        if window.is_zero() {
            return Ok(true);
        }
        if let Some(e) = unanswered {
            return Err(Error::Unsettled {
                tag: self.tagged(tag),
                why: format!("a write got no answer ({e}) and may still land"),
            });
        }
        if slowest > SLOW {
            return Err(Error::Unsettled {
                tag: self.tagged(tag),
                why: format!(
                    "a write took {:.1} s from read to stored, longer than the {:.1} s every \
                     signer watches its writes for",
                    slowest.as_secs_f64(),
                    SLOW.as_secs_f64()
                ),
            });
        }
        Ok(true)
    }

    /// Stores the blobs of `built`, then the manifest under `tag`; the inner error is a
    /// write that got no answer and may still land. Debian's registry, asked for the same
    /// small blob by several signers at once, can for a moment answer a manifest that names
    /// it with "blob unknown": that is tried again, briefly.
    async fn write_built(
        &self,
        tag: &str,
        built: &Built,
    ) -> Result<Result<(), RegistryError>, Error> {
        const ATTEMPTS: u32 = 4;
        let mut attempt = 1;
        loop {
            for b in &built.blobs {
                self.put_blob(&Digest::sha256(b), b.clone()).await?;
            }
            let put = match self {
                Self::Registry { client, repo } => client
                    .put_manifest_once(repo, tag, &built.manifest)
                    .await
                    .map_err(Error::from),
                Self::Layout(_) => self.put_manifest(&built.manifest, Some(tag)).await,
            };
            match put {
                Err(Error::Registry(e)) if e.may_have_landed() => return Ok(Err(e)),
                Err(Error::Registry(RegistryError::Status {
                    status: 400,
                    message,
                    ..
                })) if message.contains("BLOB_UNKNOWN") && attempt < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                other => return other.map(Ok),
            }
        }
    }

    /// Whether the write `w` stands in what the tag holds now: it is what was written,
    /// or it holds everything written and nothing removed, or it was made (within a few
    /// writes) from the write, so its writer saw it. `None` when it stands; otherwise the
    /// members of the manifest the overwriting write was made from (its starting point),
    /// for the three-way repair.
    async fn overwritten<S: SharedSet>(
        &self,
        tag: &str,
        w: &Written<S::Entry>,
        stored: Option<&Manifest>,
        now: &Members<S::Entry>,
        change: &Change<'_, S::Entry>,
    ) -> Result<Option<Vec<S::Entry>>, Error> {
        if let Some(stored) = stored {
            if stored.digest == w.digest {
                return Ok(None);
            }
            if w.entries.iter().all(|e| has::<S>(&now.entries, e))
                && !now.entries.iter().any(|e| (change.remove)(e))
            {
                return Ok(None);
            }
        }
        let mut base = None;
        let mut previous = now.previous.clone();
        for _ in 0..LINEAGE_DEPTH {
            let Some(p) = previous else { break };
            if p == w.digest {
                return Ok(None);
            }
            let read = match self.get_manifest(&p.to_string()).await? {
                // The first is the overwriting write's starting point: it must be read.
                Some(m) if base.is_none() => Some(S::read(self, tag, &m)?),
                Some(m) => S::read(self, tag, &m).ok(),
                None => None,
            };
            let (entries, earlier) = read.map_or((Vec::new(), None), |m| (m.entries, m.previous));
            base.get_or_insert(entries);
            previous = earlier;
        }
        Ok(Some(base.unwrap_or_default()))
    }
}

/// The members of `w` missing from `now`, and removed members back in it.
fn lost<S: SharedSet>(
    w: &Written<S::Entry>,
    now: &Members<S::Entry>,
    change: &Change<'_, S::Entry>,
) -> Vec<String> {
    let mut out: Vec<String> = w
        .entries
        .iter()
        .filter(|e| !has::<S>(&now.entries, e))
        .map(|e| S::name(e))
        .collect();
    out.extend(
        now.entries
            .iter()
            .filter(|e| (change.remove)(e))
            .map(|e| format!("{} (removed, but back)", S::name(e))),
    );
    out
}
