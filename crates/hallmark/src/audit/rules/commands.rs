//! The shell rules: signing, verifying and pulling by tag, and unchecked downloads, over
//! the commands of one shell body.

use std::rc::Rc;

use super::refs::{image_ref, literal_digest, resolves_from_registry};
use super::secrets::{positionals, token_shape};
use super::state::ShellState;
use super::{FileAudit, base};
use crate::audit::shell::{self, Joiner, Word};

pub(super) const SHELLS: &[&str] = &[
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
    "iex",
    "invoke-expression",
    "pwsh",
    "powershell",
];
pub(super) const DOWNLOADERS: &[&str] = &[
    "curl",
    "wget",
    "iwr",
    "invoke-webrequest",
    "irm",
    "invoke-restmethod",
];
pub(super) const CHECKERS: &[&str] = &[
    "sha256sum",
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

impl FileAudit<'_> {
    pub(super) fn shell(&mut self, body: &str, start: (usize, usize, bool), env: &ShellState) {
        self.shell_with(body, start, env.clone());
    }

    /// Audits one shell body whose first line is `line` of the file (its words shifted by
    /// `col` columns on that first line, or on every line of a YAML block scalar, whose
    /// indentation the parser removed); returns the state for bodies that continue it.
    pub(super) fn shell_with(
        &mut self,
        body: &str,
        (line, col, block): (usize, usize, bool),
        mut st: ShellState,
    ) -> ShellState {
        if body.len() > shell::MAX_SCRIPT_BYTES {
            self.not_audited.push(format!(
                "line {line}: the script after its first {} bytes",
                shell::MAX_SCRIPT_BYTES
            ));
        }
        st.hidden = Rc::clone(&self.hidden);
        let cmds = shell::tokenize(body);
        let at = |w: &Word| {
            (
                line + w.line - 1,
                if w.line == 1 || block {
                    col + w.column
                } else {
                    w.column
                },
            )
        };
        for (i, cmd) in cmds.iter().enumerate() {
            for (k, w) in cmd.assignments() {
                let v = w.text.split_once('=').map(|(_, v)| v).unwrap_or_default();
                self.shell_assignment(&mut st, k, v, w, &at);
            }
            for w in &cmd.words {
                self.url_credential(w, &st, &at);
                if let Some(what) = token_shape(&w.text) {
                    let (l, c) = at(w);
                    self.report(
                        "hardcoded-credential",
                        None,
                        l,
                        c,
                        what,
                        format!("{what} is written in a command"),
                    );
                }
            }
            let Some(name) = cmd.name() else { continue };
            let name_text = name
                .text
                .rsplit('/')
                .next()
                .unwrap_or(&name.text)
                .to_ascii_lowercase();
            let args: Vec<String> = cmd.args().iter().map(|w| st.resolve(&w.text)).collect();
            let arg_words = cmd.args();
            if name_text == "export" {
                for a in arg_words {
                    if let Some((k, v)) = a.text.split_once('=') {
                        self.shell_assignment(&mut st, k, v, a, &at);
                    }
                }
                continue;
            }
            let prev = i.checked_sub(1).and_then(|p| cmds.get(p));
            self.command_credentials(cmd, &name_text, &args, prev, &st, &at);
            let sub = args.first().map(String::as_str).unwrap_or_default();
            // Signing.
            let signer =
                matches!(name_text.as_str(), "cosign" | "hallmark" | "notation") && sub == "sign";
            if signer {
                let expect = args.iter().any(|a| a.starts_with("--expect-digest"));
                for (j, a) in positionals(&args).into_iter().skip(1) {
                    let w = &arg_words[j];
                    // The digest part may be a command substitution with spaces in it.
                    let (name_part, digest_part) = match a.split_once('@') {
                        Some((n, d)) => (n, Some(d.to_string())),
                        None => (a, None),
                    };
                    let Some(r) = image_ref(name_part) else {
                        continue;
                    };
                    if !(name_part.contains('/') || name_part.contains(':')) {
                        continue;
                    }
                    let (l, c) = at(w);
                    self.inventory.pushes.insert(r.repository.clone());
                    match &digest_part {
                        Some(d) if literal_digest(d) => {}
                        Some(d) if resolves_from_registry(&w.text) || resolves_from_registry(d) => {
                            self.report("sign-resolved-digest", None, l, c, &w.text, format!(
                                "{name_text} sign takes the digest of {} from the registry after the push", r.repository));
                        }
                        Some(_) => {}
                        None if expect => {}
                        None => self.report("sign-by-tag", None, l, c, &w.text, format!(
                            "{name_text} sign signs {} by tag: whatever the tag names when it runs", w.text)),
                    }
                }
            }
            // Verification by tag, remembered for a later pull.
            if matches!(name_text.as_str(), "cosign" | "hallmark") && sub == "verify" {
                for a in args.iter().skip(1) {
                    if let Some(r) = image_ref(a)
                        && r.digest.is_none()
                        && (a.contains('/') || a.contains(':'))
                    {
                        st.verified_by_tag.insert(a.clone(), line);
                    }
                }
            }
            // Pulls, runs, deployments.
            let pulled: Option<(usize, &str)> = match (name_text.as_str(), sub) {
                ("docker" | "podman" | "nerdctl", "pull" | "run" | "create")
                | ("crane", "pull") => positionals(&args)
                    .into_iter()
                    .skip(1)
                    .find(|(_, a)| image_ref(a).is_some()),
                ("kubectl", "set") => args
                    .iter()
                    .enumerate()
                    .skip(2)
                    .find_map(|(j, a)| a.split_once('=').map(|(_, img)| (j, img))),
                _ => None,
            };
            if let Some((j, image)) = pulled {
                let w = &arg_words[j];
                let (l, c) = at(w);
                if st.verified_by_tag.contains_key(image) {
                    self.report("verify-then-pull-by-tag", None, l, c, image, format!(
                        "{image} was verified by tag, then is pulled by tag: the two can name different images"));
                } else {
                    self.image_use(image, l, c, &format!("{name_text} {sub}"), true);
                }
            }
            // Pushes, for the inventory.
            match (name_text.as_str(), sub) {
                ("docker" | "podman", "push")
                | ("crane", "push" | "copy" | "cp")
                | ("skopeo", "copy")
                | ("hallmark", "publish" | "copy")
                | ("oras", "push") => {
                    if let Some((_, dest)) = positionals(&args).into_iter().skip(1).next_back() {
                        self.inventory
                            .pushes
                            .insert(dest.trim_start_matches("docker://").to_string());
                    }
                }
                _ => {}
            }
            // Downloads piped to an interpreter.
            if DOWNLOADERS.contains(&name_text.as_str()) {
                if cmd.then == Joiner::Pipe
                    && let Some(next) = cmds.get(i + 1)
                    && let Some(n) = next.name()
                {
                    let mut interp = n
                        .text
                        .rsplit('/')
                        .next()
                        .unwrap_or(&n.text)
                        .to_ascii_lowercase();
                    if interp == "sudo" || interp == "env" {
                        interp = next
                            .args()
                            .first()
                            .map(|w| w.text.to_ascii_lowercase())
                            .unwrap_or_default();
                    }
                    if SHELLS.contains(&interp.as_str()) {
                        let (l, c) = at(name);
                        self.report(
                            "unchecked-download",
                            None,
                            l,
                            c,
                            &format!("{name_text}|{interp}"),
                            format!("the output of {name_text} is run by {interp} unchecked"),
                        );
                    }
                }
                // Download to a file: remember it until it is checked or run.
                let mut it = args.iter().peekable();
                while let Some(a) = it.next() {
                    // `-o FILE`, and combined short flags ending in o (`-fsSLo FILE`).
                    let short_o = a.starts_with('-')
                        && !a.starts_with("--")
                        && (a.ends_with('o') || a.ends_with('O'));
                    let out = match a.as_str() {
                        "--output" | "--output-document" | "-OutFile" => {
                            it.peek().map(|s| s.to_string())
                        }
                        _ if short_o => it.peek().map(|s| s.to_string()),
                        _ => a
                            .strip_prefix("--output=")
                            .or_else(|| a.strip_prefix("--output-document="))
                            .map(str::to_string),
                    };
                    if let Some(f) = out
                        && f != "-"
                    {
                        st.downloaded.insert(base(&f).to_string(), line);
                    }
                }
            }
            if SHELLS.contains(&name_text.as_str()) {
                // `bash <(curl …)`, `sh -c "$(curl …)"`.
                for w in cmd.args() {
                    let t = w.text.to_ascii_lowercase();
                    let powershell = matches!(name_text.as_str(), "iex" | "invoke-expression")
                        && [
                            "iwr",
                            "invoke-webrequest",
                            "irm",
                            "invoke-restmethod",
                            "downloadstring",
                        ]
                        .iter()
                        .any(|d| t.contains(d));
                    if powershell
                        || ((t.contains("$(curl") || t.contains("$(wget") || t.contains("<(curl"))
                            && !t.contains("sha256sum"))
                    {
                        let (l, c) = at(name);
                        self.report(
                            "unchecked-download",
                            None,
                            l,
                            c,
                            &format!("{name_text}-substitution"),
                            format!("{name_text} runs a download unchecked"),
                        );
                    }
                }
            }
            if CHECKERS.contains(&name_text.as_str()) {
                // `sha256sum -c SUMS` checks the files SUMS lists: any of them.
                if args.iter().any(|a| a == "-c" || a == "--check") {
                    st.downloaded.clear();
                }
                st.downloaded
                    .retain(|f, _| !args.iter().any(|a| base(a).starts_with(f.as_str())));
            }
            if name_text == "chmod" {
                for a in args
                    .iter()
                    .filter(|a| !a.starts_with('+') && !a.starts_with('-'))
                {
                    st.executable.insert(base(a).to_string());
                }
            }
            let run_target = if SHELLS.contains(&name_text.as_str()) {
                args.iter()
                    .find(|a| !a.starts_with('-'))
                    .map(|a| base(a).to_string())
            } else if name.text.starts_with("./") || name.text.starts_with('/') {
                st.executable
                    .contains(base(&name.text))
                    .then(|| base(&name.text).to_string())
            } else {
                None
            };
            if let Some(f) = run_target
                && st.downloaded.contains_key(&f)
            {
                let (l, c) = at(name);
                self.report(
                    "unchecked-download",
                    None,
                    l,
                    c,
                    &format!("run:{f}"),
                    format!("{f} is downloaded and run without a checksum or signature check"),
                );
            }
        }
        st
    }
}
