//! What every rule shares: the run of the rules over one file's [`Model`], the shell state
//! of each script, the judgement of image references and credentials, the findings with
//! their dedup and fingerprints, and the inventory.
//!
//! A file is checked twice. A variable used as a password on a later line (or in a later
//! job) must never be printed on an earlier one, and which variables those are is known
//! only once the whole file is read: the first run finds them (no rule runs), the second
//! runs the rules with them hidden.

pub(crate) mod commands;
mod feeds;
pub(crate) mod flow;
pub(crate) mod invoke;
pub(crate) mod refs;
pub(crate) mod state;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use crate::audit::model::{Expands, KnownValue, Model, Place, Script, ValueClass};
use crate::audit::secrets::{
    Credential, credential, is_name, names_in, registry_host, shell_expands,
};
use crate::audit::shell::{self, Command, Item, Word};
use crate::audit::{Finding, Inventory, Rule, Severity};
use crate::digest::Digest;
use commands::{Login, SIGNERS, Site, Step, command_name};
use feeds::{digest_files, fed_texts, list_values, read_into, xargs_feed};
use flow::{class_of, step_file, written_lines};
use refs::image_ref;
use state::ShellState;
use state::{StepFile, expr_key};

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
    /// True while the script checked is continued by the next one: what it leaves (a
    /// program installed) may still be run there.
    pub(crate) continued: bool,
    /// Variables of unknown value that `docker push` is given whole, anywhere in the file.
    pushed_whole: BTreeSet<String>,
    /// Those of the first run: each names a tag wherever its value is not known.
    tag_vars: Rc<BTreeSet<String>>,
    /// Scripts of the tree that download their arguments, as written, with the tool.
    downloaders: Vec<(String, String)>,
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
            continued: false,
            pushed_whole: BTreeSet::new(),
            tag_vars: Rc::default(),
            downloaders: Vec::new(),
        }
    }

    /// The downloader a command written `written` runs, when it names one of the tree's
    /// download wrappers (`bin/scurl`, `./bin/scurl`, `"$ROOT/bin/scurl"`).
    fn wrapped_downloader(&self, written: &str) -> Option<String> {
        if self.downloaders.is_empty() {
            return None;
        }
        let w = written.trim_matches(['"', '\'']);
        let w = w.strip_prefix("./").unwrap_or(w);
        self.downloaders.iter().find_map(|(path, tool)| {
            let rooted = w
                .strip_suffix(path.as_str())
                .is_some_and(|root| root.starts_with('$') && root.ends_with('/'));
            (w == path || rooted).then(|| tool.clone())
        })
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

    /// True when variable `name` is read where a credential is expected, or gives its
    /// value to one that is (known from the first run over the file).
    pub(crate) fn used_as_credential(&self, name: &str) -> bool {
        self.hidden.contains(name)
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
    cx.downloaders.clone_from(&model.downloaders);
    cx.hidden = Rc::new(first.credential_closure());
    cx.tag_vars = Rc::new(std::mem::take(&mut first.pushed_whole));
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
///
/// In a GitHub workflow, values pass between scripts outside the shell: each script
/// starts with the expressions known in its job (well-known actions' outputs, what earlier
/// steps wrote to `$GITHUB_OUTPUT`, `needs.J.outputs.X` of other jobs, inputs) and the
/// variables earlier steps of its job wrote to `$GITHUB_ENV`.
fn walk(cx: &mut Cx<'_>, m: &Model, checks: &[&dyn Check]) {
    for a in &m.assignments {
        cx.note_assignment(&a.name, &a.value);
    }
    let mut jobs = Jobs::new(m);
    let mut st = ShellState::default();
    for (i, script) in m.scripts.iter().enumerate() {
        let at = m.flow.steps.get(i);
        let job = at.map_or("", |s| s.job.as_str());
        if !script.continues {
            st = ShellState::default();
            if at.is_some() {
                st.exprs = Rc::new(jobs.exprs(m, job));
            }
            // Docker pushes no digest reference: a variable it pushes whole names a tag,
            // in every script of the file (a Makefile's `$(IMG)` pushed by one recipe and
            // signed by another), until a script gives it a value.
            for v in cx.tag_vars.iter() {
                st.classes.insert(v.clone(), ValueClass::Tag);
            }
            for v in &script.env {
                st.assign(&v.name, &v.value, v.expands);
            }
            for (k, v) in jobs.env.get(job).into_iter().flatten() {
                st.set(k, v.clone(), vec![v.clone()]);
            }
        } else {
            // A task runner's next recipe line: a new shell on the same files, with the
            // variables the file gives that line.
            for v in &script.env {
                st.assign(&v.name, &v.value, v.expands);
            }
        }
        cx.continued = m.scripts.get(i + 1).is_some_and(|s| s.continues);
        st = self::script(cx, script, st, checks);
        if let Some(at) = at {
            for (file, k, v) in std::mem::take(&mut st.step_writes) {
                match (file, &at.id) {
                    (StepFile::Output, Some(id)) => {
                        jobs.outputs
                            .entry(job.to_string())
                            .or_default()
                            .insert(format!("steps.{id}.outputs.{k}"), KnownValue::Text(v));
                    }
                    (StepFile::Output, None) => {}
                    (StepFile::Env, _) => jobs.env.entry(job.to_string()).or_default().push((k, v)),
                }
            }
        }
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

/// What the scripts of each job have passed on so far, by job.
struct Jobs {
    /// Expressions known in each job: the file's, then what its steps wrote to
    /// `$GITHUB_OUTPUT`.
    outputs: BTreeMap<String, BTreeMap<String, KnownValue>>,
    /// `$GITHUB_ENV` writes, in order.
    env: BTreeMap<String, Vec<(String, String)>>,
}

impl Jobs {
    fn new(m: &Model) -> Self {
        let mut outputs: BTreeMap<String, BTreeMap<String, KnownValue>> = BTreeMap::new();
        for k in &m.flow.known {
            if let Some(job) = &k.job {
                outputs
                    .entry(job.clone())
                    .or_default()
                    .insert(k.expr.clone(), k.value.clone());
            }
        }
        Self {
            outputs,
            env: BTreeMap::new(),
        }
    }

    /// The expressions a script of `job` may read.
    fn exprs(&self, m: &Model, job: &str) -> BTreeMap<String, KnownValue> {
        let mut out: BTreeMap<String, KnownValue> = m
            .flow
            .known
            .iter()
            .filter(|k| k.job.is_none())
            .map(|k| (k.expr.clone(), k.value.clone()))
            .collect();
        let none = BTreeMap::new();
        for o in m.flow.job_outputs.iter().filter(|o| o.job != job) {
            let theirs = self.outputs.get(&o.job).unwrap_or(&none);
            let value = match o
                .text
                .trim()
                .strip_prefix("${{")
                .and_then(|t| t.strip_suffix("}}"))
            {
                Some(inner) if !inner.contains("${{") => theirs.get(&expr_key(inner)).cloned(),
                _ => None,
            };
            let value = value.unwrap_or_else(|| KnownValue::Text(substitute(&o.text, theirs)));
            out.insert(format!("needs.{}.outputs.{}", o.job, o.name), value);
        }
        if let Some(mine) = self.outputs.get(job) {
            out.extend(mine.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        out
    }
}

/// `text` with each `${{ … }}` whose text `known` holds replaced by it.
fn substitute(text: &str, known: &BTreeMap<String, KnownValue>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("${{") {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        let Some(end) = tail.find("}}") else { break };
        match known.get(&expr_key(&tail[3..end])) {
            Some(KnownValue::Text(t)) => out.push_str(t),
            _ => out.push_str(&tail[..end + 2]),
        }
        rest = &tail[end + 2..];
    }
    out.push_str(rest);
    out
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
    let parsed = shell::parse(&script.body);
    let cmds: Vec<Command> = parsed.commands().into_iter().cloned().collect();
    let mut w = Walker {
        cx,
        script,
        cmds: &cmds,
        checks,
        next: 0,
        functions: HashMap::new(),
        budget: cmds.len().saturating_mul(4).saturating_add(256),
        depth: 0,
        read: None,
    };
    w.items(&parsed.items, &mut st);
    st
}

/// Most levels of function calls followed.
const MAX_CALL_DEPTH: usize = 4;

/// The walk of one script's items, in the order they run.
struct Walker<'w, 'a, 'c> {
    cx: &'w mut Cx<'a>,
    script: &'w Script,
    /// The script's commands flattened, as `Step` sees them.
    cmds: &'w [Command],
    checks: &'w [&'c dyn Check],
    /// The index in `cmds` of the next command met.
    next: usize,
    /// Functions defined so far: the index of their first command, and their body.
    functions: HashMap<String, (usize, &'w [Item])>,
    /// Commands that may still be walked: a function called many times is walked again
    /// for each call, within this.
    budget: usize,
    depth: usize,
    /// `read`/`mapfile` targets waiting for their command.
    read: Option<&'w shell::Read>,
}

impl<'w> Walker<'w, '_, '_> {
    fn items(&mut self, items: &'w [Item], st: &mut ShellState) {
        for item in items {
            match item {
                Item::Command(_) => {
                    let index = self.next;
                    self.next += 1;
                    if self.budget == 0 || index >= self.cmds.len() {
                        continue;
                    }
                    self.budget -= 1;
                    command(self.cx, self.script, self.cmds, index, st, self.checks);
                    if let Some(read) = self.read.take() {
                        read_into(read, self.cmds, index, st);
                    }
                }
                // Assignments are read from their command's words.
                Item::Assign(_) => {}
                Item::Read(r) => self.read = Some(r),
                Item::For(f) => {
                    let name = f.var.text.as_str();
                    match &f.words {
                        Some(words) => {
                            let (values, class) =
                                list_values(words.iter().map(|w| w.text.as_str()), st);
                            match values.last() {
                                Some(last) if class.is_none() => {
                                    st.set(name, last.clone(), values.clone())
                                }
                                _ => st.unknown(name, class),
                            }
                        }
                        None => st.unknown(name, None),
                    }
                    self.items(&f.body, st);
                }
                Item::Function(f) => {
                    self.functions
                        .insert(f.name.text.clone(), (self.next, f.body.as_slice()));
                    // Checked where written too, with its parameters unknown.
                    let saved = positional(st, None);
                    self.items(&f.body, st);
                    positional(st, Some(saved));
                }
                Item::Call(call) => {
                    let Some(&(start, body)) = self.functions.get(&call.name.text) else {
                        continue;
                    };
                    if self.depth >= MAX_CALL_DEPTH || self.budget == 0 {
                        continue;
                    }
                    let args: Vec<Arg> = call.args.iter().map(|a| bind(&a.text, st)).collect();
                    let saved = positional(st, Some(Positional::Bound(args)));
                    let (next, read) = (self.next, self.read.take());
                    self.next = start;
                    self.depth += 1;
                    self.items(body, st);
                    self.depth -= 1;
                    self.next = next;
                    self.read = read;
                    positional(st, Some(saved));
                }
            }
        }
    }
}

/// A call's argument as the function sees it: its texts, when known; else the class of
/// its value, judged where the call is.
type Arg = Result<(String, Vec<String>), Option<ValueClass>>;

/// Stands, in an argument passed to a function, for a variable the caller does not know.
const CALLERS: &str = "${__caller}";

/// `text`, an argument of a call, as the called function sees it. What is left unknown in
/// it is the caller's: a name it reads may be one the function reuses
/// (`f() { local -r target=$1; cosign sign "$target"; }` called as `f "$REG/$target:$V"`,
/// or `$1` passed on inside the next call's `$1`), so each such variable becomes one no
/// function sets; the rest of the text (a tag, a file's name) stays. When that loses what
/// the caller knew (a variable known only to hold tags), the class is passed instead.
fn bind(text: &str, st: &ShellState) -> Arg {
    let all: Vec<String> = st.resolve_all(text).iter().map(|t| callers(t)).collect();
    let last = callers(&st.resolve(text));
    if last.contains('$') {
        let class = class_of(&st.resolve(text), st);
        if class.is_some() && class_of(&last, &ShellState::default()) != class {
            return Err(class);
        }
    }
    Ok((last, all))
}

/// `text` with each variable reference (`$NAME`, `${NAME}`, `$1`, `$@`) replaced by
/// [`CALLERS`].
fn callers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while let Some(at) = text[i..].find('$').map(|a| a + i) {
        out.push_str(&text[i..at]);
        let tail = &text[at..];
        match crate::audit::secrets::variable_at(tail).or_else(|| flow::positional_at(tail)) {
            Some((_, len)) if !tail.starts_with("${{") => {
                out.push_str(CALLERS);
                i = at + len;
            }
            _ => {
                out.push('$');
                i = at + 1;
            }
        }
    }
    out.push_str(&text[i..]);
    out
}

/// The positional parameters of a shell: bound by a call, or unknown.
enum Positional {
    Bound(Vec<Arg>),
    Saved(Vec<(String, Option<String>, Option<Vec<String>>)>),
}

/// The names of the positional parameters followed.
const POSITIONAL: &[&str] = &["1", "2", "3", "4", "5", "6", "7", "8", "9", "@", "*"];

/// Sets the positional parameters (`None`: unknown) and returns what they were.
fn positional(st: &mut ShellState, to: Option<Positional>) -> Positional {
    let saved = Positional::Saved(
        POSITIONAL
            .iter()
            .map(|n| {
                (
                    n.to_string(),
                    st.vars.get(*n).cloned(),
                    st.alts.get(*n).cloned(),
                )
            })
            .collect(),
    );
    match to {
        None => {
            for n in POSITIONAL {
                st.unknown(n, None);
            }
        }
        Some(Positional::Bound(args)) => {
            for (k, n) in POSITIONAL[..9].iter().enumerate() {
                match args.get(k) {
                    Some(Ok((last, all))) => st.set(n, last.clone(), all.clone()),
                    Some(Err(class)) => st.unknown(n, *class),
                    None => st.unknown(n, None),
                }
            }
            let known: Option<Vec<String>> = args
                .iter()
                .map(|a| a.as_ref().ok().map(|(last, _)| last.clone()))
                .collect();
            // One tag among the arguments makes `"$@"` name one.
            let class = args
                .iter()
                .filter_map(|a| a.as_ref().err().copied().flatten())
                .max_by_key(|c| *c == ValueClass::Tag);
            for n in ["@", "*"] {
                match &known {
                    Some(all) => st.set(n, all.join(" "), all.clone()),
                    None => st.unknown(n, class),
                }
            }
        }
        Some(Positional::Saved(before)) => {
            for (n, last, all) in before {
                match last {
                    Some(last) => st.set(&n, last.clone(), all.unwrap_or_else(|| vec![last])),
                    None => st.unknown(&n, None),
                }
            }
        }
    }
    saved
}

/// One command of a script, with the state before it; leaves the state after it.
fn command(
    cx: &mut Cx<'_>,
    script: &Script,
    cmds: &[Command],
    index: usize,
    st: &mut ShellState,
    checks: &[&dyn Check],
) {
    let cmd = &cmds[index];
    for w in &cmd.words {
        let Some((k, v)) = assignment_parts(w) else {
            break;
        };
        assign(cx, st, script, k, v, w, checks);
    }
    for w in &cmd.words {
        if let Some(site) = Site::in_url(script, w) {
            credential_site(cx, &site, None, st, checks);
        }
    }
    for c in checks {
        c.words(cx, script, cmd, st);
    }
    let Some(word) = cmd.name() else { return };
    let name = cx
        .wrapped_downloader(&word.text)
        .unwrap_or_else(|| command_name(word));
    if matches!(
        name.as_str(),
        "export" | "local" | "readonly" | "declare" | "typeset"
    ) {
        for a in cmd.args() {
            if let Some((k, v)) = a.text.split_once('=')
                && is_name(k)
            {
                assign(cx, st, script, k, v, a, checks);
            }
        }
        return;
    }
    let fed = xargs_feed(cmds, index);
    let written: Vec<&str> = cmd.words.iter().map(|w| w.text.as_str()).collect();
    for file in digest_files(&written) {
        let file = st.resolve(&file);
        st.digest_files.insert(commands::base(&file).to_string());
    }
    if refs::resolves_from_registry(&format!("$({})", written.join(" "))) {
        for r in cmd.redirects.iter().filter(|r| matches!(r.op, ">" | ">>")) {
            let file = st.resolve(&r.target.text);
            st.looked_up.insert(commands::base(&file).to_string());
        }
    }
    // Only a command that may sign needs its arguments judged (`$COSIGN sign`, cosign run
    // in a container: the verb is among the words).
    let classes = if SIGNERS.contains(&name.as_str())
        || cmd
            .words
            .iter()
            .any(|w| matches!(w.text.as_str(), "sign" | "attest"))
    {
        cmd.args()
            .iter()
            .map(|w| {
                let all: Vec<Option<ValueClass>> = fed_texts(&fed, &w.text)
                    .iter()
                    .flat_map(|t| st.resolve_all(t))
                    .map(|t| class_of(&t, st))
                    .collect();
                // Any value by tag is signed by tag; then any looked up.
                [ValueClass::Tag, ValueClass::Lookup, ValueClass::Digest]
                    .into_iter()
                    .find(|c| all.contains(&Some(*c)))
            })
            .collect()
    } else {
        Vec::new()
    };
    let step = Step {
        script,
        cmds,
        index,
        word,
        name,
        args: cmd
            .args()
            .iter()
            .map(|w| st.resolve(&fed_texts(&fed, &w.text)[0]))
            .collect(),
        script_line: script.line,
        classes,
    };
    if let Some(file) = step_file(cmd) {
        let heredoc = cmd
            .redirects
            .iter()
            .find(|r| r.op.starts_with("<<") && r.op != "<<<")
            .map(|r| st.resolve(&r.target.text));
        for (k, v) in written_lines(&step.name, &step.args, heredoc) {
            st.step_writes.push((file, k, v));
        }
    }
    let login = step.login();
    for site in step.credentials(login.as_ref()) {
        credential_site(cx, &site, login.as_ref(), st, checks);
    }
    if let Some(login) = login.as_ref().filter(|l| l.stdin) {
        cx.inventory
            .credentials
            .insert(format!("a password on stdin for {}", login.registry));
    }
    for s in step.signed() {
        // A variable holding the whole reference names nothing worth listing.
        if image_ref(&s.repository).is_some() && !refs::name_is_unknown(&s.repository) {
            cx.inventory.pushes.insert(s.repository);
        }
    }
    if let Some(dest) = step.pushed() {
        if step.name == "docker"
            && let Some((name, len)) = crate::audit::secrets::variable_at(&dest)
            && len == dest.len()
            && cx.pushed_whole.len() < 256
        {
            cx.pushed_whole.insert(name.to_string());
        }
        cx.inventory.pushes.insert(dest);
    }
    st.after(&step);
    if let Some((_, image)) = step.pulled()
        && !st.verified_by_tag.contains_key(image)
    {
        cx.note_pull(image);
    }
    for c in checks {
        c.command(cx, &step, st);
    }
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
    // An assignment where a line starts, unindented, runs whatever ran before it; one
    // indented or after other commands on its line may be in a branch, so its value is
    // one more the variable may hold.
    st.assign_or_add(k, v, shell_expands(w), w.column == 1);
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
