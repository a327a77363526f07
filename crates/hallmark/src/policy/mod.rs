//! Policy files (TOML): which signatures make an artifact trusted, per repository.
//!
//! Rules are tried in order; the first whose `match` globs fit the repository decides.
//! A repository that no rule matches is denied. Unknown keys are errors, so that a typo
//! cannot silently weaken a policy, and every error names its line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use crate::class::ErrorClass;
use std::sync::Arc;

use crate::keys::PublicKey;
use crate::reference::{canonical_glob, canonical_repository, unmatchable_glob};
pub use crate::report::Action;
use crate::report::Rejection;
use crate::sigstore::identity::{GithubClaims, IdentityPolicy, Matcher};
use crate::sigstore::root::TrustedRoot;
use crate::trust::{NamedKey, VerifyOptions, parse_age};

/// A policy that cannot be used; `line` is 1-based.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file cannot be read, or is not one hallmark reads (a FIFO, a device, too
    /// large).
    #[error(transparent)]
    File(#[from] crate::fsio::FileError),
    /// The file is not a valid policy.
    #[error("{path}:{line}: {message}")]
    Invalid {
        /// The policy file.
        path: PathBuf,
        /// The line of the offending value.
        line: usize,
        /// What is wrong, naming the rule.
        message: String,
    },
}

impl PolicyError {
    /// A policy that cannot be used is bad input.
    pub fn class(&self) -> ErrorClass {
        match self {
            Self::File(_) | Self::Invalid { .. } => ErrorClass::Usage,
        }
    }
}

/// One `[[rule]]`.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name (or `rule N`).
    pub name: String,
    /// Repository globs it applies to, as written.
    pub matches: Vec<String>,
    /// The same globs in the spelling repositories are normalised to (`alpine` →
    /// `docker.io/library/alpine`): what is actually matched.
    pub patterns: Vec<String>,
    /// What it does.
    pub action: Action,
    /// Verification settings (keys, threshold, binding, annotations, age, identities).
    pub verify: VerifyOptions,
    /// Attestations that must also verify (`[[rule.attestation]]`).
    pub attestations: Vec<RequiredAttestation>,
}

/// An attestation a rule requires: of this predicate type, signed by one of these keys
/// (or, when it names none, the rule's keys and keyless signers).
#[derive(Debug, Clone)]
pub struct RequiredAttestation {
    /// The predicate type (short names resolved to URIs).
    pub predicate_type: String,
    /// Keys, any one of which suffices.
    pub keys: Vec<NamedKey>,
    /// Keyless signers, any one of which suffices.
    pub keyless: Vec<IdentityPolicy>,
}

/// A loaded policy file.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Where it was read from (key paths are relative to it).
    pub path: PathBuf,
    /// Rules in order; the first that matches decides.
    pub rules: Vec<Rule>,
    /// The Sigstore trusted root the policy names (`trusted-root`), if it names one.
    pub trusted_root: Option<PathBuf>,
}

/// What a policy says about one repository.
#[derive(Debug, Clone)]
pub(crate) enum Ruling<'a> {
    /// Signatures decide, as this rule requires.
    Verify(&'a Rule),
    /// Denied whatever is signed (a `reject` rule, or no rule at all).
    Deny {
        /// The rule, when one matched.
        rule: Option<&'a Rule>,
        /// Why, in one line.
        why: String,
    },
    /// Allowed with nothing checked (`allow-unsigned`).
    AllowUnsigned {
        /// The rule.
        rule: &'a Rule,
        /// What that means, in one line.
        why: String,
    },
}

impl<'a> Ruling<'a> {
    /// The rule that decided, if one matched.
    pub(crate) fn rule(&self) -> Option<&'a Rule> {
        match self {
            Ruling::Verify(r) | Ruling::AllowUnsigned { rule: r, .. } => Some(r),
            Ruling::Deny { rule, .. } => *rule,
        }
    }
}

/// What makes an artifact trusted: keys with their requirements, or a policy file.
#[derive(Debug, Clone)]
pub enum Trust {
    /// The same requirements for every repository.
    Keys(VerifyOptions),
    /// The rule matching each repository.
    Policy(Policy),
}

