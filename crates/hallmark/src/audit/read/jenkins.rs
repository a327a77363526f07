//! Jenkinsfiles and shared-library Groovy: the script given to each `sh` step, each in a
//! fresh shell.
//!
//! Every way Groovy gives `sh` its string is read: `sh 'cmd'`, `sh "cmd"`, triple-quoted
//! strings, `sh('cmd')`, `sh(script: 'cmd', returnStdout: true)`, `sh script: "cmd"`. A
//! double-quoted string is a GString: `${name}` and `$name` in it are Groovy's, replaced
//! by the value a `def`, an `env.NAME =` or an `environment { NAME = '…' }` gave when that
//! value is a literal, and left as shell text (unknown) otherwise. Comments and strings
//! that are not steps are skipped by a small lexer, so `// sh 'x'` is not a step.
//!
//! `bat`, `powershell` and `pwsh` steps are read too: the commands the rules look for
//! (`curl.exe -o x.exe URL` then `x.exe`, `iwr URL | iex`, `Invoke-WebRequest -OutFile`)
//! are words the shell reader splits the same way.
//!
//! The steps of one method (or of the file outside methods) run one after the other in
//! one workspace: each continues the one before, as the lines of a Makefile recipe do, so
//! a program downloaded by one step and run or made executable by the next is seen.
//! A method's parameters take the values its calls in the file give them
//! (`signImage("${service}:${BUILD_NUMBER}")`), and a closure's or a `for` loop's the
//! items of a literal list it walks (`['a:1', 'b:2'].each { img -> … }`): the steps
//! inside see them as variables. A parameter no call gives a literal stays unknown.

use std::collections::HashMap;

use super::Source;
use crate::audit::mapped::{Builder, Located, Pos};
use crate::audit::model::{EnvVar, Expands, Model, Script};

/// A string literal of the file.
struct Lit {
    /// Byte offset of its first character (after the quotes).
    start: usize,
    /// How many quotes open it.
    open: usize,
    /// Its text between the quotes, escapes undone.
    text: String,
    /// Offset just after its closing quotes.
    end: usize,
}

/// Most variables remembered, and most bytes of one value: a hostile file costs bounded
/// memory.
const MAX_VARS: usize = 4096;
const MAX_VALUE: usize = 4096;

