//! Sending requests: authorisation, retries with backoff, deadlines and size limits.

use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, HeaderMap, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode};

use super::http::{MAX_REDIRECTS, error_message, transfer_deadline};
use super::{Client, RegistryError};
use crate::reference::ImageRef;

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Most of an error body read for its message.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;
/// Whether a request needs to read or write the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Access {
    Pull,
    Push,
}

/// What a request carries.
#[derive(Clone)]
pub(super) enum Body {
    Empty,
    Bytes(Bytes),
}

/// Exponential backoff before retry number `attempt` (1-based), capped.
pub(super) fn backoff(first: Duration, attempt: u32) -> Duration {
    first
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)))
        .min(MAX_BACKOFF)
}

/// Longest `Retry-After` honoured: a registry asking for more gets this.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The wait a `Retry-After` header asks for, in seconds (the HTTP-date form is not used by
/// registries and is ignored), capped.
pub(super) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs).min(MAX_RETRY_AFTER))
}

pub(super) fn network_error(url: &str, e: reqwest::Error) -> RegistryError {
    let (cause, reason) = crate::net::classify(&e);
    let reason = if e.is_redirect() {
        format!("too many redirects (limit {MAX_REDIRECTS})")
    } else {
        reason
    };
    RegistryError::Network {
        url: url.to_string(),
        reason,
        cause,
        attempts: 1,
        source: e,
    }
}

/// Reads a body to the end, refusing more than `limit` bytes and a stall or drip past
/// `deadline` in total.
pub(super) async fn read_limited(
    resp: reqwest::Response,
    limit: u64,
    url: &str,
    deadline: Duration,
) -> Result<Bytes, RegistryError> {
    use crate::net::ReadError;
    crate::net::read_limited(resp, limit, deadline)
        .await
        .map_err(|e| match e {
            ReadError::TooLarge => RegistryError::TooLarge {
                url: url.to_string(),
                limit,
            },
            ReadError::Timeout => RegistryError::Timeout {
                url: url.to_string(),
                secs: deadline.as_secs(),
                attempts: 1,
            },
            ReadError::Network(e) => network_error(url, e),
        })
}

/// True when a 400's body is Go's answer to plain HTTP sent to its HTTPS port.
pub(super) fn speaks_https(body: &[u8]) -> bool {
    String::from_utf8_lossy(body).contains("Client sent an HTTP request to an HTTPS server")
}

/// Names of headers whose values are credentials.
const SECRET_HEADERS: [&str; 5] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-registry-auth",
];

/// A header's value for the trace: credentials replaced by `<redacted>` (an
/// `Authorization` keeps its scheme), and secret query parameters of a URL redacted.
pub(super) fn shown_header(name: &str, value: &[u8]) -> String {
    let text = String::from_utf8_lossy(value);
    let lower = name.to_ascii_lowercase();
    if SECRET_HEADERS.contains(&lower.as_str()) {
        return match text.split_once(' ') {
            Some((scheme, _)) if lower.ends_with("authorization") => {
                format!("{scheme} <redacted>")
            }
            _ => "<redacted>".to_string(),
        };
    }
    if lower == "location" || lower == "content-location" || lower == "link" {
        return redact_url(&text);
    }
    text.into_owned()
}

/// `url` with the values of query parameters that carry secrets (tokens, passwords,
/// pre-signed URL signatures) replaced by `<redacted>`.
pub(super) fn redact_url(url: &str) -> String {
    let Some((head, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let (query, fragment) = match query.split_once('#') {
        Some((q, _)) => (q, &url[head.len() + 1 + q.len()..]),
        None => (query, ""),
    };
    let secret = |key: &str| {
        let k = key.to_ascii_lowercase();
        [
            "token",
            "password",
            "secret",
            "signature",
            "credential",
            "sig",
            "key",
        ]
        .iter()
        .any(|s| k.contains(s))
    };
    let parts: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if secret(k) => format!("{k}=<redacted>"),
            _ => pair.to_string(),
        })
        .collect();
    format!("{head}?{}{fragment}", parts.join("&"))
}