impl Trust {
    /// Also requires the tag to be bound by a signature, under every rule.
    pub fn require_tag_binding(&mut self) {
        match self {
            Self::Keys(opts) => opts.require_tag_binding = true,
            Self::Policy(p) => {
                for r in &mut p.rules {
                    r.verify.require_tag_binding = true;
                }
            }
        }
    }

    /// Also requires these signed annotations (`verify -a`), under every rule, on top of
    /// any a rule already requires. A rule that requires another value for the same key
    /// could then never be met: that is refused rather than denied at every run.
    pub fn require_annotations(
        &mut self,
        wanted: &BTreeMap<String, String>,
    ) -> Result<(), AnnotationConflict> {
        let merge = |rule: Option<&str>, have: &mut BTreeMap<String, String>| {
            for (k, v) in wanted {
                match have.get(k) {
                    Some(theirs) if theirs != v => {
                        return Err(AnnotationConflict {
                            rule: rule.unwrap_or_default().to_string(),
                            key: k.clone(),
                            rule_value: theirs.clone(),
                            given: v.clone(),
                        });
                    }
                    _ => {
                        have.insert(k.clone(), v.clone());
                    }
                }
            }
            Ok(())
        };
        match self {
            Self::Keys(opts) => merge(None, &mut opts.annotations),
            Self::Policy(p) => p
                .rules
                .iter_mut()
                .try_for_each(|r| merge(Some(&r.name), &mut r.verify.annotations)),
        }
    }
}

/// A required annotation that a policy rule requires with another value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "annotation {key} is required as {given:?}, but policy rule {rule:?} requires {rule_value:?}: no signature can meet both"
)]
pub struct AnnotationConflict {
    /// The rule's name.
    pub rule: String,
    /// The annotation.
    pub key: String,
    /// The value the rule requires.
    pub rule_value: String,
    /// The value given.
    pub given: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPolicy {
    version: Spanned<i64>,
    trusted_root: Option<Spanned<String>>,
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
}

/// `[[rule.keyless]]`: a Fulcio certificate identity whose signatures count.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawKeyless {
    issuer: Option<String>,
    issuer_regexp: Option<String>,
    subject: Option<String>,
    subject_regexp: Option<String>,
    github_workflow_repository: Option<String>,
    github_workflow_ref: Option<String>,
    github_workflow_sha: Option<String>,
    github_workflow_trigger: Option<String>,
    github_workflow_name: Option<String>,
}

