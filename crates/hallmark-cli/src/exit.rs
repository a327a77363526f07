//! The one place that turns failures into exit codes and hints.
//!
//! Exit codes: 0 ok, 1 not verified or denied, 2 bad input or usage, 3 registry, network
//! or I/O failure, 4 drift (a tag moved). Scripts depend on them; the README lists them.

use hallmark::ErrorClass;
use hallmark::registry::{NetworkCause, RegistryError, Violation};

/// A failure found by the command line itself (flags, files it reads, prompts).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    /// The one-line message.
    pub message: String,
    /// What to do about it.
    pub hint: Option<String>,
    /// Its class.
    pub class: ErrorClass,
}

impl CliError {
    /// Bad input or usage.
    pub fn usage(message: impl Into<String>, hint: Option<&str>) -> anyhow::Error {
        CliError {
            message: message.into(),
            hint: hint.map(str::to_string),
            class: ErrorClass::Usage,
        }
        .into()
    }
}

/// stdout was closed by its reader (`| head`): not a failure.
#[derive(Debug, thiserror::Error)]
#[error("standard output is closed")]
pub struct ClosedStdout;

/// Every exit code and what it means, as `--help` and the man pages' EXIT STATUS say.
pub const MEANINGS: [(u8, &str); 5] = [
    (0, "ok/verified"),
    (1, "not verified or denied"),
    (2, "bad input or usage"),
    (3, "registry/network/I-O failure"),
    (4, "drift (a tag moved)"),
];

/// The exit code of a class.
pub fn code(class: ErrorClass) -> u8 {
    match class {
        ErrorClass::Denied => 1,
        ErrorClass::Usage => 2,
        ErrorClass::Unavailable => 3,
        ErrorClass::Drift => 4,
    }
}

/// The class of any failure: the library's or the command line's own; anything else
/// (which should not happen) counts as bad input.
pub fn class(e: &anyhow::Error) -> ErrorClass {
    for cause in e.chain() {
        if let Some(l) = cause.downcast_ref::<hallmark::Error>() {
            return l.class();
        }
        if let Some(c) = cause.downcast_ref::<CliError>() {
            return c.class;
        }
    }
    ErrorClass::Usage
}

/// What to do about a failure, when there is something to say.
pub fn hint(e: &anyhow::Error) -> Option<String> {
    for cause in e.chain() {
        if let Some(c) = cause.downcast_ref::<CliError>() {
            return c.hint.clone();
        }
        if let Some(l) = cause.downcast_ref::<hallmark::Error>() {
            return library_hint(l);
        }
    }
    None
}

/// Where per-host certificates are read, for hints: the first directory searched.
fn certs_d() -> String {
    match std::env::var(hallmark::tls::CERTS_D_ENV) {
        Ok(list) => list
            .split(':')
            .find(|d| !d.is_empty())
            .unwrap_or("/etc/docker/certs.d")
            .to_string(),
        Err(_) => hallmark::tls::CERTS_D[1].to_string(),
    }
}

