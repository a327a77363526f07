//! Registry authentication: `WWW-Authenticate` challenges and where credentials come from.

use std::collections::BTreeMap;

/// Username and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, <redacted>)", self.username)
    }
}

/// How a credential is presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    Basic(Credentials),
    /// An OAuth2 refresh token from `docker login` (`identitytoken`).
    IdentityToken(String),
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        scope: Option<String>,
    },
}

/// Parses the first challenge we support; `None` for an unknown scheme.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = parse_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
        scope: params.get("scope").cloned(),
    })
}

/// `k="v", k2=v2` with quoted values that may contain commas.
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, tail) = if let Some(q) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = q.char_indices();
            let mut end = q.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &q[end.min(q.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_string(), &after[end..])
        };
        out.insert(key, value);
        rest = tail.trim_start().trim_start_matches(',').trim_start();
    }
    out
}

/// The key `docker login` stores a registry's credentials under.
fn config_key(registry: &str) -> &str {
    if registry == crate::reference::DOCKER_HUB {
        "https://index.docker.io/v1/"
    } else {
        registry
    }
}

/// Looks a registry up in `~/.docker/config.json` (auths, credHelpers, credsStore) and then
/// in `REGISTRY_AUTH_FILE` / containers' auth.json. Runs credential helpers, so it blocks.
pub fn lookup(registry: &str) -> Option<Credential> {
    let key = config_key(registry);
    let found = docker_credential::get_credential(key)
        .or_else(|_| docker_credential::get_credential(&format!("https://{key}")))
        .or_else(|_| docker_credential::get_podman_credential(key));
    match found.ok()? {
        docker_credential::DockerCredential::UsernamePassword(username, password) => {
            Some(Credential::Basic(Credentials { username, password }))
        }
        docker_credential::DockerCredential::IdentityToken(t) => Some(Credential::IdentityToken(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_challenge_with_commas_in_scope() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(
            c,
            Challenge::Bearer {
                realm: "https://auth.example.com/token".into(),
                service: Some("registry.example.com".into()),
                scope: Some("repository:a/b:pull,push".into()),
            }
        );
        assert_eq!(parse_challenge("Basic realm=\"x\""), Some(Challenge::Basic));
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=x"), None);
    }

    #[test]
    fn docker_config_auths_are_read() {
        let dir = tempfile::tempdir().unwrap();
        // "alice:s3cret"
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"auths":{"reg.example.com":{"auth":"YWxpY2U6czNjcmV0"}}}"#,
        )
        .unwrap();
        // SAFETY: this test is the only one in the crate that touches DOCKER_CONFIG.
        unsafe { std::env::set_var("DOCKER_CONFIG", dir.path()) };
        let got = lookup("reg.example.com");
        assert_eq!(
            got,
            Some(Credential::Basic(Credentials {
                username: "alice".into(),
                password: "s3cret".into()
            }))
        );
        assert_eq!(lookup("other.example.com"), None);
    }
}
