//! `sign-resolved-digest`: `cosign sign app@$(crane digest app:v1)` asks the registry which
//! digest the tag names after the push.

use crate::audit::check::commands::Step;
use crate::audit::check::state::ShellState;
use crate::audit::check::{Check, Cx};
use crate::audit::model::ValueClass;
use crate::audit::{Rule, Severity};

pub(super) const RULE: Rule = Rule {
    id: "sign-resolved-digest",
    severity: Severity::High,
    title: "A signed digest is looked up from the registry after the push",
    help: "`cosign sign app@$(crane digest app:v1)` asks the registry which digest the tag names after the push: a swap in between is signed. Take the digest from the build itself (the build step's digest output, `docker buildx --metadata-file`, `hallmark digest oci:…`), or sign before pushing with `hallmark publish`.",
    help_url: super::help_url!("sign-resolved-digest"),
};

pub(super) const CHECK: &dyn Check = &SignResolvedDigest;

struct SignResolvedDigest;

impl Check for SignResolvedDigest {
    fn command(&self, cx: &mut Cx<'_>, step: &Step<'_>, _: &ShellState) {
        let Some((tool, verb, _)) = step.signing() else {
            return;
        };
        for s in step.signed() {
            if s.class == ValueClass::Lookup {
                cx.report(
                    &RULE,
                    None,
                    step.at(s.word),
                    &s.word.text,
                    format!(
                        "{tool} {verb} takes the digest of {} from the registry after the push",
                        s.repository
                    ),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::findings;
    use crate::audit::Kind;

    #[test]
    fn a_digest_looked_up_into_a_file_then_read_is_found() {
        let via_file = "crane digest \"reg.io/app:$TAG\" > digest.txt\ncosign sign --yes \"reg.io/app@$(cat digest.txt)\"\n";
        assert_eq!(
            findings("c.sh", Kind::Shell, via_file),
            [("sign-resolved-digest".to_string(), 2)]
        );
        let built = "docker buildx build --push --metadata-file m.json . > digest.txt\ncosign sign --yes \"reg.io/app@$(cat digest.txt)\"\n";
        assert!(findings("c.sh", Kind::Shell, built).is_empty());
    }

    #[test]
    fn a_digest_looked_up_after_the_push_is_found() {
        let resolved = "IMG=reg.io/app\ncosign sign --key k \"$IMG@$(crane digest $IMG:v1)\"\n";
        assert_eq!(
            findings("c.sh", Kind::Shell, resolved),
            [("sign-resolved-digest".to_string(), 2)]
        );
        let from_build = "cosign sign --key k \"reg.io/app@${{ steps.build.outputs.digest }}\"\n";
        assert!(findings("c.sh", Kind::Shell, from_build).is_empty());
    }

    #[test]
    fn a_descriptor_fetched_by_a_tool_called_by_its_path_in_backticks_is_found() {
        let mk = "e2e:\n\t${TOOLS}/bin/oras cp --from-oci-layout app.tar:v0 ${REG}/app:signed\n\t.staging/notation/notation sign ${REG}/app@`${TOOLS}/bin/oras manifest fetch ${REG}/app:signed --descriptor | jq .digest | xargs`\n\t./cosign-linux-amd64 sign --key cosign.key ${REG}/app@`oras manifest fetch ${REG}/app:signed --descriptor | jq -r .digest`\n\t./cosign-linux-amd64 sign --key cosign.key ${REG}/app@`cat built.digest`\n";
        assert_eq!(
            findings("Makefile", Kind::Make, mk),
            [
                ("sign-resolved-digest".to_string(), 3),
                ("sign-resolved-digest".to_string(), 4)
            ]
        );
    }
}
