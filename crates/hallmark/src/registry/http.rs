//! HTTP facts every part of the client shares, apart from sending: URLs resolved against
//! the registry, where credentials may go, the registry's error text, transfer deadlines.
//! A leaf: it uses no other part of the client.

use std::time::Duration;

use super::Violation;

/// Redirects followed for one request.
pub(super) const MAX_REDIRECTS: usize = 5;

/// Lowest rate a streamed upload or download must keep up: 256 KiB/s.
pub(super) const MIN_RATE: u64 = 256 * 1024;

/// How long moving `len` bytes may take: the stall timeout plus the bytes at the minimum
/// rate, so that a peer dripping bytes just fast enough to avoid the stall timeout is
/// still cut off.
pub(super) fn transfer_deadline(timeout: Duration, len: u64) -> Duration {
    timeout + Duration::from_secs(len / MIN_RATE)
}

/// Resolves a `Location` or `Link` target against the registry's base URL: relative
/// paths stay on the registry, absolute URLs are taken as they are.
pub(super) fn resolve_url(base: &str, target: &str) -> Result<String, Violation> {
    let base = url::Url::parse(base).map_err(|_| Violation::BadUrl(base.to_string()))?;
    base.join(target)
        .map(String::from)
        .map_err(|_| Violation::BadUrl(target.to_string()))
}

/// Adds `key=value` to a URL's query.
pub(super) fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    let value: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    format!("{url}{sep}{key}={value}")
}

/// True when credentials may be sent to `u` over its scheme.
pub(super) fn may_send_credentials(u: &url::Url, allow_http: bool) -> bool {
    crate::net::may_send_credentials(u, allow_http)
}

/// `(host, port)` of a URL, for same-origin checks.
pub(super) fn origin(u: &str) -> Option<(Option<String>, Option<u16>)> {
    url::Url::parse(u)
        .ok()
        .map(|u| (u.host_str().map(str::to_string), u.port_or_known_default()))
}

/// Most characters of one registry error message kept for our own messages.
const MAX_ERROR_TEXT: usize = 300;

/// The registry's own error text (`{"errors":[{"code","message"}]}`), for messages; at most
/// three errors of bounded length (whoever prints it escapes it).
pub(super) fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<ErrorItem>,
    }
    #[derive(serde::Deserialize)]
    struct ErrorItem {
        code: Option<String>,
        message: Option<String>,
    }
    match serde_json::from_slice::<Errors>(body) {
        Ok(e) if !e.errors.is_empty() => {
            let parts: Vec<String> = e
                .errors
                .iter()
                .take(3)
                .map(|i| {
                    [i.code.as_deref(), i.message.as_deref()]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(": ")
                        .chars()
                        .take(MAX_ERROR_TEXT)
                        .collect::<String>()
                })
                .collect();
            format!(" ({})", parts.join("; "))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_resolve_against_the_registry() {
        let base = "http://127.0.0.1:5000/v2/app/blobs/uploads/";
        assert_eq!(
            resolve_url(base, "/v2/app/blobs/uploads/abc?_state=x").unwrap(),
            "http://127.0.0.1:5000/v2/app/blobs/uploads/abc?_state=x"
        );
        assert_eq!(
            resolve_url(base, "https://storage.example.com/up/1").unwrap(),
            "https://storage.example.com/up/1"
        );
        assert!(resolve_url("not a url", "/x").is_err());
        assert_eq!(
            with_query("http://h/u?a=1", "digest", "sha256:ab"),
            "http://h/u?a=1&digest=sha256%3Aab"
        );
        assert_eq!(origin("http://h:5000/x"), origin("http://h:5000/other?q"));
        assert_ne!(origin("http://h:5000/x"), origin("http://h:5001/x"));
        assert_ne!(origin("http://h/x"), origin("https://h/x"));
    }

    #[test]
    fn credentials_only_over_https_or_to_loopback() {
        let u = |s: &str| url::Url::parse(s).unwrap();
        assert!(may_send_credentials(
            &u("https://auth.example.com/t"),
            false
        ));
        assert!(!may_send_credentials(
            &u("http://auth.example.com/t"),
            false
        ));
        assert!(may_send_credentials(&u("http://auth.example.com/t"), true));
        assert!(may_send_credentials(&u("http://127.0.0.1:9/t"), false));
        assert!(may_send_credentials(&u("http://[::1]:9/t"), false));
        assert!(may_send_credentials(&u("http://localhost/t"), false));
    }

    #[test]
    fn registry_error_text_is_extracted() {
        assert_eq!(
            error_message(br#"{"errors":[{"code":"DENIED","message":"no"},{"code":"X"}]}"#),
            " (DENIED: no; X)"
        );
        assert_eq!(error_message(b"<html>"), "");
        let long = format!(r#"{{"errors":[{{"message":"{}"}}]}}"#, "x".repeat(5000));
        assert_eq!(error_message(long.as_bytes()).len(), MAX_ERROR_TEXT + 3);
        assert_eq!(error_message(br#"{"errors":[]}"#), "");
    }
}
