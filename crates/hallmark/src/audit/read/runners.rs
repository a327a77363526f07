//! Task runners wired into the audit: Makefiles and justfiles (through their translators,
//! `make.rs` and `just.rs`) and Taskfiles (YAML, with `taskfile.rs` for the template
//! actions of each command). Each script keeps the map back to the file, and sees the
//! variables it reads with their values as far as the file says them; a value the file
//! does not give (`$(shell …)`, a backtick, `{{OS}}`) stays an unknown reference.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::mapped::{Located, Mapped};
use super::{Source, just, make, taskfile};
use crate::audit::model::{EnvVar, Expands, Model, Place, Script, Value};
use crate::audit::secrets::names_in;
use crate::audit::yaml::Node;

/// Most rounds of following variables through other variables' values.
const MAX_DEPTH: usize = 16;

/// A script whose body maps back to the file through `body`.
fn mapped_script(body: &Mapped, line: usize, relative: Option<&Script>) -> Script {
    let mut s = match relative {
        Some(at) => Script {
            body: body.text.clone(),
            ..at.clone()
        },
        None => Script::new(body.text.clone(), (line, 0, false)),
    };
    s.located = Some(Arc::new(Located::new(body.clone(), relative.is_some())));
    s
}

/// A variable's value for the model: the file's own assignment, and its place.
fn value_of(name: &str, value: &Mapped, line: usize, m: &mut Model) {
    m.assignments.push(EnvVar {
        name: name.to_string(),
        value: value.text.clone(),
        expands: Expands::Variables,
    });
    let at = value
        .segments
        .first()
        .map_or(Place { line, column: 1 }, |s| Place {
            line: s.pos.line,
            column: s.pos.column,
        });
    m.values.push(Value {
        key: Some(name.to_string()),
        text: value.text.clone(),
        at,
    });
}

