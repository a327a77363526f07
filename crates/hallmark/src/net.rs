//! Bounded HTTP, shared by the registry client and the signing services: where a URL may
//! be sent secrets, what a network failure was, a body read within a size cap and a
//! deadline, and the client of the signing services (Fulcio, Rekor, the timestamp
//! authority, a CI system's token endpoint), which follows no redirect: a redirect would
//! replay the identity token to wherever it points. It uses only `fsio` (the CA file).

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;

/// What kind of network failure it was, for a message that says what to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkCause {
    /// Nothing listens at that address and port.
    Refused,
    /// The name does not resolve.
    UnknownHost,
    /// A TLS handshake met a server speaking plain HTTP.
    PlainHttp,
    /// The server's certificate is not trusted.
    Certificate,
    /// Anything else (reset, closed, too many redirects).
    Other,
}

/// True when `u` names this machine: `localhost` or a loopback address.
pub fn is_loopback(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// True when credentials may be sent to `u` over its scheme: HTTPS, loopback, or plain
/// HTTP opted in.
pub fn may_send_credentials(u: &url::Url, allow_http: bool) -> bool {
    u.scheme() == "https" || allow_http || is_loopback(u)
}

/// The cause of a failed request and a one-line reason. The first line of reqwest's chain
/// is its generic "error sending request for url (…)": the causes after it are the news.
pub(crate) fn classify(e: &reqwest::Error) -> (NetworkCause, String) {
    use std::error::Error as _;
    let mut chain = e.to_string();
    let mut refused = false;
    let mut src = e.source();
    while let Some(s) = src {
        chain = format!("{chain}: {s}");
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            refused |= io.kind() == std::io::ErrorKind::ConnectionRefused;
        }
        src = s.source();
    }
    let cause = if refused || chain.contains("Connection refused") {
        NetworkCause::Refused
    } else if chain.contains("InvalidContentType") || chain.contains("corrupt message") {
        NetworkCause::PlainHttp
    } else if chain.contains("dns error") || chain.contains("failed to lookup address") {
        NetworkCause::UnknownHost
    } else if chain.contains("invalid peer certificate") || chain.contains("UnknownIssuer") {
        NetworkCause::Certificate
    } else {
        NetworkCause::Other
    };
    let reason = match cause {
        NetworkCause::Refused => "connection refused".to_string(),
        NetworkCause::PlainHttp => {
            "the server answered a TLS handshake in plain HTTP: it does not serve HTTPS".to_string()
        }
        _ => chain
            .split_once("): ")
            .map_or(chain.as_str(), |(_, rest)| rest)
            .to_string(),
    };
    (cause, reason)
}

/// Why a body was not read whole.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// Over the limit, by its `Content-Length` or by what arrived.
    TooLarge,
    /// Not complete within the deadline.
    Timeout,
    /// The connection failed.
    Network(reqwest::Error),
}

/// Reads a body to the end, refusing a `Content-Length` over `limit` before reading, more
/// than `limit` bytes, and a stall or drip past `deadline` in total.
pub(crate) async fn read_limited(
    mut resp: reqwest::Response,
    limit: u64,
    deadline: Duration,
) -> Result<Bytes, ReadError> {
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(ReadError::TooLarge);
    }
    let read = async {
        let mut buf = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(ReadError::Network)? {
            if buf.len() as u64 + chunk.len() as u64 > limit {
                return Err(ReadError::TooLarge);
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buf))
    };
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or(Err(ReadError::Timeout))
}

/// The certificates of a PEM bundle the user trusts in addition to the system's.
pub(crate) fn ca_certificates(path: &std::path::Path) -> Result<Vec<reqwest::Certificate>, String> {
    let pem =
        crate::fsio::read_input(path, crate::fsio::limits::CA_FILE).map_err(|e| e.reason())?;
    let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no certificate in file".into());
    }
    Ok(certs)
}

/// `url` parsed, if a secret may be sent to it: HTTP(S), and HTTPS unless the host is
/// loopback or plain HTTP was opted in. Checked when the flags are read, before any
/// request, and again by every request.
pub fn check_url(url: &str, allow_http: bool) -> Result<url::Url, NetError> {
    let bad = || NetError::BadUrl {
        url: url.to_string(),
    };
    let u = url::Url::parse(url).map_err(|_| bad())?;
    if !matches!(u.scheme(), "http" | "https") || u.host().is_none() {
        return Err(bad());
    }
    if !may_send_credentials(&u, allow_http) {
        return Err(NetError::PlainHttp {
            url: url.to_string(),
        });
    }
    Ok(u)
}

/// How the signing services are reached.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServiceOptions {
    /// Plain HTTP to hosts other than loopback.
    pub allow_http: bool,
    /// Extra CA certificates (PEM), for a private Sigstore over HTTPS.
    pub ca_file: Option<PathBuf>,
    /// Deadline of one request, sending and reading its answer together.
    pub timeout: Duration,
    /// Deadline for opening a connection.
    pub connect_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
}

