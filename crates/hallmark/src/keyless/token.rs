//! The OIDC identity token: where it is read from, and the claims Fulcio will read, decoded
//! without verifying the token's signature (Fulcio verifies it; hallmark reads the claims
//! only to refuse, before any request, a token Fulcio would refuse anyway and to know the
//! subject the proof of possession is over).

use std::path::Path;
use std::time::{Duration, SystemTime};

use base64ct::{Base64UrlUnpadded, Encoding};

use super::KeylessError;

/// The audience Fulcio's issuers are configured with, unless the user names another
/// (`--oidc-client-id`).
pub const AUDIENCE: &str = "sigstore";
/// GitHub Actions' issuer, whose certificates name the workflow, not the token's `sub`.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// Largest token read from a file or the environment.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// An identity token and its claims. The token itself is never shown: `Debug` leaves it out.
#[derive(Clone)]
pub struct IdentityToken {
    raw: String,
    /// The claims, as the token states them.
    pub claims: TokenClaims,
}

impl std::fmt::Debug for IdentityToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityToken")
            .field("raw", &"<redacted>")
            .field("claims", &self.claims)
            .finish()
    }
}

/// What the token says, unverified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenClaims {
    /// `iss`.
    pub issuer: String,
    /// What the proof of possession signs: `email` when present, else `sub` (as cosign and
    /// sigstore-go choose).
    pub subject: String,
    /// `aud`, a string or a list in the token.
    pub audience: Vec<String>,
    /// `exp`.
    pub expires: SystemTime,
    /// `email`, verified (a token with an unverified one is refused).
    pub email: Option<String>,
    /// `sub`.
    pub sub: Option<String>,
    /// `job_workflow_ref`: GitHub Actions' workflow, `OWNER/REPO/PATH@REF`.
    pub job_workflow_ref: Option<String>,
    /// `ci_config_ref_uri`: GitLab CI's pipeline definition, `HOST/GROUP/PROJECT//FILE@REF`.
    pub ci_config_ref_uri: Option<String>,
    /// `federated_claims.connector_id`: a federating issuer (Dex, as the public-good
    /// `oauth2.sigstore.dev`) whose certificates name the upstream issuer, not `iss`.
    pub federated_issuer: Option<String>,
}

impl TokenClaims {
    /// The SubjectAlternativeNames Fulcio may certify for this token, as Fulcio maps issuer
    /// types: the email when there is one; for GitHub Actions (a `job_workflow_ref` claim)
    /// the workflow under `https://github.com/`, or under the issuer's own host (GitHub
    /// Enterprise Server); for GitLab CI (a `ci_config_ref_uri` claim) `https://` and that
    /// URI; otherwise `sub`. For an issuer type hallmark does not know (another CI
    /// provider's template), `sub` is the rule: a certificate naming anything else is
    /// refused rather than reported as signed.
    pub fn expected_subjects(&self) -> Vec<String> {
        if let Some(email) = &self.email {
            return vec![email.clone()];
        }
        let claim = |c: &Option<String>| c.clone().filter(|v| !v.is_empty());
        if let Some(workflow) = claim(&self.job_workflow_ref) {
            let mut hosts = vec!["github.com".to_string()];
            if self.issuer != GITHUB_ACTIONS_ISSUER
                && let Some(host) = url::Url::parse(&self.issuer)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
            {
                hosts.push(host);
            }
            return hosts
                .into_iter()
                .map(|h| format!("https://{h}/{workflow}"))
                .collect();
        }
        if let Some(config) = claim(&self.ci_config_ref_uri) {
            return vec![format!("https://{config}")];
        }
        vec![self.sub.clone().unwrap_or_else(|| self.subject.clone())]
    }
}

impl IdentityToken {
    /// The token as sent to Fulcio.
    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }

    /// Decodes `raw`'s claims and refuses a token that is expired at `now` or not for
    /// the `sigstore` audience.
    pub fn parse(raw: &str, now: SystemTime) -> Result<Self, KeylessError> {
        Self::parse_for(raw, now, AUDIENCE)
    }

    /// As [`Self::parse`], for the audience (OIDC client id) `audience`.
    pub fn parse_for(raw: &str, now: SystemTime, audience: &str) -> Result<Self, KeylessError> {
        let raw = raw.trim();
        let claims = decode_claims(raw)?;
        if claims.expires <= now {
            return Err(KeylessError::TokenExpired {
                at: crate::sigstore::certificate::show_time(claims.expires, false),
            });
        }
        if !claims.audience.iter().any(|a| a == audience) {
            return Err(KeylessError::TokenAudience(
                claims.audience.join(", "),
                audience.to_string(),
            ));
        }
        Ok(Self {
            raw: raw.to_string(),
            claims,
        })
    }
}

