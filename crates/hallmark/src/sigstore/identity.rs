//! Who may have signed: the identity policy a keyless signature is held to. The subject and
//! the OIDC issuer are both required (Fulcio spec §2.2: a verifier must check both), each
//! matched exactly or by a regular expression; the GitHub Actions claims, when given, must
//! equal the certificate's, as cosign's `--certificate-github-workflow-*` flags compare them.

use super::certificate::{Claims, Identity};
use crate::class::ErrorClass;

/// Longest pattern accepted, in bytes.
pub(crate) const MAX_PATTERN_BYTES: usize = 4096;
/// Bound on the compiled program of a pattern, so that no pattern costs unbounded memory.
const MAX_COMPILED_BYTES: usize = 1 << 20;

/// Why an identity does not match, or a policy cannot be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A pattern that does not compile.
    #[error("invalid regular expression {pattern:?}: {why}")]
    BadRegex {
        /// The pattern as given.
        pattern: String,
        /// The parser's reason.
        why: String,
    },
    /// A pattern longer than `MAX_PATTERN_BYTES`.
    #[error("regular expression of {0} bytes; at most {MAX_PATTERN_BYTES} are accepted")]
    RegexTooLong(usize),
    /// The certificate's subject is not the one expected.
    #[error("the certificate's subject {found:?} does not match the expected {expected}")]
    Subject {
        /// What was expected, described.
        expected: String,
        /// What the certificate holds.
        found: String,
    },
    /// The certificate names no OIDC issuer.
    #[error("the certificate names no OIDC issuer; expected {expected}")]
    NoIssuer {
        /// What was expected, described.
        expected: String,
    },
    /// The certificate's OIDC issuer is not the one expected.
    #[error("the certificate's OIDC issuer {found:?} does not match the expected {expected}")]
    Issuer {
        /// What was expected, described.
        expected: String,
        /// What the certificate holds.
        found: String,
    },
    /// A GitHub Actions claim that differs, or that the certificate lacks.
    #[error("the certificate's GitHub workflow {claim} is {}, expected {expected:?}", found.as_ref().map_or("absent".to_string(), |f| format!("{f:?}")))]
    Claim {
        /// Which claim (`trigger`, `sha`, `name`, `repository`, `ref`).
        claim: &'static str,
        /// What was expected.
        expected: String,
        /// What the certificate holds, if anything.
        found: Option<String>,
    },
}

impl IdentityError {
    /// A pattern that does not compile is a usage error; a mismatch is a security "no".
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::BadRegex { .. } | Self::RegexTooLong(_) => ErrorClass::Usage,
            Self::Subject { .. }
            | Self::NoIssuer { .. }
            | Self::Issuer { .. }
            | Self::Claim { .. } => ErrorClass::Denied,
        }
    }
}

/// How a value is matched.
#[derive(Debug, Clone)]
pub enum Matcher {
    /// Byte-for-byte equality.
    Exact(String),
    /// A regular expression, unanchored as in cosign and sigstore-go (Go's RE2): write
    /// `^…$` to match the whole value.
    Regex(regex::Regex),
}

impl Matcher {
    /// Compiles `pattern`, bounded in length and compiled size.
    pub fn regex(pattern: &str) -> Result<Self, IdentityError> {
        if pattern.len() > MAX_PATTERN_BYTES {
            return Err(IdentityError::RegexTooLong(pattern.len()));
        }
        regex::RegexBuilder::new(pattern)
            .size_limit(MAX_COMPILED_BYTES)
            .dfa_size_limit(MAX_COMPILED_BYTES)
            .build()
            .map(Matcher::Regex)
            .map_err(|e| IdentityError::BadRegex {
                pattern: pattern.to_string(),
                why: one_line(&e.to_string()),
            })
    }

    /// Whether `value` matches.
    pub fn matches(&self, value: &str) -> bool {
        match self {
            Self::Exact(s) => s == value,
            Self::Regex(r) => r.is_match(value),
        }
    }

    /// The matcher for people: `"value"` or `regex "pattern"`, escaped.
    pub fn describe(&self) -> String {
        match self {
            Self::Exact(s) => format!("{s:?}"),
            Self::Regex(r) => format!("regex {:?}", r.as_str()),
        }
    }
}