pub(super) fn read(src: &Source<'_>) -> Model {
    let mut m = Model::default();
    let text = src.text.as_bytes();
    // Groovy variables with literal values, and those also in the environment of steps.
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut env: Vec<EnvVar> = Vec::new();
    let mut lines = LineIndex::default();
    let calls = call_values(&src.text);
    // Literal lists assigned to names, for the closures and loops that walk them.
    let mut lists: HashMap<String, Vec<String>> = HashMap::new();
    let mut blocks: Vec<Block> = Vec::new();
    // The method scope of the last step read: a step in the same scope continues it.
    let mut last_scope: Option<usize> = None;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' => {
                if blocks.len() < MAX_DEPTH {
                    blocks.push(block_at(&src.text, i, &calls, &lists));
                }
                i += 1;
            }
            b'}' => {
                blocks.pop();
                i += 1;
            }
            b'/' if text.get(i + 1) == Some(&b'/') => {
                i = find_from(text, i, b"\n").unwrap_or(text.len());
            }
            b'/' if text.get(i + 1) == Some(&b'*') => {
                i = find_from(text, i + 2, b"*/").map_or(text.len(), |e| e + 2);
            }
            b'\'' | b'"' => i = string_at(&src.text, i, &vars).end,
            c if is_ident_start(c) && (i == 0 || !is_ident(text[i - 1])) => {
                let end = i + text[i..].iter().take_while(|c| is_ident(**c)).count();
                let word = &src.text[i..end];
                i = end;
                if STEPS.contains(&word) {
                    if let Some(lit) = step_script(&src.text, end, &vars) {
                        let (line, column) = lines.at(text, lit.start);
                        let first = Pos::new(
                            line,
                            src.text[..lit.start]
                                .rsplit('\n')
                                .next()
                                .map_or(0, |l| l.chars().count())
                                + 1,
                        );
                        let located = std::sync::Arc::new(
                            string_mapped(&src.text, lit.start - lit.open, &vars, first).1,
                        );
                        let scope = blocks
                            .iter()
                            .rev()
                            .find(|b| b.method)
                            .map_or(usize::MAX, |b| b.start);
                        let binds = bindings(&blocks);
                        let copies = binds.iter().map(|b| b.1.len()).max().unwrap_or(1).max(1);
                        // Windows shells do not escape with `\`; read as a path separator,
                        // it names the file that runs (`.\setup.ps1`). Same length: places
                        // stay right.
                        let body = if word == "sh" {
                            lit.text.clone()
                        } else {
                            lit.text.replace('\\', "/")
                        };
                        for k in 0..copies.min(MAX_COPIES) {
                            let mut script = Script::new(body.clone(), (line, column, false));
                            script.env = env.clone();
                            for (name, values) in &binds {
                                if let Some(v) = values.get(k).or(values.last()) {
                                    script.env.push(EnvVar {
                                        name: name.clone(),
                                        value: v.clone(),
                                        expands: Expands::Shell,
                                    });
                                }
                            }
                            script.continues = k > 0 || last_scope == Some(scope);
                            script.located = Some(std::sync::Arc::clone(&located));
                            m.scripts.push(script);
                        }
                        last_scope = Some(scope);
                        i = lit.end;
                    }
                } else if let Some((name, items, end)) = list_assignment(&src.text, i, word) {
                    if lists.len() < MAX_VARS {
                        lists.insert(name, items);
                    }
                    i = end;
                } else if let Some((name, lit)) = assignment(&src.text, i, word, &vars) {
                    i = lit.end;
                    let value: String = lit.text.chars().take(MAX_VALUE).collect();
                    let in_env = word == "env" || lines.in_environment(text, i);
                    if in_env && env.len() < MAX_VARS {
                        let var = EnvVar {
                            name: name.clone(),
                            value: value.clone(),
                            expands: Expands::Shell,
                        };
                        m.assignments.push(var.clone());
                        env.push(var);
                    }
                    if vars.len() < MAX_VARS || vars.contains_key(&name) {
                        vars.insert(name, value);
                    }
                }
            }
            _ => i += 1,
        }
    }
    m
}

/// The steps whose string is a script.
const STEPS: &[&str] = &["sh", "bat", "powershell", "pwsh"];

/// Most blocks open at once, most copies of one step (one per value a parameter may
/// hold), most calls of one method read, most items of one list: a hostile file costs
/// bounded work.
const MAX_DEPTH: usize = 256;
const MAX_COPIES: usize = 8;
const MAX_ITEMS: usize = 64;

/// A `{ … }` block of the file.
struct Block {
    /// Where it opens: names the scope of the steps in it.
    start: usize,
    /// A method's body: its steps run when it is called, not after the steps before it.
    method: bool,
    /// Names the block binds and the values each may hold (parameters, a closure's or a
    /// loop's variable).
    binds: Vec<(String, Vec<String>)>,
}

/// Every name bound by the open blocks, the innermost last, with its values.
fn bindings(blocks: &[Block]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for b in blocks {
        for (name, values) in &b.binds {
            out.retain(|(n, _)| n != name);
            if !values.is_empty() {
                out.push((name.clone(), values.clone()));
            }
        }
    }
    out
}

/// Words that open a block with parentheses but define nothing.
const KEYWORDS: &[&str] = &[
    "if",
    "else",
    "for",
    "while",
    "switch",
    "catch",
    "synchronized",
    "return",
    "new",
    "stage",
    "node",
    "dir",
    "withEnv",
    "withCredentials",
    "timeout",
    "retry",
    "script",
    "steps",
];

