//! `unpinned-action`: an action or reusable workflow used by a tag or branch, which can be
//! moved to other code.

use crate::audit::check::{Check, Cx};
use crate::audit::model::Model;
use crate::audit::{Rule, Severity};

pub(super) const RULE: Rule = Rule {
    id: "unpinned-action",
    severity: Severity::High,
    title: "An action or reusable workflow is used by tag or branch",
    help: "Tags of actions move: in 2025 the tags of tj-actions/changed-files were moved to a malicious commit, and every workflow using them ran it. Use the full 40-character commit SHA (`uses: actions/checkout@<sha> # v4`).",
    help_url: super::help_url!("unpinned-action"),
};

pub(super) const CHECK: &dyn Check = &UnpinnedAction;

struct UnpinnedAction;

impl Check for UnpinnedAction {
    fn file(&self, cx: &mut Cx<'_>, m: &Model) {
        for a in &m.actions {
            let u = a.text.as_str();
            let Some((name, version)) = u.rsplit_once('@') else {
                cx.report(&RULE, None, a.at, u, format!("{u} names no version at all"));
                continue;
            };
            let sha = version.len() == 40 && version.bytes().all(|b| b.is_ascii_hexdigit());
            if !sha {
                cx.report(
                    &RULE,
                    None,
                    a.at,
                    u,
                    format!(
                        "{name} is used by the movable reference {version:?}, not a commit SHA"
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
    fn tags_branches_and_no_version_are_found_and_shas_local_and_images_are_not() {
        let wf = "on: push\njobs:\n  a:\n    uses: org/wf/.github/workflows/x.yml@main\n  b:\n    runs-on: x\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/checkout@0123456789abcdef0123456789abcdef01234567\n      - uses: ./local\n      - uses: org/noversion\n";
        assert_eq!(
            findings("w.yml", Kind::Workflow, wf),
            [
                ("unpinned-action".to_string(), 4),
                ("unpinned-action".to_string(), 8),
                ("unpinned-action".to_string(), 11)
            ]
        );
    }
}
