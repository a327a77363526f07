//! Image references as written: what they name and how, and where a file deploys them.

use crate::digest::Digest;

/// An image reference as written: what it names, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRefText {
    /// The repository part (before tag and digest).
    pub(crate) repository: String,
    pub(crate) tag: Option<String>,
    /// The text after `@`, when present.
    pub(crate) digest: Option<String>,
}

/// Reads `s` as an image reference, when it looks like one: no scheme, no spaces, not a
/// file or a key URI.
pub(crate) fn image_ref(s: &str) -> Option<ImageRefText> {
    let masked = mask_expressions(s);
    let s = masked.strip_prefix("docker://").unwrap_or(&masked);
    if s.is_empty()
        || s.starts_with('-')
        || s.starts_with('.')
        || s.starts_with('/')
        || s.contains(char::is_whitespace)
        || s.contains("://")
        || [
            ".key", ".pub", ".pem", ".json", ".yaml", ".yml", ".sh", ".txt", ".tar",
        ]
        .iter()
        .any(|e| s.ends_with(e))
    {
        return None;
    }
    let (name, digest) = match s.split_once('@') {
        Some((n, d)) => (n, Some(d.to_string())),
        None => (s, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    let (repository, tag) = match last.split_once(':') {
        Some((_, t)) if !t.is_empty() && !t.contains('/') => (
            name[..name.len() - t.len() - 1].to_string(),
            Some(t.to_string()),
        ),
        _ => (name.to_string(), None),
    };
    let ok = !repository.is_empty()
        && repository
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:$}{ ".contains(c));
    ok.then_some(ImageRefText {
        repository,
        tag,
        digest,
    })
}

/// `s` with each `${{ … }}` expression replaced by `${{}}`: an expression stands for a
/// value, whatever spaces are inside it.
pub(crate) fn mask_expressions(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find("${{") {
        out.push_str(&rest[..at]);
        match rest[at..].find("}}") {
            Some(end) => {
                out.push_str("${{}}");
                rest = &rest[at + end + 2..];
            }
            None => {
                out.push_str(&rest[at..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// True when the digest part is a literal digest.
pub(crate) fn literal_digest(d: &str) -> bool {
    d.parse::<Digest>().is_ok()
}

/// A command substitution that asks a registry which digest a tag names.
pub(crate) fn resolves_from_registry(d: &str) -> bool {
    let d = d.to_ascii_lowercase();
    (d.contains("$(") || d.contains('`'))
        && !local_repo_digests(&d)
        && [
            "crane digest",
            "docker inspect",
            "skopeo inspect",
            "imagetools inspect",
            "oras resolve",
            "regctl image digest",
            "docker manifest inspect",
            "oras discover",
            // `--descriptor` prints the descriptor whose `digest` a `jq` takes; without it
            // the manifest itself, which a digest tool hashes. Both ask the registry.
            "oras manifest fetch",
            "regctl manifest digest",
            "regctl manifest head",
            "podman inspect",
            "podman image inspect",
        ]
        .iter()
        .any(|c| d.contains(c))
}

/// A command substitution that reads a local image's `RepoDigests`
/// (`docker inspect --format '{{index .RepoDigests 0}}' app:v1`): the `repo@sha256:…`
/// references the daemon recorded when it pushed (or pulled) that image. The daemon answers
/// from its own store, not the registry: for an image built and pushed here it is the
/// digest of the bytes this job pushed, as good as the build's own output. `docker
/// manifest inspect` and `buildx imagetools inspect` do ask the registry, and are not this.
pub(crate) fn local_repo_digests(d: &str) -> bool {
    let d = d.to_ascii_lowercase();
    d.contains("repodigests")
        && [
            "docker inspect",
            "docker image inspect",
            "podman inspect",
            "podman image inspect",
        ]
        .iter()
        .any(|c| d.contains(c))
        && ![
            "manifest inspect",
            "imagetools inspect",
            "skopeo",
            "crane",
            "regctl",
            "oras",
        ]
        .iter()
        .any(|c| d.contains(c))
}

/// True when what a reference without a tag names cannot be known: the last part of its
/// name is (or ends in) a variable or an expression whose value may hold a tag or a digest
/// (`docker pull ${platform}`, `reg.io/$IMAGE`). Unknown is never "no tag".
pub(crate) fn name_is_unknown(repository: &str) -> bool {
    let last = repository.rsplit('/').next().unwrap_or(repository);
    last.contains('$')
}

/// The bytes of `text` outside `$(…)`, `${…}`, `` `…` `` and `${{ … }}`, with their offsets.
fn top_bytes(text: &str) -> impl Iterator<Item = (usize, u8)> + '_ {
    let b = text.as_bytes();
    let (mut depth, mut tick, mut i) = (0usize, false, 0usize);
    std::iter::from_fn(move || {
        while i < b.len() {
            let at = i;
            i += 1;
            match b[at] {
                b'$' if matches!(b.get(at + 1), Some(b'(' | b'{')) => {
                    depth += 1;
                    i += 1;
                }
                b'(' | b'{' if depth > 0 => depth += 1,
                b')' | b'}' if depth > 0 => depth -= 1,
                b'`' => tick = !tick,
                c if depth == 0 && !tick => return Some((at, c)),
                _ => {}
            }
        }
        None
    })
}

/// The byte offset of the first `ch` of `text` outside expansions, as [`last_top`].
pub(crate) fn first_top(text: &str, ch: u8) -> Option<usize> {
    top_bytes(text).find(|&(_, c)| c == ch).map(|(i, _)| i)
}

/// The byte offset of the last `ch` of `text` outside `$(…)`, `${…}`, `` `…` `` and
/// `${{ … }}`.
pub(crate) fn last_top(text: &str, ch: u8) -> Option<usize> {
    top_bytes(text)
        .filter(|&(_, c)| c == ch)
        .last()
        .map(|(i, _)| i)
}

/// `text` split at blanks outside expansions: `${{ steps.a.outputs.refs }}` stays one word.
pub(crate) fn top_words(text: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut from = 0;
    for (i, c) in top_bytes(text) {
        if c.is_ascii_whitespace() {
            if i > from {
                words.push(&text[from..i]);
            }
            from = i + 1;
        }
    }
    if from < text.len() {
        words.push(&text[from..]);
    }
    words
}

/// `text` split at its `@` (outside expansions): the name part and the digest part.
pub(crate) fn split_reference(text: &str) -> (&str, Option<&str>) {
    match last_top(text, b'@') {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    }
}

/// `text` with each expansion (`${…}`, `$(…)`, `` `…` ``, `${{ … }}`) replaced by `$v`.
fn mask_expansions(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let (mut depth, mut tick) = (0usize, false);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'`' {
            tick = !tick;
            if tick && depth == 0 {
                out.push_str("$v");
            }
        } else if c == b'$' && matches!(b.get(i + 1), Some(b'(' | b'{')) {
            if depth == 0 && !tick {
                out.push_str("$v");
            }
            depth += 1;
            i += 1;
        } else if depth > 0 {
            match c {
                b'(' | b'{' => depth += 1,
                b')' | b'}' => depth -= 1,
                _ => {}
            }
        } else if !tick {
            // Safe: an ASCII byte, or part of a character copied whole below.
            let ch = text[i..].chars().next().unwrap_or_default();
            out.push(ch);
            i += ch.len_utf8();
            continue;
        }
        i += 1;
    }
    out
}

/// Whether a signer's argument (its name part) may be an image reference once its
/// expansions are known: never an option's `NAME=value`, a file or a key (`env://KEY`,
/// `cosign.key`).
pub(crate) fn may_be_reference(text: &str) -> bool {
    image_ref(&mask_expansions(text)).is_some()
}

#[cfg(test)]
mod reference_tests {
    use super::*;

    #[test]
    fn words_and_separators_outside_expansions() {
        assert_eq!(
            top_words("a ${{ steps.x.outputs.y }} $(crane digest r:v1)  `b c` d"),
            [
                "a",
                "${{ steps.x.outputs.y }}",
                "$(crane digest r:v1)",
                "`b c`",
                "d"
            ]
        );
        assert_eq!(top_words("  "), Vec::<&str>::new());
        assert_eq!(first_top("r/${A:-x}:v1", b':'), Some(9));
        assert_eq!(last_top("r:1/${{ a:b }}", b':'), Some(1));
    }

    #[test]
    fn references() {
        assert_eq!(
            image_ref("reg.io/app:v1").unwrap().tag.as_deref(),
            Some("v1")
        );
        assert_eq!(image_ref("localhost:5000/app").unwrap().tag, None);
        assert!(image_ref("./cosign.key").is_none());
        assert!(image_ref("https://example.com/x").is_none());
        assert!(resolves_from_registry("$(crane digest app:v1)"));
        assert!(!resolves_from_registry("${{ steps.build.outputs.digest }}"));
        // The daemon's record of a push is not a question to the registry.
        let local = "$(docker inspect --format='{{index .RepoDigests 0}}' \"$IMAGE\")";
        assert!(local_repo_digests(local) && !resolves_from_registry(local));
        assert!(resolves_from_registry(
            "$(docker manifest inspect app:v1 | jq .RepoDigests)"
        ));
        assert!(resolves_from_registry(
            "$(docker inspect app:v1 --format '{{.Id}}')"
        ));
        // Called by a path, in backticks, its answer piped through `jq`.
        assert!(resolves_from_registry(
            "`${TOOLS}/bin/oras manifest fetch reg.io/app:v1 --descriptor | jq -r .digest`"
        ));
        assert!(!resolves_from_registry("`cat digest.txt | jq -r .digest`"));
    }
}