/// What the block opening at `at` (a `{`) is: a method's body, whose parameters take the
/// values of `calls`; a closure or a `for` loop over a literal list; or a block of steps.
fn block_at(
    text: &str,
    at: usize,
    calls: &HashMap<String, Vec<Vec<Option<String>>>>,
    lists: &HashMap<String, Vec<String>>,
) -> Block {
    let header = header_before(text, at);
    if let Some((name, params)) = method_header(header) {
        let given = calls.get(&name);
        let binds = params
            .into_iter()
            .enumerate()
            .map(|(n, p)| {
                let mut values: Vec<String> = Vec::new();
                for args in given.into_iter().flatten() {
                    if let Some(Some(v)) = args.get(n)
                        && !values.contains(v)
                    {
                        values.push(v.clone());
                    }
                }
                (p, values)
            })
            .collect();
        return Block {
            start: at,
            method: true,
            binds,
        };
    }
    let mut binds = Vec::new();
    // `for (img in LIST)`, `for (String img : LIST)`.
    if let Some(inside) = header
        .trim()
        .strip_prefix("for")
        .map(str::trim_start)
        .and_then(|h| h.strip_prefix('('))
        .and_then(|h| h.trim_end().strip_suffix(')'))
    {
        let split = inside.split_once(" in ").or_else(|| inside.split_once(':'));
        if let Some((var, over)) = split
            && let Some(var) = var.split_whitespace().last()
        {
            binds.push((var.to_string(), list_of(over.trim(), lists)));
        }
    }
    // `LIST.each { img -> … }`, `LIST.each { … it … }`.
    let h = header.trim_end();
    if let Some(receiver) = [".each", ".eachWithIndex", ".collect", ".every", ".findAll"]
        .iter()
        .find_map(|m| h.strip_suffix(m))
    {
        let items = list_of(receiver.trim(), lists);
        let after = &text[at + 1..];
        let cut = (0..=after.len().min(256))
            .rev()
            .find(|i| after.is_char_boundary(*i))
            .unwrap_or(0);
        let after = &after[..cut];
        let var = match after.find("->") {
            Some(arrow)
                if after[..arrow]
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == ',' || c.is_whitespace()) =>
            {
                after[..arrow]
                    .split(',')
                    .next()
                    .unwrap_or("it")
                    .trim()
                    .to_string()
            }
            _ => "it".to_string(),
        };
        if !var.is_empty() {
            binds.push((var, items));
        }
    }
    Block {
        start: at,
        method: false,
        binds,
    }
}

/// The text before the `{` at `at`, back to the start of its statement (bounded).
fn header_before(text: &str, at: usize) -> &str {
    let from = at.saturating_sub(512);
    let mut from = (from..=at)
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(at);
    if let Some(p) = text[from..at].rfind(['\n', ';', '{', '}']) {
        from += p + 1;
    }
    &text[from..at]
}

/// `def name(String a, b = 'x')` or `Type name(…)`: the method's name and its parameters.
fn method_header(header: &str) -> Option<(String, Vec<String>)> {
    let h = header.trim();
    let inner = h.strip_suffix(')')?;
    let open = inner.find('(')?;
    let before: Vec<&str> = inner[..open].split_whitespace().collect();
    // A definition names a type (or `def`) before the method: a call does not.
    if before.len() < 2 {
        return None;
    }
    let name = *before.last()?;
    if KEYWORDS.contains(&name)
        || before.iter().any(|w| KEYWORDS.contains(w))
        || !name.bytes().all(is_ident)
        || name.bytes().next().is_some_and(|c| c.is_ascii_digit())
    {
        return None;
    }
    let params = inner[open + 1..]
        .split(',')
        .filter_map(|p| {
            let p = p.split('=').next()?.trim();
            let n = p.split_whitespace().last()?;
            n.bytes().all(is_ident).then(|| n.to_string())
        })
        .filter(|n| !n.is_empty())
        .collect();
    Some((name.to_string(), params))
}

/// The items of a literal list (`['a:1', "b"]`) or of a name assigned one.
fn list_of(text: &str, lists: &HashMap<String, Vec<String>>) -> Vec<String> {
    if let Some(items) = lists.get(text) {
        return items.clone();
    }
    let Some(inner) = text.strip_prefix('[').and_then(|t| t.strip_suffix(']')) else {
        return Vec::new();
    };
    literal_items(inner)
}

