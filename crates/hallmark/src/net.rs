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
    /// The server's certificate is not trusted (another reason than those below).
    Certificate,
    /// The server's certificate is signed by an authority not trusted here.
    UnknownIssuer,
    /// The server's certificate is a CA certificate not among those given.
    SelfSignedCa,
    /// The server's certificate is not for the name connected to.
    CertificateName,
    /// The server's certificate has expired or is not valid yet.
    CertificateExpired,
    /// The server asks for a client certificate, or refused the one shown.
    ClientCertificate,
    /// Anything else (reset, closed, too many redirects).
    Other,
}

impl NetworkCause {
    /// True for a failure about the certificates of a server that speaks TLS: sending the
    /// request again changes nothing.
    pub fn is_certificate(self) -> bool {
        matches!(
            self,
            Self::Certificate
                | Self::UnknownIssuer
                | Self::SelfSignedCa
                | Self::CertificateName
                | Self::CertificateExpired
                | Self::ClientCertificate
        )
    }
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
    if let Some((problem, words)) = crate::tls::problem_in(e) {
        use crate::tls::TlsProblem as P;
        let cause = match problem {
            P::PlainHttp => NetworkCause::PlainHttp,
            P::UnknownIssuer => NetworkCause::UnknownIssuer,
            P::SelfSignedCa => NetworkCause::SelfSignedCa,
            P::WrongName => NetworkCause::CertificateName,
            P::Expired => NetworkCause::CertificateExpired,
            P::ClientCertificate => NetworkCause::ClientCertificate,
            P::Other => NetworkCause::Certificate,
        };
        return (cause, words);
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

/// Hosts no proxy is used for, whatever `NO_PROXY` says: plain HTTP is allowed to loopback
/// because the bytes stay on the machine, and a proxy would carry the token off it in
/// cleartext.
const LOOPBACK_HOSTS: &str = "localhost,127.0.0.0/8,::1";

/// The environment's proxies (`HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY`, `NO_PROXY`, upper
/// case first, as reqwest reads them), never for a loopback host. reqwest's own reading of
/// the environment honours only `NO_PROXY`, so it is switched off and replaced by this.
fn env_proxies(var: impl Fn(&str) -> Option<String>) -> Vec<reqwest::Proxy> {
    let first = |names: [&str; 2]| {
        names
            .into_iter()
            .find_map(|n| var(n).filter(|v| !v.trim().is_empty()))
    };
    let no = match first(["NO_PROXY", "no_proxy"]) {
        Some(list) => format!("{list},{LOOPBACK_HOSTS}"),
        None => LOOPBACK_HOSTS.to_string(),
    };
    let all = first(["ALL_PROXY", "all_proxy"]);
    // Under CGI a request's `Proxy:` header arrives as HTTP_PROXY: not a proxy to trust.
    let http = if var("REQUEST_METHOD").is_some() {
        None
    } else {
        first(["HTTP_PROXY", "http_proxy"])
    };
    let https = first(["HTTPS_PROXY", "https_proxy"]);
    let mut proxies = Vec::new();
    if let Some(p) = http.or_else(|| all.clone()) {
        proxies.extend(reqwest::Proxy::http(p).ok());
    }
    if let Some(p) = https.or(all) {
        proxies.extend(reqwest::Proxy::https(p).ok());
    }
    proxies
        .into_iter()
        .map(|p| p.no_proxy(reqwest::NoProxy::from_string(&no)))
        .collect()
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
        Self::with_env(opts, |k| std::env::var(k).ok())
    }

    /// [`ServiceClient::new`] with the proxy variables read through `var`.
    fn with_env(
        opts: ServiceOptions,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, NetError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(NetError::Setup(
                "no TLS crypto provider is installed".into(),
            ));
        }
        let mut builder = reqwest::Client::builder()
            .user_agent(opts.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(opts.connect_timeout)
            .no_proxy();
        for proxy in env_proxies(var) {
            builder = builder.proxy(proxy);
        }
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

    /// A listener standing in for a proxy: how many connections it was offered, each
    /// answered with a 502 so that the request ends.
    async fn recording_proxy() -> (
        std::net::SocketAddr,
        std::sync::Arc<std::sync::atomic::AtomicUsize>,
    ) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let _ = conn
                    .write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
                    .await;
            }
        });
        (addr, seen)
    }

    /// The environment's proxy never sees a request to loopback, which may be plain HTTP
    /// and carry a token; a request to another host does go through it, so the proxy is
    /// still honoured where it should be.
    #[tokio::test]
    async fn loopback_is_never_sent_through_a_proxy() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (proxy, seen) = recording_proxy().await;
        let target = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = target.local_addr().unwrap().port();
        drop(target);
        let proxy_url = format!("http://{proxy}");
        let opts = ServiceOptions {
            allow_http: true,
            timeout: Duration::from_secs(5),
            ..ServiceOptions::default()
        };
        let env = |k: &str| match k {
            "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY" => Some(proxy_url.clone()),
            _ => None,
        };
        let client = ServiceClient::with_env(opts, env).unwrap();
        for url in [
            format!("http://127.0.0.1:{port}/api/v2/signingCert"),
            format!("http://localhost:{port}/api/v2/signingCert"),
            format!("http://[::1]:{port}/api/v2/signingCert"),
        ] {
            let sent = client
                .send(
                    &url,
                    Some(("application/json", b"{}".to_vec())),
                    Some("tok"),
                    1024,
                )
                .await;
            assert!(
                matches!(sent, Err(NetError::Network { .. })),
                "{url}: {sent:?}"
            );
        }
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 0);

        let sent = client
            .send("http://fulcio.invalid/x", None, None, 1024)
            .await
            .unwrap();
        assert_eq!(sent.0, 502);
        assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// `NO_PROXY` still applies to other hosts, and loopback is added to it.
    #[test]
    fn proxies_come_from_the_environment_only_when_set() {
        assert!(env_proxies(|_| None).is_empty());
        let one = |k: &str| (k == "HTTPS_PROXY").then(|| "http://proxy.example:3128".to_string());
        assert_eq!(env_proxies(one).len(), 1);
        let cgi = |k: &str| match k {
            "HTTP_PROXY" => Some("http://attacker.example".to_string()),
            "REQUEST_METHOD" => Some("GET".to_string()),
            _ => None,
        };
        assert!(env_proxies(cgi).is_empty());
    }
}
