//! Azure Pipelines (`azure-pipelines.yml`, `.azure-pipelines/*.yml`, `.azure/*.yml`, and
//! the step, job and stage templates they include, recognised by their content): every
//! step's `script:`, `bash:`, `pwsh:` or `powershell:`, and the inline script of `Bash@3`,
//! `CmdLine@2`, `ShellScript@2` and `PowerShell@2` tasks, at any depth (stages, jobs,
//! deployment strategies), with the `variables:` (a map, or a list of `name`/`value`) and
//! `env:` in scope; `$(name)`
//! macros become variable references. `Docker@2` tasks that push name what they push;
//! containers and service containers are images used.

use super::generic::{self, Images, Scripts, Spec};
use super::{Source, argv};
use crate::audit::model::{Expands, Known, KnownValue, Model, Script, StepOf};
use crate::audit::yaml::Node;

pub(super) const SPEC: Spec = Spec {
    scripts: &[
        // PowerShell too: its download-and-run forms (`iex (irm URL)`, `iwr URL | iex`)
        // read the same as a POSIX shell's.
        Scripts {
            at: "**.steps.*",
            keys: &["script", "bash", "pwsh", "powershell"],
            when: None,
        },
        Scripts {
            at: "**.steps.*",
            keys: &["inputs.script", "inputs.inlineScript"],
            when: Some((
                "task",
                &[
                    "Bash@",
                    "CmdLine@",
                    "ShellScript@",
                    "PowerShell@",
                    "AzurePowerShell@",
                ],
            )),
        },
    ],
    images: &[
        Images {
            at: "**.container",
            what: "a job's container",
        },
        Images {
            at: "**.container.image",
            what: "a job's container",
        },
        Images {
            at: "resources.containers.*.image",
            what: "a container resource",
        },
    ],
    env: &["variables", "env"],
    expands: Expands::Variables,
};

pub(super) fn read(src: &Source<'_>, doc: &Node, m: &mut Model) {
    let first = m.scripts.len();
    let first_image = m.images.len();
    generic::read(&SPEC, src, doc, m);
    // `container: builder` names a container resource, whose own `image:` is the image.
    let aliases: Vec<&str> = doc
        .get("resources")
        .and_then(|r| r.get("containers"))
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|c| c.get("container").and_then(Node::str))
        .collect();
    let mut i = first_image;
    while i < m.images.len() {
        if aliases.contains(&m.images[i].text.as_str()) {
            m.images.remove(i);
        } else {
            i += 1;
        }
    }
    doc.walk(&mut |_, n| {
        let task = n.get("task").and_then(Node::str).unwrap_or_default();
        if !task.starts_with("Docker@") {
            return;
        }
        let inputs = n.get("inputs");
        let input = |k: &str| inputs.and_then(|i| i.get(k)).and_then(Node::str);
        // `command: pull` or `run` with its `arguments:` is that docker command.
        if let Some(command @ ("pull" | "run")) = input("command")
            && let Some(arguments) = inputs.and_then(|i| i.get("arguments"))
            && let Some(text) = arguments.str()
            && !text.contains('\n')
        {
            let prefix = format!("docker {command} ");
            let at = super::place(arguments);
            let shift = at.column.saturating_sub(prefix.len() + 1);
            m.scripts.push(Script::new(
                format!("{prefix}{text}"),
                (at.line, shift, false),
            ));
        }
        if !matches!(input("command"), Some("push" | "buildAndPush")) {
            return;
        }
        let Some(repository) = input("repository") else {
            return;
        };
        let tags: Vec<&str> = input("tags")
            .unwrap_or("$(Build.BuildId)")
            .split_whitespace()
            .collect();
        for tag in tags {
            m.pushes.push(format!("{repository}:{tag}"));
        }
    });
    for s in &mut m.scripts[first..] {
        argv::rewrite_macros(s);
    }
    parameters(doc, m);
}

/// A template's `parameters:` (a list of `name`/`default`, or the older map of name to
/// default): `${{ parameters.x }}` is its default until a file including the template
/// gives another value. Every script then reads template expressions.
fn parameters(doc: &Node, m: &mut Model) {
    let Some(params) = doc.get("parameters") else {
        return;
    };
    let listed = params
        .items()
        .iter()
        .filter_map(|p| Some((p.get("name")?.str()?, p.get("default")?)));
    for (name, default) in listed.chain(params.entries().filter_map(|(k, v)| Some((k.str()?, v)))) {
        if let Some(text) = default.str().filter(|t| !t.trim().is_empty()) {
            m.flow.known.push(Known {
                job: None,
                expr: format!("parameters.{name}"),
                value: KnownValue::Text(text.to_string()),
            });
        }
    }
    m.flow.steps.resize(m.scripts.len(), StepOf::default());
}

