//! Policy files (TOML): which signatures make an artifact trusted, per repository.
//!
//! Rules are tried in order; the first whose `match` globs fit the repository decides.
//! A repository that no rule matches is denied. Unknown keys are errors, so that a typo
//! cannot silently weaken a policy, and every error names its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::keys::PublicKey;
use crate::verify::{NamedKey, VerifyOptions, identity_matches};

/// A policy that cannot be used; `line` is 1-based when known.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    #[error("{path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// What a rule does with the repositories it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Verify,
    Reject,
    /// An explicit opt-out: reported, never silent.
    AllowUnsigned,
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub matches: Vec<String>,
    pub action: Action,
    /// Verification settings (keys, threshold, binding, annotations, age, identities).
    pub verify: VerifyOptions,
}

#[derive(Debug, Clone)]
pub struct Policy {
    pub path: PathBuf,
    pub rules: Vec<Rule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    version: Spanned<i64>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    name: Option<String>,
    #[serde(rename = "match")]
    matches: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    keys: Vec<Spanned<String>>,
    threshold: Option<Spanned<i64>>,
    #[serde(default)]
    require_tag_binding: bool,
    max_age: Option<Spanned<String>>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    identities: Vec<Spanned<String>>,
    action: Option<Spanned<String>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Policy {
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|e| PolicyError::Read {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        Policy::parse(&text, path)
    }

    /// Parses policy text; key paths are relative to `path`'s directory.
    pub fn parse(text: &str, path: &Path) -> Result<Policy, PolicyError> {
        let err = |offset: usize, message: String| PolicyError::Invalid {
            path: path.to_path_buf(),
            line: line_of(text, offset),
            message,
        };
        let raw: RawPolicy = toml::from_str(text).map_err(|e| {
            let offset = e.span().map_or(0, |s| s.start);
            err(offset, e.message().trim().to_string())
        })?;
        if *raw.version.get_ref() != 1 {
            return Err(err(
                raw.version.span().start,
                format!("unsupported version {} (expected 1)", raw.version.get_ref()),
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut rules = Vec::new();
        for (i, spanned) in raw.rule.into_iter().enumerate() {
            let at = spanned.span().start;
            let r = spanned.into_inner();
            let name = r.name.unwrap_or_else(|| format!("rule {}", i + 1));
            if r.matches.get_ref().is_empty() {
                return Err(err(
                    r.matches.span().start,
                    format!("{name}: `match` lists no repository glob"),
                ));
            }
            for m in r.matches.get_ref() {
                validate_glob(m.get_ref())
                    .map_err(|why| err(m.span().start, format!("{name}: {why}")))?;
            }
            let action = match r.action.as_ref().map(|a| a.get_ref().as_str()) {
                None | Some("verify") => Action::Verify,
                Some("reject") => Action::Reject,
                Some("allow-unsigned") => Action::AllowUnsigned,
                Some(other) => {
                    let span = r.action.as_ref().map_or(at, |a| a.span().start);
                    return Err(err(
                        span,
                        format!(
                            "{name}: unknown action {other:?} (verify, reject or allow-unsigned)"
                        ),
                    ));
                }
            };
            let mut keys = Vec::new();
            for k in &r.keys {
                let file = base.join(k.get_ref());
                let text = std::fs::read_to_string(&file).map_err(|e| {
                    err(
                        k.span().start,
                        format!("{name}: cannot read key {}: {e}", file.display()),
                    )
                })?;
                let key = PublicKey::from_pem(&text, &file.display().to_string())
                    .map_err(|e| err(k.span().start, format!("{name}: {e}")))?;
                if keys.iter().any(|n: &NamedKey| n.key == key) {
                    return Err(err(
                        k.span().start,
                        format!("{name}: key {} is listed twice", k.get_ref()),
                    ));
                }
                keys.push(NamedKey {
                    name: k.get_ref().clone(),
                    key,
                });
            }
            if action == Action::Verify && keys.is_empty() {
                return Err(err(at, format!("{name}: a verify rule needs `keys`")));
            }
            let threshold = match &r.threshold {
                None => 1,
                Some(t) => {
                    let v = *t.get_ref();
                    if v < 1 || v as usize > keys.len() {
                        return Err(err(
                            t.span().start,
                            format!(
                                "{name}: threshold {v} must be between 1 and the number of keys ({})",
                                keys.len()
                            ),
                        ));
                    }
                    v as usize
                }
            };
            let max_age = match &r.max_age {
                None => None,
                Some(a) => Some(
                    parse_age(a.get_ref())
                        .map_err(|why| err(a.span().start, format!("{name}: {why}")))?,
                ),
            };
            for id in &r.identities {
                validate_glob(id.get_ref())
                    .map_err(|why| err(id.span().start, format!("{name}: {why}")))?;
            }
            rules.push(Rule {
                name,
                matches: r
                    .matches
                    .into_inner()
                    .into_iter()
                    .map(Spanned::into_inner)
                    .collect(),
                action,
                verify: VerifyOptions {
                    keys,
                    threshold,
                    require_tag_binding: r.require_tag_binding,
                    identities: r.identities.into_iter().map(Spanned::into_inner).collect(),
                    annotations: r.annotations,
                    max_age,
                },
            });
        }
        Ok(Policy {
            path: path.to_path_buf(),
            rules,
        })
    }

    /// The first rule whose globs match `repository` (`reg/repo`), if any.
    pub fn rule_for(&self, repository: &str) -> Option<&Rule> {
        self.rules
            .iter()
            .find(|r| r.matches.iter().any(|m| identity_matches(m, repository)))
    }
}

/// Verifies `target` under the policy: the first matching rule decides; none is a "no".
pub async fn verify(
    target: &crate::store::Target,
    policy: &Policy,
) -> Result<crate::verify::Report, crate::Error> {
    use crate::verify::{self, PolicyDecision, Report};
    let repository = target.store.identity();
    let rule = policy.rule_for(&repository);
    let decision = PolicyDecision {
        rule: rule.map(|r| r.name.clone()),
        action: rule.map(|r| r.action),
    };
    let mut report = match rule {
        Some(r) if r.action == Action::Verify => verify::verify(target, &r.verify).await?,
        _ => {
            let mut report = Report::new(target, verify::resolve(target).await?.digest);
            match rule {
                None => report.errors.push(format!(
                    "no rule of {} matches {repository}; denied by default",
                    policy.path.display()
                )),
                Some(r) if r.action == Action::Reject => report
                    .errors
                    .push(format!("rule {:?} rejects {repository}", r.name)),
                Some(r) => {
                    report.verified = true;
                    report.errors.push(format!(
                        "rule {:?} allows {repository} unsigned: no signature was checked",
                        r.name
                    ));
                }
            }
            report
        }
    };
    report.policy = Some(decision);
    Ok(report)
}

fn validate_glob(g: &str) -> Result<(), String> {
    if g.is_empty() {
        return Err("empty repository glob".into());
    }
    if g.split('/').any(str::is_empty) {
        return Err(format!("glob {g:?} has an empty path segment"));
    }
    if g.contains(char::is_whitespace) {
        return Err(format!("glob {g:?} contains whitespace"));
    }
    Ok(())
}

/// `90d`, `12h`, `30m`, `45s`.
pub fn parse_age(s: &str) -> Result<Duration, String> {
    let bad = || format!("max-age {s:?} is not a number followed by s, m, h or d");
    let unit = s.chars().last().ok_or_else(bad)?;
    let n: u64 = s[..s.len() - unit.len_utf8()].parse().map_err(|_| bad())?;
    let secs = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => return Err(bad()),
    };
    if n == 0 {
        return Err(format!("max-age {s:?} must be positive"));
    }
    n.checked_mul(secs).map(Duration::from_secs).ok_or_else(bad)
}

/// The inverse of [`parse_age`], in the largest whole unit.
pub fn format_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        _ if s.is_multiple_of(86400) => format!("{}d", s / 86400),
        _ if s.is_multiple_of(3600) => format!("{}h", s / 3600),
        _ if s.is_multiple_of(60) => format!("{}m", s / 60),
        _ => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_key(dir: &Path) {
        let k = crate::keys::SigningKey::generate(crate::keys::Algorithm::EcdsaP256).unwrap();
        std::fs::write(dir.join("a.pub"), k.public_key().to_pem()).unwrap();
        let k = crate::keys::SigningKey::generate(crate::keys::Algorithm::Ed25519).unwrap();
        std::fs::write(dir.join("b.pub"), k.public_key().to_pem()).unwrap();
    }

    fn parse(dir: &Path, text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(text, &dir.join("policy.toml"))
    }

    #[test]
    fn full_example_parses_and_matches_in_order() {
        let dir = tempfile::tempdir().unwrap();
        with_key(dir.path());
        let p = parse(
            dir.path(),
            r#"version = 1

[[rule]]
name = "prod"
match = ["reg.example.com/prod/*"]
keys = ["a.pub", "b.pub"]
threshold = 2
require-tag-binding = true
max-age = "90d"
annotations = { env = "prod" }
identities = ["mirror.example.com/prod/*"]

[[rule]]
name = "rest"
match = ["**"]
action = "reject"
"#,
        )
        .unwrap();
        let r = p.rule_for("reg.example.com/prod/app").unwrap();
        assert_eq!((r.name.as_str(), r.verify.threshold), ("prod", 2));
        assert_eq!(r.verify.max_age, Some(Duration::from_secs(90 * 86400)));
        assert_eq!(
            p.rule_for("reg.example.com/prod/a/b").unwrap().action,
            Action::Reject
        );
        assert!(
            Policy::parse("version = 1\n", Path::new("p.toml"))
                .unwrap()
                .rule_for("x/y")
                .is_none()
        );
    }

    #[test]
    fn errors_name_the_line() {
        let dir = tempfile::tempdir().unwrap();
        with_key(dir.path());
        let cases = [
            (
                "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"a.pub\"]\ntreshold = 1\n",
                5,
                "unknown field `treshold`",
            ),
            ("version = 2\n", 1, "unsupported version 2"),
            (
                "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"a.pub\"]\nthreshold = 3\n",
                5,
                "threshold 3",
            ),
            (
                "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"missing.pub\"]\n",
                4,
                "cannot read key",
            ),
            (
                "version = 1\n[[rule]]\nmatch = [\"**\"]\n\nkeys = [\"a.pub\"]\nmax-age = \"9 weeks\"\n",
                6,
                "max-age",
            ),
            (
                "version = 1\n[[rule]]\nmatch = [\"**\"]\naction = \"allow\"\n",
                4,
                "unknown action",
            ),
            (
                "version = 1\n[[rule]]\nmatch = [\"**\"]\n",
                2,
                "needs `keys`",
            ),
            (
                "version = 1\n[[rule]]\nmatch = []\naction = \"reject\"\n",
                3,
                "no repository glob",
            ),
            (
                "version = 1\n[[rule]]\nmatch = [\"a//b\"]\naction = \"reject\"\n",
                3,
                "empty path segment",
            ),
            ("version = 1\n[[rule]\n", 2, ""),
            (
                "version = 1\n[[rule]]\nmatch = [\"**\"]\nkeys = [\"a.pub\", \"a.pub\"]\n",
                4,
                "listed twice",
            ),
        ];
        for (text, line, want) in cases {
            let e = parse(dir.path(), text).unwrap_err().to_string();
            assert!(
                e.contains(&format!("policy.toml:{line}: ")),
                "{text:?}: {e}"
            );
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }

    #[test]
    fn ages() {
        assert_eq!(parse_age("45s").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_age("2h").unwrap(), Duration::from_secs(7200));
        for a in ["90d", "2h", "30m", "45s"] {
            assert_eq!(format_age(parse_age(a).unwrap()), a);
        }
        for bad in ["", "d", "5", "5w", "-1d", "0d", "99999999999999999999d"] {
            assert!(parse_age(bad).is_err(), "{bad}");
        }
    }
}