/// The GitHub Actions claims expected; `None` means any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct GithubClaims {
    /// `--certificate-github-workflow-trigger`.
    pub workflow_trigger: Option<String>,
    /// `--certificate-github-workflow-sha`.
    pub workflow_sha: Option<String>,
    /// `--certificate-github-workflow-name`.
    pub workflow_name: Option<String>,
    /// `--certificate-github-workflow-repository`.
    pub workflow_repository: Option<String>,
    /// `--certificate-github-workflow-ref`.
    pub workflow_ref: Option<String>,
}

/// Who may have signed.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct IdentityPolicy {
    /// The subject alternative name expected.
    pub subject: Matcher,
    /// The OIDC issuer expected.
    pub issuer: Matcher,
    /// GitHub Actions claims expected.
    pub github: GithubClaims,
}

impl IdentityPolicy {
    /// A subject and an issuer, any GitHub Actions claims.
    pub fn new(subject: Matcher, issuer: Matcher) -> Self {
        Self {
            subject,
            issuer,
            github: GithubClaims::default(),
        }
    }

    /// Whether `id` is allowed: subject, then issuer, then each claim given.
    pub fn check(&self, id: &Identity) -> Result<(), IdentityError> {
        if !self.subject.matches(&id.subject) {
            return Err(IdentityError::Subject {
                expected: self.subject.describe(),
                found: id.subject.clone(),
            });
        }
        let Some(issuer) = &id.issuer else {
            return Err(IdentityError::NoIssuer {
                expected: self.issuer.describe(),
            });
        };
        if !self.issuer.matches(issuer) {
            return Err(IdentityError::Issuer {
                expected: self.issuer.describe(),
                found: issuer.clone(),
            });
        }
        self.github.check(&id.claims)
    }
}