/// The string literals of a comma-separated list; empty when any item is not one.
fn literal_items(inner: &str) -> Vec<String> {
    let none = HashMap::new();
    let b = inner.as_bytes();
    let mut out = Vec::new();
    let mut i = skip_ws(inner, 0);
    while i < b.len() && out.len() < MAX_ITEMS {
        if !matches!(b[i], b'\'' | b'"') {
            return Vec::new();
        }
        let lit = string_at(inner, i, &none);
        out.push(lit.text);
        i = skip_ws(inner, lit.end);
        match b.get(i) {
            Some(b',') => i = skip_ws(inner, i + 1),
            None => break,
            _ => return Vec::new(),
        }
    }
    out
}

/// `name = [ 'a', "b" ]` with the word at `at` being the name: the name, its items and
/// the offset after the list.
fn list_assignment(text: &str, at: usize, word: &str) -> Option<(String, Vec<String>, usize)> {
    let b = text.as_bytes();
    if matches!(word, "def" | "if" | "return") {
        return None;
    }
    let i = skip_blank(text, at);
    if b.get(i) != Some(&b'=') || b.get(i + 1) == Some(&b'=') {
        return None;
    }
    let j = skip_blank(text, i + 1);
    if b.get(j) != Some(&b'[') {
        return None;
    }
    let close = j + text.get(j..(j + 8192).min(text.len()))?.find(']')?;
    let items = literal_items(&text[j + 1..close]);
    (!items.is_empty()).then(|| (word.to_string(), items, close + 1))
}

/// For each method called in the file, the arguments of each call: a string literal's
/// text (its GString interpolations left as written), `None` for anything else.
fn call_values(text: &str) -> HashMap<String, Vec<Vec<Option<String>>>> {
    let none = HashMap::new();
    let mut defined: std::collections::HashSet<String> = std::collections::HashSet::new();
    for line in text.lines() {
        if let Some(open) = line.find('{')
            && let Some((name, _)) = method_header(&line[..open])
            && defined.len() < MAX_VARS
        {
            defined.insert(name);
        }
    }
    let mut out: HashMap<String, Vec<Vec<Option<String>>>> = HashMap::new();
    let b = text.as_bytes();
    // One pass over the words of the file: a call is a defined method's name followed by
    // `(` or a string.
    let mut at = 0;
    while at < b.len() {
        if !is_ident_start(b[at]) || (at > 0 && is_ident(b[at - 1])) {
            at += 1;
            continue;
        }
        let end = at + b[at..].iter().take_while(|c| is_ident(**c)).count();
        let name = &text[at..end];
        let start = at;
        at = end;
        if !defined.contains(name) {
            continue;
        }
        // The definition itself: a type or `def` before the name on its line.
        let line_start = text[..start].rfind('\n').map_or(0, |p| p + 1);
        let before = text[line_start..start].trim();
        if !before.is_empty() && before.bytes().last().is_some_and(is_ident) {
            continue;
        }
        let i = skip_blank(text, end);
        let args = match b.get(i) {
            Some(b'(') => call_args(text, i + 1, &none),
            Some(b'\'' | b'"') => vec![Some(string_at(text, i, &none).text)],
            _ => continue,
        };
        let calls = out.entry(name.to_string()).or_default();
        if calls.len() < MAX_COPIES {
            calls.push(args);
        }
    }
    out
}

/// The arguments of a call whose `(` ends just before `at`.
fn call_args(text: &str, at: usize, vars: &HashMap<String, String>) -> Vec<Option<String>> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = skip_ws(text, at);
    while i < b.len() && out.len() < MAX_ITEMS {
        match b[i] {
            b')' => break,
            b'\'' | b'"' => {
                let lit = string_at(text, i, vars);
                i = skip_ws(text, lit.end);
                if matches!(b.get(i), Some(b',' | b')')) {
                    out.push(Some(lit.text));
                } else {
                    out.push(None);
                }
            }
            _ => out.push(None),
        }
        // To the next argument, past nested parentheses and strings.
        let mut depth = 0usize;
        while i < b.len() {
            match b[i] {
                b'\'' | b'"' => {
                    i = string_at(text, i, vars).end;
                    continue;
                }
                b'(' | b'[' => depth += 1,
                b')' | b']' if depth > 0 => depth -= 1,
                b')' => return out,
                b',' if depth == 0 => {
                    i += 1;
                    break;
                }
                _ => {}
            }
            i += 1;
        }
        i = skip_ws(text, i);
    }
    out
}

