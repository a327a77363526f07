//! The client and its options.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{NetworkCause, RegistryError};

/// Longest wait for a loopback registry to answer a TLS handshake; an HTTPS server answers
/// at once, a plain HTTP one either at once or not at all.
const PROBE_DEADLINE: Duration = Duration::from_secs(3);
use super::auth::{AuthState, Credentials};
use super::http::MAX_REDIRECTS;
use crate::reference::ImageRef;

/// A loopback host's scheme, found out by the first request that needs it.
type SchemeCell = tokio::sync::OnceCell<&'static str>;

/// Client settings; the defaults suit CI.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Plain HTTP for every registry. Without it, a loopback registry is tried over HTTPS
    /// first and spoken to in plain HTTP when it answers a TLS handshake in plain HTTP, as
    /// docker does for localhost (unless `ca_file` is given: then HTTPS only); every other
    /// registry is HTTPS only.
    pub allow_http: bool,
    /// Extra CA certificates (PEM) to trust, in addition to the system's and the host's
    /// `certs.d` directory. A server certificate found as it is in this file is trusted
    /// even when it is a CA certificate (a self-signed certificate made with
    /// `openssl req -x509`), as docker, skopeo and cosign do.
    pub ca_file: Option<PathBuf>,
    /// Accept any certificate and host name over HTTPS (skopeo's `--tls-verify=false`).
    /// Signatures still decide what is trusted; credentials and availability do not.
    pub accept_invalid_certs: bool,
    /// Used for every registry instead of the docker configuration.
    pub credentials: Option<Credentials>,
    /// Read `~/.docker/config.json` and credential helpers.
    pub use_docker_config: bool,
    /// Deadline for small requests (manifests, tokens, tag lists), and the longest a blob
    /// transfer may stall without a byte.
    pub timeout: Duration,
    /// Deadline for opening a connection.
    pub connect_timeout: Duration,
    /// Attempts after the first on 429, 5xx and connection failures.
    pub retries: u32,
    /// First backoff delay; doubles per retry.
    pub backoff: Duration,
    /// Blobs larger than this are uploaded in ranged PATCHes of this size, each streamed.
    pub chunk_size: u64,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// How long a writer of a tag that other signers change too (a `.sig` manifest, a
    /// fallback referrers index) waits before checking that its write stood: at least
    /// `store::SETTLE_MIN` (shorter is taken as that), or zero to switch the check off.
    pub settle: Duration,
    /// Receives one line per request, retry and authentication step (never credentials).
    pub trace: Option<Trace>,
    /// Also trace every request's and answer's headers, credentials redacted (`-vv`).
    pub trace_headers: bool,
}

/// Where the client reports what it does, for `-v`.
#[derive(Clone)]
pub struct Trace(pub Arc<dyn Fn(&str) + Send + Sync>);

impl std::fmt::Debug for Trace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Trace")
    }
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            allow_http: false,
            ca_file: None,
            accept_invalid_certs: false,
            credentials: None,
            use_docker_config: true,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: 4,
            backoff: Duration::from_millis(250),
            chunk_size: 64 * 1024 * 1024,
            user_agent: concat!("hallmark/", env!("CARGO_PKG_VERSION")).to_string(),
            settle: Duration::from_secs(2),
            trace: None,
            trace_headers: false,
        }
    }
}

/// A registry client; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Client {
    pub(super) http: reqwest::Client,
    /// Clients for hosts with their own certificates (`certs.d`), by `host[:port]`.
    hosts: Arc<Mutex<HashMap<String, reqwest::Client>>>,
    /// Per loopback `host[:port]`: `http` or `https`, once found out.
    schemes: Arc<Mutex<HashMap<String, Arc<SchemeCell>>>>,
    pub(super) opts: Arc<ClientOptions>,
    pub(super) auth: Arc<Mutex<AuthState>>,
    pub(super) in_flight: Arc<Mutex<InFlight>>,
    pub(super) sent: Arc<std::sync::atomic::AtomicU64>,
}

/// Requests under way, so that a command that runs out of time can say what it was
/// waiting for.
#[derive(Default)]
pub(super) struct InFlight {
    next: u64,
    requests: std::collections::BTreeMap<u64, String>,
}

