//! Where a tag was before it was moved: asked only once a verification has failed, since
//! it costs a tag list and a signature read per signed digest.
//!
//! The judgement is the one `scan` makes ([`Judged`]): a tag whose newest trusted binding
//! (in a signature made for this repository) is on another digest was moved. Only the
//! fetching is here.

use std::collections::{HashMap, HashSet};

use super::bindings::Judged;
use super::{Context, Evidence, Known, gather_known};
use crate::digest::Digest;
use crate::reference::signature_tag_kind;
use crate::report::{MovedTag, Rejection};
use crate::store::Target;
use crate::trust::VerifyOptions;

/// Most signed digests whose signatures are read to find where a tag was: bounds the
/// work a repository full of signature tags can cause after a failure.
pub(crate) const MAX_SIGNED_DIGESTS: usize = 64;

/// The signed digests a list of tags shows (by `.sig` or referrers fallback tags), other
/// than `digest`, at most [`MAX_SIGNED_DIGESTS`].
fn signed_digests(tags: &HashSet<String>, digest: &Digest) -> Vec<Digest> {
    let mut found: Vec<Digest> = tags
        .iter()
        .filter_map(|t| signature_tag_kind(t))
        .filter(|(d, kind)| kind.has_signatures() && d != digest)
        .map(|(d, _)| d)
        .collect();
    found.sort();
    found.dedup();
    found.truncate(MAX_SIGNED_DIGESTS);
    found
}

/// Why the tag of `ctx` names `evidence.digest` without a trusted signature, when a trusted
/// signature binds it elsewhere: the tag was moved from there. `None` when it was not, or
/// when the signature repository cannot be listed (the verification has failed anyway;
/// this only explains it).
pub(crate) async fn moved_from(
    target: &Target,
    evidence: &Evidence,
    ctx: &Context,
    opts: &VerifyOptions,
) -> Option<Rejection> {
    let tag = ctx.tag.as_deref()?;
    let tags: HashSet<String> = target
        .signatures
        .list_tags()
        .await
        .ok()?
        .into_iter()
        .collect();
    let digests = signed_digests(&tags, &evidence.digest);
    if digests.is_empty() {
        return None;
    }
    // The referrers API is not asked: a digest is found here by its tags, and its fallback
    // index is one of them.
    let known = Known {
        tags,
        referrers_api: false,
    };
    let mut all: HashMap<Digest, Evidence> = HashMap::new();
    for d in digests {
        let e = gather_known(target, &d, Some(&known)).await.ok()?;
        all.insert(d, e);
    }
    all.insert(evidence.digest.clone(), evidence.clone());
    judge(&all, tag, &evidence.digest, ctx, opts, |d| {
        target.store.pinned(d)
    })
}

/// The pure half: where `all` (every digest's evidence) puts `tag`, as against `digest`.
fn judge(
    all: &HashMap<Digest, Evidence>,
    tag: &str,
    digest: &Digest,
    ctx: &Context,
    opts: &VerifyOptions,
    pinned: impl Fn(&Digest) -> String,
) -> Option<Rejection> {
    let judged = Judged::new(all, &ctx.identity, opts, ctx.now);
    let b = judged.moved_from(tag, digest)?;
    Some(Rejection::TagMovedAfterSigning(Box::new(MovedTag {
        tag: tag.to_string(),
        from_reference: pinned(&b.digest),
        from: b.digest,
        to: digest.clone(),
        signed_at: b.timestamp,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(c: char) -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .unwrap()
    }

    #[test]
    fn signed_digests_are_read_from_signature_tags_only_and_bounded() {
        let here = digest('a');
        let mut tags: HashSet<String> = [
            format!("sha256-{}.sig", "a".repeat(64)),
            format!("sha256-{}.sig", "b".repeat(64)),
            format!("sha256-{}", "c".repeat(64)),
            format!("sha256-{}.att", "d".repeat(64)),
            format!("sha256-{}.sbom", "e".repeat(64)),
            "v1".into(),
            "latest".into(),
        ]
        .into_iter()
        .collect();
        assert_eq!(signed_digests(&tags, &here), vec![digest('b'), digest('c')]);
        for i in 0..200u32 {
            tags.insert(format!("sha256-{:064x}.sig", i + 1000));
        }
        assert_eq!(signed_digests(&tags, &here).len(), MAX_SIGNED_DIGESTS);
    }

    #[test]
    fn nothing_signed_elsewhere_is_no_move() {
        let here = digest('a');
        let ctx = Context {
            reference: format!("reg.example.com/app@{here}"),
            identity: "reg.example.com/app".into(),
            tag: Some("v1".into()),
            now: std::time::SystemTime::now(),
        };
        let mut all = HashMap::new();
        all.insert(here.clone(), Evidence::new(here.clone(), Vec::new()));
        all.insert(digest('b'), Evidence::new(digest('b'), Vec::new()));
        let opts = VerifyOptions::default();
        assert!(judge(&all, "v1", &here, &ctx, &opts, |d| d.to_string()).is_none());
    }
}