/// True when `doc`, a YAML file of no known name, is an Azure Pipelines file or template:
/// its `steps`, `jobs` or `stages` list items that only Azure writes.
pub(super) fn looks_like(doc: &Node) -> bool {
    ["steps", "jobs", "stages"].iter().any(|k| {
        doc.get(k).is_some_and(|list| {
            list.items().iter().any(|item| {
                [
                    "script",
                    "bash",
                    "task",
                    "pwsh",
                    "job",
                    "stage",
                    "deployment",
                    "checkout",
                ]
                .iter()
                .any(|key| item.get(key).is_some())
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use crate::audit::Kind;

    const PIPELINE: &str = "variables:
  - name: imageName
    value: reg.example.com/api
  - group: release-secrets
stages:
  - stage: release
    jobs:
      - job: sign
        variables:
          tag: v2
        steps:
          - bash: |
              cosign sign --key env://KEY $(imageName):$(tag)
          - script: curl -sSL https://x.example.com/i.sh | sh
          - task: Bash@3
            inputs:
              targetType: inline
              script: cosign sign --key env://KEY \"$(imageName):$(tag)\"
          - task: PowerShell@2
            inputs:
              script: iwr https://x.example.com/i.ps1 | iex
          - task: Docker@2
            inputs:
              command: buildAndPush
              repository: api
              tags: |
                v2
                latest
";

    #[test]
    fn steps_tasks_macros_and_pushes() {
        let (found, not_audited) =
            crate::audit::audit_text("azure-pipelines.yml", PIPELINE, Kind::Azure);
        assert!(not_audited.is_empty());
        let found: Vec<(&str, usize, usize)> =
            found.iter().map(|f| (f.rule, f.line, f.column)).collect();
        assert_eq!(
            found,
            [
                ("sign-by-tag", 13, 43),
                ("unchecked-download", 14, 21),
                ("sign-by-tag", 18, 51),
                ("unchecked-download", 21, 23)
            ]
        );
        let m = super::super::read(Kind::Azure, PIPELINE).unwrap();
        assert_eq!(m.pushes, ["api:v2", "api:latest"]);
    }

    #[test]
    fn a_container_named_by_its_resource_is_the_resource_image() {
        let yml = "resources:\n  containers:\n    - container: builder\n      image: reg.io/ci/builder:2024.11\njobs:\n  - job: a\n    container: builder\n    steps:\n      - script: make\n  - job: b\n    container: node:20\n    steps:\n      - script: make\n";
        let (found, _) = crate::audit::audit_text("azure-pipelines.yml", yml, Kind::Azure);
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(found, [("deploy-by-tag", 4), ("deploy-by-tag", 11)]);
    }

    #[test]
    fn a_docker_task_pulling_by_tag_is_found() {
        let yml = "steps:\n  - task: Docker@2\n    inputs:\n      command: pull\n      arguments: $(registry)/app:$(tag)\n  - task: Docker@2\n    inputs:\n      command: pull\n      arguments: reg.io/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";
        let (found, _) = crate::audit::audit_text("azure-pipelines.yml", yml, Kind::Azure);
        let found: Vec<(&str, usize, usize)> =
            found.iter().map(|f| (f.rule, f.line, f.column)).collect();
        assert_eq!(found, [("deploy-by-tag", 5, 18)]);
    }

    #[test]
    fn a_template_is_known_by_its_steps() {
        let doc =
            &crate::audit::yaml::parse("parameters: {}\nsteps:\n  - script: echo\n").unwrap()[0];
        assert!(super::looks_like(doc));
        let k8s = &crate::audit::yaml::parse("apiVersion: v1\nkind: Pod\n").unwrap()[0];
        assert!(!super::looks_like(k8s));
    }

    #[test]
    fn a_parameter_is_its_default_until_an_including_file_gives_one() {
        let yml = "parameters:\n  - name: image\n    default: reg.io/app:latest\n  - name: other\nsteps:\n  - bash: cosign sign ${{ parameters.image }}\n  - bash: cosign sign ${{ parameters.other }}\n";
        let (found, _) = crate::audit::audit_text("t.yml", yml, Kind::Azure);
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(found, [("sign-by-tag", 6)]);
        let old = "parameters:\n  image: reg.io/app:v1\nsteps:\n  - script: cosign sign ${{ parameters.image }}\n";
        let (found, _) = crate::audit::audit_text("t.yml", old, Kind::Azure);
        assert_eq!(found.len(), 1);
    }
}