impl GithubClaims {
    fn check(&self, c: &Claims) -> Result<(), IdentityError> {
        for (claim, expected, found) in [
            (
                "trigger",
                &self.workflow_trigger,
                &c.github_workflow_trigger,
            ),
            ("sha", &self.workflow_sha, &c.github_workflow_sha),
            ("name", &self.workflow_name, &c.github_workflow_name),
            (
                "repository",
                &self.workflow_repository,
                &c.github_workflow_repository,
            ),
            ("ref", &self.workflow_ref, &c.github_workflow_ref),
        ] {
            if let Some(expected) = expected
                && found.as_ref() != Some(expected)
            {
                return Err(IdentityError::Claim {
                    claim,
                    expected: expected.clone(),
                    found: found.clone(),
                });
            }
        }
        Ok(())
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sigstore::certificate::SubjectKind;
    use crate::sigstore::certificate::fixtures::case;
    use crate::sigstore::certificate::parse_leaf;

    const BEACON: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    const ACTIONS: &str = "https://token.actions.githubusercontent.com";

    fn identity(subject: &str, issuer: Option<&str>) -> Identity {
        Identity {
            subject: subject.into(),
            kind: SubjectKind::Email,
            issuer: issuer.map(str::to_string),
            claims: Claims::default(),
        }
    }

    fn policy(subject: Matcher, issuer: Matcher) -> IdentityPolicy {
        IdentityPolicy {
            subject,
            issuer,
            github: GithubClaims::default(),
        }
    }

    fn exact(s: &str) -> Matcher {
        Matcher::Exact(s.into())
    }

    #[test]
    fn exact_and_unanchored_regex_matches() {
        let id = identity("who@example.com", Some("https://issuer.example"));
        let ok = [
            policy(exact("who@example.com"), exact("https://issuer.example")),
            policy(
                Matcher::regex("@example\\.com").unwrap(),
                exact("https://issuer.example"),
            ),
            // Unanchored, as cosign: a pattern matches anywhere unless anchored.
            policy(
                Matcher::regex("example").unwrap(),
                Matcher::regex("issuer").unwrap(),
            ),
        ];
        for p in ok {
            assert_eq!(p.check(&id), Ok(()), "{p:?}");
        }
        let anchored = policy(
            Matcher::regex("^example").unwrap(),
            exact("https://issuer.example"),
        );
        assert!(matches!(
            anchored.check(&id),
            Err(IdentityError::Subject { .. })
        ));
        // Exact means the whole value, case included.
        for s in ["who@example.co", "WHO@example.com", "who@example.com "] {
            let p = policy(exact(s), exact("https://issuer.example"));
            assert!(p.check(&id).is_err(), "{s}");
        }
    }

    #[test]
    fn mismatches_say_what_was_expected_and_found_escaped() {
        let id = identity("evil\n@example.com", Some("https://other\u{1b}[31m"));
        let e = policy(exact("who@example.com"), exact("https://issuer.example"))
            .check(&id)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"the certificate's subject "evil\n@example.com" does not match the expected "who@example.com""#
        );
        assert_eq!(e.class(), ErrorClass::Denied);
        let e = policy(
            exact("evil\n@example.com"),
            Matcher::regex("^https://issuer\\.example$").unwrap(),
        )
        .check(&id)
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"the certificate's OIDC issuer "https://other\u{1b}[31m" does not match the expected regex "^https://issuer\\.example$""#
        );
        let e = policy(exact("evil\n@example.com"), exact("x"))
            .check(&identity("evil\n@example.com", None))
            .unwrap_err();
        assert!(matches!(e, IdentityError::NoIssuer { .. }), "{e}");
    }

    #[test]
    fn patterns_are_bounded_and_bad_ones_are_usage_errors() {
        let e = Matcher::regex("(unclosed").unwrap_err();
        assert!(matches!(e, IdentityError::BadRegex { .. }), "{e}");
        assert_eq!(e.class(), ErrorClass::Usage);
        assert!(!e.to_string().contains('\n'), "{e}");
        let long = "a".repeat(MAX_PATTERN_BYTES + 1);
        assert_eq!(
            Matcher::regex(&long).unwrap_err(),
            IdentityError::RegexTooLong(MAX_PATTERN_BYTES + 1)
        );
        // A pattern whose compiled program is huge is refused, not built.
        let e = Matcher::regex("\\w{1000}\\w{1000}\\w{1000}").unwrap_err();
        assert!(matches!(e, IdentityError::BadRegex { .. }), "{e}");
    }

    #[test]
    fn github_claims_of_a_real_actions_leaf() {
        let Some(c) = case("happy-path-v0.3") else {
            return;
        };
        let id = parse_leaf(&c.leaf).unwrap().identity;
        let mut p = policy(exact(BEACON), exact(ACTIONS));
        p.github = GithubClaims {
            workflow_trigger: Some("workflow_dispatch".into()),
            workflow_sha: Some("c7b3dfb335f051e1c86bda4c716fac97df62ad81".into()),
            workflow_name: Some("Extremely dangerous OIDC beacon".into()),
            workflow_repository: Some(
                "sigstore-conformance/extremely-dangerous-public-oidc-beacon".into(),
            ),
            workflow_ref: Some("refs/heads/main".into()),
        };
        assert_eq!(p.check(&id), Ok(()));
        let regex = policy(
            Matcher::regex("^https://github\\.com/sigstore-conformance/").unwrap(),
            exact(ACTIONS),
        );
        assert_eq!(regex.check(&id), Ok(()));

        let mut wrong = p.clone();
        wrong.github.workflow_ref = Some("refs/heads/release".into());
        assert_eq!(
            wrong.check(&id).unwrap_err().to_string(),
            r#"the certificate's GitHub workflow ref is "refs/heads/main", expected "refs/heads/release""#
        );
        let mut absent = policy(exact(BEACON), exact(ACTIONS));
        absent.github.workflow_sha = Some("0".repeat(40));
        let mut no_claims = id.clone();
        no_claims.claims = Claims::default();
        assert!(matches!(
            absent.check(&no_claims),
            Err(IdentityError::Claim {
                claim: "sha",
                found: None,
                ..
            })
        ));
        assert!(
            absent
                .check(&no_claims)
                .unwrap_err()
                .to_string()
                .contains("is absent")
        );
        // The staging issuer is another issuer.
        let other = policy(exact(BEACON), exact("https://oauth2.sigstage.dev/auth"));
        assert!(matches!(
            other.check(&id),
            Err(IdentityError::Issuer { .. })
        ));
    }
}

/// Every conformance case through the three checks here, at the instant the case's log entry
/// gives (or just after the leaf's notBefore when its time comes from a timestamp authority):
/// each passing case holds, and each failing case whose reason lies here fails for that
/// reason. The other failing cases fail elsewhere (logs, timestamps, signatures).
#[cfg(test)]
mod conformance {
    use std::time::Duration;

