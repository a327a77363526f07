//! The one manifest-graph walker, without I/O: it says which manifest it needs next, the
//! caller fetches it (from a file, a tarball or a registry) and hands it back.
//!
//! Limits are enforced here once for every caller: nesting depth, descriptors per
//! manifest, distinct manifests and distinct blobs per artifact.

use std::collections::{HashMap, HashSet, VecDeque};

use super::{Descriptor, MAX_DEPTH, MAX_REFERENCES, Manifest, OciError};
use crate::digest::Digest;

/// A walk from a top manifest through its children.
///
/// ```text
/// let mut walk = Walk::new(top)?;
/// while let Some(child) = walk.next() { walk.add(fetch(&child.digest)?)?; }
/// let graph = walk.finish();
/// ```
#[derive(Debug)]
pub struct Walk {
    top: Digest,
    queue: VecDeque<(Descriptor, usize)>,
    asked: Option<(Descriptor, usize)>,
    /// Every manifest seen, with its children's digests and its blobs.
    seen: HashMap<Digest, (Manifest, Vec<Digest>, Vec<Descriptor>)>,
    blobs: HashSet<Digest>,
    /// Every manifest queued or seen. Without a bound on these, a registry could nest
    /// indexes of fresh indexes (each within the per-manifest limit) into a graph of
    /// millions of manifests, every one fetched and held in memory.
    manifests: HashSet<Digest>,
}

/// Everything an artifact is made of.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Every manifest once, children before the index that lists them; the top is last.
    pub manifests: Vec<Manifest>,
    /// Every blob once, in the order the manifests list them.
    pub blobs: Vec<Descriptor>,
}

impl Walk {
    /// Starts at `top`, which the caller already has (and checked).
    pub fn new(top: Manifest) -> Result<Self, OciError> {
        let mut walk = Self {
            top: top.digest.clone(),
            queue: VecDeque::new(),
            asked: None,
            seen: HashMap::new(),
            blobs: HashSet::new(),
            manifests: HashSet::from([top.digest.clone()]),
        };
        walk.insert(top, 0)?;
        Ok(walk)
    }