impl Default for ServiceOptions {
    fn default() -> Self {
        Self {
            allow_http: false,
            ca_file: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            user_agent: concat!("hallmark/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Why a signing service's request failed, before its status is looked at.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The URL does not parse, or is not HTTP(S).
    #[error("{url:?} is not an http(s) URL")]
    BadUrl {
        /// As given.
        url: String,
    },
    /// Plain HTTP to a host other than loopback, not opted in.
    #[error("{url} is plain HTTP to a host other than loopback")]
    PlainHttp {
        /// As given.
        url: String,
    },
    /// The CA file cannot be used.
    #[error("CA file {}: {reason}", path.display())]
    CaFile {
        /// As given.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The HTTP client cannot be built (TLS setup).
    #[error("cannot set up HTTP: {0}")]
    Setup(String),
    /// The connection failed.
    #[error("{reason}")]
    Network {
        /// What kind of failure.
        cause: NetworkCause,
        /// One line.
        reason: String,
    },
    /// No complete answer within the request deadline.
    #[error("no complete answer within {secs}s")]
    Timeout {
        /// The deadline.
        secs: u64,
    },
    /// The answer is over the size cap.
    #[error("its answer is over {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: u64,
    },
}

/// The client of the signing services: no redirects, HTTPS unless loopback or opted in,
/// one deadline per request covering the answer, and a size cap checked before reading.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    http: reqwest::Client,
    opts: ServiceOptions,
    in_flight: std::sync::Arc<std::sync::Mutex<InFlight>>,
}

/// Requests under way, so that a command that runs out of time can say what it was
/// waiting for.
#[derive(Debug, Default)]
struct InFlight {
    next: u64,
    requests: std::collections::BTreeMap<u64, String>,
}

/// Removes its request from the in-flight list when dropped.
struct Pending<'a> {
    set: &'a std::sync::Mutex<InFlight>,
    id: u64,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        if let Ok(mut f) = self.set.lock() {
            f.requests.remove(&self.id);
        }
    }
}

impl ServiceClient {
    /// A client with these options; TLS through the process-wide rustls crypto provider.
    pub fn new(opts: ServiceOptions) -> Result<Self, NetError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(NetError::Setup(
                "no TLS crypto provider is installed".into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(opts.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(opts.connect_timeout);
        if let Some(path) = &opts.ca_file {
            let certs = ca_certificates(path).map_err(|reason| NetError::CaFile {
                path: path.clone(),
                reason,
            })?;
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder
            .build()
            .map_err(|e| NetError::Setup(e.to_string()))?;
        Ok(Self {
            http,
            opts,
            in_flight: std::sync::Arc::default(),
        })
    }

    /// `METHOD url` of every request under way, oldest first.
    pub fn pending(&self) -> Vec<String> {
        self.in_flight
            .lock()
            .map(|f| f.requests.values().cloned().collect())
            .unwrap_or_default()
    }

    fn track(&self, what: String) -> Pending<'_> {
        let mut id = 0;
        if let Ok(mut f) = self.in_flight.lock() {
            id = f.next;
            f.next += 1;
            f.requests.insert(id, what);
        }
        Pending {
            set: &self.in_flight,
            id,
        }
    }

    /// The options it was made with.
    pub fn options(&self) -> &ServiceOptions {
        &self.opts
    }

    /// `url` parsed, if this client may send it a secret ([`check_url`]).
    pub fn check_url(&self, url: &str) -> Result<url::Url, NetError> {
        check_url(url, self.opts.allow_http)
    }

    /// Sends one request (`body` as a POST with `content_type`, else a GET), with `bearer`
    /// as its `Authorization` when given; the status and the body, at most `limit` bytes,
    /// all within the request deadline. A redirect is returned as it is, never followed.
    pub(crate) async fn send(
        &self,
        url: &str,
        body: Option<(&'static str, Vec<u8>)>,
        bearer: Option<&str>,
        limit: u64,
    ) -> Result<(u16, Bytes), NetError> {
        let url = self.check_url(url)?;
        let method = if body.is_some() { "POST" } else { "GET" };
        let _pending = self.track(format!("{method} {url}"));
        let mut request = match body {
            Some((content_type, bytes)) => self
                .http
                .post(url)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(bytes),
            None => self.http.get(url),
        };
        if let Some(b) = bearer {
            request = request.bearer_auth(b);
        }
        let timeout = self.opts.timeout;
        let secs = timeout.as_secs();
        let network = |e: reqwest::Error| {
            let (cause, reason) = classify(&e);
            NetError::Network { cause, reason }
        };
        let exchange = async {
            let resp = request.send().await.map_err(network)?;
            let status = resp.status().as_u16();
            // The read gets the whole deadline here; the outer timeout bounds both.
            let body = read_limited(resp, limit, timeout)
                .await
                .map_err(|e| match e {
                    ReadError::TooLarge => NetError::TooLarge { limit },
                    ReadError::Timeout => NetError::Timeout { secs },
                    ReadError::Network(e) => network(e),
                })?;
            Ok((status, body))
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(NetError::Timeout { secs }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_go_over_https_or_to_loopback_only() {
        for ok in [
            "https://fulcio.example",
            "http://127.0.0.1:5555/x",
            "http://localhost/x",
            "http://[::1]:80/",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        assert!(matches!(
            check_url("http://example.invalid", false),
            Err(NetError::PlainHttp { .. })
        ));
        assert!(check_url("http://example.invalid", true).is_ok());
        for bad in [
            "fulcio.example",
            "ftp://fulcio.example",
            "file:///etc/passwd",
            "",
        ] {
            assert!(
                matches!(check_url(bad, true), Err(NetError::BadUrl { .. })),
                "{bad}"
            );
        }
    }
}
