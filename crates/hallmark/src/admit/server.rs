//! The webhook over HTTPS: `POST /mutate` and `POST /validate` answer AdmissionReviews
//! with [`answer`](super::answer); `GET /healthz` says the server is up; `GET /metrics` is
//! the Prometheus page, also on a plain-HTTP port of its own so that a scraper needs no CA.
//!
//! What a caller can do to the server is bounded: connections (a semaphore), the TLS
//! handshake and the request head (timeouts), the body (a size limit and the review's
//! deadline), label values on the metrics page (fixed lists). Nothing from one request is
//! kept for another, except in the [`Check`] (a cache, whose rules are its own).
//!
//! The certificate and key are read again when their files change (a Kubernetes Secret
//! mounted as a volume is replaced in place when cert-manager renews it); a pair that does
//! not load leaves the one in use, and says so.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::{AdmitOptions, Check, Endpoint, Metrics, Record, Refusal, answer};
use crate::ErrorClass;

/// Largest request body: the apiserver caps an object near 3 MiB, and a review of an
/// UPDATE carries it twice.
pub const MAX_BODY: usize = 8 * 1024 * 1024;

/// How often the certificate files are looked at again.
const RELOAD_EVERY: Duration = Duration::from_secs(2);

/// How the server listens.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// The HTTPS address of the webhook.
    pub listen: SocketAddr,
    /// A plain-HTTP address for `/metrics` and `/healthz` alone, if any.
    pub metrics_listen: Option<SocketAddr>,
    /// How reviews are answered; its deadline is shortened to the apiserver's `?timeout=`.
    pub admit: AdmitOptions,
    /// Largest request body.
    pub max_body: usize,
    /// Most connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// Time for a TLS handshake, and for a request's head.
    pub handshake_timeout: Duration,
    /// On shutdown, how long requests being answered may take to finish.
    pub drain: Duration,
}

impl ServerOptions {
    /// Defaults around `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        Self {
            listen,
            metrics_listen: None,
            admit: AdmitOptions::default(),
            max_body: MAX_BODY,
            max_connections: 1024,
            handshake_timeout: Duration::from_secs(10),
            drain: Duration::from_secs(10),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A certificate or key file is unreadable or holds nothing usable.
    #[error("{path}: {reason}")]
    Identity {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The key does not go with the certificate.
    #[error("the private key in {key} is not the key of the certificate in {cert}")]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the configuration.
    #[error("cannot set up TLS: {0}")]
    Tls(String),
    /// No rustls crypto provider is installed for the process.
    #[error("no TLS crypto provider is installed")]
    NoCryptoProvider,
    /// The address cannot be listened on.
    #[error("cannot listen on {address}: {source}")]
    Bind {
        /// The address.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

impl ServeError {
    /// Files and flags the user gave are wrong (usage); an address taken is unavailable.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::Identity { .. }
            | Self::Mismatch { .. }
            | Self::Tls(_)
            | Self::NoCryptoProvider => ErrorClass::Usage,
            Self::Bind { .. } => ErrorClass::Unavailable,
        }
    }
}

/// Something worth a log line.
#[derive(Debug, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event<'a> {
    /// A review answered.
    Answered {
        /// Who asked.
        peer: SocketAddr,
        /// The HTTP status sent.
        status: u16,
        /// From the body read to the answer.
        ms: f64,
        /// What was decided, image by image.
        #[serde(flatten)]
        record: &'a Record,
    },
    /// A request refused before a review was read, or a failed TLS handshake.
    Refused {
        /// Who.
        peer: SocketAddr,
        /// Why, in a word.
        reason: &'static str,
        /// Why, in a sentence.
        detail: String,
    },
    /// New certificate files are served from now on.
    CertificateReloaded {
        /// The certificate file.
        path: &'a Path,
    },
    /// Changed certificate files did not load; the ones before are still served.
    CertificateKept {
        /// Why they did not load.
        reason: String,
    },
    /// Shutting down: no new connections; requests being answered may finish.
    Draining {
        /// Connections still open.
        connections: usize,
    },
}