fn library_hint(e: &hallmark::Error) -> Option<String> {
    use hallmark::Error as E;
    use hallmark::keys::KeyError;
    use hallmark::reference::ReferenceError;
    Some(match e {
        E::Registry(RegistryError::Unauthorized { registry, .. }) => format!(
            "log in with `docker login {registry}`, or pass --username and --password-stdin"
        ),
        E::Registry(RegistryError::Network { cause, .. }) => match cause {
            NetworkCause::Refused => "nothing is listening there: check the registry's host and port, and that it is running".into(),
            NetworkCause::PlainHttp => "the registry serves plain HTTP: drop --ca-file for a loopback registry, or pass --allow-http for another one".into(),
            NetworkCause::UnknownHost => "the registry's host name does not resolve: check its spelling and your DNS".into(),
            NetworkCause::UnknownIssuer => format!("the registry's certificate is not trusted: give the CA that signed it with --ca-file or as {}/HOST:PORT/ca.crt (or, at your own risk, --tls-verify=false)", certs_d()),
            NetworkCause::SelfSignedCa => format!("the registry's certificate is not trusted: if it is the registry's own self-signed certificate, give that very certificate with --ca-file or as {}/HOST:PORT/ca.crt", certs_d()),
            NetworkCause::CertificateName => "use the registry by a name its certificate has (above), or reissue the certificate with this name in its subjectAltName".into(),
            NetworkCause::CertificateExpired => "the registry's certificate must be renewed (check this machine's clock too)".into(),
            NetworkCause::ClientCertificate => format!("put the client certificate and key the registry trusts in {}/HOST:PORT/ as NAME.cert and NAME.key", certs_d()),
            NetworkCause::Certificate => "the registry's certificate is not acceptable: fix it on the registry (or, at your own risk, --tls-verify=false)".into(),
            _ => "check the registry address and that it is up; run with -v to see each request".into(),
        },
        E::Registry(RegistryError::Timeout { .. }) => {
            "the registry did not answer in time: check that it is up, or raise --timeout for slow links".into()
        }
        E::Registry(RegistryError::HttpToHttps { .. }) => {
            "drop --allow-http for this registry: it serves HTTPS (pass its CA with --ca-file if it is not trusted)".into()
        }
        E::Registry(RegistryError::CertsDir { .. }) => {
            "each NAME.cert needs its NAME.key beside it, and *.crt files hold PEM CA certificates; fix or remove the file".into()
        }
        E::Registry(RegistryError::NotARegistry { .. }) => {
            "check the host and port: they belong to another kind of server".into()
        }
        E::Registry(RegistryError::Served(_))
        | E::Digest(hallmark::digest::DigestError::Mismatch { .. }) => {
            "the registry (or something between you and it) served content that does not match its digest; do not use it".into()
        }
        E::Registry(RegistryError::SourceMismatch { origin, .. }) => format!(
            "{origin} is corrupt or was changed while it was read; rebuild the artifact and publish again"
        ),
        E::Artifact(hallmark::artifact::ArtifactError::Corrupt { .. }) => {
            "the local artifact is corrupt; rebuild it and publish again".into()
        }
        E::Drift { reference, .. } => format!(
            "someone moved {reference} after your pipeline built it; investigate before signing or deploying"
        ),
        E::Key(KeyError::WrongPassword { .. }) => {
            "set HALLMARK_PASSWORD (or COSIGN_PASSWORD) to the key's password".into()
        }
        E::Signature(hallmark::signature::SignatureError::TooManyLayers { .. }) => {
            "the signature manifest is full: list it with `hallmark signatures REF --key PUB.pem` and remove old ones with --remove KEY_ID; re-signing without --keep-existing replaces a key's earlier signature".into()
        }
        E::Overwritten { .. } => {
            "other signers keep writing the same signature tag without seeing this one's entries: run the command again when they are done, then check with `hallmark signatures REF`".into()
        }
        E::Unsettled { .. } => {
            "check with `hallmark signatures REF --key PUB.pem` that every signer's signature is there, and sign again any that is not".into()
        }
        E::TagRefused { repository, .. } => format!(
            "sign the digest your pipeline built: hallmark sign {repository}@sha256:<digest>, the other flags unchanged (or add --expect-digest sha256:<digest>)"
        ),
        E::DigestConflict { .. } => {
            "give one digest, the one your pipeline built: in the reference or in --expect-digest".into()
        }
        E::NoTagOrDigest => "use repo@sha256:<digest>".into(),
        E::ReservedAnnotation(_) => {
            "use --bind-tag for tags; the timestamp and creator are written by hallmark".into()
        }
        E::NotInPlace(_) => "publish it first: hallmark publish SOURCE DEST --key KEY".into(),
        E::NoKeys => "pass --key PUB.pem (repeatable) or --policy FILE".into(),
        E::TagBindingNeedsTag => {
            "verify repo:tag, or drop --require-tag-binding for a digest reference".into()
        }
        E::PolicyTagBindingNeedsTag { rule, .. } => format!(
            "verify REPO:TAG, a tag the signature binds (REPO:TAG@sha256:<digest> also pins the digest); or, if digest references may verify without a tag, take require-tag-binding out of rule {rule:?}"
        ),
        E::SinglePlatform { .. } => "drop --platform".into(),
        E::NoPlatform { available, .. } => format!("available: {}", available.join(", ")),
        E::PlatformUnconfirmed { .. } => {
            "have the index signed (`hallmark sign --recursive REPO@<index digest>` signs it and every platform), or verify the platform manifest you mean by its digest, without --platform".into()
        }
        E::Reference(
            ReferenceError::DigestInDestination { .. } | ReferenceError::NotADestination { .. },
        ) => "DEST is REG/REPO:TAG[,TAG…] or oci:DIR[:TAG]".into(),
        E::Registry(RegistryError::CaFile { .. }) => {
            "--ca-file takes a readable PEM file of the CA certificates the registry's certificate chains to, or of the registry's own self-signed certificate".into()
        }
        E::Registry(RegistryError::Protocol {
            violation: Violation::InsecureRealm,
            ..
        }) => {
            "the registry wants credentials sent to a token service over plain HTTP: pass --allow-http only if nobody can listen on the way".into()
        }
        E::BindTag { .. } => {
            "--bind-tag takes a tag: letters, digits, '_', '.' and '-', at most 128, not starting with '.' or '-'".into()
        }
        E::Keyless(k) => return keyless_hint(k),
        E::Key(KeyError::Pkcs11(p)) => return pkcs11_hint(p),
        _ => return None,
    })
}

