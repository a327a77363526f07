//! `deploy-by-tag`: an image pulled, run, built from or deployed by tag, in a script or
//! where the file names it (`image:`, `FROM`, `services:`, `docker://`).

use crate::audit::check::commands::Step;
use crate::audit::check::refs::{image_ref, literal_digest, name_is_unknown};
use crate::audit::check::state::ShellState;
use crate::audit::check::{Check, Cx};
use crate::audit::model::{Model, Place};
use crate::audit::{Rule, Severity};

pub(super) const RULE: Rule = Rule {
    id: "deploy-by-tag",
    severity: Severity::Medium,
    title: "An image is pulled, run or deployed by tag",
    help: "A tag names whatever its last writer chose. Deploy by digest (`app:v1@sha256:…`); `hallmark pin` rewrites manifests to verified digests. `latest` and references without a tag are worse: they change with every push.",
    help_url: super::help_url!("deploy-by-tag"),
};

pub(super) const CHECK: &dyn Check = &DeployByTag;

struct DeployByTag;

impl Check for DeployByTag {
    fn command(&self, cx: &mut Cx<'_>, step: &Step<'_>, st: &ShellState) {
        // A tag verified first is `verify-then-pull-by-tag`'s.
        if let Some((w, image)) = step.pulled()
            && !st.verified_by_tag.contains_key(image)
        {
            let what = format!("{} {}", step.name, step.sub());
            image_use(cx, image, step.at(w), &what);
        }
    }

    fn file(&self, cx: &mut Cx<'_>, m: &Model) {
        for i in &m.images {
            image_use(cx, &i.text, i.at, i.what);
        }
    }
}

/// An image `what` uses, named by `s`.
fn image_use(cx: &mut Cx<'_>, s: &str, at: Place, what: &str) {
    let Some(r) = image_ref(s) else { return };
    if r.digest.as_deref().is_some_and(literal_digest) {
        return;
    }
    if s.contains('$') && r.digest.is_some() {
        return;
    }
    // A variable may hold the tag or the digest: unknown, not "no tag".
    if r.tag.is_none() && name_is_unknown(&r.repository) {
        return;
    }
    let (severity, how) = match r.tag.as_deref() {
        None => (Severity::High, "without a tag (so `latest`)".to_string()),
        Some("latest") => (Severity::High, "by the tag `latest`".to_string()),
        Some(t) => (Severity::Medium, format!("by the tag `{t}`")),
    };
    cx.report(
        &RULE,
        Some(severity),
        at,
        s,
        format!("{what} uses {} {how}, not a digest", r.repository),
    );
}

#[cfg(test)]
mod tests {
    use super::super::tests::findings;
    use crate::audit::Kind;

    #[test]
    fn tags_are_found_in_scripts_and_in_manifests_and_digests_are_not() {
        // A variable may hold a tag or a digest: unknown, never "without a tag".
        let unknown = "docker pull ${platform}\ndocker run --rm reg.io/$IMAGE\n";
        assert!(findings("u.sh", Kind::Shell, unknown).is_empty());
        let set = "kubectl set image deploy/app app=reg.io/app:v1\n";
        assert_eq!(
            findings("l.sh", Kind::Shell, set),
            [("deploy-by-tag".to_string(), 1)]
        );
        let pod = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n    - image: reg.io/app:v1\n    - image: reg.io/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";
        assert_eq!(
            findings("pod.yaml", Kind::Kubernetes, pod),
            [("deploy-by-tag".to_string(), 5)]
        );
        let docker = "FROM golang:1.23 AS build\nFROM build\nFROM scratch\n";
        assert_eq!(
            findings("Dockerfile", Kind::Dockerfile, docker),
            [("deploy-by-tag".to_string(), 1)]
        );
    }
}
