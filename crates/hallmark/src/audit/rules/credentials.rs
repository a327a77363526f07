//! The credential rule over YAML values and shell commands: literal secrets under
//! secret-looking keys, and the credentials commands take, judged in the shell state.

use super::FileAudit;
use super::secrets::{
    Credential, Expands, Shape, credential, credential_values, is_name, literal_value, positionals,
    registry_host, secret_name, shell_expands, token_shape, url_password,
};
use super::state::ShellState;
use crate::audit::Kind;
use crate::audit::shell::{Command, Joiner, Word};
use crate::audit::yaml::Node;

impl FileAudit<'_> {
    /// Literal secrets under secret-looking keys, and known token shapes anywhere.
    pub(super) fn literal_secrets(&mut self, doc: &Node, kind: Kind) {
        let expands = match kind {
            Kind::Workflow | Kind::Action => Expands::Expressions,
            _ => Expands::Variables,
        };
        let mut found = Vec::new();
        doc.walk(&mut |key, n| {
            let Some(v) = n.str() else { return };
            if let Some(what) = token_shape(v) {
                found.push((n.line, n.column, format!("{what} is written in the file")));
            } else if !v.trim().contains(char::is_whitespace)
                && url_password(v.trim())
                    .is_some_and(|p| credential(p, expands) == Credential::Literal)
            {
                // A whole value that is a URL: a script's URLs are judged word by word.
                found.push((
                    n.line,
                    n.column,
                    "a URL with a password is written in the file".to_string(),
                ));
            } else if key.is_some_and(secret_name) && literal_value(v, expands) {
                found.push((
                    n.line,
                    n.column,
                    format!("{} holds a literal value", key.unwrap_or_default()),
                ));
            }
        });
        for (line, column, message) in found {
            self.report(
                "hardcoded-credential",
                None,
                line,
                column,
                &message.clone(),
                message,
            );
        }
    }

    /// Judges a credential's value `text` found in a command, where `what` names it ("the
    /// password for reg.io"). A variable read there is remembered as a credential; one
    /// assigned a value written in the file is as much a literal as the value itself.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn judge_credential(
        &mut self,
        text: &str,
        expands: Expands,
        st: &ShellState,
        (l, c): (usize, usize),
        what: &str,
        subject: &str,
        registry: Option<&str>,
    ) {
        let written = |this: &mut Self| {
            if let Some(r) = registry {
                this.inventory
                    .credentials
                    .insert(format!("a password written in the file for {r}"));
            }
        };
        match credential(text, expands) {
            Credential::Empty => {}
            Credential::Reference(name) => {
                if is_name(&name) {
                    self.credential_vars.insert(name.clone());
                }
                if st.literal.contains(&name) {
                    written(self);
                    self.report(
                        "hardcoded-credential",
                        None,
                        l,
                        c,
                        &format!("{subject} from {name}"),
                        format!("{what} is {name}, which is assigned a value written in the file (read it from a secret store)"),
                    );
                } else if let Some(r) = registry {
                    self.inventory.credentials.insert(format!("{name} for {r}"));
                }
            }
            Credential::Literal => {
                written(self);
                self.report(
                    "hardcoded-credential",
                    None,
                    l,
                    c,
                    subject,
                    if registry.is_some() {
                        format!("{what} is written in the command (use --password-stdin)")
                    } else {
                        format!("{what} is written in the command (read it from a secret store)")
                    },
                );
            }
        }
    }

    /// A URL with a `user:password@` in a word.
    /// `k=v` in a script (a plain assignment or `export`): a literal under a secret's name
    /// is a finding, and the value is remembered for what follows.
    pub(super) fn shell_assignment(
        &mut self,
        st: &mut ShellState,
        k: &str,
        v: &str,
        w: &Word,
        at: &dyn Fn(&Word) -> (usize, usize),
    ) {
        if secret_name(k) && literal_value(v, shell_expands(w)) {
            let (l, c) = at(w);
            self.report(
                "hardcoded-credential",
                None,
                l,
                c,
                k,
                format!("{k} is assigned a literal value"),
            );
        }
        self.note_assignment(k, v);
        st.assign(k, v, shell_expands(w));
    }

    pub(super) fn url_credential(
        &mut self,
        w: &Word,
        st: &ShellState,
        at: &dyn Fn(&Word) -> (usize, usize),
    ) {
        if let Some(password) = url_password(&w.text) {
            self.judge_credential(
                password,
                shell_expands(w),
                st,
                at(w),
                "the password of a URL",
                "url password",
                None,
            );
        }
    }

    /// The credentials a command is given: a login's password (as an option, or piped
    /// in by `echo`/`printf`), `user:password` of `--creds` and `curl -u`, and any
    /// `--…password`, `--…token` option of any command.
    pub(super) fn command_credentials(
        &mut self,
        cmd: &Command,
        name_text: &str,
        args: &[String],
        prev: Option<&Command>,
        st: &ShellState,
        at: &dyn Fn(&Word) -> (usize, usize),
    ) {
        let sub = args.first().map(String::as_str).unwrap_or_default();
        let login = match (name_text, sub) {
            (
                "docker" | "podman" | "buildah" | "nerdctl" | "finch" | "skopeo" | "oras" | "helm"
                | "crane" | "regctl",
                "login",
            ) => true,
            ("crane", "auth") | ("helm" | "regctl", "registry") => {
                args.get(1).is_some_and(|a| a == "login")
            }
            _ => false,
        };
        // The server is the first positional word after the subcommand (`crane auth login
        // REG`); the values of `-u` and `-p` are never taken for it.
        let registry = login.then(|| {
            positionals(args)
                .into_iter()
                .skip(1)
                .map(|(_, a)| a)
                .find(|a| *a != "login")
                .map_or("docker.io", registry_host)
                .to_string()
        });
        let words = cmd.args();
        for (w, value, shape, opt) in credential_values(name_text, login, words) {
            let text = match shape {
                Shape::Whole => value,
                Shape::UserPassword => match value.split_once(':') {
                    Some((_, password)) => password,
                    // `-u "$CREDS"`: the variable holds both.
                    None if value.starts_with('$') => value,
                    None => continue,
                },
            };
            let (what, subject) = match &registry {
                Some(r) => (
                    format!("the password for {r}"),
                    "login password".to_string(),
                ),
                None => (
                    format!("the credential given to {name_text} {opt}"),
                    format!("{name_text} {opt}"),
                ),
            };
            self.judge_credential(
                text,
                shell_expands(w),
                st,
                at(w),
                &what,
                &subject,
                registry.as_deref(),
            );
        }
        let Some(registry) = registry else { return };
        if !words.iter().any(|w| w.text == "--password-stdin") {
            return;
        }
        self.inventory
            .credentials
            .insert(format!("a password on stdin for {registry}"));
        // `docker login --password-stdin <<< "$PW"`: the here-string is the password.
        for (j, w) in words.iter().enumerate() {
            let here = match w.text.strip_prefix("<<<") {
                Some("") => words.get(j + 1).map(|n| (n, n.text.as_str())),
                Some(glued) => Some((w, glued)),
                None => None,
            };
            if let Some((w, text)) = here {
                self.judge_credential(
                    text,
                    shell_expands(w),
                    st,
                    at(w),
                    &format!("the password for {registry}"),
                    "login password on stdin",
                    None,
                );
            }
        }
        // `echo "$PW" | docker login --password-stdin`: what is echoed is the password.
        let Some(prev) = prev.filter(|p| p.then == Joiner::Pipe) else {
            return;
        };
        let echo = prev
            .name()
            .map(|n| n.text.rsplit('/').next().unwrap_or(&n.text));
        if !matches!(echo, Some("echo" | "printf")) {
            return;
        }
        let mut values: Vec<&Word> = prev
            .args()
            .iter()
            .filter(|w| !w.text.starts_with('-'))
            .collect();
        if echo == Some("printf") && values.len() > 1 {
            values.remove(0);
        }
        for w in values {
            self.judge_credential(
                &w.text,
                shell_expands(w),
                st,
                at(w),
                &format!("the password for {registry}"),
                "login password on stdin",
                None,
            );
        }
    }
}
