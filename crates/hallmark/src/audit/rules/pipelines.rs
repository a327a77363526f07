//! The walk of each kind of pipeline file: GitHub workflows and actions, GitLab CI,
//! Dockerfiles and Jenkinsfiles, down to the shell bodies and images they hold.

use super::FileAudit;
use super::secrets::{Credential, Expands, credential, is_name, registry_host};
use super::state::ShellState;
use crate::audit::images;
use crate::audit::yaml::{Node, Value};

impl FileAudit<'_> {
    pub(super) fn workflow(&mut self, doc: &Node) {
        let mut env = ShellState::default();
        self.env_of(doc.get("env"), Expands::Expressions, &mut env);
        for (_, job) in doc.get("jobs").map(Node::entries).into_iter().flatten() {
            let mut job_env = env.clone();
            self.env_of(job.get("env"), Expands::Expressions, &mut job_env);
            if let Some(uses) = job.get("uses") {
                self.uses(uses);
            }
            if let Some(steps) = job.get("steps") {
                self.steps(steps, &job_env);
            }
        }
        if let Some(steps) = doc.get("runs").and_then(|r| r.get("steps")) {
            self.steps(steps, &env);
        }
    }

    /// A job's steps (or a composite action's). Each step sees the job's env and its own;
    /// what a step writes to $GITHUB_ENV is known only at run time.
    pub(super) fn steps(&mut self, steps: &Node, job_env: &ShellState) {
        for step in steps.items() {
            let mut step_env = job_env.clone();
            self.env_of(step.get("env"), Expands::Expressions, &mut step_env);
            if let Some(uses) = step.get("uses") {
                self.uses(uses);
                let action = uses.str().unwrap_or_default();
                if action.starts_with("docker/login-action") {
                    self.login_action(step.get("with"), &step_env);
                }
                if action.starts_with("docker/build-push-action")
                    && let Some(with) = step.get("with")
                    && with.get("push").and_then(Node::str) == Some("true")
                    && let Some(tags) = with.get("tags").and_then(Node::str)
                {
                    for t in tags
                        .split([',', '\n'])
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                    {
                        self.inventory.pushes.insert(t.to_string());
                    }
                }
            }
            if let Some(run) = step.get("run")
                && let Some(body) = run.str()
            {
                let (line, col, block) = self.body_start(run);
                self.shell(body, (line, col, block), &step_env);
            }
        }
    }

    pub(super) fn uses(&mut self, node: &Node) {
        let Some(u) = node.str() else { return };
        if u.starts_with("./") || u.starts_with("docker://") {
            if let Some(image) = u.strip_prefix("docker://") {
                self.image_use(image, node.line, node.column, "a step's container", true);
            }
            return;
        }
        let Some((name, version)) = u.rsplit_once('@') else {
            self.report(
                "unpinned-action",
                None,
                node.line,
                node.column,
                u,
                format!("{u} names no version at all"),
            );
            return;
        };
        let sha = version.len() == 40 && version.bytes().all(|b| b.is_ascii_hexdigit());
        if !sha {
            self.report(
                "unpinned-action",
                None,
                node.line,
                node.column,
                u,
                format!("{name} is used by the movable reference {version:?}, not a commit SHA"),
            );
        }
    }

    pub(super) fn login_action(&mut self, with: Option<&Node>, env: &ShellState) {
        let Some(with) = with else { return };
        let registry = with
            .get("registry")
            .and_then(Node::str)
            .unwrap_or("docker.io");
        let registry = registry_host(registry).to_string();
        if let Some(p) = with.get("password") {
            // An action's input is not a shell: `$NAME` in it is the password itself.
            match credential(p.str().unwrap_or_default(), Expands::Expressions) {
                Credential::Empty => {}
                Credential::Reference(name) if env.literal.contains(&name) => {
                    self.credential_vars.insert(name.clone());
                    self.inventory
                        .credentials
                        .insert(format!("a password written in the file for {registry}"));
                    self.report(
                        "hardcoded-credential",
                        None,
                        p.line,
                        p.column,
                        &format!("login-action password from {name}"),
                        format!("the password for {registry} is {name}, which is assigned a value written in the workflow"),
                    );
                }
                Credential::Reference(name) => {
                    if is_name(&name) {
                        self.credential_vars.insert(name.clone());
                    }
                    self.inventory
                        .credentials
                        .insert(format!("{name} for {registry}"));
                }
                Credential::Literal => {
                    self.inventory
                        .credentials
                        .insert(format!("a password written in the file for {registry}"));
                    self.report(
                        "hardcoded-credential",
                        None,
                        p.line,
                        p.column,
                        "login-action password",
                        format!("the password for {registry} is written in the workflow"),
                    );
                }
            }
        }
    }

    pub(super) fn gitlab(&mut self, doc: &Node) {
        let mut env = ShellState::default();
        self.env_of(doc.get("variables"), Expands::Variables, &mut env);
        if let Some(image) = doc.get("image") {
            self.deployed_image(image.get("name").unwrap_or(image), "the default job image");
        }
        for (key, job) in doc.entries() {
            let hidden = key.str().is_some_and(|k| k.starts_with('.') && k != ".pre");
            // A hidden key is a template: jobs take its scripts through `extends`, `<<: *x`
            // or `!reference`, none of which is followed, so its scripts are audited where
            // they are written (a list of lines, or a map with any of the script keys).
            if hidden
                && let Value::Seq(lines) = &job.value
                && lines.iter().all(|l| l.str().is_some())
            {
                let mut state = env.clone();
                for l in lines {
                    let start = self.body_start(l);
                    state = self.shell_with(l.str().unwrap_or_default(), start, state);
                }
                continue;
            }
            if hidden
                && ["before_script", "script", "after_script"]
                    .iter()
                    .all(|k| job.get(k).is_none())
            {
                continue;
            }
            if !matches!(job.value, Value::Map(_)) {
                continue;
            }
            let mut job_env = env.clone();
            self.env_of(job.get("variables"), Expands::Variables, &mut job_env);
            if let Some(image) = job.get("image") {
                self.deployed_image(image.get("name").unwrap_or(image), "a job image");
            }
            if let Some(services) = job.get("services") {
                for s in services.items() {
                    self.deployed_image(s.get("name").unwrap_or(s), "a service container");
                }
            }
            let mut state = job_env;
            for part in ["before_script", "script", "after_script"] {
                let Some(script) = job.get(part) else {
                    continue;
                };
                let lines: Vec<&Node> = match &script.value {
                    Value::Seq(items) => items.iter().collect(),
                    _ => vec![script],
                };
                for l in lines {
                    if let Some(body) = l.str() {
                        let start = self.body_start(l);
                        state = self.shell_with(body, start, state);
                    }
                }
            }
        }
    }

    pub(super) fn dockerfile(&mut self) {
        let mut stages: Vec<String> = Vec::new();
        let mut i = 0;
        while i < self.lines.len() {
            let start = i;
            let mut text = self.lines[i].trim_end().to_string();
            while text.ends_with('\\') && i + 1 < self.lines.len() {
                text.pop();
                i += 1;
                text.push('\n');
                text.push_str(self.lines[i]);
            }
            i += 1;
            let trimmed = text.trim_start();
            let indent = text.len() - trimmed.len();
            let (instr, rest) = trimmed
                .split_once(char::is_whitespace)
                .unwrap_or((trimmed, ""));
            match instr.to_ascii_uppercase().as_str() {
                "FROM" => {
                    let Some(image) = images::from_image(rest, &mut stages) else {
                        continue;
                    };
                    let column = indent + instr.len() + 2 + rest.find(image).unwrap_or(0);
                    self.image_use(image, start + 1, column, "FROM", true);
                }
                "RUN" => {
                    let column = indent + instr.len() + 1;
                    self.shell(rest, (start + 1, column, false), &ShellState::default());
                }
                _ => {}
            }
        }
    }

    pub(super) fn jenkins(&mut self) {
        let text = self.lines.join("\n");
        let mut from = 0;
        // Where the line of `counted` starts, and its number: counted forward only, so a
        // file of many steps costs one pass.
        let (mut counted, mut line, mut line_start) = (0, 1, 0);
        while let Some(at) = text[from..].find("sh ") {
            let at = from + at;
            from = at + 3;
            let rest = &text[at + 3..];
            let rest_trim = rest.trim_start();
            let quote = ["'''", "\"\"\"", "'", "\""]
                .into_iter()
                .find(|q| rest_trim.starts_with(q));
            let Some(q) = quote else { continue };
            let body_start = at + 3 + (rest.len() - rest_trim.len()) + q.len();
            // An unterminated string runs to the end of the file, as Groovy would read it.
            let len = text[body_start..]
                .find(q)
                .unwrap_or(text.len() - body_start);
            let body = &text[body_start..body_start + len];
            for (i, b) in text[counted..body_start].bytes().enumerate() {
                if b == b'\n' {
                    line += 1;
                    line_start = counted + i + 1;
                }
            }
            counted = body_start;
            self.shell(
                body,
                (line, body_start - line_start, false),
                &ShellState::default(),
            );
            from = (body_start + len + q.len()).min(text.len());
        }
    }
}
