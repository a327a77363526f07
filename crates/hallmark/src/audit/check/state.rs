//! Shell state while walking one script: the variables assigned, which of them are never
//! printed, and what earlier commands downloaded, made executable or verified. Every rule
//! reads the same state; only [`ShellState::after`] (what a command leaves behind) and
//! assignments change it.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use super::commands::{CHECKERS, DOWNLOADERS, SHELLS, Step, base};
use super::invoke::tool_name;
use super::refs::image_ref;
use crate::audit::model::{Expands, KnownValue, Place, ValueClass};
use crate::audit::secrets::{
    Credential, credential, secret_name, token_shape, url_password, variable_at,
};
use crate::audit::shell::Joiner;

/// Most values kept for one variable (assigned in different branches, or taken in turn by a
/// loop), and most texts a word is resolved to.
const MAX_VALUES: usize = 8;

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
    /// Downloads installed as programs (extracted, made executable, put in a `bin`
    /// directory) before anything checked them: file → where it was downloaded, and how.
    pub(crate) installed: BTreeMap<String, (Place, &'static str)>,
    /// Where each unchecked download was made: file → the downloading command's place.
    pub(crate) download_at: BTreeMap<String, Place>,
    /// Files a registry lookup wrote (`crane digest app:v1 > digest.txt`): a digest read
    /// from one was looked up, not built.
    pub(crate) looked_up: BTreeSet<String>,
    /// Files a tool wrote the digest references it pushed to (`ko build --image-refs
    /// FILE`): a reference read from one is a digest.
    pub(crate) digest_files: BTreeSet<String>,
    /// References pulled by tag (`docker pull app:v1`): a local image's `RepoDigests` for
    /// one of them is what the registry answered for the tag, not what this job built.
    pub(crate) pulled: BTreeSet<String>,
    /// Downloads run in this script (reported as run, not as installed).
    pub(crate) ran: BTreeSet<String>,
    /// Every value a variable may hold here, when more than one: values assigned in the
    /// branches of an `if` or `case` (which the walk does not tell apart from a later
    /// assignment), or taken in turn by a `for` loop. `vars` holds the last.
    pub(crate) alts: BTreeMap<String, Vec<String>>,
    /// Variables whose text is unknown but whose class is (`for t in $TAGS`).
    pub(crate) classes: BTreeMap<String, ValueClass>,
    /// Expressions whose value is known (`steps.meta.outputs.tags`,
    /// `steps.d.outputs.digest` written to `$GITHUB_OUTPUT` by an earlier step).
    pub(crate) exprs: Rc<BTreeMap<String, KnownValue>>,
    /// `NAME=value` lines written to `$GITHUB_OUTPUT` or `$GITHUB_ENV`, in order.
    pub(crate) step_writes: Vec<(StepFile, String, String)>,
}

impl ShellState {
    /// Records `name = value` (`value` as written, expanding as `expands` says), replacing
    /// any value `name` had.
    pub(crate) fn assign(&mut self, name: &str, value: &str, expands: Expands) {
        self.assign_or_add(name, value, expands, true);
    }

    /// Records `name = value`; unless `replaces`, the value is one more the variable may
    /// hold (an assignment in a branch, which may not run), beside those it had.
    pub(crate) fn assign_or_add(
        &mut self,
        name: &str,
        value: &str,
        expands: Expands,
        replaces: bool,
    ) {
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
        let mut values = self.resolve_all(value);
        let resolved = self.resolve(value);
        // A value built from the variable's own (`IMG="$IMG@$D"`) replaces it.
        let own = crate::audit::secrets::names_in(value)
            .iter()
            .any(|n| n == name);
        if !replaces && !own {
            let before = match self.alts.get(name) {
                Some(all) => all.clone(),
                None => self.vars.get(name).cloned().into_iter().collect(),
            };
            let mut all = before;
            all.retain(|v| !values.contains(v));
            all.append(&mut values);
            values = all;
        }
        values.retain(|v| !v.is_empty());
        let keep = values.len().saturating_sub(MAX_VALUES);
        values.drain(..keep);
        self.set(name, resolved, values);
    }

