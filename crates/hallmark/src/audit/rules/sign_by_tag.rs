//! `sign-by-tag`: `cosign sign app:v1` signs whatever the tag names when the signer asks.
//!
//! Finds `cosign sign`/`attest`, `hallmark sign` and `notation sign` of a reference with no
//! `@`, however the signer is run ([`Step::signing`]: global flags before the verb, a
//! `$COSIGN` variable, a path, `go run`, cosign's own image under `docker run`). Not a
//! digest of any kind (a looked-up one is `sign-resolved-digest`'s), not `--expect-digest`,
//! not `sign-blob`/`attest-blob`, not a word whose value cannot be read. Fix: sign the
//! build's digest, or `hallmark sign --expect-digest`, or `hallmark publish`.

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
        let Some((tool, verb, _)) = step.signing() else {
            return;
        };
        let does = if verb == "attest" { "attests" } else { "signs" };
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
                    "{tool} {verb} {does} {} by tag: whatever the tag names when it runs",
                    s.word.text
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

    #[test]
    fn a_variable_docker_pushes_whole_names_a_tag_in_every_script_of_the_file() {
        // Docker refuses a digest reference to push: `$(IMG)` pushed by one recipe is a tag
        // where another signs it, whatever the file's order.
        let mk = "sign:\n\tcosign sign -key $(KMS_KEY_URL) $(IMG)\n\npush:\n\tdocker push ${IMG}\n";
        assert_eq!(
            findings("common.mk", Kind::Make, mk),
            [("sign-by-tag".to_string(), 2)]
        );
        let sh = "docker push \"$IMAGE\"\ncosign sign --yes \"$IMAGE\"\n";
        assert_eq!(
            findings("a.sh", Kind::Shell, sh),
            [("sign-by-tag".to_string(), 2)]
        );
        // By digest, given a value of its own, or never pushed: not a tag, or unknown.
        let safe = "docker push \"$IMAGE\"\ncosign sign --yes \"$IMAGE@$DIGEST\"\nIMAGE=\"$(cat ref.txt)\"\ncosign sign --yes \"$IMAGE\"\ncosign sign --yes \"$OTHER\"\n";
        assert!(findings("b.sh", Kind::Shell, safe).is_empty());
    }

    #[test]
    fn each_tag_fed_to_xargs_is_signed_by_tag() {
        let wf = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - id: meta\n        uses: docker/metadata-action@0123456789abcdef0123456789abcdef01234567\n        with:\n          images: reg.io/app\n      - env:\n          TAGS: ${{ steps.meta.outputs.tags }}\n        run: echo \"${TAGS}\" | xargs -I {} cosign sign --yes {}\n      - env:\n          TAGS: ${{ steps.meta.outputs.tags }}\n          DIGEST: sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n        run: echo \"${TAGS}\" | xargs -I {} cosign sign --yes {}@${DIGEST}\n";
        assert_eq!(
            findings("w.yml", Kind::Workflow, wf),
            [("sign-by-tag".to_string(), 12)]
        );
        let sh = "printf '%s\\n' reg.io/a:v1 reg.io/a:v2 | xargs -I% cosign sign %\necho reg.io/a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 | xargs -I {} cosign sign {}\n";
        assert_eq!(
            findings("s.sh", Kind::Shell, sh),
            [("sign-by-tag".to_string(), 1)]
        );
    }

    #[test]
    fn signers_behind_flags_variables_paths_go_run_and_containers_are_found() {
        let hidden = "cosign -d --timeout 5m sign --key k reg.io/a:v1
$COSIGN sign --key k reg.io/a:v2
${COSIGN_BIN} sign reg.io/a:v3
./bin/cosign-linux-amd64 sign reg.io/a:v4
go run github.com/sigstore/cosign/v2/cmd/cosign sign reg.io/a:v5
docker run --rm -e COSIGN_PASSWORD -v /k:/k gcr.io/projectsigstore/cosign:v2.4.1 sign --key /k/c.key reg.io/a:v6
podman run --rm ghcr.io/sigstore/cosign/cosign:v2.4.1 attest --predicate p.json --type spdx reg.io/a:v7
cosign attest --key k --predicate p.json reg.io/a:v8
run_cosign() {
  docker run --rm -e COSIGN_PASSWORD \"$COSIGN_IMAGE\" \"$@\"
}
run_cosign sign --key /k/c.key reg.io/a:v9
";
        let lines: Vec<usize> = findings("s.sh", Kind::Shell, hidden)
            .into_iter()
            .filter(|(r, _)| r == "sign-by-tag")
            .map(|(_, l)| l)
            .collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7, 8, 12]);
        // Blobs are files; a digest is a digest however cosign is run; an unknown word
        // (`$(cat ref)`) is not a tag.
        let safe = "cosign attest-blob --predicate p.json --type spdx art.tgz
$COSIGN sign-blob --bundle b art.tgz
docker run --rm gcr.io/projectsigstore/cosign@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 sign reg.io/a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
cosign -d sign --key k reg.io/a@$DIGEST
cosign sign $(cat digest-ref)
";
        assert!(findings("t.sh", Kind::Shell, safe).is_empty());
    }
}