/// Where log events go.
pub type Log = Arc<dyn Fn(&Event<'_>) + Send + Sync>;

/// The certificate and key files, read again when they change.
pub struct Identity {
    cert: PathBuf,
    key: PathBuf,
    state: Mutex<Loaded>,
    log: Log,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

struct Loaded {
    key: Arc<CertifiedKey>,
    stamp: Stamp,
    checked: Instant,
}

/// What tells a file changed: a Secret volume swaps a symlink, so size or time moves.
type Stamp = [(Option<SystemTime>, u64); 2];

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let one = |p: &Path| match std::fs::metadata(p) {
        Ok(m) => (m.modified().ok(), m.len()),
        Err(_) => (None, 0),
    };
    [one(cert), one(key)]
}

impl Identity {
    /// Reads the PEM certificate chain at `cert` and the PEM private key at `key`.
    pub fn load(cert: &Path, key: &Path, log: Log) -> Result<Self, ServeError> {
        let stamp = stamp(cert, key);
        let certified = certified_key(cert, key)?;
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            state: Mutex::new(Loaded {
                key: Arc::new(certified),
                stamp,
                checked: Instant::now(),
            }),
            log,
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.checked.elapsed() >= RELOAD_EVERY {
            state.checked = Instant::now();
            let now = stamp(&self.cert, &self.key);
            if now != state.stamp {
                // Whatever happens, this stamp is not tried again: a broken pair is said once.
                state.stamp = now;
                match certified_key(&self.cert, &self.key) {
                    Ok(k) => {
                        state.key = Arc::new(k);
                        (self.log)(&Event::CertificateReloaded { path: &self.cert });
                    }
                    Err(e) => (self.log)(&Event::CertificateKept {
                        reason: e.to_string(),
                    }),
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for Identity {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// Largest certificate or key file read.
const MAX_PEM: u64 = 1024 * 1024;

fn certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, ServeError> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or(ServeError::NoCryptoProvider)?;
    let bad = |path: &Path, reason: String| ServeError::Identity {
        path: path.to_owned(),
        reason,
    };
    let cert_pem = crate::fsio::read_input(cert, MAX_PEM).map_err(|e| bad(cert, e.to_string()))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| bad(cert, format!("not a PEM certificate chain ({e})")))?;
    if chain.is_empty() {
        return Err(bad(
            cert,
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        ));
    }
    let key_pem = crate::fsio::read_input(key, MAX_PEM).map_err(|e| bad(key, e.to_string()))?;
    let der = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| bad(key, format!("holds no PEM private key ({e})")))?;
    let signing = provider
        .key_provider
        .load_private_key(der)
        .map_err(|e| bad(key, format!("unusable private key ({e})")))?;
    let certified = CertifiedKey::new(chain, signing);
    certified.keys_match().map_err(|_| ServeError::Mismatch {
        cert: cert.to_owned(),
        key: key.to_owned(),
    })?;
    Ok(certified)
}

/// A bound server, not yet answering.
pub struct Server {
    options: ServerOptions,
    listener: TcpListener,
    metrics_listener: Option<TcpListener>,
    tls: tokio_rustls::TlsAcceptor,
    log: Log,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Listens on the addresses of `options`, serving `identity`'s certificate.
    pub async fn bind(
        options: ServerOptions,
        identity: Identity,
        log: Log,
    ) -> Result<Self, ServeError> {
        let provider = rustls::crypto::CryptoProvider::get_default()
            .cloned()
            .ok_or(ServeError::NoCryptoProvider)?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ServeError::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(identity));
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        let bind = |address: SocketAddr| async move {
            TcpListener::bind(address)
                .await
                .map_err(|source| ServeError::Bind { address, source })
        };
        let listener = bind(options.listen).await?;
        let metrics_listener = match options.metrics_listen {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        Ok(Self {
            options,
            listener,
            metrics_listener,
            tls: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            log,
        })
    }

    /// Where the webhook listens (the port chosen, when 0 was asked).
    pub fn address(&self) -> SocketAddr {
        self.listener.local_addr().unwrap_or(self.options.listen)
    }

    /// Where the plain-HTTP metrics listen, if they do.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    /// Answers until `shutdown` completes, then lets requests being answered finish (at
    /// most the drain time) and returns.
    pub async fn run<C>(self, check: Arc<C>, shutdown: impl Future<Output = ()>)
    where
        C: Check + Send + 'static,
    {
        let state = Arc::new(State {
            check,
            metrics: Metrics::new(),
            options: self.options.clone(),
            log: self.log.clone(),
        });
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let permits = Arc::new(Semaphore::new(self.options.max_connections.max(1)));
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.options.handshake_timeout);
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(256);
        let http = Arc::new(http);
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                () = &mut shutdown => break,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (tcp, peer, plain) = tokio::select! {
                () = &mut shutdown => break,
                a = self.listener.accept() => match a {
                    Ok((t, p)) => (t, p, false),
                    // A connection reset before it was accepted, or out of descriptors for
                    // a moment: the next accept may well work.
                    Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue }
                },
                a = accept_maybe(self.metrics_listener.as_ref()) => match a {
                    Ok((t, p)) => (t, p, true),
                    Err(_) => { tokio::time::sleep(Duration::from_millis(10)).await; continue }
                },
            };
            let _ = tcp.set_nodelay(true);
            let state = state.clone();
            let http = http.clone();
            let watcher = graceful.watcher();
            if plain {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(metrics_only(&req, &state)) }
                });
                tokio::spawn(async move {
                    let conn = http.serve_connection(TokioIo::new(tcp), service);
                    let _ = watcher.watch(conn.into_owned()).await;
                    drop(permit);
                });
                continue;
            }
            let tls = self.tls.clone();
            let timeout = self.options.handshake_timeout;
            tokio::spawn(async move {
                let stream = match tokio::time::timeout(timeout, tls.accept(tcp)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(e)) => {
                        let detail =
                            match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                                Some(rustls::Error::InvalidMessage(
                                    rustls::InvalidMessage::InvalidContentType,
                                )) => "not TLS (plain HTTP sent to the HTTPS port?)".to_string(),
                                _ => e.to_string(),
                            };
                        return state.refuse(peer, Refusal::TlsHandshake, detail);
                    }
                    Err(_) => {
                        return state.refuse(
                            peer,
                            Refusal::TlsHandshake,
                            format!("no TLS handshake within {}s", timeout.as_secs()),
                        );
                    }
                };
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(state.handle(req, peer).await) }
                });
                let conn = http.serve_connection(TokioIo::new(stream), service);
                let _ = watcher.watch(conn.into_owned()).await;
                drop(permit);
            });
        }
        (self.log)(&Event::Draining {
            connections: graceful.count(),
        });
        let _ = tokio::time::timeout(self.options.drain, graceful.shutdown()).await;
    }
}

