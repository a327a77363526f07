//! The webhook over HTTPS: `POST /mutate` and `POST /validate` answer AdmissionReviews
//! with [`answer`]; `GET /healthz` says the server is up; `GET /metrics` is
//! the Prometheus page, also on a plain-HTTP port of its own so that a scraper needs no CA.
//!
//! What a caller can do to the server is bounded: connections (a semaphore, and a share
//! of it per peer address), the TLS handshake and the request head (timeouts), a
//! connection with no request in flight (closed when idle), the body (a size limit and
//! the review's deadline), label values on the metrics page (fixed lists), the fields of
//! a log line. Nothing from one request is kept for another, except in the [`Check`] (a
//! cache, whose rules are its own).
//!
//! The certificate and key are read again when their files change (a Kubernetes Secret
//! mounted as a volume is replaced in place when cert-manager renews it); a pair that does
//! not load leaves the one in use, and says so.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
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
use tokio::sync::{Semaphore, watch};

use super::{
    AdmitOptions, Check, Endpoint, ImageRecord, Metrics, Record, Refusal, answer, bounded,
};
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
    /// Most body bytes held at once by the reviews being answered (one peer address may
    /// hold half); a memory limit needs about 16 times this, beside the cache.
    pub body_budget: usize,
    /// Most connections open at once; more wait to be accepted.
    pub max_connections: usize,
    /// Most connections open at once from one address; more are closed at once, so that
    /// one Pod cannot take every connection and keep the apiserver out.
    pub max_connections_per_peer: usize,
    /// Time for a TLS handshake, for a request's head, and for a connection to sit with
    /// no request in flight before it is closed.
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
            body_budget: 4 * MAX_BODY,
            max_connections: 1024,
            max_connections_per_peer: 128,
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
        /// Refusals not logged since the line before (at most 20
        /// lines a second are written; the metrics count them all).
        #[serde(skip_serializing_if = "is_zero")]
        suppressed: u64,
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
            budget: Budget::new(self.options.body_budget),
            quiet: Quiet::default(),
            metrics: Metrics::new(),
            options: self.options.clone(),
            log: self.log.clone(),
        });
        // Each connection holds a receiver: `true` asks it to close, and the sender sees
        // when the last one is gone.
        let (stop, _) = watch::channel(false);
        let permits = Arc::new(Semaphore::new(self.options.max_connections.max(1)));
        let peers = Arc::new(Peers::default());
        let mut http = auto::Builder::new(TokioExecutor::new());
        http.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.options.handshake_timeout);
        http.http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(256);
        let http = Arc::new(http);
        let idle = self.options.handshake_timeout;
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
            let Some(share) = peers.enter(peer.ip(), self.options.max_connections_per_peer) else {
                drop(tcp);
                state.refuse(
                    peer,
                    Refusal::TooManyConnections,
                    format!(
                        "{} connections from {} are open already",
                        self.options.max_connections_per_peer,
                        peer.ip()
                    ),
                );
                continue;
            };
            let _ = tcp.set_nodelay(true);
            let state = state.clone();
            let http = http.clone();
            let stopped = stop.subscribe();
            let busy = Arc::new(Busy::new());
            if plain {
                let service = hyper::service::service_fn({
                    let busy = busy.clone();
                    move |req| {
                        let working = Working::new(&busy);
                        let state = state.clone();
                        async move {
                            let _working = working;
                            Ok::<_, Infallible>(metrics_only(&req, &state))
                        }
                    }
                });
                tokio::spawn(async move {
                    let conn = std::pin::pin!(http.serve_connection(TokioIo::new(tcp), service));
                    drive(conn, |c| c.graceful_shutdown(), &busy, idle, stopped).await;
                    drop((permit, share));
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
                busy.touch();
                let service = hyper::service::service_fn({
                    let busy = busy.clone();
                    move |req| {
                        let working = Working::new(&busy);
                        let state = state.clone();
                        async move {
                            let _working = working;
                            Ok::<_, Infallible>(state.handle(req, peer).await)
                        }
                    }
                });
                let conn = std::pin::pin!(http.serve_connection(TokioIo::new(stream), service));
                drive(conn, |c| c.graceful_shutdown(), &busy, idle, stopped).await;
                drop((permit, share));
            });
        }
        (self.log)(&Event::Draining {
            connections: stop.receiver_count(),
        });
        let _ = stop.send(true);
        let _ = tokio::time::timeout(self.options.drain, stop.closed()).await;
    }
}