/// The names `text` reads, and those their values read, `MAX_DEPTH` levels down.
fn closure<'a>(text: &str, value: impl Fn(&str) -> Option<&'a str>) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = names_in(text).into_iter().collect();
    let mut todo: Vec<String> = names.iter().cloned().collect();
    for _ in 0..MAX_DEPTH {
        let mut next = Vec::new();
        for n in &todo {
            for found in value(n).map(names_in).unwrap_or_default() {
                if names.insert(found.clone()) {
                    next.push(found);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        todo = next;
    }
    names
}

/// A Makefile: every recipe line (or `.ONESHELL` recipe), with the make variables it
/// reads as make would expand them for its targets.
pub(super) fn makefile(text: &str) -> Model {
    let mk = make::parse(text);
    let mut m = Model {
        values_expand: Some(Expands::Variables),
        ..Model::default()
    };
    for v in &mk.vars {
        if v.op != make::Op::Define {
            value_of(&v.name, &v.value, v.line, &mut m);
        }
    }
    let mut previous = None;
    for s in &mk.scripts {
        let mut script = mapped_script(&s.body, s.line, None);
        script.continues = previous == Some(s.rule);
        previous = Some(s.rule);
        // `value` follows references itself: only the names read directly are needed.
        for name in names_in(&s.body.text).into_iter().collect::<BTreeSet<_>>() {
            if let Some(value) = mk.value(&name, &s.targets) {
                script.env.push(EnvVar {
                    name,
                    value,
                    expands: Expands::Variables,
                });
            }
        }
        m.scripts.push(script);
    }
    m
}

/// True when `interpreter` (a `#!` line, or `[script(…)]`, or `set shell`'s command) runs
/// a POSIX-like shell.
fn posix(interpreter: &str) -> bool {
    let words: Vec<&str> = interpreter
        .trim_start_matches("#!")
        .split(|c: char| c.is_whitespace() || "()[]\"',".contains(c))
        .filter(|w| !w.is_empty() && *w != "script")
        .collect();
    let mut program = words.first().copied().unwrap_or("sh");
    if program.rsplit('/').next() == Some("env") {
        program = words
            .iter()
            .skip(1)
            .find(|w| !w.starts_with('-'))
            .copied()
            .unwrap_or_default();
    }
    let name = program.rsplit('/').next().unwrap_or_default();
    ["sh", "bash", "zsh", "dash", "ash", "ksh"].contains(&name)
}

/// A justfile: every recipe line, or each shebang or `[script]` recipe whole when its
/// interpreter is a shell, with the variables it reads (its parameters stay unknown).
pub(super) fn justfile(text: &str) -> Model {
    let jf = just::parse(text);
    let mut m = Model {
        values_expand: Some(Expands::Variables),
        ..Model::default()
    };
    for v in &jf.vars {
        value_of(&v.name, &v.value, v.line, &mut m);
    }
    let shell_ok = jf.shell.as_ref().is_none_or(|s| posix(&s.join(" ")));
    let mut previous: Option<&str> = None;
    for s in &jf.scripts {
        let runs_shell = match &s.interpreter {
            Some(i) => posix(i),
            None => shell_ok,
        };
        if !runs_shell {
            previous = None;
            continue;
        }
        let mut script = mapped_script(&s.body, s.line, None);
        script.continues = s.interpreter.is_none() && previous == Some(s.recipe.as_str());
        previous = s.interpreter.is_none().then_some(s.recipe.as_str());
        let names = closure(&s.body.text, |n| {
            jf.value(n, s).map(|v| v.value.text.as_str())
        });
        // File order, so that a value reading an earlier variable finds it resolved.
        for v in &jf.vars {
            if names.contains(&v.name) && jf.value(&v.name, s).is_some() {
                script.env.push(EnvVar {
                    name: v.name.clone(),
                    value: v.value.text.clone(),
                    expands: Expands::Variables,
                });
            }
        }
        m.scripts.push(script);
    }
    m
}

/// The variables of a Taskfile `vars:` or `env:` block: plain values, template actions
/// rewritten; a `sh:` (a command's output) or `ref:` value is unknown, so left out.
fn task_vars(block: Option<&Node>, into: &mut Vec<EnvVar>) {
    for (k, v) in block.into_iter().flat_map(Node::entries) {
        if let (Some(k), Some(v)) = (k.str(), v.str()) {
            into.push(EnvVar {
                name: k.to_string(),
                value: taskfile::interpolate(v).text,
                expands: Expands::Variables,
            });
        }
    }
}

/// A Taskfile (`version: '3'`): each task's commands (`cmds:` items as strings or
/// `{cmd: …}`, or one `cmd:`), each run in a shell of its own, with the file's and the
/// task's `vars:` and `env:`.
pub(super) fn taskfile(src: &Source<'_>, doc: &Node, m: &mut Model) {
    let mut globals = Vec::new();
    task_vars(doc.get("vars"), &mut globals);
    task_vars(doc.get("env"), &mut globals);
    m.assignments.extend(globals.iter().cloned());
    for (_, task) in doc.get("tasks").into_iter().flat_map(Node::entries) {
        let mut env = globals.clone();
        let before = env.len();
        task_vars(task.get("vars"), &mut env);
        task_vars(task.get("env"), &mut env);
        m.assignments.extend(env[before..].iter().cloned());
        let mut commands: Vec<&Node> = Vec::new();
        if let Some(cmd) = task.get("cmd") {
            commands.push(cmd);
        }
        for c in task.get("cmds").map(Node::items).unwrap_or_default() {
            commands.push(c.get("cmd").unwrap_or(c));
        }
        for (i, c) in commands.into_iter().enumerate() {
            let Some(at) = src.script(c) else { continue };
            let mut script = mapped_script(&taskfile::interpolate(&at.body), at.line, Some(&at));
            script.env = env.clone();
            script.continues = i > 0;
            m.scripts.push(script);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::audit::{Kind, audit_text};

    fn found(name: &str, kind: Kind, text: &str) -> Vec<(&'static str, usize, usize)> {
        let (found, not_audited) = audit_text(name, text, kind);
        assert!(not_audited.is_empty(), "{not_audited:?}");
        found.iter().map(|f| (f.rule, f.line, f.column)).collect()
    }

    #[test]
    fn makefile_variables_resolve_and_findings_point_into_the_file() {
        let mk = "REGISTRY ?= ghcr.io/acme\nVERSION := $(shell git describe --tags)\nIMG ?= $(REGISTRY)/app:$(VERSION)\n\nrelease:\n\tdocker push $(IMG)\n\t@cosign sign --yes $(IMG)\n\tcosign sign --yes $(REGISTRY)/app@$$(crane digest $(IMG))\n\ntools:\n\ttest -s bin/x || curl -sSfL https://x.example.com/i.sh | sh -s -- -b bin\n\nunknown:\n\tcosign sign --yes $(shell cat ref.txt)\n";
        assert_eq!(
            found("Makefile", Kind::Make, mk),
            [
                ("sign-by-tag", 7, 21),
                ("sign-resolved-digest", 8, 20),
                ("unchecked-download", 11, 19)
            ]
        );
    }

    #[test]
    fn justfile_recipes_and_shebang_bodies() {
        let just = "image := \"ghcr.io/acme/app:\" + `git describe`\n\nsign:\n    cosign sign --yes {{image}}\n\npython:\n    #!/usr/bin/env python3\n    print('curl https://x | sh')\n\ninstall:\n    #!/usr/bin/env bash\n    set -eu\n    curl -fsSL https://x.example.com/i.sh | bash\n";
        assert_eq!(
            found("justfile", Kind::Just, just),
            [("sign-by-tag", 4, 23), ("unchecked-download", 13, 5)]
        );
    }

    #[test]
    fn taskfile_commands_with_template_actions() {
        let task = "version: '3'\nvars:\n  IMAGE: ghcr.io/acme/app\n  VERSION:\n    sh: git describe\ntasks:\n  sign:\n    vars:\n      TAG: v1\n    cmds:\n      - cosign sign --yes {{.IMAGE}}:{{.TAG}}\n      - cmd: cosign sign --yes \"{{.IMAGE}}@{{.DIGEST}}\"\n      - task: other\n  unknown:\n    cmds:\n      - cosign sign {{.IMAGE | lower}}\n";
        assert_eq!(
            found("Taskfile.yml", Kind::Taskfile, task),
            [("sign-by-tag", 11, 27)]
        );
    }

    #[test]
    fn lines_of_one_recipe_or_task_share_their_files() {
        let mk = "pull:\n\tcosign verify --key k reg.io/app:$(TAG)\n\tdocker pull reg.io/app:$(TAG)\n\nother:\n\tdocker pull reg.io/app:v2\n\ntools:\n\tcurl -fsSL -o /tmp/i.sh https://x.example.com/i.sh\n\tbash /tmp/i.sh\n\nelsewhere:\n\tbash /tmp/i.sh\n";
        assert_eq!(
            found("Makefile", Kind::Make, mk),
            [
                ("verify-then-pull-by-tag", 3, 14),
                ("deploy-by-tag", 6, 14),
                ("unchecked-download", 9, 2)
            ]
        );
        let just = "rollout version:\n    cosign verify --key k reg.io/app:{{version}}\n    kubectl set image deploy/app app=reg.io/app:{{version}}\n\ninstall:\n    curl -fsSL -o /tmp/i.sh https://x.example.com/i.sh\n    bash /tmp/i.sh\n";
        assert_eq!(
            found("justfile", Kind::Just, just),
            [
                ("verify-then-pull-by-tag", 3, 34),
                ("unchecked-download", 6, 5)
            ]
        );
        let task = "version: '3'\ntasks:\n  deploy:\n    cmds:\n      - cosign verify --key k reg.io/app:{{.V}}\n      - docker pull reg.io/app:{{.V}}\n  other:\n    cmds:\n      - docker pull reg.io/app:{{.V}}\n";
        assert_eq!(
            found("Taskfile.yml", Kind::Taskfile, task),
            [("verify-then-pull-by-tag", 6, 21), ("deploy-by-tag", 9, 21)]
        );
    }
}