async fn accept_maybe(
    listener: Option<&TcpListener>,
) -> std::io::Result<(tokio::net::TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

struct State<C> {
    check: Arc<C>,
    metrics: Metrics,
    options: ServerOptions,
    log: Log,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    r
}

fn health<C: Check>(req: &Request<Incoming>, state: &State<C>) -> Option<Reply> {
    let ok = matches!(*req.method(), Method::GET | Method::HEAD);
    match req.uri().path() {
        "/healthz" | "/readyz" | "/livez" if ok => {
            Some(reply(StatusCode::OK, "text/plain; charset=utf-8", "ok\n"))
        }
        "/metrics" if ok => Some(reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            state.metrics.render(state.check.stats()),
        )),
        _ => None,
    }
}

fn metrics_only<C: Check>(req: &Request<Incoming>, state: &State<C>) -> Reply {
    health(req, state).unwrap_or_else(|| {
        reply(
            StatusCode::NOT_FOUND,
            "text/plain; charset=utf-8",
            "only /metrics and /healthz here\n",
        )
    })
}

impl<C: Check + Send + 'static> State<C> {
    fn refuse(&self, peer: SocketAddr, why: Refusal, detail: String) {
        self.metrics.refused(why);
        (self.log)(&Event::Refused {
            peer,
            reason: why.name(),
            detail: super::bounded(&detail, 300),
        });
    }

    async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Reply {
        if let Some(r) = health(&req, self) {
            return r;
        }
        let endpoint = match req.uri().path() {
            "/mutate" => Endpoint::Mutate,
            "/validate" => Endpoint::Validate,
            "/healthz" | "/readyz" | "/livez" | "/metrics" => {
                self.refuse(
                    peer,
                    Refusal::Method,
                    format!("{} {}", req.method(), req.uri().path()),
                );
                return reply(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "text/plain; charset=utf-8",
                    "GET only\n",
                );
            }
            other => {
                self.refuse(peer, Refusal::NotFound, super::bounded(other, 200));
                return reply(
                    StatusCode::NOT_FOUND,
                    "text/plain; charset=utf-8",
                    "POST an AdmissionReview to /mutate or /validate\n",
                );
            }
        };
        if req.method() != Method::POST {
            self.refuse(
                peer,
                Refusal::Method,
                format!("{} {}", req.method(), req.uri().path()),
            );
            return reply(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain; charset=utf-8",
                "POST an AdmissionReview here\n",
            );
        }
        let _in_flight = self.metrics.start();
        let mut options = self.options.admit.clone();
        if let Some(asked) = apiserver_timeout(req.uri().query()) {
            options.deadline = options.deadline.min(within(asked));
        }
        let until = tokio::time::Instant::now() + options.deadline;
        let body = Limited::new(req.into_body(), self.options.max_body);
        let body = match tokio::time::timeout_at(until, body.collect()).await {
            Ok(Ok(b)) => b.to_bytes(),
            Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
                self.refuse(
                    peer,
                    Refusal::TooLarge,
                    format!("a body over {} bytes", self.options.max_body),
                );
                return reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "text/plain; charset=utf-8",
                    format!(
                        "an AdmissionReview is at most {} bytes\n",
                        self.options.max_body
                    ),
                );
            }
            Ok(Err(e)) => {
                self.refuse(peer, Refusal::BodyUnreadable, e.to_string());
                return reply(
                    StatusCode::BAD_REQUEST,
                    "text/plain; charset=utf-8",
                    "the body could not be read\n",
                );
            }
            Err(_) => {
                self.refuse(
                    peer,
                    Refusal::BodyUnreadable,
                    "the body did not arrive within the deadline".into(),
                );
                return reply(
                    StatusCode::REQUEST_TIMEOUT,
                    "text/plain; charset=utf-8",
                    "the body did not arrive in time\n",
                );
            }
        };
        let started = Instant::now();
        // The review's own deadline counts from its body, not from the connection.
        options.deadline = until
            .saturating_duration_since(tokio::time::Instant::now())
            .max(Duration::from_millis(1));
        let answer = answer(&body, endpoint, &*self.check, &options).await;
        let took = started.elapsed();
        self.metrics.answered(endpoint, &answer.record, took);
        (self.log)(&Event::Answered {
            peer,
            status: answer.status,
            ms: (took.as_secs_f64() * 1e6).round() / 1e3,
            record: &answer.record,
        });
        reply(
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
            "application/json",
            answer.body,
        )
    }
}

