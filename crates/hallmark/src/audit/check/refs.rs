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
        && [
            "crane digest",
            "docker inspect",
            "skopeo inspect",
            "imagetools inspect",
            "oras resolve",
            "regctl image digest",
            "docker manifest inspect",
            "oras discover",
            "podman inspect",
            "podman image inspect",
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
