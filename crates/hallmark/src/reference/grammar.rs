//! The pieces of the distribution reference grammar: tags, path components, domains,
//! digests and layout paths, each checked with an error naming what is wrong.

use std::path::PathBuf;

use super::{LayoutRef, MAX_TAG_LEN, ReferenceError};
use crate::digest::Digest;

/// `part` of `input` is malformed.
pub(super) fn invalid(
    input: &str,
    part: &'static str,
    value: &str,
    reason: &'static str,
) -> ReferenceError {
    ReferenceError::Invalid {
        input: input.to_string(),
        part,
        value: value.to_string(),
        reason,
    }
}

/// The `@digest` part of `input`.
pub(super) fn digest_part(input: &str, d: &str) -> Result<Digest, ReferenceError> {
    d.parse().map_err(|source| ReferenceError::Digest {
        input: input.to_string(),
        source,
    })
}

/// containers-transports(5): a layout reference's tag follows the last ':' unless that
/// ':' belongs to the path (a '/' follows it).
/// The path must not be empty.
pub(super) fn split_layout_tag<'a>(
    input: &str,
    rest: &'a str,
) -> Result<(&'a str, Option<&'a str>), ReferenceError> {
    let (path, tag) = match rest.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, Some(tag)),
        _ => (rest, None),
    };
    if path.is_empty() {
        return Err(invalid(
            input,
            "layout path",
            path,
            "is empty (use oci:DIR[:tag])",
        ));
    }
    Ok((path, tag))
}

pub(super) fn parse_layout(input: &str, rest: &str) -> Result<LayoutRef, ReferenceError> {
    let (rest, digest) = match rest.rsplit_once('@') {
        Some((path, d)) if d.contains(':') => (path, Some(digest_part(input, d)?)),
        _ => (rest, None),
    };
    let (path, tag) = split_layout_tag(input, rest)?;
    if let Some(tag) = tag {
        validate_tag(tag).map_err(|reason| invalid(input, "tag", tag, reason))?;
    }
    Ok(LayoutRef {
        path: PathBuf::from(path),
        tag: tag.map(str::to_string),
        digest,
    })
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
/// Checks a tag against the distribution grammar; the error says what is wrong.
pub(crate) fn validate_tag(tag: &str) -> Result<(), &'static str> {
    let mut bytes = tag.bytes();
    match bytes.next() {
        None => return Err("is empty"),
        Some(b) if b.is_ascii_alphanumeric() || b == b'_' => {}
        Some(_) => return Err("must start with a letter, digit or '_'"),
    }
    if tag.len() > MAX_TAG_LEN {
        return Err("is longer than 128 characters");
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')) {
        return Err("may only contain letters, digits, '_', '.' and '-'");
    }
    Ok(())
}

/// True for the tags signatures and referrers live under (`sha256-<hex>`, with `.sig`,
/// `.att` or `.sbom`): an artifact tagged so would be read as a signature store.
pub(crate) fn is_signature_tag(tag: &str) -> bool {
    let Some(rest) = tag
        .strip_prefix("sha256-")
        .or_else(|| tag.strip_prefix("sha512-"))
    else {
        return false;
    };
    let hex = [".sig", ".att", ".sbom"]
        .iter()
        .find_map(|s| rest.strip_suffix(s))
        .unwrap_or(rest);
    matches!(hex.len(), 64 | 128) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What a tag shaped like a signature tag (`sha256-<hex>[.sig|.att|.sbom]`) stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SignatureKind {
    /// `.sig`: cosign's legacy signatures.
    Sig,
    /// `.att`: cosign's attestations.
    Att,
    /// `.sbom`: cosign's attached SBOMs.
    Sbom,
    /// The bare tag: the referrers fallback index.
    Referrers,
}

impl SignatureKind {
    /// Whether signatures are found through a tag of this kind.
    pub(crate) fn has_signatures(self) -> bool {
        matches!(self, Self::Sig | Self::Referrers)
    }
}

/// A tag of the form signatures and referrers are stored under, with the digest it is
/// about and its kind.
pub(crate) fn signature_tag_kind(tag: &str) -> Option<(Digest, SignatureKind)> {
    if !is_signature_tag(tag) {
        return None;
    }
    let (alg, rest) = tag.split_once('-')?;
    let (hex, kind) = match rest.split_once('.') {
        Some((hex, "sig")) => (hex, SignatureKind::Sig),
        Some((hex, "att")) => (hex, SignatureKind::Att),
        Some((hex, "sbom")) => (hex, SignatureKind::Sbom),
        Some(_) => return None,
        None => (rest, SignatureKind::Referrers),
    };
    let d = format!("{alg}:{hex}").parse().ok()?;
    Some((d, kind))
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
pub(super) fn validate_path_component(c: &str) -> Result<(), &'static str> {
    if c.is_empty() {
        return Err("is empty (double or trailing '/')");
    }
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.iter().any(|x| x.is_ascii_uppercase()) {
        return Err("must be lowercase");
    }
    if !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err("must start and end with a lowercase letter or digit");
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return Err(
                "may only contain lowercase letters, digits and single separators ('.', '_', '__', '-')",
            );
        }
    }
    Ok(())
}

pub(super) fn validate_domain(d: &str) -> Result<(), &'static str> {
    let (host, port) = if d.starts_with('[') {
        let end = d.find(']').ok_or("has an unclosed '['")?;
        let host = &d[1..end];
        if host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("is not a valid IPv6 address");
        }
        let rest = &d[end + 1..];
        match rest.strip_prefix(':') {
            Some(p) => ("ipv6", Some(p)),
            None if rest.is_empty() => ("ipv6", None),
            None => return Err("has characters after ']'"),
        }
    } else {
        match d.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (d, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty()
            || port.len() > 5
            || !port.bytes().all(|b| b.is_ascii_digit())
            || port.parse::<u32>().map_or(true, |p| p > 65535))
    {
        return Err("has an invalid port (1-65535)");
    }
    if host == "ipv6" {
        return Ok(());
    }
    if host.is_empty() {
        return Err("is empty");
    }
    for label in host.split('.') {
        let b = label.as_bytes();
        if b.is_empty()
            || !b[0].is_ascii_alphanumeric()
            || !b[b.len() - 1].is_ascii_alphanumeric()
            || !b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        {
            return Err("is not a valid host name");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_tags_name_their_digest() {
        let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let d: Digest = format!("sha256:{hex}").parse().unwrap();
        assert_eq!(
            signature_tag_kind(&format!("sha256-{hex}.sig")),
            Some((d.clone(), SignatureKind::Sig))
        );
        assert_eq!(
            signature_tag_kind(&format!("sha256-{hex}")),
            Some((d.clone(), SignatureKind::Referrers))
        );
        assert_eq!(
            signature_tag_kind(&format!("sha256-{hex}.att")),
            Some((d.clone(), SignatureKind::Att))
        );
        assert_eq!(
            signature_tag_kind(&format!("sha256-{hex}.sbom")),
            Some((d, SignatureKind::Sbom))
        );
        assert!(SignatureKind::Sig.has_signatures() && SignatureKind::Referrers.has_signatures());
        assert!(!SignatureKind::Att.has_signatures() && !SignatureKind::Sbom.has_signatures());
        assert_eq!(signature_tag_kind("v1"), None);
        assert_eq!(signature_tag_kind("sha256-abc.sig"), None);
    }
}