/// The apiserver's `?timeout=10s` (a Go duration), when given and sensible.
fn apiserver_timeout(query: Option<&str>) -> Option<Duration> {
    let value = query?
        .split('&')
        .find_map(|kv| kv.strip_prefix("timeout="))?;
    let d = go_duration(value)?;
    (!d.is_zero()).then_some(d)
}

/// The time left to decide in when the apiserver gives up after `asked`: a second less,
/// so the denial it shows is hallmark's reason, not its own timeout; for very short
/// timeouts, four fifths.
fn within(asked: Duration) -> Duration {
    if asked > Duration::from_secs(2) {
        asked - Duration::from_secs(1)
    } else {
        asked * 4 / 5
    }
}

/// Go's `time.Duration` text: `10s`, `1m0s`, `1.5s`, `500ms`, `2h3m4.5s`.
fn go_duration(text: &str) -> Option<Duration> {
    if text.is_empty() || text.len() > 40 {
        return None;
    }
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(go_duration("1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(go_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(go_duration("2h3m4s"), Some(Duration::from_secs(7384)));
        for bad in [
            "",
            "10",
            "s",
            "10x",
            "1e9s",
            "-1s",
            "10s10",
            &"9".repeat(50),
        ] {
            assert_eq!(go_duration(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_apiserver_timeout_leaves_time_to_answer() {
        assert_eq!(
            apiserver_timeout(Some("timeout=10s")).map(within),
            Some(Duration::from_secs(9))
        );
        assert_eq!(
            apiserver_timeout(Some("x=1&timeout=30s")).map(within),
            Some(Duration::from_secs(29))
        );
        assert_eq!(
            apiserver_timeout(Some("timeout=1s")).map(within),
            Some(Duration::from_millis(800))
        );
        assert_eq!(apiserver_timeout(Some("timeout=0s")), None);
        assert_eq!(apiserver_timeout(Some("timeout=soon")), None);
        assert_eq!(apiserver_timeout(None), None);
    }
}
