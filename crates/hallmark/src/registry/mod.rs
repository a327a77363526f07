//! The one registry client: OCI distribution API over reqwest + rustls.
//!
//! Every manifest and blob read through it is hashed while read and rejected when the bytes
//! do not match the digest they were asked for (attack A3). Bodies are size-bounded,
//! redirects are bounded, and transient failures are retried with backoff.

pub mod auth;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, LOCATION, WWW_AUTHENTICATE,
};
use reqwest::{Method, StatusCode};

use crate::artifact::Blob;
use crate::digest::{Digest, DigestError, Hasher};
use crate::manifest::{self, Manifest};
use crate::reference::ImageRef;
use auth::{Challenge, Credential, Credentials};

/// Largest manifest accepted from a registry.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;
const MAX_REDIRECTS: usize = 5;
const MAX_TAG_PAGES: usize = 10_000;
const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";
/// Blobs larger than this are uploaded in chunks of this size (PATCH), each streamed.
pub const CHUNK_SIZE: u64 = 64 * 1024 * 1024;

/// Receives the number of bytes of a blob sent so far (restarting on a retry).
pub type Progress = Arc<dyn Fn(u64) + Send + Sync>;

/// How a blob came to be in the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum BlobPush {
    /// It was already there.
    Present,
    /// Mounted from another repository of the same registry, without transfer.
    Mounted,
    Uploaded,
}

/// A registry could not be reached or answered wrongly.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    #[error("cannot reach {url}: {reason}")]
    Network { url: String, reason: String },
    #[error("{url}: timed out after {secs}s")]
    Timeout { url: String, secs: u64 },
    #[error("{url}: registry answered {status}{message}")]
    Status {
        url: String,
        status: u16,
        message: String,
    },
    #[error("{registry}: authentication failed ({reason})")]
    Unauthorized { registry: String, reason: String },
    #[error("{url}: response larger than the {limit}-byte limit")]
    TooLarge { url: String, limit: u64 },
    #[error("{url}: {reason}")]
    Protocol { url: String, reason: String },
    #[error("registry served wrong bytes: {0}")]
    Digest(#[from] DigestError),
    #[error("cannot use --ca-file {path}: {reason}")]
    CaFile { path: PathBuf, reason: String },
}

/// Client settings; the defaults suit CI.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Plain HTTP for non-loopback registries (loopback always uses HTTP).
    pub allow_http: bool,
    pub ca_file: Option<PathBuf>,
    /// Used for every registry instead of the docker configuration.
    pub credentials: Option<Credentials>,
    /// Read `~/.docker/config.json` and credential helpers.
    pub use_docker_config: bool,
    /// Deadline for small requests (manifests, tokens, tag lists), and the longest a blob
    /// transfer may stall without a byte.
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// Attempts after the first on 429, 5xx and connection failures.
    pub retries: u32,
    /// First backoff delay; doubles per retry.
    pub backoff: Duration,
    pub user_agent: String,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            allow_http: false,
            ca_file: None,
            credentials: None,
            use_docker_config: true,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            retries: 4,
            backoff: Duration::from_millis(250),
            user_agent: concat!("hallmark/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }
}

/// Whether a request needs to read or write the repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
}

#[derive(Default)]
struct AuthState {
    /// Bearer tokens per `host scope`.
    tokens: HashMap<String, String>,
    /// Hosts that asked for Basic auth.
    basic_hosts: HashMap<String, bool>,
    /// Credentials looked up per registry (None = none configured).
    credentials: HashMap<String, Option<Credential>>,
}

/// A registry client; cheap to clone and share between tasks.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    opts: Arc<ClientOptions>,
    auth: Arc<Mutex<AuthState>>,
}

/// What a request carries.
#[derive(Clone)]
pub(crate) enum Body {
    Empty,
    Bytes(Bytes),
}

