//! TLS towards registries: the certificates a host is trusted by (a CA file, and the
//! host's `certs.d` directory as docker and skopeo read it), the client certificate shown
//! to it, a verifier that also trusts a server certificate found as it is in one of those
//! files, whether a server answers a TLS handshake at all, and what a failed handshake
//! was, in words. It uses only `fsio`.
//!
//! Docker's documented recipe for a self-signed registry certificate makes a CA:TRUE
//! certificate and serves it as the server's own. webpki refuses that (a CA is not an end
//! entity) even when the user hands over that very certificate; Go's crypto/x509, which
//! docker, skopeo and cosign use, accepts a leaf that is itself in the given roots. The
//! verifier here does the same, for that exact certificate only: the name, the validity
//! and the handshake signature are still checked, and any other CA:TRUE leaf is refused.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{AlertDescription, CertificateError, DigitallySignedStruct, SignatureScheme};

/// Where per-host certificates are looked for, in this order, as skopeo and docker do.
pub const CERTS_D: [&str; 2] = ["/etc/containers/certs.d", "/etc/docker/certs.d"];

/// Replaces [`CERTS_D`]: a `:`-separated list of directories (empty: none).
pub const CERTS_D_ENV: &str = "HALLMARK_CERTS_D";

/// What a host is trusted by and shown, besides the system's roots.
#[derive(Default)]
pub(crate) struct HostTls {
    /// Extra trust anchors; a server certificate among them is also trusted as it is.
    pub(crate) roots: Vec<CertificateDer<'static>>,
    /// The client certificate chain and its key.
    pub(crate) identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    /// The files these came from, for the trace.
    pub(crate) files: Vec<PathBuf>,
}

impl HostTls {
    /// True when nothing is added to the defaults.
    pub(crate) fn is_empty(&self) -> bool {
        self.roots.is_empty() && self.identity.is_none()
    }
}

/// A file or directory of certificates that cannot be used, and why.
#[derive(Debug)]
pub(crate) struct FileProblem {
    pub(crate) path: PathBuf,
    pub(crate) reason: String,
}

fn problem(path: &Path, reason: impl Into<String>) -> FileProblem {
    FileProblem {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, FileProblem> {
    crate::fsio::read_input(path, crate::fsio::limits::CA_FILE)
        .map_err(|e| problem(path, e.reason()))
}

/// A PEM parsing error in words: its Display shows the markers as Debug byte lists.
fn pem_words(e: &rustls::pki_types::pem::Error) -> String {
    use rustls::pki_types::pem::Error as E;
    match e {
        E::MissingSectionEnd { .. } => "a section has no END line: the file is cut short".into(),
        E::IllegalSectionStart { .. } => "a BEGIN line is malformed".into(),
        E::Base64Decode(_) => "the base64 between BEGIN and END is damaged".into(),
        E::Io(io) => format!("cannot be read: {io}"),
        E::NoItemsFound => "nothing in PEM form".into(),
        _ => "damaged".into(),
    }
}

/// The certificates of a PEM file.
pub(crate) fn pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, FileProblem> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            problem(
                path,
                format!("not a PEM certificate file ({})", pem_words(&e)),
            )
        })?;
    if certs.is_empty() {
        return Err(problem(path, "no certificate in file"));
    }
    Ok(certs)
}

/// The certs.d base directories: [`CERTS_D_ENV`] when set, else [`CERTS_D`].
pub(crate) fn certs_d_bases(var: impl Fn(&str) -> Option<String>) -> Vec<PathBuf> {
    match var(CERTS_D_ENV) {
        Some(list) => list
            .split(':')
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .collect(),
        None => CERTS_D.iter().map(PathBuf::from).collect(),
    }
}

