//! Who can write: whether the credentials in use may push to a repository, found out
//! without writing anything.

use base64ct::{Base64UrlUnpadded, Encoding};
use reqwest::StatusCode;
use reqwest::header::WWW_AUTHENTICATE;

use super::auth::{Challenge, parse_challenge};
use super::upload::upload_location;
use super::{Client, RegistryError};
use crate::reference::ImageRef;

/// Whether the credentials in use may push to a repository, and how that was found out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct PushAccess {
    /// `None` when the registry does not say.
    pub can_push: Option<bool>,
    /// How it was found out, in one line.
    pub how: String,
}

/// The actions a registry token grants on `repository`, read from its `access` claim
/// (the JWT the distribution token protocol issues); `None` when the token is opaque.
pub fn granted_actions(token: &str, repository: &str) -> Option<Vec<String>> {
    #[derive(serde::Deserialize)]
    struct Claims {
        access: Option<Vec<Grant>>,
    }
    #[derive(serde::Deserialize)]
    struct Grant {
        #[serde(rename = "type")]
        kind: String,
        name: String,
        #[serde(default)]
        actions: Vec<String>,
    }
    let payload = token.split('.').nth(1)?;
    let json = Base64UrlUnpadded::decode_vec(payload.trim_end_matches('=')).ok()?;
    let claims: Claims = serde_json::from_slice(&json).ok()?;
    let mut actions: Vec<String> = claims
        .access?
        .into_iter()
        .filter(|g| g.kind == "repository" && g.name == repository)
        .flat_map(|g| g.actions)
        .collect();
    actions.sort();
    actions.dedup();
    Some(actions)
}

impl Client {
    /// Whether the credentials in use may push to `r`. For a Bearer registry, the token
    /// server is asked for `pull,push` and the token's `access` claim says what it granted;
    /// otherwise an upload session is opened and cancelled at once (nothing is committed).
    pub(crate) async fn push_access(&self, r: &ImageRef) -> Result<PushAccess, RegistryError> {
        let (_, resp) = self.api_root(r).await?;
        let challenge = (resp.status() == StatusCode::UNAUTHORIZED)
            .then(|| {
                resp.headers()
                    .get(WWW_AUTHENTICATE)?
                    .to_str()
                    .ok()
                    .map(str::to_string)
            })
            .flatten()
            .and_then(|h| parse_challenge(&h));
        if let Some(Challenge::Bearer { realm, service, .. }) = challenge {
            let scope = format!("repository:{}:pull,push", r.repository());
            let cred = self.credential_for(r.registry()).await;
            let token = match self
                .fetch_token(&realm, service.as_deref(), &scope, cred.as_ref())
                .await
            {
                Ok(t) => t,
                Err(RegistryError::Unauthorized { reason, .. }) => {
                    return Ok(PushAccess {
                        can_push: Some(false),
                        how: format!("the token server refused these credentials ({reason})"),
                    });
                }
                Err(e) => return Err(e),
            };
            return Ok(match granted_actions(&token, r.repository()) {
                Some(actions) => PushAccess {
                    can_push: Some(actions.iter().any(|a| a == "push" || a == "*")),
                    how: if actions.is_empty() {
                        "the token server grants nothing on it".to_string()
                    } else {
                        format!("the token server grants {}", actions.join(","))
                    },
                },
                None => PushAccess {
                    can_push: None,
                    how: "the token is opaque: the registry does not say what it grants".into(),
                },
            });
        }
        let url = self.repo_url(r, "blobs/uploads/").await;
        let resp = match self.call(r, reqwest::Method::POST, &url).await {
            Ok(resp) => resp,
            Err(RegistryError::Unauthorized { reason, .. }) => {
                return Ok(PushAccess {
                    can_push: Some(false),
                    how: format!("opening an upload session was refused ({reason})"),
                });
            }
            Err(e) => return Err(e),
        };
        let status = resp.status();
        if status != StatusCode::ACCEPTED {
            return Ok(PushAccess {
                can_push: None,
                how: format!("the registry answered {status} to opening an upload session"),
            });
        }
        // Cancel the session, and say what became of it: a registry that refuses to cancel
        // holds no data from us, but the session may stay open until the registry expires it.
        let cancelled = match upload_location(&url, resp.headers()) {
            Err(_) => Err("the registry gave no session address to cancel".to_string()),
            Ok(location) => match self.call(r, reqwest::Method::DELETE, &location).await {
                Ok(resp) if resp.status().is_success() => Ok(()),
                Ok(resp) => Err(format!(
                    "the registry refused to cancel it ({})",
                    resp.status()
                )),
                Err(e) => Err(format!("cancelling it failed ({e})")),
            },
        };
        Ok(PushAccess {
            can_push: Some(true),
            how: match cancelled {
                Ok(()) => "an upload session was opened and cancelled; nothing was written".into(),
                Err(why) => format!(
                    "an upload session was opened; {why}: nothing was written, but the session may remain open until the registry expires it"
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_claims_say_what_is_granted() {
        let claims = serde_json::json!({"iss": "x", "access": [
            {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "team/other", "actions": ["pull"]},
        ]});
        let token = format!(
            "e30.{}.sig",
            Base64UrlUnpadded::encode_string(claims.to_string().as_bytes())
        );
        assert_eq!(
            granted_actions(&token, "team/app").unwrap(),
            ["pull", "push"]
        );
        assert_eq!(granted_actions(&token, "team/other").unwrap(), ["pull"]);
        assert!(granted_actions(&token, "nope").unwrap().is_empty());
        assert_eq!(granted_actions("opaque-token", "team/app"), None);
        assert_eq!(granted_actions("a.!!!.c", "team/app"), None);
    }
}
