//! References to artifacts: registry references and local sources.
//!
//! Grammar follows the distribution reference grammar and containers-transports(5):
//! `[docker://]host[:port]/path[:tag][@sha256:hex]`, `oci:PATH[:tag|@digest]`,
//! `oci-archive:PATH[:tag|@digest]`, `dir:PATH`, `docker-archive:PATH`, `file:PATH`.
//! The transports of containers-transports(5) that name images hallmark cannot read
//! (`docker-daemon:`, `containers-storage:`, …) are refused by name: read as registry
//! references they would name Docker Hub repositories.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::class::ErrorClass;
use crate::digest::Digest;

mod grammar;
mod normalise;

pub(crate) use grammar::{SignatureKind, is_signature_tag, signature_tag_kind, validate_tag};
use grammar::{
    digest_part, invalid, parse_layout, split_layout_tag, validate_domain, validate_path_component,
};
use normalise::is_host;
pub use normalise::unmatchable_glob;
pub(crate) use normalise::{canonical_glob, canonical_host, canonical_repository};

/// Docker Hub's canonical name, and the host its API actually lives on.
pub(crate) const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const MAX_NAME_LEN: usize = 255;
const MAX_TAG_LEN: usize = 128;

/// A malformed reference; the message names the offending part.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReferenceError {
    /// Nothing given.
    #[error("empty reference")]
    Empty,
    /// One part is malformed.
    #[error("invalid reference {input:?}: {part} {value:?} {reason}")]
    Invalid {
        /// The whole reference.
        input: String,
        /// Which part (`tag`, `registry host`, …).
        part: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The digest part is malformed.
    #[error("invalid reference {input:?}: {source}")]
    Digest {
        /// The whole reference.
        input: String,
        /// What is wrong with the digest.
        #[source]
        source: crate::digest::DigestError,
    },
    /// A transport prefix hallmark does not know.
    #[error(
        "unknown transport {transport:?} in {input:?} (use docker://, oci:, oci-archive:, dir:, docker-archive: or file:)"
    )]
    Transport {
        /// The whole reference.
        input: String,
        /// The prefix.
        transport: String,
    },
    /// A containers-transports(5) transport whose images live where hallmark does not read.
    #[error(
        "{transport} names an image in {place}, which hallmark does not read; copy it to an OCI layout first (skopeo copy {input} oci:./build:latest) and name that: oci:./build:latest"
    )]
    Unsupported {
        /// The whole reference.
        input: String,
        /// The prefix, with its colon.
        transport: &'static str,
        /// Where such images live.
        place: &'static str,
    },
    /// A destination with a digest.
    #[error("destination {input:?} names a digest; the digest comes from the source")]
    DigestInDestination {
        /// The destination given.
        input: String,
    },
    /// A destination tag where signatures live.
    #[error(
        "destination {input:?}: tag {tag:?} is where signatures or referrers of a digest are kept, not an artifact tag"
    )]
    SignatureTag {
        /// The destination given.
        input: String,
        /// The tag.
        tag: String,
    },
    /// A destination that cannot be written to (`file:`, `docker-archive:`).
    #[error("{input:?} is not a destination (use REG/REPO[:TAG[,TAG…]] or oci:DIR[:TAG[,TAG…]])")]
    NotADestination {
        /// The destination given.
        input: String,
    },
}

