//! The requests of keyless signing, through the signing services' client
//! ([`crate::net::ServiceClient`]: no redirects, HTTPS unless loopback or opted in, a
//! deadline per request, a size cap). An error answer is quoted with the identity token,
//! and each of its dot-separated parts, replaced by `<token>`: a gateway's error page may
//! echo the request, and error text ends up in CI logs.

use crate::net::{NetError, ServiceClient};

use super::KeylessError;

/// Largest answer read from a signing service.
pub(super) const MAX_ANSWER_BYTES: u64 = 1024 * 1024;
/// Most characters of an error answer quoted.
const MAX_ERROR_TEXT: usize = 200;
/// Shorter parts of a token are not replaced on their own: they could be any word.
const MIN_SECRET_PART: usize = 8;

/// `text` with `secret`, and each of its dot-separated parts, replaced by `<token>`.
pub fn redact(text: &str, secret: Option<&str>) -> String {
    let Some(secret) = secret.map(str::trim).filter(|s| !s.is_empty()) else {
        return text.to_string();
    };
    let mut out = text.replace(secret, "<token>");
    for part in secret.split('.') {
        if part.len() >= MIN_SECRET_PART {
            out = out.replace(part, "<token>");
        }
    }
    out
}

/// Whether a failed request is the user's (a URL that may not be sent to: exit 2) or the
/// service's (exit 3).
fn failure(service: &'static str, url: &str, e: NetError) -> KeylessError {
    match e {
        NetError::BadUrl { .. } | NetError::PlainHttp { .. } => KeylessError::ServiceUrl {
            service,
            why: e.to_string(),
        },
        NetError::TooLarge { .. } => KeylessError::Garbage {
            service,
            why: e.to_string(),
        },
        e => KeylessError::Unreachable {
            service,
            url: url.to_string(),
            reason: e.to_string(),
        },
    }
}

/// One request to `service`: a POST of `body` when given, else a GET with `bearer`. The
/// answer's body when the status is 2xx; any other status (a redirect included) is
/// [`KeylessError::Status`], its text cleared of `secret`.
pub(super) async fn request(
    client: &ServiceClient,
    service: &'static str,
    url: &str,
    body: Option<(&'static str, Vec<u8>)>,
    bearer: Option<&str>,
    secret: Option<&str>,
) -> Result<Vec<u8>, KeylessError> {
    let (status, answer) = exchange(client, service, url, body, bearer).await?;
    checked(service, url, status, answer, secret)
}

/// One request as [`request`] makes it; the status and the answer, whatever the status,
/// for a caller that reads an error answer (Rekor's 409 names the entry it already holds).
pub(super) async fn exchange(
    client: &ServiceClient,
    service: &'static str,
    url: &str,
    body: Option<(&'static str, Vec<u8>)>,
    bearer: Option<&str>,
) -> Result<(u16, Vec<u8>), KeylessError> {
    let (status, answer) = client
        .send(url, body, bearer, MAX_ANSWER_BYTES)
        .await
        .map_err(|e| failure(service, url, e))?;
    Ok((status, answer.to_vec()))
}

/// The answer when `status` is 2xx; any other status (a redirect included) is
/// [`KeylessError::Status`], its text cleared of `secret`.
pub(super) fn checked(
    service: &'static str,
    url: &str,
    status: u16,
    answer: Vec<u8>,
    secret: Option<&str>,
) -> Result<Vec<u8>, KeylessError> {
    if !(200..300).contains(&status) {
        let text: String = redact(&String::from_utf8_lossy(&answer), secret)
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_ERROR_TEXT)
            .collect();
        let text = if (300..400).contains(&status) {
            format!("a redirect, which is not followed (signing requests carry the token); {text}")
        } else {
            text
        };
        return Err(KeylessError::Status {
            service,
            url: url.to_string(),
            status,
            text,
        });
    }
    Ok(answer)
}

/// One POST of `body` as `content_type`.
pub(super) async fn post(
    client: &ServiceClient,
    service: &'static str,
    url: &str,
    content_type: &'static str,
    body: Vec<u8>,
    secret: Option<&str>,
) -> Result<Vec<u8>, KeylessError> {
    request(
        client,
        service,
        url,
        Some((content_type, body)),
        None,
        secret,
    )
    .await
}

/// The ambient identity token of a CI system, when there is one: GitLab's (and any
/// system's) `SIGSTORE_ID_TOKEN`, else GitHub Actions' (a GET of
/// `ACTIONS_ID_TOKEN_REQUEST_URL` for `audience`, with `ACTIONS_ID_TOKEN_REQUEST_TOKEN` as
/// its bearer token, under the same transport rules as the signing services).
pub async fn ambient_token(
    client: &ServiceClient,
    audience: &str,
) -> Result<Option<String>, KeylessError> {
    if let Ok(token) = std::env::var("SIGSTORE_ID_TOKEN")
        && !token.trim().is_empty()
    {
        return Ok(Some(token.trim().to_string()));
    }
    let (Ok(url), Ok(bearer)) = (
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_URL"),
        std::env::var("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
    ) else {
        return Ok(None);
    };
    let service = "GitHub Actions' token endpoint";
    let mut url = client
        .check_url(&url)
        .map_err(|e| KeylessError::TokenSource(format!("ACTIONS_ID_TOKEN_REQUEST_URL: {e}")))?;
    url.query_pairs_mut().append_pair("audience", audience);
    // The request URL carries no secret, the bearer token does: only the URL is ever shown.
    let answer = request(
        client,
        service,
        url.as_str(),
        None,
        Some(&bearer),
        Some(&bearer),
    )
    .await?;
    #[derive(serde::Deserialize)]
    struct Answer {
        value: String,
    }
    let a: Answer = serde_json::from_slice(&answer).map_err(|_| KeylessError::Garbage {
        service,
        why: "its answer holds no token".into(),
    })?;
    Ok(Some(a.value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_and_its_parts_are_redacted() {
        let token = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhQGIifQ.c2lnbmF0dXJlLWJ5dGVz";
        let echoed = format!(
            "bad request: {{\"oidcIdentityToken\":\"{token}\"}}; part eyJzdWIiOiJhQGIifQ; tail c2lnbmF0dXJlLWJ5dGVz"
        );
        let out = redact(&echoed, Some(token));
        for part in token.split('.') {
            assert!(!out.contains(part), "{out}");
        }
        assert!(out.contains("<token>"));
        assert!(out.starts_with("bad request"));
        assert_eq!(redact("nothing", None), "nothing");
        assert_eq!(redact("a.b", Some("a.b.c")), "a.b");
    }
}