    /// The next child manifest to fetch, by the digest its parent names.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Descriptor> {
        while let Some((d, depth)) = self.queue.pop_front() {
            if !self.seen.contains_key(&d.digest) {
                self.asked = Some((d.clone(), depth));
                return Some(d);
            }
        }
        None
    }

    /// Hands back the manifest [`Walk::next`] asked for.
    pub fn add(&mut self, m: Manifest) -> Result<(), OciError> {
        let (asked, depth) = self.asked.take().ok_or(OciError::UnexpectedManifest {
            expected: self.top.clone(),
            actual: m.digest.clone(),
        })?;
        if m.digest != asked.digest {
            return Err(OciError::UnexpectedManifest {
                expected: asked.digest,
                actual: m.digest,
            });
        }
        self.insert(m, depth)
    }

    fn insert(&mut self, m: Manifest, depth: usize) -> Result<(), OciError> {
        if depth > MAX_DEPTH {
            return Err(OciError::TooDeep);
        }
        let refs = m.references()?;
        for b in &refs.blobs {
            self.blobs.insert(b.digest.clone());
        }
        if self.blobs.len() > MAX_REFERENCES {
            return Err(OciError::TooManyReferences {
                what: format!("the artifact {}", self.top),
            });
        }
        let children = refs.manifests.iter().map(|c| c.digest.clone()).collect();
        // Queued once however many indexes list it: the breadth-first order has already
        // given it its shallowest depth.
        for child in refs.manifests {
            if self.manifests.insert(child.digest.clone()) {
                self.queue.push_back((child, depth + 1));
            }
        }
        if self.manifests.len() > MAX_REFERENCES {
            return Err(OciError::TooManyReferences {
                what: format!("the artifact {}", self.top),
            });
        }
        self.seen
            .insert(m.digest.clone(), (m, children, refs.blobs));
        Ok(())
    }

    /// Orders what was collected: children first, every manifest and blob once.
    pub fn finish(mut self) -> Graph {
        let mut graph = Graph {
            manifests: Vec::new(),
            blobs: Vec::new(),
        };
        let mut placed = HashSet::new();
        let mut blobs_placed = HashSet::new();
        // Post-order, iteratively: (digest, children visited?).
        let mut stack = vec![(self.top.clone(), false)];
        while let Some((d, expanded)) = stack.pop() {
            if placed.contains(&d) {
                continue;
            }
            let Some((_, children, _)) = self.seen.get(&d) else {
                continue;
            };
            if expanded {
                placed.insert(d.clone());
                let (m, _, blobs) = self.seen.remove(&d).expect("present above");
                for b in blobs {
                    if blobs_placed.insert(b.digest.clone()) {
                        graph.blobs.push(b);
                    }
                }
                graph.manifests.push(m);
            } else {
                stack.push((d.clone(), true));
                for c in children.iter().rev() {
                    if !placed.contains(c) {
                        stack.push((c.clone(), false));
                    }
                }
            }
        }
        graph
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{OCI_INDEX, OCI_MANIFEST};

    fn image(config: &[u8]) -> Manifest {
        let c = Digest::sha256(config);
        let shared = Digest::sha256(b"shared layer");
        Manifest::new(
            format!(r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{c}","size":1}},"layers":[{{"mediaType":"l","digest":"{shared}","size":1}}]}}"#).into_bytes(),
            OCI_MANIFEST,
        )
    }

    fn index(children: &[&Manifest]) -> Manifest {
        let list: Vec<String> = children
            .iter()
            .map(|m| {
                format!(
                    r#"{{"mediaType":"{}","digest":"{}","size":1}}"#,
                    m.media_type, m.digest
                )
            })
            .collect();
        Manifest::new(
            format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, list.join(",")).into_bytes(),
            OCI_INDEX,
        )
    }

    fn run(top: Manifest, all: &[&Manifest]) -> Result<Graph, OciError> {
        let mut w = Walk::new(top)?;
        while let Some(d) = w.next() {
            let m = all.iter().find(|m| m.digest == d.digest).unwrap();
            w.add((*m).clone())?;
        }
        Ok(w.finish())
    }

    #[test]
    fn children_first_and_everything_once() {
        let (a, b) = (image(b"a"), image(b"b"));
        let inner = index(&[&a]);
        let top = index(&[&inner, &a, &b]);
        let g = run(top.clone(), &[&a, &b, &inner]).unwrap();
        let order: Vec<&Digest> = g.manifests.iter().map(|m| &m.digest).collect();
        assert_eq!(
            order,
            vec![&a.digest, &inner.digest, &b.digest, &top.digest]
        );
        // config a, shared layer, config b
        assert_eq!(g.blobs.len(), 3);
    }

    #[test]
    fn depth_and_substitution_are_refused() {
        let mut m = image(b"leaf");
        let mut all = vec![m.clone()];
        for _ in 0..=MAX_DEPTH {
            m = index(&[&m]);
            all.push(m.clone());
        }
        let refs: Vec<&Manifest> = all.iter().collect();
        assert!(matches!(run(m, &refs), Err(OciError::TooDeep)));

        let (a, b) = (image(b"a"), image(b"b"));
        let mut w = Walk::new(index(&[&a])).unwrap();
        w.next().unwrap();
        assert!(matches!(w.add(b), Err(OciError::UnexpectedManifest { .. })));
    }

    #[test]
    fn nested_indexes_of_fresh_manifests_are_bounded_in_total() {
        // Each index is within the per-manifest limit; together they list one manifest
        // more than an artifact may have.
        let half = MAX_REFERENCES / 2;
        let leaves: Vec<Manifest> = (0..=2 * half)
            .map(|i| image(format!("c{i}").as_bytes()))
            .collect();
        let (a, b) = leaves.split_at(half);
        let inner_a = index(&a.iter().collect::<Vec<_>>());
        let inner_b = index(&b.iter().collect::<Vec<_>>());
        let top = index(&[&inner_a, &inner_b]);
        let mut all: Vec<&Manifest> = leaves.iter().collect();
        all.extend([&inner_a, &inner_b]);
        let mut w = Walk::new(top).unwrap();
        let mut fetched = 0;
        let err = loop {
            let d = w
                .next()
                .expect("refused before the last manifest is asked for");
            fetched += 1;
            let m = all.iter().find(|m| m.digest == d.digest).unwrap();
            if let Err(e) = w.add((*m).clone()) {
                break e;
            }
        };
        assert!(matches!(err, OciError::TooManyReferences { .. }), "{err}");
        assert_eq!(fetched, 2, "refused on listing, before any leaf is fetched");
    }

    #[test]
    fn a_manifest_many_indexes_list_is_queued_once() {
        let leaves: Vec<Manifest> = (0..100)
            .map(|i| image(format!("c{i}").as_bytes()))
            .collect();
        let list: Vec<&Manifest> = leaves.iter().collect();
        let inner: Vec<Manifest> = (0..50)
            .map(|i| {
                let mut l = list.clone();
                l.rotate_left(i);
                index(&l)
            })
            .collect();
        let top = index(&inner.iter().collect::<Vec<_>>());
        let mut w = Walk::new(top).unwrap();
        let (mut asked, mut longest_queue) = (0, 0);
        while let Some(d) = w.next() {
            asked += 1;
            let m = leaves
                .iter()
                .chain(&inner)
                .find(|m| m.digest == d.digest)
                .unwrap();
            w.add(m.clone()).unwrap();
            longest_queue = longest_queue.max(w.queue.len());
        }
        assert_eq!(asked, 150);
        // Not 50 × 100: a queue entry per listing would grow as indexes times entries.
        assert!(longest_queue <= 150, "{longest_queue}");
    }
}
