//! One command of a script as the rules see it (its name, its arguments with the known
//! variables substituted, its place), and what commands mean that more than one rule or
//! the inventory needs: what is signed, pulled, pushed, and where credentials are given.

use super::invoke::{
    Invocation, container_image, function_tool, invocation, takes_value, tool_name, verb_index,
};
use super::refs::image_ref;
use crate::audit::model::{Expands, Place, Script, ValueClass};
use crate::audit::secrets::{
    Shape, credential_option, credential_values, positionals, registry_host, shell_expands,
    url_password,
};
use crate::audit::shell::{Command, Joiner, Word};

/// Interpreters a download may be run by.
pub(crate) const SHELLS: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "ksh",
    "python",
    "python3",
    "perl",
    "ruby",
    "node",
    "php",
    "iex",
    "invoke-expression",
    "pwsh",
    "powershell",
];
/// Commands that download.
pub(crate) const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "iwr",
    "invoke-webrequest",
    "irm",
    "invoke-restmethod",
];
/// Commands that check what was downloaded.
pub(crate) const CHECKERS: &[&str] = &[
    "sha256sum",
    "sha384sum",
    "sha512sum",
    "shasum",
    "gpg",
    "minisign",
    "cosign",
    "hallmark",
    "openssl",
    "sha1sum",
    "b3sum",
    "slsa-verifier",
    "gh",
];

/// A file name without directories, for matching a download with its use.
pub(crate) fn base(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// A command's name as matched ([`tool_name`]): the last part of its path, in lower
/// case, or the tool a variable stands for (`$COSIGN`).
pub(crate) fn command_name(w: &Word) -> String {
    tool_name(&w.text)
}

/// Where a word of `script` is in the file.
pub(crate) fn place_of(script: &Script, w: &Word) -> Place {
    script.place(w.line, w.column)
}

/// One command with a name.
pub(crate) struct Step<'a> {
    /// Its script.
    pub(crate) script: &'a Script,
    /// The script's commands, and this one's index among them.
    pub(crate) cmds: &'a [Command],
    pub(crate) index: usize,
    /// Its name as written.
    pub(crate) word: &'a Word,
    /// Its name as matched ([`command_name`]).
    pub(crate) name: String,
    /// Its arguments, known variables substituted.
    pub(crate) args: Vec<String>,
    /// The line its script starts on.
    pub(crate) script_line: usize,
    /// For a signing command, what each argument is as an image reference, over every
    /// value its variables may hold (`None`: unknown); empty for other commands.
    pub(crate) classes: Vec<Option<ValueClass>>,
}

/// Commands whose `sign` verb signs image references.
pub(crate) const SIGNERS: &[&str] = &["cosign", "hallmark", "notation"];

