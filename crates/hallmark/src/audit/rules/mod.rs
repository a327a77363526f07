//! The rules, one module each: its [`Rule`] (id, severity, title, help, help URL), its
//! checks over the file's model and over each command of each script, and its tests.
//!
//! A rule implements [`Check`](crate::audit::check::Check): the hooks it needs among a
//! file's model (`file`), script assignments, commands and the credentials commands are
//! given, each with the shell state at that point. What several rules need (the shell
//! state, variable resolution, image references, credential judgement, dedup,
//! fingerprints, the inventory) is in `audit/check/`, never in a rule.
//!
//! Adding a rule: a new file here defining `RULE` and `CHECK`, one line in `rules!` below,
//! and a section in `docs/AUDIT-RULES.md` under the rule's id.

use crate::audit::Rule;
use crate::audit::check::Check;

/// Where a rule's documentation is, in the repository.
macro_rules! help_url {
    ($id:literal) => {
        concat!("docs/AUDIT-RULES.md#", $id)
    };
}
use help_url;

/// Declares the rule modules, and lists their rules and checks in one order: the order of
/// the rules in SARIF output.
macro_rules! rules {
    ($($rule:ident,)*) => {
        $(mod $rule;)*

        /// Every rule hallmark audits for.
        pub const RULES: &[Rule] = &[$($rule::RULE,)*];

        /// Their checks, in the same order.
        pub(crate) const CHECKS: &[&dyn Check] = &[$($rule::CHECK,)*];
    };
}

rules! {
    sign_by_tag,
    sign_resolved_digest,
    verify_then_pull_by_tag,
    deploy_by_tag,
    unpinned_action,
    unchecked_download,
    hardcoded_credential,
}

#[cfg(test)]
pub(crate) mod tests;
