//! Merkle inclusion proofs of a transparency log (RFC 6962 §2.1, RFC 9162 §2.1.3.2): the
//! leaf and node hashes, and the recomputation of a root from a leaf and its audit path.
//! Leaves and nodes are hashed with different prefixes so that no leaf can pose as a node.

use sha2::{Digest as _, Sha256};

/// Longest audit path accepted: a tree of 2^64 leaves needs no more.
pub(crate) const MAX_PROOF_HASHES: usize = 64;

/// The hash of a leaf whose data is `body`: SHA-256(0x00 ‖ body).
pub(crate) fn leaf_hash(body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(body);
    h.finalize().into()
}

/// The hash of an inner node: SHA-256(0x01 ‖ left ‖ right).
pub(crate) fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Whether `proof` (sibling hashes, leaf to root) proves that the leaf hashed `leaf_hash` sits
/// at `index` in the tree of `size` leaves whose root is `root`. Every hash of the proof must
/// be used, and no more than the tree's height allows, so a path for another index or size
/// does not verify.
pub(crate) fn verify_inclusion(
    leaf_hash: &[u8; 32],
    index: u64,
    size: u64,
    proof: &[[u8; 32]],
    root: &[u8; 32],
) -> bool {
    if index >= size || proof.len() > MAX_PROOF_HASHES {
        return false;
    }
    let mut f_n = index;
    let mut s_n = size - 1;
    let mut r = *leaf_hash;
    for p in proof {
        if s_n == 0 {
            return false;
        }
        if f_n & 1 == 1 || f_n == s_n {
            r = node_hash(p, &r);
            // A right edge of an incomplete tree: climb past the levels that have no sibling.
            while f_n & 1 == 0 && f_n != 0 {
                f_n >>= 1;
                s_n >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        f_n >>= 1;
        s_n >>= 1;
    }
    s_n == 0 && r == *root
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// RFC 6962 §2.1: MTH of a list of leaves (leaf data, hashed here).
    pub(crate) fn tree_root(leaves: &[Vec<u8>]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaf_hash(&leaves[0]),
            n => {
                let k = split(n);
                node_hash(&tree_root(&leaves[..k]), &tree_root(&leaves[k..]))
            }
        }
    }

    /// RFC 6962 §2.1.1: PATH(m, D[n]).
    pub(crate) fn audit_path(m: usize, leaves: &[Vec<u8>]) -> Vec<[u8; 32]> {
        let n = leaves.len();
        if n <= 1 {
            return Vec::new();
        }
        let k = split(n);
        if m < k {
            let mut p = audit_path(m, &leaves[..k]);
            p.push(tree_root(&leaves[k..]));
            p
        } else {
            let mut p = audit_path(m - k, &leaves[k..]);
            p.push(tree_root(&leaves[..k]));
            p
        }
    }

    /// The largest power of two smaller than `n`.
    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    fn leaves(n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|i| format!("leaf {i}").into_bytes()).collect()
    }

    #[test]
    fn every_leaf_of_every_tree_up_to_17_verifies() {
        for size in 1..=17usize {
            let data = leaves(size);
            let root = tree_root(&data);
            for index in 0..size {
                let path = audit_path(index, &data);
                let leaf = leaf_hash(&data[index]);
                assert!(
                    verify_inclusion(&leaf, index as u64, size as u64, &path, &root),
                    "index {index} of {size}"
                );
            }
        }
    }

    #[test]
    fn a_wrong_sibling_index_size_leaf_or_root_does_not_verify() {
        for size in 2..=17usize {
            let data = leaves(size);
            let root = tree_root(&data);
            for index in 0..size {
                let path = audit_path(index, &data);
                let leaf = leaf_hash(&data[index]);
                let (i, n) = (index as u64, size as u64);
                for s in 0..path.len() {
                    let mut bad = path.clone();
                    bad[s][0] ^= 1;
                    assert!(
                        !verify_inclusion(&leaf, i, n, &bad, &root),
                        "{index}/{size}"
                    );
                }
                for other in (0..size as u64).filter(|o| *o != i) {
                    assert!(!verify_inclusion(&leaf, other, n, &path, &root), "{other}");
                }
                // A path has the length of its index's path in its tree's size; a size whose
                // tree wants another length cannot be claimed. (A size with the same shape
                // above the leaf can: the checkpoint is what binds the size to the root.)
                for other in (1..=18usize).filter(|o| *o != size) {
                    let fits =
                        index < other && audit_path(index, &leaves(other)).len() == path.len();
                    if !fits {
                        assert!(
                            !verify_inclusion(&leaf, i, other as u64, &path, &root),
                            "{index}/{size} as {other}"
                        );
                    }
                }
                let other_leaf = leaf_hash(b"another leaf");
                assert!(!verify_inclusion(&other_leaf, i, n, &path, &root));
                let mut other_root = root;
                other_root[31] ^= 1;
                assert!(!verify_inclusion(&leaf, i, n, &path, &other_root));
                let mut longer = path.clone();
                longer.push(root);
                assert!(!verify_inclusion(&leaf, i, n, &longer, &root));
                if !path.is_empty() {
                    let shorter = &path[..path.len() - 1];
                    assert!(!verify_inclusion(&leaf, i, n, shorter, &root));
                }
            }
        }
    }

    #[test]
    fn a_leaf_is_not_a_node_and_bounds_hold() {
        let data = leaves(2);
        let root = tree_root(&data);
        // The root as a leaf of a one-leaf tree must not verify: leaves and nodes differ.
        let as_leaf = node_hash(&leaf_hash(&data[0]), &leaf_hash(&data[1]));
        assert_eq!(as_leaf, root);
        assert!(!verify_inclusion(&leaf_hash(&as_leaf), 0, 1, &[], &root));
        assert!(!verify_inclusion(&root, 0, 0, &[], &root));
        assert!(!verify_inclusion(&root, 1, 1, &[], &root));
        assert!(verify_inclusion(&root, 0, 1, &[], &root));
        let long = vec![[0u8; 32]; MAX_PROOF_HASHES + 1];
        assert!(!verify_inclusion(&root, 0, u64::MAX, &long, &root));
    }
}
