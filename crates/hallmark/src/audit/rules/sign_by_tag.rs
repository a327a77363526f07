//! `sign-by-tag`: `cosign sign app:v1` signs whatever the tag names when the signer asks.

use crate::audit::check::commands::Step;
use crate::audit::check::state::ShellState;
use crate::audit::check::{Check, Cx};
use crate::audit::model::ValueClass;
use crate::audit::{Rule, Severity};

pub(super) const RULE: Rule = Rule {
    id: "sign-by-tag",
    severity: Severity::Critical,
    title: "An image is signed by tag",
    help: "Signing `app:v1` signs whatever the tag names when the signer asks, which anyone with write access to the registry decides: the artifact-poisoning attack. Sign the digest your build produced (`cosign sign app@${{ steps.build.outputs.digest }}`), or `hallmark sign app:v1 --expect-digest <digest>`, or sign before pushing with `hallmark publish`.",
    help_url: super::help_url!("sign-by-tag"),
};

pub(super) const CHECK: &dyn Check = &SignByTag;

struct SignByTag;

impl Check for SignByTag {
    fn command(&self, cx: &mut Cx<'_>, step: &Step<'_>, _: &ShellState) {
        if step.expects_digest() {
            return;
        }
        for s in step.signed() {
            // Any digest, even one looked up (`sign-resolved-digest`), is not a tag.
            if s.class != ValueClass::Tag {
                continue;
            }
            cx.report(
                &RULE,
                None,
                step.at(s.word),
                &s.word.text,
                format!(
                    "{} sign signs {} by tag: whatever the tag names when it runs",
                    step.name, s.word.text
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::findings;
    use crate::audit::Kind;

    #[test]
    fn signing_a_tag_is_found_and_a_digest_or_an_expected_digest_is_not() {
        let script = "docker push reg.io/app:v1\ncosign sign --key k reg.io/app:v1\n";
        assert_eq!(
            findings("a.sh", Kind::Shell, script),
            [("sign-by-tag".to_string(), 2)]
        );
        let good = "cosign sign --key k reg.io/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\nhallmark sign reg.io/app:v1 --expect-digest \"$D\" --key k\n";
        assert!(findings("b.sh", Kind::Shell, good).is_empty());
    }
}