impl ReferenceError {
    /// Every malformed reference is bad input.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Empty
            | Self::Invalid { .. }
            | Self::Digest { .. }
            | Self::Transport { .. }
            | Self::Unsupported { .. }
            | Self::DigestInDestination { .. }
            | Self::SignatureTag { .. }
            | Self::NotADestination { .. } => ErrorClass::Usage,
        }
    }
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
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let s = input.strip_prefix("docker://").unwrap_or(input);
        if s.is_empty() {
            return Err(ReferenceError::Empty);
        }

        let (rest, digest) = match s.split_once('@') {
            Some((rest, d)) => (rest, Some(digest_part(input, d)?)),
            None => (s, None),
        };
        if rest.is_empty() {
            return Err(invalid(input, "name", rest, "is missing before the digest"));
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
            validate_tag(tag).map_err(|reason| invalid(input, "tag", tag, reason))?;
        }

        let (registry, path) = match name.split_once('/') {
            Some((first, path)) if is_host(first) => {
                validate_domain(first)
                    .map_err(|reason| invalid(input, "registry host", first, reason))?;
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = match registry.as_str() {
            "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
            _ => registry,
        };
        if path.is_empty() {
            return Err(invalid(input, "repository", &path, "is empty"));
        }
        for component in path.split('/') {
            validate_path_component(component)
                .map_err(|reason| invalid(input, "repository path component", component, reason))?;
        }
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if registry.len() + 1 + repository.len() > MAX_NAME_LEN {
            return Err(invalid(
                input,
                "name",
                name,
                "is longer than 255 characters",
            ));
        }
        Ok(Self {
            registry,
            repository,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// Builds a reference from already-validated parts.
    pub fn new(registry: &str, repository: &str) -> Result<Self, ReferenceError> {
        Self::parse(&format!("{registry}/{repository}"))
    }

    /// The canonical registry name (`docker.io` for Docker Hub).
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The host (and port) the registry API is reached on.
    pub(crate) fn api_host(&self) -> &str {
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

    /// The tag, if any.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if any.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository`: the identity cosign signs as `docker-reference`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository pinned to `digest`, without tag: what was verified.
    pub fn pinned(&self, digest: &Digest) -> Self {
        Self {
            tag: None,
            digest: Some(digest.clone()),
            ..self.clone()
        }
    }

    /// True when the registry is on this machine (plain HTTP is then acceptable).
    pub(crate) fn is_loopback(&self) -> bool {
        let host = host_without_port(&self.registry);
        // Any spelling of an IPv6 loopback (`[::1]`, `[0:0:0:0:0:0:0:1]`, `[::ffff:127.0.0.1]`)
        // is as local as `127.0.0.1`.
        let v6 = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .and_then(|h| h.parse::<std::net::Ipv6Addr>().ok());
        host == "localhost"
            || v6.is_some_and(|ip| {
                ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
            })
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
        Self::parse(s)
    }
}

/// A reference into an OCI image layout directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRef {
    /// The layout directory.
    pub path: PathBuf,
    /// The tag named, if any.
    pub tag: Option<String>,
    /// The digest named, if any.
    pub digest: Option<Digest>,
}

impl LayoutRef {
    /// `PATH[:TAG][@DIGEST]`, as written after a transport prefix.
    fn fmt_after_prefix(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Display for LayoutRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oci:")?;
        self.fmt_after_prefix(f)
    }
}

/// containers-transports(5) transports of images hallmark does not read, and where such
/// images live. skopeo copies any of them to an `oci:` layout, which hallmark reads.
const UNSUPPORTED_TRANSPORTS: &[(&str, &str)] = &[
    ("docker-daemon:", "a Docker daemon"),
    (
        "containers-storage:",
        "containers storage (podman, buildah, CRI-O)",
    ),
    ("ostree:", "an OSTree repository"),
    ("sif:", "a Singularity image file"),
    ("tarball:", "loose tarballs"),
    ("atomic:", "an OpenShift registry (the atomic: transport)"),
];

/// Anything hallmark can read an artifact from or write one to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// `[docker://]REG/REPO[:TAG][@DIGEST]`.
    Registry(ImageRef),
    /// `oci:DIR[:TAG][@DIGEST]`.
    Layout(LayoutRef),
    /// `oci-archive:FILE.tar[:TAG][@DIGEST]`: an OCI layout in a tarball, read in place.
    OciArchive(LayoutRef),
    /// `dir:DIR`: skopeo's directory of `manifest.json` and blobs named by their hex digest.
    Dir(PathBuf),
    /// `docker-archive:FILE.tar`.
    DockerArchive(PathBuf),
    /// `file:FILE`.
    File(PathBuf),
}

impl Source {
    /// Parses any source: registry reference, `oci:`, `oci-archive:`, `dir:`,
    /// `docker-archive:` or `file:`.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        if input.is_empty() {
            return Err(ReferenceError::Empty);
        }
        if let Some(rest) = input.strip_prefix("oci:") {
            return parse_layout(input, rest).map(Source::Layout);
        }
        if let Some(rest) = input.strip_prefix("oci-archive:") {
            return parse_layout(input, rest).map(Source::OciArchive);
        }
        if let Some(path) = input.strip_prefix("dir:") {
            if path.is_empty() {
                return Err(invalid(input, "path", path, "is empty"));
            }
            return Ok(Self::Dir(PathBuf::from(path)));
        }
        if let Some((transport, place)) = UNSUPPORTED_TRANSPORTS
            .iter()
            .find(|(t, _)| input.starts_with(t))
        {
            return Err(ReferenceError::Unsupported {
                input: input.to_string(),
                transport,
                place,
            });
        }
        if let Some(path) = input.strip_prefix("docker-archive:") {
            if path.is_empty() {
                return Err(invalid(input, "path", path, "is empty"));
            }
            return Ok(Self::DockerArchive(PathBuf::from(path)));
        }
        if let Some(path) = input.strip_prefix("file:") {
            if path.is_empty() {
                return Err(invalid(input, "path", path, "is empty"));
            }
            return Ok(Self::File(PathBuf::from(path)));
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
            Self::Registry(r) => r.fmt(f),
            Self::Layout(l) => l.fmt(f),
            Self::OciArchive(l) => {
                f.write_str("oci-archive:")?;
                l.fmt_after_prefix(f)
            }
            Self::Dir(p) => write!(f, "dir:{}", p.display()),
            Self::DockerArchive(p) => write!(f, "docker-archive:{}", p.display()),
            Self::File(p) => write!(f, "file:{}", p.display()),
        }
    }
}

