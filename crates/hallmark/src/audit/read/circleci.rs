//! CircleCI (`.circleci/*.yml`): `run:` steps of jobs and of reusable commands (a
//! string, or a map with its `command`), with the `environment:` of the job and of the
//! step, and a command's `<< parameters.x >>` as its default or as the steps invoking it
//! pass it; the `docker:` images of jobs and executors.

use super::Source;
use super::generic::{self, Images, Scripts, Spec};
use crate::audit::mapped::{Builder, Located, Pos};
use crate::audit::model::{EnvVar, Expands, Model, Script};
use crate::audit::yaml::Node;

/// Reads the file, then gives the `run:` steps of each reusable command and of each job
/// the values of their `<< parameters.x >>`: the parameter's `default:`, then what each
/// step invoking the command, or each workflow entry running the job (`- build: {image:
/// x}`, a `matrix:` of values), passes. A step is read once per value its parameters may
/// hold. `<< pipeline.parameters.x >>` takes the pipeline parameter's default. Orbs are
/// not read: what an orb's commands and jobs run is unknown here.
pub(super) fn read(src: &Source<'_>, doc: &Node, m: &mut Model) {
    let first = m.scripts.len();
    generic::read(&SPEC, src, doc, m);
    let invocations: Vec<(&str, &Node)> = doc
        .get("jobs")
        .into_iter()
        .flat_map(Node::entries)
        .chain(doc.get("commands").into_iter().flat_map(Node::entries))
        .filter_map(|(_, job)| job.get("steps"))
        .flat_map(Node::items)
        .flat_map(Node::entries)
        .filter_map(|(k, v)| Some((k.str()?, v)))
        .collect();
    let runs: Vec<(&str, &Node)> = doc
        .get("workflows")
        .into_iter()
        .flat_map(Node::entries)
        .filter_map(|(_, w)| w.get("jobs"))
        .flat_map(Node::items)
        .flat_map(Node::entries)
        .filter_map(|(k, v)| Some((k.str()?, v)))
        .collect();
    let mut bound: Vec<(usize, Vec<EnvVar>)> = Vec::new();
    for (kind, given) in [("commands", &invocations), ("jobs", &runs)] {
        for (name, def) in doc.get(kind).into_iter().flat_map(Node::entries) {
            let Some(name) = name.str() else { continue };
            let values = parameter_values(def, name, given);
            if values.is_empty() {
                continue;
            }
            for line in step_lines(src, def) {
                bound.push((line, values.clone()));
            }
        }
    }
    let pipeline: Vec<EnvVar> = doc
        .get("parameters")
        .into_iter()
        .flat_map(Node::entries)
        .filter_map(|(p, spec)| {
            Some(EnvVar {
                name: format!("pipeline.parameters.{}", p.str()?),
                value: spec.get("default")?.str()?.to_string(),
                expands: Expands::Variables,
            })
        })
        .collect();
    let scripts = m.scripts.split_off(first);
    for script in scripts {
        let mut values: Vec<EnvVar> = pipeline.clone();
        for (line, vs) in &bound {
            if *line == script.line {
                values.extend(vs.iter().cloned());
            }
        }
        // One copy per value a parameter may hold; the others take their last.
        let mut names: Vec<&str> = values.iter().map(|v| v.name.as_str()).collect();
        names.dedup();
        let copies = names
            .iter()
            .map(|n| values.iter().filter(|v| v.name == *n).count())
            .max()
            .unwrap_or(1)
            .clamp(1, MAX_COPIES);
        for k in 0..copies {
            let mut copy = script.clone();
            let mut put: Vec<(String, String)> = Vec::new();
            let mut seen: Vec<&str> = Vec::new();
            for n in &names {
                if seen.contains(n) {
                    continue;
                }
                seen.push(n);
                let all: Vec<&EnvVar> = values.iter().filter(|v| v.name == *n).collect();
                let Some(v) = all.get(k).or(all.last()) else {
                    continue;
                };
                let written = if n.starts_with("pipeline.") {
                    format!("<< {n} >>")
                } else {
                    format!("<< parameters.{n} >>")
                };
                if !copy.body.contains(&written) {
                    continue;
                }
                let var = parameter_variable(n);
                copy.env.push(EnvVar {
                    name: var.clone(),
                    ..(*v).clone()
                });
                put.push((written, var));
            }
            if !put.is_empty() {
                substitute(&mut copy, &put);
            }
            m.scripts.push(copy);
        }
    }
}

