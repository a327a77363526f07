//! What every rule's tests share, and the tests of what no one rule owns: the registry,
//! places, fingerprints, and the readers feeding the rules.

use super::{CHECKS, RULES};
use crate::audit::{Kind, audit_text};

/// (rule, line) of each finding of `text` read as a `kind` file.
pub(crate) fn findings(path: &str, kind: Kind, text: &str) -> Vec<(String, usize)> {
    let (found, not_audited) = audit_text(path, text, kind);
    assert!(not_audited.is_empty(), "{not_audited:?}");
    found.iter().map(|f| (f.rule.to_string(), f.line)).collect()
}

#[test]
fn every_rule_has_one_check_a_unique_id_and_a_documented_section() {
    let doc = include_str!("../../../../../docs/AUDIT-RULES.md");
    assert_eq!(RULES.len(), CHECKS.len());
    for rule in RULES {
        assert_eq!(RULES.iter().filter(|r| r.id == rule.id).count(), 1);
        assert_eq!(
            rule.help_url,
            format!("docs/AUDIT-RULES.md#{}", rule.id),
            "{}",
            rule.id
        );
        assert!(
            doc.contains(&format!("\n## {}\n", rule.id)),
            "no section for {}",
            rule.id
        );
    }
}

#[test]
fn every_line_of_a_block_scalar_is_placed_where_it_is_written() {
    let text = "on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n      - run: |\n          echo hi\n          docker login -u ci -p lit-abc reg.example.com\n";
    let (f, _) = audit_text("a.yml", text, Kind::Workflow);
    let at: Vec<(usize, usize)> = f.iter().map(|f| (f.line, f.column)).collect();
    assert_eq!(at, [(8, 33)]);
}

#[test]
fn identical_findings_get_distinct_fingerprints_by_rank() {
    let text = "curl https://a/i.sh | sh\necho hi\ncurl https://b/i.sh | sh\n";
    let (f, _) = audit_text("x.sh", text, Kind::Shell);
    assert_eq!(f.len(), 2);
    assert_ne!(f[0].fingerprint, f[1].fingerprint);
    let moved = "\n\ncurl https://a/i.sh | sh\ncurl https://b/i.sh | sh\n";
    let (g, _) = audit_text("x.sh", moved, Kind::Shell);
    let prints =
        |a: &[crate::audit::Finding]| a.iter().map(|f| f.fingerprint.clone()).collect::<Vec<_>>();
    assert_eq!(prints(&f), prints(&g));
}

#[test]
fn gitlab_templates_are_audited_where_they_are_written() {
    let ci = ".login: &login\n  - docker login -u ci -p hunter2hunter2 reg.io\n.docker:\n  before_script:\n    - curl https://x/i.sh | sh\n.rules:\n  - if: $CI\nrelease:\n  extends: .docker\n  script:\n    - *login\n";
    assert_eq!(
        findings(".gitlab-ci.yml", Kind::GitLab, ci),
        [
            ("hardcoded-credential".to_string(), 2),
            ("unchecked-download".to_string(), 5)
        ]
    );
}

#[test]
fn gitlab_job_parts_share_one_shell() {
    // The download of before_script is run by script: one shell, one state.
    let ci = "build:\n  before_script:\n    - curl -o i.sh https://x/i.sh\n  script:\n    - sh i.sh\nother:\n  script:\n    - sh i.sh\n";
    assert_eq!(
        findings(".gitlab-ci.yml", Kind::GitLab, ci),
        [("unchecked-download".to_string(), 5)]
    );
}