/// Adds what `base/HOST[:PORT]/` holds for `host` (as the reference writes it): every
/// `*.crt` as a CA, and the first `NAME.cert` with its `NAME.key` as the client identity.
/// A `.cert` without its `.key`, or the other way round, is an error, as with docker.
pub(crate) fn add_certs_d(tls: &mut HostTls, base: &Path, host: &str) -> Result<(), FileProblem> {
    // The URL parser takes `.` and `..` as host names, and a registry's `Location` may
    // name one: joined to the base, they would read the base or its parent as a host's.
    let mut parts = Path::new(host).components();
    if !matches!(
        (parts.next(), parts.next()),
        (Some(std::path::Component::Normal(_)), None)
    ) {
        return Ok(());
    }
    let dir = base.join(host);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(problem(&dir, e.to_string())),
    };
    let mut names: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    for path in &names {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or_default();
        match ext {
            "crt" => {
                tls.roots.extend(pem_certificates(path)?);
                tls.files.push(path.clone());
            }
            "cert" => {
                let key = path.with_extension("key");
                if !names.contains(&key) {
                    return Err(problem(
                        path,
                        format!("its key {} is missing", key.display()),
                    ));
                }
                if tls.identity.is_none() {
                    let chain = pem_certificates(path)?;
                    let der = PrivateKeyDer::from_pem_slice(&read(&key)?).map_err(|e| {
                        problem(&key, format!("not a PEM private key ({})", pem_words(&e)))
                    })?;
                    tls.identity = Some((chain, der));
                    tls.files.push(path.clone());
                    tls.files.push(key);
                }
            }
            "key" if !names.contains(&path.with_extension("cert")) => {
                return Err(problem(
                    path,
                    format!(
                        "its certificate {} is missing",
                        path.with_extension("cert").display()
                    ),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// A rustls client configuration trusting the system's roots and `tls`'s, showing its
/// client certificate if it has one.
pub(crate) fn client_config(tls: &HostTls) -> Result<rustls::ClientConfig, String> {
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .ok_or_else(|| "no TLS crypto provider is installed".to_string())?;
    let inner = rustls_platform_verifier::Verifier::new_with_extra_roots(
        tls.roots.iter().cloned(),
        provider.clone(),
    )
    .map_err(|e| format!("cannot load the certificates: {}", words(&e)))?;
    let verifier = PinningVerifier {
        inner,
        pinned: tls.roots.clone(),
    };
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| words(&e))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match &tls.identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain.clone(), key.clone_key())
            .map_err(|e| format!("the client certificate cannot be used: {}", words(&e)))?,
        None => builder.with_no_client_auth(),
    };
    // What reqwest offers by itself with HTTP/2 built in.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The system's verifier, and a server certificate found byte for byte among the given
/// roots trusted as it is when the only fault found is that it is a CA.
#[derive(Debug)]
struct PinningVerifier {
    inner: rustls_platform_verifier::Verifier,
    pinned: Vec<CertificateDer<'static>>,
}

fn is_ca_used_as_end_entity(e: &rustls::Error) -> bool {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::Other(o)) => matches!(
            o.0.downcast_ref::<webpki::Error>(),
            Some(webpki::Error::CaUsedAsEndEntity)
        ),
        _ => false,
    }
}

/// False when a certificate lists extended key usages and serving TLS is not among them
/// (Go's crypto/x509 refuses such a certificate even when it is itself a root).
fn for_tls_servers(der: &[u8]) -> bool {
    use const_oid::db::rfc5280::{ANY_EXTENDED_KEY_USAGE, ID_KP_SERVER_AUTH};
    use der::Decode;
    use x509_cert::ext::pkix::ExtendedKeyUsage;
    let Ok(cert) = x509_cert::Certificate::from_der(der) else {
        return false;
    };
    match cert.tbs_certificate().get_extension::<ExtendedKeyUsage>() {
        Ok(None) => true,
        Ok(Some((_, eku))) => eku
            .0
            .iter()
            .any(|o| *o == ID_KP_SERVER_AUTH || *o == ANY_EXTENDED_KEY_USAGE),
        Err(_) => false,
    }
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        match verdict {
            Err(e)
                if is_ca_used_as_end_entity(&e)
                    && self
                        .pinned
                        .iter()
                        .any(|p| p.as_ref() == end_entity.as_ref()) =>
            {
                // webpki checks the validity period before the basic constraints, so a
                // CA used as an end entity is within its validity (an expired one is
                // refused for that); the name is checked only after the chain, so here.
                let parsed = rustls::server::ParsedCertificate::try_from(end_entity)?;
                rustls::client::verify_server_name(&parsed, server_name)?;
                // webpki checks the extended key usage after the basic constraints, so
                // it was not checked either.
                if !for_tls_servers(end_entity) {
                    return Err(rustls::Error::InvalidCertificate(
                        CertificateError::InvalidPurpose,
                    ));
                }
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Whether the server at `host` (`HOST[:PORT]`, 443 by default) answers a TLS
/// ClientHello with a TLS record (a handshake or an alert) within `deadline`. Only the
/// first byte of the answer is read: this says whether it speaks TLS, not whether it is
/// trusted.
pub(crate) async fn answers_tls(host: &str, deadline: std::time::Duration) -> bool {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let attempt = async {
        let u = url::Url::parse(&format!("https://{host}/")).ok()?;
        let port = u.port_or_known_default()?;
        let (name, addr) = match u.host()? {
            url::Host::Domain(d) => (ServerName::try_from(d.to_string()).ok()?, d.to_string()),
            url::Host::Ipv4(ip) => (ServerName::IpAddress(ip.into()), ip.to_string()),
            url::Host::Ipv6(ip) => (ServerName::IpAddress(ip.into()), ip.to_string()),
        };
        let config = client_config(&HostTls::default()).ok()?;
        let mut conn = rustls::ClientConnection::new(Arc::new(config), name).ok()?;
        let mut hello = Vec::new();
        conn.write_tls(&mut hello).ok()?;
        let mut stream = tokio::net::TcpStream::connect((addr.as_str(), port))
            .await
            .ok()?;
        stream.write_all(&hello).await.ok()?;
        let mut first = [0u8; 1];
        stream.read_exact(&mut first).await.ok()?;
        // Content types 22 (handshake) and 21 (alert).
        Some(first[0] == 22 || first[0] == 21)
    };
    matches!(
        tokio::time::timeout(deadline, attempt).await,
        Ok(Some(true))
    )
}

/// What went wrong in a TLS handshake, for a message and a hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsProblem {
    /// The server answered in plain HTTP.
    PlainHttp,
    /// Signed by an authority not trusted here.
    UnknownIssuer,
    /// A CA certificate served as the server's own, not among the given roots.
    SelfSignedCa,
    /// Not issued for the name connected to.
    WrongName,
    /// Expired, or not valid yet.
    Expired,
    /// The server wants a client certificate, or refused the one shown.
    ClientCertificate,
    /// Anything else about the certificate or the handshake.
    Other,
}

/// The TLS failure somewhere in `e`'s chain, in words, if there is one.
pub(crate) fn problem_in(e: &(dyn std::error::Error + 'static)) -> Option<(TlsProblem, String)> {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(t) = err.downcast_ref::<rustls::Error>() {
            return Some(describe(t));
        }
        // io::Error's `source` skips the error it wraps: that is where rustls's is.
        let wrapped: Option<&(dyn std::error::Error + 'static)> = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| {
                let inner: &(dyn std::error::Error + 'static) = inner;
                inner
            });
        cur = wrapped.or_else(|| err.source());
    }
    // An HTTP/2 connection error keeps the TLS alert that ended it only as text.
    let mut cur = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        if let Some((_, name)) = text.split_once("received fatal alert: ") {
            let name: String = name
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            let alert = ALERTS
                .iter()
                .find(|a| format!("{a:?}") == name)
                .copied()
                .unwrap_or(AlertDescription::HandshakeFailure);
            return Some(describe(&rustls::Error::AlertReceived(alert)));
        }
        cur = err.source();
    }
    None
}

/// The alerts a server sends about the client's certificate, and a few others worth
/// naming.
const ALERTS: [AlertDescription; 10] = [
    AlertDescription::CertificateRequired,
    AlertDescription::BadCertificate,
    AlertDescription::UnknownCA,
    AlertDescription::CertificateUnknown,
    AlertDescription::UnsupportedCertificate,
    AlertDescription::CertificateExpired,
    AlertDescription::AccessDenied,
    AlertDescription::HandshakeFailure,
    AlertDescription::ProtocolVersion,
    AlertDescription::UnrecognisedName,
];

fn when(t: UnixTime) -> String {
    humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(t.as_secs()),
    )
    .to_string()
}

