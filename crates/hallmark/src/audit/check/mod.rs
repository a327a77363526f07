//! What every rule shares: the run of the rules over one file's [`Model`], the shell state
//! of each script, the judgement of image references and credentials, the findings with
//! their dedup and fingerprints, and the inventory.
//!
//! A file is checked twice. A variable used as a password on a later line (or in a later
//! job) must never be printed on an earlier one, and which variables those are is known
//! only once the whole file is read: the first run finds them (no rule runs), the second
//! runs the rules with them hidden.

pub(crate) mod commands;
pub(crate) mod invoke;
pub(crate) mod refs;
pub(crate) mod secrets;
pub(crate) mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use crate::audit::model::{Expands, Model, Place, Script};
use crate::audit::shell::{self, Command, Word};
use crate::audit::{Finding, Inventory, Rule, Severity};
use crate::digest::Digest;
use commands::{Login, Site, Step, command_name};
use refs::image_ref;
use secrets::{Credential, credential, is_name, names_in, registry_host, shell_expands};
use state::ShellState;

/// A rule's checks. Each hook has a default that does nothing: a rule implements those it
/// needs.
pub(crate) trait Check: Sync {
    /// Once per file, after its scripts, over what is not a script.
    fn file(&self, _cx: &mut Cx<'_>, _m: &Model) {}

    /// `NAME=value` in a script (before a command, or given to `export`), with the state
    /// before it.
    fn assignment(&self, _cx: &mut Cx<'_>, _a: &Assignment<'_>, _st: &ShellState) {}

    /// Each command, named or not (`A=b` alone), before its name is looked at.
    fn words(&self, _cx: &mut Cx<'_>, _script: &Script, _cmd: &Command, _st: &ShellState) {}

    /// Each command with a name (not `export`), with the state after it.
    fn command(&self, _cx: &mut Cx<'_>, _step: &Step<'_>, _st: &ShellState) {}

    /// Each credential given in a command (a login's password, a URL's, `--token`…).
    fn credential(&self, _cx: &mut Cx<'_>, _site: &Site, _st: &ShellState) {}
}

/// `NAME=value` in a script.
pub(crate) struct Assignment<'a> {
    pub(crate) name: &'a str,
    pub(crate) value: &'a str,
    pub(crate) word: &'a Word,
    pub(crate) at: Place,
}

impl Assignment<'_> {
    /// What expands in the value.
    pub(crate) fn expands(&self) -> Expands {
        shell_expands(self.word)
    }
}

/// What a credential's value is, in the state where it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Judged {
    /// Nothing.
    Empty,
    /// Read from a variable or an expression, by its name: safe to name.
    Reference(String),
    /// Read from a variable assigned a value written in the file.
    LiteralVariable(String),
    /// Written in the file.
    Literal,
}

/// Judges a credential's value `text` given where the state is `st`.
pub(crate) fn judge(text: &str, expands: Expands, st: &ShellState) -> Judged {
    match credential(text, expands) {
        Credential::Empty => Judged::Empty,
        Credential::Literal => Judged::Literal,
        Credential::Reference(name) if st.literal.contains(&name) => Judged::LiteralVariable(name),
        Credential::Reference(name) => Judged::Reference(name),
    }
}

/// Collected per file.
#[derive(Default)]
pub(crate) struct InventoryBuilder {
    pub(crate) pushes: BTreeSet<String>,
    pub(crate) pulls: BTreeSet<String>,
    pub(crate) credentials: BTreeSet<String>,
}

impl InventoryBuilder {
    pub(crate) fn is_empty(&self) -> bool {
        self.pushes.is_empty() && self.pulls.is_empty() && self.credentials.is_empty()
    }

    pub(crate) fn finish(&self, path: &str) -> Inventory {
        Inventory {
            path: path.to_string(),
            pushes: self.pushes.iter().cloned().collect(),
            pulls: self.pulls.iter().cloned().collect(),
            credentials: self.credentials.iter().cloned().collect(),
        }
    }
}