impl Client {
    /// Sends a request within the client's deadline, tracing its headers for `-vv`.
    pub(super) async fn execute(
        &self,
        url: &str,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RegistryError> {
        match tokio::time::timeout(self.opts.timeout, self.send_traced(req)).await {
            Ok(r) => r.map_err(|e| network_error(url, e)),
            Err(_) => Err(RegistryError::Timeout {
                url: url.to_string(),
                secs: self.opts.timeout.as_secs(),
                attempts: 1,
            }),
        }
    }

    /// Sends a request; with `trace_headers`, its headers and the answer's go to the
    /// trace, credentials redacted.
    pub(super) async fn send_traced(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, reqwest::Error> {
        if !(self.opts.trace_headers && self.opts.trace.is_some()) {
            return req.send().await;
        }
        let (http, req) = req.build_split();
        let req = req?;
        self.trace(|| format!("> {} {}", req.method(), redact_url(req.url().as_str())));
        for (name, value) in req.headers() {
            self.trace(|| {
                format!(
                    "> {name}: {}",
                    shown_header(name.as_str(), value.as_bytes())
                )
            });
        }
        let resp = http.execute(req).await?;
        self.trace(|| format!("< {:?} {}", resp.version(), resp.status()));
        for (name, value) in resp.headers() {
            self.trace(|| {
                format!(
                    "< {name}: {}",
                    shown_header(name.as_str(), value.as_bytes())
                )
            });
        }
        Ok(resp)
    }

    fn scope(r: &ImageRef, access: Access) -> String {
        match access {
            Access::Pull => format!("repository:{}:pull", r.repository()),
            Access::Push => format!("repository:{}:pull,push", r.repository()),
        }
    }

    /// Waits before retry `attempt` (1-based).
    pub(super) async fn pause(&self, attempt: u32) {
        tokio::time::sleep(backoff(self.opts.backoff, attempt)).await;
    }

    /// A GET (pull access).
    pub(super) async fn get(
        &self,
        r: &ImageRef,
        url: &str,
        headers: HeaderMap,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send(r, Method::GET, url, headers, Body::Empty).await
    }

    /// A GET whose 404 means "there is none" (`None`) and any other error status fails.
    pub(super) async fn get_found(
        &self,
        r: &ImageRef,
        url: &str,
        headers: HeaderMap,
    ) -> Result<Option<reqwest::Response>, RegistryError> {
        let resp = self.get(r, url, headers).await?;
        if resp.status() == StatusCode::NOT_FOUND {
            // A registry's 404 carries its API header or an error document; a 404 without
            // either may be a web server that is no registry at all, which must not be
            // reported as "artifact not found".
            let marked = resp
                .headers()
                .contains_key("docker-distribution-api-version");
            if !marked {
                let body = read_limited(resp, ERROR_BODY_LIMIT, url, self.opts.timeout)
                    .await
                    .unwrap_or_default();
                if error_message(&body).is_empty() {
                    self.confirm_registry(r).await?;
                }
            }
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.fail(url, resp).await);
        }
        Ok(Some(resp))
    }

    /// `GET /v2/` without credentials: whether this is a registry, and how it wants them.
    pub(super) async fn api_root(
        &self,
        r: &ImageRef,
    ) -> Result<(String, reqwest::Response), RegistryError> {
        let url = format!("{}/v2/", self.base_url(r).await);
        let req = self.http_for(&url)?.get(&url);
        let resp = self.execute(&url, req).await?;
        Ok((url, resp))
    }

    /// Checks once per host that the API root answers as a registry does (200, or 401
    /// asking for credentials).
    async fn confirm_registry(&self, r: &ImageRef) -> Result<(), RegistryError> {
        let host = r.registry().to_string();
        if self.auth.lock().expect("auth lock").is_registry(&host) {
            return Ok(());
        }
        let (url, resp) = self.api_root(r).await?;
        let status = resp.status();
        if status.is_success() || status == StatusCode::UNAUTHORIZED {
            self.auth.lock().expect("auth lock").confirm_registry(&host);
            Ok(())
        } else {
            Err(RegistryError::NotARegistry {
                host,
                url,
                status: status.as_u16(),
            })
        }
    }

    /// A HEAD (pull access).
    pub(super) async fn head(
        &self,
        r: &ImageRef,
        url: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send(r, Method::HEAD, url, HeaderMap::new(), Body::Empty)
            .await
    }

    /// A PUT with a body held in memory (push access).
    pub(super) async fn put(
        &self,
        r: &ImageRef,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send(r, Method::PUT, url, headers, Body::Bytes(body))
            .await
    }

    /// A PUT that is not sent again after a failure that may have reached the registry (a
    /// reset or timeout after sending): for writes whose late arrival would overwrite
    /// someone else's, the caller must know. Answers (429, 5xx) are still retried.
    pub(super) async fn put_once(
        &self,
        r: &ImageRef,
        url: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send_with(r, Method::PUT, url, headers, Body::Bytes(body), false)
            .await
    }

    /// A body-less POST or DELETE (push access).
    pub(super) async fn call(
        &self,
        r: &ImageRef,
        method: Method,
        url: &str,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send(r, method, url, HeaderMap::new(), Body::Empty)
            .await
    }

    /// Sends one request with auth, retrying 429/5xx/connection failures with backoff.
    /// GET and HEAD need pull access, everything else push access.
    async fn send(
        &self,
        r: &ImageRef,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Body,
    ) -> Result<reqwest::Response, RegistryError> {
        self.send_with(r, method, url, headers, body, true).await
    }

    /// [`Client::send`]; failures that may have reached the registry are retried only when
    /// `resend_unanswered`.
    async fn send_with(
        &self,
        r: &ImageRef,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Body,
        resend_unanswered: bool,
    ) -> Result<reqwest::Response, RegistryError> {
        let access = if method == Method::GET || method == Method::HEAD {
            Access::Pull
        } else {
            Access::Push
        };
        // The catalog is the registry's, not a repository's: token servers grant it under
        // its own scope.
        let scope = if url.contains("/v2/_catalog") {
            "registry:catalog:*".to_string()
        } else {
            Self::scope(r, access)
        };
        let _pending = self.track(format!("{method} {url}"));
        let http = self.http_for(url)?;
        let mut authed = false;
        let mut attempt = 0u32;
        loop {
            let mut req = http.request(method.clone(), url).headers(headers.clone());
            if let Some(a) = self.authorization_for(r, &scope, url).await {
                req = req.header(AUTHORIZATION, a);
            }
            req = match &body {
                Body::Empty if method == Method::GET || method == Method::HEAD => req,
                Body::Empty => req.header(CONTENT_LENGTH, 0),
                Body::Bytes(b) => req.body(b.clone()),
            };
            let started = std::time::Instant::now();
            self.sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let result = self.execute(url, req).await;
            self.trace(|| match &result {
                Ok(resp) => format!(
                    "{method} {url} → {} in {} ms",
                    resp.status().as_u16(),
                    started.elapsed().as_millis()
                ),
                Err(e) => format!(
                    "{method} {url} → failed in {} ms: {e}",
                    started.elapsed().as_millis()
                ),
            });
            let retryable = match &result {
                Ok(resp) => {
                    let s = resp.status();
                    s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error()
                }
                Err(e) => e.is_transient() && (resend_unanswered || !e.may_have_landed()),
            };
            if retryable && attempt < self.opts.retries {
                attempt += 1;
                // A registry that says when to come back (429/503 with Retry-After) is
                // believed, up to a bound; otherwise exponential backoff.
                let wait = result
                    .as_ref()
                    .ok()
                    .and_then(|r| retry_after(r.headers()))
                    .unwrap_or_else(|| backoff(self.opts.backoff, attempt));
                self.trace(|| {
                    format!(
                        "retry {attempt} of {} for {method} {url} in {} ms",
                        self.opts.retries,
                        wait.as_millis()
                    )
                });
                tokio::time::sleep(wait).await;
                continue;
            }
            let resp = result.map_err(|e| e.after_attempts(attempt + 1))?;
            if resp.status() == StatusCode::UNAUTHORIZED && !authed {
                authed = true;
                let challenge = resp
                    .headers()
                    .get(WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                self.authenticate(r, &scope, challenge.as_deref()).await?;
                continue;
            }
            if resp.status() == StatusCode::UNAUTHORIZED || resp.status() == StatusCode::FORBIDDEN {
                let status = resp.status();
                let body = read_limited(resp, ERROR_BODY_LIMIT, url, self.opts.timeout)
                    .await
                    .unwrap_or_default();
                return Err(RegistryError::Unauthorized {
                    registry: r.registry().to_string(),
                    reason: format!("{status}{}", error_message(&body)),
                });
            }
            return Ok(resp);
        }
    }

    /// Meets the challenge of a 401 to a request with a streamed body, which
    /// [`Client::send_stream`] cannot send again by itself: the token is fetched anew, for
    /// the caller to send the same bytes once more.
    pub(super) async fn reauthenticate(
        &self,
        r: &ImageRef,
        refused: &reqwest::Response,
    ) -> Result<(), RegistryError> {
        let challenge = refused
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok());
        self.authenticate(r, &Self::scope(r, Access::Push), challenge)
            .await
    }

    /// One request with a streamed body: no automatic retry (the stream is consumed), and
    /// the authorisation cached by an earlier request of the same scope; a 401 is returned
    /// for the caller to [`Client::reauthenticate`] and send the bytes again.
    pub(super) async fn send_stream(
        &self,
        r: &ImageRef,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: reqwest::Body,
    ) -> Result<reqwest::Response, RegistryError> {
        let scope = Self::scope(r, Access::Push);
        let content_length = headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
            .unwrap_or(0);
        let _pending = self.track(format!("{method} {url}"));
        let mut req = self
            .http_for(url)?
            .request(method.clone(), url)
            .headers(headers)
            .body(body);
        if let Some(a) = self.authorization_for(r, &scope, url).await {
            req = req.header(AUTHORIZATION, a);
        }
        // A registry that stops reading must not hang the upload.
        let deadline = transfer_deadline(self.opts.timeout, content_length);
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(deadline, self.send_traced(req)).await;
        self.trace(|| match &result {
            Ok(Ok(resp)) => format!(
                "{method} {url} ({content_length} bytes) → {} in {} ms",
                resp.status().as_u16(),
                started.elapsed().as_millis()
            ),
            _ => format!(
                "{method} {url} ({content_length} bytes) → failed in {} ms",
                started.elapsed().as_millis()
            ),
        });
        let resp = match result {
            Ok(r) => r.map_err(|e| network_error(url, e))?,
            Err(_) => {
                return Err(RegistryError::Timeout {
                    url: url.to_string(),
                    secs: deadline.as_secs(),
                    attempts: 1,
                });
            }
        };
        if resp.status().is_server_error() || resp.status() == StatusCode::TOO_MANY_REQUESTS {
            return Err(self.fail(url, resp).await);
        }
        Ok(resp)
    }

    /// The error for an unexpected status, with the registry's own text.
    pub(super) async fn fail(&self, url: &str, resp: reqwest::Response) -> RegistryError {
        let status = resp.status().as_u16();
        let body = read_limited(resp, ERROR_BODY_LIMIT, url, self.opts.timeout)
            .await
            .unwrap_or_default();
        if status == 400 && speaks_https(&body) {
            return RegistryError::HttpToHttps {
                url: url.to_string(),
            };
        }
        RegistryError::Status {
            url: url.to_string(),
            status,
            message: error_message(&body),
        }
    }

    /// Reads a small body (manifest, token, tag list) within the client's deadline.
    pub(super) async fn read_small(
        &self,
        resp: reqwest::Response,
        limit: u64,
        url: &str,
    ) -> Result<Bytes, RegistryError> {
        let _pending = self.track(format!("GET {url} (body)"));
        read_limited(resp, limit, url, self.opts.timeout).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_believed_within_a_bound() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(reqwest::header::RETRY_AFTER, "86400".parse().unwrap());
        assert_eq!(retry_after(&h), Some(MAX_RETRY_AFTER));
        h.insert(
            reqwest::header::RETRY_AFTER,
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn traced_headers_never_carry_credentials() {
        assert_eq!(
            shown_header("Authorization", b"Bearer eyJhbGciOi.secret"),
            "Bearer <redacted>"
        );
        assert_eq!(
            shown_header("proxy-authorization", b"Basic Y2k6czNjcmV0"),
            "Basic <redacted>"
        );
        assert_eq!(shown_header("Set-Cookie", b"session=abc"), "<redacted>");
        assert_eq!(shown_header("content-type", b"text/plain"), "text/plain");
        assert_eq!(
            shown_header(
                "location",
                b"https://s3.example/b?X-Amz-Credential=AK&X-Amz-Signature=ff&x=1"
            ),
            "https://s3.example/b?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted>&x=1"
        );
        assert_eq!(
            redact_url("https://auth.example/token?access_token=t&scope=repo#f"),
            "https://auth.example/token?access_token=<redacted>&scope=repo#f"
        );
        assert_eq!(redact_url("http://h/v2/"), "http://h/v2/");
    }

    #[test]
    fn plain_http_to_an_https_port_is_recognised() {
        assert!(speaks_https(
            b"Client sent an HTTP request to an HTTPS server.\n"
        ));
        assert!(!speaks_https(b"{\"errors\":[]}"));
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let first = Duration::from_millis(250);
        let got: Vec<u64> = (1..=8)
            .map(|a| backoff(first, a).as_millis() as u64)
            .collect();
        assert_eq!(got, vec![250, 500, 1000, 2000, 4000, 8000, 10000, 10000]);
        assert_eq!(backoff(first, 40), MAX_BACKOFF);
        assert_eq!(backoff(Duration::MAX, 3), MAX_BACKOFF);
    }
}
