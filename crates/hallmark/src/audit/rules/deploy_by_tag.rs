//! `deploy-by-tag`: an image pulled, run, built from or deployed by tag, in a script or
//! where the file names it (`image:`, `FROM`, `services:`, `docker://`).
//!
//! In scripts: container engines' `pull`/`run`/`create` in both spellings (`docker
//! container run`), the image found past option values; `kubectl set image`, `kubectl
//! run`/`create --image`; `helm install/upgrade --set image.tag=<literal>` with no digest
//! set beside it. Not: digests, a tag that was verified first (`verify-then-pull-by-tag`),
//! `kubectl set env`, a helm tag from a variable. Fix: deploy by digest, `hallmark pin`.

use crate::audit::check::commands::{Step, kubectl_verb};
use crate::audit::check::invoke::engine_verb;
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
            let verb = match step.name.as_str() {
                "docker" | "podman" | "nerdctl" | "finch" => {
                    engine_verb(&step.args).map_or(step.sub(), |(v, _)| v)
                }
                "kubectl" | "oc" => step
                    .args
                    .get(kubectl_verb(&step.args))
                    .map_or("", String::as_str),
                _ => step.sub(),
            };
            let what = format!("{} {verb}", step.name);
            image_use(cx, image, step.at(w), &what);
        }
        helm_tag(cx, step);
    }

    fn file(&self, cx: &mut Cx<'_>, m: &Model) {
        for i in &m.images {
            image_use(cx, &i.text, i.at, i.what);
        }
    }
}

/// `helm upgrade --install … --set image.tag=v1`: the chart deploys the image by that tag,
/// unless a digest is set beside it. Only a literal tag is reported: `--set
/// image.tag=$TAG` may hold a digest-qualified value nobody here can see.
fn helm_tag(cx: &mut Cx<'_>, step: &Step<'_>) {
    if step.name != "helm" || !matches!(step.sub(), "install" | "upgrade") {
        return;
    }
    let mut sets = Vec::new();
    let mut args = step.args.iter().enumerate();
    while let Some((j, a)) = args.next() {
        let value = match a.as_str() {
            "--set" | "--set-string" => args.next().map(|(k, v)| (k, v.as_str())),
            _ => a
                .strip_prefix("--set=")
                .or_else(|| a.strip_prefix("--set-string="))
                .map(|v| (j, v)),
        };
        if let Some((k, v)) = value {
            sets.extend(v.split(',').map(|kv| (k, kv)));
        }
    }
    if sets
        .iter()
        .any(|(_, kv)| kv.split_once('=').is_some_and(|(k, _)| k.ends_with("digest")))
    {
        return;
    }
    for (k, kv) in sets {
        let Some((key, tag)) = kv.split_once('=') else {
            continue;
        };
        if !(key == "tag" || key.ends_with(".tag")) || tag.is_empty() || tag.contains('$') {
            continue;
        }
        if tag.contains('@') || literal_digest(tag) {
            continue;
        }
        cx.report(
            &RULE,
            None,
            step.at(&step.arg_words()[k]),
            kv,
            format!("helm {} deploys the image by the tag `{tag}` ({key}), not a digest", step.sub()),
        );
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

    #[test]
    fn management_commands_kubectl_images_and_helm_tags_are_found() {
        let script = "docker container run --rm reg.io/a:v1
docker image pull reg.io/a:v2
docker container create --name x reg.io/a:v3
podman run -d -p 80:80 reg.io/a:v4
nerdctl run reg.io/a
kubectl run smoke --image=reg.io/a:v5 -- /smoke
kubectl create deployment web --image reg.io/a:v6
helm upgrade --install web ./chart --set image.tag=v7
kubectl -n ops --context prod run smoke --image=reg.io/a:v8
";
        let lines: Vec<usize> = findings("d.sh", Kind::Shell, script)
            .into_iter()
            .map(|(_, l)| l)
            .collect();
        assert_eq!(lines, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        // Option values are not the image; `set env` sets no image; a digest beside the
        // tag, or a tag nobody can read here, is not reported.
        let safe = "docker run --rm -e FOO -v /a:/b -w /b reg.io/a@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 run
kubectl set env deploy/x FOO=bar
helm upgrade --install web ./chart --set image.tag=v7,image.digest=sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
helm upgrade --install web ./chart --set image.tag=$TAG
";
        assert!(findings("s.sh", Kind::Shell, safe).is_empty());
    }
}