/// Lines counted forward as offsets grow: a file of many steps costs one pass.
#[derive(Default)]
struct LineIndex {
    counted: usize,
    line: usize,
    line_start: usize,
}

impl LineIndex {
    /// The 1-based line of `at`, and the columns before it on that line.
    fn at(&mut self, text: &[u8], at: usize) -> (usize, usize) {
        if self.line == 0 {
            self.line = 1;
        }
        for (i, b) in text[self.counted..at].iter().enumerate() {
            if *b == b'\n' {
                self.line += 1;
                self.line_start = self.counted + i + 1;
            }
        }
        self.counted = at.max(self.counted);
        (self.line, at - self.line_start)
    }

    /// True when the innermost block open before `at` is `environment {`.
    fn in_environment(&self, text: &[u8], at: usize) -> bool {
        let mut depth = 0usize;
        let mut j = at.min(text.len());
        // Bounded look back: an `environment` block is a few lines long.
        let stop = j.saturating_sub(16 * 1024);
        while j > stop {
            j -= 1;
            match text[j] {
                b'}' => depth += 1,
                b'{' if depth == 0 => {
                    let before = String::from_utf8_lossy(&text[stop..j]);
                    return before.trim_end().ends_with("environment");
                }
                b'{' => depth -= 1,
                _ => {}
            }
        }
        false
    }
}

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

fn find_from(text: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    text.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn skip_blank(text: &str, mut i: usize) -> usize {
    let b = text.as_bytes();
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\r') {
        i += 1;
    }
    i
}

/// The string literal opening at `at` (a quote), read to its end; an unterminated one
/// runs to the end of the file, as Groovy would read it.
fn string_at(text: &str, at: usize, vars: &HashMap<String, String>) -> Lit {
    string_in(text, at, vars, None)
}

/// [`string_at`], and where each character of its text is in the file, given the place
/// of its first character: a value put in for `${name}`, or an escape undone, must not
/// move the words after it.
fn string_mapped(
    text: &str,
    at: usize,
    vars: &HashMap<String, String>,
    first: Pos,
) -> (Lit, Located) {
    let mut b = Builder::default();
    let lit = string_in(text, at, vars, Some((&mut b, first)));
    (lit, Located::new(b.finish(), false))
}

fn string_in(
    text: &str,
    at: usize,
    vars: &HashMap<String, String>,
    mut map: Option<(&mut Builder, Pos)>,
) -> Lit {
    let b = text.as_bytes();
    let quote = b[at];
    let triple = b
        .get(at..at + 3)
        .is_some_and(|t| t.iter().all(|c| *c == quote));
    let open = if triple { 3 } else { 1 };
    let start = at + open;
    let mut out = String::new();
    let mut i = start;
    let interpolates = quote == b'"';
    // Moves the place past the source text `used`.
    let advance = |map: &mut Option<(&mut Builder, Pos)>, used: &str| {
        if let Some((_, pos)) = map {
            for c in used.chars() {
                *pos = if c == '\n' {
                    Pos::new(pos.line + 1, 1)
                } else {
                    Pos::new(pos.line, pos.column + 1)
                };
            }
        }
    };
    let end;
    loop {
        let Some(&c) = b.get(i) else {
            end = b.len();
            break;
        };
        if c == quote
            && (!triple
                || b.get(i..i + 3)
                    .is_some_and(|t| t.iter().all(|x| *x == quote)))
        {
            end = i + open;
            break;
        }
        if c == b'\n' && !triple {
            // A one-line string does not cross a line: the file is not Groovy here.
            end = i;
            break;
        }
        if c == b'\\' {
            let next = text[i + 1..].chars().next();
            let put = match next {
                Some('n') => Some('\n'),
                Some('t') => Some('\t'),
                Some('\n') | None => None,
                Some(n) => Some(n),
            };
            if let Some(ch) = put {
                out.push(ch);
                if let Some((b, pos)) = &mut map {
                    b.write(&ch.to_string(), *pos);
                }
            }
            let used = 1 + next.map_or(0, char::len_utf8);
            advance(&mut map, &text[i..i + used]);
            i += used;
            continue;
        }
        if c == b'$'
            && interpolates
            && let Some((value, used)) = interpolation(&text[i..], vars)
        {
            out.push_str(&value);
            if let Some((b, pos)) = &mut map {
                b.write(&value, *pos);
            }
            advance(&mut map, &text[i..i + used]);
            i += used;
            continue;
        }
        let ch = text[i..].chars().next().unwrap_or_default();
        out.push(ch);
        if let Some((b, pos)) = &mut map {
            b.push(ch, *pos);
        }
        advance(&mut map, &text[i..i + ch.len_utf8()]);
        i += ch.len_utf8();
    }
    Lit {
        start,
        open,
        text: out,
        end,
    }
}

