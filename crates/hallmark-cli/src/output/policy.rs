//! `policy check`: the rules as the policy file states them
//! (docs/schema/policy-check.schema.json).

use std::collections::BTreeMap;
use std::path::Path;

use hallmark::policy::{Policy, PolicyWarning, Rule};
use serde::Serialize;

use super::verify::serde_name;
use super::{Render, Text, V1};

/// `policy check`'s document.
#[derive(Serialize)]
pub struct PolicyChecked<'a> {
    version: V1,
    valid: bool,
    rules: Vec<RuleOut<'a>>,
    warnings: Vec<WarningOut<'a>>,
    /// The warnings in words, for people.
    #[serde(skip)]
    warning_lines: Vec<String>,
    #[serde(skip)]
    path: &'a Path,
    #[serde(skip)]
    policy: &'a Policy,
}

#[derive(Serialize)]
struct RuleOut<'a> {
    name: &'a str,
    #[serde(rename = "match")]
    matches: &'a [String],
    matches_repositories: &'a [String],
    action: String,
    keys: Vec<&'a str>,
    keyless: Vec<KeylessOut>,
    threshold: usize,
    require_tag_binding: bool,
    max_age_seconds: Option<u64>,
    annotations: &'a BTreeMap<String, String>,
    identities: &'a [String],
    attestations: Vec<AttestationOut<'a>>,
}

/// Something in a valid policy that is almost certainly a mistake.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
enum WarningOut<'a> {
    Unmatchable {
        rule: &'a str,
        glob: &'a str,
        reason: &'a str,
    },
    Shadowed {
        rule: &'a str,
        by: &'a str,
    },
}

fn warning(w: &PolicyWarning) -> WarningOut<'_> {
    match w {
        PolicyWarning::Unmatchable { rule, glob, reason } => {
            WarningOut::Unmatchable { rule, glob, reason }
        }
        PolicyWarning::Shadowed { rule, by } => WarningOut::Shadowed { rule, by },
    }
}

#[derive(Serialize)]
struct KeylessOut {
    subject: String,
    issuer: String,
}

#[derive(Serialize)]
struct AttestationOut<'a> {
    #[serde(rename = "type")]
    predicate_type: &'a str,
    keys: Vec<&'a str>,
}

fn rule(r: &Rule) -> RuleOut<'_> {
    RuleOut {
        name: &r.name,
        matches: &r.matches,
        matches_repositories: &r.patterns,
        action: serde_name(&r.action),
        keys: r.verify.keys.iter().map(|k| k.name.as_str()).collect(),
        keyless: r
            .verify
            .keyless
            .iter()
            .map(|k| KeylessOut {
                subject: k.subject.describe(),
                issuer: k.issuer.describe(),
            })
            .collect(),
        threshold: r.verify.threshold,
        require_tag_binding: r.verify.require_tag_binding,
        max_age_seconds: r.verify.max_age.map(|d| d.as_secs()),
        annotations: &r.verify.annotations,
        identities: &r.verify.identities,
        attestations: r
            .attestations
            .iter()
            .map(|a| AttestationOut {
                predicate_type: &a.predicate_type,
                keys: a.keys.iter().map(|k| k.name.as_str()).collect(),
            })
            .collect(),
    }
}

impl<'a> PolicyChecked<'a> {
    /// `warnings` are the policy's own ([`Policy::warnings`]).
    pub fn new(path: &'a Path, policy: &'a Policy, warnings: &'a [PolicyWarning]) -> Self {
        PolicyChecked {
            version: V1,
            valid: true,
            rules: policy.rules.iter().map(rule).collect(),
            warnings: warnings.iter().map(warning).collect(),
            warning_lines: warnings.iter().map(ToString::to_string).collect(),
            path,
            policy,
        }
    }
}

/// One rule in the policy file's own words: `match`, `action`, `keys`, `threshold`, …
fn rule_line(r: &Rule) -> String {
    let action = serde_name(&r.action);
    let mut parts = vec![format!(
        "rule {:?}: match {} action {action}",
        r.name,
        r.patterns.join(", ")
    )];
    if r.action == hallmark::report::Action::Verify {
        let v = &r.verify;
        parts.push(format!(
            "keys {}",
            v.keys
                .iter()
                .map(|k| k.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        for k in &v.keyless {
            parts.push(format!(
                "keyless subject {} issuer {}",
                k.subject.describe(),
                k.issuer.describe()
            ));
        }
        parts.push(format!("threshold {}", v.threshold));
        if v.require_tag_binding {
            parts.push("require-tag-binding".into());
        }
        if let Some(age) = v.max_age {
            parts.push(format!("max-age {}", hallmark::trust::format_age(age)));
        }
        if !v.identities.is_empty() {
            parts.push(format!("identities {}", v.identities.join(", ")));
        }
        for (k, want) in &v.annotations {
            parts.push(format!("annotation {k}={want}"));
        }
        for a in &r.attestations {
            parts.push(format!(
                "attestation {} by {}",
                a.predicate_type,
                a.keys
                    .iter()
                    .map(|k| k.name.as_str())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ));
        }
    }
    parts.join("; ")
}

impl Render for PolicyChecked<'_> {
    fn text(&self, t: &mut Text<'_>) -> std::io::Result<()> {
        for w in &self.warning_lines {
            t.say(format!("warning: {w}"));
        }
        // The result is on stdout, one rule per line, for scripts and reviews alike.
        let mut lines = vec![format!(
            "{}: valid, {} rule(s)",
            self.path.display(),
            self.policy.rules.len()
        )];
        lines.extend(self.policy.rules.iter().map(rule_line));
        if !self
            .policy
            .rules
            .iter()
            .any(|r| r.matches.iter().any(|m| m == "**"))
        {
            lines.push("no catch-all rule: anything unmatched is denied".into());
        }
        t.result(&lines.join("\n"))
    }
}
