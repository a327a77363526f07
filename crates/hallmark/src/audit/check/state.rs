//! Shell state while walking one script: the variables assigned, which of them are never
//! printed, and what earlier commands downloaded, made executable or verified. Every rule
//! reads the same state; only [`ShellState::after`] (what a command leaves behind) and
//! assignments change it.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::commands::{CHECKERS, DOWNLOADERS, SHELLS, Step, base};
use super::refs::image_ref;
use super::secrets::{Credential, credential, secret_name, token_shape, url_password, variable_at};
use crate::audit::model::Expands;

/// Shell state while walking one body: variables, and what earlier commands did.
#[derive(Default, Clone)]
pub(crate) struct ShellState {
    pub(crate) vars: BTreeMap<String, String>,
    /// Variables whose value is written in the file (directly or through another such
    /// variable): a password read from one is a literal password.
    pub(crate) literal: BTreeSet<String>,
    /// Variables never substituted into anything printed: those used as a credential
    /// anywhere in the file, and those they take their value from.
    pub(crate) hidden: Rc<BTreeSet<String>>,
    /// Repositories verified by tag: ref → line.
    pub(crate) verified_by_tag: BTreeMap<String, usize>,
    /// Files downloaded and not yet checked: name → line.
    pub(crate) downloaded: BTreeMap<String, usize>,
    /// Files made executable.
    pub(crate) executable: BTreeSet<String>,
}

impl ShellState {
    /// Records `name = value` (`value` as written, expanding as `expands` says).
    pub(crate) fn assign(&mut self, name: &str, value: &str, expands: Expands) {
        let literal = match credential(value, expands) {
            Credential::Empty => false,
            Credential::Literal => true,
            Credential::Reference(from) => self.literal.contains(&from),
        };
        if literal {
            self.literal.insert(name.to_string());
        } else {
            self.literal.remove(name);
        }
        let resolved = self.resolve(value);
        self.vars.insert(name.to_string(), resolved);
    }

    /// Whether the value of `name` may be substituted into text that is printed: never a
    /// credential's, whatever it looks like.
    pub(crate) fn printable(&self, name: &str, value: &str) -> bool {
        !secret_name(name)
            && !self.hidden.contains(name)
            && token_shape(value).is_none()
            && url_password(value).is_none()
    }

    /// `word` with the variables known so far substituted (textually): `$NAME`,
    /// `${NAME}` and `${{ env.NAME }}`, except those whose value is a credential, which
    /// stay as written. One pass over the word, whatever the number of variables.
    pub(crate) fn resolve(&self, word: &str) -> String {
        if self.vars.is_empty() || !word.contains('$') {
            return word.to_string();
        }
        let mut out = String::with_capacity(word.len());
        let mut rest = word;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            match variable_at(tail).and_then(|(name, len)| Some((name, self.vars.get(name)?, len)))
            {
                Some((name, value, len)) => {
                    if self.printable(name, value) {
                        out.push_str(value);
                    } else {
                        out.push_str(&tail[..len]);
                    }
                    rest = &tail[len..];
                }
                None => {
                    out.push('$');
                    rest = &tail[1..];
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// Records what `step` leaves for later commands: references verified by tag, files
    /// downloaded, checked or made executable.
    pub(crate) fn after(&mut self, step: &Step<'_>) {
        let (name, sub, args) = (step.name.as_str(), step.sub(), &step.args);
        let line = step.script_line;
        if matches!(name, "cosign" | "hallmark") && sub == "verify" {
            for a in args.iter().skip(1) {
                if let Some(r) = image_ref(a)
                    && r.digest.is_none()
                    && (a.contains('/') || a.contains(':'))
                {
                    self.verified_by_tag.insert(a.clone(), line);
                }
            }
        }
        if DOWNLOADERS.contains(&name) {
            // Download to a file: remembered until it is checked or run.
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
                    self.downloaded.insert(base(&f).to_string(), line);
                }
            }
        }
        if CHECKERS.contains(&name) {
            // `sha256sum -c SUMS` checks the files SUMS lists: any of them.
            if args.iter().any(|a| a == "-c" || a == "--check") {
                self.downloaded.clear();
            }
            self.downloaded
                .retain(|f, _| !args.iter().any(|a| base(a).starts_with(f.as_str())));
        }
        if name == "chmod" {
            for a in args
                .iter()
                .filter(|a| !a.starts_with('+') && !a.starts_with('-'))
            {
                self.executable.insert(base(a).to_string());
            }
        }
    }

    /// The file a command runs that was downloaded and not checked since: `sh i.sh`,
    /// `./i.sh` once made executable.
    pub(crate) fn runs_download(&self, step: &Step<'_>) -> Option<String> {
        let written = &step.name_word().text;
        let target = if SHELLS.contains(&step.name.as_str()) {
            step.args
                .iter()
                .find(|a| !a.starts_with('-'))
                .map(|a| base(a).to_string())
        } else if written.starts_with("./") || written.starts_with('/') {
            self.executable
                .contains(base(written))
                .then(|| base(written).to_string())
        } else {
            None
        };
        target.filter(|f| self.downloaded.contains_key(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_variables_are_never_substituted() {
        let mut st = ShellState::default();
        st.assign("PW", "lit-Secret-1", Expands::Shell);
        st.assign("COPY", "$PW", Expands::Shell);
        st.assign("URL", "https://ci:u-1@reg.io", Expands::Shell);
        st.assign("TAG", "v1", Expands::Shell);
        st.hidden = Rc::new(["COPY".to_string()].into());
        assert_eq!(st.resolve("r/a:$PW"), "r/a:$PW");
        assert_eq!(st.resolve("r/a:${COPY}"), "r/a:${COPY}");
        assert_eq!(st.resolve("$URL/a:$TAG"), "$URL/a:v1");
        // A value written in the file stays one when copied.
        assert!(st.literal.contains("PW") && st.literal.contains("COPY"));
        assert!(!st.literal.contains("X"));
    }

    #[test]
    fn variables_resolve_by_name_in_one_pass() {
        let mut st = ShellState::default();
        st.vars.insert("REG".into(), "reg.io".into());
        st.vars.insert("TAG".into(), "v1".into());
        assert_eq!(st.resolve("$REG/app:${TAG}"), "reg.io/app:v1");
        assert_eq!(st.resolve("${{ env.REG }}/x"), "reg.io/x");
        // A longer name is another variable, not REG followed by text.
        assert_eq!(st.resolve("$REGISTRY/app"), "$REGISTRY/app");
        assert_eq!(st.resolve("$ $1 ${"), "$ $1 ${");
    }
}