/// True when `spec` is a JWT itself, not where to read one: it is then on the command
/// line, where `ps` and shell history show it.
pub fn is_literal(spec: &str) -> bool {
    !spec.starts_with("env://") && !spec.starts_with('@') && looks_like_jwt(spec)
}

/// The token text `spec` names: `@FILE`, `env://VAR`, a file that exists (cosign's way),
/// or the token itself.
pub fn read(spec: &str) -> Result<String, KeylessError> {
    let text = if let Some(var) = spec.strip_prefix("env://") {
        std::env::var(var).map_err(|_| KeylessError::TokenSource(format!("${var} is not set")))?
    } else if let Some(path) = spec.strip_prefix('@') {
        read_file(Path::new(path))?
    } else if !looks_like_jwt(spec) && Path::new(spec).is_file() {
        read_file(Path::new(spec))?
    } else {
        spec.to_string()
    };
    Ok(text.trim().to_string())
}

fn read_file(path: &Path) -> Result<String, KeylessError> {
    let bytes = crate::fsio::read_input(path, MAX_TOKEN_BYTES).map_err(|e| {
        KeylessError::TokenSource(format!("cannot read {}: {}", path.display(), e.reason()))
    })?;
    String::from_utf8(bytes)
        .map_err(|_| KeylessError::TokenSource(format!("{} is not text", path.display())))
}

fn looks_like_jwt(s: &str) -> bool {
    let parts: Vec<&str> = s.trim().split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
}

