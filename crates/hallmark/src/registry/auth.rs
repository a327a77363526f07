//! Registry authentication's data: `WWW-Authenticate` challenges, the token cache, and
//! where credentials come from. Asking a realm for a token is `token`'s.

use std::collections::{BTreeMap, HashMap};

/// Username and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password or access token.
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
    /// Username and password, sent as Basic auth or traded for a token.
    Basic(Credentials),
    /// An OAuth2 refresh token from `docker login` (`identitytoken`).
    IdentityToken(String),
}

/// A parsed `WWW-Authenticate` challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// `Basic realm=…`: send username and password with every request.
    Basic,
    /// `Bearer realm=…,service=…,scope=…`: trade credentials for a token at `realm`.
    Bearer {
        /// The token endpoint.
        realm: String,
        /// The `service` parameter to pass back.
        service: Option<String>,
        /// The scope the registry asked for.
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

/// Docker's configuration: `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
fn docker_config_path() -> Option<std::path::PathBuf> {
    let dir = match std::env::var_os("DOCKER_CONFIG") {
        Some(d) => std::path::PathBuf::from(d),
        None => std::path::PathBuf::from(std::env::var_os("HOME")?).join(".docker"),
    };
    Some(dir.join("config.json"))
}

/// Podman's and skopeo's `auth.json`, where containers/image looks for it:
/// `REGISTRY_AUTH_FILE`, else `$XDG_RUNTIME_DIR/containers/auth.json` when it is a file,
/// else `$XDG_CONFIG_HOME` (or `~/.config`) `/containers/auth.json`.
fn containers_auth_path() -> Option<std::path::PathBuf> {
    use std::path::PathBuf;
    if let Some(p) = std::env::var_os("REGISTRY_AUTH_FILE") {
        return Some(PathBuf::from(p));
    }
    if let Some(run) = std::env::var_os("XDG_RUNTIME_DIR") {
        let p = PathBuf::from(run).join("containers/auth.json");
        if p.is_file() {
            return Some(p);
        }
    }
    let config = match std::env::var_os("XDG_CONFIG_HOME") {
        Some(c) => PathBuf::from(c),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".config"),
    };
    Some(config.join("containers/auth.json"))
}

/// A credentials file read bounded, regular files only (a FIFO or `/dev/zero` here must
/// not hang or fill memory); `Ok(None)` when there is none.
fn read_credentials_file(
    path: &std::path::Path,
) -> Result<Option<Vec<u8>>, crate::fsio::FileError> {
    crate::fsio::read_bounded(path, None, crate::fsio::limits::DOCKER_CONFIG)
}

/// What is wrong with the docker configuration, when it exists and cannot be read:
/// credentials in it are then not used, which the user should hear about rather than meet
/// as "unauthorized".
pub fn docker_config_problem() -> Option<String> {
    let path = docker_config_path()?;
    let text = match read_credentials_file(&path) {
        Ok(Some(t)) => t,
        Ok(None) => return None,
        Err(e) => return Some(e.to_string()),
    };
    match serde_json::from_slice::<serde_json::Value>(&text) {
        Ok(v) if v.is_object() => None,
        Ok(_) => Some(format!("{}: not a JSON object", path.display())),
        Err(e) => Some(format!("{}: not valid JSON ({e})", path.display())),
    }
}

/// Looks a registry up in docker's `config.json` (auths, credHelpers, credsStore) and then
/// in containers' `auth.json`. Both files are read once, bounded, by us; the credential
/// library only parses what was read. Runs credential helpers, so it blocks.
pub fn lookup(registry: &str) -> Option<Credential> {
    lookup_in(&[docker_config_path(), containers_auth_path()], registry)
}

/// [`lookup`] in these credential files, first match wins (absent files are passed over).
fn lookup_in(files: &[Option<std::path::PathBuf>], registry: &str) -> Option<Credential> {
    let key = config_key(registry);
    let from = |path: Option<std::path::PathBuf>| {
        let bytes = read_credentials_file(&path?).ok()??;
        docker_credential::get_credential_from_reader(&bytes[..], key)
            .or_else(|_| {
                docker_credential::get_credential_from_reader(&bytes[..], &format!("https://{key}"))
            })
            .ok()
    };
    let found = files.iter().find_map(|f| from(f.clone()))?;
    match found {
        docker_credential::DockerCredential::UsernamePassword(username, password) => {
            Some(Credential::Basic(Credentials { username, password }))
        }
        docker_credential::DockerCredential::IdentityToken(t) => Some(Credential::IdentityToken(t)),
    }
}

/// Tokens and credentials learnt during a run, shared by every clone of a client.
#[derive(Default)]
pub(super) struct AuthState {
    /// Bearer tokens per `host scope`.
    pub(super) tokens: HashMap<String, String>,
    /// Hosts that asked for Basic auth.
    pub(super) basic_hosts: HashMap<String, bool>,
    /// Credentials looked up per registry (None = none configured).
    pub(super) credentials: HashMap<String, Option<Credential>>,
    /// Hosts whose API root answered as a registry's.
    pub(super) registries: std::collections::HashSet<String>,
}

impl AuthState {
    pub(super) fn is_registry(&self, host: &str) -> bool {
        self.registries.contains(host)
    }

    pub(super) fn confirm_registry(&mut self, host: &str) {
        self.registries.insert(host.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges() {
        let bearer = |realm: &str, service: Option<&str>, scope: Option<&str>| {
            Some(Challenge::Bearer {
                realm: realm.into(),
                service: service.map(Into::into),
                scope: scope.map(Into::into),
            })
        };
        let cases = [
            (
                r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
                bearer(
                    "https://auth.example.com/token",
                    Some("registry.example.com"),
                    Some("repository:a/b:pull,push"),
                ),
            ),
            // Odd spacing, case and escaped quotes.
            (
                r#"  bearer   REALM = "https://a/t" ,service=reg ,scope="repository:x:pull",extra="q\"uote"  "#,
                bearer("https://a/t", Some("reg"), Some("repository:x:pull")),
            ),
            // An unterminated quote ends the parameters.
            (
                r#"Bearer realm="https://a/t"#,
                bearer("https://a/t", None, None),
            ),
            ("Basic realm=\"x\"", Some(Challenge::Basic)),
            ("Negotiate", None),
            ("Bearer service=x", None),
            ("Bearer ,,,=", None),
            ("", None),
        ];
        for (header, want) in cases {
            assert_eq!(parse_challenge(header), want, "{header:?}");
        }
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
        let files = [None, Some(dir.path().join("config.json"))];
        let got = lookup_in(&files, "reg.example.com");
        assert_eq!(
            got,
            Some(Credential::Basic(Credentials {
                username: "alice".into(),
                password: "s3cret".into()
            }))
        );
        assert_eq!(lookup_in(&files, "other.example.com"), None);
    }
}