    /// Sets `name` to `last`, which may also be any of `values`.
    pub(crate) fn set(&mut self, name: &str, last: String, values: Vec<String>) {
        self.classes.remove(name);
        if values.len() > 1 {
            self.alts.insert(name.to_string(), values);
        } else {
            self.alts.remove(name);
        }
        self.vars.insert(name.to_string(), last);
    }

    /// Forgets `name`'s value: it is unknown from here on, or only its class is known.
    pub(crate) fn unknown(&mut self, name: &str, class: Option<ValueClass>) {
        self.vars.remove(name);
        self.alts.remove(name);
        match class {
            Some(c) => self.classes.insert(name.to_string(), c),
            None => self.classes.remove(name),
        };
    }

    /// Every text `word` may resolve to, given the values each variable may hold (at most
    /// [`MAX_VALUES`]); the first is [`ShellState::resolve`]'s.
    pub(crate) fn resolve_all(&self, word: &str) -> Vec<String> {
        let first = self.resolve(word);
        if self.alts.is_empty() || !word.contains('$') {
            return vec![first];
        }
        let mut out = vec![first];
        let mut rest = word;
        while let Some(at) = rest.find('$') {
            let tail = &rest[at..];
            let Some((name, len)) = variable_at(tail) else {
                rest = &tail[1..];
                continue;
            };
            rest = &tail[len..];
            let Some(values) = self.alts.get(name) else {
                continue;
            };
            if !self.printable(name, values.last().map(String::as_str).unwrap_or_default()) {
                continue;
            }
            // Each other value of this variable, the rest as resolved by `resolve`.
            let mut other = self.vars.clone();
            for v in values {
                other.insert(name.to_string(), v.clone());
                let text = self.resolve_with(word, &other);
                if !out.contains(&text) && out.len() < MAX_VALUES {
                    out.push(text);
                }
            }
        }
        out
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
        self.resolve_with(word, &self.vars)
    }

