//! Authenticating a client's requests: the credential for a registry, the `Authorization`
//! header a request carries, and a challenge answered with a token from the realm it names.

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

use super::auth::{Challenge, Credential, Credentials, lookup, parse_challenge};
use super::http::{error_message, may_send_credentials, origin};
use super::{Client, RegistryError, Violation};
use crate::reference::ImageRef;

/// Most of a token answer read.
const TOKEN_BODY_LIMIT: u64 = 1024 * 1024;

fn basic_header(c: &Credentials) -> String {
    use base64ct::{Base64, Encoding};
    format!(
        "Basic {}",
        Base64::encode_string(format!("{}:{}", c.username, c.password).as_bytes())
    )
}

impl Client {
    pub(super) async fn credential_for(&self, registry: &str) -> Option<Credential> {
        if let Some(c) = &self.opts.credentials {
            return Some(Credential::Basic(c.clone()));
        }
        if !self.opts.use_docker_config {
            return None;
        }
        if let Some(c) = self
            .auth
            .lock()
            .expect("auth lock")
            .credentials
            .get(registry)
        {
            return c.clone();
        }
        let reg = registry.to_string();
        let found = tokio::task::spawn_blocking(move || lookup(&reg))
            .await
            .ok()
            .flatten();
        self.auth
            .lock()
            .expect("auth lock")
            .credentials
            .insert(registry.to_string(), found.clone());
        found
    }

    async fn cached_authorization(&self, r: &ImageRef, scope: &str) -> Option<String> {
        let (token, basic) = {
            let st = self.auth.lock().expect("auth lock");
            (
                st.tokens.get(&format!("{} {scope}", r.registry())).cloned(),
                st.basic_hosts.contains_key(r.registry()),
            )
        };
        if let Some(t) = token {
            return Some(format!("Bearer {t}"));
        }
        if basic && let Some(Credential::Basic(c)) = self.credential_for(r.registry()).await {
            return Some(basic_header(&c));
        }
        None
    }

    /// Credentials go to the registry's own host only: an upload `Location` or a link that
    /// points elsewhere (object storage, or a hostile redirect) gets none.
    pub(super) async fn authorization_for(
        &self,
        r: &ImageRef,
        scope: &str,
        url: &str,
    ) -> Option<String> {
        if origin(url)? == origin(&self.base_url(r).await)? {
            self.cached_authorization(r, scope).await
        } else {
            None
        }
    }

    /// Answers a 401 challenge.
    pub(super) async fn authenticate(
        &self,
        r: &ImageRef,
        scope: &str,
        challenge: Option<&str>,
    ) -> Result<(), RegistryError> {
        let unauthorized = |reason: String| RegistryError::Unauthorized {
            registry: r.registry().to_string(),
            reason,
        };
        let challenge = challenge.and_then(parse_challenge).ok_or_else(|| {
            unauthorized("401 without a supported WWW-Authenticate challenge".into())
        })?;
        let cred = self.credential_for(r.registry()).await;
        self.trace(|| {
            format!(
                "auth: {} asks for {} credentials; {}",
                r.registry(),
                match &challenge {
                    Challenge::Basic => "Basic".to_string(),
                    Challenge::Bearer { realm, .. } => format!("a Bearer token from {realm}"),
                },
                match &cred {
                    Some(Credential::Basic(c)) => format!("using the username {}", c.username),
                    Some(Credential::IdentityToken(_)) => "using an identity token".into(),
                    None => "no credentials are configured (anonymous)".into(),
                }
            )
        });
        match challenge {
            Challenge::Basic => {
                if !matches!(cred, Some(Credential::Basic(_))) {
                    return Err(unauthorized(
                        "registry requires a username and password".into(),
                    ));
                }
                self.auth
                    .lock()
                    .expect("auth lock")
                    .basic_hosts
                    .insert(r.registry().to_string(), true);
                Ok(())
            }
            Challenge::Bearer { realm, service, .. } => {
                let token = self
                    .fetch_token(&realm, service.as_deref(), scope, cred.as_ref())
                    .await?;
                self.auth
                    .lock()
                    .expect("auth lock")
                    .tokens
                    .insert(format!("{} {scope}", r.registry()), token);
                Ok(())
            }
        }
    }

    pub(super) async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        cred: Option<&Credential>,
    ) -> Result<String, RegistryError> {
        let violation = |violation| RegistryError::Protocol {
            url: realm.to_string(),
            violation,
        };
        let mut url = url::Url::parse(realm).map_err(|e| violation(Violation::BadRealm(e)))?;
        if !may_send_credentials(&url, self.opts.allow_http) {
            return Err(violation(Violation::InsecureRealm));
        }
        let http = self.http_for(url.as_str())?;
        let req = match cred {
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", refresh)
                    .append_pair("scope", scope)
                    .append_pair("client_id", "hallmark");
                if let Some(s) = service {
                    form.append_pair("service", s);
                }
                http.post(url.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.finish())
            }
            _ => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    q.append_pair("scope", scope);
                }
                let req = http.get(url.clone());
                match cred {
                    Some(Credential::Basic(c)) => req.header(AUTHORIZATION, basic_header(c)),
                    _ => req,
                }
            }
        };
        let what = url.as_str().to_string();
        let resp = self.execute(&what, req).await?;
        let status = resp.status();
        let body = self.read_small(resp, TOKEN_BODY_LIMIT, &what).await?;
        if !status.is_success() {
            return Err(RegistryError::Unauthorized {
                registry: url.host_str().unwrap_or_default().to_string(),
                reason: format!("token endpoint answered {status}{}", error_message(&body)),
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| violation(Violation::TokenResponse(e)))?;
        t.token
            .or(t.access_token)
            .ok_or_else(|| violation(Violation::NoToken))
    }
}