impl Client {
    pub fn new(opts: ClientOptions) -> Result<Client, RegistryError> {
        // reqwest is built without a bundled crypto provider; ring is ours.
        let _ = rustls::crypto::ring::default_provider().install_default();
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
            let pem = std::fs::read(path).map_err(|e| ca_err(e.to_string()))?;
            let certs =
                reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| ca_err(e.to_string()))?;
            if certs.is_empty() {
                return Err(ca_err("no certificate in file".into()));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| RegistryError::Network {
            url: "(client setup)".into(),
            reason: e.to_string(),
        })?;
        Ok(Client {
            http,
            opts: Arc::new(opts),
            auth: Arc::default(),
        })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.opts
    }

    fn base_url(&self, r: &ImageRef) -> String {
        // Loopback registries speak plain HTTP unless the user brought a CA for them.
        let loopback_http = r.is_loopback() && self.opts.ca_file.is_none();
        let scheme = if loopback_http || self.opts.allow_http {
            "http"
        } else {
            "https"
        };
        format!("{scheme}://{}", r.api_host())
    }

    fn repo_url(&self, r: &ImageRef, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base_url(r), r.repository())
    }

    async fn credential_for(&self, registry: &str) -> Option<Credential> {
        if let Some(c) = &self.opts.credentials {
            return Some(Credential::Basic(c.clone()));
        }
        if !self.opts.use_docker_config {
            return None;
        }
        if let Some(c) = self
            .auth
            .lock()
            .expect("auth lock")
            .credentials
            .get(registry)
        {
            return c.clone();
        }
        let reg = registry.to_string();
        let found = tokio::task::spawn_blocking(move || auth::lookup(&reg))
            .await
            .ok()
            .flatten();
        self.auth
            .lock()
            .expect("auth lock")
            .credentials
            .insert(registry.to_string(), found.clone());
        found
    }

    fn scope(r: &ImageRef, access: Access) -> String {
        match access {
            Access::Pull => format!("repository:{}:pull", r.repository()),
            Access::Push => format!("repository:{}:pull,push", r.repository()),
        }
    }

    async fn cached_authorization(&self, r: &ImageRef, scope: &str) -> Option<String> {
        let (token, basic) = {
            let st = self.auth.lock().expect("auth lock");
            (
                st.tokens.get(&format!("{} {scope}", r.registry())).cloned(),
                st.basic_hosts.contains_key(r.registry()),
            )
        };
        if let Some(t) = token {
            return Some(format!("Bearer {t}"));
        }
        if basic && let Some(Credential::Basic(c)) = self.credential_for(r.registry()).await {
            return Some(basic_header(&c));
        }
        None
    }

    /// Credentials go to the registry's own host only: an upload `Location` or a link that
    /// points elsewhere (object storage, or a hostile redirect) gets none.
    async fn authorization_for(&self, r: &ImageRef, scope: &str, url: &str) -> Option<String> {
        let origin = |u: &str| {
            url::Url::parse(u)
                .ok()
                .map(|u| (u.host_str().map(str::to_string), u.port_or_known_default()))
        };
        if origin(url)? == origin(&self.base_url(r))? {
            self.cached_authorization(r, scope).await
        } else {
            None
        }
    }

    /// Answers a 401 challenge.
    async fn authenticate(
        &self,
        r: &ImageRef,
        scope: &str,
        challenge: Option<&str>,
    ) -> Result<(), RegistryError> {
        let unauthorized = |reason: String| RegistryError::Unauthorized {
            registry: r.registry().to_string(),
            reason,
        };
        let challenge = challenge.and_then(auth::parse_challenge).ok_or_else(|| {
            unauthorized("401 without a supported WWW-Authenticate challenge".into())
        })?;
        let cred = self.credential_for(r.registry()).await;
        match challenge {
            Challenge::Basic => {
                if !matches!(cred, Some(Credential::Basic(_))) {
                    return Err(unauthorized(
                        "registry requires a username and password".into(),
                    ));
                }
                self.auth
                    .lock()
                    .expect("auth lock")
                    .basic_hosts
                    .insert(r.registry().to_string(), true);
                Ok(())
            }
            Challenge::Bearer { realm, service, .. } => {
                let token = self
                    .fetch_token(&realm, service.as_deref(), scope, cred.as_ref())
                    .await?;
                self.auth
                    .lock()
                    .expect("auth lock")
                    .tokens
                    .insert(format!("{} {scope}", r.registry()), token);
                Ok(())
            }
        }
    }

    async fn fetch_token(
        &self,
        realm: &str,
        service: Option<&str>,
        scope: &str,
        cred: Option<&Credential>,
    ) -> Result<String, RegistryError> {
        let mut url = url::Url::parse(realm).map_err(|e| RegistryError::Protocol {
            url: realm.to_string(),
            reason: format!("invalid token realm: {e}"),
        })?;
        if url.scheme() != "https" && !(self.opts.allow_http || is_loopback_url(&url)) {
            return Err(RegistryError::Protocol {
                url: realm.to_string(),
                reason: "token realm is not HTTPS; refusing to send credentials (use --allow-http to override)".into(),
            });
        }
        let req = match cred {
            Some(Credential::IdentityToken(refresh)) => {
                let mut form = url::form_urlencoded::Serializer::new(String::new());
                form.append_pair("grant_type", "refresh_token")
                    .append_pair("refresh_token", refresh)
                    .append_pair("scope", scope)
                    .append_pair("client_id", "hallmark");
                if let Some(s) = service {
                    form.append_pair("service", s);
                }
                self.http
                    .post(url.clone())
                    .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
                    .body(form.finish())
            }
            _ => {
                {
                    let mut q = url.query_pairs_mut();
                    if let Some(s) = service {
                        q.append_pair("service", s);
                    }
                    q.append_pair("scope", scope);
                }
                let req = self.http.get(url.clone());
                match cred {
                    Some(Credential::Basic(c)) => req.header(AUTHORIZATION, basic_header(c)),
                    _ => req,
                }
            }
        };
        let what = url.as_str().to_string();
        let resp = self.with_deadline(&what, req.send()).await?;
        let status = resp.status();
        let body = read_limited(resp, 1024 * 1024, &what, self.opts.timeout).await?;
        if !status.is_success() {
            return Err(RegistryError::Unauthorized {
                registry: url.host_str().unwrap_or_default().to_string(),
                reason: format!("token endpoint answered {status}{}", error_message(&body)),
            });
        }
        #[derive(serde::Deserialize)]
        struct TokenResponse {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                url: what.clone(),
                reason: format!("invalid token response: {e}"),
            })?;
        t.token
            .or(t.access_token)
            .ok_or_else(|| RegistryError::Protocol {
                url: what,
                reason: "token response has no token".into(),
            })
    }

    async fn with_deadline<T>(
        &self,
        url: &str,
        fut: impl Future<Output = Result<T, reqwest::Error>>,
    ) -> Result<T, RegistryError> {
        match tokio::time::timeout(self.opts.timeout, fut).await {
            Ok(r) => r.map_err(|e| network_error(url, &e)),
            Err(_) => Err(RegistryError::Timeout {
                url: url.to_string(),
                secs: self.opts.timeout.as_secs(),
            }),
        }
    }

    /// Exponential backoff before retry number `attempt` (1-based), capped at 10 s.
    fn backoff(&self, attempt: u32) -> Duration {
        (self.opts.backoff * 2u32.saturating_pow(attempt.saturating_sub(1)))
            .min(Duration::from_secs(10))
    }

    /// Sends one request with auth, retrying 429/5xx/connection failures with backoff.
    pub(crate) async fn send(
        &self,
        r: &ImageRef,
        access: Access,
        method: Method,
        url: &str,
        headers: HeaderMap,
        body: Body,
    ) -> Result<reqwest::Response, RegistryError> {
        let scope = Self::scope(r, access);
        let mut authed = false;
        let mut attempt = 0u32;
        loop {
            let mut req = self
                .http
                .request(method.clone(), url)
                .headers(headers.clone());
            if let Some(a) = self.authorization_for(r, &scope, url).await {
                req = req.header(AUTHORIZATION, a);
            }
            req = match &body {
                Body::Empty if method == Method::GET || method == Method::HEAD => req,
                Body::Empty => req.header(CONTENT_LENGTH, 0),
                Body::Bytes(b) => req.body(b.clone()),
            };
            let result = self.with_deadline(url, req.send()).await;
            let retryable = match &result {
                Ok(resp) => {
                    let s = resp.status();
                    s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error()
                }
                Err(RegistryError::Network { .. } | RegistryError::Timeout { .. }) => true,
                Err(_) => false,
            };
            if retryable && attempt < self.opts.retries {
                attempt += 1;
                tokio::time::sleep(self.backoff(attempt)).await;
                continue;
            }
            let resp = result?;
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
                let body = read_limited(resp, 64 * 1024, url, self.opts.timeout)
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

    async fn fail(&self, url: &str, resp: reqwest::Response) -> RegistryError {
        let status = resp.status().as_u16();
        let body = read_limited(resp, 64 * 1024, url, self.opts.timeout)
            .await
            .unwrap_or_default();
        RegistryError::Status {
            url: url.to_string(),
            status,
            message: error_message(&body),
        }
    }

    /// Fetches a manifest by tag or digest and hashes it. `None` when the registry has none.
    /// When `reference` is a digest, bytes that hash to anything else are an error.
    pub async fn get_manifest(
        &self,
        r: &ImageRef,
        reference: &str,
    ) -> Result<Option<Manifest>, RegistryError> {
        let url = self.repo_url(r, &format!("manifests/{reference}"));
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, manifest::ACCEPT.parse().expect("static header"));
        let resp = self
            .send(r, Access::Pull, Method::GET, &url, headers, Body::Empty)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string());
        let bytes = read_limited(resp, MAX_MANIFEST_BYTES, &url, self.opts.timeout).await?;
        let m = Manifest::from_bytes(bytes, content_type).map_err(|reason| {
            RegistryError::Protocol {
                url: url.clone(),
                reason,
            }
        })?;
        if let Ok(expected) = reference.parse::<Digest>() {
            m.digest
                .clone()
                .expect(&expected, &format!("manifest {}", r.pinned(&expected)))?;
        }
        Ok(Some(m))
    }

    /// Stores a manifest under a tag or its digest. Fails if the registry reports a
    /// different digest than the bytes we sent.
    pub async fn put_manifest(
        &self,
        r: &ImageRef,
        reference: &str,
        m: &Manifest,
    ) -> Result<(), RegistryError> {
        let url = self.repo_url(r, &format!("manifests/{reference}"));
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            m.media_type.parse().map_err(|_| RegistryError::Protocol {
                url: url.clone(),
                reason: format!("invalid media type {:?}", m.media_type),
            })?,
        );
        let resp = self
            .send(
                r,
                Access::Push,
                Method::PUT,
                &url,
                headers,
                Body::Bytes(m.bytes.clone()),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        if let Some(d) = header_digest(resp.headers()) {
            d.expect(&m.digest, &format!("manifest stored at {url}"))?;
        }
        Ok(())
    }

    /// Deletes a manifest by digest (registries must have deletion enabled).
    pub async fn delete_manifest(
        &self,
        r: &ImageRef,
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        let url = self.repo_url(r, &format!("manifests/{digest}"));
        let resp = self
            .send(
                r,
                Access::Push,
                Method::DELETE,
                &url,
                HeaderMap::new(),
                Body::Empty,
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        Ok(())
    }

    /// True when the repository already holds the blob.
    pub async fn blob_exists(&self, r: &ImageRef, digest: &Digest) -> Result<bool, RegistryError> {
        let url = self.repo_url(r, &format!("blobs/{digest}"));
        let resp = self
            .send(
                r,
                Access::Pull,
                Method::HEAD,
                &url,
                HeaderMap::new(),
                Body::Empty,
            )
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.fail(&url, resp).await),
        }
    }

    /// Reads a whole (small) blob, verified against its digest.
    pub async fn get_blob(
        &self,
        r: &ImageRef,
        digest: &Digest,
        limit: u64,
    ) -> Result<Option<Bytes>, RegistryError> {
        let url = self.repo_url(r, &format!("blobs/{digest}"));
        let resp = self
            .send(
                r,
                Access::Pull,
                Method::GET,
                &url,
                HeaderMap::new(),
                Body::Empty,
            )
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        let bytes = read_limited(resp, limit, &url, self.opts.timeout).await?;
        digest.verify(&bytes, &format!("blob {}", r.pinned(digest)))?;
        Ok(Some(bytes))
    }

    /// Uploads a blob held in memory (monolithic POST + PUT), unless already present.
    pub async fn put_blob(
        &self,
        r: &ImageRef,
        digest: &Digest,
        bytes: Bytes,
    ) -> Result<(), RegistryError> {
        digest.verify(&bytes, "blob to upload")?;
        if self.blob_exists(r, digest).await? {
            return Ok(());
        }
        let location = self.start_upload(r).await?;
        let url = with_query(&location, "digest", &digest.to_string());
        let mut headers = HeaderMap::new();
        headers.insert(
            CONTENT_TYPE,
            "application/octet-stream".parse().expect("static header"),
        );
        let resp = self
            .send(
                r,
                Access::Push,
                Method::PUT,
                &url,
                headers,
                Body::Bytes(bytes),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(self.fail(&url, resp).await);
        }
        if let Some(d) = header_digest(resp.headers()) {
            d.expect(digest, "uploaded blob")?;
        }
        Ok(())
    }

    /// POST to the upload endpoint (`query` may ask for a cross-repository mount).
    async fn post_upload(
        &self,
        r: &ImageRef,
        query: &str,
    ) -> Result<(String, reqwest::Response), RegistryError> {
        let url = self.repo_url(r, &format!("blobs/uploads/{query}"));
        let resp = self
            .send(
                r,
                Access::Push,
                Method::POST,
                &url,
                HeaderMap::new(),
                Body::Empty,
            )
            .await?;
        Ok((url, resp))
    }

    async fn start_upload(&self, r: &ImageRef) -> Result<String, RegistryError> {
        let (url, resp) = self.post_upload(r, "").await?;
        if resp.status() != StatusCode::ACCEPTED {
            return Err(self.fail(&url, resp).await);
        }
        self.location(&url, r, resp.headers())
    }

    fn location(
        &self,
        url: &str,
        r: &ImageRef,
        headers: &HeaderMap,
    ) -> Result<String, RegistryError> {
        let loc = headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| RegistryError::Protocol {
                url: url.to_string(),
                reason: "upload answer has no Location header".into(),
            })?;
        Ok(if loc.starts_with('/') {
            format!("{}{loc}", self.base_url(r))
        } else {
            loc.to_string()
        })
    }

    /// Streams `len` bytes of a blob from `start` (a Range request when partial). The
    /// stream fails if the registry sends more than asked; the caller hashes what it gets.
    pub async fn blob_stream(
        &self,
        r: &ImageRef,
        digest: &Digest,
        size: u64,
        start: u64,
        len: u64,
    ) -> Result<crate::artifact::ByteStream, RegistryError> {
        use futures_util::StreamExt;
        let url = self.repo_url(r, &format!("blobs/{digest}"));
        let partial = start > 0 || len < size;
        let mut headers = HeaderMap::new();
        if partial {
            headers.insert(
                reqwest::header::RANGE,
                format!("bytes={start}-{}", start + len - 1)
                    .parse()
                    .expect("range header"),
            );
        }
        let resp = self
            .send(r, Access::Pull, Method::GET, &url, headers, Body::Empty)
            .await?;
        let expected = match resp.status() {
            StatusCode::OK if !partial || start == 0 => size,
            StatusCode::PARTIAL_CONTENT if partial => len,
            StatusCode::OK => {
                return Err(RegistryError::Protocol {
                    url,
                    reason: "registry ignored the Range header".into(),
                });
            }
            _ => return Err(self.fail(&url, resp).await),
        };
        if let Some(n) = resp.content_length()
            && n != expected
        {
            return Err(RegistryError::Protocol {
                url,
                reason: format!("blob {digest} is {n} bytes, the manifest says {expected}"),
            });
        }
        let mut seen = 0u64;
        let stream = resp.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            seen += chunk.len() as u64;
            if seen > len {
                return Err(std::io::Error::other(format!(
                    "{url}: more bytes than the {len} declared"
                )));
            }
            Ok(chunk)
        });
        Ok(stream.boxed())
    }

    /// Uploads a blob from disk or memory, streamed and hashed on the way, unless the
    /// repository has it or can mount it from one of `mount_from` (same registry).
    /// `progress` receives the number of bytes sent so far in the current attempt.
    pub async fn push_blob(
        &self,
        r: &ImageRef,
        blob: &Blob,
        mount_from: &[String],
        progress: Progress,
    ) -> Result<BlobPush, RegistryError> {
        if self.blob_exists(r, &blob.digest).await? {
            return Ok(BlobPush::Present);
        }
        let mut attempt = 0;
        loop {
            match self
                .upload_once(r, blob, mount_from, progress.clone())
                .await
            {
                Err(e) if attempt < self.opts.retries && is_transient(&e) => {
                    attempt += 1;
                    tokio::time::sleep(self.backoff(attempt)).await;
                }
                other => return other,
            }
        }
    }

    async fn upload_once(
        &self,
        r: &ImageRef,
        blob: &Blob,
        mount_from: &[String],
        progress: Progress,
    ) -> Result<BlobPush, RegistryError> {
        let mut location = None;
        for from in mount_from.iter().filter(|f| f.as_str() != r.repository()) {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("mount", &blob.digest.to_string())
                .append_pair("from", from)
                .finish();
            let (url, resp) = self.post_upload(r, &format!("?{q}")).await?;
            match resp.status() {
                StatusCode::CREATED => return Ok(BlobPush::Mounted),
                // The registry could not mount and opened an ordinary upload instead.
                StatusCode::ACCEPTED => {
                    location = Some(self.location(&url, r, resp.headers())?);
                    break;
                }
                _ => continue,
            }
        }
        let mut location = match location {
            Some(l) => l,
            None => self.start_upload(r).await?,
        };
        let hasher = Arc::new(Mutex::new(Hasher::new(blob.digest.algorithm())));
        let sent = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let body = |start: u64, len: u64| {
            let hasher = hasher.clone();
            let sent = sent.clone();
            let progress = progress.clone();
            async move {
                use futures_util::StreamExt;
                let stream =
                    blob.stream_range(start, len)
                        .await
                        .map_err(|e| RegistryError::Protocol {
                            url: "(local blob)".into(),
                            reason: format!("cannot read blob {}: {e}", blob.digest),
                        })?;
                let stream = stream.map(move |chunk| {
                    if let Ok(c) = &chunk {
                        hasher.lock().expect("hasher lock").update(c);
                        let total = sent
                            .fetch_add(c.len() as u64, std::sync::atomic::Ordering::Relaxed)
                            + c.len() as u64;
                        progress(total);
                    }
                    chunk
                });
                Ok::<_, RegistryError>(reqwest::Body::wrap_stream(stream))
            }
        };
        let octets = |len: u64| {
            let mut h = HeaderMap::new();
            h.insert(
                CONTENT_TYPE,
                "application/octet-stream".parse().expect("static header"),
            );
            h.insert(CONTENT_LENGTH, len.into());
            h
        };
        let resp = if blob.size <= CHUNK_SIZE {
            // Monolithic: the bytes go with the closing PUT.
            let final_url = with_query(&location, "digest", &blob.digest.to_string());
            let body = body(0, blob.size).await?;
            let resp = self
                .send_stream(r, Method::PUT, &final_url, octets(blob.size), body)
                .await?;
            self.check_streamed(&hasher, blob, &location, r).await?;
            resp
        } else {
            let mut start = 0;
            while start < blob.size {
                let len = CHUNK_SIZE.min(blob.size - start);
                let mut headers = octets(len);
                let range = format!("{start}-{}", start + len - 1);
                headers.insert("content-range", range.parse().expect("range header"));
                let body = body(start, len).await?;
                let resp = self
                    .send_stream(r, Method::PATCH, &location, headers, body)
                    .await?;
                if resp.status() != StatusCode::ACCEPTED {
                    return Err(self.fail(&location, resp).await);
                }
                location = self.location(&location, r, resp.headers())?;
                start += len;
            }
            self.check_streamed(&hasher, blob, &location, r).await?;
            let final_url = with_query(&location, "digest", &blob.digest.to_string());
            let empty = reqwest::Body::from(Vec::new());
            self.send_stream(r, Method::PUT, &final_url, octets(0), empty)
                .await?
        };
        if resp.status() != StatusCode::CREATED {
            return Err(self.fail(&location, resp).await);
        }
        if let Some(d) = header_digest(resp.headers()) {
            d.expect(&blob.digest, "uploaded blob")?;
        }
        Ok(BlobPush::Uploaded)
    }

    /// After the bytes were sent: they must hash to the digest the manifest names, or the
    /// upload is cancelled so that nothing half-right is committed.
    async fn check_streamed(
        &self,
        hasher: &Arc<Mutex<Hasher>>,
        blob: &Blob,
        location: &str,
        r: &ImageRef,
    ) -> Result<(), RegistryError> {
        let h = std::mem::replace(
            &mut *hasher.lock().expect("hasher lock"),
            Hasher::new(blob.digest.algorithm()),
        );
        if h.len() != blob.size {
            self.cancel_upload(r, location).await;
            return Err(RegistryError::Protocol {
                url: location.to_string(),
                reason: format!(
                    "blob {} changed while reading: {} bytes instead of {}",
                    blob.digest,
                    h.len(),
                    blob.size
                ),
            });
        }
        let actual = h.finish();
        if actual != blob.digest {
            self.cancel_upload(r, location).await;
            actual.expect(&blob.digest, &format!("local blob {}", blob.digest))?;
        }
        Ok(())
    }

    /// Abandons an upload session; best effort, the registry expires it anyway.
    async fn cancel_upload(&self, r: &ImageRef, location: &str) {
        let _ = self
            .send(
                r,
                Access::Push,
                Method::DELETE,
                location,
                HeaderMap::new(),
                Body::Empty,
            )
            .await;
    }

    /// One request with a streamed body: no automatic retry (the stream is consumed), and
    /// authorisation must already be cached by an earlier request of the same scope.
    async fn send_stream(
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
        let mut req = self.http.request(method, url).headers(headers).body(body);
        if let Some(a) = self.authorization_for(r, &scope, url).await {
            req = req.header(AUTHORIZATION, a);
        }
        // A registry that stops reading must not hang the upload: allow the usual timeout
        // plus the body's length at a floor of 256 KiB/s.
        let deadline = self.opts.timeout + Duration::from_secs(content_length / (256 * 1024));
        let resp = match tokio::time::timeout(deadline, req.send()).await {
            Ok(r) => r.map_err(|e| network_error(url, &e))?,
            Err(_) => {
                return Err(RegistryError::Timeout {
                    url: url.to_string(),
                    secs: deadline.as_secs(),
                });
            }
        };
        if resp.status().is_server_error() || resp.status() == StatusCode::TOO_MANY_REQUESTS {
            return Err(self.fail(url, resp).await);
        }
        Ok(resp)
    }

    /// Lists every tag of the repository, following `Link` pagination.
    pub async fn list_tags(&self, r: &ImageRef) -> Result<Vec<String>, RegistryError> {
        self.list_tags_paged(r, 1000).await
    }

    /// [`Client::list_tags`] asking for `page` tags per request.
    pub async fn list_tags_paged(
        &self,
        r: &ImageRef,
        page: usize,
    ) -> Result<Vec<String>, RegistryError> {
        #[derive(serde::Deserialize)]
        struct TagList {
            tags: Option<Vec<String>>,
        }
        let mut tags = Vec::new();
        let mut url = self.repo_url(r, &format!("tags/list?n={page}"));
        for _ in 0..MAX_TAG_PAGES {
            let resp = self
                .send(
                    r,
                    Access::Pull,
                    Method::GET,
                    &url,
                    HeaderMap::new(),
                    Body::Empty,
                )
                .await?;
            if resp.status() == StatusCode::NOT_FOUND {
                return Ok(tags);
            }
            if !resp.status().is_success() {
                return Err(self.fail(&url, resp).await);
            }
            let next = resp
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(|l| {
                    l.split_once('<')
                        .and_then(|(_, rest)| rest.split_once('>'))
                        .map(|(u, _)| u.to_string())
                });
            let body = read_limited(resp, MAX_MANIFEST_BYTES, &url, self.opts.timeout).await?;
            let page: TagList =
                serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
                    url: url.clone(),
                    reason: format!("invalid tag list: {e}"),
                })?;
            tags.extend(page.tags.unwrap_or_default());
            match next {
                Some(n) if n.starts_with('/') => url = format!("{}{n}", self.base_url(r)),
                Some(n) => url = n,
                None => return Ok(tags),
            }
        }
        Err(RegistryError::Protocol {
            url,
            reason: format!("tag list longer than {MAX_TAG_PAGES} pages"),
        })
    }
}

