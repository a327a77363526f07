//! Tekton (`Task`, `ClusterTask`, `Pipeline` with inline `taskSpec`, `TaskRun`,
//! `PipelineRun`; any YAML with a `tekton.dev` apiVersion): each step's `script`, or its
//! `command` and `args` as one command line, with the step's `env`; the images of steps,
//! sidecars and step templates. `$(params.x)`, `$(results.x.path)` and the like are
//! replaced by Tekton before the step runs: they become variable references whose value is
//! unknown, never command substitutions, and never credentials.

use super::generic::{self, Images, Scripts, Spec, env_entries};
use super::{Source, argv, macros};
use crate::audit::model::{Expands, Model};
use crate::audit::yaml::Node;

pub(super) const SPEC: Spec = Spec {
    scripts: &[Scripts {
        at: "spec.**.steps.*",
        keys: &["script"],
        when: None,
    }],
    images: &[
        Images {
            at: "spec.**.steps.*.image",
            what: "a step's container",
        },
        Images {
            at: "spec.**.sidecars.*.image",
            what: "a sidecar container",
        },
        Images {
            at: "spec.**.stepTemplate.image",
            what: "a step template's container",
        },
    ],
    env: &["env"],
    expands: Expands::Variables,
};

/// True for a Tekton object.
pub(super) fn looks_like(doc: &Node) -> bool {
    doc.get("apiVersion")
        .and_then(Node::str)
        .is_some_and(|v| v.starts_with("tekton.dev/"))
}

pub(super) fn read(src: &Source<'_>, doc: &Node, m: &mut Model) {
    let first = m.scripts.len();
    generic::read(&SPEC, src, doc, m);
    for s in &mut m.scripts[first..] {
        argv::rewrite_macros(s);
    }
    let Some(spec) = doc.get("spec") else { return };
    let mut steps = Vec::new();
    spec.walk(&mut |key, n| {
        if key == Some("steps") && n.get("script").is_none() && n.get("command").is_some() {
            steps.push(n);
        }
    });
    for step in steps {
        let words: Vec<&Node> = ["command", "args"]
            .iter()
            .filter_map(|k| step.get(k))
            .flat_map(|list| match list.str() {
                Some(_) => std::slice::from_ref(list),
                None => list.items(),
            })
            .collect();
        if let Some(mut script) = argv::script(src, None, &words) {
            script.env = step
                .get("env")
                .map(|e| env_entries(e, Expands::Variables))
                .unwrap_or_default();
            m.scripts.push(script);
        }
    }
    m.scripts[first..].sort_by_key(|s| s.line);
}

/// A value that only names a parameter, result or workspace: what it holds is given when
/// the task runs, so it is never a credential written in the file.
pub(super) fn reference_only(text: &str) -> bool {
    let t = text.trim();
    t.starts_with("$(") && t.ends_with(')') && macros::any(t) && t.matches("$(").count() == 1
}

#[cfg(test)]
mod tests {
    use crate::audit::Kind;

    const TASK: &str = "apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: sign
spec:
  params:
    - name: IMAGE
    - name: shared-secret
  volumes:
    - name: creds
      secret:
        secretName: $(params.shared-secret)
  steps:
    - name: push
      image: gcr.io/go-containerregistry/crane:debug
      command: [crane]
      args: [copy, reg.example.com/app:v1, reg.example.com/mirror:v1]
    - name: sign
      image: ghcr.io/sigstore/cosign/cosign@sha256:0000000000000000000000000000000000000000000000000000000000000000
      env:
        - name: REF
          value: reg.example.com/app:v1
      script: |
        #!/bin/sh
        cosign sign --yes \"$(params.IMAGE)\"
        cosign sign --yes \"$REF\"
    - name: run
      image: alpine@sha256:0000000000000000000000000000000000000000000000000000000000000000
      command: [/bin/sh, -c]
      args:
        - curl -sSL https://x.example.com/i.sh | sh
";

    #[test]
    fn scripts_commands_and_params() {
        let (found, not_audited) = crate::audit::audit_text("task.yaml", TASK, Kind::Kubernetes);
        assert!(not_audited.is_empty());
        let found: Vec<(&str, usize, usize)> =
            found.iter().map(|f| (f.rule, f.line, f.column)).collect();
        // `$(params.IMAGE)` is unknown; `secretName: $(params.…)` is no credential.
        assert_eq!(
            found,
            [
                ("deploy-by-tag", 15, 14),
                ("sign-by-tag", 26, 27),
                ("unchecked-download", 31, 11)
            ]
        );
        assert!(super::reference_only("$(params.shared-secret)"));
        assert!(!super::reference_only("hunter2"));
    }
}
