//! The client and its options.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::RegistryError;
use super::auth::{AuthState, Credentials};
use super::http::MAX_REDIRECTS;
use crate::reference::ImageRef;

/// Client settings; the defaults suit CI.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Plain HTTP for non-loopback registries (loopback always uses HTTP).
    pub allow_http: bool,
    /// Extra CA certificates (PEM) to trust; also switches loopback registries to HTTPS.
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
        }
    }
}

/// A registry client; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Client {
    pub(super) http: reqwest::Client,
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
        let mut builder = reqwest::Client::builder()
            .user_agent(opts.user_agent.clone())
            .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
            .connect_timeout(opts.connect_timeout)
            .read_timeout(opts.timeout);
        if let Some(path) = &opts.ca_file {
            let ca_err = |reason: String| RegistryError::CaFile {
                path: path.clone(),
                reason,
            };
            let certs = crate::net::ca_certificates(path).map_err(ca_err)?;
            builder = builder.tls_certs_merge(certs);
        }
        if opts.accept_invalid_certs {
            builder = builder
                .tls_danger_accept_invalid_certs(true)
                .danger_accept_invalid_hostnames(true);
        }
        let http = builder.build().map_err(RegistryError::Setup)?;
        Ok(Self {
            http,
            opts: Arc::new(opts),
            auth: Arc::default(),
            in_flight: Arc::default(),
            sent: Arc::default(),
        })
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
    pub(super) fn base_url(&self, r: &ImageRef) -> String {
        // Loopback registries speak plain HTTP unless the user brought a CA for them.
        let loopback_http = r.is_loopback() && self.opts.ca_file.is_none();
        let scheme = if loopback_http || self.opts.allow_http {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", r.api_host())
    }

    /// Reports a step to the trace, if there is one; the line is made only then.
    pub(super) fn trace(&self, line: impl FnOnce() -> String) {
        if let Some(t) = &self.opts.trace {
            (t.0)(&line());
        }
    }

    /// `…/v2/<repository>/<tail>`.
    pub(super) fn repo_url(&self, r: &ImageRef, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base_url(r), r.repository())
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