/// Failures worth another attempt.
fn is_transient(e: &RegistryError) -> bool {
    match e {
        RegistryError::Network { .. } | RegistryError::Timeout { .. } => true,
        RegistryError::Status { status, .. } => *status == 429 || *status >= 500,
        _ => false,
    }
}

fn is_loopback_url(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

fn basic_header(c: &Credentials) -> String {
    use base64ct::{Base64, Encoding};
    format!(
        "Basic {}",
        Base64::encode_string(format!("{}:{}", c.username, c.password).as_bytes())
    )
}

fn with_query(url: &str, key: &str, value: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    let value: String = url::form_urlencoded::byte_serialize(value.as_bytes()).collect();
    format!("{url}{sep}{key}={value}")
}

fn header_digest(h: &HeaderMap) -> Option<Digest> {
    h.get(DOCKER_CONTENT_DIGEST)?.to_str().ok()?.parse().ok()
}

fn network_error(url: &str, e: &reqwest::Error) -> RegistryError {
    use std::error::Error as _;
    let mut reason = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        reason = format!("{reason}: {s}");
        src = s.source();
    }
    if e.is_redirect() {
        reason = format!("too many redirects (limit {MAX_REDIRECTS})");
    }
    RegistryError::Network {
        url: url.to_string(),
        reason,
    }
}

/// The registry's own error text (`{"errors":[{"code","message"}]}`), for messages.
fn error_message(body: &[u8]) -> String {
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
                })
                .collect();
            format!(" ({})", parts.join("; "))
        }
        _ => String::new(),
    }
}

/// Reads a body to the end, refusing more than `limit` bytes and a stall or drip past
/// `deadline` in total.
async fn read_limited(
    mut resp: reqwest::Response,
    limit: u64,
    url: &str,
    deadline: Duration,
) -> Result<Bytes, RegistryError> {
    let too_large = || RegistryError::TooLarge {
        url: url.to_string(),
        limit,
    };
    if resp.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let read = async {
        let mut buf = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| network_error(url, &e))? {
            if buf.len() as u64 + chunk.len() as u64 > limit {
                return Err(too_large());
            }
            buf.extend_from_slice(&chunk);
        }
        Ok(Bytes::from(buf))
    };
    tokio::time::timeout(deadline, read)
        .await
        .unwrap_or_else(|_| {
            Err(RegistryError::Timeout {
                url: url.to_string(),
                secs: deadline.as_secs(),
            })
        })
}