/// Writes `${var}` for each `<< parameters.x >>` of `script`. A body placed by its script
/// alone gets a map back to where each character is written, so a finding after a
/// parameter keeps its column; one that has a map already (a scalar folded over lines)
/// gets a variable name as long as what it replaces instead.
fn substitute(script: &mut Script, put: &[(String, String)]) {
    if script.located.is_some() {
        for (written, var) in put {
            let mut padded = var.clone();
            while padded.len() + 3 < written.len() {
                padded.push('_');
            }
            script.body = script.body.replace(written, &format!("${{{padded}}}"));
            for e in script.env.iter_mut().filter(|e| &e.name == var) {
                e.name = padded.clone();
            }
        }
        return;
    }
    let mut b = Builder::default();
    let (mut line, mut column) = (1, 1);
    let mut rest = script.body.as_str();
    while let Some(c) = rest.chars().next() {
        if let Some((written, var)) = put.iter().find(|(w, _)| rest.starts_with(w.as_str())) {
            b.write(&format!("${{{var}}}"), Pos::new(line, column));
            column += written.chars().count();
            rest = &rest[written.len()..];
            continue;
        }
        b.push(c, Pos::new(line, column));
        if c == '\n' {
            (line, column) = (line + 1, 1);
        } else {
            column += 1;
        }
        rest = &rest[c.len_utf8()..];
    }
    let mapped = b.finish();
    script.body = mapped.text.clone();
    script.located = Some(std::sync::Arc::new(Located::new(mapped, true)));
}

/// Most copies of one step, one per value its parameters may hold.
const MAX_COPIES: usize = 8;

/// The values of the parameters of the command or job `def` called `name`: each one's
/// default, then what each of `given` (an invocation) passes, matrices included.
fn parameter_values(def: &Node, name: &str, given: &[(&str, &Node)]) -> Vec<EnvVar> {
    let mut values = Vec::new();
    for (p, spec) in def.get("parameters").into_iter().flat_map(Node::entries) {
        let Some(p) = p.str() else { continue };
        let passed = given
            .iter()
            .filter(|(n, _)| *n == name)
            .flat_map(|(_, args)| {
                let direct = args.get(p).into_iter();
                let matrix = args
                    .get("matrix")
                    .and_then(|m| m.get("parameters"))
                    .and_then(|m| m.get(p))
                    .map(Node::items)
                    .unwrap_or_default();
                direct.chain(matrix)
            });
        for v in spec
            .get("default")
            .into_iter()
            .chain(passed)
            .filter_map(Node::str)
        {
            values.push(EnvVar {
                name: p.to_string(),
                value: v.to_string(),
                expands: Expands::Variables,
            });
        }
    }
    values
}

/// The lines where the `run:` steps of a command or job start.
fn step_lines(src: &Source<'_>, def: &Node) -> Vec<usize> {
    def.get("steps")
        .map(Node::items)
        .unwrap_or_default()
        .iter()
        .filter_map(|step| step.get("run"))
        .filter_map(|run| src.script(run.get("command").unwrap_or(run)))
        .map(|s| s.line)
        .collect()
}

/// The shell variable standing for a parameter.
fn parameter_variable(name: &str) -> String {
    let mut v: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if v.starts_with(|c: char| c.is_ascii_digit()) {
        v.insert(0, '_');
    }
    v
}

pub(super) const SPEC: Spec = Spec {
    scripts: &[
        Scripts {
            at: "jobs.*.steps.*",
            keys: &["run", "run.command"],
            when: None,
        },
        Scripts {
            at: "commands.*.steps.*",
            keys: &["run", "run.command"],
            when: None,
        },
        // The steps of a `when:` or `unless:` step, run on a condition.
        Scripts {
            at: "jobs.*.steps.*.*.steps.*",
            keys: &["run", "run.command"],
            when: None,
        },
        Scripts {
            at: "commands.*.steps.*.*.steps.*",
            keys: &["run", "run.command"],
            when: None,
        },
    ],
    images: &[
        Images {
            at: "jobs.*.docker.*.image",
            what: "a job's container",
        },
        Images {
            at: "executors.*.docker.*.image",
            what: "an executor's container",
        },
    ],
    env: &["environment"],
    expands: Expands::Variables,
};

#[cfg(test)]
mod tests {
    use crate::audit::Kind;
    use crate::audit::model::Place;

    const CONFIG: &str = "version: 2.1
executors:
  builder:
    docker:
      - image: cimg/base:2024.01
commands:
  tools:
    steps:
      - run: curl -sSfL https://x.example.com/i.sh | sh
jobs:
  release:
    docker:
      - image: cimg/go:1.22
    environment:
      IMAGE: reg.example.com/app
    steps:
      - checkout
      - run:
          name: sign
          environment:
            TAG: v1
          command: |
            echo signing
            cosign sign --key k \"$IMAGE:$TAG\"
      - run: cosign sign --key k \"$IMAGE:$TAG\"
";

    #[test]
    fn command_parameters_take_their_default_and_what_steps_pass() {
        let cfg = "version: 2.1\ncommands:\n  sign-image:\n    parameters:\n      ref:\n        type: string\n    steps:\n      - run:\n          command: cosign sign --yes << parameters.ref >>\n  sign-default:\n    parameters:\n      ref:\n        type: string\n        default: reg.io/app@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n    steps:\n      - run: cosign sign --yes << parameters.ref >>\njobs:\n  build:\n    docker:\n      - image: cimg/base@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n    steps:\n      - sign-image:\n          ref: ${IMAGE_REPO}:${CIRCLE_SHA1}\n      - sign-default\n";
        let (found, _) = crate::audit::audit_text(".circleci/config.yml", cfg, Kind::CircleCi);
        let found: Vec<(&str, usize, usize)> =
            found.iter().map(|f| (f.rule, f.line, f.column)).collect();
        assert_eq!(found, [("sign-by-tag", 9, 38)]);
    }

