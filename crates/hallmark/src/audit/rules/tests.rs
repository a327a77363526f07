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
        [("unchecked-download".to_string(), 3)]
    );
}

/// Data flow through whole files: the rules see what each value may be.
mod through_files {
    use super::findings;
    use crate::audit::Kind;

    const D: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn sh(text: &str) -> Vec<(String, usize)> {
        findings("a.sh", Kind::Shell, text)
    }

    fn tag(line: usize) -> (String, usize) {
        ("sign-by-tag".to_string(), line)
    }

    fn lookup(line: usize) -> (String, usize) {
        ("sign-resolved-digest".to_string(), line)
    }

    #[test]
    fn a_digest_looked_up_reaches_the_sign_through_two_variables_in_branches() {
        let text = "IMAGE=\"$1\"\nif command -v crane; then\n  DIGEST=$(crane digest \"${IMAGE}\")\n  BARE=$(echo \"${IMAGE}\" | cut -d ':' -f 1)\n  REF=\"${BARE}@${DIGEST}\"\nelse\n  exit 1\nfi\ncosign sign --key k \"${REF}\"\n";
        assert_eq!(sh(text), [lookup(9)]);
    }

    #[test]
    fn a_tag_assigned_in_any_branch_is_signed_by_tag() {
        let text = format!(
            "if [ -n \"$RELEASE\" ]; then\n  REF=reg.io/app:$RELEASE\nelse\n  REF=reg.io/app@{D}\nfi\ncosign sign --key k \"$REF\"\n"
        );
        assert_eq!(sh(&text), [tag(6)]);
        let safe = format!(
            "if [ -n \"$A\" ]; then\n  REF=reg.io/a@{D}\nelse\n  REF=reg.io/b@{D}\nfi\ncosign sign --key k \"$REF\"\n"
        );
        assert!(sh(&safe).is_empty());
        // An unindented assignment replaces what was there before.
        let replaced = format!("REF=reg.io/app:v1\nREF=reg.io/app@{D}\ncosign sign --key k $REF\n");
        assert!(sh(&replaced).is_empty());
    }

    #[test]
    fn loops_read_and_mapfile_take_their_values_from_their_lists() {
        let words = "repo=reg.io/app\nfor tag in v1 latest; do\n  cosign sign --key k \"$repo:$tag\"\ndone\n";
        assert_eq!(sh(words), [tag(3)]);
        let list = "TAGS=\"reg.io/app:v1 reg.io/app:latest\"\nfor t in $TAGS; do\n  cosign sign --key k \"$t\"\ndone\n";
        assert_eq!(sh(list), [tag(3)]);
        let digests = format!(
            "REFS=\"reg.io/a@{D} reg.io/b@{D}\"\nfor r in $REFS; do cosign sign --key k \"$r\"; done\n"
        );
        assert!(sh(&digests).is_empty());
        let mapped = "TAGS=\"reg.io/app:v1 reg.io/app:v2\"\nmapfile -t tags <<< \"$TAGS\"\nfor t in \"${tags[@]}\"; do cosign sign --key k \"$t\"; done\necho \"$TAGS\" | while read -r t; do cosign sign --key k \"$t\"; done\n";
        assert_eq!(sh(mapped), [tag(3), tag(4)]);
        // Read from a file: unknown, never a tag.
        let unknown = "while read -r ref; do cosign sign --key k \"$ref\"; done < refs.txt\nfor r in $(cat refs.txt); do cosign sign --key k \"$r\"; done\ncosign sign --key k \"$REGISTRY/$IMAGE\"\n";
        assert!(sh(unknown).is_empty());
    }

    #[test]
    fn function_parameters_are_bound_per_call_and_reported_at_the_sign() {
        let text = format!(
            "sign() {{\n  cosign sign --yes --key k \"$1\"\n}}\nsign \"reg.io/app@{D}\"\nsign \"reg.io/app:${{VERSION}}\"\n"
        );
        assert_eq!(sh(&text), [tag(2)]);
        let safe = format!(
            "sign() {{ cosign sign --key k \"$1\"; }}\nsign \"reg.io/app@{D}\"\nsign \"$UNKNOWN\"\n"
        );
        assert!(sh(&safe).is_empty());
        let default = "IMAGE=${1:-reg.io/app:latest}\ncosign sign --key k $IMAGE\n";
        assert_eq!(sh(default), [tag(2)]);
    }

    #[test]
    fn a_callers_unknown_variables_are_not_read_as_the_functions_own() {
        // The function reuses the caller's names (`target`, `$1`) for its own: what the
        // caller passed is judged with the caller's variables, so its tag stays a tag.
        let reused = "build() {\n  local -r target=$1\n  local -r image=\"${REGISTRY}/${target}:${VERSION}\"\n  docker push \"$image\"\n  sign_image ${image}\n}\nsign_image() {\n  if [ \"$SIGN\" = 1 ];then\n    local -r target=$1\n    cosign sign --yes ${target}\n  fi\n}\nbuild \"$@\"\n";
        assert_eq!(sh(reused), [tag(10)]);
        let declared = "s() {\n  declare ref=\"$1\"\n  cosign sign --yes \"$ref\"\n}\nwrap() { s \"reg.io/$1:$2\"; }\nwrap app \"$V\"\n";
        assert_eq!(sh(declared), [tag(3)]);
        let digest = "build() {\n  local -r target=$1\n  sign_image \"${REGISTRY}/${target}@${DIGEST}\"\n}\nsign_image() {\n  local -r target=$1\n  cosign sign --yes ${target}\n}\nbuild \"$@\"\n";
        assert!(sh(digest).is_empty());
    }