fn decode_claims(raw: &str) -> Result<TokenClaims, KeylessError> {
    let malformed = |why: &str| KeylessError::TokenMalformed(why.to_string());
    let parts: Vec<&str> = raw.split('.').collect();
    if parts.len() != 3 {
        return Err(malformed("not a JWT (three dot-separated parts)"));
    }
    let payload = Base64UrlUnpadded::decode_vec(parts[1].trim_end_matches('='))
        .map_err(|_| malformed("its claims are not base64url"))?;
    let v: serde_json::Value =
        serde_json::from_slice(&payload).map_err(|_| malformed("its claims are not JSON"))?;
    let text = |name: &str| v.get(name).and_then(|c| c.as_str()).map(str::to_string);
    let issuer = text("iss").ok_or_else(|| malformed("no iss claim"))?;
    let email = text("email");
    let sub = text("sub");
    // As cosign: an email the issuer has not verified is no identity to certify.
    let verified = matches!(v.get("email_verified"), Some(serde_json::Value::Bool(true)))
        || v.get("email_verified").and_then(|c| c.as_str()) == Some("true");
    if email.is_some() && !verified {
        return Err(malformed(
            "its email is not verified (email_verified is not true)",
        ));
    }
    let subject = email
        .clone()
        .or_else(|| sub.clone())
        .ok_or_else(|| malformed("neither an email nor a sub claim"))?;
    let federated_issuer = v
        .get("federated_claims")
        .and_then(|f| f.get("connector_id"))
        .and_then(|c| c.as_str())
        .map(str::to_string);
    let audience = match v.get("aud") {
        Some(serde_json::Value::String(s)) => vec![s.clone()],
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let exp = v
        .get("exp")
        .and_then(|e| e.as_u64().or_else(|| e.as_f64().map(|f| f as u64)))
        .ok_or_else(|| malformed("no exp claim"))?;
    Ok(TokenClaims {
        issuer,
        subject,
        audience,
        expires: SystemTime::UNIX_EPOCH + Duration::from_secs(exp),
        email,
        sub,
        job_workflow_ref: text("job_workflow_ref"),
        ci_config_ref_uri: text("ci_config_ref_uri"),
        federated_issuer,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: serde_json::Value) -> String {
        let enc = |b: &[u8]| Base64UrlUnpadded::encode_string(b);
        format!(
            "{}.{}.{}",
            enc(br#"{"alg":"ES256"}"#),
            enc(claims.to_string().as_bytes()),
            enc(b"sig")
        )
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn email_is_the_subject_when_present_else_sub() {
        let t = IdentityToken::parse(
            &jwt(serde_json::json!({"iss": "http://i", "sub": "123", "email": "a@b", "email_verified": true, "aud": "sigstore", "exp": 200})),
            at(100),
        )
        .unwrap();
        assert_eq!(t.claims.subject, "a@b");
        assert_eq!(t.claims.issuer, "http://i");
        let t = IdentityToken::parse(
            &jwt(serde_json::json!({"iss": "http://i", "sub": "repo:x", "aud": ["other", "sigstore"], "exp": 200})),
            at(100),
        )
        .unwrap();
        assert_eq!(t.claims.subject, "repo:x");
        assert!(!format!("{t:?}").contains(&t.raw));
    }

    #[test]
    fn expired_and_other_audiences_are_refused() {
        let expired =
            jwt(serde_json::json!({"iss": "i", "sub": "s", "aud": "sigstore", "exp": 100}));
        assert!(matches!(
            IdentityToken::parse(&expired, at(100)),
            Err(KeylessError::TokenExpired { .. })
        ));
        let other = jwt(serde_json::json!({"iss": "i", "sub": "s", "aud": "api", "exp": 200}));
        assert!(matches!(
            IdentityToken::parse(&other, at(100)),
            Err(KeylessError::TokenAudience(a, _)) if a == "api"
        ));
        assert!(IdentityToken::parse_for(&other, at(100), "api").is_ok());
        assert!(matches!(
            IdentityToken::parse("not-a-token", at(100)),
            Err(KeylessError::TokenMalformed(_))
        ));
    }

    #[test]
    fn an_unverified_email_is_refused() {
        for verified in [
            serde_json::json!(false),
            serde_json::json!("no"),
            serde_json::Value::Null,
        ] {
            let t = jwt(
                serde_json::json!({"iss": "i", "sub": "s", "email": "a@b", "email_verified": verified, "aud": "sigstore", "exp": 200}),
            );
            assert!(
                matches!(IdentityToken::parse(&t, at(100)), Err(KeylessError::TokenMalformed(w)) if w.contains("email")),
                "{verified}"
            );
        }
    }

    #[test]
    fn the_certified_subject_follows_the_issuer_type() {
        let parse =
            |claims: serde_json::Value| IdentityToken::parse(&jwt(claims), at(100)).unwrap();
        let email = parse(
            serde_json::json!({"iss": "https://accounts.example", "sub": "123", "email": "a@b", "email_verified": true, "aud": "sigstore", "exp": 200}),
        );
        assert_eq!(email.claims.expected_subjects(), ["a@b"]);
        let github = parse(serde_json::json!({
            "iss": GITHUB_ACTIONS_ISSUER, "sub": "repo:o/r:ref:refs/heads/main", "aud": "sigstore", "exp": 200,
            "job_workflow_ref": "o/r/.github/workflows/release.yml@refs/heads/main"
        }));
        assert_eq!(
            github.claims.expected_subjects(),
            ["https://github.com/o/r/.github/workflows/release.yml@refs/heads/main"]
        );
        let enterprise = parse(serde_json::json!({
            "iss": "https://ghe.example/_services/token", "sub": "repo:o/r", "aud": "sigstore", "exp": 200,
            "job_workflow_ref": "o/r/.github/workflows/release.yml@refs/heads/main"
        }));
        assert_eq!(
            enterprise.claims.expected_subjects(),
            [
                "https://github.com/o/r/.github/workflows/release.yml@refs/heads/main",
                "https://ghe.example/o/r/.github/workflows/release.yml@refs/heads/main"
            ]
        );
        let gitlab = parse(serde_json::json!({
            "iss": "https://gitlab.com", "sub": "project_path:g/p:ref_type:branch:ref:main", "aud": "sigstore", "exp": 200,
            "ci_config_ref_uri": "gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main"
        }));
        assert_eq!(
            gitlab.claims.expected_subjects(),
            ["https://gitlab.com/g/p//.gitlab-ci.yml@refs/heads/main"]
        );
        assert_eq!(github.claims.subject, "repo:o/r:ref:refs/heads/main");
        let other = parse(
            serde_json::json!({"iss": "https://ci.example", "sub": "project-7", "aud": "sigstore", "exp": 200}),
        );
        assert_eq!(other.claims.expected_subjects(), ["project-7"]);
        let dex = parse(serde_json::json!({
            "iss": "https://oauth2.sigstore.dev/auth", "sub": "x", "email": "a@b", "email_verified": true,
            "aud": "sigstore", "exp": 200, "federated_claims": {"connector_id": "https://github.com/login/oauth"}
        }));
        assert_eq!(
            dex.claims.federated_issuer.as_deref(),
            Some("https://github.com/login/oauth")
        );
    }

    #[test]
    fn token_sources() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, " a.b.c\n").unwrap();
        assert_eq!(read(&format!("@{}", file.display())).unwrap(), "a.b.c");
        assert_eq!(read(&file.display().to_string()).unwrap(), "a.b.c");
        assert!(!is_literal(&file.display().to_string()));
        assert!(!is_literal("env://X"));
        assert!(!is_literal("@x"));
        assert!(is_literal("aaa.bbb.ccc"));
        assert!(!is_literal("no-such-token-file"));
        assert!(matches!(
            read(&format!("@{}", dir.path().join("missing").display())),
            Err(KeylessError::TokenSource(_))
        ));
        assert!(matches!(
            read("env://HALLMARK_TEST_SURELY_UNSET_VARIABLE"),
            Err(KeylessError::TokenSource(_))
        ));
    }
}
