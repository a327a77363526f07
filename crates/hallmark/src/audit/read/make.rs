//! Makefiles (`Makefile`, `GNUmakefile`, `*.mk`): each recipe line as the shell text make
//! would hand to the shell, and the variables as written.
//!
//! The subset is GNU make as release Makefiles use it: rules (`a b: deps`, `::`, static
//! patterns, `; inline recipe`), recipe lines starting with the recipe prefix (a tab, or
//! `.RECIPEPREFIX`), `\` continuations, the `@`, `-` and `+` prefixes, `.ONESHELL`,
//! assignments (`=`, `:=`, `::=`, `:::=`, `?=`, `+=`, `!=`, with `export`, `override` and
//! `private`), target-specific assignments (`img: TAG := x`), `define … endef`, `include`
//! (named, not read) and conditionals. Both branches of a conditional are read: which one
//! runs depends on the environment the audit does not know, and an unsafe line in either
//! is worth reporting.
//!
//! Make references become shell references so that the shell reader follows them with the
//! same code as `${VAR}` in any other script: `$(VAR)` and `${VAR}` become `${VAR}` (same
//! length), `$$` becomes `$`, and what the shell cannot know (automatic variables such as
//! `$@`, function calls such as `$(shell git describe)`, substitution references) becomes
//! a reference to a variable that is never defined ([`AUTOMATIC`], [`FUNCTION`],
//! [`COMPUTED`]): unknown, never empty. Make expands before the shell parses, so a
//! reference inside single quotes is written outside them (`'"${IMG}"'`).
//!
//! Without `.ONESHELL` every logical recipe line runs in a shell of its own, so each is a
//! [`Script`]; with it, each recipe is one. Every script's [`Mapped`] body maps any byte
//! back to its line and column in the file.

use std::collections::HashMap;

use super::mapped::{Builder, Mapped, Pos, Quotes, chars_at};

/// Most lines read; the rest of a longer file is not (and [`Makefile::cut`] says so).
pub const MAX_LINES: usize = 200_000;
/// Most variable definitions kept.
pub const MAX_VARS: usize = 50_000;
/// Most scripts kept.
pub const MAX_SCRIPTS: usize = 50_000;
/// Most `include`d names kept.
pub const MAX_INCLUDES: usize = 1_000;
/// Deepest chain of references [`Makefile::value`] follows.
pub const MAX_DEPTH: usize = 16;
/// Longest value [`Makefile::value`] builds.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// Most definitions [`Makefile::value`] looks up for one value.
const MAX_LOOKUPS: usize = 4_096;

/// Stands for an automatic variable (`$@`, `$<`, `$^`, `$(@D)`, …).
pub const AUTOMATIC: &str = "__make_auto";
/// Stands for a function call or substitution reference (`$(shell …)`, `$(X:.c=.o)`).
pub const FUNCTION: &str = "__make_fn";
/// Stands for a variable whose name the shell cannot spell (`$(foo.bar)`, `$(1)`).
pub const COMPUTED: &str = "__make_var";

/// How a variable was assigned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `=`: expanded when used.
    Recursive,
    /// `:=`, `::=`, `:::=`: expanded when defined.
    Simple,
    /// `?=`: only when not yet defined.
    Conditional,
    /// `+=`: appended, after a space.
    Append,
    /// `!=`: the output of a shell command (the value is [`FUNCTION`]).
    Shell,
    /// `define NAME … endef`, the body's lines joined with newlines.
    Define,
}

/// One variable definition.
#[derive(Debug, Clone)]
pub struct Var {
    /// Its name.
    pub name: String,
    /// How it was assigned.
    pub op: Op,
    /// Its value as written (leading blanks and the comment removed, continuations joined
    /// with a space), references translated as in recipes.
    pub value: Mapped,
    /// 1-based line of the assignment (of `define` for a define).
    pub line: usize,
    /// Given with `export`.
    pub export: bool,
    /// For a target-specific assignment, the targets it applies to; empty when global.
    pub targets: Vec<String>,
}

/// Shell text that one recipe runs.
#[derive(Debug, Clone)]
pub struct Script {
    /// The targets of its rule, as written.
    pub targets: Vec<String>,
    /// Index of its rule among the file's rules, in order: lines of one recipe share it.
    pub rule: usize,
    /// 1-based line where it starts.
    pub line: usize,
    /// The shell text: prefixes `@-+` removed, continuations kept as `\` and a newline (as
    /// make passes them), references translated.
    pub body: Mapped,
}

/// A file named by `include`, `-include` or `sinclude`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// The name as written, references translated.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// `-include` or `sinclude`: make goes on without it.
    pub optional: bool,
}

/// What a Makefile holds.
#[derive(Debug, Clone, Default)]
pub struct Makefile {
    /// Recipe scripts, in file order.
    pub scripts: Vec<Script>,
    /// Variable definitions, in file order (both branches of conditionals).
    pub vars: Vec<Var>,
    /// Files it includes.
    pub includes: Vec<Include>,
    /// The bound that was reached, when one was: the file was read only in part.
    pub cut: Option<&'static str>,
    index: HashMap<String, Vec<usize>>,
}