    #[test]
    fn references_read_from_a_file_are_unknown_or_the_digests_a_tool_wrote() {
        let ko = "ko build --bare --image-refs server.refs ./cmd/server\nreadarray -t images < <(cat server.refs || true)\ncosign sign --yes \"${images[@]}\"\nmapfile -t more < other.refs\ncosign sign --yes \"${more[@]}\"\ndocker buildx build --push --metadata-file=meta.json -t reg.io/app:v1 .\n";
        assert!(sh(ko).is_empty());
        // Printed in the file, through filters: still the words written.
        let printed = "TAGS=\"reg.io/app:v1 reg.io/app:v2\"\nmapfile -t tags < <(echo \"$TAGS\" | tr ' ' '\\n')\ncosign sign --yes \"${tags[@]}\"\necho \"$TAGS\" | tr ' ' '\\n' | sort | while read -r t; do cosign sign --key k \"$t\"; done\n";
        assert_eq!(sh(printed), [tag(3), tag(4)]);
        // Lines of a file given a tag on the way.
        let tagged = "mapfile -t refs < <(sed \"s|^|reg.io/|; s|$|:${VERSION}|\" services.txt)\ncosign sign --yes \"${refs[@]}\"\nmapfile -t names < <(sed 's|^|reg.io/|' services.txt)\ncosign sign --yes \"${names[@]}\"\n";
        assert_eq!(sh(tagged), [tag(2)]);
    }

    /// The signing findings of a workflow (its actions are not pinned, for brevity).
    fn workflow(text: &str) -> Vec<(String, usize)> {
        let mut f = findings(".github/workflows/r.yml", Kind::Workflow, text);
        f.retain(|(rule, _)| rule != "unpinned-action");
        f
    }

    #[test]
    fn outputs_of_well_known_actions_and_of_earlier_steps_are_followed() {
        let meta = "on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n      - id: meta\n        uses: docker/metadata-action@v5\n      - id: build\n        uses: docker/build-push-action@v6\n      - run: cosign sign --yes ${{ steps.meta.outputs.tags }}\n      - env:\n          TAGS: ${{ steps.meta.outputs.tags }}\n        run: for t in $TAGS; do cosign sign --yes \"$t\"; done\n      - run: cosign sign --yes $DOCKER_METADATA_OUTPUT_TAGS\n      - run: cosign sign --yes ${{ env.IMAGE }}@${{ steps.build.outputs.digest }}\n";
        assert_eq!(workflow(meta), [tag(10), tag(13), tag(14)]);
        let output = "on: push\njobs:\n  b:\n    runs-on: x\n    steps:\n      - id: d\n        run: |\n          echo \"digest=$(crane digest reg.io/app:v1)\" >> \"$GITHUB_OUTPUT\"\n          echo \"REF=reg.io/app:v1\" >> $GITHUB_ENV\n      - env:\n          DIGEST: ${{ steps.d.outputs.digest }}\n        run: |\n          cosign sign --yes reg.io/app@${DIGEST}\n          cosign sign --yes \"$REF\"\n";
        assert_eq!(workflow(output), [lookup(13), tag(14)]);
    }

    #[test]
    fn job_outputs_and_inputs_reach_later_jobs() {
        let text = "on:\n  workflow_call:\n    inputs:\n      image:\n        type: string\n        default: reg.io/app:latest\njobs:\n  meta:\n    runs-on: x\n    outputs:\n      tags: ${{ steps.m.outputs.tags }}\n      digest: ${{ steps.d.outputs.digest }}\n    steps:\n      - id: m\n        uses: docker/metadata-action@v5\n      - id: d\n        run: echo \"digest=$(skopeo inspect --format '{{.Digest}}' docker://reg.io/app:v1)\" >> $GITHUB_OUTPUT\n  sign:\n    needs: meta\n    runs-on: x\n    steps:\n      - run: |\n          cosign sign --yes ${{ needs.meta.outputs.tags }}\n          cosign sign --yes reg.io/app@${{ needs.meta.outputs.digest }}\n          cosign sign --yes ${{ inputs.image }}\n";
        assert_eq!(workflow(text), [tag(23), lookup(24), tag(25)]);
    }
}

#[test]
fn a_here_string_of_an_unknown_step_output_is_unknown_and_one_of_tags_is_tags() {
    let workflow = |value: &str| {
        format!(
            "on: push\njobs:\n  s:\n    runs-on: x\n    steps:\n      - run: |\n          mapfile -t REFS <<< \"{value}\"\n          for r in \"${{REFS[@]}}\"; do\n            cosign sign -y --key env://K \"${{r}}\"\n          done\n"
        )
    };
    // An expression is one value, not the words `${{`, `steps.up.outputs.refs` and `}}`
    // (the last of which, alone, would read as a name without a tag).
    assert_eq!(
        findings(
            "a.yml",
            Kind::Workflow,
            &workflow("${{ steps.up.outputs.refs }}")
        ),
        []
    );
    assert_eq!(
        findings(
            "a.yml",
            Kind::Workflow,
            &workflow("reg.io/app:v1 reg.io/app:v2")
        ),
        [("sign-by-tag".to_string(), 9)]
    );
}