impl<'a> Step<'a> {
    pub(crate) fn cmd(&self) -> &'a Command {
        &self.cmds[self.index]
    }

    /// The name's word.
    pub(crate) fn name_word(&self) -> &'a Word {
        self.word
    }

    /// The arguments as written.
    pub(crate) fn arg_words(&self) -> &'a [Word] {
        self.cmd().args()
    }

    /// The first argument (the subcommand of `docker pull`), or "".
    pub(crate) fn sub(&self) -> &str {
        self.args.first().map(String::as_str).unwrap_or_default()
    }

    /// Where `w` is in the file.
    pub(crate) fn at(&self, w: &Word) -> Place {
        place_of(self.script, w)
    }

    /// The command before this one.
    pub(crate) fn prev(&self) -> Option<&'a Command> {
        self.index.checked_sub(1).and_then(|p| self.cmds.get(p))
    }

    /// The command after this one.
    pub(crate) fn next(&self) -> Option<&'a Command> {
        self.cmds.get(self.index + 1)
    }

    /// What the command runs: the tool and where its arguments start ([`invocation`]).
    pub(crate) fn invocation(&self) -> Invocation {
        let inv = invocation(&self.name, &self.args);
        if inv.tool == self.name
            && inv.start == 0
            && let Some(tool) = function_tool(&self.script.body, &self.word.text)
        {
            // A function of the script that wraps the tool: its arguments are the tool's.
            return Invocation { tool, start: 0 };
        }
        inv
    }

    /// The signer run (one of [`SIGNERS`]), its verb (`sign`, `attest`) and the index of the
    /// first argument after it, however the signer is run ([`Step::invocation`]).
    pub(crate) fn signing(&self) -> Option<(String, &str, usize)> {
        let inv = self.invocation();
        if !SIGNERS.contains(&inv.tool.as_str()) {
            return None;
        }
        let v = verb_index(&self.args, inv.start)?;
        let verb = self.args[v].as_str();
        // `sign-blob` and `attest-blob` sign files, never an image.
        matches!(verb, "sign" | "attest").then_some((inv.tool, verb, v + 1))
    }

    /// The references signed or attested (`cosign sign`, `cosign attest`, `hallmark sign`,
    /// `notation sign`, the same run from a container or through a variable): each word,
    /// the reference's name part, and the text after `@` when there is one.
    pub(crate) fn signed(&self) -> Vec<Signed<'_>> {
        let Some((_, _, from)) = self.signing() else {
            return Vec::new();
        };
        let words = self.arg_words();
        let mut out = Vec::new();
        let mut j = from;
        while j < self.args.len() {
            let a = self.args[j].as_str();
            j += 1;
            if a.starts_with('-') {
                if takes_value(a) || credential_option(a) {
                    j += 1;
                }
                continue;
            }
            // The digest part may be a command substitution with spaces in it.
            let (name_part, digest) = super::refs::split_reference(a);
            if !super::refs::may_be_reference(name_part) {
                continue;
            }
            // What the word may name, over every value of its variables; a reference whose
            // variables are unknown is not judged.
            let class = match self.classes.get(j - 1) {
                Some(Some(c)) => *c,
                Some(None) => continue,
                None if digest.is_some() => ValueClass::Digest,
                None => ValueClass::Tag,
            };
            // A bare word (`cosign sign app`) is taken for a file or a name, not an image.
            if !(name_part.contains(['/', ':', '$', '`'])) {
                continue;
            }
            let repository = match image_ref(name_part) {
                Some(r) => r.repository,
                // A value with spaces (`$(crane …)`): named as written.
                None => words[j - 1].text.to_string(),
            };
            out.push(Signed {
                word: &words[j - 1],
                repository,
                class,
            });
        }
        out
    }

    /// `--expect-digest` is given: the signer checks the tag still names the digest.
    pub(crate) fn expects_digest(&self) -> bool {
        self.args.iter().any(|a| a.starts_with("--expect-digest"))
    }

    /// The image a command pulls, runs or deploys: its word and the reference.
    pub(crate) fn pulled(&self) -> Option<(&'a Word, &str)> {
        let args = &self.args;
        // kubectl's global options may come before its verb (`kubectl -n ns run`).
        let (args, offset) = match self.name.as_str() {
            "kubectl" | "oc" => {
                let v = kubectl_verb(args);
                (&args[v..], v)
            }
            _ => (&args[..], 0),
        };
        let sub = args.first().map(String::as_str).unwrap_or_default();
        let found = match (self.name.as_str(), sub) {
            ("docker" | "podman" | "nerdctl" | "finch", _) => {
                container_image(args).map(|j| (j, args[j].as_str()))
            }
            ("crane", "pull") => positionals(args)
                .into_iter()
                .skip(1)
                .find(|(_, a)| image_ref(a).is_some()),
            ("kubectl" | "oc", "set") if args.get(1).is_some_and(|a| a == "image") => args
                .iter()
                .enumerate()
                .skip(2)
                .find_map(|(j, a)| a.split_once('=').map(|(_, img)| (j, img))),
            // `kubectl run NAME --image=REF`, `kubectl create deployment NAME --image REF`.
            ("kubectl" | "oc", "run" | "create") => option_value(args, "--image"),
            _ => None,
        };
        found.map(|(j, image)| (&self.arg_words()[j + offset], image))
    }

    /// Where a command pushes to (`docker push`, `crane copy`, `oras push`…).
    pub(crate) fn pushed(&self) -> Option<String> {
        match (self.name.as_str(), self.sub()) {
            ("docker" | "podman", "push")
            | ("crane", "push" | "copy" | "cp")
            | ("skopeo", "copy")
            | ("hallmark", "publish" | "copy")
            | ("oras", "push") => positionals(&self.args)
                .into_iter()
                .skip(1)
                .next_back()
                .map(|(_, dest)| dest.trim_start_matches("docker://").to_string()),
            _ => None,
        }
    }

    /// The registry a login command logs in to, when it is one.
    pub(crate) fn login(&self) -> Option<Login> {
        let args = &self.args;
        let login = match (self.name.as_str(), self.sub()) {
            (
                "docker" | "podman" | "buildah" | "nerdctl" | "finch" | "skopeo" | "oras" | "helm"
                | "crane" | "regctl" | "cosign" | "notation" | "ko",
                "login",
            ) => true,
            ("crane", "auth") | ("helm" | "regctl", "registry") => {
                args.get(1).is_some_and(|a| a == "login")
            }
            _ => false,
        };
        // The server is the first positional word after the subcommand (`crane auth login
        // REG`); the values of `-u` and `-p` are never taken for it.
        login.then(|| Login {
            registry: positionals(args)
                .into_iter()
                .skip(1)
                .map(|(_, a)| a)
                .find(|a| *a != "login")
                .map_or("docker.io", registry_host)
                .to_string(),
            stdin: self
                .arg_words()
                .iter()
                .any(|w| w.text == "--password-stdin"),
        })
    }

    /// The credentials the command is given: a login's password (as an option, or piped
    /// in by `echo`/`printf`, or a here-string), `user:password` of `--creds` and
    /// `curl -u`, and any `--…password`, `--…token` option of any command.
    pub(crate) fn credentials(&self, login: Option<&Login>) -> Vec<Site> {
        let mut out = Vec::new();
        let words = self.arg_words();
        let name = self.name.as_str();
        for (w, value, shape, opt) in credential_values(name, login.is_some(), words) {
            let text = match shape {
                Shape::Whole => value,
                Shape::UserPassword => match value.split_once(':') {
                    Some((_, password)) => password,
                    // `-u "$CREDS"`: the variable holds both.
                    None if value.starts_with('$') => value,
                    None => continue,
                },
            };
            let (what, subject) = match login {
                Some(l) => (
                    format!("the password for {}", l.registry),
                    "login password".to_string(),
                ),
                None => (
                    format!("the credential given to {name} {opt}"),
                    format!("{name} {opt}"),
                ),
            };
            out.push(Site::new(
                self,
                w,
                text,
                what,
                subject,
                login.map(|l| l.registry.clone()),
            ));
        }
        let Some(login) = login.filter(|l| l.stdin) else {
            return out;
        };
        let what = format!("the password for {}", login.registry);
        // `docker login --password-stdin <<< "$PW"`: the here-string is the password.
        for (j, w) in words.iter().enumerate() {
            let here = match w.text.strip_prefix("<<<") {
                Some("") => words.get(j + 1).map(|n| (n, n.text.as_str())),
                Some(glued) => Some((w, glued)),
                None => None,
            };
            if let Some((w, text)) = here {
                out.push(Site::new(
                    self,
                    w,
                    text,
                    what.clone(),
                    "login password on stdin".into(),
                    None,
                ));
            }
        }
        // `echo "$PW" | docker login --password-stdin`: what is echoed is the password.
        let Some(prev) = self.prev().filter(|p| p.then == Joiner::Pipe) else {
            return out;
        };
        let echo = prev
            .name()
            .map(|n| n.text.rsplit('/').next().unwrap_or(&n.text));
        if !matches!(echo, Some("echo" | "printf")) {
            return out;
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
            out.push(Site::new(
                self,
                w,
                &w.text,
                what.clone(),
                "login password on stdin".into(),
                None,
            ));
        }
        out
    }
}