/// What to do when a key in a PKCS#11 token cannot be found or used.
fn pkcs11_hint(e: &hallmark::pkcs11::Pkcs11Error) -> Option<String> {
    use hallmark::pkcs11::Pkcs11Error as P;
    Some(match e {
        P::Uri { .. } => {
            "write it as pkcs11:token=LABEL;object=KEY?module-path=/absolute/path/module.so (slot-id=N for token=, id=%XX… for object=)".into()
        }
        P::Module { .. } => {
            "pass the absolute path of the token's PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so for SoftHSM2; loading it runs its code in hallmark, so name only a module you trust".into()
        }
        P::TokenNotFound { .. } => {
            "name one of the tokens listed in the URI, by its label (pkcs11:token=LABEL;…) or its slot (pkcs11:slot-id=N;…); pkcs11-tool --module MODULE --list-token-slots shows them".into()
        }
        P::ObjectNotFound { .. } => {
            "name one of the keys listed in the URI (object=LABEL or id=%XX…); pkcs11-tool --module MODULE --login --list-objects shows them".into()
        }
        P::Ambiguous { .. } => "add id=%XX… or object=LABEL to name one key".into(),
        P::PinLocked { .. } => {
            "the token's security officer must unlock it (pkcs11-tool --login --login-type so --init-pin, or softhsm2-util for SoftHSM2)".into()
        }
        P::NotP256 { .. } => {
            "hallmark signs with ECDSA P-256 keys: make one in the token (pkcs11-tool --keypairgen --key-type EC:prime256v1) with its public key beside it".into()
        }
        P::Token { .. } => "check that the token is present and working, and try again".into(),
        P::BadSignature { .. } => {
            "the public key stored beside this key (same id, or same label) is not its pair, or the token is failing: nothing was signed; fix the token's objects before signing with it".into()
        }
        _ => return None,
    })
}

/// What to do when keyless signing, or logging a key's signature, fails. The service
/// flags are named both ways: the image commands spell them `--sigstore-*`, `sign-blob`
/// (which has no registry) without the prefix.
fn keyless_hint(e: &hallmark::keyless::KeylessError) -> Option<String> {
    use hallmark::keyless::KeylessError as K;
    Some(match e {
        K::TokenExpired { .. } => {
            "fetch a fresh identity token right before signing: those of GitHub Actions and GitLab live minutes".into()
        }
        K::TokenAudience(..) => {
            "request the token for audience sigstore (GitLab: an id_tokens entry SIGSTORE_ID_TOKEN with aud sigstore), or pass --oidc-client-id for a private Fulcio configured with another client id".into()
        }
        K::TokenMalformed(_) => {
            "pass the raw JWT (three base64url parts separated by dots), as the issuer gave it, with an email the issuer verified or a sub claim".into()
        }
        K::TokenSource(_) => {
            "pass --identity-token @FILE or env://VAR naming a token that is there, or leave it out to use SIGSTORE_ID_TOKEN or GitHub Actions' token".into()
        }
        K::ServiceUrl { .. } => {
            "use an https URL (plain HTTP only to loopback, or with --sigstore-allow-http; sign-blob: --allow-http)".into()
        }
        K::Unreachable { .. } | K::Status { .. } => {
            "check the service's URL (--signing-config or the --*-url flags) and that it is up; a private Sigstore over HTTPS needs its CA (--sigstore-ca-file; sign-blob: --ca-file), a slow link a longer --sigstore-timeout (sign-blob: --timeout)".into()
        }
        K::NotVerified {
            service: "Fulcio", ..
        } => {
            "the trusted root does not match these services: for a private Sigstore, pass its trusted_root.json with --trusted-root; with the matching root, Fulcio answered what it must not, and nothing was signed".into()
        }
        _ => return None,
    })
}

#[cfg(test)]
mod keyless_hint_tests {
    use super::*;
    use hallmark::keyless::KeylessError as K;

    /// Every refusal of a token or a service says what to do; a lying Rekor gets no advice
    /// to change flags.
    #[test]
    fn keyless_failures_say_what_to_do() {
        let hint = |k: K| hint(&anyhow::Error::new(hallmark::Error::Keyless(k)));
        for (k, words) in [
            (K::TokenExpired { at: "t".into() }, "fresh"),
            (
                K::TokenAudience("api".into(), "sigstore".into()),
                "--oidc-client-id",
            ),
            (K::TokenMalformed("x".into()), "raw JWT"),
            (K::TokenSource("x".into()), "--identity-token"),
            (
                K::ServiceUrl {
                    service: "Fulcio",
                    why: "x".into(),
                },
                "--sigstore-allow-http",
            ),
            (
                K::Unreachable {
                    service: "Rekor",
                    url: "u".into(),
                    reason: "r".into(),
                },
                "--sigstore-ca-file",
            ),
            (
                K::Status {
                    service: "Fulcio",
                    url: "u".into(),
                    status: 500,
                    text: "t".into(),
                },
                "--sigstore-timeout",
            ),
            (K::not_verified("Fulcio", "x"), "--trusted-root"),
        ] {
            let shown = k.to_string();
            let h = hint(k).unwrap_or_else(|| panic!("no hint for {shown}"));
            assert!(h.contains(words), "{shown}: {h}");
        }
        assert_eq!(hint(K::not_verified("Rekor", "x")), None);
    }
}