    #[test]
    fn steps_run_on_a_condition_are_read() {
        let cfg = "version: 2.1
commands:
  build-openssl:
    parameters:
      vendored:
        type: boolean
    steps:
      - unless:
          condition: << parameters.vendored >>
          steps:
            - run: |
                curl -fsSL \"$OPENSSL_URL\" | tar --strip-components=1 -xzf -
                ./config --prefix=/opt/ssl && make install_sw
jobs:
  test:
    docker:
      - image: cimg/base@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
    steps:
      - when:
          condition: true
          steps:
            - run:
                name: sign
                command: cosign sign --yes reg.example.com/app:v1
";
        let (found, _) = crate::audit::audit_text(".circleci/config.yml", cfg, Kind::CircleCi);
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(found, [("unchecked-download", 12), ("sign-by-tag", 24)]);
    }

    #[test]
    fn job_parameters_take_what_the_workflows_pass() {
        let cfg = "version: 2.1
parameters:
  registry:
    type: string
    default: reg.example.com
jobs:
  publish:
    parameters:
      image:
        type: string
    docker:
      - image: cimg/base@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
    steps:
      - run: cosign sign --yes << pipeline.parameters.registry >>/<< parameters.image >>
  pinned:
    parameters:
      ref:
        type: string
    docker:
      - image: cimg/base@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
    steps:
      - run: cosign sign --yes << parameters.ref >>
workflows:
  release:
    jobs:
      - publish:
          image: shop/api@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
      - publish:
          matrix:
            parameters:
              image: [\"shop/web:1.4\", \"shop/cron:1.4\"]
      - pinned:
          ref: reg.example.com/shop/api@sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
";
        let (found, _) = crate::audit::audit_text(".circleci/config.yml", cfg, Kind::CircleCi);
        let found: Vec<(&str, usize, usize)> =
            found.iter().map(|f| (f.rule, f.line, f.column)).collect();
        assert_eq!(found, [("sign-by-tag", 14, 32)]);
        let (all, _) = crate::audit::audit_text(".circleci/config.yml", cfg, Kind::CircleCi);
        assert!(
            all[0]
                .message
                .contains("${pipeline_parameters_registry}/${image}"),
            "{}",
            all[0].message
        );
        let m = super::super::read_in(Kind::CircleCi, cfg, &[]).unwrap();
        // One copy of the step per value: the digest, then each of the matrix.
        assert_eq!(m.scripts.len(), 4);
    }

    #[test]
    fn runs_images_and_scoped_environment_are_read() {
        let m = super::super::read_in(Kind::CircleCi, CONFIG, &[]).unwrap();
        let bodies: Vec<&str> = m.scripts.iter().map(|s| s.body.as_str()).collect();
        assert_eq!(
            bodies,
            [
                "curl -sSfL https://x.example.com/i.sh | sh",
                "echo signing\ncosign sign --key k \"$IMAGE:$TAG\"\n",
                "cosign sign --key k \"$IMAGE:$TAG\"",
            ]
        );
        // The job's environment for every step, the step's own only for it.
        let names =
            |i: usize| -> Vec<&str> { m.scripts[i].env.iter().map(|v| v.name.as_str()).collect() };
        assert!(names(0).is_empty());
        assert_eq!(names(1), ["IMAGE", "TAG"]);
        assert_eq!(names(2), ["IMAGE"]);
        assert!(m.scripts.iter().all(|s| !s.continues));
        // A block scalar: each line where it is written.
        assert_eq!(
            m.scripts[1].place(2, 1),
            Place {
                line: 24,
                column: 13
            }
        );
        let images: Vec<(&str, usize, &str)> = m
            .images
            .iter()
            .map(|i| (i.text.as_str(), i.at.line, i.what))
            .collect();
        assert_eq!(
            images,
            [
                ("cimg/go:1.22", 13, "a job's container"),
                ("cimg/base:2024.01", 5, "an executor's container"),
            ]
        );
    }

    #[test]
    fn the_rules_run_over_circleci() {
        let (found, not_audited) =
            crate::audit::audit_text(".circleci/config.yml", CONFIG, Kind::CircleCi);
        assert!(not_audited.is_empty());
        let found: Vec<(&str, usize)> = found.iter().map(|f| (f.rule, f.line)).collect();
        assert_eq!(
            found,
            [
                ("deploy-by-tag", 5),
                ("unchecked-download", 9),
                ("deploy-by-tag", 13),
                ("sign-by-tag", 24),
                ("sign-by-tag", 25),
            ]
        );
    }
}