    /// [`ShellState::resolve`] with the variables `vars`; positional parameters (`$1`,
    /// `${2}`, `$@`) and known expressions (`${{ steps.d.outputs.digest }}`) too.
    fn resolve_with(&self, word: &str, vars: &BTreeMap<String, String>) -> String {
        if (vars.is_empty() && self.exprs.is_empty()) || !word.contains('$') {
            return word.to_string();
        }
        let mut out = String::with_capacity(word.len());
        let mut rest = word;
        while let Some(at) = rest.find('$') {
            out.push_str(&rest[..at]);
            let tail = &rest[at..];
            if let Some((text, len)) = self.expression_at(tail) {
                out.push_str(text);
                rest = &tail[len..];
                continue;
            }
            let named = variable_at(tail).or_else(|| positional_at(tail));
            match named.and_then(|(name, len)| Some((name, vars.get(name)?, len))) {
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

    /// The text of a known expression at the start of `tail` (`${{ steps.d.outputs.x }}`),
    /// and its length, when it may be printed.
    fn expression_at<'s>(&'s self, tail: &str) -> Option<(&'s str, usize)> {
        let inner = tail.strip_prefix("${{")?;
        let end = inner.find("}}")?;
        match self.exprs.get(&expr_key(&inner[..end]))? {
            KnownValue::Text(t) if token_shape(t).is_none() && url_password(t).is_none() => {
                Some((t.as_str(), 3 + end + 2))
            }
            _ => None,
        }
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
        if matches!(name, "docker" | "podman" | "nerdctl")
            && (sub == "pull" || (sub == "image" && args.get(1).is_some_and(|a| a == "pull")))
        {
            for a in args
                .iter()
                .skip(1)
                .filter(|a| !a.starts_with('-') && *a != "pull")
            {
                if self.pulled.len() < MAX_VALUES * 8 {
                    self.pulled.insert(a.trim_matches(['"', '\'']).to_string());
                }
            }
        }
        if DOWNLOADERS.contains(&name) {
            let at = step.at(step.name_word());
            for f in download_outputs(name, args) {
                // Written straight into a directory of programs: installed as it lands.
                if f.contains("/bin/") || f.starts_with("bin/") {
                    self.installed
                        .insert(base(&f).to_string(), (at, SAVED_INTO_BIN));
                }
                self.downloaded.insert(base(&f).to_string(), line);
                self.download_at.insert(base(&f).to_string(), at);
            }
            // `curl … | tar -xz -C /usr/local/bin`: unpacked as it arrives.
            if step.cmd().then == Joiner::Pipe
                && let Some(next) = step.next()
                && let Some(n) = next.name()
                && matches!(tool_name(&n.text).as_str(), "tar" | "unzip" | "bsdtar")
                && next.args().iter().any(|w| unpacks(&w.text))
            {
                self.installed.insert(
                    format!("{}|{}", step.index, step.script_line),
                    (at, "unpacked from the download"),
                );
            }
        }
        // `rpm -K x.rpm`, `debsig-verify x.deb`: a package's signature checked.
        let package_check = (name == "rpm" && args.iter().any(|a| a == "-K" || a == "--checksig"))
            || name == "debsig-verify"
            || (name == "dpkg-sig" && args.iter().any(|a| a == "--verify"));
        // `SHATOOL="shasum -a 256"` … `${SHATOOL} --check -`: a checker named by a variable.
        let written = &step.name_word().text;
        let checker_var = written.starts_with('$')
            && self.resolve_all(written).iter().any(|t| {
                let first = t.split_whitespace().next().unwrap_or_default();
                CHECKERS.contains(&tool_name(first).as_str())
            });
        if CHECKERS.contains(&name) || package_check || checker_var {
            // `sha256sum -c SUMS` checks the files SUMS lists: any of them.
            if args.iter().any(|a| a == "-c" || a == "--check") {
                // Not what an earlier script (a Dockerfile's earlier `RUN`) downloaded
                // and installed: a list checked later says nothing of what it installed.
                let downloaded = std::mem::take(&mut self.downloaded);
                self.installed.retain(|f, _| {
                    f.contains('|') || downloaded.get(f).is_some_and(|&l| l != line)
                });
            }
            let named = |f: &String| {
                args.iter()
                    .any(|a| base(a).starts_with(f.as_str()) || glob_matches(base(a), f))
            };
            self.downloaded.retain(|f, _| !named(f));
            self.installed.retain(|f, _| !named(f));
        }
        if name == "chmod" {
            for a in args
                .iter()
                .filter(|a| !a.starts_with('+') && !a.starts_with('-'))
            {
                self.executable.insert(base(a).to_string());
                self.install(base(a), "made executable");
            }
        }
        // An archive unpacked, a file moved among the programs.
        let unpack = match name {
            "tar" | "bsdtar" => {
                args.iter().any(|a| a.starts_with('-') && unpacks(a))
                    || args.first().is_some_and(|a| unpacks(a))
            }
            "unzip" | "gunzip" => true,
            _ => false,
        };
        if unpack {
            // The archive is a word of its own, or `--file=X` / `--file X`.
            let mut file_next = false;
            let mut archives = Vec::new();
            for a in args {
                if std::mem::take(&mut file_next) || !a.starts_with('-') {
                    archives.push(a.as_str());
                } else if let Some(f) = a.strip_prefix("--file=") {
                    archives.push(f);
                } else {
                    file_next = a == "--file";
                }
            }
            for a in archives {
                self.install(base(a), "unpacked");
            }
        }
        if installs_package(name, args) {
            for a in args.iter().filter(|a| !a.starts_with('-')) {
                self.install(base(a), "as a package");
            }
        }
        if matches!(name, "mv" | "cp" | "install") {
            for a in args.iter().filter(|a| !a.starts_with('-')) {
                self.install(base(a), "installed");
            }
        }
        if let Some(f) = self.runs_download(step) {
            self.ran.insert(f);
        }
    }

    /// Marks `file` installed, when it is a download nothing checked.
    fn install(&mut self, file: &str, how: &'static str) {
        // `tar -xzf oras_*.tar.gz`, `dnf install *.rpm`: the glob names the downloads.
        if file.contains('*') {
            let matched: Vec<String> = self
                .downloaded
                .keys()
                .filter(|d| glob_matches(file, d))
                .cloned()
                .collect();
            for d in matched {
                self.install_one(&d, how);
            }
        } else {
            self.install_one(file, how);
        }
    }

    fn install_one(&mut self, file: &str, how: &'static str) {
        if self.downloaded.contains_key(file)
            && let Some(at) = self.download_at.get(file)
        {
            // Saved into a `bin` directory is only where it lands; what is done to it says
            // it is installed.
            let e = self.installed.entry(file.to_string()).or_insert((*at, how));
            if e.1 == SAVED_INTO_BIN {
                *e = (*at, how);
            }
        }
    }

    /// Downloads installed and not run here, nothing having checked them: each with where
    /// it was downloaded and how it was installed.
    pub(crate) fn installed_unchecked(&self) -> Vec<(&str, Place, &'static str)> {
        // A file only saved into a `bin` directory is not reported alone: the script that
        // makes it executable may be the next one (a CI system's next list item).
        self.installed
            .iter()
            .filter(|(f, (_, how))| !self.ran.contains(f.as_str()) && *how != SAVED_INTO_BIN)
            .map(|(f, (at, how))| (f.as_str(), *at, *how))
            .collect()
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
        } else if written.starts_with("./")
            || written.starts_with(".\\")
            || written.starts_with('/')
        {
            // Windows runs a program or script by its extension, made executable or not.
            (self.executable.contains(base(written)) || windows_program(written))
                .then(|| base(written).to_string())
        } else if self.installed.contains_key(base(written))
            || (windows_program(written) && self.downloaded.contains_key(base(written)))
        {
            // Installed into a directory on the PATH, then run by name; or a Windows
            // program, which runs from the current directory by name.
            Some(base(written).to_string())
        } else {
            None
        };
        target.filter(|f| self.downloaded.contains_key(f))
    }
}

/// A file Windows runs by its name alone (`rustup-init.exe`, `.\\install.ps1`).
fn windows_program(written: &str) -> bool {
    let w = written.to_ascii_lowercase();
    [".exe", ".bat", ".cmd", ".ps1", ".msi"]
        .iter()
        .any(|e| w.ends_with(e))
}

/// Whether `name args` installs package files given by path (`dnf -y install *.rpm`,
/// `rpm -ivh x.rpm`, `apt-get install ./x.deb`, `dpkg -i x.deb`): a package runs its
/// scripts as root when installed, and its programs later. Which arguments are files the
/// caller knows from what was downloaded.
fn installs_package(name: &str, args: &[String]) -> bool {
    let verb = args
        .iter()
        .find(|a| !a.starts_with('-'))
        .map(String::as_str);
    match name {
        "dnf" | "yum" | "microdnf" | "tdnf" | "zypper" | "apt" | "apt-get" => {
            matches!(verb, Some("install" | "localinstall" | "reinstall" | "in"))
        }
        "apk" => verb == Some("add"),
        "rpm" => args.iter().any(|a| {
            matches!(a.as_str(), "--install" | "--upgrade" | "--freshen")
                || (!a.starts_with("--")
                    && a.strip_prefix('-')
                        .is_some_and(|m| m.starts_with(['i', 'U', 'F'])))
        }),
        "dpkg" => args.iter().any(|a| {
            a == "--install"
                || (!a.starts_with("--") && a.strip_prefix('-').is_some_and(|m| m.starts_with('i')))
        }),
        "gdebi" => true,
        _ => false,
    }
}

/// How a download saved straight into a `bin` directory is installed.
const SAVED_INTO_BIN: &str = "saved into a bin directory";

/// Whether `pattern` (with `*` only) matches all of `name`.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or_default();
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    for (i, p) in parts.iter().enumerate() {
        if i + 1 == parts.len() {
            return rest.ends_with(p);
        }
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    rest.is_empty()
}

/// Whether a `tar` mode word extracts (`-xzf`, `xzf`, `--extract`).
fn unpacks(a: &str) -> bool {
    a == "--extract"
        || a == "--get"
        || (!a.starts_with("--")
            && a.trim_start_matches('-')
                .starts_with(|c: char| c.is_ascii_alphabetic())
            && a.trim_start_matches('-').contains('x'))
}

/// The files a download command writes: `-o FILE` (and `-fsSLo FILE`), `--output FILE`,
/// `-O FILE` of wget, `> FILE`, and the URL's last part for `curl -O` and for wget
/// without `-O`.
fn download_outputs(name: &str, args: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut named = false;
    let mut it = args.iter().peekable();
    while let Some(a) = it.next() {
        // `-o FILE`, and combined short flags ending in o (`-fsSLo FILE`).
        let short_o =
            a.starts_with('-') && !a.starts_with("--") && (a.ends_with('o') || a.ends_with('O'));
        let file = match a.as_str() {
            // PowerShell's parameters are not case-sensitive.
            _ if a.eq_ignore_ascii_case("-outfile") => it.peek().map(|s| s.to_string()),
            "--output" | "--output-document" | ">" | ">>" => it.peek().map(|s| s.to_string()),
            _ if short_o => it.peek().map(|s| s.to_string()),
            _ => a
                .strip_prefix("--output=")
                .or_else(|| a.strip_prefix("--output-document="))
                .or_else(|| a.strip_prefix(">>"))
                .or_else(|| a.strip_prefix('>'))
                .filter(|f| !f.is_empty() && !f.starts_with('&'))
                .map(str::to_string),
        };
        if a.starts_with("--output")
            || (a.starts_with('-') && !a.starts_with("--") && (a.contains('O') || a.contains('o')))
        {
            named = true;
        }
        if let Some(f) = file
            && f != "-"
            && f != "/dev/null"
        {
            named = true;
            out.push(f);
        }
    }
    // `curl -O`, also in a cluster (`-Os`, `-LOs`), saves under the URL's name.
    let remote_name = name == "curl"
        && args.iter().any(|a| {
            a == "--remote-name" || (a.starts_with('-') && !a.starts_with("--") && a.contains('O'))
        });
    // wget saves under the URL's name unless told otherwise.
    if (name == "wget" && !named) || remote_name {
        for a in args.iter().filter(|a| a.contains("://")) {
            let path = a.split(['?', '#']).next().unwrap_or(a);
            let file = base(path.trim_end_matches('/'));
            if !file.is_empty() && !path.ends_with("://") {
                out.push(file.to_string());
            }
        }
    }
    out
}

/// A positional parameter at the start of `s`: `$1`, `${1}`, `$@`, `$*` (named `1`, `@`).
fn positional_at(s: &str) -> Option<(&str, usize)> {
    let body = s.strip_prefix('$')?;
    let (inner, extra) = match body.strip_prefix('{') {
        Some(inner) => (inner, 2),
        None => (body, 0),
    };
    let name = inner.get(..1)?;
    let ok = name
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'@' || b == b'*')
        && (extra == 0 || inner[1..].starts_with('}'));
    (ok && name != "0").then_some((name, 1 + 1 + extra))
}

/// `steps.meta.outputs.tags` from ` steps.meta.outputs.tags `: the key an expression is
/// known by.
pub(crate) fn expr_key(inside: &str) -> String {
    inside.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Where a command writes `NAME=value` lines for later steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepFile {
    /// `$GITHUB_OUTPUT`: `steps.<id>.outputs.NAME`.
    Output,
    /// `$GITHUB_ENV`: variables of the later steps of the job.
    Env,
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