    use super::*;
    use crate::sigstore::certificate::fixtures::case;
    use crate::sigstore::certificate::{
        CertificateError, check_bundle_chain, parse_leaf, verify_chain,
    };
    use crate::sigstore::sct::{SctError, verify_scts};

    const DEFAULT_IDENTITY: &str = "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main";
    const DEFAULT_ISSUER: &str = "https://token.actions.githubusercontent.com";

    #[derive(Debug)]
    enum Verdict {
        Holds,
        BundleChain(CertificateError),
        Chain(CertificateError),
        Sct(SctError),
        Identity(IdentityError),
    }

    impl Verdict {
        fn describe(&self) -> String {
            match self {
                Self::Holds => "holds".into(),
                Self::BundleChain(e) | Self::Chain(e) => e.to_string(),
                Self::Sct(e) => e.to_string(),
                Self::Identity(e) => e.to_string(),
            }
        }
    }

    fn judge(name: &str, dir: &std::path::Path) -> Option<Verdict> {
        let c = case(name)?;
        let leaf = parse_leaf(&c.leaf).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Err(e) = check_bundle_chain(&c.rest) {
            return Some(Verdict::BundleChain(e));
        }
        let at = c
            .integrated
            .unwrap_or(leaf.not_before + Duration::from_secs(1));
        let issued = match verify_chain(&leaf, &c.root, at) {
            Ok(i) => i,
            Err(e) => return Some(Verdict::Chain(e)),
        };
        if let Err(e) = verify_scts(&leaf, &issued.issuer_spki, &c.root) {
            return Some(Verdict::Sct(e));
        }
        let read = |file: &str, default: &str| {
            std::fs::read_to_string(dir.join(file)).map_or(default.to_string(), |s| s.trim().into())
        };
        let policy = IdentityPolicy {
            subject: Matcher::Exact(read("identity", DEFAULT_IDENTITY)),
            issuer: Matcher::Exact(read("issuer", DEFAULT_ISSUER)),
            github: GithubClaims::default(),
        };
        Some(match policy.check(&leaf.identity) {
            Ok(()) => Verdict::Holds,
            Err(e) => Verdict::Identity(e),
        })
    }

    #[test]
    fn every_keyless_case() {
        let Some(root) = crate::sigstore::conformance_cases() else {
            return;
        };
        let entries = std::fs::read_dir(&root).unwrap();
        let mut seen = 0;
        for entry in entries {
            let dir = entry.unwrap().path();
            let name = dir.file_name().unwrap().to_str().unwrap().to_string();
            let keyless = std::fs::read(dir.join("bundle.sigstore.json"))
                .ok()
                .and_then(|b| crate::bundle::Bundle::parse(&b).ok())
                .and_then(|b| b.certificates().ok().flatten())
                .is_some();
            // A root the case means to be refused is another module's test.
            let root_parses = std::fs::read(dir.join("trusted_root.json")).map_or(true, |r| {
                crate::sigstore::root::TrustedRoot::parse(&r).is_ok()
            });
            if !keyless || !root_parses {
                continue;
            }
            seen += 1;
            let verdict = judge(&name, &dir).unwrap();
            let fits = match name.as_str() {
                "bundle-with-root-cert_fail" => matches!(
                    verdict,
                    Verdict::BundleChain(CertificateError::RootInBundle(_))
                ),
                "bundle-from-wrong-instance_fail" => {
                    matches!(verdict, Verdict::Chain(CertificateError::Untrusted { .. }))
                }
                "integrated-time-in-future_fail"
                | "intoto-expired-certificate_fail"
                | "intoto-set-outside-signing-cert-validity_fail" => matches!(
                    verdict,
                    Verdict::Chain(CertificateError::LeafNotValid { .. })
                ),
                "invalid-ct-key_fail" => {
                    matches!(verdict, Verdict::Sct(SctError::UnknownLog { .. }))
                }
                _ => matches!(verdict, Verdict::Holds),
            };
            assert!(fits, "{name}: {}", verdict.describe());
        }
        assert!(seen >= 60, "only {seen} keyless cases found");
    }
}