impl Makefile {
    /// Definitions of `name`, in file order.
    pub fn definitions<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Var> + 'a {
        self.index
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.vars.get(i))
    }

    /// The value `name` has in a recipe of `targets`, references to other variables
    /// followed: the last global assignment (a `?=` only when none came before), then the
    /// target-specific ones, `+=` appending. A reference that cannot be followed (undefined,
    /// a function, a cycle, too deep) stays as `${NAME}`. `None` when `name` is not defined.
    pub fn value(&self, name: &str, targets: &[String]) -> Option<String> {
        let mut lookups = 0;
        let mut stack = vec![name.to_string()];
        let raw = self.definition(name, targets, &mut lookups)?;
        Some(self.expand(&raw, targets, &mut stack, &mut lookups))
    }

    fn definition(&self, name: &str, targets: &[String], lookups: &mut usize) -> Option<String> {
        *lookups += 1;
        if *lookups > MAX_LOOKUPS {
            return None;
        }
        let defs = self.index.get(name)?;
        let mut value: Option<String> = None;
        let global = defs
            .iter()
            .filter_map(|&i| self.vars.get(i))
            .filter(|v| v.targets.is_empty());
        let specific = defs
            .iter()
            .filter_map(|&i| self.vars.get(i))
            .filter(|v| v.targets.iter().any(|t| targets.contains(t)));
        for v in global.chain(specific) {
            let text = &v.value.text;
            value = match (v.op, value) {
                (Op::Conditional, Some(old)) => Some(old),
                (Op::Append, Some(old)) if old.is_empty() => Some(text.clone()),
                (Op::Append, Some(old)) => Some(format!("{old} {text}")),
                _ => Some(text.clone()),
            };
        }
        value
    }

    fn expand(
        &self,
        text: &str,
        targets: &[String],
        stack: &mut Vec<String>,
        lookups: &mut usize,
    ) -> String {
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("${") {
            out.push_str(&rest[..at]);
            let after = &rest[at + 2..];
            let name_len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            let name = &after[..name_len];
            let whole = &rest[at..];
            if name_len == 0 || !after[name_len..].starts_with('}') {
                out.push_str("${");
                rest = after;
                continue;
            }
            let reference = &whole[..name_len + 3];
            rest = &after[name_len + 1..];
            let value = if stack.len() < MAX_DEPTH && !stack.iter().any(|s| s == name) {
                self.definition(name, targets, lookups)
            } else {
                None
            };
            match value {
                Some(v) => {
                    stack.push(name.to_string());
                    let expanded = self.expand(&v, targets, stack, lookups);
                    stack.pop();
                    out.push_str(&expanded);
                }
                None => out.push_str(reference),
            }
            if out.len() > MAX_VALUE_BYTES {
                let mut end = MAX_VALUE_BYTES;
                while !out.is_char_boundary(end) {
                    end -= 1;
                }
                out.truncate(end);
                return out;
            }
        }
        out.push_str(rest);
        out
    }
}

type Chars = Vec<(char, Pos)>;