/// A GString's `${name}`, `${env.NAME}` or `$name` at the start of `s` whose value is
/// known: the value and the bytes it takes. Anything else is left as written, which the
/// shell then sees as a variable it does not know.
fn interpolation(s: &str, vars: &HashMap<String, String>) -> Option<(String, usize)> {
    let (name, used) = if let Some(rest) = s.strip_prefix("${") {
        let close = rest.find('}')?;
        (rest[..close].trim(), close + 3)
    } else {
        let rest = &s[1..];
        let len = rest
            .bytes()
            .take_while(|c| is_ident(*c) || *c == b'.')
            .count();
        (rest[..len].trim_end_matches('.'), 1 + len)
    };
    let name = name.strip_prefix("env.").unwrap_or(name);
    // A value of several lines would move every place after it.
    vars.get(name)
        .filter(|v| !v.contains('\n'))
        .map(|v| (v.clone(), used))
}

/// The script of the `sh` step whose name ends at `at`, if this is one.
fn step_script(text: &str, at: usize, vars: &HashMap<String, String>) -> Option<Lit> {
    let b = text.as_bytes();
    let i = skip_blank(text, at);
    match b.get(i)? {
        b'\'' | b'"' => Some(string_at(text, i, vars)),
        b'(' => {
            let j = skip_ws(text, i + 1);
            match b.get(j)? {
                b'\'' | b'"' => Some(string_at(text, j, vars)),
                _ => named_script(text, j, vars, b')'),
            }
        }
        c if is_ident_start(*c) => named_script(text, i, vars, b'\n'),
        _ => None,
    }
}

