//! TLS registries as docker, skopeo and cosign users run them: a loopback registry asked
//! for HTTPS first, Docker's self-signed recipe certificate given with --ca-file, per-host
//! certificates in certs.d (CAs and a client certificate), errors that say which way the
//! certificate is wrong, and -vv headers without credentials.

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::harness::*;

/// A file to publish, in `dir`.
fn artifact(dir: &Path) -> PathBuf {
    let file = dir.join("tool.sh");
    std::fs::write(&file, b"echo ok\n").unwrap();
    file
}

fn publish(file: &Path, dest: &str, k: &Keys, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let file = format!("file:{}", file.display());
    let mut args = vec!["publish", &file, dest, "--key", &k.private];
    args.extend_from_slice(extra);
    let mut env = env.to_vec();
    env.push(("HALLMARK_PASSWORD", PASSWORD));
    run_env(&args, &env)
}

/// `base/HOST:PORT/` holding `files` (name, source), as docker's certs.d.
fn certs_d(base: &Path, addr: &str, files: &[(&str, &Path)]) {
    let dir = base.join(addr);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, from) in files {
        std::fs::copy(from, dir.join(name)).unwrap();
    }
}

/// `verify` of `reference` with `extra` arguments and `env` exits `want`; its stderr.
#[track_caller]
fn verify_err(
    reference: &str,
    k: &Keys,
    extra: &[&str],
    env: &[(&str, &str)],
    want: i32,
) -> String {
    let mut args = vec!["verify", reference, "--key", &k.public];
    args.extend_from_slice(extra);
    let o = run_env(&args, env);
    expect_code(&o, want);
    stderr(&o)
}

/// A registry serving the self-signed `crt` (with `key`), given as it is with --ca-file:
/// refused with exit 3; its stderr, checked for Debug text.
fn refused_when_given(crt: &Path, key: &Path) -> String {
    let reg = Registry::start_tls_files(crt, key, None);
    let k = keys("ecdsa-p256");
    let reference = format!("{}/team/app:v1", reg.addr);
    let err = verify_err(
        &reference,
        &k,
        &["--ca-file", crt.to_str().unwrap()],
        &[],
        3,
    );
    no_debug_text(&err);
    err
}

fn no_debug_text(err: &str) {
    for debug in ["OtherError", "Other(", "IpAddress(", "DnsName(", "Custom {"] {
        assert!(!err.contains(debug), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_made_by_dockers_recipe_is_trusted_when_given() {
    let certs = tempfile::tempdir().unwrap();
    let (crt, key) = docker_self_signed(certs.path(), "domain", "IP:127.0.0.1");
    let reg = Registry::start_tls_files(&crt, &key, None);
    let k = keys("ecdsa-p256");
    let dest = format!("{}/tools/tool:1", reg.addr);
    let ca = crt.to_str().unwrap();
    let o = publish(&artifact(certs.path()), &dest, &k, &["--ca-file", ca], &[]);
    expect_code(&o, 0);
    let o = run(&["verify", &dest, "--key", &k.public, "--ca-file", ca]);
    expect_code(&o, 0);
    assert!(stdout(&o).starts_with(&format!("{}/tools/tool@sha256:", reg.addr)));

    // Not given: refused at once (no retries), in words, with the way out; never retried
    // in plain HTTP after the handshake.
    let started = std::time::Instant::now();
    let err = verify_err(&dest, &k, &[], &[], 3);
    assert!(err.contains(&format!("https://{}/", reg.addr)), "{err}");
    assert!(err.contains("a CA certificate (CA:TRUE)"), "{err}");
    assert!(
        err.contains("give that very certificate with --ca-file"),
        "{err}"
    );
    assert!(!err.contains("tried"), "{err}");
    no_debug_text(&err);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{err}"
    );

    // Another certificate made by the same recipe is no key to this one.
    let (other, _) = docker_self_signed(certs.path(), "other", "IP:127.0.0.1");
    let err = verify_err(&dest, &k, &["--ca-file", other.to_str().unwrap()], &[], 3);
    assert!(err.contains("a CA certificate (CA:TRUE)"), "{err}");
    no_debug_text(&err);

    // The right certificate, another name: the names it has are said.
    let port = reg.addr.rsplit(':').next().unwrap();
    let by_name = format!("localhost:{port}/tools/tool:1");
    let err = verify_err(&by_name, &k, &["--ca-file", ca], &[], 3);
    assert!(
        err.contains("its certificate is for 127.0.0.1, not localhost"),
        "{err}"
    );
    assert!(err.contains("a name its certificate has"), "{err}");
    no_debug_text(&err);

    // The same certificate as certs.d/HOST:PORT/ca.crt, as docker reads it: no flag.
    let base = tempfile::tempdir().unwrap();
    certs_d(base.path(), &reg.addr, &[("ca.crt", &crt)]);
    let env = [("HALLMARK_CERTS_D", base.path().to_str().unwrap())];
    verify_err(&dest, &k, &[], &env, 0);
    // ... and only for that host and port.
    verify_err(&by_name, &k, &[], &env, 3);
}

/// A self-signed CA:TRUE certificate for 127.0.0.1, as Docker's recipe makes, that expired
/// in 2021; returns the certificate and key files.
fn expired_self_signed(dir: &Path) -> (PathBuf, PathBuf) {
    let script = r#"
import datetime, ipaddress, sys
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
key = ec.generate_private_key(ec.SECP256R1())
name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "registry")])
cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc))
        .not_valid_after(datetime.datetime(2021, 1, 1, tzinfo=datetime.timezone.utc))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256()))
