//! References to artifacts: registry references and local sources.
//!
//! Grammar follows the distribution reference grammar and containers-transports(5):
//! `[docker://]host[:port]/path[:tag][@sha256:hex]`, `oci:PATH[:tag|@digest]`,
//! `docker-archive:PATH`, `file:PATH`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::digest::Digest;

/// Docker Hub's canonical name, and the host its API actually lives on.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A malformed reference; the message names the offending part.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    #[error("empty reference")]
    Empty,
    #[error("invalid reference {input:?}: {part} {value:?} {reason}")]
    Invalid {
        input: String,
        part: &'static str,
        value: String,
        reason: &'static str,
    },
    #[error("invalid reference {input:?}: {source}")]
    Digest {
        input: String,
        #[source]
        source: crate::digest::DigestError,
    },
    #[error(
        "unknown transport {transport:?} in {input:?} (use docker://, oci:, docker-archive: or file:)"
    )]
    Transport { input: String, transport: String },
}

/// A reference to an artifact in a registry.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl ImageRef {
    /// Parses a registry reference, with or without the `docker://` prefix.
    pub fn parse(input: &str) -> Result<ImageRef, ReferenceError> {
        let s = input.strip_prefix("docker://").unwrap_or(input);
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let bad = |part, value: &str, reason| ReferenceError::Invalid {
            input: input.to_string(),
            part,
            value: value.to_string(),
            reason,
        };

        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => {
                let digest = d
                    .parse::<Digest>()
                    .map_err(|source| ReferenceError::Digest {
                        input: input.to_string(),
                        source,
                    })?;
                (rest, Some(digest))
            }
            None => (s, None),
        };
        if rest.is_empty() {
            return Err(bad("name", rest, "is missing before the digest"));
        }

        // A ':' after the last '/' starts the tag; one before it is a port.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].find(':') {
            Some(i) => {
                let i = last_slash + i;
                (&rest[..i], Some(&rest[i + 1..]))
            }
            None => (rest, None),
        };
        if let Some(tag) = tag {
            validate_tag(tag).map_err(|reason| bad("tag", tag, reason))?;
        }

        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains('.')
                    || first.contains(':')
                    || first == "localhost"
                    || first.starts_with('[') =>
            {
                validate_domain(first).map_err(|reason| bad("registry host", first, reason))?;
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        if path.is_empty() {
            return Err(bad("repository", &path, "is empty"));
        }
        for component in path.split('/') {
            validate_path_component(component)
                .map_err(|reason| bad("repository path component", component, reason))?;
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(bad("name", name, "is longer than 255 characters"));
        }
        Ok(ImageRef {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Builds a reference from already-validated parts.
    pub fn new(registry: &str, repository: &str) -> Result<ImageRef, ReferenceError> {
        ImageRef::parse(&format!("{registry}/{repository}"))
    }

    /// The canonical registry name (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) the registry API is reached on.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The repository path inside the registry (`library/alpine`).
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`: the identity cosign signs as `docker-reference`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> ImageRef {
        ImageRef {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository pinned to `digest`, without tag: what was verified.
    pub fn pinned(&self, digest: &Digest) -> ImageRef {
        ImageRef {
            tag: None,
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }

    /// Another repository on the same registry.
    pub fn sibling(&self, repository: &str) -> Result<ImageRef, ReferenceError> {
        ImageRef::new(&self.registry, repository)
    }

    /// True when the registry is on this machine (plain HTTP is then acceptable).
    pub fn is_loopback(&self) -> bool {
        let host = host_without_port(&self.registry);
        host == "localhost"
            || host == "[::1]"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return host.find(']').map_or(host, |i| &host[..=i]);
    }
    host.rsplit_once(':').map_or(host, |(h, _)| h)
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl FromStr for ImageRef {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ImageRef::parse(s)
    }
}

/// A reference into an OCI image layout directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRef {
    pub path: PathBuf,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl fmt::Display for LayoutRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci:{}", self.path.display())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Anything hallmark can read an artifact from or write one to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    Registry(ImageRef),
    Layout(LayoutRef),
    DockerArchive(PathBuf),
    File(PathBuf),
}

impl Source {
    pub fn parse(input: &str) -> Result<Source, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        let bad = |part, value: &str, reason| ReferenceError::Invalid {
            input: input.to_string(),
            part,
            value: value.to_string(),
            reason,
        };
        if let Some(rest) = input.strip_prefix("oci:") {
            return parse_layout(input, rest).map(Source::Layout);
        }
        if let Some(path) = input.strip_prefix("docker-archive:") {
            if path.is_empty() {
                return Err(bad("path", path, "is empty"));
            }
            return Ok(Source::DockerArchive(PathBuf::from(path)));
        }
        if let Some(path) = input.strip_prefix("file:") {
            if path.is_empty() {
                return Err(bad("path", path, "is empty"));
            }
            return Ok(Source::File(PathBuf::from(path)));
        }
        if let Some((transport, _)) = input.split_once(':')
            && !input.starts_with("docker://")
            && transport
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-')
            && !transport.is_empty()
            && input[transport.len() + 1..].starts_with('/')
        {
            return Err(ReferenceError::Transport {
                input: input.to_string(),
                transport: transport.to_string(),
            });
        }
        ImageRef::parse(input).map(Source::Registry)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Registry(r) => r.fmt(f),
            Source::Layout(l) => l.fmt(f),
            Source::DockerArchive(p) => write!(f, "docker-archive:{}", p.display()),
            Source::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

fn parse_layout(input: &str, rest: &str) -> Result<LayoutRef, ReferenceError> {
    let bad = |part, value: &str, reason| ReferenceError::Invalid {
        input: input.to_string(),
        part,
        value: value.to_string(),
        reason,
    };
    let (rest, digest) = match rest.rsplit_once('@') {
        Some((path, d)) if d.contains(':') => {
            let digest = d
                .parse::<Digest>()
                .map_err(|source| ReferenceError::Digest {
                    input: input.to_string(),
                    source,
                })?;
            (path, Some(digest))
        }
        _ => (rest, None),
    };
    // containers-transports(5): the reference follows the last ':' unless that
    // ':' belongs to the path (a '/' follows it).
    let (path, tag) = match rest.rsplit_once(':') {
        Some((path, tag)) if !tag.contains('/') => (path, Some(tag)),
        _ => (rest, None),
    };
    if path.is_empty() {
        return Err(bad("layout path", path, "is empty (use oci:DIR[:tag])"));
    }
    if let Some(tag) = tag {
        validate_tag(tag).map_err(|reason| bad("tag", tag, reason))?;
    }
    Ok(LayoutRef {
        path: PathBuf::from(path),
        tag: tag.map(str::to_string),
        digest,
    })
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`
pub fn validate_tag(tag: &str) -> Result<(), &'static str> {
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

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn validate_path_component(c: &str) -> Result<(), &'static str> {
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

fn validate_domain(d: &str) -> Result<(), &'static str> {
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

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn docker_hub_is_normalised() {
        let r = ImageRef::parse("alpine").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/alpine");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = ImageRef::parse("docker://user/app:1.0").unwrap();
        assert_eq!(r.to_string(), "docker.io/user/app:1.0");
        let r = ImageRef::parse("index.docker.io/library/alpine").unwrap();
        assert_eq!(r.name(), "docker.io/library/alpine");
    }

    #[test]
    fn host_port_tag_digest() {
        let r = ImageRef::parse(&format!("127.0.0.1:5000/team/app:v1.1@{D}")).unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "team/app");
        assert_eq!(r.tag(), Some("v1.1"));
        assert_eq!(r.digest().unwrap().to_string(), D);
        assert!(r.is_loopback());
        assert_eq!(
            r.pinned(r.digest().unwrap()).to_string(),
            format!("127.0.0.1:5000/team/app@{D}")
        );
        let r = ImageRef::parse("localhost/app").unwrap();
        assert_eq!(r.registry(), "localhost");
        assert!(
            !ImageRef::parse("registry.example.com/app")
                .unwrap()
                .is_loopback()
        );
        assert!(ImageRef::parse("[::1]:5000/app").unwrap().is_loopback());
    }

    #[test]
    fn errors_name_the_bad_part() {
        let cases = [
            (
                "reg.example.com/App:v1",
                "repository path component \"App\"",
            ),
            ("reg.example.com/app:-v1", "tag \"-v1\""),
            (
                "reg.example.com/app@sha256:abc",
                "sha256 digest has exactly 64",
            ),
            (
                "reg.example.com:99999/app",
                "registry host \"reg.example.com:99999\"",
            ),
            ("reg.example.com//app", "repository path component \"\""),
            (
                "reg.example.com/app--x_/y",
                "repository path component \"app--x_\"",
            ),
            ("reg.example.com/a..b", "repository path component \"a..b\""),
            ("", "empty reference"),
        ];
        for (input, want) in cases {
            let err = ImageRef::parse(input).unwrap_err().to_string();
            assert!(err.contains(want), "{input}: {err}");
        }
    }

    #[test]
    fn sources() {
        assert_eq!(
            Source::parse("oci:/tmp/lay:v1").unwrap(),
            Source::Layout(LayoutRef {
                path: "/tmp/lay".into(),
                tag: Some("v1".into()),
                digest: None
            })
        );
        let Source::Layout(l) = Source::parse(&format!("oci:./lay@{D}")).unwrap() else {
            panic!()
        };
        assert_eq!(l.path, PathBuf::from("./lay"));
        assert_eq!(l.digest.unwrap().to_string(), D);
        let Source::Layout(l) = Source::parse("oci:dir").unwrap() else {
            panic!()
        };
        assert_eq!((l.path, l.tag), (PathBuf::from("dir"), None));
        assert!(matches!(
            Source::parse("file:./x.sh").unwrap(),
            Source::File(_)
        ));
        assert!(matches!(
            Source::parse("docker-archive:a.tar").unwrap(),
            Source::DockerArchive(_)
        ));
        assert!(matches!(
            Source::parse("ftp://x/y"),
            Err(ReferenceError::Transport { .. })
        ));
        assert!(Source::parse("oci:").is_err());
        assert!(matches!(
            Source::parse("reg.io/app").unwrap(),
            Source::Registry(_)
        ));
    }
}

#[cfg(test)]
mod proptests {
    use proptest::prelude::*;

    use super::*;

    fn component() -> impl Strategy<Value = String> {
        "[a-z0-9]{1,8}((\\.|_|__|-{1,3})[a-z0-9]{1,8}){0,2}"
    }

    fn host() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z0-9-]{0,8}[a-z0-9]\\.[a-z]{2,5}",
            Just("localhost".to_string()),
            (1u8..=254, 1u8..=254).prop_map(|(a, b)| format!("10.{a}.{b}.1")),
        ]
    }

    proptest! {
        #[test]
        fn display_then_parse_is_identity(
            host in host(),
            port in proptest::option::of(1u16..=65535),
            path in proptest::collection::vec(component(), 1..4),
            tag in proptest::option::of("[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}"),
            digest in proptest::option::of("[0-9a-f]{64}"),
        ) {
            let mut s = host.clone();
            if let Some(p) = port { s.push_str(&format!(":{p}")); }
            s.push('/');
            s.push_str(&path.join("/"));
            if let Some(t) = &tag { s.push(':'); s.push_str(t); }
            if let Some(d) = &digest { s.push_str("@sha256:"); s.push_str(d); }
            let r = ImageRef::parse(&s).unwrap();
            prop_assert_eq!(r.repository(), path.join("/"));
            prop_assert_eq!(r.tag(), tag.as_deref());
            prop_assert_eq!(r.to_string(), s.clone());
            prop_assert_eq!(ImageRef::parse(&r.to_string()).unwrap(), r);
        }

        #[test]
        fn arbitrary_input_never_panics(s in "\\PC{0,80}") {
            let _ = ImageRef::parse(&s);
            let _ = Source::parse(&s);
        }

        #[test]
        fn uppercase_in_the_path_is_always_refused(
            path in "[a-z]{1,5}[A-Z][a-z]{0,5}",
        ) {
            let err = ImageRef::parse(&format!("reg.example.com/{path}")).unwrap_err();
            prop_assert!(err.to_string().contains("must be lowercase"));
        }
    }
}