fn skip_ws(text: &str, mut i: usize) -> usize {
    let b = text.as_bytes();
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// The `script:` argument among named arguments starting at `at`, which end at `close`
/// (outside strings) or with the file.
fn named_script(text: &str, at: usize, vars: &HashMap<String, String>, close: u8) -> Option<Lit> {
    let b = text.as_bytes();
    let mut i = at;
    while i < b.len() && b[i] != close {
        match b[i] {
            b'\'' | b'"' => i = string_at(text, i, vars).end,
            c if is_ident_start(c) && (i == 0 || !is_ident(b[i - 1])) => {
                let end = i + b[i..].iter().take_while(|c| is_ident(**c)).count();
                let word = &text[i..end];
                let j = skip_blank(text, end);
                if b.get(j) == Some(&b':') {
                    let k = skip_ws(text, j + 1);
                    if word == "script" && matches!(b.get(k), Some(b'\'' | b'"')) {
                        return Some(string_at(text, k, vars));
                    }
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    None
}

/// `name = 'literal'` (after `def`, a type, or `env.`) with the word at `at` being the
/// name or `env`; `vars` expands a GString value. `None` when the value is not a lone
/// string literal: such a name stays unknown.
fn assignment(
    text: &str,
    at: usize,
    word: &str,
    vars: &HashMap<String, String>,
) -> Option<(String, Lit)> {
    let b = text.as_bytes();
    let (name, after) = if word == "env" && b.get(at) == Some(&b'.') {
        let end = at + 1 + b[at + 1..].iter().take_while(|c| is_ident(**c)).count();
        (text[at + 1..end].to_string(), end)
    } else {
        (word.to_string(), at)
    };
    if name.is_empty() || matches!(name.as_str(), "def" | "sh" | "if" | "return") {
        return None;
    }
    let i = skip_blank(text, after);
    if b.get(i) != Some(&b'=') || b.get(i + 1) == Some(&b'=') {
        return None;
    }
    let j = skip_blank(text, i + 1);
    if !matches!(b.get(j), Some(b'\'' | b'"')) {
        return None;
    }
    let lit = string_at(text, j, vars);
    // `x = 'a' + y` is not a literal value.
    let k = skip_blank(text, lit.end);
    if !matches!(b.get(k), None | Some(b'\n' | b';' | b'}' | b'/')) {
        return None;
    }
    Some((name, lit))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scripts(text: &str) -> Vec<(String, usize, usize)> {
        read(&Source::new(text))
            .scripts
            .into_iter()
            .map(|s| (s.body, s.line, s.shift))
            .collect()
    }

    #[test]
    fn every_way_of_giving_sh_its_script_is_read() {
        let text = r#"pipeline {
  stages { stage('x') { steps {
    sh 'echo one'
    sh "echo two"
    sh '''echo three
cosign sign a'''
    sh """echo four"""
    sh(script: 'echo five')
    sh(script: "echo six", returnStdout: true)
    sh script: "echo seven", label: 'x'
    sh("echo eight")
    sh(returnStdout: true, script: 'echo nine').trim()
    bat 'echo ten'
    // sh 'echo in a comment'
    /* sh 'echo in a block comment' */
    echo "sh 'echo in a string'"
    publish(sh: 'x')
  } } }
}"#;
        let got: Vec<String> = scripts(text).into_iter().map(|s| s.0).collect();
        assert_eq!(
            got,
            [
                "echo one",
                "echo two",
                "echo three\ncosign sign a",
                "echo four",
                "echo five",
                "echo six",
                "echo seven",
                "echo eight",
                "echo nine",
                "echo ten",
            ]
        );
        let placed = scripts(text);
        assert_eq!((placed[0].1, placed[0].2), (3, 8));
        assert_eq!((placed[4].1, placed[4].2), (8, 16));
    }

    #[test]
    fn gstrings_take_literal_values_and_leave_the_rest_unknown() {
        let text = r#"def service = 'reg.example.com/app'
def buildNumber = "42"
def imageTag = "${service}:${buildNumber}"
String digest = sh(script: 'crane digest x', returnStdout: true)
pipeline {
  environment {
    IMAGE = 'reg.example.com/env:latest'
  }
  stages { stage('s') { steps { script {
    env.REPO = 'reg.example.com/repo'
    sh "cosign sign ${imageTag} $imageTag ${env.REPO} ${digest} \$HOME"
    sh 'cosign sign $IMAGE'
  } } } }
}"#;
        let m = read(&Source::new(text));
        let bodies: Vec<&str> = m.scripts.iter().map(|s| s.body.as_str()).collect();
        assert_eq!(
            bodies[1],
            "cosign sign reg.example.com/app:42 reg.example.com/app:42 reg.example.com/repo ${digest} $HOME"
        );
        let env: Vec<(&str, &str)> = m.scripts[2]
            .env
            .iter()
            .map(|v| (v.name.as_str(), v.value.as_str()))
            .collect();
        assert_eq!(
            env,
            [
                ("IMAGE", "reg.example.com/env:latest"),
                ("REPO", "reg.example.com/repo")
            ]
        );
    }

    #[test]
    fn steps_of_one_method_continue_each_other_and_other_methods_start_afresh() {
        let text = "def install() {\n  sh 'curl -o /usr/local/bin/t https://x/t'\n  sh 'chmod +x /usr/local/bin/t'\n}\ndef other() {\n  sh 't --version'\n}\nsh 'echo top'\nsh 'echo top again'\n";
        let m = read(&Source::new(text));
        let continues: Vec<bool> = m.scripts.iter().map(|s| s.continues).collect();
        assert_eq!(continues, [false, true, false, false, true]);
    }

    #[test]
    fn parameters_take_the_values_of_the_calls_and_lists_their_items() {
        let text = r#"def signImage(String imageTag, boolean push = true) {
  sh """cosign sign ${imageTag}"""
}
def unknown(ref) {
  sh "cosign sign ${ref}"
}
signImage("reg.example.com/${service}:${BUILD_NUMBER}")
signImage 'reg.example.com/app:v2'
unknown(params.REF)
def images = ['reg.example.com/a:1', "reg.example.com/b:2"]
images.each { img -> sh "cosign sign ${img}" }
for (String x : ['reg.example.com/c@sha256:00']) { sh "cosign sign ${x}" }
['reg.example.com/d:1'].each { sh "cosign sign $it" }
"#;
        let m = read(&Source::new(text));
        let env = |s: &Script| -> Vec<(String, String)> {
            s.env
                .iter()
                .map(|v| (v.name.clone(), v.value.clone()))
                .collect()
        };
        let got: Vec<Vec<(String, String)>> = m.scripts.iter().map(env).collect();
        let pair = |n: &str, v: &str| vec![(n.to_string(), v.to_string())];
        assert_eq!(
            got,
            [
                pair("imageTag", "reg.example.com/${service}:${BUILD_NUMBER}"),
                pair("imageTag", "reg.example.com/app:v2"),
                vec![],
                pair("img", "reg.example.com/a:1"),
                pair("img", "reg.example.com/b:2"),
                pair("x", "reg.example.com/c@sha256:00"),
                pair("it", "reg.example.com/d:1"),
            ]
        );
        // The copies of one step (one per value) continue each other.
        assert!(m.scripts[1].continues && m.scripts[4].continues);
    }

    #[test]
    fn a_finding_after_a_value_put_in_or_an_escape_is_where_it_is_written() {
        let text = "def report = \"cosign-reports/${service}-signature.txt\"\ndef imageTag = \"${service}:${BUILD_NUMBER}\"\nsh \"\"\"\n    cosign sign --key \\\"\\$K\\\" --output ${report} ${imageTag}\n\"\"\"\n";
        let (found, _) = crate::audit::audit_text("Jenkinsfile", text, crate::audit::Kind::Jenkins);
        let found: Vec<(&str, usize, usize)> =
            found.iter().map(|f| (f.rule, f.line, f.column)).collect();
        assert_eq!(found, [("sign-by-tag", 4, 50)]);
    }

    #[test]
    fn windows_steps_are_read_with_backslashes_as_separators() {
        let text = "bat 'curl.exe -o x.exe https://x/x.exe'\npowershell '.\\\\setup.ps1'\n";
        let m = read(&Source::new(text));
        let bodies: Vec<&str> = m.scripts.iter().map(|s| s.body.as_str()).collect();
        assert_eq!(bodies, ["curl.exe -o x.exe https://x/x.exe", "./setup.ps1"]);
    }

    #[test]
    fn unterminated_and_odd_text_ends() {
        for text in [
            "sh '",
            "sh \"\"\"",
            "sh(",
            "sh script:",
            "env.",
            "x = '",
            "sh \"${",
            "\\",
            "def f(",
            "def f() {",
            "f(\"",
            "x = [",
            "[].each {",
            "for (x in [) {",
            "}}}} {{{{",
            "x.each {",
            "x.each { é",
        ] {
            let _ = scripts(text);
        }
        assert_eq!(scripts("sh 'abc")[0].0, "abc");
        // A closure's first bytes cut inside a character.
        let wide = format!("['a:1'].each {{ {} }}", "é".repeat(200));
        let _ = scripts(&wide);
        let wide = format!("['a:1'].each {{ x{} }}", "é".repeat(200));
        let _ = scripts(&wide);
    }
}