/// Index of kubectl's verb in `args`: past global options and their values.
pub(crate) fn kubectl_verb(args: &[String]) -> usize {
    let mut j = 0;
    while let Some(a) = args.get(j) {
        if !a.starts_with('-') {
            return j;
        }
        let valued = matches!(
            a.as_str(),
            "-n" | "--namespace"
                | "--context"
                | "--kubeconfig"
                | "--cluster"
                | "--user"
                | "-s"
                | "--server"
                | "--token"
                | "--as"
                | "--as-group"
                | "--request-timeout"
                | "-v"
        );
        j += if valued { 2 } else { 1 };
    }
    args.len()
}

/// The value of option `opt` in `args` (`--image=REF` or `--image REF`), with its index.
fn option_value<'s>(args: &'s [String], opt: &str) -> Option<(usize, &'s str)> {
    args.iter().enumerate().find_map(|(j, a)| {
        if a == opt {
            args.get(j + 1).map(|v| (j + 1, v.as_str()))
        } else {
            a.strip_prefix(opt)
                .and_then(|v| v.strip_prefix('='))
                .map(|v| (j, v))
        }
    })
}

/// A reference a command signs.
pub(crate) struct Signed<'s> {
    /// The word, as written.
    pub(crate) word: &'s Word,
    /// The repository signed.
    pub(crate) repository: String,
    /// What it names: by digest, by tag, or by a digest looked up from the registry.
    pub(crate) class: ValueClass,
}

/// A registry login in a script.
pub(crate) struct Login {
    /// The registry, without any `user:password@`.
    pub(crate) registry: String,
    /// The password is read from standard input.
    pub(crate) stdin: bool,
}

/// A place where a credential is given, and how it is written.
pub(crate) struct Site {
    /// Where.
    pub(crate) at: Place,
    /// The value as written.
    pub(crate) text: String,
    /// What expands in it.
    pub(crate) expands: Expands,
    /// What it is, in words: "the password for reg.io".
    pub(crate) what: String,
    /// What a finding about it is about, for its fingerprint: never the value.
    pub(crate) subject: String,
    /// The registry it logs in to, when given as an option of a login.
    pub(crate) registry: Option<String>,
}

impl Site {
    fn new(
        step: &Step<'_>,
        w: &Word,
        text: &str,
        what: String,
        subject: String,
        registry: Option<String>,
    ) -> Self {
        Self {
            at: step.at(w),
            text: text.to_string(),
            expands: shell_expands(w),
            what,
            subject,
            registry,
        }
    }

    /// The password of a URL's `user:password@` in a word, when there is one.
    pub(crate) fn in_url(script: &Script, w: &Word) -> Option<Self> {
        let password = url_password(&w.text)?;
        Some(Self {
            at: place_of(script, w),
            text: password.to_string(),
            expands: shell_expands(w),
            what: "the password of a URL".into(),
            subject: "url password".into(),
            registry: None,
        })
    }
}