/// Removes its request from the in-flight list when dropped (the request ended, one way
/// or the other).
pub(super) struct InFlightGuard {
    set: Arc<Mutex<InFlight>>,
    id: u64,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.set
            .lock()
            .expect("in-flight lock")
            .requests
            .remove(&self.id);
    }
}

impl Client {
    /// A client with these options. TLS uses the process-wide rustls crypto provider, which
    /// the application installs (the `hallmark` binary installs ring's); a library does not
    /// choose one for its users. Without one, this is [`RegistryError::NoCryptoProvider`].
    pub fn new(opts: ClientOptions) -> Result<Self, RegistryError> {
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            return Err(RegistryError::NoCryptoProvider);
        }
        let mut tls = crate::tls::HostTls::default();
        if let Some(path) = &opts.ca_file {
            tls.roots = crate::tls::pem_certificates(path).map_err(|p| RegistryError::CaFile {
                path: path.clone(),
                reason: p.reason,
            })?;
        }
        let http = Self::build(&opts, &tls).map_err(|reason| match &opts.ca_file {
            Some(path) => RegistryError::CaFile {
                path: path.clone(),
                reason,
            },
            None => RegistryError::Setup(reason),
        })?;
        Ok(Self {
            http,
            hosts: Arc::default(),
            schemes: Arc::default(),
            opts: Arc::new(opts),
            auth: Arc::default(),
            in_flight: Arc::default(),
            sent: Arc::default(),
        })
    }

    /// An HTTP client with these options, trusting and showing what `tls` holds.
    fn build(opts: &ClientOptions, tls: &crate::tls::HostTls) -> Result<reqwest::Client, String> {
        let mut builder = reqwest::Client::builder()
            .user_agent(opts.user_agent.clone())
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .connect_timeout(opts.connect_timeout)
            .read_timeout(opts.timeout);
        if opts.accept_invalid_certs {
            builder = builder
                .tls_danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        } else if !tls.is_empty() {
            builder = builder.tls_backend_preconfigured(crate::tls::client_config(tls)?);
        }
        builder.build().map_err(|e| {
            crate::tls::problem_in(&e).map_or_else(|| crate::net::classify(&e).1, |p| p.1)
        })
    }

    /// The HTTP client for `url`'s host: the default one, or one with the certificates of
    /// the host's `certs.d` directory (`HOST[:PORT]`, as the reference writes it), made
    /// once per host.
    pub(super) fn http_for(&self, url: &str) -> Result<reqwest::Client, RegistryError> {
        let Some(host) = url::Url::parse(url).ok().and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        }) else {
            return Ok(self.http.clone());
        };
        if self.opts.accept_invalid_certs {
            return Ok(self.http.clone());
        }
        if let Some(c) = self.hosts.lock().expect("hosts lock").get(&host) {
            return Ok(c.clone());
        }
        let mut tls = crate::tls::HostTls::default();
        let bases = crate::tls::certs_d_bases(|k| std::env::var(k).ok());
        for base in &bases {
            crate::tls::add_certs_d(&mut tls, base, &host).map_err(|p| {
                RegistryError::CertsDir {
                    host: host.clone(),
                    path: p.path,
                    reason: p.reason,
                }
            })?;
        }
        let client = if tls.is_empty() {
            self.http.clone()
        } else {
            self.trace(|| {
                let files: Vec<String> =
                    tls.files.iter().map(|f| f.display().to_string()).collect();
                format!("{host}: certificates from {}", files.join(", "))
            });
            if let Some(path) = &self.opts.ca_file {
                tls.roots
                    .extend(crate::tls::pem_certificates(path).map_err(|p| {
                        RegistryError::CaFile {
                            path: path.clone(),
                            reason: p.reason,
                        }
                    })?);
            }
            Self::build(&self.opts, &tls).map_err(|reason| RegistryError::CertsDir {
                host: host.clone(),
                path: bases.first().map(|b| b.join(&host)).unwrap_or_default(),
                reason,
            })?
        };
        self.hosts
            .lock()
            .expect("hosts lock")
            .insert(host, client.clone());
        Ok(client)
    }

    /// How many requests this client (and its clones) sent, retries included.
    pub(crate) fn requests_sent(&self) -> u64 {
        self.sent.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The options it was made with.
    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    /// `METHOD url` of every request under way, oldest first.
    pub fn pending(&self) -> Vec<String> {
        self.in_flight
            .lock()
            .expect("in-flight lock")
            .requests
            .values()
            .cloned()
            .collect()
    }

    /// Records a request as under way until the guard is dropped.
    pub(super) fn track(&self, what: String) -> InFlightGuard {
        let mut f = self.in_flight.lock().expect("in-flight lock");
        let id = f.next;
        f.next += 1;
        f.requests.insert(id, what);
        InFlightGuard {
            set: self.in_flight.clone(),
            id,
        }
    }

    /// `scheme://host[:port]` of a registry's API.
    pub(super) async fn base_url(&self, r: &ImageRef) -> String {
        format!("{}://{}", self.scheme(r).await, r.api_host())
    }

    /// `http` or `https` for a registry: HTTPS, or plain HTTP when opted in; a loopback
    /// registry is asked once per run, by a TLS handshake, whether it speaks HTTPS, and
    /// only one that answers the handshake in plain HTTP is spoken to in plain HTTP (a
    /// certificate that is not trusted never sends the request in the clear).
    async fn scheme(&self, r: &ImageRef) -> &'static str {
        if self.opts.allow_http {
            return "http";
        }
        // A CA given on the command line says the registry speaks TLS: no fallback.
        if !r.is_loopback() || self.opts.ca_file.is_some() {
            return "https";
        }
        let host = r.api_host().to_string();
        let cell = self
            .schemes
            .lock()
            .expect("schemes lock")
            .entry(host.clone())
            .or_default()
            .clone();
        let found = cell
            .get_or_try_init(|| async {
                let url = format!("https://{host}/v2/");
                let http = self.http_for(&url).map_err(|_| ())?;
                let started = std::time::Instant::now();
                let probe = tokio::time::timeout(PROBE_DEADLINE, http.get(&url).send()).await;
                let scheme = match probe {
                    Ok(Ok(_)) => Ok("https"),
                    Ok(Err(e)) => match crate::net::classify(&e).0 {
                        NetworkCause::PlainHttp => Ok("http"),
                        // Nothing listens (yet): ask again next time.
                        NetworkCause::Refused | NetworkCause::UnknownHost => Err(()),
                        // A certificate refused, or a failure after the handshake (a
                        // client certificate refused arrives then): it speaks TLS.
                        _ => Ok("https"),
                    },
                    // No answer in time: plain HTTP only if the server says nothing to a
                    // TLS handshake either (an HTTPS registry slow to answer, behind a
                    // tunnel say, must not get the requests in the clear).
                    Err(_) if crate::tls::answers_tls(&host, PROBE_DEADLINE).await => Ok("https"),
                    Err(_) => Ok("http"),
                };
                self.trace(|| match scheme {
                    Ok(s) => format!(
                        "{host} is a loopback registry: it speaks {}, found in {} ms",
                        if s == "http" { "plain HTTP" } else { "HTTPS" },
                        started.elapsed().as_millis()
                    ),
                    Err(()) => format!("{host} is a loopback registry: no answer to HTTPS yet"),
                });
                scheme
            })
            .await;
        // Until it answers, what loopback was before HTTPS was tried first.
        found.copied().unwrap_or("http")
    }

    /// Reports a step to the trace, if there is one; the line is made only then.
    pub(super) fn trace(&self, line: impl FnOnce() -> String) {
        if let Some(t) = &self.opts.trace {
            (t.0)(&line());
        }
    }

    /// `…/v2/<repository>/<tail>`.
    pub(super) async fn repo_url(&self, r: &ImageRef, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base_url(r).await, r.repository())
    }
}

#[cfg(test)]
mod provider_tests {
    use super::*;

    /// The library never installs a TLS crypto provider for its users: without one a client
    /// is a typed error, not a panic deep in the TLS stack. (No test of this crate installs
    /// one; if one ever does, the client is built instead.)
    #[test]
    fn a_client_needs_the_application_to_choose_a_crypto_provider() {
        let built = Client::new(ClientOptions::default());
        match rustls::crypto::CryptoProvider::get_default() {
            None => assert!(matches!(built, Err(RegistryError::NoCryptoProvider))),
            Some(_) => assert!(built.is_ok()),
        }
    }
}
