//! Names in the one spelling they are compared in: registry hosts, repository names and
//! the repository globs of policies and scans.

use super::DOCKER_HUB;
use super::grammar::{validate_domain, validate_path_component};

/// The one spelling of a registry host for comparisons: lowercase (host names are
/// case-insensitive), Docker Hub's aliases as `docker.io`, and `localhost` as `127.0.0.1`
/// (the same server under two names).
pub(crate) fn canonical_host(host: &str) -> String {
    let host = host.to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.to_string(),
        _ => match host.strip_prefix("localhost") {
            Some(port) if port.is_empty() || port.starts_with(':') => format!("127.0.0.1{port}"),
            _ => host,
        },
    }
}

/// True when the first segment of a name is a registry host, as the distribution grammar
/// decides it (a dot, a port, `localhost` or an IPv6 literal).
pub(super) fn is_host(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost" || first.starts_with('[')
}

/// A repository name (`reg/path`, normalised by [`ImageRef`](super::ImageRef)) in the one spelling that
/// policy globs are matched against.
pub(crate) fn canonical_repository(name: &str) -> String {
    match name.split_once('/') {
        Some((host, path)) if is_host(host) => format!("{}/{path}", canonical_host(host)),
        _ => name.to_string(),
    }
}

/// A repository glob in the spelling of [`canonical_repository`]: written the way users
/// write names (`alpine`, `library/alpine`, `index.docker.io/library/*`,
/// `LOCALHOST:5000/app`), it matches what those names mean.
pub(crate) fn canonical_glob(glob: &str) -> String {
    if glob.starts_with("**") {
        return glob.to_string();
    }
    let segments: Vec<&str> = glob.split('/').collect();
    let (host, path) = match segments.split_first() {
        Some((first, rest)) if !first.contains('*') && is_host(first) && !rest.is_empty() => {
            (canonical_host(first), rest.to_vec())
        }
        // A host pattern (`*.example.com/…`) is matched as written, in lowercase.
        Some((first, rest))
            if first.contains('*') && (first.contains('.') || first.contains(':')) =>
        {
            return std::iter::once(first.to_ascii_lowercase())
                .chain(rest.iter().map(|s| s.to_string()))
                .collect::<Vec<_>>()
                .join("/");
        }
        _ => (DOCKER_HUB.to_string(), segments.clone()),
    };
    let mut path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
    if host == DOCKER_HUB && path.len() == 1 && path[0] != "**" {
        path.insert(0, "library".into());
    }
    format!("{host}/{}", path.join("/"))
}

/// Why a glob can never match a repository name, if it cannot.
pub fn unmatchable_glob(glob: &str) -> Option<String> {
    let canonical = canonical_glob(glob);
    let mut segments = canonical.split('/');
    let host = segments.next().unwrap_or_default();
    if !host.contains('*')
        && let Err(reason) = validate_domain(host)
    {
        return Some(format!("registry host {host:?} {reason}"));
    }
    for seg in segments {
        if seg == "**" {
            continue;
        }
        // Wildcards stand for letters here: what remains must be possible in a name.
        let probe = seg.replace('*', "a");
        if let Err(reason) = validate_path_component(&probe) {
            let hint = if seg.contains(':') || seg.contains('@') {
                " (globs name repositories, without tag or digest)"
            } else {
                ""
            };
            return Some(format!("path component {seg:?} {reason}{hint}"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::ImageRef;

    #[test]
    fn globs_are_read_in_the_spelling_names_are_normalised_to() {
        let hub = "docker.io/library/alpine";
        for g in [
            "alpine",
            "library/alpine",
            "docker.io/alpine",
            "docker.io/library/alpine",
            "index.docker.io/library/alpine",
            "registry-1.docker.io/library/alpine",
            "Docker.IO/alpine",
        ] {
            assert_eq!(canonical_glob(g), hub, "{g}");
        }
        assert_eq!(
            canonical_glob("index.docker.io/library/*"),
            "docker.io/library/*"
        );
        assert_eq!(canonical_glob("bitnami/*"), "docker.io/bitnami/*");
        assert_eq!(canonical_glob("*"), "docker.io/library/*");
        assert_eq!(canonical_glob("**"), "**");
        assert_eq!(canonical_glob("LOCALHOST:5000/app"), "127.0.0.1:5000/app");
        assert_eq!(
            canonical_glob("Reg.Example.com/Team/*"),
            "reg.example.com/Team/*"
        );
        assert_eq!(canonical_glob("*.example.com/app"), "*.example.com/app");
        assert_eq!(
            canonical_repository("localhost:5000/app"),
            "127.0.0.1:5000/app"
        );
        assert_eq!(canonical_repository(hub), hub);
        let r = ImageRef::parse("alpine:3").unwrap();
        assert_eq!(canonical_repository(&r.name()), hub);
    }

    #[test]
    fn globs_that_can_never_match_are_named() {
        for g in [
            "reg.io/Team/*",
            "reg.io/app:latest",
            "reg.io/app@sha256",
            "reg_io:x/a",
            "reg.io/-x",
        ] {
            assert!(unmatchable_glob(g).is_some(), "{g}");
        }
        assert!(
            unmatchable_glob("reg.io/app:v1")
                .unwrap()
                .contains("without tag")
        );
        for g in [
            "reg.io/team/*",
            "**",
            "alpine",
            "*.example.com/**",
            "reg.io/a-*-b",
        ] {
            assert_eq!(unmatchable_glob(g), None, "{g}");
        }
    }
}