/// Why a `[[rule.keyless]]` table names no signer.
#[derive(Debug, thiserror::Error)]
enum KeylessError {
    #[error("{what}-regexp: {error}")]
    Regex {
        what: &'static str,
        error: crate::sigstore::identity::IdentityError,
    },
    #[error("give `{0}` or `{0}-regexp`, not both")]
    Both(&'static str),
    #[error("a keyless signer needs `{0}` or `{0}-regexp`")]
    Neither(&'static str),
}

impl RawKeyless {
    fn policy(self) -> Result<IdentityPolicy, KeylessError> {
        let matcher = |exact: Option<String>, regexp: Option<String>, what: &'static str| match (
            exact, regexp,
        ) {
            (Some(e), None) => Ok(Matcher::Exact(e)),
            (None, Some(r)) => {
                Matcher::regex(&r).map_err(|error| KeylessError::Regex { what, error })
            }
            (Some(_), Some(_)) => Err(KeylessError::Both(what)),
            (None, None) => Err(KeylessError::Neither(what)),
        };
        Ok(IdentityPolicy {
            subject: matcher(self.subject, self.subject_regexp, "subject")?,
            issuer: matcher(self.issuer, self.issuer_regexp, "issuer")?,
            github: GithubClaims {
                workflow_repository: self.github_workflow_repository,
                workflow_ref: self.github_workflow_ref,
                workflow_sha: self.github_workflow_sha,
                workflow_trigger: self.github_workflow_trigger,
                workflow_name: self.github_workflow_name,
            },
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawRule {
    name: Option<String>,
    #[serde(rename = "match")]
    matches: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    keys: Vec<Spanned<String>>,
    #[serde(default)]
    keyless: Vec<Spanned<RawKeyless>>,
    threshold: Option<Spanned<i64>>,
    #[serde(default)]
    require_tag_binding: bool,
    max_age: Option<Spanned<String>>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    identities: Vec<Spanned<String>>,
    action: Option<Spanned<String>>,
    #[serde(default)]
    attestation: Vec<Spanned<RawAttestation>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAttestation {
    #[serde(rename = "type")]
    predicate_type: Spanned<String>,
    #[serde(default)]
    keys: Vec<Spanned<String>>,
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Policy {
    /// Reads and parses a policy file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let bytes = crate::fsio::read_input(path, crate::fsio::limits::POLICY)?;
        let text = String::from_utf8(bytes).map_err(|_| PolicyError::Invalid {
            path: path.to_path_buf(),
            line: 1,
            message: "not UTF-8 text".into(),
        })?;
        Self::parse(&text, path)
    }

    /// Parses policy text; key paths are relative to `path`'s directory.
    pub fn parse(text: &str, path: &Path) -> Result<Self, PolicyError> {
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
        let root = match &raw.trusted_root {
            None => TrustedRoot::shared_production(),
            Some(r) => {
                let file = base.join(r.get_ref());
                let bytes = crate::fsio::read_input(&file, crate::sigstore::root::MAX_ROOT_BYTES)
                    .map_err(|e| {
                    err(
                        r.span().start,
                        format!("cannot read trusted root {}: {e}", file.display()),
                    )
                })?;
                Arc::new(TrustedRoot::parse(&bytes).map_err(|e| {
                    err(
                        r.span().start,
                        format!("trusted root {}: {e}", file.display()),
                    )
                })?)
            }
        };
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
            let load_keys = |list: &[Spanned<String>]| -> Result<Vec<NamedKey>, PolicyError> {
                let mut keys: Vec<NamedKey> = Vec::new();
                for k in list {
                    let file = base.join(k.get_ref());
                    let text = crate::fsio::read_input(&file, crate::fsio::limits::KEY)
                        .map_err(|e| e.to_string())
                        .and_then(|b| String::from_utf8(b).map_err(|_| "not PEM text".into()))
                        .map_err(|e| {
                            err(
                                k.span().start,
                                format!("{name}: cannot read key {}: {e}", file.display()),
                            )
                        })?;
                    let key = PublicKey::from_pem(&text, &file.display().to_string())
                        .map_err(|e| err(k.span().start, format!("{name}: {e}")))?;
                    if keys.iter().any(|n| n.key == key) {
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
                Ok(keys)
            };
            let keys = load_keys(&r.keys)?;
            let mut keyless = Vec::new();
            for k in r.keyless {
                let at = k.span().start;
                keyless.push(
                    k.into_inner()
                        .policy()
                        .map_err(|why| err(at, format!("{name}: keyless: {why}")))?,
                );
            }
            let mut attestations = Vec::new();
            for a in &r.attestation {
                let a = a.get_ref();
                let (att_keys, att_keyless) = if a.keys.is_empty() {
                    (keys.clone(), keyless.clone())
                } else {
                    (load_keys(&a.keys)?, Vec::new())
                };
                if att_keys.is_empty() && att_keyless.is_empty() {
                    return Err(err(
                        a.predicate_type.span().start,
                        format!(
                            "{name}: an attestation needs `keys` (its own, or the rule's keys or keyless signers)"
                        ),
                    ));
                }
                let predicate_type =
                    crate::bundle::intoto::parse_predicate_type(a.predicate_type.get_ref())
                        .map_err(|e| err(a.predicate_type.span().start, format!("{name}: {e}")))?;
                attestations.push(RequiredAttestation {
                    predicate_type: predicate_type.to_string(),
                    keys: att_keys,
                    keyless: att_keyless,
                });
            }
            if action == Action::Verify && keys.is_empty() && keyless.is_empty() {
                return Err(err(
                    at,
                    format!("{name}: a verify rule needs `keys` or `[[rule.keyless]]` signers"),
                ));
            }
            let signers = keys.len() + keyless.len();
            let threshold = match &r.threshold {
                None => 1,
                Some(t) => {
                    let v = *t.get_ref();
                    if v < 1 || v as usize > signers {
                        return Err(err(
                            t.span().start,
                            format!(
                                "{name}: threshold {v} must be between 1 and the number of keys and keyless signers ({signers})"
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
            let matches: Vec<String> = r
                .matches
                .get_ref()
                .iter()
                .map(|m| m.get_ref().clone())
                .collect();
            rules.push(Rule {
                attestations,
                name,
                patterns: matches.iter().map(|m| canonical_glob(m)).collect(),
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
                    keyless,
                    root: root.clone(),
                    ignore_tlog: false,
                },
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            rules,
            trusted_root: raw.trusted_root.map(|r| base.join(r.into_inner())),
        })
    }

    /// The first rule whose globs match `repository` (`reg/repo`), if any.
    pub fn rule_for(&self, repository: &str) -> Option<&Rule> {
        let repository = canonical_repository(repository);
        self.rules.iter().find(|r| {
            r.patterns
                .iter()
                .any(|m| crate::glob::matches(m, &repository))
        })
    }

    /// What the policy says about `repository` before any signature is looked at.
    pub(crate) fn ruling(&self, repository: &str) -> Ruling<'_> {
        let rule = self.rule_for(repository);
        let why = || {
            self.reason(rule, repository)
                .map(|r| r.to_string())
                .unwrap_or_default()
        };
        match rule {
            None => Ruling::Deny {
                rule: None,
                why: why(),
            },
            Some(r) if r.action == Action::Reject => Ruling::Deny {
                rule: Some(r),
                why: why(),
            },
            Some(r) if r.action == Action::AllowUnsigned => Ruling::AllowUnsigned {
                rule: r,
                why: why(),
            },
            Some(r) => Ruling::Verify(r),
        }
    }

    /// Why `rule` (none: no rule matched) decides about `repository` without a signature,
    /// as a report's reason; `None` for a rule whose signatures decide.
    pub fn reason(&self, rule: Option<&Rule>, repository: &str) -> Option<Rejection> {
        let repository = repository.to_string();
        match rule {
            None => Some(Rejection::NoRule {
                policy: self.path.display().to_string(),
                repository,
            }),
            Some(r) if r.action == Action::Reject => Some(Rejection::RuleRejects {
                rule: r.name.clone(),
                repository,
            }),
            Some(r) if r.action == Action::AllowUnsigned => Some(Rejection::UnsignedAllowed {
                rule: r.name.clone(),
                repository,
            }),
            Some(_) => None,
        }
    }

    /// What is valid but almost certainly not meant: globs no repository name can match,
    /// and rules that an earlier rule shadows entirely.
    pub fn warnings(&self) -> Vec<PolicyWarning> {
        let mut out = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            for glob in r.matches.iter().chain(&r.verify.identities) {
                if let Some(reason) = unmatchable_glob(glob) {
                    out.push(PolicyWarning::Unmatchable {
                        rule: r.name.clone(),
                        glob: glob.clone(),
                        reason,
                    });
                }
            }
            let earlier = self.rules[..i].iter().find(|e| {
                r.patterns
                    .iter()
                    .all(|g| e.patterns.iter().any(|outer| crate::glob::covers(outer, g)))
            });
            if let Some(e) = earlier {
                out.push(PolicyWarning::Shadowed {
                    rule: r.name.clone(),
                    by: e.name.clone(),
                });
            }
        }
        out
    }
}

/// Something in a valid policy that is almost certainly a mistake.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
// Deliberately exhaustive: the command line's JSON names every kind of warning, so a new
// one must be given a shape there.
pub enum PolicyWarning {
    /// A glob no repository name can match: the rule silently never applies.
    #[error("rule {rule:?}: glob {glob:?} can never match a repository: {reason}")]
    Unmatchable {
        /// The rule.
        rule: String,
        /// The glob, as written.
        glob: String,
        /// Why.
        reason: String,
    },
    /// Every repository the rule matches is decided by an earlier rule.
    #[error("rule {rule:?} never applies: rule {by:?} before it matches everything it matches")]
    Shadowed {
        /// The rule that never applies.
        rule: String,
        /// The earlier rule.
        by: String,
    },
}

/// A repository glob that can never be meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum GlobError {
    #[error("empty repository glob")]
    Empty,
    #[error("glob {0:?} has an empty path segment")]
    EmptySegment(String),
    #[error("glob {0:?} contains whitespace")]
    Whitespace(String),
}

fn validate_glob(g: &str) -> Result<(), GlobError> {
    if g.is_empty() {
        return Err(GlobError::Empty);
    }
    if g.split('/').any(str::is_empty) {
        return Err(GlobError::EmptySegment(g.to_string()));
    }
    if g.contains(char::is_whitespace) {
        return Err(GlobError::Whitespace(g.to_string()));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