/// One file being checked: its findings and what the rules share.
pub(crate) struct Cx<'a> {
    path: &'a str,
    pub(crate) findings: Vec<Finding>,
    /// What each finding is about (parallel to `findings`), for its fingerprint.
    subjects: Vec<String>,
    /// (rule, line, column) of each finding: a command seen twice is reported once.
    seen: HashSet<(&'static str, usize, usize)>,
    pub(crate) inventory: InventoryBuilder,
    /// Parts of the file that were not audited, each said in one line.
    pub(crate) not_audited: Vec<String>,
    /// Variables read where a credential is expected (`-p "$PW"`, `password:`).
    credential_vars: BTreeSet<String>,
    /// The variables each variable's value names, as assigned anywhere in the file.
    sources: BTreeMap<String, BTreeSet<String>>,
    /// Variables never substituted into printed text (see `ShellState::hidden`).
    hidden: Rc<BTreeSet<String>>,
}

impl<'a> Cx<'a> {
    fn new(path: &'a str) -> Self {
        Self {
            path,
            findings: Vec::new(),
            subjects: Vec::new(),
            seen: HashSet::new(),
            inventory: InventoryBuilder::default(),
            not_audited: Vec::new(),
            credential_vars: BTreeSet::new(),
            sources: BTreeMap::new(),
            hidden: Rc::default(),
        }
    }

    /// Reports a finding of `rule` at `at` about `what` (for the fingerprint; never a
    /// secret), at the rule's severity unless `severity` says otherwise. One finding per
    /// rule and place: a command seen twice is reported once.
    pub(crate) fn report(
        &mut self,
        rule: &'static Rule,
        severity: Option<Severity>,
        at: Place,
        what: &str,
        message: String,
    ) {
        if !self.seen.insert((rule.id, at.line, at.column)) {
            return;
        }
        self.findings.push(Finding {
            rule: rule.id,
            severity: severity.unwrap_or(rule.severity),
            path: self.path.to_string(),
            line: at.line,
            column: at.column,
            message,
            fingerprint: String::new(),
            suppressed: None,
        });
        self.subjects
            .push(what.split_whitespace().collect::<Vec<_>>().join(" "));
    }

    /// Records that `name` is given `value` somewhere in the file.
    fn note_assignment(&mut self, name: &str, value: &str) {
        let from = names_in(value);
        if !from.is_empty() {
            self.sources
                .entry(name.to_string())
                .or_default()
                .extend(from);
        }
    }

    /// Records that variable `name` is read where a credential is expected.
    pub(crate) fn note_credential_var(&mut self, name: &str) {
        self.credential_vars.insert(name.to_string());
    }

    /// The variables used as credentials, and every variable they take their value from.
    fn credential_closure(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let mut todo: Vec<&String> = self.credential_vars.iter().collect();
        while let Some(name) = todo.pop() {
            if out.insert(name.clone()) {
                todo.extend(self.sources.get(name).into_iter().flatten());
            }
        }
        out
    }