/// A rustls error in words, never its Debug form.
fn words(e: &rustls::Error) -> String {
    describe(e).1
}

fn describe(e: &rustls::Error) -> (TlsProblem, String) {
    use TlsProblem as P;
    match e {
        rustls::Error::InvalidMessage(_) => (
            P::PlainHttp,
            "the server answered a TLS handshake in plain HTTP: it does not serve HTTPS".into(),
        ),
        rustls::Error::InvalidCertificate(c) => match c {
            CertificateError::UnknownIssuer => (
                P::UnknownIssuer,
                "its certificate is signed by an authority this machine does not trust".into(),
            ),
            CertificateError::NotValidForNameContext {
                expected,
                presented,
            } => (
                P::WrongName,
                format!(
                    "its certificate is for {}, not {}",
                    if presented.is_empty() {
                        "no name at all".to_string()
                    } else {
                        presented
                            .iter()
                            .map(|n| bare_name(n))
                            .collect::<Vec<_>>()
                            .join(", ")
                    },
                    expected.to_str()
                ),
            ),
            CertificateError::NotValidForName => (
                P::WrongName,
                "its certificate is not for the name connected to".into(),
            ),
            CertificateError::ExpiredContext { not_after, .. } => (
                P::Expired,
                format!("its certificate expired at {}", when(*not_after)),
            ),
            CertificateError::Expired => (P::Expired, "its certificate has expired".into()),
            CertificateError::NotValidYetContext { not_before, .. } => (
                P::Expired,
                format!("its certificate is not valid before {}", when(*not_before)),
            ),
            CertificateError::NotValidYet => {
                (P::Expired, "its certificate is not valid yet".into())
            }
            CertificateError::Other(_) if is_ca_used_as_end_entity(e) => (
                P::SelfSignedCa,
                "its certificate is a CA certificate (CA:TRUE) serving as the server's own, and not one of the certificates given for this registry".into(),
            ),
            // An authority of the issuer's name is trusted, but did not sign it: as far
            // as trust goes, an unknown issuer.
            CertificateError::BadSignature => (
                P::UnknownIssuer,
                "its certificate is not signed by the authority of that name trusted here".into(),
            ),
            CertificateError::Revoked => (P::Other, "its certificate is revoked".into()),
            CertificateError::BadEncoding => {
                (P::Other, "its certificate does not parse".into())
            }
            CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => (
                P::Other,
                "its certificate is not for TLS servers (extended key usage)".into(),
            ),
            _ => (P::Other, "its certificate is not valid".into()),
        },
        rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired
            | AlertDescription::BadCertificate
            | AlertDescription::UnknownCA
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateExpired
            | AlertDescription::AccessDenied,
        ) => (
            P::ClientCertificate,
            "the registry asks for a client certificate it trusts, and none was shown".into(),
        ),
        rustls::Error::AlertReceived(a) => (
            P::Other,
            format!("the registry ended the TLS handshake ({})", alert_words(*a)),
        ),
        rustls::Error::NoCertificatesPresented => {
            (P::Other, "the registry presented no certificate".into())
        }
        rustls::Error::PeerIncompatible(_) => (
            P::Other,
            "the registry's TLS settings have nothing in common with this client's (versions, ciphers)".into(),
        ),
        rustls::Error::General(s) => (P::Other, format!("TLS failed: {s}")),
        _ => (P::Other, "the TLS handshake failed".into()),
    }
}

