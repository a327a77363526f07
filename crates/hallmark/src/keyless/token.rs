//! The OIDC identity token: where it is read from, and the claims Fulcio will read, decoded
//! without verifying the token's signature (Fulcio verifies it; hallmark reads the claims
//! only to refuse, before any request, a token Fulcio would refuse anyway and to know the
//! subject the proof of possession is over).

use std::path::Path;
use std::time::{Duration, SystemTime};

use base64ct::{Base64UrlUnpadded, Encoding};

use super::KeylessError;

/// The audience Fulcio's issuers are configured with.
pub const AUDIENCE: &str = "sigstore";
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
}

impl IdentityToken {
    /// The token as sent to Fulcio.
    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }

    /// Decodes `raw`'s claims and refuses a token that is expired at `now` or not for
    /// the `sigstore` audience.
    pub fn parse(raw: &str, now: SystemTime) -> Result<Self, KeylessError> {
        let raw = raw.trim();
        let claims = decode_claims(raw)?;
        if claims.expires <= now {
            return Err(KeylessError::TokenExpired {
                at: crate::sigstore::certificate::show_time(claims.expires, false),
            });
        }
        if !claims.audience.iter().any(|a| a == AUDIENCE) {
            return Err(KeylessError::TokenAudience(claims.audience.join(", ")));
        }
        Ok(Self {
            raw: raw.to_string(),
            claims,
        })
    }
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
    let subject = text("email")
        .or_else(|| text("sub"))
        .ok_or_else(|| malformed("neither an email nor a sub claim"))?;
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
            &jwt(serde_json::json!({"iss": "http://i", "sub": "123", "email": "a@b", "aud": "sigstore", "exp": 200})),
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
            Err(KeylessError::TokenAudience(a)) if a == "api"
        ));
        assert!(matches!(
            IdentityToken::parse("not-a-token", at(100)),
            Err(KeylessError::TokenMalformed(_))
        ));
    }
}