    /// Gives every finding its fingerprint: the rule, the file, what was found, and its
    /// rank among the file's findings with the same three, in file order. The line is left
    /// out so that a finding keeps its fingerprint when lines move; the rank keeps two
    /// identical findings (two tokens, two `curl | bash`) apart, which code scanning would
    /// otherwise merge into one alert. The first of its kind keeps the fingerprint it had
    /// before ranks existed.
    fn fingerprint(&mut self) {
        let mut order: Vec<usize> = (0..self.findings.len()).collect();
        order.sort_by_key(|&i| (self.findings[i].line, self.findings[i].column));
        let mut rank: HashMap<(&'static str, &str), usize> = HashMap::new();
        for i in order {
            let f = &mut self.findings[i];
            let what = &self.subjects[i];
            let n = rank.entry((f.rule, what.as_str())).or_default();
            let key = match *n {
                0 => format!("{}\0{}\0{what}", f.rule, self.path),
                n => format!("{}\0{}\0{what}\0{n}", f.rule, self.path),
            };
            *n += 1;
            f.fingerprint = Digest::sha256(key.as_bytes()).hex()[..16].to_string();
        }
    }

    /// An image the file pulls, runs or builds from, for the inventory.
    pub(crate) fn note_pull(&mut self, image: &str) {
        if image_ref(image).is_some() {
            self.inventory.pulls.insert(image.to_string());
        }
    }
}

/// What checking one file gave.
pub(crate) struct Checked {
    /// Findings, fingerprinted, in file order.
    pub(crate) findings: Vec<Finding>,
    pub(crate) inventory: InventoryBuilder,
    /// Parts of the file that were not audited, each said in one line.
    pub(crate) not_audited: Vec<String>,
}

/// Runs `checks` over `model`, the file at `path`.
pub(crate) fn run(path: &str, model: &Model, checks: &[&dyn Check]) -> Checked {
    let mut first = Cx::new(path);
    walk(&mut first, model, &[]);
    let mut cx = Cx::new(path);
    cx.hidden = Rc::new(first.credential_closure());
    walk(&mut cx, model, checks);
    cx.fingerprint();
    let mut order: Vec<usize> = (0..cx.findings.len()).collect();
    order.sort_by_key(|&i| {
        let f = &cx.findings[i];
        (f.line, f.column, f.rule)
    });
    let mut findings: Vec<Option<Finding>> = cx.findings.into_iter().map(Some).collect();
    Checked {
        findings: order
            .into_iter()
            .filter_map(|i| findings[i].take())
            .collect(),
        inventory: cx.inventory,
        not_audited: cx.not_audited,
    }
}

/// One run over the file: every script, then what is not a script.
fn walk(cx: &mut Cx<'_>, m: &Model, checks: &[&dyn Check]) {
    for a in &m.assignments {
        cx.note_assignment(&a.name, &a.value);
    }
    let mut st = ShellState::default();
    for script in &m.scripts {
        if !script.continues {
            st = ShellState::default();
            for v in &script.env {
                st.assign(&v.name, &v.value, v.expands);
            }
        }
        st = self::script(cx, script, st, checks);
    }
    for login in &m.logins {
        let mut st = ShellState::default();
        for v in &login.env {
            st.assign(&v.name, &v.value, v.expands);
        }
        login_input(cx, login, &st);
    }
    for push in &m.pushes {
        cx.inventory.pushes.insert(push.clone());
    }
    for image in &m.images {
        cx.note_pull(&image.text);
    }
    for c in checks {
        c.file(cx, m);
    }
}

/// A registry password given outside a script, for the inventory and the credential
/// closure (the credential rule judges it on its own).
fn login_input(cx: &mut Cx<'_>, login: &crate::audit::model::LoginInput, st: &ShellState) {
    // An action's input is not a shell: `$NAME` in it is the password itself.
    let registry = registry_host(&login.registry);
    match judge(&login.value, Expands::Expressions, st) {
        Judged::Empty => {}
        Judged::LiteralVariable(name) => {
            cx.note_credential_var(&name);
            cx.inventory
                .credentials
                .insert(format!("a password written in the file for {registry}"));
        }
        Judged::Reference(name) => {
            if is_name(&name) {
                cx.note_credential_var(&name);
            }
            cx.inventory
                .credentials
                .insert(format!("{name} for {registry}"));
        }
        Judged::Literal => {
            cx.inventory
                .credentials
                .insert(format!("a password written in the file for {registry}"));
        }
    }
}

/// Checks one script from state `st`; returns the state for a script that continues it.
fn script(
    cx: &mut Cx<'_>,
    script: &Script,
    mut st: ShellState,
    checks: &[&dyn Check],
) -> ShellState {
    if script.body.len() > shell::MAX_SCRIPT_BYTES {
        cx.not_audited.push(format!(
            "line {}: the script after its first {} bytes",
            script.line,
            shell::MAX_SCRIPT_BYTES
        ));
    }
    st.hidden = Rc::clone(&cx.hidden);
    let cmds = shell::tokenize(&script.body);
    for (index, cmd) in cmds.iter().enumerate() {
        for w in &cmd.words {
            let Some((k, v)) = assignment_parts(w) else {
                break;
            };
            assign(cx, &mut st, script, k, v, w, checks);
        }
        for w in &cmd.words {
            if let Some(site) = Site::in_url(script, w) {
                credential_site(cx, &site, None, &st, checks);
            }
        }
        for c in checks {
            c.words(cx, script, cmd, &st);
        }
        let Some(word) = cmd.name() else { continue };
        let name = command_name(word);
        if name == "export" {
            for a in cmd.args() {
                if let Some((k, v)) = a.text.split_once('=') {
                    assign(cx, &mut st, script, k, v, a, checks);
                }
            }
            continue;
        }
        let step = Step {
            script,
            cmds: &cmds,
            index,
            word,
            name,
            args: cmd.args().iter().map(|w| st.resolve(&w.text)).collect(),
            script_line: script.line,
        };
        let login = step.login();
        for site in step.credentials(login.as_ref()) {
            credential_site(cx, &site, login.as_ref(), &st, checks);
        }
        if let Some(login) = login.as_ref().filter(|l| l.stdin) {
            cx.inventory
                .credentials
                .insert(format!("a password on stdin for {}", login.registry));
        }
        for s in step.signed() {
            cx.inventory.pushes.insert(s.repository);
        }
        if let Some(dest) = step.pushed() {
            cx.inventory.pushes.insert(dest);
        }
        st.after(&step);
        if let Some((_, image)) = step.pulled()
            && !st.verified_by_tag.contains_key(image)
        {
            cx.note_pull(image);
        }
        for c in checks {
            c.command(cx, &step, &st);
        }
    }
    st
}

/// `k=v` in a script (a plain assignment or `export`).
fn assign(
    cx: &mut Cx<'_>,
    st: &mut ShellState,
    script: &Script,
    k: &str,
    v: &str,
    w: &Word,
    checks: &[&dyn Check],
) {
    let a = Assignment {
        name: k,
        value: v,
        word: w,
        at: commands::place_of(script, w),
    };
    for c in checks {
        c.assignment(cx, &a, st);
    }
    cx.note_assignment(k, v);
    st.assign(k, v, shell_expands(w));
}

/// A credential given in a command: remembered when read from a variable, counted in the
/// inventory when it logs in, then judged by the rules.
fn credential_site(
    cx: &mut Cx<'_>,
    site: &Site,
    login: Option<&Login>,
    st: &ShellState,
    checks: &[&dyn Check],
) {
    let judged = judge(&site.text, site.expands, st);
    let name = match &judged {
        Judged::Reference(n) | Judged::LiteralVariable(n) => Some(n),
        _ => None,
    };
    if let Some(n) = name.filter(|n| is_name(n)) {
        cx.note_credential_var(n);
    }
    if let Some(r) = site.registry.as_deref().filter(|_| login.is_some()) {
        match &judged {
            Judged::Empty => {}
            Judged::Reference(n) => {
                cx.inventory.credentials.insert(format!("{n} for {r}"));
            }
            Judged::LiteralVariable(_) | Judged::Literal => {
                cx.inventory
                    .credentials
                    .insert(format!("a password written in the file for {r}"));
            }
        }
    }
    for c in checks {
        c.credential(cx, site, st);
    }
}

/// `NAME=value` with a shell variable name: the word and the two parts.
fn assignment_parts(w: &Word) -> Option<(&str, &str)> {
    let (k, v) = w.text.split_once('=')?;
    is_name(k).then_some((k, v))
}
