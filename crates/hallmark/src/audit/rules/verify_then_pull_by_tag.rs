//! `verify-then-pull-by-tag`: a tag verified, then pulled by the same tag, is resolved
//! twice.

use crate::audit::check::commands::Step;
use crate::audit::check::state::ShellState;
use crate::audit::check::{Check, Cx};
use crate::audit::{Rule, Severity};

pub(super) const RULE: Rule = Rule {
    id: "verify-then-pull-by-tag",
    severity: Severity::High,
    title: "An image is verified by tag, then pulled or run by tag",
    help: "The tag is resolved twice: once by the verifier, once by the pull. A swap in between runs an image nothing verified. Pull what was verified: `ref=$(hallmark verify app:v1 --key cosign.pub) && docker pull \"$ref\"`, or `hallmark copy`.",
    help_url: super::help_url!("verify-then-pull-by-tag"),
};

pub(super) const CHECK: &dyn Check = &VerifyThenPull;

struct VerifyThenPull;

impl Check for VerifyThenPull {
    fn command(&self, cx: &mut Cx<'_>, step: &Step<'_>, st: &ShellState) {
        if let Some((w, image)) = step.pulled()
            && st.verified_by_tag.contains_key(image)
        {
            cx.report(
                &RULE,
                None,
                step.at(w),
                image,
                format!("{image} was verified by tag, then is pulled by tag: the two can name different images"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::findings;
    use crate::audit::Kind;

    #[test]
    fn a_pull_of_the_tag_verified_is_found_and_of_the_reference_verified_is_not() {
        let race = "cosign verify --key k reg.io/app:v1 && docker pull reg.io/app:v1\n";
        assert_eq!(
            findings("d.sh", Kind::Shell, race),
            [("verify-then-pull-by-tag".to_string(), 1)]
        );
        let pinned = "ref=$(hallmark verify reg.io/app:v1 --key k) && docker pull \"$ref\"\n";
        assert!(findings("e.sh", Kind::Shell, pinned).is_empty());
    }
}