/// A presented name as rustls writes it (`DnsName("a.example")`, `IpAddress(127.0.0.1)`),
/// without the wrapping.
fn bare_name(n: &str) -> &str {
    match n.split_once('(') {
        Some((kind, rest)) if kind.chars().all(|c| c.is_ascii_alphabetic()) => {
            rest.strip_suffix(')').unwrap_or(rest).trim_matches('"')
        }
        _ => n,
    }
}

fn alert_words(a: AlertDescription) -> String {
    let u: u8 = a.into();
    match a {
        AlertDescription::HandshakeFailure => "handshake failure".into(),
        AlertDescription::ProtocolVersion => "unsupported protocol version".into(),
        AlertDescription::InternalError => "internal error".into(),
        AlertDescription::UnrecognisedName => "unrecognised server name".into(),
        _ => format!("alert {u}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_d_bases_come_from_the_environment_when_set() {
        assert_eq!(
            certs_d_bases(|_| None),
            vec![
                PathBuf::from("/etc/containers/certs.d"),
                PathBuf::from("/etc/docker/certs.d")
            ]
        );
        let set = |k: &str| (k == CERTS_D_ENV).then(|| "/a::/b".to_string());
        assert_eq!(
            certs_d_bases(set),
            vec![PathBuf::from("/a"), PathBuf::from("/b")]
        );
        let empty = |k: &str| (k == CERTS_D_ENV).then(String::new);
        assert!(certs_d_bases(empty).is_empty());
    }

    #[test]
    fn handshake_failures_are_said_in_words() {
        let ca = rustls::Error::InvalidCertificate(CertificateError::Other(rustls::OtherError(
            Arc::new(webpki::Error::CaUsedAsEndEntity),
        )));
        let (p, w) = describe(&ca);
        assert_eq!(p, TlsProblem::SelfSignedCa);
        assert!(!w.contains("OtherError"), "{w}");
        let name = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("localhost").unwrap(),
            presented: vec![
                "IpAddress(127.0.0.1)".into(),
                "DnsName(\"reg.example\")".into(),
            ],
        });
        assert_eq!(
            describe(&name),
            (
                TlsProblem::WrongName,
                "its certificate is for 127.0.0.1, reg.example, not localhost".into()
            )
        );
        let expired = rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
            time: UnixTime::since_unix_epoch(std::time::Duration::from_secs(2_000_000_000)),
            not_after: UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_700_000_000)),
        });
        assert_eq!(
            describe(&expired).1,
            "its certificate expired at 2023-11-14T22:13:20Z"
        );
        let wrapped = std::io::Error::other(rustls::Error::AlertReceived(
            AlertDescription::CertificateRequired,
        ));
        assert_eq!(
            problem_in(&wrapped).map(|p| p.0),
            Some(TlsProblem::ClientCertificate)
        );
        let h2 = std::io::Error::other("connection error: received fatal alert: BadCertificate");
        assert_eq!(
            problem_in(&h2).map(|p| p.0),
            Some(TlsProblem::ClientCertificate)
        );
    }

    #[test]
    fn a_key_without_its_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("reg.example:5000")).unwrap();
        std::fs::write(dir.path().join("reg.example:5000/client.key"), "x").unwrap();
        let mut tls = HostTls::default();
        let err = add_certs_d(&mut tls, dir.path(), "reg.example:5000").unwrap_err();
        assert!(
            err.reason.contains("client.cert is missing"),
            "{}",
            err.reason
        );
        let mut none = HostTls::default();
        add_certs_d(&mut none, dir.path(), "other.example").unwrap();
        assert!(none.is_empty());
    }

    /// A damaged file is said in words, not as the byte lists of its PEM markers.
    #[test]
    fn a_damaged_pem_file_is_said_in_words() {
        let dir = tempfile::tempdir().unwrap();
        let cut = dir.path().join("cut.crt");
        std::fs::write(&cut, "-----BEGIN CERTIFICATE-----\nMIIB\n").unwrap();
        let err = pem_certificates(&cut).unwrap_err();
        assert_eq!(
            err.reason,
            "not a PEM certificate file (a section has no END line: the file is cut short)"
        );
        let bad = dir.path().join("bad.crt");
        std::fs::write(&bad, "-----BEGIN CERTIFICATE\nMIIB\n").unwrap();
        let err = pem_certificates(&bad).unwrap_err();
        assert!(!err.reason.contains('['), "{}", err.reason);
    }

    /// A registry's `Location` can name the host `..`: the directory above the base is
    /// no host's, and its files are not read (here a stray key there would fail the run).
    #[test]
    fn a_host_named_dot_dot_reads_nothing_outside_the_base() {
        let host = url::Url::parse("https://../v2/x").unwrap();
        assert_eq!(host.host_str(), Some(".."));
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().join("certs.d");
        std::fs::create_dir(&base).unwrap();
        std::fs::write(dir.path().join("stray.key"), "x").unwrap();
        std::fs::write(base.join("stray.key"), "x").unwrap();
        for host in ["..", "."] {
            let mut tls = HostTls::default();
            add_certs_d(&mut tls, &base, host).unwrap();
            assert!(tls.is_empty() && tls.files.is_empty(), "{host}");
        }
    }
}