/// Time a closing connection is given, once no request is in flight, to send its last
/// response and end; a peer that does not read (and so never acknowledges an HTTP/2
/// GOAWAY's ping) is dropped after it.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Drives one connection to its end. It is closed gracefully (HTTP/2 GOAWAY, HTTP/1 after
/// the response in progress) when the server stops, or when no request has been in flight
/// for `idle`: a peer that completes a handshake and then says nothing, or holds an HTTP/2
/// connection open without using it, keeps no connection slot.
async fn drive<F: Future>(
    mut conn: Pin<&mut F>,
    close: impl Fn(Pin<&mut F>),
    busy: &Busy,
    idle: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut closed: Option<tokio::time::Instant> = None;
    loop {
        let wake = if busy.in_flight() > 0 {
            tokio::time::Instant::now() + idle
        } else if let Some(at) = closed {
            at.max(busy.idle_since()) + CLOSE_GRACE
        } else {
            busy.idle_since() + idle
        };
        tokio::select! {
            _ = conn.as_mut() => return,
            // An error is a sender gone: the server has returned, nothing will ask again.
            _ = stopped.wait_for(|s| *s), if closed.is_none() => {
                closed = Some(tokio::time::Instant::now());
                close(conn.as_mut());
            }
            () = tokio::time::sleep_until(wake) => {
                let now = tokio::time::Instant::now();
                if busy.in_flight() > 0 {
                    continue;
                }
                match closed {
                    Some(at) if at.max(busy.idle_since()) + CLOSE_GRACE <= now => return,
                    None if busy.idle_since() + idle <= now => {
                        closed = Some(now);
                        close(conn.as_mut());
                    }
                    _ => {}
                }
            }
        }
    }
}

/// The requests in flight on one connection, and when it was last busy.
struct Busy {
    in_flight: AtomicUsize,
    since: Mutex<tokio::time::Instant>,
}

impl Busy {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            since: Mutex::new(tokio::time::Instant::now()),
        }
    }

    fn touch(&self) {
        *self.since.lock().unwrap_or_else(|p| p.into_inner()) = tokio::time::Instant::now();
    }

    fn idle_since(&self) -> tokio::time::Instant {
        *self.since.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Acquire)
    }
}

/// A request in flight on a connection, counted out when dropped (also when cancelled).
struct Working(Arc<Busy>);

impl Working {
    fn new(busy: &Arc<Busy>) -> Self {
        busy.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(busy.clone())
    }
}

impl Drop for Working {
    fn drop(&mut self) {
        self.0.touch();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Connections open per peer address. Only addresses with a connection open have an
/// entry, so the map is no larger than the connection limit.
#[derive(Default)]
struct Peers(Mutex<HashMap<IpAddr, usize>>);

impl Peers {
    /// A share for one more connection from `ip`, unless it holds `max` already.
    fn enter(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Share> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= max.max(1) {
            return None;
        }
        *n += 1;
        Some(Share(self.clone(), ip))
    }
}

/// One connection of a peer, counted out when dropped.
struct Share(Arc<Peers>, IpAddr);

impl Drop for Share {
    fn drop(&mut self) {
        let mut open = self.0.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.1);
            }
        }
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
    budget: Budget,
    quiet: Quiet,
    metrics: Metrics,
    options: ServerOptions,
    log: Log,
}

/// Most `refused` lines logged a second. A flood of connections is refused in the accept
/// loop, and a line each would make the log (a pipe the container runtime may read slowly)
/// the thing that holds the apiserver's connections back.
const REFUSED_PER_SECOND: u32 = 20;

/// Counts `refused` lines in the current second, and those left out.
#[derive(Default)]
struct Quiet(Mutex<Option<(Instant, u32, u64)>>);

