//! Shell state while walking one body: the variables assigned, which of them are never
//! printed, and what earlier commands downloaded, made executable or verified.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::secrets::{
    Credential, Expands, credential, secret_name, token_shape, url_password, variable_at,
};
/// Shell state while walking one body: variables, and what earlier commands did.
#[derive(Default, Clone)]
pub(super) struct ShellState {
    pub(super) vars: BTreeMap<String, String>,
    /// Variables whose value is written in the file (directly or through another such
    /// variable): a password read from one is a literal password.
    pub(super) literal: BTreeSet<String>,
    /// Variables never substituted into anything printed: those used as a credential
    /// anywhere in the file, and those they take their value from.
    pub(super) hidden: Rc<BTreeSet<String>>,
    /// Repositories verified by tag: ref → line.
    pub(super) verified_by_tag: BTreeMap<String, usize>,
    /// Files downloaded and not yet checked: name → line.
    pub(super) downloaded: BTreeMap<String, usize>,
    /// Files made executable.
    pub(super) executable: BTreeSet<String>,
}

impl ShellState {
    /// Records `name = value` (`value` as written, expanding as `expands` says).
    pub(super) fn assign(&mut self, name: &str, value: &str, expands: Expands) {
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
    pub(super) fn printable(&self, name: &str, value: &str) -> bool {
        !secret_name(name)
            && !self.hidden.contains(name)
            && token_shape(value).is_none()
            && url_password(value).is_none()
    }

    /// `word` with the variables known so far substituted (textually): `$NAME`,
    /// `${NAME}` and `${{ env.NAME }}`, except those whose value is a credential, which
    /// stay as written. One pass over the word, whatever the number of variables.
    pub(super) fn resolve(&self, word: &str) -> String {
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
}