/// Where something is written: a registry repository or an OCI layout, and the tags to set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DestinationRef {
    /// The repository or layout.
    pub location: Location,
    /// Tags to point at what is written (none: by digest only).
    pub tags: Vec<String>,
}

/// A place that holds repositories' content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A registry repository (no tag, no digest).
    Registry(ImageRef),
    /// An OCI layout directory.
    Layout(PathBuf),
}

impl DestinationRef {
    /// `[docker://]REG/REPO[:TAG[,TAG…]]` or `oci:DIR[:TAG[,TAG…]]`. A digest is refused:
    /// what is written is named by the source's digest.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        if input.contains('@') {
            return Err(ReferenceError::DigestInDestination {
                input: input.to_string(),
            });
        }
        let (location, tag_list) = if let Some(rest) = input.strip_prefix("oci:") {
            let (path, tags) = split_layout_tag(input, rest)?;
            (Location::Layout(PathBuf::from(path)), tags)
        } else {
            match Source::parse(input.split(',').next().unwrap_or(input))? {
                Source::Registry(r) => {
                    let base = input.strip_prefix("docker://").unwrap_or(input);
                    let last_slash = base.rfind('/').map_or(0, |i| i + 1);
                    let tags = base[last_slash..].split_once(':').map(|(_, t)| t);
                    (
                        Location::Registry(ImageRef::new(r.registry(), r.repository())?),
                        tags,
                    )
                }
                _ => {
                    return Err(ReferenceError::NotADestination {
                        input: input.to_string(),
                    });
                }
            }
        };
        let mut tags = Vec::new();
        for t in tag_list.into_iter().flat_map(|l| l.split(',')) {
            let t = t.trim();
            validate_tag(t).map_err(|reason| invalid(input, "tag", t, reason))?;
            tags.push(t.to_string());
        }
        if let Some(t) = tags.iter().find(|t| is_signature_tag(t)) {
            return Err(ReferenceError::SignatureTag {
                input: input.to_string(),
                tag: t.clone(),
            });
        }
        // As docker push and skopeo do: a registry repository without a tag gets `latest`.
        if tags.is_empty() && matches!(location, Location::Registry(_)) {
            tags.push("latest".to_string());
        }
        Ok(Self { location, tags })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn destinations_take_tag_lists_and_refuse_digests() {
        let d = DestinationRef::parse("reg:5000/app:v1,latest").unwrap();
        assert_eq!(
            d.location,
            Location::Registry(ImageRef::parse("reg:5000/app").unwrap())
        );
        assert_eq!(d.tags, vec!["v1", "latest"]);
        // A repository alone means `latest`, as in docker push; a layout stays untagged.
        let d = DestinationRef::parse("docker://reg:5000/team/app").unwrap();
        assert_eq!(d.tags, vec!["latest"]);
        assert!(DestinationRef::parse("oci:/tmp/x").unwrap().tags.is_empty());
        // Tags where signatures live are not artifact tags.
        let sig = format!("sha256-{}", &D["sha256:".len()..]);
        for t in [format!("{sig}.sig"), format!("{sig}.att"), sig.clone()] {
            assert!(
                matches!(
                    DestinationRef::parse(&format!("reg:5000/app:v1,{t}")),
                    Err(ReferenceError::SignatureTag { .. })
                ),
                "{t}"
            );
        }
        assert!(DestinationRef::parse("reg:5000/app:sha256-abc.sig").is_ok());
        let d = DestinationRef::parse("oci:/tmp/x:v1, v2").unwrap();
        assert_eq!(d.location, Location::Layout(PathBuf::from("/tmp/x")));
        assert_eq!(d.tags, vec!["v1", "v2"]);
        let d = DestinationRef::parse("oci:./a:b/c").unwrap();
        assert_eq!(d.location, Location::Layout(PathBuf::from("./a:b/c")));
        assert!(matches!(
            DestinationRef::parse(&format!("reg/app@{D}")),
            Err(ReferenceError::DigestInDestination { .. })
        ));
        assert!(matches!(
            DestinationRef::parse("file:x"),
            Err(ReferenceError::NotADestination { .. })
        ));
        for bad in ["reg/app:v1,", "reg/app:v1,-x", "oci:", "oci:/x:"] {
            assert!(DestinationRef::parse(bad).is_err(), "{bad}");
        }
    }

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
        assert!(ImageRef::parse("[::1]/app").unwrap().is_loopback());
        assert!(
            ImageRef::parse("[0:0:0:0:0:0:0:1]:5000/app")
                .unwrap()
                .is_loopback()
        );
        assert!(
            ImageRef::parse("[::ffff:127.0.0.1]:5000/app")
                .unwrap()
                .is_loopback()
        );
        assert!(
            !ImageRef::parse("[2001:db8::1]:5000/app")
                .unwrap()
                .is_loopback()
        );
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
        let Source::OciArchive(l) = Source::parse("oci-archive:./a.tar:v1").unwrap() else {
            panic!()
        };
        assert_eq!(
            (l.path, l.tag),
            (PathBuf::from("./a.tar"), Some("v1".into()))
        );
        let s = format!("oci-archive:/x/a.tar@{D}");
        assert_eq!(Source::parse(&s).unwrap().to_string(), s);
        assert_eq!(
            Source::parse("dir:./d").unwrap(),
            Source::Dir(PathBuf::from("./d"))
        );
        assert!(Source::parse("dir:").is_err());
        // Read as registry references these were Docker Hub repositories (`docker-daemon`,
        // tag `img`): each is refused by its transport's name instead.
        for t in [
            "docker-daemon:img",
            "containers-storage:img:v1",
            "ostree:x@/r",
        ] {
            let e = Source::parse(t).unwrap_err();
            assert!(matches!(e, ReferenceError::Unsupported { .. }), "{t}");
            assert!(
                e.to_string().contains(&format!("skopeo copy {t} oci:")),
                "{e}"
            );
        }
        assert!(matches!(
            DestinationRef::parse("docker-daemon:img"),
            Err(ReferenceError::Unsupported { .. })
        ));
        assert!(matches!(
            DestinationRef::parse("oci-archive:x.tar"),
            Err(ReferenceError::NotADestination { .. })
        ));
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