impl Quiet {
    /// Whether to log one more: `Some(refusals left out since the last line)`, or `None`.
    fn admit(&self) -> Option<u64> {
        let mut q = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let (since, logged, left_out) = q.get_or_insert((Instant::now(), 0, 0));
        if since.elapsed() >= Duration::from_secs(1) {
            *since = Instant::now();
            *logged = 0;
        }
        if *logged >= REFUSED_PER_SECOND {
            *left_out += 1;
            return None;
        }
        *logged += 1;
        Some(std::mem::take(left_out))
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Why a body was not read.
#[derive(Debug)]
enum Unread {
    TooLarge,
    Busy(&'static str),
    Broken(String),
}

/// Body bytes held by the reviews being answered, in KiB, in all and per peer address.
/// A body parsed is held until its answer is made, and takes up to about 16 times its
/// size in memory (`[0,0,…]`: a 32-byte value for each two bytes): without a bound, a few
/// hundred large bodies at once, on HTTP/2 streams or connections, exhaust any memory
/// limit. A peer may hold half of it, so one Pod cannot keep the apiserver's reviews out.
struct Budget {
    total: Semaphore,
    peers: Mutex<HashMap<IpAddr, u32>>,
    share: u32,
}

impl Budget {
    fn new(bytes: usize) -> Self {
        let kib = u32::try_from(bytes / 1024).unwrap_or(u32::MAX).max(1);
        Self {
            total: Semaphore::new(kib as usize),
            peers: Mutex::new(HashMap::new()),
            share: (kib / 2).max(1),
        }
    }
}

/// One body's share of the [`Budget`], given back when dropped (also when the read is
/// cancelled halfway, at its deadline).
struct Held<'a> {
    budget: &'a Budget,
    peer: IpAddr,
    /// Counted against the peer's share.
    counted: u32,
    /// Taken from the whole budget.
    taken: u32,
}

impl Held<'_> {
    /// Holds enough for a body of `bytes`: refused at once when the peer would hold more
    /// than its share; waits, until `until`, while the whole budget is taken.
    async fn grow(&mut self, bytes: usize, until: tokio::time::Instant) -> Result<(), Unread> {
        let want = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        if want > self.counted {
            let more = want - self.counted;
            let mut peers = self.budget.peers.lock().unwrap_or_else(|p| p.into_inner());
            let n = peers.get(&self.peer).copied().unwrap_or(0);
            if n.saturating_add(more) > self.budget.share {
                return Err(Unread::Busy(
                    "the peer's reviews in flight hold its share of the body budget",
                ));
            }
            peers.insert(self.peer, n + more);
            self.counted = want;
        }
        if want > self.taken {
            let more = want - self.taken;
            match tokio::time::timeout_at(until, self.budget.total.acquire_many(more)).await {
                Ok(Ok(p)) => {
                    p.forget();
                    self.taken = want;
                }
                _ => {
                    return Err(Unread::Busy(
                        "the body budget stayed taken by other reviews until the deadline",
                    ));
                }
            }
        }
        Ok(())
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.budget.total.add_permits(self.taken as usize);
        if self.counted > 0 {
            let mut peers = self.budget.peers.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(n) = peers.get_mut(&self.peer) {
                *n = n.saturating_sub(self.counted);
                if *n == 0 {
                    peers.remove(&self.peer);
                }
            }
        }
    }
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
    /// Reads a body of at most `max_body` bytes into `held`'s share of the budget.
    async fn read(
        &self,
        mut body: Incoming,
        held: &mut Held<'_>,
        until: tokio::time::Instant,
    ) -> Result<Bytes, Unread> {
        use hyper::body::Body as _;
        let max = self.options.max_body;
        // A length declared over the limit is refused before a byte is read.
        if usize::try_from(body.size_hint().lower()).unwrap_or(usize::MAX) > max {
            return Err(Unread::TooLarge);
        }
        let mut bytes = bytes::BytesMut::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| Unread::Broken(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if bytes.len() + data.len() > max {
                return Err(Unread::TooLarge);
            }
            held.grow(bytes.len() + data.len(), until).await?;
            bytes.extend_from_slice(&data);
        }
        Ok(bytes.freeze())
    }

    /// Refuses a request before a review is read: counted, logged, answered in plain text.
    fn turn_away(
        &self,
        peer: SocketAddr,
        why: Refusal,
        detail: String,
        status: StatusCode,
        text: impl Into<Bytes>,
    ) -> Reply {
        self.refuse(peer, why, detail);
        reply(status, "text/plain; charset=utf-8", text)
    }

    fn refuse(&self, peer: SocketAddr, why: Refusal, detail: String) {
        self.metrics.refused(why);
        let Some(suppressed) = self.quiet.admit() else {
            return;
        };
        (self.log)(&Event::Refused {
            peer,
            reason: why.name(),
            detail: bounded(&detail, 300),
            suppressed,
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
                return self.turn_away(
                    peer,
                    Refusal::Method,
                    format!("{} {}", req.method(), req.uri().path()),
                    StatusCode::METHOD_NOT_ALLOWED,
                    "GET only\n",
                );
            }
            other => {
                return self.turn_away(
                    peer,
                    Refusal::NotFound,
                    bounded(other, 200),
                    StatusCode::NOT_FOUND,
                    "POST an AdmissionReview to /mutate or /validate\n",
                );
            }
        };
        if req.method() != Method::POST {
            return self.turn_away(
                peer,
                Refusal::Method,
                format!("{} {}", req.method(), req.uri().path()),
                StatusCode::METHOD_NOT_ALLOWED,
                "POST an AdmissionReview here\n",
            );
        }
        let _in_flight = self.metrics.start();
        let mut options = self.options.admit.clone();
        if let Some(asked) = apiserver_timeout(req.uri().query()) {
            options.deadline = options.deadline.min(within(asked));
        }
        let until = tokio::time::Instant::now() + options.deadline;
        let mut held = Held {
            budget: &self.budget,
            peer: peer.ip(),
            counted: 0,
            taken: 0,
        };
        let body = match tokio::time::timeout_at(
            until,
            self.read(req.into_body(), &mut held, until),
        )
        .await
        {
            Ok(Ok(b)) => b,
            Ok(Err(Unread::Busy(why))) => {
                return self.turn_away(
                    peer,
                    Refusal::Busy,
                    why.into(),
                    StatusCode::SERVICE_UNAVAILABLE,
                    "too many reviews are being answered; retry\n",
                );
            }
            Ok(Err(Unread::TooLarge)) => {
                return self.turn_away(
                    peer,
                    Refusal::TooLarge,
                    format!("a body over {} bytes", self.options.max_body),
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!(
                        "an AdmissionReview is at most {} bytes\n",
                        self.options.max_body
                    ),
                );
            }
            Ok(Err(Unread::Broken(e))) => {
                return self.turn_away(
                    peer,
                    Refusal::BodyUnreadable,
                    e.to_string(),
                    StatusCode::BAD_REQUEST,
                    "the body could not be read\n",
                );
            }
            Err(_) => {
                return self.turn_away(
                    peer,
                    Refusal::BodyUnreadable,
                    "the body did not arrive within the deadline".into(),
                    StatusCode::REQUEST_TIMEOUT,
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
        // The parsed body is gone: its share of the budget goes back.
        drop((body, held));
        let took = started.elapsed();
        self.metrics.answered(endpoint, &answer.record, took);
        (self.log)(&Event::Answered {
            peer,
            status: answer.status,
            ms: (took.as_secs_f64() * 1e6).round() / 1e3,
            record: &logged(&answer.record),
        });
        reply(
            StatusCode::from_u16(answer.status).unwrap_or(StatusCode::OK),
            "application/json",
            answer.body,
        )
    }
}

/// The record as logged: every field taken from the request is bounded (Kubernetes' own
/// limits, with room), so a review with a megabyte uid or image name writes a line of a
/// few kilobytes per image, not megabytes. The reason is bounded where it is made.
fn logged(r: &Record) -> Record {
    Record {
        uid: bounded(&r.uid, 128),
        endpoint: r.endpoint,
        kind: bounded(&r.kind, 64),
        namespace: bounded(&r.namespace, 64),
        name: bounded(&r.name, 256),
        operation: bounded(&r.operation, 16),
        decision: r.decision,
        reason: r.reason.clone(),
        images: r
            .images
            .iter()
            .map(|i| ImageRecord {
                path: bounded(&i.path, 200),
                image: bounded(&i.image, 512),
                digest: i.digest.clone(),
                outcome: i.outcome,
            })
            .collect(),
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

    #[tokio::test]
    async fn the_body_budget_is_shared_and_given_back_also_when_a_read_is_cancelled() {
        let budget = Budget::new(64 * 1024);
        let held = |last: u8| Held {
            budget: &budget,
            peer: IpAddr::from([10, 0, 0, last]),
            counted: 0,
            taken: 0,
        };
        let later = tokio::time::Instant::now() + Duration::from_secs(30);
        let mut a = held(1);
        a.grow(10 * 1024, later).await.unwrap();
        a.grow(20 * 1024, later).await.unwrap();
        // The same peer is past its half at once, without waiting.
        let mut b = held(1);
        assert!(matches!(
            b.grow(20 * 1024, later).await,
            Err(Unread::Busy(_))
        ));
        let mut c = held(2);
        c.grow(30 * 1024, later).await.unwrap();
        // Another peer waits for what is left; cancelled while waiting, it still gives
        // back what it counted.
        let mut d = held(3);
        assert!(
            tokio::time::timeout(Duration::from_millis(50), d.grow(20 * 1024, later))
                .await
                .is_err()
        );
        assert!(matches!(
            d.grow(20 * 1024, tokio::time::Instant::now()).await,
            Err(Unread::Busy(_))
        ));
        drop((a, b, c, d));
        assert_eq!(budget.total.available_permits(), 64);
        assert!(budget.peers.lock().unwrap().is_empty());
    }

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