open(sys.argv[1] + "/old.crt", "wb").write(cert.public_bytes(serialization.Encoding.PEM))
open(sys.argv[1] + "/old.key", "wb").write(key.private_bytes(serialization.Encoding.PEM,
    serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
"#;
    let made = std::process::Command::new(python())
        .args(["-c", script, dir.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(made.success());
    (dir.join("old.crt"), dir.join("old.key"))
}

/// A self-signed certificate given as it is still has to be valid now (webpki checks the
/// validity before finding it is a CA, and the pinning relies on that order).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_self_signed_certificate_is_refused_even_when_given() {
    let certs = tempfile::tempdir().unwrap();
    let (crt, key) = expired_self_signed(certs.path());
    let err = refused_when_given(&crt, &key);
    assert!(
        err.contains("its certificate expired at 2021-01-01T00:00:00Z"),
        "{err}"
    );
    assert!(err.contains("must be renewed"), "{err}");
    assert!(!err.contains("tried"), "{err}");
}

/// A self-signed certificate given as it is still has to be for TLS servers: one whose
/// extended key usage says client authentication only is refused, as Go refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_self_signed_certificate_for_clients_only_is_refused_even_when_given() {
    let certs = tempfile::tempdir().unwrap();
    openssl(
        certs.path(),
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-sha256",
            "-keyout",
            "client-only.key",
            "-addext",
            "subjectAltName = IP:127.0.0.1",
            "-addext",
            "extendedKeyUsage = clientAuth",
            "-x509",
            "-days",
            "365",
            "-out",
            "client-only.crt",
            "-subj",
            "/CN=registry",
        ],
    );
    let (crt, key) = (
        certs.path().join("client-only.crt"),
        certs.path().join("client-only.key"),
    );
    let err = refused_when_given(&crt, &key);
    assert!(
        err.contains("its certificate is not for TLS servers"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_registry_is_asked_for_https_first() {
    // Plain HTTP on loopback: found out once, then plain HTTP as before.
    let plain = Registry::start();
    let k = keys("ecdsa-p256");
    let dir = tempfile::tempdir().unwrap();
    let dest = format!("{}/team/app:v1", plain.addr);
    expect_code(&publish(&artifact(dir.path()), &dest, &k, &[], &[]), 0);
    let err = verify_err(&dest, &k, &["-v"], &[], 0);
    assert_eq!(err.matches("it speaks plain HTTP").count(), 1, "{err}");
    assert!(
        err.contains(&format!("GET http://{}/v2/", plain.addr)),
        "{err}"
    );
    assert!(
        !err.contains(&format!("GET https://{}", plain.addr)),
        "{err}"
    );

    // HTTPS on loopback with a private CA in certs.d: HTTPS without any flag.
    let (tls, ca) = Registry::start_tls();
    let dest = format!("{}/team/app:v1", tls.addr);
    let ca_flag = ["--ca-file", ca.to_str().unwrap()];
    expect_code(&publish(&artifact(dir.path()), &dest, &k, &ca_flag, &[]), 0);
    let base = tempfile::tempdir().unwrap();
    certs_d(base.path(), &tls.addr, &[("ca.crt", &ca)]);
    let env = [("HALLMARK_CERTS_D", base.path().to_str().unwrap())];
    let err = verify_err(&dest, &k, &["-v"], &env, 0);
    assert!(err.contains("it speaks HTTPS"), "{err}");
    assert!(
        err.contains(&format!("GET https://{}/v2/", tls.addr)),
        "{err}"
    );

    // An HTTPS registry whose certificate is not trusted is not spoken to in the clear.
    let err = verify_err(&dest, &k, &[], &[], 3);
    assert!(
        err.contains("signed by an authority this machine does not trust"),
        "{err}"
    );
    assert!(
        err.contains("hint: the registry's certificate is not trusted"),
        "{err}"
    );
    assert!(!err.contains("tried"), "{err}");

    // Plain HTTP forced on it: its 400 is named for what it is.
    let err = verify_err(&dest, &k, &["--allow-http"], &[], 3);
    assert!(
        err.contains("Client sent an HTTP request to an HTTPS server"),
        "{err}"
    );
    assert!(err.contains("drop --allow-http"), "{err}");
}

/// A loopback HTTPS registry that answers `GET /v2/` later than the probe waits, after a
/// prompt handshake (behind a slow tunnel, say), stays HTTPS: no request goes to it in
/// plain HTTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loopback_registry_slow_to_answer_after_the_handshake_stays_https() {
    use std::io::BufRead;
    let certs = tempfile::tempdir().unwrap();
    let (crt, key) = docker_self_signed(certs.path(), "slow", "IP:127.0.0.1");
    // Completes every handshake, then says nothing.
    let script = r#"
import socket, ssl, sys
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    c, _ = s.accept()
    c.settimeout(5)
    try:
        held.append(ctx.wrap_socket(c, server_side=True))
    except Exception:
        held.append(c)
"#;
    struct Server(std::process::Child);
    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Server(
        std::process::Command::new(python())
            .args(["-c", script, crt.to_str().unwrap(), key.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut port = String::new();
    std::io::BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut port)
        .unwrap();
    let addr = format!("127.0.0.1:{}", port.trim());
    let base = tempfile::tempdir().unwrap();
    certs_d(base.path(), &addr, &[("ca.crt", &crt)]);
    let env = [("HALLMARK_CERTS_D", base.path().to_str().unwrap())];
    let k = keys("ecdsa-p256");
    let dest = format!("{addr}/team/app:v1");
    let args = [
        "verify",
        &dest,
        "--key",
        &k.public,
        "-v",
        "--timeout",
        "4",
        "--retries",
        "0",
    ];
    let o = run_env(&args, &env);
    let err = stderr(&o);
    assert_ne!(o.status.code(), Some(0), "{err}");
    assert!(err.contains("it speaks HTTPS"), "{err}");
    assert!(!err.contains("GET http://"), "{err}");
}

/// Signs a client certificate with a fresh client CA; returns (CA, cert, key).
fn client_certificate(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "clients.key",
            "-out",
            "clients.crt",
            "-subj",
            "/CN=clients",
            "-days",
            "2",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "client.key",
            "-out",
            "client.csr",
            "-subj",
            "/CN=ci",
        ],
    );
    // Extensions make it a version 3 certificate, which TLS libraries require.
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage = clientAuth\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-extfile",
            "client.ext",
            "-req",
            "-in",
            "client.csr",
            "-CA",
            "clients.crt",
            "-CAkey",
            "clients.key",
            "-CAcreateserial",
            "-out",
            "client.cert",
            "-days",
            "2",
        ],
    );
    (
        dir.join("clients.crt"),
        dir.join("client.cert"),
        dir.join("client.key"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_demanding_a_client_certificate_gets_the_one_in_certs_d() {
    let certs = tempfile::tempdir().unwrap();
    let (crt, key) = docker_self_signed(certs.path(), "domain", "IP:127.0.0.1");
    let (clients, cert, client_key) = client_certificate(certs.path());
    let reg = Registry::start_tls_files(&crt, &key, Some(&clients));
    let k = keys("ecdsa-p256");
    let dest = format!("{}/team/app:v1", reg.addr);

    let with = tempfile::tempdir().unwrap();
    certs_d(
        with.path(),
        &reg.addr,
        &[
            ("ca.crt", &crt),
            ("client.cert", &cert),
            ("client.key", &client_key),
        ],
    );
    let env = [("HALLMARK_CERTS_D", with.path().to_str().unwrap())];
    expect_code(&publish(&artifact(certs.path()), &dest, &k, &[], &env), 0);
    verify_err(&dest, &k, &[], &env, 0);

    // The server's certificate trusted, no client certificate: refused, and said so.
    let without = tempfile::tempdir().unwrap();
    certs_d(without.path(), &reg.addr, &[("ca.crt", &crt)]);
    let env = [("HALLMARK_CERTS_D", without.path().to_str().unwrap())];
    let err = verify_err(&dest, &k, &[], &env, 3);
    assert!(err.contains("asks for a client certificate"), "{err}");
    assert!(err.contains("NAME.cert and NAME.key"), "{err}");
    no_debug_text(&err);

    // A key without its certificate is a usage error naming the file.
    let broken = tempfile::tempdir().unwrap();
    certs_d(
        broken.path(),
        &reg.addr,
        &[("ca.crt", &crt), ("client.key", &client_key)],
    );
    let env = [("HALLMARK_CERTS_D", broken.path().to_str().unwrap())];
    let err = verify_err(&dest, &k, &[], &env, 2);
    assert!(err.contains("client.cert is missing"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn very_verbose_shows_headers_and_never_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let htpasswd = dir.path().join("htpasswd");
    let made = std::process::Command::new(python())
        .args([
            "-c",
            "import bcrypt,sys; open(sys.argv[1],'w').write('ci:' + bcrypt.hashpw(b's3cret-pw', bcrypt.gensalt(rounds=4)).decode() + '\\n')",
            htpasswd.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let reg = Registry::start_with_auth(&format!(
        "auth:\n  htpasswd:\n    realm: hallmark-test\n    path: {}\n",
        htpasswd.display()
    ));
    let k = keys("ecdsa-p256");
    let dest = format!("{}/team/app:v1", reg.addr);
    let login = ["--username", "ci", "--password-stdin"];
    let file = format!("file:{}", artifact(dir.path()).display());
    let mut args = vec!["publish", &file, &dest, "--key", &k.private];
    args.extend_from_slice(&login);
    let o = run_stdin(&args, &[("HALLMARK_PASSWORD", PASSWORD)], b"s3cret-pw\n");
    expect_code(&o, 0);

    let verify = |verbosity: &str| {
        let mut args = vec!["verify", &dest, "--key", &k.public, verbosity];
        args.extend_from_slice(&login);
        let o = run_stdin(&args, &[], b"s3cret-pw\n");
        expect_code(&o, 0);
        stderr(&o)
    };
    let err = verify("-vv");
    assert!(err.contains("< docker-content-digest: sha256:"), "{err}");
    assert!(err.contains("> accept: "), "{err}");
    assert!(err.contains("> authorization: Basic <redacted>"), "{err}");
    assert!(err.contains("< www-authenticate: Basic "), "{err}");
    // Neither the password nor its Basic encoding ("ci:s3cret-pw").
    assert!(!err.contains("s3cret"), "{err}");
    assert!(!err.contains("Y2k6czNjcmV0LXB3"), "{err}");
    for line in err.lines().filter(|l| l.contains("authorization:")) {
        assert!(line.ends_with("<redacted>"), "{line}");
    }
    // -v is as it was: one line per request, no headers.
    let err = verify("-v");
    assert!(err.contains(" → 200 in "), "{err}");
    assert!(!err.contains("docker-content-digest"), "{err}");
}