fn continues(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// A logical line of make syntax: each `\` newline and the blanks around it become one
/// space.
fn join_make(lines: &[&str], start: usize) -> (Chars, usize) {
    let mut out: Chars = Vec::new();
    let mut i = start;
    loop {
        let line = lines[i];
        let mut chars: Chars = chars_at(line, i + 1).collect();
        if i > start {
            let blanks = chars.iter().take_while(|(c, _)| c.is_whitespace()).count();
            chars.drain(..blanks);
        }
        if continues(line) && i + 1 < lines.len() {
            let (_, slash) = chars.pop().unwrap_or(('\\', Pos::new(i + 1, 1)));
            while chars.last().is_some_and(|(c, _)| c.is_whitespace()) {
                chars.pop();
            }
            out.extend(chars);
            out.push((' ', slash));
            i += 1;
        } else {
            out.extend(chars);
            return (out, i + 1);
        }
    }
}

/// A logical recipe line: continuations stay (`\` and a newline), and the recipe prefix
/// that starts each continuation line is removed, as make does.
fn join_recipe(lines: &[&str], start: usize, prefix: char) -> (Chars, usize) {
    let mut out: Chars = Vec::new();
    let mut i = start;
    loop {
        let line = lines[i];
        let skip = usize::from(i == start || line.starts_with(prefix));
        out.extend(chars_at(line, i + 1).skip(skip));
        if continues(line) && i + 1 < lines.len() {
            out.push(('\n', Pos::new(i + 1, line.chars().count() + 1)));
            i += 1;
        } else {
            return (out, i + 1);
        }
    }
}

/// Index of the character that closes the reference opened at `open`, counting only
/// parentheses (or braces) of the same kind, as make does.
fn closing(src: &[(char, Pos)], open: usize) -> Option<usize> {
    let (o, _) = *src.get(open)?;
    let c = if o == '(' { ')' } else { '}' };
    let mut depth = 0usize;
    for (j, &(ch, _)) in src.iter().enumerate().skip(open) {
        if ch == o {
            depth += 1;
        } else if ch == c {
            depth -= 1;
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

fn is_shell_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What `$(inner)` stands for.
fn classify(inner: &str) -> Result<&str, &'static str> {
    let mut chars = inner.chars();
    if let Some(first) = chars.next()
        && "@<^?*%+|".contains(first)
        && chars.as_str().chars().all(|c| c == 'D' || c == 'F')
        && inner.chars().count() <= 2
    {
        return Err(AUTOMATIC);
    }
    if inner
        .chars()
        .any(|c| c.is_whitespace() || ":=$(){},".contains(c))
    {
        return Err(FUNCTION);
    }
    if is_shell_name(inner) {
        Ok(inner)
    } else {
        Err(COMPUTED)
    }
}

/// Rewrites make text into shell text. `shell` says the text is a recipe, whose quotes
/// the shell will read.
fn translate(src: &[(char, Pos)], shell: bool, out: &mut Builder) {
    let mut quotes = Quotes::default();
    let mut i = 0;
    while let Some(&(c, pos)) = src.get(i) {
        if c != '$' {
            out.push(c, pos);
            if shell {
                quotes.feed(c);
            }
            i += 1;
            continue;
        }
        match src.get(i + 1).map(|&(n, _)| n) {
            None => {
                out.push('$', pos);
                i += 1;
            }
            Some('$') => {
                out.push('$', pos);
                if shell {
                    quotes.feed('$');
                }
                i += 2;
            }
            Some('(' | '{') => {
                let Some(end) = closing(src, i + 1) else {
                    // Make stops here ("unterminated variable reference"); what follows is
                    // not known.
                    out.reference(FUNCTION, pos, &quotes);
                    return;
                };
                let inner: String = src[i + 2..end].iter().map(|&(c, _)| c).collect();
                match classify(&inner) {
                    Ok(_) if !quotes.single => {
                        out.push('$', pos);
                        out.push('{', src[i + 1].1);
                        for &(c, p) in &src[i + 2..end] {
                            out.push(c, p);
                        }
                        out.push('}', src[end].1);
                    }
                    Ok(name) => out.reference(name, pos, &quotes),
                    Err(opaque) => out.reference(opaque, pos, &quotes),
                }
                i = end + 1;
            }
            Some(n) => {
                let name = n.to_string();
                let name = if is_shell_name(&name) {
                    name.as_str()
                } else if "@<^?*%+|".contains(n) {
                    AUTOMATIC
                } else {
                    COMPUTED
                };
                out.reference(name, pos, &quotes);
                i += 2;
            }
        }
    }
}

fn translated(src: &[(char, Pos)], shell: bool) -> Mapped {
    let mut b = Builder::default();
    translate(src, shell, &mut b);
    b.finish()
}

/// Index of the `#` that starts a comment, outside references (GNU make 4.3 and later);
/// `\#` is a literal `#`.
fn comment_start(cs: &[(char, Pos)]) -> usize {
    let mut depth = 0usize;
    let mut prev = ' ';
    for (j, &(c, _)) in cs.iter().enumerate() {
        match c {
            '(' | '{' if prev == '$' || depth > 0 => depth += 1,
            ')' | '}' if depth > 0 => depth -= 1,
            '#' if depth == 0 && prev != '\\' => return j,
            _ => {}
        }
        prev = c;
    }
    cs.len()
}

/// Where a make line's assignment operator or rule colon is.
enum Split {
    /// `name op value`: the operator's span.
    Assign(Op, usize, usize),
    /// `targets: rest`: the colons' span.
    Rule(usize, usize),
    None,
}

fn split(cs: &[(char, Pos)]) -> Split {
    let mut depth = 0usize;
    let mut j = 0;
    while let Some(&(c, _)) = cs.get(j) {
        let next = cs.get(j + 1).map(|&(n, _)| n);
        if c == '$' && matches!(next, Some('(' | '{')) {
            depth += 1;
            j += 2;
            continue;
        }
        if depth > 0 {
            match c {
                '(' | '{' => depth += 1,
                ')' | '}' => depth -= 1,
                _ => {}
            }
            j += 1;
            continue;
        }
        match c {
            '=' => {
                let op = match j.checked_sub(1).and_then(|p| cs.get(p)).map(|&(p, _)| p) {
                    Some('?') => Some(Op::Conditional),
                    Some('+') => Some(Op::Append),
                    Some('!') => Some(Op::Shell),
                    _ => None,
                };
                return match op {
                    Some(op) => Split::Assign(op, j - 1, j + 1),
                    None => Split::Assign(Op::Recursive, j, j + 1),
                };
            }
            ':' => {
                let colons = cs[j..].iter().take_while(|&&(c, _)| c == ':').count();
                return if cs.get(j + colons).is_some_and(|&(c, _)| c == '=') {
                    Split::Assign(Op::Simple, j, j + colons + 1)
                } else {
                    Split::Rule(j, j + colons.min(2))
                };
            }
            _ => {}
        }
        j += 1;
    }
    Split::None
}

fn text(cs: &[(char, Pos)]) -> String {
    cs.iter().map(|&(c, _)| c).collect()
}

fn trim(cs: &[(char, Pos)]) -> &[(char, Pos)] {
    let start = cs.iter().take_while(|(c, _)| c.is_whitespace()).count();
    let cs = &cs[start..];
    let end = cs.len()
        - cs.iter()
            .rev()
            .take_while(|(c, _)| c.is_whitespace())
            .count();
    &cs[..end]
}

/// The first word and what follows it (blanks after the word skipped).
fn word(cs: &[(char, Pos)]) -> (String, &[(char, Pos)]) {
    let cs = trim(cs);
    let len = cs.iter().take_while(|(c, _)| !c.is_whitespace()).count();
    (text(&cs[..len]), trim(&cs[len..]))
}

/// `export`, `override` and `private` before an assignment or `define`.
fn modifiers(mut cs: &[(char, Pos)]) -> (bool, &[(char, Pos)]) {
    let mut export = false;
    loop {
        let (w, rest) = word(cs);
        match w.as_str() {
            "export" => export = true,
            "override" | "private" => {}
            _ => return (export, trim(cs)),
        }
        cs = rest;
    }
}

struct Reader<'a> {
    lines: Vec<&'a str>,
    file: Makefile,
    prefix: char,
    oneshell: bool,
    rules: usize,
    /// Targets of the rule whose recipe lines may follow.
    rule: Option<Rule>,
    /// For each open conditional: the rule in effect at its `if…`, and the rule a branch
    /// read so far ended in, when one did.
    conditionals: Vec<(Option<Rule>, Option<Rule>)>,
    /// Conditionals open past [`MAX_CONDITIONALS`], whose branches share the rule.
    too_deep: usize,
}

/// A rule's index and targets.
type Rule = (usize, Vec<String>);

/// Deepest nesting of conditionals whose branches keep their rule apart.
const MAX_CONDITIONALS: usize = 64;

impl Reader<'_> {
    fn cut(&mut self, what: &'static str) {
        self.file.cut.get_or_insert(what);
    }

    fn var(&mut self, var: Var) {
        if var.name == ".RECIPEPREFIX" {
            self.prefix = var.value.text.chars().next().unwrap_or('\t');
        }
        if self.file.vars.len() >= MAX_VARS {
            return self.cut("variables");
        }
        self.file
            .index
            .entry(var.name.clone())
            .or_default()
            .push(self.file.vars.len());
        self.file.vars.push(var);
    }

    fn script(&mut self, body: &[(char, Pos)]) {
        let Some((rule, targets)) = &self.rule else {
            return;
        };
        let start = body
            .iter()
            .take_while(|(c, _)| c.is_whitespace() || "@-+".contains(*c))
            .count();
        let body = &body[start..];
        let Some(&(_, first)) = body.first() else {
            return;
        };
        if self.file.scripts.len() >= MAX_SCRIPTS {
            return self.cut("scripts");
        }
        self.file.scripts.push(Script {
            targets: targets.clone(),
            rule: *rule,
            line: first.line,
            body: translated(body, true),
        });
    }

    fn assignment(
        &mut self,
        cs: &[(char, Pos)],
        op: Op,
        (at, after): (usize, usize),
        targets: Vec<String>,
        line: usize,
    ) {
        let (export, name) = modifiers(&cs[..at]);
        let name = text(name);
        if name.is_empty() || name.contains(char::is_whitespace) {
            return;
        }
        let raw = trim(&cs[after..]);
        let value = if op == Op::Shell {
            let mut b = Builder::default();
            let pos = raw.first().map_or(cs[at].1, |&(_, p)| p);
            b.write(&format!("${{{FUNCTION}}}"), pos);
            b.finish()
        } else {
            // `\#` is a literal `#` in a value.
            let raw: Chars = raw
                .iter()
                .enumerate()
                .filter(|&(k, &(c, _))| !(c == '\\' && raw.get(k + 1).is_some_and(|n| n.0 == '#')))
                .map(|(_, &x)| x)
                .collect();
            translated(&raw, false)
        };
        self.var(Var {
            name,
            op,
            value,
            line,
            export,
            targets,
        });
    }

    /// `define NAME [op]` at line `start`; returns the line after `endef`.
    fn define(&mut self, export: bool, head: &[(char, Pos)], start: usize) -> usize {
        let (name, op) = word(head);
        let op = match text(op).as_str() {
            "+=" => Op::Append,
            "?=" => Op::Conditional,
            "!=" => Op::Shell,
            _ => Op::Define,
        };
        let mut body: Chars = Vec::new();
        let mut depth = 1usize;
        let mut i = start + 1;
        while let Some(line) = self.lines.get(i) {
            let first = line.split_whitespace().next().unwrap_or("");
            if first == "define" {
                depth += 1;
            } else if first == "endef" {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            if i > start + 1 {
                let prev = self.lines[i - 1].chars().count();
                body.push(('\n', Pos::new(i, prev + 1)));
            }
            body.extend(chars_at(line, i + 1));
            i += 1;
        }
        if !name.is_empty() {
            self.var(Var {
                name,
                op,
                value: translated(&body, false),
                line: start + 1,
                export,
                targets: Vec::new(),
            });
        }
        i + 1
    }

    fn include(&mut self, rest: &[(char, Pos)], optional: bool, line: usize) {
        let names = translated(rest, false);
        for path in names.text.split_whitespace() {
            if self.file.includes.len() >= MAX_INCLUDES {
                return self.cut("includes");
            }
            self.file.includes.push(Include {
                path: path.to_string(),
                line,
                optional,
            });
        }
    }

    fn rule(&mut self, cs: &[(char, Pos)], (at, after): (usize, usize), end: usize, line: usize) {
        let targets: Vec<String> = text(&cs[..at])
            .split_whitespace()
            .map(str::to_string)
            .collect();
        // The recipe after `;` belongs to the shell, comment and all.
        let rest = &cs[after..];
        let semi = rest[..end.saturating_sub(after)]
            .iter()
            .position(|&(c, _)| c == ';');
        let deps = &rest[..semi.unwrap_or(end.saturating_sub(after))];
        if let Split::Assign(op, a, b) = split(deps) {
            self.rule = None;
            return self.assignment(deps, op, (a, b), targets, line);
        }
        if targets.iter().any(|t| t == ".ONESHELL") {
            self.oneshell = true;
        }
        self.rule = Some((self.rules, targets));
        self.rules += 1;
        if let Some(semi) = semi {
            self.script(&rest[semi + 1..]);
        }
    }

    fn read(mut self) -> Makefile {
        let mut i = 0;
        while i < self.lines.len() {
            let line = self.lines[i];
            if self.rule.is_some() && line.starts_with(self.prefix) {
                let (body, next) = join_recipe(&self.lines, i, self.prefix);
                self.script(&body);
                i = next;
                continue;
            }
            let (cs, next) = join_make(&self.lines, i);
            let end = comment_start(&cs);
            let code = trim(&cs[..end]);
            let (first, rest) = word(code);
            match first.as_str() {
                // Blank lines and comments do not end a recipe; neither do conditionals,
                // whose branches are both read.
                "" => {}
                // Make reads one branch: an assignment in another does not end the rule
                // for this one (`ifeq (…) / @echo ok / X=y / else / @curl … | sh / endif`).
                // Each branch starts with the rule in effect at `if…`.
                "ifeq" | "ifneq" | "ifdef" | "ifndef" => {
                    if self.conditionals.len() < MAX_CONDITIONALS {
                        self.conditionals.push((self.rule.clone(), None));
                    } else {
                        self.too_deep += 1;
                    }
                }
                "else" if self.too_deep > 0 => {}
                "else" => {
                    if let Some((at_if, kept)) = self.conditionals.last_mut() {
                        if self.rule.is_some() {
                            *kept = self.rule.take();
                        }
                        self.rule = at_if.clone();
                    }
                }
                "endif" if self.too_deep > 0 => self.too_deep -= 1,
                "endif" => {
                    if let Some((_, kept)) = self.conditionals.pop()
                        && self.rule.is_none()
                    {
                        self.rule = kept;
                    }
                }
                "endef" | "vpath" | "unexport" => self.rule = None,
                "include" | "-include" | "sinclude" => {
                    self.rule = None;
                    self.include(rest, first != "include", i + 1);
                }
                _ => {
                    self.rule = None;
                    let (export, after_mods) = modifiers(code);
                    let (w, head) = word(after_mods);
                    if w == "define" {
                        i = self.define(export, head, i);
                        continue;
                    }
                    match split(&cs[..end]) {
                        Split::Assign(op, a, b) => {
                            self.assignment(&cs[..end], op, (a, b), Vec::new(), i + 1);
                        }
                        Split::Rule(a, b) => self.rule(&cs, (a, b), end, i + 1),
                        Split::None => {}
                    }
                }
            }
            i = next;
        }
        if self.oneshell {
            self.file.scripts = one_shell(std::mem::take(&mut self.file.scripts));
        }
        self.file
    }
}

/// With `.ONESHELL`, the lines of a recipe are one script.
fn one_shell(scripts: Vec<Script>) -> Vec<Script> {
    let mut out: Vec<Script> = Vec::new();
    let mut body = Builder::default();
    for s in scripts {
        match out.last_mut() {
            Some(last) if last.rule == s.rule => {
                body.write(
                    "\n",
                    s.body
                        .segments
                        .first()
                        .map_or(Pos::new(s.line, 1), |g| g.pos),
                );
                body.append(&s.body);
            }
            Some(last) => {
                last.body = std::mem::take(&mut body).finish();
                body.append(&s.body);
                out.push(s);
            }
            None => {
                body.append(&s.body);
                out.push(s);
            }
        }
    }
    if let Some(last) = out.last_mut()
        && !body.is_empty()
    {
        last.body = body.finish();
    }
    out
}

/// Reads a Makefile. Never fails: what make would refuse is read as far as it makes sense,
/// and a file past the bounds is read in part ([`Makefile::cut`]).
pub fn parse(text: &str) -> Makefile {
    let mut lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .take(MAX_LINES + 1)
        .collect();
    let mut file = Makefile::default();
    if lines.len() > MAX_LINES {
        lines.truncate(MAX_LINES);
        file.cut = Some("lines");
    }
    Reader {
        lines,
        file,
        prefix: '\t',
        oneshell: false,
        rules: 0,
        rule: None,
        conditionals: Vec::new(),
        too_deep: 0,
    }
    .read()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RELEASE: &str = "\
# Release images
REGISTRY ?= ghcr.io/acme
VERSION ?= $(shell git describe --tags --always --dirty)
IMG ?= $(REGISTRY)/app:$(VERSION)   # the image
export COSIGN_YES = true

.PHONY: docker-push sign

docker-push: docker-build ## Push the image
\tdocker push ${IMG}

sign: docker-push
\t@echo \"signing $(IMG)\"
\tcosign sign --key $(KEY) $(IMG)
";

    fn bodies(m: &Makefile) -> Vec<&str> {
        m.scripts.iter().map(|s| s.body.text.as_str()).collect()
    }

    #[test]
    fn recipes_become_shell_scripts_and_map_back_to_the_file() {
        let m = parse(RELEASE);
        assert_eq!(
            bodies(&m),
            [
                "docker push ${IMG}",
                "echo \"signing ${IMG}\"",
                "cosign sign --key ${KEY} ${IMG}"
            ]
        );
        let sign = &m.scripts[2];
        assert_eq!(
            (sign.line, sign.targets.as_slice()),
            (14, &["sign".to_string()][..])
        );
        assert_eq!(sign.body.find("${IMG}"), Some(Pos::new(14, 27)));
        assert_eq!(sign.body.find("cosign"), Some(Pos::new(14, 2)));
        assert_eq!(
            m.scripts[1].body.find("echo"),
            Some(Pos::new(13, 3)),
            "after `@`"
        );
        assert_eq!(m.scripts[0].rule, 1, "`.PHONY` is rule 0");
        assert_eq!(m.scripts[2].rule, 2);
        assert!(m.cut.is_none());
    }

    #[test]
    fn variables_are_kept_as_written_and_followed() {
        let m = parse(RELEASE);
        let names: Vec<_> = m
            .vars
            .iter()
            .map(|v| (v.name.as_str(), v.op, v.line))
            .collect();
        assert_eq!(
            names,
            [
                ("REGISTRY", Op::Conditional, 2),
                ("VERSION", Op::Conditional, 3),
                ("IMG", Op::Conditional, 4),
                ("COSIGN_YES", Op::Recursive, 5),
            ]
        );
        let img = m.definitions("IMG").next().unwrap();
        assert_eq!(
            img.value.text, "${REGISTRY}/app:${VERSION}",
            "comment removed"
        );
        assert_eq!(img.value.find("${VERSION}"), Some(Pos::new(4, 24)));
        assert_eq!(
            m.definitions("VERSION").next().unwrap().value.text,
            "${__make_fn}",
            "`$(shell git describe)` is unknown"
        );
        assert!(m.definitions("COSIGN_YES").next().unwrap().export);
        assert_eq!(
            m.value("IMG", &[]).as_deref(),
            Some("ghcr.io/acme/app:${__make_fn}")
        );
        assert_eq!(m.value("KEY", &[]), None);
    }

    #[test]
    fn double_dollars_are_the_shells_and_shift_later_columns() {
        let m = parse("all:\n\tfor t in $(TAGS); do cosign sign \"$$t\"; echo $$(date) $@; done\n");
        let body = &m.scripts[0].body;
        assert_eq!(
            body.text,
            "for t in ${TAGS}; do cosign sign \"$t\"; echo $(date) ${__make_auto}; done"
        );
        assert_eq!(body.find("$t"), Some(Pos::new(2, 36)));
        assert_eq!(
            body.find("\"; echo"),
            Some(Pos::new(2, 39)),
            "one column back"
        );
        assert_eq!(body.find("$(date)"), Some(Pos::new(2, 47)));
        assert_eq!(body.find("${__make_auto}"), Some(Pos::new(2, 56)));
        assert_eq!(body.find("; done"), Some(Pos::new(2, 58)));
    }

    #[test]
    fn continuation_lines_stay_one_shell_line_with_their_places() {
        let text = "release:\n\tdocker buildx build \\\n\t\t--push -t $(IMG) . && \\\n\tcosign sign $(IMG)\n\techo done\n";
        let m = parse(text);
        assert_eq!(
            bodies(&m),
            [
                "docker buildx build \\\n\t--push -t ${IMG} . && \\\ncosign sign ${IMG}",
                "echo done"
            ]
        );
        let body = &m.scripts[0].body;
        assert_eq!(body.find("--push"), Some(Pos::new(3, 3)));
        assert_eq!(body.find("cosign"), Some(Pos::new(4, 2)));
        assert_eq!(
            body.locate(3, 13),
            Some(Pos::new(4, 14)),
            "the shell's line 3"
        );
        assert_eq!(m.scripts[1].line, 5);
    }

    #[test]
    fn a_recipe_line_starts_with_the_recipe_prefix() {
        let m = parse("sign:\n    cosign sign $(IMG)\n\tcosign sign $(IMG)\n");
        assert!(
            m.scripts.is_empty(),
            "spaces end the rule: {:?}",
            bodies(&m)
        );
        let m = parse("sign:\n\tcosign sign $(IMG)\n");
        assert_eq!(bodies(&m), ["cosign sign ${IMG}"]);
        let m = parse(".RECIPEPREFIX = >\nsign:\n>cosign sign $(IMG)\n\techo no\n");
        assert_eq!(bodies(&m), ["cosign sign ${IMG}"]);
        assert_eq!(m.scripts[0].body.find("cosign"), Some(Pos::new(3, 2)));
    }

    #[test]
    fn prefixes_are_removed_and_columns_kept() {
        let m = parse("push:\n\t@-+ docker push $(IMG)\n\t-@cosign sign x\n");
        assert_eq!(bodies(&m), ["docker push ${IMG}", "cosign sign x"]);
        assert_eq!(m.scripts[0].body.find("docker"), Some(Pos::new(2, 6)));
        assert_eq!(m.scripts[1].body.find("cosign"), Some(Pos::new(3, 4)));
    }

    #[test]
    fn what_the_shell_cannot_know_is_an_unknown_reference() {
        let m = parse(
            "%.sig: %\n\tcosign sign $(call image,$@) $< $(@D) $(IMG:latest=v1) $(foo.bar) $(1) ${X}\n",
        );
        assert_eq!(
            m.scripts[0].body.text,
            "cosign sign ${__make_fn} ${__make_auto} ${__make_auto} ${__make_fn} ${__make_var} ${__make_var} ${X}"
        );
        let body = &m.scripts[0].body;
        assert_eq!(body.find("${__make_fn}"), Some(Pos::new(2, 14)));
        assert_eq!(body.find("${X}"), Some(Pos::new(2, 73)));
        let m = parse("a:\n\tdocker push $(IMG\n");
        assert_eq!(m.scripts[0].body.text, "docker push ${__make_fn}");
    }

    #[test]
    fn make_expands_inside_single_quotes_before_the_shell_reads_them() {
        let m = parse("a:\n\tsh -c 'cosign sign $(IMG)'\n\techo \"$(IMG)\"\n");
        assert_eq!(
            bodies(&m),
            ["sh -c 'cosign sign '\"${IMG}\"''", "echo \"${IMG}\""]
        );
    }

    #[test]
    fn target_specific_assignments_apply_to_their_targets() {
        let text = "IMG := ghcr.io/acme/app:dev\npush-prod: IMG := ghcr.io/acme/app:prod\npush-prod push-stage: export TAG += rc\npush-prod:\n\tcosign sign $(IMG)\n";
        let m = parse(text);
        let img: Vec<_> = m
            .definitions("IMG")
            .map(|v| (v.value.text.as_str(), v.targets.clone()))
            .collect();
        assert_eq!(
            img,
            [
                ("ghcr.io/acme/app:dev", vec![]),
                ("ghcr.io/acme/app:prod", vec!["push-prod".to_string()])
            ]
        );
        let tag = m.definitions("TAG").next().unwrap();
        assert!(tag.export && tag.op == Op::Append);
        assert_eq!(tag.targets, ["push-prod", "push-stage"]);
        let s = &m.scripts[0];
        assert_eq!(s.body.text, "cosign sign ${IMG}");
        assert_eq!(
            m.value("IMG", &s.targets).as_deref(),
            Some("ghcr.io/acme/app:prod")
        );
        assert_eq!(m.value("IMG", &[]).as_deref(), Some("ghcr.io/acme/app:dev"));
    }

    #[test]
    fn defines_are_variables_with_their_lines() {
        let text = "define SIGN\ncosign sign --key $(KEY) $$1\n  define INNER\n  endef\nendef\nall:\n\t$(call SIGN,x)\n";
        let m = parse(text);
        let v = m.definitions("SIGN").next().unwrap();
        assert_eq!(v.op, Op::Define);
        assert_eq!(v.line, 1);
        assert_eq!(
            v.value.text,
            "cosign sign --key ${KEY} $1\n  define INNER\n  endef"
        );
        assert_eq!(v.value.find("${KEY}"), Some(Pos::new(2, 19)));
        assert_eq!(v.value.find("define"), Some(Pos::new(3, 3)));
        assert_eq!(bodies(&m), ["${__make_fn}"]);
    }

    #[test]
    fn includes_are_named_not_read() {
        let m = parse(
            "include common.mk   build/release.mk # shared\n-include $(wildcard *.mk)\nsinclude local.mk\n",
        );
        let got: Vec<_> = m
            .includes
            .iter()
            .map(|i| (i.path.as_str(), i.line, i.optional))
            .collect();
        assert_eq!(
            got,
            [
                ("common.mk", 1, false),
                ("build/release.mk", 1, false),
                ("${__make_fn}", 2, true),
                ("local.mk", 3, true)
            ]
        );
    }

    #[test]
    fn an_assignment_in_one_branch_does_not_end_the_rule_for_another() {
        let text = "tool:\nifeq ($(shell which tool),)\n\t@echo have it\nTOOL = tool\nelse ifeq ($(X),y)\nTOOL = other\nelse\n\t@{ \\\n\tset -e ;\\\n\tcurl -sSfL https://example.com/i.sh | sh -s -- -b $(BIN) ;\\\n\t}\nendif\n\techo after\n\nVAR = 1\n\techo orphan\n";
        let m = parse(text);
        assert_eq!(
            bodies(&m),
            [
                "echo have it",
                "{ \\\nset -e ;\\\ncurl -sSfL https://example.com/i.sh | sh -s -- -b ${BIN} ;\\\n}",
                "echo after",
            ],
            "the rule goes on in the `else` branch and, as one branch kept it, after `endif`; \
             an assignment outside conditionals ends it"
        );
        assert_eq!(m.scripts[1].line, 8);
        // Nested past the bound: read, never a panic.
        let deep = format!(
            "a:\n{}\techo x\n{}",
            "ifdef X\n".repeat(100),
            "endif\n".repeat(100)
        );
        assert_eq!(bodies(&parse(&deep)), ["echo x"]);
    }

    #[test]
    fn both_branches_of_conditionals_are_read() {
        let text = "\
ifeq ($(CI),true)
  IMG = ghcr.io/acme/app:$(GITHUB_SHA)
else
\tIMG = ghcr.io/acme/app:dev
endif
sign:
ifeq ($(JOB_TYPE),postsubmit)
\tcosign sign $(IMG)
else
\t@echo skipped
endif
# a comment does not end the recipe
\techo end
";
        let m = parse(text);
        let img: Vec<_> = m
            .definitions("IMG")
            .map(|v| v.value.text.as_str())
            .collect();
        assert_eq!(
            img,
            ["ghcr.io/acme/app:${GITHUB_SHA}", "ghcr.io/acme/app:dev"]
        );
        assert_eq!(
            bodies(&m),
            ["cosign sign ${IMG}", "echo skipped", "echo end"]
        );
        assert_eq!(m.scripts[0].body.find("cosign"), Some(Pos::new(8, 2)));
    }

    #[test]
    fn assignments_of_every_kind() {
        let text = "\
A = one
A += two
B := $(A)
C ::= x
D :::= y
E != git rev-parse HEAD
override F ?= f
FLAGS = --yes \\
        --recursive
H = a\\#b # comment
";
        let m = parse(text);
        let ops: Vec<_> = m
            .vars
            .iter()
            .map(|v| (v.name.as_str(), v.op, v.value.text.as_str()))
            .collect();
        assert_eq!(
            ops,
            [
                ("A", Op::Recursive, "one"),
                ("A", Op::Append, "two"),
                ("B", Op::Simple, "${A}"),
                ("C", Op::Simple, "x"),
                ("D", Op::Simple, "y"),
                ("E", Op::Shell, "${__make_fn}"),
                ("F", Op::Conditional, "f"),
                ("FLAGS", Op::Recursive, "--yes --recursive"),
                ("H", Op::Recursive, "a#b"),
            ]
        );
        assert_eq!(m.value("B", &[]).as_deref(), Some("one two"));
        let flags = &m.definitions("FLAGS").next().unwrap().value;
        assert_eq!(flags.find("--recursive"), Some(Pos::new(9, 9)));
    }

    #[test]
    fn inline_recipes_and_one_shell() {
        let m = parse("sign: build ; cosign sign $(IMG) # signed\n");
        assert_eq!(bodies(&m), ["cosign sign ${IMG} # signed"]);
        assert_eq!(m.scripts[0].body.find("cosign"), Some(Pos::new(1, 15)));
        let text =
            "a:\n\tTAG=$$(git describe)\n\tcosign sign $(REPO):$$TAG\nb:\n\techo b\n.ONESHELL:\n";
        let m = parse(text);
        assert_eq!(
            bodies(&m),
            ["TAG=$(git describe)\ncosign sign ${REPO}:$TAG", "echo b"]
        );
        let body = &m.scripts[0].body;
        assert_eq!(body.find("cosign"), Some(Pos::new(3, 2)));
        assert_eq!(body.find("$TAG"), Some(Pos::new(3, 22)));
    }

    #[test]
    fn expansion_is_bounded() {
        let mut text = String::from("A0 = xxxxxxxx\n");
        for k in 1..40 {
            text.push_str(&format!("A{k} = $(A{p})$(A{p})\n", p = k - 1));
        }
        text.push_str("X = $(Y) x\nY = $(X) y\nZ := $(Z) z\n");
        let m = parse(&text);
        let v = m.value("A39", &[]).unwrap();
        assert!(v.len() <= MAX_VALUE_BYTES + 8, "{}", v.len());
        assert_eq!(m.value("X", &[]).as_deref(), Some("${X} y x"));
        assert_eq!(m.value("Z", &[]).as_deref(), Some("${Z} z"));
    }

    #[test]
    fn a_long_file_is_read_whole_and_a_longer_one_in_part() {
        let mut text = String::new();
        for k in 0..25_000 {
            text.push_str(&format!(
                "IMG{k} ?= ghcr.io/acme/app{k}:$(VERSION)\nsign{k}:\n\tcosign sign $(IMG{k}) \\\n\t  --yes\n"
            ));
        }
        let m = parse(&text);
        assert_eq!(
            (m.scripts.len(), m.vars.len(), m.cut),
            (25_000, 25_000, None)
        );
        assert_eq!(
            m.scripts[24_999].body.find("--yes"),
            Some(Pos::new(100_000, 4))
        );
        text.push_str(&"\n".repeat(MAX_LINES));
        assert_eq!(parse(&text).cut, Some("lines"));
        let many = "A := 1\n".repeat(MAX_VARS + 1);
        let m = parse(&many);
        assert_eq!((m.vars.len(), m.cut), (MAX_VARS, Some("variables")));
    }

    #[test]
    fn crlf_and_odd_input_do_not_break_it() {
        let m = parse("a:\r\n\tcosign sign $(IMG)\r\n");
        assert_eq!(bodies(&m), ["cosign sign ${IMG}"]);
        for text in [
            "\\",
            "a:\n\t\\",
            "define",
            "$(",
            ":",
            "=",
            "a: ;",
            "\t$$",
            "x:=$",
            "é:\n\té$é",
        ] {
            let m = parse(text);
            for s in &m.scripts {
                for k in 0..=s.body.text.len() {
                    let _ = s.body.position(k);
                }
            }
        }
    }
}
